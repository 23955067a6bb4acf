//! Record data: the typed RDATA of the supported types, opaque RDATA for the rest (RFC 3597).

use crate::error::DecodeError;
use crate::name::Name;
use crate::types::{Rcode, RecordType};
use crate::wire::Encoder;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The RDATA of one record.
///
/// The rare large variants (SOA, CAA, TSIG) are boxed so that the enum, and with it every
/// record a big zone holds, stays small.
///
/// A record with an empty RDATA whose type cannot be empty (as UPDATE deletions send, RFC 2136
/// §2.5.2) decodes as [`Rdata::Unknown`] with no data, whatever its type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rdata {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Name server.
    Ns(Name),
    /// Canonical name.
    Cname(Name),
    /// Pointer.
    Ptr(Name),
    /// Start of authority.
    Soa(Box<Soa>),
    /// Mail exchange.
    Mx(Mx),
    /// One or more character strings, each at most 255 octets.
    Txt(Vec<Vec<u8>>),
    /// Service location.
    Srv(Srv),
    /// Certification authority authorization.
    Caa(Box<Caa>),
    /// EDNS(0) options (the OPT pseudo-record's data).
    Opt(Vec<EdnsOption>),
    /// Transaction signature.
    Tsig(Box<Tsig>),
    /// Any other type, or an empty RDATA: the bytes as they are.
    Unknown {
        /// The record type.
        rtype: RecordType,
        /// The raw RDATA.
        data: Vec<u8>,
    },
}

/// SOA RDATA (RFC 1035 §3.3.13).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Soa {
    /// The primary name server.
    pub mname: Name,
    /// The mailbox of the person responsible, as a name.
    pub rname: Name,
    /// The zone's version.
    pub serial: u32,
    /// Seconds between secondary refresh checks.
    pub refresh: u32,
    /// Seconds before a failed refresh is retried.
    pub retry: u32,
    /// Seconds after which a secondary stops answering without a refresh.
    pub expire: u32,
    /// The negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// MX RDATA (RFC 1035 §3.3.9).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mx {
    /// Lower is preferred.
    pub preference: u16,
    /// The mail server.
    pub exchange: Name,
}

/// SRV RDATA (RFC 2782).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Lower is preferred.
    pub priority: u16,
    /// Relative weight among equal priorities.
    pub weight: u16,
    /// The service's port.
    pub port: u16,
    /// The host (`.` means "not available").
    pub target: Name,
}

/// CAA RDATA (RFC 8659).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caa {
    /// Flags (bit 7: issuer critical).
    pub flags: u8,
    /// The property tag (`issue`, `issuewild`, `iodef`).
    pub tag: Vec<u8>,
    /// The property value.
    pub value: Vec<u8>,
}

/// One EDNS(0) option (RFC 6891 §6.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EdnsOption {
    /// The option code.
    pub code: u16,
    /// The option data.
    pub data: Vec<u8>,
}

/// TSIG RDATA (RFC 8945 §4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tsig {
    /// The algorithm name, such as `hmac-sha256.`.
    pub algorithm: Name,
    /// Seconds since the epoch (48 bits on the wire).
    pub time_signed: u64,
    /// Allowed clock difference in seconds.
    pub fudge: u16,
    /// The MAC.
    pub mac: Vec<u8>,
    /// The message ID before any forwarder changed it.
    pub original_id: u16,
    /// The TSIG error (BADSIG, BADKEY, BADTIME ...).
    pub error: Rcode,
    /// Other data (the server's time on BADTIME).
    pub other: Vec<u8>,
}

/// A cursor over the RDATA of one record inside a whole message (names may point back into it).
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
    rtype: RecordType,
}

impl Reader<'_> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError::BadRdata {
            rtype: self.rtype.to_string(),
            reason,
        }
    }

    fn bytes(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        if self.end - self.pos < len {
            return Err(self.error("shorter than its fields"));
        }
        let bytes = &self.msg[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn name(&mut self) -> Result<Name, DecodeError> {
        let (name, next) = Name::decode(&self.msg[..self.end], self.pos)?;
        self.pos = next;
        Ok(name)
    }

    fn rest(&mut self) -> Vec<u8> {
        let rest = self.msg[self.pos..self.end].to_vec();
        self.pos = self.end;
        rest
    }

    fn character_string(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.u8()? as usize;
        Ok(self.bytes(len)?.to_vec())
    }
}

impl Rdata {
    /// The record type this RDATA belongs to.
    pub fn rtype(&self) -> RecordType {
        match self {
            Rdata::A(_) => RecordType::A,
            Rdata::Aaaa(_) => RecordType::AAAA,
            Rdata::Ns(_) => RecordType::NS,
            Rdata::Cname(_) => RecordType::CNAME,
            Rdata::Ptr(_) => RecordType::PTR,
            Rdata::Soa(_) => RecordType::SOA,
            Rdata::Mx(_) => RecordType::MX,
            Rdata::Txt(_) => RecordType::TXT,
            Rdata::Srv(_) => RecordType::SRV,
            Rdata::Caa(_) => RecordType::CAA,
            Rdata::Opt(_) => RecordType::OPT,
            Rdata::Tsig(_) => RecordType::TSIG,
            Rdata::Unknown { rtype, .. } => *rtype,
        }
    }

    /// The target name this RDATA points at for additional-section processing (NS, MX, SRV)
    /// or alias chasing (CNAME).
    pub fn target(&self) -> Option<&Name> {
        match self {
            Rdata::Ns(name) | Rdata::Cname(name) | Rdata::Ptr(name) => Some(name),
            Rdata::Mx(mx) => Some(&mx.exchange),
            Rdata::Srv(srv) => Some(&srv.target),
            _ => None,
        }
    }

    /// Decodes `len` bytes of RDATA of type `rtype` at `pos` in the whole message `msg`.
    pub fn decode(
        rtype: RecordType,
        msg: &[u8],
        pos: usize,
        len: usize,
    ) -> Result<Rdata, DecodeError> {
        let end = pos.checked_add(len).ok_or(DecodeError::Truncated)?;
        if end > msg.len() {
            return Err(DecodeError::Truncated);
        }
        if len == 0 && rtype != RecordType::OPT {
            return Ok(Rdata::Unknown {
                rtype,
                data: Vec::new(),
            });
        }
        let mut reader = Reader {
            msg,
            pos,
            end,
            rtype,
        };
        let rdata = match rtype {
            RecordType::A => {
                let bytes = reader.bytes(4)?;
                Rdata::A(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            }
            RecordType::AAAA => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(reader.bytes(16)?);
                Rdata::Aaaa(Ipv6Addr::from(octets))
            }
            RecordType::NS => Rdata::Ns(reader.name()?),
            RecordType::CNAME => Rdata::Cname(reader.name()?),
            RecordType::PTR => Rdata::Ptr(reader.name()?),
            RecordType::SOA => Rdata::Soa(Box::new(Soa {
                mname: reader.name()?,
                rname: reader.name()?,
                serial: reader.u32()?,
                refresh: reader.u32()?,
                retry: reader.u32()?,
                expire: reader.u32()?,
                minimum: reader.u32()?,
            })),
            RecordType::MX => Rdata::Mx(Mx {
                preference: reader.u16()?,
                exchange: reader.name()?,
            }),
            RecordType::TXT => {
                let mut strings = Vec::new();
                while reader.pos < reader.end {
                    strings.push(reader.character_string()?);
                }
                Rdata::Txt(strings)
            }
            RecordType::SRV => Rdata::Srv(Srv {
                priority: reader.u16()?,
                weight: reader.u16()?,
                port: reader.u16()?,
                target: reader.name()?,
            }),
            RecordType::CAA => {
                let flags = reader.u8()?;
                let tag = reader.character_string()?;
                if tag.is_empty() {
                    return Err(reader.error("empty tag"));
                }
                Rdata::Caa(Box::new(Caa {
                    flags,
                    tag,
                    value: reader.rest(),
                }))
            }
            RecordType::OPT => {
                let mut options = Vec::new();
                while reader.pos < reader.end {
                    let code = reader.u16()?;
                    let len = reader.u16()? as usize;
                    options.push(EdnsOption {
                        code,
                        data: reader.bytes(len)?.to_vec(),
                    });
                }
                Rdata::Opt(options)
            }
            RecordType::TSIG => {
                let algorithm = reader.name()?;
                let high = reader.u16()? as u64;
                let low = reader.u32()? as u64;
                let fudge = reader.u16()?;
                let mac_len = reader.u16()? as usize;
                let mac = reader.bytes(mac_len)?.to_vec();
                let original_id = reader.u16()?;
                let error = Rcode(reader.u16()?);
                let other_len = reader.u16()? as usize;
                let other = reader.bytes(other_len)?.to_vec();
                Rdata::Tsig(Box::new(Tsig {
                    algorithm,
                    time_signed: (high << 32) | low,
                    fudge,
                    mac,
                    original_id,
                    error,
                    other,
                }))
            }
            _ => Rdata::Unknown {
                rtype,
                data: reader.rest(),
            },
        };
        if reader.pos != end {
            return Err(reader.error("longer than its fields"));
        }
        Ok(rdata)
    }

    /// Appends the RDATA (without RDLENGTH) to `encoder`.
    ///
    /// RFC 3597 §4: only the RFC 1035 types (NS, CNAME, PTR, SOA, MX) get compressed names.
    pub(crate) fn encode(&self, encoder: &mut Encoder) {
        match self {
            Rdata::A(addr) => encoder.bytes(&addr.octets()),
            Rdata::Aaaa(addr) => encoder.bytes(&addr.octets()),
            Rdata::Ns(name) | Rdata::Cname(name) | Rdata::Ptr(name) => encoder.name(name, true),
            Rdata::Soa(soa) => {
                encoder.name(&soa.mname, true);
                encoder.name(&soa.rname, true);
                for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                    encoder.u32(value);
                }
            }
            Rdata::Mx(mx) => {
                encoder.u16(mx.preference);
                encoder.name(&mx.exchange, true);
            }
            Rdata::Txt(strings) => {
                for string in strings {
                    encoder.character_string(string);
                }
            }
            Rdata::Srv(srv) => {
                encoder.u16(srv.priority);
                encoder.u16(srv.weight);
                encoder.u16(srv.port);
                encoder.name(&srv.target, false);
            }
            Rdata::Caa(caa) => {
                encoder.u8(caa.flags);
                encoder.character_string(&caa.tag);
                encoder.bytes(&caa.value);
            }
            Rdata::Opt(options) => {
                for option in options {
                    encoder.u16(option.code);
                    encoder.u16(option.data.len() as u16);
                    encoder.bytes(&option.data);
                }
            }
            Rdata::Tsig(tsig) => {
                encoder.name(&tsig.algorithm, false);
                encoder.u16((tsig.time_signed >> 32) as u16);
                encoder.u32(tsig.time_signed as u32);
                encoder.u16(tsig.fudge);
                encoder.u16(tsig.mac.len() as u16);
                encoder.bytes(&tsig.mac);
                encoder.u16(tsig.original_id);
                encoder.u16(tsig.error.0);
                encoder.u16(tsig.other.len() as u16);
                encoder.bytes(&tsig.other);
            }
            Rdata::Unknown { data, .. } => encoder.bytes(data),
        }
    }

    /// The RDATA in uncompressed wire form (used for RFC 3597 output and TSIG).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut encoder = Encoder::uncompressed();
        self.encode(&mut encoder);
        encoder.finish()
    }
}

/// Writes a character string in presentation format: quoted, with `"` and `\` escaped and
/// non-printable bytes as `\DDD`.
pub(crate) fn write_character_string(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => write!(f, "\\{}", byte as char)?,
            0x20..=0x7E => write!(f, "{}", byte as char)?,
            _ => write!(f, "\\{byte:03}")?,
        }
    }
    f.write_str("\"")
}

/// Writes the RFC 3597 generic form `\# LEN HEX`.
fn write_generic(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    write!(f, "\\# {}", data.len())?;
    if !data.is_empty() {
        f.write_str(" ")?;
        for byte in data {
            write!(f, "{byte:02X}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Rdata {
    /// Presentation (zone file / dig) format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rdata::A(addr) => write!(f, "{addr}"),
            Rdata::Aaaa(addr) => write!(f, "{addr}"),
            Rdata::Ns(name) | Rdata::Cname(name) | Rdata::Ptr(name) => write!(f, "{name}"),
            Rdata::Soa(soa) => write!(
                f,
                "{} {} {} {} {} {} {}",
                soa.mname, soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum
            ),
            Rdata::Mx(mx) => write!(f, "{} {}", mx.preference, mx.exchange),
            Rdata::Txt(strings) => {
                for (i, string) in strings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write_character_string(f, string)?;
                }
                Ok(())
            }
            Rdata::Srv(srv) => write!(
                f,
                "{} {} {} {}",
                srv.priority, srv.weight, srv.port, srv.target
            ),
            Rdata::Caa(caa) => {
                write!(f, "{} {} ", caa.flags, String::from_utf8_lossy(&caa.tag))?;
                write_character_string(f, &caa.value)
            }
            Rdata::Tsig(tsig) => {
                use base64::Engine;
                let engine = base64::engine::general_purpose::STANDARD;
                write!(
                    f,
                    "{} {} {} {} {} {} {} {}",
                    tsig.algorithm,
                    tsig.time_signed,
                    tsig.fudge,
                    tsig.mac.len(),
                    engine.encode(&tsig.mac),
                    tsig.original_id,
                    tsig.error,
                    tsig.other.len()
                )
            }
            Rdata::Opt(_) => write_generic(f, &self.to_wire()),
            Rdata::Unknown { data, .. } => write_generic(f, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Record;

    #[test]
    fn records_stay_small() {
        // A million-record zone holds a million of these: the large variants are boxed.
        assert!(
            std::mem::size_of::<Rdata>() <= 40,
            "{}",
            std::mem::size_of::<Rdata>()
        );
        assert!(
            std::mem::size_of::<Record>() <= 72,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    use super::*;

    #[test]
    fn decode_rejects_bad_lengths_and_never_panics() {
        let soa = Rdata::Soa(Box::new(Soa {
            mname: "ns.example".parse().unwrap(),
            rname: "admin.example".parse().unwrap(),
            serial: 1,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum: 5,
        }));
        let wire = soa.to_wire();
        assert_eq!(
            Rdata::decode(RecordType::SOA, &wire, 0, wire.len()).unwrap(),
            soa
        );
        for len in 1..wire.len() {
            assert!(Rdata::decode(RecordType::SOA, &wire, 0, len).is_err());
        }
        assert!(Rdata::decode(RecordType::A, &[1, 2, 3, 4, 5], 0, 5).is_err());
        assert!(Rdata::decode(RecordType::A, &[1, 2, 3], 0, 4).is_err());
        assert!(Rdata::decode(RecordType::A, &[1, 2, 3], usize::MAX, 4).is_err());
    }

    #[test]
    fn presentation() {
        let txt = Rdata::Txt(vec![b"hello \"world\"".to_vec(), vec![0, b'\\']]);
        assert_eq!(txt.to_string(), r#""hello \"world\"" "\000\\""#);
        let unknown = Rdata::Unknown {
            rtype: RecordType(65280),
            data: vec![10, 0, 0, 1],
        };
        assert_eq!(unknown.to_string(), "\\# 4 0A000001");
        let caa = Rdata::Caa(Box::new(Caa {
            flags: 0,
            tag: b"issue".to_vec(),
            value: b"ca.example".to_vec(),
        }));
        assert_eq!(caa.to_string(), "0 issue \"ca.example\"");
    }
}
