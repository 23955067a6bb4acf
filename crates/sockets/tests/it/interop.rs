//! Interop with third-party peers: the textbook's Python programs in both directions, `nc` and
//! `socat`.
//!
//! These are plain (blocking) tests: our servers run on a runtime in a background thread while
//! the test drives external programs with `std::process`.

use crate::have;
use sockets::net::{udp_exchange, TcpUpperClient};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const PYTHON_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");

/// Runs our TCP and UDP servers on one free port in a background thread.
fn our_servers() -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (tcp, _) = crate::tcp_server(|_| {}).await;
            // UDP on the same port number as TCP, like the textbook's two servers.
            let mut config = sockets::net::UdpUpperConfig::new(tcp);
            config.seed = Some(1);
            let udp = sockets::net::UdpUpperServer::bind(config).await.unwrap();
            sender.send(tcp).unwrap();
            udp.run(netio::Shutdown::new()).await.unwrap();
        });
    });
    receiver.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// Runs a program with `input` on stdin and returns its stdout, failing on a non-zero exit.
fn run(program: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

#[test]
fn textbook_python_clients_against_our_servers() {
    if !have("python3") {
        return;
    }
    let addr = our_servers();
    let port = addr.port().to_string();
    let udp = run(
        "python3",
        &[&format!("{PYTHON_DIR}/UDPClient.py"), "127.0.0.1", &port],
        "hello udp\n",
    );
    assert_eq!(udp, "Input lowercase sentence:HELLO UDP\n");
    let tcp = run(
        "python3",
        &[&format!("{PYTHON_DIR}/TCPClient.py"), "127.0.0.1", &port],
        "hello tcp\n",
    );
    assert_eq!(tcp, "Input lowercase sentence:From Server:  HELLO TCP\n");
}

/// Starts one of the textbook's Python servers serving `count` clients and waits until it is
/// ready.
fn python_server(script: &str, port: u16, count: u32) -> std::process::Child {
    let mut child = Command::new("python3")
        .args([
            &format!("{PYTHON_DIR}/{script}"),
            "127.0.0.1",
            &port.to_string(),
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.contains("ready"), "{ready}");
    child
}

#[test]
fn our_clients_against_textbook_python_servers() {
    if !have("python3") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let port = free_port();
    let mut server = python_server("UDPServer.py", port, 1);
    let server_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let reply = runtime
        .block_on(udp_exchange(
            server_addr,
            b"from rust over udp",
            Duration::from_secs(2),
            2,
        ))
        .unwrap();
    assert_eq!(reply, b"FROM RUST OVER UDP");
    assert!(server.wait().unwrap().success());

    let port = free_port();
    let mut server = python_server("TCPServer.py", port, 1);
    let server_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let reply = runtime.block_on(async {
        let mut client = TcpUpperClient::connect(server_addr, Duration::from_secs(5)).await?;
        client.exchange(b"from rust over tcp").await
    });
    assert_eq!(reply.unwrap(), b"FROM RUST OVER TCP");
    assert!(server.wait().unwrap().success());
}

#[test]
fn netcat_against_our_servers() {
    if !have("nc") {
        return;
    }
    let addr = our_servers();
    let port = addr.port().to_string();
    // -N: shut the socket down after stdin's EOF, so our server finishes and closes.
    let tcp = run("nc", &["-N", "127.0.0.1", &port], "one\ntwo lines\n");
    assert_eq!(tcp, "ONE\nTWO LINES\n");
    let udp = run("nc", &["-u", "-w", "1", "127.0.0.1", &port], "udp via nc\n");
    assert_eq!(udp, "UDP VIA NC\n");
}

#[test]
fn socat_against_our_servers() {
    if !have("socat") {
        return;
    }
    let addr = our_servers();
    let tcp = run(
        "socat",
        &["-t", "2", "-", &format!("TCP:{addr}")],
        "socat tcp ünï\n",
    );
    assert_eq!(tcp, "SOCAT TCP ÜNÏ\n");
    let udp = run(
        "socat",
        &["-t", "1", "-", &format!("UDP:{addr}")],
        "socat udp\n",
    );
    assert_eq!(udp, "SOCAT UDP\n");
}
