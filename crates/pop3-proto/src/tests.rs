//! Unit tests of the POP3 server session: the three phases, STLS, limits and seeded random input.

use super::*;

struct Test {
    session: ServerSession,
    now: Instant,
    wire: String,
}

fn messages() -> Vec<(Listed, &'static [u8])> {
    vec![
        (
            Listed {
                uid: "1796.M1P1.mail".into(),
                size: 53,
            },
            b"Subject: one\r\nFrom: alice@crepes.fr\r\n\r\n.dot\r\nline 2\r\n",
        ),
        (
            Listed {
                uid: "1796.M2P1.mail".into(),
                size: 22,
            },
            b"Subject: two\n\nbody\n",
        ),
    ]
}

impl Test {
    fn new(config: Config) -> Test {
        let now = Instant::now();
        let mut test = Test {
            session: ServerSession::new(config, now),
            now,
            wire: String::new(),
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
                        self.session
                            .login_ok("bob", messages().into_iter().map(|(l, _)| l).collect());
                    } else if user == "locked" {
                        self.session.login_failed(LoginFailure::InUse);
                    } else {
                        self.session.login_failed(LoginFailure::Credentials);
                    }
                }
                Event::Apop {
                    user,
                    digest,
                    banner,
                } => {
                    assert_eq!(banner, "<1.2@mail.hamburger.edu>");
                    if user == "bob" && digest == "c4c9334bac560ecc979e58001b3e22fb" {
                        self.session.login_ok("bob", vec![]);
                    } else {
                        self.session.login_failed(LoginFailure::Credentials);
                    }
                }
                Event::Retrieve { index, .. } => {
                    self.session.message(messages()[index].1);
                }
                Event::Commit { deleted } => {
                    self.wire.push_str(&format!("[commit {deleted:?}]"));
                    self.session.commit_done(Ok(()));
                }
                Event::StartTls => self.wire.push_str("[tls]"),
                Event::Closed => self.wire.push_str("[closed]"),
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
fn a_session_lists_retrieves_deletes_in_the_update_phase() {
    let mut test = Test::plain();
    assert!(test.wire.starts_with("+OK POP3 server ready"));
    assert!(test.send("USER bob\r\n").starts_with("+OK"));
    assert_eq!(
        test.send("PASS burgers\r\n"),
        "+OK bob has 2 messages (75 octets)\r\n"
    );
    assert_eq!(test.send("STAT\r\n"), "+OK 2 75\r\n");
    assert_eq!(test.send("LIST\r\n"), "+OK\r\n1 53\r\n2 22\r\n.\r\n");
    assert_eq!(test.send("LIST 2\r\n"), "+OK 2 22\r\n");
    assert_eq!(test.send("UIDL 1\r\n"), "+OK 1 1796.M1P1.mail\r\n");
    // Dot-stuffed, CRLF, terminated.
    assert_eq!(
        test.send("RETR 1\r\n"),
        "+OK 53 octets\r\nSubject: one\r\nFrom: alice@crepes.fr\r\n\r\n..dot\r\nline 2\r\n.\r\n"
    );
    // LF-only storage goes out as CRLF; TOP 0 is the header and the empty line.
    assert_eq!(
        test.send("TOP 2 0\r\n"),
        "+OK 22 octets\r\nSubject: two\r\n\r\n.\r\n"
    );
    assert!(test.send("DELE 1\r\n").starts_with("+OK"));
    assert!(test
        .send("RETR 1\r\n")
        .starts_with("-ERR message 1 already deleted"));
    assert_eq!(test.send("STAT\r\n"), "+OK 1 22\r\n");
    assert!(test.send("RSET\r\n").starts_with("+OK"));
    assert_eq!(test.send("STAT\r\n"), "+OK 2 75\r\n");
    assert!(test.send("DELE 2\r\n").starts_with("+OK"));
    assert!(test.send("RETR 9\r\n").starts_with("-ERR no such message"));
    let bye = test.send("QUIT\r\n");
    assert!(bye.starts_with("[commit [1]]+OK"), "{bye}");
    assert!(test.session.is_closed());
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut test = Test::plain();
    let out = test.send("USER bob\r\nPASS burgers\r\nSTAT\r\nUIDL\r\nQUIT\r\n");
    let replies: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(replies[0], "+OK send PASS");
    assert!(replies[1].starts_with("+OK bob has 2"));
    assert_eq!(replies[2], "+OK 2 75");
    assert!(
        out.contains("2 1796.M2P1.mail\r\n.\r\n[commit []]+OK"),
        "{out}"
    );
}

#[test]
fn logins_fail_clearly() {
    let mut test = Test::plain();
    assert!(test.send("PASS x\r\n").starts_with("-ERR USER first"));
    test.send("USER bob\r\n");
    assert!(test.send("PASS wrong\r\n").starts_with("-ERR [AUTH]"));
    assert!(test.send("STAT\r\n").starts_with("-ERR not authenticated"));
    test.send("USER locked\r\n");
    assert!(test.send("PASS x\r\n").starts_with("-ERR [IN-USE]"));
    // AUTH PLAIN with an initial response, and in two steps.
    let plain = base64::engine::general_purpose::STANDARD.encode("\0bob\0burgers");
    assert!(test
        .send(&format!("AUTH PLAIN {plain}\r\n"))
        .starts_with("+OK bob has 2"));
    let mut test = Test::plain();
    assert_eq!(test.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert!(test
        .send(&format!("{plain}\r\n"))
        .starts_with("+OK bob has 2"));
    // Acting as somebody else is refused.
    let mut test = Test::plain();
    let other = base64::engine::general_purpose::STANDARD.encode("alice\0bob\0burgers");
    assert!(test
        .send(&format!("AUTH PLAIN {other}\r\n"))
        .starts_with("-ERR [AUTH]"));
}

#[test]
fn no_plaintext_login_before_tls_and_stls_drops_pipelined_input() {
    let mut config = Config::new("mail.hamburger.edu");
    config.tls_available = true;
    let mut test = Test::new(config);
    let capa = test.send("CAPA\r\n");
    assert!(
        capa.contains("STLS\r\n") && !capa.contains("USER\r\n"),
        "{capa}"
    );
    assert!(test.send("USER bob\r\n").starts_with("-ERR [PRIVACY]"));
    // A command injected after STLS in the same packet is not run inside TLS.
    let out = test.send("STLS\r\nUSER bob\r\n");
    assert_eq!(out, "+OK Begin TLS negotiation now\r\n[tls]");
    assert!(!test.session.wants_input());
    test.session.tls_established(test.now);
    test.pump();
    let capa = test.send("CAPA\r\n");
    assert!(
        !capa.contains("STLS") && capa.contains("USER\r\n"),
        "{capa}"
    );
    test.send("USER bob\r\n");
    assert!(test.send("PASS burgers\r\n").starts_with("+OK bob has 2"));
}

#[test]
fn apop_with_the_banner_digest() {
    let mut config = Config::new("mail.hamburger.edu");
    config.apop_banner = Some("<1.2@mail.hamburger.edu>".into());
    let mut test = Test::new(config);
    assert!(test.wire.contains("<1.2@mail.hamburger.edu>"));
    // The service checks md5(banner + password); the test service knows the answer.
    assert!(test
        .send("APOP bob C4C9334BAC560ECC979E58001B3E22FB\r\n")
        .starts_with("+OK bob has 0 messages"));
}

#[test]
fn long_lines_timeouts_and_eof() {
    let mut test = Test::plain();
    let long = format!("USER {}\r\nNOOP\r\n", "x".repeat(400));
    let out = test.send(&long);
    assert!(out.starts_with("-ERR line too long"), "{out}");
    assert!(out.contains("-ERR not authenticated"), "{out}");
    // Autologout: no update phase, the service is told to unlock.
    let mut test = Test::plain();
    test.send("USER bob\r\nPASS burgers\r\nDELE 1\r\n");
    let later = test.now + Duration::from_secs(601);
    test.session.handle_timeout(later);
    test.pump();
    assert!(test.wire.contains("-ERR autologout"), "{}", test.wire);
    assert!(test.wire.contains("[closed]"), "{}", test.wire);
    assert!(test.session.is_closed());
    let mut test = Test::plain();
    test.wire.clear();
    test.session.handle_eof();
    test.pump();
    assert_eq!(test.wire, "[closed]");
}

#[test]
fn random_input_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let words = [
        "USER", "PASS", "STAT", "LIST", "RETR", "TOP", "DELE", "UIDL", "RSET", "QUIT", "AUTH",
        "STLS", "CAPA", "APOP", " ", "1", "0", "99", "\r\n", "\n", "\r", "\0", "burgers", "bob",
        "PLAIN", "*",
    ];
    for _ in 0..2000 {
        let mut config = Config::new("h");
        config.plaintext_login = true;
        config.tls_available = true;
        config.apop_banner = Some("<1.2@mail.hamburger.edu>".into());
        let mut test = Test::new(config);
        let mut input = String::new();
        for _ in 0..20 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            input.push_str(words[(seed % words.len() as u64) as usize]);
        }
        test.send(&input);
        if test.session.poll_event().is_none()
            && !test.session.wants_input()
            && !test.session.is_closed()
        {
            // Waiting for TLS is the only state that blocks input without an event.
            test.session.tls_established(test.now);
            test.pump();
        }
    }
}
