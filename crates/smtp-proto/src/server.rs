//! The server side of one SMTP session (RFC 5321 §3, §4.1.4) as a sans-IO state machine,
//! with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN parameters, CHUNKING/BINARYMIME, STARTTLS
//! and AUTH PLAIN/LOGIN. Policy is the service's: the machine asks through events.
//!
//! Drive it like this: [`ServerSession::new`] queues the greeting; feed bytes with
//! [`ServerSession::handle_input`] (the end of the stream with
//! [`ServerSession::handle_eof`], deadlines with [`ServerSession::handle_timeout`]); after
//! every call write everything [`ServerSession::poll_transmit`] gives, then drain
//! [`ServerSession::poll_event`] and answer the events that ask for a decision (see
//! [`ServerEvent`]); arm a timer for [`ServerSession::poll_timeout`]; read from the socket
//! only while [`ServerSession::wants_input`]; close it once [`ServerSession::is_closed`].
//!
//! Commands are handled one at a time in the order they came: while a decision is pending
//! the rest of the input stays buffered, so pipelined commands (RFC 2920) get their replies
//! in order. There is no deadline while the service decides; after its answer the command
//! deadline restarts from the latest time the machine was given (the last `handle_*` call's
//! `now`), since the answering methods take none.

use crate::address::{ForwardPath, ReversePath};
use crate::command::{self, BodyType, Command, CommandError, MailParams, RcptParams, Recipient};
use crate::data::{BareNewline, DataDecoder, DataError};
use crate::reply::{EnhancedCode, Reply};
use crate::sasl::{self, Mechanism, Secret};
use crate::summary::{self, Direction, Trace};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// While this much input is buffered (a decision pending), [`ServerSession::wants_input`]
/// says no.
pub const INPUT_SOFT_LIMIT: usize = 64 * 1024;
/// A client that got this much input buffered anyway (its driver ignored `wants_input`) is
/// disconnected with 421.
pub const INPUT_HARD_LIMIT: usize = 1024 * 1024;
/// While this much output waits to be written, [`ServerSession::wants_input`] says no.
pub const OUTPUT_SOFT_LIMIT: usize = 256 * 1024;

/// Which ESMTP extensions the server offers in its EHLO reply. STARTTLS and AUTH are decided
/// by [`ServerConfig::tls_available`] and [`ServerConfig::auth`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions {
    /// SIZE (RFC 1870), with [`ServerConfig::max_message_size`].
    pub size: bool,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034); when off, replies go without enhanced codes.
    pub enhanced_status_codes: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// DSN (RFC 3461): the RET, ENVID, NOTIFY and ORCPT parameters.
    pub dsn: bool,
    /// CHUNKING (RFC 3030): BDAT.
    pub chunking: bool,
    /// BINARYMIME (RFC 3030), offered only with CHUNKING.
    pub binary_mime: bool,
}

impl Default for Extensions {
    fn default() -> Extensions {
        Extensions {
            size: true,
            eight_bit_mime: true,
            pipelining: true,
            enhanced_status_codes: true,
            smtputf8: true,
            dsn: true,
            chunking: true,
            binary_mime: true,
        }
    }
}

/// When AUTH is offered.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum AuthPolicy {
    /// Never (a public MX).
    #[default]
    Disabled,
    /// Only once TLS is active (submission): before, AUTH gets 538 5.7.11.
    AfterTls,
    /// Always (a test setup, or a connection that is already private).
    Always,
}

/// How VRFY is answered.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum VrfyPolicy {
    /// `252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery`
    /// (RFC 5321 §3.5.3), without asking the service.
    #[default]
    Cannot,
    /// `502 5.5.1 VRFY command is disabled` (Postfix `disable_vrfy_command = yes`).
    Disabled,
    /// Ask the service with [`ServerEvent::Vrfy`].
    Ask,
}

/// Deadlines (RFC 5321 §4.5.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// Waiting for the next command (§4.5.3.2.7: at least 5 minutes). Any bytes received
    /// restart it, as Postfix's per-read `smtpd_timeout` does.
    pub command: Duration,
    /// Between two pieces of message data (the client's data block timeout of §4.5.3.2.5 is
    /// 3 minutes; the server waits as long).
    pub data: Duration,
}

impl Default for ServerTimeouts {
    fn default() -> ServerTimeouts {
        ServerTimeouts {
            command: Duration::from_secs(300),
            data: Duration::from_secs(180),
        }
    }
}

/// Configuration of a [`ServerSession`]; a server shares one between its sessions with an
/// `Arc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our host name, first in the greeting and the EHLO reply.
    pub hostname: String,
    /// The greeting's text after the host name (`ESMTP`).
    pub greeting: String,
    /// The extensions offered.
    pub extensions: Extensions,
    /// Whether the driver can do TLS: STARTTLS is offered while TLS is not yet active.
    pub tls_available: bool,
    /// When AUTH is offered.
    pub auth: AuthPolicy,
    /// How VRFY is answered.
    pub vrfy: VrfyPolicy,
    /// Recipients accepted per transaction; more get `452 4.5.3` (RFC 5321 §4.5.3.1.8 asks
    /// for at least 100).
    pub max_recipients: usize,
    /// The largest message, in octets, advertised with SIZE and enforced after the data.
    pub max_message_size: u64,
    /// Error replies before the session ends with `421 4.7.0 too many errors` (Postfix
    /// `smtpd_hard_error_limit`, 20); a delivered message sets the count back to zero.
    pub max_errors: u32,
    /// Deadlines.
    pub timeouts: ServerTimeouts,
    /// What a bare CR or LF in commands or data does.
    pub bare_newline: BareNewline,
    /// Whether to record [`Trace`]s for [`ServerSession::poll_trace`].
    pub trace: bool,
}

impl ServerConfig {
    /// The defaults for a server called `hostname`: every extension but STARTTLS and AUTH,
    /// 100 recipients, 10,240,000 octets (Postfix's `message_size_limit`), 20 errors, the
    /// RFC 5321 timeouts, bare newlines rejected.
    pub fn new(hostname: impl Into<String>) -> ServerConfig {
        ServerConfig {
            hostname: hostname.into(),
            greeting: "ESMTP".to_string(),
            extensions: Extensions::default(),
            tls_available: false,
            auth: AuthPolicy::default(),
            vrfy: VrfyPolicy::default(),
            max_recipients: 100,
            max_message_size: 10_240_000,
            max_errors: 20,
            timeouts: ServerTimeouts::default(),
            bare_newline: BareNewline::default(),
            trace: false,
        }
    }
}

/// What the service needs to store and deliver a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The client's HELO/EHLO argument, for the Received header.
    pub helo: String,
    /// Whether it said EHLO (the Received header's `with ESMTP`).
    pub esmtp: bool,
    /// The reverse path.
    pub from: ReversePath,
    /// The MAIL parameters (BODY, SMTPUTF8, RET, ENVID, SIZE, AUTH).
    pub params: MailParams,
    /// The accepted recipients with their NOTIFY and ORCPT.
    pub recipients: Vec<Recipient>,
    /// Whether TLS was active.
    pub tls: bool,
    /// The authenticated user, if any.
    pub authenticated: Option<String>,
    /// Whether the data came in BDAT chunks rather than after DATA.
    pub chunked: bool,
}

/// Why the machine ended the session (other than QUIT, which is [`ServerEvent::Quit`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection.
    Eof,
    /// A deadline passed; `421 4.4.2` was sent.
    Timeout,
    /// Too many errors; `421 4.7.0` was sent.
    TooManyErrors,
    /// [`ServerSession::begin_shutdown`]; `421 4.3.2` was sent.
    Shutdown,
    /// A bare LF or CR; `550 5.5.2` was sent.
    BareNewline,
    /// A BDAT line that did not parse, whose chunk cannot be skipped.
    Protocol,
    /// The client sent too much while a decision was pending; `421 4.7.0` was sent.
    InputOverflow,
    /// The service answered with a 421 reply.
    Service,
}

/// What the session tells the service. Events marked *decision* pause the session until the
/// service calls the method named; the others are for information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// HELO or EHLO (any earlier transaction was reset, RFC 5321 §4.1.4).
    Helo {
        /// The argument as sent.
        domain: String,
        /// Whether it was EHLO.
        esmtp: bool,
    },
    /// *Decision:* MAIL FROM, after the machine's checks (sequence, syntax, offered
    /// extensions, SIZE). Answer with [`ServerSession::accept_mail`] or
    /// [`ServerSession::reject`].
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters.
        params: MailParams,
    },
    /// *Decision:* RCPT TO. Answer with [`ServerSession::accept_rcpt`] or
    /// [`ServerSession::reject`].
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters.
        params: RcptParams,
    },
    /// *Decision:* a complete message within the size limit. Store it durably, then answer
    /// with [`ServerSession::message_accepted`] (`250` with the queue id) or
    /// [`ServerSession::reject`] (451, 452, 552, 554): the machine never says 250 itself.
    Message {
        /// Its envelope.
        envelope: Envelope,
        /// The message (dot-stuffing removed, CRLF line ends).
        data: Vec<u8>,
    },
    /// *Decision:* VRFY with [`VrfyPolicy::Ask`]. Answer with [`ServerSession::vrfy_result`].
    Vrfy {
        /// The argument as sent.
        argument: String,
    },
    /// `220 2.0.0 Ready to start TLS` is in the output: write it, do the TLS handshake on the
    /// socket, then call [`ServerSession::tls_established`] (or close if it fails). Bytes the
    /// client sent after STARTTLS in plaintext are dropped (the CVE-2011-0411 injection).
    StartTls,
    /// *Decision:* credentials to check. Answer with [`ServerSession::auth_result`].
    Auth {
        /// The mechanism used.
        mechanism: Mechanism,
        /// The identity to act as, if the client asked for one other than its own (PLAIN).
        authzid: Option<String>,
        /// The user name.
        identity: String,
        /// The password.
        password: Secret,
    },
    /// QUIT: `221` is in the output and the session is closing.
    Quit,
    /// The session ended for `reason`; `after` is the last command's verb (`CONNECT` if none),
    /// for a log line like Postfix's `lost connection after RCPT`.
    Closed {
        /// Why.
        reason: CloseReason,
        /// The last command's verb.
        after: &'static str,
    },
}

#[derive(Debug)]
struct Chunks {
    data: Vec<u8>,
    size: u64,
    failed: Option<Reply>,
}

#[derive(Debug)]
struct Transaction {
    from: ReversePath,
    params: MailParams,
    recipients: Vec<Recipient>,
    chunks: Option<Chunks>,
}

#[derive(Debug)]
enum Decision {
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt(Recipient),
    Message,
    Vrfy,
    Auth {
        identity: String,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum DecisionKind {
    Mail,
    Rcpt,
    Message,
    Vrfy,
    /// Whatever is pending but AUTH ([`ServerSession::reject`]).
    Any,
}

#[derive(Debug)]
enum ChunkSink {
    Store,
    Discard(Reply),
}

#[derive(Debug)]
enum SaslStep {
    Plain,
    LoginUser,
    LoginPassword { user: String },
}

#[derive(Debug)]
enum Mode {
    Command,
    Waiting(Decision),
    Data {
        decoder: DataDecoder,
        data: Vec<u8>,
    },
    Chunk {
        size: u64,
        remaining: u64,
        last: bool,
        sink: ChunkSink,
    },
    Sasl(SaslStep),
    TlsHandshake,
    Closed,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    BareLf,
}

/// The server side of one SMTP session. See the module documentation for the run loop.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    now: Instant,
    last_activity: Instant,
    input: Vec<u8>,
    discarding_line: bool,
    out: Vec<u8>,
    events: VecDeque<ServerEvent>,
    traces: VecDeque<Trace>,
    mode: Mode,
    refused: bool,
    helo: Option<(String, bool)>,
    tls_active: bool,
    authenticated: Option<String>,
    transaction: Option<Transaction>,
    errors: u32,
    eof: bool,
    shutting_down: bool,
    closing: bool,
    last_verb: &'static str,
    discarded: u64,
    messages: u64,
}

impl ServerSession {
    /// A session on a connection opened at `now`, with the `220` greeting queued.
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> ServerSession {
        let mut session = ServerSession::blank(config.into(), now);
        let greeting = Reply::new(
            220,
            None,
            format!("{} {}", session.config.hostname, session.config.greeting)
                .trim_end()
                .to_string(),
        );
        session.send(greeting);
        session
    }

    /// A session that refuses service with `reply` as its greeting (RFC 5321 §3.1: usually
    /// `554 <host> no SMTP service here`); it then answers `503` to everything but QUIT.
    pub fn refuse(
        config: impl Into<Arc<ServerConfig>>,
        now: Instant,
        reply: Reply,
    ) -> ServerSession {
        let mut session = ServerSession::blank(config.into(), now);
        session.refused = true;
        session.send(reply);
        session
    }

    fn blank(config: Arc<ServerConfig>, now: Instant) -> ServerSession {
        ServerSession {
            config,
            now,
            last_activity: now,
            input: Vec::new(),
            discarding_line: false,
            out: Vec::new(),
            events: VecDeque::new(),
            traces: VecDeque::new(),
            mode: Mode::Command,
            refused: false,
            helo: None,
            tls_active: false,
            authenticated: None,
            transaction: None,
            errors: 0,
            eof: false,
            shutting_down: false,
            closing: false,
            last_verb: "CONNECT",
            discarded: 0,
            messages: 0,
        }
    }

    // ---- input ----------------------------------------------------------------------------

    /// Bytes received from the client.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.now = now;
        if self.closing || self.eof {
            return;
        }
        if matches!(self.mode, Mode::TlsHandshake) {
            // RFC 3207 §4.2 and CVE-2011-0411: plaintext that followed STARTTLS must not be
            // taken as commands of the TLS session.
            self.discarded += bytes.len() as u64;
            return;
        }
        if bytes.is_empty() {
            return;
        }
        self.last_activity = now;
        self.input.extend_from_slice(bytes);
        self.advance();
    }

    /// The client closed its sending side. Commands already buffered are still handled.
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.eof = true;
        self.advance();
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) passed: `421 4.4.2` and close.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        let reply = Reply::new(
            421,
            Some(EnhancedCode::BAD_CONNECTION),
            format!("{} Error: timeout exceeded", self.config.hostname),
        );
        self.send(reply);
        self.close(CloseReason::Timeout);
    }

    /// The TLS handshake after [`ServerEvent::StartTls`] succeeded at `now`. RFC 3207 §4.2:
    /// everything learnt before is forgotten (HELO, transaction, authentication); the client
    /// must say EHLO again.
    pub fn tls_established(&mut self, now: Instant) {
        self.now = now;
        if !matches!(self.mode, Mode::TlsHandshake) {
            return;
        }
        self.tls_active = true;
        self.helo = None;
        self.transaction = None;
        self.authenticated = None;
        self.input.clear();
        self.discarding_line = false;
        self.mode = Mode::Command;
        self.last_activity = now;
        self.advance();
    }

    /// Graceful shutdown: the next command (or the current one, if none is in progress) gets
    /// `421 4.3.2` and the session closes. A message being received is finished first.
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.advance();
    }

    // ---- decisions ------------------------------------------------------------------------

    /// Answers [`ServerEvent::Mail`]. The reply's code decides: a 2yz accepts (use
    /// [`Reply::sender_ok`]), anything else rejects, and a 421 closes the session.
    pub fn accept_mail(&mut self, reply: Reply) {
        self.decide(DecisionKind::Mail, reply);
    }

    /// Answers [`ServerEvent::Rcpt`]; the reply's code decides as for
    /// [`accept_mail`](Self::accept_mail) (use [`Reply::recipient_ok`]).
    pub fn accept_rcpt(&mut self, reply: Reply) {
        self.decide(DecisionKind::Rcpt, reply);
    }

    /// Answers [`ServerEvent::Message`] once it is stored (use [`Reply::queued`]).
    pub fn message_accepted(&mut self, reply: Reply) {
        self.decide(DecisionKind::Message, reply);
    }

    /// Answers [`ServerEvent::Vrfy`] (250, 251, 252, 550, 551, 553 ... RFC 5321 §3.5.3).
    pub fn vrfy_result(&mut self, reply: Reply) {
        self.decide(DecisionKind::Vrfy, reply);
    }

    /// Rejects whatever MAIL, RCPT, message or VRFY is pending, with a 4yz or 5yz `reply`
    /// (its code decides, as for [`accept_mail`](Self::accept_mail)).
    pub fn reject(&mut self, reply: Reply) {
        self.decide(DecisionKind::Any, reply);
    }

    /// Answers [`ServerEvent::Auth`]: `235 2.7.0` or `535 5.7.8` (RFC 4954 §6).
    pub fn auth_result(&mut self, ok: bool) {
        let Mode::Waiting(Decision::Auth { .. }) = &self.mode else {
            return;
        };
        let Mode::Waiting(Decision::Auth { identity }) =
            std::mem::replace(&mut self.mode, Mode::Command)
        else {
            return;
        };
        self.last_activity = self.now;
        if ok {
            self.authenticated = Some(identity);
            self.send(Reply::new(
                235,
                Some(EnhancedCode::new(2, 7, 0)),
                "Authentication successful",
            ));
        } else {
            self.fail(Reply::new(
                535,
                Some(EnhancedCode::AUTH_INVALID),
                "Error: authentication failed",
            ));
        }
        self.advance();
    }

    fn decide(&mut self, kind: DecisionKind, reply: Reply) {
        let pending = match &self.mode {
            Mode::Waiting(Decision::Mail { .. }) => DecisionKind::Mail,
            Mode::Waiting(Decision::Rcpt(_)) => DecisionKind::Rcpt,
            Mode::Waiting(Decision::Message) => DecisionKind::Message,
            Mode::Waiting(Decision::Vrfy) => DecisionKind::Vrfy,
            _ => return,
        };
        if kind != pending && kind != DecisionKind::Any {
            return;
        }
        let Mode::Waiting(decision) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return;
        };
        self.last_activity = self.now;
        let accepted = reply.is_positive();
        match decision {
            Decision::Mail { from, params } if accepted => {
                self.transaction = Some(Transaction {
                    from,
                    params,
                    recipients: Vec::new(),
                    chunks: None,
                });
            }
            Decision::Rcpt(recipient) if accepted => {
                if let Some(transaction) = &mut self.transaction {
                    transaction.recipients.push(recipient);
                }
            }
            Decision::Message if accepted => {
                self.errors = 0;
                self.messages += 1;
            }
            _ => {}
        }
        if accepted {
            self.send(reply);
        } else {
            self.fail(reply);
        }
        self.advance();
    }

    // ---- output ---------------------------------------------------------------------------

    /// Bytes to write to the client, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The next event for the service.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// The next traced command or reply, if [`ServerConfig::trace`] is on.
    pub fn poll_trace(&mut self) -> Option<Trace> {
        self.traces.pop_front()
    }

    /// The next deadline, if any: none while the service decides or TLS is being set up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing {
            return None;
        }
        let timeouts = &self.config.timeouts;
        match self.mode {
            Mode::Command | Mode::Sasl(_) => Some(self.last_activity + timeouts.command),
            Mode::Data { .. } | Mode::Chunk { .. } => Some(self.last_activity + timeouts.data),
            Mode::Waiting(_) | Mode::TlsHandshake | Mode::Closed => None,
        }
    }

    /// Whether the driver should read more now: not while much input is buffered (a decision
    /// is pending) or output is unwritten, not during the TLS handshake, not once closing.
    pub fn wants_input(&self) -> bool {
        !self.closing
            && !self.eof
            && !matches!(self.mode, Mode::TlsHandshake)
            && self.input.len() < INPUT_SOFT_LIMIT
            && self.out.len() < OUTPUT_SOFT_LIMIT
    }

    /// Whether the session is over and all output has been taken: close the socket.
    pub fn is_closed(&self) -> bool {
        self.closing && self.out.is_empty()
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// The error replies counted so far (against [`ServerConfig::max_errors`]; a delivered
    /// message sets it back to zero): what a driver's tarpit (Postfix's
    /// `smtpd_soft_error_limit` and `smtpd_error_sleep_time`) goes by.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The authenticated user, if any.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// The HELO/EHLO argument and whether it was EHLO, if the client has said it.
    pub fn helo(&self) -> Option<(&str, bool)> {
        self.helo
            .as_ref()
            .map(|(name, esmtp)| (name.as_str(), *esmtp))
    }

    /// Messages accepted in this session.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Plaintext bytes dropped after STARTTLS (a client or attacker pipelining commands into
    /// the TLS session).
    pub fn discarded_input(&self) -> u64 {
        self.discarded
    }

    fn send(&mut self, mut reply: Reply) {
        if !self.config.extensions.enhanced_status_codes {
            reply.enhanced = None;
        }
        reply.encode(&mut self.out);
        if self.config.trace {
            self.traces.push_back(Trace {
                direction: Direction::Send,
                summary: summary::reply(&reply),
            });
        }
    }

    /// Sends an error reply to a client's command and counts it.
    fn fail(&mut self, reply: Reply) {
        let closing = reply.is_closing();
        self.send(reply);
        if closing {
            self.close(CloseReason::Service);
            return;
        }
        self.errors += 1;
        if self.errors >= self.config.max_errors.max(1) {
            let reply = Reply::new(
                421,
                Some(EnhancedCode::new(4, 7, 0)),
                format!("{} Error: too many errors", self.config.hostname),
            );
            self.send(reply);
            self.close(CloseReason::TooManyErrors);
        }
    }

    fn trace_recv(&mut self, summary: impl FnOnce() -> String) {
        if self.config.trace {
            self.traces.push_back(Trace {
                direction: Direction::Recv,
                summary: summary(),
            });
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.closing {
            return;
        }
        self.close_quietly();
        self.events.push_back(ServerEvent::Closed {
            reason,
            after: self.last_verb,
        });
    }

    fn close_quietly(&mut self) {
        self.closing = true;
        self.mode = Mode::Closed;
        self.input = Vec::new();
        self.transaction = None;
    }

    // ---- the loop -------------------------------------------------------------------------

    fn advance(&mut self) {
        while !self.closing {
            match &mut self.mode {
                Mode::Waiting(_) | Mode::TlsHandshake | Mode::Closed => break,
                Mode::Data { decoder, data } => {
                    if self.input.is_empty() {
                        break;
                    }
                    match decoder.decode(&self.input, data) {
                        Err(error) => {
                            self.input.clear();
                            self.bare_newline(error);
                        }
                        Ok(used) => {
                            self.input.drain(..used.min(self.input.len()));
                            if decoder.is_done() {
                                self.end_of_data();
                            } else {
                                break;
                            }
                        }
                    }
                }
                Mode::Chunk {
                    remaining, sink, ..
                } => {
                    if *remaining > 0 {
                        let take = (*remaining).min(self.input.len() as u64) as usize;
                        if take == 0 {
                            break;
                        }
                        let bytes = self.input.get(..take).unwrap_or(&[]);
                        if let ChunkSink::Store = sink {
                            let chunks = self
                                .transaction
                                .as_mut()
                                .and_then(|transaction| transaction.chunks.as_mut());
                            if let Some(chunks) = chunks {
                                chunks.size = chunks.size.saturating_add(take as u64);
                                if chunks.size <= self.config.max_message_size {
                                    chunks.data.extend_from_slice(bytes);
                                } else {
                                    // Over the limit: keep counting, stop storing.
                                    chunks.data = Vec::new();
                                }
                            }
                        }
                        self.input.drain(..take);
                        *remaining -= take as u64;
                    }
                    if *remaining == 0 {
                        self.end_of_chunk();
                    } else {
                        break;
                    }
                }
                Mode::Sasl(_) => match self.next_line(command::MAX_AUTH_LINE) {
                    None => break,
                    Some(line) => self.sasl_line(line),
                },
                Mode::Command => {
                    if self.shutting_down {
                        let reply = Reply::new(
                            421,
                            Some(EnhancedCode::NOT_ACCEPTING),
                            format!("{} Service shutting down", self.config.hostname),
                        );
                        self.send(reply);
                        self.close(CloseReason::Shutdown);
                        break;
                    }
                    match self.next_line(command::MAX_AUTH_LINE) {
                        None => break,
                        Some(line) => self.command_line(line),
                    }
                }
            }
        }
        if self.closing {
            return;
        }
        if self.eof && !matches!(self.mode, Mode::Waiting(_)) {
            self.close(CloseReason::Eof);
        } else if self.input.len() > INPUT_HARD_LIMIT {
            let reply = Reply::new(
                421,
                Some(EnhancedCode::new(4, 7, 0)),
                format!("{} Error: too much pipelined input", self.config.hostname),
            );
            self.send(reply);
            self.close(CloseReason::InputOverflow);
        }
    }

    /// The next line of input, if complete. Over-long lines are dropped as they come, and
    /// reported once their end arrives (the next command starts after it).
    fn next_line(&mut self, limit: usize) -> Option<Line> {
        let newline = self.input.iter().position(|&b| b == b'\n');
        if self.discarding_line {
            let Some(newline) = newline else {
                self.input.clear();
                return None;
            };
            self.input.drain(..=newline);
            self.discarding_line = false;
            return Some(Line::TooLong);
        }
        let Some(newline) = newline else {
            if self.input.len() >= limit {
                self.discarding_line = true;
                self.input.clear();
            }
            return None;
        };
        let mut line: Vec<u8> = self.input.drain(..=newline).collect();
        if newline + 1 > limit {
            return Some(Line::TooLong);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        } else if self.config.bare_newline == BareNewline::Reject {
            return Some(Line::BareLf);
        }
        Some(Line::Text(line))
    }

    /// Postfix `smtpd_forbid_bare_newline = strict`: `550 5.5.2 <host> Error: bare <LF>
    /// received`, and disconnect.
    fn bare_newline(&mut self, error: DataError) {
        self.transaction = None;
        self.mode = Mode::Command;
        let reply = Reply::new(
            550,
            Some(EnhancedCode::SYNTAX),
            format!("{} Error: {error}", self.config.hostname),
        );
        self.send(reply);
        self.close(CloseReason::BareNewline);
    }

    fn command_line(&mut self, line: Line) {
        let line = match line {
            Line::Text(line) => line,
            Line::TooLong => {
                self.trace_recv(|| "<line too long>".to_string());
                self.fail(CommandError::LineTooLong.reply());
                return;
            }
            Line::BareLf => {
                self.trace_recv(|| "<line with bare LF>".to_string());
                self.bare_newline(DataError::BareLf);
                return;
            }
        };
        self.trace_recv(|| summary::command_line(&line));
        let command = match command::decode(&line) {
            Ok(command) => command,
            Err(error @ CommandError::BadBdat) => {
                self.last_verb = "BDAT";
                self.fail(error.reply());
                // RFC 3030 gives no way to find where the chunk ends.
                self.close(CloseReason::Protocol);
                return;
            }
            Err(error) => {
                self.fail(error.reply());
                return;
            }
        };
        self.last_verb = command.verb();
        if self.refused {
            match command {
                Command::Quit => self.quit(),
                Command::Bdat { size, last } => self.discard_chunk(size, last, no_service()),
                _ => self.fail(no_service()),
            }
            return;
        }
        match command {
            Command::Ehlo(domain) => self.helo_command(domain, true),
            Command::Helo(domain) => self.helo_command(domain, false),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(Recipient { path: to, params }),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                // RFC 5321 §4.1.1.5: RSET clears the transaction, not the HELO.
                self.transaction = None;
                self.send(Reply::ok("Ok"));
            }
            Command::Noop => self.send(Reply::ok("Ok")),
            Command::Help(_) => self.send(Reply::new(
                214,
                Some(EnhancedCode::OK),
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH",
            )),
            Command::Vrfy(argument) => self.vrfy(argument),
            Command::Expn(_) => self.fail(Reply::new(
                502,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: EXPN command is disabled",
            )),
            Command::Quit => self.quit(),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(&mechanism, initial_response),
        }
    }

    fn sequence_error(&mut self, text: &str) {
        self.fail(Reply::new(
            503,
            Some(EnhancedCode::INVALID_COMMAND),
            format!("Error: {text}"),
        ));
    }

    fn unsupported(&mut self, keyword: &str) {
        self.fail(Reply::new(
            555,
            Some(EnhancedCode::INVALID_ARGUMENTS),
            format!("Unsupported option: {keyword}"),
        ));
    }

    fn esmtp(&self) -> bool {
        self.helo.as_ref().is_some_and(|(_, esmtp)| *esmtp)
    }

    /// Whether an extension was offered in this session (only EHLO sessions have any).
    fn offers(&self, extension: impl Fn(&Extensions) -> bool) -> bool {
        self.esmtp() && extension(&self.config.extensions)
    }

    fn auth_offered(&self) -> bool {
        self.esmtp()
            && match self.config.auth {
                AuthPolicy::Disabled => false,
                AuthPolicy::AfterTls => self.tls_active,
                AuthPolicy::Always => true,
            }
    }

    fn starttls_offered(&self) -> bool {
        self.config.tls_available && !self.tls_active
    }

    fn quit(&mut self) {
        self.send(Reply::new(221, Some(EnhancedCode::OK), "Bye"));
        self.events.push_back(ServerEvent::Quit);
        self.close_quietly();
    }

    /// RFC 5321 §4.1.1.1, §4.1.4: HELO/EHLO, which also resets any transaction.
    fn helo_command(&mut self, domain: String, esmtp: bool) {
        self.transaction = None;
        self.helo = Some((domain.clone(), esmtp));
        let reply = if esmtp {
            Reply::with_lines(250, None, self.ehlo_lines())
        } else {
            Reply::new(250, None, self.config.hostname.clone())
        };
        self.send(reply);
        self.events.push_back(ServerEvent::Helo { domain, esmtp });
    }

    fn ehlo_lines(&self) -> Vec<String> {
        let extensions = &self.config.extensions;
        let mut lines = vec![self.config.hostname.clone()];
        let mut offer = |on: bool, keyword: String| {
            if on {
                lines.push(keyword);
            }
        };
        offer(extensions.pipelining, "PIPELINING".into());
        // RFC 1870 §4: SIZE with the limit in octets (0 would mean none).
        offer(
            extensions.size,
            format!("SIZE {}", self.config.max_message_size),
        );
        offer(self.config.vrfy == VrfyPolicy::Ask, "VRFY".into());
        offer(self.starttls_offered(), "STARTTLS".into());
        offer(self.auth_offered(), "AUTH PLAIN LOGIN".into());
        offer(
            extensions.enhanced_status_codes,
            "ENHANCEDSTATUSCODES".into(),
        );
        offer(extensions.eight_bit_mime, "8BITMIME".into());
        offer(extensions.dsn, "DSN".into());
        offer(extensions.smtputf8, "SMTPUTF8".into());
        offer(extensions.chunking, "CHUNKING".into());
        offer(
            extensions.chunking && extensions.binary_mime,
            "BINARYMIME".into(),
        );
        lines
    }

    /// RFC 5321 §4.1.1.2, §4.1.4, §3.3.
    fn mail(&mut self, from: ReversePath, params: MailParams) {
        if self.helo.is_none() {
            return self.sequence_error("send HELO/EHLO first");
        }
        if self.transaction.is_some() {
            return self.sequence_error("nested MAIL command");
        }
        // An ESMTP parameter of an extension not offered gets 555 (RFC 5321 §4.1.1.11).
        let unoffered = if params.size.is_some() && !self.offers(|e| e.size) {
            Some("SIZE")
        } else if matches!(
            params.body,
            Some(BodyType::SevenBit | BodyType::EightBitMime)
        ) && !self.offers(|e| e.eight_bit_mime)
        {
            Some("BODY")
        } else if params.body == Some(BodyType::BinaryMime)
            && !self.offers(|e| e.chunking && e.binary_mime)
        {
            Some("BODY=BINARYMIME")
        } else if params.smtputf8 && !self.offers(|e| e.smtputf8) {
            Some("SMTPUTF8")
        } else if params.ret.is_some() && !self.offers(|e| e.dsn) {
            Some("RET")
        } else if params.envid.is_some() && !self.offers(|e| e.dsn) {
            Some("ENVID")
        } else if params.auth.is_some() && !self.auth_offered() {
            Some("AUTH")
        } else {
            None
        };
        if let Some(keyword) = unoffered {
            return self.unsupported(keyword);
        }
        // RFC 1870 §6: a declared size over the limit is refused at once.
        if params
            .size
            .is_some_and(|size| size > self.config.max_message_size)
        {
            return self.fail(Reply::new(
                552,
                Some(EnhancedCode::TOO_BIG),
                "Message size exceeds fixed limit",
            ));
        }
        // RFC 6531 §3.5: a non-ASCII address needs SMTPUTF8.
        if !from.is_ascii() && !params.smtputf8 {
            return self.fail(Reply::new(
                553,
                Some(EnhancedCode::UTF8_REQUIRED),
                "Error: non-ASCII sender address needs SMTPUTF8",
            ));
        }
        self.mode = Mode::Waiting(Decision::Mail {
            from: from.clone(),
            params: params.clone(),
        });
        self.events.push_back(ServerEvent::Mail { from, params });
    }

    /// RFC 5321 §4.1.1.3, §3.3.
    fn rcpt(&mut self, recipient: Recipient) {
        let Some(transaction) = &self.transaction else {
            return self.sequence_error("need MAIL command");
        };
        if transaction.chunks.is_some() {
            return self.sequence_error("RCPT after BDAT");
        }
        let smtputf8 = transaction.params.smtputf8;
        let count = transaction.recipients.len();
        if recipient.params.notify.is_some() && !self.offers(|e| e.dsn) {
            return self.unsupported("NOTIFY");
        }
        if recipient.params.orcpt.is_some() && !self.offers(|e| e.dsn) {
            return self.unsupported("ORCPT");
        }
        if !recipient.path.is_ascii() && !smtputf8 {
            return self.fail(Reply::new(
                553,
                Some(EnhancedCode::UTF8_REQUIRED),
                "Error: non-ASCII recipient address needs SMTPUTF8",
            ));
        }
        // RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client sends the rest in
        // another transaction, so this is not counted as an error.
        if count >= self.config.max_recipients {
            return self.send(Reply::new(
                452,
                Some(EnhancedCode::TOO_MANY_RECIPIENTS),
                "Error: too many recipients",
            ));
        }
        self.mode = Mode::Waiting(Decision::Rcpt(recipient.clone()));
        self.events.push_back(ServerEvent::Rcpt {
            to: recipient.path,
            params: recipient.params,
        });
    }

    /// RFC 5321 §4.1.1.4, §3.3: "no valid recipients" is 554; RFC 3030 §3: BINARYMIME and
    /// mixing with BDAT are sequence errors.
    fn data(&mut self) {
        let Some(transaction) = &self.transaction else {
            return self.sequence_error("need MAIL command");
        };
        if transaction.chunks.is_some() {
            return self.sequence_error("DATA after BDAT");
        }
        if transaction.recipients.is_empty() {
            return self.fail(Reply::new(
                554,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: no valid recipients",
            ));
        }
        if transaction.params.body == Some(BodyType::BinaryMime) {
            return self.sequence_error("BINARYMIME needs BDAT");
        }
        self.send(Reply::new(354, None, "End data with <CR><LF>.<CR><LF>"));
        self.mode = Mode::Data {
            decoder: DataDecoder::new(self.config.max_message_size, self.config.bare_newline),
            data: Vec::new(),
        };
    }

    fn end_of_data(&mut self) {
        let Mode::Data { decoder, data } = std::mem::replace(&mut self.mode, Mode::Command) else {
            return;
        };
        self.trace_recv(|| summary::data(decoder.size()));
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        if decoder.is_over_limit() {
            return self.fail(Reply::new(
                552,
                Some(EnhancedCode::TOO_BIG),
                "Message size exceeds fixed limit",
            ));
        }
        self.ask_message(transaction, data, false);
    }

    fn ask_message(&mut self, transaction: Transaction, data: Vec<u8>, chunked: bool) {
        let (helo, esmtp) = self.helo.clone().unwrap_or_default();
        let envelope = Envelope {
            helo,
            esmtp,
            from: transaction.from,
            params: transaction.params,
            recipients: transaction.recipients,
            tls: self.tls_active,
            authenticated: self.authenticated.clone(),
            chunked,
        };
        self.mode = Mode::Waiting(Decision::Message);
        self.events
            .push_back(ServerEvent::Message { envelope, data });
    }

    /// RFC 3030 §2: the chunk is read whatever the answer will be, since the next command
    /// starts after it.
    fn bdat(&mut self, size: u64, last: bool) {
        let refusal = if !self.offers(|e| e.chunking) {
            Some(Reply::new(
                502,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: command not implemented",
            ))
        } else {
            match &self.transaction {
                None => Some(Reply::new(
                    503,
                    Some(EnhancedCode::INVALID_COMMAND),
                    "Error: need MAIL command",
                )),
                Some(transaction) if transaction.recipients.is_empty() => Some(Reply::new(
                    554,
                    Some(EnhancedCode::INVALID_COMMAND),
                    "Error: no valid recipients",
                )),
                // RFC 3030 §2 (as RFC 1830 §3): after a failed chunk, later ones are read and
                // discarded until RSET.
                Some(transaction) => transaction
                    .chunks
                    .as_ref()
                    .and_then(|chunks| chunks.failed.clone()),
            }
        };
        match refusal {
            Some(reply) => self.discard_chunk(size, last, reply),
            None => {
                if let Some(transaction) = &mut self.transaction {
                    transaction.chunks.get_or_insert(Chunks {
                        data: Vec::new(),
                        size: 0,
                        failed: None,
                    });
                }
                self.mode = Mode::Chunk {
                    size,
                    remaining: size,
                    last,
                    sink: ChunkSink::Store,
                };
            }
        }
    }

    fn discard_chunk(&mut self, size: u64, last: bool, reply: Reply) {
        self.mode = Mode::Chunk {
            size,
            remaining: size,
            last,
            sink: ChunkSink::Discard(reply),
        };
    }

    fn end_of_chunk(&mut self) {
        let Mode::Chunk {
            size, last, sink, ..
        } = std::mem::replace(&mut self.mode, Mode::Command)
        else {
            return;
        };
        match sink {
            ChunkSink::Discard(reply) => {
                // LAST ends the transaction, whatever became of it.
                if last {
                    self.transaction = None;
                }
                self.fail(reply);
            }
            ChunkSink::Store => {
                let Some(transaction) = &mut self.transaction else {
                    return;
                };
                let Some(chunks) = &mut transaction.chunks else {
                    return;
                };
                if chunks.size > self.config.max_message_size {
                    let reply = Reply::new(
                        552,
                        Some(EnhancedCode::TOO_BIG),
                        "Message size exceeds fixed limit",
                    );
                    if last {
                        self.transaction = None;
                    } else {
                        chunks.failed = Some(reply.clone());
                    }
                    return self.fail(reply);
                }
                if !last {
                    return self.send(Reply::ok(format!("Ok: {size} octets received")));
                }
                let Some(mut transaction) = self.transaction.take() else {
                    return;
                };
                let data = transaction
                    .chunks
                    .take()
                    .map(|chunks| chunks.data)
                    .unwrap_or_default();
                self.trace_recv(|| summary::data(data.len() as u64));
                self.ask_message(transaction, data, true);
            }
        }
    }

    /// RFC 5321 §3.5.3, §4.1.1.6.
    fn vrfy(&mut self, argument: String) {
        match self.config.vrfy {
            VrfyPolicy::Cannot => self.send(Reply::new(
                252,
                Some(EnhancedCode::OK),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            VrfyPolicy::Disabled => self.fail(Reply::new(
                502,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: VRFY command is disabled",
            )),
            VrfyPolicy::Ask => {
                self.mode = Mode::Waiting(Decision::Vrfy);
                self.events.push_back(ServerEvent::Vrfy { argument });
            }
        }
    }

    /// RFC 3207 §4: `220 2.0.0 Ready to start TLS`, then nothing in plaintext.
    fn starttls(&mut self) {
        if self.tls_active {
            return self.fail(Reply::new(
                554,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: TLS already active",
            ));
        }
        if !self.config.tls_available {
            return self.fail(Reply::new(
                502,
                Some(EnhancedCode::INVALID_COMMAND),
                "Error: command not implemented",
            ));
        }
        if self.transaction.is_some() {
            return self.sequence_error("MAIL transaction in progress");
        }
        self.send(Reply::new(
            220,
            Some(EnhancedCode::OK),
            "Ready to start TLS",
        ));
        // Whatever the client pipelined after STARTTLS was sent in plaintext: drop it.
        self.discarded += self.input.len() as u64;
        self.input.clear();
        self.discarding_line = false;
        self.mode = Mode::TlsHandshake;
        self.events.push_back(ServerEvent::StartTls);
    }

    /// RFC 4954 §4.
    fn auth(&mut self, mechanism: &str, initial_response: Option<String>) {
        if self.config.auth == AuthPolicy::Disabled {
            return self.sequence_error("authentication not enabled");
        }
        if !self.esmtp() {
            return self.sequence_error("send EHLO first");
        }
        if !self.auth_offered() {
            return self.fail(Reply::new(
                538,
                Some(EnhancedCode::ENCRYPTION_REQUIRED),
                "Error: authentication requires encryption",
            ));
        }
        if self.authenticated.is_some() {
            return self.sequence_error("already authenticated");
        }
        if self.transaction.is_some() {
            return self.sequence_error("MAIL transaction in progress");
        }
        match (Mechanism::from_name(mechanism), initial_response) {
            (Some(Mechanism::Plain), Some(response)) => {
                self.sasl_response(SaslStep::Plain, response.as_bytes())
            }
            (Some(Mechanism::Plain), None) => {
                self.send(Reply::new(334, None, ""));
                self.mode = Mode::Sasl(SaslStep::Plain);
            }
            (Some(Mechanism::Login), Some(response)) => {
                self.sasl_response(SaslStep::LoginUser, response.as_bytes())
            }
            (Some(Mechanism::Login), None) => {
                self.send(Reply::new(334, None, sasl::LOGIN_USERNAME_PROMPT));
                self.mode = Mode::Sasl(SaslStep::LoginUser);
            }
            (None, _) => self.fail(Reply::new(
                504,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                "Error: unsupported authentication mechanism",
            )),
        }
    }

    fn sasl_line(&mut self, line: Line) {
        let Mode::Sasl(step) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return;
        };
        self.trace_recv(summary::auth_response);
        match line {
            Line::TooLong => self.fail(Reply::new(
                500,
                Some(EnhancedCode::AUTH_LINE_TOO_LONG),
                "Error: authentication exchange line is too long",
            )),
            Line::BareLf => self.bare_newline(DataError::BareLf),
            Line::Text(text) => self.sasl_response(step, &text),
        }
    }

    fn sasl_response(&mut self, step: SaslStep, response: &[u8]) {
        let text = std::str::from_utf8(response).unwrap_or("\u{fffd}");
        // RFC 4954 §4: "*" cancels the exchange.
        if text.trim() == "*" {
            return self.fail(Reply::new(
                501,
                Some(EnhancedCode::SECURITY),
                "Error: authentication aborted",
            ));
        }
        let malformed = |session: &mut ServerSession| {
            session.fail(Reply::new(
                501,
                Some(EnhancedCode::SYNTAX),
                "Error: malformed authentication response",
            ));
        };
        let Ok(decoded) = sasl::decode_base64(text) else {
            return malformed(self);
        };
        match step {
            SaslStep::Plain => {
                let Ok(credentials) = sasl::decode_plain(&decoded) else {
                    return malformed(self);
                };
                self.ask_auth(
                    Mechanism::Plain,
                    credentials.authzid,
                    credentials.authcid,
                    credentials.password,
                );
            }
            SaslStep::LoginUser => {
                let Ok(user) = String::from_utf8(decoded) else {
                    return malformed(self);
                };
                if user.is_empty() {
                    return malformed(self);
                }
                self.send(Reply::new(334, None, sasl::LOGIN_PASSWORD_PROMPT));
                self.mode = Mode::Sasl(SaslStep::LoginPassword { user });
            }
            SaslStep::LoginPassword { user } => {
                let Ok(password) = String::from_utf8(decoded) else {
                    return malformed(self);
                };
                self.ask_auth(Mechanism::Login, None, user, Secret::new(password));
            }
        }
    }

    fn ask_auth(
        &mut self,
        mechanism: Mechanism,
        authzid: Option<String>,
        identity: String,
        password: Secret,
    ) {
        self.mode = Mode::Waiting(Decision::Auth {
            identity: authzid.clone().unwrap_or_else(|| identity.clone()),
        });
        self.events.push_back(ServerEvent::Auth {
            mechanism,
            authzid,
            identity,
            password,
        });
    }
}

fn no_service() -> Reply {
    // RFC 5321 §3.1: after a 554 greeting, everything but QUIT gets 503.
    Reply::new(
        503,
        Some(EnhancedCode::INVALID_COMMAND),
        "Error: no SMTP service here",
    )
}

#[cfg(test)]
mod tests;
