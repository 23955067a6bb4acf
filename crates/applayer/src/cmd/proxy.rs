//! The `applayer web proxy` command: the caching forward or reverse proxy (web cache).

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use web_proxy::ProxyConfig;

/// Arguments of `applayer web proxy`.
///
/// Forward proxy for clients (`curl -x http://127.0.0.1:3128 http://site/`):
/// `applayer web proxy --listen 127.0.0.1:3128 --cache-dir ./applayer-data/cache`.
/// Reverse proxy (CDN edge) in front of one origin:
/// `applayer web proxy --listen 127.0.0.1:8081 --origin http://127.0.0.1:8080`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3128", value_parser = super::addr_parser(3128))]
    listen: SocketAddr,

    /// Reverse mode: send every request to this origin (`http://host:port`). Without it the
    /// proxy is a forward proxy (absolute-form requests and CONNECT tunnels).
    #[arg(long, value_name = "URL")]
    origin: Option<String>,

    /// Keep the cache on disk in this directory (it survives restarts); without it the cache
    /// lives in memory only.
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// The most the cache holds, e.g. `256M`, `2G`, `1048576`.
    #[arg(long = "cache-size", value_name = "SIZE", default_value = "256M")]
    cache_size: String,

    /// The largest response body stored (larger ones pass through uncached).
    #[arg(long = "max-object-size", value_name = "SIZE", default_value = "64M")]
    max_object_size: String,

    /// Seconds to wait for an origin's response before answering 504.
    #[arg(long = "origin-timeout", value_name = "SECONDS", default_value_t = 30)]
    origin_timeout: u64,

    /// Refuse CONNECT tunnels.
    #[arg(long = "no-connect")]
    no_connect: bool,

    /// Honour CDN-Cache-Control (RFC 9213) ahead of Cache-Control, as a CDN edge.
    #[arg(long = "cdn-edge")]
    cdn_edge: bool,

    /// Another member of this edge's cluster (repeat for each). Each URL path belongs to one
    /// member by consistent hashing; this edge fetches other members' paths from them
    /// (they cache them; it passes them on) and goes to the origin itself when the owner is
    /// down.
    #[arg(long = "peer", value_name = "ADDR", value_parser = super::addr_parser(3128))]
    peers: Vec<std::net::SocketAddr>,

    /// This member's address on the cluster's ring, as the other members' `--peer` name it
    /// (default: `--listen`; needed when listening on 0.0.0.0).
    #[arg(long = "self", value_name = "ADDR", value_parser = super::addr_parser(3128))]
    member: Option<std::net::SocketAddr>,
}

fn size(text: &str, what: &str) -> anyhow::Result<u64> {
    web_proxy::parse_size(text)
        .with_context(|| format!("{what} {text:?}: expected a size such as 256M, 2G or 1048576"))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let origin = match &args.origin {
        Some(text) => {
            let text = if text.contains("://") {
                text.clone()
            } else {
                format!("http://{text}")
            };
            let uri = http_proto::Uri::parse(&text)
                .map_err(|error| anyhow::anyhow!("--origin {text:?}: {error}"))?;
            anyhow::ensure!(
                uri.scheme == "http",
                "--origin {text:?}: only http:// origins are supported"
            );
            Some(uri)
        }
        None => None,
    };
    let config = ProxyConfig {
        listen: args.listen,
        origin,
        cache_dir: args.cache_dir,
        cache_size: size(&args.cache_size, "--cache-size")?,
        max_object_size: size(&args.max_object_size, "--max-object-size")?,
        origin_timeout: Duration::from_secs(args.origin_timeout.max(1)),
        allow_connect: !args.no_connect,
        cdn_edge: args.cdn_edge,
        peers: args.peers,
        member: args.member,
        ..ProxyConfig::default()
    };
    let mut mode = match &config.origin {
        Some(origin) => format!("reverse proxy for {origin}"),
        None => "forward proxy".to_string(),
    };
    if !config.peers.is_empty() {
        let member = config.member.unwrap_or(config.listen);
        mode.push_str(&format!(
            ", cluster member {member} with {} peers",
            config.peers.len()
        ));
    }
    let store = match &config.cache_dir {
        Some(dir) => format!("disk store {}", dir.display()),
        None => "memory store".to_string(),
    };
    let server = web_proxy::bind(config.clone())
        .await
        .with_context(|| format!("cannot start the web cache on {}", config.listen))?;
    for addr in server.local_addrs() {
        eprintln!(
            "applayer web proxy: {mode} on http://{addr}/ ({store}, {} bytes)",
            config.cache_size
        );
    }
    server
        .run(netio::shutdown_on_signals())
        .await
        .context("web cache failed")?;
    Ok(ExitCode::SUCCESS)
}
