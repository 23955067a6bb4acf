//! The `applayer web serve` command: the origin server (HTTP/1.x, h2c, and HTTPS with HTTP/2
//! or HTTP/1.1 by ALPN).

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `applayer web serve`.
///
/// Example: `applayer web serve --root ./www --listen 127.0.0.1:8080 --cookie-db ./cookies.sqlite`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The document root (required unless the site file sets `root`).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,

    /// Address to listen on (repeatable; default 127.0.0.1:8080).
    #[arg(long = "listen", value_name = "ADDR", value_parser = super::addr_parser(8080))]
    listen: Vec<SocketAddr>,

    /// Address to serve HTTPS on (repeatable; HTTP/2 or HTTP/1.1 by ALPN); needs --cert and
    /// --key.
    #[arg(long = "tls-listen", value_name = "ADDR", value_parser = super::addr_parser(8443))]
    tls_listen: Vec<SocketAddr>,

    /// The certificate chain (PEM) for HTTPS.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// The certificate's private key (PEM) for HTTPS.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// Over HTTP/2, push the objects an HTML page references (PUSH_PROMISE, same origin, up
    /// to 16) to clients that allow push.
    #[arg(long = "h2-push")]
    h2_push: bool,

    /// Over HTTP/2, send 103 Early Hints with a preload Link for each object an HTML page
    /// references, before the page.
    #[arg(long = "early-hints")]
    early_hints: bool,

    /// A TOML site file: roots per host name, redirects, limits, the cookie site.
    #[arg(long, value_name = "FILE")]
    site: Option<PathBuf>,

    /// Enable the cookie site with its backend database in this SQLite file.
    #[arg(long = "cookie-db", value_name = "FILE")]
    cookie_db: Option<PathBuf>,

    /// The path prefix of the cookie site (default /shop; "/" for the whole host).
    #[arg(long = "cookie-prefix", value_name = "PREFIX")]
    cookie_prefix: Option<String>,

    /// Let PUT create or replace files and DELETE remove them.
    #[arg(long = "allow-write")]
    allow_write: bool,

    /// Connections served at once.
    #[arg(long = "max-connections", value_name = "N")]
    max_connections: Option<usize>,

    /// Largest request body in bytes (413 above).
    #[arg(long = "max-body", value_name = "BYTES")]
    max_body: Option<u64>,

    /// Seconds a client may take to send a request head (slowloris defence).
    #[arg(long = "header-timeout", value_name = "SECS")]
    header_timeout: Option<f64>,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long = "idle-timeout", value_name = "SECS")]
    idle_timeout: Option<f64>,

    /// Seconds an idle keep-alive connection keeps its task before it is parked (held as a
    /// bare socket until its next request; default 1). Above 256 live connections a new
    /// connection parks as soon as it is idle, and one back from parking after 50 ms.
    #[arg(long = "park-after", value_name = "SECS")]
    park_after: Option<f64>,

    /// Accept connections as soon as they are made, rather than when their first bytes
    /// come (TCP_DEFER_ACCEPT, on by default, as nginx's `listen ... deferred`).
    #[arg(long = "no-defer-accept")]
    no_defer_accept: bool,

    /// Do not log each request.
    #[arg(long = "no-access-log")]
    no_access_log: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = web::WebServerConfig::new(args.root.clone().unwrap_or_default());
    if let Some(site) = &args.site {
        let text = std::fs::read_to_string(site)
            .with_context(|| format!("reading site file {}", site.display()))?;
        let base = site.parent().map(PathBuf::from).unwrap_or_default();
        config
            .apply_site_file(&text, &base)
            .with_context(|| format!("in {}", site.display()))?;
    }
    if let Some(root) = args.root {
        config.root = root;
    }
    if config.root.as_os_str().is_empty() {
        anyhow::bail!("no document root: give --root DIR or `root` in the site file");
    }
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if let Some(db) = args.cookie_db {
        let mut site = web::CookieSiteConfig::new(db);
        if let Some(prefix) = &args.cookie_prefix {
            site.prefix = prefix.trim_end_matches('/').to_owned();
        }
        config.cookie_site = Some(site);
    } else if let (Some(prefix), Some(site)) = (&args.cookie_prefix, config.cookie_site.as_mut()) {
        site.prefix = prefix.trim_end_matches('/').to_owned();
    }
    config.allow_write |= args.allow_write;
    if let Some(max) = args.max_connections {
        config.max_connections = max;
    }
    if let Some(max) = args.max_body {
        config.limits.max_body = max;
    }
    if let Some(secs) = args.header_timeout {
        config.timeouts.header_read = super::seconds(secs, "--header-timeout")?;
    }
    if let Some(secs) = args.idle_timeout {
        config.timeouts.idle = super::seconds(secs, "--idle-timeout")?;
    }
    if let Some(secs) = args.park_after {
        config.park.after = super::seconds(secs, "--park-after")?;
    }
    config.defer_accept &= !args.no_defer_accept;
    config.h2_push |= args.h2_push;
    config.early_hints |= args.early_hints;
    if !args.tls_listen.is_empty() {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            anyhow::bail!("--tls-listen needs --cert FILE and --key FILE");
        };
        let identity = tls::load_pem(cert, key, &[]).context("loading the certificate")?;
        config.tls = Some(tls::server_config(vec![identity], &[]).context("TLS set-up")?);
        config.tls_listen = args.tls_listen;
    }
    config.access_log = !args.no_access_log;
    let server = web::bind(config).await.context("starting the web server")?;
    for addr in server.local_addrs() {
        println!("serving http://{addr}/");
    }
    for addr in server.tls_addrs() {
        println!("serving https://{addr}/");
    }
    let shutdown = netio::shutdown_on_signals();
    server.run(shutdown).await.context("web server")?;
    Ok(ExitCode::SUCCESS)
}
