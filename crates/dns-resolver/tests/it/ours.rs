//! The whole textbook chain in our own code: our authoritative servers (dns-server) as root,
//! TLD and authoritative tiers; our resolver and Unbound resolving through them; the registrar
//! adding networkutopia.com to the TLD by signed UPDATE.

use crate::harness::{self, Hierarchy};
use crate::hierarchy::{expectations, rdatas, start_ours, tree_port};
use dns_client::registrar::{RegisterError, Registration};
use dns_client::{query, register, QueryOptions};
use dns_proto::tsig::TsigKey;
use dns_proto::{Name, Rcode, RecordType};
use dns_server::{Acl, DnsServerConfig, Zone, ZoneConfig};
use std::net::SocketAddr;
use std::time::Duration;

fn name(text: &str) -> Name {
    Name::parse(text, None).unwrap()
}

const SECRET: &str = "cmVnaXN0cmFyLXNlY3JldC1mb3ItdGVzdHMtb25seQ==";

fn registrar_key() -> TsigKey {
    TsigKey::from_base64("registrar.", SECRET).unwrap()
}

/// Starts our authoritative server for every server of `tree`; the TLD zones accept UPDATE
/// signed with the registrar key. Returns the shutdown handle.
async fn start_our_tree(tree: &Hierarchy) -> netio::Shutdown {
    start_our_tree_with(tree, true).await
}

/// [`start_our_tree`], with the authoritative servers' round robin on or off.
async fn start_our_tree_with(tree: &Hierarchy, round_robin: bool) -> netio::Shutdown {
    let shutdown = netio::Shutdown::new();
    for (index, addr) in tree.servers.iter().enumerate() {
        let mut zones = Vec::new();
        for spec in tree.zones_of(index) {
            let origin = name(&spec.origin);
            let zone = Zone::parse_str(&spec.text, &origin, &spec.origin)
                .unwrap_or_else(|errors| panic!("zone {}: {errors:?}", spec.origin));
            let mut config = ZoneConfig::new(zone);
            config.policy.round_robin = round_robin;
            if index == 1 {
                config.policy.allow_update = Acl {
                    addresses: Vec::new(),
                    keys: vec![name("registrar.")],
                };
            }
            zones.push(config);
        }
        let config = DnsServerConfig {
            listen: vec![*addr],
            zones,
            keys: vec![registrar_key()],
            ..DnsServerConfig::default()
        };
        let server = dns_server::bind(config)
            .await
            .expect("bind our authoritative server");
        tokio::spawn(server.run(shutdown.clone()));
    }
    shutdown
}

fn quick() -> QueryOptions {
    QueryOptions {
        timeout: Duration::from_secs(4),
        tries: 1,
        ..QueryOptions::default()
    }
}

#[tokio::test]
async fn our_resolver_through_our_hierarchy() {
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, tree_port());
    let servers = start_our_tree(&tree).await;
    let (resolver, shutdown) =
        start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;
    for (qname, rtype, rcode, expected) in expectations() {
        let reply = query(resolver, &name(qname), rtype, &quick())
            .await
            .unwrap();
        assert_eq!(reply.rcode, rcode, "{qname} {rtype}:\n{reply}");
        assert_eq!(rdatas(&reply), expected, "{qname} {rtype}");
    }
    shutdown.trigger();
    servers.trigger();
}

/// The seed's cnn.com example behind a resolver: the authoritative server always sends the
/// three addresses in one order (its own round robin off), and consecutive answers from our
/// resolver (the first resolved, the second from the cache, the third a replayed rendered
/// reply) still start with three different addresses, each holding all three.
#[tokio::test]
async fn our_resolver_rotates_replicated_servers() {
    let net = harness::fresh_net();
    let mut tree = Hierarchy::standard(net, tree_port());
    let addresses = ["157.166.226.25", "157.166.226.26", "157.166.255.18"];
    for spec in &mut tree.zones {
        if spec.origin == "example.com." {
            for address in addresses {
                spec.text
                    .push_str(&format!("cnn.example.com. IN A {address}\n"));
            }
        }
    }
    let servers = start_our_tree_with(&tree, false).await;
    let (resolver, shutdown) =
        start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;
    let mut firsts = Vec::new();
    for _ in 0..6 {
        let reply = query(resolver, &name("cnn.example.com."), RecordType::A, &quick())
            .await
            .unwrap();
        assert_eq!(reply.rcode, Rcode::NOERROR, "{reply}");
        let mut want: Vec<String> = addresses.iter().map(|a| format!("A {a}")).collect();
        want.sort();
        assert_eq!(rdatas(&reply), want);
        firsts.push(reply.answers[0].rdata.to_string());
    }
    for window in firsts.windows(3) {
        let mut distinct = window.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "answers started with {firsts:?}");
    }
    // Single-record answers are unaffected.
    let reply = query(resolver, &name("a.example.com."), RecordType::A, &quick())
        .await
        .unwrap();
    assert_eq!(rdatas(&reply), ["A 10.0.0.1"]);
    shutdown.trigger();
    servers.trigger();
}

#[tokio::test]
async fn unbound_through_our_hierarchy() {
    if !harness::have_tool("unbound") || !harness::can_bind_53() {
        return;
    }
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, 53);
    let servers = start_our_tree(&tree).await;
    let unbound_addr = SocketAddr::new(harness::ip(net, 20).into(), 53);
    let unbound = tokio::task::spawn_blocking({
        let hints = tree.root_hints();
        move || harness::start_unbound(unbound_addr, &hints)
    })
    .await
    .unwrap();
    for (qname, rtype, rcode, expected) in expectations() {
        let reply = query(unbound_addr, &name(qname), rtype, &quick())
            .await
            .unwrap_or_else(|error| panic!("unbound {qname}: {error}\n{}", unbound.log_text()));
        assert_eq!(reply.rcode, rcode, "unbound {qname} {rtype}:\n{reply}");
        assert_eq!(rdatas(&reply), expected, "unbound {qname} {rtype}");
    }
    drop(unbound);
    servers.trigger();
}

#[tokio::test]
async fn registrar_adds_a_domain_that_then_resolves() {
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, tree_port());
    let servers = start_our_tree(&tree).await;
    // networkutopia.com's own server, on a fourth address.
    let utopia_addr = SocketAddr::new(harness::ip(net, 4).into(), tree_port());
    let utopia_text = format!(
        "$TTL 3600\nnetworkutopia.com. IN SOA dns1.networkutopia.com. admin.networkutopia.com. 1 3600 600 86400 300\n\
         networkutopia.com. IN NS dns1.networkutopia.com.\ndns1.networkutopia.com. IN A {}\n\
         www.networkutopia.com. IN A 212.212.71.4\n",
        utopia_addr.ip()
    );
    let utopia = Zone::parse_str(
        &utopia_text,
        &name("networkutopia.com."),
        "networkutopia.com",
    )
    .unwrap();
    let utopia_server = dns_server::bind(DnsServerConfig {
        listen: vec![utopia_addr],
        zones: vec![ZoneConfig::new(utopia)],
        ..DnsServerConfig::default()
    })
    .await
    .unwrap();
    tokio::spawn(utopia_server.run(servers.clone()));
    let (resolver, shutdown) =
        start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;

    // Before: the TLD says NXDOMAIN.
    let before = query(
        resolver,
        &name("www.networkutopia.com."),
        RecordType::A,
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(before.rcode, Rcode::NXDOMAIN);

    let registration = Registration::new(
        name("networkutopia.com."),
        vec![(name("dns1.networkutopia.com."), Some(utopia_addr.ip()))],
    );
    let tld = tree.servers[1];
    let key = registrar_key();
    // A wrong key is refused; unsigned is refused.
    let wrong = TsigKey::from_base64("registrar.", "d3Jvbmcta2V5LXdyb25nLWtleQ==").unwrap();
    let refused = register(tld, &registration, Some(&wrong), Duration::from_secs(3)).await;
    assert!(
        matches!(refused, Err(RegisterError::NotAuthorized { .. })),
        "{refused:?}"
    );
    let unsigned = register(tld, &registration, None, Duration::from_secs(3)).await;
    assert!(unsigned.is_err(), "unsigned update accepted");
    register(tld, &registration, Some(&key), Duration::from_secs(3))
        .await
        .expect("registration");
    // Twice: the prerequisite fails with a clear error.
    let again = register(tld, &registration, Some(&key), Duration::from_secs(3)).await;
    assert_eq!(
        again,
        Err(RegisterError::Exists {
            domain: name("networkutopia.com.")
        })
    );
    // The TLD now refers to the new domain with glue, and a fresh name resolves through it
    // (the NXDOMAIN above was cached for www; ask another name).
    let referral = query(
        tld,
        &name("x.networkutopia.com."),
        RecordType::A,
        &QueryOptions {
            recursion_desired: false,
            ..quick()
        },
    )
    .await
    .unwrap();
    assert!(
        referral
            .authority
            .iter()
            .any(|r| r.rtype() == RecordType::NS),
        "{referral}"
    );
    let glue: Vec<String> = referral.additional.iter().map(|r| r.to_string()).collect();
    assert!(
        glue.iter()
            .any(|g| g.contains(&utopia_addr.ip().to_string())),
        "{referral}"
    );
    let soa = query(
        resolver,
        &name("networkutopia.com."),
        RecordType::SOA,
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(soa.rcode, Rcode::NOERROR, "{soa}");
    let dns1 = query(
        resolver,
        &name("dns1.networkutopia.com."),
        RecordType::A,
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(rdatas(&dns1), [format!("A {}", utopia_addr.ip())]);
    shutdown.trigger();
    servers.trigger();
}
