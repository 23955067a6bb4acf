//! The proxy as a CDN edge (`cdn_edge`, `applayer web proxy --cdn-edge`): RFC 9213
//! `CDN-Cache-Control` ahead of `Cache-Control`, and interim 1xx responses from the origin.

use crate::support::*;
use web_proxy::ProxyConfig;

/// Reverse proxy in front of `origin`, as a CDN edge or not.
async fn proxy(origin: &Origin, cdn_edge: bool) -> Proxy {
    Proxy::start(ProxyConfig {
        origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
        cdn_edge,
        ..ProxyConfig::default()
    })
    .await
}

/// An origin answering every request with 200, these fields and body `cdn`.
async fn origin_with(fields: &'static [(&'static str, &'static str)]) -> Origin {
    Origin::start(move |_| response("200 OK", fields, b"cdn")).await
}

/// The `X-Cache` of two GETs of `/p` in a row.
async fn twice(proxy: &Proxy) -> (Reply, Reply) {
    let first = send(proxy.addr, "GET", "/p", &[]).await;
    let second = send(proxy.addr, "GET", "/p", &[]).await;
    (first, second)
}

#[tokio::test]
async fn edge_stores_by_cdn_cache_control_and_forwards_both_fields() {
    // RFC 9213 §3.1: fresh for 600 s at a CDN cache, not stored by any other cache.
    const FIELDS: &[(&str, &str)] = &[
        ("CDN-Cache-Control", "max-age=600"),
        ("Cache-Control", "no-store"),
    ];
    let origin = origin_with(FIELDS).await;
    let edge = proxy(&origin, true).await;
    let (first, second) = twice(&edge).await;
    assert_eq!((first.status(), first.cache()), (200, "MISS"));
    assert_eq!(
        (second.status(), second.cache(), second.body.as_slice()),
        (200, "HIT", &b"cdn"[..])
    );
    assert!(second.header("age").unwrap().parse::<u64>().unwrap() <= 1);
    assert_eq!(origin.count(), 1);
    // RFC 9213 §3: the edge forwards CDN-Cache-Control for downstream CDN caches, and
    // Cache-Control for everyone else, on a miss and on a hit.
    for reply in [&first, &second] {
        assert_eq!(reply.header("cdn-cache-control"), Some("max-age=600"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    edge.stop().await;

    // Not an edge: CDN-Cache-Control changes nothing (RFC 9213 §2.1) and passes through.
    let plain = proxy(&origin, false).await;
    let (first, second) = twice(&plain).await;
    assert_eq!((first.cache(), second.cache()), ("MISS", "MISS"));
    assert_eq!(second.header("cdn-cache-control"), Some("max-age=600"));
    assert_eq!(origin.count(), 3);
    plain.stop().await;
}

#[tokio::test]
async fn edge_obeys_cdn_no_store_over_cache_control_max_age() {
    const FIELDS: &[(&str, &str)] = &[
        ("CDN-Cache-Control", "no-store"),
        ("Cache-Control", "max-age=600"),
    ];
    let origin = origin_with(FIELDS).await;
    let edge = proxy(&origin, true).await;
    let (first, second) = twice(&edge).await;
    assert_eq!((first.cache(), second.cache()), ("MISS", "MISS"));
    assert_eq!(origin.count(), 2);
    edge.stop().await;

    let plain = proxy(&origin, false).await;
    let (first, second) = twice(&plain).await;
    assert_eq!((first.cache(), second.cache()), ("MISS", "HIT"));
    plain.stop().await;
}

#[tokio::test]
async fn edge_falls_back_to_cache_control_when_cdn_cache_control_is_invalid() {
    // RFC 9213 §2.2: a parsing error makes the cache ignore the field (a trailing comma is
    // not an sf-dictionary), so Cache-Control decides: stored, fresh for 60 s.
    const FIELDS: &[(&str, &str)] = &[
        ("CDN-Cache-Control", "no-store,"),
        ("Cache-Control", "max-age=60"),
    ];
    let origin = origin_with(FIELDS).await;
    let edge = proxy(&origin, true).await;
    let (first, second) = twice(&edge).await;
    assert_eq!((first.cache(), second.cache()), ("MISS", "HIT"));
    assert_eq!(origin.count(), 1);
    edge.stop().await;
}

#[tokio::test]
async fn interim_responses_from_the_origin_are_skipped_and_never_stored() {
    // RFC 9110 §15.2: 1xx responses are interim; the final response follows on the same
    // connection. The proxy drops them (it does not forward 103 to HTTP/1.1 clients), answers
    // with the final response, and stores that one only (RFC 9111 §3).
    let origin = Origin::start(|_| {
        let mut answer = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            .to_vec();
        answer.extend(response(
            "200 OK",
            &[
                ("Cache-Control", "max-age=60"),
                ("Link", "</style.css>; rel=preload"),
            ],
            b"final",
        ));
        answer
    })
    .await;
    for cdn_edge in [false, true] {
        let edge = proxy(&origin, cdn_edge).await;
        let (first, second) = twice(&edge).await;
        for (reply, cache) in [(&first, "MISS"), (&second, "HIT")] {
            assert_eq!(
                (reply.status(), reply.cache(), reply.body.as_slice()),
                (200, cache, &b"final"[..]),
                "cdn_edge {cdn_edge}"
            );
        }
        // The connection stays in step: a third request on the pooled origin connection.
        let third = send(edge.addr, "GET", "/other", &[]).await;
        assert_eq!(
            (third.status(), third.body.as_slice()),
            (200, &b"final"[..])
        );
        edge.stop().await;
    }
    assert_eq!(origin.count(), 4);
}
