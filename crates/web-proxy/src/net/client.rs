//! Client connections: request heads and bodies read with their timeouts, idle connections
//! parked, each request handed to [`super::cache`] (or to [`super::tunnel`] for CONNECT),
//! and the access log.

use super::{cache, tunnel, Shared, READ_CHUNK};
use crate::forward::error_response;
use http_proto::{parse_request, BodyDecoder, BodyKind, Method, Parsed, RequestHead, StatusCode};
use netio::tcp::{Conn, Park, Stream, TcpLimits};
use netio::wire::{self, Dir};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
pub(super) async fn serve_connection(
    shared: Arc<Shared>,
    mut stream: Stream,
    conn: Conn,
) -> Option<Park> {
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
            tunnel::tunnel(&shared, stream, conn, &head, buffer).await;
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
        let outcome = cache::handle_request(&shared, stream, conn, &head, body).await;
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
