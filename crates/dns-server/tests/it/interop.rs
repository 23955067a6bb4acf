//! Interoperability with real DNS tools: dig and kdig (flags, sections, TC and TCP fallback,
//! AXFR), nsupdate (TSIG-signed UPDATE), dnspython (decoding oracle).

use crate::util::*;
use dns_proto::{Message, RecordType};
use dns_server::{Acl, DnsServerConfig, TsigKey, ZoneConfig};
use netio::Shutdown;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

async fn start(config: DnsServerConfig) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
    let server = dns_server::bind(config).await.unwrap();
    let address = server.local_addrs()[0];
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { server.run(stop).await.unwrap() });
    (address, shutdown, task)
}

fn example_config() -> DnsServerConfig {
    let mut zone = ZoneConfig::new(example_zone());
    zone.policy.allow_transfer = Acl {
        addresses: vec!["127.0.0.1".parse().unwrap()],
        keys: Vec::new(),
    };
    DnsServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![zone],
        ..DnsServerConfig::default()
    }
}

/// Runs a tool off the runtime thread (the server answers on it meanwhile); returns stdout
/// and stderr joined, and whether it succeeded.
async fn run(program: PathBuf, args: Vec<String>, stdin: Option<String>) -> (String, bool) {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (text, output.status.success())
    })
    .await
    .unwrap()
}

fn dig_args(server: SocketAddr, rest: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".to_string(),
        server.port().to_string(),
        "+time=2".to_string(),
        "+tries=1".to_string(),
    ];
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

fn kdig_args(server: SocketAddr, rest: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".to_string(),
        server.port().to_string(),
        "+timeout=2".to_string(),
        "+retry=0".to_string(),
    ];
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn dig_sees_flags_and_sections() {
    let Some(dig) = tool("dig") else { return };
    let (server, shutdown, task) = start(example_config()).await;
    let (out, ok) = run(
        dig.clone(),
        dig_args(server, &["www.example.com", "A", "+norec"]),
        None,
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(out.contains("ANSWER: 3, AUTHORITY: 0"), "{out}");
    assert!(
        out.contains("www.example.com.\t3600\tIN\tA\t192.0.2.8"),
        "{out}"
    );

    let (out, _) = run(
        dig.clone(),
        dig_args(server, &["host.sub.example.com", "A", "+norec"]),
        None,
    )
    .await;
    assert!(out.contains("flags: qr;"), "referral without aa: {out}");
    assert!(
        out.contains("ANSWER: 0, AUTHORITY: 2, ADDITIONAL: 2"),
        "{out}"
    );
    assert!(
        out.contains("ns.sub.example.com.\t3600\tIN\tA\t192.0.2.53"),
        "{out}"
    );

    let (out, _) = run(
        dig.clone(),
        dig_args(server, &["nope.example.com", "A"]),
        None,
    )
    .await;
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(
        out.contains(
            "example.com.\t\t300\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2026112201"
        ),
        "{out}"
    );

    let (out, _) = run(dig.clone(), dig_args(server, &["example.com", "MX"]), None).await;
    assert!(
        out.contains(";; ADDITIONAL SECTION:\nmail.example.com.\t3600\tIN\tA\t192.0.2.25"),
        "{out}"
    );

    let (out, _) = run(dig, dig_args(server, &["www.example.org", "A"]), None).await;
    assert!(out.contains("status: REFUSED"), "{out}");
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn dig_and_kdig_retry_truncated_answers_over_tcp() {
    let (server, shutdown, task) = start(example_config()).await;
    if let Some(dig) = tool("dig") {
        let (out, _) = run(
            dig,
            dig_args(server, &["big.example.com", "TXT", "+noedns"]),
            None,
        )
        .await;
        assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
        assert!(out.contains("ANSWER: 4"), "{out}");
        assert!(out.contains("(TCP)"), "{out}");
    }
    if let Some(kdig) = tool("kdig") {
        let (out, _) = run(
            kdig.clone(),
            kdig_args(server, &["big.example.com", "TXT"]),
            None,
        )
        .await;
        assert!(out.contains("truncated reply"), "{out}");
        assert!(out.contains("Flags: qr aa"), "{out}");
        assert!(out.contains("ANSWER: 4"), "{out}");
        let (out, _) = run(
            kdig,
            kdig_args(server, &["anything.wild.example.com", "A", "+tcp"]),
            None,
        )
        .await;
        assert!(out.contains("anything.wild.example.com."), "{out}");
        assert!(out.contains("192.0.2.99"), "{out}");
        assert!(out.contains("(TCP)"), "{out}");
    }
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn dig_and_kdig_axfr() {
    let (server, shutdown, task) = start(example_config()).await;
    let records = example_zone().len() + 1;
    if let Some(dig) = tool("dig") {
        let (out, _) = run(dig, dig_args(server, &["example.com", "AXFR"]), None).await;
        assert!(
            out.contains(&format!("XFR size: {records} records")),
            "{out}"
        );
        assert!(out.contains("TYPE65280 \\# 4 0A000001"), "{out}");
    }
    if let Some(kdig) = tool("kdig") {
        let (out, _) = run(kdig, kdig_args(server, &["example.com", "AXFR"]), None).await;
        assert!(
            out.contains(&format!("Received {records} records"))
                || out.contains(&format!("{records} records")),
            "{out}"
        );
    }
    shutdown.trigger();
    task.await.unwrap();
}

const COM_ZONE: &str = "$TTL 172800
@ SOA a.gtld-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400
@ NS a.gtld-servers.net.
";
const SECRET: &str = "cmVnaXN0cmFyLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm";

#[tokio::test]
async fn nsupdate_registers_with_tsig_then_gets_yxdomain() {
    let Some(nsupdate) = tool("nsupdate") else {
        return;
    };
    let key = TsigKey::from_base64("registrar-key", SECRET).unwrap();
    let com = dns_server::Zone::parse_str(COM_ZONE, &name("com"), "com.zone").unwrap();
    let mut zone = ZoneConfig::new(com);
    zone.policy.allow_update.keys.push(key.name.clone());
    let (server, shutdown, task) = start(DnsServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![zone],
        keys: vec![key],
        ..DnsServerConfig::default()
    })
    .await;
    let script = format!(
        "server {} {}\nzone com\nprereq nxdomain networkutopia.com\n\
         update add networkutopia.com 172800 NS dns1.networkutopia.com\n\
         update add dns1.networkutopia.com 172800 A 212.2.212.1\nsend\n",
        server.ip(),
        server.port()
    );
    let args = vec![
        "-y".to_string(),
        format!("hmac-sha256:registrar-key:{SECRET}"),
    ];
    let (out, ok) = run(nsupdate.clone(), args.clone(), Some(script.clone())).await;
    assert!(ok, "nsupdate failed: {out}");
    let response = dns_server::net::query(
        server,
        dns_proto::Question::new(name("www.networkutopia.com"), RecordType::A),
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(response.authority.len(), 1, "{response}");
    assert_eq!(response.additional.len(), 1, "{response}");
    let (out, ok) = run(nsupdate.clone(), args, Some(script.clone())).await;
    assert!(!ok && out.contains("YXDOMAIN"), "{out}");
    // A wrong secret is refused with a TSIG error.
    let wrong = vec![
        "-y".to_string(),
        "hmac-sha256:registrar-key:AAAAAAAAAAAAAAAAAAAAAA==".to_string(),
    ];
    let (out, ok) = run(
        nsupdate,
        wrong,
        Some(script.replace("networkutopia", "other")),
    )
    .await;
    assert!(!ok, "{out}");
    shutdown.trigger();
    task.await.unwrap();
}

/// dnspython as a decoding oracle for our encoded responses.
#[tokio::test]
async fn dnspython_decodes_our_messages() {
    let python = PathBuf::from("/usr/bin/python3");
    let has_dnspython = python.is_file()
        && Command::new(&python)
            .args(["-c", "import dns.message"])
            .status()
            .is_ok_and(|status| status.success());
    if !has_dnspython {
        assert!(
            std::env::var_os("CI").is_none(),
            "dnspython not found, and CI is set"
        );
        println!("skipped: python3-dnspython not found");
        return;
    }
    let authority = authority(dns_server::ZonePolicy {
        round_robin: false,
        ..Default::default()
    });
    let cases = [
        ("www.example.com", RecordType::A),
        ("chain.example.com", RecordType::A),
        ("example.com", RecordType::MX),
        ("example.com", RecordType::NS),
        ("x.sub.example.com", RecordType::A),
        ("nope.example.com", RecordType::A),
        ("txt.example.com", RecordType::TXT),
        ("caa.example.com", RecordType::CAA),
        ("opaque.example.com", RecordType(65280)),
        ("_sip._udp.example.com", RecordType::SRV),
        ("a.wild.example.com", RecordType::ANY),
    ];
    let mut corpus = String::new();
    let mut expected = Vec::new();
    for (qname, qtype) in cases {
        let bytes = query_edns(qname, qtype, 4096).encode();
        let dns_server::Handled::Reply(reply) = authority.handle(&bytes, &udp_info()) else {
            panic!("reply");
        };
        let message = Message::decode(&reply).unwrap();
        let hex: String = reply.iter().map(|b| format!("{b:02x}")).collect();
        corpus.push_str(&hex);
        corpus.push('\n');
        let records: Vec<String> = message
            .answers
            .iter()
            .chain(&message.authority)
            .chain(&message.additional)
            .map(|r| format!("{} {} {}", r.name, r.rtype(), r.rdata))
            .collect();
        expected.push(format!("{} {}", message.rcode, records.join(" | ")));
    }
    let script = r#"
import sys, dns.message, dns.rcode
for line in sys.stdin:
    m = dns.message.from_wire(bytes.fromhex(line.strip()))
    recs = []
    for section in (m.answer, m.authority, m.additional):
        for rrset in section:
            for rd in rrset:
                recs.append(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
    print(dns.rcode.to_text(m.rcode()), " | ".join(recs))
"#;
    let (out, ok) = run(
        python,
        vec!["-c".to_string(), script.to_string()],
        Some(corpus),
    )
    .await;
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, ours) in lines.iter().zip(&expected) {
        // dnspython writes generic RDATA in lower case; our hex is upper case.
        assert_eq!(line.to_lowercase(), ours.to_lowercase());
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A third-party server process, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks `server` for `qname`/A until it answers (up to 10 s); returns the last dig output.
async fn dig_until_answer(dig: PathBuf, server: SocketAddr, qname: &str) -> (String, bool) {
    let mut last = String::new();
    for _ in 0..100 {
        let (out, _) = run(dig.clone(), dig_args(server, &[qname, "A", "+norec"]), None).await;
        if out.contains("status: NOERROR") && !out.contains("ANSWER: 0") {
            return (out, true);
        }
        last = out;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (last, false)
}

#[tokio::test]
async fn knot_is_a_secondary_of_ours() {
    let (Some(knotd), Some(dig)) = (tool("knotd"), tool("dig")) else {
        return;
    };
    let folder = temp_dir("knot-secondary");
    let port = free_port();
    let knot: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut config = example_config();
    config.zones[0].notify.push(knot);
    let localhost = "127.0.0.1".parse().unwrap();
    config.zones[0]
        .policy
        .allow_update
        .addresses
        .push(localhost);
    let (primary, shutdown, task) = start(config).await;
    let config = format!(
        "server:\n    rundir: \"{dir}\"\n    listen: 127.0.0.1@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: \"{dir}/db\"\n\
         remote:\n  - id: primary\n    address: 127.0.0.1@{primary_port}\n\
         acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    action: notify\n\
         template:\n  - id: default\n    storage: \"{dir}\"\n\
         zone:\n  - domain: example.com\n    master: primary\n    acl: notify_from_primary\n",
        dir = folder.display(),
        primary_port = primary.port()
    );
    std::fs::write(folder.join("knot.conf"), config).unwrap();
    let _knot = Child(
        Command::new(knotd)
            .arg("-c")
            .arg(folder.join("knot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (out, answered) = dig_until_answer(dig.clone(), knot, "www.example.com").await;
    assert!(answered, "Knot never served the transferred zone: {out}");
    let (out, _) = run(
        dig.clone(),
        dig_args(knot, &["opaque.example.com", "TYPE65280", "+norec"]),
        None,
    )
    .await;
    assert!(out.contains("\\# 4 0A000001"), "{out}");
    // An UPDATE on ours sends NOTIFY; Knot transfers the new serial at once (its SOA
    // refresh is two hours away).
    let question = dns_proto::Question::new(name("example.com"), RecordType::SOA);
    let mut update = Message::query(9, question, false);
    update.opcode = dns_proto::Opcode::UPDATE;
    update.authority.push(dns_proto::Record::new(
        name("notified.example.com"),
        300,
        dns_proto::Rdata::A("192.0.2.123".parse().unwrap()),
    ));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&update.encode(), primary).await.unwrap();
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf).await.unwrap();
    let reply = Message::decode(&buf[..len]).unwrap();
    assert_eq!(reply.rcode, dns_proto::Rcode::NOERROR);
    let (out, answered) = dig_until_answer(dig, knot, "notified.example.com").await;
    assert!(answered, "Knot did not follow our NOTIFY: {out}");
    shutdown.trigger();
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(folder);
}

#[tokio::test]
async fn ours_is_a_secondary_of_nsd() {
    let Some(nsd) = tool("nsd") else { return };
    let folder = temp_dir("nsd-primary");
    std::fs::write(folder.join("example.com.zone"), EXAMPLE_ZONE).unwrap();
    let port = free_port();
    let config = format!(
        "server:\n    server-count: 1\n    ip-address: 127.0.0.1@{port}\n    do-ip6: no\n\
         \x20   username: \"\"\n    chroot: \"\"\n    zonesdir: \"{dir}\"\n    database: \"\"\n\
         \x20   zonelistfile: \"{dir}/zone.list\"\n    xfrdfile: \"{dir}/xfrd.state\"\n\
         \x20   pidfile: \"{dir}/nsd.pid\"\n    logfile: \"{dir}/nsd.log\"\n\
         remote-control:\n    control-enable: no\n\
         zone:\n    name: example.com\n    zonefile: example.com.zone\n    provide-xfr: 127.0.0.1 NOKEY\n",
        dir = folder.display()
    );
    std::fs::write(folder.join("nsd.conf"), config).unwrap();
    let _nsd = Child(
        Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(folder.join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let nsd: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (ours, shutdown, task) = start(DnsServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![ZoneConfig::secondary(name("example.com"), nsd)],
        ..DnsServerConfig::default()
    })
    .await;
    let mut served = None;
    for _ in 0..100 {
        let question = dns_proto::Question::new(name("chain.example.com"), RecordType::A);
        if let Ok(response) =
            dns_server::net::query(ours, question, std::time::Duration::from_millis(500)).await
        {
            if response.rcode == dns_proto::Rcode::NOERROR && response.answers.len() == 5 {
                served = Some(response);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let response = served.expect("our secondary serves the zone transferred from NSD");
    assert!(response.flags.aa);
    shutdown.trigger();
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(folder);
}

const ROOT_ZONE: &str = "$TTL 86400
. SOA a.root-servers.test. admin.test. 1 1800 900 604800 86400
. NS a.root-servers.test.
a.root-servers.test. A 127.77.0.1
com. NS a.gtld-servers.com.
a.gtld-servers.com. A 127.77.0.2
";
const DELEGATING_COM_ZONE: &str = "$TTL 86400
@ SOA a.gtld-servers.com. admin.test. 1 1800 900 604800 86400
@ NS a.gtld-servers.com.
a.gtld-servers.com. A 127.77.0.2
networkutopia.com. NS dns1.networkutopia.com.
dns1.networkutopia.com. A 127.77.0.3
";
const UTOPIA_ZONE: &str = "$TTL 3600
@ SOA dns1 admin 1 1800 900 604800 300
@ NS dns1
dns1 A 127.77.0.3
www CNAME web
web A 212.2.212.80
";

/// Unbound resolving iteratively through a root, a TLD and an authoritative server, all
/// ours. Referrals carry addresses, not ports, so the servers must listen on port 53 of
/// their own loopback addresses (needs the privilege to bind port 53).
#[tokio::test]
async fn unbound_resolves_through_our_hierarchy() {
    let Some(unbound) = tool("unbound") else {
        return;
    };
    let Some(dig) = tool("dig") else { return };
    if let Err(error) = std::net::UdpSocket::bind("127.77.0.1:53") {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot bind 127.77.0.1:53 ({error}), and CI is set"
        );
        println!("skipped: cannot bind port 53 ({error})");
        return;
    }
    let mut servers = Vec::new();
    for (address, origin, text) in [
        ("127.77.0.1:53", ".", ROOT_ZONE),
        ("127.77.0.2:53", "com", DELEGATING_COM_ZONE),
        ("127.77.0.3:53", "networkutopia.com", UTOPIA_ZONE),
    ] {
        let zone = dns_server::Zone::parse_str(text, &name(origin), origin).unwrap();
        servers.push(
            start(DnsServerConfig {
                listen: vec![address.parse().unwrap()],
                zones: vec![ZoneConfig::new(zone)],
                ..DnsServerConfig::default()
            })
            .await,
        );
    }
    let folder = temp_dir("unbound");
    std::fs::write(
        folder.join("root.hints"),
        ". 3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.77.0.1\n",
    )
    .unwrap();
    let port = free_port();
    let config = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  do-daemonize: no\n\
         \x20 chroot: \"\"\n  username: \"\"\n  directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n\
         \x20 root-hints: \"{dir}/root.hints\"\n  do-not-query-localhost: no\n\
         \x20 module-config: \"iterator\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n\
         \x20 access-control: 127.0.0.0/8 allow\n\
         remote-control:\n  control-enable: no\n",
        dir = folder.display()
    );
    std::fs::write(folder.join("unbound.conf"), config).unwrap();
    let _unbound = Child(
        Command::new(unbound)
            .arg("-d")
            .arg("-c")
            .arg(folder.join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let resolver: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut out = String::new();
    for _ in 0..50 {
        let args = dig_args(resolver, &["www.networkutopia.com", "A"]);
        out = run(dig.clone(), args, None).await.0;
        if out.contains("212.2.212.80") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(out.contains("flags: qr rd ra;"), "{out}");
    assert!(
        out.contains("www.networkutopia.com.\t3600\tIN\tCNAME\tweb.networkutopia.com."),
        "{out}"
    );
    assert!(
        out.contains("web.networkutopia.com.\t3600\tIN\tA\t212.2.212.80"),
        "{out}"
    );
    let (out, _) = run(
        dig,
        dig_args(resolver, &["nope.networkutopia.com", "A"]),
        None,
    )
    .await;
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    for (_, shutdown, task) in servers {
        shutdown.trigger();
        task.await.unwrap();
    }
    let _ = std::fs::remove_dir_all(folder);
}

/// dig verifies every message of a TSIG-signed AXFR that spans several messages.
#[tokio::test]
async fn dig_verifies_a_signed_multi_message_axfr() {
    let Some(dig) = tool("dig") else { return };
    let key = TsigKey::from_base64("transfer-key", SECRET).unwrap();
    let mut text = EXAMPLE_ZONE.to_string();
    for i in 0..2000 {
        text.push_str(&format!("filler{i} A 198.51.100.{}\n", i % 250));
    }
    let zone = dns_server::Zone::parse_str(&text, &name("example.com"), "big").unwrap();
    let records = zone.len() + 1;
    let mut zone_config = ZoneConfig::new(zone);
    zone_config
        .policy
        .allow_transfer
        .keys
        .push(key.name.clone());
    let (server, shutdown, task) = start(DnsServerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![zone_config],
        keys: vec![key],
        ..DnsServerConfig::default()
    })
    .await;
    let signed = format!("hmac-sha256:transfer-key:{SECRET}");
    let (out, _) = run(
        dig.clone(),
        dig_args(server, &["-y", &signed, "example.com", "AXFR"]),
        None,
    )
    .await;
    assert!(
        out.contains(&format!("XFR size: {records} records")),
        "{out}"
    );
    assert!(
        !out.contains("messages 1,"),
        "several messages expected: {out}"
    );
    println!(
        "{}",
        out.lines()
            .find(|l| l.contains("XFR size"))
            .unwrap_or_default()
    );
    assert!(!out.contains("failed"), "{out}");
    assert!(!out.to_lowercase().contains("tsig verify failure"), "{out}");
    // Unsigned: refused (the key is the only permission).
    let (out, _) = run(dig, dig_args(server, &["example.com", "AXFR"]), None).await;
    assert!(out.contains("Transfer failed"), "{out}");
    shutdown.trigger();
    task.await.unwrap();
}

/// The seed's nslookup, against our server: the mail exchanger and the address of a host.
#[tokio::test]
async fn nslookup_reads_our_answers() {
    let Some(nslookup) = tool("nslookup") else {
        return;
    };
    let (server, shutdown, task) = start(example_config()).await;
    let port = format!("-port={}", server.port());
    let address = server.ip().to_string();
    let args = vec![port.clone(), "ns1.example.com".to_string(), address.clone()];
    let (out, ok) = run(nslookup.clone(), args, None).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("Name:\tns1.example.com\nAddress: 192.0.2.1"),
        "{out}"
    );
    let args = vec![
        port,
        "-type=MX".to_string(),
        "example.com".to_string(),
        address,
    ];
    let (out, _) = run(nslookup, args, None).await;
    assert!(
        out.contains("example.com\tmail exchanger = 10 mail.example.com."),
        "{out}"
    );
    shutdown.trigger();
    task.await.unwrap();
}
