//! The player's HTTP/1.1 client: one keep-alive connection per origin, GET with an optional
//! byte range, a deadline per request, and an optional bottleneck that paces the bytes read
//! to a bandwidth trace (so a download takes as long as the trace says it would).

use h2_proto::client::ClientEvent;
use http_proto::response::{Progress, ResponseReader};
use http_proto::{Method, Uri};
use netio::resolve::Resolve;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How bytes are paced on arrival: a function from (wall-clock seconds since the start, bytes)
/// to the seconds when those bytes would have arrived.
pub trait Bottleneck: Send {
    /// When `bytes` starting to arrive at `start` (seconds since the session began) are all in.
    fn arrival(&self, start: f64, bytes: u64) -> f64;
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not an http URL we can fetch.
    #[error("bad URL {0}")]
    Url(String),
    /// The name did not resolve, or the connection failed.
    #[error("{host}: {error}")]
    Connect {
        /// The host.
        host: String,
        /// The error.
        error: std::io::Error,
    },
    /// The deadline passed first.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The response could not be read.
    #[error("{0}")]
    Response(String),
    /// The response ended before its length.
    #[error("connection closed after {got} of {want:?} bytes")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// Bytes announced.
        want: Option<u64>,
    },
}

/// One answered request.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// From sending the request to the last byte.
    pub elapsed: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// The body, when asked to keep it.
    pub body: Vec<u8>,
    /// Whether a new TCP connection was made for it.
    pub connected: bool,
    /// The `X-Cache` (or `Cache-Status`) field the server sent, if any.
    pub cache: Option<String>,
    /// The address it came from.
    pub peer: std::net::SocketAddr,
    /// The `Content-Length` it announced.
    pub length: Option<u64>,
}

/// The connection and the pacing state.
pub struct Fetcher {
    resolver: Arc<dyn Resolve>,
    conn: Option<(String, u16, TcpStream, std::net::SocketAddr)>,
    bottleneck: Option<Box<dyn Bottleneck>>,
    /// When the session began (the trace's zero).
    epoch: Instant,
    /// The trace time when the link is next free.
    link_free: f64,
    /// Requests sent, connections made.
    pub requests: u64,
    /// Connections made.
    pub connections: u64,
    /// Waited before each request is sent: the request's trip and the response's first
    /// byte's over a path longer than loopback.
    pub latency: Duration,
    /// The local address connections leave from (a world host's own), if not the system's
    /// choice.
    pub source: Option<std::net::IpAddr>,
    /// Body bytes of the last request received so far (what a timed-out download got).
    pub received: u64,
    /// Speak HTTP/2 (h2c with prior knowledge, RFC 9113 §3.3): one connection, one stream
    /// per request.
    pub http2: bool,
    /// The HTTP/2 connection's state, beside `conn`'s socket.
    h2: Option<h2_proto::client::ClientConn>,
}

impl Fetcher {
    /// A fetcher resolving names with `resolver`, paced by `bottleneck` if given.
    pub fn new(resolver: Arc<dyn Resolve>, bottleneck: Option<Box<dyn Bottleneck>>) -> Fetcher {
        Fetcher {
            resolver,
            conn: None,
            bottleneck,
            epoch: Instant::now(),
            link_free: 0.0,
            requests: 0,
            connections: 0,
            latency: Duration::ZERO,
            source: None,
            received: 0,
            http2: false,
            h2: None,
        }
    }

    /// Restarts the trace's clock.
    pub fn reset_epoch(&mut self) {
        self.epoch = Instant::now();
        self.link_free = 0.0;
    }

    /// GETs `url` (`range` as `first-last`), giving up at `timeout`.
    pub async fn get(
        &mut self,
        url: &str,
        range: Option<(u64, u64)>,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Fetched, FetchError> {
        self.request(Method::Get, url, range, keep_body, timeout)
            .await
    }

    /// The size of `url`'s body by HEAD (its `Content-Length`).
    pub async fn size(&mut self, url: &str, timeout: Duration) -> Result<Option<u64>, FetchError> {
        let fetched = self
            .request(Method::Head, url, None, false, timeout)
            .await?;
        if fetched.status != 200 {
            return Err(FetchError::Response(format!(
                "{url}: status {}",
                fetched.status
            )));
        }
        Ok(fetched.length)
    }

    async fn request(
        &mut self,
        method: Method,
        url: &str,
        range: Option<(u64, u64)>,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        self.received = 0;
        let result = tokio::time::timeout(
            timeout,
            self.get_inner(&method, url, range, keep_body, started),
        )
        .await;
        match result {
            Ok(Ok(fetched)) => Ok(fetched),
            Ok(Err(error)) => {
                self.conn = None;
                Err(error)
            }
            Err(_) => {
                self.conn = None;
                Err(FetchError::Timeout(timeout))
            }
        }
    }

    async fn get_inner(
        &mut self,
        method: &Method,
        url: &str,
        range: Option<(u64, u64)>,
        keep_body: bool,
        started: Instant,
    ) -> Result<Fetched, FetchError> {
        let uri = Uri::parse(url).map_err(|_| FetchError::Url(url.to_string()))?;
        if uri.scheme != "http" {
            return Err(FetchError::Url(format!("{url} (only http:// is fetched)")));
        }
        let port = uri.port.unwrap_or(80);
        let reuse = matches!(&self.conn, Some((host, p, _, _)) if *host == uri.host && *p == port);
        let mut connected = false;
        if !reuse {
            let addrs = self
                .resolver
                .resolve(&uri.host, port)
                .await
                .map_err(|error| FetchError::Connect {
                    host: uri.host.clone(),
                    error,
                })?;
            let mut last = None;
            let mut stream = None;
            for addr in addrs {
                match connect(addr, self.source).await {
                    Ok(s) => {
                        stream = Some((s, addr));
                        break;
                    }
                    Err(error) => last = Some(error),
                }
            }
            let Some((stream, addr)) = stream else {
                return Err(FetchError::Connect {
                    host: uri.host.clone(),
                    error: last.unwrap_or_else(|| std::io::Error::other("no address")),
                });
            };
            let _ = stream.set_nodelay(true);
            self.conn = Some((uri.host.clone(), port, stream, addr));
            self.connections += 1;
            connected = true;
            // A new connection starts a new HTTP/2 session (its preface goes with the
            // first request).
            self.h2 = self.http2.then(|| {
                h2_proto::client::ClientConn::new(h2_proto::client::ClientConfig {
                    enable_push: false,
                    ..h2_proto::client::ClientConfig::default()
                })
            });
        }
        if self.http2 {
            return self
                .h2_exchange(method, &uri, range, keep_body, started, connected)
                .await;
        }
        let Some((_, _, stream, peer)) = self.conn.as_mut() else {
            return Err(FetchError::Url(url.to_string()));
        };
        let peer = *peer;
        let host = match uri.port {
            Some(p) => format!("{}:{p}", uri.host),
            None => uri.host.clone(),
        };
        let mut target = uri.path.clone();
        if let Some(query) = &uri.query {
            target.push('?');
            target.push_str(query);
        }
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: applayer-video/0\r\nAccept: */*\r\n"
        );
        if let Some((first, last)) = range {
            request.push_str(&format!("Range: bytes={first}-{last}\r\n"));
        }
        request.push_str("\r\n");
        self.requests += 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let write = stream.write_all(request.as_bytes()).await;
        if let Err(error) = write {
            return Err(FetchError::Connect {
                host: uri.host,
                error,
            });
        }
        let mut reader = ResponseReader::new(method, http_proto::parse::Limits::default());
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut body = Vec::new();
        let mut bytes = 0u64;
        let mut status = 0u16;
        let mut cache = None;
        let mut first_byte = Duration::ZERO;
        let mut announced = None;
        let mut close_after = false;
        loop {
            let before = body.len();
            let progress = reader
                .advance(&mut buf, &mut body)
                .map_err(|e| FetchError::Response(e.to_string()))?;
            let got = (body.len() - before) as u64;
            bytes += got;
            self.received = bytes;
            if !keep_body {
                body.clear();
            }
            match progress {
                Progress::Head(head) => {
                    status = head.status.as_u16();
                    first_byte = started.elapsed();
                    cache = head
                        .headers
                        .get("x-cache")
                        .or_else(|| head.headers.get("cache-status"))
                        .map(str::to_owned);
                    announced = head
                        .headers
                        .get("content-length")
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if head.wants_close() {
                        // Answered, then the connection goes.
                        close_after = true;
                    }
                    continue;
                }
                Progress::Done => break,
                Progress::NeedMore => {}
            }
            let Some((_, _, stream, _)) = self.conn.as_mut() else {
                break;
            };
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|error| FetchError::Connect {
                    host: uri.host.clone(),
                    error,
                })?;
            if n == 0 {
                if reader.finish_at_eof().is_err() {
                    return Err(FetchError::Truncated {
                        got: bytes,
                        want: announced,
                    });
                }
                self.conn = None;
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            self.pace(n as u64).await;
        }
        if close_after {
            self.conn = None;
        }
        Ok(Fetched {
            status,
            bytes,
            elapsed: started.elapsed(),
            first_byte,
            body,
            connected,
            cache,
            peer,
            length: announced,
        })
    }

    /// One request as an HTTP/2 stream on the connection's session. The socket and the
    /// session are taken out of `self` meanwhile: if the exchange fails or is abandoned, they
    /// go with it (a new connection next time), as HTTP/1.1's do.
    async fn h2_exchange(
        &mut self,
        method: &Method,
        uri: &Uri,
        range: Option<(u64, u64)>,
        keep_body: bool,
        started: Instant,
        connected: bool,
    ) -> Result<Fetched, FetchError> {
        let (Some((host, port, mut stream, peer)), Some(mut h2)) =
            (self.conn.take(), self.h2.take())
        else {
            return Err(FetchError::Url(format!("http://{}{}", uri.host, uri.path)));
        };
        let authority = match uri.port {
            Some(p) => format!("{}:{p}", uri.host),
            None => uri.host.clone(),
        };
        let mut path = uri.path.clone();
        if let Some(query) = &uri.query {
            path.push('?');
            path.push_str(query);
        }
        let range_value = range.map(|(first, last)| format!("bytes={first}-{last}"));
        let mut fields: Vec<(&str, &[u8])> = vec![
            (":method", method.as_str().as_bytes()),
            (":scheme", b"http"),
            (":authority", authority.as_bytes()),
            (":path", path.as_bytes()),
            ("user-agent", b"applayer-video/0"),
        ];
        if let Some(value) = &range_value {
            fields.push(("range", value.as_bytes()));
        }
        let id = h2
            .send_request(&fields, None)
            .map_err(|error| FetchError::Response(error.to_string()))?;
        self.requests += 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let io_error = |error| FetchError::Connect {
            host: host.clone(),
            error,
        };
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut body = Vec::new();
        let (mut status, mut bytes, mut first_byte) = (0u16, 0u64, Duration::ZERO);
        let (mut cache, mut announced) = (None, None);
        let mut going_away = false;
        'exchange: loop {
            out.clear();
            h2.poll_transmit(&mut out);
            if !out.is_empty() {
                stream.write_all(&out).await.map_err(io_error)?;
            }
            while let Some(event) = h2.poll_event() {
                match event {
                    ClientEvent::Response {
                        stream: s,
                        status: code,
                        fields,
                        end_stream,
                    } if s == id => {
                        if (100..200).contains(&code) {
                            continue;
                        }
                        status = code;
                        first_byte = started.elapsed();
                        let field = |name: &str| {
                            fields
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        };
                        cache = field("x-cache").or_else(|| field("cache-status"));
                        announced = field("content-length").and_then(|v| v.trim().parse().ok());
                        if end_stream {
                            break 'exchange;
                        }
                    }
                    ClientEvent::Data {
                        stream: s,
                        data,
                        end_stream,
                    } if s == id => {
                        bytes += data.len() as u64;
                        self.received = bytes;
                        if keep_body {
                            body.extend_from_slice(&data);
                        }
                        if end_stream {
                            break 'exchange;
                        }
                    }
                    ClientEvent::Reset { stream: s, code } if s == id => {
                        return Err(FetchError::Response(format!(
                            "stream reset by the server: {code}"
                        )));
                    }
                    ClientEvent::GoAway { last_stream, code } => {
                        going_away = true;
                        if id > last_stream {
                            return Err(FetchError::Response(format!(
                                "GOAWAY {code} before our stream"
                            )));
                        }
                    }
                    _ => {}
                }
            }
            if let Some((code, reason)) = h2.error() {
                return Err(FetchError::Response(format!(
                    "HTTP/2 connection error {code}: {reason}"
                )));
            }
            let n = stream.read(&mut chunk).await.map_err(io_error)?;
            if n == 0 {
                return Err(FetchError::Truncated {
                    got: bytes,
                    want: announced,
                });
            }
            self.pace(n as u64).await;
            h2.handle_input(&chunk[..n]);
        }
        // The window updates (and anything else owed) go out before the socket is put back.
        out.clear();
        h2.poll_transmit(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(io_error)?;
        }
        if !going_away {
            self.conn = Some((host, port, stream, peer));
            self.h2 = Some(h2);
        }
        Ok(Fetched {
            status,
            bytes,
            elapsed: started.elapsed(),
            first_byte,
            body,
            connected,
            cache,
            peer,
            length: announced,
        })
    }

    /// Holds the reader until `bytes` would have crossed the bottleneck.
    async fn pace(&mut self, bytes: u64) {
        let Some(bottleneck) = &self.bottleneck else {
            return;
        };
        let now = self.epoch.elapsed().as_secs_f64();
        let start = now.max(self.link_free);
        let arrival = bottleneck.arrival(start, bytes);
        self.link_free = arrival;
        let wait = arrival - now;
        if wait > 0.0005 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// A TCP connection to `addr`, from `source` when given.
async fn connect(
    addr: std::net::SocketAddr,
    source: Option<std::net::IpAddr>,
) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(std::net::SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}
