//! HTTP/2 (h2c with prior knowledge) against real clients: curl's and nghttp2's, and h2load
//! for many concurrent streams. The same site, the same answers as over HTTP/1.1.

use crate::support::{run, seed_site, tool, Server, TempDir};
use std::process::Command;

fn curl_h2(curl: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(curl);
    command.args(["-sS", "--http2-prior-knowledge", "--max-time", "20"]);
    command.args(args);
    run(&mut command)
}

#[test]
fn curl_over_h2c_gets_files_ranges_and_conditionals() {
    let Some(curl) = tool("curl") else { return };
    let dir = TempDir::new("h2-curl");
    seed_site(&dir);
    // A body larger than every initial window (64 KiB stream and connection) and the
    // server's queue, so flow control and refilling both run.
    let large: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    dir.write("large.bin", &large);
    let server = Server::with(dir.path(), |config| config.allow_write = true);

    // One URL per curl: curl 7.88 cannot reuse a prior-knowledge connection (curl/curl#10634,
    // fixed after 7.88.1); reuse is checked with nghttp below and with curl over TLS.
    let (ok, _, stderr) = curl_h2(
        &curl,
        &["-v", "-o", "/dev/null", &server.url("/somedir/page.html")],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("< HTTP/2 200"), "{stderr}");

    let out = dir.path().join("large.out");
    let (ok, _, stderr) = curl_h2(
        &curl,
        &["-o", out.to_str().unwrap(), &server.url("/large.bin")],
    );
    assert!(ok, "{stderr}");
    assert!(
        std::fs::read(&out).unwrap() == large,
        "the 5 MB body differs"
    );

    let (ok, stdout, _) = curl_h2(&curl, &["-r", "0-9", &server.url("/somedir/page.html")]);
    assert!(ok);
    assert_eq!(stdout, "<html><bod");
    let (ok, stdout, _) = curl_h2(&curl, &["-I", &server.url("/big.bin")]);
    assert!(ok && stdout.contains("content-length: 100000"), "{stdout}");
    let (ok, stdout, _) = curl_h2(
        &curl,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-z",
            "Fri, 01 Jan 2100 00:00:00 GMT",
            &server.url("/somedir/page.html"),
        ],
    );
    assert!(ok);
    assert_eq!(stdout, "304");
    let (ok, stdout, _) = curl_h2(
        &curl,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &server.url("/nothing-here"),
        ],
    );
    assert!(ok);
    assert_eq!(stdout, "404");
    // A directory without its slash is redirected, as over HTTP/1.1.
    let (ok, stdout, _) = curl_h2(
        &curl,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &server.url("/somedir"),
        ],
    );
    assert!(ok);
    assert!(
        stdout.starts_with("301 ") && stdout.ends_with("/somedir/"),
        "{stdout}"
    );

    // PUT a body over several DATA frames, read it back, DELETE it.
    let upload = dir.path().join("upload.src");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 199) as u8).collect();
    std::fs::write(&upload, &body).unwrap();
    let (ok, stdout, stderr) = curl_h2(
        &curl,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-T",
            upload.to_str().unwrap(),
            &server.url("/up.bin"),
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "201");
    assert!(std::fs::read(dir.path().join("up.bin")).unwrap() == body);
    let (ok, stdout, _) = curl_h2(
        &curl,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
            &server.url("/up.bin"),
        ],
    );
    assert!(ok);
    assert_eq!(stdout, "204");
    assert!(!dir.path().join("up.bin").exists());
}

#[test]
fn nghttp_fetches_a_page_and_its_objects_on_one_connection() {
    let Some(nghttp) = tool("nghttp") else { return };
    let dir = TempDir::new("h2-nghttp");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    // -a: the page's linked objects too (11 of them), -n: discard, -s: statistics.
    let (ok, stdout, stderr) = run(Command::new(&nghttp).args([
        "-ans",
        "-t",
        "20",
        &server.url("/someDepartment/home.index"),
    ]));
    assert!(ok, "{stdout}{stderr}");
    // The page, the stylesheet, the script and ten images: 13 streams, all 200.
    let responses = stdout.lines().filter(|l| l.contains(" 200 ")).count();
    assert_eq!(responses, 13, "{stdout}");
    // The frame-level view: SETTINGS exchanged, every stream ended, no RST or GOAWAY errors.
    let (ok, verbose, stderr) =
        run(Command::new(&nghttp).args(["-nv", "-t", "20", &server.url("/somedir/page.html")]));
    assert!(ok, "{stderr}");
    assert!(verbose.contains("recv SETTINGS frame"), "{verbose}");
    assert!(verbose.contains("recv HEADERS frame"), "{verbose}");
    assert!(verbose.contains(":status: 200"), "{verbose}");
    assert!(!verbose.contains("RST_STREAM"), "{verbose}");
}

#[test]
fn h2load_runs_many_streams_without_errors() {
    let Some(h2load) = tool("h2load") else { return };
    let dir = TempDir::new("h2-load");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let (ok, stdout, stderr) = run(Command::new(&h2load).args([
        "-n",
        "2000",
        "-c",
        "4",
        "-m",
        "10",
        "-T",
        "20",
        &server.url("/somedir/page.html"),
    ]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored"),
        "{stdout}"
    );
    assert!(stdout.contains("status codes: 2000 2xx"), "{stdout}");
}

/// A server with HTTPS on 127.0.0.1:0, its certificate for `localhost` from a fresh CA;
/// the CA's PEM is written to `ca.pem` in `dir`.
fn https_server(dir: &TempDir) -> (Server, std::path::PathBuf) {
    let ca = tls::Ca::ephemeral("applayer test CA").unwrap();
    let identity = ca.issue(&["localhost"]).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let server = Server::with(dir.path(), |config| {
        config.tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.tls = Some(tls::server_config(vec![identity], &[]).unwrap());
    });
    (server, ca_file)
}

#[test]
fn curl_over_https_negotiates_h2_or_http11_by_alpn() {
    let Some(curl) = tool("curl") else { return };
    let dir = TempDir::new("h2-tls");
    seed_site(&dir);
    let large: Vec<u8> = (0..3_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    dir.write("large.bin", &large);
    let (server, ca_file) = https_server(&dir);
    let port = server.tls_addr.unwrap().port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let get = |extra: &[&str], path: &str| {
        let mut command = Command::new(&curl);
        command.args([
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
        ]);
        command.args(extra);
        command.arg(url(path));
        run(&mut command)
    };
    // curl offers h2 first: HTTP/2 over TLS, the certificate checked against the CA; the
    // second URL on the same connection.
    let (ok, _, stderr) = get(
        &["-v", "-o", "/dev/null", "-o", "/dev/null", &url("/big.bin")],
        "/somedir/page.html",
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("ALPN: server accepted h2"), "{stderr}");
    assert!(stderr.contains("< HTTP/2 200"), "{stderr}");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "{stderr}"
    );
    // HTTP/1.1 over TLS when the client offers only that.
    let (ok, stdout, stderr) = get(&["-v", "--http1.1"], "/somedir/page.html");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("ALPN: server accepted http/1.1"),
        "{stderr}"
    );
    assert!(stderr.contains("< HTTP/1.1 200 OK"), "{stderr}");
    assert_eq!(stdout, "<html><body>Hello from someschool</body></html>\n");
    // A large body both ways (HTTP/1.1's file path over TLS reads and writes, no sendfile).
    for mode in ["--http2", "--http1.1"] {
        let out = dir.path().join("large.out");
        let (ok, _, stderr) = get(&[mode, "-o", out.to_str().unwrap()], "/large.bin");
        assert!(ok, "{mode}: {stderr}");
        assert!(
            std::fs::read(&out).unwrap() == large,
            "{mode}: the body differs"
        );
    }
    // Ranges and keep-alive over TLS with HTTP/1.1.
    let (ok, stdout, _) = get(&["--http1.1", "-r", "0-9"], "/somedir/page.html");
    assert!(ok);
    assert_eq!(stdout, "<html><bod");
    // A client that does not trust the CA is refused by its own check.
    let (ok, _, _) = run(Command::new(&curl).args([
        "-sS",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        &url("/"),
    ]));
    assert!(!ok);
}

/// Python's httpx with the h2 package (an independent HTTP/2 stack): over TLS by ALPN, and
/// h2c with prior knowledge, many requests multiplexed on one connection.
#[test]
fn httpx_speaks_http2_to_us() {
    // Debian's python3 (the packages python3-httpx and python3-h2), not a pyenv one on PATH.
    let python = std::path::PathBuf::from("/usr/bin/python3");
    let probe = Command::new(&python)
        .args(["-c", "import httpx, h2"])
        .status()
        .expect("python runs");
    if !probe.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "httpx and h2 are required when CI is set"
        );
        eprintln!("skipped: python3 httpx/h2 missing");
        return;
    }
    let dir = TempDir::new("h2-httpx");
    seed_site(&dir);
    let (server, ca_file) = https_server(&dir);
    let script = r#"
import asyncio, sys, httpx
tls_port, plain_port, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
paths = ["/someDepartment/home.index", "/someDepartment/style.css", "/js/app.js"] + [
    f"/someDepartment/img{i}.jpg" for i in range(1, 11)]
async def fetch(client, base):
    responses = await asyncio.gather(*(client.get(base + p) for p in paths))
    for r in responses:
        assert r.status_code == 200, (r.url, r.status_code)
        assert r.http_version == "HTTP/2", r.http_version
    return sum(len(r.content) for r in responses)
async def main():
    async with httpx.AsyncClient(http2=True, verify=ca) as client:
        secure = await fetch(client, f"https://localhost:{tls_port}")
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        plain = await fetch(client, f"http://127.0.0.1:{plain_port}")
    assert secure == plain
    print("ok", secure)
asyncio.run(main())
"#;
    let (ok, stdout, stderr) = run(Command::new(&python).args([
        "-c",
        script,
        &server.tls_addr.unwrap().port().to_string(),
        &server.addr.port().to_string(),
        ca_file.to_str().unwrap(),
    ]));
    assert!(ok && stdout.starts_with("ok "), "{stdout}{stderr}");
}

/// Server push (RFC 9113 §8.4) and 103 Early Hints (RFC 8297) of a page's objects, seen by
/// nghttp: PUSH_PROMISEs on the page's stream, the pushed bodies on even streams, and the 103
/// before the page's 200.
#[test]
fn nghttp_sees_pushes_and_early_hints() {
    let Some(nghttp) = tool("nghttp") else { return };
    let dir = TempDir::new("h2-push");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| {
        config.h2_push = true;
        config.early_hints = true;
    });
    let (ok, verbose, stderr) = run(Command::new(&nghttp).args([
        "-nv",
        "-t",
        "20",
        &server.url("/someDepartment/home.index"),
    ]));
    assert!(ok, "{stderr}");
    // The page references a stylesheet, a script and ten images: twelve promises.
    assert_eq!(
        verbose.matches("recv PUSH_PROMISE frame").count(),
        12,
        "{verbose}"
    );
    assert!(verbose.contains("promised_stream_id=2)"), "{verbose}");
    assert!(verbose.contains(":status: 103"), "{verbose}");
    assert!(
        verbose.contains("link: </someDepartment/style.css>; rel=preload"),
        "{verbose}"
    );
    let hints = verbose.find(":status: 103").unwrap();
    let page = verbose
        .find("recv (stream_id=13) :status: 200")
        .unwrap_or(usize::MAX);
    assert!(hints < page || page == usize::MAX, "{verbose}");
    // The first promise is the stylesheet (22 bytes), pushed whole on stream 2.
    assert!(
        verbose.contains("recv DATA frame <length=22, flags=0x01, stream_id=2>"),
        "{verbose}"
    );
    assert!(!verbose.contains("RST_STREAM"), "{verbose}");
    // Off by default: no promises.
    let plain = Server::with(dir.path(), |_| {});
    let (ok, verbose, _) = run(Command::new(&nghttp).args([
        "-nv",
        "-t",
        "20",
        &plain.url("/someDepartment/home.index"),
    ]));
    assert!(ok);
    assert!(!verbose.contains("PUSH_PROMISE"), "{verbose}");
}

/// Chromium loads the seed's page and its twelve objects over HTTP/2 (h2 by ALPN), as its
/// Resource Timing reports.
#[test]
fn chromium_loads_a_page_over_h2() {
    let (Some(_), Some(node)) = (tool("chromium"), tool("node")) else {
        return;
    };
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mail-server/tests/webmail/node_modules");
    if !modules.join("playwright-core").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "playwright-core is required in CI (npm ci in crates/mail-server/tests/webmail)"
        );
        eprintln!("skipped: playwright-core not installed");
        return;
    }
    let dir = TempDir::new("h2-chromium");
    seed_site(&dir);
    let (server, _) = https_server(&dir);
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h2-chromium.png");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/h2.js");
    let url = format!(
        "https://localhost:{}/someDepartment/home.index",
        server.tls_addr.unwrap().port()
    );
    let (ok, stdout, stderr) = run(Command::new(node)
        .arg(script)
        .env("NODE_PATH", &modules)
        .env("PAGE_URL", &url)
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", "/usr/bin/chromium"));
    assert!(ok && stdout.contains("browser: ok"), "{stdout}{stderr}");
    assert!(stdout.contains("status 200"), "{stdout}");
    assert!(stdout.contains("page h2"), "{stdout}");
    // The twelve objects of the page (the browser's own favicon request aside).
    let objects: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("object ") && !l.ends_with("/favicon.ico"))
        .collect();
    assert_eq!(objects.len(), 12, "{stdout}");
    assert!(
        objects.iter().all(|l| l.starts_with("object h2 ")),
        "{stdout}"
    );
}

/// A client that opens an upload and stops sending: the stream is reset (CANCEL) after the
/// body timeout, its temporary file goes, and the connection serves the next request.
#[test]
fn a_stalled_request_body_times_out_on_its_own_stream() {
    use h2_proto::frame::{self, ErrorCode, Frame};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = TempDir::new("h2-body-timeout");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| {
        config.allow_write = true;
        config.timeouts.body_read = Duration::from_secs(2);
    });
    let mut tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut encoder = h2_proto::hpack::Encoder::new();
    let request = |encoder: &mut h2_proto::hpack::Encoder, stream, method: &str, path: &str| {
        let mut block = Vec::new();
        let authority = server.addr.to_string();
        encoder.encode(
            [
                (b":method".as_slice(), method.as_bytes()),
                (b":scheme".as_slice(), b"http".as_slice()),
                (b":authority".as_slice(), authority.as_bytes()),
                (b":path".as_slice(), path.as_bytes()),
            ],
            &mut block,
        );
        let mut out = Vec::new();
        frame::write_header_block(&mut out, stream, None, &block, method == "GET", 16_384);
        out
    };
    let mut bytes = frame::PREFACE.to_vec();
    frame::write_settings(&mut bytes, &[]);
    bytes.extend(request(&mut encoder, 1, "PUT", "/upload.bin"));
    frame::write_frame(&mut bytes, frame::kind::DATA, 0, 1, b"the first part");
    tcp.write_all(&bytes).unwrap();
    let started = Instant::now();
    let mut input = Vec::new();
    let mut reset_at = None;
    let mut got_get = false;
    while started.elapsed() < Duration::from_secs(15) && !got_get {
        let mut buf = [0u8; 16_384];
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        while let Ok(Some((frame, used))) = frame::parse(&input, frame::MAX_MAX_FRAME_SIZE) {
            input.drain(..used);
            match frame {
                Frame::RstStream { stream: 1, code } => {
                    assert_eq!(code, ErrorCode::CANCEL);
                    reset_at = Some(started.elapsed());
                    // The connection goes on: a GET on the next stream is answered.
                    tcp.write_all(&request(&mut encoder, 3, "GET", "/somedir/page.html"))
                        .unwrap();
                }
                Frame::Headers { stream: 3, .. } => got_get = true,
                Frame::GoAway { .. } => panic!("the connection was closed: {frame:?}"),
                _ => {}
            }
        }
    }
    let reset_at = reset_at.expect("stream 1 was reset");
    assert!(reset_at >= Duration::from_millis(1500), "{reset_at:?}");
    assert!(got_get, "stream 3 was not answered");
    assert!(!dir.path().join("upload.bin").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".put-") || name.contains("upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
