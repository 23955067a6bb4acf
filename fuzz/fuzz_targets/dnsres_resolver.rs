//! Fuzz target: the resolver state machine never panics on any client query or upstream reply,
//! including replies that match the query's ID and question but carry arbitrary records.
#![no_main]

use dns_resolver::{ClientId, Options, Resolver, Transport};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let root = "a.root.test.".parse().expect("a valid name");
    let server = "127.0.0.1:53".parse().expect("a valid address");
    let options = Options {
        root_hints: vec![(root, server)],
        ..Options::default()
    };
    let mut resolver = Resolver::new(options, [1; 32]);
    let now = Instant::now();
    let peer = "127.0.0.2".parse().expect("a valid address");
    // Arbitrary bytes as a client query (UDP twice, for the rendered-reply path, and TCP).
    let _ = resolver.handle_client(now, ClientId(1), peer, Transport::Udp, data);
    let _ = resolver.handle_client(now, ClientId(2), peer, Transport::Udp, data);
    let _ = resolver.handle_client(now, ClientId(3), peer, Transport::Tcp, data);
    // A well-formed question, then arbitrary replies to its upstream queries.
    let query = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'g', b'a', b'i', b'a', 4, b'u', b'm', b'a', b's', 3,
        b'e', b'd', b'u', 0, 0, 1, 0, 1,
    ];
    let _ = resolver.handle_client(now, ClientId(4), peer, Transport::Udp, &query);
    let mut rest = data;
    let mut clock = now;
    for _ in 0..8 {
        let Some(transmit) = resolver.poll_transmit() else {
            break;
        };
        // The reply echoes the query's header and question, with flags, counts and records
        // from the fuzzer.
        let question_end = transmit.message.len().saturating_sub(11); // without the OPT record
        let mut reply = transmit.message[..question_end].to_vec();
        if rest.len() >= 8 {
            reply[2] = rest[0] | 0x80;
            reply[3] = rest[1];
            reply[6..12].copy_from_slice(&rest[2..8]);
            rest = &rest[8..];
        }
        let take = rest.len().min(512);
        reply.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        resolver.handle_response(clock, transmit.upstream, transmit.server, &reply);
        resolver.handle_response(clock, transmit.upstream, transmit.server, data);
        clock += Duration::from_millis(900);
        resolver.handle_timeout(clock);
    }
    resolver.handle_timeout(now + Duration::from_secs(60));
    while resolver.poll_reply().is_some() {}
    assert_eq!(resolver.tasks_in_progress(), 0, "every task ends by its deadline");
});
