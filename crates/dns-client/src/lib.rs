//! The DNS stub client of the project, the one every other crate asks with: [`query`] (UDP
//! with retries, TCP when truncated, only a reply with our ID and question accepted),
//! [`register`] (the registrar's signed UPDATE), and the sans-IO pieces around them:
//! [`dig`] (dig's output layout) and [`registrar`] (building the UPDATE and checking its
//! reply). The recursive resolver (`dns-resolver`) and the authoritative server
//! (`dns-server`) both use it; TCP framing is `netio::io`'s.

pub mod dig;
pub mod registrar;

use dns_proto::{Edns, Message, Name, Question, RecordType};
use rand::rngs::OsRng;
use rand::Rng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpStream, UdpSocket};

/// How a message travels.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One datagram.
    Udp,
    /// A TCP stream with two-byte length prefixes (RFC 1035 §4.2.2).
    Tcp,
}

/// Options of the stub client [`query`].
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// Set RD (ask the server to recurse).
    pub recursion_desired: bool,
    /// Use TCP from the start.
    pub tcp: bool,
    /// Time to wait for each UDP try (and for the whole TCP exchange).
    pub timeout: Duration,
    /// UDP tries before giving up.
    pub tries: u32,
    /// Announce EDNS(0) with this UDP payload size (`None`: plain DNS, 512 bytes).
    pub edns_payload: Option<u16>,
    /// Send from this address (the client host's own address in the world); `None`: any.
    pub source: Option<IpAddr>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            recursion_desired: true,
            tcp: false,
            timeout: Duration::from_secs(2),
            tries: 3,
            edns_payload: Some(1232),
            source: None,
        }
    }
}

/// Why [`query`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No matching reply in time.
    #[error("no reply from {server} after {tries} tries")]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// How many UDP tries were made.
        tries: u32,
    },
    /// The TCP reply could not be decoded or did not match.
    #[error("bad reply from {server}: {reason}")]
    BadReply {
        /// The server asked.
        server: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// What [`query`] returns besides the message: for dig-style output.
#[derive(Clone, Debug)]
pub struct QueryReply {
    /// The decoded response.
    pub message: Message,
    /// Its size on the wire.
    pub size: usize,
    /// UDP or TCP (TCP after a truncated UDP reply).
    pub transport: Transport,
    /// From sending the (last) query to its reply.
    pub elapsed: Duration,
}

/// Asks `server` one question the way a stub resolver does: UDP with retries, then TCP if
/// the reply is truncated (or at once with `options.tcp`). Only a reply with our ID and our
/// question is accepted.
pub async fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    options: &QueryOptions,
) -> Result<Message, QueryError> {
    query_full(server, name, rtype, options)
        .await
        .map(|reply| reply.message)
}

/// [`query`], with size, transport and timing of the reply.
pub async fn query_full(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    options: &QueryOptions,
) -> Result<QueryReply, QueryError> {
    let id: u16 = OsRng.gen();
    let question = Question::new(name.clone(), rtype);
    let mut message = Message::query(id, question.clone(), options.recursion_desired);
    if let Some(payload) = options.edns_payload {
        message.edns = Some(Edns {
            udp_payload: payload,
            ..Edns::default()
        });
    }
    let bytes = message.encode();
    let matches = |reply: &Message| {
        reply.flags.qr
            && reply.id == id
            && reply.questions.len() == 1
            && reply.questions[0] == question
    };
    if !options.tcp {
        let bind = SocketAddr::new(source_for(options.source, server), 0);
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(server).await?;
        let mut buf = vec![0u8; 65_535];
        for _ in 0..options.tries.max(1) {
            let started = Instant::now();
            socket.send(&bytes).await?;
            let deadline = tokio::time::Instant::now() + options.timeout;
            loop {
                let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
                let len = match received {
                    Err(_) => break,
                    Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(error.into());
                    }
                    Ok(Err(_)) => break,
                    Ok(Ok(len)) => len,
                };
                let Ok(reply) = Message::decode(&buf[..len]) else {
                    continue;
                };
                if !matches(&reply) {
                    continue;
                }
                if reply.flags.tc {
                    return tcp_exchange(server, options.source, &bytes, options.timeout, &matches)
                        .await;
                }
                return Ok(QueryReply {
                    message: reply,
                    size: len,
                    transport: Transport::Udp,
                    elapsed: started.elapsed(),
                });
            }
        }
        return Err(QueryError::Timeout {
            server,
            tries: options.tries.max(1),
        });
    }
    tcp_exchange(server, options.source, &bytes, options.timeout, &matches).await
}

/// The address to send from: `source` if given (and of the server's family), else any.
fn source_for(source: Option<IpAddr>, server: SocketAddr) -> IpAddr {
    match (source, server) {
        (Some(ip @ IpAddr::V4(_)), SocketAddr::V4(_))
        | (Some(ip @ IpAddr::V6(_)), SocketAddr::V6(_)) => ip,
        (_, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (_, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

async fn tcp_exchange(
    server: SocketAddr,
    source: Option<IpAddr>,
    bytes: &[u8],
    timeout: Duration,
    matches: &(dyn Fn(&Message) -> bool + Sync),
) -> Result<QueryReply, QueryError> {
    let started = Instant::now();
    let exchange = async {
        let socket = match server {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source_for(source, server), 0))?;
        let mut stream = socket.connect(server).await?;
        let _ = stream.set_nodelay(true);
        netio::io::write_u16_framed(&mut stream, bytes).await?;
        netio::io::read_u16_framed(&mut stream).await
    };
    let reply_bytes = netio::io::timeout(timeout, "dns tcp", exchange).await?;
    let reply = Message::decode(&reply_bytes).map_err(|error| QueryError::BadReply {
        server,
        reason: error.to_string(),
    })?;
    if !matches(&reply) {
        return Err(QueryError::BadReply {
            server,
            reason: "ID or question does not match".to_string(),
        });
    }
    Ok(QueryReply {
        size: reply_bytes.len(),
        message: reply,
        transport: Transport::Tcp,
        elapsed: started.elapsed(),
    })
}

/// Sends the registrar's DNS UPDATE for `registration` to the TLD server `server`, signed
/// with `key` when given, and checks the reply (and its TSIG). UDP, then TCP if truncated.
pub async fn register(
    server: SocketAddr,
    registration: &crate::registrar::Registration,
    key: Option<&dns_proto::tsig::TsigKey>,
    timeout: Duration,
) -> Result<(), crate::registrar::RegisterError> {
    use crate::registrar::RegisterError;
    let id: u16 = OsRng.gen();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let (wire, request_mac) = crate::registrar::encode_update(registration, id, key, now);
    let exchange = async {
        let bind: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind).await?;
        socket.connect(server).await?;
        socket.send(&wire).await?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let len = socket.recv(&mut buf).await?;
            if len >= 3 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
                if buf[2] & 0x02 != 0 {
                    // Truncated: the whole exchange again over TCP.
                    let mut stream = TcpStream::connect(server).await?;
                    netio::io::write_u16_framed(&mut stream, &wire).await?;
                    return netio::io::read_u16_framed(&mut stream).await;
                }
                buf.truncate(len);
                return Ok::<Vec<u8>, std::io::Error>(buf);
            }
        }
    };
    let reply = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(error)) => return Err(RegisterError::Io(error.to_string())),
        Err(_) => return Err(RegisterError::Timeout { server }),
    };
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    crate::registrar::check_reply(registration, id, &reply, key, request_mac.as_deref(), later)
}
