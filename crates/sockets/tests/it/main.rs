//! Integration tests of the socket programs: our servers and clients over loopback, and interop
//! with the textbook's Python programs, `nc` and `socat`.

mod interop;
mod loopback;

use netio::Shutdown;
use sockets::net::{TcpUpperConfig, TcpUpperServer, UdpUpperConfig, UdpUpperServer};
use std::net::SocketAddr;

/// Starts a TCP uppercase server on a free loopback port.
pub(crate) async fn tcp_server(config: impl FnOnce(&mut TcpUpperConfig)) -> (SocketAddr, Shutdown) {
    let mut settings = TcpUpperConfig::new("127.0.0.1:0".parse().unwrap());
    config(&mut settings);
    let server = TcpUpperServer::bind(settings).await.unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(server.run(shutdown.clone()));
    (addr, shutdown)
}

/// Starts a UDP uppercase server on a free loopback port.
pub(crate) async fn udp_server(loss: f64) -> (SocketAddr, Shutdown) {
    let mut settings = UdpUpperConfig::new("127.0.0.1:0".parse().unwrap());
    settings.loss = loss;
    settings.seed = Some(7);
    let server = UdpUpperServer::bind(settings).await.unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(server.run(shutdown.clone()));
    (addr, shutdown)
}

/// Whether an external tool is on the PATH; with `CI` set, a missing tool is a failure.
pub(crate) fn have(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI but not found"
        );
        eprintln!("skipped: {tool} not found");
    }
    found
}
