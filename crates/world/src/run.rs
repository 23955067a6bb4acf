//! Bringing a world up in this process: every service of every host on its own address, the
//! status table, and the self-check that exercises each service once with its own client.

use crate::model::{ServiceKind, Transport, World};
use netio::Shutdown;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How the world is brought up.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Added to standard ports below 1024 (53 → 10053 with 10000). `None`: 0 when this process
    /// may bind low ports (root), else [`UNPRIVILEGED_OFFSET`].
    pub port_offset: Option<u16>,
}

/// The offset added to ports below 1024 when the world cannot bind them.
pub const UNPRIVILEGED_OFFSET: u16 = 10_000;

/// One listening service of a running world.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The host's name.
    pub host: String,
    /// The service kind's name.
    pub service: &'static str,
    /// Transports it listens on.
    pub transports: &'static [Transport],
    /// The address it is bound to.
    pub addr: SocketAddr,
}

/// A world whose services are running on this runtime.
#[derive(Debug)]
pub struct Running {
    /// Every listening service, in world order.
    pub endpoints: Vec<Endpoint>,
    /// The offset that was applied to low ports.
    pub port_offset: u16,
    shutdown: Shutdown,
    tasks: Vec<(String, JoinHandle<std::io::Result<()>>)>,
}

/// Why a world could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A service could not bind its address.
    #[error("{host}: cannot start {service} on {addr}: {error}")]
    Bind {
        /// Host name.
        host: String,
        /// Service kind.
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        error: std::io::Error,
    },
}

/// Whether this process runs as root (and so may bind ports below 1024).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The port a service really uses, given the offset.
pub fn effective_port(standard: u16, offset: u16) -> u16 {
    if standard < 1024 {
        standard.saturating_add(offset)
    } else {
        standard
    }
}

/// Starts every service of `world`. On any failure, the services already started are stopped
/// and the first error is returned.
pub async fn start(world: &World, options: &UpOptions) -> Result<Running, StartError> {
    let port_offset =
        options
            .port_offset
            .unwrap_or(if is_root() { 0 } else { UNPRIVILEGED_OFFSET });
    let shutdown = Shutdown::new();
    let mut running = Running {
        endpoints: Vec::new(),
        port_offset,
        shutdown: shutdown.clone(),
        tasks: Vec::new(),
    };
    for host in &world.hosts {
        for service in &host.services {
            let addr = SocketAddr::new(host.address, effective_port(service.port, port_offset));
            let bind_error = |error| StartError::Bind {
                host: host.name.clone(),
                service: service.kind.name(),
                addr,
                error,
            };
            let task: JoinHandle<std::io::Result<()>> = match &service.kind {
                ServiceKind::TcpUpper { max_line } => {
                    let mut config = sockets::net::TcpUpperConfig::new(addr);
                    config.max_line = *max_line;
                    match sockets::net::TcpUpperServer::bind(config).await {
                        Ok(server) => tokio::spawn(server.run(shutdown.clone())),
                        Err(error) => return Err(running.abort(bind_error(error))),
                    }
                }
                ServiceKind::UdpUpper { loss } => {
                    let mut config = sockets::net::UdpUpperConfig::new(addr);
                    config.loss = *loss;
                    match sockets::net::UdpUpperServer::bind(config).await {
                        Ok(server) => tokio::spawn(server.run(shutdown.clone())),
                        Err(error) => return Err(running.abort(bind_error(error))),
                    }
                }
            };
            running.endpoints.push(Endpoint {
                host: host.name.clone(),
                service: service.kind.name(),
                transports: service.kind.transports(),
                addr,
            });
            running
                .tasks
                .push((format!("{} {}", host.name, service.kind.name()), task));
        }
    }
    Ok(running)
}

impl Running {
    fn abort(&mut self, error: StartError) -> StartError {
        self.shutdown.trigger();
        error
    }

    /// The address of `service` on `host`, if the world runs it.
    pub fn endpoint(&self, host: &str, service: &str) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .find(|endpoint| {
                endpoint.host.eq_ignore_ascii_case(host) && endpoint.service == service
            })
            .map(|endpoint| endpoint.addr)
    }

    /// A handle that stops every service when triggered.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Stops every service and waits for them to finish; reports services that failed.
    pub async fn stop(self) -> Vec<String> {
        self.shutdown.trigger();
        let mut failures = Vec::new();
        for (name, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failures.push(format!("{name}: {error}")),
                Err(error) => failures.push(format!("{name}: {error}")),
            }
        }
        failures
    }

    /// The status table: host, address, network, and its services with their ports.
    pub fn table(&self, world: &World) -> String {
        let mut rows = vec![[
            "HOST".to_string(),
            "ADDRESS".to_string(),
            "NETWORK".to_string(),
            "SERVICES".to_string(),
        ]];
        for host in &world.hosts {
            let services: Vec<String> = self
                .endpoints
                .iter()
                .filter(|endpoint| endpoint.host == host.name)
                .map(|endpoint| {
                    let transports: Vec<String> =
                        endpoint.transports.iter().map(|t| t.to_string()).collect();
                    format!(
                        "{} {}/{}",
                        endpoint.service,
                        transports.join("+"),
                        endpoint.addr.port()
                    )
                })
                .collect();
            rows.push([
                host.name.clone(),
                host.address.to_string(),
                host.network.clone().unwrap_or_default(),
                if services.is_empty() {
                    "-".to_string()
                } else {
                    services.join(", ")
                },
            ]);
        }
        let mut widths = [0usize; 4];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in rows {
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
        out
    }
}

/// The outcome of exercising one service.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// Host name.
    pub host: String,
    /// Service kind.
    pub service: &'static str,
    /// Whether it answered correctly.
    pub passed: bool,
    /// What was done and seen.
    pub detail: String,
}

/// Exercises every running service once with its own client, from `client` (an address of
/// this machine; timelines show it as that host when the world knows it).
pub async fn check(running: &Running, client: IpAddr) -> Vec<CheckResult> {
    const WAIT: Duration = Duration::from_secs(3);
    let mut results = Vec::new();
    for endpoint in &running.endpoints {
        let outcome: Result<String, String> = match endpoint.service {
            "tcp-upper" => {
                let probe = b"hello from the world check";
                async {
                    let mut connection = sockets::net::TcpUpperClient::connect_from(
                        Some(client),
                        endpoint.addr,
                        WAIT,
                    )
                    .await?;
                    connection.exchange(probe).await
                }
                .await
                .map_err(|error| error.to_string())
                .and_then(|reply| expect_upper(probe, &reply))
            }
            "udp-upper" => {
                let probe = b"hello from the world check";
                sockets::net::udp_exchange_from(Some(client), endpoint.addr, probe, WAIT, 2)
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|reply| expect_upper(probe, &reply))
            }
            other => Err(format!("no check for {other}")),
        };
        results.push(CheckResult {
            host: endpoint.host.clone(),
            service: endpoint.service,
            passed: outcome.is_ok(),
            detail: outcome.unwrap_or_else(|error| error),
        });
    }
    results
}

fn expect_upper(probe: &[u8], reply: &[u8]) -> Result<String, String> {
    let expected = probe.to_ascii_uppercase();
    if reply == expected {
        Ok(format!(
            "\"{}\" -> \"{}\"",
            String::from_utf8_lossy(probe),
            String::from_utf8_lossy(reply)
        ))
    } else {
        Err(format!(
            "expected {:?}, got {:?}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(reply)
        ))
    }
}
