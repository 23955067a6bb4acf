//! The client side of one SMTP session as a sans-IO state machine: relays one queued message
//! to a next hop (greeting, EHLO or HELO, STARTTLS, AUTH, MAIL, RCPT, DATA or BDAT, QUIT) and
//! reports a result per recipient.
//!
//! Drive it like a [`ServerSession`](crate::ServerSession): feed the server's bytes with
//! [`ClientSession::handle_input`], the end of the stream with
//! [`ClientSession::handle_eof`], deadlines with [`ClientSession::handle_timeout`]; after
//! every call write everything [`ClientSession::poll_transmit`] gives, handle
//! [`ClientSession::poll_event`], arm a timer for [`ClientSession::poll_timeout`], and close
//! the socket once [`ClientSession::is_closed`]. [`ClientEvent::Done`] comes once every
//! recipient has its result, which a lost connection or a timeout cannot change any more.

use crate::address::ReversePath;
use crate::command::{BodyType, Command, MailParams, RcptParams, Recipient};
use crate::data;
use crate::reply::{EnhancedCode, Reply, ReplyParser};
use crate::sasl::{self, Secret};
use crate::summary::{self, Direction, Trace};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether to use STARTTLS.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Never.
    Disabled,
    /// When the server offers it (Postfix `smtp_tls_security_level = may`); if the server
    /// then refuses STARTTLS, the session goes on in plaintext.
    #[default]
    Opportunistic,
    /// Always: a server that does not offer it, or refuses it, gets the message deferred
    /// (Postfix `encrypt`).
    Required,
}

/// Credentials for AUTH (submission to a smarthost).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
    /// Whether PLAIN and LOGIN may be used without TLS (they send the password in the clear).
    pub allow_plaintext: bool,
}

/// Deadlines, RFC 5321 §4.5.3.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// The 220 greeting (§4.5.3.2.1: 5 minutes).
    pub greeting: Duration,
    /// Replies to EHLO, HELO, STARTTLS, AUTH, RSET and QUIT (5 minutes, as MAIL).
    pub command: Duration,
    /// The reply to MAIL (§4.5.3.2.2: 5 minutes).
    pub mail: Duration,
    /// The reply to RCPT (§4.5.3.2.3: 5 minutes).
    pub rcpt: Duration,
    /// The 354 reply to DATA (§4.5.3.2.4: 2 minutes).
    pub data_init: Duration,
    /// Each write of message data (§4.5.3.2.5: 3 minutes). The machine cannot see writes
    /// complete, so the driver applies this to each of its writes; the machine adds it once
    /// to the final-dot deadline unless the driver reports with
    /// [`ClientSession::handle_sent`].
    pub data_block: Duration,
    /// The reply after the final dot or the last BDAT chunk (§4.5.3.2.6: 10 minutes).
    pub final_dot: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> ClientTimeouts {
        ClientTimeouts {
            greeting: Duration::from_secs(300),
            command: Duration::from_secs(300),
            mail: Duration::from_secs(300),
            rcpt: Duration::from_secs(300),
            data_init: Duration::from_secs(120),
            data_block: Duration::from_secs(180),
            final_dot: Duration::from_secs(600),
        }
    }
}

/// Configuration of a [`ClientSession`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our name, for EHLO.
    pub helo_name: String,
    /// Whether to use STARTTLS.
    pub tls: TlsPolicy,
    /// Credentials for AUTH, if the next hop wants them.
    pub credentials: Option<Credentials>,
    /// Deadlines.
    pub timeouts: ClientTimeouts,
    /// Whether to record [`Trace`]s for [`ClientSession::poll_trace`].
    pub trace: bool,
}

impl ClientConfig {
    /// Defaults for a client called `helo_name`: opportunistic TLS, no AUTH, RFC timeouts.
    pub fn new(helo_name: impl Into<String>) -> ClientConfig {
        ClientConfig {
            helo_name: helo_name.into(),
            tls: TlsPolicy::default(),
            credentials: None,
            timeouts: ClientTimeouts::default(),
            trace: false,
        }
    }
}

/// The message to relay: its envelope and its bytes (CRLF or LF line ends; dot-stuffing is
/// the machine's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The reverse path.
    pub from: ReversePath,
    /// What the message needs: BODY, SMTPUTF8, RET, ENVID. SIZE is computed; AUTH is not
    /// sent. Each goes only to a server that offers its extension.
    pub params: MailParams,
    /// The recipients with their DSN parameters.
    pub recipients: Vec<Recipient>,
    /// The message.
    pub data: Vec<u8>,
}

/// What the server offered in its EHLO reply (RFC 5321 §4.1.1.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870) with its limit (0: none given).
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// BINARYMIME (RFC 3030).
    pub binary_mime: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// The SASL mechanisms of AUTH (RFC 4954), upper case.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads the keywords of an EHLO reply (every line after the first).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut capabilities = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => capabilities.pipelining = true,
                "SIZE" => {
                    capabilities.size =
                        Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                "8BITMIME" => capabilities.eight_bit_mime = true,
                "ENHANCEDSTATUSCODES" => capabilities.enhanced_status_codes = true,
                "SMTPUTF8" => capabilities.smtputf8 = true,
                "DSN" => capabilities.dsn = true,
                "CHUNKING" => capabilities.chunking = true,
                "BINARYMIME" => capabilities.binary_mime = true,
                "STARTTLS" => capabilities.starttls = true,
                // Some servers still send the pre-RFC 4954 form `AUTH=PLAIN LOGIN`.
                _ if keyword == "AUTH" || keyword.starts_with("AUTH=") => {
                    let first = keyword.strip_prefix("AUTH=").filter(|m| !m.is_empty());
                    for mechanism in first
                        .into_iter()
                        .map(str::to_string)
                        .chain(words.by_ref().map(str::to_ascii_uppercase))
                    {
                        if !capabilities.auth.contains(&mechanism) {
                            capabilities.auth.push(mechanism);
                        }
                    }
                }
                _ => {}
            }
        }
        capabilities
    }
}

/// The result for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The server took responsibility for the message (its final 2yz reply).
    Accepted(Reply),
    /// Try again later: a 4yz reply, or the connection was lost or timed out before the
    /// final reply (a synthetic 4yz reply says which).
    Temporary(Reply),
    /// Give up and bounce: a 5yz reply, or a requirement the server cannot meet (a synthetic
    /// 5yz reply says which).
    Permanent(Reply),
}

impl Delivery {
    fn from_reply(reply: Reply) -> Delivery {
        if reply.is_positive() {
            Delivery::Accepted(reply)
        } else if reply.is_transient() {
            Delivery::Temporary(reply)
        } else {
            Delivery::Permanent(reply)
        }
    }

    /// The reply behind the result.
    pub fn reply(&self) -> &Reply {
        match self {
            Delivery::Accepted(reply) | Delivery::Temporary(reply) | Delivery::Permanent(reply) => {
                reply
            }
        }
    }
}

/// One recipient's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// The recipient.
    pub recipient: Recipient,
    /// The result.
    pub delivery: Delivery,
    /// The text the queue logs, as Postfix's `status=` detail: `250 2.0.0 Ok: queued as X`,
    /// `550 5.1.1 No such user (in reply to RCPT TO command)`, `conversation timed out after
    /// end of data -- message may be sent more than once`.
    pub text: String,
}

/// The result of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// One result per recipient, in the order of [`Message::recipients`].
    pub recipients: Vec<RecipientOutcome>,
    /// Whether TLS was active when the message went.
    pub tls: bool,
    /// Whether the client had authenticated.
    pub authenticated: bool,
}

/// What the session tells the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server said `220` to STARTTLS: do the TLS handshake, then call
    /// [`ClientSession::tls_established`] (or close the connection if it fails: the
    /// message is deferred by the queue, as Postfix does for a failed handshake).
    StartTls,
    /// Every recipient has its result.
    Done(Outcome),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPassword,
    AuthFinal,
    Mail,
    Rcpt(usize),
    Data,
    EndOfData,
    Bdat,
    Quit,
}

impl Expect {
    /// The command a reply answers, in Postfix's words.
    fn stage(self) -> &'static str {
        match self {
            Expect::Greeting => "initial greeting",
            Expect::Ehlo => "EHLO command",
            Expect::Helo => "HELO command",
            Expect::StartTls => "STARTTLS command",
            Expect::AuthPlain
            | Expect::AuthLoginUser
            | Expect::AuthLoginPassword
            | Expect::AuthFinal => "AUTH command",
            Expect::Mail => "MAIL FROM command",
            Expect::Rcpt(_) => "RCPT TO command",
            Expect::Data => "DATA command",
            Expect::EndOfData | Expect::Bdat => "end of DATA command",
            Expect::Quit => "QUIT command",
        }
    }

    /// When the connection broke while waiting for this reply.
    fn context(self) -> &'static str {
        match self {
            Expect::Greeting => "while receiving the initial server greeting",
            Expect::Ehlo | Expect::Helo => "while performing the EHLO handshake",
            Expect::StartTls => "after STARTTLS",
            Expect::AuthPlain
            | Expect::AuthLoginUser
            | Expect::AuthLoginPassword
            | Expect::AuthFinal => "during SASL authentication",
            Expect::Mail => "after MAIL FROM",
            Expect::Rcpt(_) => "after RCPT TO",
            Expect::Data => "after DATA",
            Expect::EndOfData | Expect::Bdat => {
                "after end of data -- message may be sent more than once"
            }
            Expect::Quit => "after QUIT",
        }
    }
}

#[derive(Clone, Debug)]
enum RcptState {
    Pending,
    Accepted,
    Done(Delivery, String),
}

/// The client side of one SMTP session, for one message. See the module documentation.
#[derive(Debug)]
pub struct ClientSession {
    config: Arc<ClientConfig>,
    message: Message,
    now: Instant,
    input: Vec<u8>,
    parser: ReplyParser,
    out: Vec<u8>,
    events: VecDeque<ClientEvent>,
    traces: VecDeque<Trace>,
    expected: VecDeque<Expect>,
    deadline: Option<Instant>,
    capabilities: Capabilities,
    tls_active: bool,
    awaiting_tls: bool,
    authenticated: bool,
    recipients: Vec<RcptState>,
    pipelined: bool,
    use_bdat: bool,
    quit_sent: bool,
    done: bool,
    closing: bool,
}

impl ClientSession {
    /// A session on a connection opened at `now`, waiting for the greeting.
    pub fn new(
        config: impl Into<Arc<ClientConfig>>,
        message: Message,
        now: Instant,
    ) -> ClientSession {
        let recipients = vec![RcptState::Pending; message.recipients.len()];
        let mut session = ClientSession {
            config: config.into(),
            message,
            now,
            input: Vec::new(),
            parser: ReplyParser::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            traces: VecDeque::new(),
            expected: VecDeque::from([Expect::Greeting]),
            deadline: None,
            capabilities: Capabilities::default(),
            tls_active: false,
            awaiting_tls: false,
            authenticated: false,
            recipients,
            pipelined: false,
            use_bdat: false,
            quit_sent: false,
            done: false,
            closing: false,
        };
        session.rearm();
        session.check_done();
        if session.done {
            session.closing = true;
        }
        session
    }

    // ---- input ----------------------------------------------------------------------------

    /// Bytes received from the server.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.now = now;
        if self.closing || self.awaiting_tls {
            // Nothing the server sends in plaintext after its 220 to STARTTLS counts.
            return;
        }
        self.input.extend_from_slice(bytes);
        while !self.closing && !self.awaiting_tls {
            match self.parser.decode(&self.input) {
                Ok((used, reply)) => {
                    self.input.drain(..used.min(self.input.len()));
                    match reply {
                        Some(reply) => self.handle_reply(reply),
                        None => break,
                    }
                }
                Err(error) => {
                    self.abort(format!("protocol error: {error}"));
                    break;
                }
            }
        }
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        if self.closing {
            return;
        }
        match self.expected.front() {
            None | Some(Expect::Quit) => self.closing = true,
            Some(&expect) => self.abort(format!("lost connection {}", expect.context())),
        }
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.expected.front() {
            None | Some(Expect::Quit) => self.closing = true,
            Some(&expect) => self.abort(format!("conversation timed out {}", expect.context())),
        }
    }

    /// The driver wrote everything [`poll_transmit`](Self::poll_transmit) gave, at `now`:
    /// the wait for the final reply to a message starts from here (RFC 5321 §4.5.3.2.6).
    pub fn handle_sent(&mut self, now: Instant) {
        self.now = now;
        if matches!(
            self.expected.front(),
            Some(Expect::EndOfData | Expect::Bdat)
        ) {
            self.deadline = Some(now + self.config.timeouts.final_dot);
        }
    }

    /// The TLS handshake after [`ClientEvent::StartTls`] succeeded: EHLO again (RFC 3207
    /// §4.2: what the server said before does not count).
    pub fn tls_established(&mut self, now: Instant) {
        self.now = now;
        if !self.awaiting_tls {
            return;
        }
        self.awaiting_tls = false;
        self.tls_active = true;
        self.capabilities = Capabilities::default();
        self.input.clear();
        self.parser = ReplyParser::new();
        self.send(Command::Ehlo(self.config.helo_name.clone()), Expect::Ehlo);
    }

    // ---- output ---------------------------------------------------------------------------

    /// Bytes to write to the server, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next traced command or reply, if [`ClientConfig::trace`] is on.
    pub fn poll_trace(&mut self) -> Option<Trace> {
        self.traces.pop_front()
    }

    /// The next deadline, if any (none during the TLS handshake).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing || self.awaiting_tls {
            None
        } else {
            self.deadline
        }
    }

    /// Whether the driver should read: not during the TLS handshake or once closing.
    pub fn wants_input(&self) -> bool {
        !self.closing && !self.awaiting_tls
    }

    /// Whether the session is over and all output taken: close the socket.
    pub fn is_closed(&self) -> bool {
        self.closing && self.out.is_empty()
    }

    /// What the server offered in its last EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    // ---- the conversation -----------------------------------------------------------------

    fn send(&mut self, command: Command, expect: Expect) {
        if self.config.trace {
            self.traces.push_back(Trace {
                direction: Direction::Send,
                summary: summary::command(&command),
            });
        }
        command.encode(&mut self.out);
        self.expected.push_back(expect);
        self.rearm();
    }

    fn send_raw(&mut self, bytes: &[u8], summary: String, expect: Expect) {
        if self.config.trace {
            self.traces.push_back(Trace {
                direction: Direction::Send,
                summary,
            });
        }
        self.out.extend_from_slice(bytes);
        self.expected.push_back(expect);
        self.rearm();
    }

    fn rearm(&mut self) {
        let timeouts = &self.config.timeouts;
        self.deadline = self.expected.front().map(|expect| {
            self.now
                + match expect {
                    Expect::Greeting => timeouts.greeting,
                    Expect::Mail => timeouts.mail,
                    Expect::Rcpt(_) => timeouts.rcpt,
                    Expect::Data => timeouts.data_init,
                    Expect::EndOfData | Expect::Bdat => timeouts.data_block + timeouts.final_dot,
                    _ => timeouts.command,
                }
        });
    }

    fn handle_reply(&mut self, reply: Reply) {
        if self.config.trace {
            self.traces.push_back(Trace {
                direction: Direction::Recv,
                summary: summary::reply(&reply),
            });
        }
        let Some(expect) = self.expected.pop_front() else {
            self.abort("protocol error: unexpected reply".to_string());
            return;
        };
        self.rearm();
        if expect == Expect::Quit {
            self.closing = true;
            return;
        }
        // RFC 5321 §3.8: 421 means the server is closing; no QUIT.
        if reply.is_closing() {
            let text = said(&reply, expect);
            self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
            self.closing = true;
            return;
        }
        match expect {
            Expect::Greeting => {
                if reply.code == 220 {
                    self.send(Command::Ehlo(self.config.helo_name.clone()), Expect::Ehlo);
                } else {
                    // Postfix `smtp_skip_5xx_greeting`: a refusing server is tried later (or
                    // another MX is), not taken as a verdict on the message.
                    let text = format!("refused to talk to me: {reply}");
                    self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
                    self.quit();
                }
            }
            Expect::Ehlo => {
                if reply.is_positive() {
                    self.capabilities = Capabilities::parse(&reply);
                    self.after_hello();
                } else if reply.is_permanent() {
                    // RFC 5321 §3.2: a server that does not know EHLO gets HELO.
                    self.send(Command::Helo(self.config.helo_name.clone()), Expect::Helo);
                } else {
                    self.fail_reply(reply, expect);
                    self.quit();
                }
            }
            Expect::Helo => {
                if reply.is_positive() {
                    self.capabilities = Capabilities::default();
                    self.after_hello();
                } else {
                    self.fail_reply(reply, expect);
                    self.quit();
                }
            }
            Expect::StartTls => {
                if reply.code == 220 {
                    self.awaiting_tls = true;
                    // A server's plaintext pipelined after its 220 is not TLS-protected.
                    self.input.clear();
                    self.parser = ReplyParser::new();
                    self.events.push_back(ClientEvent::StartTls);
                } else if self.config.tls == TlsPolicy::Required {
                    let text = format!("TLS is required, but host refused to start TLS: {reply}");
                    self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
                    self.quit();
                } else {
                    self.maybe_auth();
                }
            }
            Expect::AuthPlain | Expect::AuthFinal => match reply.code {
                235 => {
                    self.authenticated = true;
                    self.start_transaction();
                }
                // A challenge after our complete response: cancel (RFC 4954 §4).
                334 => self.send_raw(b"*\r\n", summary::auth_response(), Expect::AuthFinal),
                _ => self.auth_failed(&reply),
            },
            Expect::AuthLoginUser | Expect::AuthLoginPassword if reply.code == 334 => {
                let Some(credentials) = self.config.credentials.clone() else {
                    return self.quit();
                };
                let (secret, next) = if expect == Expect::AuthLoginUser {
                    (credentials.username.clone(), Expect::AuthLoginPassword)
                } else {
                    (credentials.password.expose().to_string(), Expect::AuthFinal)
                };
                let mut line = sasl::encode_base64(secret.as_bytes()).into_bytes();
                line.extend_from_slice(b"\r\n");
                self.send_raw(&line, summary::auth_response(), next);
            }
            Expect::AuthLoginUser | Expect::AuthLoginPassword => self.auth_failed(&reply),
            Expect::Mail => {
                if !reply.is_positive() {
                    self.fail_reply(reply, expect);
                    // With PIPELINING, the RCPT and DATA replies are still to come.
                    if !self.pipelined {
                        self.quit();
                    }
                } else if !self.pipelined {
                    self.send_rcpt(0);
                }
            }
            Expect::Rcpt(index) => {
                if let Some(state @ RcptState::Pending) = self.recipients.get_mut(index) {
                    *state = if reply.is_positive() {
                        RcptState::Accepted
                    } else {
                        let text = said(&reply, expect);
                        RcptState::Done(Delivery::from_reply(reply), text)
                    };
                }
                let last = index + 1 >= self.recipients.len();
                if !self.pipelined {
                    if last {
                        self.after_recipients();
                    } else {
                        self.send_rcpt(index + 1);
                    }
                } else if last && self.use_bdat {
                    self.after_recipients();
                }
            }
            Expect::Data => {
                if reply.code == 354 {
                    if self.any_accepted() {
                        let body = data::encode(&self.message.data);
                        let size = self.message.data.len() as u64;
                        self.send_raw(&body, summary::data(size), Expect::EndOfData);
                    } else {
                        // Nobody to deliver to, but the server waits for data: end it empty.
                        self.send_raw(b".\r\n", summary::data(0), Expect::EndOfData);
                    }
                } else {
                    self.settle_accepted(reply, expect);
                    self.quit();
                }
            }
            Expect::EndOfData | Expect::Bdat => {
                self.settle_accepted(reply, expect);
                self.quit();
            }
            Expect::Quit => self.closing = true,
        }
        self.check_done();
    }

    fn after_hello(&mut self) {
        if !self.tls_active && self.config.tls != TlsPolicy::Disabled && self.capabilities.starttls
        {
            self.send(Command::StartTls, Expect::StartTls);
        } else if !self.tls_active && self.config.tls == TlsPolicy::Required {
            let reply = synthetic_temporary(
                EnhancedCode::SECURITY_UNSUPPORTED,
                "TLS is required, but was not offered",
            );
            let text = reply.lines.join(" ");
            self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
            self.quit();
        } else {
            self.maybe_auth();
        }
    }

    /// Postfix's rules: no AUTH offered, go on without; AUTH offered but no usable mechanism
    /// (or only plaintext ones without TLS), defer.
    fn maybe_auth(&mut self) {
        let Some(credentials) = self.config.credentials.clone() else {
            return self.start_transaction();
        };
        if self.capabilities.auth.is_empty() {
            return self.start_transaction();
        }
        let has = |name: &str| self.capabilities.auth.iter().any(|m| m == name);
        let plaintext_ok = self.tls_active || credentials.allow_plaintext;
        if plaintext_ok && has("PLAIN") {
            let response = sasl::encode_plain(&credentials.username, credentials.password.expose());
            let command = Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(response),
            };
            self.send(command, Expect::AuthPlain);
        } else if plaintext_ok && has("LOGIN") {
            let command = Command::Auth {
                mechanism: "LOGIN".into(),
                initial_response: None,
            };
            self.send(command, Expect::AuthLoginUser);
        } else {
            let reply = synthetic_temporary(
                EnhancedCode::new(4, 7, 0),
                "SASL authentication failed; no mechanism available",
            );
            let text = reply.lines.join(" ");
            self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
            self.quit();
        }
    }

    /// Postfix `smtp_sasl_auth_soft_bounce = yes`: failed authentication defers.
    fn auth_failed(&mut self, reply: &Reply) {
        let text = format!("SASL authentication failed; server said: {reply}");
        let mut temporary = reply.clone();
        if !temporary.is_transient() {
            temporary.code = 454;
            temporary.enhanced = temporary.enhanced.map(|e| e.for_reply(454));
        }
        self.fail_open(|| Delivery::Temporary(temporary.clone()), &text);
        self.quit();
    }

    fn start_transaction(&mut self) {
        let message = &self.message;
        let capabilities = &self.capabilities;
        let needs_utf8 = message.params.smtputf8
            || !message.from.is_ascii()
            || message.recipients.iter().any(|r| !r.path.is_ascii());
        let binary = message.params.body == Some(BodyType::BinaryMime);
        let size = message.data.len() as u64;
        // Requirements the server cannot meet: bounce without sending anything.
        let refusal = if needs_utf8 && !capabilities.smtputf8 {
            Some((
                EnhancedCode::UTF8_REQUIRED,
                "SMTPUTF8 is required, but was not offered by the server".to_string(),
            ))
        } else if binary && !(capabilities.chunking && capabilities.binary_mime) {
            Some((
                EnhancedCode::CONVERSION_UNSUPPORTED,
                "BINARYMIME is required, but was not offered by the server".to_string(),
            ))
        } else {
            match capabilities.size {
                // RFC 1870 §6: do not send what the server has said it will refuse.
                Some(limit) if limit > 0 && size > limit => Some((
                    EnhancedCode::TOO_BIG,
                    format!("message size {size} exceeds size limit {limit} of server"),
                )),
                _ => None,
            }
        };
        if let Some((enhanced, text)) = refusal {
            let reply = Reply::new(554, Some(enhanced), text.clone());
            self.fail_open(|| Delivery::Permanent(reply.clone()), &text);
            return self.quit();
        }
        // RFC 6152: BODY=8BITMIME only to a server that offers it. Without a MIME converter,
        // 8-bit data then goes as it is (Postfix with `disable_mime_output_conversion`).
        let body = match message.params.body {
            Some(BodyType::BinaryMime) => Some(BodyType::BinaryMime),
            Some(body) if capabilities.eight_bit_mime => Some(body),
            _ => None,
        };
        let params = MailParams {
            size: capabilities.size.is_some().then_some(size),
            body,
            smtputf8: needs_utf8,
            ret: message.params.ret.filter(|_| capabilities.dsn),
            envid: message.params.envid.clone().filter(|_| capabilities.dsn),
            auth: None,
        };
        self.use_bdat = binary;
        // RFC 2920 §3.1: MAIL, the RCPTs and DATA can go in one write.
        self.pipelined = capabilities.pipelining;
        let from = message.from.clone();
        self.send(Command::Mail { from, params }, Expect::Mail);
        if self.pipelined {
            for index in 0..self.recipients.len() {
                self.send_rcpt(index);
            }
            if !self.use_bdat {
                self.send(Command::Data, Expect::Data);
            }
        }
    }

    fn send_rcpt(&mut self, index: usize) {
        let Some(recipient) = self.message.recipients.get(index) else {
            return;
        };
        let params = if self.capabilities.dsn {
            recipient.params.clone()
        } else {
            RcptParams::default()
        };
        let command = Command::Rcpt {
            to: recipient.path.clone(),
            params,
        };
        self.send(command, Expect::Rcpt(index));
    }

    fn after_recipients(&mut self) {
        if !self.any_accepted() {
            return self.quit();
        }
        if self.use_bdat {
            // RFC 3030 §2: one chunk, the whole message, no dot-stuffing.
            let size = self.message.data.len() as u64;
            let mut bytes = Command::Bdat { size, last: true }.to_bytes();
            bytes.extend_from_slice(&self.message.data);
            self.send_raw(&bytes, format!("BDAT {size} LAST"), Expect::Bdat);
        } else {
            self.send(Command::Data, Expect::Data);
        }
    }

    fn any_accepted(&self) -> bool {
        self.recipients
            .iter()
            .any(|state| matches!(state, RcptState::Accepted))
    }

    fn quit(&mut self) {
        if !self.quit_sent && !self.closing {
            self.quit_sent = true;
            self.send(Command::Quit, Expect::Quit);
        }
    }

    fn fail_reply(&mut self, reply: Reply, expect: Expect) {
        let text = said(&reply, expect);
        self.fail_open(|| Delivery::from_reply(reply.clone()), &text);
    }

    /// Gives every recipient without a result (accepted by RCPT or not yet asked) `delivery`.
    fn fail_open(&mut self, delivery: impl Fn() -> Delivery, text: &str) {
        for state in &mut self.recipients {
            if matches!(state, RcptState::Pending | RcptState::Accepted) {
                *state = RcptState::Done(delivery(), text.to_string());
            }
        }
        self.check_done();
    }

    /// The final reply for the recipients RCPT accepted.
    fn settle_accepted(&mut self, reply: Reply, expect: Expect) {
        let text = if reply.is_positive() {
            reply.to_string()
        } else {
            said(&reply, expect)
        };
        for state in &mut self.recipients {
            if matches!(state, RcptState::Accepted) {
                *state = RcptState::Done(Delivery::from_reply(reply.clone()), text.clone());
            }
        }
    }

    /// The connection is unusable (lost, timed out, garbled): what is open is deferred.
    fn abort(&mut self, text: String) {
        let reply = synthetic_temporary(EnhancedCode::BAD_CONNECTION, &text);
        self.fail_open(|| Delivery::Temporary(reply.clone()), &text);
        self.closing = true;
        self.expected.clear();
    }

    fn check_done(&mut self) {
        if self.done {
            return;
        }
        let all_done = self
            .recipients
            .iter()
            .all(|state| matches!(state, RcptState::Done(..)));
        if !all_done {
            return;
        }
        self.done = true;
        let recipients = self
            .recipients
            .iter()
            .zip(&self.message.recipients)
            .filter_map(|(state, recipient)| match state {
                RcptState::Done(delivery, text) => Some(RecipientOutcome {
                    recipient: recipient.clone(),
                    delivery: delivery.clone(),
                    text: text.clone(),
                }),
                _ => None,
            })
            .collect();
        self.events.push_back(ClientEvent::Done(Outcome {
            recipients,
            tls: self.tls_active,
            authenticated: self.authenticated,
        }));
    }
}

fn said(reply: &Reply, expect: Expect) -> String {
    format!("{reply} (in reply to {})", expect.stage())
}

fn synthetic_temporary(enhanced: EnhancedCode, text: &str) -> Reply {
    Reply::new(451, Some(enhanced), text)
}

#[cfg(test)]
mod tests;
