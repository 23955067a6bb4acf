//! Our clients against our servers over loopback.

use crate::{tcp_server, udp_server};
use sockets::net::{udp_exchange, udp_ping, ClientError, PingEvent, TcpUpperClient};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn tcp_uppercases_lines_on_one_connection() {
    let (addr, shutdown) = tcp_server(|_| {}).await;
    let mut client = TcpUpperClient::connect(addr, WAIT).await.unwrap();
    assert_eq!(
        client.exchange(b"hello world").await.unwrap(),
        b"HELLO WORLD"
    );
    assert_eq!(
        client.exchange("straße".as_bytes()).await.unwrap(),
        "STRASSE".as_bytes()
    );
    assert_eq!(client.exchange(b"caf\xe9").await.unwrap(), b"CAF\xe9");
    shutdown.trigger();
}

#[tokio::test]
async fn two_hundred_concurrent_tcp_clients_get_their_own_answers() {
    let (addr, shutdown) = tcp_server(|_| {}).await;
    let mut tasks = Vec::new();
    for index in 0..200u32 {
        tasks.push(tokio::spawn(async move {
            let mut client = TcpUpperClient::connect(addr, WAIT).await.unwrap();
            for round in 0..3 {
                let line = format!("client {index} round {round} mixed Case");
                let reply = client.exchange(line.as_bytes()).await.unwrap();
                assert_eq!(reply, line.to_uppercase().into_bytes());
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
    shutdown.trigger();
}

#[tokio::test]
async fn over_long_line_gets_a_clear_error_and_others_are_served() {
    let (addr, shutdown) = tcp_server(|config| config.max_line = 100).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[b'a'; 300]).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("ERROR line longer than 100 bytes"), "{text}");
    let mut client = TcpUpperClient::connect(addr, WAIT).await.unwrap();
    assert_eq!(client.exchange(b"still fine").await.unwrap(), b"STILL FINE");
    shutdown.trigger();
}

#[tokio::test]
async fn client_vanishing_mid_line_does_not_hurt_the_server() {
    let (addr, shutdown) = tcp_server(|_| {}).await;
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"half a li").await.unwrap();
        drop(stream);
    }
    let mut client = TcpUpperClient::connect(addr, WAIT).await.unwrap();
    assert_eq!(client.exchange(b"next").await.unwrap(), b"NEXT");
    shutdown.trigger();
}

#[tokio::test]
async fn half_closed_client_gets_the_rest_uppercased() {
    let (addr, shutdown) = tcp_server(|_| {}).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"no newline at the end").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"NO NEWLINE AT THE END");
    shutdown.trigger();
}

#[tokio::test]
async fn udp_exchange_and_retry_on_loss() {
    let (addr, shutdown) = udp_server(0.0).await;
    let reply = udp_exchange(addr, "ünïcode".as_bytes(), WAIT, 0)
        .await
        .unwrap();
    assert_eq!(reply, "ÜNÏCODE".as_bytes());
    shutdown.trigger();

    // A server that drops everything: the client gives up after its retries, with a clear error.
    let (addr, shutdown) = udp_server(1.0).await;
    let error = udp_exchange(addr, b"x", Duration::from_millis(50), 2)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::NoReply { attempts: 3, .. }),
        "{error}"
    );
    shutdown.trigger();
}

#[tokio::test]
async fn ping_reports_rtts_and_loss() {
    let (addr, shutdown) = udp_server(0.5).await;
    let mut events = Vec::new();
    let stats = udp_ping(
        None,
        addr,
        20,
        Duration::from_millis(5),
        Duration::from_millis(100),
        |event| events.push(event.clone()),
    )
    .await
    .unwrap();
    assert_eq!(stats.transmitted, 20);
    assert_eq!(events.len(), 20);
    let replies = events
        .iter()
        .filter(|e| matches!(e, PingEvent::Reply { .. }))
        .count() as u32;
    assert_eq!(replies, stats.received_count());
    // Seeded 50% loss: some get through and some do not.
    assert!((3..=17).contains(&replies), "{replies} replies");
    assert!(stats.to_string().contains("20 packets transmitted"));
    shutdown.trigger();
}
