//! A caching forward and reverse HTTP proxy: the web cache of Kurose-Ross §2.2.5, held to
//! RFC 9111 and RFC 5861.
//!
//! - Forward mode (no `origin`): clients configured with the proxy send absolute-form requests
//!   (`GET http://host/path HTTP/1.1`) and `CONNECT host:443` for HTTPS tunnels.
//! - Reverse mode (`origin` set): every request goes to that origin, as a CDN edge does.
//! - A cluster (`peers` set): each URL path has one owner among the members by consistent
//!   hashing ([`ring`]); other members relay requests for it to the owner (RFC 8586
//!   `CDN-Loop`) without storing the answer, and go to the origin while the owner is down.
//!
//! Caching decisions come from the sans-IO `http-cache` crate; [`store`] is the index (LRU,
//! byte bound), [`disk`] the crash-safe disk records (blocking `std::fs`, run on the blocking
//! pool), [`forward`] the message rewriting, and [`net`] the server's sockets and tasks
//! ([`client`], the self-check client, has the only other socket).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = web_proxy::ProxyConfig {
//!     listen: "127.0.0.1:3128".parse().unwrap(),
//!     ..web_proxy::ProxyConfig::default()
//! };
//! let server = web_proxy::bind(config).await?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run(netio::shutdown_on_signals()).await
//! # }
//! ```

pub mod client;
pub mod disk;
pub mod forward;
pub mod net;
pub mod ring;
pub mod store;

pub use client::{get_via, get_via_from, GetError, ProxiedResponse};
pub use net::{bind, ProxyServer, ProxyStats};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to run the proxy.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where to listen (default `127.0.0.1:3128`).
    pub listen: SocketAddr,
    /// Reverse mode: the origin every request goes to (`http://host:port/`); `None` for a
    /// forward proxy.
    pub origin: Option<http_proto::Uri>,
    /// Where the disk store lives; `None` keeps the cache in memory only.
    pub cache_dir: Option<PathBuf>,
    /// The most bytes the cache holds (bodies plus stored fields); LRU eviction beyond.
    pub cache_size: u64,
    /// The largest response body stored; larger ones are streamed through uncached.
    pub max_object_size: u64,
    /// The largest request body accepted (413 beyond).
    pub max_request_body: u64,
    /// How long to wait for an origin connection (502 after).
    pub connect_timeout: Duration,
    /// How long to wait for an origin's response head, and between body reads (504 after).
    pub origin_timeout: Duration,
    /// The pseudonym in `Via` (`1.1 applayer`).
    pub via: String,
    /// Whether CONNECT tunnels are allowed (forward mode only).
    pub allow_connect: bool,
    /// Act as a CDN edge: a valid `CDN-Cache-Control` in a response decides storing and
    /// freshness instead of `Cache-Control` and `Expires` (RFC 9213 §2.1, §3). Off for the
    /// ordinary forward or reverse proxy, which passes the field through untouched.
    pub cdn_edge: bool,
    /// The other members of this cache's cluster (CDN edge cluster): each URL path belongs to
    /// one member by consistent hashing ([`ring`]); a request for a path another member owns
    /// is fetched from that member (which caches it) and passed on without being stored
    /// here. Empty: no cluster.
    pub peers: Vec<SocketAddr>,
    /// This member's name on the ring (default: `listen`); it must be the address the other
    /// members list in their `peers`.
    pub member: Option<SocketAddr>,
    /// Client connection limits and timeouts. A new client's first request must begin within
    /// `read_timeout` (it waits for it in netio's idle lot); later ones within `idle_timeout`.
    pub tcp: netio::tcp::TcpLimits,
    /// When idle keep-alive clients leave the runtime for netio's idle lot.
    pub park: netio::tcp::ParkPolicy,
    /// How origin host names are resolved (the system's resolver, or a world's local DNS).
    pub resolver: std::sync::Arc<dyn netio::resolve::Resolve>,
    /// The local address of connections to origins (`None`: the kernel's choice), so that in
    /// the world the cache's traffic leaves from its own host.
    pub upstream_source: Option<std::net::IpAddr>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            origin: None,
            cache_dir: None,
            cache_size: 256 * 1024 * 1024,
            max_object_size: 64 * 1024 * 1024,
            max_request_body: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            origin_timeout: Duration::from_secs(30),
            via: "applayer".to_string(),
            allow_connect: true,
            cdn_edge: false,
            peers: Vec::new(),
            member: None,
            tcp: netio::tcp::TcpLimits::default(),
            park: netio::tcp::ParkPolicy::default(),
            resolver: std::sync::Arc::new(netio::resolve::SystemResolver),
            upstream_source: None,
        }
    }
}

/// The request field `applayer cdn push` sends (and the edge's access log marks `push`).
pub const PUSH_FIELD: &str = "CDN-Push";

/// Parses a size such as `1048576`, `512K`, `256M` or `2G` (powers of 1024; a trailing `B`
/// or `iB` is allowed).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let upper = text.to_ascii_uppercase();
    let trimmed = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, multiplier) = match trimmed.chars().last()? {
        'K' => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        'M' => (&trimmed[..trimmed.len() - 1], 1 << 20),
        'G' => (&trimmed[..trimmed.len() - 1], 1 << 30),
        'T' => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("1024"), Some(1024));
        assert_eq!(super::parse_size("512K"), Some(512 * 1024));
        assert_eq!(super::parse_size("256MiB"), Some(256 << 20));
        assert_eq!(super::parse_size("2g"), Some(2 << 30));
        assert_eq!(super::parse_size("x"), None);
        assert_eq!(super::parse_size(""), None);
    }
}
