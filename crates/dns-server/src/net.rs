//! The tokio driver: UDP and TCP listeners, zone loading, persistence of updates, NOTIFY,
//! secondary zone refresh, SIGHUP reload, and a small query client.

use crate::authority::{Authority, Handled, RequestInfo, Transport};
use crate::config::{DnsServerConfig, ZoneSource};
use crate::rrl::{Rrl, RrlVerdict};
use crate::store;
use crate::update::serial_after;
use crate::zone::Zone;
use dns_proto::tsig::TsigKey;
use dns_proto::{Message, Name, Opcode, Question, Rcode, RecordType};
use netio::wire::{self, Dir};
use netio::Shutdown;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// A bound authoritative server, ready to [`DnsServer::run`].
#[derive(Debug)]
pub struct DnsServer {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
    shared: Arc<Shared>,
}

/// A secondary zone's transfer settings.
#[derive(Debug, Clone)]
struct Secondary {
    origin: Name,
    primary: SocketAddr,
    key: Option<TsigKey>,
}

/// State shared by every listener task.
#[derive(Debug)]
struct Shared {
    authority: RwLock<Authority>,
    data_dir: Option<PathBuf>,
    /// File-backed zones, for SIGHUP reload.
    files: Vec<(PathBuf, Option<Name>)>,
    secondaries: Vec<Secondary>,
    /// Wakes a secondary's refresh task (NOTIFY received).
    refresh: HashMap<Name, Arc<tokio::sync::Notify>>,
    notify_targets: HashMap<Name, Vec<SocketAddr>>,
    rrl: Option<Mutex<Rrl>>,
    tcp: netio::tcp::TcpLimits,
    reload_on_sighup: bool,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Loads the zones and binds every listen address (UDP and TCP). Fails early: a zone with
/// errors (all of them are in the message) or an address in use is an error here.
pub async fn bind(config: DnsServerConfig) -> std::io::Result<DnsServer> {
    let mut authority = Authority::new();
    if let Some(responder) = &config.responder {
        authority.set_responder(responder.clone());
    }
    for key in &config.keys {
        authority.add_key(key.clone());
    }
    let mut files = Vec::new();
    let mut secondaries = Vec::new();
    let mut refresh = HashMap::new();
    let mut notify_targets = HashMap::new();
    for zone_config in &config.zones {
        let zone = match &zone_config.source {
            ZoneSource::Zone(zone) => Some(zone.clone()),
            ZoneSource::File { path, origin } => {
                let zone = store::load_zone_file(path, origin.as_ref())?;
                files.push((path.clone(), Some(zone.origin().clone())));
                Some(zone)
            }
            ZoneSource::Secondary {
                origin,
                primary,
                key,
            } => {
                let key = match key {
                    Some(name) => Some(
                        config
                            .keys
                            .iter()
                            .find(|k| &k.name == name)
                            .cloned()
                            .ok_or_else(|| {
                                std::io::Error::new(
                                    std::io::ErrorKind::InvalidInput,
                                    format!("zone {origin}: unknown transfer key {name}"),
                                )
                            })?,
                    ),
                    None => None,
                };
                secondaries.push(Secondary {
                    origin: origin.clone(),
                    primary: *primary,
                    key,
                });
                refresh.insert(origin.clone(), Arc::new(tokio::sync::Notify::new()));
                authority.add_pending(origin.clone(), zone_config.policy.clone());
                None
            }
        };
        let Some(mut zone) = zone else {
            continue;
        };
        if let Some(data_dir) = &config.data_dir {
            if let Some(newer) = store::newer_persisted(data_dir, &zone)? {
                tracing::info!(zone = %zone.origin(), serial = newer.serial(), "serving the persisted (updated) copy");
                zone = newer;
            }
        }
        if !zone_config.notify.is_empty() {
            notify_targets.insert(zone.origin().clone(), zone_config.notify.clone());
        }
        tracing::info!(zone = %zone.origin(), serial = zone.serial(), records = zone.len(), "zone loaded");
        authority.insert_zone(zone, zone_config.policy.clone());
    }
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for address in &config.listen {
        let (socket, listener) = bind_pair(*address).await?;
        udp.push(Arc::new(socket));
        tcp.push(listener);
    }
    Ok(DnsServer {
        udp,
        tcp,
        shared: Arc::new(Shared {
            authority: RwLock::new(authority),
            data_dir: config.data_dir,
            files,
            secondaries,
            refresh,
            notify_targets,
            rrl: config.rrl.map(|rrl| Mutex::new(Rrl::new(rrl))),
            tcp: config.tcp,
            reload_on_sighup: config.reload_on_sighup,
        }),
    })
}

/// Binds UDP and TCP on the same address. For port 0 the UDP socket picks the port; if that
/// port is taken for TCP, another one is tried.
async fn bind_pair(address: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut attempts = 0;
    loop {
        let socket = UdpSocket::bind(address).await?;
        let bound = socket.local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(listener) => return Ok((socket, listener)),
            Err(error)
                if address.port() == 0
                    && error.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < 20 =>
            {
                attempts += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

impl DnsServer {
    /// The bound addresses (each serves UDP and TCP).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|socket| socket.local_addr().ok())
            .collect()
    }

    /// A snapshot of a zone as currently served (after updates and transfers).
    pub fn zone(&self, origin: &Name) -> Option<Zone> {
        self.shared.read().zone(origin).cloned()
    }

    /// A handle that reloads the zone files, as SIGHUP does.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: self.shared.clone(),
        }
    }

    /// Serves until `shutdown` fires, then drains TCP connections and returns.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for socket in self.udp {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(serve_udp(socket, shutdown, shared));
        }
        for listener in self.tcp {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            let limits = shared.tcp.clone();
            tasks.spawn(async move {
                netio::tcp::serve(listener, limits, shutdown, move |stream, conn| {
                    serve_connection(stream, conn, shared.clone())
                })
                .await
            });
        }
        for secondary in self.shared.secondaries.clone() {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                refresh_loop(shared, secondary, shutdown).await;
                Ok(())
            });
        }
        if self.shared.reload_on_sighup {
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                reload_on_sighup(shared, shutdown).await;
                Ok(())
            });
        }
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Err(error)) if result.is_ok() => result = Err(error),
                Err(error) if result.is_ok() => {
                    result = Err(std::io::Error::other(format!(
                        "server task failed: {error}"
                    )))
                }
                _ => {}
            }
        }
        result
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Authority> {
        self.authority
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Authority> {
        self.authority
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Handles one request; returns the messages to send back, in order.
    fn process(
        &self,
        bytes: &[u8],
        local: SocketAddr,
        peer: SocketAddr,
        transport: Transport,
    ) -> Vec<Vec<u8>> {
        emit(Dir::Recv, local, peer, bytes);
        let info = RequestInfo {
            peer: peer.ip(),
            transport,
            now: unix_now(),
        };
        let handled = self.read().handle(bytes, &info);
        let replies = match handled {
            Handled::Drop => Vec::new(),
            Handled::Reply(reply) => vec![reply],
            Handled::Transfer(messages) => messages,
            Handled::Notify { zone, reply } => {
                if let Some(signal) = self.refresh.get(&zone) {
                    tracing::info!(%zone, %peer, "NOTIFY from the primary; refreshing");
                    signal.notify_one();
                }
                vec![reply]
            }
            Handled::Update => {
                let outcome = self.write().handle_update(bytes, &info);
                if let Some(zone) = outcome.changed {
                    self.after_change(&zone);
                }
                outcome.reply.into_iter().collect()
            }
        };
        let replies = match (transport, &self.rrl) {
            (Transport::Udp, Some(rrl)) => self.rate_limit(rrl, replies, peer),
            _ => replies,
        };
        for reply in &replies {
            emit(Dir::Send, local, peer, reply);
        }
        replies
    }

    fn rate_limit(
        &self,
        rrl: &Mutex<Rrl>,
        replies: Vec<Vec<u8>>,
        peer: SocketAddr,
    ) -> Vec<Vec<u8>> {
        let Some(reply) = replies.last() else {
            return replies;
        };
        let Ok(message) = Message::decode(reply) else {
            return replies;
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        message.rcode.hash(&mut hasher);
        if let Some(question) = message.question() {
            question.name.hash(&mut hasher);
            question.qtype.hash(&mut hasher);
        }
        let verdict = rrl
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .check(peer.ip(), hasher.finish(), Instant::now());
        match verdict {
            RrlVerdict::Send => replies,
            RrlVerdict::Drop => Vec::new(),
            RrlVerdict::Slip => {
                let mut slipped = message;
                slipped.answers.clear();
                slipped.authority.clear();
                slipped.additional.clear();
                slipped.flags.tc = true;
                vec![slipped.encode()]
            }
        }
    }

    /// After an UPDATE: persist the zone, then NOTIFY its secondaries.
    fn after_change(&self, origin: &Name) {
        let Some(zone) = self.read().zone(origin).cloned() else {
            return;
        };
        tracing::info!(zone = %origin, serial = zone.serial(), "zone updated");
        if let Some(data_dir) = &self.data_dir {
            if let Err(error) = store::persist(data_dir, &zone) {
                tracing::error!(zone = %origin, "cannot persist the updated zone: {error}");
            }
        }
        if let Some(targets) = self.notify_targets.get(origin) {
            for target in targets.clone() {
                let origin = origin.clone();
                tokio::spawn(async move {
                    if let Err(error) = send_notify(target, &origin).await {
                        tracing::warn!(zone = %origin, %target, "NOTIFY failed: {error}");
                    }
                });
            }
        }
    }
}

/// Emits the wire event for a DNS message (summarised only when someone listens).
fn emit(dir: Dir, local: SocketAddr, peer: SocketAddr, bytes: &[u8]) {
    wire::emit("dns", dir, local, peer, &dns_proto::WireSummary(bytes));
}

/// The UDP loop. Like `netio::udp::serve`, but batched: after a datagram arrives it also takes
/// whatever else is already queued (non-blocking, up to a bound), answers them all, then sends
/// the answers back to back. Sending in a burst means a waiting client is woken once per burst
/// rather than once per answer, which is most of the kernel's cost on a busy server (the
/// effect `recvmmsg`/`sendmmsg` give NSD and Knot, without unsafe code). One shutdown future
/// serves the whole loop.
async fn serve_udp(
    socket: Arc<UdpSocket>,
    shutdown: Shutdown,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    /// Datagrams taken in one batch.
    const BATCH: usize = 32;
    let local = socket.local_addr()?;
    let mut buf = vec![0u8; netio::udp::MAX_DATAGRAM];
    let mut outgoing: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(BATCH);
    let stopped = shutdown.triggered();
    tokio::pin!(stopped);
    loop {
        let received = tokio::select! {
            biased;
            _ = &mut stopped => return Ok(()),
            received = socket.recv_from(&mut buf) => received,
        };
        let mut next = match received {
            Ok(received) => Some(received),
            Err(error) => {
                tracing::debug!("udp receive error: {error}");
                None
            }
        };
        let mut taken = 0;
        while let Some((len, peer)) = next {
            for reply in shared.process(&buf[..len], local, peer, Transport::Udp) {
                outgoing.push((reply, peer));
            }
            taken += 1;
            next = if taken < BATCH {
                socket.try_recv_from(&mut buf).ok()
            } else {
                None
            };
        }
        for (reply, peer) in outgoing.drain(..) {
            let sent = match socket.try_send_to(&reply, peer) {
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    socket.send_to(&reply, peer).await.map(|_| ())
                }
                other => other.map(|_| ()),
            };
            if let Err(error) = sent {
                tracing::debug!(%peer, "udp send error: {error}");
            }
        }
    }
}

/// RFC 1035 §4.2.2 / RFC 7766: length-prefixed messages, several per connection, until the
/// client closes, idles past the limit, or the server shuts down.
async fn serve_connection(mut stream: TcpStream, conn: netio::tcp::Conn, shared: Arc<Shared>) {
    loop {
        let read = tokio::select! {
            _ = conn.shutdown.triggered() => return,
            read = tokio::time::timeout(conn.limits.idle_timeout, netio::io::read_u16_prefix(&mut stream)) => read,
        };
        let Ok(Ok(length)) = read else {
            return;
        };
        let read = tokio::time::timeout(
            conn.limits.read_timeout,
            netio::io::read_exactly(&mut stream, length),
        )
        .await;
        let Ok(Ok(message)) = read else {
            return;
        };
        let replies = shared.process(&message, conn.local, conn.peer, Transport::Tcp);
        if replies.is_empty() {
            // Nothing sensible to say (e.g. a response sent to us): close.
            return;
        }
        let mut out = Vec::with_capacity(replies.iter().map(|r| r.len() + 2).sum());
        for reply in &replies {
            if let Err(error) = netio::io::frame_u16(&mut out, reply) {
                tracing::error!(peer = %conn.peer, "tcp reply not sent: {error}");
                return;
            }
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Keeps a secondary zone fresh: SOA check every REFRESH, AXFR when the serial moved, RETRY
/// after failures, stop serving after EXPIRE without contact (RFC 1034 §4.3.5), and an
/// immediate check on NOTIFY.
async fn refresh_loop(shared: Arc<Shared>, secondary: Secondary, shutdown: Shutdown) {
    let Some(signal) = shared.refresh.get(&secondary.origin).cloned() else {
        return;
    };
    let mut last_contact: Option<Instant> = None;
    loop {
        let current = shared.read().zone(&secondary.origin).cloned();
        let outcome = refresh_once(&secondary, current.as_ref()).await;
        let wait = match outcome {
            Ok(Some(zone)) => {
                tracing::info!(zone = %secondary.origin, serial = zone.serial(), primary = %secondary.primary, "zone transferred");
                let refresh = zone.soa().refresh;
                shared.write().replace_zone(zone);
                last_contact = Some(Instant::now());
                Duration::from_secs(refresh.max(1) as u64)
            }
            Ok(None) => {
                last_contact = Some(Instant::now());
                let refresh = current.map_or(60, |zone| zone.soa().refresh);
                Duration::from_secs(refresh.max(1) as u64)
            }
            Err(error) => {
                tracing::warn!(zone = %secondary.origin, primary = %secondary.primary, "refresh failed: {error}");
                match &current {
                    Some(zone) => {
                        let soa = zone.soa();
                        let expired = last_contact.is_some_and(|contact| {
                            contact.elapsed() > Duration::from_secs(soa.expire as u64)
                        });
                        if expired {
                            tracing::error!(zone = %secondary.origin, "zone expired; no longer served");
                            shared.write().expire_zone(&secondary.origin);
                        }
                        Duration::from_secs(soa.retry.max(1) as u64)
                    }
                    None => Duration::from_secs(5),
                }
            }
        };
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Why a secondary's refresh from its primary, or a NOTIFY, failed (logged; the zone keeps
/// its data).
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The SOA query got no usable answer.
    #[error("SOA query: {0}")]
    Query(dns_client::QueryError),
    /// The primary's answer to the SOA query had no SOA.
    #[error("primary answered the SOA query with {0}")]
    NoSoa(Rcode),
    /// Connecting or talking to the primary failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The TCP exchange did not finish in time.
    #[error("TCP exchange timed out")]
    Timeout,
    /// A message from the primary did not decode.
    #[error("bad message from the primary: {0}")]
    Malformed(dns_proto::DecodeError),
    /// The primary refused the transfer.
    #[error("AXFR of {origin} refused: {rcode}")]
    Refused {
        /// The zone.
        origin: Name,
        /// The primary's answer.
        rcode: Rcode,
    },
    /// The transferred records do not make a valid zone.
    #[error("AXFR of {origin}: {errors}")]
    Zone {
        /// The zone.
        origin: Name,
        /// What is wrong with it.
        errors: dns_proto::zone::ZoneErrors,
    },
    /// No answer to any of the NOTIFY tries.
    #[error("no answer to NOTIFY")]
    NoNotifyAnswer,
}

impl From<dns_client::QueryError> for RefreshError {
    fn from(error: dns_client::QueryError) -> Self {
        RefreshError::Query(error)
    }
}

impl From<dns_proto::DecodeError> for RefreshError {
    fn from(error: dns_proto::DecodeError) -> Self {
        RefreshError::Malformed(error)
    }
}

/// One refresh: compare serials, transfer if the primary is newer. `Ok(None)`: up to date.
async fn refresh_once(
    secondary: &Secondary,
    current: Option<&Zone>,
) -> Result<Option<Zone>, RefreshError> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    if let Some(zone) = current {
        let question = Question::new(secondary.origin.clone(), RecordType::SOA);
        let response = query(secondary.primary, question, TIMEOUT).await?;
        let serial = response
            .answers
            .iter()
            .find_map(|record| match &record.rdata {
                dns_proto::Rdata::Soa(soa) => Some(soa.serial),
                _ => None,
            });
        match serial {
            Some(serial) if !serial_after(serial, zone.serial()) => return Ok(None),
            Some(_) => {}
            None => return Err(RefreshError::NoSoa(response.rcode)),
        }
    }
    let zone = transfer(
        secondary.primary,
        &secondary.origin,
        secondary.key.as_ref(),
        TIMEOUT,
    )
    .await?;
    Ok(Some(zone))
}

/// Reloads file-backed zones on SIGHUP; a zone with errors keeps its old data.
async fn reload_on_sighup(shared: Arc<Shared>, shutdown: Shutdown) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload disabled");
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            received = hangup.recv() => if received.is_none() { return },
        }
        tracing::info!("SIGHUP: reloading zone files");
        reload_files(&shared);
    }
}

/// Reloads every file-backed zone; returns the errors (a zone with errors keeps its data).
fn reload_files(shared: &Shared) -> Vec<String> {
    let mut errors = Vec::new();
    for (path, origin) in &shared.files {
        match store::load_zone_file(path, origin.as_ref()) {
            Ok(mut zone) => {
                if let Some(data_dir) = &shared.data_dir {
                    if let Ok(Some(newer)) = store::newer_persisted(data_dir, &zone) {
                        zone = newer;
                    }
                }
                let origin = zone.origin().clone();
                let old_serial = shared.read().zone(&origin).map(Zone::serial);
                tracing::info!(zone = %origin, serial = zone.serial(), "zone reloaded");
                let serial = zone.serial();
                shared.write().replace_zone(zone);
                let moved = old_serial.is_none_or(|old| serial_after(serial, old));
                if moved && shared.notify_targets.contains_key(&origin) {
                    shared.after_change(&origin);
                }
            }
            Err(error) => {
                tracing::error!(path = %path.display(), "reload failed, keeping the old zone:\n{error}");
                errors.push(error.to_string());
            }
        }
    }
    errors
}

/// Reloads a running server's zone files from disk (what SIGHUP does), for embedders.
#[derive(Clone, Debug)]
pub struct Reloader {
    shared: Arc<Shared>,
}

impl Reloader {
    /// Re-reads every file-backed zone and swaps it in; queries in flight are not dropped
    /// (the swap happens between two requests). Returns the errors of zones that kept their
    /// old data.
    pub fn reload(&self) -> Vec<String> {
        reload_files(&self.shared)
    }
}

/// Sends one question without recursion (UDP, TCP when truncated) and returns the response:
/// the SOA check of a secondary, self-checks and tests. The project's one stub client,
/// `dns_client::query`, does the asking.
pub async fn query(
    server: SocketAddr,
    question: Question,
    timeout: Duration,
) -> Result<Message, dns_client::QueryError> {
    let options = dns_client::QueryOptions {
        recursion_desired: false,
        timeout,
        tries: 1,
        edns_payload: None,
        ..dns_client::QueryOptions::default()
    };
    dns_client::query(server, &question.name, question.qtype, &options).await
}

/// Sends one message over TCP and reads responses until `done` says the last one arrived.
async fn tcp_exchange(
    server: SocketAddr,
    request: &[u8],
    timeout: Duration,
    mut done: impl FnMut(&Message) -> bool,
) -> Result<Vec<Message>, RefreshError> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let local = stream.local_addr()?;
        emit(Dir::Send, local, server, request);
        netio::io::write_u16_framed(&mut stream, request).await?;
        let mut messages = Vec::new();
        loop {
            let buf = netio::io::read_u16_framed(&mut stream).await?;
            emit(Dir::Recv, local, server, &buf);
            let message = Message::decode(&buf)?;
            let finished = done(&message);
            messages.push(message);
            if finished {
                return Ok(messages);
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| RefreshError::Timeout)?
}

/// Pulls `origin` from `primary` by AXFR (RFC 5936) and builds the zone.
pub async fn transfer(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<Zone, RefreshError> {
    let request = Message::query(
        rand::random(),
        Question::new(origin.clone(), RecordType::AXFR),
        false,
    );
    let mut wire_request = request.encode();
    if let Some(key) = key {
        dns_proto::tsig::sign(&mut wire_request, key, unix_now(), None);
    }
    let mut soa_seen = 0;
    let messages = tcp_exchange(primary, &wire_request, timeout, |message| {
        if message.rcode != Rcode::NOERROR {
            return true;
        }
        soa_seen += message
            .answers
            .iter()
            .filter(|r| r.rtype() == RecordType::SOA)
            .count();
        soa_seen >= 2
    })
    .await?;
    let mut records = Vec::new();
    for message in messages {
        if message.rcode != Rcode::NOERROR {
            return Err(RefreshError::Refused {
                origin: origin.clone(),
                rcode: message.rcode,
            });
        }
        records.extend(
            message
                .answers
                .into_iter()
                .filter(|r| r.rtype() != RecordType::TSIG),
        );
    }
    // The closing SOA repeats the first.
    if records.len() >= 2 && records.last().map(|r| r.rtype()) == Some(RecordType::SOA) {
        records.pop();
    }
    Zone::from_records(origin, records).map_err(|errors| RefreshError::Zone {
        origin: origin.clone(),
        errors,
    })
}

/// Sends NOTIFY for `origin` to `target` (RFC 1996 §3.6: retried a few times over UDP).
pub async fn send_notify(target: SocketAddr, origin: &Name) -> Result<(), RefreshError> {
    let mut notify = Message::query(
        rand::random(),
        Question::new(origin.clone(), RecordType::SOA),
        false,
    );
    notify.opcode = Opcode::NOTIFY;
    notify.flags.aa = true;
    let wire_notify = notify.encode();
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(target).await?;
    let local = socket.local_addr()?;
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        emit(Dir::Send, local, target, &wire_notify);
        socket.send(&wire_notify).await?;
        let answered = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await;
        if let Ok(Ok(len)) = answered {
            emit(Dir::Recv, local, target, &buf[..len]);
            if Message::decode(&buf[..len]).is_ok_and(|reply| reply.id == notify.id) {
                return Ok(());
            }
        }
    }
    Err(RefreshError::NoNotifyAnswer)
}
