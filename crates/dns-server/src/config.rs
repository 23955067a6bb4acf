//! The server's configuration: where to listen, which zones, keys, and who may update them.

use crate::authority::{Responder, ZonePolicy};
use crate::zone::Zone;
use dns_proto::tsig::TsigKey;
use dns_proto::Name;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything [`crate::net::bind`] needs. Build it with `..DnsServerConfig::default()` so
/// that fields added later do not break callers.
#[derive(Clone, Debug)]
pub struct DnsServerConfig {
    /// Addresses to serve on; each gets a UDP socket and a TCP listener on the same port
    /// (port 0: the UDP socket's port is reused for TCP).
    pub listen: Vec<SocketAddr>,
    /// The zones.
    pub zones: Vec<ZoneConfig>,
    /// TSIG keys (named in the zones' update and transfer lists).
    pub keys: Vec<TsigKey>,
    /// Where updated zones are persisted (`<origin>zone` files); `None` keeps updates in
    /// memory only.
    pub data_dir: Option<PathBuf>,
    /// TCP limits; `idle_timeout` closes connections idle between queries.
    pub tcp: netio::tcp::TcpLimits,
    /// Response rate limiting per client network; `None` turns it off.
    pub rrl: Option<RrlConfig>,
    /// Reload file-backed zones on SIGHUP (the command line sets this; the world does not).
    pub reload_on_sighup: bool,
    /// A hook that answers some queries before the zones (the CDN's request routing).
    pub responder: Option<Arc<dyn Responder>>,
}

impl Default for DnsServerConfig {
    fn default() -> DnsServerConfig {
        DnsServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5300))],
            zones: Vec::new(),
            keys: Vec::new(),
            data_dir: None,
            tcp: netio::tcp::TcpLimits {
                // RFC 7766 §6.2.3: seconds, not minutes, for idle DNS connections.
                idle_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(10),
                max_connections: 1000,
                ..netio::tcp::TcpLimits::default()
            },
            rrl: None,
            reload_on_sighup: false,
            responder: None,
        }
    }
}

/// One zone: where its data comes from and how it is served.
#[derive(Clone, Debug)]
pub struct ZoneConfig {
    /// The data.
    pub source: ZoneSource,
    /// Round robin, update and transfer permissions.
    pub policy: ZonePolicy,
    /// Secondaries to send NOTIFY to when the zone changes (RFC 1996).
    pub notify: Vec<SocketAddr>,
}

impl ZoneConfig {
    /// A zone already in memory (for example from [`Zone::parse_str`]), default policy.
    pub fn new(zone: Zone) -> ZoneConfig {
        ZoneConfig {
            source: ZoneSource::Zone(zone),
            policy: ZonePolicy::default(),
            notify: Vec::new(),
        }
    }

    /// A zone file; the origin is guessed from `$ORIGIN` or the file name when `None`.
    pub fn file(path: impl Into<PathBuf>, origin: Option<Name>) -> ZoneConfig {
        ZoneConfig {
            source: ZoneSource::File {
                path: path.into(),
                origin,
            },
            policy: ZonePolicy::default(),
            notify: Vec::new(),
        }
    }

    /// A secondary zone pulled from `primary` by AXFR, refreshed per its SOA and on NOTIFY.
    pub fn secondary(origin: Name, primary: SocketAddr) -> ZoneConfig {
        ZoneConfig {
            source: ZoneSource::Secondary {
                origin,
                primary,
                key: None,
            },
            policy: ZonePolicy {
                primary: Some(primary),
                ..ZonePolicy::default()
            },
            notify: Vec::new(),
        }
    }
}

/// Where a zone's data comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ZoneSource {
    /// Already parsed.
    Zone(Zone),
    /// A master file (reloaded on SIGHUP).
    File {
        /// The file.
        path: PathBuf,
        /// The origin, or `None` to take it from `$ORIGIN` or the file name.
        origin: Option<Name>,
    },
    /// A secondary zone: AXFR from the primary.
    Secondary {
        /// The zone's origin.
        origin: Name,
        /// The primary server.
        primary: SocketAddr,
        /// The TSIG key name to sign transfer requests with (one of the configured keys).
        key: Option<Name>,
    },
}

/// Response rate limiting (RRL): identical responses to one client network per second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrlConfig {
    /// Responses per second allowed per client /24 (IPv4) or /56 (IPv6) and response kind.
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated (TC=1) instead of dropped, so a
    /// real client can retry over TCP; 0 drops them all.
    pub slip: u32,
}

impl Default for RrlConfig {
    fn default() -> RrlConfig {
        RrlConfig {
            responses_per_second: 5,
            slip: 2,
        }
    }
}
