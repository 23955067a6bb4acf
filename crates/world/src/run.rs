//! Bringing a world up in this process: every service of every host on its own address, the
//! status table, and the self-check that exercises each service once with its own client.

use crate::model::{ServiceKind, Transport, World};
use netio::Shutdown;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How the world is brought up.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Added to standard ports below 1024 (53 → 10053 with 10000). `None`: 0 when this process
    /// may bind low ports (root), else [`UNPRIVILEGED_OFFSET`].
    pub port_offset: Option<u16>,
    /// Where services keep state (DNS updates ...), one folder per host. `None`: in memory.
    pub data_dir: Option<PathBuf>,
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
    /// (host, zone origin) of every zone served, for the checks.
    zones: Vec<(String, String)>,
    /// (host name, address) of hosts whose names lie below a TLD, for resolution checks.
    resolvable: Vec<(String, IpAddr)>,
    /// (host, path) of the page each web server's check fetches.
    web_pages: Vec<(String, String)>,
    /// The world, for name lookups in the checks.
    world: World,
    /// (host, document root) of every web server.
    web_roots: Vec<(String, PathBuf)>,
    /// Where the services keep their state.
    state: PathBuf,
    shutdown: Shutdown,
    /// How the world was brought up, to start a service again.
    options: UpOptions,
    /// Every service's task, with the shutdown that stops it alone.
    tasks: std::sync::Mutex<Vec<ServiceTask>>,
}

/// One running service: `host service`, its own shutdown (triggered by the world's too), and
/// its task (`None` while it is stopped by [`Running::stop_service`]).
#[derive(Debug)]
struct ServiceTask {
    host: String,
    service: &'static str,
    shutdown: Shutdown,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A shutdown for one service that the world's shutdown triggers as well.
fn service_shutdown(world: &Shutdown) -> Shutdown {
    let own = Shutdown::new();
    let (world, linked) = (world.clone(), own.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = world.triggered() => linked.trigger(),
            () = linked.triggered() => {}
        }
    });
    own
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
    /// A service's settings are unusable (a zone that does not parse, an unknown key ...).
    #[error("{host}: {service}: {reason}")]
    Config {
        /// Host name.
        host: String,
        /// Service kind.
        service: &'static str,
        /// What is wrong.
        reason: String,
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
    let mut zones = Vec::new();
    for host in &world.hosts {
        for service in &host.services {
            let defs = match &service.kind {
                ServiceKind::DnsAuth { zones: defs } => defs,
                ServiceKind::CdnDns(cdn) => &cdn.zones,
                _ => continue,
            };
            zones.extend(
                defs.iter()
                    .map(|zone| (host.name.clone(), zone.origin.clone())),
            );
        }
    }
    let resolvable = world
        .hosts
        .iter()
        .filter(|host| {
            zones.iter().any(|(_, origin)| {
                let origin = origin.trim_end_matches('.');
                origin.contains('.')
                    && (host.name.eq_ignore_ascii_case(origin)
                        || host
                            .name
                            .to_ascii_lowercase()
                            .ends_with(&format!(".{}", origin.to_ascii_lowercase())))
            })
        })
        .map(|host| (host.name.clone(), host.address))
        .collect::<Vec<_>>();
    // Prefer an end host (gaia.cs.umass.edu) over a name server for the resolution check.
    let mut resolvable = resolvable;
    resolvable.sort_by_key(|(name, _)| {
        world.host(name).is_some_and(|host| {
            host.services
                .iter()
                .any(|service| service.kind.name().starts_with("dns"))
        })
    });
    let web_pages = world
        .services_named("web")
        .map(|(host, service)| {
            let page = match &service.kind {
                ServiceKind::Web {
                    site: Some(site), ..
                } if site.eq_ignore_ascii_case("www.someschool.edu") => {
                    "/someDepartment/home.index"
                }
                _ => "/",
            };
            (host.name.clone(), page.to_string())
        })
        .collect();
    let mut running = Running {
        endpoints: Vec::new(),
        port_offset,
        zones,
        resolvable,
        web_pages,
        world: world.clone(),
        web_roots: Vec::new(),
        state: state_dir(options),
        shutdown: shutdown.clone(),
        options: options.clone(),
        tasks: std::sync::Mutex::new(Vec::new()),
    };
    for host in &world.hosts {
        for service in &host.services {
            let addr = SocketAddr::new(host.address, effective_port(service.port, port_offset));
            let place = Place {
                world,
                host,
                service,
                addr,
                options,
                port_offset,
            };
            let own = service_shutdown(&shutdown);
            let task = match start_service(&place, &own, &mut running.web_roots).await {
                Ok(task) => task,
                Err(error) => return Err(running.abort(error)),
            };
            running.endpoints.push(Endpoint {
                host: host.name.clone(),
                service: service.kind.name(),
                transports: service.kind.transports(),
                addr,
            });
            running.tasks_mut().push(ServiceTask {
                host: host.name.clone(),
                service: service.kind.name(),
                shutdown: own,
                task: Some(task),
            });
        }
    }
    Ok(running)
}

/// Where a service runs: everything `start_service` needs to know.
struct Place<'a> {
    world: &'a World,
    host: &'a crate::Host,
    service: &'a crate::Service,
    addr: SocketAddr,
    options: &'a UpOptions,
    port_offset: u16,
}

impl Place<'_> {
    fn bind_error(&self, error: std::io::Error) -> StartError {
        StartError::Bind {
            host: self.host.name.clone(),
            service: self.service.kind.name(),
            addr: self.addr,
            error,
        }
    }

    fn config_error(&self, reason: String) -> StartError {
        StartError::Config {
            host: self.host.name.clone(),
            service: self.service.kind.name(),
            reason,
        }
    }
}

/// Binds one service and spawns it; web servers' document roots are noted in `web_roots`.
async fn start_service(
    place: &Place<'_>,
    shutdown: &Shutdown,
    web_roots: &mut Vec<(String, PathBuf)>,
) -> Result<JoinHandle<std::io::Result<()>>, StartError> {
    // Every service has the same shape: bind (errors here are the caller's), then run.
    macro_rules! spawn_bound {
        ($bind:expr) => {
            match $bind.await {
                Ok(server) => Ok(tokio::spawn(server.run(shutdown.clone()))),
                Err(error) => Err(place.bind_error(error)),
            }
        };
    }
    let Place {
        world,
        host,
        addr,
        options,
        port_offset,
        ..
    } = *place;
    match &place.service.kind {
        ServiceKind::TcpUpper { max_line } => {
            let mut config = sockets::net::TcpUpperConfig::new(addr);
            config.max_line = *max_line;
            spawn_bound!(sockets::net::TcpUpperServer::bind(config))
        }
        ServiceKind::UdpUpper { loss } => {
            let mut config = sockets::net::UdpUpperConfig::new(addr);
            config.loss = *loss;
            spawn_bound!(sockets::net::UdpUpperServer::bind(config))
        }
        ServiceKind::DnsAuth { zones } => {
            // The mail domains' DKIM keys are published in the zones that cover them.
            let keys = world_dkim_keys(world, &state_dir(options))
                .map_err(|reason| place.config_error(reason))?;
            let config = dns_auth_config(world, host, zones, &keys, addr, options)
                .map_err(|reason| place.config_error(reason))?;
            spawn_bound!(dns_server::bind(config))
        }
        ServiceKind::DnsLocal => {
            let hints = root_hints(world, port_offset);
            let mut config = dns_resolver::net::ResolverConfig::new(addr, hints);
            config.options.upstream_port = effective_port(53, port_offset);
            spawn_bound!(dns_resolver::net::bind(config))
        }
        ServiceKind::Web {
            site,
            root,
            cookies,
            allow_write,
        } => {
            let mut config = web_config(host, site, root, cookies, *allow_write, addr, options)
                .map_err(|reason| place.config_error(reason))?;
            // HTTPS on 443 of the same host (HTTP/2 or HTTP/1.1 by ALPN), certified by the
            // world CA for the host's name and address.
            let address = host.address.to_string();
            let (server_tls, _) = world_tls(options, &[host.name.as_str(), address.as_str()])
                .map_err(|reason| place.config_error(reason))?;
            config.tls = Some(server_tls);
            config.tls_listen = vec![SocketAddr::new(
                host.address,
                effective_port(443, port_offset),
            )];
            web_roots.push((host.name.clone(), config.root.clone()));
            spawn_bound!(web::bind(config))
        }
        ServiceKind::WebCache {
            origin,
            size,
            cdn_edge,
            peers,
        } => {
            let origin = origin
                .as_deref()
                .map(http_proto::Uri::parse)
                .transpose()
                .map_err(|error| place.config_error(format!("origin: {error}")))?
                .map(|mut uri| {
                    // An origin of the world without a port is on its web server's port,
                    // moved with the world's offset.
                    let ours = world.host(&uri.host).is_some()
                        || uri
                            .host
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| world.host_name(ip).is_some());
                    if uri.port.is_none() && ours {
                        uri.port = Some(effective_port(80, port_offset));
                    }
                    uri
                });
            let mut members = Vec::new();
            for peer in peers {
                members.push(
                    peer_addr(world, peer, port_offset).ok_or_else(|| {
                        place.config_error(format!("peer `{peer}`: no such host"))
                    })?,
                );
            }
            // Origin names resolve through the network's local DNS server when it has one, as
            // a campus cache's would; else from the world's host table.
            let resolver: std::sync::Arc<dyn netio::resolve::Resolve> =
                match local_dns(world, host, port_offset) {
                    Some(server) => std::sync::Arc::new(crate::resolve::DnsResolve {
                        server,
                        timeout: Duration::from_secs(3),
                        source: Some(host.address),
                    }),
                    None => std::sync::Arc::new(crate::resolve::HostTable::new(world)),
                };
            let config = web_proxy::ProxyConfig {
                listen: addr,
                origin,
                cache_dir: Some(state_dir(options).join("cache").join(&host.name)),
                cache_size: *size,
                resolver,
                upstream_source: Some(host.address),
                cdn_edge: *cdn_edge,
                member: (!members.is_empty()).then_some(addr),
                peers: members,
                ..web_proxy::ProxyConfig::default()
            };
            spawn_bound!(web_proxy::bind(config))
        }
        ServiceKind::CdnDns(cdn) => {
            let config = cdn_dns_config(world, host, cdn, addr, options, port_offset)
                .map_err(|reason| place.config_error(reason))?;
            spawn_bound!(cdn::bind(config))
        }
        ServiceKind::Mail {
            domains,
            users,
            webmail,
        } => {
            let mut config = mail_config(world, host, domains, users, addr, options, port_offset);
            // Each domain's key signs what its users submit (its record is in the domain's
            // zone); mail from other servers gets DKIM and SPF checked.
            let keys = world_dkim_keys(world, &state_dir(options))
                .map_err(|reason| place.config_error(reason))?;
            config.dkim = keys
                .into_iter()
                .filter(|key| {
                    config
                        .domains
                        .iter()
                        .any(|domain| domain.eq_ignore_ascii_case(&key.domain))
                })
                .collect();
            config.check_inbound = true;
            // The world CA (made at the first start, kept in the state dir) certifies every
            // mail host for STARTTLS and 465, and is what the hosts trust as clients.
            let address = host.address.to_string();
            let mut names = vec![host.name.as_str(), address.as_str()];
            names.extend(config.domains.iter().map(String::as_str));
            let (server_tls, client_tls) =
                world_tls(options, &names).map_err(|reason| place.config_error(reason))?;
            config.tls = Some(server_tls);
            config.client_tls = Some(client_tls);
            let data_dir = config.data_dir.clone();
            let server = match mail_server::bind(config).await {
                Ok(server) => server,
                Err(mail_server::MailError::Bind { source, .. }) => {
                    return Err(place.bind_error(source))
                }
                Err(error) => return Err(place.config_error(error.to_string())),
            };
            if !*webmail {
                return Ok(tokio::spawn(server.run(shutdown.clone())));
            }
            // Seed §2.3.4: the browser talks HTTP to the mail server. The web mail is our web
            // server on port 80 of the mail host, sending through the server's submission path.
            let app = server
                .webmail(webmail::Config::default())
                .map_err(|error| place.config_error(error.to_string()))?;
            let root = data_dir.join("webmail-root");
            std::fs::create_dir_all(&root)
                .map_err(|error| place.config_error(format!("{}: {error}", root.display())))?;
            let web_addr = SocketAddr::new(host.address, effective_port(80, port_offset));
            let mut web_config = web::WebServerConfig::new(root);
            web_config.listen = vec![web_addr];
            web_config.apps.push(web::AppMount {
                prefix: String::new(),
                app: std::sync::Arc::new(app),
            });
            let pages = web::bind(web_config)
                .await
                .map_err(|error| StartError::Bind {
                    host: host.name.clone(),
                    service: "mail",
                    addr: web_addr,
                    error,
                })?;
            let shutdown = shutdown.clone();
            Ok(tokio::spawn(async move {
                let (mail, pages) = tokio::join!(server.run(shutdown.clone()), pages.run(shutdown));
                mail.and(pages)
            }))
        }
        ServiceKind::TorrentTracker { interval } => {
            let interval = (*interval).max(1);
            let config = torrent::TrackerServerConfig {
                http: Some(addr),
                udp: Some(addr),
                tracker: bt_proto::tracker::TrackerConfig {
                    interval,
                    min_interval: (interval / 4).max(1),
                    peer_timeout: 2 * u64::from(interval) + 60,
                    ..bt_proto::tracker::TrackerConfig::default()
                },
            };
            spawn_bound!(torrent::bind_tracker(config))
        }
    }
}

/// The domains a mail host serves: as configured, else its name without the first label
/// (`mail.crepes.fr` serves `crepes.fr`).
pub fn mail_domains(host: &crate::Host, domains: &[String]) -> Vec<String> {
    if !domains.is_empty() {
        return domains.to_vec();
    }
    match host.name.split_once('.') {
        Some((_, parent)) if parent.contains('.') || !parent.is_empty() => vec![parent.to_string()],
        _ => vec![host.name.clone()],
    }
}

/// The selector of the world's DKIM keys: `world._domainkey.crepes.fr`.
pub const DKIM_SELECTOR: &str = "world";

/// One DKIM key per mail domain of the world, made at the first start and kept in the state
/// dir (`dkim/DOMAIN.key`), so a restarted world signs with the key its zones publish.
pub fn world_dkim_keys(
    world: &World,
    state: &std::path::Path,
) -> Result<Vec<std::sync::Arc<mail_server::auth::DkimKey>>, String> {
    let mut keys: Vec<std::sync::Arc<mail_server::auth::DkimKey>> = Vec::new();
    for (host, service) in world.services_named("mail") {
        let ServiceKind::Mail { domains, .. } = &service.kind else {
            continue;
        };
        for domain in mail_domains(host, domains) {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if keys.iter().any(|key| key.domain == domain) {
                continue;
            }
            let path = state.join("dkim").join(format!("{domain}.key"));
            let key = mail_server::auth::DkimKey::load_or_create(&domain, DKIM_SELECTOR, &path)?;
            keys.push(std::sync::Arc::new(key));
        }
    }
    Ok(keys)
}

/// `data` with the TXT record of every key whose domain the zone `origin` covers, unless
/// the zone defines that record itself.
fn with_dkim_records(
    data: &str,
    origin: &str,
    keys: &[std::sync::Arc<mail_server::auth::DkimKey>],
) -> String {
    let origin = origin.trim_end_matches('.').to_ascii_lowercase();
    let mut text = data.to_string();
    for key in keys {
        let covered = key.domain == origin || key.domain.ends_with(&format!(".{origin}"));
        let own = format!("{}._domainkey", key.selector);
        if covered && !data.to_ascii_lowercase().contains(&own) {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&key.zone_line());
            text.push('\n');
        }
    }
    text
}

/// Where a mail host keeps its queue and mailboxes, under the world's state dir.
pub fn mail_dir(state: &std::path::Path, host: &str) -> PathBuf {
    state.join("mail").join(host)
}

/// A world mail server: SMTP on its address, submission on 587 there too, MX lookups through
/// its network's local DNS server (or any in the world), next hops on the world's port 25.
fn mail_config(
    world: &World,
    host: &crate::Host,
    domains: &[String],
    users: &[(String, String)],
    addr: SocketAddr,
    options: &UpOptions,
    port_offset: u16,
) -> mail_server::MailConfig {
    let mut config = mail_server::MailConfig::new(
        &host.name,
        &mail_domains(host, domains),
        mail_dir(&state_dir(options), &host.name),
    );
    config.users = users.to_vec();
    config.listeners = vec![
        mail_server::Listener {
            addr,
            kind: mail_server::ListenerKind::Smtp,
        },
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(587, port_offset)),
            kind: mail_server::ListenerKind::Submission,
        },
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(465, port_offset)),
            kind: mail_server::ListenerKind::Submissions,
        },
        // Seed §2.3.4: the users pull their mail with POP3 (STLS on 110, TLS on 995).
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(110, port_offset)),
            kind: mail_server::ListenerKind::Pop3,
        },
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(995, port_offset)),
            kind: mail_server::ListenerKind::Pop3s,
        },
        // ... and with IMAP (STARTTLS on 143, TLS on 993).
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(143, port_offset)),
            kind: mail_server::ListenerKind::Imap,
        },
        mail_server::Listener {
            addr: SocketAddr::new(host.address, effective_port(993, port_offset)),
            kind: mail_server::ListenerKind::Imaps,
        },
    ];
    config.dns = local_dns(world, host, port_offset).or_else(|| {
        world
            .services_named("dns-local")
            .next()
            .map(|(server, service)| {
                SocketAddr::new(server.address, effective_port(service.port, port_offset))
            })
    });
    config.relay_port = effective_port(25, port_offset);
    config.source = Some(host.address);
    // The seed's "retries every 30 minutes or so", starting sooner in a world one watches.
    config.retry = mail_server::Retry {
        min_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(1800),
        lifetime: Duration::from_secs(5 * 24 * 3600),
        delay_warning: Some(Duration::from_secs(4 * 3600)),
    };
    config
}

/// Where services keep state: the data dir, or a folder under the system's temporary directory.
fn state_dir(options: &UpOptions) -> PathBuf {
    options.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("applayer-world-{}", std::process::id()))
    })
}

/// The world CA (made at the first start, kept in the state dir): a server configuration
/// with a certificate it issues for `names`, and a client configuration that trusts it.
fn world_tls(
    options: &UpOptions,
    names: &[&str],
) -> Result<
    (
        std::sync::Arc<tls::rustls::ServerConfig>,
        std::sync::Arc<tls::rustls::ClientConfig>,
    ),
    String,
> {
    let ca = tls::Ca::load_or_create(&state_dir(options).join("ca"), "applayer world CA")
        .map_err(|error| error.to_string())?;
    let identity = ca.issue(names).map_err(|error| error.to_string())?;
    let server = tls::server_config(vec![identity], &[]).map_err(|error| error.to_string())?;
    let client = tls::client_config(&[ca.cert_der()], &[]).map_err(|error| error.to_string())?;
    Ok((server, client))
}

/// The web server's configuration for a world host: the embedded site written out, or the
/// user's root; the cookie site's database in the state dir.
fn web_config(
    host: &crate::Host,
    site: &Option<String>,
    root: &Option<PathBuf>,
    cookies: &Option<String>,
    allow_write: bool,
    addr: SocketAddr,
    options: &UpOptions,
) -> Result<web::WebServerConfig, String> {
    let state = state_dir(options);
    let docroot = match (site, root) {
        (Some(site), _) => {
            let dir = state.join("www").join(&host.name);
            crate::site::write_site(site, &dir)
                .map_err(|error| format!("cannot write the site to {}: {error}", dir.display()))?;
            dir
        }
        (None, Some(root)) => root.clone(),
        (None, None) => return Err("no site and no root".to_string()),
    };
    let mut config = web::WebServerConfig::new(docroot);
    config.listen = vec![addr];
    config.allow_write = allow_write;
    if let Some(prefix) = cookies {
        let dir = state.join("cookies");
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let mut site = web::CookieSiteConfig::new(dir.join(format!("{}.sqlite", host.name)));
        site.prefix = prefix.clone();
        config.cookie_site = Some(site);
    }
    Ok(config)
}

/// The authoritative server's configuration for a world host.
fn dns_auth_config(
    world: &World,
    host: &crate::Host,
    zones: &[crate::model::ZoneDef],
    dkim: &[std::sync::Arc<mail_server::auth::DkimKey>],
    addr: SocketAddr,
    options: &UpOptions,
) -> Result<dns_server::DnsServerConfig, String> {
    let mut keys = Vec::new();
    for key in &world.keys {
        keys.push(
            dns_server::TsigKey::from_base64(&key.name, &key.secret)
                .map_err(|error| format!("key {}: {error}", key.name))?,
        );
    }
    let mut config = dns_server::DnsServerConfig {
        listen: vec![addr],
        keys,
        data_dir: options
            .data_dir
            .as_ref()
            .map(|dir| dir.join("dns").join(&host.name)),
        ..dns_server::DnsServerConfig::default()
    };
    for zone in zones {
        let origin: dns_proto::Name = zone
            .origin
            .parse()
            .map_err(|error| format!("zone origin {}: {error}", zone.origin))?;
        let data = with_dkim_records(&zone.data, &zone.origin, dkim);
        let parsed = dns_server::Zone::parse_str(&data, &origin, &format!("zone {}", zone.origin))
            .map_err(|errors| errors.to_string())?;
        let mut zone_config = dns_server::ZoneConfig::new(parsed);
        zone_config.policy.round_robin = zone.round_robin;
        zone_config.policy.allow_transfer.addresses = zone.allow_transfer.clone();
        for key in &zone.update_keys {
            let name: dns_proto::Name = key
                .parse()
                .map_err(|error| format!("key name {key}: {error}"))?;
            if !config.keys.iter().any(|known| known.name == name) {
                return Err(format!(
                    "zone {} names the key `{key}`, which the world does not define",
                    zone.origin
                ));
            }
            zone_config.policy.allow_update.keys.push(name);
        }
        config.zones.push(zone_config);
    }
    Ok(config)
}

/// The address of an edge cluster's peer: a world host's web-cache (by name or address), or
/// `IP:PORT` as given.
fn peer_addr(world: &World, peer: &str, port_offset: u16) -> Option<SocketAddr> {
    if let Ok(addr) = peer.parse::<SocketAddr>() {
        return Some(addr);
    }
    let host = match peer.parse::<IpAddr>() {
        Ok(ip) => match world.hosts.iter().find(|host| host.address == ip) {
            Some(host) => host,
            None => return Some(SocketAddr::new(ip, effective_port(80, port_offset))),
        },
        Err(_) => world.host(peer)?,
    };
    let port = host
        .services
        .iter()
        .find(|service| service.kind.name() == "web-cache")
        .map_or(80, |service| service.port);
    Some(SocketAddr::new(
        host.address,
        effective_port(port, port_offset),
    ))
}

/// The address of a cluster member: a world host's, or the address given.
fn member_ip(world: &World, member: &str) -> Option<IpAddr> {
    member
        .parse::<IpAddr>()
        .ok()
        .or_else(|| world.host(member).map(|host| host.address))
}

/// KingCDN's server for a world host: the zones as `dns-auth`'s, the clusters with their
/// members' addresses and health ports (moved with the offset), the coverage lines.
fn cdn_dns_config(
    world: &World,
    host: &crate::Host,
    cdn: &crate::model::CdnDnsDef,
    addr: SocketAddr,
    options: &UpOptions,
    port_offset: u16,
) -> Result<cdn::CdnDnsConfig, String> {
    let dns = dns_auth_config(world, host, &cdn.zones, &[], addr, options)?;
    let mut clusters = Vec::new();
    for def in &cdn.clusters {
        let mut addresses = Vec::new();
        for member in &def.members {
            addresses.push(
                member_ip(world, member)
                    .ok_or_else(|| format!("cluster {}: no host {member}", def.name))?,
            );
        }
        clusters.push(cdn::config::Cluster {
            name: def.name.clone(),
            addresses,
            location: cdn::geo::GeoPoint::new(def.lat, def.lon)
                .ok_or_else(|| format!("cluster {}: bad coordinates", def.name))?,
            capacity: def.capacity,
            health_port: effective_port(def.health_port, port_offset),
        });
    }
    let coverage = cdn::config::parse_coverage(&cdn.coverage, "coverage", &clusters)
        .map_err(|errors| errors.to_string())?;
    let mut routes = Vec::new();
    for text in &cdn.routes {
        routes.push(
            text.parse::<cdn::RoutePattern>()
                .map_err(|error| format!("route {text}: {error}"))?,
        );
    }
    let seconds = |value: f64| Duration::try_from_secs_f64(value).unwrap_or(Duration::from_secs(1));
    Ok(cdn::CdnDnsConfig {
        dns,
        clusters,
        coverage,
        router: cdn::RouterConfig {
            routes,
            ttl: cdn.ttl,
            answer_count: 0,
        },
        monitor: cdn::MonitorConfig {
            path: cdn.health_path.clone(),
            interval: seconds(cdn.health_interval),
            timeout: seconds(cdn.health_timeout),
            policy: cdn::health::HealthPolicy {
                fall: cdn.fall,
                rise: cdn.rise,
            },
        },
    })
}

/// The local DNS server of `host`'s network, if the world runs one.
pub fn local_dns(world: &World, host: &crate::Host, port_offset: u16) -> Option<SocketAddr> {
    let network = host.network.as_deref()?;
    world
        .services_named("dns-local")
        .find(|(server, _)| server.network.as_deref() == Some(network))
        .map(|(server, service)| {
            SocketAddr::new(server.address, effective_port(service.port, port_offset))
        })
}

/// The world's root servers: every `dns-auth` service that serves the root zone.
pub fn root_hints(world: &World, port_offset: u16) -> Vec<(dns_proto::Name, SocketAddr)> {
    let mut hints = Vec::new();
    for (host, service) in world.services_named("dns-auth") {
        let ServiceKind::DnsAuth { zones } = &service.kind else {
            continue;
        };
        if zones.iter().any(|zone| zone.origin == ".") {
            if let Ok(name) = host.name.parse::<dns_proto::Name>() {
                hints.push((
                    name,
                    SocketAddr::new(host.address, effective_port(service.port, port_offset)),
                ));
            }
        }
    }
    hints
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

    /// The document root of the web server on `host`.
    pub fn web_root(&self, host: &str) -> Option<&std::path::Path> {
        self.web_roots
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, root)| root.as_path())
    }

    /// Where the services keep their state.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state
    }

    /// The world as it was started (after relocation).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// A handle that stops every service when triggered.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    fn tasks_mut(&self) -> std::sync::MutexGuard<'_, Vec<ServiceTask>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops `service` on `host` alone (a server that goes down, for the scenarios) and waits
    /// for it to finish.
    pub async fn stop_service(&self, host: &str, service: &str) -> Result<(), String> {
        let task = {
            let mut tasks = self.tasks_mut();
            let slot = tasks
                .iter_mut()
                .find(|slot| slot.host.eq_ignore_ascii_case(host) && slot.service == service)
                .ok_or_else(|| format!("no {service} service on {host}"))?;
            slot.shutdown.trigger();
            slot.task.take()
        };
        match task {
            Some(task) => match task.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(format!("{host} {service}: {error}")),
                Err(error) => Err(format!("{host} {service}: {error}")),
            },
            None => Ok(()),
        }
    }

    /// Starts `service` on `host` again after [`Running::stop_service`], on the same address,
    /// with the same state.
    pub async fn restart_service(&self, host: &str, service: &str) -> Result<(), StartError> {
        let world = &self.world;
        let missing = || StartError::Config {
            host: host.to_string(),
            service: "?",
            reason: format!("no {service} service on {host}"),
        };
        let server = world.host(host).ok_or_else(missing)?;
        let definition = server
            .services
            .iter()
            .find(|candidate| candidate.kind.name() == service)
            .ok_or_else(missing)?;
        let place = Place {
            world,
            host: server,
            service: definition,
            addr: SocketAddr::new(
                server.address,
                effective_port(definition.port, self.port_offset),
            ),
            options: &self.options,
            port_offset: self.port_offset,
        };
        let own = service_shutdown(&self.shutdown);
        let task = start_service(&place, &own, &mut Vec::new()).await?;
        let mut tasks = self.tasks_mut();
        if let Some(slot) = tasks
            .iter_mut()
            .find(|slot| slot.host.eq_ignore_ascii_case(host) && slot.service == service)
        {
            slot.shutdown = own;
            slot.task = Some(task);
        }
        Ok(())
    }

    /// Stops every service and waits for them to finish; reports services that failed.
    pub async fn stop(self) -> Vec<String> {
        self.shutdown.trigger();
        let mut failures = Vec::new();
        let tasks = std::mem::take(&mut *self.tasks_mut());
        for slot in tasks {
            let Some(task) = slot.task else { continue };
            let name = format!("{} {}", slot.host, slot.service);
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
            "dns-auth" => check_dns_auth(running, endpoint).await,
            "dns-local" => check_dns_local(running, endpoint).await,
            "cdn-dns" => check_cdn_dns(running, endpoint).await,
            "web" => check_web(running, endpoint).await,
            "web-cache" => check_web_cache(running, endpoint).await,
            "mail" => check_mail(running, endpoint, client).await,
            "torrent-tracker" => check_tracker(endpoint, client).await,
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

/// Sends a message to the postmaster of the mail server's first domain over SMTP and waits
/// for it in that mailbox: the listener, the queue and Maildir delivery, end to end.
async fn check_mail(
    running: &Running,
    endpoint: &Endpoint,
    client: IpAddr,
) -> Result<String, String> {
    let host = running
        .world
        .hosts
        .iter()
        .find(|host| host.name == endpoint.host)
        .ok_or("no such host")?;
    let domains = host
        .services
        .iter()
        .find_map(|service| match &service.kind {
            ServiceKind::Mail { domains, .. } => Some(mail_domains(host, domains)),
            _ => None,
        })
        .unwrap_or_default();
    let domain = domains.first().ok_or("no domain")?;
    let to = format!("postmaster@{domain}");
    let token = format!("world-check-{}", std::process::id());
    let message = smtp_proto::Message {
        from: smtp_proto::ReversePath::parse("<check@world.invalid>").map_err(|e| e.to_string())?,
        params: smtp_proto::MailParams::default(),
        recipients: vec![smtp_proto::Recipient::new(
            smtp_proto::ForwardPath::parse(&format!("<{to}>")).map_err(|e| e.to_string())?,
        )],
        data: format!("Subject: {token}\r\n\r\nsent by applayer world check\r\n").into_bytes(),
    };
    let outcome = mail_server::send(
        endpoint.addr,
        Some(client),
        "check.world.invalid",
        None,
        None,
        message,
    )
    .await
    .map_err(|error| error.to_string())?;
    let result = outcome.recipients.first().ok_or("no result")?;
    if !matches!(result.delivery, smtp_proto::Delivery::Accepted(_)) {
        return Err(format!("RCPT/DATA to <{to}>: {}", result.text));
    }
    let maildir = mail_dir(&running.state, &host.name)
        .join("mail")
        .join(domain)
        .join("postmaster")
        .join("new");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let delivered = std::fs::read_dir(&maildir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                std::fs::read_to_string(entry.path())
                    .map(|text| text.contains(&token))
                    .unwrap_or(false)
            });
        if delivered {
            return Ok(format!(
                "SMTP to <{to}>: {}, then in its Maildir",
                result.text
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "accepted for <{to}> but not in {} after 5 s",
        maildir.display()
    ))
}

/// Asks an authoritative server for the SOA of each of its zones, without recursion: each
/// answer must be authoritative.
async fn check_dns_auth(running: &Running, endpoint: &Endpoint) -> Result<String, String> {
    use dns_proto::{Rcode, RecordType};
    let zones: Vec<String> = running
        .zones
        .iter()
        .filter(|(host, _)| *host == endpoint.host)
        .map(|(_, origin)| origin.clone())
        .collect();
    let options = dns_client::QueryOptions {
        recursion_desired: false,
        ..dns_client::QueryOptions::default()
    };
    for origin in &zones {
        let name: dns_proto::Name = origin
            .parse()
            .map_err(|error| format!("{origin}: {error}"))?;
        let reply = dns_client::query(endpoint.addr, &name, RecordType::SOA, &options)
            .await
            .map_err(|error| format!("SOA? {origin}: {error}"))?;
        if reply.rcode != Rcode::NOERROR || !reply.flags.aa || reply.answers.is_empty() {
            return Err(format!("SOA? {origin}: {}", reply.summary()));
        }
    }
    Ok(format!("authoritative SOA for {}", zones.join(" ")))
}

/// Resolves, through the local server, the first host of the world whose name lies in a zone
/// below a TLD, and expects that host's address.
async fn check_dns_local(running: &Running, endpoint: &Endpoint) -> Result<String, String> {
    use dns_proto::{Rcode, Rdata, RecordType};
    let Some((name, expected)) = running.resolvable.first().cloned() else {
        return Err("the world has no host in a zone below a TLD to resolve".to_string());
    };
    let qname: dns_proto::Name = name.parse().map_err(|error| format!("{name}: {error}"))?;
    let options = dns_client::QueryOptions {
        timeout: Duration::from_secs(5),
        ..dns_client::QueryOptions::default()
    };
    let reply = dns_client::query(endpoint.addr, &qname, RecordType::A, &options)
        .await
        .map_err(|error| format!("A? {name}: {error}"))?;
    let found = reply
        .answers
        .iter()
        .any(|record| matches!(record.rdata, Rdata::A(a) if IpAddr::V4(a) == expected));
    if reply.rcode == Rcode::NOERROR && found && reply.flags.ra {
        Ok(format!("A? {name} -> {expected} through the hierarchy"))
    } else {
        Err(format!(
            "A? {name}: expected {expected}, got {}",
            reply.summary()
        ))
    }
}

/// Fetches the server's richest page (the someDepartment page when it serves the seed's site)
/// with the page-fetching client, objects included.
async fn check_web(running: &Running, endpoint: &Endpoint) -> Result<String, String> {
    let path = running
        .web_pages
        .iter()
        .find(|(host, _)| *host == endpoint.host)
        .map(|(_, path)| path.as_str())
        .unwrap_or("/");
    let url = format!("{}{path}", base_url(&endpoint.host, endpoint.addr));
    let options = web::FetchOptions {
        resolver: std::sync::Arc::new(crate::resolve::HostTable::new(&running.world)),
        timeout: Duration::from_secs(5),
        ..web::FetchOptions::default()
    };
    let report = web::get(&url, &options)
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let failed: Vec<&web::client::ObjectReport> = report
        .objects
        .iter()
        .filter(|object| object.status != 200)
        .collect();
    if report.base_head.status.as_u16() != 200 || !failed.is_empty() {
        return Err(format!(
            "GET {url}: {} ({} objects failed)",
            report.base_head.status.as_u16(),
            failed.len()
        ));
    }
    // The same page over HTTPS on 443, its certificate checked against the world CA.
    let https_port = effective_port(443, running.port_offset);
    let secure = if https_port == 443 {
        format!("https://{}{path}", endpoint.host)
    } else {
        format!("https://{}:{https_port}{path}", endpoint.host)
    };
    let ca = tls::Ca::load_or_create(&running.state_dir().join("ca"), "applayer world CA")
        .map_err(|error| format!("the world CA: {error}"))?;
    let tls_options = web::FetchOptions {
        tls: Some(
            tls::client_config(&[ca.cert_der()], &[b"http/1.1"])
                .map_err(|error| format!("TLS set-up: {error}"))?,
        ),
        fetch_objects: false,
        ..options
    };
    let secure_report = web::get(&secure, &tls_options)
        .await
        .map_err(|error| format!("GET {secure}: {error}"))?;
    if secure_report.base_head.status.as_u16() != 200 || secure_report.base_body != report.base_body
    {
        return Err(format!(
            "GET {secure}: {}, not the page served over HTTP",
            secure_report.base_head.status.as_u16()
        ));
    }
    Ok(format!(
        "GET {url}: 200, {} objects, {} bytes, {} connection(s); {secure}: 200, the same page",
        report.objects.len(),
        report.bytes,
        report.connections
    ))
}

/// Announces a made-up torrent to the tracker over HTTP, then over UDP (BEP 15): the second
/// announce must list the first as a peer.
async fn check_tracker(endpoint: &Endpoint, client: IpAddr) -> Result<String, String> {
    let info_hash: [u8; 20] = rand::random();
    let mut params = torrent::announce::AnnounceParams {
        info_hash,
        peer_id: *b"-AL0000-worldcheck01",
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 1,
        event: bt_proto::tracker::Event::Started,
        source: Some(client),
    };
    let http = format!("http://{}/announce", endpoint.addr);
    torrent::announce::announce(&[vec![http.clone()]], &params)
        .await
        .map_err(|error| format!("announce: {error}"))?;
    params.peer_id = *b"-AL0000-worldcheck02";
    params.port = 6882;
    let udp = format!("udp://{}", endpoint.addr);
    let answer = torrent::announce::announce(&[vec![udp.clone()]], &params)
        .await
        .map_err(|error| format!("announce: {error}"))?;
    if !answer.peers.contains(&SocketAddr::new(client, 6881)) {
        return Err(format!("{udp} did not list the peer announced to {http}"));
    }
    params.event = bt_proto::tracker::Event::Stopped;
    for (url, port, id) in [
        (http.clone(), 6881, *b"-AL0000-worldcheck01"),
        (udp.clone(), 6882, *b"-AL0000-worldcheck02"),
    ] {
        params.port = port;
        params.peer_id = id;
        let _ = torrent::announce::announce(&[vec![url]], &params).await;
    }
    Ok(format!(
        "{http} and {udp}: announce answered, the peer listed"
    ))
}

/// A name the CDN routes, for its check: the first CNAME target in the world's zones that one
/// of its routes covers (`a1105.kingcdn.com`, NetCinema's alias), else `check.` below the
/// first route.
fn routed_name(world: &World, cdn: &crate::model::CdnDnsDef) -> Option<dns_proto::Name> {
    let routes: Vec<cdn::RoutePattern> = cdn
        .routes
        .iter()
        .filter_map(|text| text.parse().ok())
        .collect();
    let routed = |name: &dns_proto::Name| routes.iter().any(|route| route.matches(name));
    for (_, service) in world.services_named("dns-auth") {
        let ServiceKind::DnsAuth { zones } = &service.kind else {
            continue;
        };
        for zone in zones {
            for line in zone.data.lines() {
                let words: Vec<&str> = line
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                let Some(at) = words
                    .iter()
                    .position(|word| word.eq_ignore_ascii_case("CNAME"))
                else {
                    continue;
                };
                let Some(target) = words.get(at + 1) else {
                    continue;
                };
                if let Ok(name) = target.trim_end_matches('.').parse::<dns_proto::Name>() {
                    if routed(&name) {
                        return Some(name);
                    }
                }
            }
        }
    }
    let route = routes.first()?;
    match route {
        cdn::RoutePattern::Exact(name) => Some(name.clone()),
        cdn::RoutePattern::Below(parent) => format!("check.{parent}").parse().ok(),
    }
}

/// KingCDN's server: authoritative for its zones; a routed name resolved through a local DNS
/// server of the world comes back as one cluster's members; an object of the origin comes
/// through the first of them.
async fn check_cdn_dns(running: &Running, endpoint: &Endpoint) -> Result<String, String> {
    check_dns_auth(running, endpoint).await?;
    let world = &running.world;
    let cdn = world
        .host(&endpoint.host)
        .and_then(|host| {
            host.services
                .iter()
                .find_map(|service| match &service.kind {
                    ServiceKind::CdnDns(cdn) => Some(cdn),
                    _ => None,
                })
        })
        .ok_or("no cdn-dns settings")?;
    let name = routed_name(world, cdn).ok_or("no routed name to ask for")?;
    let (local_host, local) = world
        .services_named("dns-local")
        .next()
        .map(|(server, service)| {
            (
                server.name.clone(),
                SocketAddr::new(
                    server.address,
                    effective_port(service.port, running.port_offset),
                ),
            )
        })
        .ok_or("the world has no local DNS server to resolve through")?;
    let resolver = crate::resolve::DnsResolve {
        server: local,
        timeout: Duration::from_secs(5),
        source: None,
    };
    let text = name.to_string();
    let text = text.trim_end_matches('.');
    let answers = netio::resolve::Resolve::resolve(&resolver, text, 0)
        .await
        .map_err(|error| format!("A? {text} via {local_host}: {error}"))?;
    let addresses: Vec<IpAddr> = answers.iter().map(SocketAddr::ip).collect();
    let cluster = cdn
        .clusters
        .iter()
        .find(|cluster| {
            addresses.iter().all(|address| {
                cluster
                    .members
                    .iter()
                    .any(|member| member_ip(world, member) == Some(*address))
            })
        })
        .ok_or_else(|| {
            format!("A? {text} via {local_host}: {addresses:?} are not one cluster's")
        })?;
    let port = effective_port(cluster.health_port, running.port_offset);
    let edge = SocketAddr::new(addresses[0], port);
    let url = format!("{}{}", base_url(text, edge), cdn.health_path);
    let response = web_proxy::get_via(edge, &url, &[], Duration::from_secs(5))
        .await
        .map_err(|error| format!("GET {url} via {edge}: {error}"))?;
    if response.status() != 200 {
        return Err(format!("GET {url} via {edge}: {}", response.status()));
    }
    let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    Ok(format!(
        "authoritative SOA; A? {text} via {local_host} -> cluster {} ({}); GET {url}: 200 X-Cache={}",
        cluster.name,
        shown.join(", "),
        response.cache_status().unwrap_or("-")
    ))
}

/// Fetches a page of the world through the cache twice (a reverse cache: its origin's `/`):
/// the second answer must come from the cache.
async fn check_web_cache(running: &Running, endpoint: &Endpoint) -> Result<String, String> {
    let reverse = running.world.host(&endpoint.host).and_then(|host| {
        host.services
            .iter()
            .find_map(|service| match &service.kind {
                ServiceKind::WebCache {
                    origin: Some(origin),
                    ..
                } => Some(origin.clone()),
                _ => None,
            })
    });
    let url = match reverse {
        Some(origin) => format!("{}/", origin.trim_end_matches('/')),
        None => {
            let Some(origin) = running
                .endpoints
                .iter()
                .find(|other| other.service == "web")
            else {
                return Err("the world has no web server to fetch through the cache".to_string());
            };
            format!("{}/", base_url(&origin.host, origin.addr))
        }
    };
    let mut verdicts = Vec::new();
    for _ in 0..2 {
        let response = web_proxy::get_via(endpoint.addr, &url, &[], Duration::from_secs(5))
            .await
            .map_err(|error| format!("GET {url} via {}: {error}", endpoint.addr))?;
        if response.status() != 200 {
            return Err(format!("GET {url} via the cache: {}", response.status()));
        }
        verdicts.push(response.cache_status().unwrap_or("-").to_string());
    }
    // HIT: fresh in the cache; REVALIDATED: stale, confirmed by a conditional GET (304).
    if verdicts[1] == "HIT" || verdicts[1] == "REVALIDATED" {
        Ok(format!(
            "GET {url} twice: {} then {}",
            verdicts[0], verdicts[1]
        ))
    } else {
        Err(format!(
            "GET {url} twice: {} then {} (expected HIT or REVALIDATED)",
            verdicts[0], verdicts[1]
        ))
    }
}

/// `http://host/` or `http://host:port/` for a world host's endpoint.
pub fn base_url(host: &str, addr: SocketAddr) -> String {
    if addr.port() == 80 {
        format!("http://{host}")
    } else {
        format!("http://{host}:{}", addr.port())
    }
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
