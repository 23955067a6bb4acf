//! Unit tests of the server session: sequencing, limits, pipelining, STARTTLS, AUTH, BDAT,
//! timeouts and shutdown, each driven by a small automatic service.

use super::*;
use crate::address::Mailbox;
use std::time::Duration;

/// A service that accepts every sender, every recipient whose local part does not start with
/// "bad", every message (as queue id 1, 2 ...), and the password "secret".
struct Service {
    messages: Vec<(Envelope, Vec<u8>)>,
    events: Vec<ServerEvent>,
    answer: bool,
}

impl Service {
    fn new() -> Service {
        Service {
            messages: Vec::new(),
            events: Vec::new(),
            answer: true,
        }
    }

    /// Drains output and events, answering decisions; returns the output.
    fn drive(&mut self, server: &mut ServerSession) -> String {
        let mut out = Vec::new();
        loop {
            while let Some(bytes) = server.poll_transmit() {
                out.extend(bytes);
            }
            let Some(event) = server.poll_event() else {
                break;
            };
            self.events.push(event.clone());
            if !self.answer {
                continue;
            }
            match event {
                ServerEvent::Mail { .. } => server.accept_mail(Reply::sender_ok()),
                ServerEvent::Rcpt { to, .. } => {
                    let bad = to.mailbox().is_some_and(|m| m.local().starts_with("bad"));
                    if bad {
                        server.reject(Reply::new(
                            550,
                            Some(EnhancedCode::BAD_MAILBOX),
                            "No such user",
                        ));
                    } else {
                        server.accept_rcpt(Reply::recipient_ok());
                    }
                }
                ServerEvent::Message { envelope, data } => {
                    self.messages.push((envelope, data));
                    server.message_accepted(Reply::queued(&self.messages.len().to_string()));
                }
                ServerEvent::Auth { password, .. } => {
                    server.auth_result(password.expose() == "secret")
                }
                ServerEvent::Vrfy { .. } => {
                    server.vrfy_result(Reply::new(250, Some(EnhancedCode::OK), "<bob@x.y>"))
                }
                _ => {}
            }
        }
        String::from_utf8(out).unwrap()
    }
}

struct Test {
    server: ServerSession,
    service: Service,
    now: Instant,
}

impl Test {
    fn new(config: ServerConfig) -> Test {
        let now = Instant::now();
        let mut test = Test {
            server: ServerSession::new(config, now),
            service: Service::new(),
            now,
        };
        let greeting = test.drive();
        assert!(greeting.starts_with("220 "), "{greeting}");
        test
    }

    fn default() -> Test {
        Test::new(ServerConfig::new("mx.hamburger.edu"))
    }

    fn drive(&mut self) -> String {
        self.service.drive(&mut self.server)
    }

    /// Sends `input` and returns the server's output.
    fn send(&mut self, input: &str) -> String {
        self.server.handle_input(self.now, input.as_bytes());
        self.drive()
    }

    /// Sends `input` and checks the reply lines (joined with `\n`, without CRLF).
    fn check(&mut self, input: &str, expected: &str) {
        let out = self.send(input);
        let got = out.trim_end_matches("\r\n").replace("\r\n", "\n");
        assert_eq!(got, expected, "after {input:?}");
    }

    fn ehlo(&mut self) {
        let out = self.send("EHLO crepes.fr\r\n");
        assert!(out.starts_with("250-mx.hamburger.edu\r\n"), "{out}");
    }

    fn closed(&self) -> Option<CloseReason> {
        self.service.events.iter().find_map(|event| match event {
            ServerEvent::Closed { reason, .. } => Some(*reason),
            _ => None,
        })
    }
}

fn ehlo_keywords(out: &str) -> Vec<String> {
    out.lines()
        .skip(1)
        .map(|line| line.get(4..).unwrap_or("").to_string())
        .collect()
}

#[test]
fn greeting_and_ehlo() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::new("mx.hamburger.edu"), now);
    assert_eq!(
        server.poll_transmit().unwrap(),
        b"220 mx.hamburger.edu ESMTP\r\n".to_vec()
    );
    let mut test = Test::default();
    let out = test.send("EHLO crepes.fr\r\n");
    assert_eq!(
        ehlo_keywords(&out),
        [
            "PIPELINING",
            "SIZE 10240000",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
            "BINARYMIME"
        ]
    );
    assert_eq!(
        test.service.events,
        [ServerEvent::Helo {
            domain: "crepes.fr".into(),
            esmtp: true
        }]
    );
    test.check("HELO crepes.fr\r\n", "250 mx.hamburger.edu");
    assert_eq!(test.server.helo(), Some(("crepes.fr", false)));
}

#[test]
fn plain_transaction() {
    let mut test = Test::default();
    test.ehlo();
    test.check("MAIL FROM:<alice@crepes.fr>\r\n", "250 2.1.0 Ok");
    test.check("RCPT TO:<bob@hamburger.edu>\r\n", "250 2.1.5 Ok");
    test.check("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>");
    test.check("Hello\r\n..dot\r\n", "");
    test.check(".\r\n", "250 2.0.0 Ok: queued as 1");
    test.check("QUIT\r\n", "221 2.0.0 Bye");
    assert!(test.server.is_closed());
    let (envelope, data) = &test.service.messages[0];
    assert_eq!(data, b"Hello\r\n.dot\r\n");
    assert_eq!(envelope.helo, "crepes.fr");
    assert!(envelope.esmtp && !envelope.tls && !envelope.chunked);
    assert_eq!(envelope.from.to_string(), "<alice@crepes.fr>");
    assert_eq!(envelope.recipients.len(), 1);
    assert!(test.service.events.contains(&ServerEvent::Quit));
    assert_eq!(test.server.messages(), 1);
}

#[test]
fn sequence_errors() {
    let mut test = Test::default();
    test.check(
        "MAIL FROM:<a@b.c>\r\n",
        "503 5.5.1 Error: send HELO/EHLO first",
    );
    test.ehlo();
    test.check("RCPT TO:<b@c.d>\r\n", "503 5.5.1 Error: need MAIL command");
    test.check("DATA\r\n", "503 5.5.1 Error: need MAIL command");
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "MAIL FROM:<a@b.c>\r\n",
        "503 5.5.1 Error: nested MAIL command",
    );
    test.check("RCPT TO:<bad@c.d>\r\n", "550 5.1.1 No such user");
    test.check("DATA\r\n", "554 5.5.1 Error: no valid recipients");
    test.check("RSET\r\n", "250 2.0.0 Ok");
    test.check("RCPT TO:<b@c.d>\r\n", "503 5.5.1 Error: need MAIL command");
    test.check("NOOP hello\r\n", "250 2.0.0 Ok");
    test.check("FROB\r\n", "500 5.5.2 Error: command not recognized");
    test.check("MAIL FROM:<a@>\r\n", "501 5.1.7 Bad sender address syntax");
    test.check("DATA x\r\n", "501 5.5.4 Syntax: DATA");
    test.check(
        "VRFY bob\r\n",
        "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
    );
    test.check(
        "EXPN staff\r\n",
        "502 5.5.1 Error: EXPN command is disabled",
    );
    assert!(test.send("HELP\r\n").starts_with("214 2.0.0 "));
    // EHLO resets the transaction (RFC 5321 §4.1.4).
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.ehlo();
    test.check("RCPT TO:<b@c.d>\r\n", "503 5.5.1 Error: need MAIL command");
    assert!(!test.server.is_closed());
}

#[test]
fn vrfy_policies() {
    let mut config = ServerConfig::new("mx");
    config.vrfy = VrfyPolicy::Disabled;
    let mut test = Test::new(config.clone());
    test.check("VRFY bob\r\n", "502 5.5.1 Error: VRFY command is disabled");
    config.vrfy = VrfyPolicy::Ask;
    let mut test = Test::new(config);
    test.check("VRFY bob\r\n", "250 2.0.0 <bob@x.y>");
    assert!(test.service.events.contains(&ServerEvent::Vrfy {
        argument: "bob".into()
    }));
}

#[test]
fn esmtp_parameters_need_their_extensions() {
    let mut test = Test::default();
    test.check("HELO crepes.fr\r\n", "250 mx.hamburger.edu");
    test.check(
        "MAIL FROM:<a@b.c> SIZE=10\r\n",
        "555 5.5.4 Unsupported option: SIZE",
    );
    let mut config = ServerConfig::new("mx");
    config.extensions.dsn = false;
    config.extensions.eight_bit_mime = false;
    let mut test = Test::new(config);
    test.send("EHLO x\r\n");
    test.check(
        "MAIL FROM:<a@b.c> RET=FULL\r\n",
        "555 5.5.4 Unsupported option: RET",
    );
    test.check(
        "MAIL FROM:<a@b.c> BODY=8BITMIME\r\n",
        "555 5.5.4 Unsupported option: BODY",
    );
    test.check(
        "MAIL FROM:<a@b.c> AUTH=<>\r\n",
        "555 5.5.4 Unsupported option: AUTH",
    );
    test.check(
        "MAIL FROM:<a@b.c> FOO=1\r\n",
        "555 5.5.4 Unsupported option: FOO",
    );
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "RCPT TO:<b@c.d> NOTIFY=NEVER\r\n",
        "555 5.5.4 Unsupported option: NOTIFY",
    );
}

#[test]
fn size_limits() {
    let mut config = ServerConfig::new("mx");
    config.max_message_size = 20;
    let mut test = Test::new(config);
    test.ehlo_any();
    // RFC 1870 §6: a declared size over the limit fails at MAIL.
    test.check(
        "MAIL FROM:<a@b.c> SIZE=21\r\n",
        "552 5.3.4 Message size exceeds fixed limit",
    );
    test.check("MAIL FROM:<a@b.c> SIZE=20\r\n", "250 2.1.0 Ok");
    test.check("RCPT TO:<b@c.d>\r\n", "250 2.1.5 Ok");
    test.check("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>");
    // Too big: nothing is said until the end of the data (RFC 5321 §4.5.3.1.10).
    test.check(&"x".repeat(100), "");
    test.check("\r\n.\r\n", "552 5.3.4 Message size exceeds fixed limit");
    assert!(test.service.messages.is_empty());
    // The transaction is over, the session goes on.
    test.check("RCPT TO:<b@c.d>\r\n", "503 5.5.1 Error: need MAIL command");
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
}

impl Test {
    fn ehlo_any(&mut self) {
        let out = self.send("EHLO crepes.fr\r\n");
        assert!(out.starts_with("250-"), "{out}");
    }
}

#[test]
fn too_many_recipients_is_not_an_error() {
    let mut config = ServerConfig::new("mx");
    config.max_recipients = 2;
    config.max_errors = 3;
    let mut test = Test::new(config);
    test.ehlo_any();
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "RCPT TO:<b1@c.d>\r\nRCPT TO:<b2@c.d>\r\n",
        "250 2.1.5 Ok\n250 2.1.5 Ok",
    );
    for _ in 0..5 {
        test.check(
            "RCPT TO:<b3@c.d>\r\n",
            "452 4.5.3 Error: too many recipients",
        );
    }
    test.check("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>");
    test.check(".\r\n", "250 2.0.0 Ok: queued as 1");
    assert_eq!(test.service.messages[0].0.recipients.len(), 2);
}

#[test]
fn too_many_errors_disconnect() {
    let mut config = ServerConfig::new("mx");
    config.max_errors = 3;
    let mut test = Test::new(config);
    test.check("FOO\r\n", "500 5.5.2 Error: command not recognized");
    test.check("BAR\r\n", "500 5.5.2 Error: command not recognized");
    test.check(
        "BAZ\r\nNOOP\r\n",
        "500 5.5.2 Error: command not recognized\n421 4.7.0 mx Error: too many errors",
    );
    assert!(test.server.is_closed());
    assert_eq!(test.closed(), Some(CloseReason::TooManyErrors));
    assert_eq!(test.send("NOOP\r\n"), "");
}

#[test]
fn long_lines_resync() {
    let mut test = Test::default();
    let long = format!("NOOP {}\r\n", "x".repeat(600));
    test.check(&long, "500 5.5.2 Error: line too long");
    // Longer than the AUTH limit too, in pieces: dropped as it comes, answered once.
    test.check(&"y".repeat(10_000), "");
    test.check(&"y".repeat(10_000), "");
    test.check(
        "y\r\nNOOP\r\n",
        "500 5.5.2 Error: line too long\n250 2.0.0 Ok",
    );
    assert!(test.server.input.len() < 100);
}

#[test]
fn bare_newline_in_commands() {
    let mut test = Test::default();
    test.check(
        "EHLO x\nMAIL FROM:<a@b.c>\r\n",
        "550 5.5.2 mx.hamburger.edu Error: bare <LF> received",
    );
    assert_eq!(test.closed(), Some(CloseReason::BareNewline));
    assert!(test.server.is_closed());

    let mut config = ServerConfig::new("mx");
    config.bare_newline = BareNewline::Normalize;
    let mut test = Test::new(config);
    assert!(test.send("EHLO x\n").starts_with("250-mx"));
    // A bare CR inside a command is still no line end.
    test.check("NOOP a\rb\r\n", "500 5.5.2 Error: bad character in command");
}

#[test]
fn bare_newline_in_data() {
    let mut test = Test::default();
    test.ehlo();
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n");
    test.check(
        "Subject: x\r\n\nsmuggled\n.\nMAIL FROM:<evil@x.y>\r\n",
        "550 5.5.2 mx.hamburger.edu Error: bare <LF> received",
    );
    assert!(test.server.is_closed());
    assert!(test.service.messages.is_empty());

    let mut test = Test::default();
    test.ehlo();
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n");
    test.check(
        "a\r.\rRSET\r\n",
        "550 5.5.2 mx.hamburger.edu Error: bare <CR> received",
    );

    let mut config = ServerConfig::new("mx");
    config.bare_newline = BareNewline::Normalize;
    let mut test = Test::new(config);
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n");
    // `\n.\n` does not end the data: the "smuggled" commands stay inside the message.
    test.check("a\n.\nMAIL FROM:<evil@x.y>\r\n", "");
    test.check(".\r\n", "250 2.0.0 Ok: queued as 1");
    assert_eq!(
        test.service.messages[0].1,
        b"a\r\n.\r\nMAIL FROM:<evil@x.y>\r\n"
    );
}

#[test]
fn pipelined_commands_wait_for_decisions() {
    let mut test = Test::default();
    test.service.answer = false;
    test.send(
        "EHLO crepes.fr\r\nMAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@x.y>\r\n\
         RCPT TO:<bad@x.y>\r\nDATA\r\nHi\r\n.\r\nQUIT\r\n",
    );
    // Only the MAIL decision is asked; the rest waits in order.
    let asked: Vec<_> = test
        .service
        .events
        .iter()
        .filter(|e| !matches!(e, ServerEvent::Helo { .. }))
        .collect();
    assert_eq!(asked.len(), 1);
    assert!(matches!(asked[0], ServerEvent::Mail { .. }));
    assert_eq!(
        test.server.poll_timeout(),
        None,
        "no deadline while deciding"
    );
    test.server.accept_mail(Reply::sender_ok());
    let event = test.server.poll_event().unwrap();
    assert!(matches!(event, ServerEvent::Rcpt { .. }));
    // Answers of the wrong kind are ignored.
    test.server.message_accepted(Reply::queued("x"));
    test.server.accept_mail(Reply::sender_ok());
    assert_eq!(test.server.poll_event(), None);
    test.server.accept_rcpt(Reply::recipient_ok());
    assert!(matches!(
        test.server.poll_event(),
        Some(ServerEvent::Rcpt { .. })
    ));
    test.server
        .reject(Reply::new(550, Some(EnhancedCode::BAD_MAILBOX), "No"));
    let Some(ServerEvent::Message { envelope, data }) = test.server.poll_event() else {
        panic!("no message");
    };
    assert_eq!(envelope.recipients.len(), 1);
    assert_eq!(data, b"Hi\r\n");
    test.server.message_accepted(Reply::queued("ABC"));
    assert_eq!(test.server.poll_event(), Some(ServerEvent::Quit));
    let mut out = String::new();
    while let Some(bytes) = test.server.poll_transmit() {
        out.push_str(&String::from_utf8(bytes).unwrap());
    }
    let replies: Vec<&str> = out.lines().collect();
    assert_eq!(
        replies,
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "550 5.1.1 No",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as ABC",
            "221 2.0.0 Bye"
        ]
    );
}

#[test]
fn buffered_input_is_bounded() {
    let mut test = Test::default();
    test.service.answer = false;
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\n");
    assert!(test.server.wants_input());
    let noops = "NOOP\r\n".repeat(INPUT_SOFT_LIMIT / 6 + 1);
    test.send(&noops);
    assert!(!test.server.wants_input(), "stop reading while deciding");
    // A driver that ignores wants_input gets the session closed.
    let more = "NOOP\r\n".repeat(INPUT_HARD_LIMIT / 6 + 1);
    test.send(&more);
    assert_eq!(test.closed(), Some(CloseReason::InputOverflow));
}

#[test]
fn starttls() {
    let mut config = ServerConfig::new("mx");
    config.tls_available = true;
    config.auth = AuthPolicy::AfterTls;
    let mut test = Test::new(config);
    let out = test.send("EHLO x\r\n");
    assert!(ehlo_keywords(&out).contains(&"STARTTLS".to_string()));
    assert!(!out.contains("AUTH"), "no AUTH before TLS: {out}");
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "538 5.7.11 Error: authentication requires encryption",
    );
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "STARTTLS\r\n",
        "503 5.5.1 Error: MAIL transaction in progress",
    );
    test.check("RSET\r\n", "250 2.0.0 Ok");
    // Commands pipelined after STARTTLS are injected plaintext: dropped (CVE-2011-0411).
    test.check(
        "STARTTLS\r\nMAIL FROM:<evil@x.y>\r\n",
        "220 2.0.0 Ready to start TLS",
    );
    assert!(test.service.events.contains(&ServerEvent::StartTls));
    assert!(!test.server.wants_input());
    assert_eq!(test.server.poll_timeout(), None);
    test.send("RCPT TO:<evil@x.y>\r\n");
    assert_eq!(test.server.discarded_input(), 42);
    test.server.tls_established(test.now);
    assert!(test.server.is_tls());
    assert_eq!(test.drive(), "", "nothing injected ran");
    // RFC 3207 §4.2: the client must EHLO again.
    test.check(
        "MAIL FROM:<a@b.c>\r\n",
        "503 5.5.1 Error: send HELO/EHLO first",
    );
    let out = test.send("EHLO x\r\n");
    let keywords = ehlo_keywords(&out);
    assert!(!keywords.contains(&"STARTTLS".to_string()));
    assert!(keywords.contains(&"AUTH PLAIN LOGIN".to_string()));
    test.check("STARTTLS\r\n", "554 5.5.1 Error: TLS already active");
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "235 2.7.0 Authentication successful",
    );
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n.\r\n");
    let envelope = &test.service.messages[0].0;
    assert!(envelope.tls);
    assert_eq!(envelope.authenticated.as_deref(), Some("user"));

    let mut test = Test::default();
    test.check("STARTTLS\r\n", "502 5.5.1 Error: command not implemented");
    test.check("STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS");
}

fn auth_config() -> ServerConfig {
    let mut config = ServerConfig::new("mx");
    config.auth = AuthPolicy::Always;
    config
}

#[test]
fn auth_plain() {
    let mut test = Test::new(auth_config());
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "503 5.5.1 Error: send EHLO first",
    );
    test.ehlo_any();
    // RFC 4954 §4: a wrong password, then an empty challenge and the response on its own line.
    test.check(
        "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n",
        "535 5.7.8 Error: authentication failed",
    );
    test.check("AUTH PLAIN\r\n", "334 ");
    test.check(
        "AHVzZXIAc2VjcmV0\r\n",
        "235 2.7.0 Authentication successful",
    );
    assert_eq!(test.server.authenticated(), Some("user"));
    let auth = test
        .service
        .events
        .iter()
        .rev()
        .find(|e| matches!(e, ServerEvent::Auth { .. }))
        .unwrap();
    assert_eq!(
        format!("{auth:?}"),
        "Auth { mechanism: Plain, authzid: None, identity: \"user\", password: Secret(..) }"
    );
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "503 5.5.1 Error: already authenticated",
    );
}

#[test]
fn auth_login_and_errors() {
    let mut test = Test::new(auth_config());
    test.ehlo_any();
    test.check("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6");
    test.check("dXNlcg==\r\n", "334 UGFzc3dvcmQ6");
    test.check("c2VjcmV0\r\n", "235 2.7.0 Authentication successful");

    let mut test = Test::new(auth_config());
    test.ehlo_any();
    // The user name as initial response (Outlook does this).
    test.check("AUTH LOGIN dXNlcg==\r\n", "334 UGFzc3dvcmQ6");
    test.check("*\r\n", "501 5.7.0 Error: authentication aborted");
    test.check("AUTH PLAIN\r\n", "334 ");
    test.check(
        "!!!\r\n",
        "501 5.5.2 Error: malformed authentication response",
    );
    test.check(
        "AUTH PLAIN dXNlcg==\r\n",
        "501 5.5.2 Error: malformed authentication response",
    );
    test.check(
        "AUTH CRAM-MD5\r\n",
        "504 5.5.4 Error: unsupported authentication mechanism",
    );
    test.check("AUTH PLAIN\r\n", "334 ");
    let long = format!("{}\r\n", "A".repeat(13_000));
    test.check(
        &long,
        "500 5.5.6 Error: authentication exchange line is too long",
    );
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "503 5.5.1 Error: MAIL transaction in progress",
    );

    let mut test = Test::default();
    test.ehlo();
    test.check(
        "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
        "503 5.5.1 Error: authentication not enabled",
    );
}

#[test]
fn bdat_chunks() {
    let mut test = Test::default();
    test.ehlo();
    test.send("MAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<b@c.d>\r\n");
    test.check("DATA\r\n", "503 5.5.1 Error: BINARYMIME needs BDAT");
    // A chunk may arrive in pieces, and with the next command in the same read.
    test.check("BDAT 5\r\nab", "");
    test.check(
        "c\r\nBDAT 3 LAST\r\n\0\x01",
        "250 2.0.0 Ok: 5 octets received",
    );
    test.check("\x02NOOP\r\n", "250 2.0.0 Ok: queued as 1\n250 2.0.0 Ok");
    let (envelope, data) = &test.service.messages[0];
    assert_eq!(data, b"abc\r\n\0\x01\x02");
    assert!(envelope.chunked);
    assert_eq!(envelope.params.body, Some(BodyType::BinaryMime));
    // BDAT 0 LAST ends a message too.
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\n");
    test.check(
        "BDAT 2\r\nhiBDAT 0 LAST\r\n",
        "250 2.0.0 Ok: 2 octets received\n250 2.0.0 Ok: queued as 2",
    );
    assert_eq!(test.service.messages[1].1, b"hi");
}

#[test]
fn bdat_errors_consume_the_chunk() {
    let mut test = Test::default();
    test.ehlo();
    // Without a transaction the chunk is read and dropped: "QUIT" inside it is no command.
    test.check("BDAT 6\r\nQUIT\r\n", "503 5.5.1 Error: need MAIL command");
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<bad@c.d>\r\n");
    test.check(
        "BDAT 4 LAST\r\nRSET",
        "554 5.5.1 Error: no valid recipients",
    );
    test.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\n");
    test.check("BDAT 1\r\nx", "250 2.0.0 Ok: 1 octets received");
    test.check("DATA\r\n", "503 5.5.1 Error: DATA after BDAT");
    test.check("RCPT TO:<c@c.d>\r\n", "503 5.5.1 Error: RCPT after BDAT");
    test.check("RSET\r\n", "250 2.0.0 Ok");
    // A BDAT line that does not parse: the chunk cannot be found, so the session ends.
    test.check("BDAT x LAST\r\n", "501 5.5.4 Syntax: BDAT size [LAST]");
    assert_eq!(test.closed(), Some(CloseReason::Protocol));

    let mut config = ServerConfig::new("mx");
    config.extensions.chunking = false;
    let mut test = Test::new(config);
    test.send("EHLO x\r\n");
    test.check("BDAT 4\r\nQUIT", "502 5.5.1 Error: command not implemented");
    assert!(!test.server.is_closed());
}

#[test]
fn bdat_over_the_limit() {
    let mut config = ServerConfig::new("mx");
    config.max_message_size = 10;
    let mut test = Test::new(config);
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\n");
    test.check("BDAT 8\r\n12345678", "250 2.0.0 Ok: 8 octets received");
    test.check(
        "BDAT 8\r\n12345678",
        "552 5.3.4 Message size exceeds fixed limit",
    );
    // Later chunks are read and get the same answer (RFC 3030 §2).
    test.check(
        "BDAT 2 LAST\r\n12",
        "552 5.3.4 Message size exceeds fixed limit",
    );
    assert!(test.service.messages.is_empty());
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
}

#[test]
fn smtputf8_addresses() {
    let mut test = Test::default();
    test.ehlo();
    test.check(
        "MAIL FROM:<jösé@bücher.de>\r\n",
        "553 5.6.7 Error: non-ASCII sender address needs SMTPUTF8",
    );
    test.check("MAIL FROM:<a@b.c>\r\n", "250 2.1.0 Ok");
    test.check(
        "RCPT TO:<jösé@bücher.de>\r\n",
        "553 5.6.7 Error: non-ASCII recipient address needs SMTPUTF8",
    );
    test.check("RSET\r\n", "250 2.0.0 Ok");
    test.check("MAIL FROM:<jösé@bücher.de> SMTPUTF8\r\n", "250 2.1.0 Ok");
    test.check("RCPT TO:<ü@bücher.de>\r\n", "250 2.1.5 Ok");
    let rcpt = test
        .service
        .events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Rcpt { to, .. } => to.mailbox().cloned(),
            _ => None,
        })
        .unwrap();
    assert_eq!(rcpt, Mailbox::parse("ü@BüCHER.de").unwrap());
}

#[test]
fn dsn_parameters_reach_the_envelope() {
    let mut test = Test::default();
    test.ehlo();
    test.send(
        "MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ314159 SIZE=5\r\n\
         RCPT TO:<b@c.d> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+40c.d\r\nDATA\r\nx\r\n.\r\n",
    );
    let envelope = &test.service.messages[0].0;
    assert_eq!(envelope.params.ret, Some(command::Ret::Headers));
    assert_eq!(envelope.params.envid.as_deref(), Some("QQ314159"));
    assert_eq!(envelope.params.size, Some(5));
    let params = &envelope.recipients[0].params;
    assert_eq!(
        params.notify,
        Some(command::Notify {
            success: true,
            failure: false,
            delay: true
        })
    );
    assert_eq!(params.orcpt.as_ref().unwrap().address, "b@c.d");
}

#[test]
fn service_rejections_and_closing() {
    let mut test = Test::default();
    test.service.answer = false;
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\n");
    test.server.reject(Reply::new(
        451,
        Some(EnhancedCode::SYSTEM),
        "Try again later",
    ));
    assert_eq!(test.drive(), "451 4.3.0 Try again later\r\n");
    test.send("MAIL FROM:<a@b.c>\r\n");
    test.server.accept_mail(Reply::sender_ok());
    test.send("RCPT TO:<b@c.d>\r\n");
    test.server.accept_rcpt(Reply::recipient_ok());
    test.send("DATA\r\nx\r\n.\r\n");
    // The machine does not say 250 by itself: the service rejects the stored message.
    test.server
        .reject(Reply::new(554, Some(EnhancedCode::NOT_AUTHORIZED), "Spam"));
    assert!(test.drive().ends_with("554 5.7.1 Spam\r\n"));
    test.check("RCPT TO:<b@c.d>\r\n", "503 5.5.1 Error: need MAIL command");
    // A 421 from the service closes the session.
    test.send("MAIL FROM:<a@b.c>\r\n");
    test.server.reject(Reply::new(
        421,
        Some(EnhancedCode::NOT_ACCEPTING),
        "mx Too busy",
    ));
    assert_eq!(test.drive(), "421 4.3.2 mx Too busy\r\n");
    assert!(test.server.is_closed());
    assert_eq!(test.closed(), Some(CloseReason::Service));
}

#[test]
fn timeouts() {
    let mut test = Test::default();
    let start = test.now;
    assert_eq!(
        test.server.poll_timeout(),
        Some(start + Duration::from_secs(300))
    );
    // Input moves the command deadline.
    test.now = start + Duration::from_secs(100);
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n");
    let data_deadline = test.now + Duration::from_secs(180);
    assert_eq!(test.server.poll_timeout(), Some(data_deadline));
    test.server
        .handle_timeout(data_deadline - Duration::from_secs(1));
    assert!(!test.server.is_closed(), "early timer calls do nothing");
    test.server.handle_timeout(data_deadline);
    assert_eq!(
        test.drive(),
        "421 4.4.2 mx.hamburger.edu Error: timeout exceeded\r\n"
    );
    assert!(test.server.is_closed());
    assert!(test.service.events.contains(&ServerEvent::Closed {
        reason: CloseReason::Timeout,
        after: "DATA"
    }));
}

#[test]
fn shutdown() {
    let mut test = Test::default();
    test.server.begin_shutdown();
    assert_eq!(
        test.drive(),
        "421 4.3.2 mx.hamburger.edu Service shutting down\r\n"
    );
    assert!(test.server.is_closed());

    // A message being received is finished first.
    let mut test = Test::default();
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\npart");
    test.server.begin_shutdown();
    assert_eq!(test.drive(), "");
    test.check(
        " two\r\n.\r\n",
        "250 2.0.0 Ok: queued as 1\n421 4.3.2 mx.hamburger.edu Service shutting down",
    );
    assert_eq!(test.service.messages[0].1, b"part two\r\n");
    assert_eq!(test.closed(), Some(CloseReason::Shutdown));
}

#[test]
fn refused_session() {
    let now = Instant::now();
    let mut server = ServerSession::refuse(
        ServerConfig::new("mx"),
        now,
        Reply::new(554, None, "mx no SMTP service here"),
    );
    let mut service = Service::new();
    assert_eq!(
        service.drive(&mut server),
        "554 mx no SMTP service here\r\n"
    );
    server.handle_input(now, b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n");
    assert_eq!(
        service.drive(&mut server),
        "503 5.5.1 Error: no SMTP service here\r\n503 5.5.1 Error: no SMTP service here\r\n221 2.0.0 Bye\r\n"
    );
    assert!(server.is_closed());
}

#[test]
fn eof() {
    let mut test = Test::default();
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\n");
    test.server.handle_eof(test.now);
    test.drive();
    assert!(test.server.is_closed());
    assert!(test.service.events.contains(&ServerEvent::Closed {
        reason: CloseReason::Eof,
        after: "MAIL"
    }));

    // A half-closed client still gets its pipelined commands answered.
    let mut test = Test::default();
    test.service.answer = false;
    test.send("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\n");
    test.server.handle_eof(test.now);
    assert!(!test.server.is_closed());
    test.server.accept_mail(Reply::sender_ok());
    test.server.accept_rcpt(Reply::recipient_ok());
    let out = test.drive();
    assert!(out.ends_with("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "{out}");
    assert!(test.server.is_closed());
}

#[test]
fn enhanced_codes_can_be_off() {
    let mut config = ServerConfig::new("mx");
    config.extensions.enhanced_status_codes = false;
    let mut test = Test::new(config);
    test.check("RCPT TO:<a@b.c>\r\n", "503 Error: need MAIL command");
}

#[test]
fn traces() {
    let mut config = ServerConfig::new("mx");
    config.trace = true;
    config.auth = AuthPolicy::Always;
    let mut test = Test::new(config);
    test.send("EHLO x\r\nAUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\nMAIL FROM:<a@b.c> SIZE=3\r\n");
    let mut traces = Vec::new();
    while let Some(trace) = test.server.poll_trace() {
        traces.push(format!(
            "{} {}",
            if trace.direction == Direction::Recv {
                "C:"
            } else {
                "S:"
            },
            trace.summary
        ));
    }
    assert_eq!(traces[0], "S: 220 mx ESMTP");
    assert_eq!(traces[1], "C: EHLO x");
    assert!(traces[2].starts_with("S: 250 mx PIPELINING SIZE"));
    assert_eq!(
        traces[3..],
        [
            "C: AUTH PLAIN",
            "S: 334",
            "C: <SASL response redacted>",
            "S: 235 2.7.0 Authentication successful",
            "C: MAIL FROM:<a@b.c> SIZE=3",
            "S: 250 2.1.0 Ok"
        ]
    );
}
