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
    },
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
        }
    }

    /// The transport the service listens on.
    pub fn transports(&self) -> &'static [Transport] {
        match self {
            ServiceKind::TcpUpper { .. } => &[Transport::Tcp],
            ServiceKind::UdpUpper { .. } => &[Transport::Udp],
            ServiceKind::DnsAuth { .. }
            | ServiceKind::DnsLocal
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
                if let ServiceKind::WebCache {
                    origin: Some(origin),
                    ..
                } = &mut service.kind
                {
                    *origin = relocate_text(origin, from, block);
                }
                if let ServiceKind::DnsAuth { zones } = &mut service.kind {
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
            "dns-auth" => {
                let mut zones = Vec::new();
                match settings.remove("zone") {
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
                        span.clone(),
                        "a dns-auth service needs at least one `[[host.service.zone]]`",
                    ),
                }
                ServiceKind::DnsAuth { zones }
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
                ServiceKind::WebCache { origin, size }
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
                    // A multi-line string starts on the line after its opening quotes.
                    let at = span_of(item);
                    line = self.line_of(at.clone());
                    if let Some(at) = at {
                        let raw = &self.text[at.start.min(self.text.len())..];
                        if raw.starts_with("\"\"\"\n") || raw.starts_with("'''\n") {
                            line += 1;
                        }
                    }
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
