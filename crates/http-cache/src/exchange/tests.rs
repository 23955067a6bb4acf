//! The exchange machine in virtual time: each RFC 9111 / RFC 5861 behaviour once, with a
//! store that is a map and a clock that is a number, and no sockets.

use super::*;
use crate::freshness::from_unix_seconds;
use crate::key::variant_matches;
use http_proto::{fmt_http_date, parse_request, parse_response, Limits};
use std::collections::HashMap;

const EPOCH: u64 = 1_800_000_000;

fn at(seconds: u64) -> SystemTime {
    from_unix_seconds(EPOCH + seconds)
}

fn config() -> ExchangeConfig {
    config_of(CacheKind::Shared)
}

fn config_of(kind: CacheKind) -> ExchangeConfig {
    ExchangeConfig {
        kind,
        max_object_size: 1024,
    }
}

fn request(text: &str) -> RequestHead {
    let raw = format!("{}\r\n\r\n", text.replace('\n', "\r\n"));
    parse_request(raw.as_bytes(), &Limits::default())
        .expect("valid request")
        .expect("complete request")
        .head
}

/// A response head received at `seconds` (its `Date`), with these fields.
fn response(status: &str, seconds: u64, fields: &[&str]) -> (ResponseHead, BodyKind) {
    let mut raw = format!(
        "HTTP/1.1 {status}\r\nDate: {}\r\n",
        fmt_http_date(at(seconds))
    );
    for field in fields {
        raw.push_str(field);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    let parsed = parse_response(raw.as_bytes(), &Limits::default(), &Method::Get)
        .expect("valid response")
        .expect("complete response");
    (parsed.head, parsed.body)
}

fn target() -> Uri {
    Uri::parse("http://origin.example/page").expect("uri")
}

/// A store: entries by key, selected by Vary as a store does.
#[derive(Default)]
struct Store {
    entries: HashMap<String, Vec<Entry>>,
}

impl Store {
    fn lookup(&self, key: &CacheKey, request: &RequestHead) -> Option<&Entry> {
        self.entries
            .get(key.as_str())?
            .iter()
            .find(|entry| variant_matches(&entry.meta.variant, &request.headers))
    }

    fn put(&mut self, entry: Entry) {
        let list = self.entries.entry(entry.meta.key.clone()).or_default();
        list.retain(|old| old.meta.variant != entry.meta.variant);
        list.push(entry);
    }
}

/// Runs a request through a miss at `seconds` with the origin answering `status` and
/// `fields`, storing what the machine says to store; returns the forward action.
fn fill(store: &mut Store, text: &str, seconds: u64, status: &str, fields: &[&str]) -> Action {
    fill_as(CacheKind::Shared, store, text, seconds, status, fields)
}

/// [`fill`] for a cache of `kind`.
fn fill_as(
    kind: CacheKind,
    store: &mut Store,
    text: &str,
    seconds: u64,
    status: &str,
    fields: &[&str],
) -> Action {
    let head = request(text);
    let mut exchange = Exchange::new(&head, &target(), config_of(kind));
    assert_eq!(exchange.start(), Action::Lookup);
    let found = store.lookup(exchange.key(), &head).cloned();
    let action = exchange.looked_up(found.as_ref(), at(seconds));
    let action = match action {
        Action::Join => exchange.joined(true),
        other => other,
    };
    assert!(matches!(action, Action::Fetch { .. }), "{action:?}");
    let (response, body) = response(status, seconds, fields);
    let action = exchange.upstream_head(found.as_ref(), &response, body, at(seconds), at(seconds));
    if let Action::Forward {
        store: Some(entry), ..
    } = &action
    {
        store.put((**entry).clone());
    }
    action
}

/// The first action after the lookup of `text` at `seconds`.
fn decide(store: &Store, text: &str, seconds: u64) -> Action {
    decide_as(CacheKind::Shared, store, text, seconds)
}

/// [`decide`] for a cache of `kind`.
fn decide_as(kind: CacheKind, store: &Store, text: &str, seconds: u64) -> Action {
    let head = request(text);
    let mut exchange = Exchange::new(&head, &target(), config_of(kind));
    assert_eq!(exchange.start(), Action::Lookup);
    let found = store.lookup(exchange.key(), &head);
    exchange.looked_up(found, at(seconds))
}

const GET: &str = "GET http://origin.example/page HTTP/1.1\nHost: origin.example";

fn stored(action: &Action) -> bool {
    matches!(action, Action::Forward { store: Some(_), .. })
}

#[test]
fn fresh_response_is_served_with_its_age() {
    // §4.2: fresh while age < max-age; Age counts from the response's Date.
    let mut store = Store::default();
    assert!(stored(&fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "Content-Length: 5"]
    )));
    assert_eq!(
        decide(&store, GET, 10),
        Action::Serve {
            age: 10,
            status: CacheStatus::Hit
        }
    );
}

#[test]
fn heuristic_freshness_from_last_modified() {
    // §4.2.2: no explicit lifetime, a 200 with Last-Modified 1000 s old: 10% of that.
    let mut store = Store::default();
    let last_modified = format!("Last-Modified: {}", fmt_http_date(at(0)));
    fill(&mut store, GET, 1000, "200 OK", &[&last_modified]);
    assert!(matches!(
        decide(&store, GET, 1050),
        Action::Serve {
            status: CacheStatus::Hit,
            ..
        }
    ));
    assert!(matches!(decide(&store, GET, 1200), Action::Fetch { .. }));
}

#[test]
fn stale_response_is_revalidated_and_a_304_freshens_it() {
    // §4.3.1: the validators go out; §4.3.4: the 304 updates the stored fields and times.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &[
            "Cache-Control: max-age=10",
            "ETag: \"v1\"",
            "Content-Length: 5",
        ],
    );
    let head = request(GET);
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    let found = store.lookup(exchange.key(), &head).cloned();
    let Action::Fetch {
        validators,
        register,
    } = exchange.looked_up(found.as_ref(), at(100))
    else {
        panic!("not a fetch");
    };
    assert!(register);
    assert_eq!(
        validators,
        [("If-None-Match", "\"v1\"")]
            .into_iter()
            .collect::<HeaderMap>()
    );
    let (not_modified, body) = response(
        "304 Not Modified",
        100,
        &["ETag: \"v1\"", "Cache-Control: max-age=30"],
    );
    let Action::Refresh { entry } =
        exchange.upstream_head(found.as_ref(), &not_modified, body, at(100), at(100))
    else {
        panic!("not a refresh");
    };
    assert_eq!(entry.freshness.lifetime, 30);
    assert_eq!(
        exchange.refreshed(&entry, at(105)),
        Action::Serve {
            age: 5,
            status: CacheStatus::Revalidated
        }
    );
}

#[test]
fn a_304_for_another_representation_refetches_in_full() {
    // §4.3.3: a 304 whose validator selects nothing stored: ask again, unconditionally.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=10", "ETag: \"v1\""],
    );
    let head = request(GET);
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    let found = store.lookup(exchange.key(), &head).cloned();
    exchange.looked_up(found.as_ref(), at(100));
    let (not_modified, body) = response("304 Not Modified", 100, &["ETag: \"v2\""]);
    assert_eq!(
        exchange.upstream_head(found.as_ref(), &not_modified, body, at(100), at(100)),
        Action::Fetch {
            validators: HeaderMap::new(),
            register: false
        }
    );
    let (full, body) = response("200 OK", 100, &["ETag: \"v2\"", "Content-Length: 3"]);
    let action = exchange.upstream_head(found.as_ref(), &full, body, at(100), at(101));
    assert!(stored(&action), "{action:?}");
}

#[test]
fn what_may_not_be_stored_is_not() {
    // §3: no-store; §3.5: private in a shared cache, and Authorization without public.
    let mut store = Store::default();
    for fields in [
        &["Cache-Control: no-store"][..],
        &["Cache-Control: private, max-age=60"],
    ] {
        let action = fill(&mut store, GET, 0, "200 OK", fields);
        assert!(!stored(&action), "{fields:?}: {action:?}");
    }
    let authorized = format!("{GET}\nAuthorization: Basic YTpi");
    assert!(!stored(&fill(
        &mut store,
        &authorized,
        0,
        "200 OK",
        &["Cache-Control: max-age=60"]
    )));
    assert!(stored(&fill(
        &mut store,
        &authorized,
        0,
        "200 OK",
        &["Cache-Control: public, max-age=60"]
    )));
    // Larger than the largest object: forwarded, not stored.
    assert!(!stored(&fill(
        &mut Store::default(),
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "Content-Length: 4096"]
    )));
}

#[test]
fn an_unstorable_replacement_drops_the_stored_entry() {
    // §4.3.3: the full response replaces the stored one even when it may not be stored.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=10", "ETag: \"v1\""],
    );
    let action = fill(&mut store, GET, 100, "200 OK", &["Cache-Control: no-store"]);
    assert!(
        matches!(
            action,
            Action::Forward {
                store: None,
                drop_stored: true,
                ..
            }
        ),
        "{action:?}"
    );
}

#[test]
fn request_directives() {
    let mut store = Store::default();
    fill(&mut store, GET, 0, "200 OK", &["Cache-Control: max-age=60"]);
    // §5.2.1.1 max-age: older than the client accepts.
    let max_age = format!("{GET}\nCache-Control: max-age=5");
    assert!(matches!(decide(&store, &max_age, 10), Action::Fetch { .. }));
    // §5.2.1.3 min-fresh: not fresh for long enough.
    let min_fresh = format!("{GET}\nCache-Control: min-fresh=55");
    assert!(matches!(
        decide(&store, &min_fresh, 10),
        Action::Fetch { .. }
    ));
    // §5.2.1.4 no-cache (and Pragma: no-cache, §5.4): validate first.
    let no_cache = format!("{GET}\nPragma: no-cache");
    assert!(matches!(
        decide(&store, &no_cache, 10),
        Action::Fetch { .. }
    ));
    // §5.2.1.2 max-stale: a stale response the client accepts.
    let max_stale = format!("{GET}\nCache-Control: max-stale=100");
    assert_eq!(
        decide(&store, &max_stale, 120),
        Action::Serve {
            age: 120,
            status: CacheStatus::Stale
        }
    );
    assert!(matches!(decide(&store, GET, 120), Action::Fetch { .. }));
}

#[test]
fn only_if_cached_gets_504_without_a_fresh_copy() {
    // §5.2.1.7.
    let mut store = Store::default();
    let only = format!("{GET}\nCache-Control: only-if-cached");
    assert!(matches!(
        decide(&store, &only, 0),
        Action::Error { status, .. } if status == StatusCode::GATEWAY_TIMEOUT
    ));
    fill(&mut store, GET, 0, "200 OK", &["Cache-Control: max-age=60"]);
    assert!(matches!(decide(&store, &only, 10), Action::Serve { .. }));
    assert!(matches!(
        decide(&store, &only, 100),
        Action::Error { status, .. } if status == StatusCode::GATEWAY_TIMEOUT
    ));
}

#[test]
fn stale_while_revalidate_serves_and_revalidates_in_the_background() {
    // RFC 5861 §3.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &[
            "Cache-Control: max-age=10, stale-while-revalidate=30",
            "Last-Modified: Wed, 09 Sep 2015 09:23:24 GMT",
        ],
    );
    assert_eq!(
        decide(&store, GET, 20),
        Action::ServeAndRevalidate { age: 20 }
    );
    let head = request(GET);
    let entry = store
        .lookup(&CacheKey::from_uri("GET", &target()), &head)
        .cloned();
    let entry = entry.expect("stored");
    let (mut background, fetch) = Exchange::background(&head, &target(), config(), &entry);
    assert!(background.is_background());
    assert_eq!(
        fetch,
        Action::Fetch {
            validators: [("If-Modified-Since", "Wed, 09 Sep 2015 09:23:24 GMT")]
                .into_iter()
                .collect(),
            register: false
        }
    );
    let (not_modified, body) = response("304 Not Modified", 20, &[]);
    assert!(matches!(
        background.upstream_head(Some(&entry), &not_modified, body, at(20), at(20)),
        Action::Refresh { .. }
    ));
    // Past the window: revalidate first.
    assert!(matches!(decide(&store, GET, 50), Action::Fetch { .. }));
}

#[test]
fn stale_if_error_covers_failures_and_5xx() {
    // RFC 5861 §4: a stale entry answers when the origin is down or says 500/502/503/504.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=10, stale-if-error=60"],
    );
    let head = request(GET);
    let found = store
        .lookup(&CacheKey::from_uri("GET", &target()), &head)
        .cloned();
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    exchange.looked_up(found.as_ref(), at(30));
    assert_eq!(
        exchange.upstream_failed(
            found.as_ref(),
            UpstreamFailure::Unreachable,
            "refused",
            at(30)
        ),
        Action::Serve {
            age: 30,
            status: CacheStatus::Stale
        }
    );
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    exchange.looked_up(found.as_ref(), at(30));
    let (unavailable, body) = response("503 Service Unavailable", 30, &[]);
    assert!(matches!(
        exchange.upstream_head(found.as_ref(), &unavailable, body, at(30), at(30)),
        Action::Serve {
            status: CacheStatus::Stale,
            ..
        }
    ));
    // Beyond the window: the failure shows (504 for a timeout).
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    exchange.looked_up(found.as_ref(), at(100));
    assert!(matches!(
        exchange.upstream_failed(found.as_ref(), UpstreamFailure::Timeout, "timed out", at(100)),
        Action::Error { status, .. } if status == StatusCode::GATEWAY_TIMEOUT
    ));
}

#[test]
fn must_revalidate_gives_504_when_the_origin_is_down() {
    // §5.2.2.2: never served stale, even when the client would accept it.
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=10, must-revalidate"],
    );
    let text = format!("{GET}\nCache-Control: max-stale=1000");
    let head = request(&text);
    let found = store
        .lookup(&CacheKey::from_uri("GET", &target()), &head)
        .cloned();
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    assert!(matches!(
        exchange.looked_up(found.as_ref(), at(30)),
        Action::Fetch { .. }
    ));
    assert!(matches!(
        exchange.upstream_failed(found.as_ref(), UpstreamFailure::Unreachable, "refused", at(30)),
        Action::Error { status, .. } if status == StatusCode::GATEWAY_TIMEOUT
    ));
}

#[test]
fn unsafe_methods_pass_through_and_invalidate() {
    // §4.4: a non-error response to an unsafe method invalidates; an error one does not.
    let head = request(
        "POST http://origin.example/page HTTP/1.1\nHost: origin.example\nContent-Length: 0",
    );
    for (status, invalidate) in [("201 Created", true), ("500 Internal Server Error", false)] {
        let mut exchange = Exchange::new(&head, &target(), config());
        assert_eq!(exchange.start(), Action::PassThrough);
        let (answer, body) = response(status, 0, &["Cache-Control: max-age=60"]);
        assert_eq!(
            exchange.upstream_head(None, &answer, body, at(0), at(0)),
            Action::Forward {
                store: None,
                drop_stored: false,
                not_modified: false,
                invalidate
            }
        );
    }
}

#[test]
fn collapsed_forwarding_waits_once() {
    let store = Store::default();
    let head = request(GET);
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    assert_eq!(exchange.looked_up(None, at(0)), Action::Join);
    // Another fetch is in flight: wait for it, then look again.
    assert_eq!(exchange.joined(false), Action::Wait);
    // Still nothing (the leader's response was not storable): fetch, without waiting again.
    assert_eq!(
        exchange.looked_up(store.lookup(exchange.key(), &head), at(1)),
        Action::Fetch {
            validators: HeaderMap::new(),
            register: false
        }
    );
}

#[test]
fn client_validators_against_stored_and_fetched_responses() {
    // §4.3.2: the client's If-None-Match against the stored response, and against a
    // response just fetched for it.
    let mut store = Store::default();
    let conditional = format!("{GET}\nIf-None-Match: \"v1\"");
    let action = fill(
        &mut store,
        &conditional,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "ETag: \"v1\""],
    );
    assert!(
        matches!(
            action,
            Action::Forward {
                store: Some(_),
                not_modified: true,
                ..
            }
        ),
        "{action:?}"
    );
    let entry = store
        .lookup(&CacheKey::from_uri("GET", &target()), &request(GET))
        .expect("stored")
        .clone();
    assert_eq!(
        stored_reply(&request(&conditional), &entry),
        StoredReply::NotModified
    );
    let other = format!("{GET}\nIf-None-Match: \"v0\"");
    assert_eq!(stored_reply(&request(&other), &entry), StoredReply::Full);
}

#[test]
fn ranges_of_stored_and_unstored_responses() {
    let mut store = Store::default();
    let ranged = format!("{GET}\nRange: bytes=0-1");
    // Not stored: through to the origin.
    assert_eq!(decide(&store, &ranged, 0), Action::PassThrough);
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "ETag: \"v1\""],
    );
    let mut entry = store
        .lookup(&CacheKey::from_uri("GET", &target()), &request(GET))
        .expect("stored")
        .clone();
    entry.meta.body_len = 10;
    assert_eq!(
        stored_reply(&request(&ranged), &entry),
        StoredReply::Partial(0..2)
    );
    let two = format!("{GET}\nRange: bytes=0-1,5-6");
    assert_eq!(
        stored_reply(&request(&two), &entry),
        StoredReply::Multipart(vec![0..2, 5..7])
    );
    let beyond = format!("{GET}\nRange: bytes=20-");
    assert_eq!(
        stored_reply(&request(&beyond), &entry),
        StoredReply::Unsatisfiable
    );
    // RFC 9110 §13.1.5: If-Range with another validator: the whole response.
    let if_range = format!("{GET}\nRange: bytes=0-1\nIf-Range: \"v0\"");
    assert_eq!(stored_reply(&request(&if_range), &entry), StoredReply::Full);
    let if_range = format!("{GET}\nRange: bytes=0-1\nIf-Range: \"v1\"");
    assert_eq!(
        stored_reply(&request(&if_range), &entry),
        StoredReply::Partial(0..2)
    );
}

#[test]
fn vary_selects_the_stored_variant() {
    // §4.1: a response varying on Accept-Language answers only requests that match.
    let mut store = Store::default();
    let french = format!("{GET}\nAccept-Language: fr");
    fill(
        &mut store,
        &french,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "Vary: Accept-Language"],
    );
    assert!(matches!(decide(&store, &french, 1), Action::Serve { .. }));
    let german = format!("{GET}\nAccept-Language: de");
    assert_eq!(decide(&store, &german, 1), Action::Join);
}

#[test]
fn upstream_cache_verdicts_are_not_stored() {
    let mut store = Store::default();
    let Action::Forward {
        store: Some(entry), ..
    } = fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=60", "X-Cache: HIT"],
    )
    else {
        panic!("not stored");
    };
    assert!(!entry
        .meta
        .fields
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("x-cache")));
}

#[test]
fn interim_responses_are_never_stored_nor_drop_the_stored_one() {
    // RFC 9111 §3: only final responses are stored; a 1xx handed to the machine (the driver
    // should have skipped it) is passed on unstored and leaves the stored entry alone.
    for status in ["100 Continue", "103 Early Hints"] {
        let mut store = Store::default();
        let action = fill(
            &mut store,
            GET,
            0,
            status,
            &[
                "Cache-Control: max-age=60",
                "Link: </style.css>; rel=preload",
            ],
        );
        assert!(
            matches!(
                action,
                Action::Forward {
                    store: None,
                    drop_stored: false,
                    ..
                }
            ),
            "{status}: {action:?}"
        );
        assert!(store.entries.is_empty(), "{status}");
    }
    let mut store = Store::default();
    fill(
        &mut store,
        GET,
        0,
        "200 OK",
        &["Cache-Control: max-age=10", "ETag: \"v1\""],
    );
    let head = request(GET);
    let mut exchange = Exchange::new(&head, &target(), config());
    exchange.start();
    let found = store.lookup(exchange.key(), &head).cloned();
    assert!(matches!(
        exchange.looked_up(found.as_ref(), at(100)),
        Action::Fetch { .. }
    ));
    let (early_hints, body) = response("103 Early Hints", 100, &[]);
    assert!(matches!(
        exchange.upstream_head(found.as_ref(), &early_hints, body, at(100), at(100)),
        Action::Forward {
            store: None,
            drop_stored: false,
            ..
        }
    ));
}

const CDN_600_CC_NO_STORE: &[&str] = &[
    "CDN-Cache-Control: max-age=600",
    "Cache-Control: no-store",
    "Content-Length: 5",
];

#[test]
fn cdn_edge_stores_by_cdn_cache_control_despite_cache_control_no_store() {
    // RFC 9213 §2.1 / §3.1: "CDN-Cache-Control: max-age=600" with "Cache-Control: no-store":
    // a CDN cache stores it, fresh for 600 s; every other cache must not store it.
    let mut edge = Store::default();
    assert!(stored(&fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        CDN_600_CC_NO_STORE
    )));
    let entry = edge.entries.values().next().and_then(|list| list.first());
    assert_eq!(entry.map(|entry| entry.freshness.lifetime), Some(600));
    // The field stays in the entry, to be forwarded downstream (RFC 9213 §3).
    assert!(entry.is_some_and(|entry| entry.meta.fields.contains("cdn-cache-control")));
    assert_eq!(
        decide_as(CacheKind::CdnEdge, &edge, GET, 599),
        Action::Serve {
            age: 599,
            status: CacheStatus::Hit
        }
    );
    assert!(matches!(
        decide_as(CacheKind::CdnEdge, &edge, GET, 600),
        Action::Fetch { .. }
    ));
    // Not a CDN edge: CDN-Cache-Control changes nothing (RFC 9213 §2.1).
    let mut proxy = Store::default();
    assert!(!stored(&fill(
        &mut proxy,
        GET,
        0,
        "200 OK",
        CDN_600_CC_NO_STORE
    )));
}

#[test]
fn cache_control_only_behaves_the_same_on_an_edge() {
    let fields = &[
        "Cache-Control: max-age=60, s-maxage=120",
        "Content-Length: 5",
    ];
    for kind in [CacheKind::Shared, CacheKind::CdnEdge] {
        let mut store = Store::default();
        assert!(stored(&fill_as(kind, &mut store, GET, 0, "200 OK", fields)));
        assert!(matches!(
            decide_as(kind, &store, GET, 119),
            Action::Serve {
                status: CacheStatus::Hit,
                ..
            }
        ));
        assert!(matches!(
            decide_as(kind, &store, GET, 120),
            Action::Fetch { .. }
        ));
        let mut store = Store::default();
        assert!(!stored(&fill_as(
            kind,
            &mut store,
            GET,
            0,
            "200 OK",
            &["Cache-Control: no-store"]
        )));
    }
}

#[test]
fn cdn_no_store_wins_over_cache_control_max_age_on_an_edge() {
    let fields = &[
        "CDN-Cache-Control: no-store",
        "Cache-Control: max-age=600",
        "Content-Length: 5",
    ];
    let mut edge = Store::default();
    assert!(!stored(&fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        fields
    )));
    let mut proxy = Store::default();
    assert!(stored(&fill(&mut proxy, GET, 0, "200 OK", fields)));
}

#[test]
fn cdn_cache_control_ignores_expires_and_honours_its_own_directives() {
    let mut edge = Store::default();
    // Expires far ahead, but CDN-Cache-Control has no lifetime: stored (200 is heuristically
    // cacheable) yet stale at once, as Expires is ignored (RFC 9213 §2.1).
    let expires = format!("Expires: {}", fmt_http_date(at(10_000)));
    fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        &["CDN-Cache-Control: must-revalidate", &expires],
    );
    assert!(matches!(
        decide_as(CacheKind::CdnEdge, &edge, GET, 1),
        Action::Fetch { .. }
    ));
    // private and no-cache from the targeted field.
    let mut edge = Store::default();
    assert!(!stored(&fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        &[
            "CDN-Cache-Control: private",
            "Cache-Control: public, max-age=60"
        ]
    )));
    fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        &["CDN-Cache-Control: max-age=60, no-cache", "ETag: \"v1\""],
    );
    assert!(matches!(
        decide_as(CacheKind::CdnEdge, &edge, GET, 1),
        Action::Fetch { .. }
    ));
    // stale-while-revalidate from the targeted field.
    let mut edge = Store::default();
    fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        &[
            "CDN-Cache-Control: max-age=10, stale-while-revalidate=20",
            "Cache-Control: max-age=1",
        ],
    );
    assert!(matches!(
        decide_as(CacheKind::CdnEdge, &edge, GET, 25),
        Action::ServeAndRevalidate { .. }
    ));
}

#[test]
fn invalid_cdn_cache_control_falls_back_to_cache_control() {
    for invalid in [
        "CDN-Cache-Control: max-age=600,",
        "CDN-Cache-Control: Max-Age=600",
        "CDN-Cache-Control: max-age=\"600\"",
        "CDN-Cache-Control: ",
    ] {
        let mut edge = Store::default();
        assert!(
            !stored(&fill_as(
                CacheKind::CdnEdge,
                &mut edge,
                GET,
                0,
                "200 OK",
                &[invalid, "Cache-Control: no-store"]
            )),
            "{invalid}"
        );
        let mut edge = Store::default();
        fill_as(
            CacheKind::CdnEdge,
            &mut edge,
            GET,
            0,
            "200 OK",
            &[invalid, "Cache-Control: max-age=30"],
        );
        let entry = edge.entries.values().next().and_then(|list| list.first());
        assert_eq!(
            entry.map(|entry| entry.freshness.lifetime),
            Some(30),
            "{invalid}"
        );
    }
}

#[test]
fn a_304_with_cdn_cache_control_refreshes_the_edge_lifetime() {
    let mut edge = Store::default();
    fill_as(
        CacheKind::CdnEdge,
        &mut edge,
        GET,
        0,
        "200 OK",
        &[
            "CDN-Cache-Control: max-age=10",
            "ETag: \"v1\"",
            "Cache-Control: no-store",
        ],
    );
    let head = request(GET);
    let mut exchange = Exchange::new(&head, &target(), config_of(CacheKind::CdnEdge));
    exchange.start();
    let found = edge.lookup(exchange.key(), &head).cloned();
    assert!(matches!(
        exchange.looked_up(found.as_ref(), at(100)),
        Action::Fetch { .. }
    ));
    let (not_modified, body) = response(
        "304 Not Modified",
        100,
        &["ETag: \"v1\"", "CDN-Cache-Control: max-age=300"],
    );
    let Action::Refresh { entry } =
        exchange.upstream_head(found.as_ref(), &not_modified, body, at(100), at(100))
    else {
        panic!("not a refresh");
    };
    assert_eq!(entry.freshness.lifetime, 300);
}
