//! `applayer cdn dns`: KingCDN's authoritative DNS, answering routed names with the cluster
//! selected per client (coverage zones, geography, measured RTT and load, health).

use anyhow::Context;
use cdn::health::HealthPolicy;
use cdn::{CdnDnsConfig, MonitorConfig, RoutePattern, RouterConfig};
use dns_proto::Name;
use dns_server::{DnsServerConfig, ZoneConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer cdn dns`.
///
/// Example: `applayer cdn dns --zone kingcdn.com.zone --clusters clusters.toml
/// --coverage coverage.txt --listen 127.0.0.1:5300 --ttl 20 --health-path /health`.
///
/// Logs one line per health change of a member and one per change of a client group's
/// decision; prints the decision counters (by reason and by cluster) when it stops, and every
/// `--status-every` seconds if given.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The CDN's zone file (SOA, NS, glue and any static records), as FILE or ORIGIN=FILE.
    /// Repeat for more zones.
    #[arg(long = "zone", value_name = "[ORIGIN=]FILE", required = true)]
    zones: Vec<String>,

    /// The clusters (TOML): `[[cluster]]` tables with name, addresses, lat, lon, and
    /// optionally capacity and health_port.
    #[arg(long, value_name = "FILE")]
    clusters: PathBuf,

    /// Coverage zones and client locations: lines `PREFIX CLUSTER [LAT LON]` (CLUSTER `-`:
    /// location only), `#` comments.
    #[arg(long, value_name = "FILE")]
    coverage: Option<PathBuf>,

    /// Address to serve on, UDP and TCP (repeatable; default 127.0.0.1:5300).
    #[arg(long = "listen", value_name = "ADDR", value_parser = super::addr_parser(5300))]
    listen: Vec<SocketAddr>,

    /// Routed names: `*.kingcdn.com` (every name below) or an exact name (repeatable;
    /// default `*.ORIGIN` of the first zone). Names the zone holds are never routed.
    #[arg(long = "route", value_name = "PATTERN")]
    routes: Vec<String>,

    /// TTL of routed answers, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    ttl: u32,

    /// Member addresses per routed answer, rotated (0: all up members).
    #[arg(long, value_name = "N", default_value_t = 0)]
    answers: usize,

    /// The path the health monitor GETs from every member.
    #[arg(long, value_name = "PATH", default_value = "/")]
    health_path: String,

    /// Seconds between health-check rounds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    health_interval: f64,

    /// Seconds a health check may take.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    health_timeout: f64,

    /// Failed checks in a row that take a member out of the answers.
    #[arg(long, value_name = "N", default_value_t = 3)]
    fall: u32,

    /// Good checks in a row that bring it back.
    #[arg(long, value_name = "M", default_value_t = 2)]
    rise: u32,

    /// Also log the counters every SECS seconds.
    #[arg(long, value_name = "SECS")]
    status_every: Option<u64>,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{what} must be a positive number of seconds"))
}

fn config(args: &Args) -> anyhow::Result<CdnDnsConfig> {
    let clusters_file = args.clusters.display().to_string();
    let clusters = cdn::config::parse_clusters(&read(&args.clusters)?, &clusters_file)?;
    let coverage = match &args.coverage {
        Some(path) => {
            cdn::config::parse_coverage(&read(path)?, &path.display().to_string(), &clusters)?
        }
        None => cdn::prefix::PrefixTable::new(),
    };
    let mut dns = DnsServerConfig::default();
    if !args.listen.is_empty() {
        dns.listen = args.listen.clone();
    }
    let mut origins: Vec<Name> = Vec::new();
    for zone in &args.zones {
        let (origin, path) = match zone.split_once('=') {
            Some((origin, path)) => {
                let origin = origin
                    .parse::<Name>()
                    .map_err(|error| anyhow::anyhow!("bad origin {origin:?}: {error}"))?;
                (Some(origin), path)
            }
            None => (None, zone.as_str()),
        };
        let zone = dns_server::store::load_zone_file(path.as_ref(), origin.as_ref())
            .with_context(|| format!("loading the zone {path}"))?;
        origins.push(zone.origin().clone());
        dns.zones.push(ZoneConfig::new(zone));
    }
    let mut routes = Vec::new();
    for text in &args.routes {
        let route = text
            .parse::<RoutePattern>()
            .map_err(|error| anyhow::anyhow!("--route {text:?}: {error}"))?;
        routes.push(route);
    }
    if routes.is_empty() {
        routes.push(RoutePattern::Below(origins[0].clone()));
    }
    Ok(CdnDnsConfig {
        dns,
        clusters,
        coverage,
        router: RouterConfig {
            routes,
            ttl: args.ttl,
            answer_count: args.answers,
        },
        monitor: MonitorConfig {
            path: args.health_path.clone(),
            interval: seconds(args.health_interval, "--health-interval")?,
            timeout: seconds(args.health_timeout, "--health-timeout")?,
            policy: HealthPolicy {
                fall: args.fall,
                rise: args.rise,
            },
        },
    })
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.health_path.starts_with('/') && !args.health_path.contains(char::is_whitespace),
        "--health-path must start with / and hold no spaces"
    );
    let config = config(&args)?;
    let routes: Vec<String> = config
        .router
        .routes
        .iter()
        .map(ToString::to_string)
        .collect();
    let clusters = config.clusters.len();
    let server = cdn::bind(config)
        .await
        .context("starting the CDN DNS server")?;
    for address in server.local_addrs() {
        tracing::info!(%address, clusters, routes = %routes.join(" "), "CDN DNS serving on UDP and TCP");
    }
    let router = server.router();
    let shutdown = netio::shutdown_on_signals();
    if let Some(every) = args.status_every.filter(|every| *every > 0) {
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.triggered() => return,
                    _ = tokio::time::sleep(Duration::from_secs(every)) => {}
                }
                tracing::info!(status = %router.status(), "counters");
            }
        });
    }
    let result = server.run(shutdown).await;
    println!("{}", router.status());
    result.context("serving DNS")?;
    Ok(ExitCode::SUCCESS)
}
