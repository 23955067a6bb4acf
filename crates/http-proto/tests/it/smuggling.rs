//! A table of request-smuggling vectors (RFC 9112 §6, §11.2) and what the parser makes of them.
//!
//! RFC 9112 §6.1: "A server that receives a request message with a transfer coding it does
//! not understand SHOULD respond with 501"; §6.3: "If a message is received with both a
//! Transfer-Encoding and a Content-Length header field, the Transfer-Encoding overrides the
//! Content-Length. Such a message might indicate an attempt to perform request smuggling ...
//! and ought to be handled as an error"; "If a message is received without Transfer-Encoding
//! and with an invalid Content-Length header field, then the message framing is invalid and
//! the recipient MUST treat it as an unrecoverable error". We refuse every ambiguity.

use http_proto::{
    parse_request, BodyKind, ConnConfig, Limits, ServerConn, ServerEvent, StatusCode,
};
use std::time::Instant;

/// What a request should come to.
#[derive(Debug, PartialEq)]
enum Expect {
    Body(BodyKind),
    Status(u16),
}

fn check(name: &str, head_fields: &str, expected: Expect) {
    let text = format!("POST /x HTTP/1.1\r\nHost: a\r\n{head_fields}\r\n");
    check_raw(name, &text, expected);
}

fn check_raw(name: &str, text: &str, expected: Expect) {
    let got = match parse_request(text.as_bytes(), &Limits::default()) {
        Ok(Some(parsed)) => Expect::Body(parsed.body),
        Ok(None) => panic!("{name}: incomplete"),
        Err(error) => Expect::Status(error.status().as_u16()),
    };
    assert_eq!(got, expected, "{name}: {text:?}");
}

#[test]
fn content_length_vectors() {
    use Expect::*;
    check("plain", "Content-Length: 5\r\n", Body(BodyKind::Length(5)));
    check("zero", "Content-Length: 0\r\n", Body(BodyKind::Empty));
    check(
        "repeated same",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        Body(BodyKind::Length(5)),
    );
    check(
        "list same",
        "Content-Length: 5, 5\r\n",
        Body(BodyKind::Length(5)),
    );
    check(
        "differing lines",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        Status(400),
    );
    check("differing list", "Content-Length: 5, 6\r\n", Status(400));
    check("plus sign", "Content-Length: +5\r\n", Status(400));
    check("negative", "Content-Length: -1\r\n", Status(400));
    check("hex", "Content-Length: 0x5\r\n", Status(400));
    check("inner space", "Content-Length: 5 5\r\n", Status(400));
    check("empty", "Content-Length: \r\n", Status(400));
    check("empty element", "Content-Length: 5,\r\n", Status(400));
    check(
        "overflow",
        "Content-Length: 99999999999999999999\r\n",
        Status(400),
    );
    check("space before colon", "Content-Length : 5\r\n", Status(400));
    check("too large", "Content-Length: 999999999999\r\n", Status(413));
}

#[test]
fn transfer_encoding_vectors() {
    use Expect::*;
    check(
        "chunked",
        "Transfer-Encoding: chunked\r\n",
        Body(BodyKind::Chunked),
    );
    check(
        "case",
        "Transfer-Encoding: ChUnKeD\r\n",
        Body(BodyKind::Chunked),
    );
    check(
        "tab ows",
        "Transfer-Encoding:\tchunked\t\r\n",
        Body(BodyKind::Chunked),
    );
    check(
        "cl and te",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        Status(400),
    );
    check(
        "te and cl",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        Status(400),
    );
    check(
        "te and cl 0",
        "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
        Status(400),
    );
    check("xchunked", "Transfer-Encoding: xchunked\r\n", Status(400));
    check(
        "chunked not last",
        "Transfer-Encoding: chunked, identity\r\n",
        Status(400),
    );
    check(
        "chunked twice",
        "Transfer-Encoding: chunked, chunked\r\n",
        Status(400),
    );
    check(
        "chunked twice lines",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        Status(400),
    );
    check(
        "gzip then chunked",
        "Transfer-Encoding: gzip, chunked\r\n",
        Status(501),
    );
    check("quoted", "Transfer-Encoding: \"chunked\"\r\n", Status(400));
    check(
        "parameter",
        "Transfer-Encoding: chunked;q=1\r\n",
        Status(400),
    );
    check(
        "vertical tab",
        "Transfer-Encoding: chunked\x0b\r\n",
        Status(400),
    );
    check(
        "form feed",
        "Transfer-Encoding:\x0cchunked\r\n",
        Status(400),
    );
    check("nul", "Transfer-Encoding: chunked\x00\r\n", Status(400));
    check("empty", "Transfer-Encoding: \r\n", Status(400));
    check(
        "space before colon",
        "Transfer-Encoding : chunked\r\n",
        Status(400),
    );
    check(
        "obs-fold",
        "Transfer-Encoding:\r\n chunked\r\n",
        Status(400),
    );
    check(
        "obs-fold tab",
        "X: y\r\n\tTransfer-Encoding: chunked\r\n",
        Status(400),
    );
    check(
        "bare cr value",
        "Transfer-Encoding: chu\rnked\r\n",
        Status(400),
    );
    check(
        "bare cr line end",
        "X: 1\rTransfer-Encoding: chunked\r\n",
        Status(400),
    );
    check(
        "non-ascii name",
        "Tr\u{e4}nsfer-Encoding: chunked\r\n",
        Status(400),
    );
    check_raw(
        "te in http/1.0",
        "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Status(400),
    );
}

#[test]
fn request_line_and_host_vectors() {
    use Expect::*;
    let ok = Body(BodyKind::Empty);
    check_raw("plain", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ok);
    check_raw("no host", "GET / HTTP/1.1\r\n\r\n", Status(400));
    check_raw(
        "two hosts",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        Status(400),
    );
    check_raw(
        "bad host",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        Status(400),
    );
    check_raw(
        "userinfo host",
        "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "double space",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "tab separator",
        "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "trailing space",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "lowercase version",
        "GET / http/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "version 2",
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        Status(505),
    );
    check_raw(
        "version 0.9",
        "GET / HTTP/0.9\r\nHost: a\r\n\r\n",
        Status(505),
    );
    check_raw("http 0.9 style", "GET /\r\n\r\n", Status(400));
    check_raw(
        "method not token",
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "space in target",
        "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "fragment",
        "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "control in target",
        "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "utf-8 in target",
        "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "nul in line",
        "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "bare cr in line",
        "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
        Status(400),
    );
    check_raw(
        "no colon",
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        Status(400),
    );
    check_raw(
        "empty name",
        "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
        Status(400),
    );
}

/// Vectors inside a chunked body: the connection must answer 400 and close.
#[test]
fn chunked_body_vectors() {
    let cases: &[(&str, &[u8])] = &[
        ("lf after size", b"5\nhello\r\n0\r\n\r\n"),
        ("lf after data", b"5\r\nhello\n0\r\n\r\n"),
        ("data longer than size", b"3\r\nhello\r\n0\r\n\r\n"),
        ("negative size", b"-1\r\n"),
        ("size with 0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
        ("size overflow", b"fffffffffffffffff\r\n"),
        ("space inside size", b"5 5\r\nhello\r\n"),
        ("bare lf in extension", b"5;a=b\nc\r\nhello\r\n0\r\n\r\n"),
        ("bare cr in extension", b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold trailer", b"0\r\nA: b\r\n c\r\n\r\n"),
    ];
    for (name, body) in cases {
        let now = Instant::now();
        let mut conn = ServerConn::new(ConnConfig::default(), now);
        let mut input =
            b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
        conn.handle_input(now, &input);
        let mut rejected = false;
        let mut requests = 0;
        while let Some(event) = conn.poll_event() {
            match event {
                ServerEvent::Request { .. } => requests += 1,
                ServerEvent::Rejected { status, .. } => {
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
                    rejected = true;
                }
                _ => {}
            }
        }
        assert!(rejected, "{name}: not rejected");
        assert_eq!(requests, 1, "{name}: the smuggled request was parsed");
        let out = conn.poll_transmit().unwrap_or_default();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 400 "), "{name}: {out}");
        assert!(out.contains("Connection: close\r\n"), "{name}");
        assert!(conn.is_closed(), "{name}");
    }
}
