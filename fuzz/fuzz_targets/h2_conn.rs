//! Fuzz target: the HTTP/2 server connection fed the preface, then arbitrary frames in
//! arbitrary pieces, answering every request (so the send side and flow control run too).
#![no_main]

use h2_proto::conn::{Config, Event, ServerConn};
use h2_proto::frame::PREFACE;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let mut conn = ServerConn::new(Config::default());
    // The preface and an empty SETTINGS, so the input starts at the frames.
    let mut start = PREFACE.to_vec();
    start.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    conn.handle_input(&start, now);
    let mut out = Vec::new();
    for chunk in data.chunks(usize::from(piece).max(1)) {
        conn.handle_input(chunk, now);
        while let Some(event) = conn.poll_event() {
            if let Event::Request { stream, .. } = event {
                let _ = conn.send_headers(stream, 200, &[("content-type", b"text/plain")], false);
                let _ = conn.send_data(stream, &[b'x'; 40_000], true);
            }
        }
        out.clear();
        conn.poll_transmit(&mut out, 1 << 20);
        now += Duration::from_millis(u64::from(piece));
        conn.handle_timeout(now);
    }
});
