//! Unit tests of the IMAP server session: states, login rules, literals, limits, IDLE and
//! seeded random input.

use super::*;

struct Test {
    session: ServerSession,
    now: Instant,
    wire: String,
    commands: Vec<Command>,
}

impl Test {
    fn new(config: Config) -> Test {
        let now = Instant::now();
        let mut test = Test {
            session: ServerSession::new(config, now),
            now,
            wire: String::new(),
            commands: Vec::new(),
        };
        test.pump();
        test
    }

    fn plain() -> Test {
        let mut config = Config::new("mail.hamburger.edu");
        config.plaintext_login = true;
        Test::new(config)
    }

    /// Writes out, answers events as a service with bob:burgers would.
    fn pump(&mut self) {
        loop {
            while let Some(bytes) = self.session.poll_transmit() {
                self.wire.push_str(&String::from_utf8_lossy(&bytes));
            }
            let Some(event) = self.session.poll_event() else {
                return;
            };
            match event {
                Event::Login { user, password } => {
                    if user == "bob" && password == "burgers" {
                        self.session.login_ok(&user);
                    } else {
                        self.session.login_failed(None);
                    }
                }
                Event::StartTls => self.session.tls_established(self.now),
                Event::Command { command, .. } => {
                    let state = match &command {
                        Command::Select { read_only, .. } => Some(State::Selected {
                            read_only: *read_only,
                        }),
                        Command::Close | Command::Unselect => Some(State::Authenticated),
                        _ => None,
                    };
                    let idle = command == Command::Idle;
                    self.commands.push(command);
                    if idle {
                        self.session.idle_started();
                    } else {
                        self.session.command_done(
                            b"* 1 EXISTS\r\n".to_vec(),
                            Reply::Ok("done".into()),
                            state,
                        );
                    }
                }
                Event::IdleDone => {
                    self.session
                        .command_done(Vec::new(), Reply::Ok("IDLE terminated".into()), None)
                }
                Event::Closed => {}
            }
        }
    }

    fn send(&mut self, text: &str) -> String {
        self.wire.clear();
        self.session.handle_input(self.now, text.as_bytes());
        self.pump();
        std::mem::take(&mut self.wire)
    }
}

#[test]
fn greeting_capabilities_and_logout() {
    let mut test = Test::plain();
    assert!(test.wire.starts_with("* OK [CAPABILITY IMAP4rev1 "));
    let reply = test.send("a CAPABILITY\r\n");
    assert!(reply.contains("AUTH=PLAIN") && reply.ends_with("a OK CAPABILITY completed\r\n"));
    let reply = test.send("b logout\r\n");
    assert!(reply.starts_with("* BYE ") && reply.ends_with("b OK LOGOUT completed\r\n"));
    assert!(test.session.is_closed());
}

#[test]
fn plaintext_login_refused_without_tls() {
    let mut config = Config::new("mail.hamburger.edu");
    config.tls_available = true;
    let mut test = Test::new(config);
    assert!(test.wire.contains("STARTTLS") && test.wire.contains("LOGINDISABLED"));
    let reply = test.send("a LOGIN bob burgers\r\n");
    assert!(reply.starts_with("a NO [PRIVACYREQUIRED]"), "{reply}");
    // Plaintext pipelined after STARTTLS is dropped.
    let reply = test.send("b STARTTLS\r\nc LOGIN bob burgers\r\n");
    assert_eq!(reply, "b OK Begin TLS negotiation now\r\n");
    assert!(test.session.is_tls());
    let reply = test.send("c CAPABILITY\r\n");
    assert!(reply.contains("AUTH=PLAIN") && !reply.contains("STARTTLS"));
    let reply = test.send("d LOGIN bob burgers\r\n");
    assert!(reply.starts_with("d OK [CAPABILITY "), "{reply}");
}

#[test]
fn login_and_authenticate() {
    let mut test = Test::plain();
    assert_eq!(
        test.send("a LOGIN bob wrong\r\n"),
        "a NO [AUTHENTICATIONFAILED] authentication failed\r\n"
    );
    assert!(test.send("a SELECT INBOX\r\n").starts_with("a BAD"));
    // AUTHENTICATE PLAIN with SASL-IR, and without.
    let reply = test.send("b AUTHENTICATE PLAIN AGJvYgBidXJnZXJz\r\n");
    assert!(reply.starts_with("b OK "), "{reply}");
    let mut test = Test::plain();
    assert_eq!(test.send("c AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert!(test.send("AGJvYgBidXJnZXJz\r\n").starts_with("c OK "));
    assert!(test
        .send("d LOGIN bob burgers\r\n")
        .starts_with("d BAD already"));
    let mut test = Test::plain();
    test.send("e AUTHENTICATE PLAIN\r\n");
    assert_eq!(test.send("*\r\n"), "e BAD AUTHENTICATE cancelled\r\n");
    // A quoted password and a literal user name.
    let mut test = Test::plain();
    assert_eq!(test.send("f LOGIN {3}\r\n"), "+ Ready for literal data\r\n");
    assert!(test.send("bob \"burgers\"\r\n").starts_with("f OK "));
}

#[test]
fn states_and_commands() {
    let mut test = Test::plain();
    test.send("a LOGIN bob burgers\r\n");
    assert_eq!(
        test.send("b FETCH 1 FLAGS\r\n"),
        "b BAD FETCH: no mailbox selected\r\n"
    );
    assert_eq!(
        test.send("c SELECT inbox\r\n"),
        "* 1 EXISTS\r\nc OK done\r\n"
    );
    assert_eq!(test.session.state(), &State::Selected { read_only: false });
    test.send("d UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    assert!(matches!(
        test.commands.last(),
        Some(Command::Fetch { uid: true, items, .. }) if items.len() == 2
    ));
    assert!(test
        .send("e FETCH 1 (\r\n")
        .starts_with("e BAD syntax error"));
    assert!(test
        .send("f SEARCH CHARSET KOI8-R FROM x\r\n")
        .starts_with("f NO [BADCHARSET"));
    test.send("g CLOSE\r\n");
    assert_eq!(test.session.state(), &State::Authenticated);
    assert!(test.send("h NAMESPACE\r\n").starts_with("* NAMESPACE"));
    assert!(test
        .send("i ENABLE CONDSTORE\r\n")
        .starts_with("* ENABLED CONDSTORE\r\n"));
    assert!(test.session.condstore_enabled());
    // Once on, it is not listed again; unknown extensions are left out.
    assert!(test
        .send("i2 ENABLE CONDSTORE X-UNKNOWN\r\n")
        .starts_with("* ENABLED\r\n"));
    assert!(test.send("j ID NIL\r\n").starts_with("* ID "));
    assert!(test.send("* NOOP\r\n").starts_with("* BAD"));
    assert!(test.send("\r\n").starts_with("* BAD"));
}

#[test]
fn literals() {
    let mut test = Test::plain();
    test.send("a LOGIN bob burgers\r\n");
    // LITERAL+: no continuation.
    let reply = test.send("b APPEND Drafts (\\Draft) {5+}\r\nhello\r\n");
    assert_eq!(reply, "* 1 EXISTS\r\nb OK done\r\n");
    assert!(matches!(
        test.commands.last(),
        Some(Command::Append { message, flags, .. }) if message == b"hello" && flags == &["\\Draft"]
    ));
    // Synchronising, in pieces.
    assert_eq!(
        test.send("c APPEND INBOX {5}\r\n"),
        "+ Ready for literal data\r\n"
    );
    assert_eq!(test.send("he"), "");
    assert_eq!(test.send("llo\r\n"), "* 1 EXISTS\r\nc OK done\r\n");
}

#[test]
fn limits() {
    let mut config = Config::new("mail.hamburger.edu");
    config.plaintext_login = true;
    config.max_line = 100;
    config.max_literal = 10;
    let mut test = Test::new(config);
    test.send("a LOGIN bob burgers\r\n");
    let reply = test.send("b APPEND INBOX {11}\r\n");
    assert!(reply.starts_with("b BAD [TOOBIG]"), "{reply}");
    // An oversized non-synchronising literal is skipped, then answered.
    let reply = test.send("c APPEND INBOX {20+}\r\n01234567890123456789\r\nd NOOP\r\n");
    assert!(reply.starts_with("c BAD [TOOBIG]"), "{reply}");
    assert!(reply.ends_with("d OK done\r\n"), "{reply}");
    // A long line, arriving in pieces.
    let long = format!("e NOOP {}", "x".repeat(300));
    assert_eq!(test.send(&long), "");
    let reply = test.send("yyy\r\nf NOOP\r\n");
    assert!(reply.starts_with("e BAD line too long"), "{reply}");
    assert!(reply.ends_with("f OK done\r\n"));
}

#[test]
fn idle() {
    let mut test = Test::plain();
    test.send("a LOGIN bob burgers\r\nb SELECT INBOX\r\n");
    assert_eq!(test.send("c IDLE\r\n"), "+ idling\r\n");
    assert!(test.session.is_idle() && test.session.wants_input());
    test.session.untagged(b"* 2 EXISTS\r\n".to_vec());
    test.pump();
    assert_eq!(std::mem::take(&mut test.wire), "* 2 EXISTS\r\n");
    assert_eq!(test.send("DONE\r\n"), "c OK IDLE terminated\r\n");
}

#[test]
fn autologout() {
    let mut test = Test::plain();
    let deadline = test.session.poll_timeout().expect("a deadline");
    test.session.handle_timeout(deadline);
    test.pump();
    assert!(test
        .wire
        .ends_with("* BYE autologout: idle for too long\r\n"));
    assert!(test.session.is_closed());
}

/// Seeded random input (a small xorshift) never panics and keeps buffers bounded.
#[test]
fn random_input_never_panics() {
    let alphabet: &[&[u8]] = &[
        b"a ",
        b"LOGIN ",
        b"bob ",
        b"burgers",
        b"\r\n",
        b"{3}",
        b"{4+}",
        b"(",
        b")",
        b"\"",
        b"SELECT INBOX",
        b"FETCH ",
        b"1:*",
        b"BODY[",
        b"]",
        b"UID ",
        b"IDLE",
        b"DONE",
        b"*",
        b"\\",
        b"APPEND x ",
        b"STORE 1 +FLAGS (\\Seen)",
        b"\n",
        b"\0",
        b"{99999999999}",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut test = Test::plain();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let piece = alphabet[(seed % alphabet.len() as u64) as usize];
            test.session.handle_input(test.now, piece);
            test.pump();
            assert!(test.session.input.len() <= MAX_PENDING_INPUT + 64);
        }
    }
}
