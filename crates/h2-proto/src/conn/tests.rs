//! Tests of the server connection: a scripted client's frames in, the server's frames out,
//! each case named for the RFC 9113 rule or the attack it checks.

use super::*;
use crate::frame::{flag, kind, write_frame, write_header_block, DEFAULT_MAX_FRAME_SIZE};

struct Client {
    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
}

impl Client {
    fn new() -> Client {
        Client {
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(4096),
        }
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        self.encoder.encode(
            fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        block
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self.block(fields);
        let mut out = Vec::new();
        write_header_block(
            &mut out,
            stream,
            None,
            &block,
            end_stream,
            DEFAULT_MAX_FRAME_SIZE,
        );
        out
    }

    fn get(&mut self, stream: u32, path: &str) -> Vec<u8> {
        self.headers(
            stream,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "example.com"),
                (":path", path),
            ],
            true,
        )
    }
}

fn t0() -> Instant {
    Instant::now()
}

fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, params);
    out
}

/// All frames the server has to send now.
fn output(conn: &mut ServerConn) -> Vec<Frame> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out, 1 << 20);
    let mut frames = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let (frame, used) = frame::parse(&out[at..], frame::MAX_MAX_FRAME_SIZE)
            .expect("our frames parse")
            .expect("our frames are whole");
        frames.push(frame);
        at += used;
    }
    frames
}

fn events(conn: &mut ServerConn) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// A connection past the preface and SETTINGS exchange, its output drained.
fn open(client_settings: &[(u16, u32)]) -> (ServerConn, Client) {
    let mut conn = ServerConn::new(Config::default());
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(client_settings));
    conn.handle_input(&bytes, t0());
    let frames = output(&mut conn);
    assert!(
        matches!(frames[0], Frame::Settings { ack: false, .. }),
        "{frames:?}"
    );
    assert!(frames.contains(&Frame::Settings {
        ack: true,
        params: vec![]
    }));
    (conn, Client::new())
}

fn goaway_code(frames: &[Frame]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        Frame::GoAway { code, .. } => Some(*code),
        _ => None,
    })
}

fn rst_code(frames: &[Frame], stream: u32) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        Frame::RstStream { stream: s, code } if *s == stream => Some(*code),
        _ => None,
    })
}

fn data_of(frames: &[Frame], stream: u32) -> Vec<u8> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data {
                stream: s, data, ..
            } if *s == stream => Some(data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_get_is_answered_with_headers_and_data() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/index.html?x=1"), t0());
    let events = events(&mut conn);
    let [Event::Request {
        stream: 1,
        request,
        end_stream: true,
    }] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/index.html?x=1");
    assert_eq!(request.authority.as_deref(), Some("example.com"));
    conn.send_headers(1, 200, &[("content-type", b"text/plain")], false)
        .unwrap();
    conn.send_data(1, b"hello", true).unwrap();
    let frames = output(&mut conn);
    let Frame::Headers {
        fragment,
        end_headers: true,
        end_stream: false,
        ..
    } = &frames[0]
    else {
        panic!("{frames:?}");
    };
    let fields = client.decoder.decode(fragment, 1 << 16).unwrap().fields;
    assert_eq!(fields[0].name, b":status");
    assert_eq!(fields[0].value, b"200");
    assert_eq!(fields[1].value, b"text/plain");
    assert_eq!(
        frames[1],
        Frame::Data {
            stream: 1,
            data: b"hello".to_vec(),
            end_stream: true,
            flow_len: 5
        }
    );
    assert_eq!(conn.open_streams(), 0);
}

#[test]
fn a_bad_preface_or_first_frame_ends_the_connection() {
    let mut conn = ServerConn::new(Config::default());
    conn.handle_input(b"GET / HTTP/1.1\r\n\r\n", t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    assert!(conn.is_closed());

    let mut conn = ServerConn::new(Config::default());
    let mut bytes = PREFACE.to_vec();
    frame::write_ping(&mut bytes, false, [0; 8]);
    conn.handle_input(&bytes, t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn the_preface_may_arrive_a_byte_at_a_time() {
    let mut conn = ServerConn::new(Config::default());
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[]));
    bytes.extend(Client::new().get(1, "/"));
    for byte in &bytes {
        conn.handle_input(std::slice::from_ref(byte), t0());
    }
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Request { stream: 1, .. }]
    ));
}

#[test]
fn ping_is_answered_with_its_data() {
    let (mut conn, _) = open(&[]);
    let mut bytes = Vec::new();
    frame::write_ping(&mut bytes, false, *b"12345678");
    conn.handle_input(&bytes, t0());
    assert_eq!(
        output(&mut conn),
        vec![Frame::Ping {
            ack: true,
            data: *b"12345678"
        }]
    );
}

/// §6.9: DATA never exceeds the peer's stream or connection window.
#[test]
fn data_waits_for_the_window() {
    let (mut conn, mut client) = open(&[(setting::INITIAL_WINDOW_SIZE, 10)]);
    conn.handle_input(&client.get(1, "/"), t0());
    events(&mut conn);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, &[7; 25], true).unwrap();
    let frames = output(&mut conn);
    assert_eq!(data_of(&frames, 1).len(), 10);
    assert!(!conn.wants_write());
    let mut update = Vec::new();
    frame::write_window_update(&mut update, 1, 100);
    conn.handle_input(&update, t0());
    let frames = output(&mut conn);
    assert_eq!(data_of(&frames, 1).len(), 15);
    assert!(matches!(
        frames.last(),
        Some(Frame::Data {
            end_stream: true,
            ..
        })
    ));
}

/// §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change moves every open stream's window.
#[test]
fn initial_window_changes_apply_to_open_streams() {
    let (mut conn, mut client) = open(&[(setting::INITIAL_WINDOW_SIZE, 0)]);
    conn.handle_input(&client.get(1, "/"), t0());
    events(&mut conn);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, &[1; 100], true).unwrap();
    assert!(data_of(&output(&mut conn), 1).is_empty());
    conn.handle_input(&settings(&[(setting::INITIAL_WINDOW_SIZE, 40)]), t0());
    assert_eq!(data_of(&output(&mut conn), 1).len(), 40);
}

#[test]
fn a_window_over_2_31_is_a_flow_control_error() {
    let (mut conn, _) = open(&[]);
    let mut update = Vec::new();
    frame::write_window_update(&mut update, 0, MAX_WINDOW);
    conn.handle_input(&update, t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn request_bodies_are_counted_against_our_windows_and_replenished() {
    let (mut conn, mut client) = open(&[]);
    let post = client.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/up"),
            ("content-length", "40000"),
        ],
        false,
    );
    conn.handle_input(&post, t0());
    let mut body = Vec::new();
    for _ in 0..2 {
        write_frame(&mut body, kind::DATA, 0, 1, &[b'x'; 16_000]);
    }
    write_frame(&mut body, kind::DATA, flag::END_STREAM, 1, &[b'x'; 8_000]);
    conn.handle_input(&body, t0());
    let got: usize = events(&mut conn)
        .iter()
        .map(|e| match e {
            Event::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(got, 40_000);

    // Past the stream window: FLOW_CONTROL_ERROR on the stream only; past the
    // connection's: on the connection.
    let config = Config {
        initial_window_size: 100,
        ..Config::default()
    };
    let mut conn = ServerConn::new(config);
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[]));
    bytes.extend(client.headers(
        3,
        &[(":method", "POST"), (":scheme", "http"), (":path", "/")],
        false,
    ));
    write_frame(&mut bytes, kind::DATA, 0, 3, &[0; 101]);
    conn.handle_input(&bytes, t0());
    assert_eq!(
        rst_code(&output(&mut conn), 3),
        Some(ErrorCode::FLOW_CONTROL_ERROR)
    );
    assert!(!conn.is_closed());
    let mut flood = Vec::new();
    for _ in 0..300 {
        write_frame(&mut flood, kind::DATA, 0, 3, &[0; 16_384]);
    }
    conn.handle_input(&flood, t0());
    assert!(
        !conn.is_closed(),
        "the connection window is replenished as DATA is read"
    );
}

#[test]
fn content_length_must_match_the_body() {
    let (mut conn, mut client) = open(&[]);
    let post = client.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/"),
            ("content-length", "3"),
        ],
        false,
    );
    conn.handle_input(&post, t0());
    let mut body = Vec::new();
    write_frame(&mut body, kind::DATA, flag::END_STREAM, 1, b"toolong");
    conn.handle_input(&body, t0());
    assert_eq!(
        rst_code(&output(&mut conn), 1),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    assert!(events(&mut conn).contains(&Event::Reset {
        stream: 1,
        code: ErrorCode::PROTOCOL_ERROR
    }));
}

/// §8.3.1 and §8.2: malformed requests cost the stream (PROTOCOL_ERROR), not the connection.
#[test]
fn malformed_requests_are_reset() {
    let cases: &[&[(&str, &str)]] = &[
        &[(":method", "GET"), (":scheme", "http")],
        &[(":method", "GET"), (":path", "/")],
        &[(":scheme", "http"), (":path", "/")],
        &[(":method", "GET"), (":scheme", "http"), (":path", "")],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":status", "200"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            ("x", "1"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("Upper", "1"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("connection", "close"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("te", "gzip"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("x", " padded"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("content-length", "x"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":foo", "bar"),
        ],
        &[
            (":method", "CONNECT"),
            (":authority", "a:1"),
            (":path", "/"),
        ],
    ];
    let (mut conn, mut client) = open(&[]);
    let mut stream = 1;
    for case in cases {
        conn.handle_input(&client.headers(stream, case, true), t0());
        let frames = output(&mut conn);
        assert_eq!(
            rst_code(&frames, stream),
            Some(ErrorCode::PROTOCOL_ERROR),
            "{case:?}: {frames:?}"
        );
        assert!(events(&mut conn).is_empty(), "{case:?}");
        stream += 2;
    }
    // The connection still serves.
    conn.handle_input(&client.get(stream, "/"), t0());
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Request { .. }]
    ));
    assert!(goaway_code(&output(&mut conn)).is_none());
    // "te: trailers" and crumbled cookies are fine; the crumbs are joined.
    stream += 2;
    let ok = client.headers(
        stream,
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("te", "trailers"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ],
        true,
    );
    conn.handle_input(&ok, t0());
    let events = events(&mut conn);
    let [Event::Request { request, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(request.field("cookie"), Some(b"a=1; b=2".as_slice()));
}

/// §5.1.1: client streams are odd and increasing.
#[test]
fn stream_ids_must_be_odd_and_increasing() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(2, "/"), t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(5, "/"), t0());
    conn.handle_input(&client.get(3, "/"), t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

/// §5.1: DATA on a closed stream is STREAM_CLOSED; on an idle one, a connection error.
#[test]
fn frames_on_closed_and_idle_streams() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    let mut data = Vec::new();
    write_frame(&mut data, kind::DATA, 0, 1, b"late");
    conn.handle_input(&data, t0());
    assert_eq!(
        rst_code(&output(&mut conn), 1),
        Some(ErrorCode::STREAM_CLOSED)
    );
    let mut data = Vec::new();
    write_frame(&mut data, kind::DATA, 0, 9, b"early");
    conn.handle_input(&data, t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

/// §6.10: nothing may come between HEADERS and its CONTINUATIONs.
#[test]
fn an_interrupted_header_block_is_a_protocol_error() {
    let (mut conn, mut client) = open(&[]);
    let block = client.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]);
    let mut bytes = Vec::new();
    write_frame(&mut bytes, kind::HEADERS, flag::END_STREAM, 1, &block[..2]);
    frame::write_ping(&mut bytes, false, [0; 8]);
    conn.handle_input(&bytes, t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn a_header_block_split_over_continuations_is_one_request() {
    let (mut conn, mut client) = open(&[]);
    let block = client.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/split")]);
    let mut bytes = Vec::new();
    write_frame(&mut bytes, kind::HEADERS, flag::END_STREAM, 1, &block[..1]);
    write_frame(&mut bytes, kind::CONTINUATION, 0, 1, &block[1..2]);
    write_frame(
        &mut bytes,
        kind::CONTINUATION,
        flag::END_HEADERS,
        1,
        &block[2..],
    );
    conn.handle_input(&bytes, t0());
    let events = events(&mut conn);
    assert!(
        matches!(events.as_slice(), [Event::Request { request, .. }] if request.path == "/split"),
        "{events:?}"
    );
}

/// CONTINUATION flood (2024): a header block that never ends is cut off at a bound.
#[test]
fn a_continuation_flood_is_cut_off() {
    let (mut conn, mut client) = open(&[]);
    let block = client.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]);
    let mut bytes = Vec::new();
    write_frame(&mut bytes, kind::HEADERS, 0, 1, &block);
    conn.handle_input(&bytes, t0());
    let mut sent = 0;
    while sent < 1 << 20 && !conn.is_closed() {
        let mut more = Vec::new();
        write_frame(&mut more, kind::CONTINUATION, 0, 1, &[0x40; 16_384]);
        conn.handle_input(&more, t0());
        sent += 16_384;
        let _ = output(&mut conn);
    }
    assert!(conn.is_closed());
    assert!(sent <= Config::default().max_header_block + 16_384);
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
}

/// Rapid reset (CVE-2023-44487): streams opened and reset at once are counted and cut off.
#[test]
fn rapid_reset_is_cut_off() {
    let (mut conn, mut client) = open(&[]);
    let now = t0();
    let mut stream = 1;
    while stream < 2000 && !conn.is_closed() {
        let mut bytes = client.get(stream, "/");
        frame::write_rst_stream(&mut bytes, stream, ErrorCode::CANCEL);
        conn.handle_input(&bytes, now);
        let _ = output(&mut conn);
        stream += 2;
    }
    assert!(conn.is_closed(), "still open after {stream}");
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
    assert!(stream / 2 <= Config::default().max_resets + 2);
    // The same number spread over windows is fine.
    let (mut conn, mut client) = open(&[]);
    let mut now = t0();
    for i in 0..400u32 {
        let stream = 2 * i + 1;
        let mut bytes = client.get(stream, "/");
        frame::write_rst_stream(&mut bytes, stream, ErrorCode::CANCEL);
        conn.handle_input(&bytes, now);
        now += Duration::from_millis(100);
    }
    assert!(!conn.is_closed());
}

#[test]
fn a_settings_or_ping_flood_is_cut_off() {
    let (mut conn, _) = open(&[]);
    let mut bytes = Vec::new();
    for _ in 0..5000 {
        frame::write_settings(&mut bytes, &[]);
    }
    conn.handle_input(&bytes, t0());
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
    // A peer that sends pings and never reads is cut off by the backlog bound even under
    // the rate.
    let config = Config {
        max_control_backlog: 1000,
        ..Config::default()
    };
    let mut conn = ServerConn::new(config);
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[]));
    for _ in 0..100 {
        frame::write_ping(&mut bytes, false, [1; 8]);
    }
    conn.handle_input(&bytes, t0());
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
}

/// §5.1.2: streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused, the rest served.
#[test]
fn streams_over_the_limit_are_refused() {
    let (mut conn, mut client) = open(&[]);
    let limit = Config::default().max_concurrent_streams;
    for i in 0..=limit {
        conn.handle_input(&client.get(2 * i + 1, "/"), t0());
    }
    let frames = output(&mut conn);
    assert_eq!(
        rst_code(&frames, 2 * limit + 1),
        Some(ErrorCode::REFUSED_STREAM)
    );
    assert_eq!(events(&mut conn).len(), limit as usize);
    assert_eq!(conn.open_streams(), limit as usize);
}

/// HPACK bomb: fields that decode past SETTINGS_MAX_HEADER_LIST_SIZE get 431, and the
/// decoder stays in step for the next request.
#[test]
fn an_oversized_header_list_gets_431() {
    let (mut conn, mut client) = open(&[]);
    let big = "v".repeat(4000);
    let mut fields = vec![(":method", "GET"), (":scheme", "http"), (":path", "/")];
    let names: Vec<String> = (0..20).map(|i| format!("x-big-{i}")).collect();
    for name in &names {
        fields.push((name.as_str(), big.as_str()));
    }
    conn.handle_input(&client.headers(1, &fields, true), t0());
    assert!(events(&mut conn).is_empty());
    let frames = output(&mut conn);
    let Some(Frame::Headers { fragment, .. }) = frames.first() else {
        panic!("{frames:?}");
    };
    let fields = client.decoder.decode(fragment, 1 << 16).unwrap().fields;
    assert_eq!(fields[0].value, b"431");
    conn.handle_input(&client.get(3, "/after"), t0());
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Request { request, .. }] if request.path == "/after"
    ));
}

/// A peer that keeps our window at zero is cut off after the stall timeout.
#[test]
fn a_zero_window_stall_is_cut_off() {
    let (mut conn, mut client) = open(&[(setting::INITIAL_WINDOW_SIZE, 0)]);
    let now = t0();
    conn.handle_input(&client.get(1, "/"), now);
    events(&mut conn);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, &[0; 1000], true).unwrap();
    let _ = output(&mut conn);
    conn.handle_timeout(now);
    conn.handle_timeout(now + Duration::from_secs(10));
    assert!(!conn.is_closed());
    conn.handle_timeout(now + Duration::from_secs(31));
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
}

/// RFC 9218: the more urgent stream's DATA goes first; incremental streams interleave.
#[test]
fn priorities_order_the_data() {
    let (mut conn, mut client) = open(&[]);
    let request = |client: &mut Client, stream, priority: &str| {
        client.headers(
            stream,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("priority", priority),
            ],
            true,
        )
    };
    let mut raise = Vec::new();
    frame::write_window_update(&mut raise, 0, 1 << 20);
    conn.handle_input(&raise, t0());
    conn.handle_input(&request(&mut client, 1, "u=5"), t0());
    conn.handle_input(&request(&mut client, 3, "u=0"), t0());
    conn.handle_input(&request(&mut client, 5, "u=4, i"), t0());
    conn.handle_input(&request(&mut client, 7, "u=4, i"), t0());
    for stream in [1, 3, 5, 7] {
        conn.send_headers(stream, 200, &[], false).unwrap();
        conn.send_data(stream, &[0; 40_000], true).unwrap();
    }
    let order: Vec<u32> = output(&mut conn)
        .iter()
        .filter_map(|f| match f {
            Frame::Data { stream, .. } => Some(*stream),
            _ => None,
        })
        .collect();
    // 3 (u=0) whole, then 5 and 7 (u=4) taking turns, then 1 (u=5).
    assert_eq!(order, [3, 3, 3, 5, 7, 5, 7, 5, 7, 1, 1, 1], "{order:?}");

    // PRIORITY_UPDATE changes an open stream's urgency.
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    conn.handle_input(&client.get(3, "/"), t0());
    let mut update = Vec::new();
    write_frame(&mut update, kind::PRIORITY_UPDATE, 0, 0, b"\0\0\0\x03u=1");
    conn.handle_input(&update, t0());
    assert_eq!(conn.priority(3).map(|p| p.urgency), Some(1));
    for stream in [1, 3] {
        conn.send_headers(stream, 200, &[], false).unwrap();
        conn.send_data(stream, &[0; 100], true).unwrap();
    }
    let first = output(&mut conn).into_iter().find_map(|f| match f {
        Frame::Data { stream, .. } => Some(stream),
        _ => None,
    });
    assert_eq!(first, Some(3));
}

#[test]
fn priority_values_parse_as_rfc_9218_says() {
    let d = Priority::default();
    assert_eq!(Priority::parse(b"u=1", d).urgency, 1);
    assert!(Priority::parse(b"u=2, i", d).incremental);
    assert!(!Priority::parse(b"i=?0", d).incremental);
    assert_eq!(Priority::parse(b"u=9", d), d);
    assert_eq!(Priority::parse(b"u=x, foo=bar", d), d);
}

/// §8.4: a push is promised on the parent's stream and answered on an even one.
#[test]
fn server_push_is_promised_then_answered() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    events(&mut conn);
    let promised = conn
        .push(1, "GET", "http", "example.com", "/style.css")
        .unwrap();
    assert_eq!(promised, 2);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, b"<html>", true).unwrap();
    conn.send_headers(promised, 200, &[], false).unwrap();
    conn.send_data(promised, b"body{}", true).unwrap();
    let frames = output(&mut conn);
    assert!(
        matches!(
            frames[0],
            Frame::PushPromise {
                stream: 1,
                promised: 2,
                end_headers: true,
                ..
            }
        ),
        "{frames:?}"
    );
    assert_eq!(data_of(&frames, 2), b"body{}");
    // A client that disabled push gets none.
    let (mut conn, mut client) = open(&[(setting::ENABLE_PUSH, 0)]);
    conn.handle_input(&client.get(1, "/"), t0());
    assert_eq!(conn.push(1, "GET", "http", "example.com", "/a"), None);
}

#[test]
fn shutdown_finishes_open_streams_then_closes() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    events(&mut conn);
    conn.shutdown();
    conn.handle_input(&client.get(3, "/ignored"), t0());
    assert!(events(&mut conn).is_empty());
    assert!(!conn.is_closed());
    conn.send_headers(1, 204, &[], true).unwrap();
    let frames = output(&mut conn);
    assert!(matches!(
        frames[0],
        Frame::GoAway {
            last_stream: 1,
            code: ErrorCode::NO_ERROR,
            ..
        }
    ));
    assert!(conn.is_closed());
}

#[test]
fn early_hints_come_before_the_response() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    conn.send_headers(1, 103, &[("link", b"</a.css>; rel=preload")], false)
        .unwrap();
    conn.send_headers(1, 200, &[], true).unwrap();
    let frames = output(&mut conn);
    let statuses: Vec<Vec<u8>> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Headers { fragment, .. } => Some(
                client.decoder.decode(fragment, 1 << 16).unwrap().fields[0]
                    .value
                    .clone(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [b"103".to_vec(), b"200".to_vec()]);
}

/// The h2c upgrade: stream 1 is the HTTP/1.1 request, the client's settings apply.
#[test]
fn an_upgraded_connection_answers_stream_1() {
    let request = Request {
        method: "GET".into(),
        scheme: "http".into(),
        authority: Some("a".into()),
        path: "/".into(),
        fields: vec![],
    };
    let payload = [0, 4, 0, 0, 0, 5];
    let mut conn = ServerConn::upgraded(Config::default(), &payload, request).unwrap();
    assert!(matches!(
        events(&mut conn).as_slice(),
        [Event::Request { stream: 1, .. }]
    ));
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[]));
    conn.handle_input(&bytes, t0());
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, b"0123456789", true).unwrap();
    // The HTTP2-Settings window of 5 applies.
    assert_eq!(data_of(&output(&mut conn), 1), b"01234");
}

#[test]
fn no_input_panics() {
    // Every prefix of a varied session, and the session with each byte flipped.
    let mut client = Client::new();
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[(setting::INITIAL_WINDOW_SIZE, 100)]));
    bytes.extend(client.get(1, "/"));
    bytes.extend(client.headers(
        3,
        &[(":method", "POST"), (":scheme", "http"), (":path", "/")],
        false,
    ));
    write_frame(
        &mut bytes,
        kind::DATA,
        flag::PADDED | flag::END_STREAM,
        3,
        &[1, 9, 0],
    );
    frame::write_window_update(&mut bytes, 1, 5);
    frame::write_rst_stream(&mut bytes, 1, ErrorCode::CANCEL);
    write_frame(&mut bytes, kind::PRIORITY_UPDATE, 0, 0, b"\0\0\0\x05u=2");
    for cut in 0..bytes.len() {
        let mut conn = ServerConn::new(Config::default());
        conn.handle_input(&bytes[..cut], t0());
        let _ = output(&mut conn);
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0xff;
        let mut conn = ServerConn::new(Config::default());
        conn.handle_input(&flipped, t0());
        while let Some(event) = conn.poll_event() {
            if let Event::Request { stream, .. } = event {
                let _ = conn.send_headers(stream, 200, &[], false);
                let _ = conn.send_data(stream, b"x", true);
            }
        }
        let _ = output(&mut conn);
    }
}

/// §5.1 "closed": DATA after both sides sent END_STREAM is a connection error STREAM_CLOSED;
/// frames after our own RST_STREAM are ignored, since the client may have sent them first.
#[test]
fn late_frames_on_closed_streams() {
    let (mut conn, mut client) = open(&[]);
    conn.handle_input(&client.get(1, "/"), t0());
    events(&mut conn);
    conn.send_headers(1, 204, &[], true).unwrap();
    let _ = output(&mut conn);
    let mut data = Vec::new();
    write_frame(&mut data, kind::DATA, 0, 1, b"late");
    conn.handle_input(&data, t0());
    assert_eq!(
        goaway_code(&output(&mut conn)),
        Some(ErrorCode::STREAM_CLOSED)
    );

    let (mut conn, mut client) = open(&[]);
    let post = client.headers(
        1,
        &[(":method", "POST"), (":scheme", "http"), (":path", "/")],
        false,
    );
    conn.handle_input(&post, t0());
    events(&mut conn);
    conn.reset(1, ErrorCode::CANCEL);
    let _ = output(&mut conn);
    let mut more = Vec::new();
    write_frame(&mut more, kind::DATA, 0, 1, b"in flight");
    write_frame(&mut more, kind::DATA, flag::END_STREAM, 1, b"and more");
    conn.handle_input(&more, t0());
    let frames = output(&mut conn);
    assert_eq!(goaway_code(&frames), None, "{frames:?}");
    assert_eq!(rst_code(&frames, 1), None, "{frames:?}");
    assert!(events(&mut conn).is_empty());
    assert!(!conn.is_closed());
}

/// §8.1: a response may be complete before the request is. The stream stays half-closed
/// (local): the body's rest is still checked, and thrown away.
#[test]
fn a_body_after_the_response_is_checked_and_discarded() {
    let (mut conn, mut client) = open(&[]);
    let post = client.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/"),
            ("content-length", "6"),
        ],
        false,
    );
    conn.handle_input(&post, t0());
    events(&mut conn);
    conn.send_headers(1, 404, &[("content-length", b"0")], true)
        .unwrap();
    let frames = output(&mut conn);
    assert_eq!(rst_code(&frames, 1), None, "{frames:?}");
    let mut body = Vec::new();
    write_frame(&mut body, kind::DATA, 0, 1, b"abc");
    conn.handle_input(&body, t0());
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.open_streams(), 1);
    // More than content-length: still the request's error.
    let mut body = Vec::new();
    write_frame(&mut body, kind::DATA, flag::END_STREAM, 1, b"defgh");
    conn.handle_input(&body, t0());
    assert_eq!(
        rst_code(&output(&mut conn), 1),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    // And a proper ending closes the stream quietly.
    let post = client.headers(
        3,
        &[(":method", "POST"), (":scheme", "http"), (":path", "/")],
        false,
    );
    conn.handle_input(&post, t0());
    events(&mut conn);
    conn.send_headers(3, 404, &[], true).unwrap();
    let mut body = Vec::new();
    write_frame(&mut body, kind::DATA, flag::END_STREAM, 3, b"abc");
    conn.handle_input(&body, t0());
    let frames = output(&mut conn);
    assert_eq!(rst_code(&frames, 3), None, "{frames:?}");
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.open_streams(), 0);
}

/// WINDOW_UPDATEs that feed a download are flow control, not a flood; idle ones count.
#[test]
fn window_updates_during_a_download_are_not_a_flood() {
    let (mut conn, mut client) = open(&[(setting::INITIAL_WINDOW_SIZE, 10)]);
    let now = t0();
    conn.handle_input(&client.get(1, "/"), now);
    events(&mut conn);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, &[7; 30_000], true).unwrap();
    let mut got = 0;
    for _ in 0..2_990 {
        let mut update = Vec::new();
        frame::write_window_update(&mut update, 1, 10);
        conn.handle_input(&update, now);
        got += data_of(&output(&mut conn), 1).len();
    }
    assert!(!conn.is_closed(), "{:?}", conn.error());
    assert!(got >= 29_000, "{got}");
    let (mut conn, _) = open(&[]);
    for _ in 0..3_000 {
        let mut update = Vec::new();
        frame::write_window_update(&mut update, 0, 1);
        conn.handle_input(&update, now);
    }
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
}

/// A slow window is not a stall: the timer restarts whenever DATA moves.
#[test]
fn a_slow_window_is_not_a_stall() {
    let (mut conn, mut client) = open(&[(setting::INITIAL_WINDOW_SIZE, 100)]);
    let now = t0();
    conn.handle_input(&client.get(1, "/"), now);
    events(&mut conn);
    conn.send_headers(1, 200, &[], false).unwrap();
    conn.send_data(1, &[7; 1000], true).unwrap();
    let _ = output(&mut conn);
    for second in (0..=90).step_by(20) {
        let at = now + Duration::from_secs(second);
        conn.handle_timeout(at);
        let mut update = Vec::new();
        frame::write_window_update(&mut update, 1, 100);
        conn.handle_input(&update, at);
        let _ = output(&mut conn);
    }
    assert!(conn.error().is_none(), "{:?}", conn.error());
}

/// Empty CONTINUATION frames never grow the block; they are counted all the same.
#[test]
fn an_empty_continuation_flood_is_cut_off() {
    let (mut conn, mut client) = open(&[]);
    let block = client.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]);
    let mut bytes = Vec::new();
    write_frame(&mut bytes, kind::HEADERS, 0, 1, &block);
    conn.handle_input(&bytes, t0());
    let mut sent = 0;
    while sent < 100_000 && !conn.is_closed() {
        let mut more = Vec::new();
        write_frame(&mut more, kind::CONTINUATION, 0, 1, &[]);
        conn.handle_input(&more, t0());
        let _ = output(&mut conn);
        sent += 1;
    }
    assert!(
        sent <= Config::default().max_control_frames as usize + 1,
        "{sent}"
    );
    assert_eq!(
        conn.error().map(|e| e.0),
        Some(ErrorCode::ENHANCE_YOUR_CALM)
    );
}
