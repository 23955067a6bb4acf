//! The TCP accept loop every stream server runs: a connection limit, shutdown and draining.

use crate::park::Lot;
pub use crate::park::ParkPolicy;
pub use crate::sockopt::{defers_accept, set_defer_accept};
pub use crate::stream::Stream;
use crate::Shutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits applied by [`serve`] and handed to every connection handler in [`Conn`].
#[derive(Clone, Debug)]
pub struct TcpLimits {
    /// Connections served at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a handler may wait for the rest of a message it has started to read.
    pub read_timeout: Duration,
    /// How long a connection may sit idle between messages before it is closed.
    pub idle_timeout: Duration,
    /// The largest message (line, header block ...) a handler should buffer.
    pub max_message: usize,
    /// After shutdown, how long connections in flight may take to finish.
    pub drain_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_message: 64 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// What a connection handler gets besides the stream.
#[derive(Clone)]
pub struct Conn {
    /// Our address on this connection.
    pub local: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
    /// The server's limits.
    pub limits: Arc<TcpLimits>,
    /// Triggered when the server stops; long-lived handlers finish their current message and
    /// close.
    pub shutdown: Shutdown,
    /// The idle-connection lot of a [`serve_parking`] server.
    lot: Option<Arc<Lot>>,
    /// Whether this connection came back from the lot (rather than from `accept`).
    resumed: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("parking", &self.lot.is_some())
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// A connection's details outside an accept loop (tests, or a handler run by hand).
    pub fn new(local: SocketAddr, peer: SocketAddr, limits: TcpLimits, shutdown: Shutdown) -> Conn {
        Conn {
            local,
            peer,
            limits: Arc::new(limits),
            shutdown,
            lot: None,
            resumed: false,
        }
    }

    /// How long an idle connection should wait for its next message before its handler ends
    /// the task and returns a [`Park`]: `None` unless served by [`serve_parking`]; shorter
    /// while many connections are live (see [`ParkPolicy`]).
    pub fn park_after(&self) -> Option<Duration> {
        self.lot.as_ref().map(|lot| lot.park_after(self.resumed))
    }

    /// How many connections of this server are parked now (0 without parking).
    pub fn parked(&self) -> usize {
        self.lot.as_ref().map_or(0, |lot| lot.parked())
    }
}

/// Accepts connections on `listener` until `shutdown` fires, running `handler` for each on its
/// own task, at most `limits.max_connections` at once.
///
/// On shutdown it stops accepting at once, then waits up to `limits.drain_timeout` for the
/// connections in flight to finish; connections still open after that are abandoned to the
/// runtime's own shutdown. Accept errors (such as running out of file descriptors) are logged
/// and retried after a short pause rather than ending the server.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream, Conn) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    run(
        listener,
        limits,
        None,
        shutdown,
        move |stream: Stream, conn: Conn| {
            let peer = conn.peer;
            let task = stream.into_registered().map(|stream| handler(stream, conn));
            async move {
                match task {
                    Ok(task) => task.await,
                    Err(error) => tracing::warn!(%peer, "cannot serve connection: {error}"),
                }
                None
            }
        },
    )
    .await
}

/// What a handler of [`serve_parking`] hands back when its connection went idle: the socket
/// and when the connection's idle time runs out.
#[derive(Debug)]
pub struct Park {
    /// The idle connection's socket, with nothing read from it that was not answered.
    pub stream: Stream,
    /// When to close it if no new message has come by then.
    pub idle_deadline: std::time::Instant,
}

/// [`serve`] for protocols with idle periods between messages (HTTP keep-alive): a handler
/// whose connection waits for its next message can end its task and hand the socket back as
/// a [`Park`]. The connection then waits in a lot that costs a small table entry instead of a
/// task, and `handler` is called again, with the same [`Conn`], once the socket turns
/// readable; at its idle deadline it is closed. [`Conn::park_after`] tells the handler when
/// to park. Parked connections still count against `limits.max_connections`, and are closed
/// at once on shutdown.
///
/// Handlers get a [`Stream`], which stays out of the runtime's reactor until the handler has
/// to wait. A connection accepted from a listener that defers accept until data comes
/// ([`set_defer_accept`]), or woken in the lot, is taken to have bytes waiting; its handler
/// is first run right in the accept loop, and only if it has to wait does it get a task.
/// A request answered without waiting then costs no epoll registration, no task and no timer.
/// From a listener that does not defer accept, a new connection waits for its first bytes in
/// the lot (for up to `limits.read_timeout`), and is then run the same way.
pub async fn serve_parking<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    policy: ParkPolicy,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(Stream, Conn) -> F,
    F: Future<Output = Option<Park>> + Send + 'static,
{
    run(listener, limits, Some(policy), shutdown, handler).await
}

/// How many connections one readiness event of the listener may accept before the loop looks
/// at shutdown and the lot again.
const ACCEPT_BATCH: usize = 32;

/// Accepts one connection: a non-blocking, close-on-exec socket and the peer's address.
fn accept(
    listener: &std::net::TcpListener,
) -> std::io::Result<(std::net::TcpStream, Option<SocketAddr>)> {
    use rustix::net::SocketFlags;
    let (fd, peer) =
        rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let peer = peer.and_then(|peer| SocketAddr::try_from(peer).ok());
    Ok((std::net::TcpStream::from(fd), peer))
}

/// Whether an accept error is about one connection (the next accept may well work) rather
/// than about the server (out of descriptors or memory: pause before trying again). Linux
/// passes network errors pending on the new connection up through accept(2), whose manual
/// asks to retry them like EAGAIN.
fn passing(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    ) || [
        Errno::PROTO,
        Errno::NETDOWN,
        Errno::NOPROTOOPT,
        Errno::HOSTDOWN,
        Errno::NONET,
        Errno::HOSTUNREACH,
        Errno::OPNOTSUPP,
        Errno::NETUNREACH,
    ]
    .iter()
    .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()))
}

/// Counts a handler as live (for [`ParkPolicy::live`]) until dropped, however it ends: done,
/// parked, or unwound by a panic.
struct Live(Option<Arc<Lot>>);

impl Live {
    fn new(lot: &Option<Arc<Lot>>) -> Live {
        if let Some(lot) = lot {
            lot.task_started();
        }
        Live(lot.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(lot) = &self.0 {
            lot.task_ended();
        }
    }
}

/// How many handlers the accept loop runs in place before it lets other tasks run.
const INLINE_BATCH: usize = 64;

/// How long accepting pauses after an error about the server itself (out of descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Polls `future` once with the caller's context; `None` if it panicked (as a task's panic
/// ends only that task, a handler's panic here must not end the accept loop).
async fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Option<Poll<F::Output>> {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let Some(future) = future.take() else {
            return Poll::Ready(None);
        };
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.poll(cx)));
        Poll::Ready(polled.ok())
    })
    .await
}

/// What happens when a handler is done: its connection is parked (the handler no longer
/// counts as live), or closed.
fn finish(
    live: Live,
    parked: Option<Park>,
    local: SocketAddr,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let lot = live.0.clone();
    drop(live);
    if let (Some(lot), Some(park)) = (lot, parked) {
        lot.park(park.stream, local, peer, park.idle_deadline, permit);
    }
}

async fn run<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    policy: Option<ParkPolicy>,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(Stream, Conn) -> F,
    F: Future<Output = Option<Park>> + Send + 'static,
{
    let local = listener.local_addr()?;
    // The listener is watched through an AsyncFd so that accepted sockets stay out of the
    // reactor until their handler has to wait (tokio's own accept registers each at once).
    let listener = listener.into_std()?;
    // The first read of an accepted socket is tried at once only if the kernel holds
    // connections back until their first bytes come; otherwise it waits for the reactor.
    let ready_on_accept = crate::sockopt::defers_accept(&listener).unwrap_or(false);
    // `with_interest` is deprecated for lack of I/O safety with borrowed descriptors; a std
    // listener owns its descriptor for its whole life, which is the case it is sound for.
    #[allow(deprecated)]
    let listener = AsyncFd::with_interest(listener, Interest::READABLE)?;
    // A listener on a specific address knows every connection's local address; only a
    // wildcard listener needs to ask the kernel per connection.
    let local_known = !local.ip().is_unspecified();
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(max));
    let (lot, mut watcher) = match policy {
        Some(policy) => {
            let (lot, watcher) = Lot::new(policy)?;
            (Some(lot), Some(watcher))
        }
        None => (None, None),
    };
    // Runs a handler as far as it goes without waiting, here in the accept loop, and gives
    // it a task of its own only if it has to wait.
    let start = |stream: Stream, local: SocketAddr, peer: SocketAddr, resumed: bool| {
        let conn = Conn {
            local,
            peer,
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            lot: lot.clone(),
            resumed,
        };
        let live = Live::new(&lot);
        (Box::pin(handler(stream, conn)), live)
    };
    // Connections to run: (stream, local, peer, permit, resumed).
    let mut ready = Vec::new();
    // Until when accepting pauses after an error about the server (out of descriptors).
    let mut accept_paused: Option<tokio::time::Instant> = None;
    // What ends the loop with an error (the reactor itself failed).
    let mut failure = None;
    // One shutdown waiter for the loop's life rather than one per accepted connection.
    let stopped = shutdown.triggered();
    tokio::pin!(stopped);
    loop {
        let woken = async {
            match &mut watcher {
                Some(watcher) => watcher.next().await,
                None => std::future::pending().await,
            }
        };
        let acceptable = async {
            if let Some(until) = accept_paused {
                tokio::time::sleep_until(until).await;
            }
            let permit = slots.clone().acquire_owned().await.ok()?;
            Some((permit, listener.readable().await))
        };
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            woken = woken => match woken {
                Ok(woken) => {
                    for parked in woken {
                        let fresh = parked.fresh;
                        ready.push((Stream::loose(parked.stream, true, !fresh), parked.local, parked.peer, parked.permit, !fresh));
                    }
                }
                Err(error) => {
                    tracing::warn!(%local, "idle-connection lot failed: {error}; closing the connections in it");
                    if let Some(lot) = &lot {
                        lot.close();
                    }
                    watcher = None;
                }
            },
            acceptable = acceptable => match acceptable {
                None => break,
                Some((_, Err(error))) => {
                    failure = Some(error);
                    break;
                }
                Some((permit, Ok(mut guard))) => {
                    accept_paused = None;
                    let mut permit = Some(permit);
                    for _ in 0..ACCEPT_BATCH {
                        let Some(slot) = permit.take().or_else(|| slots.clone().try_acquire_owned().ok()) else {
                            break;
                        };
                        match guard.try_io(|listener| accept(listener.get_ref())) {
                            Ok(Ok((socket, peer))) => {
                                let Some(peer) = peer.or_else(|| socket.peer_addr().ok()) else {
                                    continue;
                                };
                                let here = if local_known {
                                    local
                                } else {
                                    socket.local_addr().unwrap_or(local)
                                };
                                match &lot {
                                    // Its bytes are not there yet: it waits in the lot for them
                                    // (for up to the read timeout) rather than as a task.
                                    Some(lot) if !ready_on_accept && watcher.is_some() => {
                                        let deadline = std::time::Instant::now() + limits.read_timeout;
                                        if let Err(refused) = lot.park_fresh(socket, here, peer, deadline, slot) {
                                            if let Some(error) = &refused.error {
                                                tracing::warn!(%peer, "cannot watch new connection in the lot: {error}; serving it as a task");
                                            }
                                            ready.push((Stream::loose(refused.stream, false, false), here, peer, refused.permit, false));
                                        }
                                    }
                                    _ => ready.push((Stream::loose(socket, ready_on_accept, false), here, peer, slot, false)),
                                }
                            }
                            Ok(Err(error)) if passing(&error) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(%local, "accept failed: {error}; retrying in 100 ms");
                                // Only accepting pauses: what was accepted runs now.
                                accept_paused = Some(tokio::time::Instant::now() + ACCEPT_PAUSE);
                                break;
                            }
                            // Nothing more to accept; readiness is cleared.
                            Err(_would_block) => break,
                        }
                    }
                    drop(guard);
                }
            },
        }
        for (index, (stream, here, peer, permit, resumed)) in ready.drain(..).enumerate() {
            if index > 0 && index % INLINE_BATCH == 0 {
                // Many connections at once (a crowd woken in the lot): let the rest of the
                // runtime, the reactor included, have a turn between batches.
                tokio::task::yield_now().await;
            }
            let (mut task, live) = start(stream, here, peer, resumed);
            match poll_once(task.as_mut()).await {
                Some(Poll::Ready(parked)) => finish(live, parked, here, peer, permit),
                None => {
                    tracing::error!(%peer, "connection handler panicked; connection closed");
                    drop(task);
                    drop(live);
                }
                Some(Poll::Pending) => {
                    // `live` moves into the task, so it is dropped even if the handler panics.
                    tokio::spawn(async move {
                        let parked = task.await;
                        finish(live, parked, here, peer, permit);
                    });
                }
            }
        }
    }
    drop(listener);
    // Parked connections are idle: close them now, releasing their slots.
    if let Some(lot) = &lot {
        lot.close();
    }
    let draining = slots.acquire_many(max as u32);
    if tokio::time::timeout(limits.drain_timeout, draining)
        .await
        .is_err()
    {
        tracing::warn!(%local, "connections still open after the drain timeout; closing them");
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_until_shutdown_then_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(
            listener,
            TcpLimits::default(),
            shutdown.clone(),
            |mut stream, _conn| async move {
                let mut buf = [0u8; 5];
                if stream.read_exact(&mut buf).await.is_ok() {
                    let _ = stream.write_all(&buf).await;
                }
            },
        ));
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut echo = [0u8; 5];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        shutdown.trigger();
        server.await.unwrap().unwrap();
        // The listener is closed: new connections are refused.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn connection_limit_holds_back_extra_clients() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let limits = TcpLimits {
            max_connections: 1,
            ..TcpLimits::default()
        };
        tokio::spawn(serve(
            listener,
            limits,
            shutdown.clone(),
            |mut stream, _conn| async move {
                let _ = stream.write_all(b"hi").await;
                // Hold the slot until the client closes.
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut greeting = [0u8; 2];
        first.read_exact(&mut greeting).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(200), second.read_exact(&mut greeting))
                .await;
        assert!(waited.is_err(), "second client was served past the limit");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.read_exact(&mut greeting))
            .await
            .expect("second client served once the first left")
            .unwrap();
        shutdown.trigger();
    }

    /// A line echo server that parks after every answer: each line is served by a new task.
    async fn parking_echo(
        policy: ParkPolicy,
        limits: TcpLimits,
    ) -> (SocketAddr, Shutdown, Arc<std::sync::Mutex<Option<Conn>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let last = Arc::new(std::sync::Mutex::new(None));
        let seen = last.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(serve_parking(
            listener,
            limits,
            policy,
            shutdown.clone(),
            move |mut stream, conn| {
                *seen.lock().unwrap() = Some(conn.clone());
                async move {
                    let mut line = [0u8; 6];
                    let socket = stream.registered().ok()?;
                    match socket.read_exact(&mut line).await {
                        Ok(_) => {
                            socket.write_all(&line).await.ok()?;
                            let after = conn.park_after()?;
                            tokio::time::sleep(after).await;
                            Some(Park {
                                stream,
                                idle_deadline: std::time::Instant::now() + idle,
                            })
                        }
                        Err(_) => None,
                    }
                }
            },
        ));
        (addr, shutdown, last)
    }

    async fn ask(client: &mut TcpStream, line: &[u8; 6]) -> [u8; 6] {
        client.write_all(line).await.unwrap();
        let mut answer = [0u8; 6];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut answer))
            .await
            .expect("answer in time")
            .unwrap();
        answer
    }

    fn parked(last: &std::sync::Mutex<Option<Conn>>) -> usize {
        last.lock().unwrap().as_ref().map_or(0, Conn::parked)
    }

    async fn until(mut condition: impl FnMut() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached in 5 s");
    }

    #[tokio::test]
    async fn parked_connections_resume_when_readable() {
        let policy = ParkPolicy {
            after: Duration::ZERO,
            live: 0,
            busy_after: Duration::ZERO,
        };
        let (addr, shutdown, last) = parking_echo(policy, TcpLimits::default()).await;
        let mut clients = Vec::new();
        for _ in 0..20 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            assert_eq!(&ask(&mut client, b"hello\n").await, b"hello\n");
            clients.push(client);
        }
        until(|| parked(&last) == 20).await;
        // Every parked connection is served again, several times, by new tasks.
        for round in 0..3u8 {
            for client in &mut clients {
                let line = [b'a' + round; 6];
                assert_eq!(ask(client, &line).await, line);
            }
        }
        until(|| parked(&last) == 20).await;
        // Clients that close are dropped from the lot without a task.
        clients.truncate(5);
        until(|| parked(&last) == 5).await;
        // Shutdown closes the parked connections.
        shutdown.trigger();
        for client in &mut clients {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await;
            assert!(
                matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                "parked connection not closed"
            );
        }
    }

    #[tokio::test]
    async fn parked_connections_close_at_their_idle_deadline_and_keep_their_slot() {
        let policy = ParkPolicy {
            after: Duration::from_millis(20),
            live: 1000,
            busy_after: Duration::ZERO,
        };
        let limits = TcpLimits {
            max_connections: 1,
            idle_timeout: Duration::from_millis(300),
            ..TcpLimits::default()
        };
        let (addr, _shutdown, last) = parking_echo(policy, limits).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert_eq!(&ask(&mut first, b"first\n").await, b"first\n");
        until(|| parked(&last) == 1).await;
        // The parked connection still holds the only slot: a second client waits.
        let mut second = TcpStream::connect(addr).await.unwrap();
        second.write_all(b"secnd\n").await.unwrap();
        let mut answer = [0u8; 6];
        let early =
            tokio::time::timeout(Duration::from_millis(100), second.read_exact(&mut answer)).await;
        assert!(early.is_err(), "second client served past the limit");
        // At its idle deadline the parked connection is closed, and the slot goes on.
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), first.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "idle deadline not kept"
        );
        tokio::time::timeout(Duration::from_secs(5), second.read_exact(&mut answer))
            .await
            .expect("second client served after the first was closed")
            .unwrap();
        assert_eq!(&answer, b"secnd\n");
    }

    /// Waits for bytes and reads them (`None` at an error).
    async fn read_some(stream: &mut Stream, buf: &mut [u8]) -> Option<usize> {
        loop {
            stream.readable().await.ok()?;
            match stream.try_read(buf) {
                Ok(n) => return Some(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            }
        }
    }

    /// A one-shot echo server on `listener`: answers the first bytes, then closes; records
    /// whether each answered connection had to join the reactor. A message starting with `!`
    /// makes the handler panic.
    async fn one_shot(listener: TcpListener) -> (SocketAddr, Arc<std::sync::Mutex<Vec<bool>>>) {
        one_shot_with(listener, TcpLimits::default()).await
    }

    async fn one_shot_with(
        listener: TcpListener,
        limits: TcpLimits,
    ) -> (SocketAddr, Arc<std::sync::Mutex<Vec<bool>>>) {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(serve_parking(
            listener,
            limits,
            ParkPolicy::default(),
            Shutdown::new(),
            move |mut stream: Stream, _conn| {
                let record = record.clone();
                async move {
                    let mut buf = [0u8; 64];
                    let n = read_some(&mut stream, &mut buf).await?;
                    assert!(buf[..n].first() != Some(&b'!'), "asked to panic");
                    stream.try_write(&buf[..n]).ok()?;
                    record.lock().unwrap().push(stream.is_registered());
                    None
                }
            },
        ));
        (addr, seen)
    }

    async fn exchange(addr: SocketAddr, message: &[u8]) -> Vec<u8> {
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(message).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer))
            .await
            .expect("answer in time")
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn deferred_accept_answers_without_the_reactor_and_survives_a_panicking_handler() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        set_defer_accept(&listener, Duration::from_secs(5)).unwrap();
        let (addr, seen) = one_shot(listener).await;
        assert_eq!(exchange(addr, b"hello").await, b"hello");
        // A client that waits before its first bytes is still held back until they come.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        slow.write_all(b"later").await.unwrap();
        let mut answer = [0u8; 5];
        slow.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"later");
        // A handler that panics loses its connection, not the server.
        assert_eq!(exchange(addr, b"!boom").await, b"");
        assert_eq!(exchange(addr, b"again").await, b"again");
        assert_eq!(*seen.lock().unwrap(), vec![false, false, false]);
    }

    #[tokio::test]
    async fn without_deferred_accept_a_connection_waits_in_the_lot_for_its_first_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = TcpLimits {
            read_timeout: Duration::from_millis(300),
            ..TcpLimits::default()
        };
        let (addr, seen) = one_shot_with(listener, limits).await;
        // Bytes that come later: the connection waited in the lot, and is answered without
        // joining the reactor.
        let mut client = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"hello");
        until(|| !seen.lock().unwrap().is_empty()).await;
        assert_eq!(*seen.lock().unwrap(), vec![false]);
        // A client that says nothing is closed at the read timeout, with no handler run.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "silent client kept"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_handler_that_panics_in_its_own_task_stops_counting_as_live() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        // With `live: 1`, a leaked count would make the next connection park at once.
        let policy = ParkPolicy {
            after: Duration::from_secs(1),
            live: 1,
            busy_after: Duration::from_millis(50),
        };
        tokio::spawn(serve_parking(
            listener,
            TcpLimits::default(),
            policy,
            Shutdown::new(),
            move |mut stream: Stream, conn: Conn| {
                let record = record.clone();
                async move {
                    let mut buf = [0u8; 64];
                    let n = read_some(&mut stream, &mut buf).await?;
                    if buf[0] == b'!' {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        panic!("handler panics after it has its own task");
                    }
                    record.lock().unwrap().push(conn.park_after());
                    stream.try_write(&buf[..n]).ok()?;
                    None
                }
            },
        ));
        for message in [&b"hello"[..], b"!boom", b"hello"] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(message).await.unwrap();
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer)).await;
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Some(Duration::from_secs(1)); 2],
            "the panic left the handler counted as live"
        );
    }
}
