//! dnspython as a decoding oracle for the messages our resolver emits: upstream queries (as
//! captured by a fake server) and client replies.

use crate::harness;
use dns_proto::{Message, Name, Question, RecordType};
use dns_resolver::{ClientId, Options, Resolver, Transport};
use std::time::Instant;

fn name(text: &str) -> Name {
    Name::parse(text, None).unwrap()
}

#[test]
fn dnspython_decodes_our_upstream_queries_and_client_replies() {
    let options = Options {
        root_hints: vec![(name("a.root.test."), "127.0.0.1:53".parse().unwrap())],
        ..Options::default()
    };
    let mut resolver = Resolver::new(options, [3; 32]);
    let now = Instant::now();
    let mut corpus: Vec<(Vec<u8>, &str)> = Vec::new();
    for (i, qtype) in [
        RecordType::A,
        RecordType::MX,
        RecordType::TXT,
        RecordType::AAAA,
    ]
    .into_iter()
    .enumerate()
    {
        let query = Message::query(
            i as u16,
            Question::new(name("GaIa.cs.umass.edu."), qtype),
            true,
        );
        let reply = resolver.handle_client(
            now,
            ClientId(i as u64),
            "127.0.0.1".parse().unwrap(),
            Transport::Udp,
            &query.encode(),
        );
        assert!(reply.is_none());
        let transmit = resolver.poll_transmit().unwrap();
        corpus.push((transmit.message, "query"));
    }
    // SERVFAIL replies after the timeout, and an immediate REFUSED.
    resolver.handle_timeout(now + std::time::Duration::from_secs(60));
    while let Some(reply) = resolver.poll_reply() {
        corpus.push((reply.message, "servfail"));
    }
    let norec = Message::query(9, Question::new(name("x.test."), RecordType::A), false);
    let refused = resolver
        .handle_client(
            now,
            ClientId(99),
            "127.0.0.1".parse().unwrap(),
            Transport::Udp,
            &norec.encode(),
        )
        .unwrap();
    corpus.push((refused, "refused"));
    assert!(corpus.len() >= 9);
    for (bytes, kind) in corpus {
        let Some(decoded) = harness::dnspython_decode(&bytes) else {
            return;
        };
        let json = decoded.unwrap_or_else(|error| panic!("dnspython rejects our {kind}: {error}"));
        let ours = Message::decode(&bytes).unwrap();
        assert_eq!(json["id"], u64::from(ours.id));
        assert_eq!(
            json["question"][0]["name"].as_str().unwrap().to_lowercase(),
            "gaia.cs.umass.edu.".to_string().replace(
                "gaia.cs.umass.edu.",
                &ours.questions[0].name.to_string().to_lowercase()
            )
        );
        assert_eq!(
            json["question"][0]["type"],
            ours.questions[0].qtype.to_string()
        );
        match kind {
            "query" => {
                assert_eq!(
                    json["flags"].as_array().unwrap().len(),
                    0,
                    "iterative queries have no RD: {json}"
                );
                assert_eq!(json["edns"], 0);
                assert_eq!(json["payload"], 1232);
            }
            "servfail" => {
                assert_eq!(json["rcode"], "SERVFAIL");
                let flags: Vec<&str> = json["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect();
                assert_eq!(flags, ["QR", "RD", "RA"]);
            }
            _ => assert_eq!(json["rcode"], "REFUSED"),
        }
    }
}
