//! The extension protocol's handshake (BEP 10) and the metadata exchange (BEP 9,
//! `ut_metadata`): how a client that has only a magnet link gets the `info` dictionary from
//! its peers, in 16 KiB pieces, checked against the info-hash before it is used.

use crate::bencode::{decode, decode_prefix, text, Value};
use crate::Sha1Hash;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// Our id for `ut_metadata` messages (peers send them to us with it).
pub const UT_METADATA: u8 = 3;
/// Bytes per metadata piece.
pub const PIECE: usize = 16 * 1024;
/// The largest metadata accepted (an `info` dictionary of a very large torrent is a few MiB).
pub const MAX_METADATA: usize = 16 * 1024 * 1024;

/// What a peer's extension handshake says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Its id for `ut_metadata`, if it speaks it.
    pub ut_metadata: Option<u8>,
    /// The size of its metadata, if it has it.
    pub metadata_size: Option<usize>,
    /// Its client name (`v`).
    pub client: Option<String>,
}

/// Our extension handshake: `ut_metadata` under [`UT_METADATA`], our metadata's size when we
/// have it, our client name.
pub fn encode_handshake(metadata_size: Option<usize>) -> Vec<u8> {
    let mut m = BTreeMap::new();
    m.insert(b"ut_metadata".to_vec(), Value::Int(i64::from(UT_METADATA)));
    let mut root = BTreeMap::new();
    root.insert(b"m".to_vec(), Value::Dict(m));
    if let Some(size) = metadata_size {
        root.insert(b"metadata_size".to_vec(), Value::Int(size as i64));
    }
    root.insert(b"v".to_vec(), text("applayer"));
    Value::Dict(root).encode()
}

/// A peer's extension handshake (unknown keys ignored; not bencode: `None`).
pub fn decode_handshake(payload: &[u8]) -> Option<ExtHandshake> {
    let (root, _) = decode_prefix(payload).ok()?;
    let ut_metadata = root
        .get("m")
        .and_then(|m| m.get("ut_metadata"))
        .and_then(Value::as_int)
        .and_then(|id| u8::try_from(id).ok())
        .filter(|id| *id != 0);
    let metadata_size = root
        .get("metadata_size")
        .and_then(Value::as_int)
        .and_then(|size| usize::try_from(size).ok())
        .filter(|size| *size > 0 && *size <= MAX_METADATA);
    Some(ExtHandshake {
        ut_metadata,
        metadata_size,
        client: root.get("v").and_then(Value::as_str).map(str::to_string),
    })
}

/// A `ut_metadata` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Asks for piece `n`.
    Request(u32),
    /// Piece `piece` of `total_size` bytes of metadata.
    Data {
        /// Which piece.
        piece: u32,
        /// The whole metadata's size.
        total_size: usize,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Will not send piece `n`.
    Reject(u32),
}

fn dict(msg_type: i64, piece: u32, total_size: Option<usize>) -> Vec<u8> {
    let mut root = BTreeMap::new();
    root.insert(b"msg_type".to_vec(), Value::Int(msg_type));
    root.insert(b"piece".to_vec(), Value::Int(i64::from(piece)));
    if let Some(size) = total_size {
        root.insert(b"total_size".to_vec(), Value::Int(size as i64));
    }
    Value::Dict(root).encode()
}

impl MetadataMessage {
    /// The payload (after the extended message's id).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            MetadataMessage::Request(piece) => dict(0, *piece, None),
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                let mut out = dict(1, *piece, Some(*total_size));
                out.extend_from_slice(data);
                out
            }
            MetadataMessage::Reject(piece) => dict(2, *piece, None),
        }
    }

    /// A payload (`None`: not a `ut_metadata` message).
    pub fn decode(payload: &[u8]) -> Option<MetadataMessage> {
        let (root, used) = decode_prefix(payload).ok()?;
        let piece = u32::try_from(root.get("piece")?.as_int()?).ok()?;
        match root.get("msg_type")?.as_int()? {
            0 => Some(MetadataMessage::Request(piece)),
            1 => Some(MetadataMessage::Data {
                piece,
                total_size: usize::try_from(root.get("total_size")?.as_int()?).ok()?,
                data: payload[used..].to_vec(),
            }),
            2 => Some(MetadataMessage::Reject(piece)),
            _ => None,
        }
    }
}

/// Our answer to a peer's metadata request, from our `info` bytes.
pub fn answer(info_bytes: &[u8], piece: u32) -> MetadataMessage {
    let start = piece as usize * PIECE;
    if start >= info_bytes.len() {
        return MetadataMessage::Reject(piece);
    }
    let end = (start + PIECE).min(info_bytes.len());
    MetadataMessage::Data {
        piece,
        total_size: info_bytes.len(),
        data: info_bytes[start..end].to_vec(),
    }
}

/// Collects the metadata's pieces.
#[derive(Clone, Debug)]
pub struct MetadataAssembler {
    size: usize,
    pieces: Vec<Option<Vec<u8>>>,
}

impl MetadataAssembler {
    /// For metadata of `size` bytes (`None` when the size is out of bounds).
    pub fn new(size: usize) -> Option<MetadataAssembler> {
        if size == 0 || size > MAX_METADATA {
            return None;
        }
        Some(MetadataAssembler {
            size,
            pieces: vec![None; size.div_ceil(PIECE)],
        })
    }

    /// How many pieces there are.
    pub fn piece_count(&self) -> u32 {
        self.pieces.len() as u32
    }

    /// Stores piece `piece` if its size is right (false otherwise).
    pub fn add(&mut self, piece: u32, total_size: usize, data: &[u8]) -> bool {
        let index = piece as usize;
        let expected = PIECE.min(self.size.saturating_sub(index * PIECE));
        if total_size != self.size || index >= self.pieces.len() || data.len() != expected {
            return false;
        }
        self.pieces[index] = Some(data.to_vec());
        true
    }

    /// Whether every piece is in.
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(Option::is_some)
    }

    /// The metadata, if complete and its SHA-1 is `info_hash` (else the pieces are
    /// forgotten, to be asked again of another peer).
    pub fn finish(&mut self, info_hash: &Sha1Hash) -> Option<Vec<u8>> {
        if !self.is_complete() {
            return None;
        }
        let bytes: Vec<u8> = self.pieces.iter().flatten().flatten().copied().collect();
        let hash: Sha1Hash = Sha1::digest(&bytes).into();
        if hash == *info_hash && decode(&bytes).is_ok() {
            Some(bytes)
        } else {
            self.pieces.iter_mut().for_each(|piece| *piece = None);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{Extras, TorrentBuilder};
    use crate::metainfo::Metainfo;

    #[test]
    fn metadata_round_trip_between_two_sides() {
        let data = vec![7u8; 50_000];
        let files: Vec<(Vec<String>, u64)> = (0..600)
            .map(|i| (vec![format!("file-{i:04}.bin")], 40_000 / 600 + 1))
            .collect();
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        let mut builder = TorrentBuilder::new("many", &files, 16 * 1024).unwrap();
        builder.feed(&data[..total as usize]);
        let torrent = builder.finish(&Extras::default()).unwrap();
        let meta = Metainfo::parse(&torrent).unwrap();
        assert!(
            meta.info_bytes.len() > PIECE,
            "more than one metadata piece"
        );
        // The seeder's handshake and answers; the magnet side assembles and checks.
        let theirs = decode_handshake(&encode_handshake(Some(meta.info_bytes.len()))).unwrap();
        assert_eq!(theirs.ut_metadata, Some(UT_METADATA));
        let mut assembler = MetadataAssembler::new(theirs.metadata_size.unwrap()).unwrap();
        for piece in 0..assembler.piece_count() {
            let request = MetadataMessage::decode(&MetadataMessage::Request(piece).encode());
            let Some(MetadataMessage::Request(asked)) = request else {
                panic!("not a request");
            };
            match MetadataMessage::decode(&answer(&meta.info_bytes, asked).encode()).unwrap() {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    assert!(assembler.add(piece, total_size, &data));
                }
                other => panic!("{other:?}"),
            }
        }
        let info = assembler.finish(&meta.info_hash).expect("checked metadata");
        let rebuilt = Metainfo::from_info_bytes(&info, vec![]).unwrap();
        assert_eq!(rebuilt.info, meta.info);
        assert_eq!(rebuilt.info_hash, meta.info_hash);
        // Wrong sizes and a wrong hash are refused.
        let mut bad = MetadataAssembler::new(meta.info_bytes.len()).unwrap();
        assert!(!bad.add(0, meta.info_bytes.len(), &[1, 2, 3]));
        assert!(!bad.add(99, meta.info_bytes.len(), &[]));
        for piece in 0..bad.piece_count() {
            let MetadataMessage::Data { data, .. } = answer(&meta.info_bytes, piece) else {
                panic!();
            };
            assert!(bad.add(piece, meta.info_bytes.len(), &data));
        }
        assert_eq!(bad.finish(&[0; 20]), None);
        assert!(!bad.is_complete(), "forgotten after a bad hash");
        assert_eq!(answer(&meta.info_bytes, 99), MetadataMessage::Reject(99));
        assert!(MetadataAssembler::new(MAX_METADATA + 1).is_none());
    }
}
