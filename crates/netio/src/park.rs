//! The idle-connection lot: keep-alive connections that wait for their next message leave
//! the runtime and sit here as a bare socket and a deadline, watched by one epoll instance of
//! their own, until they turn readable (then [`crate::tcp::serve_parking`] starts a handler
//! task for them again) or their idle deadline passes (then they are closed).
//!
//! A connection task costs a few kilobytes however small its state (the task cell and the
//! runtime's readiness slot are cache-line padded, and the handler's future is as large as its
//! largest state); a parked connection costs one small table entry. This is how thousands of
//! idle keep-alive clients are held in less memory than nginx holds them.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::OwnedSemaphorePermit;

/// When an idle connection parks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParkPolicy {
    /// An idle connection parks after waiting this long for its next message.
    pub after: Duration,
    /// While more than this many connections have running tasks, an idle connection parks
    /// at once the first time, so the memory of many idle clients stays small.
    pub live: usize,
    /// While more than `live` connections are live, how long one that has come back from the
    /// lot waits before it parks again: short, but long enough that clients sending request
    /// after request (a busy keep-alive load of hundreds of connections) are not parked and
    /// woken between every two requests.
    pub busy_after: Duration,
}

impl Default for ParkPolicy {
    fn default() -> Self {
        ParkPolicy {
            after: Duration::from_secs(1),
            live: 256,
            busy_after: Duration::from_millis(50),
        }
    }
}

/// One parked connection.
struct Entry {
    stream: std::net::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    /// The connection's slot under the server's connection limit: a parked connection is
    /// still open, so it still counts.
    permit: OwnedSemaphorePermit,
    generation: u32,
    /// Accepted and parked before its first byte (no handler has run yet).
    fresh: bool,
}

#[derive(Default)]
struct Table {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Idle deadlines in order (deadline, slot, generation); entries of slots that woke or
    /// were reused are skipped when they come up.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    next_generation: u32,
    closed: bool,
}

/// The lot's state shared by the serve loop (which watches it) and connection tasks (which
/// park into it).
pub(crate) struct Lot {
    registry: Registry,
    table: Mutex<Table>,
    /// Connections with a running handler task.
    live: AtomicUsize,
    policy: ParkPolicy,
    /// Wakes the watcher when a parked connection's deadline is the earliest, so that it
    /// sets its timer again.
    earlier: tokio::sync::Notify,
}

/// A connection the lot did not take, given back.
pub(crate) struct Refused {
    pub(crate) stream: std::net::TcpStream,
    pub(crate) permit: OwnedSemaphorePermit,
    /// Why, when the kernel refused to watch it (`None`: the lot is closed).
    pub(crate) error: Option<std::io::Error>,
}

/// A connection that left the lot because it turned readable.
pub(crate) struct Woken {
    pub(crate) stream: std::net::TcpStream,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) permit: OwnedSemaphorePermit,
    /// Parked straight from accept: its first bytes have just come (and `TCP_NODELAY` is
    /// not set yet).
    pub(crate) fresh: bool,
}

impl Lot {
    /// A lot and the poller that watches it (owned by the serve loop).
    pub(crate) fn new(policy: ParkPolicy) -> std::io::Result<(Arc<Lot>, Watcher)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let lot = Arc::new(Lot {
            registry,
            table: Mutex::new(Table::default()),
            live: AtomicUsize::new(0),
            policy,
            earlier: tokio::sync::Notify::new(),
        });
        // The replacement, `AsyncFd::register_with_interest`, is an `unsafe fn` (forbidden in
        // this workspace) whose one requirement is that the fd stays open and the same while
        // registered: a `mio::Poll` owns its epoll fd for its whole life, so that holds here.
        #[allow(deprecated)]
        let poll = AsyncFd::with_interest(poll, tokio::io::Interest::READABLE)?;
        let watcher = Watcher {
            poll,
            events: Events::with_capacity(256),
            lot: lot.clone(),
        };
        Ok((lot, watcher))
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long an idle connection should wait for input before it parks. While many
    /// connections are live, one that has not been parked yet parks at once (a crowd of idle
    /// clients costs little memory however fast it arrives), and one that came back from the
    /// lot waits `busy_after` (a crowd of busy clients is not parked and woken between every
    /// two requests).
    pub(crate) fn park_after(&self, resumed: bool) -> Duration {
        if self.live.load(Ordering::Relaxed) <= self.policy.live {
            self.policy.after
        } else if resumed {
            self.policy.busy_after.min(self.policy.after)
        } else {
            Duration::ZERO
        }
    }

    /// A handler task started.
    pub(crate) fn task_started(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    /// A handler task ended.
    pub(crate) fn task_ended(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections parked now.
    pub(crate) fn parked(&self) -> usize {
        let table = self.table();
        table.slots.len() - table.free.len()
    }

    /// Parks a connection until it turns readable or `deadline` passes. After shutdown, or if
    /// it cannot be watched, the connection is closed instead (it was idle: nothing is lost).
    pub(crate) fn park(
        &self,
        stream: crate::tcp::Stream,
        local: SocketAddr,
        peer: SocketAddr,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        let Ok(stream) = stream.into_std() else {
            return;
        };
        if let Err(refused) = self.park_socket(stream, false, local, peer, deadline, permit) {
            // Idle: closing it loses nothing.
            if let Some(error) = refused.error {
                tracing::warn!(%peer, "cannot park idle connection: {error}; closing it");
            }
        }
    }

    /// Parks a connection just accepted, until its first bytes come or `deadline` passes:
    /// a client that connects and says nothing (or a scanner that connects and leaves) then
    /// costs a table entry, and no task, no timer and no registration with the runtime.
    /// A connection the lot cannot take (closed, or the kernel refused to watch it) is given
    /// back, to be served as a task.
    pub(crate) fn park_fresh(
        &self,
        socket: std::net::TcpStream,
        local: SocketAddr,
        peer: SocketAddr,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), Refused> {
        self.park_socket(socket, true, local, peer, deadline, permit)
    }

    fn park_socket(
        &self,
        stream: std::net::TcpStream,
        fresh: bool,
        local: SocketAddr,
        peer: SocketAddr,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), Refused> {
        let mut table = self.table();
        if table.closed {
            return Err(Refused {
                stream,
                permit,
                error: None,
            });
        }
        let slot = match table.free.pop() {
            Some(slot) => slot,
            None => {
                table.slots.push(None);
                table.slots.len() - 1
            }
        };
        // Registering an fd that is readable already reports it at once (EPOLL_CTL_ADD polls
        // it), so bytes that came just before parking are not missed.
        let fd = stream.as_raw_fd();
        if let Err(error) =
            self.registry
                .register(&mut SourceFd(&fd), Token(slot), Interest::READABLE)
        {
            table.free.push(slot);
            return Err(Refused {
                stream,
                permit,
                error: Some(error),
            });
        }
        let generation = table.next_generation;
        table.next_generation = generation.wrapping_add(1);
        table.deadlines.push(Reverse((deadline, slot, generation)));
        if table.deadlines.peek().map(|first| first.0 .1) == Some(slot) {
            self.earlier.notify_one();
        }
        table.slots[slot] = Some(Entry {
            stream,
            local,
            peer,
            permit,
            generation,
            fresh,
        });
        // Deadlines of connections that woke stay in the heap until they come up; rebuild it
        // when they outnumber the parked connections, so churn cannot grow it without bound.
        let parked = table.slots.len() - table.free.len();
        if table.deadlines.len() > 2 * parked + 1024 {
            let Table {
                slots, deadlines, ..
            } = &mut *table;
            deadlines.retain(|Reverse((_, slot, generation))| {
                slots
                    .get(*slot)
                    .and_then(|entry| entry.as_ref())
                    .is_some_and(|entry| entry.generation == *generation)
            });
        }
        Ok(())
    }

    /// Takes slot `slot` out of the lot.
    fn take(&self, table: &mut Table, slot: usize) -> Option<Entry> {
        let entry = table.slots.get_mut(slot)?.take()?;
        let fd = entry.stream.as_raw_fd();
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        table.free.push(slot);
        Some(entry)
    }

    /// Closes every parked connection and refuses new ones (server shutdown).
    pub(crate) fn close(&self) {
        let mut table = self.table();
        table.closed = true;
        for slot in 0..table.slots.len() {
            self.take(&mut table, slot);
        }
        table.deadlines.clear();
        // Dropping the entries closes the sockets and releases their connection slots.
    }
}

/// The serve loop's side of a lot: the epoll instance the parked sockets are registered
/// with, itself registered with the runtime.
pub(crate) struct Watcher {
    poll: AsyncFd<Poll>,
    events: Events,
    lot: Arc<Lot>,
}

impl Watcher {
    /// Waits until parked connections turn readable (returned, out of the lot) or reach their
    /// idle deadline (closed here).
    pub(crate) async fn next(&mut self) -> std::io::Result<Vec<Woken>> {
        let Watcher { poll, events, lot } = self;
        loop {
            let next_deadline = lot.table().deadlines.peek().map(|d| d.0 .0);
            let readable = async {
                let timer = async {
                    match next_deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    guard = poll.readable_mut() => Some(guard),
                    _ = timer => None,
                    // An earlier deadline came in: expire what is due and set the timer again.
                    _ = lot.earlier.notified() => None,
                }
            };
            let mut woken = Vec::new();
            let mut closed = Vec::new();
            match readable.await {
                Some(guard) => {
                    let mut guard = guard?;
                    // Drain the inner epoll before clearing readiness: the runtime watches it
                    // edge-triggered.
                    loop {
                        events.clear();
                        match guard.get_inner_mut().poll(events, Some(Duration::ZERO)) {
                            Ok(()) => {}
                            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {
                                continue
                            }
                            Err(error) => return Err(error),
                        }
                        let mut table = lot.table();
                        for event in events.iter() {
                            if let Some(entry) = lot.take(&mut table, event.token().0) {
                                // A client that closed or reset an idle connection needs no
                                // task: close it here (unless its last bytes are waiting).
                                if event.is_error()
                                    || (event.is_read_closed() && peer_gone(&entry.stream))
                                {
                                    closed.push(entry);
                                    continue;
                                }
                                woken.push(Woken {
                                    stream: entry.stream,
                                    local: entry.local,
                                    peer: entry.peer,
                                    permit: entry.permit,
                                    fresh: entry.fresh,
                                });
                            }
                        }
                        drop(table);
                        closed.clear();
                        if events.iter().count() < events.capacity() {
                            break;
                        }
                    }
                    guard.clear_ready();
                }
                None => expire(lot, Instant::now()),
            }
            if !woken.is_empty() {
                return Ok(woken);
            }
        }
    }
}

/// Whether a socket whose peer shut down its side has nothing left to read.
fn peer_gone(stream: &std::net::TcpStream) -> bool {
    match stream.peek(&mut [0u8]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Closes the parked connections whose idle deadline has passed.
fn expire(lot: &Lot, now: Instant) {
    let mut table = lot.table();
    let mut expired = Vec::new();
    while let Some(Reverse((deadline, slot, generation))) = table.deadlines.peek().copied() {
        if deadline > now {
            break;
        }
        table.deadlines.pop();
        let current = table.slots.get(slot).and_then(|entry| entry.as_ref());
        if current.is_some_and(|entry| entry.generation == generation) {
            if let Some(entry) = lot.take(&mut table, slot) {
                expired.push(entry);
            }
        }
    }
    drop(table);
    // Closed outside the lock.
    drop(expired);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn crowds_park_new_connections_at_once_and_resumed_ones_after_a_moment() {
        let policy = ParkPolicy {
            after: Duration::from_secs(1),
            live: 1,
            busy_after: Duration::from_millis(50),
        };
        let (lot, _watcher) = Lot::new(policy).unwrap();
        lot.task_started();
        assert_eq!(lot.park_after(false), Duration::from_secs(1), "few live");
        assert_eq!(lot.park_after(true), Duration::from_secs(1), "few live");
        lot.task_started();
        assert_eq!(
            lot.park_after(false),
            Duration::ZERO,
            "a crowd: new ones at once"
        );
        assert_eq!(
            lot.park_after(true),
            Duration::from_millis(50),
            "busy ones wait"
        );
        lot.task_ended();
        assert_eq!(lot.park_after(false), Duration::from_secs(1));
    }

    /// The heap rebuild (when woken connections' deadlines outnumber the parked ones) keeps
    /// the deadline of the connection being parked, so it still expires.
    #[tokio::test]
    async fn heap_rebuild_keeps_the_deadline_of_the_connection_being_parked() {
        let (lot, mut watcher) = Lot::new(ParkPolicy::default()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let local = server.local_addr().unwrap();
        let permits = Arc::new(tokio::sync::Semaphore::new(10));
        let far = Instant::now() + Duration::from_secs(3600);
        // 1026 connections that came and woke (their deadlines stay in the heap).
        for _ in 0..1026 {
            let parked = lot.park_fresh(
                server.try_clone().unwrap(),
                local,
                peer,
                far,
                permits.clone().try_acquire_owned().unwrap(),
            );
            assert!(parked.is_ok());
            let mut table = lot.table();
            lot.take(&mut table, 0);
        }
        assert_eq!(lot.table().deadlines.len(), 1026);
        // A silent client: due in 100 ms.
        let parked = lot.park_fresh(
            server.try_clone().unwrap(),
            local,
            peer,
            Instant::now() + Duration::from_millis(100),
            permits.clone().try_acquire_owned().unwrap(),
        );
        assert!(parked.is_ok());
        let in_heap = lot.table().deadlines.len();
        let _ = tokio::time::timeout(Duration::from_millis(500), watcher.next()).await;
        assert_eq!(
            lot.parked(),
            0,
            "silent connection kept past its deadline (heap had {in_heap} entries)"
        );
    }
}
