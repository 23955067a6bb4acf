//! The origin server's configuration: flags for the common cases and an optional TOML site file
//! (roots per host name, redirects, limits, the cookie site).

use http_proto::{Limits, StatusCode, Timeouts};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything [`crate::bind`] needs to start an origin server.
#[derive(Clone, Debug)]
pub struct WebServerConfig {
    /// Addresses to listen on (default `127.0.0.1:8080`).
    pub listen: Vec<SocketAddr>,
    /// Addresses to serve HTTPS on: TLS, then HTTP/2 or HTTP/1.1 as ALPN chooses (needs
    /// [`WebServerConfig::tls`]).
    pub tls_listen: Vec<SocketAddr>,
    /// The TLS configuration (certificates, SNI); the server sets its ALPN protocols.
    pub tls: Option<std::sync::Arc<tls::rustls::ServerConfig>>,
    /// Over HTTP/2, push the objects an HTML page references (same origin, up to 16) with
    /// PUSH_PROMISE when the client allows push.
    pub h2_push: bool,
    /// Over HTTP/2, send `103 Early Hints` (RFC 8297) with a `Link: rel=preload` for each of
    /// the objects an HTML page references before the page's response.
    pub early_hints: bool,
    /// The document root for requests whose Host matches no [`VirtualHost`].
    pub root: PathBuf,
    /// Other roots by host name (matched against the Host header without its port).
    pub hosts: Vec<VirtualHost>,
    /// Redirects, checked before files.
    pub redirects: Vec<Redirect>,
    /// The cookie site with its SQLite store, if enabled.
    pub cookie_site: Option<CookieSiteConfig>,
    /// Applications at path prefixes, routed after redirects and before the cookie site and
    /// files (the first that matches).
    pub apps: Vec<crate::app::AppMount>,
    /// Whether PUT and DELETE change files under the roots (off: they get 405).
    pub allow_write: bool,
    /// Files tried, in order, for a request of a directory.
    pub index_files: Vec<String>,
    /// Whether a directory without an index file gets a generated listing (else 403).
    pub autoindex: bool,
    /// Parser and body limits (414, 431, 413).
    pub limits: Limits,
    /// Header-read (slowloris), idle keep-alive and body-read timeouts.
    pub timeouts: Timeouts,
    /// How long a write to a stalled client may take before the connection is dropped.
    pub send_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// After shutdown, how long connections in flight may take to finish.
    pub drain_timeout: Duration,
    /// When idle keep-alive connections leave the runtime for netio's idle lot (a few dozen
    /// bytes each instead of a task).
    pub park: netio::tcp::ParkPolicy,
    /// Whether the listeners defer accept until a client's first bytes come
    /// (`TCP_DEFER_ACCEPT`, for up to the header timeout; nginx's `listen ... deferred`): a
    /// request that is there when its connection is accepted is answered without waiting in
    /// the event loop. Clients that connect and send nothing wait in the kernel meanwhile.
    pub defer_accept: bool,
    /// The Server header.
    pub server_name: String,
    /// Whether each request is logged (combined log format, tracing target `access`).
    pub access_log: bool,
}

impl WebServerConfig {
    /// Defaults for serving `root` on `127.0.0.1:8080`.
    pub fn new(root: impl Into<PathBuf>) -> WebServerConfig {
        WebServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            tls_listen: Vec::new(),
            tls: None,
            h2_push: false,
            early_hints: false,
            root: root.into(),
            hosts: Vec::new(),
            redirects: Vec::new(),
            cookie_site: None,
            apps: Vec::new(),
            allow_write: false,
            index_files: vec!["index.html".into(), "index.htm".into()],
            autoindex: true,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            send_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(10),
            park: netio::tcp::ParkPolicy::default(),
            defer_accept: true,
            server_name: concat!("applayer/", env!("CARGO_PKG_VERSION")).to_owned(),
            access_log: true,
        }
    }

    /// Applies a TOML site file (see [`SiteFile`]); paths in it are relative to `base_dir`.
    /// Every problem is reported with its line.
    pub fn apply_site_file(&mut self, text: &str, base_dir: &Path) -> Result<(), ConfigError> {
        let site: SiteFile = toml_edit::de::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            ConfigError::Syntax {
                line,
                message: error.message().to_owned(),
            }
        })?;
        let mut problems = Vec::new();
        let resolve = |path: &str| -> PathBuf {
            let path = PathBuf::from(path);
            if path.is_absolute() {
                path
            } else {
                base_dir.join(path)
            }
        };
        if let Some(listen) = &site.listen {
            self.listen.clear();
            for addr in listen {
                match addr.parse() {
                    Ok(addr) => self.listen.push(addr),
                    Err(_) => problems.push(format!("listen: invalid address {addr:?}")),
                }
            }
        }
        if let Some(root) = &site.root {
            self.root = resolve(root);
        }
        for host in &site.host {
            self.hosts.push(VirtualHost {
                name: host.name.to_ascii_lowercase(),
                root: resolve(&host.root),
            });
        }
        for redirect in &site.redirect {
            let status = match redirect.status.unwrap_or(301) {
                301 => StatusCode::MOVED_PERMANENTLY,
                302 => StatusCode::FOUND,
                303 => StatusCode::SEE_OTHER,
                307 => StatusCode::TEMPORARY_REDIRECT,
                308 => StatusCode::PERMANENT_REDIRECT,
                other => {
                    problems.push(format!(
                        "redirect {}: status {other} is not a redirect",
                        redirect.from
                    ));
                    continue;
                }
            };
            if !redirect.from.starts_with('/') {
                problems.push(format!(
                    "redirect {}: `from` must start with /",
                    redirect.from
                ));
                continue;
            }
            self.redirects.push(Redirect {
                host: redirect.host.as_ref().map(|h| h.to_ascii_lowercase()),
                from: redirect.from.clone(),
                to: redirect.to.clone(),
                status,
            });
        }
        if let Some(cookie) = &site.cookie_site {
            let mut config = CookieSiteConfig::new(resolve(&cookie.db));
            if let Some(prefix) = &cookie.prefix {
                config.prefix = prefix.trim_end_matches('/').to_owned();
            }
            config.hosts = cookie
                .hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            self.cookie_site = Some(config);
        }
        if let Some(defer) = site.defer_accept {
            self.defer_accept = defer;
        }
        if let Some(allow) = site.allow_write {
            self.allow_write = allow;
        }
        if let Some(autoindex) = site.autoindex {
            self.autoindex = autoindex;
        }
        if let Some(limits) = &site.limits {
            if let Some(v) = limits.max_request_line {
                self.limits.max_request_line = v;
            }
            if let Some(v) = limits.max_head_bytes {
                self.limits.max_head_bytes = v;
            }
            if let Some(v) = limits.max_headers {
                self.limits.max_headers = v;
            }
            if let Some(v) = limits.max_body {
                self.limits.max_body = v;
            }
            if let Some(v) = limits.max_connections {
                self.max_connections = v;
            }
            if let Some(v) = limits.header_timeout_ms {
                self.timeouts.header_read = Duration::from_millis(v);
            }
            if let Some(v) = limits.idle_timeout_ms {
                self.timeouts.idle = Duration::from_millis(v);
            }
            if let Some(v) = limits.body_timeout_ms {
                self.timeouts.body_read = Duration::from_millis(v);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// A root for one host name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualHost {
    /// The host name, lowercase, without port (e.g. `www.someschool.edu`).
    pub name: String,
    /// Its document root.
    pub root: PathBuf,
}

/// A redirect from a path (exact, or a prefix when it ends in `/*`) to a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// Only for this host, if set.
    pub host: Option<String>,
    /// `/old` (exact) or `/old/*` (prefix; the rest is appended to `to`).
    pub from: String,
    /// The Location.
    pub to: String,
    /// 301, 302, 303, 307 or 308.
    pub status: StatusCode,
}

/// The built-in cookie site (the seed's §2.2.4 example): where it is mounted and where its
/// backend database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieSiteConfig {
    /// The SQLite database file (created if missing; survives restarts).
    pub db: PathBuf,
    /// The path prefix it answers under, without a trailing slash (`""` for the whole host;
    /// default `/shop`).
    pub prefix: String,
    /// Only for these host names (empty: every host).
    pub hosts: Vec<String>,
}

impl CookieSiteConfig {
    /// The cookie site at `/shop` for every host, storing into `db`.
    pub fn new(db: impl Into<PathBuf>) -> CookieSiteConfig {
        CookieSiteConfig {
            db: db.into(),
            prefix: "/shop".into(),
            hosts: Vec::new(),
        }
    }
}

/// Why a site file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML is malformed or has an unknown key.
    #[error("site file line {line}: {message}")]
    Syntax {
        /// The line (1-based; 0 if unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Values that are well-formed TOML but wrong.
    #[error("site file: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The TOML site file:
///
/// ```toml
/// listen = ["127.0.0.1:8080"]
/// root = "www"                       # default root
/// allow_write = false
/// defer_accept = true                # TCP_DEFER_ACCEPT on the listeners
/// [[host]]
/// name = "www.someschool.edu"
/// root = "someschool"
/// [[redirect]]
/// from = "/old.html"
/// to = "/new.html"
/// status = 301
/// [cookie_site]
/// db = "cookies.sqlite"
/// prefix = "/shop"
/// hosts = ["www.amazon.com"]
/// [limits]
/// max_body = 10485760
/// header_timeout_ms = 10000
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    listen: Option<Vec<String>>,
    root: Option<String>,
    allow_write: Option<bool>,
    defer_accept: Option<bool>,
    autoindex: Option<bool>,
    #[serde(default)]
    host: Vec<HostEntry>,
    #[serde(default)]
    redirect: Vec<RedirectEntry>,
    cookie_site: Option<CookieEntry>,
    limits: Option<LimitsEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    name: String,
    root: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectEntry {
    host: Option<String>,
    from: String,
    to: String,
    status: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CookieEntry {
    db: String,
    prefix: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsEntry {
    max_request_line: Option<usize>,
    max_head_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_body: Option<u64>,
    max_connections: Option<usize>,
    header_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_file() {
        let mut config = WebServerConfig::new("/srv");
        config
            .apply_site_file(
                r#"
root = "www"
[[host]]
name = "WWW.SomeSchool.edu"
root = "/data/school"
[[redirect]]
from = "/old/*"
to = "/new/"
status = 302
[cookie_site]
db = "c.sqlite"
prefix = "/"
[limits]
max_body = 10
"#,
                Path::new("/etc/site"),
            )
            .unwrap();
        assert_eq!(config.root, Path::new("/etc/site/www"));
        assert_eq!(config.hosts[0].name, "www.someschool.edu");
        assert_eq!(config.redirects[0].status, StatusCode::FOUND);
        let cookie = config.cookie_site.unwrap();
        assert_eq!(cookie.prefix, "");
        assert_eq!(cookie.db, Path::new("/etc/site/c.sqlite"));
        assert_eq!(config.limits.max_body, 10);
    }

    #[test]
    fn site_file_errors_name_the_line() {
        let mut config = WebServerConfig::new("/srv");
        let error = config
            .apply_site_file("root = \"a\"\n\nbogus = 1\n", Path::new("/"))
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::Syntax { line: 3, .. }),
            "{error}"
        );
        let error = config
            .apply_site_file(
                "[[redirect]]\nfrom = \"x\"\nto = \"/y\"\n[[redirect]]\nfrom = \"/a\"\nto = \"/b\"\nstatus = 200\n",
                Path::new("/"),
            )
            .unwrap_err();
        let ConfigError::Invalid(problems) = error else {
            panic!("expected invalid")
        };
        assert_eq!(problems.len(), 2);
    }
}
