//! The network driver over real sockets on 127.0.0.1: UDP, TCP, idle timeout, UPDATE
//! persistence across restarts, secondary zones with AXFR and NOTIFY.

use crate::util::*;
use dns_proto::{Message, Opcode, Question, Rcode, Rdata, Record, RecordType};
use dns_server::net::{query as net_query, send_notify};
use dns_server::{Acl, DnsServerConfig, ZoneConfig};
use netio::Shutdown;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(5);

fn loopback_any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Binds a server and runs it on a task; returns its address and the shutdown handle.
async fn start(config: DnsServerConfig) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
    let server = dns_server::bind(config).await.unwrap();
    let address = server.local_addrs()[0];
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { server.run(stop).await.unwrap() });
    (address, shutdown, task)
}

fn example_config() -> DnsServerConfig {
    DnsServerConfig {
        listen: vec![loopback_any()],
        zones: vec![ZoneConfig::new(example_zone())],
        ..DnsServerConfig::default()
    }
}

async fn udp_exchange(server: SocketAddr, bytes: &[u8]) -> Message {
    let socket = UdpSocket::bind(loopback_any()).await.unwrap();
    socket.connect(server).await.unwrap();
    socket.send(bytes).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = tokio::time::timeout(TIMEOUT, socket.recv(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    Message::decode(&buf[..len]).unwrap()
}

fn update_adding(zone: &str, owner: &str, address: &str) -> Message {
    let mut update = Message::query(77, Question::new(name(zone), RecordType::SOA), false);
    update.opcode = Opcode::UPDATE;
    update.authority.push(Record::new(
        name(owner),
        300,
        Rdata::A(address.parse().unwrap()),
    ));
    update
}

#[tokio::test]
async fn udp_and_several_tcp_queries_per_connection() {
    let (address, shutdown, task) = start(example_config()).await;
    let response = net_query(
        address,
        Question::new(name("www.example.com"), RecordType::A),
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(response.answers.len(), 3);
    assert!(response.flags.aa);

    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut batch = Vec::new();
    for (i, qname) in ["ns1.example.com", "mail.example.com", "nope.example.com"]
        .iter()
        .enumerate()
    {
        let mut message = query(qname, RecordType::A);
        message.id = i as u16;
        let bytes = message.encode();
        batch.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        batch.extend_from_slice(&bytes);
    }
    stream.write_all(&batch).await.unwrap();
    for i in 0..3u16 {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await.unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(length) as usize];
        stream.read_exact(&mut buf).await.unwrap();
        let response = Message::decode(&buf).unwrap();
        assert_eq!(response.id, i);
        let expected = if i == 2 {
            Rcode::NXDOMAIN
        } else {
            Rcode::NOERROR
        };
        assert_eq!(response.rcode, expected);
    }
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn truncated_udp_answer_is_completed_over_tcp() {
    let (address, shutdown, task) = start(example_config()).await;
    let response = net_query(
        address,
        Question::new(name("big.example.com"), RecordType::TXT),
        TIMEOUT,
    )
    .await
    .unwrap();
    assert!(!response.flags.tc);
    assert_eq!(response.answers.len(), 4);
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn idle_tcp_connections_are_closed() {
    let mut config = example_config();
    config.tcp.idle_timeout = Duration::from_millis(200);
    let (address, shutdown, task) = start(config).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .expect("closed by the server before 3 s");
    assert!(matches!(read, Ok(0) | Err(_)));
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn updates_survive_a_restart() {
    let folder = temp_dir("persist");
    let zone_file = folder.join("example.com.zone");
    std::fs::write(&zone_file, EXAMPLE_ZONE).unwrap();
    let data_dir = folder.join("data");
    let config = || {
        let mut zone = ZoneConfig::file(&zone_file, None);
        zone.policy.allow_update = Acl {
            addresses: vec!["127.0.0.1".parse().unwrap()],
            keys: Vec::new(),
        };
        DnsServerConfig {
            listen: vec![loopback_any()],
            zones: vec![zone],
            data_dir: Some(data_dir.clone()),
            ..DnsServerConfig::default()
        }
    };
    let (address, shutdown, task) = start(config()).await;
    let update = update_adding("example.com", "new.example.com", "192.0.2.200");
    let response = udp_exchange(address, &update.encode()).await;
    assert_eq!(response.rcode, Rcode::NOERROR);
    shutdown.trigger();
    task.await.unwrap();

    let (address, shutdown, task) = start(config()).await;
    let response = net_query(
        address,
        Question::new(name("new.example.com"), RecordType::A),
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(
        response.answers[0].rdata,
        Rdata::A("192.0.2.200".parse().unwrap())
    );
    let soa = net_query(
        address,
        Question::new(name("example.com"), RecordType::SOA),
        TIMEOUT,
    )
    .await
    .unwrap();
    let Rdata::Soa(soa) = &soa.answers[0].rdata else {
        panic!("SOA");
    };
    assert_eq!(soa.serial, 2026112202);
    shutdown.trigger();
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(folder);
}

/// Polls `server` until `qname` has an A record, or gives up after 5 s.
async fn wait_for_answer(server: SocketAddr, qname: &str) -> Option<Message> {
    for _ in 0..50 {
        let question = Question::new(name(qname), RecordType::A);
        if let Ok(response) = net_query(server, question, Duration::from_millis(500)).await {
            if !response.answers.is_empty() {
                return Some(response);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn secondary_transfers_then_follows_notify() {
    let mut primary_zone = ZoneConfig::new(example_zone());
    let localhost = "127.0.0.1".parse().unwrap();
    primary_zone.policy.allow_transfer.addresses.push(localhost);
    primary_zone.policy.allow_update.addresses.push(localhost);
    let (primary, primary_stop, primary_task) = start(DnsServerConfig {
        listen: vec![loopback_any()],
        zones: vec![primary_zone],
        ..DnsServerConfig::default()
    })
    .await;
    let (secondary, secondary_stop, secondary_task) = start(DnsServerConfig {
        listen: vec![loopback_any()],
        zones: vec![ZoneConfig::secondary(name("example.com"), primary)],
        ..DnsServerConfig::default()
    })
    .await;
    let response = wait_for_answer(secondary, "www.example.com")
        .await
        .expect("the secondary loads the zone by AXFR");
    assert!(response.flags.aa);

    let update = update_adding("example.com", "fresh.example.com", "192.0.2.201");
    assert_eq!(
        udp_exchange(primary, &update.encode()).await.rcode,
        Rcode::NOERROR
    );
    // The SOA refresh is two hours: only NOTIFY can make the secondary see it now.
    send_notify(secondary, &name("example.com")).await.unwrap();
    assert!(
        wait_for_answer(secondary, "fresh.example.com")
            .await
            .is_some(),
        "the secondary refreshes on NOTIFY"
    );
    // UPDATE to a secondary is refused (no update permission there).
    let update = update_adding("example.com", "x.example.com", "192.0.2.9");
    assert_eq!(
        udp_exchange(secondary, &update.encode()).await.rcode,
        Rcode::REFUSED
    );
    primary_stop.trigger();
    secondary_stop.trigger();
    primary_task.await.unwrap();
    secondary_task.await.unwrap();
}

#[tokio::test]
async fn reload_swaps_zone_files_and_keeps_old_data_on_errors() {
    let folder = temp_dir("reload");
    let zone_file = folder.join("example.com.zone");
    std::fs::write(&zone_file, EXAMPLE_ZONE).unwrap();
    let server = dns_server::bind(DnsServerConfig {
        listen: vec![loopback_any()],
        zones: vec![ZoneConfig::file(&zone_file, None)],
        ..DnsServerConfig::default()
    })
    .await
    .unwrap();
    let address = server.local_addrs()[0];
    let reloader = server.reloader();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    let question = || Question::new(name("added.example.com"), RecordType::A);
    let response = net_query(address, question(), TIMEOUT).await.unwrap();
    assert_eq!(response.rcode, Rcode::NXDOMAIN);

    let newer = EXAMPLE_ZONE.replace("2026112201", "2026112202") + "added A 192.0.2.77\n";
    std::fs::write(&zone_file, newer).unwrap();
    assert!(reloader.reload().is_empty());
    let response = net_query(address, question(), TIMEOUT).await.unwrap();
    assert_eq!(response.answers.len(), 1);

    std::fs::write(&zone_file, "$TTL 1\n@ SOA broken\n").unwrap();
    let errors = reloader.reload();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("example.com.zone:2"), "{errors:?}");
    let response = net_query(address, question(), TIMEOUT).await.unwrap();
    assert_eq!(response.answers.len(), 1, "old data still served");
    shutdown.trigger();
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(folder);
}

#[tokio::test]
async fn rate_limiting_drops_and_slips() {
    let mut config = example_config();
    config.rrl = Some(dns_server::RrlConfig {
        responses_per_second: 2,
        slip: 2,
    });
    let (address, shutdown, task) = start(config).await;
    let socket = UdpSocket::bind(loopback_any()).await.unwrap();
    socket.connect(address).await.unwrap();
    let bytes = query("www.example.com", RecordType::A).encode();
    for _ in 0..10 {
        socket.send(&bytes).await.unwrap();
    }
    let mut full = 0;
    let mut truncated = 0;
    let mut buf = vec![0u8; 4096];
    while let Ok(Ok(len)) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
    {
        let response = Message::decode(&buf[..len]).unwrap();
        if response.flags.tc {
            assert!(response.answers.is_empty());
            truncated += 1;
        } else {
            full += 1;
        }
    }
    assert_eq!(full, 2, "the bucket allows two per second");
    assert_eq!(truncated, 4, "every second limited response slips");
    shutdown.trigger();
    task.await.unwrap();
}
