//! Fuzz target: an IMAP server session fed arbitrary client bytes in arbitrary pieces, with
//! the service answering each event from the input, never panics and asks for mailbox commands only after a login succeeded.
#![no_main]

use imap_proto::{Command, Config, Event, Reply, ServerSession, State};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let mut config = Config::new("imap.example");
    config.tls_available = control & 1 != 0;
    config.plaintext_login = control & 2 != 0;
    config.max_line = 64 + (control as usize) * 8;
    config.max_literal = 16 + (control as usize) * 4;
    let start = Instant::now();
    let mut server = ServerSession::new(config, start);
    let mut decisions = input.iter().copied().cycle();
    let mut logged_in = false;
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
            let decision = decisions.next().unwrap_or(0);
            match event {
                Event::Login { .. } => {
                    if decision & 1 == 0 {
                        logged_in = true;
                        server.login_ok("bob");
                    } else {
                        server.login_failed(None);
                    }
                }
                Event::Command { command, .. } => {
                    assert!(logged_in, "a mailbox command before login: {command:?}");
                    if command == Command::Idle && decision & 1 == 0 {
                        server.idle_started();
                        server.untagged(b"* 1 EXISTS\r\n".to_vec());
                        continue;
                    }
                    let state = match decision % 3 {
                        0 => Some(State::Selected {
                            read_only: decision & 4 != 0,
                        }),
                        1 => Some(State::Authenticated),
                        _ => None,
                    };
                    server.command_done(
                        b"* 0 EXISTS\r\n".to_vec(),
                        Reply::Ok("done".into()),
                        state,
                    );
                }
                Event::IdleDone => server.command_done(Vec::new(), Reply::Ok("done".into()), None),
                Event::StartTls => server.tls_established(now),
                Event::Closed => {}
            }
        }
        while server.poll_transmit().is_some() {}
        if control & 8 != 0 {
            server.handle_timeout(now + Duration::from_secs(3600));
        }
    }
    server.handle_eof();
    while server.poll_event().is_some() {}
});
