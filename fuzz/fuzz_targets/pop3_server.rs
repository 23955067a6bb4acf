//! Fuzz target: a POP3 server session fed arbitrary client bytes in arbitrary pieces, with
//! the service answering each event from the input, never panics, asks only for messages
//! that exist, and deletes only messages that exist, each once, at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3_proto::{Config, Event, Listed, LoginFailure, ServerSession};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let mut config = Config::new("pop.example");
    config.tls_available = control & 1 != 0;
    config.plaintext_login = control & 2 != 0;
    if control & 4 != 0 {
        config.apop_banner = Some("<1.2@pop.example>".into());
    }
    let start = Instant::now();
    let mut server = ServerSession::new(config, start);
    let mut decisions = input.iter().copied().cycle();
    let mut listed = 0usize;
    let mut committed = false;
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
                Event::Login { .. } | Event::Apop { .. } => match decision % 4 {
                    0 => server.login_failed(LoginFailure::Credentials),
                    1 => server.login_failed(LoginFailure::InUse),
                    _ => {
                        listed = (decision as usize) % 5;
                        let messages = (0..listed)
                            .map(|n| Listed { uid: format!("u{n}"), size: 10 + n as u64 })
                            .collect();
                        server.login_ok("bob", messages);
                    }
                },
                Event::Retrieve { index, .. } => {
                    assert!(index < listed, "RETR of message {index} of {listed}");
                    assert!(!committed, "RETR after the update phase");
                    if decision & 1 == 0 {
                        server.message(&input[..input.len().min(decision as usize)]);
                    } else {
                        server.message_missing();
                    }
                }
                Event::Commit { deleted } => {
                    assert!(!committed, "two update phases");
                    committed = true;
                    assert!(deleted.iter().all(|&index| index < listed), "{deleted:?}");
                    assert!(deleted.windows(2).all(|pair| pair[0] < pair[1]), "{deleted:?}");
                    let result = if decision & 1 == 0 { Ok(()) } else { Err("disk".into()) };
                    server.commit_done(result);
                }
                Event::StartTls => server.tls_established(now),
                Event::Closed => {}
            }
        }
        while server.poll_transmit().is_some() {}
        if control & 8 != 0 {
            server.handle_timeout(now + Duration::from_secs(700));
        }
    }
    server.handle_eof();
    while server.poll_event().is_some() {}
});
