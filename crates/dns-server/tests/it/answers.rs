//! Answer logic over the test zone, sans-IO, filed by RFC.

use crate::util::*;
use dns_proto::{Class, Header, Message, Opcode, Rcode, Rdata, RecordType};
use dns_server::{Handled, Transport, ZonePolicy};

fn answer(qname: &str, qtype: RecordType) -> Message {
    let authority = authority(ZonePolicy::default());
    exchange(&authority, &query(qname, qtype).encode(), &udp_info())
}

fn texts(records: &[dns_proto::Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

/// RFC 1035 §4.1.1 AA: "the responding name server is an authority for the domain name in
/// question section".
#[test]
fn authoritative_answer_with_aa() {
    let response = answer("ns2.example.com", RecordType::AAAA);
    assert!(response.flags.aa && response.flags.qr);
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert_eq!(
        texts(&response.answers),
        ["ns2.example.com.\t3600\tIN\tAAAA\t2001:db8::2"]
    );
    assert_eq!(response.id, 4711);
}

/// RFC 4343: names compare case-insensitively; the question is echoed as sent.
#[test]
fn case_insensitive_lookup_preserves_question_case() {
    let response = answer("NS2.Example.COM", RecordType::A);
    assert_eq!(response.answers.len(), 1);
    assert_eq!(response.questions[0].name.to_string(), "NS2.Example.COM.");
}

/// RFC 1034 §4.3.2 step 3.a: "If the data at the node is a CNAME, and QTYPE doesn't match
/// CNAME, copy the CNAME RR into the answer section ... and go back to step 1."
#[test]
fn cname_chain_followed_inside_the_zone() {
    let response = answer("chain.example.com", RecordType::A);
    let types: Vec<RecordType> = response.answers.iter().map(|r| r.rtype()).collect();
    assert_eq!(
        types,
        [
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::A,
            RecordType::A,
            RecordType::A
        ]
    );
    assert!(response.flags.aa);
    // Asking for the CNAME itself does not follow it.
    let response = answer("alias.example.com", RecordType::CNAME);
    assert_eq!(response.answers.len(), 1);
}

#[test]
fn cname_out_of_zone_and_loops_stop() {
    let response = answer("outside.example.com", RecordType::A);
    assert_eq!(
        texts(&response.answers),
        ["outside.example.com.\t3600\tIN\tCNAME\twww.example.net."]
    );
    assert_eq!(response.rcode, Rcode::NOERROR);
    let response = answer("loop1.example.com", RecordType::A);
    assert_eq!(response.answers.len(), 2, "{response}");
}

/// RFC 2308 §3 and §5: the SOA goes in authority; its TTL is min(SOA TTL, MINIMUM).
#[test]
fn nxdomain_and_nodata_carry_the_soa_with_negative_ttl() {
    let response = answer("nope.example.com", RecordType::A);
    assert_eq!(response.rcode, Rcode::NXDOMAIN);
    assert!(response.flags.aa);
    assert!(response.answers.is_empty());
    assert_eq!(response.authority.len(), 1);
    assert_eq!(response.authority[0].rtype(), RecordType::SOA);
    assert_eq!(response.authority[0].ttl, 300);
    let response = answer("www.example.com", RecordType::MX);
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert!(response.answers.is_empty());
    assert_eq!(response.authority[0].ttl, 300);
}

/// RFC 4592 §2.2.2: an empty non-terminal exists (NODATA, not NXDOMAIN), and blocks wildcards.
#[test]
fn empty_non_terminals_are_nodata() {
    let response = answer("b.c.example.com", RecordType::A);
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert!(response.answers.is_empty());
    let response = answer("x.c.example.com", RecordType::A);
    assert_eq!(response.rcode, Rcode::NXDOMAIN);
}

/// RFC 4592 §3.3.1: the wildcard answers for names below its closest encloser that do not
/// exist, with the query name as owner.
#[test]
fn wildcards_synthesise_answers() {
    let response = answer("anything.wild.example.com", RecordType::A);
    assert_eq!(
        texts(&response.answers),
        ["anything.wild.example.com.\t3600\tIN\tA\t192.0.2.99"]
    );
    assert!(response.flags.aa);
    // Several labels deep.
    let response = answer("x.y.wild.example.com", RecordType::TXT);
    assert_eq!(response.answers.len(), 1);
    assert_eq!(response.answers[0].name, name("x.y.wild.example.com"));
    // NODATA for a type the wildcard lacks.
    let response = answer("z.wild.example.com", RecordType::AAAA);
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert!(response.answers.is_empty());
    assert_eq!(response.authority[0].rtype(), RecordType::SOA);
    // The wildcard owner itself, asked literally.
    let response = answer("*.wild.example.com", RecordType::A);
    assert_eq!(response.answers.len(), 1);
    // Not above the wildcard: wild.example.com exists only as an empty non-terminal.
    let response = answer("wild.example.com", RecordType::A);
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert!(response.answers.is_empty());
}

/// RFC 1035 §3.3.9, §3.3.11, RFC 2782: additional-section addresses for MX, NS, SRV targets.
#[test]
fn additional_addresses_for_mx_ns_srv() {
    let response = answer("example.com", RecordType::MX);
    assert_eq!(response.answers.len(), 2);
    assert_eq!(
        texts(&response.additional),
        ["mail.example.com.\t3600\tIN\tA\t192.0.2.25"]
    );
    let response = answer("example.com", RecordType::NS);
    let additional = texts(&response.additional);
    assert_eq!(additional.len(), 3, "{additional:?}");
    assert!(additional.contains(&"ns2.example.com.\t3600\tIN\tAAAA\t2001:db8::2".to_string()));
    let response = answer("_sip._udp.example.com", RecordType::SRV);
    assert_eq!(
        texts(&response.additional),
        ["ns1.example.com.\t3600\tIN\tA\t192.0.2.1"]
    );
    // Wildcard MX gets its additional too.
    let response = answer("w.wild.example.com", RecordType::MX);
    assert_eq!(response.additional.len(), 1);
}

/// A root-like zone whose own name servers sit below one of its cuts (`a.root-servers.net`
/// under `net.`): the apex NS answer carries their glue, as NSD and BIND give it, while a
/// direct question for the name is still a referral and an MX target below the cut gets none.
#[test]
fn apex_ns_answers_carry_glue_below_a_cut() {
    let text = "$TTL 3600\n\
        @ IN SOA a.root-servers.net. admin.root. 1 3600 600 604800 86400\n\
        @ NS a.root-servers.net.\n\
        @ MX 10 mx.net.\n\
        net. NS a.root-servers.net.\n\
        a.root-servers.net. A 127.0.1.1\n\
        mx.net. A 127.0.1.25\n";
    let zone = dns_server::Zone::parse_str(text, &name("."), "root.zone").unwrap();
    let mut authority = dns_server::Authority::new();
    authority.insert_zone(zone, ZonePolicy::default());
    let ask = |qname: &str, qtype| exchange(&authority, &query(qname, qtype).encode(), &udp_info());
    let roots = ask(".", RecordType::NS);
    assert!(roots.flags.aa);
    assert_eq!(
        texts(&roots.additional),
        ["a.root-servers.net.\t3600\tIN\tA\t127.0.1.1"]
    );
    let direct = ask("a.root-servers.net", RecordType::A);
    assert!(!direct.flags.aa && direct.answers.is_empty());
    assert_eq!(direct.authority[0].rtype(), RecordType::NS);
    let mx = ask(".", RecordType::MX);
    assert_eq!(mx.answers.len(), 1);
    assert!(mx.additional.is_empty(), "{:?}", texts(&mx.additional));
}

/// RFC 1034 §4.3.2 step 3.b: below a cut, a referral: AA=0, the NS set in authority, glue.
#[test]
fn referrals_with_glue_and_no_aa() {
    for qname in [
        "sub.example.com",
        "www.sub.example.com",
        "ns.sub.example.com",
    ] {
        let response = answer(qname, RecordType::A);
        assert!(!response.flags.aa, "{qname}");
        assert_eq!(response.rcode, Rcode::NOERROR);
        assert!(response.answers.is_empty());
        let mut authority = texts(&response.authority);
        authority.sort();
        assert_eq!(
            authority,
            [
                "sub.example.com.\t3600\tIN\tNS\tns.example.net.",
                "sub.example.com.\t3600\tIN\tNS\tns.sub.example.com."
            ]
        );
        assert_eq!(
            texts(&response.additional),
            ["ns.sub.example.com.\t3600\tIN\tA\t192.0.2.53"]
        );
    }
    // DS at the cut belongs to the parent side: NODATA with AA.
    let response = answer("sub.example.com", RecordType::DS);
    assert!(response.flags.aa);
    assert_eq!(response.authority[0].rtype(), RecordType::SOA);
}

#[test]
fn refused_outside_our_zones() {
    let response = answer("www.example.org", RecordType::A);
    assert_eq!(response.rcode, Rcode::REFUSED);
    assert!(!response.flags.aa);
    let response = answer(".", RecordType::NS);
    assert_eq!(response.rcode, Rcode::REFUSED);
}

/// RFC 1035 §4.1.1: FORMERR for a query the server cannot interpret.
#[test]
fn formerr_for_malformed_queries() {
    let authority = authority(ZonePolicy::default());
    let mut bytes = query("www.example.com", RecordType::A).encode();
    bytes.truncate(bytes.len() - 2);
    let response = exchange(&authority, &bytes, &udp_info());
    assert_eq!(response.rcode, Rcode::FORMERR);
    assert_eq!(response.id, 4711);
    // Two questions.
    let mut two = query("www.example.com", RecordType::A);
    two.questions.push(two.questions[0].clone());
    assert_eq!(
        exchange(&authority, &two.encode(), &udp_info()).rcode,
        Rcode::FORMERR
    );
    // A header alone with nothing in it.
    let header = Header::decode(&bytes).unwrap();
    let mut empty = header;
    empty.qdcount = 0;
    assert_eq!(
        exchange(&authority, &empty.encode(), &udp_info()).rcode,
        Rcode::FORMERR
    );
    // Too short for a header, or a response: dropped.
    assert_eq!(authority.handle(&bytes[..5], &udp_info()), Handled::Drop);
    let mut response = answer("www.example.com", RecordType::A);
    response.flags.qr = true;
    assert_eq!(
        authority.handle(&response.encode(), &udp_info()),
        Handled::Drop
    );
}

#[test]
fn notimp_for_unknown_opcodes() {
    let authority = authority(ZonePolicy::default());
    for opcode in [Opcode::IQUERY, Opcode::STATUS, Opcode(3), Opcode(15)] {
        let mut message = query("www.example.com", RecordType::A);
        message.opcode = opcode;
        let response = exchange(&authority, &message.encode(), &udp_info());
        assert_eq!(response.rcode, Rcode::NOTIMP, "{opcode}");
        assert_eq!(response.opcode, opcode);
    }
}

/// RFC 6891 §6.1.3: a version we do not implement gets BADVERS; §6.2.3 the DO bit is echoed.
#[test]
fn edns_badvers_and_do_bit() {
    let authority = authority(ZonePolicy::default());
    let mut message = query_edns("www.example.com", RecordType::A, 4096);
    message.edns.as_mut().unwrap().version = 1;
    let response = exchange(&authority, &message.encode(), &udp_info());
    assert_eq!(response.rcode, Rcode::BADVERS);
    assert_eq!(response.edns.unwrap().version, 0);
    let mut message = query_edns("www.example.com", RecordType::A, 4096);
    message.edns.as_mut().unwrap().dnssec_ok = true;
    message
        .edns
        .as_mut()
        .unwrap()
        .options
        .push(dns_proto::EdnsOption {
            code: 65000,
            data: vec![1],
        });
    let response = exchange(&authority, &message.encode(), &udp_info());
    assert_eq!(response.rcode, Rcode::NOERROR);
    assert!(response.edns.unwrap().dnssec_ok);
    // Without EDNS in the query, none in the response.
    let response = exchange(
        &authority,
        &query("www.example.com", RecordType::A).encode(),
        &udp_info(),
    );
    assert!(response.edns.is_none());
}

/// RFC 1035 §4.2.1 and RFC 7766: larger than the client's UDP size → TC=1; TCP gets it all.
#[test]
fn truncation_by_udp_size_and_full_answer_over_tcp() {
    let authority = authority(ZonePolicy::default());
    let response = exchange(
        &authority,
        &query("big.example.com", RecordType::TXT).encode(),
        &udp_info(),
    );
    assert!(response.flags.tc);
    assert!(response.answers.is_empty());
    // A large EDNS buffer fits it.
    let bytes = query_edns("big.example.com", RecordType::TXT, 4096).encode();
    let response = exchange(&authority, &bytes, &udp_info());
    assert!(!response.flags.tc);
    assert_eq!(response.answers.len(), 4);
    let mut tcp = udp_info();
    tcp.transport = Transport::Tcp;
    let response = exchange(
        &authority,
        &query("big.example.com", RecordType::TXT).encode(),
        &tcp,
    );
    assert!(!response.flags.tc);
    assert_eq!(response.answers.len(), 4);
}

/// The seed's cnn.com example: the address set rotates from answer to answer; a per-zone
/// switch turns it off.
#[test]
fn round_robin_rotation_and_switch() {
    let authority = authority(ZonePolicy::default());
    let firsts: Vec<String> = (0..3)
        .map(|_| {
            let response = exchange(
                &authority,
                &query("www.example.com", RecordType::A).encode(),
                &udp_info(),
            );
            assert_eq!(response.answers.len(), 3);
            response.answers[0].rdata.to_string()
        })
        .collect();
    let mut sorted = firsts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "each address leads once: {firsts:?}");
    let fixed = crate::util::authority(ZonePolicy {
        round_robin: false,
        ..ZonePolicy::default()
    });
    for _ in 0..3 {
        let response = exchange(
            &fixed,
            &query("www.example.com", RecordType::A).encode(),
            &udp_info(),
        );
        assert_eq!(
            response.answers[0].rdata,
            Rdata::A("192.0.2.80".parse().unwrap())
        );
    }
}

#[test]
fn other_types_any_and_classes() {
    let response = answer("caa.example.com", RecordType::CAA);
    assert_eq!(
        texts(&response.answers),
        ["caa.example.com.\t3600\tIN\tCAA\t0 issue \"ca.example.net\""]
    );
    let response = answer("opaque.example.com", RecordType(65280));
    assert_eq!(
        texts(&response.answers),
        ["opaque.example.com.\t3600\tIN\tTYPE65280\t\\# 4 0A000001"]
    );
    let response = answer("ns2.example.com", RecordType::ANY);
    assert_eq!(response.answers.len(), 2);
    let authority = authority(ZonePolicy::default());
    let mut chaos = query("www.example.com", RecordType::A);
    chaos.questions[0].qclass = Class::CH;
    assert_eq!(
        exchange(&authority, &chaos.encode(), &udp_info()).rcode,
        Rcode::REFUSED
    );
    let mut any = query("www.example.com", RecordType::A);
    any.questions[0].qclass = Class::ANY;
    assert_eq!(
        exchange(&authority, &any.encode(), &udp_info())
            .answers
            .len(),
        3
    );
}

/// RFC 5936 §4.1: AXFR only over TCP and only to allowed clients; SOA first and last.
#[test]
fn axfr_policy_and_shape() {
    let closed = authority(ZonePolicy::default());
    let mut tcp = udp_info();
    tcp.transport = Transport::Tcp;
    let request = query("example.com", RecordType::AXFR).encode();
    assert_eq!(exchange(&closed, &request, &tcp).rcode, Rcode::REFUSED);
    let open = authority(ZonePolicy {
        allow_transfer: dns_server::Acl {
            addresses: vec!["127.0.0.1".parse().unwrap()],
            keys: Vec::new(),
        },
        ..ZonePolicy::default()
    });
    assert_eq!(exchange(&open, &request, &udp_info()).rcode, Rcode::REFUSED);
    let Handled::Transfer(messages) = open.handle(&request, &tcp) else {
        panic!("a transfer");
    };
    let records: Vec<dns_proto::Record> = messages
        .iter()
        .flat_map(|m| Message::decode(m).unwrap().answers)
        .collect();
    assert_eq!(records.len(), example_zone().len() + 1);
    assert_eq!(records.first().unwrap().rtype(), RecordType::SOA);
    assert_eq!(records.last().unwrap().rtype(), RecordType::SOA);
}

/// Never a panic, whatever the bytes: every prefix and random mutations of a query.
#[test]
fn hostile_input_never_panics() {
    let authority = authority(ZonePolicy::default());
    let bytes = query_edns("x.y.wild.example.com", RecordType::MX, 1232).encode();
    for len in 0..bytes.len() {
        let _ = authority.handle(&bytes[..len], &udp_info());
    }
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut mutated = bytes.clone();
        let at = (state as usize) % mutated.len();
        mutated[at] = (state >> 32) as u8;
        if let Handled::Reply(reply) = authority.handle(&mutated, &udp_info()) {
            assert!(Message::decode(&reply).is_ok());
        }
    }
}
