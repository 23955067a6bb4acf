//! The sans-IO authoritative server: from request bytes to response bytes over a set of zones.
//!
//! RFC 1034 §4.3.2 lookup with RFC 4592 wildcards, RFC 2308 negative answers, referrals with
//! glue, CNAME chasing inside our zones, additional addresses for MX/NS/SRV targets,
//! round-robin rotation, EDNS(0) and truncation, AXFR (RFC 5936), NOTIFY (RFC 1996) and the
//! dispatch of UPDATE (RFC 2136, in `update.rs`).

use crate::zone::Zone;
use dns_proto::tsig::{self, TsigKey, Verified};
use dns_proto::{Class, Header, Message, Name, Opcode, Rcode, Record, RecordType, HEADER_LEN};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// CNAME chains longer than this are cut (the client then resolves the rest itself).
const MAX_CNAME_CHAIN: usize = 8;
/// The most we send in one UDP response, whatever the client offers (RFC 9715 advice).
pub const MAX_UDP_RESPONSE: u16 = 1232;
/// AXFR messages are filled up to about this many bytes.
const AXFR_MESSAGE_TARGET: usize = 16 * 1024;

/// Who may do something (zone transfer, dynamic update): peer addresses, or TSIG key names.
///
/// Empty means nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// Peer addresses allowed without a key.
    pub addresses: Vec<IpAddr>,
    /// Key names whose valid TSIG signature allows the request.
    pub keys: Vec<Name>,
}

impl Acl {
    /// Whether a request from `peer`, signed by `key` (if verified), is allowed.
    pub fn allows(&self, peer: IpAddr, key: Option<&Name>) -> bool {
        self.addresses.contains(&peer) || key.is_some_and(|key| self.keys.contains(key))
    }
}

/// How a zone is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePolicy {
    /// Rotate RRsets of several records from answer to answer (the cnn.com example).
    pub round_robin: bool,
    /// Who may send DNS UPDATE.
    pub allow_update: Acl,
    /// Who may AXFR the zone.
    pub allow_transfer: Acl,
    /// For a secondary zone: the primary's address, the only source of NOTIFY we accept.
    pub primary: Option<SocketAddr>,
}

impl Default for ZonePolicy {
    fn default() -> ZonePolicy {
        ZonePolicy {
            round_robin: true,
            allow_update: Acl::default(),
            allow_transfer: Acl::default(),
            primary: None,
        }
    }
}

/// The transport a request arrived on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: responses are limited by the client's payload size.
    Udp,
    /// TCP: responses up to 64 KiB; zone transfers allowed.
    Tcp,
}

/// Facts about a request that are not in its bytes.
#[derive(Copy, Clone, Debug)]
pub struct RequestInfo {
    /// The client's address.
    pub peer: IpAddr,
    /// How it arrived.
    pub transport: Transport,
    /// Now, in seconds since the Unix epoch (for TSIG).
    pub now: u64,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Send nothing (not a query, or too broken to answer).
    Drop,
    /// Send this one message.
    Reply(Vec<u8>),
    /// Send these messages in order (a zone transfer over TCP).
    Transfer(Vec<Vec<u8>>),
    /// A dynamic update: call [`Authority::handle_update`] with write access.
    Update,
    /// A NOTIFY from the zone's primary: send `reply`, then refresh `zone`.
    Notify {
        /// The zone to refresh.
        zone: Name,
        /// The response to send.
        reply: Vec<u8>,
    },
}

/// Answers some standard queries before the zones do: the hook of the CDN's request routing
/// (`cdn`), which answers its routed names itself and hands the rest back.
///
/// It runs after the request decoded and its TSIG checked, for QUERY messages with one
/// question other than AXFR/IXFR; the response it returns is encoded, truncated and signed as
/// the zones' answers are. It must not panic on any query.
pub trait Responder: Send + Sync + std::fmt::Debug {
    /// The response to `query`, or `None` for the zones' ordinary answer
    /// ([`Authority::answer`], which the responder may also call and amend).
    fn respond(
        &self,
        query: &Message,
        info: &RequestInfo,
        authority: &Authority,
    ) -> Option<Message>;
}

/// A zone with its policy and its rotation counter.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) zone: Zone,
    pub(crate) policy: ZonePolicy,
    rotation: AtomicUsize,
}

/// The zones a server is authoritative for, and the keys it knows.
#[derive(Debug, Default)]
pub struct Authority {
    pub(crate) zones: HashMap<Name, Served>,
    /// Secondary zones configured but not (yet) loaded: queries get SERVFAIL.
    pending: HashMap<Name, ZonePolicy>,
    pub(crate) keys: Vec<TsigKey>,
    /// Answers some queries before the zones (see [`Responder`]).
    responder: Option<Arc<dyn Responder>>,
}

/// A request that decoded, with its verified TSIG (if it was signed).
pub(crate) struct Request {
    pub(crate) message: Message,
    pub(crate) tsig: Option<(Verified, usize)>,
}

impl Authority {
    /// An authority with no zones.
    pub fn new() -> Authority {
        Authority::default()
    }

    /// Installs the hook that answers some queries before the zones do.
    pub fn set_responder(&mut self, responder: Arc<dyn Responder>) {
        self.responder = Some(responder);
    }

    /// Whether `name` exists in the zone closest to it (it owns records or is an empty
    /// non-terminal); wildcards do not count.
    pub fn has_name(&self, name: &Name) -> bool {
        self.find_zone(name)
            .is_some_and(|served| served.zone.name_exists(name))
    }

    /// The SOA to put in the authority section of a negative answer for `name` (RFC 2308
    /// §3: TTL the smaller of the SOA's TTL and MINIMUM), if a loaded zone holds `name`.
    pub fn negative_soa(&self, name: &Name) -> Option<Record> {
        let served = self.find_zone(name)?;
        let mut soa = served.zone.soa_record().clone();
        soa.ttl = soa.ttl.min(served.zone.soa().minimum);
        Some(soa)
    }

    /// Adds (or replaces) a zone.
    pub fn insert_zone(&mut self, zone: Zone, policy: ZonePolicy) {
        self.pending.remove(zone.origin());
        self.zones.insert(
            zone.origin().clone(),
            Served {
                zone,
                policy,
                rotation: AtomicUsize::new(0),
            },
        );
    }

    /// Replaces a zone's data, keeping its policy (reload, zone transfer). Returns false if
    /// the zone is not configured.
    pub fn replace_zone(&mut self, zone: Zone) -> bool {
        let origin = zone.origin().clone();
        let policy = match (self.zones.get(&origin), self.pending.get(&origin)) {
            (Some(served), _) => served.policy.clone(),
            (None, Some(policy)) => policy.clone(),
            (None, None) => return false,
        };
        self.insert_zone(zone, policy);
        true
    }

    /// Declares a secondary zone whose data will come later by AXFR; until then queries for
    /// it get SERVFAIL.
    pub fn add_pending(&mut self, origin: Name, policy: ZonePolicy) {
        if !self.zones.contains_key(&origin) {
            self.pending.insert(origin, policy);
        }
    }

    /// Stops serving a zone's data but keeps it configured (a secondary past EXPIRE):
    /// queries get SERVFAIL until new data arrives.
    pub fn expire_zone(&mut self, origin: &Name) {
        if let Some(served) = self.zones.remove(origin) {
            self.pending.insert(origin.clone(), served.policy);
        }
    }

    /// Adds a TSIG key.
    pub fn add_key(&mut self, key: TsigKey) {
        self.keys.retain(|known| known.name != key.name);
        self.keys.push(key);
    }

    /// The zone with this origin.
    pub fn zone(&self, origin: &Name) -> Option<&Zone> {
        self.zones.get(origin).map(|served| &served.zone)
    }

    /// The origins of all zones, loaded or pending.
    pub fn origins(&self) -> Vec<Name> {
        self.zones
            .keys()
            .chain(self.pending.keys())
            .cloned()
            .collect()
    }

    /// The loaded zone closest to `name` (the longest origin that contains it).
    pub(crate) fn find_zone(&self, name: &Name) -> Option<&Served> {
        // A server holds a handful of zones: comparing suffixes beats allocating ancestors.
        if self.zones.len() <= 8 {
            return self
                .zones
                .values()
                .filter(|served| name.is_subdomain_of(served.zone.origin()))
                .max_by_key(|served| served.zone.origin().wire_len());
        }
        let mut current = Some(name.clone());
        while let Some(candidate) = current {
            if let Some(served) = self.zones.get(&candidate) {
                return Some(served);
            }
            current = candidate.parent();
        }
        None
    }

    /// Whether the closest configured zone of `name` is pending (configured, no data yet).
    fn is_pending(&self, name: &Name) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let mut current = Some(name.clone());
        while let Some(candidate) = current {
            if self.zones.contains_key(&candidate) {
                return false;
            }
            if self.pending.contains_key(&candidate) {
                return true;
            }
            current = candidate.parent();
        }
        false
    }

    pub(crate) fn key(&self, name: &Name) -> Option<&TsigKey> {
        self.keys.iter().find(|key| &key.name == name)
    }

    /// Decodes a request and checks its TSIG. `Err` holds the reply to send (or `Drop`).
    pub(crate) fn decode_request(
        &self,
        bytes: &[u8],
        info: &RequestInfo,
    ) -> Result<Request, Handled> {
        let Ok(header) = Header::decode(bytes) else {
            return Err(Handled::Drop);
        };
        if header.flags.qr {
            // Never answer a response: that is how reflection loops start.
            return Err(Handled::Drop);
        }
        let mut message = match Message::decode(bytes) {
            Ok(message) => message,
            Err(_) => return Err(Handled::Reply(formerr(&header))),
        };
        let tsig = match message.additional.last().cloned() {
            Some(record) if record.rtype() == RecordType::TSIG => {
                match tsig::verify(bytes, |name| self.key(name), info.now, None) {
                    Ok(verified) => {
                        let key_index = self
                            .keys
                            .iter()
                            .position(|key| key.name == verified.key_name)
                            .unwrap_or(0);
                        message.additional.pop();
                        Some((verified, key_index))
                    }
                    Err(error) => {
                        message.additional.pop();
                        let mut response = Message::response_to(&message);
                        response.rcode = Rcode::NOTAUTH;
                        let mut wire = response.encode();
                        // RFC 8945 §5.2: BADKEY/BADSIG answers are unsigned; BADTIME is
                        // signed (with a key we hold).
                        if let tsig::TsigError::BadTime { .. } = error {
                            if let Some(key) = self.key(&record.name) {
                                let Some(dns_proto::Rdata::Tsig(data)) =
                                    message_tsig(bytes).map(|r| r.rdata)
                                else {
                                    return Err(Handled::Reply(wire));
                                };
                                tsig::sign_with_error(
                                    &mut wire,
                                    key,
                                    info.now,
                                    Some(&data.mac),
                                    Rcode::BADTIME,
                                );
                                return Err(Handled::Reply(wire));
                            }
                        }
                        append_unsigned_tsig_error(&mut wire, &record, error.rcode(), message.id);
                        return Err(Handled::Reply(wire));
                    }
                }
            }
            _ => None,
        };
        if let Some(edns) = &message.edns {
            // RFC 6891 §6.1.3: only version 0 exists.
            if edns.version > 0 {
                let mut response = Message::response_to(&message);
                response.rcode = Rcode::BADVERS;
                response.questions.clear();
                return Err(Handled::Reply(response.encode()));
            }
        }
        Ok(Request { message, tsig })
    }

    /// Answers a request: queries, zone transfers and NOTIFY are handled here; UPDATE returns
    /// [`Handled::Update`] so the caller can take write access and call
    /// [`Authority::handle_update`].
    pub fn handle(&self, bytes: &[u8], info: &RequestInfo) -> Handled {
        let request = match self.decode_request(bytes, info) {
            Ok(request) => request,
            Err(handled) => return handled,
        };
        let query = &request.message;
        match query.opcode {
            Opcode::QUERY => {}
            Opcode::UPDATE => return Handled::Update,
            Opcode::NOTIFY => return self.handle_notify(&request, info),
            _ => {
                let mut response = Message::response_to(query);
                response.rcode = Rcode::NOTIMP;
                return Handled::Reply(self.finish(response, &request, info));
            }
        }
        if query.questions.len() != 1 {
            let mut response = Message::response_to(query);
            response.rcode = Rcode::FORMERR;
            return Handled::Reply(self.finish(response, &request, info));
        }
        let question = &query.questions[0];
        if question.qtype == RecordType::AXFR
            || (question.qtype == RecordType::IXFR && info.transport == Transport::Tcp)
        {
            return self.handle_axfr(&request, info);
        }
        let response = match &self.responder {
            Some(responder) => responder
                .respond(query, info, self)
                .unwrap_or_else(|| self.answer(query)),
            None => self.answer(query),
        };
        Handled::Reply(self.finish(response, &request, info))
    }

    /// Encodes a response for the request's transport and signs it if the request was signed.
    pub(crate) fn finish(
        &self,
        response: Message,
        request: &Request,
        info: &RequestInfo,
    ) -> Vec<u8> {
        let limit = match info.transport {
            Transport::Udp => request.message.max_udp_payload().min(MAX_UDP_RESPONSE) as usize,
            Transport::Tcp => u16::MAX as usize,
        };
        match &request.tsig {
            None => response.encode_limited(limit),
            Some((verified, index)) => {
                // Leave room for the TSIG record (about 100 bytes with a SHA-256 MAC).
                let mut wire = response.encode_limited(limit.saturating_sub(120).max(HEADER_LEN));
                if let Some(key) = self.keys.get(*index) {
                    tsig::sign(&mut wire, key, info.now, Some(&verified.mac));
                }
                wire
            }
        }
    }

    /// The answer to a standard query (no TSIG, not yet encoded).
    pub fn answer(&self, query: &Message) -> Message {
        let mut response = Message::response_to(query);
        let Some(question) = query.questions.first() else {
            response.rcode = Rcode::FORMERR;
            return response;
        };
        if question.qtype == RecordType::OPT
            || question.qtype == RecordType::TSIG
            || question.qtype == RecordType::AXFR
        {
            response.rcode = Rcode::FORMERR;
            return response;
        }
        let Some(served) = self.find_zone(&question.name) else {
            response.rcode = if self.is_pending(&question.name) {
                Rcode::SERVFAIL
            } else {
                Rcode::REFUSED
            };
            return response;
        };
        if self.is_pending(&question.name) {
            response.rcode = Rcode::SERVFAIL;
            return response;
        }
        if question.qclass != served.zone.class() && question.qclass != Class::ANY {
            response.rcode = Rcode::REFUSED;
            return response;
        }
        if question.qtype == RecordType::IXFR {
            // IXFR over UDP: our SOA tells the client to come back over TCP (RFC 1995 §4).
            response.flags.aa = true;
            response.answers.push(served.zone.soa_record().clone());
            return response;
        }
        response.flags.aa = true;
        let mut lookup = Lookup {
            authority: self,
            response: &mut response,
        };
        lookup.resolve(served, &question.name, question.qtype, 0);
        lookup.add_additional();
        response
    }

    fn handle_notify(&self, request: &Request, info: &RequestInfo) -> Handled {
        let query = &request.message;
        let mut response = Message::response_to(query);
        let Some(question) = query.questions.first() else {
            response.rcode = Rcode::FORMERR;
            return Handled::Reply(self.finish(response, request, info));
        };
        let policy = self
            .zones
            .get(&question.name)
            .map(|served| &served.policy)
            .or_else(|| self.pending.get(&question.name));
        match policy.and_then(|policy| policy.primary) {
            Some(primary) if primary.ip() == info.peer => {
                response.flags.aa = true;
                Handled::Notify {
                    zone: question.name.clone(),
                    reply: self.finish(response, request, info),
                }
            }
            Some(_) => {
                response.rcode = Rcode::REFUSED;
                Handled::Reply(self.finish(response, request, info))
            }
            None => {
                response.rcode = Rcode::NOTAUTH;
                Handled::Reply(self.finish(response, request, info))
            }
        }
    }

    /// RFC 5936: the zone as a sequence of messages, SOA first and last.
    fn handle_axfr(&self, request: &Request, info: &RequestInfo) -> Handled {
        let query = &request.message;
        let question = &query.questions[0];
        let mut response = Message::response_to(query);
        let key = request
            .tsig
            .as_ref()
            .map(|(verified, _)| &verified.key_name);
        let served = self.zones.get(&question.name);
        let allowed =
            served.is_some_and(|served| served.policy.allow_transfer.allows(info.peer, key));
        let (Some(served), true, Transport::Tcp) = (served, allowed, info.transport) else {
            response.rcode = if served.is_some() {
                Rcode::REFUSED
            } else {
                Rcode::NOTAUTH
            };
            return Handled::Reply(self.finish(response, request, info));
        };
        let mut records = served.zone.records();
        records.push(served.zone.soa_record().clone());
        let mut messages = Vec::new();
        let mut current = Message::response_to(query);
        current.flags.aa = true;
        let mut size = HEADER_LEN + question.name.wire_len() + 4;
        for record in records {
            let record_size = record.name.wire_len() + 10 + record.rdata.to_wire().len();
            if !current.answers.is_empty() && size + record_size > AXFR_MESSAGE_TARGET {
                let mut next = Message::response_to(query);
                next.flags.aa = true;
                next.questions.clear();
                next.edns = None;
                messages.push(std::mem::replace(&mut current, next));
                size = HEADER_LEN;
            }
            size += record_size;
            current.answers.push(record);
        }
        messages.push(current);
        // RFC 8945 §5.3.1: a signed request gets every message signed, each chained to the
        // previous one's MAC.
        let signer = request
            .tsig
            .as_ref()
            .and_then(|(verified, index)| Some((verified, self.keys.get(*index)?)));
        let mut prior_mac: Option<Vec<u8>> = None;
        let wires = messages
            .into_iter()
            .map(|message| {
                let mut wire = message.encode();
                if let Some((verified, key)) = signer {
                    let mac = match &prior_mac {
                        None => tsig::sign(&mut wire, key, info.now, Some(&verified.mac)),
                        Some(prior) => tsig::sign_continuation(&mut wire, key, info.now, prior),
                    };
                    prior_mac = Some(mac);
                }
                wire
            })
            .collect();
        Handled::Transfer(wires)
    }
}

/// The TSIG record of a message, if its last record is one.
fn message_tsig(bytes: &[u8]) -> Option<Record> {
    tsig::find(bytes).ok().flatten().map(|(_, record)| record)
}

/// Appends an unsigned TSIG record carrying `error` (RFC 8945 §5.2.2: BADKEY/BADSIG replies).
fn append_unsigned_tsig_error(wire: &mut Vec<u8>, request_tsig: &Record, error: Rcode, id: u16) {
    let dns_proto::Rdata::Tsig(data) = &request_tsig.rdata else {
        return;
    };
    let record = Record {
        name: request_tsig.name.clone(),
        class: Class::ANY,
        ttl: 0,
        rdata: dns_proto::Rdata::Tsig(Box::new(dns_proto::Tsig {
            algorithm: data.algorithm.clone(),
            time_signed: data.time_signed,
            fudge: data.fudge,
            mac: Vec::new(),
            original_id: id,
            error,
            other: Vec::new(),
        })),
    };
    let Ok(mut message) = Message::decode(wire) else {
        return;
    };
    message.additional.push(record);
    *wire = message.encode();
}

/// A FORMERR reply built from the header alone (RFC 1035 §4.1.1), or nothing for a message
/// whose header is too short.
fn formerr(header: &Header) -> Vec<u8> {
    let reply = Header {
        id: header.id,
        flags: dns_proto::Flags {
            qr: true,
            rd: header.flags.rd,
            ..Default::default()
        },
        opcode: header.opcode,
        rcode: Rcode::FORMERR,
        qdcount: 0,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    };
    reply.encode().to_vec()
}

/// One run of the RFC 1034 §4.3.2 algorithm, filling a response.
struct Lookup<'a> {
    authority: &'a Authority,
    response: &'a mut Message,
}

impl Lookup<'_> {
    /// Looks `qname`/`qtype` up in `served`, following CNAMEs into any zone we serve.
    fn resolve(&mut self, served: &Served, qname: &Name, qtype: RecordType, depth: usize) {
        let zone = &served.zone;
        if let Some(cut) = zone.find_cut(qname) {
            // A DS query at the cut itself belongs to the parent; without DS data that is
            // NODATA, answered from the parent side (RFC 4035 §3.1.4.1).
            if !(qtype == RecordType::DS && cut == qname) {
                self.referral(served, cut, depth);
                return;
            }
        }
        if let Some(node) = zone.node(qname) {
            self.answer_node(served, node, qname, qtype, depth);
            return;
        }
        if zone.name_exists(qname) {
            // An empty non-terminal: the name exists, with no data (RFC 4592 §2.2.2).
            self.negative(served, Rcode::NOERROR);
            return;
        }
        // RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor; the source
        // of synthesis is `*` below it.
        let mut encloser = qname.parent();
        while let Some(candidate) = &encloser {
            if candidate == zone.origin() || zone.name_exists(candidate) {
                break;
            }
            encloser = candidate.parent();
        }
        if let Some(wildcard) = encloser.and_then(|encloser| encloser.prepend(b"*").ok()) {
            if let Some(node) = zone.node(&wildcard) {
                self.answer_node(served, node, qname, qtype, depth);
                return;
            }
        }
        self.negative(served, Rcode::NXDOMAIN);
    }

    /// Answers from the records of one node; `owner` is the name to put on them (the query
    /// name, which differs from the node's name for wildcards).
    fn answer_node(
        &mut self,
        served: &Served,
        node: &crate::zone::Node,
        owner: &Name,
        qtype: RecordType,
        depth: usize,
    ) {
        if qtype == RecordType::ANY {
            for rrset in node.rrsets() {
                self.push_answer(served, rrset, owner);
            }
            return;
        }
        if let Some(rrset) = node.rrset(qtype) {
            self.push_answer(served, rrset, owner);
            return;
        }
        if let Some(cname) = node.rrset(RecordType::CNAME) {
            self.push_answer(served, cname, owner);
            let Some(target) = cname[0].rdata.target() else {
                return;
            };
            let looped = self.response.answers.iter().any(|r| &r.name == target);
            if depth + 1 >= MAX_CNAME_CHAIN || looped {
                return;
            }
            if let Some(next) = self.authority.find_zone(target) {
                self.resolve(next, target, qtype, depth + 1);
            }
            return;
        }
        self.negative(served, Rcode::NOERROR);
    }

    fn push_answer(&mut self, served: &Served, rrset: &[Record], owner: &Name) {
        let start = if served.policy.round_robin && rrset.len() > 1 {
            served.rotation.fetch_add(1, Ordering::Relaxed) % rrset.len()
        } else {
            0
        };
        for i in 0..rrset.len() {
            let mut record = rrset[(start + i) % rrset.len()].clone();
            if &record.name != owner {
                record.name = owner.clone();
            }
            self.response.answers.push(record);
        }
    }

    /// RFC 2308 §3: NXDOMAIN/NODATA with the SOA in authority; its TTL is the smaller of the
    /// SOA's TTL and its MINIMUM field.
    fn negative(&mut self, served: &Served, rcode: Rcode) {
        self.response.rcode = rcode;
        let mut soa = served.zone.soa_record().clone();
        soa.ttl = soa.ttl.min(served.zone.soa().minimum);
        self.response.authority.push(soa);
    }

    /// A referral: not authoritative, the cut's NS set in authority, glue in additional.
    fn referral(&mut self, served: &Served, cut: &Name, depth: usize) {
        if depth == 0 {
            self.response.flags.aa = false;
        }
        let Some(ns) = served
            .zone
            .node(cut)
            .and_then(|node| node.rrset(RecordType::NS))
        else {
            return;
        };
        self.push_authority(served, ns);
        for record in ns {
            if let Some(target) = record.rdata.target() {
                // Glue: addresses below the cut (or elsewhere in the zone) for the servers.
                if target.is_subdomain_of(served.zone.origin()) {
                    self.push_addresses(served, target, true);
                }
            }
        }
    }

    fn push_authority(&mut self, served: &Served, rrset: &[Record]) {
        let start = if served.policy.round_robin && rrset.len() > 1 {
            served.rotation.fetch_add(1, Ordering::Relaxed) % rrset.len()
        } else {
            0
        };
        for i in 0..rrset.len() {
            self.response
                .authority
                .push(rrset[(start + i) % rrset.len()].clone());
        }
    }

    /// Adds the A and AAAA records of `target` from `served` to the additional section.
    fn push_addresses(&mut self, served: &Served, target: &Name, glue: bool) {
        // Outside glue, addresses under a cut are not ours to give.
        if !glue && served.zone.find_cut(target).is_some() {
            return;
        }
        let Some(node) = served.zone.node(target) else {
            return;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            let Some(rrset) = node.rrset(rtype) else {
                continue;
            };
            let present = self
                .response
                .additional
                .iter()
                .chain(&self.response.answers)
                .any(|r| r.rtype() == rtype && &r.name == target);
            if !present {
                self.response.additional.extend(rrset.iter().cloned());
            }
        }
    }

    /// RFC 1035 §3.3.9, §3.3.11, RFC 2782: addresses of MX, NS and SRV targets we know.
    ///
    /// For NS targets this includes glue below a cut of the zone (occluded data), as NSD and
    /// BIND give it: the root zone's `. NS` answer carries the addresses of
    /// `a.root-servers.net` although they sit below the `net.` delegation, and without them a
    /// client asking for the root servers (`dig +trace`) has no address to start from.
    fn add_additional(&mut self) {
        let targets: Vec<(Name, bool)> = self
            .response
            .answers
            .iter()
            .filter(|r| matches!(r.rtype(), RecordType::MX | RecordType::NS | RecordType::SRV))
            .filter_map(|r| Some((r.rdata.target()?.clone(), r.rtype() == RecordType::NS)))
            .collect();
        for (target, glue) in targets {
            if let Some(served) = self.authority.find_zone(&target) {
                self.push_addresses(served, &target, glue);
            }
        }
    }
}
