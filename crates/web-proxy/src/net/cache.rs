//! The cache's side of a request: the `http-cache` exchange machine's actions carried out
//! against the store, the in-flight registry and the origin.

use super::collapse::{Inflight, Joined};
use super::peer::{relay, Relayed};
use super::serve::serve_stored;
use super::storing::{refresh_object, Sink, Storing};
use super::upstream::{
    client_framing, exchange, finish_upstream, ClientOut, Failure, Framing, Upstream,
};
use super::{drop_object, emit_sent, reply_error, take_buffer, Aborted, Done, Shared};
use crate::forward::{
    encode_upstream_request, target_uri, upstream_request, CacheStatus, TargetError,
};
use crate::store::Object;
use http_cache::key::invalidation_uris;
use http_cache::{Action, Entry, Exchange, UpstreamFailure};
use http_proto::{Method, RequestHead, StatusCode, Uri};
use netio::tcp::Conn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// Whether a forward-mode target is this proxy's own listening address (a request loop).
fn targets_itself(target: &Uri, local: SocketAddr) -> bool {
    if target.port_or_default() != local.port() {
        return false;
    }
    match target.host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            ip == local.ip()
                || (ip.is_loopback() && local.ip().is_loopback())
                || ip.is_unspecified()
        }
        Err(_) => target.host.eq_ignore_ascii_case("localhost") && local.ip().is_loopback(),
    }
}

/// The upstream `host:port` for a target.
fn upstream_authority(shared: &Shared, target: &Uri) -> String {
    let uri = shared.config.origin.as_ref().unwrap_or(target);
    let host = if uri.host.contains(':') {
        format!("[{}]", uri.host)
    } else {
        uri.host.clone()
    };
    format!("{host}:{}", uri.port_or_default())
}

/// Answers one request (not CONNECT) on a client connection.
pub(super) async fn handle_request(
    shared: &Arc<Shared>,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    body: Vec<u8>,
) -> Result<Done, Aborted> {
    let target = match target_uri(head, shared.config.origin.as_ref()) {
        Ok(target) => target,
        Err(TargetError::NoHost) => {
            return reply_error(
                client,
                conn,
                shared,
                StatusCode::BAD_REQUEST,
                "no target host",
            )
            .await
        }
        Err(TargetError::Scheme) => {
            return reply_error(
                client,
                conn,
                shared,
                StatusCode::NOT_IMPLEMENTED,
                "only http:// targets (use CONNECT for https)",
            )
            .await
        }
    };
    if shared.config.origin.is_none() && targets_itself(&target, conn.local) {
        let status = StatusCode::from_u16(508).unwrap_or(StatusCode::BAD_REQUEST);
        return reply_error(
            client,
            conn,
            shared,
            status,
            "request loops back to this proxy",
        )
        .await;
    }
    if let Some(status) = super::peer::looped(head, shared) {
        return reply_error(client, conn, shared, status, "CDN-Loop: the request loops").await;
    }
    if let Relayed::Done(result) = relay(shared, client, conn, head, &target, &body).await {
        return result;
    }
    let mut exchange = Exchange::new(head, &target, shared.exchange_config());
    let action = exchange.start();
    drive(
        shared,
        Some((client, conn)),
        head,
        &target,
        exchange,
        action,
        None,
        &body,
    )
    .await
}

/// Carries out the exchange's actions until the client has its answer (or, for a background
/// revalidation without a client, until the store is updated).
#[allow(clippy::too_many_arguments)]
async fn drive<'h>(
    shared: &Arc<Shared>,
    mut client: Option<(&mut TcpStream, &Conn)>,
    head: &'h RequestHead,
    target: &Uri,
    mut exchange: Exchange<'h>,
    mut action: Action,
    mut found: Option<Arc<Object>>,
    body: &[u8],
) -> Result<Done, Aborted> {
    // The in-flight registration this request holds (dropping it wakes the waiting ones).
    let mut _leader: Option<Inflight> = None;
    let mut follower = None;
    let mut upstream: Option<Upstream> = None;
    // Whether a range miss has had the whole object fetched into the store.
    let mut filled = false;
    loop {
        let entry = found.as_deref().map(|object| &object.entry);
        action = match action {
            Action::Lookup => {
                found = shared
                    .store()
                    .lookup(exchange.key().as_str(), &head.headers);
                let entry = found.as_deref().map(|object| &object.entry);
                exchange.looked_up(entry, SystemTime::now())
            }
            Action::Join => match Inflight::join(shared, exchange.key().as_str()) {
                Joined::Leader(leader) => {
                    _leader = Some(leader);
                    exchange.joined(true)
                }
                Joined::Follower(done) => {
                    follower = Some(done);
                    exchange.joined(false)
                }
            },
            Action::Wait => {
                if let Some(mut done) = follower.take() {
                    let wait = shared.config.origin_timeout + Duration::from_secs(1);
                    let _ = tokio::time::timeout(wait, done.wait_for(|finished| *finished)).await;
                }
                Action::Lookup
            }
            Action::Serve { age, status } => {
                let Some(object) = &found else {
                    return Err(Aborted::OutOfOrder("no stored response to serve"));
                };
                // A range answered from the object just fetched for it is still a miss.
                let status = if filled { CacheStatus::Miss } else { status };
                return match client {
                    Some((client, conn)) => {
                        serve_stored(shared, client, conn, head, object, age, status).await
                    }
                    None => Ok(Done::new(0, 0, status)),
                };
            }
            Action::ServeAndRevalidate { age } => {
                let Some(object) = &found else {
                    return Err(Aborted::OutOfOrder("no stored response to serve"));
                };
                spawn_background_revalidation(
                    shared.clone(),
                    head.clone(),
                    target.clone(),
                    object.clone(),
                );
                return match client {
                    Some((client, conn)) => {
                        serve_stored(shared, client, conn, head, object, age, CacheStatus::Stale)
                            .await
                    }
                    None => Ok(Done::new(0, 0, CacheStatus::Stale)),
                };
            }
            Action::Fetch {
                validators,
                register,
            } => {
                if register && _leader.is_none() {
                    _leader = Inflight::lead(shared, exchange.key().as_str());
                }
                upstream = None;
                let request_time = SystemTime::now();
                match fetch_head(shared, head, target, &validators).await {
                    Ok(fetched) => {
                        let action = exchange.upstream_head(
                            entry,
                            &fetched.response,
                            fetched.body,
                            request_time,
                            SystemTime::now(),
                        );
                        upstream = Some(fetched);
                        action
                    }
                    Err(failure) => exchange.upstream_failed(
                        entry,
                        failure.kind(),
                        failure.to_string(),
                        SystemTime::now(),
                    ),
                }
            }
            Action::PassThrough if !filled && client.is_some() && range_fill(head) => {
                // A range of what is not stored: fetch the whole object into the store (as
                // nginx's proxy_cache and Varnish do), then answer the range from it, so that
                // players that only ever ask for ranges still fill the cache. What turns out
                // not to be storable is passed through as a range after all.
                filled = true;
                let _ = fill_whole(shared, head, target).await;
                exchange = Exchange::new(head, target, shared.exchange_config());
                found = None;
                exchange.start()
            }
            Action::PassThrough => match pass_head(shared, head, target, body).await {
                Ok(fetched) => {
                    let now = SystemTime::now();
                    let action =
                        exchange.upstream_head(None, &fetched.response, fetched.body, now, now);
                    upstream = Some(fetched);
                    action
                }
                Err(failure) => exchange.upstream_failed(
                    None,
                    failure.kind(),
                    failure.to_string(),
                    SystemTime::now(),
                ),
            },
            Action::Refresh { entry } => {
                let Some(old) = found.take() else {
                    return Err(Aborted::OutOfOrder("no stored response to refresh"));
                };
                if let Some(fetched) = upstream.take() {
                    finish_upstream(shared, fetched, None, &mut None).await.ok();
                }
                let refreshed = refresh_object(shared, &old, *entry).await;
                let action = exchange.refreshed(&refreshed.entry, SystemTime::now());
                found = Some(refreshed);
                action
            }
            Action::Forward {
                store,
                drop_stored,
                not_modified,
                invalidate,
            } => {
                let Some(fetched) = upstream.take() else {
                    return Err(Aborted::OutOfOrder("no origin response to forward"));
                };
                if invalidate {
                    invalidate_after(shared, target, &fetched);
                }
                if drop_stored {
                    if let Some(object) = &found {
                        drop_object(shared, object);
                    }
                }
                return forward(
                    shared,
                    client.take(),
                    head,
                    fetched,
                    store,
                    not_modified,
                    CacheStatus::Miss,
                )
                .await;
            }
            Action::Error { status, message } => {
                return match client {
                    Some((client, conn)) => {
                        reply_error(client, conn, shared, status, &message).await
                    }
                    None => Ok(Done::new(status.as_u16(), 0, CacheStatus::Miss)),
                };
            }
        };
    }
}

impl Failure {
    fn kind(&self) -> UpstreamFailure {
        match self {
            Failure::Connect(_) | Failure::Authority { .. } => UpstreamFailure::Unreachable,
            Failure::Timeout => UpstreamFailure::Timeout,
            Failure::Malformed(_) | Failure::UnexpectedSwitch | Failure::HeadCut => {
                UpstreamFailure::Malformed
            }
        }
    }
}

/// A stale entry is served now; a fetch of the key (if none is in flight) refreshes it in
/// the background (RFC 5861 §3).
fn spawn_background_revalidation(
    shared: Arc<Shared>,
    head: RequestHead,
    target: Uri,
    object: Arc<Object>,
) {
    let key = http_cache::CacheKey::from_uri("GET", &target);
    let Some(leader) = Inflight::lead(&shared, key.as_str()) else {
        return;
    };
    tokio::spawn(async move {
        let _leader = leader;
        let mut head = head;
        head.method = Method::Get;
        let (exchange, action) =
            Exchange::background(&head, &target, shared.exchange_config(), &object.entry);
        if let Err(error) = drive(
            &shared,
            None,
            &head,
            &target,
            exchange,
            action,
            Some(object.clone()),
            &[],
        )
        .await
        {
            tracing::debug!(
                "background revalidation of {} failed: {error}",
                key.as_str()
            );
        }
    });
}

/// Whether a request's range miss is filled by fetching the whole object: a GET with one
/// `Range` field (HEAD and unsafe methods go through as they are).
fn range_fill(head: &RequestHead) -> bool {
    head.method == Method::Get && head.headers.contains("range")
}

/// Fetches the whole object for a range request into the store (a GET without `Range` and
/// `If-Range`, collapsed with any fetch of the key in flight). It runs as its own task, so
/// that it completes (and the cache fills) even if the client goes away.
fn fill_whole(
    shared: &Arc<Shared>,
    head: &RequestHead,
    target: &Uri,
) -> tokio::task::JoinHandle<()> {
    let mut whole = head.clone();
    whole.headers.remove("range");
    whole.headers.remove("if-range");
    let (shared, target) = (shared.clone(), target.clone());
    tokio::spawn(async move {
        let mut exchange = Exchange::new(&whole, &target, shared.exchange_config());
        let action = exchange.start();
        if matches!(action, Action::PassThrough) {
            return;
        }
        if let Err(error) = drive(&shared, None, &whole, &target, exchange, action, None, &[]).await
        {
            tracing::debug!("filling {} for a range failed: {error}", target.path);
        }
    })
}

/// Sends the cache's request for `head` (as a GET, with `validators`) and reads the head of
/// the answer.
async fn fetch_head(
    shared: &Shared,
    head: &RequestHead,
    target: &Uri,
    validators: &http_proto::HeaderMap,
) -> Result<Upstream, Failure> {
    let authority = upstream_authority(shared, target);
    let validators = (!validators.is_empty()).then_some(validators);
    // HEAD is fetched as GET so that the response can be stored (as nginx does).
    let mut request = take_buffer(512);
    encode_upstream_request(
        head,
        target,
        shared.via(),
        None,
        validators,
        true,
        &Method::Get,
        &mut request,
    );
    let summary = || {
        let mut upstream_head =
            upstream_request(head, target, shared.via(), None, validators, true);
        upstream_head.method = Method::Get;
        upstream_head.summary()
    };
    exchange(shared, authority, &Method::Get, request, &summary).await
}

/// Sends a request the cache does not answer (unsafe methods, ranges of what is not stored)
/// through to the origin with its body, and reads the head of the answer.
async fn pass_head(
    shared: &Shared,
    head: &RequestHead,
    target: &Uri,
    body: &[u8],
) -> Result<Upstream, Failure> {
    let authority = upstream_authority(shared, target);
    let upstream_head = upstream_request(
        head,
        target,
        shared.via(),
        Some(body.len() as u64),
        None,
        false,
    );
    let mut request = take_buffer(512 + body.len());
    upstream_head.encode(&mut request);
    request.extend_from_slice(body);
    let summary = || upstream_head.summary();
    exchange(shared, authority, &upstream_head.method, request, &summary).await
}

/// RFC 9111 §4.4: after a non-error response to an unsafe method, the target's stored
/// responses (and those of `Location` / `Content-Location` on the same host) go.
fn invalidate_after(shared: &Shared, target: &Uri, upstream: &Upstream) {
    let mut removed = Vec::new();
    {
        let mut store = shared.store();
        for uri in invalidation_uris(target, &upstream.response.headers) {
            removed.extend(store.invalidate_uri(&uri));
        }
    }
    shared.forget(removed);
}

/// A cluster member's response to a relayed request, streamed to the client unstored, with
/// the owner's cache status.
pub(super) async fn forward_relayed(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    upstream: Upstream,
    status: CacheStatus,
) -> Result<Done, Aborted> {
    forward(
        shared,
        Some((client, conn)),
        head,
        upstream,
        None,
        false,
        status,
    )
    .await
}

/// Streams the origin's response to the client (a 304 of its head when `not_modified`) and
/// into the store under `store`, if given; `status` is the `X-Cache` sent.
async fn forward(
    shared: &Shared,
    client: Option<(&mut TcpStream, &Conn)>,
    head: &RequestHead,
    upstream: Upstream,
    store: Option<Box<Entry>>,
    not_modified: bool,
    status: CacheStatus,
) -> Result<Done, Aborted> {
    if client.is_none() && store.is_none() {
        // Nobody wants the body (a background fetch whose answer is not storable): close
        // the connection rather than read a body of any size for nothing.
        return Ok(Done::new(upstream.response.status.as_u16(), 0, status));
    }
    let mut storing = store.map(|entry| Storing {
        id: shared.store().allocate_id(),
        entry: *entry,
        sink: Sink::Memory(Vec::new()),
        limit: shared.config.max_object_size,
    });
    let code = upstream.response.status.as_u16();
    let mut keep_alive = true;
    let sent_code;
    let result = match client {
        Some((client, conn)) => {
            let want_body = head.method != Method::Head && !not_modified;
            let (framing, head_bytes, code_sent) = client_framing(
                head,
                &upstream,
                not_modified,
                shared.via(),
                status,
                SystemTime::now(),
            );
            sent_code = code_sent;
            keep_alive = framing != Framing::Close;
            emit_sent(conn, code_sent, status);
            let out = ClientOut {
                stream: client,
                framing: if want_body { framing } else { Framing::None },
                pending: head_bytes,
            };
            finish_upstream(shared, upstream, Some(out), &mut storing).await
        }
        None => {
            sent_code = code;
            finish_upstream(shared, upstream, None, &mut storing).await
        }
    };
    match result {
        Ok(body_len) => {
            if let Some(storing) = storing {
                storing.commit(shared, body_len).await;
            }
            Ok(Done {
                status: sent_code,
                bytes: body_len,
                cache: status,
                keep_alive,
            })
        }
        Err(error) => {
            if let Some(mut storing) = storing {
                storing.abandon();
            }
            Err(error)
        }
    }
}
