//! The stored-entry model and its on-disk record format.
//!
//! A record is one file: a fixed 32-byte header, the encoded [`EntryMeta`], then the body.
//!
//! ```text
//! magic "HCACHE01" | meta_len u32 | meta_crc u32 | body_len u64 | body_crc u32 | header_crc u32
//! meta (meta_len bytes) | body (body_len bytes)
//! ```
//!
//! All integers big-endian; CRC-32 (IEEE). A writer writes the meta and body to a temporary
//! file, then the header (whose checksums cover everything), fsyncs, and renames into place, so
//! a crash leaves either no record or a whole one. A reader trusts a record only if the header
//! checksum, the lengths (against the file size) and the meta checksum hold, and checks the body
//! checksum as it reads the body: a torn or corrupted record is never served.

use crate::freshness::{from_unix_seconds, unix_seconds};
use http_proto::HeaderMap;
use std::time::SystemTime;

/// The size of the fixed record header.
pub const RECORD_HEADER_LEN: usize = 32;
const MAGIC: &[u8; 8] = b"HCACHE01";
/// The largest meta section accepted when decoding (headers of one response).
pub const MAX_META_LEN: u32 = 1 << 20;

/// Everything stored about one response except its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// The primary key (`GET http://host/path`).
    pub key: String,
    /// The secondary key: selecting fields and their normalised request values (§4.1).
    pub variant: Vec<(String, Option<Vec<u8>>)>,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The stored header fields (hop-by-hop fields and `Age` removed).
    pub fields: HeaderMap,
    /// When the request that produced (or last validated) the response was sent.
    pub request_time: SystemTime,
    /// When that response was received.
    pub response_time: SystemTime,
    /// The `Age` received with that response (`age_value` of §4.2.3).
    pub age_value: u64,
    /// The body length in bytes.
    pub body_len: u64,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than its header says, or than a header.
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// Not a record of this format.
    #[error("bad record magic")]
    BadMagic,
    /// A checksum did not match.
    #[error("{part} checksum mismatch")]
    Checksum {
        /// `header`, `meta` or `body`.
        part: &'static str,
    },
    /// The meta section is malformed.
    #[error("malformed meta section")]
    Malformed,
    /// The meta section is larger than [`MAX_META_LEN`].
    #[error("meta section of {len} bytes is too large")]
    TooLarge {
        /// Its length.
        len: u32,
    },
}

/// The fixed header of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Length of the meta section.
    pub meta_len: u32,
    /// CRC-32 of the meta section.
    pub meta_crc: u32,
    /// Length of the body.
    pub body_len: u64,
    /// CRC-32 of the body.
    pub body_crc: u32,
}

impl RecordHeader {
    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut out = [0u8; RECORD_HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&self.meta_len.to_be_bytes());
        out[12..16].copy_from_slice(&self.meta_crc.to_be_bytes());
        out[16..24].copy_from_slice(&self.body_len.to_be_bytes());
        out[24..28].copy_from_slice(&self.body_crc.to_be_bytes());
        let crc = crc32(&out[..28]);
        out[28..32].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes and checks a header; `file_len` is the whole record's size on disk.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Self, RecordError> {
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(RecordError::Truncated {
                need: RECORD_HEADER_LEN as u64,
                have: bytes.len() as u64,
            });
        }
        if &bytes[..8] != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if crc32(&bytes[..28]) != word(28) {
            return Err(RecordError::Checksum { part: "header" });
        }
        let mut body_len = [0u8; 8];
        body_len.copy_from_slice(&bytes[16..24]);
        let header = RecordHeader {
            meta_len: word(8),
            meta_crc: word(12),
            body_len: u64::from_be_bytes(body_len),
            body_crc: word(24),
        };
        if header.meta_len > MAX_META_LEN {
            return Err(RecordError::TooLarge {
                len: header.meta_len,
            });
        }
        let need = header.record_len();
        if file_len != need {
            return Err(RecordError::Truncated {
                need,
                have: file_len,
            });
        }
        Ok(header)
    }

    /// The whole record's length.
    pub fn record_len(&self) -> u64 {
        (RECORD_HEADER_LEN as u64)
            .saturating_add(u64::from(self.meta_len))
            .saturating_add(self.body_len)
    }

    /// Byte offset of the body in the record.
    pub fn body_offset(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.meta_len)
    }
}

impl EntryMeta {
    /// Encodes the meta section.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        put_bytes(&mut out, self.key.as_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
        put_bytes(&mut out, self.reason.as_bytes());
        out.extend_from_slice(&unix_millis(self.request_time).to_be_bytes());
        out.extend_from_slice(&unix_millis(self.response_time).to_be_bytes());
        out.extend_from_slice(&self.age_value.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&(self.variant.len() as u32).to_be_bytes());
        for (name, value) in &self.variant {
            put_bytes(&mut out, name.as_bytes());
            match value {
                Some(value) => {
                    out.push(1);
                    put_bytes(&mut out, value);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.fields.len() as u32).to_be_bytes());
        for (name, value) in self.fields.iter() {
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        out
    }

    /// Decodes a meta section.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut reader = Reader { bytes, at: 0 };
        let key = reader.string()?;
        let status = u16::from_be_bytes(reader.array::<2>()?);
        let reason = reader.string()?;
        let request_time = from_millis(u64::from_be_bytes(reader.array::<8>()?));
        let response_time = from_millis(u64::from_be_bytes(reader.array::<8>()?));
        let age_value = u64::from_be_bytes(reader.array::<8>()?);
        let body_len = u64::from_be_bytes(reader.array::<8>()?);
        let variants = u32::from_be_bytes(reader.array::<4>()?);
        let mut variant = Vec::new();
        for _ in 0..variants {
            let name = reader.string()?;
            let value = match reader.array::<1>()?[0] {
                0 => None,
                1 => Some(reader.bytes()?.to_vec()),
                _ => return Err(RecordError::Malformed),
            };
            variant.push((name, value));
        }
        let count = u32::from_be_bytes(reader.array::<4>()?);
        let mut fields = HeaderMap::new();
        for _ in 0..count {
            let name = reader.string()?;
            let value = reader.string()?;
            fields.append(name, value);
        }
        if reader.at != bytes.len() {
            return Err(RecordError::Malformed);
        }
        Ok(EntryMeta {
            key,
            variant,
            status,
            reason,
            fields,
            request_time,
            response_time,
            age_value,
            body_len,
        })
    }

    /// A record header for this meta (encoded as `meta`) and a body with checksum `body_crc`.
    pub fn record_header(meta: &[u8], body_len: u64, body_crc: u32) -> RecordHeader {
        RecordHeader {
            meta_len: meta.len() as u32,
            meta_crc: crc32(meta),
            body_len,
            body_crc,
        }
    }
}

/// Encodes a whole record (header, meta, body) in memory: for small bodies and tests.
pub fn encode_record(meta: &EntryMeta, body: &[u8]) -> Vec<u8> {
    let encoded = meta.encode();
    let header = EntryMeta::record_header(&encoded, body.len() as u64, crc32(body));
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + encoded.len() + body.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(body);
    out
}

/// Decodes and fully checks an in-memory record.
pub fn decode_record(bytes: &[u8]) -> Result<(EntryMeta, &[u8]), RecordError> {
    let header = RecordHeader::decode(bytes, bytes.len() as u64)?;
    let meta_end = RECORD_HEADER_LEN + header.meta_len as usize;
    let meta_bytes = &bytes[RECORD_HEADER_LEN..meta_end];
    if crc32(meta_bytes) != header.meta_crc {
        return Err(RecordError::Checksum { part: "meta" });
    }
    let meta = EntryMeta::decode(meta_bytes)?;
    let body = &bytes[meta_end..];
    if crc32(body) != header.body_crc {
        return Err(RecordError::Checksum { part: "body" });
    }
    if meta.body_len != header.body_len {
        return Err(RecordError::Malformed);
    }
    Ok((meta, body))
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|gap| gap.as_millis() as u64)
        .unwrap_or(0)
}

fn from_millis(millis: u64) -> SystemTime {
    from_unix_seconds(millis / 1000) + std::time::Duration::from_millis(millis % 1000)
}

/// Whole seconds of a stored time (for `Date`-like comparisons).
pub fn stored_seconds(time: SystemTime) -> u64 {
    unix_seconds(time)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let end = self.at.checked_add(N).ok_or(RecordError::Malformed)?;
        let slice = self.bytes.get(self.at..end).ok_or(RecordError::Malformed)?;
        self.at = end;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let len = u32::from_be_bytes(self.array::<4>()?) as usize;
        let end = self.at.checked_add(len).ok_or(RecordError::Malformed)?;
        let slice = self.bytes.get(self.at..end).ok_or(RecordError::Malformed)?;
        self.at = end;
        Ok(slice)
    }

    fn string(&mut self) -> Result<String, RecordError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| RecordError::Malformed)
    }
}

/// An incremental CRC-32 (IEEE 802.3, reflected, as in zlib): `crc32fast`'s, so records
/// written with the table-driven one this replaced still check.
#[derive(Clone, Debug, Default)]
pub struct Crc32(crc32fast::Hasher);

impl Crc32 {
    /// A fresh checksum.
    pub fn new() -> Self {
        Self(crc32fast::Hasher::new())
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything added.
    pub fn finish(&self) -> u32 {
        self.0.clone().finalize()
    }
}

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            key: "GET http://h/x".into(),
            variant: vec![
                ("accept".into(), Some(b"text/html".to_vec())),
                ("cookie".into(), None),
            ],
            status: 200,
            reason: "OK".into(),
            fields: [("Content-Type", "text/plain")].into_iter().collect(),
            request_time: from_millis(1_700_000_000_123),
            response_time: from_millis(1_700_000_000_456),
            age_value: 3,
            body_len: 5,
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn record_round_trip() {
        let record = encode_record(&meta(), b"hello");
        let (decoded, body) = decode_record(&record).unwrap();
        assert_eq!(decoded, meta());
        assert_eq!(body, b"hello");
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_rejected() {
        let record = encode_record(&meta(), b"hello");
        for end in 0..record.len() {
            assert!(
                decode_record(&record[..end]).is_err(),
                "prefix of {end} bytes accepted"
            );
        }
        for index in 0..record.len() {
            let mut flipped = record.clone();
            flipped[index] ^= 0x10;
            assert!(decode_record(&flipped).is_err(), "flip at {index} accepted");
        }
    }

    #[test]
    fn meta_decoder_never_panics_on_prefixes_or_noise() {
        let encoded = meta().encode();
        for end in 0..encoded.len() {
            let _ = EntryMeta::decode(&encoded[..end]);
        }
        let mut state: u32 = 7;
        for _ in 0..500 {
            let noise: Vec<u8> = (0..64)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = EntryMeta::decode(&noise);
            let _ = decode_record(&noise);
        }
    }
}
