//! A CDN edge cluster: three reverse-mode edges on 127.0.0.2–4 sharing URL paths by
//! consistent hashing, relaying to the owner with RFC 8586 `CDN-Loop`, going to the origin
//! when the owner is down; push filling; byte ranges on hits and misses; the origin
//! allow-list; curl through a member.

use crate::support::*;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use web_proxy::ring::HashRing;
use web_proxy::ProxyConfig;

/// An origin answering every GET with 200, `max-age=600` and the path as the body (padded to
/// `len` bytes of the path repeated, when `len` is longer).
async fn origin(len: usize) -> Origin {
    Origin::start(move |head| {
        let path = head.target.to_string();
        let mut body = path.clone().into_bytes();
        while body.len() < len {
            body.extend_from_slice(path.as_bytes());
        }
        body.truncate(len.max(path.len()));
        response(
            "200 OK",
            &[("Cache-Control", "max-age=600"), ("ETag", "\"v1\"")],
            &body,
        )
    })
    .await
}

/// The edges of one cluster (a stopped one is `None`), their addresses and their ring.
struct Cluster {
    edges: Vec<Option<Proxy>>,
    addrs: Vec<SocketAddr>,
    ring: HashRing,
}

impl Cluster {
    /// Three edges on 127.0.0.2, .3 and .4 in front of `origin`, each listing the other two.
    async fn start(origin: &Origin) -> Cluster {
        // Free ports first, since each member must know the others' addresses.
        let addrs: Vec<SocketAddr> = (2..=4)
            .map(|host| {
                let probe = std::net::TcpListener::bind(format!("127.0.0.{host}:0")).unwrap();
                probe.local_addr().unwrap()
            })
            .collect();
        let mut edges = Vec::new();
        for addr in &addrs {
            let peers = addrs.iter().copied().filter(|peer| peer != addr).collect();
            let edge = Proxy::start_at(ProxyConfig {
                listen: *addr,
                origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
                cdn_edge: true,
                peers,
                ..ProxyConfig::default()
            })
            .await;
            edges.push(Some(edge));
        }
        let ring = HashRing::new(addrs.iter().map(SocketAddr::to_string));
        Cluster { edges, addrs, ring }
    }

    /// The index of the member owning `path`.
    fn owner(&self, path: &str) -> usize {
        let name = self.ring.owner(path).unwrap();
        self.addrs
            .iter()
            .position(|addr| addr.to_string() == name)
            .unwrap()
    }

    async fn stop(mut self) {
        for edge in self.edges.iter_mut().filter_map(Option::take) {
            edge.stop().await;
        }
    }
}

fn paths(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("/movie/seg-{n}.m4s")).collect()
}

#[tokio::test]
async fn each_object_is_fetched_from_the_origin_once_across_the_cluster() {
    let origin = origin(0).await;
    let cluster = Cluster::start(&origin).await;
    let paths = paths(30);
    for (n, path) in paths.iter().enumerate() {
        let reply = send(cluster.addrs[n % 3], "GET", path, &[]).await;
        assert_eq!(
            (reply.status(), reply.body.as_slice()),
            (200, path.as_bytes())
        );
        assert_eq!(reply.cache(), "MISS", "{path}");
    }
    assert_eq!(origin.count(), paths.len(), "one origin fetch per object");
    // Every path is owned by one member; all three members own some.
    let mut owned = [0; 3];
    for path in &paths {
        owned[cluster.owner(path)] += 1;
    }
    assert!(owned.iter().all(|count| *count > 0), "{owned:?}");
    // Second round through every member: the owner's HIT, whoever received the request.
    for path in &paths {
        for addr in &cluster.addrs {
            let reply = send(*addr, "GET", path, &[]).await;
            assert_eq!(
                (reply.status(), reply.cache()),
                (200, "HIT"),
                "{path} via {addr}"
            );
            assert_eq!(reply.body, path.as_bytes());
        }
    }
    assert_eq!(origin.count(), paths.len());
    // Relayed requests went to the owners; nothing was stored twice.
    let relayed: u64 = cluster
        .edges
        .iter()
        .flatten()
        .map(|edge| {
            edge.stats
                .peer_requests
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    // First round: 2 in 3 land on a non-owner (about 20); second round: exactly 2 per path.
    assert!(relayed >= 2 * paths.len() as u64, "{relayed}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_relay_carries_cdn_loop_and_a_loop_is_refused() {
    let origin = origin(0).await;
    let cluster = Cluster::start(&origin).await;
    let path = "/loop/one";
    let owner = cluster.owner(path);
    let other = (owner + 1) % 3;
    let reply = send(cluster.addrs[other], "GET", path, &[]).await;
    assert_eq!(reply.status(), 200);
    // RFC 8586: the receiver added its cdn-id; the owner kept it on the way to the origin.
    assert_eq!(
        origin.last_request().headers.get("cdn-loop"),
        Some("applayer")
    );
    // The response went through two caches.
    let via: Vec<&str> = reply.head.headers.get_all("via").collect();
    assert_eq!(via.join(", ").matches("applayer").count(), 2, "{via:?}");
    // A request that already carries our cdn-id is answered where it lands, not relayed.
    let before = origin.count();
    let local = send(
        cluster.addrs[other],
        "GET",
        "/loop/two-not-owned",
        &[("CDN-Loop", "applayer")],
    )
    .await;
    assert_eq!(local.status(), 200);
    assert_eq!(origin.count(), before + 1);
    // Our cdn-id twice: the request has come back through us, 508 Loop Detected.
    let looped = send(
        cluster.addrs[owner],
        "GET",
        path,
        &[("CDN-Loop", "other-cdn, applayer; v=1, applayer")],
    )
    .await;
    assert_eq!(looped.status(), 508);
    cluster.stop().await;
}

#[tokio::test]
async fn a_stopped_member_s_paths_are_fetched_from_the_origin() {
    let origin = origin(0).await;
    let mut cluster = Cluster::start(&origin).await;
    let paths = paths(30);
    let gone = 2;
    let owned_by_gone: Vec<&String> = paths.iter().filter(|p| cluster.owner(p) == gone).collect();
    assert!(!owned_by_gone.is_empty());
    cluster.edges[gone].take().unwrap().stop().await;
    for path in &paths {
        for member in 0..2 {
            let reply = send(cluster.addrs[member], "GET", path, &[]).await;
            assert_eq!(
                (reply.status(), reply.body.as_slice()),
                (200, path.as_bytes()),
                "{path} via member {member}"
            );
        }
    }
    // The live members' own paths: one origin fetch each. The stopped member's: each live
    // member fetched (and cached) them itself.
    assert_eq!(
        origin.count(),
        (paths.len() - owned_by_gone.len()) + 2 * owned_by_gone.len()
    );
    let reply = send(cluster.addrs[0], "GET", owned_by_gone[0], &[]).await;
    assert_eq!(reply.cache(), "HIT");
    cluster.stop().await;
}

#[tokio::test]
async fn push_lands_on_the_owner_so_the_first_viewer_hits() {
    let origin = origin(2000).await;
    let cluster = Cluster::start(&origin).await;
    let paths = paths(9);
    for path in &paths {
        // What `applayer cdn push` does: the URL through the member owning it.
        let owner = cluster.addrs[cluster.owner(path)];
        let url = format!("http://video.example{path}");
        let fields = [(web_proxy::PUSH_FIELD, "test")];
        let pushed = web_proxy::get_via(owner, &url, &fields, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            (pushed.status(), pushed.cache_status()),
            (200, Some("MISS"))
        );
        assert_eq!(pushed.body.len(), 2000);
        let again = web_proxy::get_via(owner, &url, &fields, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(again.cache_status(), Some("HIT"), "already cached");
    }
    assert_eq!(origin.count(), paths.len());
    // Viewers (origin-form, Host of the pushed URL) through any member: first request HIT.
    for (n, path) in paths.iter().enumerate() {
        let reply = send(
            cluster.addrs[n % 3],
            "GET",
            path,
            &[("Host", "video.example")],
        )
        .await;
        assert_eq!((reply.status(), reply.cache()), (200, "HIT"), "{path}");
        assert_eq!(reply.body.len(), 2000);
    }
    assert_eq!(origin.count(), paths.len());
    cluster.stop().await;
}

#[tokio::test]
async fn ranges_on_a_miss_fill_the_cache_and_hits_answer_206() {
    let origin = origin(10_000).await;
    let cluster = Cluster::start(&origin).await;
    let path = "/movie/range.mp4";
    let whole = {
        let mut body = Vec::new();
        while body.len() < 10_000 {
            body.extend_from_slice(path.as_bytes());
        }
        body.truncate(10_000);
        body
    };
    let owner = cluster.owner(path);
    let other = (owner + 1) % 3;
    // A miss through a non-owner: the owner fetches the whole object (no Range upstream),
    // stores it, and answers the range from it.
    let part = send(
        cluster.addrs[other],
        "GET",
        path,
        &[("Range", "bytes=100-199")],
    )
    .await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/10000"));
    assert_eq!(part.body, &whole[100..200]);
    assert_eq!(part.cache(), "MISS");
    assert_eq!(origin.count(), 1);
    assert!(origin.last_request().headers.get("range").is_none());
    // Later ranges, and the whole object, from the owner's copy.
    let tail = send(cluster.addrs[owner], "GET", path, &[("Range", "bytes=-10")]).await;
    assert_eq!((tail.status(), tail.cache()), (206, "HIT"));
    assert_eq!(tail.body, &whole[9_990..]);
    let full = send(cluster.addrs[other], "GET", path, &[]).await;
    assert_eq!((full.status(), full.cache()), (200, "HIT"));
    assert_eq!(full.body, whole);
    let bad = send(
        cluster.addrs[other],
        "GET",
        path,
        &[("Range", "bytes=20000-")],
    )
    .await;
    assert_eq!(bad.status(), 416);
    assert_eq!(origin.count(), 1);

    // curl -r through each member (interop): 206 with the right bytes.
    for addr in &cluster.addrs {
        // On the blocking pool: the edges run on this test's runtime.
        let url = format!("http://{addr}{path}");
        let output = tokio::task::spawn_blocking(move || {
            Command::new("timeout")
                .args(["20", "curl", "-sS", "-r", "5000-5099", "-D", "-", "-o", "-"])
                // The Host is part of the cache key: the one the other requests used.
                .args(["-H", "Host: test.example"])
                .arg(url)
                .env_remove("http_proxy")
                .stdin(Stdio::null())
                .output()
                .expect("run curl")
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(text.starts_with("HTTP/1.1 206"), "{text}");
        assert!(
            text.contains("Content-Range: bytes 5000-5099/10000"),
            "{text}"
        );
        assert!(text.ends_with(std::str::from_utf8(&whole[5000..5100]).unwrap()));
    }
    assert_eq!(origin.count(), 1);
    cluster.stop().await;
}

#[tokio::test]
async fn a_range_of_an_uncacheable_object_is_passed_through() {
    let origin = Origin::start(|head| {
        let body = b"0123456789";
        match head.headers.get("range") {
            Some("bytes=2-4") => response(
                "206 Partial Content",
                &[
                    ("Cache-Control", "no-store"),
                    ("Content-Range", "bytes 2-4/10"),
                ],
                &body[2..5],
            ),
            _ => response("200 OK", &[("Cache-Control", "no-store")], body),
        }
    })
    .await;
    let edge = Proxy::reverse(&origin).await;
    let part = send(edge.addr, "GET", "/private", &[("Range", "bytes=2-4")]).await;
    assert_eq!((part.status(), part.body.as_slice()), (206, &b"234"[..]));
    // The whole-object fill found it not storable (and closed without reading the body);
    // the range then went through as it was.
    assert_eq!(origin.count(), 2);
    edge.stop().await;
}

#[tokio::test]
async fn a_reverse_edge_fetches_only_from_its_configured_origin() {
    let configured = origin(0).await;
    let elsewhere = origin(0).await;
    let edge = Proxy::reverse(&configured).await;
    // An absolute-form target naming another server.
    let absolute = send(
        edge.addr,
        "GET",
        &elsewhere.url("/stolen"),
        &[("Host", &elsewhere.addr.to_string())],
    )
    .await;
    // A Host naming another server.
    let hosted = send(
        edge.addr,
        "GET",
        "/hosted",
        &[("Host", &elsewhere.addr.to_string())],
    )
    .await;
    // CONNECT: no tunnels in reverse mode.
    let tunnel = send(edge.addr, "CONNECT", &elsewhere.addr.to_string(), &[]).await;
    assert_ne!(tunnel.status(), 200);
    assert_eq!(
        elsewhere.count(),
        0,
        "the edge reached a server it is not configured for"
    );
    assert_eq!((absolute.status(), hosted.status()), (200, 200));
    assert_eq!(configured.count(), 2);
    edge.stop().await;
}
