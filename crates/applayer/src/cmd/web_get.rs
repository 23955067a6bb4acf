//! The `applayer web get` command: the page-fetching client.

use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use web::client::{CacheUse, FetchOptions, Mode};

/// Arguments of `applayer web get`.
///
/// Example: `applayer web get http://www.someschool.edu/someDepartment/home.index
/// --non-persistent --dns 127.0.0.1:5300`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The URL of the page (`http://` may be left out).
    url: String,

    /// A new TCP connection per object, closed after it (HTTP/1.0 style).
    #[arg(long = "non-persistent", conflicts_with_all = ["pipeline", "parallel"])]
    non_persistent: bool,

    /// Send every object request of a server back to back on one connection.
    #[arg(long, conflicts_with = "parallel")]
    pipeline: bool,

    /// Fetch objects over N persistent connections in parallel.
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,

    /// HTTP/2: one connection (h2 by ALPN for https, h2c with prior knowledge for http),
    /// every object on its own stream at once; pushed objects are used.
    #[arg(long, conflicts_with_all = ["non_persistent", "pipeline", "parallel"])]
    http2: bool,

    /// Print request and response heads (`> ` and `< ` lines on standard error), as curl -v.
    #[arg(short, long)]
    verbose: bool,

    /// Send HEAD and print the response head.
    #[arg(short = 'I', long = "head")]
    head: bool,

    /// The request method.
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,

    /// A request body (sent with POST unless -X says otherwise); `@FILE` reads a file.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,

    /// An extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// A cookie jar file (Netscape format, like curl's): read before, written after.
    #[arg(long = "cookie-jar", value_name = "FILE")]
    cookie_jar: Option<PathBuf>,

    /// Go through this proxy (web cache).
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(3128))]
    proxy: Option<SocketAddr>,

    /// Resolve names with this DNS server (e.g. our local DNS server) instead of the system's.
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(53))]
    dns: Option<SocketAddr>,

    /// A local cache directory: stored objects are revalidated with conditional GET.
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Fetch only the URL, not the objects it references.
    #[arg(long = "no-objects")]
    no_objects: bool,

    /// Write the base object's body to FILE (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Seconds for each connection attempt and each response.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,

    /// Trust this CA certificate (PEM) for https, beside the system's store (repeatable; the
    /// world's CA is `ca/ca.pem` in its data directory).
    #[arg(long = "cacert", value_name = "FILE")]
    cacert: Vec<PathBuf>,

    /// Do not check the server's certificate (as curl's `-k`).
    #[arg(short = 'k', long = "insecure")]
    insecure: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut options = FetchOptions {
        mode: if args.http2 {
            Mode::Http2
        } else if args.non_persistent {
            Mode::NonPersistent
        } else if args.pipeline {
            Mode::Pipeline
        } else if let Some(count) = args.parallel {
            Mode::Parallel(count.max(1))
        } else {
            Mode::Persistent
        },
        cookie_jar: args.cookie_jar,
        proxy: args.proxy,
        cache_dir: args.cache_dir,
        record_heads: args.verbose || args.head,
        fetch_objects: !args.no_objects,
        timeout: super::seconds(args.timeout, "--timeout")?.max(Duration::from_millis(1)),
        ..FetchOptions::default()
    };
    let mut roots = Vec::new();
    for file in &args.cacert {
        roots.extend(tls::load_certs(file).context("reading --cacert")?);
    }
    options.tls = Some(
        tls::client_config_for(&roots, true, args.insecure, &[b"http/1.1"])
            .context("TLS set-up")?,
    );
    if let Some(server) = args.dns {
        options.resolver = Arc::new(world::resolve::DnsResolve {
            server,
            timeout: Duration::from_secs(3),
            source: None,
        });
    }
    if let Some(data) = &args.data {
        let body = match data.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("reading {path}"))?,
            None => data.as_bytes().to_vec(),
        };
        options.method = http_proto::Method::Post;
        if !args
            .headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
        {
            options
                .headers
                .append("Content-Type", "application/x-www-form-urlencoded");
        }
        options.body = Some(body);
    }
    if args.head {
        options.method = http_proto::Method::Head;
    }
    if let Some(method) = &args.method {
        options.method = http_proto::Method::parse(method)
            .with_context(|| format!("-X {method:?}: not a method name"))?;
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("-H {header:?}: expected `Name: value`"))?;
        let name = name.trim();
        anyhow::ensure!(
            http_proto::header::is_token(name),
            "-H {header:?}: bad header name"
        );
        options.headers.append(name, value.trim());
    }
    let report = web::get(&args.url, &options)
        .await
        .with_context(|| format!("fetching {}", args.url))?;
    if args.verbose {
        let mut stderr = std::io::stderr().lock();
        for exchange in &report.exchanges {
            for line in exchange.request.trim_end().lines() {
                let _ = writeln!(stderr, "> {line}");
            }
            let _ = writeln!(stderr, ">");
            for line in exchange.response.trim_end().lines() {
                let _ = writeln!(stderr, "< {line}");
            }
            let _ = writeln!(stderr, "<");
        }
    }
    let mut stdout = std::io::stdout().lock();
    if args.head {
        let mut head = Vec::new();
        report.base_head.encode(&mut head);
        stdout.write_all(&head)?;
    } else {
        match &args.output {
            Some(path) if path.as_os_str() == "-" => stdout.write_all(&report.base_body)?,
            Some(path) => std::fs::write(path, &report.base_body)
                .with_context(|| format!("writing {}", path.display()))?,
            None => {}
        }
        if args.output.as_ref().is_none_or(|p| p.as_os_str() != "-") {
            stdout.write_all(report.summary().as_bytes())?;
            let revalidated = report
                .objects
                .iter()
                .filter(|o| o.cache == CacheUse::Revalidated)
                .count();
            if revalidated > 0 {
                writeln!(
                    stdout,
                    "cache: {revalidated} object(s) revalidated with 304 Not Modified"
                )?;
            }
        }
    }
    let failed = report
        .objects
        .iter()
        .any(|o| o.status == 0 || o.status >= 400);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
