//! Building a `.torrent`: the files' bytes are fed in order (the driver reads them), hashed
//! into pieces across file boundaries, and the metainfo is encoded canonically.

use crate::bencode::{text, Value};
use crate::metainfo::safe_component;
use crate::Sha1Hash;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// The smallest piece length chosen.
pub const MIN_PIECE: u64 = 16 * 1024;
/// The largest piece length chosen.
pub const MAX_PIECE: u64 = 16 * 1024 * 1024;
/// The piece count [`default_piece_length`] aims under.
pub const TARGET_PIECES: u64 = 1500;

/// The piece length for `total` bytes when none is given: the smallest power of two from
/// 16 KiB to 16 MiB that keeps the torrent under about 1,500 pieces (a 100 MiB file gets
/// 128 KiB pieces, 800 of them; 4 GiB gets 4 MiB pieces).
pub fn default_piece_length(total: u64) -> u64 {
    let mut length = MIN_PIECE;
    while length < MAX_PIECE && total.div_ceil(length) > TARGET_PIECES {
        length *= 2;
    }
    length
}

/// What besides the files goes into the torrent.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// Tracker tiers (BEP 12); the first URL is also `announce`.
    pub trackers: Vec<Vec<String>>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date` (seconds since the epoch).
    pub creation_date: Option<i64>,
    /// BEP 27 private flag.
    pub private: bool,
    /// BEP 19 web seeds.
    pub web_seeds: Vec<String>,
}

/// Why a torrent cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No files, or only empty ones.
    #[error("nothing to share: no bytes in the files")]
    Empty,
    /// A name or path component that a client would refuse.
    #[error("unsafe path component {0:?}")]
    UnsafePath(String),
    /// The piece length is not a power of two of at least 16 KiB.
    #[error("piece length {0} is not a power of two of at least 16 KiB")]
    PieceLength(u64),
    /// The bytes fed differ from the files' declared lengths.
    #[error("fed {fed} bytes for files of {declared}")]
    Length {
        /// Bytes fed.
        fed: u64,
        /// Bytes declared.
        declared: u64,
    },
}

/// Hashes the files' bytes into pieces; see the crate example.
#[derive(Clone, Debug)]
pub struct TorrentBuilder {
    name: String,
    files: Vec<(Vec<String>, u64)>,
    piece_length: u64,
    pieces: Vec<Sha1Hash>,
    current: Sha1,
    in_piece: u64,
    fed: u64,
    declared: u64,
}

impl TorrentBuilder {
    /// A builder for `name` with `files` (path below the folder, length) in order; one file
    /// with an empty path makes a single-file torrent.
    pub fn new(
        name: &str,
        files: &[(Vec<String>, u64)],
        piece_length: u64,
    ) -> Result<TorrentBuilder, BuildError> {
        if !safe_component(name) {
            return Err(BuildError::UnsafePath(name.to_string()));
        }
        for (path, _) in files {
            if let Some(bad) = path.iter().find(|part| !safe_component(part)) {
                return Err(BuildError::UnsafePath(bad.clone()));
            }
        }
        if piece_length < MIN_PIECE || !piece_length.is_power_of_two() {
            return Err(BuildError::PieceLength(piece_length));
        }
        let declared: u64 = files.iter().map(|(_, length)| length).sum();
        if declared == 0 {
            return Err(BuildError::Empty);
        }
        Ok(TorrentBuilder {
            name: name.to_string(),
            files: files.to_vec(),
            piece_length,
            pieces: Vec::with_capacity(declared.div_ceil(piece_length) as usize),
            current: Sha1::new(),
            in_piece: 0,
            fed: 0,
            declared,
        })
    }

    /// The next bytes of the files, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> &mut Self {
        self.fed += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = (self.piece_length - self.in_piece) as usize;
            let take = room.min(bytes.len());
            self.current.update(&bytes[..take]);
            self.in_piece += take as u64;
            bytes = &bytes[take..];
            if self.in_piece == self.piece_length {
                let done = std::mem::replace(&mut self.current, Sha1::new());
                self.pieces.push(done.finalize().into());
                self.in_piece = 0;
            }
        }
        self
    }

    /// The encoded `.torrent`.
    pub fn finish(&self, extras: &Extras) -> Result<Vec<u8>, BuildError> {
        if self.fed != self.declared {
            return Err(BuildError::Length {
                fed: self.fed,
                declared: self.declared,
            });
        }
        let mut pieces = self.pieces.clone();
        if self.in_piece > 0 {
            pieces.push(self.current.clone().finalize().into());
        }
        let mut info = BTreeMap::new();
        let single = self.files.len() == 1 && self.files[0].0.is_empty();
        if single {
            info.insert(b"length".to_vec(), Value::Int(self.declared as i64));
        } else {
            let files = self
                .files
                .iter()
                .map(|(path, length)| {
                    let mut file = BTreeMap::new();
                    file.insert(b"length".to_vec(), Value::Int(*length as i64));
                    file.insert(
                        b"path".to_vec(),
                        Value::List(path.iter().map(|part| text(part)).collect()),
                    );
                    Value::Dict(file)
                })
                .collect();
            info.insert(b"files".to_vec(), Value::List(files));
        }
        info.insert(b"name".to_vec(), text(&self.name));
        info.insert(
            b"piece length".to_vec(),
            Value::Int(self.piece_length as i64),
        );
        info.insert(b"pieces".to_vec(), Value::Bytes(pieces.concat()));
        if extras.private {
            info.insert(b"private".to_vec(), Value::Int(1));
        }
        let mut root = BTreeMap::new();
        let trackers: Vec<&Vec<String>> = extras
            .trackers
            .iter()
            .filter(|tier| !tier.is_empty())
            .collect();
        if let Some(first) = trackers.first().and_then(|tier| tier.first()) {
            root.insert(b"announce".to_vec(), text(first));
        }
        if trackers.iter().map(|tier| tier.len()).sum::<usize>() > 1 {
            let tiers = trackers
                .iter()
                .map(|tier| Value::List(tier.iter().map(|url| text(url)).collect()))
                .collect();
            root.insert(b"announce-list".to_vec(), Value::List(tiers));
        }
        if let Some(comment) = &extras.comment {
            root.insert(b"comment".to_vec(), text(comment));
        }
        if let Some(created_by) = &extras.created_by {
            root.insert(b"created by".to_vec(), text(created_by));
        }
        if let Some(date) = extras.creation_date {
            root.insert(b"creation date".to_vec(), Value::Int(date));
        }
        root.insert(b"info".to_vec(), Value::Dict(info));
        if !extras.web_seeds.is_empty() {
            let seeds = extras.web_seeds.iter().map(|url| text(url)).collect();
            root.insert(b"url-list".to_vec(), Value::List(seeds));
        }
        Ok(Value::Dict(root).encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::Metainfo;

    #[test]
    fn pieces_span_file_boundaries() {
        let files = [
            (vec!["a".to_string()], 20_000),
            (vec!["d".into(), "b".into()], 20_000),
        ];
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut builder = TorrentBuilder::new("folder", &files, 16 * 1024).unwrap();
        // Fed in odd pieces, as a driver's reads may be.
        for chunk in data.chunks(7_000) {
            builder.feed(chunk);
        }
        let extras = Extras {
            trackers: vec![vec!["http://t/announce".into()], vec!["udp://u:1".into()]],
            private: true,
            ..Extras::default()
        };
        let meta = Metainfo::parse(&builder.finish(&extras).unwrap()).unwrap();
        assert_eq!(meta.info.pieces.len(), 3);
        let expected: Sha1Hash = Sha1::digest(&data[16_384..32_768]).into();
        assert_eq!(meta.info.pieces[1], expected);
        assert_eq!(meta.info.piece_size(2), 40_000 - 32_768);
        assert!(meta.info.multi_file && meta.info.private);
        assert_eq!(meta.info.display_path(&meta.info.files[1]), "folder/d/b");
        assert_eq!(meta.trackers.len(), 2);
    }

    #[test]
    fn refusals_and_defaults() {
        assert!(TorrentBuilder::new("..", &[(vec![], 1)], MIN_PIECE).is_err());
        assert!(TorrentBuilder::new("a", &[(vec![], 0)], MIN_PIECE).is_err());
        assert!(TorrentBuilder::new("a", &[(vec![], 1)], 20_000).is_err());
        let mut short = TorrentBuilder::new("a", &[(vec![], 10)], MIN_PIECE).unwrap();
        assert!(short.feed(b"abc").finish(&Extras::default()).is_err());
        assert_eq!(default_piece_length(1), MIN_PIECE);
        assert_eq!(default_piece_length(100 << 20), 128 << 10);
        assert_eq!(default_piece_length(4 << 30), 4 << 20);
        assert_eq!(default_piece_length(u64::MAX / 2), MAX_PIECE);
    }
}
