//! Sans-IO POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595) and AUTH PLAIN (RFC 5034):
//! the server's session machine. Seed §2.3.4: authorization, transaction and update phases;
//! deletions happen in the update phase only, after QUIT.
//!
//! # Contract
//!
//! Nothing here reads a clock, touches a socket or a file, or panics on network input: time
//! comes in as `Instant` arguments, bytes as slices. Command lines are bounded (255 octets as
//! RFC 2449 §4 allows, 8,192 for an AUTH response); a longer one is answered `-ERR` and
//! skipped. Input after a command that needs an answer from the service is held (see
//! [`ServerSession::wants_input`]), so a pipelining client cannot make it buffer without bound.
//!
//! The service decides through events ([`Event`]) and answers by method calls: whether the
//! password is good and what the maildrop holds ([`ServerSession::login_ok`]), the bytes of a
//! message ([`ServerSession::message`]), and whether the update phase removed the deleted
//! messages ([`ServerSession::commit_done`]). TLS is the driver's: [`Event::StartTls`] says
//! when, [`ServerSession::tls_established`] that it is up; plaintext pipelined after STLS is
//! dropped (the STARTTLS injection defence of RFC 2595 §4 / CVE-2011-0411 class).
//!
//! # Run loop
//!
//! After every `handle_*` call or answer: write out what `poll_transmit` gives, handle what
//! `poll_event` gives, arm a timer for `poll_timeout`, read only while `wants_input`, close
//! when `is_closed`.

use base64::Engine as _;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The longest command line (RFC 2449 §4: 255 octets including CRLF).
pub const MAX_COMMAND: usize = 255;
/// The longest AUTH continuation line (a base64 PLAIN response).
pub const MAX_AUTH_LINE: usize = 8192;
/// Input held while the service answers (pipelined commands).
pub const MAX_PENDING_INPUT: usize = 64 * 1024;

/// Configuration of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Our host name, in the greeting.
    pub hostname: String,
    /// The APOP timestamp of the greeting (`<pid.clock@host>`, RFC 1939 §7), made by the
    /// driver (unique per session); `None`: no APOP.
    pub apop_banner: Option<String>,
    /// Whether the driver can start TLS (STLS offered while TLS is not active).
    pub tls_available: bool,
    /// Whether TLS is already active (port 995).
    pub tls_active: bool,
    /// Whether USER/PASS and AUTH may be used without TLS (the world on loopback).
    pub plaintext_login: bool,
    /// The autologout timer (RFC 1939 §3: at least 10 minutes).
    pub idle_timeout: Duration,
}

impl Config {
    /// Defaults for `hostname`: no APOP, no TLS, plaintext logins refused, 10 minutes.
    pub fn new(hostname: impl Into<String>) -> Config {
        Config {
            hostname: hostname.into(),
            apop_banner: None,
            tls_available: false,
            tls_active: false,
            plaintext_login: false,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// One message of the maildrop as the service lists it at login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The unique id (UIDL; 1 to 70 printable characters, RFC 1939 §7).
    pub uid: String,
    /// The size in octets, as it will be sent (CRLF line ends).
    pub size: u64,
}

/// Why a login failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginFailure {
    /// Wrong name or password (`-ERR [AUTH]`).
    Credentials,
    /// Another session holds the maildrop (`-ERR [IN-USE]`, RFC 2449 §8.1.2).
    InUse,
    /// The maildrop cannot be read now (`-ERR [SYS/TEMP]`).
    Temporary(String),
}

/// What the session needs the service to decide or do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Check `user`'s `password` (USER/PASS or AUTH PLAIN) and lock the maildrop: answer with
    /// [`ServerSession::login_ok`] or [`ServerSession::login_failed`].
    Login {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Check an APOP digest: MD5 of the banner and the user's password, in lower-case hex.
    Apop {
        /// The user name.
        user: String,
        /// The digest sent.
        digest: String,
        /// The banner it was computed over.
        banner: String,
    },
    /// Send message `index` (0-based in the listing): answer with
    /// [`ServerSession::message`] or [`ServerSession::message_missing`]. `top`: only the
    /// header and that many body lines (TOP).
    Retrieve {
        /// Which message.
        index: usize,
        /// TOP's line count.
        top: Option<usize>,
    },
    /// The update phase: remove these messages (0-based), then
    /// [`ServerSession::commit_done`]. Also sent with an empty list, so the service unlocks.
    Commit {
        /// The messages marked deleted.
        deleted: Vec<usize>,
    },
    /// Start TLS now (after `+OK` to STLS was written).
    StartTls,
    /// The session ended without an update phase (EOF, timeout, QUIT before login): unlock.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Authorization {
        user: Option<String>,
    },
    /// Waiting for the second line of `AUTH PLAIN` without an initial response.
    AuthContinue,
    Transaction,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Waiting {
    None,
    Login,
    Message { top: Option<usize> },
    Commit,
    Tls,
}

/// A POP3 server session.
#[derive(Debug)]
pub struct ServerSession {
    config: Config,
    phase: Phase,
    waiting: Waiting,
    input: Vec<u8>,
    discarding: bool,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    messages: Vec<Listed>,
    deleted: Vec<bool>,
    tls_active: bool,
    deadline: Instant,
    user: Option<String>,
}

fn ok(text: &str) -> Vec<u8> {
    format!("+OK {text}\r\n").into_bytes()
}

fn err(text: &str) -> Vec<u8> {
    format!("-ERR {text}\r\n").into_bytes()
}

impl ServerSession {
    /// A new session; the greeting is ready in `poll_transmit`.
    pub fn new(config: Config, now: Instant) -> ServerSession {
        let greeting = match &config.apop_banner {
            Some(banner) => format!("POP3 server ready {banner}"),
            None => "POP3 server ready".to_string(),
        };
        let mut session = ServerSession {
            tls_active: config.tls_active,
            deadline: now + config.idle_timeout,
            config,
            phase: Phase::Authorization { user: None },
            waiting: Waiting::None,
            input: Vec::new(),
            discarding: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            messages: Vec::new(),
            deleted: Vec::new(),
            user: None,
        };
        session.out.push_back(ok(&greeting));
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

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.phase != Phase::Closed && self.waiting == Waiting::None).then_some(self.deadline)
    }

    /// Whether the driver should read: not while the service owes an answer (or TLS is being
    /// set up), not when closed, not past the pending-input bound.
    pub fn wants_input(&self) -> bool {
        self.phase != Phase::Closed
            && self.waiting == Waiting::None
            && self.input.len() < MAX_PENDING_INPUT
    }

    /// Whether the session is over (close after writing what is left).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed && self.waiting == Waiting::None
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Bytes from the client.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        self.deadline = now + self.config.idle_timeout;
        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self) {
        if self.phase != Phase::Closed {
            self.close_unlocking();
        }
    }

    /// The autologout timer (RFC 1939 §3): close without the update phase.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Closed && self.waiting == Waiting::None && now >= self.deadline {
            self.out.push_back(err("autologout: idle for too long"));
            self.close_unlocking();
        }
    }

    /// TLS is up (after [`Event::StartTls`]): back to the authorization phase, fresh.
    pub fn tls_established(&mut self, now: Instant) {
        if self.waiting != Waiting::Tls {
            return;
        }
        self.waiting = Waiting::None;
        self.tls_active = true;
        self.deadline = now + self.config.idle_timeout;
        self.phase = Phase::Authorization { user: None };
        self.process();
    }

    /// The login succeeded and the maildrop is locked: these are its messages.
    pub fn login_ok(&mut self, user: &str, messages: Vec<Listed>) {
        if self.waiting != Waiting::Login {
            return;
        }
        self.waiting = Waiting::None;
        let octets: u64 = messages.iter().map(|message| message.size).sum();
        self.out.push_back(ok(&format!(
            "{user} has {} message{} ({octets} octets)",
            messages.len(),
            if messages.len() == 1 { "" } else { "s" }
        )));
        self.deleted = vec![false; messages.len()];
        self.messages = messages;
        self.user = Some(user.to_string());
        self.phase = Phase::Transaction;
        self.process();
    }

    /// The login failed.
    pub fn login_failed(&mut self, failure: LoginFailure) {
        if self.waiting != Waiting::Login {
            return;
        }
        self.waiting = Waiting::None;
        self.out.push_back(match failure {
            LoginFailure::Credentials => err("[AUTH] Authentication failed"),
            LoginFailure::InUse => err("[IN-USE] Mailbox is locked by another POP3 session"),
            LoginFailure::Temporary(why) => err(&format!("[SYS/TEMP] {why}")),
        });
        self.phase = Phase::Authorization { user: None };
        self.process();
    }

    /// The message asked for in [`Event::Retrieve`], as stored (CRLF or LF line ends; sent
    /// with CRLF, dot-stuffed, and cut after the header and `top` lines for TOP).
    pub fn message(&mut self, bytes: &[u8]) {
        let Waiting::Message { top } = self.waiting else {
            return;
        };
        self.waiting = Waiting::None;
        let mut body = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 16);
        let mut in_header = true;
        let mut body_lines = 0usize;
        for line in split_lines(bytes) {
            if let (false, Some(limit)) = (in_header, top) {
                if body_lines >= limit {
                    break;
                }
                body_lines += 1;
            }
            if in_header && line.is_empty() {
                in_header = false;
            }
            if line.first() == Some(&b'.') {
                body.push(b'.');
            }
            body.extend_from_slice(line);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b".\r\n");
        // The size as sent with CRLF line ends, before dot-stuffing (what LIST says).
        let size: usize = split_lines(bytes).map(|line| line.len() + 2).sum();
        self.out.push_back(ok(&format!("{size} octets")));
        self.out.push_back(body);
        self.process();
    }

    /// The message of [`Event::Retrieve`] is gone (removed by another agent).
    pub fn message_missing(&mut self) {
        if !matches!(self.waiting, Waiting::Message { .. }) {
            return;
        }
        self.waiting = Waiting::None;
        self.out
            .push_back(err("no such message: it has been removed"));
        self.process();
    }

    /// The update phase is over: `Ok` if every deleted message was removed.
    pub fn commit_done(&mut self, result: Result<(), String>) {
        if self.waiting != Waiting::Commit {
            return;
        }
        self.waiting = Waiting::None;
        self.out.push_back(match result {
            Ok(()) => ok(&format!("{} POP3 server signing off", self.config.hostname)),
            Err(why) => err(&format!("some deleted messages not removed: {why}")),
        });
        self.phase = Phase::Closed;
    }

    fn close_unlocking(&mut self) {
        self.phase = Phase::Closed;
        self.waiting = Waiting::None;
        self.input.clear();
        self.events.push_back(Event::Closed);
    }

    fn process(&mut self) {
        while self.phase != Phase::Closed && self.waiting == Waiting::None {
            let limit = if self.phase == Phase::AuthContinue {
                MAX_AUTH_LINE
            } else {
                MAX_COMMAND
            };
            let Some(newline) = self.input.iter().position(|&byte| byte == b'\n') else {
                if self.input.len() > limit {
                    // Keep discarding until the line ends, then say so once.
                    self.input.clear();
                    self.discarding = true;
                }
                return;
            };
            let mut line: Vec<u8> = self.input.drain(..=newline).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if self.discarding || line.len() + 2 > limit {
                self.discarding = false;
                self.out.push_back(err("line too long"));
                if self.phase == Phase::AuthContinue {
                    self.phase = Phase::Authorization { user: None };
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            self.command(&text);
        }
    }

    fn may_login(&self) -> bool {
        self.tls_active || self.config.plaintext_login
    }

    fn capabilities(&self) -> Vec<u8> {
        let mut text = String::from("+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if self.config.tls_available && !self.tls_active {
            text.push_str("STLS\r\n");
        }
        if self.may_login() {
            text.push_str("USER\r\nSASL PLAIN\r\n");
        }
        text.push_str("EXPIRE NEVER\r\nIMPLEMENTATION applayer\r\n.\r\n");
        text.into_bytes()
    }

    fn command(&mut self, line: &str) {
        if self.phase == Phase::AuthContinue {
            self.phase = Phase::Authorization { user: None };
            self.auth_plain(line.trim());
            return;
        }
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args: Vec<&str> = rest.split(' ').filter(|arg| !arg.is_empty()).collect();
        match (&self.phase, keyword.as_str()) {
            (_, "CAPA") => {
                let capabilities = self.capabilities();
                self.out.push_back(capabilities);
            }
            (Phase::Authorization { .. }, "QUIT") => {
                self.out.push_back(ok(&format!(
                    "{} POP3 server signing off",
                    self.config.hostname
                )));
                self.close_unlocking();
            }
            (Phase::Transaction, "QUIT") => {
                let deleted: Vec<usize> = (0..self.messages.len())
                    .filter(|&index| self.deleted[index])
                    .collect();
                self.waiting = Waiting::Commit;
                self.events.push_back(Event::Commit { deleted });
            }
            (Phase::Authorization { .. }, "STLS") => {
                if !self.config.tls_available || self.tls_active {
                    self.out.push_back(err("STLS not available"));
                } else if !args.is_empty() {
                    self.out.push_back(err("STLS takes no argument"));
                } else {
                    self.out.push_back(ok("Begin TLS negotiation now"));
                    // Plaintext pipelined after STLS must not reach the TLS session.
                    self.input.clear();
                    self.waiting = Waiting::Tls;
                    self.events.push_back(Event::StartTls);
                }
            }
            (Phase::Authorization { .. }, "USER" | "PASS" | "APOP" | "AUTH")
                if !(self.may_login()
                    || (keyword == "APOP" && self.config.apop_banner.is_some())) =>
            {
                self.out.push_back(err(
                    "[PRIVACY] plaintext authentication is not allowed without TLS (STLS first)",
                ));
            }
            (Phase::Authorization { .. }, "USER") => match args.as_slice() {
                [user] => {
                    self.phase = Phase::Authorization {
                        user: Some(user.to_string()),
                    };
                    self.out.push_back(ok("send PASS"));
                }
                _ => self.out.push_back(err("usage: USER name")),
            },
            (Phase::Authorization { user }, "PASS") => match user.clone() {
                Some(user) if !rest.is_empty() => {
                    self.waiting = Waiting::Login;
                    // The password is the rest of the line: it may hold spaces (RFC 1939 §7).
                    self.events.push_back(Event::Login {
                        user,
                        password: rest.to_string(),
                    });
                }
                Some(_) => self.out.push_back(err("usage: PASS password")),
                None => self.out.push_back(err("USER first")),
            },
            (Phase::Authorization { .. }, "APOP") => {
                match (args.as_slice(), &self.config.apop_banner) {
                    ([user, digest], Some(banner)) => {
                        self.waiting = Waiting::Login;
                        self.events.push_back(Event::Apop {
                            user: user.to_string(),
                            digest: digest.to_ascii_lowercase(),
                            banner: banner.clone(),
                        });
                    }
                    (_, None) => self.out.push_back(err("APOP not available")),
                    _ => self.out.push_back(err("usage: APOP name digest")),
                }
            }
            (Phase::Authorization { .. }, "AUTH") => match args.as_slice() {
                [] => self
                    .out
                    .push_back(b"+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n".to_vec()),
                [mechanism, ..] if !mechanism.eq_ignore_ascii_case("PLAIN") => {
                    self.out.push_back(err("unsupported SASL mechanism"))
                }
                [_] => {
                    self.phase = Phase::AuthContinue;
                    self.out.push_back(b"+ \r\n".to_vec());
                }
                [_, initial] => {
                    let initial = initial.to_string();
                    self.auth_plain(&initial);
                }
                _ => self
                    .out
                    .push_back(err("usage: AUTH PLAIN [initial-response]")),
            },
            (Phase::Transaction, "STAT") => {
                let (count, octets) = self.live().fold((0, 0), |(count, octets), (_, message)| {
                    (count + 1, octets + message.size)
                });
                self.out.push_back(ok(&format!("{count} {octets}")));
            }
            (Phase::Transaction, "LIST" | "UIDL") => {
                let uidl = keyword == "UIDL";
                let show = |number: usize, message: &Listed| {
                    if uidl {
                        format!("{number} {}", message.uid)
                    } else {
                        format!("{number} {}", message.size)
                    }
                };
                match args.as_slice() {
                    [] => {
                        let mut text = String::from("+OK\r\n");
                        for (index, message) in self.live() {
                            text.push_str(&show(index + 1, message));
                            text.push_str("\r\n");
                        }
                        text.push_str(".\r\n");
                        self.out.push_back(text.into_bytes());
                    }
                    [number] => match self.message_number(number) {
                        Ok(index) => {
                            let line = show(index + 1, &self.messages[index]);
                            self.out.push_back(ok(&line));
                        }
                        Err(reply) => self.out.push_back(reply),
                    },
                    _ => self.out.push_back(err("too many arguments")),
                }
            }
            (Phase::Transaction, "RETR") => match args.as_slice() {
                [number] => match self.message_number(number) {
                    Ok(index) => {
                        self.waiting = Waiting::Message { top: None };
                        self.events.push_back(Event::Retrieve { index, top: None });
                    }
                    Err(reply) => self.out.push_back(reply),
                },
                _ => self.out.push_back(err("usage: RETR msg")),
            },
            (Phase::Transaction, "TOP") => match args.as_slice() {
                [number, lines] => match (self.message_number(number), lines.parse::<usize>()) {
                    (Ok(index), Ok(lines)) => {
                        self.waiting = Waiting::Message { top: Some(lines) };
                        self.events.push_back(Event::Retrieve {
                            index,
                            top: Some(lines),
                        });
                    }
                    (Err(reply), _) => self.out.push_back(reply),
                    (_, Err(_)) => self.out.push_back(err("bad line count")),
                },
                _ => self.out.push_back(err("usage: TOP msg n")),
            },
            (Phase::Transaction, "DELE") => match args.as_slice() {
                [number] => match self.message_number(number) {
                    Ok(index) => {
                        self.deleted[index] = true;
                        self.out
                            .push_back(ok(&format!("message {} deleted", index + 1)));
                    }
                    Err(reply) => self.out.push_back(reply),
                },
                _ => self.out.push_back(err("usage: DELE msg")),
            },
            (Phase::Transaction, "RSET") => {
                self.deleted.iter_mut().for_each(|deleted| *deleted = false);
                let count = self.messages.len();
                self.out
                    .push_back(ok(&format!("maildrop has {count} messages")));
            }
            (Phase::Transaction, "NOOP") => self.out.push_back(ok("")),
            (Phase::Transaction, "USER" | "PASS" | "APOP" | "AUTH" | "STLS") => {
                self.out.push_back(err("already authenticated"))
            }
            (
                Phase::Authorization { .. },
                "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP",
            ) => self.out.push_back(err("not authenticated yet")),
            _ => self.out.push_back(err("unknown command")),
        }
    }

    fn auth_plain(&mut self, response: &str) {
        if response == "*" {
            self.out.push_back(err("AUTH cancelled"));
            return;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some(decoded) = decoded else {
            self.out.push_back(err("[AUTH] bad base64 in AUTH PLAIN"));
            return;
        };
        let parts: Vec<&str> = decoded.split('\0').collect();
        match parts.as_slice() {
            [authzid, user, password] if authzid.is_empty() || authzid == user => {
                self.waiting = Waiting::Login;
                self.events.push_back(Event::Login {
                    user: user.to_string(),
                    password: password.to_string(),
                });
            }
            [_, _, _] => self
                .out
                .push_back(err("[AUTH] acting as another user is not allowed")),
            _ => self.out.push_back(err("[AUTH] malformed PLAIN response")),
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Listed)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(index, _)| !self.deleted[*index])
    }

    fn message_number(&self, text: &str) -> Result<usize, Vec<u8>> {
        let number: usize = text.parse().map_err(|_| err("a message number, please"))?;
        if number == 0 || number > self.messages.len() {
            return Err(err("no such message"));
        }
        if self.deleted[number - 1] {
            return Err(err(&format!("message {number} already deleted")));
        }
        Ok(number - 1)
    }
}

/// The lines of a stored message, without their line ends (LF or CRLF); a last line without
/// one is kept.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    trimmed
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(move |_| !bytes.is_empty())
}

#[cfg(test)]
mod tests;
