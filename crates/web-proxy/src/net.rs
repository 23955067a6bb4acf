//! The tokio driver of the proxy: client connections, upstream connections (pooled), CONNECT
//! tunnels, streaming bodies to the client while storing them, collapsed forwarding, the disk
//! store on the blocking pool, wire events and the access log.

use crate::disk::{DiskStore, RecordWriter, SMALL_BODY};
use crate::forward::{
    client_response, encode_client_response, encode_upstream_request, error_response,
    not_modified_from_store, stored_fields_block, stored_status_line, target_uri, upstream_request,
    CacheStatus, TargetError,
};
use crate::store::{Object, Store, StoredBody};
use crate::ProxyConfig;
use http_cache::fields::Fields;
use http_cache::key::invalidation_uris;
use http_cache::policy::{
    decide_reuse, invalidates, is_error_status, stale_if_error_allows, RequestFacts, Reuse,
};
use http_cache::stored::{check_response_storable, request_facts};
use http_cache::validation::{conditional_fields, evaluate_client_conditions, ClientCondition};
use http_cache::{CacheKey, CacheKind, Entry};
use http_proto::{
    parse_http_date, parse_request, BodyDecoder, BodyKind, Limits, Method, Parsed, RequestHead,
    RequestTarget, ResponseHead, StatusCode, Uri, Version,
};
use netio::tcp::{Conn, Park, Stream, TcpLimits};
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const KIND: CacheKind = CacheKind::Shared;
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Buffers for response heads and origin reads, reused from request to request: a miss
    /// would otherwise allocate (and free) two buffers of a kilobyte or more each time.
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes, from the thread's spares if any.
fn take_buffer(capacity: usize) -> Vec<u8> {
    let mut buffer = BUFFERS
        .with(|buffers| buffers.borrow_mut().pop())
        .unwrap_or_default();
    buffer.reserve(capacity);
    buffer
}

/// Returns a buffer to the thread's spares (a few, none very large).
fn give_buffer(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > 2 * READ_CHUNK {
        return;
    }
    buffer.clear();
    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        if buffers.len() < 16 {
            buffers.push(buffer);
        }
    });
}

/// Counters of what the proxy did, readable while it runs.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests answered from the store without the origin.
    pub hits: AtomicU64,
    /// Requests answered with a response fetched from the origin.
    pub misses: AtomicU64,
    /// Requests answered from the store after a 304.
    pub revalidated: AtomicU64,
    /// Requests answered with stale stored content.
    pub stale: AtomicU64,
    /// Requests sent upstream (including background revalidations).
    pub origin_requests: AtomicU64,
    /// New upstream connections opened (the rest reused pooled keep-alive connections).
    pub origin_connections: AtomicU64,
}

impl ProxyStats {
    fn count(&self, status: CacheStatus) {
        let counter = match status {
            CacheStatus::Hit => &self.hits,
            CacheStatus::Miss => &self.misses,
            CacheStatus::Revalidated => &self.revalidated,
            CacheStatus::Stale => &self.stale,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot: (hits, misses, revalidated, stale, origin requests).
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.revalidated.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
            self.origin_requests.load(Ordering::Relaxed),
        )
    }
}

struct Shared {
    config: ProxyConfig,
    store: Mutex<Store>,
    disk: Option<DiskStore>,
    inflight: Mutex<HashMap<String, watch::Receiver<bool>>>,
    pool: Mutex<HashMap<String, Vec<TcpStream>>>,
    stats: Arc<ProxyStats>,
    limits: Limits,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // matters more than losing the cache, so poisoned locks are simply reused.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn via(&self) -> &str {
        &self.config.via
    }

    /// Deletes the disk records of objects the index dropped.
    fn forget(&self, removed: Vec<Arc<Object>>) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let ids: Vec<u64> = removed
            .iter()
            .filter_map(|object| object.body.disk)
            .collect();
        if !ids.is_empty() {
            tokio::task::spawn_blocking(move || ids.into_iter().for_each(|id| disk.remove(id)));
        }
    }
}

/// A bound proxy, ready to [`run`](ProxyServer::run).
pub struct ProxyServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("local", &self.listener.local_addr().ok())
            .finish()
    }
}

/// Binds the listening socket and opens the stores (loading the disk store, which drops any
/// torn or corrupt record). Fails early on a bad address or an unusable cache directory.
pub async fn bind(config: ProxyConfig) -> io::Result<ProxyServer> {
    let listener = TcpListener::bind(config.listen).await?;
    let mut store = Store::new(config.cache_size);
    let mut disk = None;
    if let Some(dir) = config.cache_dir.clone() {
        let (opened, loaded) = tokio::task::spawn_blocking(move || DiskStore::open(&dir))
            .await
            .map_err(io::Error::other)??;
        let mut dropped = Vec::new();
        for record in loaded {
            store.reserve_id(record.id);
            let entry = Entry::from_meta(record.meta, KIND);
            let fields_block = Arc::from(stored_fields_block(&entry, &config.via));
            let object = Object {
                id: record.id,
                entry,
                body: StoredBody {
                    memory: record.body.map(Arc::from),
                    disk: Some(record.id),
                },
                fields_block,
            };
            dropped.extend(store.insert(object));
        }
        for object in dropped {
            if let Some(id) = object.body.disk {
                opened.remove(id);
            }
        }
        tracing::info!(
            objects = store.len(),
            bytes = store.bytes(),
            "web cache loaded from disk"
        );
        disk = Some(opened);
    }
    let limits = Limits {
        max_body: config.max_request_body,
        ..Limits::default()
    };
    let shared = Arc::new(Shared {
        config,
        store: Mutex::new(store),
        disk,
        inflight: Mutex::new(HashMap::new()),
        pool: Mutex::new(HashMap::new()),
        stats: Arc::new(ProxyStats::default()),
        limits,
    });
    Ok(ProxyServer { listener, shared })
}

impl ProxyServer {
    /// The addresses the proxy listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listener.local_addr().into_iter().collect()
    }

    /// The proxy's counters (shared: they keep counting after `run` takes the server).
    pub fn stats(&self) -> Arc<ProxyStats> {
        self.shared.stats.clone()
    }

    /// Serves until `shutdown` fires, then drains the connections in flight.
    pub async fn run(self, shutdown: Shutdown) -> io::Result<()> {
        let shared = self.shared;
        let limits = shared.config.tcp.clone();
        // Idle keep-alive clients leave the runtime for netio's lot, as the origin server's do.
        netio::tcp::serve_parking(
            self.listener,
            limits,
            shared.config.park,
            shutdown,
            move |stream, conn| serve_connection(shared.clone(), stream, conn),
        )
        .await
    }
}

enum HeadRead {
    Request(Parsed<RequestHead>),
    Closed,
    Refused(Vec<u8>),
    /// Idle long enough to park, until this idle deadline.
    Park(std::time::Instant),
}

async fn read_with_timeout(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    timeout: Duration,
) -> io::Result<usize> {
    buffer.reserve(READ_CHUNK.min(16 * 1024));
    match tokio::time::timeout(timeout, stream.read_buf(buffer)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout")),
    }
}

/// Reads the next request head. `stopped` is the connection's one shutdown waiter (it ends
/// the connection, so it is never polled again once it has fired).
async fn read_request_head(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    shared: &Shared,
    conn: &Conn,
    mut stopped: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> HeadRead {
    let limits = &conn.limits;
    loop {
        match parse_request(buffer, &shared.limits) {
            Ok(Some(parsed)) => return HeadRead::Request(parsed),
            Ok(None) => {}
            Err(error) => {
                return HeadRead::Refused(error_response(
                    error.status(),
                    &error.to_string(),
                    shared.via(),
                    true,
                ));
            }
        }
        let timeout = if buffer.is_empty() {
            limits.idle_timeout
        } else {
            limits.read_timeout
        };
        // An idle keep-alive connection closes at once on shutdown; one inside a request
        // gets to finish it.
        let read = if buffer.is_empty() {
            // After `park_after` idle, the connection parks: its task ends and the socket
            // waits in netio's lot until the next request or the idle deadline.
            let park_after = conn.park_after().filter(|after| *after < timeout);
            let wait = park_after.unwrap_or(timeout);
            tokio::select! {
                biased;
                read = read_with_timeout(stream, buffer, wait) => match read {
                    Err(error) if error.kind() == io::ErrorKind::TimedOut && park_after.is_some() => {
                        // What is left of the idle timeout after `wait`.
                        return HeadRead::Park(std::time::Instant::now() + (timeout - wait));
                    }
                    read => read,
                },
                _ = stopped.as_mut() => return HeadRead::Closed,
            }
        } else {
            read_with_timeout(stream, buffer, timeout).await
        };
        match read {
            Ok(0) | Err(_) => return HeadRead::Closed,
            Ok(_) => {}
        }
    }
}

/// Serves one client connection until it closes (`None`) or has been idle long enough to
/// park (then its socket goes back to netio's lot, and a new call serves its next request).
async fn serve_connection(shared: Arc<Shared>, mut stream: Stream, conn: Conn) -> Option<Park> {
    let client = match stream.registered() {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(peer = %conn.peer, "cannot serve client: {error}");
            return None;
        }
    };
    let idle_deadline = serve_requests(shared, client, &conn).await?;
    Some(Park {
        stream,
        idle_deadline,
    })
}

/// Serves requests on one client connection: `None` when it is done, or the idle deadline
/// when it should park.
async fn serve_requests(
    shared: Arc<Shared>,
    stream: &mut TcpStream,
    conn: &Conn,
) -> Option<std::time::Instant> {
    let mut buffer: Vec<u8> = Vec::with_capacity(8 * 1024);
    // One shutdown waiter for the connection's life rather than one per request.
    let stopped = conn.shutdown.triggered();
    tokio::pin!(stopped);
    loop {
        if conn.shutdown.is_triggered() && buffer.is_empty() {
            return None;
        }
        let parsed =
            match read_request_head(stream, &mut buffer, &shared, conn, stopped.as_mut()).await {
                HeadRead::Request(parsed) => parsed,
                HeadRead::Closed => return None,
                HeadRead::Park(idle_deadline) => return Some(idle_deadline),
                HeadRead::Refused(reply) => {
                    let _ = stream.write_all(&reply).await;
                    return None;
                }
            };
        buffer.drain(..parsed.len);
        let head = parsed.head;
        if wire::enabled() {
            wire::emit("http", Dir::Recv, conn.local, conn.peer, &head.summary());
        }
        if head.method == Method::Connect {
            tunnel(&shared, stream, conn, &head, buffer).await;
            return None;
        }
        // The request body, read whole (bounded by the parser's body limit).
        if head.expects_continue()
            && !parsed.body.is_empty()
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return None;
        }
        let body = match read_request_body(stream, &mut buffer, parsed.body, &conn.limits).await {
            Ok(body) => body,
            Err(_) => {
                let reply = error_response(
                    StatusCode::BAD_REQUEST,
                    "incomplete request body",
                    shared.via(),
                    true,
                );
                let _ = stream.write_all(&reply).await;
                return None;
            }
        };
        let close = head.wants_close() || conn.shutdown.is_triggered();
        let started = Instant::now();
        let outcome = handle_request(&shared, stream, conn, &head, body).await;
        match outcome {
            Ok(done) => {
                shared.stats.count(done.cache);
                tracing::info!(
                    target: "web_proxy::access",
                    "{} \"{} {} {}\" {} {} {} {:.1}ms",
                    conn.peer.ip(),
                    head.method,
                    head.target,
                    head.version,
                    done.status,
                    done.bytes,
                    done.cache.as_str(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
                if close || !done.keep_alive {
                    let _ = stream.shutdown().await;
                    return None;
                }
            }
            Err(error) => {
                tracing::info!(
                    target: "web_proxy::access",
                    "{} \"{} {} {}\" aborted: {error}",
                    conn.peer.ip(),
                    head.method,
                    head.target,
                    head.version
                );
                return None;
            }
        }
    }
}

async fn read_request_body(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    kind: BodyKind,
    limits: &TcpLimits,
) -> io::Result<Vec<u8>> {
    let mut decoder = BodyDecoder::new(kind);
    let mut body = Vec::new();
    loop {
        let used = decoder
            .decode_into(buffer, &mut body)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
        buffer.drain(..used);
        if decoder.is_done() {
            return Ok(body);
        }
        if read_with_timeout(stream, buffer, limits.read_timeout).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// What one exchange sent to the client, for the log.
struct Done {
    status: u16,
    bytes: u64,
    cache: CacheStatus,
    keep_alive: bool,
}

impl Done {
    fn new(status: u16, bytes: u64, cache: CacheStatus) -> Self {
        Self {
            status,
            bytes,
            cache,
            keep_alive: true,
        }
    }
}

async fn reply_error(
    client: &mut TcpStream,
    conn: &Conn,
    shared: &Shared,
    status: StatusCode,
    message: &str,
) -> io::Result<Done> {
    let reply = error_response(status, message, shared.via(), false);
    client.write_all(&reply).await?;
    if wire::enabled() {
        wire::emit(
            "http",
            Dir::Send,
            conn.local,
            conn.peer,
            &format!("{} {} X-Cache=MISS", status.as_u16(), status.reason()),
        );
    }
    Ok(Done::new(
        status.as_u16(),
        reply.len() as u64,
        CacheStatus::Miss,
    ))
}

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

async fn handle_request(
    shared: &Arc<Shared>,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    body: Vec<u8>,
) -> io::Result<Done> {
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
    let facts = request_facts(head);
    let cacheable_method = matches!(head.method, Method::Get | Method::Head);
    if !cacheable_method {
        return pass_through(shared, client, conn, head, &target, body, &facts).await;
    }
    let key = CacheKey::from_uri("GET", &target);
    let mut waited = false;
    loop {
        let now = SystemTime::now();
        let found = shared.store().lookup(key.as_str(), &head.headers);
        if let Some(object) = found {
            match decide_reuse(&facts, &object.entry.freshness, KIND, now) {
                Reuse::Serve { age, stale } => {
                    let status = if stale {
                        CacheStatus::Stale
                    } else {
                        CacheStatus::Hit
                    };
                    return serve_stored(shared, client, conn, head, &object, age, status).await;
                }
                Reuse::ServeStaleAndRevalidate { age } => {
                    spawn_background_revalidation(
                        shared.clone(),
                        key.clone(),
                        head.clone(),
                        target.clone(),
                        object.clone(),
                    );
                    return serve_stored(
                        shared,
                        client,
                        conn,
                        head,
                        &object,
                        age,
                        CacheStatus::Stale,
                    )
                    .await;
                }
                Reuse::Revalidate => {
                    // RFC 9111 §5.2.1.7: only-if-cached and nothing usable: 504.
                    if facts.control.only_if_cached {
                        return reply_error(
                            client,
                            conn,
                            shared,
                            StatusCode::GATEWAY_TIMEOUT,
                            "only-if-cached and not fresh",
                        )
                        .await;
                    }
                    let _leader = Inflight::lead(shared, key.as_str());
                    return fetch(
                        shared,
                        Some(client),
                        conn,
                        head,
                        &target,
                        &key,
                        &facts,
                        Some(object),
                    )
                    .await;
                }
            }
        }
        if facts.control.only_if_cached {
            return reply_error(
                client,
                conn,
                shared,
                StatusCode::GATEWAY_TIMEOUT,
                "only-if-cached and not cached",
            )
            .await;
        }
        if head.headers.contains("range") {
            // A range of something not stored: pass it through; later full GETs fill the cache.
            return pass_through(shared, client, conn, head, &target, body, &facts).await;
        }
        // Collapsed forwarding: one origin request per key at a time; the others wait for it
        // and then look again (once).
        match Inflight::join(shared, key.as_str()) {
            Joined::Leader(_leader) => {
                return fetch(
                    shared,
                    Some(client),
                    conn,
                    head,
                    &target,
                    &key,
                    &facts,
                    None,
                )
                .await;
            }
            Joined::Follower(mut done) if !waited => {
                waited = true;
                let wait = shared.config.origin_timeout + Duration::from_secs(1);
                let _ = tokio::time::timeout(wait, done.wait_for(|finished| *finished)).await;
                continue;
            }
            Joined::Follower(_) => {
                return fetch(
                    shared,
                    Some(client),
                    conn,
                    head,
                    &target,
                    &key,
                    &facts,
                    None,
                )
                .await;
            }
        }
    }
}

enum Joined {
    Leader(Inflight),
    Follower(watch::Receiver<bool>),
}

/// A fetch in flight for a key; dropping it wakes the requests waiting for it.
struct Inflight {
    shared: Arc<Shared>,
    key: String,
    done: watch::Sender<bool>,
}

impl Inflight {
    fn join(shared: &Arc<Shared>, key: &str) -> Joined {
        let mut inflight = shared
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(receiver) = inflight.get(key) {
            return Joined::Follower(receiver.clone());
        }
        let (done, receiver) = watch::channel(false);
        inflight.insert(key.to_string(), receiver);
        Joined::Leader(Inflight {
            shared: shared.clone(),
            key: key.to_string(),
            done,
        })
    }

    /// Registers a fetch for `key` (if none is registered) so that misses arriving meanwhile
    /// wait for it.
    fn lead(shared: &Arc<Shared>, key: &str) -> Option<Inflight> {
        match Inflight::join(shared, key) {
            Joined::Leader(leader) => Some(leader),
            Joined::Follower(_) => None,
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let mut inflight = self
            .shared
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inflight.remove(&self.key);
        let _ = self.done.send(true);
    }
}

fn spawn_background_revalidation(
    shared: Arc<Shared>,
    key: CacheKey,
    head: RequestHead,
    target: Uri,
    object: Arc<Object>,
) {
    let Some(leader) = Inflight::lead(&shared, key.as_str()) else {
        return;
    };
    tokio::spawn(async move {
        let _leader = leader;
        let mut head = head;
        head.method = Method::Get;
        let facts = request_facts(&head);
        let conn = None;
        if let Err(error) = fetch_inner(
            &shared,
            None,
            conn,
            &head,
            &target,
            &key,
            &facts,
            Some(object),
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

/// Writes a stored response (or a 304, 206 or 416 derived from it) to the client.
async fn serve_stored(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    object: &Object,
    age: u64,
    status: CacheStatus,
) -> io::Result<Done> {
    let entry = &object.entry;
    let via = shared.via();
    // §4.3.2: the client's own validators against the stored response.
    let conditional =
        head.headers.contains("if-none-match") || head.headers.contains("if-modified-since");
    if conditional && entry.meta.status == 200 {
        let received = http_cache::freshness::unix_seconds(entry.meta.response_time);
        let parse = |value: &[u8]| {
            std::str::from_utf8(value)
                .ok()
                .and_then(parse_http_date)
                .map(http_cache::freshness::unix_seconds)
        };
        if evaluate_client_conditions(&head.headers, &entry.meta.fields, received, parse)
            == ClientCondition::NotModified
        {
            let reply = not_modified_from_store(entry, via, age, status);
            client.write_all(&reply).await?;
            emit_sent(conn, 304, status);
            return Ok(Done::new(304, 0, status));
        }
    }
    let len = entry.meta.body_len;
    let mut range = 0..len;
    let mut code = entry.meta.status;
    let mut content_range = None;
    if head.method == Method::Get && entry.meta.status == 200 {
        if let Some(value) = head.headers.get("range") {
            if if_range_holds(head, entry) {
                match http_proto::range::evaluate_range(value, len) {
                    http_proto::range::RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
                        range = ranges[0].clone();
                        code = 206;
                        content_range = Some(http_proto::range::content_range(&range, len));
                    }
                    http_proto::range::RangeOutcome::Unsatisfiable => {
                        let mut out = Vec::with_capacity(256);
                        out.extend_from_slice(b"HTTP/1.1 416 Range Not Satisfiable\r\n");
                        out.extend_from_slice(format!("Content-Range: bytes */{len}\r\nContent-Length: 0\r\nAge: {age}\r\nVia: 1.1 {via}\r\nX-Cache: {}\r\n\r\n", status.as_str()).as_bytes());
                        client.write_all(&out).await?;
                        emit_sent(conn, 416, status);
                        return Ok(Done::new(416, 0, status));
                    }
                    http_proto::range::RangeOutcome::Partial(ranges) => {
                        return serve_multipart(
                            shared, client, conn, head, object, age, status, ranges,
                        )
                        .await;
                    }
                    http_proto::range::RangeOutcome::Full => {}
                }
            }
        }
    }
    let mut out = Vec::with_capacity(object.fields_block.len() + 160);
    if code == 206 {
        out.extend_from_slice(b"HTTP/1.1 206 Partial Content\r\n");
    } else {
        stored_status_line(entry, &mut out);
    }
    out.extend_from_slice(&object.fields_block);
    let body_len = range.end - range.start;
    let has_body = head.method != Method::Head
        && !matches!(entry.meta.status, 204 | 304)
        && entry.meta.status >= 200;
    {
        use std::io::Write;
        let _ = write!(out, "Age: {age}\r\nX-Cache: {}\r\n", status.as_str());
        if let Some(content_range) = &content_range {
            let _ = write!(out, "Content-Range: {content_range}\r\n");
        }
        if !matches!(entry.meta.status, 204 | 304) {
            let _ = write!(out, "Content-Length: {body_len}\r\n");
        }
        if head.version == Version::Http10 {
            out.extend_from_slice(if head.wants_close() {
                b"Connection: close\r\n"
            } else {
                b"Connection: keep-alive\r\n"
            });
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut sent = 0u64;
    match (&object.body.memory, has_body) {
        (_, false) => client.write_all(&out).await?,
        (Some(memory), true) => {
            let slice = &memory[range.start as usize..range.end as usize];
            if slice.len() <= 16 * 1024 {
                out.extend_from_slice(slice);
                client.write_all(&out).await?;
            } else {
                write_all_vectored(client, &out, slice).await?;
            }
            sent = slice.len() as u64;
        }
        (None, true) => {
            client.write_all(&out).await?;
            sent = stream_from_disk(shared, client, object, range.clone()).await?;
        }
    }
    emit_sent(conn, code, status);
    Ok(Done::new(code, sent, status))
}

/// Several ranges of a stored 200: a `multipart/byteranges` 206 (RFC 9110 §14.6), each part
/// read from memory or from the disk record.
#[allow(clippy::too_many_arguments)]
async fn serve_multipart(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    object: &Object,
    age: u64,
    status: CacheStatus,
    ranges: Vec<std::ops::Range<u64>>,
) -> io::Result<Done> {
    use http_proto::range::{multipart_end, multipart_len, multipart_part_head};
    let entry = &object.entry;
    let len = entry.meta.body_len;
    let content_type = entry
        .meta
        .fields
        .field("content-type")
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let boundary = format!("applayer{:016x}", object.id ^ len.rotate_left(17));
    let total = multipart_len(&boundary, content_type.as_deref(), &ranges, len);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 206 Partial Content\r\n");
    for (name, value) in &entry.meta.fields {
        if name.eq_ignore_ascii_case("content-type") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/byteranges; boundary={boundary}\r\nContent-Length: {total}\r\nAge: {age}\r\nVia: 1.1 {}\r\nX-Cache: {}\r\n",
            shared.via(),
            status.as_str()
        )
        .as_bytes(),
    );
    if head.version == Version::Http10 && !head.wants_close() {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    client.write_all(&out).await?;
    for range in &ranges {
        let part = multipart_part_head(&boundary, content_type.as_deref(), range, len);
        client.write_all(part.as_bytes()).await?;
        match &object.body.memory {
            Some(memory) => {
                client
                    .write_all(&memory[range.start as usize..range.end as usize])
                    .await?
            }
            None => {
                stream_from_disk(shared, client, object, range.clone()).await?;
            }
        }
    }
    client
        .write_all(multipart_end(&boundary).as_bytes())
        .await?;
    emit_sent(conn, 206, status);
    Ok(Done::new(206, total, status))
}

/// Writes `head` then `body` with as few system calls as possible (writev).
async fn write_all_vectored(client: &mut TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut head_done = 0;
    let mut body_done = 0;
    while head_done < head.len() {
        let parts = [io::IoSlice::new(&head[head_done..]), io::IoSlice::new(body)];
        let written = client.write_vectored(&parts).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let into_head = written.min(head.len() - head_done);
        head_done += into_head;
        body_done += written - into_head;
    }
    if body_done < body.len() {
        client.write_all(&body[body_done..]).await?;
    }
    Ok(())
}

/// RFC 9110 §13.1.5: a Range with If-Range applies only if the validator matches (strong
/// ETag comparison, or an exact Last-Modified date).
fn if_range_holds(head: &RequestHead, entry: &Entry) -> bool {
    let Some(if_range) = head.headers.get("if-range") else {
        return true;
    };
    let field = |name: &str| {
        entry
            .meta
            .fields
            .field(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    };
    let etag = field("etag").and_then(http_proto::EntityTag::parse);
    let last_modified = field("last-modified").and_then(http_proto::HttpDate::parse);
    http_proto::conditional::if_range_holds(if_range, etag.as_ref(), last_modified)
}

fn emit_sent(conn: &Conn, code: u16, status: CacheStatus) {
    if wire::enabled() {
        let reason = StatusCode::from_u16(code)
            .map(|code| code.reason())
            .unwrap_or("");
        wire::emit(
            "http",
            Dir::Send,
            conn.local,
            conn.peer,
            &format!("{code} {reason} X-Cache={}", status.as_str()),
        );
    }
}

/// Streams `range` of a disk-stored body; the whole-body checksum is checked when the whole
/// body is sent, and a mismatch aborts the connection (the client sees a short body, never a
/// wrong one presented as complete) and drops the record.
async fn stream_from_disk(
    shared: &Shared,
    client: &mut TcpStream,
    object: &Object,
    range: std::ops::Range<u64>,
) -> io::Result<u64> {
    let (Some(disk), Some(id)) = (shared.disk.clone(), object.body.disk) else {
        return Err(io::Error::other("body not available"));
    };
    let whole = range.start == 0 && range.end == object.entry.meta.body_len;
    let start = range.start;
    let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
        use std::io::{Seek, SeekFrom};
        let (mut file, header) = disk.open_body(id)?;
        file.seek(SeekFrom::Current(start as i64))?;
        Ok((file, header))
    })
    .await
    .map_err(io::Error::other)?;
    let (file, header) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            drop_object(shared, object);
            return Err(error);
        }
    };
    let mut file = Some(file);
    let mut left = range.end - range.start;
    let mut sent = 0u64;
    let mut crc = http_cache::entry::Crc32::new();
    while left > 0 {
        let want = (READ_CHUNK as u64).min(left) as usize;
        let Some(mut current) = file.take() else {
            break;
        };
        let (current, chunk) = tokio::task::spawn_blocking(move || -> io::Result<_> {
            use std::io::Read;
            let mut chunk = vec![0u8; want];
            current.read_exact(&mut chunk)?;
            Ok((current, chunk))
        })
        .await
        .map_err(io::Error::other)??;
        file = Some(current);
        if whole {
            crc.update(&chunk);
        }
        left -= chunk.len() as u64;
        if whole && left == 0 && crc.finish() != header.body_crc {
            drop_object(shared, object);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stored body checksum mismatch",
            ));
        }
        client.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    Ok(sent)
}

fn drop_object(shared: &Shared, object: &Object) {
    let removed = shared.store().remove(object.id);
    shared.forget(removed.into_iter().collect());
}

/// Why an upstream exchange failed.
#[derive(Debug)]
enum Failure {
    /// Could not connect, or the connection broke before a response: 502.
    Connect(io::Error),
    /// No response within the timeout: 504.
    Timeout,
    /// The response was malformed: 502, and never stored.
    Malformed(String),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Connect(error) => format!("origin unreachable: {error}"),
            Failure::Timeout => "origin timed out".to_string(),
            Failure::Malformed(why) => format!("malformed origin response: {why}"),
        }
    }
}

/// An upstream connection with a received response head.
struct Upstream {
    stream: TcpStream,
    authority: String,
    buffer: Vec<u8>,
    response: ResponseHead,
    body: BodyKind,
}

async fn connect(
    shared: &Shared,
    authority: &str,
    reuse: bool,
) -> Result<(TcpStream, bool), Failure> {
    if reuse {
        let pooled = shared
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(authority)
            .and_then(Vec::pop);
        if let Some(stream) = pooled {
            return Ok((stream, true));
        }
    }
    let timeout = shared.config.connect_timeout;
    shared
        .stats
        .origin_connections
        .fetch_add(1, Ordering::Relaxed);
    let source = shared.config.upstream_source;
    let connecting = async {
        // An address literal needs no resolver round trip.
        if let Ok(addr) = authority.parse::<SocketAddr>() {
            return netio::resolve::connect_from(source, addr).await;
        }
        let (host, port) = http_proto::uri::parse_authority(authority).map_err(|error| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{authority}: {error}"))
        })?;
        netio::resolve::connect(
            shared.config.resolver.as_ref(),
            source,
            &host,
            port.unwrap_or(80),
        )
        .await
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok((stream, false))
        }
        Ok(Err(error)) => Err(Failure::Connect(error)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Sends `request` (and `body`) upstream and reads the final response head.
/// Sends `encoded` (a request for `method`, head and body) to the origin at `authority` and
/// reads the response head; `summary` describes the request for the wire event.
async fn exchange(
    shared: &Shared,
    authority: String,
    method: &Method,
    encoded: Vec<u8>,
    summary: &(dyn Fn() -> String + Sync),
) -> Result<Upstream, Failure> {
    // Idempotent requests may go on a pooled connection, and are retried once on a fresh one
    // if the pooled connection turns out to be closed.
    let idempotent = matches!(method, Method::Get | Method::Head | Method::Options);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut stream, pooled) = connect(shared, &authority, idempotent && attempt == 1).await?;
        shared.stats.origin_requests.fetch_add(1, Ordering::Relaxed);
        if wire::enabled() {
            if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
                wire::emit("http", Dir::Send, local, peer, &summary());
            }
        }
        if let Err(error) = stream.write_all(&encoded).await {
            if pooled {
                continue;
            }
            return Err(Failure::Connect(error));
        }
        match read_response_head(shared, &mut stream, method).await {
            Ok((response, body_kind, buffer)) => {
                give_buffer(encoded);
                if wire::enabled() {
                    if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
                        wire::emit("http", Dir::Recv, local, peer, &response.summary());
                    }
                }
                return Ok(Upstream {
                    stream,
                    authority,
                    buffer,
                    response,
                    body: body_kind,
                });
            }
            Err(Failure::Connect(_)) if pooled => continue,
            Err(failure) => return Err(failure),
        }
    }
}

async fn read_response_head(
    shared: &Shared,
    stream: &mut TcpStream,
    method: &Method,
) -> Result<(ResponseHead, BodyKind, Vec<u8>), Failure> {
    let mut buffer = take_buffer(4096);
    let deadline = tokio::time::Instant::now() + shared.config.origin_timeout;
    // The head only: the body is streamed by the caller with the framing returned.
    let mut reader = http_proto::ResponseReader::new(method, shared.limits.clone());
    let mut no_body = Vec::new();
    loop {
        match reader.advance(&mut buffer, &mut no_body) {
            Ok(http_proto::Progress::Head(head)) => {
                if head.status.as_u16() == 101 {
                    return Err(Failure::Malformed("unexpected 101".into()));
                }
                let kind = reader.body_kind().unwrap_or(BodyKind::Empty);
                return Ok((head, kind, buffer));
            }
            Ok(_) => {}
            Err(error) => return Err(Failure::Malformed(error.to_string())),
        }
        buffer.reserve(4096);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buffer)).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(error)) => return Err(Failure::Connect(error)),
            Ok(Ok(0)) if buffer.is_empty() => {
                return Err(Failure::Connect(io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(Ok(0)) => {
                return Err(Failure::Malformed(
                    "connection closed inside the head".into(),
                ))
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// Where a response body goes besides the client: nowhere, memory, or a disk record.
enum Sink {
    Off,
    Memory(Vec<u8>),
    Disk { writer: RecordWriter, head: Vec<u8> },
}

struct Storing {
    id: u64,
    entry: Entry,
    sink: Sink,
    limit: u64,
}

impl Storing {
    async fn feed(&mut self, shared: &Shared, data: &[u8]) {
        let received = match &self.sink {
            Sink::Off => return,
            Sink::Memory(buffer) => buffer.len() as u64,
            Sink::Disk { writer, head } => writer.body_len() + head.len() as u64,
        };
        if received + data.len() as u64 > self.limit {
            self.abandon();
            return;
        }
        match &mut self.sink {
            Sink::Off => {}
            Sink::Memory(buffer) => {
                buffer.extend_from_slice(data);
                if buffer.len() as u64 > SMALL_BODY {
                    if let Some(disk) = shared.disk.clone() {
                        let pending = std::mem::take(buffer);
                        let id = self.id;
                        let meta = self.entry.meta.clone();
                        let begun =
                            tokio::task::spawn_blocking(move || -> io::Result<RecordWriter> {
                                let mut writer = disk.begin(id, &meta)?;
                                writer.write(&pending)?;
                                Ok(writer)
                            })
                            .await;
                        self.sink = match begun {
                            Ok(Ok(writer)) => Sink::Disk {
                                writer,
                                head: Vec::new(),
                            },
                            _ => Sink::Off,
                        };
                    }
                }
            }
            Sink::Disk { head, .. } => {
                // Batch small pieces so each blocking write moves a useful amount.
                head.extend_from_slice(data);
                if head.len() >= READ_CHUNK {
                    self.flush().await;
                }
            }
        }
    }

    async fn flush(&mut self) {
        if !matches!(self.sink, Sink::Disk { .. }) {
            return;
        }
        let Sink::Disk { writer, head } = std::mem::replace(&mut self.sink, Sink::Off) else {
            return;
        };
        let mut writer = writer;
        let pending = head;
        let result = tokio::task::spawn_blocking(move || -> (RecordWriter, io::Result<()>) {
            let result = writer.write(&pending);
            (writer, result)
        })
        .await;
        if let Ok((writer, Ok(()))) = result {
            self.sink = Sink::Disk {
                writer,
                head: Vec::new(),
            };
        } else if let Ok((writer, Err(_))) = result {
            writer.abort();
        }
    }

    fn abandon(&mut self) {
        if let Sink::Disk { writer, .. } = std::mem::replace(&mut self.sink, Sink::Off) {
            tokio::task::spawn_blocking(move || writer.abort());
        }
    }

    /// Completes the object and puts it in the store.
    async fn commit(mut self, shared: &Shared, body_len: u64) {
        self.flush().await;
        self.entry.meta.body_len = body_len;
        let body = match std::mem::replace(&mut self.sink, Sink::Off) {
            Sink::Off => return,
            Sink::Memory(buffer) => {
                if buffer.len() as u64 != body_len {
                    return;
                }
                let memory: Arc<[u8]> = Arc::from(buffer);
                let mut disk_id = None;
                if let Some(disk) = shared.disk.clone() {
                    let meta = self.entry.meta.clone();
                    let id = self.id;
                    let copy = memory.clone();
                    let written =
                        tokio::task::spawn_blocking(move || disk.write(id, &meta, &copy)).await;
                    if matches!(written, Ok(Ok(()))) {
                        disk_id = Some(id);
                    }
                }
                StoredBody {
                    memory: Some(memory),
                    disk: disk_id,
                }
            }
            Sink::Disk { writer, .. } => {
                if writer.body_len() != body_len {
                    writer.abort();
                    return;
                }
                let meta = self.entry.meta.clone();
                let finished = tokio::task::spawn_blocking(move || writer.finish(&meta)).await;
                if !matches!(finished, Ok(Ok(()))) {
                    return;
                }
                StoredBody {
                    memory: None,
                    disk: Some(self.id),
                }
            }
        };
        let fields_block = Arc::from(stored_fields_block(&self.entry, shared.via()));
        let object = Object {
            id: self.id,
            entry: self.entry,
            body,
            fields_block,
        };
        let removed = shared.store().insert(object);
        shared.forget(removed);
    }
}

/// Fetches from upstream for a GET/HEAD (a miss, or a revalidation of `existing`), answers the
/// client, and stores what may be stored.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    shared: &Arc<Shared>,
    client: Option<&mut TcpStream>,
    conn: &Conn,
    head: &RequestHead,
    target: &Uri,
    key: &CacheKey,
    facts: &RequestFacts,
    existing: Option<Arc<Object>>,
) -> io::Result<Done> {
    fetch_inner(
        shared,
        client,
        Some(conn),
        head,
        target,
        key,
        facts,
        existing,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn fetch_inner(
    shared: &Arc<Shared>,
    client: Option<&mut TcpStream>,
    conn: Option<&Conn>,
    head: &RequestHead,
    target: &Uri,
    key: &CacheKey,
    facts: &RequestFacts,
    existing: Option<Arc<Object>>,
) -> io::Result<Done> {
    let authority = upstream_authority(shared, target);
    let validators = existing
        .as_ref()
        .map(|object| conditional_fields(&object.entry.meta.fields))
        .filter(|fields| !fields.is_empty());
    // HEAD is fetched as GET so that the response can be stored (as nginx does).
    let mut request = take_buffer(512);
    encode_upstream_request(
        head,
        target,
        shared.via(),
        None,
        validators.as_ref(),
        true,
        &Method::Get,
        &mut request,
    );
    let summary = || {
        let mut upstream_head =
            upstream_request(head, target, shared.via(), None, validators.as_ref(), true);
        upstream_head.method = Method::Get;
        upstream_head.summary()
    };
    let request_time = SystemTime::now();
    let upstream = match exchange(shared, authority, &Method::Get, request, &summary).await {
        Ok(upstream) => upstream,
        Err(failure) => {
            // RFC 5861 §4 / RFC 9111 §4.2.4: stale content on error where allowed.
            if let Some(object) = &existing {
                let now = SystemTime::now();
                if stale_if_error_allows(facts, &object.entry.freshness, KIND, now) {
                    let age = object.entry.freshness.age(now);
                    return match (client, conn) {
                        (Some(client), Some(conn)) => {
                            serve_stored(
                                shared,
                                client,
                                conn,
                                head,
                                object,
                                age,
                                CacheStatus::Stale,
                            )
                            .await
                        }
                        _ => Ok(Done::new(0, 0, CacheStatus::Stale)),
                    };
                }
                if object.entry.freshness.must_revalidate {
                    // §5.2.2.2: a disconnected cache MUST generate 504 rather than reuse it.
                    return send_error(
                        client,
                        conn,
                        shared,
                        StatusCode::GATEWAY_TIMEOUT,
                        &failure.message(),
                    )
                    .await;
                }
            }
            return send_error(client, conn, shared, failure.status(), &failure.message()).await;
        }
    };
    let response_time = SystemTime::now();
    let code = upstream.response.status.as_u16();
    if code == 304 {
        if let Some(object) = &existing {
            let mut entry = object.entry.clone();
            if entry.freshen(&upstream.response, request_time, response_time, KIND) {
                finish_upstream(shared, upstream, None, &mut None)
                    .await
                    .ok();
                let refreshed = refresh_object(shared, object, entry).await;
                let age = refreshed.entry.freshness.age(SystemTime::now());
                return match (client, conn) {
                    (Some(client), Some(conn)) => {
                        serve_stored(
                            shared,
                            client,
                            conn,
                            head,
                            &refreshed,
                            age,
                            CacheStatus::Revalidated,
                        )
                        .await
                    }
                    _ => Ok(Done::new(304, 0, CacheStatus::Revalidated)),
                };
            }
            // The 304 names another representation: fetch it whole.
            return Box::pin(fetch_inner(
                shared, client, conn, head, target, key, facts, None,
            ))
            .await;
        }
    }
    if is_error_status(code) {
        if let Some(object) = &existing {
            let now = SystemTime::now();
            if stale_if_error_allows(facts, &object.entry.freshness, KIND, now) {
                let age = object.entry.freshness.age(now);
                return match (client, conn) {
                    (Some(client), Some(conn)) => {
                        serve_stored(shared, client, conn, head, object, age, CacheStatus::Stale)
                            .await
                    }
                    _ => Ok(Done::new(0, 0, CacheStatus::Stale)),
                };
            }
        }
    }
    let storable = check_response_storable(facts, &upstream.response, KIND).is_ok()
        && match upstream.body {
            BodyKind::Length(len) => len <= shared.config.max_object_size,
            _ => true,
        };
    // A full response replaces what was stored (§4.3.3); if it may not be stored itself, the
    // old entry goes too rather than being revalidated again and again.
    if !storable && code < 500 {
        if let Some(object) = &existing {
            drop_object(shared, object);
        }
    }
    let mut storing = if storable {
        let id = shared.store().allocate_id();
        let mut entry = Entry::new(
            key,
            head,
            &upstream.response,
            request_time,
            response_time,
            0,
            KIND,
        );
        // An upstream cache's verdict is not ours to repeat on every hit.
        http_cache::fields::remove(&mut entry.meta.fields, "x-cache");
        Some(Storing {
            id,
            entry,
            sink: Sink::Memory(Vec::new()),
            limit: shared.config.max_object_size,
        })
    } else {
        None
    };
    // A client revalidating its own copy gets a 304 if the new response matches it (§4.3.2).
    let client_not_modified = code == 200
        && (head.headers.contains("if-none-match") || head.headers.contains("if-modified-since"))
        && {
            let fields = http_cache::fields::from_header_map(&upstream.response.headers);
            let parse = |value: &[u8]| {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(parse_http_date)
                    .map(http_cache::freshness::unix_seconds)
            };
            let received = http_cache::freshness::unix_seconds(response_time);
            evaluate_client_conditions(&head.headers, &fields, received, parse)
                == ClientCondition::NotModified
        };
    let written;
    let mut keep_alive = true;
    let sent_code;
    let result = match client {
        Some(client) => {
            let want_body = head.method != Method::Head && !client_not_modified;
            let (framing, head_bytes, code_sent) = client_framing(
                head,
                &upstream,
                client_not_modified,
                shared.via(),
                response_time,
            );
            sent_code = code_sent;
            keep_alive = framing != Framing::Close;
            if let Some(conn) = conn {
                emit_sent(conn, code_sent, CacheStatus::Miss);
            }
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
            written = body_len;
            if let Some(storing) = storing {
                storing.commit(shared, body_len).await;
            }
        }
        Err(error) => {
            if let Some(mut storing) = storing {
                storing.abandon();
            }
            return Err(error);
        }
    }
    Ok(Done {
        status: sent_code,
        bytes: written,
        cache: CacheStatus::Miss,
        keep_alive,
    })
}

async fn send_error(
    client: Option<&mut TcpStream>,
    conn: Option<&Conn>,
    shared: &Shared,
    status: StatusCode,
    message: &str,
) -> io::Result<Done> {
    match (client, conn) {
        (Some(client), Some(conn)) => reply_error(client, conn, shared, status, message).await,
        _ => Ok(Done::new(status.as_u16(), 0, CacheStatus::Miss)),
    }
}

/// After a 304 freshened `entry`: a new object with the same body (a new disk record when the
/// body is on disk) replaces the old one.
async fn refresh_object(shared: &Shared, old: &Arc<Object>, entry: Entry) -> Arc<Object> {
    let id = shared.store().allocate_id();
    let mut body = old.body.clone();
    if let (Some(disk), Some(old_id)) = (shared.disk.clone(), old.body.disk) {
        let meta = entry.meta.clone();
        let rewritten = tokio::task::spawn_blocking(move || disk.rewrite(old_id, id, &meta)).await;
        body.disk = matches!(rewritten, Ok(Ok(()))).then_some(id);
    }
    let fields_block = Arc::from(stored_fields_block(&entry, shared.via()));
    let object = Object {
        id,
        entry,
        body,
        fields_block,
    };
    let keep = Arc::new(object.clone());
    if object.body.memory.is_some() || object.body.disk.is_some() {
        let removed = shared.store().insert(object);
        shared.forget(removed);
    }
    keep
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length,
    Chunked,
    Close,
}

/// The head bytes for the client and how the body will be framed.
fn client_framing(
    request: &RequestHead,
    upstream: &Upstream,
    not_modified: bool,
    via: &str,
    received: SystemTime,
) -> (Framing, Vec<u8>, u16) {
    let status = if not_modified {
        304
    } else {
        upstream.response.status.as_u16()
    };
    let no_body = not_modified || status == 204 || status == 304 || (100..200).contains(&status);
    let mut digits = [0u8; 20];
    let (framing, framing_field) = if no_body {
        (Framing::None, None)
    } else {
        match upstream.body {
            BodyKind::Empty => (Framing::Length, Some(("Content-Length", "0"))),
            BodyKind::Length(len) => (
                Framing::Length,
                Some(("Content-Length", decimal(len, &mut digits))),
            ),
            BodyKind::Chunked | BodyKind::CloseDelimited if request.method == Method::Head => {
                (Framing::Length, None)
            }
            BodyKind::Chunked | BodyKind::CloseDelimited => {
                if request.version == Version::Http11 {
                    (Framing::Chunked, Some(("Transfer-Encoding", "chunked")))
                } else {
                    (Framing::Close, None)
                }
            }
        }
    };
    let connection = if framing == Framing::Close || request.wants_close() {
        Some(("Connection", "close"))
    } else if request.version == Version::Http10 {
        Some(("Connection", "keep-alive"))
    } else {
        None
    };
    let mut extra = [("", ""); 2];
    let mut count = 0;
    for field in [framing_field, connection].into_iter().flatten() {
        extra[count] = field;
        count += 1;
    }
    let extra = &extra[..count];
    // Room for a small body too, which joins the head in the first write.
    let body_room = match upstream.body {
        BodyKind::Length(len) if len <= 16 * 1024 => len as usize,
        _ => 0,
    };
    let mut bytes = take_buffer(512 + body_room);
    if not_modified {
        let head = client_response(&upstream.response, via, CacheStatus::Miss, received);
        let mut reduced = ResponseHead::new(StatusCode::NOT_MODIFIED);
        for (name, value) in head.headers.iter() {
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "cache-control"
                    | "content-location"
                    | "date"
                    | "etag"
                    | "expires"
                    | "vary"
                    | "last-modified"
                    | "via"
                    | "x-cache"
                    | "age"
            ) {
                reduced.headers.append(name, value);
            }
        }
        for (name, value) in extra {
            reduced.headers.insert(*name, *value);
        }
        reduced.encode(&mut bytes);
    } else {
        encode_client_response(
            &upstream.response,
            via,
            CacheStatus::Miss,
            received,
            extra,
            &mut bytes,
        );
    }
    let framing = if request.method == Method::Head {
        Framing::None
    } else {
        framing
    };
    (framing, bytes, status)
}

/// `n` in decimal, in `buffer`.
fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or("0")
}

/// Reads the rest of the upstream response body, writing it to the client (framed as
/// `framing`) and to the store; returns the body length. Pools the upstream connection when
/// it is reusable.
/// The client side of a streamed response: the head waits in `pending` so that it leaves with
/// the first body bytes in one write (or alone, before the proxy waits on the origin).
struct ClientOut<'a> {
    stream: &'a mut TcpStream,
    framing: Framing,
    pending: Vec<u8>,
}

impl ClientOut<'_> {
    async fn data(&mut self, data: &[u8]) -> io::Result<()> {
        match self.framing {
            Framing::None => Ok(()),
            Framing::Chunked => {
                http_proto::encode_chunk(data, &mut self.pending);
                self.flush().await
            }
            Framing::Length | Framing::Close => {
                if self.pending.is_empty() {
                    self.stream.write_all(data).await
                } else {
                    self.pending.extend_from_slice(data);
                    self.flush().await
                }
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.stream.write_all(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }

    async fn finish(&mut self) -> io::Result<()> {
        if self.framing == Framing::Chunked {
            self.pending.extend_from_slice(b"0\r\n\r\n");
        }
        self.flush().await
    }
}

async fn finish_upstream(
    shared: &Shared,
    mut upstream: Upstream,
    mut client: Option<ClientOut<'_>>,
    storing: &mut Option<Storing>,
) -> io::Result<u64> {
    let mut decoder = BodyDecoder::new(upstream.body);
    let mut total = 0u64;
    let idle = shared.config.origin_timeout;
    let mut input = std::mem::take(&mut upstream.buffer);
    let mut eof = false;
    loop {
        // Decode everything buffered.
        let mut offset = 0;
        while offset < input.len() && !decoder.is_done() {
            let step = decoder.decode(&input[offset..]).map_err(|error| {
                io::Error::new(io::ErrorKind::InvalidData, format!("origin body: {error}"))
            })?;
            let data = &input[offset + step.data.start..offset + step.data.end];
            if !data.is_empty() {
                total += data.len() as u64;
                if let Some(client) = client.as_mut() {
                    client.data(data).await?;
                }
                if let Some(storing) = storing.as_mut() {
                    storing.feed(shared, data).await;
                }
            }
            if step.consumed == 0 {
                break;
            }
            offset += step.consumed;
        }
        input.drain(..offset.min(input.len()));
        if decoder.is_done() {
            break;
        }
        if eof {
            decoder.handle_eof().map_err(|error| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("origin body: {error}"),
                )
            })?;
            break;
        }
        if let Some(client) = client.as_mut() {
            client.flush().await?;
        }
        // Size the read to what is still expected, so small bodies cause no large allocations.
        let want = decoder
            .remaining()
            .map_or(16 * 1024, |left| left.min(READ_CHUNK as u64) as usize);
        input.reserve(want.max(4096));
        match tokio::time::timeout(idle, upstream.stream.read_buf(&mut input)).await {
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "origin body timed out",
                ))
            }
            Ok(Err(error)) => return Err(error),
            Ok(Ok(0)) => eof = true,
            Ok(Ok(_)) => {}
        }
    }
    if let Some(mut client) = client {
        client.finish().await?;
        give_buffer(client.pending);
    }
    // Reuse the upstream connection if the response ended cleanly on its own framing.
    let reusable = !eof
        && input.is_empty()
        && upstream.body != BodyKind::CloseDelimited
        && !upstream.response.wants_close()
        && upstream.response.version == Version::Http11;
    if reusable {
        let stream = upstream.stream;
        let mut pool = shared
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match pool.get_mut(&upstream.authority) {
            Some(idle) => {
                if idle.len() < 32 {
                    idle.push(stream);
                }
            }
            None => {
                pool.insert(upstream.authority, vec![stream]);
            }
        }
    }
    give_buffer(input);
    Ok(total)
}

/// Passes a request the cache does not answer (unsafe methods, ranges of unstored objects)
/// through to the origin, streams the response back, and invalidates after unsafe methods.
async fn pass_through(
    shared: &Arc<Shared>,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    target: &Uri,
    body: Vec<u8>,
    facts: &RequestFacts,
) -> io::Result<Done> {
    let _ = facts;
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
    request.extend_from_slice(&body);
    let summary = || upstream_head.summary();
    let upstream = match exchange(shared, authority, &upstream_head.method, request, &summary).await
    {
        Ok(upstream) => upstream,
        Err(failure) => {
            return reply_error(client, conn, shared, failure.status(), &failure.message()).await
        }
    };
    let code = upstream.response.status.as_u16();
    // RFC 9111 §4.4: invalidate after a non-error response to an unsafe method.
    if invalidates(head.method.as_str(), code) {
        let mut removed = Vec::new();
        {
            let mut store = shared.store();
            for uri in invalidation_uris(target, &upstream.response.headers) {
                removed.extend(store.invalidate_uri(&uri));
            }
        }
        shared.forget(removed);
    }
    let (framing, head_bytes, sent_code) =
        client_framing(head, &upstream, false, shared.via(), SystemTime::now());
    emit_sent(conn, sent_code, CacheStatus::Miss);
    let mut none = None;
    let out = ClientOut {
        stream: client,
        framing,
        pending: head_bytes,
    };
    let written = finish_upstream(shared, upstream, Some(out), &mut none).await?;
    Ok(Done {
        status: sent_code,
        bytes: written,
        cache: CacheStatus::Miss,
        keep_alive: framing != Framing::Close,
    })
}

/// CONNECT: a blind tunnel to `host:port` (forward mode only).
async fn tunnel(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    buffered: Vec<u8>,
) {
    let RequestTarget::Authority { host, port } = &head.target else {
        return;
    };
    if shared.config.origin.is_some() || !shared.config.allow_connect {
        let reply = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT not allowed here",
            shared.via(),
            true,
        );
        let _ = client.write_all(&reply).await;
        return;
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = format!("{host}:{port}");
    let (mut upstream, _) = match connect(shared, &authority, false).await {
        Ok(connected) => connected,
        Err(failure) => {
            let reply = error_response(failure.status(), &failure.message(), shared.via(), true);
            let _ = client.write_all(&reply).await;
            return;
        }
    };
    let established = format!(
        "HTTP/1.1 200 Connection Established\r\nVia: 1.1 {}\r\n\r\n",
        shared.via()
    );
    if client.write_all(established.as_bytes()).await.is_err() {
        return;
    }
    emit_sent(conn, 200, CacheStatus::Miss);
    if !buffered.is_empty() && upstream.write_all(&buffered).await.is_err() {
        return;
    }
    let started = Instant::now();
    let copied = tokio::select! {
        copied = tokio::io::copy_bidirectional(client, &mut upstream) => copied,
        _ = conn.shutdown.triggered() => Ok((0, 0)),
    };
    let (up, down) = copied.unwrap_or((0, 0));
    tracing::info!(
        target: "web_proxy::access",
        "{} \"CONNECT {authority} {}\" 200 {down} TUNNEL {:.1}ms up={up}",
        conn.peer.ip(),
        head.version,
        started.elapsed().as_secs_f64() * 1000.0
    );
}
