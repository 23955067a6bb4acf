//! `.torrent` metainfo v1 (BEP 3), single- and multi-file, with BEP 12 tracker tiers and
//! BEP 19 web seeds. Parsing checks what a client relies on: the piece table matches the
//! total length, and every name and path component is one safe component (no `/`, `..`,
//! NUL or empty), so no torrent can write outside its folder.

use crate::bencode::{decode_with_spans, BencodeError, Value};
use crate::Sha1Hash;
use sha1::{Digest, Sha1};

/// A file of the torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the torrent's folder (empty for a single-file torrent, whose
    /// file is the torrent's name).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
}

/// The `info` dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The suggested file (single-file) or folder (multi-file) name.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// The SHA-1 of each piece.
    pub pieces: Vec<Sha1Hash>,
    /// The files, in order (their bytes are concatenated into pieces).
    pub files: Vec<FileEntry>,
    /// Whether this is a multi-file torrent (`files` rather than `length`).
    pub multi_file: bool,
    /// BEP 27: only the torrent's trackers may be asked for peers.
    pub private: bool,
}

impl Info {
    /// All files' bytes.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|file| file.length).sum()
    }

    /// Length of piece `index` (the last one may be shorter).
    pub fn piece_size(&self, index: usize) -> u64 {
        let total = self.total_length();
        let start = self.piece_length.saturating_mul(index as u64);
        self.piece_length.min(total.saturating_sub(start))
    }

    /// The file's path as shown and stored: `name` for a single file, `name/a/b` otherwise.
    pub fn display_path(&self, file: &FileEntry) -> String {
        if self.multi_file {
            let mut path = self.name.clone();
            for part in &file.path {
                path.push('/');
                path.push_str(part);
            }
            path
        } else {
            self.name.clone()
        }
    }
}

/// A parsed `.torrent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// The `info` dictionary.
    pub info: Info,
    /// SHA-1 of the `info` dictionary's bytes as they are in the file.
    pub info_hash: Sha1Hash,
    /// Tracker tiers (BEP 12 `announce-list`, else the one `announce`).
    pub trackers: Vec<Vec<String>>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date` (seconds since the epoch).
    pub creation_date: Option<i64>,
    /// `comment`.
    pub comment: Option<String>,
    /// BEP 19 `url-list`.
    pub web_seeds: Vec<String>,
    /// The `info` dictionary's bytes as they are in the file (what BEP 9 hands to peers).
    pub info_bytes: Vec<u8>,
}

/// Why bytes are not a usable `.torrent`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    /// Not strict bencode.
    #[error("not bencode: {0}")]
    Bencode(BencodeError),
    /// A required key is missing or has the wrong type.
    #[error("missing or invalid {0}")]
    Field(&'static str),
    /// A name or path component that is empty, `.`, `..`, or holds `/` or NUL.
    #[error("unsafe path component {0:?}")]
    UnsafePath(String),
    /// The piece table does not cover the files exactly.
    #[error("{pieces} pieces of {piece_length} bytes do not fit {total} bytes")]
    PieceCount {
        /// Pieces in the table.
        pieces: usize,
        /// Bytes per piece.
        piece_length: u64,
        /// Total bytes.
        total: u64,
    },
}

impl From<BencodeError> for MetainfoError {
    fn from(error: BencodeError) -> Self {
        MetainfoError::Bencode(error)
    }
}

/// Whether `part` is one safe path component: not empty, `.` or `..`, no `/`, `\` or NUL,
/// and no drive prefix (`C:`), so no torrent reaches outside its download folder on any
/// system.
pub fn safe_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    !part.is_empty() && part != "." && part != ".." && !drive && !part.contains(['/', '\\', '\0'])
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_bytes)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

fn component(value: &Value) -> Result<String, MetainfoError> {
    let part = value.as_str().ok_or(MetainfoError::Field("path (UTF-8)"))?;
    if !safe_component(part) {
        return Err(MetainfoError::UnsafePath(part.to_string()));
    }
    Ok(part.to_string())
}

fn length(value: Option<&Value>, what: &'static str) -> Result<u64, MetainfoError> {
    value
        .and_then(Value::as_int)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(MetainfoError::Field(what))
}

impl Metainfo {
    /// Parses a `.torrent` file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let (root, spans) = decode_with_spans(bytes)?;
        let span = spans
            .get(&b"info"[..])
            .cloned()
            .ok_or(MetainfoError::Field("info"))?;
        let info = Info::from_value(root.get("info").ok_or(MetainfoError::Field("info"))?)?;
        let info_bytes = bytes[span].to_vec();
        let info_hash: Sha1Hash = Sha1::digest(&info_bytes).into();
        let mut trackers: Vec<Vec<String>> = root
            .get("announce-list")
            .and_then(Value::as_list)
            .map(|tiers| {
                tiers
                    .iter()
                    .filter_map(Value::as_list)
                    .map(|tier| tier.iter().filter_map(|url| text(Some(url))).collect())
                    .filter(|tier: &Vec<String>| !tier.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if trackers.is_empty() {
            if let Some(announce) = text(root.get("announce")).filter(|url| !url.is_empty()) {
                trackers.push(vec![announce]);
            }
        }
        let web_seeds = match root.get("url-list") {
            Some(Value::List(urls)) => urls.iter().filter_map(|url| text(Some(url))).collect(),
            Some(url @ Value::Bytes(_)) => text(Some(url)).into_iter().collect(),
            _ => Vec::new(),
        };
        Ok(Metainfo {
            info,
            info_hash,
            trackers,
            created_by: text(root.get("created by")),
            creation_date: root.get("creation date").and_then(Value::as_int),
            comment: text(root.get("comment")),
            web_seeds,
            info_bytes,
        })
    }

    /// A torrent from an `info` dictionary's bytes (BEP 9's metadata) and the trackers of a
    /// magnet link.
    pub fn from_info_bytes(
        info_bytes: &[u8],
        trackers: Vec<Vec<String>>,
    ) -> Result<Metainfo, MetainfoError> {
        let info = Info::from_value(&crate::bencode::decode(info_bytes)?)?;
        Ok(Metainfo {
            info,
            info_hash: Sha1::digest(info_bytes).into(),
            trackers,
            created_by: None,
            creation_date: None,
            comment: None,
            web_seeds: Vec::new(),
            info_bytes: info_bytes.to_vec(),
        })
    }

    /// The info-hash in lower-case hex.
    pub fn info_hash_hex(&self) -> String {
        crate::hex(&self.info_hash)
    }
}

impl Info {
    /// The `info` dictionary from its decoded value.
    pub fn from_value(info: &Value) -> Result<Info, MetainfoError> {
        let name = component(info.get("name").ok_or(MetainfoError::Field("name"))?)?;
        let piece_length = length(info.get("piece length"), "piece length")?;
        if piece_length == 0 {
            return Err(MetainfoError::Field("piece length"));
        }
        let table = info
            .get("pieces")
            .and_then(Value::as_bytes)
            .filter(|table| table.len() % 20 == 0)
            .ok_or(MetainfoError::Field("pieces"))?;
        let pieces: Vec<Sha1Hash> = table
            .chunks_exact(20)
            .map(|chunk| {
                let mut hash = [0u8; 20];
                hash.copy_from_slice(chunk);
                hash
            })
            .collect();
        let (files, multi_file) = match info.get("files") {
            Some(list) => {
                let list = list.as_list().ok_or(MetainfoError::Field("files"))?;
                let mut files = Vec::with_capacity(list.len());
                for file in list {
                    let path = file
                        .get("path")
                        .and_then(Value::as_list)
                        .filter(|path| !path.is_empty())
                        .ok_or(MetainfoError::Field("files.path"))?
                        .iter()
                        .map(component)
                        .collect::<Result<Vec<_>, _>>()?;
                    files.push(FileEntry {
                        path,
                        length: length(file.get("length"), "files.length")?,
                    });
                }
                if files.is_empty() {
                    return Err(MetainfoError::Field("files"));
                }
                (files, true)
            }
            None => (
                vec![FileEntry {
                    path: Vec::new(),
                    length: length(info.get("length"), "length")?,
                }],
                false,
            ),
        };
        let total = files
            .iter()
            .try_fold(0u64, |sum, file| sum.checked_add(file.length))
            .ok_or(MetainfoError::Field("length"))?;
        if total == 0 || total.div_ceil(piece_length) != pieces.len() as u64 {
            return Err(MetainfoError::PieceCount {
                pieces: pieces.len(),
                piece_length,
                total,
            });
        }
        Ok(Info {
            name,
            piece_length,
            pieces,
            files,
            multi_file,
            private: info.get("private").and_then(Value::as_int) == Some(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_and_inconsistent_torrents_are_refused() {
        let hash = "x".repeat(20);
        let ok = format!("d4:infod6:lengthi5e4:name1:a12:piece lengthi16e6:pieces20:{hash}ee");
        assert!(Metainfo::parse(ok.as_bytes()).is_ok());
        for (bad, why) in [
            (ok.replace("4:name1:a", "4:name2:.."), "dot-dot name"),
            (ok.replace("4:name1:a", "4:name3:C:x"), "drive prefix"),
            (ok.replace("4:name1:a", "4:name2:/x"), "absolute"),
            (ok.replace("6:lengthi5e", "6:lengthi50e"), "pieces do not cover"),
            (ok.replace("i16e", "i0e"), "zero piece length"),
            (ok.replace("20:xxxxxxxxxxxxxxxxxxxx", "19:xxxxxxxxxxxxxxxxxxx"), "ragged table"),
            (
                format!("d4:infod5:filesld6:lengthi5e4:pathl2:..1:beee4:name1:a12:piece lengthi16e6:pieces20:{hash}ee"),
                "dot-dot path",
            ),
            (
                format!("d4:infod5:filesld6:lengthi5e4:pathl3:a/beee4:name1:a12:piece lengthi16e6:pieces20:{hash}ee"),
                "slash in a component",
            ),
        ] {
            assert!(Metainfo::parse(bad.as_bytes()).is_err(), "{why}");
        }
    }
}
