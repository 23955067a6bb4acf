//! Asking a tracker for peers: HTTP announces (BEP 3, compact BEP 23 and `peers6`, dict
//! peers too) and UDP announces (BEP 15: connect, then announce, retried), from our port and
//! counters. Multitracker (BEP 12): tiers in order, the first tracker that answers wins.

use bt_proto::bencode::{decode, Value};
use bt_proto::tracker::Event;
use http_proto::{Limits, Method, Progress, ResponseReader};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What we tell the tracker.
#[derive(Clone, Debug)]
pub struct AnnounceParams {
    /// The torrent.
    pub info_hash: [u8; 20],
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// Bytes sent.
    pub uploaded: u64,
    /// Bytes received.
    pub downloaded: u64,
    /// Bytes missing.
    pub left: u64,
    /// The event.
    pub event: Event,
    /// The address to announce from (the tracker takes the peer's address from the
    /// connection): the one we listen on when it is a specific one.
    pub source: Option<IpAddr>,
}

/// The tracker's answer.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// Seconds until the next announce.
    pub interval: u64,
    /// Peers.
    pub peers: Vec<SocketAddr>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(text: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.into())
}

fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("%{byte:02X}")).collect()
}

fn event_name(event: Event) -> &'static str {
    match event {
        Event::None => "",
        Event::Started => "&event=started",
        Event::Completed => "&event=completed",
        Event::Stopped => "&event=stopped",
    }
}

/// Announces to the first tracker of `tiers` that answers.
pub async fn announce(tiers: &[Vec<String>], params: &AnnounceParams) -> io::Result<Answer> {
    let mut last = invalid("the torrent names no tracker");
    for url in tiers.iter().flatten() {
        let result = if let Some(rest) = url.strip_prefix("udp://") {
            tokio::time::timeout(TIMEOUT * 2, announce_udp(rest, params)).await
        } else if url.starts_with("http://") {
            tokio::time::timeout(TIMEOUT, announce_http(url, params)).await
        } else {
            Ok(Err(invalid(format!("{url}: unsupported tracker scheme"))))
        };
        match result {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(error)) => last = io::Error::new(error.kind(), format!("{url}: {error}")),
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("{url}: no answer")),
        }
    }
    Err(last)
}

fn compact_peers(bytes: &[u8], v6: bool) -> Vec<SocketAddr> {
    let size = if v6 { 18 } else { 6 };
    bytes
        .chunks_exact(size)
        .map(|chunk| {
            let port = u16::from_be_bytes([chunk[size - 2], chunk[size - 1]]);
            let ip: IpAddr = if v6 {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&chunk[..16]);
                octets.into()
            } else {
                [chunk[0], chunk[1], chunk[2], chunk[3]].into()
            };
            SocketAddr::new(ip, port)
        })
        .collect()
}

async fn announce_http(url: &str, params: &AnnounceParams) -> io::Result<Answer> {
    let uri = http_proto::Uri::parse(url).map_err(|error| invalid(error.to_string()))?;
    let separator = if uri.query.is_some() { '&' } else { '?' };
    let target = format!(
        "{}{separator}info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1&numwant=50{}",
        uri.path_and_query(),
        escape(&params.info_hash),
        escape(&params.peer_id),
        params.port,
        params.uploaded,
        params.downloaded,
        params.left,
        event_name(params.event)
    );
    let addr = tokio::net::lookup_host((uri.host.as_str(), uri.port_or_default()))
        .await?
        .next()
        .ok_or_else(|| invalid("no address"))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(source) = params.source.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let mut stream = socket.connect(addr).await?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: applayer\r\nConnection: close\r\n\r\n",
        uri.authority()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reader = ResponseReader::new(&Method::Get, Limits::default());
    let mut buffer = Vec::new();
    let mut body = Vec::new();
    let mut status = 0;
    loop {
        match reader
            .advance(&mut buffer, &mut body)
            .map_err(|error| invalid(error.to_string()))?
        {
            Progress::Head(head) => status = head.status.as_u16(),
            Progress::Done => break,
            Progress::NeedMore => {
                if stream.read_buf(&mut buffer).await? == 0 {
                    reader
                        .finish_at_eof()
                        .map_err(|error| invalid(error.to_string()))?;
                    break;
                }
            }
        }
    }
    if status != 200 {
        return Err(invalid(format!("HTTP {status}")));
    }
    let answer = decode(&body).map_err(|error| invalid(format!("not bencode: {error}")))?;
    if let Some(reason) = answer.get("failure reason").and_then(Value::as_str) {
        return Err(invalid(format!("tracker: {reason}")));
    }
    let mut peers = match answer.get("peers") {
        Some(Value::Bytes(bytes)) => compact_peers(bytes, false),
        Some(Value::List(list)) => list
            .iter()
            .filter_map(|peer| {
                let ip: IpAddr = peer.get("ip")?.as_str()?.parse().ok()?;
                let port = u16::try_from(peer.get("port")?.as_int()?).ok()?;
                Some(SocketAddr::new(ip, port))
            })
            .collect(),
        _ => Vec::new(),
    };
    if let Some(bytes) = answer.get("peers6").and_then(Value::as_bytes) {
        peers.extend(compact_peers(bytes, true));
    }
    let interval = answer
        .get("interval")
        .and_then(Value::as_int)
        .map_or(120, |seconds| seconds.clamp(10, 3600) as u64);
    Ok(Answer { interval, peers })
}

async fn announce_udp(authority: &str, params: &AnnounceParams) -> io::Result<Answer> {
    let authority = authority
        .trim_end_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let addr = tokio::net::lookup_host(authority)
        .await?
        .next()
        .ok_or_else(|| invalid("no address"))?;
    let bind: SocketAddr = match params.source {
        Some(source) if source.is_ipv4() == addr.is_ipv4() => SocketAddr::new(source, 0),
        _ if addr.is_ipv4() => ([0, 0, 0, 0], 0).into(),
        _ => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.connect(addr).await?;
    let mut buffer = [0u8; 2048];
    // BEP 15 retries: 15 s × 2^n in the BEP; shortened here, a few tries.
    for attempt in 0..3u32 {
        let wait = Duration::from_secs(2 << attempt);
        let transaction: u32 = rand::random();
        let mut connect = bt_proto::udp_tracker::PROTOCOL_ID.to_be_bytes().to_vec();
        connect.extend_from_slice(&0u32.to_be_bytes());
        connect.extend_from_slice(&transaction.to_be_bytes());
        socket.send(&connect).await?;
        let Ok(Ok(len)) = tokio::time::timeout(wait, socket.recv(&mut buffer)).await else {
            continue;
        };
        if len < 16 || buffer[0..4] != [0, 0, 0, 0] || buffer[4..8] != transaction.to_be_bytes() {
            continue;
        }
        let connection = &buffer[8..16];
        let mut packet = connection.to_vec();
        let transaction: u32 = rand::random();
        packet.extend_from_slice(&1u32.to_be_bytes());
        packet.extend_from_slice(&transaction.to_be_bytes());
        packet.extend_from_slice(&params.info_hash);
        packet.extend_from_slice(&params.peer_id);
        packet.extend_from_slice(&params.downloaded.to_be_bytes());
        packet.extend_from_slice(&params.left.to_be_bytes());
        packet.extend_from_slice(&params.uploaded.to_be_bytes());
        let event: u32 = match params.event {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        };
        packet.extend_from_slice(&event.to_be_bytes());
        packet.extend_from_slice(&[0; 4]);
        packet.extend_from_slice(&rand::random::<u32>().to_be_bytes());
        packet.extend_from_slice(&50i32.to_be_bytes());
        packet.extend_from_slice(&params.port.to_be_bytes());
        socket.send(&packet).await?;
        let Ok(Ok(len)) = tokio::time::timeout(wait, socket.recv(&mut buffer)).await else {
            continue;
        };
        let reply = &buffer[..len];
        if len >= 8 && reply[0..4] == 3u32.to_be_bytes() {
            return Err(invalid(format!(
                "tracker: {}",
                String::from_utf8_lossy(&reply[8..])
            )));
        }
        if len < 20 || reply[0..4] != 1u32.to_be_bytes() || reply[4..8] != transaction.to_be_bytes()
        {
            continue;
        }
        let interval = u32::from_be_bytes([reply[8], reply[9], reply[10], reply[11]]);
        return Ok(Answer {
            interval: u64::from(interval).clamp(10, 3600),
            peers: compact_peers(&reply[20..], addr.is_ipv6()),
        });
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"))
}
