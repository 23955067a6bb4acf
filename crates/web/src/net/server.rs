//! The origin server's driver: binds, accepts through `netio::tcp::serve`, and runs one
//! [`ServerConn`] machine per connection, answering its events from files and the cookie site.

use super::fs::{self, Opened, Upload};
use super::transport::Transport;
use crate::config::WebServerConfig;
use crate::cookie_site::{SqliteStore, VisitStore};
use crate::files::{self, plan_file};
use crate::route::{route, Route};
use http_proto::{
    media_type_for, ConnConfig, HttpDate, Method, RequestHead, ResponseHead, ServerConn,
    ServerEvent, StatusCode,
};
use netio::tcp::{Conn, Park, Stream, TcpLimits};
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;

/// A bound origin server; [`WebServer::run`] serves until shutdown.
pub struct WebServer {
    listeners: Vec<TcpListener>,
    tls_listeners: Vec<(TcpListener, tls::TlsAcceptor)>,
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) config: WebServerConfig,
    conn_config: Arc<ConnConfig>,
    pub(super) store: Option<Mutex<SqliteStore>>,
    pub(super) boundaries: AtomicU64,
    pub(super) inside: fs::InsideCache,
    pub(super) open_files: fs::OpenCache,
    /// `Server: ...\r\n`, encoded once.
    server_line: Vec<u8>,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// Checks the configuration, opens the cookie store, and binds every listen address; fails
/// early on any problem.
pub async fn bind(mut config: WebServerConfig) -> std::io::Result<WebServer> {
    // Canonical roots make the "does the real path stay under the root" check exact.
    config.root = std::fs::canonicalize(&config.root)
        .map_err(|e| invalid(format!("root {}: {e}", config.root.display())))?;
    if !config.root.is_dir() {
        return Err(invalid(format!(
            "root {} is not a directory",
            config.root.display()
        )));
    }
    for host in &mut config.hosts {
        host.root = std::fs::canonicalize(&host.root).map_err(|e| {
            invalid(format!(
                "root of {} ({}): {e}",
                host.name,
                host.root.display()
            ))
        })?;
    }
    let store = match &config.cookie_site {
        Some(site) => {
            if let Some(parent) = site.db.parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let store = SqliteStore::open(&site.db).map_err(|e| {
                std::io::Error::other(format!("cookie database {}: {e}", site.db.display()))
            })?;
            Some(Mutex::new(store))
        }
        None => None,
    };
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
        if config.defer_accept {
            // As nginx's `deferred`: held back for up to the header timeout, after which the
            // kernel hands the connection over anyway and the header timeout applies.
            if let Err(error) = netio::tcp::set_defer_accept(&listener, config.timeouts.header_read)
            {
                tracing::warn!(%addr, "cannot defer accept: {error}");
            }
        }
        listeners.push(listener);
    }
    let mut tls_listeners = Vec::new();
    if !config.tls_listen.is_empty() {
        let Some(base) = &config.tls else {
            return Err(invalid("HTTPS listeners need a TLS configuration".into()));
        };
        let mut tls_config = (**base).clone();
        tls_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tls::TlsAcceptor::from(Arc::new(tls_config));
        for addr in &config.tls_listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
            tls_listeners.push((listener, acceptor.clone()));
        }
    }
    let mut server_fields = http_proto::HeaderMap::new();
    server_fields.append("Server", config.server_name.as_str());
    let mut server_line = Vec::new();
    server_fields.encode(&mut server_line);
    let conn_config = ConnConfig {
        limits: config.limits.clone(),
        timeouts: config.timeouts.clone(),
        server: Some(config.server_name.clone()),
    };
    Ok(WebServer {
        listeners,
        tls_listeners,
        shared: Arc::new(Shared {
            config,
            conn_config: Arc::new(conn_config),
            store,
            boundaries: AtomicU64::new(0),
            inside: fs::InsideCache::new(),
            open_files: fs::OpenCache::new(),
            server_line,
        }),
    })
}

impl WebServer {
    /// The bound addresses (with the real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The bound HTTPS addresses.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls_listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` fires, then stops accepting and lets connections in flight
    /// finish their current response (up to the drain timeout).
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let config = &self.shared.config;
        let limits = TcpLimits {
            max_connections: config.max_connections,
            read_timeout: config.timeouts.header_read,
            idle_timeout: config.timeouts.idle,
            max_message: config.limits.max_head_bytes,
            drain_timeout: config.drain_timeout,
        };
        for addr in self.local_addrs() {
            tracing::info!(%addr, root = %config.root.display(), "web server listening");
        }
        let tls_addrs = self.tls_addrs();
        let mut tasks = Vec::new();
        for listener in self.listeners {
            let shared = self.shared.clone();
            tasks.push(tokio::spawn(netio::tcp::serve_parking(
                listener,
                limits.clone(),
                config.park,
                shutdown.clone(),
                move |stream, conn| connection(stream, conn, shared.clone()),
            )));
        }
        for addr in tls_addrs {
            tracing::info!(%addr, "web server listening (HTTPS: h2, http/1.1)");
        }
        for (listener, acceptor) in self.tls_listeners {
            let shared = self.shared.clone();
            tasks.push(tokio::spawn(netio::tcp::serve(
                listener,
                limits.clone(),
                shutdown.clone(),
                move |tcp, conn| tls_connection(tcp, conn, shared.clone(), acceptor.clone()),
            )));
        }
        let mut result = Ok(());
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(error) => result = Err(std::io::Error::other(error)),
            }
        }
        result
    }
}

/// What the connection is doing with the current request's body.
enum Pending {
    None,
    Upload {
        upload: Upload,
        log: LogEntry,
    },
    Collect {
        head: RequestHead,
        path: String,
        body: Vec<u8>,
        log: LogEntry,
    },
    /// A body for a mounted application, up to its limit (past it: `413` at the end).
    App {
        head: RequestHead,
        index: usize,
        body: Vec<u8>,
        too_large: bool,
        log: LogEntry,
    },
}

/// A mounted application's answer being awaited.
struct AppCall {
    future: crate::app::AppFuture,
    timeout: std::time::Duration,
    log: LogEntry,
}

/// The fields of one access-log line.
pub(super) struct LogEntry {
    pub(super) request_line: String,
    pub(super) referer: String,
    pub(super) user_agent: String,
}

impl LogEntry {
    /// The log fields of a request; empty (no allocation) when the access log is off.
    fn new(head: &RequestHead, enabled: bool) -> LogEntry {
        if !enabled {
            return LogEntry {
                request_line: String::new(),
                referer: String::new(),
                user_agent: String::new(),
            };
        }
        LogEntry {
            request_line: head.to_string(),
            referer: head.headers.get("referer").unwrap_or("-").to_owned(),
            user_agent: head.headers.get("user-agent").unwrap_or("-").to_owned(),
        }
    }
}

/// Writes one access-log line (combined log format, target `access`) when the log is on.
pub(super) fn access_log(
    shared: &Shared,
    peer: SocketAddr,
    log: &LogEntry,
    status: StatusCode,
    bytes: u64,
) {
    if !shared.config.access_log {
        return;
    }
    let size = if bytes == 0 {
        "-".to_owned()
    } else {
        bytes.to_string()
    };
    tracing::info!(
        target: "access",
        "{} - - {} \"{}\" {} {} \"{}\" \"{}\"",
        peer.ip(),
        clf_time(SystemTime::now()),
        log.request_line,
        status.as_u16(),
        size,
        log.referer,
        log.user_agent
    );
}

/// The combined log format's time: `[10/Oct/2000:13:55:36 +0000]`.
fn clf_time(now: SystemTime) -> String {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    let date = HttpDate::from_system_time(now).to_string();
    let part = |range: std::ops::Range<usize>| date.get(range).unwrap_or("");
    format!(
        "[{}/{}/{}:{} +0000]",
        part(5..7),
        part(8..11),
        part(12..16),
        part(17..25)
    )
}

thread_local! {
    /// The Date field for the current second, formatted once per second: (unix second,
    /// IMF-fixdate text, the whole `Date: ...\r\n` line).
    static DATE: std::cell::RefCell<(u64, String, Vec<u8>)> = const { std::cell::RefCell::new((0, String::new(), Vec::new())) };
}

/// Runs `f` with today's IMF-fixdate and its encoded `Date` line, from a per-thread cache
/// renewed each second.
fn with_date<T>(f: impl FnOnce(&str, &[u8]) -> T) -> T {
    let now = HttpDate::from_system_time(SystemTime::now());
    DATE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != now.unix() || cache.1.is_empty() {
            let text = now.to_string();
            let line = format!("Date: {text}\r\n").into_bytes();
            *cache = (now.unix(), text, line);
        }
        f(&cache.1, &cache.2)
    })
}

/// Today's IMF-fixdate for the Date field.
pub(super) fn cached_date() -> String {
    with_date(|text, _| text.to_owned())
}

thread_local! {
    /// Response buffers handed from one response to the next (and from connection to
    /// connection), so that building a response allocates nothing.
    static OUTPUT_BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Kept buffers: enough for the responses one thread builds at once.
const OUTPUT_BUFFERS_KEPT: usize = 16;
/// Buffers that grew past this are not kept.
const OUTPUT_BUFFER_MAX: usize = 128 * 1024;

fn output_buffer() -> Vec<u8> {
    OUTPUT_BUFFERS
        .with(|buffers| buffers.borrow_mut().pop())
        .unwrap_or_default()
}

fn recycle_output_buffer(buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > OUTPUT_BUFFER_MAX {
        return;
    }
    OUTPUT_BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        if buffers.len() < OUTPUT_BUFFERS_KEPT {
            buffers.push(buffer);
        }
    });
}

thread_local! {
    /// The buffer small file bodies are read into before they join the response.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 16 * 1024]);
}

struct Connection<'a> {
    stream: Transport,
    machine: ServerConn,
    conn: &'a Conn,
    shared: &'a Shared,
    pending: Pending,
    transfer: Option<Transfer>,
    app_call: Option<AppCall>,
    /// Whether to drain the client's input before closing: after an error answer, when the
    /// client may still be sending (a body we refused, smuggled bytes), closing at once
    /// would reset the connection and could destroy our answer in flight.
    linger: bool,
    /// No bytes have been read yet on this connection (so it may still turn out to be h2c).
    fresh: bool,
    /// The first bytes read, when they were the HTTP/2 preface: the connection goes to
    /// [`super::h2`].
    h2_start: Option<Vec<u8>>,
    /// An accepted `Upgrade: h2c` (the client's settings and its request, stream 1).
    h2_upgrade: Option<(Vec<u8>, h2_proto::conn::Request)>,
}

/// Whether a request asks to switch to h2c (RFC 7540 §3.2) in a way we take: a bodiless
/// request on a bare connection with `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings`
/// and exactly one `HTTP2-Settings` (base64url SETTINGS payload). Returns the decoded
/// settings and the request as HTTP/2 sees it.
fn h2c_upgrade(head: &RequestHead, body_empty: bool) -> Option<(Vec<u8>, h2_proto::conn::Request)> {
    use base64::Engine;
    let headers = &head.headers;
    if !body_empty
        || !headers.has_token("upgrade", "h2c")
        || !headers.has_token("connection", "http2-settings")
        || headers.count("http2-settings") != 1
    {
        return None;
    }
    let encoded = headers.get("http2-settings")?.trim().trim_end_matches('=');
    let settings = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    // Settings that would fail the connection are refused before the 101, so the request
    // is simply answered over HTTP/1.1.
    h2_proto::conn::upgrade_settings(&settings).ok()?;
    let skip = [
        "connection",
        "upgrade",
        "http2-settings",
        "host",
        "keep-alive",
        "te",
        "transfer-encoding",
        "proxy-connection",
    ];
    let fields = headers
        .iter()
        .filter(|(name, _)| !skip.iter().any(|s| name.eq_ignore_ascii_case(s)))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
        .collect();
    let mut path = head.target.path().to_string();
    if let Some(query) = head.target.query() {
        path.push('?');
        path.push_str(query);
    }
    Some((
        settings,
        h2_proto::conn::Request {
            method: head.method.to_string(),
            scheme: "http".into(),
            authority: headers.get("host").map(str::to_owned),
            path,
            fields,
        },
    ))
}

/// Whether the first bytes a client sent begin the HTTP/2 connection preface (h2c with
/// prior knowledge, RFC 9113 §3.3). An HTTP/1.1 request cannot begin `PRI * HTTP/2.0`.
fn starts_h2_preface(bytes: &[u8]) -> bool {
    let n = bytes.len().min(h2_proto::frame::PREFACE.len());
    n >= 4 && bytes[..n] == h2_proto::frame::PREFACE[..n]
}

/// Serves one connection until it closes, or until it has waited idle long enough to be
/// parked (then its socket goes back to netio's idle lot, and a new call serves it when the
/// next request comes).
async fn connection(stream: Stream, conn: Conn, shared: Arc<Shared>) -> Option<Park> {
    serve_http1(Transport::Plain(stream), &conn, &shared).await
}

/// An HTTPS connection: the TLS handshake (bounded by the header timeout), then HTTP/2 or
/// HTTP/1.1 as ALPN chose.
async fn tls_connection(
    tcp: tokio::net::TcpStream,
    conn: Conn,
    shared: Arc<Shared>,
    acceptor: tls::TlsAcceptor,
) {
    let _ = tcp.set_nodelay(true);
    let handshake =
        tokio::time::timeout(shared.config.timeouts.header_read, acceptor.accept(tcp)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(peer = %conn.peer, "TLS handshake failed: {error}");
            return;
        }
        Err(_) => {
            tracing::info!(peer = %conn.peer, "TLS handshake timed out");
            return;
        }
    };
    let session = stream.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2".as_slice());
    if wire::enabled() {
        let summary = format!(
            "TLS handshake {} ALPN {} SNI {}",
            session
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_else(|| "-".into()),
            session.server_name().unwrap_or("-"),
        );
        wire::emit("tls", Dir::Recv, conn.local, conn.peer, &summary);
    }
    if h2 {
        super::h2::serve(stream, &[], &conn, &shared).await;
    } else {
        let _ = serve_http1(Transport::tls(stream), &conn, &shared).await;
    }
}

/// Serves HTTP/1.1 over `stream` (bare or TLS); hands a connection that turns out to be h2c
/// to `super::h2`.
async fn serve_http1(stream: Transport, conn: &Conn, shared: &Arc<Shared>) -> Option<Park> {
    let now = Instant::now();
    let mut connection = Connection {
        stream,
        machine: ServerConn::new(shared.conn_config.clone(), now),
        conn,
        shared,
        pending: Pending::None,
        transfer: None,
        app_call: None,
        linger: false,
        fresh: true,
        h2_start: None,
        h2_upgrade: None,
    };
    let outcome = connection.run().await;
    if let (Some(upgrade), Ok(_)) = (connection.h2_upgrade.take(), &outcome) {
        // 101 after every earlier response, then HTTP/2 with the bytes that came after the
        // request (the client's preface, often).
        let rest = connection.machine.take_tunnel();
        let switch =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        if wire::enabled() {
            wire::emit(
                "http",
                Dir::Send,
                conn.local,
                conn.peer,
                &"101 Switching Protocols (h2c)",
            );
        }
        if connection.stream.write_all(switch).await.is_err() {
            return None;
        }
        if let Transport::Plain(stream) = connection.stream {
            match stream.into_std().and_then(tokio::net::TcpStream::from_std) {
                Ok(tcp) => super::h2::serve_upgraded(tcp, &rest, upgrade, conn, shared).await,
                Err(error) => tracing::debug!(peer = %conn.peer, "h2 hand-over failed: {error}"),
            }
        }
        return None;
    }
    if let Some(initial) = connection.h2_start.take() {
        match connection.stream {
            Transport::Plain(stream) => {
                match stream.into_std().and_then(tokio::net::TcpStream::from_std) {
                    Ok(tcp) => super::h2::serve(tcp, &initial, conn, shared).await,
                    Err(error) => {
                        tracing::debug!(peer = %conn.peer, "h2 hand-over failed: {error}")
                    }
                }
            }
            // Over TLS, HTTP/2 is chosen by ALPN, not by the preface.
            Transport::Tls(_) => {}
        }
        return None;
    }
    match outcome {
        Ok(Some(idle_deadline)) => {
            return connection.stream.into_plain().map(|stream| Park {
                stream,
                idle_deadline,
            })
        }
        Ok(None) => {}
        Err(error) => tracing::debug!(peer = %conn.peer, "connection ended: {error}"),
    }
    // Whatever happened, a partial upload is dropped here (its temporary file removed).
    connection.pending = Pending::None;
    if connection.linger {
        Box::pin(connection.linger()).await;
    }
    None
}

impl Connection<'_> {
    /// Serves requests until the connection closes (`None`) or parks (`Some(idle deadline)`).
    async fn run(&mut self) -> std::io::Result<Option<Instant>> {
        let mut shutdown_seen = false;
        // Whether the last read emptied the socket.
        let mut drained = false;
        // One shutdown waiter for the connection's life rather than one per read.
        let conn = self.conn;
        let shutdown = conn.shutdown.triggered();
        tokio::pin!(shutdown);
        loop {
            while let Some(event) = self.machine.poll_event() {
                self.handle_event(event)?;
                if self.transfer.is_some() || self.app_call.is_some() || self.h2_upgrade.is_some() {
                    break;
                }
            }
            if self.h2_upgrade.is_some() {
                self.flush().await?;
                return Ok(None);
            }
            if let Some(call) = self.app_call.take() {
                // Boxed: applications are the rare path here.
                Box::pin(self.drive_app(call)).await;
                continue;
            }
            if let Some(transfer) = self.transfer.take() {
                // Boxed: the large-file path is rare, and its state would otherwise make
                // every connection's task larger.
                Box::pin(self.drive_transfer(transfer)).await?;
                continue;
            }
            self.flush().await?;
            if self.machine.is_closed() {
                return Ok(None);
            }
            if !shutdown_seen && self.conn.shutdown.is_triggered() {
                shutdown_seen = true;
                self.machine.begin_shutdown();
                continue;
            }
            let deadline = self.machine.poll_timeout();
            if !self.machine.wants_input() {
                match deadline {
                    Some(deadline) => {
                        tokio::time::sleep_until(deadline.into()).await;
                        self.machine.handle_timeout(Instant::now());
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            // An idle connection parks once it has waited `park_after` (at once when many
            // connections are live): its task ends and it waits in netio's lot.
            // Only once a read has found the socket empty: a connection that has just been
            // woken, or accepted, has not yet read what it came for.
            let mut park_at = None;
            let park_after = self.conn.park_after().filter(|_| self.stream.can_park());
            if let (Some(after), Some(idle_deadline)) = (park_after, deadline) {
                if drained && self.machine.is_idle() {
                    if after.is_zero() {
                        return Ok(Some(idle_deadline));
                    }
                    let at = Instant::now() + after;
                    if at < idle_deadline {
                        park_at = Some(at);
                    }
                }
            }
            let wake_at = park_at.or(deadline);
            // Wait for readability without holding a buffer, so that an idle keep-alive
            // connection costs little memory; the read buffer lives on the stack only while
            // the bytes are copied into the machine.
            let ready = async {
                match wake_at {
                    Some(wake_at) => {
                        tokio::time::timeout_at(wake_at.into(), self.stream.readable()).await
                    }
                    None => Ok(self.stream.readable().await),
                }
            };
            let outcome = tokio::select! {
                biased;
                _ = &mut shutdown, if !shutdown_seen => None,
                outcome = ready => Some(outcome),
            };
            let now = Instant::now();
            match outcome {
                None => {
                    shutdown_seen = true;
                    self.machine.begin_shutdown();
                }
                Some(Err(_elapsed)) => {
                    if let (Some(park_at), Some(idle_deadline)) = (park_at, deadline) {
                        if now >= park_at && self.machine.is_idle() {
                            return Ok(Some(idle_deadline));
                        }
                    }
                    self.machine.handle_timeout(now)
                }
                Some(Ok(Err(error))) => return Err(error),
                Some(Ok(Ok(()))) => {
                    // One read buffer per thread, borrowed only between awaits.
                    let result = READ_BUFFER.with(|buffer| {
                        let mut buffer = buffer.borrow_mut();
                        match self.stream.try_read(&mut buffer) {
                            Ok(0) => {
                                self.machine.handle_eof(now);
                                Ok(())
                            }
                            Ok(n)
                                if self.fresh
                                    && self.stream.can_park()
                                    && starts_h2_preface(&buffer[..n]) =>
                            {
                                self.h2_start = Some(buffer[..n].to_vec());
                                Ok(())
                            }
                            Ok(n) => {
                                self.fresh = false;
                                self.machine
                                    .set_date(HttpDate::from_system_time(SystemTime::now()));
                                recycle_output_buffer(
                                    self.machine.provide_output_buffer(output_buffer()),
                                );
                                self.machine.handle_input(now, &buffer[..n]);
                                drained = n < buffer.len();
                                if drained {
                                    // A short read drained the socket: forget the readiness
                                    // now rather than learn it from a read that would block
                                    // (one syscall less per request; a new edge re-arms it).
                                    self.stream.forget_readable();
                                }
                                Ok(())
                            }
                            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                                drained = true;
                                Ok(())
                            }
                            Err(error) => Err(error),
                        }
                    });
                    result?;
                    if self.h2_start.is_some() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Writes what the machine has to send, with the send timeout.
    async fn flush(&mut self) -> std::io::Result<()> {
        let output = self.machine.pending_output();
        if output.is_empty() {
            return Ok(());
        }
        // The usual case: the socket takes the whole response at once, with no timer.
        match self.stream.try_write(output) {
            Ok(n) if n == output.len() => {
                recycle_output_buffer(self.machine.take_output_buffer());
                return Ok(());
            }
            Ok(n) => self.machine.consume_output(n),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
        // Boxed: a slow client is the rare case, and its state would otherwise make every
        // connection's task larger.
        Box::pin(self.flush_slowly()).await
    }

    /// Writes the rest of the output to a client that is not taking it at once.
    async fn flush_slowly(&mut self) -> std::io::Result<()> {
        let output = self.machine.pending_output();
        let len = output.len();
        let timeout = self.shared.config.send_timeout;
        match tokio::time::timeout(timeout, self.stream.write_all(output)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "send timeout",
                ))
            }
        }
        self.machine.consume_output(len);
        Ok(())
    }

    /// Closes gently: half-close, then read and drop what the client still sends for a
    /// moment, so that our last response is not destroyed by a reset.
    async fn linger(&mut self) {
        let stream = &mut self.stream;
        if stream.shutdown().await.is_err() {
            return;
        }
        // On the heap: a buffer inside the future would make every connection's task larger.
        let mut sink = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut total = 0;
        while total < 64 * 1024 {
            match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    }

    fn log(&self, log: &LogEntry, status: StatusCode, bytes: u64) {
        access_log(self.shared, self.conn.peer, log, status, bytes);
    }

    fn emit_request(&self, head: &RequestHead) {
        if wire::enabled() {
            wire::emit(
                "http",
                Dir::Recv,
                self.conn.local,
                self.conn.peer,
                &head.summary(),
            );
        }
    }

    fn decorate(&self, head: &mut ResponseHead) {
        head.headers.append("Date", cached_date());
        head.headers
            .append("Server", self.shared.config.server_name.as_str());
        if wire::enabled() {
            wire::emit(
                "http",
                Dir::Send,
                self.conn.local,
                self.conn.peer,
                &head.summary(),
            );
        }
    }

    /// Sends a complete in-memory response and logs it.
    fn respond(&mut self, log: &LogEntry, mut head: ResponseHead, body: &[u8]) {
        self.decorate(&mut head);
        let status = head.status;
        let sent = if self.machine.is_head_request() || status.forbids_body() {
            0
        } else {
            body.len() as u64
        };
        self.machine.send_response(head, body);
        self.log(log, status, sent);
    }

    fn respond_error(&mut self, log: &LogEntry, status: StatusCode) {
        let (head, body) = files::error_page(status);
        self.respond(log, head, &body);
    }

    fn handle_event(&mut self, event: ServerEvent) -> std::io::Result<()> {
        match event {
            ServerEvent::Request { head, body } => self.handle_request(head, body),
            ServerEvent::Body(data) => {
                match &mut self.pending {
                    Pending::Upload { upload, .. } => {
                        if let Err(error) = upload.write(&data) {
                            tracing::warn!("upload write failed: {error}");
                            if let Pending::Upload { log, .. } =
                                std::mem::replace(&mut self.pending, Pending::None)
                            {
                                self.respond_error(&log, StatusCode::INTERNAL_SERVER_ERROR);
                            }
                        }
                    }
                    Pending::Collect { body, .. } => {
                        if body.len() + data.len() <= 64 * 1024 {
                            body.extend_from_slice(&data);
                        }
                    }
                    Pending::App {
                        body,
                        too_large,
                        index,
                        ..
                    } => {
                        let max = self
                            .shared
                            .config
                            .apps
                            .get(*index)
                            .map_or(0, |mount| mount.app.max_body());
                        if body.len() + data.len() <= max {
                            body.extend_from_slice(&data);
                        } else {
                            *too_large = true;
                            body.clear();
                        }
                    }
                    Pending::None => {}
                }
                Ok(())
            }
            ServerEvent::BodyEnd { .. } => {
                self.finish_pending();
                Ok(())
            }
            ServerEvent::Aborted(reason) => {
                self.linger = true;
                tracing::debug!(peer = %self.conn.peer, "request aborted: {reason:?}");
                // Dropping the upload removes its temporary file.
                self.pending = Pending::None;
                Ok(())
            }
            ServerEvent::Rejected { status, reason } => {
                self.linger = true;
                tracing::debug!(peer = %self.conn.peer, %status, "rejected: {reason}");
                if wire::enabled() {
                    let summary = format!("{} {} ({reason})", status.as_u16(), status.reason());
                    wire::emit("http", Dir::Send, self.conn.local, self.conn.peer, &summary);
                }
                let log = LogEntry {
                    request_line: "-".into(),
                    referer: "-".into(),
                    user_agent: "-".into(),
                };
                self.log(&log, status, 0);
                Ok(())
            }
        }
    }

    /// The current request's body is complete: commit the upload or answer the form.
    fn finish_pending(&mut self) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Upload { upload, log } => {
                let existed = upload.existed;
                match upload.commit() {
                    Ok(()) => {
                        let head = if existed {
                            ResponseHead::new(StatusCode::NO_CONTENT)
                        } else {
                            ResponseHead::new(StatusCode::CREATED).header("Content-Length", "0")
                        };
                        self.respond(&log, head, b"");
                    }
                    Err(error) => {
                        tracing::warn!("upload commit failed: {error}");
                        self.respond_error(&log, StatusCode::INTERNAL_SERVER_ERROR);
                    }
                }
            }
            Pending::Collect {
                head,
                path,
                body,
                log,
            } => self.answer_cookie_site(&head, &path, &body, &log),
            Pending::App {
                head,
                index,
                body,
                too_large,
                log,
            } => {
                if too_large {
                    self.respond_error(&log, StatusCode::CONTENT_TOO_LARGE);
                } else {
                    self.call_app(head, index, body, log);
                }
            }
            Pending::None => {}
        }
    }

    fn answer_cookie_site(&mut self, head: &RequestHead, path: &str, body: &[u8], log: &LogEntry) {
        let prefix = self
            .shared
            .config
            .cookie_site
            .as_ref()
            .map(|s| s.prefix.clone())
            .unwrap_or_default();
        let response = match &self.shared.store {
            Some(store) => {
                let mut store = store
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let store: &mut dyn VisitStore = &mut *store;
                crate::cookie_site::handle(store, head, path, &prefix, body, SystemTime::now())
            }
            None => files::error_page(StatusCode::NOT_FOUND),
        };
        self.respond(log, response.0, &response.1);
    }

    /// Starts a mounted application on a complete request; `run` awaits its answer.
    fn call_app(&mut self, head: RequestHead, index: usize, body: Vec<u8>, log: LogEntry) {
        let Some(mount) = self.shared.config.apps.get(index) else {
            self.respond_error(&log, StatusCode::NOT_FOUND);
            return;
        };
        let request = crate::app::AppRequest {
            head,
            body,
            peer: self.conn.peer,
            local: self.conn.local,
        };
        self.app_call = Some(AppCall {
            future: mount.app.call(request),
            timeout: mount.app.timeout(),
            log,
        });
    }

    /// Awaits an application's answer (or its timeout: `504`) and sends it.
    async fn drive_app(&mut self, call: AppCall) {
        match tokio::time::timeout(call.timeout, call.future).await {
            Ok((head, body)) => self.respond(&call.log, head, &body),
            Err(_) => {
                tracing::warn!(peer = %self.conn.peer, "application answer timed out");
                self.respond_error(&call.log, StatusCode::GATEWAY_TIMEOUT);
            }
        }
    }

    fn handle_request(
        &mut self,
        head: RequestHead,
        body: http_proto::BodyKind,
    ) -> std::io::Result<()> {
        self.emit_request(&head);
        if self.stream.can_park() {
            if let Some(upgrade) = h2c_upgrade(&head, body.is_empty()) {
                self.h2_upgrade = Some(upgrade);
                return Ok(());
            }
        }
        if !body.is_empty() {
            // If we answer before reading the body, the client is still sending it.
            self.linger = true;
        }
        let log = LogEntry::new(&head, self.shared.config.access_log);
        let shared = self.shared;
        let config = &shared.config;
        let allow = if config.allow_write {
            "GET, HEAD, OPTIONS, PUT, DELETE"
        } else {
            "GET, HEAD, OPTIONS"
        };
        match route(config, &head) {
            Route::Error(status) => self.respond_error(&log, status),
            Route::Redirect { status, location } => {
                let (response, body) = files::redirect(status, &location);
                self.respond(&log, response, &body);
            }
            Route::App { index } => {
                let max = config
                    .apps
                    .get(index)
                    .map_or(0, |mount| mount.app.max_body());
                match body {
                    _ if body.is_empty() => self.call_app(head, index, Vec::new(), log),
                    http_proto::BodyKind::Length(length) if length > max as u64 => {
                        self.respond_error(&log, StatusCode::CONTENT_TOO_LARGE)
                    }
                    _ => {
                        self.pending = Pending::App {
                            head,
                            index,
                            body: Vec::new(),
                            too_large: false,
                            log,
                        };
                        self.machine.continue_body();
                    }
                }
            }
            Route::CookieSite { path } => {
                if body.is_empty() {
                    self.answer_cookie_site(&head, &path, b"", &log);
                } else if head.method == Method::Post {
                    self.pending = Pending::Collect {
                        head,
                        path,
                        body: Vec::new(),
                        log,
                    };
                    self.machine.continue_body();
                } else {
                    let (response, body) = files::method_not_allowed("GET, HEAD, POST");
                    self.respond(&log, response, &body);
                }
            }
            Route::File {
                root,
                relative,
                trailing_slash,
            } => match head.method {
                Method::Get | Method::Head => {
                    self.serve_file(&head, &log, root, &relative, trailing_slash)?
                }
                Method::Options => {
                    let response = ResponseHead::new(StatusCode::NO_CONTENT).header("Allow", allow);
                    self.respond(&log, response, b"");
                }
                Method::Put if config.allow_write => {
                    if trailing_slash || relative.as_os_str().is_empty() {
                        let (response, body) = files::method_not_allowed(allow);
                        self.respond(&log, response, &body);
                        return Ok(());
                    }
                    // Preconditions against the current file (If-None-Match: * = create only).
                    let current = match fs::open(
                        root,
                        &relative,
                        &self.shared.inside,
                        &self.shared.open_files,
                    ) {
                        Opened::File(_, info, _) => Some(info),
                        // Unknown whether it exists: no precondition can be decided.
                        Opened::Failed(error) => {
                            self.open_failed(&log, &relative, &error);
                            return Ok(());
                        }
                        _ => None,
                    };
                    let etag = current.as_ref().map(|i| (i.etag(), i.last_modified()));
                    let precondition = files::evaluate_preconditions(
                        &head,
                        etag.as_ref().map(|(tag, date)| (tag, *date)),
                    );
                    if precondition != files::Precondition::Proceed {
                        self.respond_error(&log, StatusCode::PRECONDITION_FAILED);
                        return Ok(());
                    }
                    match Upload::start(root, &relative) {
                        Ok(upload) => {
                            if body.is_empty() {
                                self.pending = Pending::Upload { upload, log };
                                self.finish_pending();
                            } else {
                                self.pending = Pending::Upload { upload, log };
                                self.machine.continue_body();
                            }
                        }
                        Err(status) if status == StatusCode::METHOD_NOT_ALLOWED => {
                            let (response, body) = files::method_not_allowed(allow);
                            self.respond(&log, response, &body);
                        }
                        Err(status) => self.respond_error(&log, status),
                    }
                }
                Method::Delete if config.allow_write => {
                    let status = fs::delete(root, &relative);
                    if status == StatusCode::NO_CONTENT {
                        self.respond(&log, ResponseHead::new(status), b"");
                    } else if status == StatusCode::METHOD_NOT_ALLOWED {
                        let (response, body) = files::method_not_allowed(allow);
                        self.respond(&log, response, &body);
                    } else {
                        self.respond_error(&log, status);
                    }
                }
                Method::Other(_) => self.respond_error(&log, StatusCode::NOT_IMPLEMENTED),
                _ => {
                    let (response, body) = files::method_not_allowed(allow);
                    self.respond(&log, response, &body);
                }
            },
        }
        Ok(())
    }

    fn serve_file(
        &mut self,
        head: &RequestHead,
        log: &LogEntry,
        root: &Path,
        relative: &Path,
        trailing_slash: bool,
    ) -> std::io::Result<()> {
        match fs::open(root, relative, &self.shared.inside, &self.shared.open_files) {
            Opened::Missing => self.respond_error(log, StatusCode::NOT_FOUND),
            Opened::Forbidden => self.respond_error(log, StatusCode::NOT_FOUND),
            Opened::Failed(error) => self.open_failed(log, relative, &error),
            Opened::Dir(dir) => {
                if !trailing_slash {
                    let mut location = format!("{}/", head.target.path());
                    if let Some(query) = head.target.query() {
                        location.push('?');
                        location.push_str(query);
                    }
                    let (response, body) =
                        files::redirect(StatusCode::MOVED_PERMANENTLY, &location);
                    self.respond(log, response, &body);
                    return Ok(());
                }
                for index in &self.shared.config.index_files {
                    let candidate = relative.join(index);
                    match fs::open(
                        root,
                        &candidate,
                        &self.shared.inside,
                        &self.shared.open_files,
                    ) {
                        Opened::File(file, info, content) => {
                            return self.send_file(head, log, (file, content), info, &candidate);
                        }
                        Opened::Failed(error) => {
                            self.open_failed(log, &candidate, &error);
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                if !self.shared.config.autoindex {
                    self.respond_error(log, StatusCode::FORBIDDEN);
                    return Ok(());
                }
                match fs::list(&dir) {
                    Ok(entries) => {
                        let body = files::directory_listing(head.target.path(), entries);
                        let response = ResponseHead::new(StatusCode::OK)
                            .header("Content-Type", "text/html; charset=utf-8")
                            .header("Content-Length", body.len().to_string());
                        self.respond(log, response, &body);
                    }
                    Err(_) => self.respond_error(log, StatusCode::FORBIDDEN),
                }
            }
            Opened::File(file, info, content) => {
                return self.send_file(head, log, (file, content), info, relative);
            }
        }
        Ok(())
    }

    /// A file that could not be opened for a reason of the server's own: one log line and a 500.
    fn open_failed(&mut self, log: &LogEntry, path: &Path, error: &std::io::Error) {
        tracing::warn!(peer = %self.conn.peer, path = %path.display(), "cannot open: {error}");
        self.respond_error(log, StatusCode::INTERNAL_SERVER_ERROR);
    }

    fn send_file(
        &mut self,
        head: &RequestHead,
        log: &LogEntry,
        (file, content): (Arc<std::fs::File>, Option<Arc<fs::CachedBody>>),
        info: files::FileInfo,
        path: &Path,
    ) -> std::io::Result<()> {
        let content_type = media_type_for(&path.to_string_lossy());
        if let Some(body) = &content {
            if body.info == info && is_plain(head) && !wire::enabled() {
                self.send_cached(head, log, body, content_type);
                return Ok(());
            }
        }
        // Only a multi-range answer needs a boundary.
        let boundary = if head.headers.contains("range") {
            format!(
                "applayer-{:x}-{:x}",
                std::process::id(),
                self.shared.boundaries.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            String::new()
        };
        let plan = plan_file(head, &info, content_type, &boundary);
        let mut response = plan.head;
        self.decorate(&mut response);
        let status = response.status;
        self.machine.send_head(response);
        let total: u64 = plan
            .parts
            .iter()
            .map(|p| p.prefix.len() as u64 + p.range.end - p.range.start)
            .sum::<u64>()
            + plan.suffix.len() as u64;
        let transfer = Transfer {
            file,
            content,
            parts: plan.parts.into(),
            suffix: plan.suffix,
            status,
            log: LogEntry {
                request_line: log.request_line.clone(),
                referer: log.referer.clone(),
                user_agent: log.user_agent.clone(),
            },
            sent: 0,
        };
        if total <= SMALL_BODY {
            // The hot path: head and body leave in one write.
            self.send_small(transfer)
        } else {
            self.transfer = Some(transfer);
            Ok(())
        }
    }

    /// Reads a small body into the machine's output and ends the response.
    fn send_small(&mut self, mut transfer: Transfer) -> std::io::Result<()> {
        if let Some(content) = transfer.content.take() {
            // From the open-file cache: no read at all.
            while let Some(part) = transfer.parts.pop_front() {
                self.machine.send_body(&part.prefix);
                let bytes = content
                    .bytes
                    .get(part.range.start as usize..part.range.end as usize)
                    .unwrap_or_default();
                self.machine.send_body(bytes);
                transfer.sent += (part.prefix.len() + bytes.len()) as u64;
            }
        } else {
            self.read_small(&mut transfer)?;
        }
        self.machine.send_body(&transfer.suffix);
        transfer.sent += transfer.suffix.len() as u64;
        self.machine.finish();
        self.log(&transfer.log, transfer.status, transfer.sent);
        Ok(())
    }

    /// The fast path for a plain GET or HEAD of a cached small file: the response's fields
    /// were encoded by the first such response (from the same plan as every other answer),
    /// so this one only adds the status line, Date and Server.
    fn send_cached(
        &mut self,
        head: &RequestHead,
        log: &LogEntry,
        body: &fs::CachedBody,
        content_type: &str,
    ) {
        let fields = body.head.get_or_init(|| {
            let plan = plan_file(head, &body.info, content_type, "");
            let mut fields = Vec::new();
            plan.head.headers.encode(&mut fields);
            fields.into()
        });
        let len = body.info.len;
        with_date(|_, date| {
            self.machine.send_encoded_head(
                StatusCode::OK,
                &[fields, date, &self.shared.server_line],
                len,
            )
        });
        self.machine.send_body(&body.bytes);
        self.machine.finish();
        let sent = if head.method == Method::Head { 0 } else { len };
        self.log(log, StatusCode::OK, sent);
    }

    /// Reads a small body's parts from its file into the machine's output.
    fn read_small(&mut self, transfer: &mut Transfer) -> std::io::Result<()> {
        let largest = transfer
            .parts
            .iter()
            .map(|p| p.range.end - p.range.start)
            .max()
            .unwrap_or(0);
        // One scratch buffer per thread (at most SMALL_BODY bytes), not one per response.
        SCRATCH.with(|scratch| -> std::io::Result<()> {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < largest as usize {
                scratch.resize(largest as usize, 0);
            }
            while let Some(part) = transfer.parts.pop_front() {
                self.machine.send_body(&part.prefix);
                transfer.sent += part.prefix.len() as u64;
                let want = (part.range.end - part.range.start) as usize;
                let got = fs::read_at(&transfer.file, part.range.start, &mut scratch[..want])?;
                // A file that shrank under us leaves the response short; `finish` closes.
                self.machine.send_body(&scratch[..got]);
                transfer.sent += got as u64;
            }
            Ok(())
        })
    }

    /// Streams a large body: the file goes to the socket with `sendfile` (not through the
    /// machine's output), and the machine is told how much went.
    async fn drive_transfer(&mut self, mut transfer: Transfer) -> std::io::Result<()> {
        // Corked, the head and the file leave in full-sized segments (a head alone in its
        // own small segment, and short segments between sendfile calls, cost the receiver).
        let corked = self.stream.set_cork(true).is_ok();
        let result = self.send_parts(&mut transfer).await;
        if corked {
            let _ = self.stream.set_cork(false);
        }
        result?;
        self.machine.send_body(&transfer.suffix);
        transfer.sent += transfer.suffix.len() as u64;
        self.machine.finish();
        self.log(&transfer.log, transfer.status, transfer.sent);
        Ok(())
    }

    /// The parts of a large body: each part's prefix through the machine, its bytes with
    /// `sendfile`.
    async fn send_parts(&mut self, transfer: &mut Transfer) -> std::io::Result<()> {
        while let Some(part) = transfer.parts.pop_front() {
            self.machine.send_body(&part.prefix);
            transfer.sent += part.prefix.len() as u64;
            self.flush().await?;
            // Never more than the response's framing still allows.
            let want = part.range.end - part.range.start;
            let allowed = self.machine.body_remaining().unwrap_or(0).min(want);
            let got = self
                .stream
                .send_file(
                    &transfer.file,
                    part.range.start,
                    allowed,
                    self.shared.config.send_timeout,
                )
                .await?;
            self.machine.body_sent_directly(got);
            transfer.sent += got;
            if got < want {
                // The file shrank under us: the response is short, and `finish` closes.
                break;
            }
        }
        Ok(())
    }
}

/// Whether a GET or HEAD asks for the whole file unconditionally (no Range, If-Range or
/// other `If-` precondition), so that the plain `200 OK` answers it.
fn is_plain(head: &RequestHead) -> bool {
    matches!(head.method, Method::Get | Method::Head)
        && head.headers.iter().all(|(name, _)| {
            !(name.eq_ignore_ascii_case("range")
                || name
                    .get(..3)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("if-")))
        })
}

/// Bodies up to this size are read whole and sent with the head in one write.
const SMALL_BODY: u64 = 64 * 1024;

/// A file body being sent.
struct Transfer {
    file: Arc<std::fs::File>,
    /// The whole file, when the open-file cache holds it.
    content: Option<Arc<fs::CachedBody>>,
    parts: std::collections::VecDeque<files::FilePart>,
    suffix: Vec<u8>,
    status: StatusCode,
    log: LogEntry,
    sent: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_defer_accept_unless_told_not_to() {
        let root = std::env::temp_dir();
        let mut config = WebServerConfig::new(&root);
        config.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
        let server = bind(config.clone()).await.unwrap();
        assert!(netio::tcp::defers_accept(&server.listeners[0]).unwrap());
        config.defer_accept = false;
        let server = bind(config).await.unwrap();
        assert!(!netio::tcp::defers_accept(&server.listeners[0]).unwrap());
    }
}
