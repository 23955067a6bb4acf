//! The tokio driver: serves clients on UDP and TCP, sends each upstream query from a fresh
//! random-port socket (TCP when truncated), and [`trace`], the iterative walk of `+trace`.

use crate::machine::{
    Admission, ClientId, Event, Options, Resolver, Transmit, Transport, UpstreamId,
};
use dns_proto::{Message, Name, Question, RecordType};
use netio::wire::{self, Dir};
use netio::Shutdown;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// Configuration of the local DNS server.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Where clients reach us (UDP and TCP on the same port; port 0 picks one).
    pub listen: SocketAddr,
    /// The source address of upstream queries; `None` uses the listen address when it is a
    /// specific one (so that in the world each host speaks from its own address).
    pub upstream_source: Option<IpAddr>,
    /// TCP limits for clients.
    pub tcp: netio::tcp::TcpLimits,
    /// The resolver core: root hints, upstream port, timeouts, limits, cache size.
    pub options: Options,
}

impl ResolverConfig {
    /// A configuration with default limits, listening on `listen`, starting from `root_hints`.
    pub fn new(listen: SocketAddr, root_hints: Vec<(Name, SocketAddr)>) -> ResolverConfig {
        ResolverConfig {
            listen,
            upstream_source: None,
            tcp: netio::tcp::TcpLimits {
                idle_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(5),
                ..netio::tcp::TcpLimits::default()
            },
            options: Options {
                root_hints,
                ..Options::default()
            },
        }
    }
}

/// A bound local DNS server, ready to [`run`](ResolverServer::run).
#[derive(Debug)]
pub struct ResolverServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    config: ResolverConfig,
}

/// Binds the UDP socket and the TCP listener (same address and port); fails early.
pub async fn bind(config: ResolverConfig) -> std::io::Result<ResolverServer> {
    let udp = UdpSocket::bind(config.listen).await?;
    let addr = udp.local_addr()?;
    let tcp = TcpListener::bind(addr).await?;
    Ok(ResolverServer {
        udp: Arc::new(udp),
        tcp,
        config,
    })
}

/// A client query arriving over TCP, with the channel for its answer.
struct TcpQuery {
    peer: SocketAddr,
    bytes: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
}

/// What an upstream socket task reports.
enum UpstreamEvent {
    Reply {
        upstream: UpstreamId,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    Failed {
        upstream: UpstreamId,
    },
}

enum Client {
    Udp(SocketAddr),
    Tcp(oneshot::Sender<Vec<u8>>),
}

impl ResolverServer {
    /// The UDP and TCP addresses (the same address and port).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut addrs = Vec::new();
        if let Ok(addr) = self.udp.local_addr() {
            addrs.push(addr);
        }
        if let Ok(addr) = self.tcp.local_addr() {
            addrs.push(addr);
        }
        addrs
    }

    /// The address clients use.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Serves until `shutdown` fires. One task owns the resolver and answers UDP clients
    /// inline (the cache-hit path never leaves it); TCP connections and upstream sockets are
    /// tasks that talk to it over channels.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let ResolverServer { udp, tcp, config } = self;
        let local = udp.local_addr()?;
        let source_ip = config.upstream_source.unwrap_or_else(|| {
            if local.ip().is_unspecified() {
                match local.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                }
            } else {
                local.ip()
            }
        });
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let mut resolver = Resolver::new(config.options.clone(), seed);
        resolver.set_record_events(tracing::enabled!(tracing::Level::DEBUG) || wire::enabled());
        let mut port_rng = StdRng::from_rng(OsRng).map_err(std::io::Error::other)?;

        let (tcp_sender, mut tcp_queries) = mpsc::channel::<TcpQuery>(1024);
        let (upstream_sender, mut upstream_events) = mpsc::unbounded_channel::<UpstreamEvent>();
        let tcp_task = tokio::spawn(netio::tcp::serve(
            tcp,
            config.tcp.clone(),
            shutdown.clone(),
            move |stream, conn| serve_tcp_client(stream, conn, tcp_sender.clone()),
        ));

        let mut clients: HashMap<ClientId, Client> = HashMap::new();
        let mut upstreams: HashMap<UpstreamId, AbortHandle> = HashMap::new();
        let mut next_client = 0u64;
        let mut buf = vec![0u8; netio::udp::MAX_DATAGRAM];
        // One shutdown future for the whole loop (creating one per turn would subscribe anew).
        let stop = shutdown.triggered();
        tokio::pin!(stop);
        loop {
            let deadline = resolver.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut stop => break,
                // Replies from upstream first: they finish work already started, so a flood
                // of new client queries cannot starve the questions in flight.
                Some(event) = upstream_events.recv() => {
                    let now = Instant::now();
                    match event {
                        UpstreamEvent::Reply { upstream, from, bytes } => {
                            resolver.handle_response(now, upstream, from, &bytes);
                        }
                        UpstreamEvent::Failed { upstream } => resolver.handle_error(now, upstream),
                    }
                }
                Some(query) = tcp_queries.recv() => {
                    next_client += 1;
                    let client = ClientId(next_client);
                    let now = Instant::now();
                    match resolver.handle_client_full(now, client, query.peer.ip(), Transport::Tcp, &query.bytes) {
                        Admission::Reply(reply) => {
                            let _ = query.reply.send(reply);
                        }
                        Admission::Pending => {
                            clients.insert(client, Client::Tcp(query.reply));
                        }
                        // Dropping the sender closes that TCP connection.
                        Admission::Ignored => {}
                    }
                }
                received = udp.recv_from(&mut buf) => {
                    let (len, peer) = match received {
                        Ok(received) => received,
                        Err(error) => {
                            tracing::debug!("udp receive error: {error}");
                            continue;
                        }
                    };
                    let bytes = &buf[..len];
                    log_message(Dir::Recv, local, peer, bytes);
                    next_client += 1;
                    let client = ClientId(next_client);
                    let now = Instant::now();
                    match resolver.handle_client_full(now, client, peer.ip(), Transport::Udp, bytes) {
                        Admission::Reply(reply) => {
                            log_message(Dir::Send, local, peer, &reply);
                            if let Err(error) = udp.send_to(&reply, peer).await {
                                tracing::debug!(%peer, "udp send error: {error}");
                            }
                        }
                        Admission::Pending => {
                            clients.insert(client, Client::Udp(peer));
                        }
                        Admission::Ignored => {}
                    }
                }
                _ = sleep => resolver.handle_timeout(Instant::now()),
            }
            // Drain everything the resolver wants done.
            let mut spawned = false;
            while let Some(transmit) = resolver.poll_transmit() {
                spawned = true;
                let upstream = transmit.upstream;
                let port = port_rng.gen_range(1024..=65535u16);
                let handle = tokio::spawn(run_upstream(
                    transmit,
                    source_ip,
                    port,
                    upstream_sender.clone(),
                ));
                upstreams.insert(upstream, handle.abort_handle());
            }
            while let Some(upstream) = resolver.poll_cancel() {
                if let Some(handle) = upstreams.remove(&upstream) {
                    handle.abort();
                }
            }
            while let Some(reply) = resolver.poll_reply() {
                match clients.remove(&reply.client) {
                    Some(Client::Udp(peer)) => {
                        log_message(Dir::Send, local, peer, &reply.message);
                        if let Err(error) = udp.send_to(&reply.message, peer).await {
                            tracing::debug!(%peer, "udp send error: {error}");
                        }
                    }
                    Some(Client::Tcp(sender)) => {
                        let _ = sender.send(reply.message);
                    }
                    None => {}
                }
            }
            while let Some(event) = resolver.poll_event() {
                log_event(&event);
            }
            if spawned {
                // Let the new upstream tasks send their queries now rather than after this
                // loop has drained every waiting client datagram (the runtime has one thread).
                tokio::task::yield_now().await;
            }
        }
        for (_, handle) in upstreams.drain() {
            handle.abort();
        }
        drop(clients);
        match tcp_task.await {
            Ok(result) => result,
            Err(error) => Err(std::io::Error::other(error)),
        }
    }
}

/// Emits the `wire` event for a message we sent or received (decoded only when enabled).
fn log_message(dir: Dir, local: SocketAddr, peer: SocketAddr, bytes: &[u8]) {
    wire::emit("dns", dir, local, peer, &dns_proto::WireSummary(bytes));
}

fn log_event(event: &Event) {
    match event {
        Event::Query {
            task,
            server,
            server_name,
            zone,
            question,
            transport,
            ..
        } => tracing::debug!(
            task = task.0,
            "ask {server_name} ({server}) for zone {zone}: {} {} over {transport:?}",
            question.name,
            question.qtype
        ),
        Event::Response {
            task,
            server,
            outcome,
            ..
        } => tracing::debug!(task = task.0, "{server} replied: {outcome:?}"),
        Event::Timeout { task, server, .. } => tracing::debug!(task = task.0, "{server} timed out"),
        Event::Ignored { from, reason, .. } => {
            tracing::info!("dropped a reply from {from}: {reason}")
        }
        Event::Lookup { task, name, .. } => {
            tracing::debug!(task = task.0, "looking up name server {name}")
        }
        Event::Done {
            task,
            question,
            rcode,
            ..
        } => tracing::debug!(
            task = task.0,
            "{} {}: {rcode}",
            question.name,
            question.qtype
        ),
    }
}

/// Receive buffer for one upstream UDP reply.
const UPSTREAM_BUFFER: usize = 4096;

/// Binds a UDP socket on `ip` and a random port (a few tries, then any port the kernel picks).
async fn random_port_socket(ip: IpAddr, first_port: u16) -> std::io::Result<UdpSocket> {
    let mut port = first_port;
    for _ in 0..8 {
        match UdpSocket::bind(SocketAddr::new(ip, port)).await {
            Ok(socket) => return Ok(socket),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                // Step to another pseudo-random port in range.
                port = 1024 + (port.wrapping_mul(40_503).wrapping_add(12_345) % (65_535 - 1024));
            }
            Err(error) => return Err(error),
        }
    }
    UdpSocket::bind(SocketAddr::new(ip, 0)).await
}

/// One upstream query: sends it, then forwards every reply until aborted by the driver.
async fn run_upstream(
    transmit: Transmit,
    source_ip: IpAddr,
    port: u16,
    events: mpsc::UnboundedSender<UpstreamEvent>,
) {
    let upstream = transmit.upstream;
    let server = transmit.server;
    let source_ip = match (source_ip, server.ip()) {
        (IpAddr::V4(_), IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (IpAddr::V6(_), IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => source_ip,
    };
    let result = match transmit.transport {
        Transport::Udp => udp_upstream(&transmit, source_ip, port, &events).await,
        Transport::Tcp => tcp_upstream(&transmit, source_ip, &events).await,
    };
    if let Err(error) = result {
        tracing::debug!(%server, "upstream query failed: {error}");
        let _ = events.send(UpstreamEvent::Failed { upstream });
    }
}

async fn udp_upstream(
    transmit: &Transmit,
    source_ip: IpAddr,
    port: u16,
    events: &mpsc::UnboundedSender<UpstreamEvent>,
) -> std::io::Result<()> {
    let socket = random_port_socket(source_ip, port).await?;
    // Connecting makes the kernel drop datagrams from any other address or port and report
    // ICMP errors, so a dead server fails fast.
    socket.connect(transmit.server).await?;
    // Our address only matters for the wire event: skip the system call when nobody listens.
    let local = if wire::enabled() {
        socket.local_addr()?
    } else {
        SocketAddr::new(source_ip, 0)
    };
    log_message(Dir::Send, local, transmit.server, &transmit.message);
    socket.send(&transmit.message).await?;
    // We announce a 1232-byte EDNS payload, so replies fit in 4 KiB; a larger datagram is cut
    // by the kernel, fails to decode and is ignored (the server gets retried over TCP only
    // when it says TC). Zeroing 64 KiB per query would cost more than the rest of the query.
    let mut buf = vec![0u8; UPSTREAM_BUFFER];
    loop {
        let len = socket.recv(&mut buf).await?;
        log_message(Dir::Recv, local, transmit.server, &buf[..len]);
        let event = UpstreamEvent::Reply {
            upstream: transmit.upstream,
            from: transmit.server,
            bytes: buf[..len].to_vec(),
        };
        if events.send(event).is_err() {
            return Ok(());
        }
    }
}

async fn tcp_upstream(
    transmit: &Transmit,
    source_ip: IpAddr,
    events: &mpsc::UnboundedSender<UpstreamEvent>,
) -> std::io::Result<()> {
    let socket = match source_ip {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source_ip, 0))?;
    let mut stream = socket.connect(transmit.server).await?;
    let local = stream.local_addr()?;
    log_message(Dir::Send, local, transmit.server, &transmit.message);
    write_framed(&mut stream, &transmit.message).await?;
    let bytes = read_framed(&mut stream).await?;
    log_message(Dir::Recv, local, transmit.server, &bytes);
    let _ = events.send(UpstreamEvent::Reply {
        upstream: transmit.upstream,
        from: transmit.server,
        bytes,
    });
    Ok(())
}

/// Writes one DNS message with its two-byte length prefix (RFC 1035 §4.2.2).
async fn write_framed(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    netio::io::write_u16_framed(stream, message).await
}

/// Reads one length-prefixed DNS message.
async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    netio::io::read_u16_framed(stream).await
}

/// One TCP client: several queries in a row, each answered before the next is read.
async fn serve_tcp_client(
    mut stream: TcpStream,
    conn: netio::tcp::Conn,
    queries: mpsc::Sender<TcpQuery>,
) {
    loop {
        let read = tokio::select! {
            _ = conn.shutdown.triggered() => return,
            read = netio::io::timeout(conn.limits.idle_timeout, "idle", read_framed(&mut stream)) => read,
        };
        let Ok(bytes) = read else {
            return;
        };
        log_message(Dir::Recv, conn.local, conn.peer, &bytes);
        let (reply, answer) = oneshot::channel();
        let query = TcpQuery {
            peer: conn.peer,
            bytes,
            reply,
        };
        if queries.send(query).await.is_err() {
            return;
        }
        // The resolver always answers before its question timeout; a dropped sender means the
        // query deserved no answer (it was not a query), and the connection is closed.
        let Ok(message) = answer.await else {
            return;
        };
        log_message(Dir::Send, conn.local, conn.peer, &message);
        if write_framed(&mut stream, &message).await.is_err() {
            return;
        }
    }
}

/// One step of [`trace`]: a server asked and what it said.
#[derive(Clone, Debug)]
pub struct TraceStep {
    /// The server asked.
    pub server: SocketAddr,
    /// Its name (from the NS record or the hints).
    pub server_name: Name,
    /// The zone it was asked about.
    pub zone: Name,
    /// The question sent.
    pub question: Question,
    /// The reply (`None`: no reply in time or a transport error).
    pub reply: Option<Message>,
    /// The reply's size on the wire.
    pub size: usize,
    /// From query to reply.
    pub elapsed: Duration,
    /// What the reply meant.
    pub outcome: Option<crate::Outcome>,
}

/// Resolves `name`/`rtype` iteratively from `options.root_hints` with an empty cache, one
/// query at a time, and returns every step (for `dns query +trace`) and the final answer.
pub async fn trace(
    name: &Name,
    rtype: RecordType,
    options: Options,
) -> std::io::Result<(Vec<TraceStep>, Message)> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let upstream_timeout = options.upstream_timeout;
    let mut resolver = Resolver::new(options, seed);
    let query = Message::query(1, Question::new(name.clone(), rtype), true);
    let client = ClientId(1);
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut index: HashMap<UpstreamId, usize> = HashMap::new();
    let mut immediate = resolver.handle_client(
        Instant::now(),
        client,
        peer,
        Transport::Tcp,
        &query.encode(),
    );
    for _ in 0..1_000 {
        if let Some(reply) = immediate.take() {
            let message = Message::decode(&reply).map_err(std::io::Error::other)?;
            return Ok((steps, message));
        }
        while let Some(event) = resolver.poll_event() {
            match event {
                Event::Query {
                    upstream,
                    server,
                    server_name,
                    zone,
                    question,
                    ..
                } => {
                    index.insert(upstream, steps.len());
                    steps.push(TraceStep {
                        server,
                        server_name,
                        zone,
                        question,
                        reply: None,
                        size: 0,
                        elapsed: Duration::ZERO,
                        outcome: None,
                    });
                }
                Event::Response {
                    upstream, outcome, ..
                } => {
                    if let Some(step) = index.get(&upstream).and_then(|&i| steps.get_mut(i)) {
                        step.outcome = Some(outcome);
                    }
                }
                _ => {}
            }
        }
        if let Some(reply) = resolver.poll_reply() {
            immediate = Some(reply.message);
            continue;
        }
        while resolver.poll_cancel().is_some() {}
        let Some(transmit) = resolver.poll_transmit() else {
            match resolver.poll_timeout() {
                Some(deadline) => {
                    tokio::time::sleep_until(deadline.into()).await;
                    resolver.handle_timeout(Instant::now());
                }
                None => return Err(std::io::Error::other("resolution stalled")),
            }
            continue;
        };
        // The transmit's Query event was drained above, so its step exists already.
        let started = Instant::now();
        let exchange = async {
            match transmit.transport {
                Transport::Udp => {
                    let bind: SocketAddr = match transmit.server {
                        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                    };
                    let socket = UdpSocket::bind(bind).await?;
                    socket.connect(transmit.server).await?;
                    socket.send(&transmit.message).await?;
                    let mut buf = vec![0u8; 65_535];
                    let len = socket.recv(&mut buf).await?;
                    buf.truncate(len);
                    Ok::<Vec<u8>, std::io::Error>(buf)
                }
                Transport::Tcp => {
                    let mut stream = TcpStream::connect(transmit.server).await?;
                    write_framed(&mut stream, &transmit.message).await?;
                    read_framed(&mut stream).await
                }
            }
        };
        match tokio::time::timeout(upstream_timeout, exchange).await {
            Ok(Ok(bytes)) => {
                if let Some(step) = index
                    .get(&transmit.upstream)
                    .and_then(|&i| steps.get_mut(i))
                {
                    step.reply = Message::decode(&bytes).ok();
                    step.size = bytes.len();
                    step.elapsed = started.elapsed();
                }
                resolver.handle_response(
                    Instant::now(),
                    transmit.upstream,
                    transmit.server,
                    &bytes,
                );
            }
            Ok(Err(_)) => resolver.handle_error(Instant::now(), transmit.upstream),
            Err(_) => resolver.handle_timeout(Instant::now()),
        }
    }
    Err(std::io::Error::other("resolution did not finish"))
}
