//! The numeric code spaces of DNS: record types, classes, opcodes and response codes.
//!
//! Each is a newtype over its wire integer with named constants, so an unknown value from the
//! wire is kept as it is (RFC 3597) and still prints (`TYPE65280`, `CLASS3`, `RCODE23`).

use std::fmt;
use std::str::FromStr;

macro_rules! code_space {
    (
        $(#[$meta:meta])*
        $type:ident($int:ty), unknown = $prefix:literal,
        { $( $(#[$cmeta:meta])* $konst:ident = $value:literal, $text:literal; )* }
    ) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $type(pub $int);

        impl $type {
            $( $(#[$cmeta])* pub const $konst: $type = $type($value); )*

            /// The mnemonic, if this value has one.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.mnemonic() {
                    Some(text) => f.write_str(text),
                    None => write!(f, concat!($prefix, "{}"), self.0),
                }
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $type {
            type Err = UnknownMnemonic;

            /// Accepts the mnemonic in any case, or the generic form (`TYPE65280`).
            fn from_str(text: &str) -> Result<$type, UnknownMnemonic> {
                $( if text.eq_ignore_ascii_case($text) { return Ok($type::$konst); } )*
                let prefix_len = $prefix.len();
                if text.len() > prefix_len
                    && text.is_char_boundary(prefix_len)
                    && text[..prefix_len].eq_ignore_ascii_case($prefix)
                {
                    if let Ok(value) = text[prefix_len..].parse::<$int>() {
                        return Ok($type(value));
                    }
                }
                Err(UnknownMnemonic(text.to_string()))
            }
        }

        impl From<$int> for $type {
            fn from(value: $int) -> $type {
                $type(value)
            }
        }

        impl From<$type> for $int {
            fn from(value: $type) -> $int {
                value.0
            }
        }
    };
}

/// A mnemonic that names no known code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mnemonic {0:?}")]
pub struct UnknownMnemonic(pub String);

code_space! {
    /// A resource record type (RFC 1035 §3.2.2 and later RFCs), or a query type.
    RecordType(u16), unknown = "TYPE", {
        /// IPv4 address.
        A = 1, "A";
        /// Authoritative name server.
        NS = 2, "NS";
        /// Canonical name (alias).
        CNAME = 5, "CNAME";
        /// Start of authority.
        SOA = 6, "SOA";
        /// Domain name pointer.
        PTR = 12, "PTR";
        /// Host information.
        HINFO = 13, "HINFO";
        /// Mail exchange.
        MX = 15, "MX";
        /// Text strings.
        TXT = 16, "TXT";
        /// IPv6 address (RFC 3596).
        AAAA = 28, "AAAA";
        /// Service location (RFC 2782).
        SRV = 33, "SRV";
        /// Delegation name (RFC 6672).
        DNAME = 39, "DNAME";
        /// EDNS(0) pseudo-record (RFC 6891).
        OPT = 41, "OPT";
        /// Delegation signer (RFC 4034).
        DS = 43, "DS";
        /// DNSSEC signature (RFC 4034).
        RRSIG = 46, "RRSIG";
        /// Next secure (RFC 4034).
        NSEC = 47, "NSEC";
        /// DNSSEC key (RFC 4034).
        DNSKEY = 48, "DNSKEY";
        /// Transaction signature (RFC 8945).
        TSIG = 250, "TSIG";
        /// Incremental zone transfer (query only).
        IXFR = 251, "IXFR";
        /// Full zone transfer (query only).
        AXFR = 252, "AXFR";
        /// Any type (query only).
        ANY = 255, "ANY";
        /// Certification authority authorization (RFC 8659).
        CAA = 257, "CAA";
    }
}

code_space! {
    /// A class (RFC 1035 §3.2.4).
    Class(u16), unknown = "CLASS", {
        /// The Internet.
        IN = 1, "IN";
        /// Chaos.
        CH = 3, "CH";
        /// Hesiod.
        HS = 4, "HS";
        /// RFC 2136 "none" (delete a record in UPDATE).
        NONE = 254, "NONE";
        /// Any class (query) or "delete all" (UPDATE).
        ANY = 255, "ANY";
    }
}

code_space! {
    /// A header opcode (4 bits).
    Opcode(u8), unknown = "OPCODE", {
        /// A standard query.
        QUERY = 0, "QUERY";
        /// Inverse query (obsolete, RFC 3425).
        IQUERY = 1, "IQUERY";
        /// Server status request.
        STATUS = 2, "STATUS";
        /// Zone change notification (RFC 1996).
        NOTIFY = 4, "NOTIFY";
        /// Dynamic update (RFC 2136).
        UPDATE = 5, "UPDATE";
    }
}

code_space! {
    /// A response code, extended to 12 bits by EDNS(0) (RFC 6891 §6.1.3).
    ///
    /// Codes 16–18 mean BADVERS in an OPT context and BADSIG/BADKEY/BADTIME in a TSIG record;
    /// the mnemonic printed is the EDNS one for 16.
    Rcode(u16), unknown = "RCODE", {
        /// No error.
        NOERROR = 0, "NOERROR";
        /// The query was malformed.
        FORMERR = 1, "FORMERR";
        /// The server failed.
        SERVFAIL = 2, "SERVFAIL";
        /// The name does not exist.
        NXDOMAIN = 3, "NXDOMAIN";
        /// The opcode is not implemented.
        NOTIMP = 4, "NOTIMP";
        /// Refused by policy.
        REFUSED = 5, "REFUSED";
        /// UPDATE: a name exists that should not.
        YXDOMAIN = 6, "YXDOMAIN";
        /// UPDATE: an RRset exists that should not.
        YXRRSET = 7, "YXRRSET";
        /// UPDATE: an RRset that should exist does not.
        NXRRSET = 8, "NXRRSET";
        /// Not authoritative for the zone (or TSIG failed, RFC 8945).
        NOTAUTH = 9, "NOTAUTH";
        /// UPDATE: a name is not in the zone.
        NOTZONE = 10, "NOTZONE";
        /// Unsupported EDNS version (in OPT); also BADSIG in TSIG.
        BADVERS = 16, "BADVERS";
        /// TSIG: key not recognised.
        BADKEY = 17, "BADKEY";
        /// TSIG: signature outside the time window.
        BADTIME = 18, "BADTIME";
    }
}

impl Rcode {
    /// TSIG: the signature failed to verify (same value as BADVERS).
    pub const BADSIG: Rcode = Rcode(16);

    /// The low four bits carried in the header.
    pub fn low(self) -> u8 {
        (self.0 & 0x0F) as u8
    }

    /// The high eight bits carried in the OPT record.
    pub fn high(self) -> u8 {
        ((self.0 >> 4) & 0xFF) as u8
    }
}

impl RecordType {
    /// Whether the type is a question-only meta type (AXFR, IXFR, ANY) or OPT/TSIG.
    pub fn is_meta(self) -> bool {
        matches!(self.0, 41 | 128..=255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_and_generic_forms() {
        assert_eq!(RecordType::AAAA.to_string(), "AAAA");
        assert_eq!(RecordType(65280).to_string(), "TYPE65280");
        assert_eq!("aaaa".parse::<RecordType>().unwrap(), RecordType::AAAA);
        assert_eq!(
            "TYPE65280".parse::<RecordType>().unwrap(),
            RecordType(65280)
        );
        assert_eq!("type1".parse::<RecordType>().unwrap(), RecordType::A);
        assert!("TYPE".parse::<RecordType>().is_err());
        assert!("TYPE70000".parse::<RecordType>().is_err());
        assert!("ÄÄÄÄÄ".parse::<RecordType>().is_err());
        assert_eq!(Class(3).to_string(), "CH");
        assert_eq!("CLASS7".parse::<Class>().unwrap(), Class(7));
        assert_eq!(Rcode(23).to_string(), "RCODE23");
        assert_eq!(Rcode::BADVERS.high(), 1);
        assert_eq!(Rcode::BADVERS.low(), 0);
    }
}
