//! Fuzz target: the server connection machine fed arbitrary bytes in arbitrary pieces.
#![no_main]

use http_proto::{ConnConfig, ResponseHead, ServerConn, ServerEvent, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut conn = ServerConn::new(ConnConfig::default(), now);
    for chunk in data.chunks(usize::from(piece).max(1)) {
        conn.handle_input(now, chunk);
        while let Some(event) = conn.poll_event() {
            match event {
                ServerEvent::Request { body, .. } if body.is_empty() => {
                    conn.send_response(ResponseHead::new(StatusCode::OK), b"ok");
                }
                ServerEvent::Request { .. } => conn.continue_body(),
                ServerEvent::BodyEnd { .. } => {
                    conn.send_response(ResponseHead::new(StatusCode::OK), b"ok");
                }
                _ => {}
            }
        }
        let _ = conn.poll_transmit();
    }
    conn.handle_eof(now);
    let _ = conn.poll_timeout();
});
