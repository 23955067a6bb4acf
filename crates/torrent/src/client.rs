//! The BitTorrent client's driver: one task per peer connection running a
//! `bt_proto::peer::PeerConn`, one shared torrent state (the `Picker`, the `Choker`, the
//! files), the tracker announces, and the listener for incoming peers. Pieces are checked
//! (SHA-1) before they are announced; a peer whose data fails a check is dropped and banned.
//!
//! Numbers chosen: 30 peer connections at most; requests in flight per peer sized to its
//! bandwidth-delay product (its rate × 0.3 s, in 16 KiB blocks), between 4 and 64 (a deeper
//! queue at a seed holds more pieces in flight that the other peers cannot see, and may ask
//! the seed for too); re-choke
//! every 10 s with interested peers unchoked at once into free slots; announce at the
//! tracker's interval.

use crate::announce::{announce, AnnounceParams};
use crate::storage::Storage;
use bt_proto::choker::{Choker, PeerView, SLOTS};
use bt_proto::metadata::{self, MetadataMessage};
use bt_proto::peer::{PeerConn, PeerEvent, TorrentShape};
use bt_proto::picker::{Block, Picker, Received};
use bt_proto::tracker::Event;
use bt_proto::wire::BLOCK;
use bt_proto::Metainfo;
use netio::wire::{self, Dir};
use netio::Shutdown;
use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// The most peer connections.
pub const MAX_PEERS: usize = 30;
/// Seconds of a peer's rate kept requested from it.
pub const PIPELINE_SECS: f64 = 0.3;
/// The fewest and most requests in flight per peer.
pub const QUEUE: (usize, usize) = (4, 64);

/// How to run the client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The torrent.
    pub meta: Metainfo,
    /// Where the files are (or go).
    pub dir: PathBuf,
    /// Where to listen for peers (port 0: any).
    pub listen: SocketAddr,
    /// Keep seeding once complete (until shutdown).
    pub seed: bool,
    /// Peers to try besides the tracker's (tests, `x.pe`).
    pub peers: Vec<SocketAddr>,
    /// The most bytes per second sent to all peers together (`None`: no limit).
    pub upload_limit: Option<u64>,
}

/// A token bucket shared by every connection: a writer takes its bytes' worth, going into
/// debt if it must, and waits until the debt is paid back at the rate.
struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        let rate = rate.max(1) as f64;
        // A tenth of a second of tokens, and at least a block and its header.
        let burst = (rate / 10.0).max(f64::from(BLOCK) + 13.0);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    async fn take(&self, bytes: usize) {
        let wait = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let (tokens, last) = *state;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate)
                .min(self.burst)
                - bytes as f64;
            *state = (tokens, now);
            if tokens < 0.0 {
                Duration::from_secs_f64(-tokens / self.rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// What happened, for progress lines and `--json`.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// The resume check found these pieces.
    Checked {
        /// Pieces had.
        have: usize,
        /// Pieces in all.
        of: usize,
    },
    /// A piece passed its check.
    Piece {
        /// Which.
        index: u32,
        /// Pieces had now.
        have: usize,
        /// Pieces in all.
        of: usize,
        /// Bytes received so far.
        downloaded: u64,
        /// Connected peers.
        peers: usize,
        /// The addresses of the peers that sent its blocks.
        from: Vec<IpAddr>,
    },
    /// A piece failed its check; its senders are banned.
    BadPiece(u32),
    /// Every piece is had.
    Complete,
    /// A tracker answered (or not).
    Tracker(Result<usize, String>),
}

enum Command {
    Have(u32),
    Choke(bool),
    Cancel(Block),
    Close,
}

struct Peer {
    tx: mpsc::UnboundedSender<Command>,
    addr: SocketAddr,
    interested: bool,
    from_total: u64,
    to_total: u64,
    from_rate: f64,
    to_rate: f64,
    snapshot: (u64, u64),
    connected_at: u64,
    last_block_at: Option<u64>,
    we_wait: bool,
}

struct State {
    picker: Picker,
    choker: Choker,
    storage: Storage,
    peers: HashMap<u64, Peer>,
    banned: HashSet<IpAddr>,
    contributors: HashMap<u32, HashSet<u64>>,
    /// Pieces being received, assembled in memory: a piece is hashed there when its last
    /// block comes and written to disk once, whole, if it is good (one write instead of a
    /// write per block, and no read back to hash it). The picker bounds how many pieces are
    /// open at once.
    partial: HashMap<u32, Vec<u8>>,
    next_key: u64,
    uploaded: u64,
    downloaded: u64,
}

struct Shared {
    meta: Metainfo,
    shape: TorrentShape,
    state: Mutex<State>,
    started: Instant,
    listen: SocketAddr,
    upload: Option<Bucket>,
    progress: mpsc::UnboundedSender<Progress>,
    complete: watch::Sender<bool>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn left(&self) -> u64 {
        let state = self.state();
        let info = &self.meta.info;
        (0..info.pieces.len())
            .filter(|index| !state.picker.have().has(*index))
            .map(|index| info.piece_size(index))
            .sum()
    }
}

fn random_peer_id() -> [u8; 20] {
    let mut id = *b"-AL0000-000000000000";
    for byte in &mut id[8..] {
        *byte = b'0' + rand::random::<u8>() % 10;
    }
    id
}

/// Downloads (and with `seed`, then seeds) the torrent; progress goes to `progress`. Returns
/// when complete (or, seeding, at shutdown).
pub async fn run(
    config: ClientConfig,
    progress: mpsc::UnboundedSender<Progress>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let info = config.meta.info.clone();
    std::fs::create_dir_all(&config.dir)?;
    let mut storage = Storage::open(&info, &config.dir, true)?;
    let have = storage.check(&info)?;
    let _ = progress.send(Progress::Checked {
        have: have.count(),
        of: have.len(),
    });
    let total = info.total_length();
    let listener = TcpListener::bind(config.listen).await?;
    let port = listener.local_addr()?.port();
    let shape = TorrentShape {
        info_hash: config.meta.info_hash,
        peer_id: random_peer_id(),
        pieces: info.pieces.len(),
        piece_length: info.piece_length,
        total,
    };
    let already = have.is_full();
    let (complete, mut done) = watch::channel(already);
    let shared = Arc::new(Shared {
        meta: config.meta.clone(),
        shape,
        state: Mutex::new(State {
            picker: Picker::new(info.piece_length, total, have, rand::random()),
            choker: Choker::new(rand::random()),
            storage,
            peers: HashMap::new(),
            banned: HashSet::new(),
            contributors: HashMap::new(),
            partial: HashMap::new(),
            next_key: 1,
            uploaded: 0,
            downloaded: 0,
        }),
        started: Instant::now(),
        listen: config.listen,
        upload: config.upload_limit.map(Bucket::new),
        progress,
        complete,
    });
    if already {
        let _ = shared.progress.send(Progress::Complete);
    }
    // Incoming peers.
    let accept = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, addr)) = listener.accept().await {
                start_peer(&shared, stream, addr);
            }
        })
    };
    // Re-choking every 10 s.
    let rechoke = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                rechoke_now(&shared);
            }
        })
    };
    for addr in &config.peers {
        connect(&shared, *addr);
    }
    let mut event = if already {
        Event::Completed
    } else {
        Event::Started
    };
    let mut next_announce = tokio::time::Instant::now();
    let mut finished = already;
    loop {
        if finished && !config.seed {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_announce) => {
                let interval = tracker_round(&shared, port, event).await;
                event = Event::None;
                next_announce = tokio::time::Instant::now() + Duration::from_secs(interval);
            }
            changed = done.changed(), if !finished => {
                if changed.is_ok() && *done.borrow() {
                    finished = true;
                    tracker_round(&shared, port, Event::Completed).await;
                }
            }
            _ = shutdown.triggered() => break,
        }
    }
    accept.abort();
    rechoke.abort();
    for peer in shared.state().peers.values() {
        let _ = peer.tx.send(Command::Close);
    }
    tracker_round(&shared, port, Event::Stopped).await;
    Ok(())
}

async fn tracker_round(shared: &Arc<Shared>, port: u16, event: Event) -> u64 {
    if shared.meta.trackers.is_empty() {
        return 120;
    }
    let (uploaded, downloaded) = {
        let state = shared.state();
        (state.uploaded, state.downloaded)
    };
    let params = AnnounceParams {
        info_hash: shared.meta.info_hash,
        peer_id: shared.shape.peer_id,
        port,
        uploaded,
        downloaded,
        left: shared.left(),
        event,
        source: Some(shared.listen.ip()).filter(|ip| !ip.is_unspecified()),
    };
    match announce(&shared.meta.trackers, &params).await {
        Ok(answer) => {
            let _ = shared
                .progress
                .send(Progress::Tracker(Ok(answer.peers.len())));
            if event != Event::Stopped {
                for addr in answer.peers {
                    connect(shared, addr);
                }
            }
            answer.interval
        }
        Err(error) => {
            let _ = shared
                .progress
                .send(Progress::Tracker(Err(error.to_string())));
            30
        }
    }
}

fn connect(shared: &Arc<Shared>, addr: SocketAddr) {
    {
        let state = shared.state();
        if state.peers.len() >= MAX_PEERS
            || state.banned.contains(&addr.ip())
            || state.peers.values().any(|peer| peer.addr == addr)
        {
            return;
        }
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        // From the address we listen on, when it is a specific one (a world host's).
        let source = shared.listen.ip();
        let opened = async {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            if !source.is_unspecified() && source.is_ipv4() == addr.is_ipv4() {
                socket.bind(SocketAddr::new(source, 0))?;
            }
            socket.connect(addr).await
        };
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), opened).await {
            start_peer(&shared, stream, addr);
        }
    });
}

fn start_peer(shared: &Arc<Shared>, stream: TcpStream, addr: SocketAddr) {
    let (tx, rx) = mpsc::unbounded_channel();
    let key = {
        let mut state = shared.state();
        if state.peers.len() >= MAX_PEERS || state.banned.contains(&addr.ip()) {
            return;
        }
        let key = state.next_key;
        state.next_key += 1;
        let now = shared.now();
        state.peers.insert(
            key,
            Peer {
                tx,
                addr,
                interested: false,
                from_total: 0,
                to_total: 0,
                from_rate: 0.0,
                to_rate: 0.0,
                snapshot: (0, 0),
                connected_at: now,
                last_block_at: None,
                we_wait: false,
            },
        );
        key
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = stream.set_nodelay(true);
        let reason = peer_task(&shared, stream, key, rx).await;
        tracing::debug!(%addr, "peer connection ended: {reason}");
        let mut state = shared.state();
        state.peers.remove(&key);
    });
}

fn rechoke_now(shared: &Shared) {
    let now = shared.now();
    let mut state = shared.state();
    let seeding = state.picker.is_complete();
    let views: Vec<PeerView> = state
        .peers
        .iter_mut()
        .map(|(key, peer)| {
            let (from, to) = peer.snapshot;
            peer.from_rate = (peer.from_total - from) as f64 / 10.0;
            peer.to_rate = (peer.to_total - to) as f64 / 10.0;
            peer.snapshot = (peer.from_total, peer.to_total);
            PeerView {
                key: *key,
                interested: peer.interested,
                rate_from: peer.from_rate,
                rate_to: peer.to_rate,
                connected_at: peer.connected_at,
                last_block_at: peer.last_block_at,
                we_wait_on_it: peer.we_wait,
            }
        })
        .collect();
    let unchoked = state.choker.rechoke(&views, now, seeding);
    for (key, peer) in &state.peers {
        let _ = peer.tx.send(Command::Choke(!unchoked.contains(key)));
    }
}

/// Runs one connection; returns why it ended.
async fn peer_task(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    key: u64,
    mut rx: mpsc::UnboundedReceiver<Command>,
) -> String {
    let mut conn = PeerConn::new(shared.shape.clone(), shared.now());
    let ends = match (stream.local_addr(), stream.peer_addr()) {
        (Ok(local), Ok(peer)) if wire::enabled() => {
            conn.record();
            Some((local, peer))
        }
        _ => None,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut their_metadata_id = None;
    let reason = loop {
        if let Some((local, peer)) = ends {
            emit_log(&mut conn, local, peer);
        }
        let output = conn.take_output();
        if let (Some(bucket), false) = (&shared.upload, output.is_empty()) {
            bucket.take(output.len()).await;
        }
        if !output.is_empty() {
            match tokio::time::timeout(Duration::from_secs(30), stream.write_all(&output)).await {
                Ok(Ok(())) => {}
                _ => break "write failed".to_string(),
            }
        }
        if conn.is_closed() {
            break "closed".to_string();
        }
        let deadline = conn.poll_timeout().saturating_sub(shared.now());
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break "the peer closed".to_string(),
                Ok(n) => conn.handle_input(&buffer[..n], shared.now()),
            },
            command = rx.recv() => match command {
                Some(Command::Have(index)) => conn.send_have(index, shared.now()),
                Some(Command::Choke(choke)) => conn.set_choking(choke, shared.now()),
                Some(Command::Cancel(block)) => conn.cancel(block, shared.now()),
                Some(Command::Close) | None => break "shutting down".to_string(),
            },
            _ = tokio::time::sleep(Duration::from_secs(deadline.max(1))) => {
                conn.handle_timeout(shared.now());
            }
        }
        let mut ended = None;
        while let Some(event) = conn.poll_event() {
            if let Err(reason) = on_event(shared, &mut conn, key, event, &mut their_metadata_id) {
                ended = Some(reason);
                break;
            }
        }
        if let Some(reason) = ended {
            break reason;
        }
        fill_requests(shared, &mut conn, key);
    };
    if let Some((local, peer)) = ends {
        emit_log(&mut conn, local, peer);
    }
    // Give back what was asked of this peer and its share of the availability.
    let mut state = shared.state();
    for block in conn.requested() {
        state.picker.request_dropped(block);
    }
    state.picker.remove_peer(conn.peer_pieces());
    reason
}

/// One `wire` event (proto `bittorrent`) per message the connection logged.
fn emit_log(conn: &mut PeerConn, local: SocketAddr, peer: SocketAddr) {
    for entry in conn.take_log() {
        let dir = if entry.sent { Dir::Send } else { Dir::Recv };
        wire::emit("bittorrent", dir, local, peer, &entry.summary);
    }
}

fn on_event(
    shared: &Arc<Shared>,
    conn: &mut PeerConn,
    key: u64,
    event: PeerEvent,
    their_metadata_id: &mut Option<u8>,
) -> Result<(), String> {
    let now = shared.now();
    match event {
        PeerEvent::Handshake(theirs) => {
            // BEP 10 first (so that magnet clients learn our metadata), then our pieces.
            if theirs.extensions() {
                let ours = metadata::encode_handshake(Some(shared.meta.info_bytes.len()));
                conn.send_extended(0, ours, now);
            }
            let have = shared.state().picker.have().clone();
            conn.send_pieces(&have, now);
        }
        PeerEvent::Extended { id: 0, payload } => {
            *their_metadata_id = metadata::decode_handshake(&payload).and_then(|h| h.ut_metadata);
        }
        PeerEvent::Extended {
            id: metadata::UT_METADATA,
            payload,
        } => {
            // BEP 9: a peer that came with a magnet link asks for the info dictionary.
            if let (Some(MetadataMessage::Request(piece)), Some(theirs)) =
                (MetadataMessage::decode(&payload), *their_metadata_id)
            {
                let reply = metadata::answer(&shared.meta.info_bytes, piece);
                conn.send_extended(theirs, reply.encode(), now);
            }
        }
        PeerEvent::Pieces(field) => {
            let mut state = shared.state();
            state.picker.add_peer(&field);
            let wanted = wants(&state, &field);
            drop(state);
            conn.set_interested(wanted, now);
        }
        PeerEvent::Have(index) => {
            let mut state = shared.state();
            state.picker.peer_has(index);
            let wanted = !state.picker.have().has(index as usize);
            drop(state);
            if wanted {
                conn.set_interested(true, now);
            }
        }
        PeerEvent::Choked(dropped) => {
            let mut state = shared.state();
            for block in &dropped {
                state.picker.request_dropped(block);
            }
            if let Some(peer) = state.peers.get_mut(&key) {
                peer.we_wait = false;
            }
        }
        PeerEvent::Rejected(block) => shared.state().picker.request_dropped(&block),
        PeerEvent::Unchoked => {
            if let Some(peer) = shared.state().peers.get_mut(&key) {
                peer.we_wait = true;
            }
        }
        PeerEvent::Interest(interested) => {
            let mut state = shared.state();
            if let Some(peer) = state.peers.get_mut(&key) {
                peer.interested = interested;
            }
            // Free slots are filled at once rather than at the next re-choke.
            let free = state.choker.unchoked().len() < SLOTS + 1;
            drop(state);
            if interested && free {
                rechoke_now(shared);
            }
        }
        PeerEvent::Block { block, data } => on_block(shared, key, block, data)?,
        PeerEvent::Request(block) => {
            let mut state = shared.state();
            if !state.picker.have().has(block.index as usize) {
                drop(state);
                conn.reject(block, now);
                return Ok(());
            }
            match state.storage.read(block.index, block.begin, block.length) {
                Ok(data) => {
                    state.uploaded += data.len() as u64;
                    if let Some(peer) = state.peers.get_mut(&key) {
                        peer.to_total += data.len() as u64;
                    }
                    drop(state);
                    conn.send_block(block, data, now);
                }
                Err(error) => return Err(format!("reading piece {}: {error}", block.index)),
            }
        }
        PeerEvent::Cancel(_) | PeerEvent::Extended { .. } => {}
        PeerEvent::Closed(reason) => return Err(reason),
    }
    Ok(())
}

fn wants(state: &State, field: &bt_proto::wire::Bitfield) -> bool {
    (0..field.len()).any(|index| field.has(index) && !state.picker.have().has(index))
}

fn on_block(shared: &Arc<Shared>, key: u64, block: Block, data: Vec<u8>) -> Result<(), String> {
    let now = shared.now();
    let mut state = shared.state();
    state.downloaded += data.len() as u64;
    if let Some(peer) = state.peers.get_mut(&key) {
        peer.from_total += data.len() as u64;
        peer.last_block_at = Some(now);
    }
    let outcome = state
        .picker
        .block_received(block.index, block.begin, data.len());
    if outcome == Received::Unwanted {
        return Ok(());
    }
    let size = shared.meta.info.piece_size(block.index as usize) as usize;
    let begin = block.begin as usize;
    let Some(end) = begin.checked_add(data.len()).filter(|end| *end <= size) else {
        return Err(format!("block past the end of piece {}", block.index));
    };
    state
        .partial
        .entry(block.index)
        .or_insert_with(|| vec![0u8; size])[begin..end]
        .copy_from_slice(&data);
    state
        .contributors
        .entry(block.index)
        .or_default()
        .insert(key);
    // End game: the same block asked of others is withdrawn.
    for (other, peer) in &state.peers {
        if *other != key {
            let _ = peer.tx.send(Command::Cancel(block));
        }
    }
    if let Received::PieceComplete(index) = outcome {
        let info = &shared.meta.info;
        let piece = state.partial.remove(&index).unwrap_or_default();
        let hash: [u8; 20] = Sha1::digest(&piece).into();
        let good = info.pieces.get(index as usize) == Some(&hash);
        let senders = state.contributors.remove(&index).unwrap_or_default();
        if good {
            state
                .storage
                .write(index, 0, &piece)
                .map_err(|error| format!("writing piece {index}: {error}"))?;
            let mut from: Vec<IpAddr> = senders
                .iter()
                .filter_map(|sender| state.peers.get(sender).map(|peer| peer.addr.ip()))
                .collect();
            from.sort_unstable();
            from.dedup();
            state.picker.piece_verified(index);
            for peer in state.peers.values() {
                let _ = peer.tx.send(Command::Have(index));
            }
            let have = state.picker.have().count();
            let _ = shared.progress.send(Progress::Piece {
                index,
                have,
                of: info.pieces.len(),
                downloaded: state.downloaded,
                peers: state.peers.len(),
                from,
            });
            if state.picker.is_complete() {
                let _ = shared.progress.send(Progress::Complete);
                let _ = shared.complete.send(true);
            }
        } else {
            state.picker.piece_failed(index);
            let _ = shared.progress.send(Progress::BadPiece(index));
            for sender in senders {
                if let Some(peer) = state.peers.get(&sender) {
                    let ip = peer.addr.ip();
                    let _ = peer.tx.send(Command::Close);
                    state.banned.insert(ip);
                }
            }
            if senders_contains(&state, key) {
                return Err("sent data that failed the piece check".into());
            }
        }
    }
    Ok(())
}

fn senders_contains(state: &State, key: u64) -> bool {
    state
        .peers
        .get(&key)
        .is_some_and(|peer| state.banned.contains(&peer.addr.ip()))
}

fn fill_requests(shared: &Arc<Shared>, conn: &mut PeerConn, key: u64) {
    if conn.peer_choking || !conn.am_interested {
        return;
    }
    let now = shared.now();
    let mut state = shared.state();
    let rate = state.peers.get(&key).map_or(0.0, |peer| peer.from_rate);
    let depth = ((rate * PIPELINE_SECS / f64::from(BLOCK)) as usize).clamp(QUEUE.0, QUEUE.1);
    let want = depth.saturating_sub(conn.requested().len());
    if want == 0 {
        return;
    }
    let pieces = conn.peer_pieces().clone();
    let outstanding = conn.requested().to_vec();
    let blocks = state.picker.pick(&pieces, want, &outstanding);
    if blocks.is_empty() && !wants(&state, &pieces) {
        drop(state);
        conn.set_interested(false, now);
        return;
    }
    drop(state);
    for block in blocks {
        if !conn.request(block, now) {
            shared.state().picker.request_dropped(&block);
        }
    }
}
