//! The origin server end to end: raw requests over TCP, checked byte for byte where it matters.

use crate::support::{exchange, seed_site, text, Server, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("")
}

#[test]
fn get_and_head_of_the_seed_page() {
    let dir = TempDir::new("get");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let response = text(&exchange(
        server.addr,
        b"GET /somedir/page.html HTTP/1.1\r\nHost: www.someschool.edu\r\nConnection: close\r\nUser-agent: Mozilla/5.0\r\nAccept-language: fr\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert_eq!(
        header(&response, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&response, "content-length"), Some("48"));
    assert_eq!(header(&response, "connection"), Some("close"));
    assert!(header(&response, "date").unwrap().ends_with(" GMT"));
    assert!(header(&response, "last-modified").is_some());
    assert!(header(&response, "etag").unwrap().starts_with('"'));
    assert!(header(&response, "server").unwrap().starts_with("applayer"));
    assert_eq!(
        body(&response),
        "<html><body>Hello from someschool</body></html>\n"
    );

    let response = text(&exchange(
        server.addr,
        b"HEAD /somedir/page.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(header(&response, "content-length"), Some("48"));
    assert_eq!(body(&response), "");
    let response = text(&exchange(
        server.addr,
        b"GET /someDepartment/home.index HTTP/1.0\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert!(body(&response).contains("img10.jpg"));
    assert_eq!(header(&response, "connection"), Some("close"));
}

#[test]
fn errors_and_methods() {
    let dir = TempDir::new("errors");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let check = |request: &[u8], expected: &str| {
        let response = text(&exchange(server.addr, request));
        assert_eq!(status_line(&response), expected, "{}", text(request));
        response
    };
    check(
        b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
        "HTTP/1.1 404 Not Found",
    );
    let response = check(
        b"POST /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
    check(
        b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 405 Method Not Allowed",
    );
    check(
        b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
        "HTTP/1.1 501 Not Implemented",
    );
    let response = check(
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        "HTTP/1.1 505 HTTP Version Not Supported",
    );
    assert_eq!(header(&response, "connection"), Some("close"));
    check(b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request");
    check(b"garbage\r\n\r\n", "HTTP/1.1 400 Bad Request");
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(10_000));
    check(long.as_bytes(), "HTTP/1.1 414 URI Too Long");
    let many = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X-A: b\r\n".repeat(200)
    );
    check(
        many.as_bytes(),
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
    let response = check(
        b"OPTIONS /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        "HTTP/1.1 204 No Content",
    );
    assert!(header(&response, "allow").is_some());
}

#[test]
fn traversal_and_symlinks_stay_inside_the_root() {
    let outside = TempDir::new("outside");
    outside.write("secret.txt", b"secret");
    let dir = TempDir::new("root");
    seed_site(&dir);
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("index.html"),
        dir.path().join("inside.html"),
    )
    .unwrap();
    let server = Server::with(dir.path(), |_| {});
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/somedir/..%2f..%2fsecret.txt",
        "/link.txt",
        "/linkdir/secret.txt",
        "/.hidden",
        "/a%00b",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        let response = text(&exchange(server.addr, request.as_bytes()));
        assert!(!response.contains("secret"), "{path}: {response}");
        let status = status_line(&response);
        assert!(
            status.contains(" 400 ") || status.contains(" 404 "),
            "{path}: {status}"
        );
    }
    // A symlink that stays inside the root is fine.
    let response = text(&exchange(
        server.addr,
        b"GET /inside.html HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
}

#[test]
fn directories_redirect_index_and_list() {
    let dir = TempDir::new("dirs");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let response = text(&exchange(
        server.addr,
        b"GET /somedir HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 301 Moved Permanently");
    assert_eq!(header(&response, "location"), Some("/somedir/"));
    let response = text(&exchange(
        server.addr,
        b"GET /somedir/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert!(body(&response).contains("page.html"));
    let response = text(&exchange(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(body(&response), "<html><body>root index</body></html>\n");
}

#[test]
fn conditional_and_range_requests() {
    let dir = TempDir::new("cond");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let first = text(&exchange(
        server.addr,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    let etag = header(&first, "etag").unwrap().to_owned();
    let modified = header(&first, "last-modified").unwrap().to_owned();
    let request = format!("GET /big.bin HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n");
    let response = text(&exchange(server.addr, request.as_bytes()));
    assert_eq!(status_line(&response), "HTTP/1.1 304 Not Modified");
    assert_eq!(body(&response), "");
    let request =
        format!("GET /big.bin HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: {modified}\r\n\r\n");
    assert_eq!(
        status_line(&text(&exchange(server.addr, request.as_bytes()))),
        "HTTP/1.1 304 Not Modified"
    );

    let response = exchange(
        server.addr,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=10-19\r\n\r\n",
    );
    let response_text = text(&response);
    assert_eq!(status_line(&response_text), "HTTP/1.1 206 Partial Content");
    assert_eq!(
        header(&response_text, "content-range"),
        Some("bytes 10-19/100000")
    );
    let expected: Vec<u8> = (10..20u8).collect();
    assert!(response.ends_with(&expected));
    let response = text(&exchange(
        server.addr,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,-2\r\n\r\n",
    ));
    assert!(header(&response, "content-type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
    assert_eq!(response.matches("Content-Range: bytes").count(), 2);
    let response = text(&exchange(
        server.addr,
        b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=200000-\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(header(&response, "content-range"), Some("bytes */100000"));
}

#[test]
fn keep_alive_and_pipelining() {
    let dir = TempDir::new("pipe");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let mut request = Vec::new();
    for index in 1..=10 {
        request.extend_from_slice(
            format!("GET /someDepartment/img{index}.jpg HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
    }
    request.extend_from_slice(
        b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = text(&response);
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 11);
    // In order: the lengths of img1..img10, then the page.
    let lengths: Vec<&str> = response
        .match_indices("Content-Length: ")
        .map(|(i, _)| response[i + 16..].split("\r\n").next().unwrap())
        .collect();
    let expected: Vec<String> = (1..=10)
        .map(|i| (1000 + i * 100).to_string())
        .chain(["48".to_string()])
        .collect();
    assert_eq!(lengths, expected);
    assert!(response.ends_with("Hello from someschool</body></html>\n"));
}

#[test]
fn put_and_delete_with_atomic_uploads() {
    let dir = TempDir::new("put");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| config.allow_write = true);
    let response = text(&exchange(
        server.addr,
        b"PUT /new.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 201 Created");
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"hello");
    let response = text(&exchange(
        server.addr,
        b"PUT /new.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nbye\r\n0\r\n\r\n",
    ));
    assert!(
        response.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"),
        "{response}"
    );
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"bye");
    let response = text(&exchange(
        server.addr,
        b"PUT /nodir/x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 409 Conflict");
    let response = text(&exchange(
        server.addr,
        b"PUT /new.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\nContent-Length: 1\r\n\r\nx",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 412 Precondition Failed");

    // A client that vanishes mid-body leaves nothing behind.
    {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(b"PUT /partial.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly a little").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("partial") || n.starts_with(".put-")),
        "{names:?}"
    );

    let response = text(&exchange(
        server.addr,
        b"DELETE /new.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 204 No Content");
    assert!(!dir.path().join("new.txt").exists());
    let response = text(&exchange(
        server.addr,
        b"DELETE /new.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 404 Not Found");
    let response = text(&exchange(
        server.addr,
        b"PUT /big.bin HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 413 Content Too Large");
}

#[test]
fn smuggling_gets_400_and_close() {
    let dir = TempDir::new("smuggle");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| config.allow_write = true);
    for request in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        b"PUT /s.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let response = text(&exchange(server.addr, request));
        assert_eq!(status_line(&response), "HTTP/1.1 400 Bad Request", "{}", text(request));
        assert_eq!(header(&response, "connection"), Some("close"));
        assert_eq!(response.matches("HTTP/1.1").count(), 1, "a smuggled request was answered: {response}");
    }
}

#[test]
fn redirects_and_virtual_hosts() {
    let dir = TempDir::new("vhost");
    seed_site(&dir);
    let other = TempDir::new("vhost-other");
    other.write("index.html", b"other host");
    let other_root = other.path().to_path_buf();
    let server = Server::with(dir.path(), move |config| {
        config.hosts.push(web::VirtualHost {
            name: "www.other.com".into(),
            root: other_root,
        });
        config.redirects.push(web::Redirect {
            host: None,
            from: "/old.html".into(),
            to: "/somedir/page.html".into(),
            status: http_proto::StatusCode::FOUND,
        });
    });
    let response = text(&exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: WWW.Other.com:8080\r\n\r\n",
    ));
    assert_eq!(body(&response), "other host");
    let response = text(&exchange(
        server.addr,
        b"GET /old.html HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 302 Found");
    assert_eq!(header(&response, "location"), Some("/somedir/page.html"));
}

#[test]
fn cookie_site_remembers_users_across_restarts() {
    let dir = TempDir::new("cookie");
    seed_site(&dir);
    let db = dir.path().join("data/cookies.sqlite");
    let start = |db: std::path::PathBuf| {
        Server::with(dir.path(), move |config| {
            config.cookie_site = Some(web::CookieSiteConfig::new(db));
        })
    };
    let server = start(db.clone());
    let response = text(&exchange(
        server.addr,
        b"GET /shop/ HTTP/1.1\r\nHost: www.amazon.com\r\n\r\n",
    ));
    let cookie = header(&response, "set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("id=1678;"), "{cookie}");
    let response = text(&exchange(
        server.addr,
        b"POST /shop/cart HTTP/1.1\r\nHost: a\r\nCookie: id=1678\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nitem=router",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 303 See Other");
    drop(server);
    let server = start(db);
    let response = text(&exchange(
        server.addr,
        b"GET /shop/ HTTP/1.1\r\nHost: a\r\nCookie: id=1678\r\n\r\n",
    ));
    assert!(header(&response, "set-cookie").is_none());
    assert!(body(&response).contains("Welcome back, visitor 1678"));
    assert!(body(&response).contains("router"));
}

#[test]
fn idle_and_header_timeouts_close_connections() {
    let dir = TempDir::new("timeouts");
    seed_site(&dir);
    let server = Server::with(dir.path(), |config| {
        config.timeouts.header_read = Duration::from_millis(300);
        config.timeouts.idle = Duration::from_millis(300);
    });
    // Slowloris: a partial head gets 408 and the connection closes within the header timeout.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    slow.read_to_end(&mut response).unwrap();
    assert!(
        text(&response).starts_with("HTTP/1.1 408 "),
        "{}",
        text(&response)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // An idle keep-alive connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    idle.read_to_end(&mut response).unwrap();
    assert_eq!(text(&response).matches("200 OK").count(), 1);
}

#[test]
fn many_slow_connections_do_not_block_a_normal_client() {
    let dir = TempDir::new("slowloris");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let count = if std::env::var_os("APPLAYER_SLOW").is_some() {
        1000
    } else {
        200
    };
    let mut slow = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let response = text(&exchange(
        server.addr,
        b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    drop(slow);
}

#[test]
fn graceful_shutdown_finishes_the_response_in_flight() {
    let dir = TempDir::new("shutdown");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 15];
    stream.read_exact(&mut first).unwrap();
    let addr = server.addr;
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert_eq!(&first, b"HTTP/1.1 200 OK");
}

#[test]
fn large_files_stream_intact_on_a_kept_alive_connection() {
    let dir = TempDir::new("large");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    dir.write("large.bin", &big);
    let server = Server::with(dir.path(), |_| {});
    let response = exchange(
        server.addr,
        b"GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /large.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1000000-\r\nConnection: close\r\n\r\n",
    );
    let first_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&response[first_end..first_end + big.len()], &big[..]);
    let rest = &response[first_end + big.len()..];
    assert!(rest.starts_with(b"HTTP/1.1 206 Partial Content\r\n"));
    let second_end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&rest[second_end..], &big[1_000_000..]);
}

#[test]
fn idle_connections_park_and_resume() {
    let dir = TempDir::new("park");
    seed_site(&dir);
    // Park at once after every response: each request on these connections is served by a
    // task started when its socket turned readable in netio's idle lot.
    let server = Server::with(dir.path(), |config| {
        config.park = netio::tcp::ParkPolicy {
            after: Duration::ZERO,
            live: 0,
            busy_after: Duration::ZERO,
        };
        config.timeouts.idle = Duration::from_millis(800);
    });
    let mut streams: Vec<TcpStream> = (0..30)
        .map(|_| {
            let stream = TcpStream::connect(server.addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
        })
        .collect();
    let read_response = |stream: &mut TcpStream, expect: usize| {
        let mut response = Vec::new();
        let mut buffer = [0u8; 8192];
        while text(&response).matches("Hello from someschool").count() < expect {
            let n = stream.read(&mut buffer).unwrap();
            assert!(n > 0, "connection closed early: {}", text(&response));
            response.extend_from_slice(&buffer[..n]);
        }
        response
    };
    for round in 0..3 {
        for stream in &mut streams {
            stream
                .write_all(b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let response = read_response(stream, 1);
            assert!(
                text(&response).starts_with("HTTP/1.1 200 OK"),
                "round {round}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Pipelined requests on a parked connection are all answered, in order.
    let pipelined = b"GET /somedir/page.html HTTP/1.1\r\nHost: a\r\n\r\n".repeat(3);
    streams[0].write_all(&pipelined).unwrap();
    let response = read_response(&mut streams[0], 3);
    assert_eq!(text(&response).matches("HTTP/1.1 200 OK").count(), 3);
    // A parked connection is closed at its idle deadline (800 ms), not before.
    let started = Instant::now();
    let mut rest = Vec::new();
    streams[1].read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(500) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

#[test]
fn cached_fast_path_answers_exactly_like_the_full_path() {
    let dir = TempDir::new("fastpath");
    seed_site(&dir);
    let server = Server::with(dir.path(), |_| {});
    let without_date = |response: Vec<u8>| -> String {
        text(&response)
            .split("\r\n")
            .filter(|line| !line.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    for (method, version, extra) in [
        ("GET", "HTTP/1.1", ""),
        ("HEAD", "HTTP/1.1", ""),
        ("GET", "HTTP/1.1", "Connection: close\r\n"),
        ("GET", "HTTP/1.0", ""),
    ] {
        // A plain request takes the cached fast path; one with a precondition that holds
        // (no such entity tag) takes the full path to the same 200.
        let plain = format!(
            "{method} /somedir/page.html {version}\r\nHost: a\r\n{extra}Connection: close\r\n\r\n"
        );
        let conditional = format!(
            "{method} /somedir/page.html {version}\r\nHost: a\r\nIf-None-Match: \"other\"\r\n{extra}Connection: close\r\n\r\n"
        );
        let fast = without_date(exchange(server.addr, plain.as_bytes()));
        let full = without_date(exchange(server.addr, conditional.as_bytes()));
        assert!(fast.starts_with("HTTP/1.1 200 OK"), "{fast}");
        assert_eq!(fast, full, "{method} {version} {extra}");
    }
}
