//! Origin connections: connecting (with the resolver and the source address), a pool of
//! idle keep-alive connections per authority, one request and its response head, and the
//! body streamed to the client (re-framed) and to the store.

use super::storing::Storing;
use super::{give_buffer, take_buffer, Aborted, Shared, READ_CHUNK};
use crate::forward::{client_response, encode_client_response, CacheStatus};
use http_proto::{BodyDecoder, BodyKind, Method, RequestHead, ResponseHead, StatusCode, Version};
use netio::wire::{self, Dir};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why an upstream exchange failed (its text goes in the error response's body).
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// Could not connect, or the connection broke before a response: 502.
    #[error("origin unreachable: {0}")]
    Connect(io::Error),
    /// The origin's authority does not parse: 502.
    #[error("origin unreachable: {authority}: {error}")]
    Authority {
        /// The authority.
        authority: String,
        /// Why.
        error: http_proto::UriError,
    },
    /// No response within the timeout: 504.
    #[error("origin timed out")]
    Timeout,
    /// The response head was malformed: 502, and never stored.
    #[error("malformed origin response: {0}")]
    Malformed(http_proto::ResponseError),
    /// A `101 Switching Protocols` the proxy did not ask for: 502.
    #[error("malformed origin response: unexpected 101")]
    UnexpectedSwitch,
    /// The connection closed inside the response head: 502.
    #[error("malformed origin response: connection closed inside the head")]
    HeadCut,
}

impl Failure {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// An upstream connection with a received response head.
pub(super) struct Upstream {
    stream: TcpStream,
    authority: String,
    buffer: Vec<u8>,
    pub(super) response: ResponseHead,
    pub(super) body: BodyKind,
}

pub(super) async fn connect(
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
    // An address literal needs no resolver round trip.
    let literal = authority.parse::<SocketAddr>().ok();
    let named = match literal {
        Some(_) => None,
        None => Some(
            http_proto::uri::parse_authority(authority).map_err(|error| Failure::Authority {
                authority: authority.to_string(),
                error,
            })?,
        ),
    };
    let connecting = async {
        match (literal, named) {
            (Some(addr), _) => netio::resolve::connect_from(source, addr).await,
            (None, Some((host, port))) => {
                netio::resolve::connect(
                    shared.config.resolver.as_ref(),
                    source,
                    &host,
                    port.unwrap_or(80),
                )
                .await
            }
            (None, None) => Err(io::ErrorKind::InvalidInput.into()),
        }
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
pub(super) async fn exchange(
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
                    return Err(Failure::UnexpectedSwitch);
                }
                let kind = reader.body_kind().unwrap_or(BodyKind::Empty);
                return Ok((head, kind, buffer));
            }
            Ok(_) => {}
            Err(error) => return Err(Failure::Malformed(error)),
        }
        buffer.reserve(4096);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buffer)).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(error)) => return Err(Failure::Connect(error)),
            Ok(Ok(0)) if buffer.is_empty() => {
                return Err(Failure::Connect(io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(Ok(0)) => return Err(Failure::HeadCut),
            Ok(Ok(_)) => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length,
    Chunked,
    Close,
}

/// The head bytes for the client and how the body will be framed.
pub(super) fn client_framing(
    request: &RequestHead,
    upstream: &Upstream,
    not_modified: bool,
    via: &str,
    cache: CacheStatus,
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
        let head = client_response(&upstream.response, via, cache, received);
        let mut reduced = ResponseHead::new(StatusCode::NOT_MODIFIED);
        for (name, value) in head.headers.iter() {
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "cache-control"
                    | "cdn-cache-control"
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
        encode_client_response(&upstream.response, via, cache, received, extra, &mut bytes);
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
pub(super) struct ClientOut<'a> {
    pub(super) stream: &'a mut TcpStream,
    pub(super) framing: Framing,
    pub(super) pending: Vec<u8>,
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

pub(super) async fn finish_upstream(
    shared: &Shared,
    mut upstream: Upstream,
    mut client: Option<ClientOut<'_>>,
    storing: &mut Option<Storing>,
) -> Result<u64, Aborted> {
    let mut decoder = BodyDecoder::new(upstream.body);
    let mut total = 0u64;
    let idle = shared.config.origin_timeout;
    let mut input = std::mem::take(&mut upstream.buffer);
    let mut eof = false;
    loop {
        // Decode everything buffered.
        let mut offset = 0;
        while offset < input.len() && !decoder.is_done() {
            let step = decoder
                .decode(&input[offset..])
                .map_err(Aborted::OriginBody)?;
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
            decoder.handle_eof().map_err(Aborted::OriginBody)?;
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
            Err(_) => return Err(Aborted::OriginTimeout),
            Ok(Err(error)) => return Err(Aborted::OriginRead(error)),
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
