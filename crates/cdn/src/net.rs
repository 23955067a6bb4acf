//! The tokio side: the authoritative server with the request router installed (dns-server's
//! UDP and TCP driver), and the health monitor that probes every cluster member over HTTP.

use crate::config::{Cluster, Coverage};
use crate::health::{parse_health_response, Health, HealthPolicy, ProbeOutcome};
use crate::prefix::PrefixTable;
use crate::router::{RequestRouter, Router, RouterConfig, Status};
use crate::select::Selector;
use dns_server::{DnsServer, DnsServerConfig};
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the monitor checks the members.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// The path of the HTTP GET (`/`, `/health`).
    pub path: String,
    /// Time between rounds of probes.
    pub interval: Duration,
    /// A probe that has not got its response head by then failed.
    pub timeout: Duration,
    /// When members go down and come back.
    pub policy: HealthPolicy,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            path: "/".to_string(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            policy: HealthPolicy::default(),
        }
    }
}

/// Everything [`bind`] needs.
#[derive(Clone, Debug)]
pub struct CdnDnsConfig {
    /// The authoritative server: listen addresses, the CDN's zone (SOA, NS, glue), limits.
    /// Its `responder` is replaced by the router.
    pub dns: DnsServerConfig,
    /// The clusters (at least one).
    pub clusters: Vec<Cluster>,
    /// Coverage zones and client locations.
    pub coverage: PrefixTable<Coverage>,
    /// Routed names, TTL, addresses per answer.
    pub router: RouterConfig,
    /// The health checks.
    pub monitor: MonitorConfig,
}

/// A bound CDN DNS server, ready to [`CdnDnsServer::run`].
#[derive(Debug)]
pub struct CdnDnsServer {
    dns: DnsServer,
    router: Arc<RequestRouter>,
    monitor: MonitorConfig,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// Loads the zones, checks that every routed name is inside one, and binds (UDP and TCP).
pub async fn bind(config: CdnDnsConfig) -> std::io::Result<CdnDnsServer> {
    if config.clusters.is_empty() {
        return Err(invalid("no clusters".into()));
    }
    if config.router.routes.is_empty() {
        return Err(invalid("no routed names".into()));
    }
    let selector = Selector::new(config.clusters, config.coverage);
    let router = Arc::new(RequestRouter::new(Router::new(selector, config.router)));
    let mut dns = config.dns;
    dns.responder = Some(router.clone());
    let server = dns_server::bind(dns).await?;
    for route in &router.router().config().routes {
        let mut candidate = Some(route.name().clone());
        let mut inside = false;
        while let Some(name) = candidate {
            if server.zone(&name).is_some() {
                inside = true;
                break;
            }
            candidate = name.parent();
        }
        if !inside {
            return Err(invalid(format!(
                "routed name {route} is in none of the zones"
            )));
        }
    }
    Ok(CdnDnsServer {
        dns: server,
        router,
        monitor: config.monitor,
    })
}

impl CdnDnsServer {
    /// The bound addresses (each serves UDP and TCP).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.dns.local_addrs()
    }

    /// The router: its counters ([`RequestRouter::status`]) and health view.
    pub fn router(&self) -> Arc<RequestRouter> {
        self.router.clone()
    }

    /// Serves and monitors until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let monitor = Monitor::new(self.router.clone(), self.monitor);
        let monitor_shutdown = shutdown.clone();
        let monitor = tokio::spawn(async move { monitor.run(monitor_shutdown).await });
        let result = self.dns.run(shutdown).await;
        monitor.abort();
        let _ = monitor.await;
        result
    }

    /// The counters now (also printed by the command at shutdown).
    pub fn status(&self) -> Status {
        self.router.status()
    }
}

/// The health monitor: every `interval`, an HTTP GET of the health path to every member of
/// every cluster at once, each bounded by the timeout; the results go into the sans-IO
/// [`Health`] and the new view into the router. It is the only writer of the view.
#[derive(Debug)]
pub struct Monitor {
    router: Arc<RequestRouter>,
    config: MonitorConfig,
    health: Health,
    /// (cluster, member, address to probe).
    targets: Vec<(usize, usize, SocketAddr)>,
}

impl Monitor {
    fn new(router: Arc<RequestRouter>, config: MonitorConfig) -> Monitor {
        let clusters = router.router().selector().clusters();
        let health = Health::new(clusters, config.policy);
        let targets = clusters
            .iter()
            .enumerate()
            .flat_map(|(index, cluster)| {
                cluster
                    .addresses
                    .iter()
                    .enumerate()
                    .map(move |(member, &address)| {
                        (index, member, SocketAddr::new(address, cluster.health_port))
                    })
            })
            .collect();
        Monitor {
            router,
            config,
            health,
            targets,
        }
    }

    async fn run(mut self, shutdown: Shutdown) {
        loop {
            self.round().await;
            tokio::select! {
                _ = shutdown.triggered() => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }

    /// One round: probe everything, feed the results, publish the view.
    async fn round(&mut self) {
        let mut probes = tokio::task::JoinSet::new();
        for &(cluster, member, address) in &self.targets {
            let path = self.config.path.clone();
            let timeout = self.config.timeout;
            probes.spawn(async move { (cluster, member, probe(address, &path, timeout).await) });
        }
        let mut results = Vec::with_capacity(self.targets.len());
        while let Some(joined) = probes.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results.sort_by_key(|(cluster, member, _)| (*cluster, *member));
        let now = Instant::now();
        for (cluster, member, outcome) in results {
            self.health.handle_probe(cluster, member, outcome, now);
        }
        let clusters = self.router.router().selector().clusters();
        while let Some(event) = self.health.poll_event() {
            let name = &clusters[event.cluster].name;
            match (event.up, event.cluster_up) {
                (false, false) => {
                    tracing::warn!(cluster = %name, member = %event.member, "member down; cluster down, leaving the answers")
                }
                (false, true) => {
                    tracing::warn!(cluster = %name, member = %event.member, "member down; left the answers")
                }
                (true, _) => {
                    tracing::info!(cluster = %name, member = %event.member, "member up; back in the answers")
                }
            }
        }
        self.router.set_health(self.health.view());
    }
}

/// One health check: connect, `GET path`, read the response head; all within `timeout`.
async fn probe(address: SocketAddr, path: &str, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let local = stream.local_addr()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: applayer-cdn-monitor\r\nConnection: close\r\n\r\n"
        );
        wire::emit(
            "http",
            Dir::Send,
            local,
            address,
            &format_args!("GET {path}"),
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(512);
        let mut buf = [0u8; 1024];
        // The head is enough; 8 KiB bounds a member that never ends it.
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let read = stream.read(&mut buf).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buf[..read]);
        }
        let response = parse_health_response(&head);
        let summary = response.map_or_else(|| "not HTTP".to_string(), |r| r.status.to_string());
        wire::emit("http", Dir::Recv, local, address, &summary);
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(Some(response))) if response.passed() => ProbeOutcome::Passed {
            rtt: started.elapsed(),
            load: response.load,
        },
        _ => ProbeOutcome::Failed,
    }
}
