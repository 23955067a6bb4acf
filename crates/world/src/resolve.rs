//! Name resolution for clients in the world: the world's own host table, or a DNS server of the
//! world (a local DNS server), behind the pluggable [`netio::resolve::Resolve`].

use crate::World;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

/// Resolves world host names from the world file itself (no DNS traffic): for self-checks.
#[derive(Clone, Debug)]
pub struct HostTable {
    names: HashMap<String, IpAddr>,
}

impl HostTable {
    /// The table of `world`'s hosts.
    pub fn new(world: &World) -> HostTable {
        HostTable {
            names: world
                .hosts
                .iter()
                .map(|host| (host.name.to_ascii_lowercase(), host.address))
                .collect(),
        }
    }
}

impl netio::resolve::Resolve for HostTable {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(ip) = netio::resolve::ip_literal(host) {
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            self.names
                .get(&name)
                .map(|ip| vec![SocketAddr::new(*ip, port)])
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{host}: no such host in the world"),
                    )
                })
        })
    }
}

/// Resolves names by asking a DNS server (recursion desired; A records, else AAAA), as a stub
/// resolver configured with a local DNS server does.
#[derive(Clone, Debug)]
pub struct DnsResolve {
    /// The DNS server to ask.
    pub server: SocketAddr,
    /// How long one query may take.
    pub timeout: Duration,
    /// The local address queries leave from (a world host's own address), if any.
    pub source: Option<IpAddr>,
}

impl netio::resolve::Resolve for DnsResolve {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(ip) = netio::resolve::ip_literal(host) {
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            let name: dns_proto::Name = host.parse().map_err(|error| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {error}"))
            })?;
            let options = dns_client::QueryOptions {
                timeout: self.timeout,
                source: self.source,
                ..dns_client::QueryOptions::default()
            };
            let mut last_rcode = dns_proto::Rcode::NOERROR;
            for rtype in [dns_proto::RecordType::A, dns_proto::RecordType::AAAA] {
                let reply = dns_client::query(self.server, &name, rtype, &options)
                    .await
                    .map_err(|error| io::Error::other(format!("{host}: {error}")))?;
                let addresses: Vec<SocketAddr> = reply
                    .answers
                    .iter()
                    .filter_map(|record| match record.rdata {
                        dns_proto::Rdata::A(address) => {
                            Some(SocketAddr::new(IpAddr::V4(address), port))
                        }
                        dns_proto::Rdata::Aaaa(address) => {
                            Some(SocketAddr::new(IpAddr::V6(address), port))
                        }
                        _ => None,
                    })
                    .collect();
                if !addresses.is_empty() {
                    return Ok(addresses);
                }
                last_rcode = reply.rcode;
                if last_rcode == dns_proto::Rcode::NXDOMAIN {
                    break;
                }
            }
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{host}: no address records ({last_rcode} from {})",
                    self.server
                ),
            ))
        })
    }
}
