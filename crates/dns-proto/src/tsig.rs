//! TSIG (RFC 8945) with HMAC-SHA256: signing and verifying encoded messages.
//!
//! Both functions work on wire bytes, because the MAC covers the exact bytes sent. Time comes
//! in as an argument (seconds since the epoch); nothing here reads a clock.
//!
//! ```
//! use dns_proto::tsig::{self, TsigKey};
//! use dns_proto::{Message, Question, RecordType};
//! let key = TsigKey::from_base64("registrar-key", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
//! let query = Message::query(1, Question::new("com".parse().unwrap(), RecordType::SOA), false);
//! let mut wire = query.encode();
//! let request_mac = tsig::sign(&mut wire, &key, 1_700_000_000, None);
//! let verified = tsig::verify(&wire, |name| (name == &key.name).then_some(&key), 1_700_000_010, None).unwrap();
//! assert_eq!(verified.key_name, key.name);
//! # let _ = request_mac;
//! ```

use crate::error::DecodeError;
use crate::message::{Header, HEADER_LEN};
use crate::name::Name;
use crate::rdata::{Rdata, Tsig};
use crate::types::{Class, Rcode, RecordType};
use crate::Record;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The default allowed clock difference, RFC 8945 §10: 300 seconds.
pub const DEFAULT_FUDGE: u16 = 300;

/// A shared TSIG key (HMAC-SHA256).
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name, as both sides know it (`registrar-key.`).
    pub name: Name,
    /// The algorithm name; only `hmac-sha256.` is supported.
    pub algorithm: Name,
    /// The secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "TsigKey({} {})", self.name, self.algorithm)
    }
}

/// The algorithm name for HMAC-SHA256.
pub fn hmac_sha256() -> Name {
    Name::from_labels([b"hmac-sha256".as_slice()]).expect("a valid constant name")
}

impl TsigKey {
    /// An HMAC-SHA256 key.
    pub fn new(name: Name, secret: Vec<u8>) -> TsigKey {
        TsigKey {
            name,
            algorithm: hmac_sha256(),
            secret,
        }
    }

    /// An HMAC-SHA256 key from its name and base64 secret (as in BIND/NSD/Knot key files).
    pub fn from_base64(name: &str, secret: &str) -> Result<TsigKey, TsigError> {
        use base64::Engine;
        let name: Name = name.parse().map_err(|_| TsigError::BadKeyConfig)?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| TsigError::BadKeyConfig)?;
        Ok(TsigKey::new(name, secret))
    }
}

/// Why a TSIG check failed; [`TsigError::rcode`] gives the TSIG error code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TsigError {
    /// The message has no TSIG record.
    #[error("message is not signed")]
    Unsigned,
    /// The message could not be parsed.
    #[error("malformed message: {0}")]
    Malformed(#[from] DecodeError),
    /// The key name is unknown or the algorithm is not HMAC-SHA256.
    #[error("unknown key {0}")]
    BadKey(Name),
    /// The MAC does not verify.
    #[error("bad signature")]
    BadSig,
    /// The signing time is outside the fudge window.
    #[error("signature time {signed} is more than {fudge}s from now ({now})")]
    BadTime {
        /// When the message says it was signed.
        signed: u64,
        /// Our time.
        now: u64,
        /// The allowed difference.
        fudge: u16,
    },
    /// The peer reports a TSIG error in its (response) TSIG record.
    #[error("peer reports TSIG error {0}")]
    PeerError(Rcode),
    /// A key name or base64 secret that cannot be used.
    #[error("bad key name or secret")]
    BadKeyConfig,
}

impl TsigError {
    /// The TSIG error code a server puts in its response (with rcode NOTAUTH).
    pub fn rcode(&self) -> Rcode {
        match self {
            TsigError::BadKey(_) => Rcode::BADKEY,
            TsigError::BadTime { .. } => Rcode::BADTIME,
            TsigError::Malformed(_) => Rcode::FORMERR,
            _ => Rcode::BADSIG,
        }
    }
}

/// What a successful [`verify`] learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed.
    pub key_name: Name,
    /// The MAC of the message (needed to sign the response to it).
    pub mac: Vec<u8>,
    /// When it was signed.
    pub time_signed: u64,
}

/// The TSIG variables that enter the MAC besides the key (RFC 8945 §4.3.3).
struct Variables<'a> {
    time_signed: u64,
    fudge: u16,
    error: Rcode,
    other: &'a [u8],
    /// Only the timers (later messages of a multi-message response).
    timers_only: bool,
}

/// Computes the MAC of RFC 8945 §4.3.3 over `stripped` (the message without its TSIG record,
/// with the original ID and ARCOUNT) and the TSIG variables.
fn compute_mac(
    key: &TsigKey,
    request_mac: Option<&[u8]>,
    stripped: &[u8],
    variables: &Variables<'_>,
) -> Vec<u8> {
    let Variables {
        time_signed,
        fudge,
        error,
        other,
        timers_only,
    } = *variables;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC accepts a key of any length");
    if let Some(request_mac) = request_mac {
        mac.update(&(request_mac.len() as u16).to_be_bytes());
        mac.update(request_mac);
    }
    mac.update(stripped);
    if timers_only {
        // RFC 8945 §5.3.1: later messages of a multi-message response cover only the timers.
        mac.update(&((time_signed >> 32) as u16).to_be_bytes());
        mac.update(&(time_signed as u32).to_be_bytes());
        mac.update(&fudge.to_be_bytes());
        return mac.finalize().into_bytes().to_vec();
    }
    // Key name and algorithm in canonical (lower-case, uncompressed) form.
    mac.update(key.name.to_lowercase().as_wire());
    mac.update(&Class::ANY.0.to_be_bytes());
    mac.update(&0u32.to_be_bytes());
    mac.update(key.algorithm.to_lowercase().as_wire());
    mac.update(&((time_signed >> 32) as u16).to_be_bytes());
    mac.update(&(time_signed as u32).to_be_bytes());
    mac.update(&fudge.to_be_bytes());
    mac.update(&error.0.to_be_bytes());
    mac.update(&(other.len() as u16).to_be_bytes());
    mac.update(other);
    mac.finalize().into_bytes().to_vec()
}

/// Signs the encoded message `wire` in place: appends a TSIG record and increments ARCOUNT.
/// Returns the MAC (a client keeps it to verify the response).
///
/// `request_mac` is the MAC of the request when signing a response.
pub fn sign(wire: &mut Vec<u8>, key: &TsigKey, now: u64, request_mac: Option<&[u8]>) -> Vec<u8> {
    sign_with_error(wire, key, now, request_mac, Rcode::NOERROR)
}

/// Like [`sign`], with a TSIG error code (BADTIME responses are signed, RFC 8945 §5.2.3).
pub fn sign_with_error(
    wire: &mut Vec<u8>,
    key: &TsigKey,
    now: u64,
    request_mac: Option<&[u8]>,
    error: Rcode,
) -> Vec<u8> {
    sign_inner(wire, key, now, request_mac, error, false)
}

/// Signs a later message of a multi-message response (a zone transfer), chaining from the
/// MAC of the previous message (RFC 8945 §5.3.1). Returns this message's MAC.
pub fn sign_continuation(wire: &mut Vec<u8>, key: &TsigKey, now: u64, prior_mac: &[u8]) -> Vec<u8> {
    sign_inner(wire, key, now, Some(prior_mac), Rcode::NOERROR, true)
}

fn sign_inner(
    wire: &mut Vec<u8>,
    key: &TsigKey,
    now: u64,
    request_mac: Option<&[u8]>,
    error: Rcode,
    timers_only: bool,
) -> Vec<u8> {
    let Ok(header) = Header::decode(wire) else {
        return Vec::new();
    };
    let other = if error == Rcode::BADTIME {
        let mut other = Vec::with_capacity(6);
        other.extend_from_slice(&((now >> 32) as u16).to_be_bytes());
        other.extend_from_slice(&(now as u32).to_be_bytes());
        other
    } else {
        Vec::new()
    };
    let variables = Variables {
        time_signed: now,
        fudge: DEFAULT_FUDGE,
        error,
        other: &other,
        timers_only,
    };
    let mac = compute_mac(key, request_mac, wire, &variables);
    let record = Record {
        name: key.name.clone(),
        class: Class::ANY,
        ttl: 0,
        rdata: Rdata::Tsig(Box::new(Tsig {
            algorithm: key.algorithm.clone(),
            time_signed: now,
            fudge: DEFAULT_FUDGE,
            mac: mac.clone(),
            original_id: header.id,
            error,
            other,
        })),
    };
    let mut encoder = crate::wire::Encoder::uncompressed();
    record.encode(&mut encoder);
    wire.extend_from_slice(&encoder.finish());
    let arcount = header.arcount.wrapping_add(1);
    wire[10..12].copy_from_slice(&arcount.to_be_bytes());
    mac
}

/// Finds the TSIG record of `wire`: its start offset and the record, if the last record of
/// the message is a TSIG record.
pub fn find(wire: &[u8]) -> Result<Option<(usize, Record)>, DecodeError> {
    let header = Header::decode(wire)?;
    let mut pos = HEADER_LEN;
    for _ in 0..header.qdcount {
        let (_, next) = Name::decode(wire, pos)?;
        pos = next + 4;
    }
    let total = header.ancount as usize + header.nscount as usize + header.arcount as usize;
    let mut last = None;
    for _ in 0..total {
        let (record, next) = Record::decode(wire, pos)?;
        last = Some((pos, record));
        pos = next;
    }
    if pos != wire.len() {
        return Err(DecodeError::TrailingBytes {
            count: wire.len().saturating_sub(pos),
        });
    }
    Ok(last.filter(|(_, record)| header.arcount > 0 && record.rtype() == RecordType::TSIG))
}

/// Verifies the TSIG record that ends `wire`, looking the key up by name with `key_for`.
///
/// `now` is our time in seconds since the epoch; `request_mac` is the MAC of our request when
/// verifying a response.
pub fn verify<'k, F>(
    wire: &[u8],
    key_for: F,
    now: u64,
    request_mac: Option<&[u8]>,
) -> Result<Verified, TsigError>
where
    F: FnOnce(&Name) -> Option<&'k TsigKey>,
{
    verify_inner(wire, key_for, now, request_mac, false)
}

/// Verifies a later message of a multi-message response signed with
/// [`sign_continuation`], given the MAC of the previous signed message.
pub fn verify_continuation(
    wire: &[u8],
    key: &TsigKey,
    now: u64,
    prior_mac: &[u8],
) -> Result<Verified, TsigError> {
    verify_inner(wire, |_| Some(key), now, Some(prior_mac), true)
}

fn verify_inner<'k, F>(
    wire: &[u8],
    key_for: F,
    now: u64,
    request_mac: Option<&[u8]>,
    timers_only: bool,
) -> Result<Verified, TsigError>
where
    F: FnOnce(&Name) -> Option<&'k TsigKey>,
{
    let (start, record) = find(wire)?.ok_or(TsigError::Unsigned)?;
    let Rdata::Tsig(tsig) = &record.rdata else {
        return Err(TsigError::Unsigned);
    };
    let key = key_for(&record.name)
        .filter(|key| key.algorithm == tsig.algorithm)
        .ok_or_else(|| TsigError::BadKey(record.name.clone()))?;
    let mut stripped = wire[..start].to_vec();
    let header = Header::decode(&stripped)?;
    stripped[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    stripped[10..12].copy_from_slice(&header.arcount.saturating_sub(1).to_be_bytes());
    let variables = Variables {
        time_signed: tsig.time_signed,
        fudge: tsig.fudge,
        error: tsig.error,
        other: &tsig.other,
        timers_only,
    };
    let expected = compute_mac(key, request_mac, &stripped, &variables);
    // Compare every byte, so the time taken does not reveal where the first difference is.
    let same = expected.len() == tsig.mac.len()
        && expected
            .iter()
            .zip(&tsig.mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(TsigError::BadSig);
    }
    if tsig.error != Rcode::NOERROR {
        return Err(TsigError::PeerError(tsig.error));
    }
    if now.abs_diff(tsig.time_signed) > tsig.fudge as u64 {
        return Err(TsigError::BadTime {
            signed: tsig.time_signed,
            now,
            fudge: tsig.fudge,
        });
    }
    Ok(Verified {
        key_name: record.name.clone(),
        mac: tsig.mac.clone(),
        time_signed: tsig.time_signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Question};

    fn key() -> TsigKey {
        TsigKey::from_base64("tld-key", "AAECAwQFBgcICQoLDA0ODw==").unwrap()
    }

    fn query() -> Vec<u8> {
        Message::query(
            99,
            Question::new("networkutopia.com".parse().unwrap(), RecordType::SOA),
            false,
        )
        .encode()
    }

    #[test]
    fn sign_then_verify_request_and_response() {
        let key = key();
        let mut request = query();
        let request_mac = sign(&mut request, &key, 1000, None);
        let decoded = Message::decode(&request).unwrap();
        assert_eq!(decoded.additional.last().unwrap().rtype(), RecordType::TSIG);
        let lookup = |name: &Name| (name == &key.name).then_some(&key);
        let verified = verify(&request, lookup, 1100, None).unwrap();
        assert_eq!(verified.mac, request_mac);

        let mut response = Message::response_to(&Message::decode(&query()).unwrap()).encode();
        sign(&mut response, &key, 1001, Some(&request_mac));
        assert!(verify(&response, lookup, 1001, Some(&request_mac)).is_ok());
        assert_eq!(
            verify(&response, lookup, 1001, None),
            Err(TsigError::BadSig)
        );
    }

    #[test]
    fn continuation_messages_chain_their_macs() {
        let key = key();
        let mut first = query();
        let first_mac = sign(&mut first, &key, 1000, Some(b"request-mac"));
        let mut second = query();
        let second_mac = sign_continuation(&mut second, &key, 1000, &first_mac);
        assert!(verify_continuation(&second, &key, 1000, &first_mac).is_ok());
        assert_eq!(
            verify_continuation(&second, &key, 1000, &second_mac),
            Err(TsigError::BadSig)
        );
        // A continuation is not a full-variables signature.
        assert!(verify(&second, |_| Some(&key), 1000, Some(&first_mac)).is_err());
    }

    #[test]
    fn rejects_tampering_time_and_unknown_keys() {
        let key = key();
        let lookup = |name: &Name| (name == &key.name).then_some(&key);
        let mut request = query();
        sign(&mut request, &key, 1000, None);
        assert!(matches!(
            verify(&request, lookup, 2000, None),
            Err(TsigError::BadTime { .. })
        ));
        let mut tampered = request.clone();
        tampered[3] ^= 0x01;
        assert_eq!(
            verify(&tampered, lookup, 1000, None),
            Err(TsigError::BadSig)
        );
        let other = TsigKey::from_base64("other-key", "AAAA").unwrap();
        let mut signed_by_other = query();
        sign(&mut signed_by_other, &other, 1000, None);
        assert!(matches!(
            verify(&signed_by_other, lookup, 1000, None),
            Err(TsigError::BadKey(_))
        ));
        assert_eq!(
            verify(&query(), lookup, 1000, None),
            Err(TsigError::Unsigned)
        );
        for len in 0..request.len() {
            assert!(verify(&request[..len], lookup, 1000, None).is_err());
        }
    }
}
