//! One peer connection as a sans-IO machine: the handshake (the info-hash must match), the
//! piece announcement (a bitfield, or BEP 6 have-all/have-none, first, though BEP 10's
//! extension handshake may precede it and a later bitfield is taken as haves), the four
//! choke/interest flags, our requests in flight (dropped on a choke without the Fast
//! extension, rejected one by one with it), the peer's requests (checked against the torrent,
//! refused while we choke it), keep-alives and the idle timeout. Bytes and seconds in;
//! events and bytes out.

use crate::picker::Block;
use crate::wire::{Bitfield, Handshake, Message, HANDSHAKE_LEN};
use std::collections::VecDeque;

/// The largest block a peer may ask for (BEP 3 clients use 16 KiB; some allow 128 KiB).
pub const MAX_REQUEST: u32 = 128 * 1024;
/// The most requests of the peer's that may wait for an answer (libtorrent keeps up to 500
/// in flight); more is a flood, and the connection closes.
pub const MAX_PENDING_REQUESTS: usize = 1024;
/// Blocks we cancelled that may still arrive (the cancel crossed the block on the wire).
const CANCELLED_KEPT: usize = 256;

/// Seconds of silence after which we send a keep-alive.
pub const KEEPALIVE: u64 = 90;
/// Seconds without anything from the peer after which the connection closes.
pub const IDLE: u64 = 180;

/// What the torrent looks like to a connection.
#[derive(Clone, Debug)]
pub struct TorrentShape {
    /// The info-hash.
    pub info_hash: [u8; 20],
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Pieces.
    pub pieces: usize,
    /// Bytes per piece.
    pub piece_length: u64,
    /// All bytes.
    pub total: u64,
}

impl TorrentShape {
    fn piece_size(&self, index: u32) -> u64 {
        let start = self.piece_length * u64::from(index);
        self.piece_length.min(self.total.saturating_sub(start))
    }

    fn valid(&self, block: &Block) -> bool {
        (block.index as usize) < self.pieces
            && block.length > 0
            && block.length <= MAX_REQUEST
            && u64::from(block.begin) + u64::from(block.length) <= self.piece_size(block.index)
    }
}

/// What the connection tells the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The peer's handshake (its id and extensions).
    Handshake(Handshake),
    /// The peer's pieces (its bitfield or have-all/none), once.
    Pieces(Bitfield),
    /// It has one more piece.
    Have(u32),
    /// It choked us; these requests of ours will not be answered.
    Choked(Vec<Block>),
    /// It unchoked us.
    Unchoked,
    /// It is interested in our pieces (or no longer).
    Interest(bool),
    /// A block we asked for (a block we did not ask for is dropped here).
    Block {
        /// Which.
        block: Block,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A request of ours it will not answer (BEP 6 reject).
    Rejected(Block),
    /// It asks for a block (valid for the torrent; we unchoke it).
    Request(Block),
    /// It withdrew a request (the driver may drop a queued answer).
    Cancel(Block),
    /// A BEP 10 extension message.
    Extended {
        /// The id.
        id: u8,
        /// The payload.
        payload: Vec<u8>,
    },
    /// The connection is over: the reason (the driver closes the socket).
    Closed(String),
}

/// One connection.
#[derive(Clone, Debug)]
pub struct PeerConn {
    shape: TorrentShape,
    input: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<PeerEvent>,
    handshaken: bool,
    first_message: bool,
    closed: bool,
    fast: bool,
    /// We choke the peer.
    pub am_choking: bool,
    /// We want its pieces.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It wants ours.
    pub peer_interested: bool,
    peer_pieces: Bitfield,
    requested: Vec<Block>,
    cancelled: VecDeque<Block>,
    pending_requests: usize,
    last_input: u64,
    last_output: u64,
    log: Option<Vec<Logged>>,
}

/// A message that crossed the wire, for the driver's `wire` event (kept only while
/// [`PeerConn::record`] is on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// We sent it (else we received it).
    pub sent: bool,
    /// [`Message::summary`], or `handshake ...`.
    pub summary: String,
}

impl PeerConn {
    /// A connection opened at `now`; our handshake is queued at once.
    pub fn new(shape: TorrentShape, now: u64) -> PeerConn {
        let ours = Handshake::new(shape.info_hash, shape.peer_id);
        let pieces = shape.pieces;
        PeerConn {
            shape,
            input: Vec::new(),
            out: ours.encode().to_vec(),
            events: VecDeque::new(),
            handshaken: false,
            first_message: true,
            closed: false,
            fast: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            peer_pieces: Bitfield::new(pieces),
            requested: Vec::new(),
            cancelled: VecDeque::new(),
            pending_requests: 0,
            last_input: now,
            last_output: now,
            log: None,
        }
    }

    /// Keeps a summary of every message sent and received from now on (with our handshake,
    /// queued at creation, as the first), for [`PeerConn::take_log`].
    pub fn record(&mut self) {
        if self.log.is_none() {
            self.log = Some(vec![Logged {
                sent: true,
                summary: "handshake".into(),
            }]);
        }
    }

    /// The messages logged since the last call.
    pub fn take_log(&mut self) -> Vec<Logged> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn logged(&mut self, sent: bool, message: &Message) {
        if let Some(log) = &mut self.log {
            log.push(Logged {
                sent,
                summary: message.summary(),
            });
        }
    }

    /// The peer's pieces as known.
    pub fn peer_pieces(&self) -> &Bitfield {
        &self.peer_pieces
    }

    /// Our requests in flight.
    pub fn requested(&self) -> &[Block] {
        &self.requested
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Bytes to write.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn close(&mut self, reason: impl Into<String>) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(PeerEvent::Closed(reason.into()));
        }
    }

    fn send(&mut self, message: Message, now: u64) {
        if !self.closed {
            self.logged(true, &message);
            message.encode_into(&mut self.out);
            self.last_output = now;
        }
    }

    /// Announces our pieces (right after the handshakes): BEP 6 have-all/none when the peer
    /// speaks it, else a bitfield (nothing when we have nothing).
    pub fn send_pieces(&mut self, ours: &Bitfield, now: u64) {
        match (self.fast, ours.count()) {
            (true, 0) => self.send(Message::HaveNone, now),
            (true, n) if n == ours.len() => self.send(Message::HaveAll, now),
            (_, 0) => {}
            _ => self.send(Message::Bitfield(ours.as_bytes().to_vec()), now),
        }
    }

    /// Sends a BEP 10 extension message (`id` 0: the extension handshake; else the peer's id
    /// for the extension).
    pub fn send_extended(&mut self, id: u8, payload: Vec<u8>, now: u64) {
        self.send(Message::Extended { id, payload }, now);
    }

    /// Tells the peer we have piece `index`.
    pub fn send_have(&mut self, index: u32, now: u64) {
        self.send(Message::Have(index), now);
    }

    /// Sets our interest.
    pub fn set_interested(&mut self, interested: bool, now: u64) {
        if interested != self.am_interested {
            self.am_interested = interested;
            let message = if interested {
                Message::Interested
            } else {
                Message::NotInterested
            };
            self.send(message, now);
        }
    }

    /// Chokes or unchokes the peer. Choking drops its queued requests (with BEP 6 each is
    /// rejected; the driver drops what it had queued).
    pub fn set_choking(&mut self, choking: bool, now: u64) {
        if choking != self.am_choking {
            self.am_choking = choking;
            let message = if choking {
                Message::Choke
            } else {
                Message::Unchoke
            };
            self.send(message, now);
        }
    }

    /// Asks for `block` (only while unchoked).
    pub fn request(&mut self, block: Block, now: u64) -> bool {
        if self.peer_choking || self.closed || self.requested.contains(&block) {
            return false;
        }
        self.requested.push(block);
        self.send(
            Message::Request {
                index: block.index,
                begin: block.begin,
                length: block.length,
            },
            now,
        );
        true
    }

    /// Withdraws a request (end game: another peer delivered it).
    pub fn cancel(&mut self, block: Block, now: u64) {
        if let Some(at) = self.requested.iter().position(|b| *b == block) {
            self.requested.remove(at);
            if self.cancelled.len() == CANCELLED_KEPT {
                self.cancelled.pop_front();
            }
            self.cancelled.push_back(block);
            self.send(
                Message::Cancel {
                    index: block.index,
                    begin: block.begin,
                    length: block.length,
                },
                now,
            );
        }
    }

    /// Answers a request the driver read from storage.
    pub fn send_block(&mut self, block: Block, data: Vec<u8>, now: u64) {
        self.pending_requests = self.pending_requests.saturating_sub(1);
        if !self.am_choking {
            self.send(
                Message::Piece {
                    index: block.index,
                    begin: block.begin,
                    block: data,
                },
                now,
            );
        }
    }

    /// Refuses a request (BEP 6 reject; without the extension, nothing is sent).
    pub fn reject(&mut self, block: Block, now: u64) {
        self.pending_requests = self.pending_requests.saturating_sub(1);
        if self.fast {
            self.send(
                Message::Reject {
                    index: block.index,
                    begin: block.begin,
                    length: block.length,
                },
                now,
            );
        }
    }

    /// The next deadline (a keep-alive to send, or the idle timeout).
    pub fn poll_timeout(&self) -> u64 {
        (self.last_output + KEEPALIVE).min(self.last_input + IDLE)
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: u64) {
        if now >= self.last_input + IDLE {
            self.close("idle");
        } else if now >= self.last_output + KEEPALIVE {
            self.send(Message::KeepAlive, now);
        }
    }

    /// Bytes from the peer.
    pub fn handle_input(&mut self, bytes: &[u8], now: u64) {
        if self.closed {
            return;
        }
        self.last_input = now;
        self.input.extend_from_slice(bytes);
        if !self.handshaken {
            match Handshake::decode(&self.input) {
                Ok(None) => return,
                Ok(Some(theirs)) => {
                    if theirs.info_hash != self.shape.info_hash {
                        self.close("handshake for another torrent");
                        return;
                    }
                    if theirs.peer_id == self.shape.peer_id {
                        self.close("connected to ourselves");
                        return;
                    }
                    self.input.drain(..HANDSHAKE_LEN);
                    self.handshaken = true;
                    self.fast = theirs.fast();
                    if let Some(log) = &mut self.log {
                        let mut summary = String::from("handshake");
                        for (on, name) in [
                            (theirs.extensions(), " extensions"),
                            (theirs.fast(), " fast"),
                            (theirs.dht(), " dht"),
                        ] {
                            if on {
                                summary.push_str(name);
                            }
                        }
                        log.push(Logged {
                            sent: false,
                            summary,
                        });
                    }
                    self.events.push_back(PeerEvent::Handshake(theirs));
                }
                Err(error) => {
                    self.close(error.to_string());
                    return;
                }
            }
        }
        loop {
            match Message::decode(&self.input) {
                Ok(None) => return,
                Ok(Some((message, used))) => {
                    self.input.drain(..used);
                    self.logged(false, &message);
                    if let Err(reason) = self.on_message(message, now) {
                        self.close(reason);
                        return;
                    }
                }
                Err(error) => {
                    self.close(error.to_string());
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, message: Message, now: u64) -> Result<(), String> {
        let first = std::mem::replace(&mut self.first_message, false);
        let pieces = self.shape.pieces;
        match message {
            // The piece announcement comes first, except that keep-alives, the DHT port,
            // BEP 6's allowed-fast and suggest, and the BEP 10 extension handshake may come
            // before it (libtorrent sends its extension handshake first, aria2 its allowed
            // fast set).
            Message::KeepAlive
            | Message::Port(_)
            | Message::AllowedFast(_)
            | Message::Suggest(_) => self.first_message = first,
            Message::Bitfield(bits) => {
                let field =
                    Bitfield::from_bytes(&bits, pieces).ok_or("bitfield of the wrong size")?;
                if first {
                    self.peer_pieces = field.clone();
                    self.events.push_back(PeerEvent::Pieces(field));
                } else {
                    // BEP 3 has it first only, but aria2 sends a later one as an update: taken
                    // as the haves it adds, as long as it takes no piece back.
                    for index in 0..pieces {
                        match (self.peer_pieces.has(index), field.has(index)) {
                            (true, false) => {
                                return Err("a later bitfield takes pieces back".into())
                            }
                            (false, true) => {
                                self.peer_pieces.set(index);
                                self.events.push_back(PeerEvent::Have(index as u32));
                            }
                            _ => {}
                        }
                    }
                }
            }
            Message::HaveAll | Message::HaveNone => {
                if !self.fast {
                    return Err("have-all/none without the Fast extension".into());
                }
                let all = message == Message::HaveAll;
                if first {
                    let field = if all {
                        Bitfield::full(pieces)
                    } else {
                        Bitfield::new(pieces)
                    };
                    self.peer_pieces = field.clone();
                    self.events.push_back(PeerEvent::Pieces(field));
                } else if all {
                    // A later have-all (aria2 sends one when it completes): the haves it adds.
                    for index in 0..pieces {
                        if !self.peer_pieces.has(index) {
                            self.peer_pieces.set(index);
                            self.events.push_back(PeerEvent::Have(index as u32));
                        }
                    }
                } else if self.peer_pieces.count() > 0 {
                    return Err("a later have-none takes pieces back".into());
                }
            }
            Message::Have(index) => {
                if index as usize >= pieces {
                    return Err(format!("have {index} of {pieces} pieces"));
                }
                if !self.peer_pieces.has(index as usize) {
                    self.peer_pieces.set(index as usize);
                    self.events.push_back(PeerEvent::Have(index));
                }
            }
            Message::Choke => {
                self.peer_choking = true;
                // Without BEP 6 a choke discards every request; with it, rejects follow.
                let dropped = if self.fast {
                    Vec::new()
                } else {
                    std::mem::take(&mut self.requested)
                };
                // Blocks already on the wire may still come: they are not unrequested.
                for block in &dropped {
                    if self.cancelled.len() == CANCELLED_KEPT {
                        self.cancelled.pop_front();
                    }
                    self.cancelled.push_back(*block);
                }
                self.events.push_back(PeerEvent::Choked(dropped));
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.events.push_back(PeerEvent::Unchoked);
            }
            Message::Interested => {
                self.peer_interested = true;
                self.events.push_back(PeerEvent::Interest(true));
            }
            Message::NotInterested => {
                self.peer_interested = false;
                self.events.push_back(PeerEvent::Interest(false));
            }
            Message::Request {
                index,
                begin,
                length,
            } => {
                let block = Block {
                    index,
                    begin,
                    length,
                };
                if !self.shape.valid(&block) {
                    return Err(format!("request outside the torrent: {block:?}"));
                }
                self.pending_requests += 1;
                if self.am_choking {
                    self.reject(block, now);
                } else if self.pending_requests > MAX_PENDING_REQUESTS {
                    return Err("request flood".into());
                } else {
                    self.events.push_back(PeerEvent::Request(block));
                }
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                self.pending_requests = self.pending_requests.saturating_sub(1);
                self.events.push_back(PeerEvent::Cancel(Block {
                    index,
                    begin,
                    length,
                }))
            }
            Message::Piece {
                index,
                begin,
                block,
            } => {
                let key = Block {
                    index,
                    begin,
                    length: block.len() as u32,
                };
                if let Some(at) = self.requested.iter().position(|b| *b == key) {
                    self.requested.remove(at);
                    self.events.push_back(PeerEvent::Block {
                        block: key,
                        data: block,
                    });
                } else if let Some(at) = self.cancelled.iter().position(|b| *b == key) {
                    // It crossed our cancel: harmless.
                    self.cancelled.remove(at);
                } else {
                    return Err(format!("unrequested block {key:?}"));
                }
            }
            Message::Reject {
                index,
                begin,
                length,
            } => {
                let key = Block {
                    index,
                    begin,
                    length,
                };
                if let Some(at) = self.requested.iter().position(|b| *b == key) {
                    self.requested.remove(at);
                    self.events.push_back(PeerEvent::Rejected(key));
                }
            }
            Message::Extended { id, payload } => {
                self.first_message = first;
                self.events.push_back(PeerEvent::Extended { id, payload })
            }
            Message::Unknown(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(id: u8) -> TorrentShape {
        TorrentShape {
            info_hash: [9; 20],
            peer_id: [id; 20],
            pieces: 3,
            piece_length: 32 * 1024,
            total: 80 * 1024,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(a: &mut PeerConn, b: &mut PeerConn, now: u64) {
        loop {
            let from_a = a.take_output();
            let from_b = b.take_output();
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            b.handle_input(&from_a, now);
            a.handle_input(&from_b, now);
        }
    }

    fn events(conn: &mut PeerConn) -> Vec<PeerEvent> {
        std::iter::from_fn(|| conn.poll_event()).collect()
    }

    #[test]
    fn the_log_has_each_message_once_each_way() {
        let mut seed = PeerConn::new(shape(1), 0);
        let mut leech = PeerConn::new(shape(2), 0);
        seed.record();
        leech.record();
        pump(&mut seed, &mut leech, 0);
        seed.send_pieces(&Bitfield::full(3), 1);
        leech.set_interested(true, 1);
        seed.set_choking(false, 1);
        pump(&mut seed, &mut leech, 1);
        let block = Block {
            index: 1,
            begin: 0,
            length: crate::wire::BLOCK,
        };
        assert!(leech.request(block, 2));
        pump(&mut seed, &mut leech, 2);
        seed.send_block(block, vec![7; crate::wire::BLOCK as usize], 3);
        pump(&mut seed, &mut leech, 3);
        let line = |log: Vec<Logged>| {
            log.into_iter()
                .map(|entry| format!("{} {}", if entry.sent { ">" } else { "<" }, entry.summary))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            line(seed.take_log()),
            [
                "> handshake",
                "< handshake extensions fast",
                "> have all",
                "> unchoke",
                "< interested",
                "< request 1+0 (16384 bytes)",
                "> piece 1+0 (16384 bytes)",
            ]
        );
        assert_eq!(
            line(leech.take_log()),
            [
                "> handshake",
                "< handshake extensions fast",
                "> interested",
                "< have all",
                "< unchoke",
                "> request 1+0 (16384 bytes)",
                "< piece 1+0 (16384 bytes)",
            ]
        );
        assert!(seed.take_log().is_empty());
        // Not recording: nothing kept.
        let mut quiet = PeerConn::new(shape(3), 0);
        quiet.set_interested(true, 0);
        assert!(quiet.take_log().is_empty());
    }

    #[test]
    fn a_download_between_two_machines() {
        let mut seed = PeerConn::new(shape(1), 0);
        let mut leech = PeerConn::new(shape(2), 0);
        pump(&mut seed, &mut leech, 0);
        assert!(matches!(events(&mut seed)[..], [PeerEvent::Handshake(_)]));
        assert!(matches!(events(&mut leech)[..], [PeerEvent::Handshake(_)]));
        // Both speak BEP 6: the seed says have-all.
        seed.send_pieces(&Bitfield::full(3), 1);
        leech.send_pieces(&Bitfield::new(3), 1);
        leech.set_interested(true, 1);
        pump(&mut seed, &mut leech, 1);
        assert_eq!(
            events(&mut leech),
            vec![PeerEvent::Pieces(Bitfield::full(3))]
        );
        assert_eq!(
            events(&mut seed),
            vec![
                PeerEvent::Pieces(Bitfield::new(3)),
                PeerEvent::Interest(true)
            ]
        );
        let block = Block {
            index: 2,
            begin: 0,
            length: 16 * 1024,
        };
        assert!(!leech.request(block, 2), "choked: no request");
        seed.set_choking(false, 2);
        pump(&mut seed, &mut leech, 2);
        assert_eq!(events(&mut leech), vec![PeerEvent::Unchoked]);
        assert!(leech.request(block, 3));
        pump(&mut seed, &mut leech, 3);
        assert_eq!(events(&mut seed), vec![PeerEvent::Request(block)]);
        seed.send_block(block, vec![5; 16 * 1024], 4);
        pump(&mut seed, &mut leech, 4);
        assert_eq!(
            events(&mut leech),
            vec![PeerEvent::Block {
                block,
                data: vec![5; 16 * 1024]
            }]
        );
        assert!(leech.requested().is_empty());
        // A choke: with BEP 6 the seed rejects what was queued; without, requests drop.
        assert!(leech.request(
            Block {
                index: 0,
                begin: 0,
                length: 16384
            },
            5
        ));
        seed.set_choking(true, 5);
        pump(&mut seed, &mut leech, 5);
        assert_eq!(
            events(&mut leech),
            vec![
                PeerEvent::Choked(vec![]),
                PeerEvent::Rejected(Block {
                    index: 0,
                    begin: 0,
                    length: 16384
                })
            ]
        );
    }

    #[test]
    fn protocol_violations_close_the_connection() {
        let violations: Vec<Vec<u8>> = vec![
            Message::Have(3).encode(),
            Message::Request {
                index: 0,
                begin: 0,
                length: MAX_REQUEST + 1,
            }
            .encode(),
            Message::Request {
                index: 2,
                begin: 16 * 1024,
                length: 16 * 1024,
            }
            .encode(),
            [
                Message::Have(0).encode(),
                Message::Bitfield(vec![0x40]).encode(),
            ]
            .concat(),
            Message::Bitfield(vec![0xff]).encode(),
            vec![0x7f, 0, 0, 0],
        ];
        for bytes in violations {
            let mut conn = PeerConn::new(shape(1), 0);
            let theirs = Handshake::new([9; 20], [2; 20]).encode();
            conn.handle_input(&theirs, 0);
            conn.handle_input(&bytes, 0);
            assert!(conn.is_closed(), "{bytes:?}");
        }
        let mut other = PeerConn::new(shape(1), 0);
        other.handle_input(&Handshake::new([8; 20], [2; 20]).encode(), 0);
        assert!(
            matches!(events(&mut other).last(), Some(PeerEvent::Closed(reason)) if reason.contains("another torrent"))
        );
    }

    #[test]
    fn the_extension_handshake_may_precede_the_piece_announcement() {
        let mut conn = PeerConn::new(shape(1), 0);
        let mut theirs = Handshake::new([9; 20], [2; 20]).encode().to_vec();
        Message::Extended {
            id: 0,
            payload: b"de".to_vec(),
        }
        .encode_into(&mut theirs);
        Message::HaveAll.encode_into(&mut theirs);
        conn.handle_input(&theirs, 0);
        assert!(!conn.is_closed());
        assert!(conn.peer_pieces().is_full());
    }

    #[test]
    fn floods_and_unrequested_blocks_close_the_connection() {
        let theirs = Handshake::new([9; 20], [2; 20]).encode();
        let mut conn = PeerConn::new(shape(1), 0);
        conn.handle_input(&theirs, 0);
        conn.set_choking(false, 0);
        let request = Message::Request {
            index: 0,
            begin: 0,
            length: 16 * 1024,
        }
        .encode();
        conn.handle_input(&request.repeat(MAX_PENDING_REQUESTS + 1), 1);
        assert!(conn.is_closed(), "a flood of requests");
        // A block we never asked for closes; one that crossed our cancel does not.
        let mut conn = PeerConn::new(shape(1), 0);
        conn.handle_input(&theirs, 0);
        conn.handle_input(&Message::Unchoke.encode(), 0);
        let block = Block {
            index: 1,
            begin: 0,
            length: 4,
        };
        assert!(conn.request(block, 1));
        conn.cancel(block, 1);
        let piece = Message::Piece {
            index: 1,
            begin: 0,
            block: vec![1; 4],
        }
        .encode();
        conn.handle_input(&piece, 2);
        assert!(!conn.is_closed());
        conn.handle_input(&piece, 3);
        assert!(conn.is_closed());
    }

    #[test]
    fn keepalives_and_idle_timeout() {
        let mut conn = PeerConn::new(shape(1), 0);
        conn.take_output();
        assert_eq!(conn.poll_timeout(), KEEPALIVE);
        conn.handle_timeout(KEEPALIVE);
        assert_eq!(conn.take_output(), [0, 0, 0, 0]);
        conn.handle_timeout(IDLE);
        assert!(conn.is_closed());
    }
}
