//! Our resolver resolving through root/TLD/authoritative hierarchies served by NSD and Knot,
//! compared with Unbound on the same tree, and queried with dig and kdig.

use crate::harness::{self, Hierarchy, Third};
use dns_client::{query, QueryOptions};
use dns_proto::{Message, Name, Rcode, RecordType};
use dns_resolver::net::{bind, ResolverConfig};
use std::net::SocketAddr;
use std::time::Duration;

fn name(text: &str) -> Name {
    Name::parse(text, None).unwrap()
}

/// Port 53 when we may bind it (Unbound and glue need it), else a high port for everything.
pub(crate) fn tree_port() -> u16 {
    if harness::port_53_available() {
        53
    } else {
        10_053
    }
}

/// Starts our resolver on `listen` with the tree's root hints; returns its address and the
/// shutdown handle (the server task runs on the test's runtime).
pub(crate) async fn start_ours(
    listen: SocketAddr,
    tree: &Hierarchy,
) -> (SocketAddr, netio::Shutdown) {
    let hints =
        dns_resolver::hints::parse_hints(&tree.root_hints(), tree.servers[0].port()).unwrap();
    let mut config = ResolverConfig::new(listen, hints);
    config.options.upstream_port = tree.servers[0].port();
    config.options.upstream_timeout = Duration::from_millis(500);
    let server = bind(config).await.expect("bind resolver");
    let addr = server.local_addr().unwrap();
    let shutdown = netio::Shutdown::new();
    tokio::spawn(server.run(shutdown.clone()));
    (addr, shutdown)
}

fn quick() -> QueryOptions {
    QueryOptions {
        timeout: Duration::from_secs(4),
        tries: 1,
        ..QueryOptions::default()
    }
}

/// The answer RDATA as text, sorted.
pub(crate) fn rdatas(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .map(|r| format!("{} {}", r.rtype(), r.rdata))
        .collect();
    out.sort();
    out
}

/// The questions every hierarchy test asks, with the expected rcode and answer RDATA.
pub(crate) fn expectations() -> Vec<(&'static str, RecordType, Rcode, Vec<&'static str>)> {
    vec![
        (
            "gaia.cs.umass.edu.",
            RecordType::A,
            Rcode::NOERROR,
            vec!["A 128.119.245.12"],
        ),
        (
            "www.umass.edu.",
            RecordType::A,
            Rcode::NOERROR,
            vec!["A 128.119.245.12", "CNAME gaia.cs.umass.edu."],
        ),
        (
            "www.example.com.",
            RecordType::A,
            Rcode::NOERROR,
            vec!["A 128.119.245.12", "CNAME gaia.cs.umass.edu."],
        ),
        (
            "host.other.com.",
            RecordType::A,
            Rcode::NOERROR,
            vec!["A 10.0.0.2"],
        ),
        (
            "umass.edu.",
            RecordType::MX,
            Rcode::NOERROR,
            vec!["MX 10 mail.umass.edu."],
        ),
        (
            "txt.example.com.",
            RecordType::TXT,
            Rcode::NOERROR,
            vec!["TXT \"hello\""],
        ),
        ("nope.example.com.", RecordType::A, Rcode::NXDOMAIN, vec![]),
        ("a.example.com.", RecordType::AAAA, Rcode::NOERROR, vec![]),
        ("nothing.test-tld.", RecordType::A, Rcode::NXDOMAIN, vec![]),
    ]
}

async fn resolve_through(which: Third) {
    let tool = match which {
        Third::Nsd => "nsd",
        Third::Knot => "knotd",
    };
    if !harness::have_tool(tool) {
        return;
    }
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, tree_port());
    let servers = harness::start_tree(which, &tree);
    let (resolver, shutdown) =
        start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;
    for (qname, rtype, rcode, expected) in expectations() {
        let reply = query(resolver, &name(qname), rtype, &quick())
            .await
            .unwrap();
        assert_eq!(reply.rcode, rcode, "{qname} {rtype} via {tool}:\n{reply}");
        assert!(
            reply.flags.ra && !reply.flags.aa,
            "{qname}: RA set, AA clear"
        );
        assert_eq!(rdatas(&reply), expected, "{qname} {rtype} via {tool}");
        if rcode == Rcode::NXDOMAIN || (expected.is_empty() && rcode == Rcode::NOERROR) {
            assert!(
                reply.authority.iter().any(|r| r.rtype() == RecordType::SOA),
                "negative answer carries the SOA: {reply}"
            );
        }
    }
    // The cache answers now even with every authoritative server gone, TTLs counting down.
    drop(servers);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cached = query(
        resolver,
        &name("gaia.cs.umass.edu."),
        RecordType::A,
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(rdatas(&cached), ["A 128.119.245.12"]);
    assert!(
        cached.answers[0].ttl < 3600,
        "TTL counts down: {}",
        cached.answers[0].ttl
    );
    let nx = query(
        resolver,
        &name("nope.example.com."),
        RecordType::TXT,
        &quick(),
    )
    .await
    .unwrap();
    assert_eq!(
        nx.rcode,
        Rcode::NXDOMAIN,
        "negative cache covers every type"
    );
    // A name never asked, with all servers gone: SERVFAIL, in bounded time.
    let started = std::time::Instant::now();
    let lost = query(resolver, &name("other.umass.edu."), RecordType::A, &quick())
        .await
        .unwrap();
    assert_eq!(lost.rcode, Rcode::SERVFAIL);
    assert!(started.elapsed() < Duration::from_secs(4));
    shutdown.trigger();
}

#[tokio::test]
async fn resolves_through_an_nsd_hierarchy() {
    resolve_through(Third::Nsd).await;
}

#[tokio::test]
async fn resolves_through_a_knot_hierarchy() {
    resolve_through(Third::Knot).await;
}

/// Unbound and our resolver, both recursing through the same NSD tree, give the same answers.
#[tokio::test]
async fn unbound_and_ours_agree() {
    if !harness::have_tool("nsd") || !harness::have_tool("unbound") || !harness::can_bind_53() {
        return;
    }
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, 53);
    let _servers = harness::start_tree(Third::Nsd, &tree);
    let unbound_addr = SocketAddr::new(harness::ip(net, 20).into(), 53);
    let unbound = harness::start_unbound(unbound_addr, &tree.root_hints());
    let (ours, shutdown) = start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;
    for (qname, rtype, rcode, expected) in expectations() {
        let theirs = query(unbound_addr, &name(qname), rtype, &quick()).await;
        let theirs =
            theirs.unwrap_or_else(|error| panic!("unbound: {error}\n{}", unbound.log_text()));
        let mine = query(ours, &name(qname), rtype, &quick()).await.unwrap();
        assert_eq!(theirs.rcode, rcode, "unbound {qname} {rtype}");
        assert_eq!(mine.rcode, theirs.rcode, "{qname} {rtype}");
        assert_eq!(rdatas(&mine), rdatas(&theirs), "{qname} {rtype}");
        assert_eq!(rdatas(&mine), expected);
    }
    shutdown.trigger();
}

fn run_tool(program: &str, args: &[String]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .expect("run tool");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// dig and kdig as clients of our local server: flags, sections, TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_and_kdig_read_our_answers() {
    if !harness::have_tool("nsd") || !harness::have_tool("dig") || !harness::have_tool("kdig") {
        return;
    }
    let net = harness::fresh_net();
    let tree = Hierarchy::standard(net, tree_port());
    let _servers = harness::start_tree(Third::Nsd, &tree);
    let (resolver, shutdown) =
        start_ours(SocketAddr::new(harness::ip(net, 10).into(), 0), &tree).await;
    let at = format!("@{}", resolver.ip());
    let port = resolver.port().to_string();
    let dig = |args: &[&str]| {
        let mut all: Vec<String> = vec![
            at.clone(),
            "-p".into(),
            port.clone(),
            "+tries=1".into(),
            "+time=5".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let out = tokio::task::spawn_blocking({
        let args = dig(&["www.example.com", "A"]);
        move || run_tool("dig", &args)
    })
    .await
    .unwrap();
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr rd ra;"), "{out}");
    assert!(out.contains("ANSWER: 2,"), "{out}");
    assert!(
        out.contains("www.example.com.\t") && out.contains("CNAME\tgaia.cs.umass.edu."),
        "{out}"
    );
    assert!(out.contains("128.119.245.12"), "{out}");
    let out = tokio::task::spawn_blocking({
        let args = dig(&["+tcp", "nope.example.com", "A"]);
        move || run_tool("dig", &args)
    })
    .await
    .unwrap();
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("(TCP)"),
        "{out}"
    );
    assert!(out.contains("AUTHORITY: 1"), "{out}");
    let kdig_args = vec![
        at.clone(),
        "-p".into(),
        port.clone(),
        "+tcp".into(),
        "umass.edu".into(),
        "MX".into(),
    ];
    let out = tokio::task::spawn_blocking(move || run_tool("kdig", &kdig_args))
        .await
        .unwrap();
    assert!(
        out.contains("status: NOERROR") && out.contains("10 mail.umass.edu."),
        "{out}"
    );
    assert!(out.contains("qr rd ra"), "{out}");
    shutdown.trigger();
}
