//! Interoperability with real clients: curl, wget and Python's http.client against our server.

use crate::support::{run, seed_site, tool, Server, TempDir};
use std::process::Command;

#[test]
fn curl_methods_conditional_range_and_reuse() {
    let Some(curl) = tool("curl") else { return };
    let dir = TempDir::new("curl");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| config.allow_write = true);
    // GET, and keep-alive reuse of one connection for two URLs.
    let (ok, _, stderr) = run(Command::new(&curl).args([
        "-sS",
        "-v",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        &server.url("/somedir/page.html"),
        &server.url("/someDepartment/img1.jpg"),
    ]));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "{stderr}"
    );
    // HEAD
    let (ok, stdout, _) = run(Command::new(&curl).args(["-sS", "-I", &server.url("/big.bin")]));
    assert!(ok && stdout.contains("Content-Length: 100000"), "{stdout}");
    // Range
    let (ok, stdout, _) =
        run(Command::new(&curl).args(["-sS", "-r", "0-9", &server.url("/somedir/page.html")]));
    assert!(ok);
    assert_eq!(stdout, "<html><bod");
    // Conditional: -z with a date after the file's mtime gives 304.
    let (ok, stdout, _) = run(Command::new(&curl).args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-z",
        "Fri, 01 Jan 2100 00:00:00 GMT",
        &server.url("/somedir/page.html"),
    ]));
    assert!(ok);
    assert_eq!(stdout, "304");
    // PUT, then GET it back, then DELETE.
    let upload = dir.path().join("upload.src");
    std::fs::write(&upload, b"uploaded by curl").unwrap();
    let (ok, stdout, _) = run(Command::new(&curl).args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-T",
        upload.to_str().unwrap(),
        &server.url("/from-curl.txt"),
    ]));
    assert!(ok);
    assert_eq!(stdout, "201");
    let (_, stdout, _) = run(Command::new(&curl).args(["-sS", &server.url("/from-curl.txt")]));
    assert_eq!(stdout, "uploaded by curl");
    let (_, stdout, _) = run(Command::new(&curl).args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "DELETE",
        &server.url("/from-curl.txt"),
    ]));
    assert_eq!(stdout, "204");
    // HTTP/1.0
    let (ok, stdout, _) =
        run(Command::new(&curl).args(["-sS", "-0", &server.url("/somedir/page.html")]));
    assert!(ok && stdout.contains("Hello from someschool"));
    // Cookies with a jar.
    let jar = dir.path().join("jar.txt");
    let server = Server::with(dir.path(), |config| {
        config.cookie_site = Some(web::CookieSiteConfig::new(dir.path().join("c.sqlite")));
    });
    let (ok, stdout, _) =
        run(Command::new(&curl).args(["-sS", "-c", jar.to_str().unwrap(), &server.url("/shop/")]));
    assert!(ok && stdout.contains("new visitor"), "{stdout}");
    let (ok, stdout, _) =
        run(Command::new(&curl).args(["-sS", "-b", jar.to_str().unwrap(), &server.url("/shop/")]));
    assert!(ok && stdout.contains("Welcome back"), "{stdout}");
}

#[test]
fn wget_mirrors_the_page_with_its_objects() {
    let Some(wget) = tool("wget") else { return };
    let dir = TempDir::new("wget");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let out = TempDir::new("wget-out");
    let (ok, _, stderr) = run(Command::new(&wget).args([
        "-q",
        "-p",
        "-nH",
        "-P",
        out.path().to_str().unwrap(),
        &server.url("/someDepartment/home.index"),
    ]));
    assert!(ok, "{stderr}");
    for index in 1..=10 {
        let got = std::fs::read(out.path().join(format!("someDepartment/img{index}.jpg"))).unwrap();
        assert_eq!(got.len(), 1000 + index * 100);
    }
    assert!(out.path().join("js/app.js").exists());
    // Conditional re-fetch with timestamps: nothing is downloaded again.
    let (ok, _, stderr) = run(Command::new(&wget).args([
        "-N",
        "-S",
        "-P",
        out.path().to_str().unwrap(),
        &server.url("/big.bin"),
    ]));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(Command::new(&wget).args([
        "-N",
        "-S",
        "-P",
        out.path().to_str().unwrap(),
        &server.url("/big.bin"),
    ]));
    assert!(ok);
    assert!(
        stderr.contains("not retrieving") || stderr.contains("304"),
        "{stderr}"
    );
}

#[test]
fn python_http_client_keep_alive_pipelining_and_methods() {
    let Some(python) = tool("python3") else {
        return;
    };
    let dir = TempDir::new("python");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| {
        config.allow_write = true;
        // Idle connections park after 100 ms, so the script's pause below parks its one.
        config.park.after = std::time::Duration::from_millis(100);
    });
    let script = r#"
import http.client, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(host, port, timeout=5)
c.request("GET", "/somedir/page.html")
r = c.getresponse(); body = r.read()
assert r.status == 200 and b"someschool" in body, (r.status, body)
sock = c.sock
c.request("HEAD", "/big.bin")
r = c.getresponse(); r.read()
assert r.status == 200 and r.getheader("Content-Length") == "100000"
assert c.sock is sock, "connection not reused"
c.request("PUT", "/py.txt", body=b"from python", headers={"Expect": "100-continue"})
r = c.getresponse(); r.read()
assert r.status == 201, r.status
etag = None
c.request("GET", "/py.txt")
r = c.getresponse(); assert r.read() == b"from python"; etag = r.getheader("ETag")
c.request("GET", "/py.txt", headers={"If-None-Match": etag})
r = c.getresponse(); r.read(); assert r.status == 304, r.status
c.request("GET", "/big.bin", headers={"Range": "bytes=99990-"})
r = c.getresponse(); data = r.read()
assert r.status == 206 and len(data) == 10, (r.status, len(data))
c.request("DELETE", "/py.txt")
r = c.getresponse(); r.read(); assert r.status == 204
assert c.sock is sock, "connection not reused"
# Idle long enough to be parked by the server, then reused: served as if nothing happened.
time.sleep(0.4)
c.request("GET", "/somedir/page.html")
r = c.getresponse(); body = r.read()
assert r.status == 200 and b"someschool" in body, (r.status, body)
assert c.sock is sock, "connection not reused after parking"
# Pipelining on a raw socket: three requests in one write, three responses in order.
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"".join(b"GET /someDepartment/img%d.jpg HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (1, 2, 3)) + b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
assert data.count(b"HTTP/1.1 200 OK") == 4, data[:200]
print("ok")
"#;
    let (ok, stdout, stderr) = run(Command::new(&python).args([
        "-c",
        script,
        &server.addr.ip().to_string(),
        &server.addr.port().to_string(),
    ]));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "ok");
}

#[test]
fn headless_chromium_renders_a_page_with_images() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let dir = TempDir::new("chromium");
    let mut html = String::from(
        "<!DOCTYPE html><html><body style=\"margin:0;background:#fff\"><h1>someSchool</h1>\n",
    );
    for (index, color) in ["#d22", "#2a2", "#22d", "#dd2"].iter().enumerate() {
        dir.write(
            &format!("img{index}.svg"),
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"100\"><rect width=\"100\" height=\"100\" fill=\"{color}\"/></svg>").as_bytes(),
        );
        html.push_str(&format!(
            "<img src=\"img{index}.svg\" width=\"100\" height=\"100\">\n"
        ));
    }
    html.push_str("</body></html>\n");
    dir.write("page.html", html.as_bytes());
    let server = Server::with(dir.path(), |_| {});
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let (ok, stdout, stderr) = run(Command::new(&chromium).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--screenshot={}", shot.display()),
        "--window-size=640,300",
        &server.url("/page.html"),
    ]));
    assert!(ok, "{stdout}{stderr}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        png.len() > 1000,
        "screenshot too small: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("APPLAYER_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
