//! HTTP/2 for the origin server: a connection whose first bytes are the HTTP/2 preface (h2c
//! with prior knowledge) is handed here from the HTTP/1.1 driver and served by
//! `h2_proto::conn::ServerConn`. Each stream is routed and answered by the same code as an
//! HTTP/1.1 request (files with conditional and range requests, directory indexes and
//! listings, redirects, the cookie site, mounted applications, PUT and DELETE); file bodies are
//! read in pieces as the stream's window and the scheduler take them, so one large file does
//! not hold the connection's memory.

use super::fs::{self, Opened, Upload};
use super::server::{cached_date, LogEntry, Shared};
use crate::files::{self, plan_file, FilePart};
use crate::route::{route, Route};
use h2_proto::conn::{Config as H2Config, Direction, Event, Request, ServerConn};
use h2_proto::frame::ErrorCode;
use http_proto::{
    media_type_for, Method, RequestHead, RequestTarget, ResponseHead, StatusCode, Version,
};
use netio::tcp::Conn;
use netio::wire::{self, Dir};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

/// How much of a file body we queue on a stream ahead of the scheduler.
const STREAM_AHEAD: usize = 64 * 1024;
/// The largest HTML page scanned for objects to push or hint.
const PAGE_SCAN_MAX: u64 = 256 * 1024;
/// At most this many objects are pushed or hinted per page.
const MAX_ANNOUNCED: usize = 16;
/// How much we hand the socket per write.
const WRITE_CHUNK: usize = 256 * 1024;
/// After a shutdown's GOAWAY, how long open streams may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// After our last bytes, how long we read and discard what the client still sends, so
/// that closing with unread input does not reset the connection before it reads our
/// GOAWAY; and how much we read at most.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_MAX: usize = 1 << 20;

/// A file body being sent on a stream.
struct FileBody {
    file: Arc<std::fs::File>,
    parts: VecDeque<FilePart>,
    suffix: Vec<u8>,
}

/// What a stream's request body goes to.
enum Incoming {
    Ignore,
    Collect {
        head: RequestHead,
        body: Vec<u8>,
        max: usize,
        too_large: bool,
        target: CollectFor,
    },
    Upload(Upload),
}

enum CollectFor {
    CookieSite(String),
    App(usize),
}

struct Active {
    log: LogEntry,
    status: StatusCode,
    sent: u64,
    body: Option<FileBody>,
    incoming: Incoming,
}

/// A mounted application's answer for a stream (`None`: it timed out).
type AppAnswer = (u32, Option<(ResponseHead, Vec<u8>)>);

struct H2<'a> {
    machine: ServerConn,
    conn: &'a Conn,
    shared: &'a Shared,
    streams: HashMap<u32, Active>,
    apps: JoinSet<AppAnswer>,
    /// Logs of streams whose application answer is awaited.
    app_logs: HashMap<u32, LogEntry>,
    /// The running applications' tasks, to abort one when its stream is reset.
    app_tasks: HashMap<u32, tokio::task::AbortHandle>,
}

/// Serves an HTTP/2 connection to its end; `initial` holds the bytes already read (the
/// preface's start).
pub(super) async fn serve<S>(io: S, initial: &[u8], conn: &Conn, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let machine = ServerConn::new(h2_config());
    drive(io, machine, initial, conn, shared).await;
}

/// Serves a connection upgraded from HTTP/1.1 (`Upgrade: h2c`): `settings` is the decoded
/// `HTTP2-Settings`, `request` stream 1; `initial` the bytes read after the request.
pub(super) async fn serve_upgraded<S>(
    io: S,
    initial: &[u8],
    (settings, request): (Vec<u8>, Request),
    conn: &Conn,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ServerConn::upgraded(h2_config(), &settings, request) {
        Ok(machine) => drive(io, machine, initial, conn, shared).await,
        Err(error) => tracing::info!(peer = %conn.peer, "bad HTTP2-Settings: {error:?}"),
    }
}

fn h2_config() -> H2Config {
    H2Config {
        record: wire::enabled(),
        ..H2Config::default()
    }
}

async fn drive<S>(mut io: S, machine: ServerConn, initial: &[u8], conn: &Conn, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut h2 = H2 {
        machine,
        conn,
        shared,
        streams: HashMap::new(),
        apps: JoinSet::new(),
        app_logs: HashMap::new(),
        app_tasks: HashMap::new(),
    };
    if let Err(error) = h2.run(&mut io, initial).await {
        tracing::debug!(peer = %conn.peer, "h2 connection ended: {error}");
    }
    if let Some((code, reason)) = h2.machine.error() {
        tracing::info!(peer = %conn.peer, "h2 connection closed with {code}: {reason}");
    }
    let _ = io.shutdown().await;
    linger(&mut io).await;
}

/// Reads and drops what the client still sends, for a moment (see [`LINGER`]).
async fn linger<S>(io: &mut S)
where
    S: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while read < LINGER_MAX {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

impl H2<'_> {
    async fn run<S>(&mut self, io: &mut S, initial: &[u8]) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = self.conn;
        let shutdown = conn.shutdown.triggered();
        tokio::pin!(shutdown);
        let mut shutdown_seen = false;
        let mut shutdown_deadline: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let idle = self.shared.config.timeouts.idle;
        let body_timeout = self.shared.config.timeouts.body_read;
        // The last time bytes moved either way, or an application was at work.
        let mut last_active = Instant::now();
        let mut buf = vec![0u8; 32 * 1024];
        let mut out = Vec::with_capacity(WRITE_CHUNK + 16 * 1024);
        self.machine.handle_input(initial, Instant::now());
        loop {
            self.drain_events();
            // Write until the machine has nothing more (file bodies refilled as they go).
            loop {
                self.feed_bodies();
                out.clear();
                self.machine.poll_transmit(&mut out, WRITE_CHUNK);
                self.emit_frames();
                if out.is_empty() {
                    break;
                }
                tokio::time::timeout(self.shared.config.send_timeout, io.write_all(&out))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                last_active = Instant::now();
                self.finish_logs();
            }
            io.flush().await?;
            if self.machine.is_closed() {
                return Ok(());
            }
            if !self.apps.is_empty() {
                last_active = Instant::now();
            }
            tokio::select! {
                read = io.read(&mut buf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    last_active = Instant::now();
                    self.machine.handle_input(&buf[..n], last_active);
                }
                Some(joined) = self.apps.join_next(), if !self.apps.is_empty() => {
                    if let Ok((stream, answer)) = joined {
                        self.app_tasks.remove(&stream);
                        self.app_answered(stream, answer);
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.machine.handle_timeout(now);
                    let quiet = now.saturating_duration_since(last_active);
                    if self.machine.open_streams() == 0 {
                        if quiet >= idle {
                            self.machine.shutdown();
                        }
                    } else if quiet >= body_timeout {
                        // Streams open and nothing moving: the client owes request bodies
                        // (a response would be moving, or stalled, which the machine's
                        // own timer ends).
                        self.body_timed_out();
                        last_active = now;
                    }
                    if shutdown_deadline.is_some_and(|deadline| now >= deadline) {
                        tracing::info!(peer = %conn.peer, streams = self.machine.open_streams(),
                            "h2 shutdown grace over, closing");
                        return Ok(());
                    }
                }
                _ = &mut shutdown, if !shutdown_seen => {
                    shutdown_seen = true;
                    shutdown_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                    self.machine.shutdown();
                }
            }
        }
    }

    fn emit_frames(&mut self) {
        if !wire::enabled() {
            return;
        }
        for (direction, summary) in self.machine.take_log() {
            let dir = match direction {
                Direction::Received => Dir::Recv,
                Direction::Sent => Dir::Send,
            };
            wire::emit("h2", dir, self.conn.local, self.conn.peer, &summary);
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            match event {
                Event::Request {
                    stream,
                    request,
                    end_stream,
                } => self.request(stream, request, end_stream),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => self.data(stream, &data, end_stream),
                Event::Reset { stream, code } => {
                    tracing::debug!(peer = %self.conn.peer, stream, "stream reset: {code}");
                    // Dropping an upload removes its temporary file.
                    self.streams.remove(&stream);
                    self.app_logs.remove(&stream);
                    if let Some(task) = self.app_tasks.remove(&stream) {
                        task.abort();
                    }
                }
                Event::GoAway { .. } => {}
            }
        }
    }

    /// Queues file bytes on each stream that has room.
    fn feed_bodies(&mut self) {
        let mut finished = Vec::new();
        for (&id, active) in &mut self.streams {
            let Some(body) = &mut active.body else {
                continue;
            };
            let Some(mut queued) = self.machine.buffered(id) else {
                continue;
            };
            while queued < STREAM_AHEAD {
                let Some(part) = body.parts.front_mut() else {
                    let suffix = std::mem::take(&mut body.suffix);
                    active.sent += suffix.len() as u64;
                    let _ = self.machine.send_data(id, &suffix, true);
                    finished.push(id);
                    break;
                };
                if !part.prefix.is_empty() {
                    let prefix = std::mem::take(&mut part.prefix);
                    active.sent += prefix.len() as u64;
                    queued += prefix.len();
                    let _ = self.machine.send_data(id, &prefix, false);
                }
                let want = (part.range.end - part.range.start).min(32 * 1024) as usize;
                if want == 0 {
                    body.parts.pop_front();
                    continue;
                }
                let mut chunk = vec![0u8; want];
                match fs::read_at(&body.file, part.range.start, &mut chunk) {
                    Ok(0) | Err(_) => {
                        // The file shrank or failed under us: the response cannot be
                        // completed as announced.
                        tracing::warn!(peer = %self.conn.peer, stream = id, "file body ended early");
                        self.machine.reset(id, ErrorCode::INTERNAL_ERROR);
                        finished.push(id);
                        break;
                    }
                    Ok(n) => {
                        part.range.start += n as u64;
                        active.sent += n as u64;
                        queued += n;
                        let _ = self.machine.send_data(id, &chunk[..n], false);
                    }
                }
            }
        }
        for id in finished {
            if let Some(active) = self.streams.get_mut(&id) {
                active.body = None;
            }
        }
    }

    /// Logs the streams whose responses are complete.
    fn finish_logs(&mut self) {
        let done: Vec<u32> = self
            .streams
            .iter()
            .filter(|(id, a)| {
                a.body.is_none()
                    && matches!(a.incoming, Incoming::Ignore)
                    && self.machine.buffered(**id).is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(active) = self.streams.remove(&id) {
                self.log(&active.log, active.status, active.sent);
            }
        }
    }

    fn log(&self, log: &LogEntry, status: StatusCode, bytes: u64) {
        super::server::access_log(self.shared, self.conn.peer, log, status, bytes);
    }

    fn request(&mut self, stream: u32, request: Request, end_stream: bool) {
        let Some(head) = request_head(&request) else {
            self.respond_error(stream, empty_log(), StatusCode::BAD_REQUEST);
            return;
        };
        if wire::enabled() {
            let summary = format!("{} (stream {stream})", head.summary());
            wire::emit("http", Dir::Recv, self.conn.local, self.conn.peer, &summary);
        }
        let log = log_entry(&head, &request, self.shared.config.access_log);
        let shared = self.shared;
        let config = &shared.config;
        let allow = if config.allow_write {
            "GET, HEAD, OPTIONS, PUT, DELETE"
        } else {
            "GET, HEAD, OPTIONS"
        };
        match route(config, &head) {
            Route::Error(status) => self.respond_error(stream, log, status),
            Route::Redirect { status, location } => {
                let (response, body) = files::redirect(status, &location);
                self.respond(stream, log, &head, response, &body);
            }
            Route::App { index } => {
                let max = config.apps.get(index).map_or(0, |m| m.app.max_body());
                if end_stream {
                    self.call_app(stream, head, index, Vec::new(), log);
                } else {
                    self.collect(stream, head, log, max, CollectFor::App(index));
                }
            }
            Route::CookieSite { path } => {
                if end_stream {
                    self.cookie_site(stream, &head, &path, b"", log);
                } else if head.method == Method::Post {
                    self.collect(stream, head, log, 64 * 1024, CollectFor::CookieSite(path));
                } else {
                    let (response, body) = files::method_not_allowed("GET, HEAD, POST");
                    self.respond(stream, log, &head, response, &body);
                }
            }
            Route::File {
                root,
                relative,
                trailing_slash,
            } => match head.method {
                Method::Get | Method::Head => {
                    self.serve_file(stream, &head, log, root, &relative, trailing_slash)
                }
                Method::Options => {
                    let response = ResponseHead::new(StatusCode::NO_CONTENT).header("Allow", allow);
                    self.respond(stream, log, &head, response, b"");
                }
                Method::Put if config.allow_write => self.put(
                    stream,
                    &head,
                    log,
                    root,
                    &relative,
                    trailing_slash,
                    allow,
                    end_stream,
                ),
                Method::Delete if config.allow_write => {
                    let status = fs::delete(root, &relative);
                    if status == StatusCode::NO_CONTENT {
                        self.respond(stream, log, &head, ResponseHead::new(status), b"");
                    } else if status == StatusCode::METHOD_NOT_ALLOWED {
                        let (response, body) = files::method_not_allowed(allow);
                        self.respond(stream, log, &head, response, &body);
                    } else {
                        self.respond_error(stream, log, status);
                    }
                }
                Method::Other(_) => self.respond_error(stream, log, StatusCode::NOT_IMPLEMENTED),
                _ => {
                    let (response, body) = files::method_not_allowed(allow);
                    self.respond(stream, log, &head, response, &body);
                }
            },
        }
    }

    fn collect(
        &mut self,
        stream: u32,
        head: RequestHead,
        log: LogEntry,
        max: usize,
        target: CollectFor,
    ) {
        let declared = head
            .headers
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max as u64) {
            self.respond_error(stream, log, StatusCode::CONTENT_TOO_LARGE);
            return;
        }
        self.streams.insert(
            stream,
            Active {
                log,
                status: StatusCode::OK,
                sent: 0,
                body: None,
                incoming: Incoming::Collect {
                    head,
                    body: Vec::new(),
                    max,
                    too_large: false,
                    target,
                },
            },
        );
    }

    fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        let Some(active) = self.streams.get_mut(&stream) else {
            return;
        };
        match &mut active.incoming {
            Incoming::Ignore => {}
            Incoming::Collect {
                body,
                max,
                too_large,
                ..
            } => {
                if body.len() + data.len() <= *max {
                    body.extend_from_slice(data);
                } else {
                    *too_large = true;
                    body.clear();
                }
            }
            Incoming::Upload(upload) => {
                if let Err(error) = upload.write(data) {
                    tracing::warn!("upload write failed: {error}");
                    let log = std::mem::replace(&mut active.log, empty_log());
                    self.streams.remove(&stream);
                    self.respond_error(stream, log, StatusCode::INTERNAL_SERVER_ERROR);
                    return;
                }
            }
        }
        if !end_stream {
            return;
        }
        let Some(active) = self.streams.remove(&stream) else {
            return;
        };
        match active.incoming {
            Incoming::Ignore => {
                self.streams.insert(stream, active);
            }
            Incoming::Collect {
                head,
                body,
                too_large,
                target,
                ..
            } => {
                if too_large {
                    self.respond_error(stream, active.log, StatusCode::CONTENT_TOO_LARGE);
                    return;
                }
                match target {
                    CollectFor::CookieSite(path) => {
                        self.cookie_site(stream, &head, &path, &body, active.log)
                    }
                    CollectFor::App(index) => self.call_app(stream, head, index, body, active.log),
                }
            }
            Incoming::Upload(upload) => self.commit_upload(stream, upload, active.log),
        }
    }

    fn commit_upload(&mut self, stream: u32, upload: Upload, log: LogEntry) {
        let existed = upload.existed;
        match upload.commit() {
            Ok(()) => {
                let head = if existed {
                    ResponseHead::new(StatusCode::NO_CONTENT)
                } else {
                    ResponseHead::new(StatusCode::CREATED).header("Content-Length", "0")
                };
                self.send(stream, log, head, b"", false);
            }
            Err(error) => {
                tracing::warn!("upload commit failed: {error}");
                self.respond_error(stream, log, StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        stream: u32,
        head: &RequestHead,
        log: LogEntry,
        root: &Path,
        relative: &Path,
        trailing_slash: bool,
        allow: &str,
        end_stream: bool,
    ) {
        if trailing_slash || relative.as_os_str().is_empty() {
            let (response, body) = files::method_not_allowed(allow);
            self.respond(stream, log, head, response, &body);
            return;
        }
        let current = match fs::open(root, relative, &self.shared.inside, &self.shared.open_files) {
            Opened::File(_, info, _) => Some(info),
            Opened::Failed(error) => {
                tracing::warn!(peer = %self.conn.peer, path = %relative.display(), "cannot open: {error}");
                self.respond_error(stream, log, StatusCode::INTERNAL_SERVER_ERROR);
                return;
            }
            _ => None,
        };
        let etag = current.as_ref().map(|i| (i.etag(), i.last_modified()));
        let precondition =
            files::evaluate_preconditions(head, etag.as_ref().map(|(tag, date)| (tag, *date)));
        if precondition != files::Precondition::Proceed {
            self.respond_error(stream, log, StatusCode::PRECONDITION_FAILED);
            return;
        }
        match Upload::start(root, relative) {
            Ok(upload) if end_stream => self.commit_upload(stream, upload, log),
            Ok(upload) => {
                self.streams.insert(
                    stream,
                    Active {
                        log,
                        status: StatusCode::OK,
                        sent: 0,
                        body: None,
                        incoming: Incoming::Upload(upload),
                    },
                );
            }
            Err(status) if status == StatusCode::METHOD_NOT_ALLOWED => {
                let (response, body) = files::method_not_allowed(allow);
                self.respond(stream, log, head, response, &body);
            }
            Err(status) => self.respond_error(stream, log, status),
        }
    }

    fn cookie_site(
        &mut self,
        stream: u32,
        head: &RequestHead,
        path: &str,
        body: &[u8],
        log: LogEntry,
    ) {
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
                let store: &mut dyn crate::cookie_site::VisitStore = &mut *store;
                crate::cookie_site::handle(store, head, path, &prefix, body, SystemTime::now())
            }
            None => files::error_page(StatusCode::NOT_FOUND),
        };
        self.respond(stream, log, head, response.0, &response.1);
    }

    fn call_app(
        &mut self,
        stream: u32,
        head: RequestHead,
        index: usize,
        body: Vec<u8>,
        log: LogEntry,
    ) {
        let Some(mount) = self.shared.config.apps.get(index) else {
            self.respond_error(stream, log, StatusCode::NOT_FOUND);
            return;
        };
        let request = crate::app::AppRequest {
            head,
            body,
            peer: self.conn.peer,
            local: self.conn.local,
        };
        let future = mount.app.call(request);
        let timeout = mount.app.timeout();
        self.app_logs.insert(stream, log);
        let task = self
            .apps
            .spawn(async move { (stream, tokio::time::timeout(timeout, future).await.ok()) });
        self.app_tasks.insert(stream, task);
    }

    /// The client stopped sending request bodies it owes: each such stream is logged as
    /// `408` and reset (CANCEL), its upload's temporary file removed.
    fn body_timed_out(&mut self) {
        for stream in self.machine.receiving_streams() {
            tracing::info!(peer = %self.conn.peer, stream, "h2 request body timed out");
            if let Some(active) = self.streams.remove(&stream) {
                self.log(&active.log, StatusCode::REQUEST_TIMEOUT, active.sent);
            }
            self.machine.reset(stream, ErrorCode::CANCEL);
        }
    }

    fn app_answered(&mut self, stream: u32, answer: Option<(ResponseHead, Vec<u8>)>) {
        let Some(log) = self.app_logs.remove(&stream) else {
            return;
        };
        match answer {
            Some((head, body)) => self.send(stream, log, head, &body, false),
            None => {
                tracing::warn!(peer = %self.conn.peer, "application answer timed out");
                self.respond_error(stream, log, StatusCode::GATEWAY_TIMEOUT);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn serve_file(
        &mut self,
        stream: u32,
        head: &RequestHead,
        log: LogEntry,
        root: &Path,
        relative: &Path,
        trailing_slash: bool,
    ) {
        let shared = self.shared;
        match fs::open(root, relative, &shared.inside, &shared.open_files) {
            Opened::Missing | Opened::Forbidden => {
                self.respond_error(stream, log, StatusCode::NOT_FOUND)
            }
            Opened::Failed(error) => {
                tracing::warn!(peer = %self.conn.peer, path = %relative.display(), "cannot open: {error}");
                self.respond_error(stream, log, StatusCode::INTERNAL_SERVER_ERROR);
            }
            Opened::Dir(dir) => {
                if !trailing_slash {
                    let mut location = format!("{}/", head.target.path());
                    if let Some(query) = head.target.query() {
                        location.push('?');
                        location.push_str(query);
                    }
                    let (response, body) =
                        files::redirect(StatusCode::MOVED_PERMANENTLY, &location);
                    self.respond(stream, log, head, response, &body);
                    return;
                }
                for index in &shared.config.index_files {
                    let candidate = relative.join(index);
                    match fs::open(root, &candidate, &shared.inside, &shared.open_files) {
                        Opened::File(file, info, _) => {
                            return self.send_file(stream, head, log, file, info, &candidate);
                        }
                        Opened::Failed(_) => {
                            self.respond_error(stream, log, StatusCode::INTERNAL_SERVER_ERROR);
                            return;
                        }
                        _ => {}
                    }
                }
                if !shared.config.autoindex {
                    self.respond_error(stream, log, StatusCode::FORBIDDEN);
                    return;
                }
                match fs::list(&dir) {
                    Ok(entries) => {
                        let body = files::directory_listing(head.target.path(), entries);
                        let response = ResponseHead::new(StatusCode::OK)
                            .header("Content-Type", "text/html; charset=utf-8")
                            .header("Content-Length", body.len().to_string());
                        self.respond(stream, log, head, response, &body);
                    }
                    Err(_) => self.respond_error(stream, log, StatusCode::FORBIDDEN),
                }
            }
            Opened::File(file, info, _) => self.send_file(stream, head, log, file, info, relative),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_file(
        &mut self,
        stream: u32,
        head: &RequestHead,
        log: LogEntry,
        file: Arc<std::fs::File>,
        info: files::FileInfo,
        path: &Path,
    ) {
        let content_type = media_type_for(&path.to_string_lossy());
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
        let total: u64 = plan
            .parts
            .iter()
            .map(|p| p.prefix.len() as u64 + p.range.end - p.range.start)
            .sum::<u64>()
            + plan.suffix.len() as u64;
        let bodiless = head.method == Method::Head || plan.head.status.forbids_body() || total == 0;
        let status = plan.head.status;
        let config = &self.shared.config;
        if (config.h2_push || config.early_hints)
            && status == StatusCode::OK
            && head.method == Method::Get
            && content_type.starts_with("text/html")
            && info.len <= PAGE_SCAN_MAX
        {
            self.announce_objects(stream, head, &file, info.len);
        }
        if !self.send_head(stream, plan.head, bodiless) {
            return;
        }
        self.streams.insert(
            stream,
            Active {
                log,
                status,
                sent: 0,
                body: (!bodiless).then(|| FileBody {
                    file,
                    parts: plan.parts.into(),
                    suffix: plan.suffix,
                }),
                incoming: Incoming::Ignore,
            },
        );
    }

    /// For an HTML page: `103 Early Hints` with a preload link per referenced object, and/or
    /// a PUSH_PROMISE per object, each then answered on its promised stream as a GET.
    fn announce_objects(
        &mut self,
        stream: u32,
        head: &RequestHead,
        file: &std::fs::File,
        len: u64,
    ) {
        let Some(authority) = head.headers.get("host").map(str::to_owned) else {
            return;
        };
        let mut html = vec![0u8; len as usize];
        let Ok(n) = fs::read_at(file, 0, &mut html) else {
            return;
        };
        html.truncate(n);
        let html = String::from_utf8_lossy(&html);
        let Ok(base) = http_proto::Uri::parse(&format!("http://{authority}{}", head.target.path()))
        else {
            return;
        };
        let objects: Vec<String> = crate::client::referenced_objects(&html, &base)
            .into_iter()
            .filter(|uri| uri.host == base.host && uri.port == base.port)
            .map(|uri| uri.path_and_query())
            .take(MAX_ANNOUNCED)
            .collect();
        if objects.is_empty() {
            return;
        }
        if self.shared.config.early_hints {
            let links: Vec<String> = objects
                .iter()
                .map(|path| format!("<{path}>; rel=preload"))
                .collect();
            let fields: Vec<(&str, &[u8])> = links.iter().map(|l| ("link", l.as_bytes())).collect();
            if wire::enabled() {
                let summary = format!("103 Early Hints ({} links, stream {stream})", links.len());
                wire::emit("http", Dir::Send, self.conn.local, self.conn.peer, &summary);
            }
            let _ = self.machine.send_headers(stream, 103, &fields, false);
        }
        if self.shared.config.h2_push {
            for path in objects {
                let Some(promised) = self.machine.push(stream, "GET", "http", &authority, &path)
                else {
                    break;
                };
                let request = Request {
                    method: "GET".into(),
                    scheme: "http".into(),
                    authority: Some(authority.clone()),
                    path,
                    fields: Vec::new(),
                };
                self.request(promised, request, true);
            }
        }
    }

    /// Sends the response head; false if the stream is gone.
    fn send_head(&mut self, stream: u32, mut head: ResponseHead, end_stream: bool) -> bool {
        head.headers.append("Date", cached_date());
        head.headers
            .append("Server", self.shared.config.server_name.as_str());
        if wire::enabled() {
            let summary = format!("{} (stream {stream})", head.summary());
            wire::emit("http", Dir::Send, self.conn.local, self.conn.peer, &summary);
        }
        let fields = response_fields(&head);
        let borrowed: Vec<(&str, &[u8])> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        self.machine
            .send_headers(stream, head.status.as_u16(), &borrowed, end_stream)
            .is_ok()
    }

    /// Sends a whole in-memory response (no body for HEAD and bodiless statuses).
    fn send(
        &mut self,
        stream: u32,
        log: LogEntry,
        head: ResponseHead,
        body: &[u8],
        head_only: bool,
    ) {
        let status = head.status;
        let bodiless = head_only || status.forbids_body() || body.is_empty();
        if !self.send_head(stream, head, bodiless) {
            return;
        }
        let mut sent = 0;
        if !bodiless && self.machine.send_data(stream, body, true).is_ok() {
            sent = body.len() as u64;
        }
        self.streams.insert(
            stream,
            Active {
                log,
                status,
                sent,
                body: None,
                incoming: Incoming::Ignore,
            },
        );
    }

    fn respond(
        &mut self,
        stream: u32,
        log: LogEntry,
        request: &RequestHead,
        head: ResponseHead,
        body: &[u8],
    ) {
        self.send(stream, log, head, body, request.method == Method::Head);
    }

    fn respond_error(&mut self, stream: u32, log: LogEntry, status: StatusCode) {
        let (head, body) = files::error_page(status);
        self.send(stream, log, head, &body, false);
    }
}

fn empty_log() -> LogEntry {
    LogEntry {
        request_line: "-".into(),
        referer: "-".into(),
        user_agent: "-".into(),
    }
}

fn log_entry(head: &RequestHead, request: &Request, enabled: bool) -> LogEntry {
    if !enabled {
        return LogEntry {
            request_line: String::new(),
            referer: String::new(),
            user_agent: String::new(),
        };
    }
    LogEntry {
        request_line: format!("{} {} HTTP/2.0", request.method, request.path),
        referer: head.headers.get("referer").unwrap_or("-").to_owned(),
        user_agent: head.headers.get("user-agent").unwrap_or("-").to_owned(),
    }
}

/// The request as the HTTP/1.1 handlers see it: `:authority` becomes `Host` when there is
/// none (RFC 9113 §8.3.1). `None` for what HTTP/1.1 could not carry either (a value that is not
/// UTF-8, a target that does not parse).
fn request_head(request: &Request) -> Option<RequestHead> {
    let method = Method::parse(&request.method)?;
    let target = RequestTarget::parse(&method, &request.path).ok()?;
    let mut head = RequestHead::new(method, target, Version::Http11);
    let has_host = request.fields.iter().any(|(name, _)| name == "host");
    if let (false, Some(authority)) = (has_host, &request.authority) {
        head.headers.append("host", authority);
    }
    for (name, value) in &request.fields {
        head.headers.append(name, std::str::from_utf8(value).ok()?);
    }
    Some(head)
}

/// A response head's fields for HTTP/2: lowercase names, no connection-specific fields
/// (RFC 9113 §8.2.2).
fn response_fields(head: &ResponseHead) -> Vec<(String, String)> {
    head.headers
        .iter()
        .filter(|(name, _)| {
            ![
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade",
            ]
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c))
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect()
}
