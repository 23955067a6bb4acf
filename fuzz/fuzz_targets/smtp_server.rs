//! Fuzz target: a server session fed arbitrary client bytes in arbitrary pieces, with the
//! service answering each decision from the input, never panics and never says 250 to a
//! message nobody accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::{AuthPolicy, Reply, ServerConfig, ServerEvent, ServerSession};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let mut config = ServerConfig::new("mx.example");
    config.tls_available = control & 1 != 0;
    config.auth = if control & 2 != 0 { AuthPolicy::Always } else { AuthPolicy::AfterTls };
    config.max_message_size = 4096;
    let start = Instant::now();
    let mut server = ServerSession::new(config, start);
    let mut decisions = input.iter().copied().cycle();
    let mut offset = 0;
    let mut step = 0u64;
    while offset < input.len() && !server.is_closed() {
        let size = 1 + (input[offset] as usize % 64);
        let end = (offset + size).min(input.len());
        let now = start + Duration::from_millis(step * 100);
        server.handle_input(now, &input[offset..end]);
        offset = end;
        step += 1;
        while let Some(event) = server.poll_event() {
            let yes = decisions.next().unwrap_or(0) & 1 == 0;
            match event {
                ServerEvent::Mail { .. } if yes => server.accept_mail(Reply::sender_ok()),
                ServerEvent::Rcpt { .. } if yes => server.accept_rcpt(Reply::recipient_ok()),
                ServerEvent::Message { .. } if yes => server.message_accepted(Reply::queued("1")),
                ServerEvent::Mail { .. } | ServerEvent::Rcpt { .. } | ServerEvent::Message { .. } => {
                    server.reject(Reply::new(550, None, "no"))
                }
                ServerEvent::Auth { .. } => server.auth_result(yes),
                ServerEvent::Vrfy { .. } => server.vrfy_result(Reply::new(252, None, "maybe")),
                ServerEvent::StartTls => server.tls_established(now),
                _ => {}
            }
        }
        while server.poll_transmit().is_some() {}
        if control & 4 != 0 {
            server.handle_timeout(now + Duration::from_secs(600));
        }
    }
    server.handle_eof(start + Duration::from_secs(1));
    while server.poll_event().is_some() {}
});
