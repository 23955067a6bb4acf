//! DNS UPDATE (RFC 2136): authorisation, prerequisites, and applying the changes to a zone.

use crate::authority::{Authority, Handled, Request, RequestInfo};
use dns_proto::{Class, Message, Name, Opcode, Rcode, Rdata, Record, RecordType};

/// The result of [`Authority::handle_update`].
#[derive(Debug, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The response to send (`None`: send nothing).
    pub reply: Option<Vec<u8>>,
    /// The zone that changed (persist it and notify its secondaries), if any.
    pub changed: Option<Name>,
}

/// Whether the RDATA is the empty one UPDATE uses for deletions and prerequisites.
fn is_empty(rdata: &Rdata) -> bool {
    matches!(rdata, Rdata::Unknown { data, .. } if data.is_empty())
}

/// RFC 1982 serial arithmetic: whether `new` is after `old`.
pub(crate) fn serial_after(new: u32, old: u32) -> bool {
    new != old && (new.wrapping_sub(old) as i32) > 0
}

/// The next serial after `serial` (0 is skipped, as some tools treat it specially).
pub(crate) fn next_serial(serial: u32) -> u32 {
    match serial.wrapping_add(1) {
        0 => 1,
        next => next,
    }
}

impl Authority {
    /// Handles a DNS UPDATE request (RFC 2136); needs write access to the zones.
    ///
    /// The zone must allow updates from this peer address or from the TSIG key that signed
    /// the request. Prerequisites are checked before any change (the registrar sends "name
    /// not in use" so that registering an existing domain fails with YXDOMAIN); then the
    /// updates are applied in order and the serial is increased.
    pub fn handle_update(&mut self, bytes: &[u8], info: &RequestInfo) -> UpdateOutcome {
        let request = match self.decode_request(bytes, info) {
            Ok(request) => request,
            Err(Handled::Reply(reply)) => {
                return UpdateOutcome {
                    reply: Some(reply),
                    changed: None,
                }
            }
            Err(_) => {
                return UpdateOutcome {
                    reply: None,
                    changed: None,
                }
            }
        };
        if request.message.opcode != Opcode::UPDATE {
            let handled = self.handle(bytes, info);
            let reply = match handled {
                Handled::Reply(reply) => Some(reply),
                Handled::Notify { reply, .. } => Some(reply),
                _ => None,
            };
            return UpdateOutcome {
                reply,
                changed: None,
            };
        }
        let (rcode, changed) = self.apply_update(&request, info);
        let mut response = Message::response_to(&request.message);
        response.rcode = rcode;
        UpdateOutcome {
            reply: Some(self.finish(response, &request, info)),
            changed,
        }
    }

    fn apply_update(&mut self, request: &Request, info: &RequestInfo) -> (Rcode, Option<Name>) {
        let message = &request.message;
        // RFC 2136 §3.1.1: exactly one zone, of type SOA.
        let [zone_section] = message.questions.as_slice() else {
            return (Rcode::FORMERR, None);
        };
        if zone_section.qtype != RecordType::SOA {
            return (Rcode::FORMERR, None);
        }
        let Some(served) = self.zones.get(&zone_section.name) else {
            return (Rcode::NOTAUTH, None);
        };
        let zone_class = served.zone.class();
        if zone_section.qclass != zone_class {
            return (Rcode::NOTAUTH, None);
        }
        let key = request
            .tsig
            .as_ref()
            .map(|(verified, _)| &verified.key_name);
        if !served.policy.allow_update.allows(info.peer, key) {
            return (Rcode::REFUSED, None);
        }
        let origin = zone_section.name.clone();
        let zone = &served.zone;

        // RFC 2136 §3.2: prerequisites.
        let mut required: Vec<&Record> = Vec::new();
        for record in &message.answers {
            if record.ttl != 0 {
                return (Rcode::FORMERR, None);
            }
            if !record.name.is_subdomain_of(&origin) {
                return (Rcode::NOTZONE, None);
            }
            let node = zone.node(&record.name);
            let rrset_exists = |rtype| node.is_some_and(|node| node.rrset(rtype).is_some());
            let in_use = node.is_some();
            match record.class {
                Class::ANY => {
                    if !is_empty(&record.rdata) {
                        return (Rcode::FORMERR, None);
                    }
                    if record.rtype() == RecordType::ANY {
                        if !in_use {
                            return (Rcode::NXDOMAIN, None);
                        }
                    } else if !rrset_exists(record.rtype()) {
                        return (Rcode::NXRRSET, None);
                    }
                }
                Class::NONE => {
                    if !is_empty(&record.rdata) {
                        return (Rcode::FORMERR, None);
                    }
                    if record.rtype() == RecordType::ANY {
                        if in_use {
                            return (Rcode::YXDOMAIN, None);
                        }
                    } else if rrset_exists(record.rtype()) {
                        return (Rcode::YXRRSET, None);
                    }
                }
                class if class == zone_class => required.push(record),
                _ => return (Rcode::FORMERR, None),
            }
        }
        // Value-dependent prerequisites: each named RRset must be exactly the given set.
        let mut groups: Vec<(&Name, RecordType)> = required
            .iter()
            .map(|record| (&record.name, record.rtype()))
            .collect();
        groups.dedup();
        for (name, rtype) in groups {
            let mut wanted: Vec<&Rdata> = required
                .iter()
                .filter(|r| &r.name == name && r.rtype() == rtype)
                .map(|r| &r.rdata)
                .collect();
            wanted.dedup();
            let have: Vec<&Rdata> = zone
                .node(name)
                .and_then(|node| node.rrset(rtype))
                .map(|rrset| rrset.iter().map(|r| &r.rdata).collect())
                .unwrap_or_default();
            let same = have.len() == wanted.len() && wanted.iter().all(|w| have.contains(w));
            if !same {
                return (Rcode::NXRRSET, None);
            }
        }

        // RFC 2136 §3.4.1: prescan the updates.
        for record in &message.authority {
            if !record.name.is_subdomain_of(&origin) {
                return (Rcode::NOTZONE, None);
            }
            let rtype = record.rtype();
            let meta = rtype.is_meta() || rtype == RecordType::ANY;
            match record.class {
                class if class == zone_class => {
                    if meta || is_empty(&record.rdata) {
                        return (Rcode::FORMERR, None);
                    }
                }
                Class::ANY => {
                    let bad_type = rtype.is_meta() && rtype != RecordType::ANY;
                    if record.ttl != 0 || !is_empty(&record.rdata) || bad_type {
                        return (Rcode::FORMERR, None);
                    }
                }
                Class::NONE => {
                    if record.ttl != 0 || meta {
                        return (Rcode::FORMERR, None);
                    }
                }
                _ => return (Rcode::FORMERR, None),
            }
        }

        // RFC 2136 §3.4.2: apply.
        let Some(served) = self.zones.get_mut(&origin) else {
            return (Rcode::SERVFAIL, None);
        };
        let zone = &mut served.zone;
        let old_serial = zone.serial();
        let mut changed = false;
        let mut soa_set = false;
        for record in &message.authority {
            let rtype = record.rtype();
            let at_apex = record.name == origin;
            match record.class {
                Class::ANY => {
                    if rtype == RecordType::ANY {
                        if at_apex {
                            let types: Vec<RecordType> = zone
                                .node(&origin)
                                .map(|node| node.rrsets().map(|s| s[0].rtype()).collect())
                                .unwrap_or_default();
                            for t in types {
                                if t != RecordType::SOA && t != RecordType::NS {
                                    changed |= zone.remove(&origin, Some(t), None) > 0;
                                }
                            }
                        } else {
                            changed |= zone.remove(&record.name, None, None) > 0;
                        }
                    } else if !(at_apex && (rtype == RecordType::SOA || rtype == RecordType::NS)) {
                        changed |= zone.remove(&record.name, Some(rtype), None) > 0;
                    }
                }
                Class::NONE => {
                    if rtype == RecordType::SOA {
                        continue;
                    }
                    if at_apex && rtype == RecordType::NS {
                        let count = zone
                            .node(&origin)
                            .and_then(|node| node.rrset(RecordType::NS))
                            .map_or(0, <[Record]>::len);
                        if count <= 1 {
                            continue;
                        }
                    }
                    changed |= zone.remove(&record.name, Some(rtype), Some(&record.rdata)) > 0;
                }
                _ => {
                    if rtype == RecordType::SOA {
                        if let Rdata::Soa(soa) = &record.rdata {
                            if at_apex && serial_after(soa.serial, zone.serial()) {
                                zone.set_soa((**soa).clone(), Some(record.ttl));
                                changed = true;
                                soa_set = true;
                            }
                        }
                        continue;
                    }
                    let node = zone.node(&record.name);
                    let has_cname = node.is_some_and(|n| n.rrset(RecordType::CNAME).is_some());
                    let has_other =
                        node.is_some_and(|n| n.rrsets().any(|s| s[0].rtype() != RecordType::CNAME));
                    // RFC 2136 §3.4.2.2: a CNAME never joins other data, nor other data a
                    // CNAME.
                    if (rtype == RecordType::CNAME && has_other)
                        || (rtype != RecordType::CNAME && has_cname)
                    {
                        continue;
                    }
                    if rtype == RecordType::CNAME && has_cname {
                        zone.remove(&record.name, Some(RecordType::CNAME), None);
                    }
                    changed |= zone.insert(record.clone());
                }
            }
        }
        if !changed {
            return (Rcode::NOERROR, None);
        }
        if !soa_set {
            let mut soa = zone.soa().clone();
            soa.serial = next_serial(old_serial);
            zone.set_soa(soa, None);
        }
        (Rcode::NOERROR, Some(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{Acl, Transport, ZonePolicy};
    use crate::zone::Zone;
    use dns_proto::tsig::{self, TsigKey};
    use dns_proto::Question;
    use std::net::IpAddr;

    const COM: &str = "$TTL 172800
@ SOA a.gtld-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400
@ NS a.gtld-servers.net.
taken NS ns1.taken
ns1.taken A 192.0.2.1
";

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    fn key() -> TsigKey {
        TsigKey::from_base64("registrar", "cmVnaXN0cmFyLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm").unwrap()
    }

    fn authority() -> Authority {
        let mut authority = Authority::new();
        authority.add_key(key());
        let policy = ZonePolicy {
            allow_update: Acl {
                addresses: vec!["127.0.0.9".parse().unwrap()],
                keys: vec![key().name],
            },
            ..ZonePolicy::default()
        };
        authority.insert_zone(
            Zone::parse_str(COM, &name("com"), "com.zone").unwrap(),
            policy,
        );
        authority
    }

    fn info(peer: &str) -> RequestInfo {
        RequestInfo {
            peer: peer.parse::<IpAddr>().unwrap(),
            transport: Transport::Udp,
            now: 1_800_000_000,
        }
    }

    /// The registrar's UPDATE: the name must not be in use; add NS and glue.
    fn register(domain: &str) -> Message {
        let domain = name(domain);
        let mut update = Message::query(42, Question::new(name("com"), RecordType::SOA), false);
        update.opcode = Opcode::UPDATE;
        update.answers.push(Record {
            name: domain.clone(),
            class: Class::NONE,
            ttl: 0,
            rdata: Rdata::Unknown {
                rtype: RecordType::ANY,
                data: Vec::new(),
            },
        });
        let ns = domain.prepend(b"dns1").unwrap();
        update
            .authority
            .push(Record::new(domain.clone(), 172800, Rdata::Ns(ns.clone())));
        update.authority.push(Record::new(
            ns,
            172800,
            Rdata::A("212.2.212.1".parse().unwrap()),
        ));
        update
    }

    fn rcode(reply: &[u8]) -> Rcode {
        Message::decode(reply).unwrap().rcode
    }

    #[test]
    fn signed_registration_adds_delegation_then_refuses_existing_name() {
        let mut authority = authority();
        let info = info("127.0.0.1");
        let mut wire = register("networkutopia.com").encode();
        let mac = tsig::sign(&mut wire, &key(), info.now, None);
        let outcome = authority.handle_update(&wire, &info);
        let reply = outcome.reply.unwrap();
        assert_eq!(rcode(&reply), Rcode::NOERROR);
        let signer = key();
        assert!(tsig::verify(&reply, |_| Some(&signer), info.now, Some(&mac)).is_ok());
        assert_eq!(outcome.changed, Some(name("com")));
        let zone = authority.zone(&name("com")).unwrap();
        assert_eq!(zone.serial(), 2);
        // The delegation now answers as a referral with glue.
        let query = Message::query(
            1,
            Question::new(name("www.networkutopia.com"), RecordType::A),
            false,
        );
        let answer = authority.answer(&query);
        assert!(!answer.flags.aa);
        assert_eq!(
            answer.authority[0].rdata,
            Rdata::Ns(name("dns1.networkutopia.com"))
        );
        assert_eq!(
            answer.additional[0].rdata,
            Rdata::A("212.2.212.1".parse().unwrap())
        );
        // Registering it again fails on the prerequisite.
        let mut wire = register("networkutopia.com").encode();
        tsig::sign(&mut wire, &key(), info.now, None);
        let outcome = authority.handle_update(&wire, &info);
        assert_eq!(rcode(&outcome.reply.unwrap()), Rcode::YXDOMAIN);
        assert_eq!(outcome.changed, None);
        assert_eq!(authority.zone(&name("com")).unwrap().serial(), 2);
    }

    #[test]
    fn authorisation_by_address_or_key_only() {
        let mut authority = authority();
        let unsigned = register("new.com").encode();
        let outcome = authority.handle_update(&unsigned, &info("127.0.0.1"));
        assert_eq!(rcode(&outcome.reply.unwrap()), Rcode::REFUSED);
        let outcome = authority.handle_update(&unsigned, &info("127.0.0.9"));
        assert_eq!(rcode(&outcome.reply.unwrap()), Rcode::NOERROR);
        // A wrong key: NOTAUTH with BADKEY.
        let mut wire = register("other.com").encode();
        let stranger = TsigKey::from_base64("stranger", "AAAA").unwrap();
        tsig::sign(&mut wire, &stranger, 1_800_000_000, None);
        let reply = authority
            .handle_update(&wire, &info("127.0.0.1"))
            .reply
            .unwrap();
        let message = Message::decode(&reply).unwrap();
        assert_eq!(message.rcode, Rcode::NOTAUTH);
        let Rdata::Tsig(tsig) = &message.additional.last().unwrap().rdata else {
            panic!("TSIG error record expected");
        };
        assert_eq!(tsig.error, Rcode::BADKEY);
        // Outside the zone: NOTZONE; unknown zone: NOTAUTH.
        let mut update = register("x.org");
        update.answers.clear();
        assert_eq!(
            rcode(
                &authority
                    .handle_update(&update.encode(), &info("127.0.0.9"))
                    .reply
                    .unwrap()
            ),
            Rcode::NOTZONE
        );
        update.questions[0].name = name("org");
        assert_eq!(
            rcode(
                &authority
                    .handle_update(&update.encode(), &info("127.0.0.9"))
                    .reply
                    .unwrap()
            ),
            Rcode::NOTAUTH
        );
    }

    #[test]
    fn deletions_and_apex_protection() {
        let mut authority = authority();
        let peer = info("127.0.0.9");
        let mut update = Message::query(7, Question::new(name("com"), RecordType::SOA), false);
        update.opcode = Opcode::UPDATE;
        let empty = |rtype| Rdata::Unknown {
            rtype,
            data: Vec::new(),
        };
        // Delete everything at the apex (SOA and NS survive) and the taken.com delegation.
        update.authority.push(Record {
            name: name("com"),
            class: Class::ANY,
            ttl: 0,
            rdata: empty(RecordType::ANY),
        });
        update.authority.push(Record {
            name: name("taken.com"),
            class: Class::ANY,
            ttl: 0,
            rdata: empty(RecordType::NS),
        });
        let outcome = authority.handle_update(&update.encode(), &peer);
        assert_eq!(rcode(&outcome.reply.unwrap()), Rcode::NOERROR);
        let zone = authority.zone(&name("com")).unwrap();
        assert_eq!(zone.len(), 3, "{}", zone.to_text());
        // A prerequisite that the (now gone) RRset exists fails with NXRRSET.
        let mut update = Message::query(8, Question::new(name("com"), RecordType::SOA), false);
        update.opcode = Opcode::UPDATE;
        update.answers.push(Record {
            name: name("taken.com"),
            class: Class::ANY,
            ttl: 0,
            rdata: empty(RecordType::NS),
        });
        assert_eq!(
            rcode(
                &authority
                    .handle_update(&update.encode(), &peer)
                    .reply
                    .unwrap()
            ),
            Rcode::NXRRSET
        );
    }
}
