//! Test drivers: an automatic service answering a server's decisions, a transcript runner
//! for scripted clients, and `Pair`, a server and a client session joined in memory with
//! virtual time (and TLS simulated: both sides are told it is up).

use smtp_proto::{
    ClientConfig, ClientEvent, ClientSession, EnhancedCode, Envelope, Message, Outcome, Reply,
    ServerConfig, ServerEvent, ServerSession,
};
use std::time::{Duration, Instant};

/// Answers decisions: senders accepted; recipients refused if their local part starts with
/// "bad" or is "Green" (RFC 5321 Appendix D); messages stored and accepted as `queued as N`;
/// the passwords of `user`, `alice` ("secret") and `test` ("1234", RFC 4954's examples).
#[derive(Debug, Default)]
pub(crate) struct Service {
    /// Messages stored.
    pub(crate) stored: Vec<(Envelope, Vec<u8>)>,
    /// Every event seen.
    pub(crate) events: Vec<ServerEvent>,
    /// Leave decisions unanswered.
    pub(crate) silent: bool,
    /// Call `begin_shutdown` when a message arrives.
    pub(crate) shutdown_at_message: bool,
}

impl Service {
    /// Drains output and events, answering decisions; returns the output.
    pub(crate) fn drive(&mut self, server: &mut ServerSession) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            while let Some(bytes) = server.poll_transmit() {
                out.extend(bytes);
            }
            let Some(event) = server.poll_event() else {
                break;
            };
            self.events.push(event.clone());
            if !self.silent {
                self.answer(server, event);
            }
        }
        out
    }

    /// Answers one event.
    pub(crate) fn answer(&mut self, server: &mut ServerSession, event: ServerEvent) {
        match event {
            ServerEvent::Mail { .. } => server.accept_mail(Reply::sender_ok()),
            ServerEvent::Rcpt { to, .. } => {
                let refused = to
                    .mailbox()
                    .is_some_and(|m| m.local().starts_with("bad") || m.local() == "Green");
                if refused {
                    server.reject(Reply::new(
                        550,
                        Some(EnhancedCode::BAD_MAILBOX),
                        "No such user here",
                    ));
                } else {
                    server.accept_rcpt(Reply::recipient_ok());
                }
            }
            ServerEvent::Message { envelope, data } => {
                self.stored.push((envelope, data));
                if self.shutdown_at_message {
                    server.begin_shutdown();
                }
                server.message_accepted(Reply::queued(&self.stored.len().to_string()));
            }
            ServerEvent::Auth {
                identity, password, ..
            } => {
                let ok = matches!(
                    (identity.as_str(), password.expose()),
                    ("user" | "alice", "secret") | ("test", "1234")
                );
                server.auth_result(ok);
            }
            ServerEvent::Vrfy { argument } => {
                if argument == "Crispin" {
                    server.vrfy_result(Reply::new(
                        250,
                        Some(EnhancedCode::OK),
                        "Mark Crispin <Admin.MRC@foo.com>",
                    ));
                } else {
                    server.vrfy_result(Reply::new(
                        550,
                        Some(EnhancedCode::BAD_MAILBOX),
                        "String does not match anything",
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Runs a transcript against a server: `C:` lines are sent (with CRLF; `<TLS>` alone
/// completes a STARTTLS handshake), each run of `S:` lines is checked against the final
/// lines of the replies that came back, by prefix (`S: 250 2.1.5` matches `250 2.1.5 Ok`).
/// Returns the service.
pub(crate) fn converse(config: ServerConfig, transcript: &str) -> Service {
    let now = Instant::now();
    let mut server = ServerSession::new(config, now);
    let mut service = Service::default();
    let mut pending = String::new();
    let mut expected: Vec<&str> = Vec::new();
    let mut replies: Vec<String> = Vec::new();
    let flush =
        |server: &mut ServerSession, service: &mut Service, pending: &mut String| -> Vec<String> {
            if !pending.is_empty() {
                server.handle_input(now, pending.as_bytes());
                pending.clear();
            }
            let out = String::from_utf8(service.drive(server)).unwrap();
            out.lines()
                .filter(|line| line.as_bytes().get(3) != Some(&b'-'))
                .map(str::to_string)
                .collect()
        };
    for line in transcript.lines().map(str::trim_start) {
        if let Some(sent) = line.strip_prefix("C: ") {
            if !expected.is_empty() {
                check(&replies, &expected, line);
                expected.clear();
                replies.clear();
            }
            if sent == "<TLS>" {
                replies.extend(flush(&mut server, &mut service, &mut pending));
                assert!(
                    service.events.contains(&ServerEvent::StartTls),
                    "no STARTTLS event"
                );
                server.tls_established(now);
                continue;
            }
            pending.push_str(sent);
            pending.push_str("\r\n");
        } else if let Some(reply) = line.strip_prefix("S: ") {
            if expected.is_empty() {
                replies.extend(flush(&mut server, &mut service, &mut pending));
            }
            expected.push(reply);
        }
    }
    check(&replies, &expected, "the end");
    service
}

fn check(replies: &[String], expected: &[&str], before: &str) {
    assert_eq!(
        replies.len(),
        expected.len(),
        "before {before:?}: got {replies:#?}, expected {expected:#?}"
    );
    for (reply, expected) in replies.iter().zip(expected) {
        assert!(
            reply.starts_with(expected),
            "before {before:?}: got {reply:?}, expected {expected:?}"
        );
    }
}

/// A server and a client joined in memory.
pub(crate) struct Pair {
    /// The server.
    pub(crate) server: ServerSession,
    /// Its service.
    pub(crate) service: Service,
    /// The client.
    pub(crate) client: ClientSession,
    /// Client events.
    pub(crate) client_events: Vec<ClientEvent>,
    /// Virtual time.
    pub(crate) now: Instant,
    /// Everything written, as `C: ` / `S: ` chunks.
    pub(crate) wire: Vec<(char, Vec<u8>)>,
    /// Each transmission is delivered in pieces of at most this many bytes.
    pub(crate) piece: usize,
    /// Time each transmission takes to arrive.
    pub(crate) latency: Duration,
    /// Bytes the client "pipelines" right after STARTTLS, as an attacker in the middle would.
    pub(crate) inject_after_starttls: Option<Vec<u8>>,
}

impl Pair {
    /// A new pair at the moment the connection opens.
    pub(crate) fn new(server: ServerConfig, client: ClientConfig, message: Message) -> Pair {
        let now = Instant::now();
        Pair {
            server: ServerSession::new(server, now),
            service: Service::default(),
            client: ClientSession::new(client, message, now),
            client_events: Vec::new(),
            now,
            wire: Vec::new(),
            piece: usize::MAX,
            latency: Duration::from_millis(10),
            inject_after_starttls: None,
        }
    }

    /// Runs until both sides are closed or nothing can happen any more; returns the outcome.
    pub(crate) fn run(&mut self) -> Option<Outcome> {
        let mut server_tls = false;
        let mut server_handshakes = 0;
        let mut client_tls = false;
        let mut server_eof = false;
        let mut client_eof = false;
        for _ in 0..100_000 {
            let mut progress = false;
            let out = self.service.drive(&mut self.server);
            let starttls = self
                .service
                .events
                .iter()
                .filter(|e| **e == ServerEvent::StartTls)
                .count();
            if starttls > server_handshakes {
                server_handshakes = starttls;
                server_tls = true;
            }
            if !out.is_empty() {
                progress = true;
                self.now += self.latency;
                self.wire.push(('S', out.clone()));
                for piece in out.chunks(self.piece.max(1)) {
                    self.client.handle_input(self.now, piece);
                }
            }
            while let Some(event) = self.client.poll_event() {
                progress = true;
                if event == ClientEvent::StartTls {
                    client_tls = true;
                }
                self.client_events.push(event);
            }
            if server_tls && client_tls {
                progress = true;
                server_tls = false;
                client_tls = false;
                if let Some(injected) = &self.inject_after_starttls {
                    // Arrives before the handshake: the server must drop it.
                    self.server.handle_input(self.now, injected);
                }
                self.server.tls_established(self.now);
                self.client.tls_established(self.now);
            }
            let mut out = Vec::new();
            while let Some(bytes) = self.client.poll_transmit() {
                out.extend(bytes);
            }
            if !out.is_empty() {
                progress = true;
                self.now += self.latency;
                self.wire.push(('C', out.clone()));
                for piece in out.chunks(self.piece.max(1)) {
                    self.server.handle_input(self.now, piece);
                }
                self.client.handle_sent(self.now);
            }
            if self.server.is_closed() && !client_eof {
                client_eof = true;
                progress = true;
                self.client.handle_eof(self.now);
            }
            if self.client.is_closed() && !server_eof {
                server_eof = true;
                progress = true;
                self.server.handle_eof(self.now);
            }
            if self.server.is_closed() && self.client.is_closed() {
                break;
            }
            if !progress {
                let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(next) = next else {
                    break;
                };
                self.now = self.now.max(next);
                self.server.handle_timeout(self.now);
                self.client.handle_timeout(self.now);
            }
        }
        self.outcome()
    }

    /// The client's outcome, if it has one.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        self.client_events.iter().find_map(|event| match event {
            ClientEvent::Done(outcome) => Some(outcome.clone()),
            _ => None,
        })
    }

    /// The conversation as text, one `C:`/`S:` line per protocol line (message data too).
    pub(crate) fn transcript(&self) -> String {
        let mut text = String::new();
        for (side, bytes) in &self.wire {
            for line in String::from_utf8_lossy(bytes).split_inclusive("\r\n") {
                text.push_str(&format!("{side}: {}\n", line.trim_end_matches("\r\n")));
            }
        }
        text
    }
}
