//! The video commands through the binary: `video package` makes a presentation, `web serve`
//! serves it, `video play` plays it, and dash.js 5 in Debian's chromium plays the same MPD
//! to its end, every segment it loads showing in our server's access log.

use crate::{applayer, repo_root, scratch};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found (required when CI is set)"
        );
        eprintln!("skipped: {name} not found");
    }
    found
}

/// `applayer web serve` on a free port; its access log lines come through the channel.
struct Served {
    child: std::process::Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &Path) -> Served {
    // A port from the OS, released just before the server binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_applayer"))
        .args(["web", "serve", "--root"])
        .arg(root)
        .args(["--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "web serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, addr, log }
}

#[test]
fn package_serve_play_and_dash_js_in_chromium() {
    if !tool("ffmpeg") {
        return;
    }
    let dir = scratch("video");
    let site = dir.join("site");
    let out = applayer(
        &dir,
        &[
            "video",
            "package",
            "--test-pattern",
            "8",
            "--segment",
            "2",
            "--ladder",
            "300k,1200k,2850k",
            "--preset",
            "ultrafast",
            "--out",
            "site/video",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 representations"), "{stdout}");
    assert!(stdout.contains("mp4a.40.2"), "{stdout}");

    let served = serve(&site);
    let url = format!("http://{}/video/manifest.mpd", served.addr);
    let trace = dir.join("trace.txt");
    std::fs::write(&trace, "# seconds Mbit/s\n0 8\n2 1.5\n4 8\n").unwrap();
    let out = applayer(
        &dir,
        &[
            "video",
            "play",
            &url,
            "--abr",
            "bola",
            "--trace",
            "trace.txt",
            "--report",
            "report",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 TCP connection"), "{stdout}");
    let qoe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report/qoe.json")).unwrap())
            .unwrap();
    assert_eq!(qoe["chunks"], 4, "{qoe}");
    assert_eq!(qoe["finished"], true, "{qoe}");
    let svg = std::fs::read_to_string(dir.join("report/session.svg")).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");

    // Simulated over the same trace: every algorithm and the offline optimum.
    let out = applayer(
        &dir,
        &[
            "video",
            "play",
            &url,
            "--abr",
            "all",
            "--simulate",
            "--trace",
            "trace.txt",
            "--json",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let optimum = json["optimum_qoe"].as_f64().unwrap();
    for run in json["simulated"].as_array().unwrap() {
        let qoe = run["qoe"]["qoe"].as_f64().unwrap();
        assert!(qoe <= optimum + 1e-6, "{run} beats the optimum {optimum}");
    }

    // dash.js in chromium, from our server.
    if !tool("chromium") || !tool("node") {
        return;
    }
    let root = repo_root();
    let dashjs = root.join("crates/video/tests/dashjs");
    let playwright = root.join("crates/mail-server/tests/webmail/node_modules");
    let script = dashjs.join("node_modules/dashjs/dist/modern/umd/dash.all.min.js");
    if !script.is_file() || !playwright.join("playwright-core").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "npm packages missing: run scripts/test (npm ci in crates/video/tests/dashjs)"
        );
        eprintln!("skipped: dash.js or playwright-core not installed");
        return;
    }
    std::fs::copy(&script, site.join("dash.all.min.js")).unwrap();
    std::fs::copy(dashjs.join("player.html"), site.join("player.html")).unwrap();
    while served.log.try_recv().is_ok() {}
    let output = Command::new("node")
        .arg(dashjs.join("play.js"))
        .env("NODE_PATH", &playwright)
        .env("PAGE_URL", format!("http://{}/player.html", served.addr))
        .env("SCREENSHOT", dir.join("dashjs.png"))
        .env("TIMEOUT_MS", "45000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(page["h264"], true, "{page}");
    assert_eq!(page["errors"].as_array().map(Vec::len), Some(0), "{page}");
    assert_eq!(page["ended"], true, "dash.js did not reach the end: {page}");
    let segments: Vec<String> = page["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .filter(|s| s.contains("/chunk-"))
        .collect();
    for number in 1..=4 {
        let name = format!("-{number:05}.m4s");
        assert!(
            segments.iter().any(|s| s.ends_with(&name)),
            "segment {number}: {segments:?}"
        );
    }
    // Every segment dash.js loaded is a line of our access log.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut log = Vec::new();
    while Instant::now() < deadline {
        match served.log.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => log.push(line),
            Err(_) if log.iter().filter(|l| l.contains("/chunk-")).count() >= segments.len() => {
                break
            }
            Err(_) => {}
        }
    }
    for segment in &segments {
        let path = segment.splitn(4, '/').nth(3).unwrap_or("");
        assert!(
            log.iter()
                .any(|l| l.contains(&format!("GET /{path} HTTP/1.1\" 200"))),
            "{segment} not in the access log:\n{}",
            log.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
