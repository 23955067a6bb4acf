//! The peer wire protocol (BEP 3) as bytes: the handshake with its reserved bits (BEP 10
//! extension protocol, BEP 6 Fast extension, BEP 5 DHT), length-prefixed messages including
//! the Fast extension's and BEP 10's `extended`, and piece bitfields. Decoding is
//! incremental and bounded; nothing here panics on what a peer sends.

/// The handshake's protocol string.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// The handshake's length.
pub const HANDSHAKE_LEN: usize = 68;
/// The largest message accepted (a 16 KiB block needs 16 KiB + 13; a bitfield of 2^23
/// pieces needs 1 MiB + 1).
pub const MAX_MESSAGE: usize = (1 << 20) + 16;
/// The block size requested (BEP 3's customary 16 KiB; larger requests may be refused).
pub const BLOCK: u32 = 16 * 1024;

/// The handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The reserved bytes.
    pub reserved: [u8; 8],
    /// The torrent.
    pub info_hash: [u8; 20],
    /// The sender's peer id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Our handshake, announcing the extension protocol and the Fast extension.
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10;
        reserved[7] |= 0x04;
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// BEP 10: the peer speaks the extension protocol.
    pub fn extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    /// BEP 6: the peer speaks the Fast extension.
    pub fn fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }

    /// BEP 5: the peer runs a DHT node.
    pub fn dht(&self) -> bool {
        self.reserved[7] & 0x01 != 0
    }

    /// The 68 bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// The handshake at the start of `input`: `Ok(None)` until 68 bytes are there.
    pub fn decode(input: &[u8]) -> Result<Option<Handshake>, WireError> {
        if let Some(&first) = input.first() {
            if first != 19 {
                return Err(WireError::NotBitTorrent);
            }
        }
        let known = input.len().min(20);
        if input.len() > 1 && input[1..known] != PROTOCOL[..known - 1] {
            return Err(WireError::NotBitTorrent);
        }
        if input.len() < HANDSHAKE_LEN {
            return Ok(None);
        }
        let mut handshake = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        handshake.reserved.copy_from_slice(&input[20..28]);
        handshake.info_hash.copy_from_slice(&input[28..48]);
        handshake.peer_id.copy_from_slice(&input[48..68]);
        Ok(Some(handshake))
    }
}

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A zero-length message.
    KeepAlive,
    /// 0
    Choke,
    /// 1
    Unchoke,
    /// 2
    Interested,
    /// 3
    NotInterested,
    /// 4: the sender has piece `index`.
    Have(u32),
    /// 5: the sender's pieces (only as its first message).
    Bitfield(Vec<u8>),
    /// 6: asks for `length` bytes of piece `index` from `begin`.
    Request {
        /// Piece.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Bytes.
        length: u32,
    },
    /// 7: a block.
    Piece {
        /// Piece.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// The bytes.
        block: Vec<u8>,
    },
    /// 8: withdraws a request.
    Cancel {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Bytes.
        length: u32,
    },
    /// 9: the sender's DHT port.
    Port(u16),
    /// 13 (BEP 6): a piece worth downloading.
    Suggest(u32),
    /// 14 (BEP 6): the sender has every piece.
    HaveAll,
    /// 15 (BEP 6): the sender has none.
    HaveNone,
    /// 16 (BEP 6): a request that will not be served.
    Reject {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Bytes.
        length: u32,
    },
    /// 17 (BEP 6): a piece the receiver may request while choked.
    AllowedFast(u32),
    /// 20 (BEP 10): an extension message (`id` 0 is the extension handshake).
    Extended {
        /// The extension's id, as the receiver numbered it.
        id: u8,
        /// Its payload (bencode, sometimes followed by data).
        payload: Vec<u8>,
    },
    /// An id this side does not know (ignored, as BEP 3 allows).
    Unknown(u8),
}

impl Message {
    /// One line for the message's `wire` event: `piece 742+16384 (16384 bytes)`,
    /// `bitfield 12/1024`, `unchoke` ...
    pub fn summary(&self) -> String {
        match self {
            Message::KeepAlive => "keep-alive".into(),
            Message::Choke => "choke".into(),
            Message::Unchoke => "unchoke".into(),
            Message::Interested => "interested".into(),
            Message::NotInterested => "not interested".into(),
            Message::Have(index) => format!("have {index}"),
            Message::Bitfield(bits) => {
                let had: u32 = bits.iter().map(|byte| byte.count_ones()).sum();
                format!("bitfield {had} pieces")
            }
            Message::Request {
                index,
                begin,
                length,
            } => format!("request {index}+{begin} ({length} bytes)"),
            Message::Piece {
                index,
                begin,
                block,
            } => format!("piece {index}+{begin} ({} bytes)", block.len()),
            Message::Cancel {
                index,
                begin,
                length,
            } => format!("cancel {index}+{begin} ({length} bytes)"),
            Message::Port(port) => format!("port {port}"),
            Message::Suggest(index) => format!("suggest {index}"),
            Message::HaveAll => "have all".into(),
            Message::HaveNone => "have none".into(),
            Message::Reject {
                index,
                begin,
                length,
            } => format!("reject {index}+{begin} ({length} bytes)"),
            Message::AllowedFast(index) => format!("allowed fast {index}"),
            Message::Extended { id, payload } => {
                format!("extended {id} ({} bytes)", payload.len())
            }
            Message::Unknown(id) => format!("unknown message {id}"),
        }
    }
}

/// A malformed message or handshake.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The handshake is not BitTorrent's.
    #[error("not a BitTorrent handshake")]
    NotBitTorrent,
    /// A message longer than [`MAX_MESSAGE`].
    #[error("message of {0} bytes is too long")]
    TooLong(usize),
    /// A known message with a payload of the wrong size.
    #[error("message {id} with a {len}-byte payload")]
    BadLength {
        /// The message id.
        id: u8,
        /// The payload length.
        len: usize,
    },
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl Message {
    /// Appends the length-prefixed encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let triple = |out: &mut Vec<u8>, id: u8, a: u32, b: u32, c: u32| {
            out.extend_from_slice(&13u32.to_be_bytes());
            out.push(id);
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&b.to_be_bytes());
            out.extend_from_slice(&c.to_be_bytes());
        };
        let single = |out: &mut Vec<u8>, id: u8| {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.push(id);
        };
        let index = |out: &mut Vec<u8>, id: u8, index: u32| {
            out.extend_from_slice(&5u32.to_be_bytes());
            out.push(id);
            out.extend_from_slice(&index.to_be_bytes());
        };
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0, 0, 0, 0]),
            Message::Choke => single(out, 0),
            Message::Unchoke => single(out, 1),
            Message::Interested => single(out, 2),
            Message::NotInterested => single(out, 3),
            Message::Have(piece) => index(out, 4, *piece),
            Message::Bitfield(bits) => {
                out.extend_from_slice(&(bits.len() as u32 + 1).to_be_bytes());
                out.push(5);
                out.extend_from_slice(bits);
            }
            Message::Request {
                index,
                begin,
                length,
            } => triple(out, 6, *index, *begin, *length),
            Message::Piece {
                index,
                begin,
                block,
            } => {
                out.extend_from_slice(&(block.len() as u32 + 9).to_be_bytes());
                out.push(7);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(block);
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => triple(out, 8, *index, *begin, *length),
            Message::Port(port) => {
                out.extend_from_slice(&3u32.to_be_bytes());
                out.push(9);
                out.extend_from_slice(&port.to_be_bytes());
            }
            Message::Suggest(piece) => index(out, 13, *piece),
            Message::HaveAll => single(out, 14),
            Message::HaveNone => single(out, 15),
            Message::Reject {
                index,
                begin,
                length,
            } => triple(out, 16, *index, *begin, *length),
            Message::AllowedFast(piece) => index(out, 17, *piece),
            Message::Extended { id, payload } => {
                out.extend_from_slice(&(payload.len() as u32 + 2).to_be_bytes());
                out.push(20);
                out.push(*id);
                out.extend_from_slice(payload);
            }
            Message::Unknown(id) => single(out, *id),
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// The message at the start of `input` and the bytes it took; `Ok(None)` until it is
    /// all there.
    pub fn decode(input: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
        if input.len() < 4 {
            return Ok(None);
        }
        let len = be32(input, 0) as usize;
        if len > MAX_MESSAGE {
            return Err(WireError::TooLong(len));
        }
        if input.len() < 4 + len {
            return Ok(None);
        }
        if len == 0 {
            return Ok(Some((Message::KeepAlive, 4)));
        }
        let id = input[4];
        let body = &input[5..4 + len];
        let bad = || WireError::BadLength {
            id,
            len: body.len(),
        };
        let exact = |n: usize| if body.len() == n { Ok(()) } else { Err(bad()) };
        let message = match id {
            0 => exact(0).map(|()| Message::Choke)?,
            1 => exact(0).map(|()| Message::Unchoke)?,
            2 => exact(0).map(|()| Message::Interested)?,
            3 => exact(0).map(|()| Message::NotInterested)?,
            4 => exact(4).map(|()| Message::Have(be32(body, 0)))?,
            5 => Message::Bitfield(body.to_vec()),
            6 | 8 | 16 => {
                exact(12)?;
                let (index, begin, length) = (be32(body, 0), be32(body, 4), be32(body, 8));
                match id {
                    6 => Message::Request {
                        index,
                        begin,
                        length,
                    },
                    8 => Message::Cancel {
                        index,
                        begin,
                        length,
                    },
                    _ => Message::Reject {
                        index,
                        begin,
                        length,
                    },
                }
            }
            7 => {
                if body.len() < 8 {
                    return Err(bad());
                }
                Message::Piece {
                    index: be32(body, 0),
                    begin: be32(body, 4),
                    block: body[8..].to_vec(),
                }
            }
            9 => exact(2).map(|()| Message::Port(u16::from_be_bytes([body[0], body[1]])))?,
            13 => exact(4).map(|()| Message::Suggest(be32(body, 0)))?,
            14 => exact(0).map(|()| Message::HaveAll)?,
            15 => exact(0).map(|()| Message::HaveNone)?,
            17 => exact(4).map(|()| Message::AllowedFast(be32(body, 0)))?,
            20 => {
                if body.is_empty() {
                    return Err(bad());
                }
                Message::Extended {
                    id: body[0],
                    payload: body[1..].to_vec(),
                }
            }
            other => Message::Unknown(other),
        };
        Ok(Some((message, 4 + len)))
    }
}

/// Which pieces a peer has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitfield {
    bits: Vec<u8>,
    len: usize,
}

impl Bitfield {
    /// `len` pieces, none had.
    pub fn new(len: usize) -> Bitfield {
        Bitfield {
            bits: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// `len` pieces, all had.
    pub fn full(len: usize) -> Bitfield {
        let mut field = Bitfield::new(len);
        for index in 0..len {
            field.set(index);
        }
        field
    }

    /// A peer's `bitfield` payload for `len` pieces: the right size, spare bits zero (BEP 3:
    /// a client "should drop the connection" otherwise).
    pub fn from_bytes(bytes: &[u8], len: usize) -> Option<Bitfield> {
        if bytes.len() != len.div_ceil(8) {
            return None;
        }
        let spare = bytes.len() * 8 - len;
        if spare > 0
            && bytes
                .last()
                .is_some_and(|last| last & ((1u8 << spare) - 1) != 0)
        {
            return None;
        }
        Some(Bitfield {
            bits: bytes.to_vec(),
            len,
        })
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Pieces in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `index` is had (false out of range).
    pub fn has(&self, index: usize) -> bool {
        index < self.len && self.bits[index / 8] & (0x80 >> (index % 8)) != 0
    }

    /// Marks piece `index` had (ignored out of range).
    pub fn set(&mut self, index: usize) {
        if index < self.len {
            self.bits[index / 8] |= 0x80 >> (index % 8);
        }
    }

    /// How many pieces are had.
    pub fn count(&self) -> usize {
        self.bits
            .iter()
            .map(|byte| byte.count_ones() as usize)
            .sum()
    }

    /// Whether every piece is had.
    pub fn is_full(&self) -> bool {
        self.count() == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_round_trip_and_refusal() {
        let ours = Handshake::new([1; 20], *b"-AL0001-123456789012");
        let bytes = ours.encode();
        assert_eq!(Handshake::decode(&bytes[..30]), Ok(None));
        let back = Handshake::decode(&bytes).unwrap().unwrap();
        assert!(back.extensions() && back.fast() && !back.dht());
        assert_eq!(back, ours);
        assert_eq!(
            Handshake::decode(b"GET / HTTP/1.1\r\n"),
            Err(WireError::NotBitTorrent)
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent protoXol"),
            Err(WireError::NotBitTorrent)
        );
    }

    #[test]
    fn messages_round_trip() {
        let all = [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(7),
            Message::Bitfield(vec![0b1010_0000]),
            Message::Request {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Message::Piece {
                index: 1,
                begin: 0,
                block: b"data".to_vec(),
            },
            Message::Cancel {
                index: 1,
                begin: 0,
                length: 4,
            },
            Message::Port(6881),
            Message::Suggest(3),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject {
                index: 2,
                begin: 0,
                length: 16384,
            },
            Message::AllowedFast(4),
            Message::Extended {
                id: 0,
                payload: b"d1:md6:ut_pexi1eee".to_vec(),
            },
        ];
        let mut stream = Vec::new();
        for message in &all {
            message.encode_into(&mut stream);
        }
        let mut at = 0;
        for message in &all {
            // Every prefix short of the whole message asks for more.
            let (got, used) = Message::decode(&stream[at..]).unwrap().unwrap();
            assert_eq!(&got, message);
            for cut in 0..used {
                assert_eq!(Message::decode(&stream[at..at + cut]), Ok(None));
            }
            at += used;
        }
        assert_eq!(at, stream.len());
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(matches!(
            Message::decode(&[0x7f, 0, 0, 0, 1]),
            Err(WireError::TooLong(_))
        ));
        assert!(Message::decode(&[0, 0, 0, 2, 4, 0]).is_err(), "short have");
        assert!(
            Message::decode(&[0, 0, 0, 2, 0, 0]).is_err(),
            "choke with payload"
        );
        assert!(
            Message::decode(&[0, 0, 0, 5, 7, 0, 0, 0, 0]).is_err(),
            "short piece"
        );
        assert!(
            Message::decode(&[0, 0, 0, 1, 20]).is_err(),
            "extended without id"
        );
        assert_eq!(
            Message::decode(&[0, 0, 0, 1, 99]).unwrap(),
            Some((Message::Unknown(99), 5))
        );
    }

    #[test]
    fn bitfields() {
        let mut field = Bitfield::new(10);
        field.set(0);
        field.set(9);
        field.set(10);
        assert_eq!(field.as_bytes(), [0x80, 0x40]);
        assert!(field.has(9) && !field.has(1) && !field.has(10));
        assert_eq!(field.count(), 2);
        assert!(Bitfield::full(10).is_full());
        assert!(Bitfield::from_bytes(&[0x80, 0x40], 10).is_some());
        assert!(
            Bitfield::from_bytes(&[0x80, 0x41], 10).is_none(),
            "spare bit set"
        );
        assert!(Bitfield::from_bytes(&[0x80], 10).is_none(), "short");
    }
}
