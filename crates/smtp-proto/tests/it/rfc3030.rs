//! RFC 3030 (CHUNKING, BINARYMIME) conformance: the examples of §4 against the server.

use crate::pair::{converse, Service};
use smtp_proto::{ServerConfig, ServerSession};
use std::time::Instant;

/// §4.1 "Simple Chunking".
#[test]
fn simple_chunking() {
    let service = converse(
        ServerConfig::new("cnri.reston.va.us"),
        "S: 220 cnri.reston.va.us
         C: EHLO ymir.claremont.edu
         S: 250 BINARYMIME
         C: MAIL FROM:<Sam@Random.com>
         S: 250 2.1.0
         C: RCPT TO:<Susan@Random.com>
         S: 250 2.1.5
         C: BDAT 86 LAST
         C: To: Susan@random.com
         C: From: Sam@random.com
         C: Subject: This is a bodyless test message
         S: 250 2.0.0 Ok: queued as 1
         C: QUIT
         S: 221",
    );
    let (envelope, data) = &service.stored[0];
    assert_eq!(data.len(), 86);
    assert!(envelope.chunked);
}

/// §4.2 "Pipelining BINARYMIME": two chunks of binary data pipelined with the envelope.
#[test]
fn pipelining_binarymime() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::new("cnri.reston.va.us"), now);
    let mut service = Service::default();
    service.drive(&mut server);
    server.handle_input(now, b"EHLO thor.innosoft.com\r\n");
    service.drive(&mut server);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let binary: Vec<u8> = (0..100_324)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let mut input = b"MAIL FROM:<ned@thor.innosoft.com> BODY=BINARYMIME\r\n\
        RCPT TO:<Smith@Random.com>\r\nRCPT TO:<Jones@Random.com>\r\nBDAT 100000\r\n"
        .to_vec();
    input.extend_from_slice(&binary[..100_000]);
    input.extend_from_slice(b"BDAT 324 LAST\r\n");
    input.extend_from_slice(&binary[100_000..]);
    // In reads of 4 KiB, as a driver would.
    let mut out = Vec::new();
    for piece in input.chunks(4096) {
        server.handle_input(now, piece);
        out.extend(service.drive(&mut server));
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n\
         250 2.0.0 Ok: 100000 octets received\r\n250 2.0.0 Ok: queued as 1\r\n"
    );
    assert_eq!(service.stored[0].1, binary);
}
