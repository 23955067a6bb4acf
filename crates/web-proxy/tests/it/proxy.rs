//! End-to-end behaviour of the proxy against a programmable origin on 127.0.0.1.

use crate::support::*;
use std::time::Duration;
use web_proxy::ProxyConfig;

fn static_page(
    body: &'static str,
    cache_control: &'static str,
) -> impl Fn(&http_proto::RequestHead) -> Vec<u8> + Send + Sync {
    move |_| {
        response(
            "200 OK",
            &[
                ("Cache-Control", cache_control),
                ("ETag", "\"v1\""),
                ("Content-Type", "text/plain"),
            ],
            body.as_bytes(),
        )
    }
}

#[tokio::test]
async fn miss_then_hit_with_age_via_and_x_cache() {
    let origin = Origin::start(static_page("hello", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    let first = send(proxy.addr, "GET", "/a", &[]).await;
    assert_eq!(
        (first.status(), first.cache(), first.body.as_slice()),
        (200, "MISS", &b"hello"[..])
    );
    assert!(first.header("via").unwrap().contains("1.1 applayer"));
    let second = send(proxy.addr, "GET", "/a", &[]).await;
    assert_eq!(
        (second.status(), second.cache(), second.body.as_slice()),
        (200, "HIT", &b"hello"[..])
    );
    assert!(second.header("age").unwrap().parse::<u64>().unwrap() <= 1);
    assert_eq!(second.header("content-length"), Some("5"));
    assert_eq!(second.header("etag"), Some("\"v1\""));
    assert_eq!(origin.count(), 1);
    let (hits, misses, ..) = proxy.stats.snapshot();
    assert_eq!((hits, misses), (1, 1));
    proxy.stop().await;
}

#[tokio::test]
async fn forward_mode_absolute_form() {
    let origin = Origin::start(static_page("fwd", "max-age=60")).await;
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let url = origin.url("/f");
    let first = send(
        proxy.addr,
        "GET",
        &url,
        &[("Host", &origin.addr.to_string())],
    )
    .await;
    assert_eq!((first.status(), first.cache()), (200, "MISS"));
    // The origin got origin-form with its own Host.
    let seen = origin.last_request();
    assert_eq!(seen.target.to_string(), "/f");
    assert_eq!(
        seen.headers.get("host"),
        Some(origin.addr.to_string().as_str())
    );
    let second = web_proxy::get_via(proxy.addr, &url, &[], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (
            second.status(),
            second.cache_status(),
            second.body.as_slice()
        ),
        (200, Some("HIT"), &b"fwd"[..])
    );
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn conditional_get_revalidates_with_304_and_replaces_on_200() {
    let origin = Origin::start(|request: &http_proto::RequestHead| {
        if request.headers.get("if-none-match") == Some("\"v1\"") {
            response(
                "304 Not Modified",
                &[("ETag", "\"v1\""), ("Cache-Control", "max-age=0")],
                b"",
            )
        } else {
            response(
                "200 OK",
                &[
                    ("ETag", "\"v1\""),
                    ("Cache-Control", "max-age=0"),
                    ("Last-Modified", "Wed, 09 Sep 2015 09:23:24 GMT"),
                ],
                b"version one",
            )
        }
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    assert_eq!(send(proxy.addr, "GET", "/page", &[]).await.cache(), "MISS");
    let revalidated = send(proxy.addr, "GET", "/page", &[]).await;
    assert_eq!(
        (
            revalidated.status(),
            revalidated.cache(),
            revalidated.body.as_slice()
        ),
        (200, "REVALIDATED", &b"version one"[..])
    );
    let conditional = origin.last_request();
    assert_eq!(conditional.headers.get("if-none-match"), Some("\"v1\""));
    assert_eq!(
        conditional.headers.get("if-modified-since"),
        Some("Wed, 09 Sep 2015 09:23:24 GMT")
    );
    // The object changes at the origin: the conditional GET gets a 200 that replaces it.
    origin.set(|_| {
        response(
            "200 OK",
            &[("ETag", "\"v2\""), ("Cache-Control", "max-age=60")],
            b"version two",
        )
    });
    let changed = send(proxy.addr, "GET", "/page", &[]).await;
    assert_eq!(
        (changed.cache(), changed.body.as_slice()),
        ("MISS", &b"version two"[..])
    );
    let hit = send(proxy.addr, "GET", "/page", &[]).await;
    assert_eq!(
        (hit.cache(), hit.body.as_slice()),
        ("HIT", &b"version two"[..])
    );
    assert_eq!(origin.count(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn client_conditional_get_answered_from_store() {
    let origin = Origin::start(static_page("body", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    send(proxy.addr, "GET", "/c", &[]).await;
    let not_modified = send(proxy.addr, "GET", "/c", &[("If-None-Match", "\"v1\"")]).await;
    assert_eq!((not_modified.status(), not_modified.cache()), (304, "HIT"));
    assert!(not_modified.body.is_empty());
    let full = send(proxy.addr, "GET", "/c", &[("If-None-Match", "\"other\"")]).await;
    assert_eq!((full.status(), full.body.as_slice()), (200, &b"body"[..]));
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn not_stored_no_store_private_authorization() {
    let origin = Origin::start(|request: &http_proto::RequestHead| {
        let control = match request.target.path() {
            "/no-store" => "no-store",
            "/private" => "private, max-age=60",
            _ => "max-age=60",
        };
        response("200 OK", &[("Cache-Control", control)], b"x")
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    for path in ["/no-store", "/private"] {
        send(proxy.addr, "GET", path, &[]).await;
        assert_eq!(
            send(proxy.addr, "GET", path, &[]).await.cache(),
            "MISS",
            "{path}"
        );
    }
    send(
        proxy.addr,
        "GET",
        "/auth",
        &[("Authorization", "Basic eDp5")],
    )
    .await;
    assert_eq!(send(proxy.addr, "GET", "/auth", &[]).await.cache(), "MISS");
    assert_eq!(origin.count(), 6);
    proxy.stop().await;
}

#[tokio::test]
async fn vary_keeps_variants_apart() {
    let origin = Origin::start(|request: &http_proto::RequestHead| {
        let language = request
            .headers
            .get("accept-language")
            .unwrap_or("none")
            .to_string();
        response(
            "200 OK",
            &[("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
            language.as_bytes(),
        )
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    assert_eq!(
        send(proxy.addr, "GET", "/v", &[("Accept-Language", "fr")])
            .await
            .body,
        b"fr"
    );
    assert_eq!(
        send(proxy.addr, "GET", "/v", &[("Accept-Language", "en")])
            .await
            .body,
        b"en"
    );
    let french = send(proxy.addr, "GET", "/v", &[("Accept-Language", "fr")]).await;
    assert_eq!(
        (french.cache(), french.body.as_slice()),
        ("HIT", &b"fr"[..])
    );
    let none = send(proxy.addr, "GET", "/v", &[]).await;
    assert_eq!((none.cache(), none.body.as_slice()), ("MISS", &b"none"[..]));
    assert_eq!(origin.count(), 3);
    proxy.stop().await;
}

#[tokio::test]
async fn unsafe_methods_invalidate_target_and_location() {
    let origin = Origin::start(|request: &http_proto::RequestHead| match request.method {
        http_proto::Method::Post => response("201 Created", &[("Location", "/items/2")], b"made"),
        _ => response(
            "200 OK",
            &[("Cache-Control", "max-age=600")],
            request.target.path().as_bytes(),
        ),
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    send(proxy.addr, "GET", "/items", &[]).await;
    send(proxy.addr, "GET", "/items/2", &[]).await;
    assert_eq!(send(proxy.addr, "GET", "/items", &[]).await.cache(), "HIT");
    let created = send(proxy.addr, "POST", "/items", &[("Content-Length", "0")]).await;
    assert_eq!(created.status(), 201);
    assert_eq!(send(proxy.addr, "GET", "/items", &[]).await.cache(), "MISS");
    assert_eq!(
        send(proxy.addr, "GET", "/items/2", &[]).await.cache(),
        "MISS"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn head_answered_from_stored_get() {
    let origin = Origin::start(static_page("twelve bytes", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    send(proxy.addr, "GET", "/h", &[]).await;
    let head = send(proxy.addr, "HEAD", "/h", &[]).await;
    assert_eq!(
        (head.status(), head.cache(), head.header("content-length")),
        (200, "HIT", Some("12"))
    );
    assert!(head.body.is_empty());
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn only_if_cached_gives_504_when_not_stored() {
    let origin = Origin::start(static_page("x", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    let reply = send(
        proxy.addr,
        "GET",
        "/o",
        &[("Cache-Control", "only-if-cached")],
    )
    .await;
    assert_eq!(reply.status(), 504);
    assert_eq!(origin.count(), 0);
    send(proxy.addr, "GET", "/o", &[]).await;
    assert_eq!(
        send(
            proxy.addr,
            "GET",
            "/o",
            &[("Cache-Control", "only-if-cached")]
        )
        .await
        .status(),
        200
    );
    proxy.stop().await;
}

#[tokio::test]
async fn origin_failures_give_502_504_or_stale_if_allowed() {
    // Nothing listens: 502.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&format!("http://{dead}/")).unwrap()),
        ..ProxyConfig::default()
    })
    .await;
    assert_eq!(send(proxy.addr, "GET", "/", &[]).await.status(), 502);
    proxy.stop().await;

    // An origin that never answers: 504 within the origin timeout.
    let origin = Origin::start(static_page("slow", "max-age=0, stale-if-error=600")).await;
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        origin_timeout: Duration::from_millis(300),
        ..ProxyConfig::default()
    })
    .await;
    assert_eq!(send(proxy.addr, "GET", "/s", &[]).await.cache(), "MISS");
    // Stored but stale (max-age=0): the origin now hangs, stale-if-error allows the old copy.
    origin.set_delay(Duration::from_secs(5));
    let stale = send(proxy.addr, "GET", "/s", &[]).await;
    assert_eq!(
        (stale.status(), stale.cache(), stale.body.as_slice()),
        (200, "STALE", &b"slow"[..])
    );
    let started = std::time::Instant::now();
    let timeout = send(proxy.addr, "GET", "/never-stored", &[]).await;
    assert_eq!(timeout.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(3));
    // A 5xx while revalidating also allows the stale copy.
    origin.set_delay(Duration::ZERO);
    origin.set(|_| response("503 Service Unavailable", &[], b"down"));
    let stale = send(proxy.addr, "GET", "/s", &[]).await;
    assert_eq!((stale.status(), stale.cache()), (200, "STALE"));
    proxy.stop().await;
}

#[tokio::test]
async fn must_revalidate_gives_504_when_origin_is_down() {
    let origin = Origin::start(static_page(
        "strict",
        "max-age=0, must-revalidate, stale-if-error=600",
    ))
    .await;
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        origin_timeout: Duration::from_millis(300),
        ..ProxyConfig::default()
    })
    .await;
    send(proxy.addr, "GET", "/m", &[]).await;
    origin.set(|_| Vec::new()); // close without answering
    assert_eq!(send(proxy.addr, "GET", "/m", &[]).await.status(), 504);
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_origin_responses_give_502_and_are_not_stored() {
    let origin = Origin::start(|_: &http_proto::RequestHead| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=60\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    assert_eq!(send(proxy.addr, "GET", "/bad", &[]).await.status(), 502);
    origin.set(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\nCache-Control: max-age=60\r\n\r\nhello!".to_vec());
    assert_eq!(send(proxy.addr, "GET", "/bad2", &[]).await.status(), 502);
    origin.set(|_| {
        let mut huge = b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n".to_vec();
        for index in 0..2000 {
            huge.extend_from_slice(format!("X-Filler-{index}: {}\r\n", "y".repeat(40)).as_bytes());
        }
        huge.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        huge
    });
    assert_eq!(
        send(proxy.addr, "GET", "/huge-head", &[]).await.status(),
        502
    );
    // Now a good answer: nothing bad was stored.
    origin.set(static_page("good", "max-age=60"));
    assert_eq!(send(proxy.addr, "GET", "/bad", &[]).await.body, b"good");
    proxy.stop().await;
}

#[tokio::test]
async fn range_requests_from_stored_full_response() {
    let origin = Origin::start(static_page("0123456789", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    send(proxy.addr, "GET", "/r", &[]).await;
    let part = send(proxy.addr, "GET", "/r", &[("Range", "bytes=2-5")]).await;
    assert_eq!(
        (
            part.status(),
            part.body.as_slice(),
            part.header("content-range")
        ),
        (206, &b"2345"[..], Some("bytes 2-5/10"))
    );
    let tail = send(proxy.addr, "GET", "/r", &[("Range", "bytes=-3")]).await;
    assert_eq!(tail.body, b"789");
    let bad = send(proxy.addr, "GET", "/r", &[("Range", "bytes=50-")]).await;
    assert_eq!(
        (bad.status(), bad.header("content-range")),
        (416, Some("bytes */10"))
    );
    let multi = send(proxy.addr, "GET", "/r", &[("Range", "bytes=0-1,8-9")]).await;
    assert_eq!(multi.status(), 206);
    let content_type = multi.header("content-type").unwrap().to_string();
    assert!(
        content_type.starts_with("multipart/byteranges; boundary="),
        "{content_type}"
    );
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    let text = String::from_utf8(multi.body.clone()).unwrap();
    assert!(
        text.contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 8-9/10\r\n\r\n89\r\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("--{boundary}--\r\n")), "{text}");
    let stale_validator = send(
        proxy.addr,
        "GET",
        "/r",
        &[("Range", "bytes=0-1"), ("If-Range", "\"old\"")],
    )
    .await;
    assert_eq!(
        (stale_validator.status(), stale_validator.body.len()),
        (200, 10)
    );
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn concurrent_misses_collapse_into_one_origin_request() {
    let origin = Origin::start(static_page("collapsed", "max-age=60")).await;
    origin.set_delay(Duration::from_millis(300));
    let proxy = Proxy::reverse(&origin).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let addr = proxy.addr;
        tasks.push(tokio::spawn(async move {
            send(addr, "GET", "/same", &[]).await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.body, b"collapsed");
        statuses.push(reply.cache().to_string());
    }
    assert_eq!(origin.count(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|status| *status == "MISS").count(),
        1
    );
    proxy.stop().await;
}

#[tokio::test]
async fn unkeyed_headers_cannot_poison_the_cache() {
    let origin = Origin::start(|request: &http_proto::RequestHead| {
        let host = request
            .headers
            .get("x-forwarded-host")
            .unwrap_or("clean")
            .to_string();
        response(
            "200 OK",
            &[("Cache-Control", "max-age=60")],
            format!("<script src=//{host}/app.js>").as_bytes(),
        )
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    let attacker = send(
        proxy.addr,
        "GET",
        "/home",
        &[("X-Forwarded-Host", "evil.example")],
    )
    .await;
    assert!(!String::from_utf8_lossy(&attacker.body).contains("evil"));
    let victim = send(proxy.addr, "GET", "/home", &[]).await;
    assert_eq!(victim.cache(), "HIT");
    assert!(!String::from_utf8_lossy(&victim.body).contains("evil"));
    proxy.stop().await;
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_background() {
    let origin = Origin::start(static_page("old", "max-age=0, stale-while-revalidate=600")).await;
    let proxy = Proxy::reverse(&origin).await;
    send(proxy.addr, "GET", "/swr", &[]).await;
    origin.set(static_page("new", "max-age=600"));
    let stale = send(proxy.addr, "GET", "/swr", &[]).await;
    assert_eq!(
        (stale.cache(), stale.body.as_slice()),
        ("STALE", &b"old"[..])
    );
    let mut fresh = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let reply = send(proxy.addr, "GET", "/swr", &[]).await;
        if reply.cache() == "HIT" {
            fresh = Some(reply);
            break;
        }
    }
    assert_eq!(fresh.expect("refreshed in the background").body, b"new");
    proxy.stop().await;
}

#[tokio::test]
async fn large_chunked_body_streams_and_is_stored_on_disk() {
    let body: Vec<u8> = (0..3_000_000u32).map(|index| (index % 251) as u8).collect();
    let expected = body.clone();
    let origin = Origin::start(move |_: &http_proto::RequestHead| {
        let mut out =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=600\r\n\r\n"
                .to_vec();
        for chunk in body.chunks(100_000) {
            http_proto::encode_chunk(chunk, &mut out);
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    })
    .await;
    let dir = temp_dir("large");
    let config = ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        cache_dir: Some(dir.clone()),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(config.clone()).await;
    let first = send(proxy.addr, "GET", "/big", &[]).await;
    assert_eq!((first.cache(), first.body.len()), ("MISS", expected.len()));
    assert!(first.body == expected);
    let second = send(proxy.addr, "GET", "/big", &[]).await;
    assert_eq!(second.cache(), "HIT");
    assert!(second.body == expected);
    let part = send(
        proxy.addr,
        "GET",
        "/big",
        &[("Range", "bytes=1000000-1000009")],
    )
    .await;
    assert_eq!(part.body, &expected[1_000_000..1_000_010]);
    let multi = send(
        proxy.addr,
        "GET",
        "/big",
        &[("Range", "bytes=0-4,2000000-2000004")],
    )
    .await;
    assert_eq!(multi.status(), 206);
    let second_part = &multi.body[multi.body.len() - 5 - 2 - 4 - 38..];
    assert!(multi.body.windows(5).any(|window| window == &expected[..5]));
    assert!(second_part
        .windows(5)
        .any(|window| window == &expected[2_000_000..2_000_005]));
    proxy.stop().await;
    // Restart on the same directory: still a hit, no new origin request.
    let proxy = Proxy::start(config).await;
    let third = send(proxy.addr, "GET", "/big", &[]).await;
    assert_eq!(third.cache(), "HIT");
    assert!(third.body == expected);
    assert_eq!(origin.count(), 1);
    proxy.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn disk_store_survives_restart_and_drops_torn_records() {
    let origin = Origin::start(static_page("persisted", "max-age=600")).await;
    let dir = temp_dir("restart");
    let config = ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        cache_dir: Some(dir.clone()),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(config.clone()).await;
    send(proxy.addr, "GET", "/p1", &[]).await;
    send(proxy.addr, "GET", "/p2", &[]).await;
    proxy.stop().await;
    // Tear one record as a crash of a non-atomic writer would.
    let mut records: Vec<_> = std::fs::read_dir(dir.join("objects"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    records.sort();
    assert_eq!(records.len(), 2);
    let len = std::fs::metadata(&records[1]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&records[1])
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let proxy = Proxy::start(config).await;
    let statuses = [
        send(proxy.addr, "GET", "/p1", &[]).await,
        send(proxy.addr, "GET", "/p2", &[]).await,
    ];
    let hits = statuses
        .iter()
        .filter(|reply| reply.cache() == "HIT")
        .count();
    assert_eq!(hits, 1, "one record survived, the torn one was dropped");
    assert!(statuses.iter().all(|reply| reply.body == b"persisted"));
    assert_eq!(origin.count(), 3);
    proxy.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn cache_size_bound_evicts_least_recently_used() {
    let origin = Origin::start(|request: &http_proto::RequestHead| {
        response(
            "200 OK",
            &[("Cache-Control", "max-age=600")],
            &vec![b'z'; 4000 + request.target.path().len()],
        )
    })
    .await;
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        cache_size: 10_000,
        ..ProxyConfig::default()
    })
    .await;
    send(proxy.addr, "GET", "/1", &[]).await;
    send(proxy.addr, "GET", "/2", &[]).await;
    assert_eq!(send(proxy.addr, "GET", "/1", &[]).await.cache(), "HIT");
    send(proxy.addr, "GET", "/3", &[]).await; // evicts /2, the least recently used
    assert_eq!(send(proxy.addr, "GET", "/1", &[]).await.cache(), "HIT");
    assert_eq!(send(proxy.addr, "GET", "/2", &[]).await.cache(), "MISS");
    proxy.stop().await;
}

#[tokio::test]
async fn connect_tunnel_in_forward_mode() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = echo.accept().await.unwrap();
        let mut buffer = [0u8; 5];
        stream.read_exact(&mut buffer).await.unwrap();
        stream.write_all(&buffer).await.unwrap();
    });
    let proxy = Proxy::start(ProxyConfig::default()).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(format!("CONNECT {echo_addr} HTTP/1.1\r\nHost: {echo_addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream.write_all(b"tunnl").await.unwrap();
    let mut echoed = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"tunnl");
    proxy.stop().await;
}

#[tokio::test]
async fn keep_alive_and_pipelined_requests() {
    let origin = Origin::start(static_page("ka", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /k HTTP/1.1\r\nHost: t\r\n\r\nGET /k HTTP/1.1\r\nHost: t\r\n\r\nHEAD /k HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let first = read_reply_buffered(&mut stream, &mut buffer, &http_proto::Method::Get).await;
    let second = read_reply_buffered(&mut stream, &mut buffer, &http_proto::Method::Get).await;
    let third = read_reply_buffered(&mut stream, &mut buffer, &http_proto::Method::Head).await;
    assert_eq!(
        (first.cache(), second.cache(), third.cache()),
        ("MISS", "HIT", "HIT")
    );
    assert_eq!(second.body, b"ka");
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_client_requests_get_400_and_close() {
    let origin = Origin::start(static_page("x", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(origin.count(), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn origin_connections_are_kept_alive_and_reused() {
    let origin = Origin::start(|_: &http_proto::RequestHead| {
        response(
            "200 OK",
            &[("Cache-Control", "no-store")],
            b"fresh every time",
        )
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    for _ in 0..5 {
        let reply = send(proxy.addr, "GET", "/nostore", &[]).await;
        assert_eq!(
            (reply.cache(), reply.body.as_slice()),
            ("MISS", &b"fresh every time"[..])
        );
    }
    assert_eq!(origin.count(), 5);
    assert_eq!(
        proxy
            .stats
            .origin_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    proxy.stop().await;
}

#[tokio::test]
async fn forward_requests_to_the_proxy_itself_are_refused() {
    let proxy = Proxy::start(ProxyConfig::default()).await;
    let url = format!("http://{}/loop", proxy.addr);
    let reply = send(
        proxy.addr,
        "GET",
        &url,
        &[("Host", &proxy.addr.to_string())],
    )
    .await;
    assert_eq!(reply.status(), 508);
    assert_eq!(
        proxy
            .stats
            .origin_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    proxy.stop().await;
}

#[tokio::test]
async fn two_caches_in_a_chain() {
    let origin = Origin::start(static_page("chained", "max-age=60")).await;
    let inner = Proxy::reverse(&origin).await;
    let outer = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&format!("http://{}/", inner.addr)).unwrap()),
        via: "edge".to_string(),
        ..ProxyConfig::default()
    })
    .await;
    let first = send(outer.addr, "GET", "/x", &[]).await;
    assert_eq!(
        (first.cache(), first.header("via")),
        ("MISS", Some("1.1 applayer, 1.1 edge"))
    );
    let second = send(outer.addr, "GET", "/x", &[]).await;
    assert_eq!(
        second.head.headers.get_all("x-cache").collect::<Vec<_>>(),
        vec!["HIT"]
    );
    assert_eq!(second.header("via"), Some("1.1 applayer, 1.1 edge"));
    assert_eq!(origin.count(), 1);
    outer.stop().await;
    inner.stop().await;
}

#[tokio::test]
async fn large_body_hit_from_memory() {
    let body: Vec<u8> = (0..200_000u32).map(|index| (index % 253) as u8).collect();
    let served = body.clone();
    let origin = Origin::start(move |_: &http_proto::RequestHead| {
        response("200 OK", &[("Cache-Control", "max-age=60")], &served)
    })
    .await;
    let proxy = Proxy::reverse(&origin).await;
    assert_eq!(send(proxy.addr, "GET", "/m", &[]).await.body, body);
    let hit = send(proxy.addr, "GET", "/m", &[]).await;
    assert_eq!(hit.cache(), "HIT");
    assert!(hit.body == body);
    proxy.stop().await;
}

#[tokio::test]
async fn date_is_added_when_the_origin_sends_none() {
    let origin = Origin::start(static_page("dateless", "max-age=60")).await;
    let proxy = Proxy::reverse(&origin).await;
    let miss = send(proxy.addr, "GET", "/d", &[]).await;
    let hit = send(proxy.addr, "GET", "/d", &[]).await;
    for reply in [&miss, &hit] {
        let date = reply.header("date").expect("a Date field");
        assert!(http_proto::parse_http_date(date).is_some(), "{date}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn idle_clients_park_and_come_back_then_close_at_their_idle_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start(static_page("parked", "max-age=60")).await;
    let proxy = Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        park: netio::tcp::ParkPolicy {
            after: Duration::from_millis(50),
            live: 1000,
            busy_after: Duration::from_millis(50),
        },
        tcp: netio::tcp::TcpLimits {
            idle_timeout: Duration::from_millis(800),
            ..netio::tcp::TcpLimits::default()
        },
        ..ProxyConfig::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let mut buffer = Vec::new();
    let request = b"GET /p HTTP/1.1\r\nHost: t\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let first = read_reply_buffered(&mut stream, &mut buffer, &http_proto::Method::Get).await;
    // Idle past `park_after`: the connection waits in the lot, and its next request is
    // served on the same connection.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(request).await.unwrap();
        let again = read_reply_buffered(&mut stream, &mut buffer, &http_proto::Method::Get).await;
        assert_eq!(
            (again.cache(), again.body.as_slice()),
            ("HIT", &b"parked"[..])
        );
    }
    assert_eq!(first.cache(), "MISS");
    // Idle past the idle timeout: closed, from the lot.
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "idle deadline not kept"
    );
    // A parked client is closed at once on shutdown.
    let mut idle = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    idle.write_all(request).await.unwrap();
    let mut buffer = Vec::new();
    read_reply_buffered(&mut idle, &mut buffer, &http_proto::Method::Get).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "parked client left open on shutdown"
    );
}
