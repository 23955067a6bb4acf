//! Scenario tests of the resolver against simulated authoritative servers in virtual time.

use crate::cache::{CacheLimits, Lookup};
use crate::machine::{ClientId, Event, Options, Outcome, Resolver, Transport};
use dns_proto::{Class, Edns, Message, Name, Question, Rcode, Rdata, Record, RecordType, Soa};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

fn name(text: &str) -> Name {
    Name::parse(text, None).unwrap()
}

fn addr(text: &str) -> SocketAddr {
    SocketAddr::new(text.parse().unwrap(), 53)
}

fn a(owner: &str, ip: &str) -> Record {
    Record::new(name(owner), 3600, Rdata::A(ip.parse().unwrap()))
}

fn ns(owner: &str, target: &str) -> Record {
    Record::new(name(owner), 3600, Rdata::Ns(name(target)))
}

fn cname(owner: &str, target: &str) -> Record {
    Record::new(name(owner), 3600, Rdata::Cname(name(target)))
}

fn soa(owner: &str) -> Record {
    Record::new(
        name(owner),
        3600,
        Rdata::Soa(Box::new(Soa {
            mname: name("ns.invalid."),
            rname: name("hostmaster.invalid."),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 300,
        })),
    )
}

/// A tiny authoritative server for tests: one zone, answers like NSD would.
#[derive(Clone)]
struct Zone {
    origin: Name,
    records: Vec<Record>,
}

impl Zone {
    fn new(origin: &str, records: Vec<Record>) -> Zone {
        let mut records = records;
        records.push(soa(origin));
        Zone {
            origin: name(origin),
            records,
        }
    }

    fn answer(&self, query: &Message) -> Message {
        let question = query.question().unwrap().clone();
        let mut response = Message::response_to(query);
        let qname = question.name.clone();
        if !qname.is_subdomain_of(&self.origin) {
            response.rcode = Rcode::REFUSED;
            return response;
        }
        // Delegation below the origin, above or at the name?
        let mut cursor = Some(qname.clone());
        while let Some(cut) = cursor {
            if cut == self.origin {
                break;
            }
            let cut_ns: Vec<Record> = self
                .records
                .iter()
                .filter(|r| r.name == cut && r.rtype() == RecordType::NS)
                .cloned()
                .collect();
            if !cut_ns.is_empty() {
                for record in &cut_ns {
                    if let Rdata::Ns(target) = &record.rdata {
                        response.additional.extend(
                            self.records
                                .iter()
                                .filter(|r| &r.name == target && r.rtype() == RecordType::A)
                                .cloned(),
                        );
                    }
                }
                response.authority = cut_ns;
                return response;
            }
            cursor = cut.parent();
        }
        response.flags.aa = true;
        let mut current = qname;
        for _ in 0..8 {
            let exact: Vec<Record> = self
                .records
                .iter()
                .filter(|r| r.name == current && r.rtype() == question.qtype)
                .cloned()
                .collect();
            if !exact.is_empty() {
                response.answers.extend(exact);
                return response;
            }
            let alias = self
                .records
                .iter()
                .find(|r| r.name == current && r.rtype() == RecordType::CNAME)
                .cloned();
            match alias {
                Some(record) => {
                    let Rdata::Cname(target) = &record.rdata else {
                        unreachable!()
                    };
                    let target = target.clone();
                    response.answers.push(record);
                    if !target.is_subdomain_of(&self.origin) {
                        return response;
                    }
                    current = target;
                }
                None => break,
            }
        }
        let exists = self
            .records
            .iter()
            .any(|r| r.name.is_subdomain_of(&current));
        if !exists {
            response.rcode = Rcode::NXDOMAIN;
        }
        response.authority.extend(
            self.records
                .iter()
                .filter(|r| r.rtype() == RecordType::SOA)
                .cloned(),
        );
        response
    }
}

/// How a simulated server behaves.
#[derive(Clone)]
enum Behaviour {
    Serve(Vec<Zone>),
    Silent,
    Fail(Rcode),
    /// Answers a (wrong) TC over UDP, the real answer over TCP.
    TruncateUdp(Vec<Zone>),
    /// Serves, but rewrites each reply first.
    Tamper(Vec<Zone>, fn(&mut Message)),
}

struct Net {
    servers: HashMap<SocketAddr, Behaviour>,
    queries: Vec<(SocketAddr, Question, Transport)>,
}

impl Net {
    fn hierarchy() -> Net {
        let root = Zone::new(
            ".",
            vec![
                ns(".", "a.root."),
                a("a.root.", "10.0.0.1"),
                ns("com.", "a.gtld."),
                ns("edu.", "a.gtld."),
                a("a.gtld.", "10.0.0.2"),
            ],
        );
        let com = Zone::new(
            "com.",
            vec![
                ns("example.com.", "ns1.example.com."),
                a("ns1.example.com.", "10.0.0.3"),
                ns("other.com.", "ns.umass.edu."),
                ns("loop.com.", "ns1.example.com."),
            ],
        );
        let edu = Zone::new(
            "edu.",
            vec![
                ns("umass.edu.", "dns.umass.edu."),
                a("dns.umass.edu.", "10.0.0.3"),
            ],
        );
        let umass = Zone::new(
            "umass.edu.",
            vec![
                ns("umass.edu.", "dns.umass.edu."),
                a("dns.umass.edu.", "10.0.0.3"),
                a("ns.umass.edu.", "10.0.0.3"),
                a("gaia.cs.umass.edu.", "128.119.245.12"),
                a("www.umass.edu.", "128.119.245.20"),
                cname("alias.umass.edu.", "gaia.cs.umass.edu."),
            ],
        );
        let example = Zone::new(
            "example.com.",
            vec![
                ns("example.com.", "ns1.example.com."),
                a("ns1.example.com.", "10.0.0.3"),
                cname("www.example.com.", "gaia.cs.umass.edu."),
                a("a.example.com.", "10.1.1.1"),
            ],
        );
        let other = Zone::new(
            "other.com.",
            vec![
                ns("other.com.", "ns.umass.edu."),
                a("host.other.com.", "10.2.2.2"),
            ],
        );
        let looping = Zone::new(
            "loop.com.",
            vec![
                cname("x.loop.com.", "y.loop.com."),
                cname("y.loop.com.", "x.loop.com."),
            ],
        );
        let mut servers = HashMap::new();
        servers.insert(addr("10.0.0.1"), Behaviour::Serve(vec![root]));
        servers.insert(addr("10.0.0.2"), Behaviour::Serve(vec![com, edu]));
        servers.insert(
            addr("10.0.0.3"),
            Behaviour::Serve(vec![umass, example, other, looping]),
        );
        Net {
            servers,
            queries: Vec::new(),
        }
    }

    fn zones(&self, server: SocketAddr) -> Vec<Zone> {
        match self.servers.get(&server) {
            Some(
                Behaviour::Serve(zones)
                | Behaviour::TruncateUdp(zones)
                | Behaviour::Tamper(zones, _),
            ) => zones.clone(),
            _ => Vec::new(),
        }
    }

    /// The reply of `server` to `query` (`None`: no reply).
    fn reply(
        &mut self,
        server: SocketAddr,
        transport: Transport,
        query: &Message,
    ) -> Option<Message> {
        self.queries
            .push((server, query.question().unwrap().clone(), transport));
        let behaviour = self.servers.get(&server)?.clone();
        let best = |zones: &[Zone]| {
            let qname = &query.question().unwrap().name;
            let zone = zones
                .iter()
                .filter(|zone| qname.is_subdomain_of(&zone.origin))
                .max_by_key(|zone| zone.origin.label_count());
            match zone {
                Some(zone) => zone.answer(query),
                None => {
                    let mut refused = Message::response_to(query);
                    refused.rcode = Rcode::REFUSED;
                    refused
                }
            }
        };
        match behaviour {
            Behaviour::Serve(zones) => Some(best(&zones)),
            Behaviour::Silent => None,
            Behaviour::Fail(rcode) => {
                let mut response = Message::response_to(query);
                response.rcode = rcode;
                Some(response)
            }
            Behaviour::TruncateUdp(zones) => {
                let mut response = best(&zones);
                if transport == Transport::Udp {
                    response.answers.clear();
                    response.authority.clear();
                    response.additional.clear();
                    response.flags.tc = true;
                }
                Some(response)
            }
            Behaviour::Tamper(zones, tamper) => {
                let mut response = best(&zones);
                tamper(&mut response);
                Some(response)
            }
        }
    }
}

fn options() -> Options {
    Options {
        root_hints: vec![(name("a.root."), addr("10.0.0.1"))],
        case_randomization: true,
        ..Options::default()
    }
}

struct Sim {
    resolver: Resolver,
    net: Net,
    now: Instant,
    next_client: u64,
    events: Vec<Event>,
}

impl Sim {
    fn new(net: Net, options: Options) -> Sim {
        Sim {
            resolver: Resolver::new(options, [7; 32]),
            net,
            now: Instant::now(),
            next_client: 0,
            events: Vec::new(),
        }
    }

    fn client_query(&mut self, qname: &str, qtype: RecordType) -> Message {
        self.next_client += 1;
        let mut query = Message::query(
            self.next_client as u16,
            Question::new(name(qname), qtype),
            true,
        );
        query.edns = Some(Edns::default());
        let bytes = query.encode();
        let client = ClientId(self.next_client);
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        if let Some(reply) =
            self.resolver
                .handle_client(self.now, client, peer, Transport::Udp, &bytes)
        {
            return Message::decode(&reply).unwrap();
        }
        let reply = self.drive(client);
        let message = Message::decode(&reply).unwrap();
        assert_eq!(message.id, query.id);
        assert_eq!(message.questions, query.questions);
        message
    }

    /// Delivers queries and replies (1 ms each way) until `client` is answered.
    fn drive(&mut self, client: ClientId) -> Vec<u8> {
        for _ in 0..10_000 {
            self.events
                .extend(std::iter::from_fn(|| self.resolver.poll_event()));
            if let Some(reply) = self.resolver.poll_reply() {
                assert_eq!(reply.client, client);
                return reply.message;
            }
            while self.resolver.poll_cancel().is_some() {}
            if let Some(transmit) = self.resolver.poll_transmit() {
                let query = Message::decode(&transmit.message).expect("our query decodes");
                self.now += Duration::from_millis(1);
                if let Some(response) = self.net.reply(transmit.server, transmit.transport, &query)
                {
                    let bytes = response.encode();
                    self.resolver.handle_response(
                        self.now,
                        transmit.upstream,
                        transmit.server,
                        &bytes,
                    );
                }
                continue;
            }
            let deadline = self
                .resolver
                .poll_timeout()
                .expect("a waiting resolver has a deadline");
            assert!(deadline > self.now - Duration::from_secs(1));
            self.now = self.now.max(deadline);
            self.resolver.handle_timeout(self.now);
        }
        panic!("the resolver never answered");
    }

    fn upstream_count(&self) -> usize {
        self.net.queries.len()
    }
}

fn ips(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.rdata {
            Rdata::A(ip) => Some(ip.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn resolves_through_the_hierarchy_then_answers_from_the_cache() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let reply = sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert_eq!(reply.rcode, Rcode::NOERROR);
    assert!(reply.flags.ra && reply.flags.rd && !reply.flags.aa);
    assert_eq!(ips(&reply), ["128.119.245.12"]);
    // Root, TLD, authoritative: the textbook chain.
    let servers: Vec<SocketAddr> = sim.net.queries.iter().map(|(server, ..)| *server).collect();
    assert_eq!(
        servers,
        [addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3")]
    );
    let outcomes: Vec<&Outcome> = sim
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Response { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert!(matches!(outcomes[0], Outcome::Referral { zone, .. } if zone == &name("edu.")));
    assert!(matches!(outcomes[1], Outcome::Referral { zone, .. } if zone == &name("umass.edu.")));
    assert_eq!(outcomes[2], &Outcome::Answer);
    // 0x20: the names sent upstream are not all in the client's case (probability 2^-40).
    let sent_names: Vec<String> = sim
        .net
        .queries
        .iter()
        .map(|(_, q, _)| q.name.to_string())
        .collect();
    assert!(
        sent_names.iter().any(|n| n != "gaia.cs.umass.edu."),
        "{sent_names:?}"
    );

    // Same question: from the cache, TTL counting down.
    sim.now += Duration::from_secs(100);
    let again = sim.client_query("GAIA.cs.umass.edu.", RecordType::A);
    assert_eq!(sim.upstream_count(), 3);
    assert_eq!(ips(&again), ["128.119.245.12"]);
    assert_eq!(again.answers[0].ttl, 3500);
    // And again: replayed from the rendered reply, TTL still counting down, client's case.
    sim.now += Duration::from_secs(50);
    let third = sim.client_query("GAIA.cs.umass.edu.", RecordType::A);
    assert_eq!(third.answers[0].ttl, 3450);
    assert_eq!(third.questions[0].name.to_string(), "GAIA.cs.umass.edu.");
    assert_eq!(sim.resolver.stats().cache_answers, 2);
    // Another name in umass.edu: straight to the authoritative server, bypassing the root.
    let www = sim.client_query("www.umass.edu.", RecordType::A);
    assert_eq!(ips(&www), ["128.119.245.20"]);
    assert_eq!(sim.net.queries[3].0, addr("10.0.0.3"));
    assert_eq!(sim.upstream_count(), 4);
    // After the TTL the answer expires and is fetched again (from the cached zone's server).
    sim.now += Duration::from_secs(3600);
    sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert!(sim.upstream_count() > 4);
}

#[test]
fn follows_cnames_across_zones_and_ignores_out_of_bailiwick_data() {
    let mut net = Net::hierarchy();
    // The example.com server adds a forged address for the CNAME target, outside its zone.
    let zones = net.zones(addr("10.0.0.3"));
    net.servers.insert(
        addr("10.0.0.3"),
        Behaviour::Tamper(zones, |message| {
            if message
                .answers
                .iter()
                .any(|r| r.name == name("www.example.com."))
            {
                message.answers.push(a("gaia.cs.umass.edu.", "6.6.6.6"));
                message.additional.push(a("a.gtld.", "6.6.6.6"));
            }
        }),
    );
    let mut sim = Sim::new(net, options());
    let reply = sim.client_query("www.example.com.", RecordType::A);
    assert_eq!(reply.rcode, Rcode::NOERROR);
    assert_eq!(
        reply.answers[0].rdata,
        Rdata::Cname(name("gaia.cs.umass.edu."))
    );
    assert_eq!(ips(&reply), ["128.119.245.12"]);
    let now = sim.now;
    let cache = sim.resolver.cache_mut();
    assert_eq!(
        cache.addresses(now, &name("a.gtld.")),
        vec!["10.0.0.2".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn looks_up_name_servers_without_glue() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let reply = sim.client_query("host.other.com.", RecordType::A);
    assert_eq!(ips(&reply), ["10.2.2.2"]);
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, Event::Lookup { name: n, .. } if n == &name("ns.umass.edu."))));
}

#[test]
fn negative_answers_are_cached() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let nx = sim.client_query("nope.example.com.", RecordType::A);
    assert_eq!(nx.rcode, Rcode::NXDOMAIN);
    assert_eq!(nx.authority[0].rtype(), RecordType::SOA);
    let count = sim.upstream_count();
    let nx_again = sim.client_query("nope.example.com.", RecordType::AAAA);
    assert_eq!(nx_again.rcode, Rcode::NXDOMAIN);
    assert_eq!(
        sim.upstream_count(),
        count,
        "NXDOMAIN covers every type (RFC 2308 §5)"
    );
    let nodata = sim.client_query("a.example.com.", RecordType::AAAA);
    assert_eq!(nodata.rcode, Rcode::NOERROR);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authority[0].rtype(), RecordType::SOA);
    let count = sim.upstream_count();
    sim.now += Duration::from_secs(299);
    sim.client_query("a.example.com.", RecordType::AAAA);
    assert_eq!(sim.upstream_count(), count);
    // Negative TTL = min(SOA TTL, MINIMUM) = 300 s.
    sim.now += Duration::from_secs(2);
    sim.client_query("a.example.com.", RecordType::AAAA);
    assert_eq!(sim.upstream_count(), count + 1);
}

#[test]
fn silent_and_failing_servers_are_skipped() {
    let mut net = Net::hierarchy();
    let root_zones = net.zones(addr("10.0.0.1"));
    net.servers.insert(addr("10.0.0.9"), Behaviour::Silent);
    net.servers
        .insert(addr("10.0.0.8"), Behaviour::Fail(Rcode::SERVFAIL));
    net.servers
        .insert(addr("10.0.0.1"), Behaviour::Serve(root_zones));
    let mut options = options();
    options.root_hints = vec![
        (name("a.root."), addr("10.0.0.9")),
        (name("b.root."), addr("10.0.0.8")),
        (name("c.root."), addr("10.0.0.1")),
    ];
    let mut sim = Sim::new(net, options);
    let start = sim.now;
    let reply = sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert_eq!(ips(&reply), ["128.119.245.12"]);
    assert!(sim.now - start < Duration::from_secs(3));
}

#[test]
fn unresolvable_question_gets_servfail_in_bounded_time() {
    let mut net = Net::hierarchy();
    net.servers.insert(addr("10.0.0.1"), Behaviour::Silent);
    let mut sim = Sim::new(net, options());
    let start = sim.now;
    let reply = sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert_eq!(reply.rcode, Rcode::SERVFAIL);
    assert!(sim.now - start <= Duration::from_secs(5));
    assert_eq!(sim.resolver.tasks_in_progress(), 0);
    assert!(sim.resolver.poll_timeout().is_none());
}

#[test]
fn cname_loops_get_servfail() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let reply = sim.client_query("x.loop.com.", RecordType::A);
    assert_eq!(reply.rcode, Rcode::SERVFAIL);
}

#[test]
fn truncated_udp_reply_is_retried_over_tcp() {
    let mut net = Net::hierarchy();
    let zones = net.zones(addr("10.0.0.3"));
    net.servers
        .insert(addr("10.0.0.3"), Behaviour::TruncateUdp(zones));
    let mut sim = Sim::new(net, options());
    let reply = sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert_eq!(ips(&reply), ["128.119.245.12"]);
    let last = sim.net.queries.last().unwrap();
    assert_eq!(last.0, addr("10.0.0.3"));
    assert_eq!(last.2, Transport::Tcp);
}

#[test]
fn replies_that_do_not_match_are_dropped() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let query = Message::query(
        1,
        Question::new(name("gaia.cs.umass.edu."), RecordType::A),
        true,
    );
    let client = ClientId(1);
    assert!(sim
        .resolver
        .handle_client(
            sim.now,
            client,
            "192.0.2.1".parse().unwrap(),
            Transport::Udp,
            &query.encode()
        )
        .is_none());
    let transmit = sim.resolver.poll_transmit().unwrap();
    let sent = Message::decode(&transmit.message).unwrap();
    // Forged referral to an attacker's "edu" server, in every wrong variant.
    let forge = |id: u16, qname: &Name| {
        let mut forged = Message::response_to(&Message::query(
            id,
            Question::new(qname.clone(), RecordType::A),
            false,
        ));
        forged.authority.push(ns("edu.", "evil.attacker."));
        forged.answers.push(a("gaia.cs.umass.edu.", "6.6.6.6"));
        forged.encode()
    };
    let qname = sent.question().unwrap().name.clone();
    let lower = qname.to_lowercase();
    let wrong_case = if lower.as_wire() != qname.as_wire() {
        lower
    } else {
        randomized_other(&qname)
    };
    let variants = [
        (transmit.server, forge(sent.id.wrapping_add(1), &qname)),
        (addr("10.9.9.9"), forge(sent.id, &qname)),
        (
            SocketAddr::new(transmit.server.ip(), 5353),
            forge(sent.id, &qname),
        ),
        (transmit.server, forge(sent.id, &wrong_case)),
        (transmit.server, forge(sent.id, &name("other.example."))),
        (transmit.server, vec![0xff; 7]),
    ];
    for (from, bytes) in variants {
        sim.resolver
            .handle_response(sim.now, transmit.upstream, from, &bytes);
    }
    assert_eq!(sim.resolver.stats().ignored, 6);
    // The genuine reply still gets through and resolution completes correctly.
    let real = sim
        .net
        .reply(transmit.server, Transport::Udp, &sent)
        .unwrap();
    sim.resolver
        .handle_response(sim.now, transmit.upstream, transmit.server, &real.encode());
    let reply = Message::decode(&sim.drive(client)).unwrap();
    assert_eq!(ips(&reply), ["128.119.245.12"]);
}

/// Some other case spelling of `qname` (it has letters, so one exists).
fn randomized_other(qname: &Name) -> Name {
    let upper: Vec<Vec<u8>> = qname.labels().map(|l| l.to_ascii_uppercase()).collect();
    Name::from_labels(upper).unwrap()
}

#[test]
fn identical_questions_share_one_resolution() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    for id in 1..=3u16 {
        let query = Message::query(
            id,
            Question::new(name("gaia.cs.umass.edu."), RecordType::A),
            true,
        );
        assert!(sim
            .resolver
            .handle_client(
                sim.now,
                ClientId(u64::from(id)),
                peer,
                Transport::Udp,
                &query.encode()
            )
            .is_none());
    }
    let mut answered = Vec::new();
    for _ in 0..100 {
        while let Some(reply) = sim.resolver.poll_reply() {
            answered.push(Message::decode(&reply.message).unwrap().id);
        }
        let Some(transmit) = sim.resolver.poll_transmit() else {
            break;
        };
        let query = Message::decode(&transmit.message).unwrap();
        let response = sim
            .net
            .reply(transmit.server, transmit.transport, &query)
            .unwrap();
        sim.resolver.handle_response(
            sim.now,
            transmit.upstream,
            transmit.server,
            &response.encode(),
        );
    }
    answered.sort();
    assert_eq!(answered, [1, 2, 3]);
    assert_eq!(sim.upstream_count(), 3);
}

#[test]
fn client_errors_and_limits() {
    let mut sim = Sim::new(
        Net::hierarchy(),
        Options {
            max_per_client: 1,
            ..options()
        },
    );
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    let decode = |bytes: Option<Vec<u8>>| Message::decode(&bytes.expect("a reply")).unwrap();
    // Not decodable but with a header: FORMERR.
    let reply = decode(sim.resolver.handle_client(
        sim.now,
        ClientId(1),
        peer,
        Transport::Udp,
        &[0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3],
    ));
    assert_eq!((reply.id, reply.rcode), (9, Rcode::FORMERR));
    // Too short, or a response: silence.
    assert!(sim
        .resolver
        .handle_client(sim.now, ClientId(2), peer, Transport::Udp, &[1, 2, 3])
        .is_none());
    let mut response = Message::query(5, Question::new(name("a."), RecordType::A), true);
    response.flags.qr = true;
    assert!(sim
        .resolver
        .handle_client(
            sim.now,
            ClientId(3),
            peer,
            Transport::Udp,
            &response.encode()
        )
        .is_none());
    // Class CH: REFUSED; AXFR: NOTIMP; EDNS version 1: BADVERS.
    let mut chaos = Message::query(
        6,
        Question::new(name("version.bind."), RecordType::TXT),
        true,
    );
    chaos.questions[0].qclass = Class::CH;
    assert_eq!(
        decode(sim.resolver.handle_client(
            sim.now,
            ClientId(4),
            peer,
            Transport::Udp,
            &chaos.encode()
        ))
        .rcode,
        Rcode::REFUSED
    );
    let axfr = Message::query(7, Question::new(name("umass.edu."), RecordType::AXFR), true);
    assert_eq!(
        decode(sim.resolver.handle_client(
            sim.now,
            ClientId(5),
            peer,
            Transport::Udp,
            &axfr.encode()
        ))
        .rcode,
        Rcode::NOTIMP
    );
    let mut v1 = Message::query(8, Question::new(name("umass.edu."), RecordType::A), true);
    v1.edns = Some(Edns {
        version: 1,
        ..Edns::default()
    });
    assert_eq!(
        decode(sim.resolver.handle_client(
            sim.now,
            ClientId(6),
            peer,
            Transport::Udp,
            &v1.encode()
        ))
        .rcode,
        Rcode::BADVERS
    );
    // RD=0 and not cached: REFUSED.
    let norec = Message::query(10, Question::new(name("umass.edu."), RecordType::A), false);
    assert_eq!(
        decode(sim.resolver.handle_client(
            sim.now,
            ClientId(7),
            peer,
            Transport::Udp,
            &norec.encode()
        ))
        .rcode,
        Rcode::REFUSED
    );
    // One question in flight per client here: the second distinct one is refused.
    let first = Message::query(
        11,
        Question::new(name("a.example.com."), RecordType::A),
        true,
    );
    assert!(sim
        .resolver
        .handle_client(sim.now, ClientId(8), peer, Transport::Udp, &first.encode())
        .is_none());
    let second = Message::query(
        12,
        Question::new(name("b.example.com."), RecordType::A),
        true,
    );
    assert_eq!(
        decode(sim.resolver.handle_client(
            sim.now,
            ClientId(9),
            peer,
            Transport::Udp,
            &second.encode()
        ))
        .rcode,
        Rcode::REFUSED
    );
}

#[test]
fn never_panics_on_garbage() {
    let mut sim = Sim::new(Net::hierarchy(), options());
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    let query = Message::query(
        1,
        Question::new(name("gaia.cs.umass.edu."), RecordType::A),
        true,
    );
    sim.resolver
        .handle_client(sim.now, ClientId(1), peer, Transport::Udp, &query.encode());
    let transmit = sim.resolver.poll_transmit().unwrap();
    let sent = Message::decode(&transmit.message).unwrap();
    let real = sim
        .net
        .reply(transmit.server, Transport::Udp, &sent)
        .unwrap()
        .encode();
    // Every prefix of a genuine reply and of a query, then pseudo-random bytes.
    for len in 0..real.len() {
        sim.resolver
            .handle_response(sim.now, transmit.upstream, transmit.server, &real[..len]);
        sim.resolver.handle_client(
            sim.now,
            ClientId(2),
            peer,
            Transport::Udp,
            &query.encode()[..len.min(query.encode().len())],
        );
    }
    let mut state = 0x1234_5678u32;
    for _ in 0..2000 {
        let len = (state % 80) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        sim.resolver
            .handle_response(sim.now, transmit.upstream, transmit.server, &bytes);
        sim.resolver
            .handle_client(sim.now, ClientId(3), peer, Transport::Udp, &bytes);
    }
}

#[test]
fn cache_stays_within_its_bound() {
    let mut sim = Sim::new(
        Net::hierarchy(),
        Options {
            cache: CacheLimits {
                max_entries: 8,
                ..CacheLimits::default()
            },
            ..options()
        },
    );
    for i in 0..20 {
        sim.client_query(&format!("n{i}.example.com."), RecordType::A);
        assert!(sim.resolver.cache().len() <= 8);
    }
    assert!(sim.resolver.cache().stats().evictions > 0);
    // Still resolves correctly with a tiny cache.
    let reply = sim.client_query("gaia.cs.umass.edu.", RecordType::A);
    assert_eq!(ips(&reply), ["128.119.245.12"]);
    let now = sim.now;
    assert!(matches!(
        sim.resolver
            .cache_mut()
            .lookup(now, &name("gaia.cs.umass.edu."), RecordType::A),
        Lookup::Records(_)
    ));
}
