//! The page-fetching client against our server (every connection model, cookies, the cache)
//! and against nginx.

use crate::support::{seed_site, tool, Server, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web::client::{CacheUse, FetchOptions, Mode};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fetch(url: &str, options: FetchOptions) -> web::FetchReport {
    runtime().block_on(web::get(url, &options)).unwrap()
}

fn with_mode(mode: Mode) -> FetchOptions {
    FetchOptions {
        mode,
        ..FetchOptions::default()
    }
}

/// The seed's page has 12 objects (10 JPEGs, a stylesheet, a script) plus the base page.
const OBJECTS: usize = 13;

#[test]
fn connection_models_cost_what_the_seed_says() {
    let dir = TempDir::new("client-modes");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let url = server.url("/someDepartment/home.index");

    let report = fetch(&url, with_mode(Mode::NonPersistent));
    assert_eq!(report.objects.len(), OBJECTS);
    assert!(
        report.objects.iter().all(|o| o.status == 200),
        "{}",
        report.summary()
    );
    // Non-persistent: a TCP handshake plus a request per object, 2 RTTs each.
    assert_eq!(report.connections, OBJECTS);
    assert_eq!(report.round_trips, 2 * OBJECTS as u32);
    let expected_bytes: u64 =
        (1..=10).map(|i| 1000 + i * 100).sum::<u64>() + 22 + 19 + report.objects[0].bytes;
    assert_eq!(report.bytes, expected_bytes);

    let report = fetch(&url, with_mode(Mode::Persistent));
    assert_eq!(report.connections, 1);
    assert_eq!(report.round_trips, 1 + OBJECTS as u32);
    assert_eq!(report.bytes, expected_bytes);

    let report = fetch(&url, with_mode(Mode::Pipeline));
    assert_eq!(report.connections, 1);
    assert_eq!(report.round_trips, 3);
    assert_eq!(report.objects.len(), OBJECTS);
    assert_eq!(report.bytes, expected_bytes);

    let report = fetch(&url, with_mode(Mode::Parallel(4)));
    assert_eq!(report.connections, 4);
    assert!(
        report.round_trips < 1 + OBJECTS as u32,
        "{}",
        report.round_trips
    );
    assert_eq!(report.objects.len(), OBJECTS);
    assert_eq!(report.bytes, expected_bytes);
    // Objects come back in page order whatever the lanes did.
    assert!(report.objects[1].url.ends_with("style.css"));
}

#[test]
fn cookie_jar_and_cache_dir() {
    let dir = TempDir::new("client-state");
    seed_site(&dir);
    let db = dir.path().join("cookies.sqlite");
    let server = Server::with(dir.path(), move |config| {
        config.cookie_site = Some(web::CookieSiteConfig::new(db));
    });
    let jar = dir.path().join("jar.txt");
    let options = FetchOptions {
        cookie_jar: Some(jar.clone()),
        ..FetchOptions::default()
    };
    let first = fetch(&server.url("/shop/"), options.clone());
    assert!(String::from_utf8_lossy(&first.base_body).contains("new visitor"));
    assert!(std::fs::read_to_string(&jar)
        .unwrap()
        .contains("\tid\t1678"));
    let second = fetch(&server.url("/shop/"), options);
    assert!(String::from_utf8_lossy(&second.base_body).contains("Welcome back, visitor 1678"));

    let cache = dir.path().join("cache");
    let options = FetchOptions {
        cache_dir: Some(cache),
        ..FetchOptions::default()
    };
    let url = server.url("/someDepartment/home.index");
    let first = fetch(&url, options.clone());
    assert!(first.objects.iter().all(|o| o.cache == CacheUse::Stored));
    let second = fetch(&url, options);
    assert!(
        second
            .objects
            .iter()
            .all(|o| o.status == 304 && o.cache == CacheUse::Revalidated),
        "{}",
        second.summary()
    );
    assert_eq!(second.bytes, 0);
    assert_eq!(second.base_body, first.base_body);
}

#[test]
fn methods_heads_and_proxy_form() {
    let dir = TempDir::new("client-methods");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| config.allow_write = true);
    let options = FetchOptions {
        method: http_proto::Method::Put,
        body: Some(b"written by our client".to_vec()),
        record_heads: true,
        ..FetchOptions::default()
    };
    let report = fetch(&server.url("/ours.txt"), options);
    assert_eq!(report.objects[0].status, 201);
    assert!(report.exchanges[0]
        .request
        .starts_with("PUT /ours.txt HTTP/1.1\r\n"));
    assert!(report.exchanges[0]
        .response
        .starts_with("HTTP/1.1 201 Created\r\n"));
    let head = fetch(
        &server.url("/ours.txt"),
        FetchOptions {
            method: http_proto::Method::Head,
            ..FetchOptions::default()
        },
    );
    assert_eq!(head.base_head.headers.get("content-length"), Some("21"));
    assert!(head.base_body.is_empty());
    // Through a "proxy" (our server takes absolute-form targets too).
    let proxied = fetch(
        "http://www.someschool.edu/somedir/page.html",
        FetchOptions {
            proxy: Some(server.addr),
            ..FetchOptions::default()
        },
    );
    assert_eq!(proxied.objects[0].status, 200);
    assert!(String::from_utf8_lossy(&proxied.base_body).contains("someschool"));
}

struct Nginx {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx on 127.0.0.1 serving `root` with a throwaway configuration.
fn start_nginx(nginx: &Path, root: &Path) -> Nginx {
    let dir = TempDir::new("nginx");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  types {{ text/html html index; image/jpeg jpg; text/css css; application/javascript js; }}
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
",
        d = dir.path().display(),
        root = root.display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .args([
            "-p",
            dir.path().to_str().unwrap(),
            "-c",
            dir.path().join("nginx.conf").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx {
        child,
        port,
        _dir: dir,
    }
}

#[test]
fn our_client_against_nginx() {
    let Some(nginx) = tool("nginx") else { return };
    let site = TempDir::new("nginx-site");
    seed_site(&site);
    let nginx = start_nginx(&nginx, site.path());
    let url = format!("http://127.0.0.1:{}/someDepartment/home.index", nginx.port);
    for (mode, connections, round_trips) in [
        (Mode::NonPersistent, OBJECTS, 2 * OBJECTS as u32),
        (Mode::Persistent, 1, 1 + OBJECTS as u32),
        (Mode::Pipeline, 1, 3),
    ] {
        let report = fetch(&url, with_mode(mode));
        assert_eq!(report.objects.len(), OBJECTS, "{mode:?}");
        assert!(
            report.objects.iter().all(|o| o.status == 200),
            "{mode:?}: {}",
            report.summary()
        );
        assert_eq!(report.connections, connections, "{mode:?}");
        assert_eq!(report.round_trips, round_trips, "{mode:?}");
    }
    let report = fetch(&url, with_mode(Mode::Parallel(6)));
    assert!(report.objects.iter().all(|o| o.status == 200));
    // Conditional GET against nginx through the cache directory.
    let cache = TempDir::new("nginx-cache");
    let options = FetchOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..FetchOptions::default()
    };
    fetch(&url, options.clone());
    let again = fetch(&url, options);
    assert!(
        again.objects.iter().all(|o| o.status == 304),
        "{}",
        again.summary()
    );
}

/// https: the page and its objects over TLS on one connection, the server's certificate
/// checked against the CA we trust; refused when we trust nothing that signed it, accepted
/// with `insecure` (curl's `-k`).
#[test]
fn the_client_fetches_over_https_when_it_trusts_the_ca() {
    let dir = TempDir::new("client-https");
    seed_site(&dir);
    let ca = tls::Ca::ephemeral("client test CA").unwrap();
    let identity = ca.issue(&["localhost"]).unwrap();
    let server = Server::with(dir.path(), |config| {
        config.tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.tls = Some(tls::server_config(vec![identity], &[]).unwrap());
    });
    let url = format!(
        "https://localhost:{}/someDepartment/home.index",
        server.tls_addr.unwrap().port()
    );
    let options =
        |roots: &[tls::rustls::pki_types::CertificateDer<'static>], insecure| FetchOptions {
            tls: Some(tls::client_config_for(roots, false, insecure, &[b"http/1.1"]).unwrap()),
            ..with_mode(Mode::Persistent)
        };
    let report = fetch(&url, options(&[ca.cert_der()], false));
    assert_eq!(report.objects.len(), OBJECTS);
    assert!(report.objects.iter().all(|o| o.status == 200));
    assert_eq!(report.connections, 1);
    // TCP, TLS, the base page, then the objects one after another.
    assert_eq!(report.round_trips, 2 + OBJECTS as u32);
    let refused = runtime().block_on(web::get(&url, &options(&[], false)));
    assert!(refused.is_err());
    let report = fetch(&url, options(&[], true));
    assert_eq!(report.objects.len(), OBJECTS);
}

/// HTTP/2: the page, then its twelve objects at once on one connection, over h2c (prior
/// knowledge) and over TLS (h2 by ALPN); with the server pushing, the objects come as pushes.
#[test]
fn the_client_fetches_a_page_over_http2() {
    let dir = TempDir::new("client-h2");
    seed_site(&dir);
    let ca = tls::Ca::ephemeral("h2 client test CA").unwrap();
    let identity = ca.issue(&["localhost"]).unwrap();
    let server = Server::with(dir.path(), |config| {
        config.tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.tls = Some(tls::server_config(vec![identity], &[]).unwrap());
    });
    let h2 = |tls: bool| FetchOptions {
        mode: Mode::Http2,
        tls: tls.then(|| tls::client_config_for(&[ca.cert_der()], false, false, &[]).unwrap()),
        ..FetchOptions::default()
    };
    let report = fetch(&server.url("/someDepartment/home.index"), h2(false));
    assert_eq!(report.objects.len(), OBJECTS);
    assert!(
        report.objects.iter().all(|o| o.status == 200),
        "{}",
        report.summary()
    );
    assert_eq!(report.connections, 1);
    assert_eq!(report.streams, OBJECTS);
    // TCP, the page, all the objects together.
    assert_eq!(report.round_trips, 3, "{}", report.summary());
    let sizes: Vec<u64> = report.objects.iter().map(|o| o.bytes).collect();
    let url = format!(
        "https://localhost:{}/someDepartment/home.index",
        server.tls_addr.unwrap().port()
    );
    let report = fetch(&url, h2(true));
    assert_eq!(report.objects.len(), OBJECTS);
    assert_eq!(
        report.objects.iter().map(|o| o.bytes).collect::<Vec<_>>(),
        sizes
    );
    // TCP, TLS, the page, the objects.
    assert_eq!(report.round_trips, 4, "{}", report.summary());

    let pushing = Server::with(dir.path(), |config| config.h2_push = true);
    let report = fetch(&pushing.url("/someDepartment/home.index"), h2(false));
    assert_eq!(report.objects.len(), OBJECTS);
    assert!(report.objects.iter().all(|o| o.status == 200));
    assert_eq!(report.pushed, OBJECTS - 1, "{}", report.summary());
    // Everything came with the page: TCP and the page only.
    assert_eq!(report.round_trips, 2, "{}", report.summary());
    assert_eq!(
        report.objects.iter().map(|o| o.bytes).collect::<Vec<_>>(),
        sizes
    );
}
