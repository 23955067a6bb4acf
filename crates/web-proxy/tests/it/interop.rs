//! Interop: real clients (curl, wget, python3) through the proxy, and the proxy in front of a
//! real origin (nginx). A missing tool skips the test unless `CI` is set.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use web_proxy::ProxyConfig;

/// Whether `tool` is installed; without it, skipping is allowed only outside CI.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} not found (required in CI)"
        );
        eprintln!("skipped: {tool} not found");
    }
    found
}

/// Runs a command on the blocking pool (so the proxy keeps running on the test runtime) with a
/// 30 s limit; returns (status ok, stdout, stderr).
async fn run(
    program: &str,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> (bool, String, String) {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        let output = Command::new("timeout")
            .arg("30")
            .arg(&program)
            .args(&args)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .expect("run the tool");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn x_cache(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("x-cache")
                .then(|| value.trim().to_string())
        })
        .collect()
}

fn page_origin() -> impl Fn(&http_proto::RequestHead) -> Vec<u8> + Send + Sync {
    |request| {
        let body = format!("page {}\n", request.target.path());
        response(
            "200 OK",
            &[
                ("Cache-Control", "max-age=300"),
                ("Content-Type", "text/plain"),
                ("ETag", "\"p1\""),
            ],
            body.as_bytes(),
        )
    }
}

#[tokio::test]
async fn curl_forward_proxy_miss_then_hit() {
    if !have("curl") {
        return;
    }
    let origin = Origin::start(page_origin()).await;
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let url = origin.url("/somedir/page.html");
    let args = vec![
        "-sS".into(),
        "-D".into(),
        "-".into(),
        "-x".into(),
        format!("http://{}", proxy.addr),
        url.clone(),
    ];
    let (ok, first, error) = run("curl", args.clone(), vec![]).await;
    assert!(ok, "{error}");
    let (_, second, _) = run("curl", args, vec![]).await;
    assert_eq!(x_cache(&first), vec!["MISS"], "{first}");
    assert_eq!(x_cache(&second), vec!["HIT"], "{second}");
    assert!(second.contains("page /somedir/page.html"));
    assert!(second.to_ascii_lowercase().contains("via: 1.1 applayer"));
    assert_eq!(origin.count(), 1);
    // HEAD and a range through curl too.
    let (_, head, _) = run(
        "curl",
        vec![
            "-sS".into(),
            "-I".into(),
            "-x".into(),
            format!("http://{}", proxy.addr),
            url.clone(),
        ],
        vec![],
    )
    .await;
    assert_eq!(x_cache(&head), vec!["HIT"], "{head}");
    let (_, part, _) = run(
        "curl",
        vec![
            "-sS".into(),
            "-r".into(),
            "0-3".into(),
            "-x".into(),
            format!("http://{}", proxy.addr),
            url,
        ],
        vec![],
    )
    .await;
    assert_eq!(part, "page");
    proxy.stop().await;
}

#[tokio::test]
async fn curl_https_through_connect_tunnel_reaches_the_target() {
    if !have("curl") {
        return;
    }
    // No TLS server here: check that curl's CONNECT is accepted and bytes flow to the target by
    // tunnelling plain HTTP (curl --proxytunnel with an http:// URL).
    let origin = Origin::start(page_origin()).await;
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let args = vec![
        "-sS".into(),
        "-p".into(),
        "-x".into(),
        format!("http://{}", proxy.addr),
        origin.url("/tunnelled"),
    ];
    let (ok, body, error) = run("curl", args, vec![]).await;
    assert!(ok, "{error}");
    assert_eq!(body, "page /tunnelled\n");
    proxy.stop().await;
}

#[tokio::test]
async fn wget_through_forward_proxy() {
    if !have("wget") {
        return;
    }
    let origin = Origin::start(page_origin()).await;
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let url = origin.url("/w.txt");
    let args = vec!["-S".into(), "-O".into(), "-".into(), url];
    let env = vec![("http_proxy".to_string(), format!("http://{}", proxy.addr))];
    let (ok, first_body, first_head) = run("wget", args.clone(), env.clone()).await;
    assert!(ok, "{first_head}");
    let (_, second_body, second_head) = run("wget", args, env).await;
    assert_eq!(first_body, "page /w.txt\n");
    assert_eq!(second_body, first_body);
    assert_eq!(x_cache(&first_head), vec!["MISS"], "{first_head}");
    assert_eq!(x_cache(&second_head), vec!["HIT"], "{second_head}");
    proxy.stop().await;
}

#[tokio::test]
async fn python_urllib_and_http_client_through_the_proxy() {
    if !have("python3") {
        return;
    }
    let origin = Origin::start(page_origin()).await;
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let script = format!(
        r#"
import urllib.request, http.client
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{"http": "http://{proxy}"}}))
for _ in range(2):
    with opener.open("{url}") as response:
        print(response.headers["X-Cache"], response.read().decode().strip())
connection = http.client.HTTPConnection("{host}", {port})
connection.request("GET", "{url}")
answer = connection.getresponse()
print(answer.status, answer.getheader("X-Cache"), answer.read().decode().strip())
# Idle past the proxy's park_after (1 s): the same connection is served again from the lot.
first = connection.sock.getsockname()
import time
time.sleep(1.3)
connection.request("GET", "{url}")
answer = connection.getresponse()
print(answer.status, answer.getheader("X-Cache"), connection.sock.getsockname() == first)
answer.read()
try:
    import requests
    r = requests.get("{url}", proxies={{"http": "http://{proxy}"}}, timeout=10)
    print("requests", r.status_code, r.headers["X-Cache"])
except ImportError:
    print("requests", "missing")
"#,
        proxy = proxy.addr,
        url = origin.url("/py"),
        host = proxy.addr.ip(),
        port = proxy.addr.port(),
    );
    let (ok, out, error) = run("python3", vec!["-c".into(), script], vec![]).await;
    assert!(ok, "{error}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "MISS page /py");
    assert_eq!(lines[1], "HIT page /py");
    assert_eq!(lines[2], "200 HIT page /py");
    assert_eq!(lines[3], "200 HIT True", "{out}");
    assert!(
        lines[4] == "requests 200 HIT" || lines[4] == "requests missing",
        "{out}"
    );
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
}

/// nginx serving `root` on a free 127.0.0.1 port; killed on drop.
struct Nginx {
    child: std::process::Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its worker; SIGKILL (Child::kill) would orphan it.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(prefix: &Path) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(prefix.join("html")).unwrap();
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("html/plain.txt"), "plain file\n").unwrap();
    std::fs::write(prefix.join("html/expires.txt"), "expires file\n").unwrap();
    let user = if Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"))
    {
        "user root;"
    } else {
        ""
    };
    let config = format!(
        "{user}\nworker_processes 1;\ndaemon off;\nerror_log {prefix}/logs/error.log;\npid {prefix}/logs/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/tmp-body;\n  proxy_temp_path {prefix}/tmp-proxy;\n\
         fastcgi_temp_path {prefix}/tmp-fcgi;\n  uwsgi_temp_path {prefix}/tmp-uwsgi;\n  scgi_temp_path {prefix}/tmp-scgi;\n\
         server {{\n    listen 127.0.0.1:{port};\n    root {prefix}/html;\n    location = /expires.txt {{ expires 1h; }}\n  }}\n}}\n",
        prefix = prefix.display()
    );
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port }
}

#[tokio::test]
async fn in_front_of_nginx_with_conditional_get() {
    if !have("nginx") {
        return;
    }
    let prefix = temp_dir("nginx-origin");
    let nginx = start_nginx(&prefix);
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&format!("http://127.0.0.1:{}/", nginx.port)).unwrap()),
        ..ProxyConfig::default()
    })
    .await;
    // `expires 1h`: a plain hit.
    assert_eq!(
        send(proxy.addr, "GET", "/expires.txt", &[]).await.cache(),
        "MISS"
    );
    let hit = send(proxy.addr, "GET", "/expires.txt", &[]).await;
    assert_eq!(
        (hit.cache(), hit.body.as_slice()),
        ("HIT", &b"expires file\n"[..])
    );
    // No explicit freshness and a Last-Modified of just now: the heuristic lifetime is ~0, so
    // the next request revalidates with If-None-Match / If-Modified-Since and nginx says 304.
    let first = send(proxy.addr, "GET", "/plain.txt", &[]).await;
    assert_eq!(first.cache(), "MISS");
    assert!(first.header("etag").is_some() && first.header("last-modified").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = send(proxy.addr, "GET", "/plain.txt", &[]).await;
    assert!(
        matches!(second.cache(), "REVALIDATED" | "HIT"),
        "{}",
        second.cache()
    );
    assert_eq!(second.body, b"plain file\n");
    // The file changes: a revalidation now gets the new version (200 replaces the entry).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(prefix.join("html/plain.txt"), "changed file!\n").unwrap();
    let mut changed = send(proxy.addr, "GET", "/plain.txt", &[]).await;
    for _ in 0..20 {
        if changed.body == b"changed file!\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        changed = send(proxy.addr, "GET", "/plain.txt", &[]).await;
    }
    assert_eq!(changed.body, b"changed file!\n");
    assert_eq!(send(proxy.addr, "GET", "/missing", &[]).await.status(), 404);
    proxy.stop().await;
    drop(nginx);
    let _ = std::fs::remove_dir_all(&prefix);
}

#[tokio::test]
async fn in_front_of_our_own_web_server() {
    let root = temp_dir("own-origin");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("page.html"), "<p>version one</p>\n").unwrap();
    let mut config = web::WebServerConfig::new(&root);
    config.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.access_log = false;
    let server = web::bind(config).await.unwrap();
    let origin_addr = server.local_addrs()[0];
    let shutdown = netio::Shutdown::new();
    let origin_task = tokio::spawn(server.run(shutdown.clone()));
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&format!("http://{origin_addr}/")).unwrap()),
        ..ProxyConfig::default()
    })
    .await;
    let first = send(proxy.addr, "GET", "/page.html", &[]).await;
    assert_eq!(
        (first.status(), first.cache(), first.body.as_slice()),
        (200, "MISS", &b"<p>version one</p>\n"[..])
    );
    assert!(first.header("last-modified").is_some() && first.header("etag").is_some());
    // A Last-Modified of just now gives a heuristic lifetime of ~0: the next request is a
    // conditional GET that our server answers 304 (or, within the same second, a hit).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = send(proxy.addr, "GET", "/page.html", &[]).await;
    assert!(
        matches!(second.cache(), "REVALIDATED" | "HIT"),
        "{}",
        second.cache()
    );
    assert_eq!(second.body, b"<p>version one</p>\n");
    let part = send(proxy.addr, "GET", "/page.html", &[("Range", "bytes=3-9")]).await;
    assert_eq!(
        (part.status(), part.body.as_slice()),
        (206, &b"version"[..])
    );
    // Changed at the origin: the conditional GET now brings the new version.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(root.join("page.html"), "<p>version two!</p>\n").unwrap();
    let mut changed = send(proxy.addr, "GET", "/page.html", &[]).await;
    for _ in 0..20 {
        if changed.body == b"<p>version two!</p>\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        changed = send(proxy.addr, "GET", "/page.html", &[]).await;
    }
    assert_eq!(changed.body, b"<p>version two!</p>\n");
    assert_eq!(
        send(proxy.addr, "GET", "/missing.html", &[]).await.status(),
        404
    );
    proxy.stop().await;
    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(15), origin_task).await;
    let _ = std::fs::remove_dir_all(&root);
}
