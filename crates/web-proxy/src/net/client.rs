//! Client connections on `http_proto::ServerConn`, as the web server's are: the machine reads
//! heads and bodies (limits, timeouts, `100-continue`, pipelining, smuggling checks and its
//! own error answers); each complete request goes to [`super::cache`] (or, for CONNECT, to
//! [`super::tunnel`]), which writes its response to the socket itself; idle connections
//! park; the access log.

use super::{cache, tunnel, Shared};
use http_proto::{Method, RequestHead, ServerConn, ServerEvent};
use netio::tcp::{Conn, Park, Stream};
use netio::wire::{self, Dir};
use std::io;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;

thread_local! {
    /// The buffer reads land in before they are handed to the machine (one per thread, so
    /// an idle connection holds none).
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 16 * 1024]);
}

/// Serves one client connection until it closes (`None`) or has been idle long enough to
/// park (then its socket goes back to netio's lot, and a new call serves its next request).
pub(super) async fn serve_connection(
    shared: Arc<Shared>,
    mut stream: Stream,
    conn: Conn,
) -> Option<Park> {
    let mut machine = ServerConn::new(shared.conn_config.clone(), Instant::now());
    match run(&shared, &mut stream, &conn, &mut machine).await {
        Ok(Some(idle_deadline)) => Some(Park {
            stream,
            idle_deadline,
        }),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(peer = %conn.peer, "client connection ended: {error}");
            None
        }
    }
}

/// A request being read: its head and its body so far.
struct Reading {
    head: RequestHead,
    body: Vec<u8>,
}

async fn run(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    conn: &Conn,
    machine: &mut ServerConn,
) -> io::Result<Option<Instant>> {
    let mut shutdown_seen = false;
    // Whether the last read emptied the socket.
    let mut drained = false;
    let mut reading: Option<Reading> = None;
    // One shutdown waiter for the connection's life rather than one per read.
    let shutdown = conn.shutdown.triggered();
    tokio::pin!(shutdown);
    loop {
        let mut ready = None;
        while let Some(event) = machine.poll_event() {
            match event {
                ServerEvent::Request { head, body } => {
                    if wire::enabled() {
                        wire::emit("http", Dir::Recv, conn.local, conn.peer, &head.summary());
                    }
                    let request = Reading {
                        head,
                        body: Vec::new(),
                    };
                    if body.is_empty() {
                        ready = Some(request);
                    } else {
                        // The body is read whole (bounded by the machine's body limit).
                        machine.continue_body();
                        reading = Some(request);
                    }
                }
                ServerEvent::Body(data) => {
                    if let Some(reading) = reading.as_mut() {
                        reading.body.extend_from_slice(&data);
                    }
                }
                ServerEvent::BodyEnd { .. } => ready = reading.take(),
                ServerEvent::Aborted(reason) => {
                    reading = None;
                    tracing::debug!(peer = %conn.peer, "request body abandoned: {reason:?}");
                }
                ServerEvent::Rejected { status, reason } => {
                    if wire::enabled() {
                        let summary = format!("{} {} ({reason})", status.as_u16(), status.reason());
                        wire::emit("http", Dir::Send, conn.local, conn.peer, &summary);
                    }
                    tracing::info!(
                        target: "web_proxy::access",
                        "{} \"-\" {} rejected: {reason}",
                        conn.peer.ip(),
                        status.as_u16()
                    );
                }
            }
            if ready.is_some() {
                break;
            }
        }
        flush(stream, machine, shared).await?;
        if let Some(Reading { head, body }) = ready {
            let client = stream.registered()?;
            if head.method == Method::Connect {
                let buffered = machine.take_tunnel();
                tunnel::tunnel(shared, client, conn, &head, buffered).await;
                return Ok(None);
            }
            let close = machine.must_close() || conn.shutdown.is_triggered();
            let started = Instant::now();
            match cache::handle_request(shared, client, conn, &head, body).await {
                Ok(done) => {
                    shared.stats.count(done.cache);
                    // A cache fill by `applayer cdn push` is marked as such.
                    let push = if head.headers.contains(crate::PUSH_FIELD) {
                        " push"
                    } else {
                        ""
                    };
                    tracing::info!(
                        target: "web_proxy::access",
                        "{} \"{} {} {}\" {} {} {}{push} {:.1}ms",
                        conn.peer.ip(),
                        head.method,
                        head.target,
                        head.version,
                        done.status,
                        done.bytes,
                        done.cache.as_str(),
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    machine.finish_sent_directly(close || !done.keep_alive);
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
                    return Ok(None);
                }
            }
            continue;
        }
        if machine.is_closed() {
            if let Ok(client) = stream.registered() {
                let _ = client.shutdown().await;
            }
            return Ok(None);
        }
        if !shutdown_seen && conn.shutdown.is_triggered() {
            shutdown_seen = true;
            machine.begin_shutdown();
            continue;
        }
        let deadline = machine.poll_timeout();
        if !machine.wants_input() {
            match deadline {
                Some(deadline) => {
                    tokio::time::sleep_until(deadline.into()).await;
                    machine.handle_timeout(Instant::now());
                    continue;
                }
                None => return Ok(None),
            }
        }
        // An idle connection parks once it has waited `park_after` (at once when many are
        // live), but only after a read found the socket empty: a connection just accepted
        // or woken has not yet read what it came for.
        let mut park_at = None;
        if let (Some(after), Some(idle_deadline)) = (conn.park_after(), deadline) {
            if drained && machine.is_idle() {
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
        let ready = async {
            match wake_at {
                Some(wake_at) => tokio::time::timeout_at(wake_at.into(), stream.readable()).await,
                None => Ok(stream.readable().await),
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
                machine.begin_shutdown();
            }
            Some(Err(_elapsed)) => {
                if let (Some(park_at), Some(idle_deadline)) = (park_at, deadline) {
                    if now >= park_at && machine.is_idle() {
                        return Ok(Some(idle_deadline));
                    }
                }
                machine.handle_timeout(now);
            }
            Some(Ok(Err(error))) => return Err(error),
            Some(Ok(Ok(()))) => READ_BUFFER.with(|buffer| {
                let mut buffer = buffer.borrow_mut();
                match stream.try_read(&mut buffer) {
                    Ok(0) => {
                        machine.handle_eof(now);
                        Ok(())
                    }
                    Ok(n) => {
                        machine.handle_input(now, &buffer[..n]);
                        drained = n < buffer.len();
                        if drained {
                            // A short read drained the socket: forget the readiness now
                            // rather than learn it from a read that would block.
                            stream.forget_readable();
                        }
                        Ok(())
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        drained = true;
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            })?,
        }
    }
}

/// Writes what the machine has to send itself (`100 Continue`, its error answers), within
/// the read timeout.
async fn flush(stream: &mut Stream, machine: &mut ServerConn, shared: &Shared) -> io::Result<()> {
    let output = machine.pending_output();
    if output.is_empty() {
        return Ok(());
    }
    let len = output.len();
    let timeout = shared.config.tcp.read_timeout;
    let client = stream.registered()?;
    match tokio::time::timeout(timeout, client.write_all(output)).await {
        Ok(result) => result?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "send timeout")),
    }
    machine.consume_output(len);
    Ok(())
}
