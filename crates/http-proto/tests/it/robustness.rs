//! Properties over arbitrary input: no decoder panics on any prefix, mutation or random bytes.

use http_proto::{
    parse_request, parse_response, BodyDecoder, BodyKind, ConnConfig, HttpDate, Limits, Method,
    ServerConn, ServerEvent, SetCookie, Uri,
};
use std::time::Instant;

const SAMPLES: &[&[u8]] = &[
    b"GET /somedir/page.html HTTP/1.1\r\nHost: www.someschool.edu\r\nConnection: close\r\nUser-agent: Mozilla/5.0\r\nAccept-language: fr\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n0\r\nT: v\r\n\r\n",
    b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nDate: Tue, 18 Aug 2015 15:44:04 GMT\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
];

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exercise(bytes: &[u8]) {
    let limits = Limits::default();
    if let Ok(Some(parsed)) = parse_request(bytes, &limits) {
        // Decode → encode → decode agrees (the fuzz target http_request checks the same).
        let mut encoded = Vec::new();
        parsed.head.encode(&mut encoded);
        let again = parse_request(&encoded, &limits).unwrap().unwrap();
        assert_eq!(again.head, parsed.head);
        assert_eq!(again.body, parsed.body);
    }
    let _ = parse_response(bytes, &limits, &Method::Get);
    for kind in [
        BodyKind::Chunked,
        BodyKind::Length(7),
        BodyKind::CloseDelimited,
    ] {
        let mut decoder = BodyDecoder::with_limit(kind, 1000);
        let mut out = Vec::new();
        let _ = decoder.decode_into(bytes, &mut out);
        let _ = decoder.handle_eof();
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = HttpDate::parse(&text);
    let _ = SetCookie::parse(&text);
    let _ = Uri::parse(&text);
    let _ = http_proto::evaluate_range(&text, 1000);
    let _ = http_proto::cookie::parse_cookie_date(&text);
    let now = Instant::now();
    let mut conn = ServerConn::new(ConnConfig::default(), now);
    for piece in bytes.chunks(7) {
        conn.handle_input(now, piece);
        while let Some(event) = conn.poll_event() {
            if let ServerEvent::Request { .. } = event {
                conn.send_response(
                    http_proto::ResponseHead::new(http_proto::StatusCode::OK),
                    b"ok",
                );
            }
        }
        let _ = conn.poll_transmit();
    }
    conn.handle_eof(now);
}

#[test]
fn every_prefix_and_mutation() {
    for sample in SAMPLES {
        for cut in 0..=sample.len() {
            exercise(&sample[..cut]);
        }
        for index in 0..sample.len() {
            for byte in [0u8, b'\r', b'\n', b' ', b':', 0xff, b'0'] {
                let mut mutated = sample.to_vec();
                mutated[index] = byte;
                exercise(&mutated);
            }
        }
    }
}

#[test]
fn random_bytes() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let alphabet =
        b"GET /HTP1.0\r\n:;,=-\"W0123456789abcdefchunkedContent-LengthTransfer-Encoding \t\x00\xff";
    for _ in 0..3000 {
        let len = (rng.next() % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = rng.next();
                if r.is_multiple_of(4) {
                    r as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        exercise(&bytes);
    }
}
