//! The registrar: the DNS UPDATE (RFC 2136) that inserts a new domain's NS records and glue
//! into its TLD zone, signed with TSIG (RFC 8945), and the check of the server's reply.

use dns_proto::tsig::{self, TsigKey};
use dns_proto::{Class, Message, Name, Opcode, Question, Rcode, Rdata, Record, RecordType};
use std::net::{IpAddr, SocketAddr};

/// A domain to register: the seed's `networkutopia.com` with `dns1.networkutopia.com` at
/// 212.212.212.1 and `dns2.networkutopia.com` at 212.212.212.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The new domain (`networkutopia.com.`).
    pub domain: Name,
    /// The zone to update (the TLD, `com.`); by default the domain's parent.
    pub zone: Name,
    /// Its name servers, each with its address when it needs glue (a name inside the domain).
    pub name_servers: Vec<(Name, Option<IpAddr>)>,
    /// TTL of the NS and glue records.
    pub ttl: u32,
}

impl Registration {
    /// A registration of `domain` in its parent zone with the default TTL (2 days, as TLDs use).
    pub fn new(domain: Name, name_servers: Vec<(Name, Option<IpAddr>)>) -> Registration {
        let zone = domain.parent().unwrap_or_else(Name::root);
        Registration {
            domain,
            zone,
            name_servers,
            ttl: 172_800,
        }
    }
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// RFC 2136 §2.4.5 prerequisite failed: the name is in use.
    #[error("{domain} is already registered (the TLD server answered YXDOMAIN)")]
    Exists {
        /// The domain.
        domain: Name,
    },
    /// The registration itself is malformed (no name server, domain not below the zone ...).
    #[error("invalid registration: {0}")]
    Invalid(String),
    /// The server refused our key or signature.
    #[error("the TLD server rejected the update's authorisation: {rcode}{}", tsig_error.map(|e| format!(" (TSIG {e})")).unwrap_or_default())]
    NotAuthorized {
        /// The rcode (NOTAUTH or REFUSED).
        rcode: Rcode,
        /// The TSIG error in the reply, if any.
        tsig_error: Option<Rcode>,
    },
    /// Any other error rcode.
    #[error("the TLD server answered {0}")]
    Rcode(Rcode),
    /// The reply is not a valid reply to our update.
    #[error("bad reply: {0}")]
    BadReply(String),
    /// The reply's TSIG did not verify.
    #[error("the reply's TSIG does not verify: {0}")]
    BadSignature(String),
    /// No reply in time.
    #[error("no reply from {server}")]
    Timeout {
        /// The server.
        server: SocketAddr,
    },
    /// A socket error.
    #[error("{0}")]
    Io(String),
}

/// Checks a registration: at least one name server, the domain strictly below the zone, and an
/// address for (exactly) the name servers inside the domain, which need glue.
pub fn validate(registration: &Registration) -> Result<(), RegisterError> {
    if registration.name_servers.is_empty() {
        return Err(RegisterError::Invalid(
            "at least one name server is needed".into(),
        ));
    }
    if registration.domain == registration.zone
        || !registration.domain.is_subdomain_of(&registration.zone)
    {
        return Err(RegisterError::Invalid(format!(
            "{} is not below the zone {}",
            registration.domain, registration.zone
        )));
    }
    for (server, address) in &registration.name_servers {
        if server.is_subdomain_of(&registration.domain) && address.is_none() {
            return Err(RegisterError::Invalid(format!(
                "{server} is inside {} and needs a glue address (NAME=IP)",
                registration.domain
            )));
        }
    }
    Ok(())
}

/// The UPDATE message (RFC 2136 §2): zone section = the TLD's SOA; prerequisite "name is not
/// in use" (§2.4.5: class NONE, type ANY); updates = the NS RRset and glue A/AAAA records for
/// name servers inside the domain (addresses of outside servers are not the TLD's to publish).
pub fn update_message(registration: &Registration, id: u16) -> Message {
    let mut message = Message::query(
        id,
        Question::new(registration.zone.clone(), RecordType::SOA),
        false,
    );
    message.opcode = Opcode::UPDATE;
    message.answers.push(Record {
        name: registration.domain.clone(),
        class: Class::NONE,
        ttl: 0,
        rdata: Rdata::Unknown {
            rtype: RecordType::ANY,
            data: Vec::new(),
        },
    });
    for (server, _) in &registration.name_servers {
        message.authority.push(Record::new(
            registration.domain.clone(),
            registration.ttl,
            Rdata::Ns(server.clone()),
        ));
    }
    for (server, address) in &registration.name_servers {
        let Some(address) = address else {
            continue;
        };
        if !server.is_subdomain_of(&registration.domain) {
            continue;
        }
        let rdata = match address {
            IpAddr::V4(ip) => Rdata::A(*ip),
            IpAddr::V6(ip) => Rdata::Aaaa(*ip),
        };
        message
            .authority
            .push(Record::new(server.clone(), registration.ttl, rdata));
    }
    message
}

/// The encoded UPDATE, TSIG-signed with `key` at `now` (seconds since the epoch) when given;
/// also returns the request MAC needed to verify the reply.
pub fn encode_update(
    registration: &Registration,
    id: u16,
    key: Option<&TsigKey>,
    now: u64,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wire = update_message(registration, id).encode();
    let mac = key.map(|key| tsig::sign(&mut wire, key, now, None));
    (wire, mac)
}

/// Checks the server's reply to our UPDATE `id`: matching ID and opcode, a valid TSIG when we
/// signed, and NOERROR; YXDOMAIN means the domain exists.
pub fn check_reply(
    registration: &Registration,
    id: u16,
    reply: &[u8],
    key: Option<&TsigKey>,
    request_mac: Option<&[u8]>,
    now: u64,
) -> Result<(), RegisterError> {
    let message =
        Message::decode(reply).map_err(|error| RegisterError::BadReply(error.to_string()))?;
    if !message.flags.qr || message.id != id || message.opcode != Opcode::UPDATE {
        return Err(RegisterError::BadReply("not a reply to our update".into()));
    }
    let tsig_error = message
        .additional
        .last()
        .and_then(|record| match &record.rdata {
            Rdata::Tsig(tsig) if tsig.error != Rcode::NOERROR => Some(tsig.error),
            _ => None,
        });
    if message.rcode == Rcode::NOTAUTH || (message.rcode == Rcode::REFUSED && key.is_some()) {
        return Err(RegisterError::NotAuthorized {
            rcode: message.rcode,
            tsig_error,
        });
    }
    if let Some(key) = key {
        tsig::verify(
            reply,
            |name| (name == &key.name).then_some(key),
            now,
            request_mac,
        )
        .map_err(|error| RegisterError::BadSignature(error.to_string()))?;
    }
    match message.rcode {
        Rcode::NOERROR => Ok(()),
        Rcode::YXDOMAIN => Err(RegisterError::Exists {
            domain: registration.domain.clone(),
        }),
        other => Err(RegisterError::Rcode(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text, None).unwrap()
    }

    fn utopia() -> Registration {
        Registration::new(
            name("networkutopia.com."),
            vec![
                (
                    name("dns1.networkutopia.com."),
                    Some("212.212.212.1".parse().unwrap()),
                ),
                (
                    name("dns2.networkutopia.com."),
                    Some("212.212.212.2".parse().unwrap()),
                ),
                (name("ns.elsewhere.net."), None),
            ],
        )
    }

    #[test]
    fn update_has_zone_prerequisite_ns_and_glue() {
        let registration = utopia();
        validate(&registration).unwrap();
        let message = Message::decode(&update_message(&registration, 77).encode()).unwrap();
        assert_eq!(message.opcode, Opcode::UPDATE);
        assert_eq!(
            message.questions,
            [Question::new(name("com."), RecordType::SOA)]
        );
        // RFC 2136 §2.4.5: NONE ANY, TTL 0, empty RDATA.
        assert_eq!(message.answers.len(), 1);
        assert_eq!(message.answers[0].class, Class::NONE);
        assert_eq!(message.answers[0].rtype(), RecordType::ANY);
        assert_eq!(message.answers[0].ttl, 0);
        let updates: Vec<String> = message.authority.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            updates,
            [
                "networkutopia.com.\t172800\tIN\tNS\tdns1.networkutopia.com.",
                "networkutopia.com.\t172800\tIN\tNS\tdns2.networkutopia.com.",
                "networkutopia.com.\t172800\tIN\tNS\tns.elsewhere.net.",
                "dns1.networkutopia.com.\t172800\tIN\tA\t212.212.212.1",
                "dns2.networkutopia.com.\t172800\tIN\tA\t212.212.212.2",
            ]
        );
    }

    #[test]
    fn invalid_registrations_are_refused() {
        let mut no_glue = utopia();
        no_glue.name_servers[0].1 = None;
        assert!(matches!(validate(&no_glue), Err(RegisterError::Invalid(_))));
        let mut empty = utopia();
        empty.name_servers.clear();
        assert!(validate(&empty).is_err());
        let mut outside = utopia();
        outside.zone = name("org.");
        assert!(validate(&outside).is_err());
    }

    #[test]
    fn signed_update_verifies_and_replies_are_classified() {
        let key = TsigKey::from_base64("registrar.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
        let registration = utopia();
        let (wire, mac) = encode_update(&registration, 9, Some(&key), 1_800_000_000);
        let verified = tsig::verify(
            &wire,
            |n| (n == &key.name).then_some(&key),
            1_800_000_001,
            None,
        )
        .unwrap();
        assert_eq!(verified.key_name, key.name);
        let request = Message::decode(&wire).unwrap();
        let reply_with = |rcode: Rcode| {
            let mut reply = Message::response_to(&request);
            reply.additional.clear();
            reply.answers.clear();
            reply.authority.clear();
            reply.rcode = rcode;
            let mut bytes = reply.encode();
            tsig::sign(&mut bytes, &key, 1_800_000_001, mac.as_deref());
            bytes
        };
        let check = |bytes: &[u8]| {
            check_reply(
                &registration,
                9,
                bytes,
                Some(&key),
                mac.as_deref(),
                1_800_000_002,
            )
        };
        assert_eq!(check(&reply_with(Rcode::NOERROR)), Ok(()));
        assert_eq!(
            check(&reply_with(Rcode::YXDOMAIN)),
            Err(RegisterError::Exists {
                domain: name("networkutopia.com.")
            })
        );
        assert!(matches!(
            check(&reply_with(Rcode::NOTAUTH)),
            Err(RegisterError::NotAuthorized { .. })
        ));
        // An unsigned reply to a signed request is rejected.
        let mut unsigned = Message::response_to(&request);
        unsigned.additional.clear();
        assert!(matches!(
            check(&unsigned.encode()),
            Err(RegisterError::BadSignature(_))
        ));
        // Never panics on prefixes.
        let good = reply_with(Rcode::NOERROR);
        for len in 0..good.len() {
            let _ = check(&good[..len]);
        }
    }
}
