//! The page-fetching client's connections: non-persistent, persistent, pipelined and parallel
//! fetching over tokio TCP, with round-trip accounting, cookies and the local cache.

use crate::client::{
    parse_url, referenced_objects, CacheRecord, CacheUse, ClientError, Exchange, FetchOptions,
    FetchReport, Mode, ObjectReport,
};
use http_proto::{
    CookieJar, Limits, Method, Progress, RequestHead, RequestTarget, ResponseHead, ResponseReader,
    Uri, Version,
};
use netio::wire::{self, Dir};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod h2;

/// State shared by every lane of one fetch.
struct Context {
    options: FetchOptions,
    jar: Mutex<CookieJar>,
    connections: AtomicUsize,
    exchanges: Mutex<Vec<Exchange>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection's bytes: bare TCP or TLS over it.
enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tls::ClientTlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for ClientStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => std::pin::Pin::new(stream).poll_read(cx, buf),
            ClientStream::Tls(stream) => std::pin::Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for ClientStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
            ClientStream::Tls(stream) => std::pin::Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => std::pin::Pin::new(stream).poll_flush(cx),
            ClientStream::Tls(stream) => std::pin::Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
            ClientStream::Tls(stream) => std::pin::Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One TCP connection to a server (or the proxy).
struct Connection {
    stream: ClientStream,
    buf: Vec<u8>,
    local: SocketAddr,
    peer: SocketAddr,
    id: usize,
    reusable: bool,
}

/// A sequential chain of exchanges with its own connections and round-trip count.
struct Lane {
    pool: HashMap<String, Connection>,
    round_trips: u32,
}

impl Lane {
    fn new() -> Lane {
        Lane {
            pool: HashMap::new(),
            round_trips: 0,
        }
    }
}

fn origin_key(uri: &Uri) -> String {
    format!("{}://{}:{}", uri.scheme, uri.host, uri.port_or_default())
}

fn io_error(addr: SocketAddr, error: std::io::Error) -> ClientError {
    ClientError::Io { addr, error }
}

impl Context {
    async fn open(&self, uri: &Uri, lane: &mut Lane) -> Result<Connection, ClientError> {
        let tls = match (uri.scheme.as_str(), &self.options.tls, self.options.proxy) {
            ("https", Some(config), None) => Some(config.clone()),
            ("https", _, _) => return Err(ClientError::Https(uri.to_string())),
            _ => None,
        };
        let addrs = match self.options.proxy {
            Some(proxy) => vec![proxy],
            None => self
                .options
                .resolver
                .resolve(&uri.host, uri.port_or_default())
                .await
                .map_err(|error| ClientError::Resolve {
                    host: uri.host.clone(),
                    error,
                })?,
        };
        let mut last = None;
        for addr in addrs {
            let connect = netio::resolve::connect_from(self.options.source, addr);
            match tokio::time::timeout(self.options.timeout, connect).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().map_err(|e| io_error(addr, e))?;
                    lane.round_trips += 1;
                    let stream = match &tls {
                        None => ClientStream::Plain(stream),
                        Some(config) => ClientStream::Tls(Box::new(
                            self.handshake(config, uri, addr, stream, lane).await?,
                        )),
                    };
                    let id = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
                    return Ok(Connection {
                        stream,
                        buf: Vec::with_capacity(16 * 1024),
                        local,
                        peer: addr,
                        id,
                        reusable: true,
                    });
                }
                Ok(Err(error)) => last = Some(io_error(addr, error)),
                Err(_) => {
                    last = Some(ClientError::Timeout {
                        addr,
                        what: "connect",
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::NoAddress {
            host: uri.host.clone(),
        }))
    }

    /// The TLS handshake (one more round trip, TLS 1.3), the server's name checked against
    /// its certificate.
    async fn handshake(
        &self,
        config: &Arc<tls::rustls::ClientConfig>,
        uri: &Uri,
        addr: SocketAddr,
        stream: TcpStream,
        lane: &mut Lane,
    ) -> Result<tls::ClientTlsStream<TcpStream>, ClientError> {
        let name = tls::ServerName::try_from(uri.host.clone()).map_err(|_| ClientError::Io {
            addr,
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad TLS server name"),
        })?;
        let connector = tls::TlsConnector::from(config.clone());
        let stream = tokio::time::timeout(self.options.timeout, connector.connect(name, stream))
            .await
            .map_err(|_| ClientError::Timeout {
                addr,
                what: "TLS handshake",
            })?
            .map_err(|error| io_error(addr, error))?;
        lane.round_trips += 1;
        if wire::enabled() {
            let session = stream.get_ref().1;
            let summary = format!(
                "TLS handshake {} ALPN {}",
                session
                    .protocol_version()
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                session
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_else(|| "-".into())
            );
            let local = stream.get_ref().0.local_addr().unwrap_or(addr);
            wire::emit("tls", Dir::Send, local, addr, &summary);
        }
        Ok(stream)
    }

    /// The end of a fetch: the cookie jar written back, the totals (no HTTP/2 streams).
    fn report(
        &self,
        objects: Vec<ObjectReport>,
        base_head: ResponseHead,
        base_body: Vec<u8>,
        round_trips: u32,
        started: Instant,
    ) -> FetchReport {
        if let Some(path) = &self.options.cookie_jar {
            let text = lock(&self.jar).to_netscape();
            if let Err(error) = std::fs::write(path, text) {
                tracing::warn!("cannot write cookie jar {}: {error}", path.display());
            }
        }
        FetchReport {
            bytes: objects.iter().map(|o| o.bytes).sum(),
            objects,
            base_head,
            base_body,
            connections: self.connections.load(Ordering::Relaxed),
            round_trips,
            total: started.elapsed(),
            exchanges: std::mem::take(&mut *lock(&self.exchanges)),
            streams: 0,
            pushed: 0,
        }
    }

    fn cache_paths(&self, uri: &Uri) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let dir = self.options.cache_dir.as_ref()?;
        let key = CacheRecord::key(&uri.to_string());
        Some((
            dir.join(format!("{key}.meta")),
            dir.join(format!("{key}.body")),
        ))
    }

    fn cached(&self, uri: &Uri) -> Option<CacheRecord> {
        let (meta, body) = self.cache_paths(uri)?;
        let record = CacheRecord::decode(&std::fs::read_to_string(meta).ok()?)?;
        (record.url == uri.to_string() && body.exists()).then_some(record)
    }

    /// The request for `uri`: absolute form through a proxy, Host, cookies, validators.
    fn request(&self, uri: &Uri, method: &Method, body: Option<&[u8]>, close: bool) -> RequestHead {
        let target = if self.options.proxy.is_some() {
            RequestTarget::Absolute(uri.clone())
        } else {
            RequestTarget::Origin {
                path: uri.path.clone(),
                query: uri.query.clone(),
            }
        };
        let mut head = RequestHead::new(method.clone(), target, Version::Http11);
        head.headers.append("Host", uri.authority());
        head.headers
            .append("User-Agent", self.options.user_agent.as_str());
        head.headers.append("Accept", "*/*");
        if close {
            head.headers.append("Connection", "close");
        }
        if let Some(cookie) = lock(&self.jar).cookie_header(uri, SystemTime::now()) {
            head.headers.append("Cookie", cookie);
        }
        if *method == Method::Get {
            if let Some(record) = self.cached(uri) {
                if let Some(etag) = record.etag {
                    head.headers.append("If-None-Match", etag);
                }
                if let Some(date) = record.last_modified {
                    head.headers.append("If-Modified-Since", date);
                }
            }
        }
        for (name, value) in self.options.headers.iter() {
            head.headers.insert(name, value);
        }
        if let Some(body) = body {
            head.headers
                .insert("Content-Length", body.len().to_string());
        }
        head
    }

    async fn send(
        &self,
        connection: &mut Connection,
        heads: &[(RequestHead, Option<&[u8]>)],
    ) -> Result<(), ClientError> {
        let mut bytes = Vec::new();
        for (head, body) in heads {
            head.encode(&mut bytes);
            if let Some(body) = body {
                bytes.extend_from_slice(body);
            }
            if wire::enabled() {
                wire::emit(
                    "http",
                    Dir::Send,
                    connection.local,
                    connection.peer,
                    &head.summary(),
                );
            }
        }
        let peer = connection.peer;
        match tokio::time::timeout(self.options.timeout, connection.stream.write_all(&bytes)).await
        {
            Ok(result) => result.map_err(|e| io_error(peer, e)),
            Err(_) => Err(ClientError::Timeout {
                addr: peer,
                what: "send",
            }),
        }
    }

    async fn fill(&self, connection: &mut Connection) -> Result<usize, ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        let peer = connection.peer;
        let read = tokio::time::timeout(self.options.timeout, connection.stream.read(&mut chunk))
            .await
            .map_err(|_| ClientError::Timeout {
                addr: peer,
                what: "response",
            })?
            .map_err(|e| io_error(peer, e))?;
        connection.buf.extend_from_slice(&chunk[..read]);
        Ok(read)
    }

    /// Reads one final response (skipping 1xx) and its body.
    async fn receive(
        &self,
        connection: &mut Connection,
        method: &Method,
    ) -> Result<(ResponseHead, Vec<u8>), ClientError> {
        let limits = Limits {
            max_head_bytes: 256 * 1024,
            max_headers: 500,
            ..Limits::default()
        };
        let peer = connection.peer;
        let failed = |error: http_proto::ResponseError| match error {
            http_proto::ResponseError::ClosedInHead => ClientError::Closed { addr: peer },
            error => ClientError::Response { addr: peer, error },
        };
        let mut reader = ResponseReader::new(method, limits);
        let mut head: Option<ResponseHead> = None;
        let mut body = Vec::new();
        loop {
            match reader
                .advance(&mut connection.buf, &mut body)
                .map_err(failed)?
            {
                Progress::Head(got) => {
                    if got.status.as_u16() == 101 {
                        return Err(ClientError::UnexpectedSwitch { addr: peer });
                    }
                    if wire::enabled() {
                        wire::emit("http", Dir::Recv, connection.local, peer, &got.summary());
                    }
                    head = Some(got);
                }
                Progress::Done => break,
                Progress::NeedMore => {
                    if self.fill(connection).await? == 0 {
                        reader.finish_at_eof().map_err(failed)?;
                        connection.reusable = false;
                        break;
                    }
                }
            }
        }
        let head = head.ok_or_else(|| failed(http_proto::ResponseError::ClosedInHead))?;
        if head.wants_close() || reader.body_kind() == Some(http_proto::BodyKind::CloseDelimited) {
            connection.reusable = false;
        }
        Ok((head, body))
    }

    /// Records cookies and the cache, and builds the object's report.
    fn finish(
        &self,
        uri: &Uri,
        request: &RequestHead,
        head: &ResponseHead,
        mut body: Vec<u8>,
        connection: usize,
        started: Instant,
    ) -> (ObjectReport, Vec<u8>) {
        let method = &request.method;
        {
            let mut jar = lock(&self.jar);
            for set_cookie in head.headers.get_all("set-cookie") {
                jar.store(uri, set_cookie, SystemTime::now());
            }
        }
        if self.options.record_heads {
            let mut request_text = Vec::new();
            request.encode(&mut request_text);
            let mut response_text = Vec::new();
            head.encode(&mut response_text);
            lock(&self.exchanges).push(Exchange {
                request: String::from_utf8_lossy(&request_text).into_owned(),
                response: String::from_utf8_lossy(&response_text).into_owned(),
            });
        }
        let bytes = body.len() as u64;
        let mut cache = CacheUse::None;
        if *method == Method::Get {
            if let Some((meta_path, body_path)) = self.cache_paths(uri) {
                if head.status.as_u16() == 304 {
                    if let Ok(stored) = std::fs::read(&body_path) {
                        body = stored;
                        cache = CacheUse::Revalidated;
                    }
                } else if head.status.as_u16() == 200
                    && (head.headers.contains("etag") || head.headers.contains("last-modified"))
                    && !head.headers.has_token("cache-control", "no-store")
                {
                    let record = CacheRecord {
                        url: uri.to_string(),
                        etag: head.headers.get("etag").map(str::to_owned),
                        last_modified: head.headers.get("last-modified").map(str::to_owned),
                        content_type: head.headers.get("content-type").map(str::to_owned),
                    };
                    if let Some(dir) = &self.options.cache_dir {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    // Body first, then the record that points at it.
                    if std::fs::write(&body_path, &body).is_ok()
                        && std::fs::write(&meta_path, record.encode()).is_ok()
                    {
                        cache = CacheUse::Stored;
                    }
                }
            }
        }
        let report = ObjectReport {
            url: uri.to_string(),
            status: head.status.as_u16(),
            bytes,
            content_type: head.headers.get("content-type").map(str::to_owned),
            connection,
            cache,
            elapsed: started.elapsed(),
        };
        (report, body)
    }

    /// One request/response on the lane's connection to the origin (opening one if needed;
    /// with `close`, a new connection closed afterwards).
    async fn exchange(
        &self,
        lane: &mut Lane,
        uri: &Uri,
        method: &Method,
        body: Option<&[u8]>,
        close: bool,
    ) -> Result<(ObjectReport, ResponseHead, Vec<u8>), ClientError> {
        let key = origin_key(uri);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut connection, fresh) = match lane.pool.remove(&key) {
                Some(connection) if !close => (connection, false),
                _ => (self.open(uri, lane).await?, true),
            };
            let request = self.request(uri, method, body, close);
            lane.round_trips += 1;
            let result = async {
                self.send(&mut connection, &[(request.clone(), body)])
                    .await?;
                self.receive(&mut connection, method).await
            }
            .await;
            match result {
                Ok((head, response_body)) => {
                    let (report, response_body) =
                        self.finish(uri, &request, &head, response_body, connection.id, started);
                    if connection.reusable && !close {
                        lane.pool.insert(key, connection);
                    }
                    return Ok((report, head, response_body));
                }
                // A kept-alive connection the server closed meanwhile: retry once on a new
                // one if the method is idempotent (RFC 9112 §9.3.1).
                Err(_) if !fresh && attempt == 1 && method.is_idempotent() => {
                    lane.round_trips -= 1;
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends every request for one origin back to back on one connection, then reads the
    /// responses in order; what the server did not answer before closing is sent again.
    async fn pipeline(&self, lane: &mut Lane, uris: &[Uri]) -> Vec<ObjectReport> {
        let mut reports = Vec::new();
        let mut remaining: VecDeque<Uri> = uris.iter().cloned().collect();
        let mut failures = 0;
        while !remaining.is_empty() && failures < 3 {
            let first = remaining[0].clone();
            let key = origin_key(&first);
            let mut connection = match lane.pool.remove(&key) {
                Some(connection) => connection,
                None => match self.open(&first, lane).await {
                    Ok(connection) => connection,
                    Err(error) => {
                        tracing::warn!("{error}");
                        failures += 1;
                        continue;
                    }
                },
            };
            let started = Instant::now();
            let requests: Vec<(RequestHead, Option<&[u8]>)> = remaining
                .iter()
                .map(|uri| (self.request(uri, &Method::Get, None, false), None))
                .collect();
            lane.round_trips += 1;
            if let Err(error) = self.send(&mut connection, &requests).await {
                tracing::warn!("{error}");
                failures += 1;
                continue;
            }
            let mut answered = 0;
            for (request, _) in &requests {
                let Some(uri) = remaining.front().cloned() else {
                    break;
                };
                match self.receive(&mut connection, &Method::Get).await {
                    Ok((head, body)) => {
                        let (report, _) =
                            self.finish(&uri, request, &head, body, connection.id, started);
                        reports.push(report);
                        remaining.pop_front();
                        answered += 1;
                        if !connection.reusable {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::debug!("pipeline broken: {error}");
                        break;
                    }
                }
            }
            if answered == 0 {
                failures += 1;
            }
            if connection.reusable && remaining.is_empty() {
                lane.pool.insert(key, connection);
            }
        }
        for uri in remaining {
            reports.push(failed(&uri));
        }
        reports
    }
}

/// [`get`] over HTTP/2: the page and its same-origin objects on one connection, other
/// origins' objects after it over HTTP/1.1.
async fn get_h2(
    context: &Arc<Context>,
    base: &Uri,
    started: Instant,
) -> Result<FetchReport, ClientError> {
    let options = &context.options;
    let mut lane = Lane::new();
    let fetch = context
        .fetch_h2(&mut lane, base, &options.method, options.body.as_deref())
        .await?;
    let mut objects = fetch.objects;
    for uri in &fetch.elsewhere {
        match context
            .exchange(&mut lane, uri, &Method::Get, None, false)
            .await
        {
            Ok((report, _, _)) => objects.push(report),
            Err(error) => {
                tracing::warn!("{uri}: {error}");
                objects.push(failed(uri));
            }
        }
    }
    let mut report = context.report(
        objects,
        fetch.base_head,
        fetch.base_body,
        lane.round_trips,
        started,
    );
    report.streams = fetch.streams;
    report.pushed = fetch.pushed;
    Ok(report)
}

fn failed(uri: &Uri) -> ObjectReport {
    ObjectReport {
        url: uri.to_string(),
        status: 0,
        bytes: 0,
        content_type: None,
        connection: 0,
        cache: CacheUse::None,
        elapsed: std::time::Duration::ZERO,
    }
}

fn is_html(head: &ResponseHead, body: &[u8]) -> bool {
    match head.headers.get("content-type") {
        Some(kind) => kind.to_ascii_lowercase().contains("html"),
        None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<'),
    }
}

/// Fetches `url` and, when it is an HTML page, the objects it references, with the connection
/// model of `options.mode`; reports objects, bytes, TCP connections, round trips and time.
pub async fn get(url: &str, options: &FetchOptions) -> Result<FetchReport, ClientError> {
    let started = Instant::now();
    let base = parse_url(url)?;
    let jar = match &options.cookie_jar {
        Some(path) => CookieJar::from_netscape(&std::fs::read_to_string(path).unwrap_or_default()),
        None => CookieJar::new(),
    };
    let mut options = options.clone();
    if options.mode == Mode::Http2 {
        // Over TLS, HTTP/2 is asked for by ALPN.
        if let Some(config) = &options.tls {
            let mut config = (**config).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            options.tls = Some(Arc::new(config));
        }
    }
    let options = &options;
    let context = Arc::new(Context {
        options: options.clone(),
        jar: Mutex::new(jar),
        connections: AtomicUsize::new(0),
        exchanges: Mutex::new(Vec::new()),
    });
    if options.mode == Mode::Http2 {
        return get_h2(&context, &base, started).await;
    }
    let non_persistent = options.mode == Mode::NonPersistent;
    let mut lane = Lane::new();
    let (base_report, base_head, base_body) = context
        .exchange(
            &mut lane,
            &base,
            &options.method,
            options.body.as_deref(),
            non_persistent,
        )
        .await?;
    let mut objects = vec![base_report];
    let wants_objects = options.fetch_objects
        && options.method == Method::Get
        && matches!(base_head.status.as_u16(), 200 | 304)
        && is_html(&base_head, &base_body);
    let mut round_trips = lane.round_trips;
    if wants_objects {
        let page = String::from_utf8_lossy(&base_body);
        let uris = referenced_objects(&page, &base);
        match options.mode {
            Mode::NonPersistent | Mode::Persistent => {
                for uri in &uris {
                    match context
                        .exchange(&mut lane, uri, &Method::Get, None, non_persistent)
                        .await
                    {
                        Ok((report, _, _)) => objects.push(report),
                        Err(error) => {
                            tracing::warn!("{uri}: {error}");
                            objects.push(failed(uri));
                        }
                    }
                }
                round_trips = lane.round_trips;
            }
            Mode::Pipeline => {
                // One pipelined batch per origin, origins one after another.
                let mut origins: Vec<(String, Vec<Uri>)> = Vec::new();
                for uri in uris {
                    let key = origin_key(&uri);
                    match origins.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, list)) => list.push(uri),
                        None => origins.push((key, vec![uri])),
                    }
                }
                for (_, list) in &origins {
                    objects.extend(context.pipeline(&mut lane, list).await);
                }
                round_trips = lane.round_trips;
            }
            // Answered by `get_h2` above.
            Mode::Http2 => {}
            Mode::Parallel(count) => {
                let queue: Arc<Mutex<VecDeque<(usize, Uri)>>> =
                    Arc::new(Mutex::new(uris.iter().cloned().enumerate().collect()));
                let mut tasks = tokio::task::JoinSet::new();
                let workers = count.max(1).min(uris.len().max(1));
                let mut first_lane = Some(lane);
                for _ in 0..workers {
                    let context = context.clone();
                    let queue = queue.clone();
                    // The first worker goes on with the base page's connection.
                    let mut worker_lane = first_lane.take().unwrap_or_else(Lane::new);
                    worker_lane.round_trips = 0;
                    tasks.spawn(async move {
                        let mut done = Vec::new();
                        loop {
                            let next = lock(&queue).pop_front();
                            let Some((index, uri)) = next else { break };
                            match context
                                .exchange(&mut worker_lane, &uri, &Method::Get, None, false)
                                .await
                            {
                                Ok((report, _, _)) => done.push((index, report)),
                                Err(error) => {
                                    tracing::warn!("{uri}: {error}");
                                    done.push((index, failed(&uri)));
                                }
                            }
                        }
                        (done, worker_lane.round_trips)
                    });
                }
                let mut done = Vec::new();
                let mut longest = 0;
                while let Some(result) = tasks.join_next().await {
                    if let Ok((reports, trips)) = result {
                        done.extend(reports);
                        longest = longest.max(trips);
                    }
                }
                done.sort_by_key(|(index, _)| *index);
                objects.extend(done.into_iter().map(|(_, report)| report));
                round_trips += longest;
            }
        }
    }
    Ok(context.report(objects, base_head, base_body, round_trips, started))
}
