//! DNS messages (RFC 1035 §4): header, question, the three record sections, EDNS(0).

use crate::error::DecodeError;
use crate::name::Name;
use crate::rdata::{EdnsOption, Rdata};
use crate::types::{Class, Opcode, Rcode, RecordType};
use crate::wire::Encoder;
use std::fmt;

/// The fixed header length.
pub const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: the UDP payload limit without EDNS(0).
pub const CLASSIC_UDP_SIZE: u16 = 512;

/// The single-bit header flags.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    /// This is a response.
    pub qr: bool,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// The reserved Z bit (kept for round trips; must be zero).
    pub z: bool,
    /// Authentic data (RFC 4035).
    pub ad: bool,
    /// Checking disabled (RFC 4035).
    pub cd: bool,
}

impl Flags {
    /// The flags in dig's order, lower case, separated by spaces (`qr aa rd`).
    pub fn to_dig_string(&self) -> String {
        let names = [
            (self.qr, "qr"),
            (self.aa, "aa"),
            (self.tc, "tc"),
            (self.rd, "rd"),
            (self.ra, "ra"),
            (self.ad, "ad"),
            (self.cd, "cd"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        set.join(" ")
    }
}

/// The 12-byte header as it is on the wire (counts included, rcode only 4 bits).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The query ID.
    pub id: u16,
    /// The flag bits.
    pub flags: Flags,
    /// The opcode.
    pub opcode: Opcode,
    /// The low four bits of the rcode.
    pub rcode: Rcode,
    /// Questions.
    pub qdcount: u16,
    /// Answer records.
    pub ancount: u16,
    /// Authority records.
    pub nscount: u16,
    /// Additional records.
    pub arcount: u16,
}

impl Header {
    /// Decodes the header alone, so a server can answer FORMERR to a message it cannot parse.
    pub fn decode(msg: &[u8]) -> Result<Header, DecodeError> {
        let bytes = msg.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
        let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let (high, low) = (bytes[2], bytes[3]);
        Ok(Header {
            id: word(0),
            flags: Flags {
                qr: high & 0x80 != 0,
                aa: high & 0x04 != 0,
                tc: high & 0x02 != 0,
                rd: high & 0x01 != 0,
                ra: low & 0x80 != 0,
                z: low & 0x40 != 0,
                ad: low & 0x20 != 0,
                cd: low & 0x10 != 0,
            },
            opcode: Opcode((high >> 3) & 0x0F),
            rcode: Rcode((low & 0x0F) as u16),
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    /// The 12 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let flags = &self.flags;
        let high = (flags.qr as u8) << 7
            | (self.opcode.0 & 0x0F) << 3
            | (flags.aa as u8) << 2
            | (flags.tc as u8) << 1
            | flags.rd as u8;
        let low = (flags.ra as u8) << 7
            | (flags.z as u8) << 6
            | (flags.ad as u8) << 5
            | (flags.cd as u8) << 4
            | self.rcode.low();
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..2].copy_from_slice(&self.id.to_be_bytes());
        bytes[2] = high;
        bytes[3] = low;
        bytes[4..6].copy_from_slice(&self.qdcount.to_be_bytes());
        bytes[6..8].copy_from_slice(&self.ancount.to_be_bytes());
        bytes[8..10].copy_from_slice(&self.nscount.to_be_bytes());
        bytes[10..12].copy_from_slice(&self.arcount.to_be_bytes());
        bytes
    }
}

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked about.
    pub name: Name,
    /// The type asked for.
    pub qtype: RecordType,
    /// The class asked for.
    pub qclass: Class,
}

impl Question {
    /// A question of class IN.
    pub fn new(name: Name, qtype: RecordType) -> Question {
        Question {
            name,
            qtype,
            qclass: Class::IN,
        }
    }
}

impl fmt::Display for Question {
    /// dig's question line: `;gaia.cs.umass.edu.\t\tIN\tA`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ";{}\t\t{}\t{}", self.name, self.qclass, self.qtype)
    }
}

/// A resource record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// The class (for OPT: the UDP payload size).
    pub class: Class,
    /// Time to live in seconds (for OPT: extended rcode, version and flags).
    pub ttl: u32,
    /// The data, which also gives the type.
    pub rdata: Rdata,
}

impl Record {
    /// A record of class IN.
    pub fn new(name: Name, ttl: u32, rdata: Rdata) -> Record {
        Record {
            name,
            class: Class::IN,
            ttl,
            rdata,
        }
    }

    /// The record's type.
    pub fn rtype(&self) -> RecordType {
        self.rdata.rtype()
    }

    /// Decodes the record at `pos` in `msg`; returns it and the position after it.
    pub fn decode(msg: &[u8], pos: usize) -> Result<(Record, usize), DecodeError> {
        let (name, pos) = Name::decode(msg, pos)?;
        let fixed = msg.get(pos..pos + 10).ok_or(DecodeError::Truncated)?;
        let rtype = RecordType(u16::from_be_bytes([fixed[0], fixed[1]]));
        let class = Class(u16::from_be_bytes([fixed[2], fixed[3]]));
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let start = pos + 10;
        let rdata = Rdata::decode(rtype, msg, start, len)?;
        Ok((
            Record {
                name,
                class,
                ttl,
                rdata,
            },
            start + len,
        ))
    }

    pub(crate) fn encode(&self, encoder: &mut Encoder) {
        encoder.name(&self.name, true);
        encoder.u16(self.rtype().0);
        encoder.u16(self.class.0);
        encoder.u32(self.ttl);
        let length_at = encoder.len();
        encoder.u16(0);
        self.rdata.encode(encoder);
        let len = encoder.len() - length_at - 2;
        encoder.patch_u16(length_at, len.min(u16::MAX as usize) as u16);
    }
}

impl fmt::Display for Record {
    /// Zone-file / dig presentation: `name TTL CLASS TYPE RDATA`, tab separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}",
            self.name,
            self.ttl,
            self.class,
            self.rtype(),
            self.rdata
        )
    }
}

/// The EDNS(0) information of a message (RFC 6891), carried in an OPT pseudo-record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edns {
    /// The largest UDP payload the sender can receive.
    pub udp_payload: u16,
    /// The EDNS version (only 0 exists).
    pub version: u8,
    /// DNSSEC OK: the sender wants DNSSEC records (RFC 3225).
    pub dnssec_ok: bool,
    /// The other 15 flag bits (must be zero; kept for round trips).
    pub z: u16,
    /// The options, unknown ones included.
    pub options: Vec<EdnsOption>,
}

impl Default for Edns {
    fn default() -> Edns {
        Edns {
            udp_payload: 1232,
            version: 0,
            dnssec_ok: false,
            z: 0,
            options: Vec::new(),
        }
    }
}

/// A whole DNS message.
///
/// The header counts are derived from the sections. The OPT record is not in `additional`: it
/// is `edns`, and its extended rcode bits are merged into `rcode`. A TSIG record stays the last
/// record of `additional`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The query ID.
    pub id: u16,
    /// The flag bits.
    pub flags: Flags,
    /// The opcode.
    pub opcode: Opcode,
    /// The full (extended) rcode.
    pub rcode: Rcode,
    /// The question section (in UPDATE: the zone section).
    pub questions: Vec<Question>,
    /// The answer section (in UPDATE: prerequisites).
    pub answers: Vec<Record>,
    /// The authority section (in UPDATE: the updates).
    pub authority: Vec<Record>,
    /// The additional section, without OPT.
    pub additional: Vec<Record>,
    /// EDNS(0), if the message has an OPT record.
    pub edns: Option<Edns>,
}

impl Message {
    /// A query for one question, with RD set as asked, without EDNS.
    pub fn query(id: u16, question: Question, recursion_desired: bool) -> Message {
        Message {
            id,
            flags: Flags {
                rd: recursion_desired,
                ..Flags::default()
            },
            opcode: Opcode::QUERY,
            rcode: Rcode::NOERROR,
            questions: vec![question],
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            edns: None,
        }
    }

    /// An empty response to `query`: same ID, opcode, question and RD; QR set; EDNS echoed
    /// (our payload size, the DO bit) when the query had it.
    pub fn response_to(query: &Message) -> Message {
        Message {
            id: query.id,
            flags: Flags {
                qr: true,
                rd: query.flags.rd,
                cd: query.flags.cd,
                ..Flags::default()
            },
            opcode: query.opcode,
            rcode: Rcode::NOERROR,
            questions: query.questions.clone(),
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            edns: query.edns.as_ref().map(|edns| Edns {
                dnssec_ok: edns.dnssec_ok,
                ..Edns::default()
            }),
        }
    }

    /// The first question, if any.
    pub fn question(&self) -> Option<&Question> {
        self.questions.first()
    }

    /// The largest UDP response the sender of this (query) message accepts:
    /// RFC 6891 §6.2.5 says values below 512 are treated as 512.
    pub fn max_udp_payload(&self) -> u16 {
        match &self.edns {
            Some(edns) => edns.udp_payload.max(CLASSIC_UDP_SIZE),
            None => CLASSIC_UDP_SIZE,
        }
    }

    /// The header this message encodes to.
    pub fn header(&self) -> Header {
        let count = |n: usize| n.min(u16::MAX as usize) as u16;
        Header {
            id: self.id,
            flags: self.flags,
            opcode: self.opcode,
            rcode: Rcode(self.rcode.low() as u16),
            qdcount: count(self.questions.len()),
            ancount: count(self.answers.len()),
            nscount: count(self.authority.len()),
            arcount: count(self.additional.len() + self.edns.is_some() as usize),
        }
    }

    /// Decodes a whole message. Trailing bytes, a misplaced or duplicate OPT record and a TSIG
    /// record that is not last are errors (FORMERR for a server).
    pub fn decode(msg: &[u8]) -> Result<Message, DecodeError> {
        let header = Header::decode(msg)?;
        let mut pos = HEADER_LEN;
        let mut questions = Vec::with_capacity(header.qdcount.min(8) as usize);
        for _ in 0..header.qdcount {
            let (name, next) = Name::decode(msg, pos)?;
            let fixed = msg.get(next..next + 4).ok_or(DecodeError::Truncated)?;
            questions.push(Question {
                name,
                qtype: RecordType(u16::from_be_bytes([fixed[0], fixed[1]])),
                qclass: Class(u16::from_be_bytes([fixed[2], fixed[3]])),
            });
            pos = next + 4;
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        let counts = [header.ancount, header.nscount, header.arcount];
        for (section, count) in sections.iter_mut().zip(counts) {
            for _ in 0..count {
                let (record, next) = Record::decode(msg, pos)?;
                section.push(record);
                pos = next;
            }
        }
        if pos != msg.len() {
            return Err(DecodeError::TrailingBytes {
                count: msg.len() - pos,
            });
        }
        let [answers, authority, mut additional] = sections;
        for record in answers.iter().chain(&authority) {
            if record.rtype() == RecordType::OPT {
                return Err(DecodeError::BadOpt {
                    reason: "not in the additional section",
                });
            }
        }
        if let Some(index) = additional
            .iter()
            .position(|r| r.rtype() == RecordType::TSIG)
        {
            if index + 1 != additional.len() {
                return Err(DecodeError::TsigNotLast);
            }
        }
        let mut edns = None;
        let mut rcode = header.rcode;
        let mut index = 0;
        while index < additional.len() {
            if additional[index].rtype() != RecordType::OPT {
                index += 1;
                continue;
            }
            let record = additional.remove(index);
            if edns.is_some() {
                return Err(DecodeError::BadOpt {
                    reason: "more than one",
                });
            }
            if !record.name.is_root() {
                return Err(DecodeError::BadOpt {
                    reason: "owner is not the root",
                });
            }
            let Rdata::Opt(options) = record.rdata else {
                return Err(DecodeError::BadOpt {
                    reason: "malformed options",
                });
            };
            // RFC 6891 §6.1.3: TTL = extended rcode (8) | version (8) | DO (1) | Z (15).
            let ttl = record.ttl;
            rcode = Rcode(((ttl >> 24) as u16) << 4 | header.rcode.0);
            edns = Some(Edns {
                udp_payload: record.class.0,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
                z: (ttl & 0x7FFF) as u16,
                options,
            });
        }
        Ok(Message {
            id: header.id,
            flags: header.flags,
            opcode: header.opcode,
            rcode,
            questions,
            answers,
            authority,
            additional,
            edns,
        })
    }

    /// The OPT pseudo-record for `edns`.
    fn opt_record(&self, edns: &Edns) -> Record {
        let ttl = (self.rcode.high() as u32) << 24
            | (edns.version as u32) << 16
            | (edns.dnssec_ok as u32) << 15
            | (edns.z & 0x7FFF) as u32;
        Record {
            name: Name::root(),
            class: Class(edns.udp_payload),
            ttl,
            rdata: Rdata::Opt(edns.options.clone()),
        }
    }

    /// Encodes the message with name compression.
    ///
    /// The OPT record goes last in the additional section, or just before a final TSIG record.
    pub fn encode(&self) -> Vec<u8> {
        let mut encoder = Encoder::new(512);
        self.encode_into(&mut encoder, usize::MAX);
        encoder.finish()
    }

    /// Encodes the message into at most `limit` bytes (the client's UDP payload size).
    ///
    /// If it does not fit, additional records are dropped first (RFC 2181 §9: no TC needed);
    /// if it still does not fit, the answer and authority sections are emptied and TC is set,
    /// telling the client to retry over TCP (RFC 1035 §4.2.1, RFC 7766). OPT is always kept.
    pub fn encode_limited(&self, limit: usize) -> Vec<u8> {
        let mut encoder = Encoder::new(limit.min(4096));
        if self.encode_into(&mut encoder, limit) {
            return encoder.finish();
        }
        let mut trimmed = Message {
            additional: Vec::new(),
            ..self.clone()
        };
        let mut encoder = Encoder::new(limit.min(4096));
        if trimmed.encode_into(&mut encoder, limit) {
            return encoder.finish();
        }
        trimmed.answers.clear();
        trimmed.authority.clear();
        trimmed.flags.tc = true;
        let mut encoder = Encoder::new(512);
        trimmed.encode_into(&mut encoder, usize::MAX);
        encoder.finish()
    }

    /// Encodes into `encoder`; returns false as soon as the output exceeds `limit`.
    fn encode_into(&self, encoder: &mut Encoder, limit: usize) -> bool {
        encoder.bytes(&self.header().encode());
        for question in &self.questions {
            encoder.name(&question.name, true);
            encoder.u16(question.qtype.0);
            encoder.u16(question.qclass.0);
        }
        for record in self.answers.iter().chain(&self.authority) {
            record.encode(encoder);
            if encoder.len() > limit {
                return false;
            }
        }
        let tsig_last = self
            .additional
            .last()
            .is_some_and(|r| r.rtype() == RecordType::TSIG);
        let (plain, tsig) = if tsig_last {
            self.additional.split_at(self.additional.len() - 1)
        } else {
            (&self.additional[..], &[][..])
        };
        for record in plain {
            record.encode(encoder);
            if encoder.len() > limit {
                return false;
            }
        }
        if let Some(edns) = &self.edns {
            self.opt_record(edns).encode(encoder);
        }
        for record in tsig {
            record.encode(encoder);
        }
        encoder.len() <= limit
    }

    /// One line for the `wire` event: `A? gaia.cs.umass.edu id=4711 rd` for a query, and for a
    /// response the rcode, flags, counts and the first answer (or referral NS).
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// A one-line description of a message still in wire form: its [`Summary`] when it decodes,
/// else what is wrong with it. Decoding happens only when it is formatted, so drivers can hand
/// it to a log or trace event that may be disabled.
pub struct WireSummary<'a>(pub &'a [u8]);

impl fmt::Display for WireSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Message::decode(self.0) {
            Ok(message) => message.summary().fmt(f),
            Err(error) => write!(f, "malformed ({} bytes): {error}", self.0.len()),
        }
    }
}

/// The one-line description returned by [`Message::summary`].
pub struct Summary<'a>(&'a Message);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.0;
        if message.opcode != Opcode::QUERY {
            write!(f, "{} ", message.opcode)?;
        }
        match message.question() {
            Some(question) => write!(f, "{}? {}", question.qtype, question.name)?,
            None => f.write_str("(no question)")?,
        }
        write!(f, " id={}", message.id)?;
        let flags = message.flags.to_dig_string();
        if !flags.is_empty() {
            write!(f, " {flags}")?;
        }
        if !message.flags.qr {
            return Ok(());
        }
        write!(
            f,
            " {} an={} ns={} ar={}",
            message.rcode,
            message.answers.len(),
            message.authority.len(),
            message.additional.len()
        )?;
        if let Some(first) = message.answers.first() {
            write!(f, " [{} {}", first.rtype(), first.rdata)?;
            if message.answers.len() > 1 {
                f.write_str(" ...")?;
            }
            f.write_str("]")?;
        } else if let Some(ns) = message
            .authority
            .iter()
            .find(|r| r.rtype() == RecordType::NS)
        {
            write!(f, " [referral {} NS {}]", ns.name, ns.rdata)?;
        }
        Ok(())
    }
}

impl fmt::Display for Message {
    /// A dig-like dump: header line, flags and counts, then each non-empty section.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            ";; ->>HEADER<<- opcode: {}, status: {}, id: {}",
            self.opcode, self.rcode, self.id
        )?;
        let header = self.header();
        writeln!(
            f,
            ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
            self.flags.to_dig_string(),
            header.qdcount,
            header.ancount,
            header.nscount,
            header.arcount
        )?;
        if let Some(edns) = &self.edns {
            writeln!(f, "\n;; OPT PSEUDOSECTION:")?;
            let flags = if edns.dnssec_ok { " do" } else { "" };
            writeln!(
                f,
                "; EDNS: version: {}, flags:{}; udp: {}",
                edns.version, flags, edns.udp_payload
            )?;
        }
        if !self.questions.is_empty() {
            writeln!(f, "\n;; QUESTION SECTION:")?;
            for question in &self.questions {
                writeln!(f, "{question}")?;
            }
        }
        let sections = [
            ("ANSWER", &self.answers),
            ("AUTHORITY", &self.authority),
            ("ADDITIONAL", &self.additional),
        ];
        for (title, records) in sections {
            if records.is_empty() {
                continue;
            }
            writeln!(f, "\n;; {title} SECTION:")?;
            for record in records {
                writeln!(f, "{record}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdata::{Mx, Soa};

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    fn sample_response() -> Message {
        let query = Message::query(
            4711,
            Question::new(name("hamburger.edu"), RecordType::MX),
            true,
        );
        let mut response = Message::response_to(&query);
        response.flags.aa = true;
        response.answers.push(Record::new(
            name("hamburger.edu"),
            3600,
            Rdata::Mx(Mx {
                preference: 10,
                exchange: name("mail.hamburger.edu"),
            }),
        ));
        response.authority.push(Record::new(
            name("hamburger.edu"),
            3600,
            Rdata::Soa(Box::new(Soa {
                mname: name("dns.hamburger.edu"),
                rname: name("admin.hamburger.edu"),
                serial: 2026112201,
                refresh: 7200,
                retry: 3600,
                expire: 1209600,
                minimum: 300,
            })),
        ));
        response.additional.push(Record::new(
            name("mail.hamburger.edu"),
            3600,
            Rdata::A("10.0.0.25".parse().unwrap()),
        ));
        response.edns = Some(Edns::default());
        response
    }

    #[test]
    fn rfc1035_query_bytes() {
        // A query for A? example.com id=0x1234 rd, as dig sends without EDNS.
        let query = Message::query(
            0x1234,
            Question::new(name("example.com"), RecordType::A),
            true,
        );
        let wire = query.encode();
        let expected: &[u8] = &[
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
            b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        assert_eq!(wire, expected);
        assert_eq!(Message::decode(&wire).unwrap(), query);
        assert_eq!(query.summary().to_string(), "A? example.com. id=4660 rd");
        assert_eq!(
            WireSummary(&query.encode()).to_string(),
            "A? example.com. id=4660 rd"
        );
        assert!(WireSummary(&[1, 2, 3])
            .to_string()
            .starts_with("malformed (3 bytes): "));
    }

    #[test]
    fn round_trip_with_compression() {
        let response = sample_response();
        let wire = response.encode();
        let decoded = Message::decode(&wire).unwrap();
        assert_eq!(decoded, response);
        // hamburger.edu appears 6 times; compression keeps the message small.
        assert!(wire.len() < 140, "{} bytes", wire.len());
        assert_eq!(decoded.encode(), wire);
        assert_eq!(
            response.summary().to_string(),
            "MX? hamburger.edu. id=4711 qr aa rd NOERROR an=1 ns=1 ar=1 [MX 10 mail.hamburger.edu.]"
        );
    }

    #[test]
    fn every_prefix_fails_cleanly() {
        let wire = sample_response().encode();
        for len in 0..wire.len() {
            assert!(Message::decode(&wire[..len]).is_err(), "prefix {len}");
        }
        let mut longer = wire.clone();
        longer.push(0);
        assert_eq!(
            Message::decode(&longer),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small xorshift generator: deterministic, no dependency.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = sample_response().encode();
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if let Ok(message) = Message::decode(&bytes) {
                let again = Message::decode(&message.encode()).expect("re-decode");
                assert_eq!(again, message);
            }
            let len = (next() % 64) as usize;
            let random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = Message::decode(&random);
        }
    }

    #[test]
    fn edns_extended_rcode_and_do_bit() {
        let mut message = sample_response();
        message.rcode = Rcode::BADVERS;
        message.edns = Some(Edns {
            udp_payload: 4096,
            version: 0,
            dnssec_ok: true,
            z: 0,
            options: vec![EdnsOption {
                code: 65001,
                data: vec![1, 2, 3],
            }],
        });
        let decoded = Message::decode(&message.encode()).unwrap();
        assert_eq!(decoded.rcode, Rcode::BADVERS);
        assert_eq!(decoded, message);
        assert_eq!(decoded.max_udp_payload(), 4096);
        let mut tiny = message.clone();
        tiny.edns.as_mut().unwrap().udp_payload = 100;
        assert_eq!(tiny.max_udp_payload(), 512);
    }

    #[test]
    fn rejects_two_opts_and_misplaced_tsig() {
        let message = sample_response();
        let mut wire = message.encode();
        // Append a second empty OPT and bump ARCOUNT.
        wire.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        wire[11] += 1;
        assert!(matches!(
            Message::decode(&wire),
            Err(DecodeError::BadOpt { .. })
        ));
    }

    #[test]
    fn truncation_sets_tc_and_keeps_opt() {
        let mut message = sample_response();
        for i in 0..40 {
            message.answers.push(Record::new(
                name("hamburger.edu"),
                60,
                Rdata::Txt(vec![
                    format!("filler record number {i} ........").into_bytes()
                ]),
            ));
        }
        let full = message.encode();
        assert!(full.len() > 512);
        let limited = message.encode_limited(512);
        assert!(limited.len() <= 512);
        let decoded = Message::decode(&limited).unwrap();
        assert!(decoded.flags.tc);
        assert!(decoded.answers.is_empty());
        assert!(decoded.edns.is_some());
        assert_eq!(decoded.questions, message.questions);
        // Fits without additional: no TC.
        let small = sample_response();
        let without_additional = small.encode().len() - 20;
        let decoded = Message::decode(&small.encode_limited(without_additional + 5)).unwrap();
        assert!(!decoded.flags.tc);
        assert!(decoded.additional.is_empty());
        assert_eq!(decoded.answers.len(), 1);
    }

    #[test]
    fn display_is_dig_like() {
        let text = sample_response().to_string();
        assert!(text.contains(";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4711"));
        assert!(text.contains("hamburger.edu.\t3600\tIN\tMX\t10 mail.hamburger.edu."));
        assert!(text.contains(";hamburger.edu.\t\tIN\tMX"));
    }
}
