//! The tokio servers and clients of the socket programs.

use crate::{ping, upper};
use netio::tcp::{Conn, TcpLimits};
use netio::wire::{self, Dir};
use netio::Shutdown;
use rand::{Rng, SeedableRng};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The textbook's server port.
pub const DEFAULT_PORT: u16 = 12000;

/// Settings of the TCP uppercase server.
#[derive(Clone, Debug)]
pub struct TcpUpperConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The longest line a client may send; past it the server says why and closes.
    pub max_line: usize,
    /// Connection limit and timeouts.
    pub limits: TcpLimits,
}

impl TcpUpperConfig {
    /// Defaults (64 KiB lines, 60 s idle timeout) on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            max_line: 64 * 1024,
            limits: TcpLimits::default(),
        }
    }
}

/// The TCP uppercase server, bound and ready to run.
#[derive(Debug)]
pub struct TcpUpperServer {
    listener: TcpListener,
    config: TcpUpperConfig,
}

impl TcpUpperServer {
    /// Binds the listening socket.
    pub async fn bind(config: TcpUpperConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Self { listener, config })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves clients until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let max_line = self.config.max_line;
        tracing::info!(listen = %self.listener.local_addr()?, "tcp uppercase server ready");
        netio::tcp::serve(
            self.listener,
            self.config.limits,
            shutdown,
            move |stream, conn| serve_tcp_client(stream, conn, max_line),
        )
        .await
    }
}

async fn serve_tcp_client(mut stream: TcpStream, conn: Conn, max_line: usize) {
    let mut uppercaser = upper::Uppercaser::new();
    let mut input = vec![0u8; 8 * 1024];
    let mut output = Vec::with_capacity(8 * 1024);
    loop {
        let read = tokio::select! {
            read = netio::io::timeout(conn.limits.idle_timeout, "idle", stream.read(&mut input)) => read,
            _ = conn.shutdown.triggered() => break,
        };
        let len = match read {
            Ok(0) => break,
            Ok(len) => len,
            Err(error) => {
                tracing::info!(peer = %conn.peer, "tcp uppercase: closing connection: {error}");
                return;
            }
        };
        let chunk = &input[..len];
        wire::emit(
            "tcp-upper",
            Dir::Recv,
            conn.local,
            conn.peer,
            &upper::summary(chunk),
        );
        output.clear();
        let longest = uppercaser.push(chunk, &mut output);
        if longest > max_line {
            tracing::warn!(peer = %conn.peer, max_line, "tcp uppercase: line too long; closing connection");
            let message = format!("\nERROR line longer than {max_line} bytes; closing\n");
            let _ = stream.write_all(message.as_bytes()).await;
            return;
        }
        if output.is_empty() {
            continue;
        }
        wire::emit(
            "tcp-upper",
            Dir::Send,
            conn.local,
            conn.peer,
            &upper::summary(&output),
        );
        if let Err(error) = stream.write_all(&output).await {
            tracing::info!(peer = %conn.peer, "tcp uppercase: client went away: {error}");
            return;
        }
    }
    output.clear();
    uppercaser.finish(&mut output);
    if !output.is_empty() {
        let _ = stream.write_all(&output).await;
    }
    let _ = stream.shutdown().await;
}

/// Settings of the UDP uppercase server.
#[derive(Clone, Debug)]
pub struct UdpUpperConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Fraction of datagrams to drop on purpose (0.0 to 1.0), so that loss can be seen.
    pub loss: f64,
    /// Seed for the drop decisions; random when `None`.
    pub seed: Option<u64>,
}

impl UdpUpperConfig {
    /// No loss, on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            loss: 0.0,
            seed: None,
        }
    }
}

/// The UDP uppercase (and ping echo) server, bound and ready to run.
#[derive(Debug)]
pub struct UdpUpperServer {
    socket: Arc<UdpSocket>,
    config: UdpUpperConfig,
}

impl UdpUpperServer {
    /// Binds the socket.
    pub async fn bind(config: UdpUpperConfig) -> std::io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind(config.listen).await?);
        Ok(Self { socket, config })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Answers datagrams until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let local = self.socket.local_addr()?;
        let loss = self.config.loss.clamp(0.0, 1.0);
        let mut rng = match self.config.seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_entropy(),
        };
        tracing::info!(listen = %local, loss, "udp uppercase server ready");
        netio::udp::serve(self.socket, shutdown, move |datagram, peer| {
            // Pings are echoed like any sentence, but labelled so that timelines tell them apart.
            let proto = if ping::decode(datagram).is_some() {
                "udp-ping"
            } else {
                "udp-upper"
            };
            wire::emit(proto, Dir::Recv, local, peer, &upper::summary(datagram));
            if loss > 0.0 && rng.gen_bool(loss) {
                tracing::debug!(%peer, "dropped on purpose (--loss)");
                return None;
            }
            let reply = upper::uppercase(datagram);
            if reply.len() > 65_507 {
                tracing::warn!(%peer, "reply longer than a UDP datagram can carry; dropped");
                return None;
            }
            wire::emit(proto, Dir::Send, local, peer, &upper::summary(&reply));
            Some(reply)
        })
        .await
    }
}

/// Errors of the clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A socket operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No reply came after every retry.
    #[error("no reply from {server} after {attempts} attempt(s) of {timeout:?} each")]
    NoReply {
        /// The server asked.
        server: SocketAddr,
        /// Datagrams sent.
        attempts: u32,
        /// How long each attempt waited.
        timeout: Duration,
    },
    /// The server closed the connection before a complete reply.
    #[error("{server} closed the connection before replying")]
    Closed {
        /// The server asked.
        server: SocketAddr,
    },
    /// The server said the line was too long (or the reply was longer than the bound).
    #[error("reply from {server} longer than {max} bytes")]
    ReplyTooLong {
        /// The server asked.
        server: SocketAddr,
        /// The bound.
        max: usize,
    },
}

/// A TCP uppercase client connection: send a line, read the reply line.
#[derive(Debug)]
pub struct TcpUpperClient {
    reader: BufReader<TcpStream>,
    local: SocketAddr,
    server: SocketAddr,
    timeout: Duration,
}

impl TcpUpperClient {
    /// Connects to `server`; every later exchange waits at most `timeout` for its reply.
    pub async fn connect(server: SocketAddr, timeout: Duration) -> Result<Self, ClientError> {
        Self::connect_from(None, server, timeout).await
    }

    /// Like [`TcpUpperClient::connect`], from the local address `source` when given (a world
    /// host's own address, so that timelines name it).
    pub async fn connect_from(
        source: Option<IpAddr>,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let socket = match server {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let stream = netio::io::timeout(timeout, "connect", socket.connect(server)).await?;
        let local = stream.local_addr()?;
        Ok(Self {
            reader: BufReader::new(stream),
            local,
            server,
            timeout,
        })
    }

    /// Sends `line` (a newline is added) and returns the reply line without its newline.
    pub async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut message = Vec::with_capacity(line.len() + 1);
        message.extend_from_slice(line);
        message.push(b'\n');
        wire::emit(
            "tcp-upper",
            Dir::Send,
            self.local,
            self.server,
            &upper::summary(&message),
        );
        self.reader.get_mut().write_all(&message).await?;
        let max = 4 * line.len() + 1024;
        let line = netio::io::timeout(
            self.timeout,
            "reply",
            netio::io::read_line(&mut self.reader, max),
        )
        .await?;
        let reply = match line {
            netio::io::Line::Complete(reply) => reply,
            netio::io::Line::Eof(reply) if !reply.is_empty() => reply,
            netio::io::Line::Eof(_) => {
                return Err(ClientError::Closed {
                    server: self.server,
                })
            }
            netio::io::Line::TooLong => {
                return Err(ClientError::ReplyTooLong {
                    server: self.server,
                    max,
                })
            }
        };
        wire::emit(
            "tcp-upper",
            Dir::Recv,
            self.local,
            self.server,
            &upper::summary(&reply),
        );
        Ok(reply)
    }
}

/// Sends `message` in one datagram to `server` and waits for the reply, resending up to
/// `retries` more times when `timeout` passes without one.
pub async fn udp_exchange(
    server: SocketAddr,
    message: &[u8],
    timeout: Duration,
    retries: u32,
) -> Result<Vec<u8>, ClientError> {
    udp_exchange_from(None, server, message, timeout, retries).await
}

/// Like [`udp_exchange`], from the local address `source` when given.
pub async fn udp_exchange_from(
    source: Option<IpAddr>,
    server: SocketAddr,
    message: &[u8],
    timeout: Duration,
    retries: u32,
) -> Result<Vec<u8>, ClientError> {
    let socket = UdpSocket::bind(local_for(source, server)).await?;
    socket.connect(server).await?;
    let local = socket.local_addr()?;
    let mut buf = vec![0u8; netio::udp::MAX_DATAGRAM];
    for _ in 0..=retries {
        wire::emit(
            "udp-upper",
            Dir::Send,
            local,
            server,
            &upper::summary(message),
        );
        socket.send(message).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        // A connected socket only sees datagrams from `server`; ICMP errors (nobody listening)
        // show up as receive errors, which count as a lost attempt.
        if let Ok(Ok(len)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            wire::emit(
                "udp-upper",
                Dir::Recv,
                local,
                server,
                &upper::summary(&buf[..len]),
            );
            return Ok(buf[..len].to_vec());
        }
    }
    Err(ClientError::NoReply {
        server,
        attempts: retries + 1,
        timeout,
    })
}

/// `source` with port 0, or else the wildcard address of `server`'s family.
fn local_for(source: Option<IpAddr>, server: SocketAddr) -> SocketAddr {
    match (source, server) {
        (Some(source), _) => SocketAddr::new(source, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// One result of [`udp_ping`], reported as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum PingEvent {
    /// A reply to ping `seq` came back after `rtt`.
    Reply {
        /// Sequence number.
        seq: u32,
        /// Reply size.
        bytes: usize,
        /// Round-trip time.
        rtt: Duration,
    },
    /// No reply to ping `seq` within the timeout.
    Timeout {
        /// Sequence number.
        seq: u32,
    },
}

/// Sends `count` pings (from `source` when given) to `server`, one every `interval`, each waiting at most `timeout` for its
/// reply, calls `on_event` for each outcome and returns the statistics.
///
/// Replies to earlier pings that arrive late are ignored (those pings already counted as lost).
pub async fn udp_ping(
    source: Option<IpAddr>,
    server: SocketAddr,
    count: u32,
    interval: Duration,
    timeout: Duration,
    mut on_event: impl FnMut(&PingEvent),
) -> Result<ping::Stats, ClientError> {
    let socket = UdpSocket::bind(local_for(source, server)).await?;
    socket.connect(server).await?;
    let local = socket.local_addr()?;
    let mut stats = ping::Stats::default();
    let mut buf = vec![0u8; 2048];
    for seq in 1..=count {
        let started = Instant::now();
        let sent_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_micros() as u64)
            .unwrap_or(0);
        let message = ping::encode(seq, sent_micros);
        wire::emit(
            "udp-ping",
            Dir::Send,
            local,
            server,
            &upper::summary(&message),
        );
        socket.send(&message).await?;
        stats.sent();
        let deadline = tokio::time::Instant::now() + timeout;
        let event = loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break PingEvent::Timeout { seq },
                // ICMP port unreachable: keep waiting until the deadline, like ping does.
                Ok(Err(_)) => {
                    tokio::time::sleep_until(deadline).await;
                    break PingEvent::Timeout { seq };
                }
                Ok(Ok(len)) => {
                    wire::emit(
                        "udp-ping",
                        Dir::Recv,
                        local,
                        server,
                        &upper::summary(&buf[..len]),
                    );
                    if let Some((reply_seq, _)) = ping::decode(&buf[..len]) {
                        if reply_seq == seq {
                            let rtt = started.elapsed();
                            stats.received(rtt);
                            break PingEvent::Reply {
                                seq,
                                bytes: len,
                                rtt,
                            };
                        }
                    }
                }
            }
        };
        on_event(&event);
        if seq < count {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + interval)).await;
        }
    }
    Ok(stats)
}
