//! The tokio driver of the proxy, split by concern: [`client`] reads client connections,
//! [`cache`] carries out the `http-cache` exchange machine's actions, [`serve`] writes stored
//! responses, [`upstream`] holds the origin connections (pooled) and streams their bodies,
//! [`storing`] writes bodies into the memory and disk stores, [`collapse`] is collapsed
//! forwarding, [`peer`] relays requests to the cluster member that owns them, and [`tunnel`]
//! is CONNECT. Wire events and the access log are emitted here.

mod cache;
mod client;
mod collapse;
mod peer;
mod serve;
mod storing;
mod tunnel;
mod upstream;

use crate::disk::DiskStore;
use crate::forward::{error_response, stored_fields_block, CacheStatus};
use crate::store::{Object, Store, StoredBody};
use crate::ProxyConfig;
use http_cache::{CacheKind, Entry, ExchangeConfig};
use http_proto::{ConnConfig, Limits, StatusCode, Timeouts};
use netio::tcp::Conn;
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub(super) const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Buffers for response heads and origin reads, reused from request to request: a miss
    /// would otherwise allocate (and free) two buffers of a kilobyte or more each time.
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes, from the thread's spares if any.
pub(super) fn take_buffer(capacity: usize) -> Vec<u8> {
    let mut buffer = BUFFERS
        .with(|buffers| buffers.borrow_mut().pop())
        .unwrap_or_default();
    buffer.reserve(capacity);
    buffer
}

/// Returns a buffer to the thread's spares (a few, none very large).
pub(super) fn give_buffer(mut buffer: Vec<u8>) {
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
    /// Requests relayed to the cluster member owning their path (also in `origin_requests`).
    pub peer_requests: AtomicU64,
    /// Relays that found the owner unreachable and went to the origin instead.
    pub peer_failures: AtomicU64,
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

pub(super) struct Shared {
    config: ProxyConfig,
    store: Mutex<Store>,
    disk: Option<DiskStore>,
    inflight: Mutex<HashMap<String, watch::Receiver<bool>>>,
    pool: Mutex<HashMap<String, Vec<TcpStream>>>,
    stats: Arc<ProxyStats>,
    limits: Limits,
    /// The client connections' machine settings (limits and timeouts from the config).
    conn_config: Arc<ConnConfig>,
    /// The cluster this cache is a member of, if any.
    cluster: Option<peer::Cluster>,
}

impl Shared {
    pub(super) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // matters more than losing the cache, so poisoned locks are simply reused.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn exchange_config(&self) -> ExchangeConfig {
        ExchangeConfig {
            kind: cache_kind(&self.config),
            max_object_size: self.config.max_object_size,
        }
    }

    pub(super) fn via(&self) -> &str {
        &self.config.via
    }

    /// Deletes the disk records of objects the index dropped.
    pub(super) fn forget(&self, removed: Vec<Arc<Object>>) {
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

/// The cache's kind: shared, and a CDN edge (obeying `CDN-Cache-Control`) when configured so.
fn cache_kind(config: &ProxyConfig) -> CacheKind {
    if config.cdn_edge {
        CacheKind::CdnEdge
    } else {
        CacheKind::Shared
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
            // Freshness is recomputed for this run's kind: a store written by a plain proxy
            // reads CDN-Cache-Control once the proxy restarts as an edge.
            let entry = Entry::from_meta(record.meta, cache_kind(&config));
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
    let conn_config = Arc::new(ConnConfig {
        limits: limits.clone(),
        timeouts: Timeouts {
            header_read: config.tcp.read_timeout,
            idle: config.tcp.idle_timeout,
            body_read: config.tcp.read_timeout,
        },
        server: None,
    });
    let cluster = peer::Cluster::new(&config, listener.local_addr()?);
    let shared = Arc::new(Shared {
        cluster,
        config,
        store: Mutex::new(store),
        disk,
        inflight: Mutex::new(HashMap::new()),
        pool: Mutex::new(HashMap::new()),
        stats: Arc::new(ProxyStats::default()),
        limits,
        conn_config,
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
            move |stream, conn| client::serve_connection(shared.clone(), stream, conn),
        )
        .await
    }
}

/// Why an exchange ended without a complete answer to the client (the access log's
/// `aborted:` line; the connection closes).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Aborted {
    /// Writing to the client failed.
    #[error("client: {0}")]
    Client(io::Error),
    /// The origin's body could not be decoded, or ended early.
    #[error("origin body: {0}")]
    OriginBody(http_proto::BodyError),
    /// The origin's body stopped arriving.
    #[error("origin body timed out")]
    OriginTimeout,
    /// Reading the origin's body failed.
    #[error("origin read: {0}")]
    OriginRead(io::Error),
    /// A stored body could not be read from its disk record (the record is dropped).
    #[error("stored body: {0}")]
    Disk(io::Error),
    /// A stored body did not match its checksum (the record is dropped).
    #[error("stored body checksum mismatch")]
    Checksum,
    /// The driver was asked to do something the exchange cannot reach (a bug).
    #[error("exchange out of order: {0}")]
    OutOfOrder(&'static str),
}

impl From<io::Error> for Aborted {
    fn from(error: io::Error) -> Self {
        Aborted::Client(error)
    }
}

/// What one exchange sent to the client, for the log.
pub(super) struct Done {
    status: u16,
    bytes: u64,
    cache: CacheStatus,
    keep_alive: bool,
}

impl Done {
    pub(super) fn new(status: u16, bytes: u64, cache: CacheStatus) -> Self {
        Self {
            status,
            bytes,
            cache,
            keep_alive: true,
        }
    }
}

pub(super) async fn reply_error(
    client: &mut TcpStream,
    conn: &Conn,
    shared: &Shared,
    status: StatusCode,
    message: &str,
) -> Result<Done, Aborted> {
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

pub(super) fn emit_sent(conn: &Conn, code: u16, status: CacheStatus) {
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

pub(super) fn drop_object(shared: &Shared, object: &Object) {
    let removed = shared.store().remove(object.id);
    shared.forget(removed.into_iter().collect());
}
