//! The world file: hosts on loopback addresses and the services they run.
//!
//! ```toml
//! name = "textbook"
//!
//! [[host]]
//! name = "gaia.cs.umass.edu"
//! address = "127.0.2.10"
//! network = "umass"          # hosts of one network share its local DNS server and web cache
//! location = "Amherst, MA"
//!
//!   [[host.service]]
//!   kind = "tcp-upper"       # port defaults to the service's standard port
//! ```
//!
//! Parsing checks everything it can and reports every problem with its line, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use toml_edit::{Item, Table, Value};

/// A whole world.
#[derive(Clone, Debug, PartialEq)]
pub struct World {
    /// Its name.
    pub name: String,
    /// The hosts, in file order.
    pub hosts: Vec<Host>,
    /// TSIG keys (`[[key]]`), named by zones that accept signed updates (the registrar's).
    pub keys: Vec<KeyDef>,
}

/// A TSIG key of the world.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyDef {
    /// The key's name, e.g. `registrar.`.
    pub name: String,
    /// The shared secret, base64.
    pub secret: String,
}

/// A zone served by a `dns-auth` service.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneDef {
    /// The zone's origin, e.g. `umass.edu.` (`.` for the root).
    pub origin: String,
    /// Master-file text (RFC 1035 format).
    pub data: String,
    /// The world-file line where `data` starts, for error messages at start time.
    pub line: usize,
    /// Rotate multi-record RRsets from answer to answer.
    pub round_robin: bool,
    /// Keys whose signed DNS UPDATEs are accepted (the registrar's key on a TLD).
    pub update_keys: Vec<String>,
    /// Addresses allowed to transfer the zone (AXFR).
    pub allow_transfer: Vec<IpAddr>,
}

/// The settings of a `cdn-dns` service.
#[derive(Clone, Debug, PartialEq)]
pub struct CdnDnsDef {
    /// The CDN's zones (SOA, NS, the servers' own names), as a `dns-auth` service's.
    pub zones: Vec<ZoneDef>,
    /// The clusters, in file order.
    pub clusters: Vec<ClusterDef>,
    /// The coverage lines (`PREFIX CLUSTER [LAT LON]`, see `cdn::config`).
    pub coverage: String,
    /// The world-file line where `coverage` starts.
    pub coverage_line: usize,
    /// Routed names (`*.kingcdn.com` or exact names; default `*.` the first zone's origin).
    pub routes: Vec<String>,
    /// TTL of routed answers, seconds.
    pub ttl: u32,
    /// The path the health monitor GETs from every member.
    pub health_path: String,
    /// Seconds between health-check rounds.
    pub health_interval: f64,
    /// Seconds a health check may take.
    pub health_timeout: f64,
    /// Failed checks in a row that take a member out of the answers.
    pub fall: u32,
    /// Good checks in a row that bring it back.
    pub rise: u32,
}

/// One cluster of a `cdn-dns` service.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterDef {
    /// Its name, as coverage lines call it.
    pub name: String,
    /// Its members: world host names or addresses.
    pub members: Vec<String>,
    /// Where it is.
    pub lat: f64,
    /// Where it is.
    pub lon: f64,
    /// The load it takes, in the unit of its members' `X-Load`.
    pub capacity: f64,
    /// The members' HTTP port for health checks (standard; moved with the world's offset).
    pub health_port: u16,
    /// The world-file line of its table.
    pub line: usize,
}

/// One host of the world.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Its DNS name, e.g. `gaia.cs.umass.edu`.
    pub name: String,
    /// Its own loopback address.
    pub address: IpAddr,
    /// The network it belongs to (a campus, an ISP), if any.
    pub network: Option<String>,
    /// Where it stands, for the status table.
    pub location: Option<String>,
    /// Its services.
    pub services: Vec<Service>,
}

/// A service a host runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// What it is, with its settings.
    pub kind: ServiceKind,
    /// Its standard port (the world may move it by an offset when it cannot bind low ports).
    pub port: u16,
}

/// The kinds of service a world host can run, with their settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ServiceKind {
    /// The TCP uppercase server.
    TcpUpper {
        /// Longest line accepted.
        max_line: usize,
    },
    /// The UDP uppercase (and ping echo) server.
    UdpUpper {
        /// Fraction of datagrams dropped on purpose.
        loss: f64,
    },
    /// An authoritative DNS server for some zones.
    DnsAuth {
        /// Its zones.
        zones: Vec<ZoneDef>,
    },
    /// A local DNS server (recursive, caching) for its network, starting from the root servers
    /// of the world (every `dns-auth` service that serves the zone `.`).
    DnsLocal,
    /// An HTTP/1.x origin server.
    Web {
        /// The embedded site to serve (see `world::site`), written to the data dir at start.
        site: Option<String>,
        /// Or a document root of the user's.
        root: Option<std::path::PathBuf>,
        /// Path prefix of the cookie site (identification numbers, visits in SQLite), if any.
        cookies: Option<String>,
        /// Whether PUT and DELETE may change files.
        allow_write: bool,
    },
    /// A web cache (caching proxy): forward for its network's clients, or reverse in front of
    /// `origin`.
    WebCache {
        /// Reverse mode: the origin, e.g. `http://127.0.5.10/`.
        origin: Option<String>,
        /// Cache size in bytes.
        size: u64,
        /// A CDN edge: a valid `CDN-Cache-Control` decides storing and freshness (RFC 9213).
        cdn_edge: bool,
        /// The other members of its edge cluster: world host names (their web-cache's
        /// port) or `IP` / `IP:PORT`.
        peers: Vec<String>,
    },
    /// A CDN's authoritative DNS server (KingCDN's, seed §2.6.3): its zones as `dns-auth`'s,
    /// and the routed names answered with the cluster picked for each local DNS server.
    CdnDns(Box<CdnDnsDef>),
    /// A mail server: SMTP on `port` (25), submission on 587 and 465, POP3 on 110 and 995,
    /// IMAP on 143 and 993, and the web mail on 80, for its domains' users.
    Mail {
        /// The domains it receives mail for (default: the host name without its first label).
        domains: Vec<String>,
        /// Its users, `name:password`.
        users: Vec<(String, String)>,
        /// Whether the host serves the web mail on port 80 (default true).
        webmail: bool,
    },
    /// A BitTorrent tracker: HTTP announce, scrape and a status page, and the UDP tracker
    /// protocol, on the same port.
    TorrentTracker {
        /// Seconds between a client's announces.
        interval: u32,
    },
}

impl ServiceKind {
    /// The name used in world files.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceKind::TcpUpper { .. } => "tcp-upper",
            ServiceKind::UdpUpper { .. } => "udp-upper",
            ServiceKind::DnsAuth { .. } => "dns-auth",
            ServiceKind::DnsLocal => "dns-local",
            ServiceKind::Web { .. } => "web",
            ServiceKind::WebCache { .. } => "web-cache",
            ServiceKind::Mail { .. } => "mail",
            ServiceKind::TorrentTracker { .. } => "torrent-tracker",
            ServiceKind::CdnDns(_) => "cdn-dns",
        }
    }

    /// The transport the service listens on.
    pub fn transports(&self) -> &'static [Transport] {
        match self {
            ServiceKind::TcpUpper { .. } => &[Transport::Tcp],
            ServiceKind::UdpUpper { .. } => &[Transport::Udp],
            ServiceKind::DnsAuth { .. }
            | ServiceKind::DnsLocal
            | ServiceKind::CdnDns(_)
            | ServiceKind::TorrentTracker { .. } => &[Transport::Udp, Transport::Tcp],
            ServiceKind::Web { .. } | ServiceKind::WebCache { .. } | ServiceKind::Mail { .. } => {
                &[Transport::Tcp]
            }
        }
    }
}

/// A transport protocol, for port-conflict checks and the status table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// The service kinds a world file may name, with their standard ports.
pub const SERVICE_KINDS: &[(&str, u16)] = &[
    ("tcp-upper", 12000),
    ("udp-upper", 12000),
    ("dns-auth", 53),
    ("dns-local", 53),
    ("cdn-dns", 53),
    ("web", 80),
    ("web-cache", 3128),
    ("mail", 25),
    ("torrent-tracker", 6969),
];

/// Every problem found in a world file.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct WorldError {
    /// One line per problem: `FILE:LINE: what is wrong`.
    pub problems: Vec<String>,
}

impl World {
    /// Parses and checks a world file; `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<World, WorldError> {
        let mut checker = Checker {
            text,
            file,
            problems: Vec::new(),
        };
        let world = checker.world();
        if checker.problems.is_empty() {
            Ok(world)
        } else {
            Err(WorldError {
                problems: checker.problems,
            })
        }
    }

    /// The embedded default world.
    pub fn default_world() -> World {
        // The embedded file is checked by a unit test, so this cannot fail in a release.
        World::parse(crate::DEFAULT_WORLD, "default.toml").unwrap_or_else(|error| {
            panic!("the embedded default world is invalid:\n{error}");
        })
    }

    /// Moves every host from 127.A.N.H to 127.`block`.N.H, so that several worlds (tests, or a
    /// second world beside a running one) can run on one machine without port clashes.
    /// Addresses outside 127.0.0.0/8 (IPv6 loopback) stay where they are.
    ///
    /// Zone data moves with the hosts: every `127.0.N.H` in a zone becomes `127.block.N.H`.
    pub fn relocate(&mut self, block: u8) {
        let from = self.hosts.iter().find_map(|host| match host.address {
            IpAddr::V4(v4) => Some(v4.octets()[1]),
            IpAddr::V6(_) => None,
        });
        for host in &mut self.hosts {
            if let IpAddr::V4(v4) = host.address {
                let [_, _, network, number] = v4.octets();
                host.address = IpAddr::from([127, block, network, number]);
            }
            let Some(from) = from else { continue };
            for service in &mut host.services {
                if let ServiceKind::WebCache { origin, peers, .. } = &mut service.kind {
                    if let Some(origin) = origin {
                        *origin = relocate_text(origin, from, block);
                    }
                    for peer in peers {
                        *peer = relocate_text(peer, from, block);
                    }
                }
                let zones = match &mut service.kind {
                    ServiceKind::DnsAuth { zones } => Some(zones),
                    ServiceKind::CdnDns(cdn) => {
                        cdn.coverage = relocate_text(&cdn.coverage, from, block);
                        for cluster in &mut cdn.clusters {
                            for member in &mut cluster.members {
                                *member = relocate_text(member, from, block);
                            }
                        }
                        Some(&mut cdn.zones)
                    }
                    _ => None,
                };
                if let Some(zones) = zones {
                    for zone in zones {
                        zone.data = relocate_text(&zone.data, from, block);
                        for address in &mut zone.allow_transfer {
                            if let IpAddr::V4(v4) = *address {
                                let [first, second, network, number] = v4.octets();
                                if first == 127 && second == from {
                                    *address = IpAddr::from([127, block, network, number]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The host with this name (case-insensitive).
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|host| host.name.eq_ignore_ascii_case(name))
    }

    /// The name of the host at `address`, if any.
    pub fn host_name(&self, address: IpAddr) -> Option<&str> {
        self.hosts
            .iter()
            .find(|host| host.address == address)
            .map(|host| host.name.as_str())
    }

    /// Every host running a service of the given kind name, with the service.
    pub fn services_named<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a Host, &'a Service)> + 'a {
        self.hosts.iter().flat_map(move |host| {
            host.services
                .iter()
                .filter(move |service| service.kind.name() == kind)
                .map(move |service| (host, service))
        })
    }
}

/// Replaces `127.from.` by `127.block.` at the start of every dotted-quad-looking word.
fn relocate_text(text: &str, from: u8, block: u8) -> String {
    let needle = format!("127.{from}.");
    let replacement = format!("127.{block}.");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(&needle) {
        let before = rest[..index].chars().next_back();
        let boundary = before.is_none_or(|ch| !(ch.is_ascii_alphanumeric() || ch == '.'));
        out.push_str(&rest[..index]);
        out.push_str(if boundary { &replacement } else { &needle });
        rest = &rest[index + needle.len()..];
    }
    out.push_str(rest);
    out
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let offset = span
            .map(|span| span.start)
            .unwrap_or(0)
            .min(self.text.len());
        self.text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn problem(&mut self, span: Option<std::ops::Range<usize>>, message: impl fmt::Display) {
        let line = self.line_of(span);
        self.problems
            .push(format!("{}:{line}: {message}", self.file));
    }

    fn world(&mut self) -> World {
        let mut world = World {
            name: "world".to_string(),
            hosts: Vec::new(),
            keys: Vec::new(),
        };
        let document = match toml_edit::Document::parse(self.text) {
            Ok(document) => document,
            Err(error) => {
                let span = error.span();
                let message = error.message().to_string();
                self.problem(span, format!("not valid TOML: {message}"));
                return world;
            }
        };
        let root = document.as_table();
        for (key, item) in root.iter() {
            match key {
                "name" => {
                    if let Some(name) = self.string(item, "name") {
                        world.name = name;
                    }
                }
                "host" => {}
                "key" => match item {
                    Item::ArrayOfTables(keys) => {
                        for table in keys.iter() {
                            if let Some(key) = self.key(table) {
                                world.keys.push(key);
                            }
                        }
                    }
                    other => self.problem(
                        span_of(other),
                        "`key` must be an array of tables (`[[key]]`)",
                    ),
                },
                other => self.problem(
                    span_of(item),
                    format!("unknown key `{other}` (expected `name`, `[[key]]` or `[[host]]`)"),
                ),
            }
        }
        match root.get("host") {
            None => self.problem(None, "the world has no `[[host]]`"),
            Some(Item::ArrayOfTables(hosts)) => {
                for table in hosts.iter() {
                    if let Some(host) = self.host(table) {
                        world.hosts.push(host);
                    }
                }
            }
            Some(item) => self.problem(
                span_of(item),
                "`host` must be an array of tables (`[[host]]`)",
            ),
        }
        self.cross_checks(root, &world);
        world
    }

    fn host(&mut self, table: &Table) -> Option<Host> {
        let span = table.span();
        let mut name = None;
        let mut address = None;
        let mut network = None;
        let mut location = None;
        let mut services = Vec::new();
        for (key, item) in table.iter() {
            match key {
                "name" => name = self.string(item, "name"),
                "address" => {
                    if let Some(text) = self.string(item, "address") {
                        match text.parse::<IpAddr>() {
                            Ok(ip) if ip.is_loopback() => address = Some(ip),
                            Ok(ip) => self.problem(
                                span_of(item),
                                format!("address {ip} is not a loopback address (use 127.0.0.0/8 or ::1)"),
                            ),
                            Err(_) => self.problem(span_of(item), format!("`{text}` is not an IP address")),
                        }
                    }
                }
                "network" => network = self.string(item, "network"),
                "location" => location = self.string(item, "location"),
                "service" => match item {
                    Item::ArrayOfTables(tables) => {
                        for service in tables.iter() {
                            if let Some(service) = self.service(service) {
                                services.push(service);
                            }
                        }
                    }
                    other => self.problem(span_of(other), "`service` must be an array of tables (`[[host.service]]`)"),
                },
                other => self.problem(
                    span_of(item),
                    format!("unknown host key `{other}` (expected name, address, network, location, service)"),
                ),
            }
        }
        if name.is_none() {
            self.problem(span.clone(), "host without `name`");
        }
        if address.is_none() && table.get("address").is_none() {
            self.problem(span, "host without `address`");
        }
        Some(Host {
            name: name?,
            address: address?,
            network,
            location,
            services,
        })
    }

    fn service(&mut self, table: &Table) -> Option<Service> {
        let span = table.span();
        let Some(kind_item) = table.get("kind") else {
            self.problem(span, "service without `kind`");
            return None;
        };
        let kind_name = self.string(kind_item, "kind")?;
        let Some(&(_, standard_port)) = SERVICE_KINDS.iter().find(|(name, _)| *name == kind_name)
        else {
            let known: Vec<&str> = SERVICE_KINDS.iter().map(|(name, _)| *name).collect();
            self.problem(
                span_of(kind_item),
                format!(
                    "unknown service kind `{kind_name}` (known: {})",
                    known.join(", ")
                ),
            );
            return None;
        };
        let mut port = standard_port;
        let mut settings = BTreeMap::new();
        for (key, item) in table.iter() {
            match key {
                "kind" => {}
                "port" => {
                    if let Some(value) = self.integer(item, "port", 1, 65_535) {
                        port = value as u16;
                    }
                }
                other => {
                    settings.insert(other.to_string(), item);
                }
            }
        }
        let kind = match kind_name.as_str() {
            "tcp-upper" => ServiceKind::TcpUpper {
                max_line: match settings.remove("max_line") {
                    Some(item) => self.integer(item, "max_line", 1, 1 << 30)? as usize,
                    None => 64 * 1024,
                },
            },
            "udp-upper" => ServiceKind::UdpUpper {
                loss: match settings.remove("loss") {
                    Some(item) => self.fraction(item, "loss")?,
                    None => 0.0,
                },
            },
            "dns-auth" => ServiceKind::DnsAuth {
                zones: self.zones(settings.remove("zone"), span.clone(), "dns-auth"),
            },
            "cdn-dns" => {
                let zones = self.zones(settings.remove("zone"), span.clone(), "cdn-dns");
                ServiceKind::CdnDns(Box::new(self.cdn_dns(
                    zones,
                    &mut settings,
                    span.clone(),
                )?))
            }
            "dns-local" => ServiceKind::DnsLocal,
            "torrent-tracker" => ServiceKind::TorrentTracker {
                interval: match settings.remove("interval") {
                    Some(item) => self.integer(item, "interval", 1, 86_400)? as u32,
                    None => 120,
                },
            },
            "web" => {
                let site = match settings.remove("site") {
                    Some(item) => {
                        let name = self.string(item, "site")?;
                        if crate::site::site(&name).is_none() {
                            let known: Vec<&str> =
                                crate::site::SITES.iter().map(|(name, _)| *name).collect();
                            self.problem(
                                span_of(item),
                                format!("no embedded site `{name}` (known: {})", known.join(", ")),
                            );
                            return None;
                        }
                        Some(name)
                    }
                    None => None,
                };
                let root = match settings.remove("root") {
                    Some(item) => Some(std::path::PathBuf::from(self.string(item, "root")?)),
                    None => None,
                };
                if site.is_some() == root.is_some() {
                    self.problem(span.clone(), "a web service needs exactly one of `site` (embedded) or `root` (a directory)");
                    return None;
                }
                let cookies = match settings.remove("cookies") {
                    Some(item) => {
                        let prefix = self.string(item, "cookies")?;
                        if !prefix.starts_with('/') {
                            self.problem(
                                span_of(item),
                                "`cookies` is a path prefix such as \"/cookies\"",
                            );
                            return None;
                        }
                        Some(prefix.trim_end_matches('/').to_string())
                    }
                    None => None,
                };
                let allow_write = match settings.remove("allow_write") {
                    Some(item) => self.boolean(item, "allow_write")?,
                    None => false,
                };
                ServiceKind::Web {
                    site,
                    root,
                    cookies,
                    allow_write,
                }
            }
            "web-cache" => {
                let origin = match settings.remove("origin") {
                    Some(item) => Some(self.string(item, "origin")?),
                    None => None,
                };
                let size = match settings.remove("size_mb") {
                    Some(item) => self.integer(item, "size_mb", 1, 1 << 20)? as u64 * 1024 * 1024,
                    None => 64 * 1024 * 1024,
                };
                let cdn_edge = match settings.remove("cdn_edge") {
                    Some(item) => self.boolean(item, "cdn_edge")?,
                    None => false,
                };
                let peers = match settings.remove("peers") {
                    Some(item) => self.strings(item, "peers"),
                    None => Vec::new(),
                };
                if !peers.is_empty() && origin.is_none() {
                    self.problem(
                        span.clone(),
                        "a web-cache with `peers` is an edge cluster's member: it needs an `origin`",
                    );
                }
                ServiceKind::WebCache {
                    origin,
                    size,
                    cdn_edge,
                    peers,
                }
            }
            "mail" => {
                let domains = match settings.remove("domains") {
                    Some(item) => self.strings(item, "domains"),
                    None => Vec::new(),
                };
                let mut users = Vec::new();
                if let Some(item) = settings.remove("users") {
                    for entry in self.strings(item, "users") {
                        match entry.split_once(':') {
                            Some((name, password)) if !name.is_empty() && !password.is_empty() => {
                                users.push((name.to_string(), password.to_string()))
                            }
                            _ => self.problem(
                                span_of(item),
                                format!("user `{entry}` must be `name:password`"),
                            ),
                        }
                    }
                }
                let webmail = match settings.remove("webmail") {
                    Some(item) => self.boolean(item, "webmail")?,
                    None => true,
                };
                ServiceKind::Mail {
                    domains,
                    users,
                    webmail,
                }
            }
            _ => return None,
        };
        for (key, item) in settings {
            self.problem(
                span_of(item),
                format!("unknown setting `{key}` for a {kind_name} service"),
            );
        }
        Some(Service { kind, port })
    }

    /// The `[[host.service.zone]]` tables of a DNS service (at least one).
    fn zones(
        &mut self,
        item: Option<&Item>,
        span: Option<std::ops::Range<usize>>,
        kind: &str,
    ) -> Vec<ZoneDef> {
        let mut zones = Vec::new();
        match item {
            Some(Item::ArrayOfTables(tables)) => {
                for table in tables.iter() {
                    if let Some(zone) = self.zone(table) {
                        zones.push(zone);
                    }
                }
            }
            Some(other) => self.problem(
                span_of(other),
                "`zone` must be an array of tables (`[[host.service.zone]]`)",
            ),
            None => self.problem(
                span,
                format!("a {kind} service needs at least one `[[host.service.zone]]`"),
            ),
        }
        zones
    }

    /// The line where a string value's text starts (a multi-line string: the line after its
    /// opening quotes).
    fn text_line(&self, item: &Item) -> usize {
        let at = span_of(item);
        let mut line = self.line_of(at.clone());
        if let Some(at) = at {
            let raw = &self.text[at.start.min(self.text.len())..];
            if raw.starts_with("\"\"\"\n") || raw.starts_with("'''\n") {
                line += 1;
            }
        }
        line
    }

    fn seconds(&mut self, item: &Item, what: &str) -> Option<f64> {
        let value = item
            .as_float()
            .or_else(|| item.as_integer().map(|value| value as f64));
        match value {
            Some(value) if value > 0.0 && value <= 3600.0 => Some(value),
            Some(value) => {
                self.problem(
                    span_of(item),
                    format!("`{what}` = {value} must be more than 0 and at most 3600 seconds"),
                );
                None
            }
            None => {
                self.problem(
                    span_of(item),
                    format!("`{what}` must be a number of seconds"),
                );
                None
            }
        }
    }

    /// A `cdn-dns` service's settings beside its zones: clusters, coverage, routes, TTL and
    /// the health checks.
    fn cdn_dns(
        &mut self,
        zones: Vec<ZoneDef>,
        settings: &mut BTreeMap<String, &Item>,
        span: Option<std::ops::Range<usize>>,
    ) -> Option<CdnDnsDef> {
        let mut clusters: Vec<ClusterDef> = Vec::new();
        match settings.remove("cluster") {
            Some(Item::ArrayOfTables(tables)) => {
                for table in tables.iter() {
                    if let Some(cluster) = self.cluster(table) {
                        if clusters.iter().any(|known| known.name == cluster.name) {
                            self.problem(
                                table.span(),
                                format!("cluster `{}` is defined twice", cluster.name),
                            );
                        }
                        clusters.push(cluster);
                    }
                }
            }
            Some(other) => self.problem(
                span_of(other),
                "`cluster` must be an array of tables (`[[host.service.cluster]]`)",
            ),
            None => self.problem(
                span.clone(),
                "a cdn-dns service needs at least one `[[host.service.cluster]]`",
            ),
        }
        let (coverage, coverage_line) = match settings.remove("coverage") {
            Some(item) => match item.as_str() {
                Some(text) => (text.to_string(), self.text_line(item)),
                None => {
                    self.problem(span_of(item), "`coverage` must be a string of lines");
                    (String::new(), 0)
                }
            },
            None => (String::new(), 0),
        };
        if !coverage.is_empty() {
            // The coverage file's own parser, against the clusters' names; its lines are moved
            // to the world file's.
            let named: Vec<cdn::config::Cluster> = clusters
                .iter()
                .map(|cluster| cdn::config::Cluster {
                    name: cluster.name.clone(),
                    addresses: Vec::new(),
                    location: cdn::geo::GeoPoint {
                        lat: cluster.lat,
                        lon: cluster.lon,
                    },
                    capacity: cluster.capacity,
                    health_port: cluster.health_port,
                })
                .collect();
            if let Err(errors) = cdn::config::parse_coverage(&coverage, "coverage", &named) {
                for (line, message) in errors.problems {
                    let at = coverage_line + line.saturating_sub(1);
                    self.problems
                        .push(format!("{}:{at}: coverage: {message}", self.file));
                }
            }
        }
        let mut routes = Vec::new();
        if let Some(item) = settings.remove("routes") {
            for text in self.strings(item, "routes") {
                match text.parse::<cdn::RoutePattern>() {
                    Ok(_) => routes.push(text),
                    Err(error) => self.problem(span_of(item), format!("route `{text}`: {error}")),
                }
            }
        }
        if routes.is_empty() {
            if let Some(zone) = zones.first() {
                routes.push(format!("*.{}", zone.origin));
            }
        }
        let mut cdn = CdnDnsDef {
            zones,
            clusters,
            coverage,
            coverage_line,
            routes,
            ttl: 20,
            health_path: "/".to_string(),
            health_interval: 5.0,
            health_timeout: 2.0,
            fall: 3,
            rise: 2,
        };
        if let Some(item) = settings.remove("ttl") {
            cdn.ttl = self.integer(item, "ttl", 0, 86_400)? as u32;
        }
        if let Some(item) = settings.remove("health_path") {
            let path = self.string(item, "health_path")?;
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                self.problem(
                    span_of(item),
                    "`health_path` must start with / and hold no spaces",
                );
                return None;
            }
            cdn.health_path = path;
        }
        if let Some(item) = settings.remove("health_interval") {
            cdn.health_interval = self.seconds(item, "health_interval")?;
        }
        if let Some(item) = settings.remove("health_timeout") {
            cdn.health_timeout = self.seconds(item, "health_timeout")?;
        }
        if let Some(item) = settings.remove("fall") {
            cdn.fall = self.integer(item, "fall", 1, 100)? as u32;
        }
        if let Some(item) = settings.remove("rise") {
            cdn.rise = self.integer(item, "rise", 1, 100)? as u32;
        }
        Some(cdn)
    }

    fn cluster(&mut self, table: &Table) -> Option<ClusterDef> {
        let span = table.span();
        let mut name = None;
        let mut members = Vec::new();
        let mut lat = None;
        let mut lon = None;
        let mut capacity = cdn::config::DEFAULT_CAPACITY;
        let mut health_port = 80;
        for (key, item) in table.iter() {
            let number = item
                .as_float()
                .or_else(|| item.as_integer().map(|value| value as f64));
            match key {
                "name" => name = self.string(item, "name"),
                "members" => members = self.strings(item, "members"),
                "lat" => match number {
                    Some(value) if (-90.0..=90.0).contains(&value) => lat = Some(value),
                    _ => self.problem(span_of(item), "`lat` must be a number from -90 to 90"),
                },
                "lon" => match number {
                    Some(value) if (-180.0..=180.0).contains(&value) => lon = Some(value),
                    _ => self.problem(span_of(item), "`lon` must be a number from -180 to 180"),
                },
                "capacity" => match number {
                    Some(value) if value > 0.0 => capacity = value,
                    _ => self.problem(span_of(item), "`capacity` must be a positive number"),
                },
                "health_port" => {
                    if let Some(port) = self.integer(item, "health_port", 1, 65_535) {
                        health_port = port as u16;
                    }
                }
                other => self.problem(
                    span_of(item),
                    format!(
                        "unknown cluster setting `{other}` (expected name, members, lat, lon, capacity, health_port)"
                    ),
                ),
            }
        }
        if table.get("members").is_none() {
            self.problem(
                span.clone(),
                "a cluster needs `members` (host names or addresses)",
            );
        }
        if table.get("name").is_none() || table.get("lat").is_none() || table.get("lon").is_none() {
            self.problem(span.clone(), "a cluster needs `name`, `lat` and `lon`");
        }
        Some(ClusterDef {
            name: name?,
            members,
            lat: lat?,
            lon: lon?,
            capacity,
            health_port,
            line: self.line_of(span),
        })
    }

    fn key(&mut self, table: &Table) -> Option<KeyDef> {
        let mut name = None;
        let mut secret = None;
        for (key, item) in table.iter() {
            match key {
                "name" => name = self.string(item, "name"),
                "secret" => {
                    secret = self.string(item, "secret");
                    let valid = secret
                        .as_deref()
                        .map(|text| dns_proto::tsig::TsigKey::from_base64("check.", text).is_ok());
                    if valid == Some(false) {
                        self.problem(span_of(item), "`secret` must be base64");
                        secret = None;
                    }
                }
                other => self.problem(
                    span_of(item),
                    format!("unknown key setting `{other}` (expected name, secret)"),
                ),
            }
        }
        if table.get("name").is_none() || table.get("secret").is_none() {
            self.problem(table.span(), "a `[[key]]` needs `name` and `secret`");
        }
        Some(KeyDef {
            name: name?,
            secret: secret?,
        })
    }

    fn zone(&mut self, table: &Table) -> Option<ZoneDef> {
        let span = table.span();
        let mut origin = None;
        let mut data = None;
        let mut line = self.line_of(span.clone());
        let mut round_robin = true;
        let mut update_keys = Vec::new();
        let mut allow_transfer = Vec::new();
        for (key, item) in table.iter() {
            match key {
                "origin" => origin = self.string(item, "origin"),
                "data" => {
                    data = self.string(item, "data");
                    line = self.text_line(item);
                }
                "round_robin" => match item.as_bool() {
                    Some(value) => round_robin = value,
                    None => self.problem(span_of(item), "`round_robin` must be true or false"),
                },
                "update_keys" => update_keys = self.strings(item, "update_keys"),
                "allow_transfer" => {
                    for text in self.strings(item, "allow_transfer") {
                        match text.parse::<IpAddr>() {
                            Ok(address) => allow_transfer.push(address),
                            Err(_) => self.problem(span_of(item), format!("`{text}` is not an IP address")),
                        }
                    }
                }
                other => self.problem(
                    span_of(item),
                    format!(
                        "unknown zone setting `{other}` (expected origin, data, round_robin, update_keys, allow_transfer)"
                    ),
                ),
            }
        }
        let (Some(origin), Some(data)) = (origin, data) else {
            if table.get("origin").is_none() || table.get("data").is_none() {
                self.problem(span, "a zone needs `origin` and `data`");
            }
            return None;
        };
        let name = match origin.parse::<dns_proto::Name>() {
            Ok(name) => name,
            Err(error) => {
                self.problem(span, format!("zone origin `{origin}`: {error}"));
                return None;
            }
        };
        if let Err(errors) = dns_server::Zone::parse_str(&data, &name, "zone") {
            for error in errors.0 {
                let at = line + error.line.saturating_sub(1);
                self.problems.push(format!(
                    "{}:{at}: zone {origin}: {}",
                    self.file, error.message
                ));
            }
            return None;
        }
        Some(ZoneDef {
            origin,
            data,
            line,
            round_robin,
            update_keys,
            allow_transfer,
        })
    }

    fn strings(&mut self, item: &Item, what: &str) -> Vec<String> {
        let Some(array) = item.as_array() else {
            self.problem(
                span_of(item),
                format!("`{what}` must be an array of strings"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for value in array.iter() {
            match value.as_str() {
                Some(text) => out.push(text.to_string()),
                None => self.problem(value.span(), format!("`{what}` must contain strings only")),
            }
        }
        out
    }

    fn cross_checks(&mut self, root: &Table, world: &World) {
        let host_spans: Vec<_> = match root.get("host") {
            Some(Item::ArrayOfTables(hosts)) => hosts.iter().map(|table| table.span()).collect(),
            _ => Vec::new(),
        };
        // Hosts that failed to parse are missing from `world.hosts`, so spans are matched by
        // name rather than by index.
        let span_for = |name: &str| {
            let hosts = match root.get("host") {
                Some(Item::ArrayOfTables(hosts)) => hosts,
                _ => return None,
            };
            hosts
                .iter()
                .zip(host_spans.iter())
                .find(|(table, _)| table.get("name").and_then(Item::as_str) == Some(name))
                .and_then(|(_, span)| span.clone())
        };
        let mut names: HashMap<String, &str> = HashMap::new();
        let mut addresses: HashMap<IpAddr, &str> = HashMap::new();
        for host in &world.hosts {
            if let Some(first) = names.insert(host.name.to_ascii_lowercase(), &host.name) {
                self.problem(
                    span_for(&host.name),
                    format!("host name `{}` is used twice (first: `{first}`)", host.name),
                );
            }
            if let Some(first) = addresses.insert(host.address, &host.name) {
                self.problem(
                    span_for(&host.name),
                    format!(
                        "address {} of `{}` is already `{first}`'s",
                        host.address, host.name
                    ),
                );
            }
            let mut ports: HashMap<(Transport, u16), &str> = HashMap::new();
            for service in &host.services {
                for &transport in service.kind.transports() {
                    if let Some(first) =
                        ports.insert((transport, service.port), service.kind.name())
                    {
                        self.problem(
                            span_for(&host.name),
                            format!(
                                "host `{}`: {transport} port {} is used by both {first} and {}",
                                host.name,
                                service.port,
                                service.kind.name()
                            ),
                        );
                    }
                }
            }
        }
        // Cluster members and edge peers name world hosts (or give addresses).
        let known = |reference: &str| {
            names.contains_key(&reference.to_ascii_lowercase())
                || reference.parse::<IpAddr>().is_ok()
                || reference.parse::<std::net::SocketAddr>().is_ok()
        };
        for host in &world.hosts {
            for service in &host.services {
                match &service.kind {
                    ServiceKind::CdnDns(cdn) => {
                        for cluster in &cdn.clusters {
                            for member in cluster.members.iter().filter(|member| !known(member)) {
                                self.problems.push(format!(
                                    "{}:{}: cluster `{}`: member `{member}` is neither a host of the world nor an address",
                                    self.file, cluster.line, cluster.name
                                ));
                            }
                        }
                    }
                    ServiceKind::WebCache { peers, .. } => {
                        for peer in peers.iter().filter(|peer| !known(peer)) {
                            self.problem(
                                span_for(&host.name),
                                format!(
                                    "host `{}`: web-cache peer `{peer}` is neither a host of the world nor an address",
                                    host.name
                                ),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn string(&mut self, item: &Item, what: &str) -> Option<String> {
        match item.as_str() {
            Some(text) if !text.trim().is_empty() => Some(text.to_string()),
            Some(_) => {
                self.problem(span_of(item), format!("`{what}` must not be empty"));
                None
            }
            None => {
                self.problem(span_of(item), format!("`{what}` must be a string"));
                None
            }
        }
    }

    fn boolean(&mut self, item: &Item, what: &str) -> Option<bool> {
        let value = item.as_bool();
        if value.is_none() {
            self.problem(span_of(item), format!("`{what}` must be true or false"));
        }
        value
    }

    fn integer(&mut self, item: &Item, what: &str, min: i64, max: i64) -> Option<i64> {
        match item.as_integer() {
            Some(value) if (min..=max).contains(&value) => Some(value),
            Some(value) => {
                self.problem(
                    span_of(item),
                    format!("`{what}` = {value} is out of range {min}..={max}"),
                );
                None
            }
            None => {
                self.problem(span_of(item), format!("`{what}` must be an integer"));
                None
            }
        }
    }

    fn fraction(&mut self, item: &Item, what: &str) -> Option<f64> {
        let value = item
            .as_float()
            .or_else(|| item.as_integer().map(|value| value as f64));
        match value {
            Some(value) if (0.0..=1.0).contains(&value) => Some(value),
            Some(value) => {
                self.problem(
                    span_of(item),
                    format!("`{what}` = {value} must be between 0 and 1"),
                );
                None
            }
            None => {
                self.problem(span_of(item), format!("`{what}` must be a number"));
                None
            }
        }
    }
}

fn span_of(item: &Item) -> Option<std::ops::Range<usize>> {
    match item {
        Item::Value(value) => Value::span(value),
        Item::Table(table) => table.span(),
        Item::ArrayOfTables(tables) => tables.span(),
        Item::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_world_is_valid_and_has_the_seed_hosts() {
        let world = World::parse(crate::DEFAULT_WORLD, "default.toml").unwrap();
        for name in ["cse.nyu.edu", "gaia.cs.umass.edu", "www.someschool.edu"] {
            assert!(world.host(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn parses_hosts_and_services_with_defaults() {
        let world = World::parse(
            r#"
name = "tiny"
[[host]]
name = "a.example"
address = "127.0.9.1"
network = "lan"
  [[host.service]]
  kind = "tcp-upper"
  [[host.service]]
  kind = "udp-upper"
  port = 5000
  loss = 0.25
"#,
            "tiny.toml",
        )
        .unwrap();
        assert_eq!(world.name, "tiny");
        let host = &world.hosts[0];
        assert_eq!(host.address, "127.0.9.1".parse::<IpAddr>().unwrap());
        assert_eq!(host.network.as_deref(), Some("lan"));
        assert_eq!(
            host.services,
            vec![
                Service {
                    kind: ServiceKind::TcpUpper { max_line: 65536 },
                    port: 12000
                },
                Service {
                    kind: ServiceKind::UdpUpper { loss: 0.25 },
                    port: 5000
                },
            ]
        );
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let text = r#"name = "bad"
colour = "blue"
[[host]]
name = "a.example"
address = "10.0.0.1"
[[host]]
name = "b.example"
address = "127.0.0.2"
  [[host.service]]
  kind = "telnet"
  [[host.service]]
  kind = "udp-upper"
  loss = 2.0
  [[host.service]]
  kind = "tcp-upper"
  port = 70000
  speed = 3
[[host]]
name = "A.example"
address = "127.0.0.2"
"#;
        let error = World::parse(text, "bad.toml").unwrap_err();
        let expected = [
            "bad.toml:2: unknown key `colour`",
            "bad.toml:5: address 10.0.0.1 is not a loopback address",
            "bad.toml:10: unknown service kind `telnet`",
            "bad.toml:13: `loss` = 2 must be between 0 and 1",
            "bad.toml:16: `port` = 70000 is out of range",
            "bad.toml:17: unknown setting `speed` for a tcp-upper service",
        ];
        for line in expected {
            assert!(
                error
                    .problems
                    .iter()
                    .any(|problem| problem.starts_with(line)),
                "missing `{line}` in:\n{error}"
            );
        }
        assert!(
            error.problems.iter().any(|p| p.starts_with(
                "bad.toml:18: address 127.0.0.2 of `A.example` is already `b.example`'s"
            )),
            "{error}"
        );
        assert_eq!(error.problems.len(), 7, "{error}");
    }

    #[test]
    fn host_names_are_unique_case_insensitively() {
        let text = "[[host]]\nname = \"a.example\"\naddress = \"127.0.0.3\"\n[[host]]\nname = \"A.Example\"\naddress = \"127.0.0.4\"\n";
        let error = World::parse(text, "w.toml").unwrap_err();
        assert_eq!(
            error.problems,
            vec!["w.toml:4: host name `A.Example` is used twice (first: `a.example`)"]
        );
    }

    #[test]
    fn relocate_moves_every_host_to_another_block() {
        let mut world = World::default_world();
        world.relocate(42);
        assert!(world
            .hosts
            .iter()
            .all(|host| host.address.to_string().starts_with("127.42.")));
        assert_eq!(
            world.host("gaia.cs.umass.edu").unwrap().address.to_string(),
            "127.42.3.10"
        );
        let ServiceKind::DnsAuth { zones } = &world.host("dns.umass.edu").unwrap().services[0].kind
        else {
            panic!("dns.umass.edu runs dns-auth first");
        };
        assert!(
            zones[0].data.contains("gaia.cs     A   127.42.3.10"),
            "{}",
            zones[0].data
        );
        assert_eq!(
            relocate_text("x 127.0.3.1 a127.0.1.1 10.127.0.2.3", 0, 9),
            "x 127.9.3.1 a127.0.1.1 10.127.0.2.3"
        );
    }

    #[test]
    fn zone_errors_are_reported_at_their_world_file_line() {
        let text = "[[host]]\nname = \"ns\"\naddress = \"127.0.0.7\"\n  [[host.service]]\n  kind = \"dns-auth\"\n    [[host.service.zone]]\n    origin = \"example.\"\n    data = \"\"\"\n@ 3600 SOA ns hostmaster 1 2 3 4 5\n@ 3600 NS ns\nwww 3600 A 300.1.1.1\n\"\"\"\n";
        let error = World::parse(text, "z.toml").unwrap_err();
        assert_eq!(error.problems.len(), 1, "{error}");
        assert!(
            error.problems[0].starts_with("z.toml:11: zone example.:"),
            "{error}"
        );
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let error = World::parse("name = \"x\"\n[[host]\n", "broken.toml").unwrap_err();
        assert!(
            error.problems[0].starts_with("broken.toml:2: not valid TOML"),
            "{error}"
        );
    }

    #[test]
    fn cdn_dns_and_edge_settings_are_parsed_and_checked_with_lines() {
        let world = World::default_world();
        let ServiceKind::CdnDns(cdn) = &world.host("dns.kingcdn.com").unwrap().services[0].kind
        else {
            panic!("dns.kingcdn.com runs cdn-dns");
        };
        assert_eq!(cdn.clusters.len(), 2);
        assert_eq!(cdn.routes, ["*.kingcdn.com"]);
        assert!(matches!(
            &world.host("edge1.deep.kingcdn.com").unwrap().services[0].kind,
            ServiceKind::WebCache { cdn_edge: true, peers, .. } if peers == &["edge2.deep.kingcdn.com"]
        ));
        let text = r#"[[host]]
name = "cdn"
address = "127.0.0.9"
  [[host.service]]
  kind = "cdn-dns"
  ttl = -1
  coverage = """
127.0.4.0/24 nowhere
"""
    [[host.service.zone]]
    origin = "cdn.example."
    data = "@ 3600 SOA cdn hostmaster 1 2 3 4 5\n@ 3600 NS cdn\n"
    [[host.service.cluster]]
    name = "one"
    members = ["no.such.host"]
    lat = 100
  [[host.service]]
  kind = "web-cache"
  peers = ["127.0.0.8"]
"#;
        let error = World::parse(text, "c.toml").unwrap_err();
        for line in [
            "c.toml:6: `ttl` = -1 is out of range",
            "c.toml:8: coverage: unknown cluster",
            "c.toml:16: `lat` must be a number from -90 to 90",
            "c.toml:13: a cluster needs `name`, `lat` and `lon`",
            "c.toml:17: a web-cache with `peers` is an edge cluster's member",
        ] {
            assert!(
                error
                    .problems
                    .iter()
                    .any(|problem| problem.starts_with(line)),
                "missing `{line}` in:\n{error}"
            );
        }
    }

    #[test]
    fn port_conflicts_on_one_host_are_caught() {
        let text = r#"
[[host]]
name = "a"
address = "127.0.0.5"
  [[host.service]]
  kind = "tcp-upper"
  [[host.service]]
  kind = "tcp-upper"
"#;
        let error = World::parse(text, "w.toml").unwrap_err();
        assert!(
            error.to_string().contains("tcp port 12000 is used by both"),
            "{error}"
        );
    }
}
