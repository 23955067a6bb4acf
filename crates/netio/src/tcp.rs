//! The TCP accept loop every stream server runs: a connection limit, shutdown and draining.

use crate::park::Lot;
pub use crate::park::ParkPolicy;
use crate::Shutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

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
    run(listener, limits, None, shutdown, move |stream, conn| {
        let task = handler(stream, conn);
        async move {
            task.await;
            None
        }
    })
    .await
}

/// Tokio takes a freshly accepted socket to be readable, so that the first read tries the
/// socket at once; a client whose first bytes have not arrived yet then costs a failed read
/// and a second wake-up (every connection of a `wrk` run did). This forgets that assumption,
/// without a syscall, so the first read waits for the kernel's word, as nginx's does.
///
/// Only right after `accept` and on a current-thread runtime: no reactor turn can have
/// recorded a real readiness event for the socket yet, so none is lost. (On a multi-thread
/// runtime another worker could record one in between, and clearing it would leave the
/// connection waiting for bytes that already came.)
fn forget_assumed_readiness(stream: &TcpStream) {
    let _ = stream.try_io(tokio::io::Interest::READABLE, || {
        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
    });
}

/// What a handler of [`serve_parking`] hands back when its connection went idle: the socket
/// and when the connection's idle time runs out.
#[derive(Debug)]
pub struct Park {
    /// The idle connection's socket, with nothing read from it that was not answered.
    pub stream: TcpStream,
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
pub async fn serve_parking<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    policy: ParkPolicy,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream, Conn) -> F,
    F: Future<Output = Option<Park>> + Send + 'static,
{
    run(listener, limits, Some(policy), shutdown, handler).await
}

async fn run<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    policy: Option<ParkPolicy>,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream, Conn) -> F,
    F: Future<Output = Option<Park>> + Send + 'static,
{
    let local = listener.local_addr()?;
    let current_thread = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread;
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
    let start = |stream: TcpStream, local: SocketAddr, peer: SocketAddr, permit, resumed| {
        let conn = Conn {
            local,
            peer,
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            lot: lot.clone(),
            resumed,
        };
        let task = handler(stream, conn);
        let lot = lot.clone();
        if let Some(lot) = &lot {
            lot.task_started();
        }
        tokio::spawn(async move {
            let parked = task.await;
            match (lot, parked) {
                (Some(lot), Some(park)) => {
                    lot.task_ended();
                    lot.park(park.stream, local, peer, park.idle_deadline, permit);
                }
                (Some(lot), None) => lot.task_ended(),
                (None, _) => {}
            }
        });
    };
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
        let accepted = async {
            let permit = match slots.clone().acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return None,
            };
            Some((listener.accept().await, permit))
        };
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            woken = woken => match woken {
                Ok(woken) => {
                    for parked in woken {
                        match TcpStream::from_std(parked.stream) {
                            Ok(stream) => start(stream, parked.local, parked.peer, parked.permit, true),
                            Err(error) => {
                                tracing::warn!(peer = %parked.peer, "cannot resume parked connection: {error}");
                            }
                        }
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
            accepted = accepted => match accepted {
                None => break,
                Some((Ok((stream, peer)), permit)) => {
                    // Small request/response exchanges must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    if current_thread {
                        forget_assumed_readiness(&stream);
                    }
                    let here = if local_known {
                        local
                    } else {
                        stream.local_addr().unwrap_or(local)
                    };
                    start(stream, here, peer, permit, false);
                }
                Some((Err(error), permit)) => {
                    tracing::warn!(%local, "accept failed: {error}; retrying in 100 ms");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
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
    Ok(())
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
                    match stream.read_exact(&mut line).await {
                        Ok(_) => {
                            stream.write_all(&line).await.ok()?;
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
}
