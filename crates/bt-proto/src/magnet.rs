//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>...`, the
//! info-hash as 40 hex digits or 32 base32 letters.

use crate::metainfo::Metainfo;
use crate::Sha1Hash;

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash.
    pub info_hash: Sha1Hash,
    /// `dn`: the display name.
    pub name: Option<String>,
    /// `tr`: trackers, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses (`host:port`).
    pub peers: Vec<String>,
}

/// Why a string is not a usable magnet link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// It does not start with `magnet:?`.
    #[error("not a magnet link")]
    NotMagnet,
    /// No `xt=urn:btih:` with a valid v1 info-hash.
    #[error("no urn:btih info-hash (40 hex digits or 32 base32 letters)")]
    NoInfoHash,
    /// A percent-escape that is not two hex digits, or text that is not UTF-8.
    #[error("bad percent-encoding in {0:?}")]
    Encoding(String),
}

impl Magnet {
    /// The magnet link of a torrent (its name and every tracker), as transmission-show
    /// `--magnet` writes it.
    pub fn of(meta: &Metainfo) -> Magnet {
        Magnet {
            info_hash: meta.info_hash,
            name: Some(meta.info.name.clone()),
            trackers: meta.trackers.iter().flatten().cloned().collect(),
            peers: Vec::new(),
        }
    }

    /// Parses a magnet URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = uri.strip_prefix("magnet:?").ok_or(MagnetError::NotMagnet)?;
        let mut magnet = Magnet {
            info_hash: [0; 20],
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
        };
        let mut found = false;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)?;
            match key {
                "xt" => {
                    if let Some(hash) = value.strip_prefix("urn:btih:").and_then(parse_info_hash) {
                        magnet.info_hash = hash;
                        found = true;
                    }
                }
                "dn" => magnet.name = Some(value),
                "tr" => magnet.trackers.push(value),
                "x.pe" => magnet.peers.push(value),
                _ => {}
            }
        }
        if !found {
            return Err(MagnetError::NoInfoHash);
        }
        Ok(magnet)
    }
}

impl std::fmt::Display for Magnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "magnet:?xt=urn:btih:{}", crate::hex(&self.info_hash))?;
        if let Some(name) = &self.name {
            write!(f, "&dn={}", percent_encode(name))?;
        }
        for tracker in &self.trackers {
            write!(f, "&tr={}", percent_encode(tracker))?;
        }
        for peer in &self.peers {
            write!(f, "&x.pe={}", percent_encode(peer))?;
        }
        Ok(())
    }
}

/// 40 hex digits or 32 base32 letters (RFC 4648, either case).
pub fn parse_info_hash(text: &str) -> Option<Sha1Hash> {
    let mut hash = [0u8; 20];
    match text.len() {
        40 => {
            for (index, pair) in text.as_bytes().chunks(2).enumerate() {
                hash[index] = hex_pair(Some(pair))?;
            }
        }
        32 => {
            let mut bits: u64 = 0;
            let mut count = 0;
            let mut at = 0;
            for byte in text.bytes() {
                let value = match byte.to_ascii_uppercase() {
                    letter @ b'A'..=b'Z' => letter - b'A',
                    digit @ b'2'..=b'7' => digit - b'2' + 26,
                    _ => return None,
                };
                bits = (bits << 5) | u64::from(value);
                count += 5;
                if count >= 8 {
                    count -= 8;
                    hash[at] = (bits >> count) as u8;
                    at += 1;
                }
            }
        }
        _ => return None,
    }
    Some(hash)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Two hex digits (exactly: no sign) as a byte.
pub(crate) fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let digit = |byte: u8| (byte as char).to_digit(16);
    match pair? {
        [high, low] => Some((digit(*high)? * 16 + digit(*low)?) as u8),
        _ => None,
    }
}

fn percent_decode(text: &str) -> Result<String, MagnetError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let pair = hex_pair(bytes.get(at + 1..at + 3))
                    .ok_or_else(|| MagnetError::Encoding(text.to_string()))?;
                out.push(pair);
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| MagnetError::Encoding(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_base32() {
        let text = "magnet:?xt=urn:btih:b9a440c2262c72b221833bc3fd38f1a7b9fcab17&dn=multi&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp%3A%2F%2F127.0.0.1%3A6969";
        let magnet = Magnet::parse(text).unwrap();
        assert_eq!(magnet.trackers[1], "udp://127.0.0.1:6969");
        assert_eq!(magnet.to_string(), text);
        // The same hash in base32.
        let base32 = Magnet::parse("magnet:?xt=urn:btih:xgsebqrgfrzleimdhpb72ohru647zkyx").unwrap();
        assert_eq!(base32.info_hash, magnet.info_hash);
        assert!(Magnet::parse("magnet:?dn=x").is_err());
        assert!(Magnet::parse("http://x").is_err());
        assert!(Magnet::parse("magnet:?xt=urn:btih:zz").is_err());
        assert!(Magnet::parse(
            "magnet:?xt=urn:btih:b9a440c2262c72b221833bc3fd38f1a7b9fcab17&dn=%zz"
        )
        .is_err());
    }
}
