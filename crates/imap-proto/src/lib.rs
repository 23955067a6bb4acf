//! Sans-IO IMAP4rev1 (RFC 3501) server session, with LITERAL+ / LITERAL- (RFC 7888), SASL-IR
//! (RFC 4959), ENABLE (RFC 5161), ID (RFC 2971), NAMESPACE (RFC 2342), IDLE (RFC 2177),
//! UNSELECT (RFC 3691), MOVE (RFC 6851) and UIDPLUS (RFC 4315) in the grammar. Seed §2.3.4:
//! folders kept on the server, messages moved between them, searched, partially fetched.
//!
//! # Contract
//!
//! Nothing here reads a clock, touches a socket or a file, or panics on network input: time
//! comes in as `Instant` arguments, bytes as slices. Lines are bounded ([`Config::max_line`]),
//! literals too ([`Config::max_literal`]), and so are a command's literal count and input
//! held while the service answers; what is over a limit is answered `BAD` with a clear text
//! and skipped. Synchronising literals get a `+` continuation only when they fit.
//!
//! The session owns the framing, the state machine (not authenticated, authenticated,
//! selected, logout) and the commands that need no mailbox (CAPABILITY, LOGOUT, STARTTLS,
//! LOGIN, AUTHENTICATE PLAIN, ENABLE, ID, NAMESPACE, and NOOP before login). Everything that
//! touches mail is parsed into a [`Command`] and handed to the service as
//! [`Event::Command`]; the service answers with [`ServerSession::command_done`], giving the
//! untagged responses it wrote, the tagged result and the state that follows. The service may
//! also push untagged responses while IDLE ([`ServerSession::untagged`]).
//!
//! # Run loop
//!
//! After every `handle_*` call or answer: write out what `poll_transmit` gives, handle what
//! `poll_event` gives, arm a timer for `poll_timeout`, read only while `wants_input`, close
//! when `is_closed`.

pub mod mutf7;
mod parse;

pub use parse::{
    mailbox_name, parse_command, tokenize, Command, Part, SeqBound, SequenceSet, StoreMode,
    SyntaxError, Value, MAX_DEPTH, MAX_RANGES,
};

use base64::Engine as _;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most literals in one command.
pub const MAX_LITERALS: usize = 64;
/// Input held while the service answers (pipelined commands).
pub const MAX_PENDING_INPUT: usize = 256 * 1024;

/// Configuration of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Our host name, in the greeting.
    pub hostname: String,
    /// Whether the driver can start TLS (STARTTLS offered while TLS is not active).
    pub tls_available: bool,
    /// Whether TLS is already active (port 993).
    pub tls_active: bool,
    /// Whether LOGIN and AUTHENTICATE may be used without TLS (the world on loopback).
    pub plaintext_login: bool,
    /// The autologout timer (RFC 3501 §5.4: at least 30 minutes; shorter for tests).
    pub idle_timeout: Duration,
    /// The longest command line, CRLF included.
    pub max_line: usize,
    /// The largest literal (an APPENDed message).
    pub max_literal: usize,
}

impl Config {
    /// Defaults for `hostname`: no TLS, plaintext logins refused, 30 minutes, 64 KiB lines,
    /// 50 MiB literals.
    pub fn new(hostname: impl Into<String>) -> Config {
        Config {
            hostname: hostname.into(),
            tls_available: false,
            tls_active: false,
            plaintext_login: false,
            idle_timeout: Duration::from_secs(30 * 60),
            max_line: 64 * 1024,
            max_literal: 50 * 1024 * 1024,
        }
    }
}

/// The session state (RFC 3501 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected {
        /// Opened with EXAMINE.
        read_only: bool,
    },
    /// Closing.
    Logout,
}

/// The tagged result of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `OK` with text (may start with a response code such as `[READ-WRITE]`).
    Ok(String),
    /// `NO` with text.
    No(String),
    /// `BAD` with text.
    Bad(String),
}

/// What the session needs the service to decide or do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Check `user`'s `password` (LOGIN or AUTHENTICATE PLAIN): answer with
    /// [`ServerSession::login_ok`] or [`ServerSession::login_failed`].
    Login {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Start TLS now (after the tagged `OK` to STARTTLS was written); then
    /// [`ServerSession::tls_established`].
    StartTls,
    /// A mailbox command: answer with [`ServerSession::command_done`] (for IDLE, first
    /// [`ServerSession::idle_started`]).
    Command {
        /// The client's tag.
        tag: String,
        /// The command.
        command: Command,
    },
    /// The client ended IDLE with DONE: answer with [`ServerSession::command_done`].
    IdleDone,
    /// The session ended (LOGOUT, EOF, timeout): release what it holds.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Waiting {
    None,
    Login {
        tag: String,
    },
    Command {
        tag: String,
    },
    Tls,
    Idle {
        tag: String,
    },
    IdleDone {
        tag: String,
    },
    /// AUTHENTICATE PLAIN without an initial response: the next line is the response.
    AuthResponse {
        tag: String,
    },
}

/// A literal being read or skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Literal {
    None,
    Reading(usize),
    Skipping(usize),
}

/// An IMAP server session.
#[derive(Debug)]
pub struct ServerSession {
    config: Config,
    state: State,
    waiting: Waiting,
    input: Vec<u8>,
    parts: Vec<parse::Part>,
    literal: Literal,
    /// Discard input up to the next line end (after an oversized line or literal).
    discarding: bool,
    /// The tagged BAD owed once the discarded command ends.
    discard_reply: Option<Vec<u8>>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    tls_active: bool,
    deadline: Instant,
    user: Option<String>,
    /// ENABLE CONDSTORE was given (RFC 7162 §3.1: the driver also turns CONDSTORE on at the
    /// first CONDSTORE-enabling command).
    condstore: bool,
}

fn tagged(tag: &str, reply: &Reply) -> Vec<u8> {
    let (word, text) = match reply {
        Reply::Ok(text) => ("OK", text),
        Reply::No(text) => ("NO", text),
        Reply::Bad(text) => ("BAD", text),
    };
    format!("{tag} {word} {}\r\n", one_line(text)).into_bytes()
}

/// Response text never carries a line end from the service or the peer.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Whether a tag is well formed (astring chars except `+`, RFC 3501 §9).
fn tag_ok(tag: &[u8]) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag.iter().all(|&byte| {
            byte > 0x20
                && byte < 0x7f
                && !matches!(byte, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
        })
}

/// A `{n}`, `{n+}` literal marker at the end of a line: (size, non-synchronising).
fn literal_marker(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&byte| byte == b'{')?;
    let mut digits = &inner[open + 1..];
    let nonsync = digits.last() == Some(&b'+');
    if nonsync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse::<usize>().ok()?;
    Some((size, nonsync))
}

impl ServerSession {
    /// A new session; the greeting is ready in `poll_transmit`.
    pub fn new(config: Config, now: Instant) -> ServerSession {
        let mut session = ServerSession {
            tls_active: config.tls_active,
            condstore: false,
            deadline: now + config.idle_timeout,
            config,
            state: State::NotAuthenticated,
            waiting: Waiting::None,
            input: Vec::new(),
            parts: Vec::new(),
            literal: Literal::None,
            discarding: false,
            discard_reply: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            user: None,
        };
        let greeting = format!(
            "* OK [CAPABILITY {}] {} IMAP server ready\r\n",
            session.capabilities(),
            session.config.hostname
        );
        session.out.push_back(greeting.into_bytes());
        session
    }

    /// The next bytes to write.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event for the service.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (also while IDLE).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state != State::Logout
            && matches!(self.waiting, Waiting::None | Waiting::Idle { .. }))
        .then_some(self.deadline)
    }

    /// Whether the driver should read.
    pub fn wants_input(&self) -> bool {
        self.state != State::Logout
            && matches!(
                self.waiting,
                Waiting::None | Waiting::Idle { .. } | Waiting::AuthResponse { .. }
            )
            && self.input.len() < MAX_PENDING_INPUT
    }

    /// Whether the session is over (close after writing what is left).
    pub fn is_closed(&self) -> bool {
        self.state == State::Logout && self.waiting == Waiting::None
    }

    /// The session state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether a session is in IDLE (the service may push untagged responses).
    pub fn is_idle(&self) -> bool {
        matches!(self.waiting, Waiting::Idle { .. })
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Whether the client gave ENABLE CONDSTORE.
    pub fn condstore_enabled(&self) -> bool {
        self.condstore
    }

    /// The CAPABILITY list for the current state.
    pub fn capabilities(&self) -> String {
        let mut caps = String::from("IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE");
        if self.state == State::NotAuthenticated {
            if self.config.tls_available && !self.tls_active {
                caps.push_str(" STARTTLS");
            }
            if self.may_login() {
                caps.push_str(" AUTH=PLAIN");
            } else {
                caps.push_str(" LOGINDISABLED");
            }
        } else {
            caps.push_str(" UIDPLUS MOVE UNSELECT SPECIAL-USE CHILDREN ESEARCH BINARY CONDSTORE");
        }
        caps
    }

    /// Bytes from the client.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Logout {
            return;
        }
        self.deadline = now + self.config.idle_timeout;
        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self) {
        if self.state != State::Logout {
            self.close();
        }
    }

    /// The autologout timer (RFC 3501 §5.4).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.out
                .push_back(b"* BYE autologout: idle for too long\r\n".to_vec());
            self.close();
        }
    }

    /// TLS is up (after [`Event::StartTls`]).
    pub fn tls_established(&mut self, now: Instant) {
        if self.waiting != Waiting::Tls {
            return;
        }
        self.waiting = Waiting::None;
        self.tls_active = true;
        self.deadline = now + self.config.idle_timeout;
        self.process();
    }

    /// The login succeeded.
    pub fn login_ok(&mut self, user: &str) {
        let Waiting::Login { tag } = self.waiting.clone() else {
            return;
        };
        self.waiting = Waiting::None;
        self.user = Some(user.to_string());
        self.state = State::Authenticated;
        let text = format!("[CAPABILITY {}] logged in", self.capabilities());
        self.out.push_back(tagged(&tag, &Reply::Ok(text)));
        self.process();
    }

    /// The login failed (the driver has already waited out its failure delay).
    pub fn login_failed(&mut self, temporary: Option<String>) {
        let Waiting::Login { tag } = self.waiting.clone() else {
            return;
        };
        self.waiting = Waiting::None;
        let text = match temporary {
            None => "[AUTHENTICATIONFAILED] authentication failed".to_string(),
            Some(why) => format!("[UNAVAILABLE] {why}"),
        };
        self.out.push_back(tagged(&tag, &Reply::No(text)));
        self.process();
    }

    /// The service starts IDLE (after [`Command::Idle`]): the continuation goes out and
    /// input is watched for DONE.
    pub fn idle_started(&mut self) {
        let Waiting::Command { tag } = self.waiting.clone() else {
            return;
        };
        self.waiting = Waiting::Idle { tag };
        self.out.push_back(b"+ idling\r\n".to_vec());
        self.process();
    }

    /// Untagged responses from the service outside a command (during IDLE).
    pub fn untagged(&mut self, bytes: Vec<u8>) {
        if self.state != State::Logout && !bytes.is_empty() {
            self.out.push_back(bytes);
        }
    }

    /// The service finished the command of [`Event::Command`] (or [`Event::IdleDone`]):
    /// `untagged` are the responses it made (each ending in CRLF), `reply` the tagged result,
    /// `state` the state that follows (`None`: unchanged).
    pub fn command_done(&mut self, untagged: Vec<u8>, reply: Reply, state: Option<State>) {
        let tag = match &self.waiting {
            Waiting::Command { tag } | Waiting::IdleDone { tag } | Waiting::Idle { tag } => {
                tag.clone()
            }
            _ => return,
        };
        self.waiting = Waiting::None;
        if !untagged.is_empty() {
            self.out.push_back(untagged);
        }
        self.out.push_back(tagged(&tag, &reply));
        if let Some(state) = state {
            if state != State::NotAuthenticated && state != State::Logout {
                self.state = state;
            }
        }
        self.process();
    }

    fn close(&mut self) {
        self.state = State::Logout;
        self.waiting = Waiting::None;
        self.input.clear();
        self.parts.clear();
        self.events.push_back(Event::Closed);
    }

    fn may_login(&self) -> bool {
        self.tls_active || self.config.plaintext_login
    }

    /// Frames input into commands (lines and literals) and dispatches them.
    fn process(&mut self) {
        loop {
            if self.state == State::Logout {
                return;
            }
            match self.literal {
                Literal::Reading(size) => {
                    if self.input.len() < size {
                        return;
                    }
                    let bytes: Vec<u8> = self.input.drain(..size).collect();
                    self.parts.push(parse::Part::Literal(bytes));
                    self.literal = Literal::None;
                    continue;
                }
                Literal::Skipping(size) => {
                    let take = size.min(self.input.len());
                    self.input.drain(..take);
                    if take < size {
                        self.literal = Literal::Skipping(size - take);
                        return;
                    }
                    self.literal = Literal::None;
                    continue;
                }
                Literal::None => {}
            }
            if !matches!(
                self.waiting,
                Waiting::None | Waiting::Idle { .. } | Waiting::AuthResponse { .. }
            ) {
                return;
            }
            let Some(newline) = self.input.iter().position(|&byte| byte == b'\n') else {
                if self.input.len() > self.config.max_line {
                    if !self.discarding {
                        self.discarding = true;
                        let reply = if self.parts.is_empty() {
                            self.bad_for_line(&self.input, "line too long")
                        } else {
                            self.bad_for_parts("line too long")
                        };
                        self.discard_reply = Some(reply);
                    }
                    self.input.clear();
                }
                return;
            };
            let mut line: Vec<u8> = self.input.drain(..=newline).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if self.discarding {
                // The rest of an oversized command: its literals are skipped too.
                if let Some((size, _)) = literal_marker(&line) {
                    self.literal = Literal::Skipping(size);
                    continue;
                }
                self.discarding = false;
                self.parts.clear();
                let reply = self
                    .discard_reply
                    .take()
                    .unwrap_or_else(|| b"* BAD line too long\r\n".to_vec());
                self.out.push_back(reply);
                continue;
            }
            if line.len() + 2 > self.config.max_line {
                let reply = self.bad_for_line(&line, "line too long");
                self.parts.clear();
                self.out.push_back(reply);
                continue;
            }
            match self.waiting.clone() {
                Waiting::Idle { tag } => {
                    if line.eq_ignore_ascii_case(b"DONE") {
                        self.waiting = Waiting::IdleDone { tag };
                        self.events.push_back(Event::IdleDone);
                    } else {
                        self.out
                            .push_back(b"* BAD expected DONE to end IDLE\r\n".to_vec());
                    }
                    continue;
                }
                Waiting::AuthResponse { tag } => {
                    self.waiting = Waiting::None;
                    let text = String::from_utf8_lossy(&line).into_owned();
                    self.auth_plain(&tag, text.trim());
                    continue;
                }
                _ => {}
            }
            if let Some((size, nonsync)) = literal_marker(&line) {
                let marker = line.iter().rposition(|&byte| byte == b'{').unwrap_or(0);
                let text = line[..marker].to_vec();
                self.parts.push(parse::Part::Text(text));
                let literals = self
                    .parts
                    .iter()
                    .filter(|part| matches!(part, parse::Part::Literal(_)))
                    .count();
                let held: usize = self
                    .parts
                    .iter()
                    .map(|part| match part {
                        parse::Part::Text(bytes) | parse::Part::Literal(bytes) => bytes.len(),
                    })
                    .sum();
                let why = if size > self.config.max_literal
                    || held.saturating_add(size) > self.config.max_literal + self.config.max_line
                {
                    Some(format!(
                        "[TOOBIG] literal of {size} octets is over the limit of {}",
                        self.config.max_literal
                    ))
                } else if literals >= MAX_LITERALS {
                    Some(format!("too many literals (at most {MAX_LITERALS})"))
                } else {
                    None
                };
                match (why, nonsync) {
                    (None, false) => {
                        self.out.push_back(b"+ Ready for literal data\r\n".to_vec());
                        self.literal = Literal::Reading(size);
                    }
                    (None, true) => self.literal = Literal::Reading(size),
                    (Some(why), false) => {
                        // The client sends nothing more of this command (RFC 3501 §7.5).
                        let reply = self.bad_for_parts(&why);
                        self.parts.clear();
                        self.out.push_back(reply);
                    }
                    (Some(why), true) => {
                        self.discard_reply = Some(self.bad_for_parts(&why));
                        self.discarding = true;
                        self.literal = Literal::Skipping(size);
                    }
                }
                continue;
            }
            self.parts.push(parse::Part::Text(line));
            let parts = std::mem::take(&mut self.parts);
            self.command(parts);
        }
    }

    fn first_text(&self) -> &[u8] {
        match self.parts.first() {
            Some(parse::Part::Text(text)) => text,
            _ => &[],
        }
    }

    fn bad_for_line(&self, line: &[u8], why: &str) -> Vec<u8> {
        let tag = line.split(|&byte| byte == b' ').next().unwrap_or_default();
        let tag = if tag_ok(tag) {
            String::from_utf8_lossy(tag).into_owned()
        } else {
            "*".to_string()
        };
        tagged(&tag, &Reply::Bad(why.to_string()))
    }

    fn bad_for_parts(&self, why: &str) -> Vec<u8> {
        let first = self.first_text().to_vec();
        self.bad_for_line(&first, why)
    }

    /// One complete command.
    fn command(&mut self, parts: Vec<parse::Part>) {
        let Some(parse::Part::Text(first)) = parts.first() else {
            return;
        };
        let first = first.clone();
        if first.is_empty() && parts.len() == 1 {
            self.out.push_back(b"* BAD empty command line\r\n".to_vec());
            return;
        }
        let mut words = first.splitn(2, |&byte| byte == b' ');
        let tag_bytes = words.next().unwrap_or_default();
        if !tag_ok(tag_bytes) {
            self.out
                .push_back(b"* BAD missing or invalid tag\r\n".to_vec());
            return;
        }
        let tag = String::from_utf8_lossy(tag_bytes).into_owned();
        let rest = words.next().unwrap_or_default().to_vec();
        let mut name_words = rest.splitn(2, |&byte| byte == b' ');
        let mut name =
            String::from_utf8_lossy(name_words.next().unwrap_or_default()).to_ascii_uppercase();
        let mut args_text = name_words.next().unwrap_or_default().to_vec();
        let mut uid = false;
        if name == "UID" {
            uid = true;
            let mut more = args_text.splitn(2, |&byte| byte == b' ');
            name = String::from_utf8_lossy(more.next().unwrap_or_default()).to_ascii_uppercase();
            args_text = more.next().unwrap_or_default().to_vec();
        }
        if name.is_empty() {
            self.out
                .push_back(tagged(&tag, &Reply::Bad("missing command".into())));
            return;
        }
        let mut arg_parts = vec![parse::Part::Text(args_text)];
        arg_parts.extend(parts.into_iter().skip(1));
        let args = match parse::tokenize(&arg_parts) {
            Ok(args) => args,
            Err(why) => {
                self.out
                    .push_back(tagged(&tag, &Reply::Bad(format!("syntax error: {why}"))));
                return;
            }
        };
        self.dispatch(tag, uid, &name, args);
    }

    fn dispatch(&mut self, tag: String, uid: bool, name: &str, args: Vec<Value>) {
        let bad = |text: &str| Reply::Bad(text.to_string());
        let no_args = args.is_empty();
        match (uid, name) {
            (false, "CAPABILITY") if no_args => {
                let line = format!("* CAPABILITY {}\r\n", self.capabilities());
                self.out.push_back(line.into_bytes());
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("CAPABILITY completed".into())));
            }
            (false, "LOGOUT") if no_args => {
                self.out.push_back(
                    format!("* BYE {} IMAP server signing off\r\n", self.config.hostname)
                        .into_bytes(),
                );
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("LOGOUT completed".into())));
                self.close();
            }
            (false, "NOOP") if self.state == State::NotAuthenticated && no_args => {
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("NOOP completed".into())));
            }
            (false, "STARTTLS") if no_args => {
                if self.state != State::NotAuthenticated {
                    self.out
                        .push_back(tagged(&tag, &bad("STARTTLS only before login")));
                } else if !self.config.tls_available || self.tls_active {
                    self.out
                        .push_back(tagged(&tag, &bad("STARTTLS not available")));
                } else {
                    self.out
                        .push_back(tagged(&tag, &Reply::Ok("Begin TLS negotiation now".into())));
                    // Plaintext pipelined after STARTTLS must not reach the TLS session.
                    self.input.clear();
                    self.waiting = Waiting::Tls;
                    self.events.push_back(Event::StartTls);
                }
            }
            (false, "LOGIN" | "AUTHENTICATE") if self.state != State::NotAuthenticated => {
                self.out
                    .push_back(tagged(&tag, &bad("already authenticated")));
            }
            (false, "LOGIN" | "AUTHENTICATE") if !self.may_login() => {
                self.out.push_back(tagged(
                    &tag,
                    &Reply::No(
                        "[PRIVACYREQUIRED] plaintext authentication is not allowed without TLS (STARTTLS first)"
                            .into(),
                    ),
                ));
            }
            (false, "LOGIN") => match args.as_slice() {
                [user, password] => match (user.as_text(), password.as_text()) {
                    (Some(user), Some(password)) => {
                        self.waiting = Waiting::Login { tag };
                        self.events.push_back(Event::Login { user, password });
                    }
                    _ => self
                        .out
                        .push_back(tagged(&tag, &bad("usage: LOGIN user password"))),
                },
                _ => self
                    .out
                    .push_back(tagged(&tag, &bad("usage: LOGIN user password"))),
            },
            (false, "AUTHENTICATE") => {
                let mechanism = args.first().and_then(Value::as_text).unwrap_or_default();
                match args.as_slice() {
                    [_] | [_, _] if !mechanism.eq_ignore_ascii_case("PLAIN") => {
                        self.out.push_back(tagged(
                            &tag,
                            &Reply::No("unsupported SASL mechanism (PLAIN only)".into()),
                        ));
                    }
                    [_] => {
                        self.waiting = Waiting::AuthResponse { tag };
                        self.out.push_back(b"+ \r\n".to_vec());
                    }
                    [_, initial] => {
                        let initial = initial.as_text().unwrap_or_default();
                        self.auth_plain(&tag, &initial);
                    }
                    _ => self.out.push_back(tagged(
                        &tag,
                        &bad("usage: AUTHENTICATE PLAIN [initial-response]"),
                    )),
                }
            }
            (false, "ENABLE") if self.state != State::NotAuthenticated && !no_args => {
                // CONDSTORE is the one extension ENABLE turns on (RFC 5161: what is not
                // known is left out of the ENABLED answer).
                let wanted = args
                    .iter()
                    .filter_map(Value::as_text)
                    .any(|name| name.eq_ignore_ascii_case("CONDSTORE"));
                if wanted && !self.condstore {
                    self.condstore = true;
                    self.out.push_back(b"* ENABLED CONDSTORE\r\n".to_vec());
                } else {
                    self.out.push_back(b"* ENABLED\r\n".to_vec());
                }
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("ENABLE completed".into())));
            }
            (false, "ID") if args.len() == 1 => {
                self.out.push_back(
                    b"* ID (\"name\" \"applayer\" \"vendor\" \"applayer\")\r\n".to_vec(),
                );
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("ID completed".into())));
            }
            (false, "NAMESPACE") if self.state != State::NotAuthenticated && no_args => {
                self.out
                    .push_back(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n".to_vec());
                self.out
                    .push_back(tagged(&tag, &Reply::Ok("NAMESPACE completed".into())));
            }
            (
                false,
                "CAPABILITY" | "LOGOUT" | "STARTTLS" | "ENABLE" | "ID" | "NAMESPACE" | "NOOP",
            ) if self.state == State::NotAuthenticated || !matches!(name, "NOOP") => {
                let text = if self.state == State::NotAuthenticated {
                    format!("{name}: log in first, or check the arguments")
                } else {
                    format!("{name}: wrong arguments")
                };
                self.out.push_back(tagged(&tag, &Reply::Bad(text)));
            }
            _ => {
                if self.state == State::NotAuthenticated {
                    self.out.push_back(tagged(
                        &tag,
                        &bad(&format!("{name}: log in first (or unknown command)")),
                    ));
                    return;
                }
                let command = match parse::parse_command(name, uid, &args) {
                    Ok(command) => command,
                    Err(why) => {
                        self.out.push_back(tagged(&tag, &Reply::Bad(why.0)));
                        return;
                    }
                };
                let needs_selected = matches!(
                    command,
                    Command::Close
                        | Command::Unselect
                        | Command::Expunge { .. }
                        | Command::Search { .. }
                        | Command::Fetch { .. }
                        | Command::Store { .. }
                        | Command::Copy { .. }
                );
                if needs_selected && !matches!(self.state, State::Selected { .. }) {
                    self.out
                        .push_back(tagged(&tag, &bad(&format!("{name}: no mailbox selected"))));
                    return;
                }
                if let (
                    Command::Search {
                        charset: Some(charset),
                        ..
                    },
                    _,
                ) = (&command, ())
                {
                    if charset != "UTF-8" && charset != "US-ASCII" {
                        self.out.push_back(tagged(
                            &tag,
                            &Reply::No("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset".into()),
                        ));
                        return;
                    }
                }
                self.waiting = Waiting::Command { tag: tag.clone() };
                self.events.push_back(Event::Command { tag, command });
            }
        }
    }

    fn auth_plain(&mut self, tag: &str, response: &str) {
        if response == "*" {
            self.out
                .push_back(tagged(tag, &Reply::Bad("AUTHENTICATE cancelled".into())));
            return;
        }
        let response = if response == "=" { "" } else { response };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some(decoded) = decoded else {
            self.out.push_back(tagged(
                tag,
                &Reply::Bad("bad base64 in AUTHENTICATE PLAIN".into()),
            ));
            return;
        };
        let parts: Vec<&str> = decoded.split('\0').collect();
        match parts.as_slice() {
            [authzid, user, password] if authzid.is_empty() || authzid == user => {
                self.waiting = Waiting::Login {
                    tag: tag.to_string(),
                };
                self.events.push_back(Event::Login {
                    user: user.to_string(),
                    password: password.to_string(),
                });
            }
            [_, _, _] => self.out.push_back(tagged(
                tag,
                &Reply::No("[AUTHORIZATIONFAILED] acting as another user is not allowed".into()),
            )),
            _ => self
                .out
                .push_back(tagged(tag, &Reply::Bad("malformed PLAIN response".into()))),
        }
    }
}

#[cfg(test)]
mod tests;
