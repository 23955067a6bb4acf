//! Hostile conditions: forged replies racing the real one, and upstream servers that never
//! answer.

use crate::harness::{self, Hierarchy, Third};
use crate::hierarchy::{rdatas, start_ours, tree_port};
use dns_client::{query, QueryOptions};
use dns_proto::{Class, Message, Name, Question, Rcode, Rdata, Record, RecordType};
use dns_resolver::net::{bind, ResolverConfig};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

fn name(text: &str) -> Name {
    Name::parse(text, None).unwrap()
}

/// Forged replies to `query`: a poisoned answer and a hijacking referral, with every wrong
/// variant an attacker on the path might try (wrong IDs, the question in another case).
fn forgeries(query: &Message) -> Vec<Vec<u8>> {
    let question = query.question().unwrap().clone();
    let mut out = Vec::new();
    let lower = Name::parse(&question.name.to_string().to_lowercase(), None).unwrap();
    let upper = Name::parse(&question.name.to_string().to_uppercase(), None).unwrap();
    let mut variants: Vec<(u16, Name)> = (1..=40u16)
        .map(|k| (query.id ^ k, question.name.clone()))
        .collect();
    for other_case in [lower, upper] {
        if other_case.as_wire() != question.name.as_wire() {
            variants.push((query.id, other_case));
        }
    }
    for (id, qname) in variants {
        let mut forged = Message::response_to(&Message::query(
            id,
            Question::new(qname, question.qtype),
            false,
        ));
        forged.flags.aa = true;
        forged.answers.push(Record::new(
            question.name.clone(),
            86_400,
            Rdata::A("6.6.6.6".parse().unwrap()),
        ));
        forged.authority.push(Record::new(
            name("edu."),
            86_400,
            Rdata::Ns(name("ns.evil.test.")),
        ));
        forged.additional.push(Record::new(
            name("ns.evil.test."),
            86_400,
            Rdata::A("6.6.6.6".parse().unwrap()),
        ));
        out.push(forged.encode());
    }
    out
}

/// A root that races forged replies ahead of each genuine one: the resolver must keep
/// resolving correctly and never cache a forged record.
#[tokio::test]
async fn forged_replies_never_reach_the_cache() {
    if !harness::have_tool("nsd") {
        return;
    }
    let net = harness::fresh_net();
    let port = tree_port();
    let tree = Hierarchy::standard(net, port);
    let _servers = harness::start_tree(Third::Nsd, &tree);
    // The spoofing relay in front of the real root.
    let relay_addr = SocketAddr::new(harness::ip(net, 30).into(), port);
    let relay = Arc::new(UdpSocket::bind(relay_addr).await.unwrap());
    let forged_sent = Arc::new(AtomicUsize::new(0));
    let real_root = tree.servers[0];
    tokio::spawn({
        let relay = relay.clone();
        let forged_sent = forged_sent.clone();
        async move {
            let mut buf = vec![0u8; 65_535];
            while let Ok((len, client)) = relay.recv_from(&mut buf).await {
                let Ok(query) = Message::decode(&buf[..len]) else {
                    continue;
                };
                for forged in forgeries(&query) {
                    let _ = relay.send_to(&forged, client).await;
                    forged_sent.fetch_add(1, Ordering::Relaxed);
                }
                let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let _ = upstream.send_to(&buf[..len], real_root).await;
                let mut reply = vec![0u8; 65_535];
                if let Ok(Ok((n, _))) =
                    tokio::time::timeout(Duration::from_secs(1), upstream.recv_from(&mut reply))
                        .await
                {
                    let _ = relay.send_to(&reply[..n], client).await;
                }
            }
        }
    });
    let mut spoofed_tree = tree.clone();
    spoofed_tree.servers[0] = relay_addr;
    let (resolver, shutdown) = start_ours(
        SocketAddr::new(harness::ip(net, 10).into(), 0),
        &spoofed_tree,
    )
    .await;
    let options = QueryOptions {
        timeout: Duration::from_secs(4),
        tries: 1,
        ..QueryOptions::default()
    };
    for qname in [
        "gaia.cs.umass.edu.",
        "www.example.com.",
        "host.other.com.",
        "gaia.cs.umass.edu.",
    ] {
        let reply = query(resolver, &name(qname), RecordType::A, &options)
            .await
            .unwrap();
        assert_eq!(reply.rcode, Rcode::NOERROR, "{qname}: {reply}");
        let text = rdatas(&reply).join(",");
        assert!(!text.contains("6.6.6.6"), "{qname}: poisoned: {text}");
        assert!(!reply.answers.is_empty());
    }
    assert!(
        forged_sent.load(Ordering::Relaxed) >= 40,
        "the relay raced forged replies"
    );
    // The referral to ns.evil.test was never believed: edu names still resolve correctly.
    let mx = query(resolver, &name("umass.edu."), RecordType::MX, &options)
        .await
        .unwrap();
    assert_eq!(rdatas(&mx), ["MX 10 mail.umass.edu."]);
    shutdown.trigger();
}

/// Root hints pointing at a socket that never answers: one SERVFAIL per client question, in
/// bounded time, and the server keeps serving meanwhile.
#[tokio::test]
async fn unresponsive_upstream_costs_one_servfail() {
    let net = harness::fresh_net();
    let silent_addr = SocketAddr::new(harness::ip(net, 40).into(), 10_053);
    let _silent = UdpSocket::bind(silent_addr).await.unwrap();
    let mut config = ResolverConfig::new(
        SocketAddr::new(harness::ip(net, 10).into(), 0),
        vec![
            (name("a.root.test."), silent_addr),
            (name("b.root.test."), silent_addr),
        ],
    );
    config.options.upstream_timeout = Duration::from_millis(300);
    config.options.question_timeout = Duration::from_secs(2);
    let server = bind(config).await.unwrap();
    let resolver = server.local_addr().unwrap();
    let shutdown = netio::Shutdown::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    let options = QueryOptions {
        timeout: Duration::from_secs(6),
        tries: 1,
        ..QueryOptions::default()
    };
    let started = Instant::now();
    let pending = tokio::spawn({
        let options = options.clone();
        async move {
            query(
                resolver,
                &name("gaia.cs.umass.edu."),
                RecordType::A,
                &options,
            )
            .await
        }
    });
    // Meanwhile the server answers what it can at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut chaos = Message::query(
        77,
        Question::new(name("version.bind."), RecordType::TXT),
        true,
    );
    chaos.questions[0].qclass = Class::CH;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&chaos.encode(), resolver).await.unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = tokio::time::timeout(Duration::from_millis(500), client.recv_from(&mut buf))
        .await
        .expect("served while an upstream is dead")
        .unwrap();
    assert_eq!(Message::decode(&buf[..len]).unwrap().rcode, Rcode::REFUSED);
    let reply = pending.await.unwrap().unwrap();
    assert_eq!(reply.rcode, Rcode::SERVFAIL);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_500),
        "SERVFAIL took {took:?}"
    );
    // Many clients at once: each gets its SERVFAIL, the server survives.
    let mut handles = Vec::new();
    for i in 0..20 {
        let options = options.clone();
        handles.push(tokio::spawn(async move {
            query(
                resolver,
                &name(&format!("n{i}.example.")),
                RecordType::A,
                &options,
            )
            .await
        }));
    }
    for handle in handles {
        assert_eq!(handle.await.unwrap().unwrap().rcode, Rcode::SERVFAIL);
    }
    // Over TCP too.
    let tcp = QueryOptions {
        tcp: true,
        ..options
    };
    assert_eq!(
        query(resolver, &name("x.example."), RecordType::A, &tcp)
            .await
            .unwrap()
            .rcode,
        Rcode::SERVFAIL
    );
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap()
        .unwrap();
}

/// The stub client sends from the address it is given (each world host speaks from its own),
/// over UDP and TCP.
#[tokio::test]
async fn stub_query_sends_from_the_given_source() {
    let net = harness::fresh_net();
    let server_addr = SocketAddr::new(harness::ip(net, 50).into(), 10_053);
    let source = harness::ip(net, 51);
    let udp = UdpSocket::bind(server_addr).await.unwrap();
    let tcp = tokio::net::TcpListener::bind(server_addr).await.unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 512];
        let (len, from) = udp.recv_from(&mut buf).await.unwrap();
        let query = Message::decode(&buf[..len]).unwrap();
        let mut reply = Message::response_to(&query);
        reply.flags.tc = true; // make the client come back over TCP
        udp.send_to(&reply.encode(), from).await.unwrap();
        let (mut stream, tcp_from) = tcp.accept().await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut query).await.unwrap();
        let query = Message::decode(&query).unwrap();
        let reply = Message::response_to(&query).encode();
        stream
            .write_all(&(reply.len() as u16).to_be_bytes())
            .await
            .unwrap();
        stream.write_all(&reply).await.unwrap();
        (from.ip(), tcp_from.ip())
    });
    let options = QueryOptions {
        source: Some(source.into()),
        timeout: Duration::from_secs(3),
        ..QueryOptions::default()
    };
    let reply = query(
        server_addr,
        &name("gaia.cs.umass.edu."),
        RecordType::A,
        &options,
    )
    .await
    .unwrap();
    assert!(reply.flags.qr && !reply.flags.tc);
    let (udp_from, tcp_from) = server.await.unwrap();
    assert_eq!((udp_from, tcp_from), (source.into(), source.into()));
}
