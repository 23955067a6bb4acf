//! Cluster membership on the wire: which member owns a request ([`crate::ring`]), the relay
//! of a request to its owner with RFC 8586 `CDN-Loop`, and owners marked down after a
//! connect failure so that the receiver goes to the origin itself.
//!
//! The receiver passes the owner's response through without storing it, as Squid's CARP
//! array members configured `proxy-only` and Traffic Server's old full clustering do: each
//! object is stored once in the cluster, so the cluster holds the sum of its members' cache
//! sizes, and a purge or refresh happens in one place. The client sees the owner's
//! `X-Cache` (the cluster's answer) and two `Via` entries.

use super::cache::forward_relayed;
use super::upstream::{exchange, Failure};
use super::{reply_error, take_buffer, Aborted, Done, Shared};
use crate::forward::{upstream_request, CacheStatus};
use crate::ring::HashRing;
use crate::ProxyConfig;
use http_proto::{Method, RequestHead, StatusCode, Uri};
use netio::tcp::Conn;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long an owner that refused a connection is skipped (its keys go to the origin from
/// whichever member receives them), as a parent proxy is marked down and retried later.
const DOWN_FOR: Duration = Duration::from_secs(5);

/// This cache's cluster: the ring of all members and which of them it is.
pub(super) struct Cluster {
    ring: HashRing,
    member: String,
    /// Members by ring name.
    addrs: HashMap<String, SocketAddr>,
    /// Owners that failed, until when they are skipped.
    down: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Cluster {
    /// The cluster of `config.peers` plus this member (`config.member`, else the bound
    /// address `local`); `None` without peers.
    pub(super) fn new(config: &ProxyConfig, local: SocketAddr) -> Option<Cluster> {
        if config.peers.is_empty() {
            return None;
        }
        let member = config.member.unwrap_or(local);
        let mut addrs: HashMap<String, SocketAddr> = config
            .peers
            .iter()
            .map(|addr| (addr.to_string(), *addr))
            .collect();
        addrs.insert(member.to_string(), member);
        Some(Cluster {
            ring: HashRing::new(addrs.keys().cloned()),
            member: member.to_string(),
            addrs,
            down: Mutex::new(HashMap::new()),
        })
    }

    /// The other member owning `target`'s path, unless it is this one or marked down.
    fn owner(&self, target: &Uri) -> Option<SocketAddr> {
        let name = self.ring.owner(&target.path_and_query())?;
        if name == self.member {
            return None;
        }
        let addr = *self.addrs.get(name)?;
        let mut down = self
            .down
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match down.get(&addr) {
            Some(until) if Instant::now() < *until => None,
            Some(_) => {
                down.remove(&addr);
                Some(addr)
            }
            None => Some(addr),
        }
    }

    fn mark_down(&self, addr: SocketAddr) {
        self.down
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(addr, Instant::now() + DOWN_FOR);
    }
}

/// How many times `cdn_id` appears in the request's `CDN-Loop` (RFC 8586 §2: a list of
/// `cdn-id *( OWS ";" OWS parameter )`).
pub(super) fn loop_count(head: &RequestHead, cdn_id: &str) -> usize {
    head.headers
        .list("cdn-loop")
        .filter(|item| {
            let id = item.split(';').next().unwrap_or("").trim();
            id.eq_ignore_ascii_case(cdn_id)
        })
        .count()
}

/// The owner's `X-Cache`, as ours.
fn cache_status(value: Option<&str>) -> CacheStatus {
    match value.map(str::trim) {
        Some(text) if text.eq_ignore_ascii_case("HIT") => CacheStatus::Hit,
        Some(text) if text.eq_ignore_ascii_case("REVALIDATED") => CacheStatus::Revalidated,
        Some(text) if text.eq_ignore_ascii_case("STALE") => CacheStatus::Stale,
        _ => CacheStatus::Miss,
    }
}

/// What [`relay`] did.
pub(super) enum Relayed {
    /// The owner answered (or the relay failed in a way the client is told about).
    Done(Result<Done, Aborted>),
    /// This member serves the request itself: it owns the path, the request already went
    /// through the cluster, or the owner is unreachable (marked down; go to the origin).
    Local,
}

/// Relays the request to the member owning its path, when that is another member.
pub(super) async fn relay(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    target: &Uri,
    body: &[u8],
) -> Relayed {
    let Some(cluster) = &shared.cluster else {
        return Relayed::Local;
    };
    // RFC 8586 §2: our own cdn-id in CDN-Loop means a member has relayed it already, so
    // this member answers it (a second relay could only loop).
    if loop_count(head, shared.via()) > 0 {
        return Relayed::Local;
    }
    let Some(owner) = cluster.owner(target) else {
        return Relayed::Local;
    };
    let mut upstream_head = upstream_request(
        head,
        target,
        shared.via(),
        Some(body.len() as u64),
        None,
        false,
    );
    upstream_head.headers.append("CDN-Loop", shared.via());
    let mut request = take_buffer(512 + body.len());
    upstream_head.encode(&mut request);
    request.extend_from_slice(body);
    let summary = || upstream_head.summary();
    shared.stats.peer_requests.fetch_add(1, Ordering::Relaxed);
    let method = upstream_head.method.clone();
    match exchange(shared, owner.to_string(), &method, request, &summary).await {
        Ok(fetched) => {
            let status = cache_status(fetched.response.headers.get("x-cache"));
            Relayed::Done(forward_relayed(shared, client, conn, head, fetched, status).await)
        }
        // Connect errors (and connect timeouts) on a request that is safe to send twice:
        // the owner is down, so this member asks the origin (and caches the answer).
        Err(failure @ (Failure::Connect(_) | Failure::Timeout))
            if matches!(method, Method::Get | Method::Head | Method::Options) =>
        {
            tracing::warn!("cluster member {owner} unreachable ({failure}); going to the origin");
            shared.stats.peer_failures.fetch_add(1, Ordering::Relaxed);
            cluster.mark_down(owner);
            Relayed::Local
        }
        Err(failure) => Relayed::Done(
            reply_error(client, conn, shared, failure.status(), &failure.to_string()).await,
        ),
    }
}

/// Whether the request has looped through this CDN (our cdn-id twice in `CDN-Loop`): 508.
pub(super) fn looped(head: &RequestHead, shared: &Shared) -> Option<StatusCode> {
    (loop_count(head, shared.via()) > 1)
        .then(|| StatusCode::from_u16(508).unwrap_or(StatusCode::BAD_GATEWAY))
}
