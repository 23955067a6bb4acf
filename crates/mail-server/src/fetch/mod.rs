//! The user agent's pull (seed §2.3.4): downloading a user's mail with POP3 (RFC 1939:
//! download-and-delete, or download-and-keep) or IMAP (RFC 9051: one folder or all, mail left
//! on the server), as `applayer mail fetch` and the world's scenario do. Messages go to a
//! [`Sink`] (a local Maildir, or standard output as an mbox); each one is stored, and synced,
//! before the server is told to delete it, so a crash loses nothing (at worst a message comes
//! twice). What was fetched is remembered per account in the Maildir (`applayer-fetch-state`:
//! POP3 UIDLs, IMAP UIDVALIDITY and last UID per folder), so a later fetch takes only new mail.

mod wire;

use crate::maildir::{folder_name_ok, Mailbox, StoreError, UniqueParts};
use crate::submit::Security;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use wire::Item;

/// How long one connection attempt, the TLS handshake and each reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The protocol a fetch speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// POP3 (110, STLS; 995 with implicit TLS).
    Pop3,
    /// IMAP (143, STARTTLS; 993 with implicit TLS).
    Imap,
}

impl Protocol {
    /// The port: plain/STARTTLS, or implicit TLS.
    pub fn port(self, security: Security) -> u16 {
        match (self, security) {
            (Protocol::Pop3, Security::Implicit) => 995,
            (Protocol::Pop3, _) => 110,
            (Protocol::Imap, Security::Implicit) => 993,
            (Protocol::Imap, _) => 143,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }
}

/// The account to fetch from and how.
#[derive(Clone)]
pub struct Account {
    /// The server.
    pub server: SocketAddr,
    /// Connect from this address (a world host's own), if given.
    pub source: Option<std::net::IpAddr>,
    /// The login name.
    pub user: String,
    /// The password.
    pub password: String,
    /// Plain, STARTTLS (required) or implicit TLS.
    pub security: Security,
    /// The client configuration and the name the server's certificate must carry; needed
    /// unless `security` is [`Security::Plain`].
    pub tls: Option<(Arc<tls::rustls::ClientConfig>, String)>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folders {
    /// One folder (`INBOX` for POP3, which has no other).
    One(String),
    /// Every selectable folder the server lists (IMAP).
    All,
}

/// Where fetched messages go.
pub trait Sink: Send {
    /// Stores `message` of `folder` (`None`: the INBOX) durably; returns once it is safe.
    fn store(&mut self, folder: Option<&str>, message: &[u8]) -> Result<(), FetchError>;

    /// What was fetched before from `account`, if this sink keeps it.
    fn load_state(&mut self, account: &str) -> io::Result<AccountState> {
        let _ = account;
        Ok(AccountState::default())
    }

    /// Keeps what has been fetched from `account` (durably).
    fn save_state(&mut self, account: &str, state: &AccountState) -> io::Result<()> {
        let _ = (account, state);
        Ok(())
    }
}

/// What was fetched from one account: POP3 UIDLs, and per IMAP folder its UIDVALIDITY and the
/// highest UID taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// The UIDLs of POP3 messages already taken.
    pub uidls: BTreeSet<String>,
    /// IMAP folder → (UIDVALIDITY, last UID taken).
    pub folders: BTreeMap<String, (u64, u64)>,
}

/// One line of the dialogue, for the `S:`/`C:` transcript (passwords are masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Whether the server said it (`S:`), else we did (`C:`).
    pub by_server: bool,
    /// The line without its CRLF.
    pub text: String,
    /// Whether it is a line of a message being downloaded (a RETR reply's, a literal's).
    pub in_message: bool,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages stored, per folder (`INBOX` first).
    pub folders: Vec<(String, usize)>,
    /// Messages stored.
    pub messages: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Messages the server was told to delete (POP3 without keep).
    pub deleted: usize,
    /// Messages left out because they were fetched before.
    pub skipped: usize,
}

/// The name of an account in a sink's state: `user@server`.
pub fn account_key(protocol: Protocol, account: &Account) -> String {
    format!("{} {}@{}", protocol.name(), account.user, account.server)
}

/// Downloads the mail of `account` with `protocol` into `sink`; POP3 deletes what it stored
/// unless `keep`. Every line of the dialogue goes to `observe`.
pub async fn fetch(
    protocol: Protocol,
    account: &Account,
    folders: &Folders,
    keep: bool,
    sink: &mut dyn Sink,
    observe: &mut (dyn FnMut(&Said) + Send),
) -> Result<Report, FetchError> {
    let key = account_key(protocol, account);
    let mut state = sink.load_state(&key)?;
    let mut conn = Conn::open(protocol, account, observe).await?;
    let report = match protocol {
        Protocol::Pop3 => pop3(&mut conn, account, keep, sink, &key, &mut state).await,
        Protocol::Imap => imap(&mut conn, account, folders, sink, &mut state).await,
    }?;
    sink.save_state(&key, &state)?;
    Ok(report)
}

/// Why fetching failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The connection, or the sink's storage, failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Storing into the Maildir failed.
    #[error("storing: {0}")]
    Store(StoreError),
    /// The server took too long (to accept, to read, to reply, or in the TLS handshake).
    #[error("{0}: timed out")]
    Timeout(&'static str),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The TLS server name is not a valid DNS name.
    #[error("{0}: not a valid TLS server name")]
    ServerName(String),
    /// TLS was asked for but the account has no TLS set-up.
    #[error("TLS asked for without a TLS set-up")]
    NoTlsSetup,
    /// The connection was lost in a TLS handshake.
    #[error("the connection was lost in a TLS handshake")]
    Lost,
    /// The server sent bytes after its STARTTLS answer, before the handshake.
    #[error("the server sent data before the TLS handshake (a STARTTLS injection?)")]
    DataBeforeTls,
    /// STARTTLS inside TLS.
    #[error("TLS inside TLS")]
    TlsInTls,
    /// The server does not offer STLS / STARTTLS.
    #[error("the server does not offer {0} (use --tls, or --plain on a trusted network)")]
    NoStartTls(&'static str),
    /// The server broke the protocol (or a limit): what it did.
    #[error("{0}")]
    Protocol(String),
    /// A POP3 command got `-ERR`.
    #[error("{command}: -ERR {text}")]
    Pop3Refused {
        /// The command (or `greeting`).
        command: String,
        /// The server's text.
        text: String,
    },
    /// An IMAP command got `NO` or `BAD`.
    #[error("{command}: {status} {text}")]
    ImapRefused {
        /// The command's verb.
        command: String,
        /// `NO` or `BAD`.
        status: String,
        /// The server's text.
        text: String,
    },
    /// The IMAP server said BYE.
    #[error("the server said BYE: {0}")]
    Bye(String),
    /// What IMAP needs as a quoted string is not printable ASCII.
    #[error("{0} must be printable ASCII for IMAP")]
    NotAscii(&'static str),
}

impl From<StoreError> for FetchError {
    fn from(error: StoreError) -> Self {
        FetchError::Store(error)
    }
}

fn protocol_error(text: impl Into<String>) -> FetchError {
    FetchError::Protocol(text.into())
}

/// A plain or TLS connection.
enum Transport {
    Plain(TcpStream),
    Tls(Box<tls::ClientTlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The connection with its transcript.
struct Conn<'a> {
    io: Option<BufReader<Transport>>,
    tls: Option<(tls::TlsConnector, tls::ServerName<'static>)>,
    proto: &'static str,
    local: SocketAddr,
    peer: SocketAddr,
    observe: &'a mut (dyn FnMut(&Said) + Send),
}

impl<'a> Conn<'a> {
    async fn open(
        protocol: Protocol,
        account: &Account,
        observe: &'a mut (dyn FnMut(&Said) + Send),
    ) -> Result<Conn<'a>, FetchError> {
        let peer = account.server;
        let stream = tokio::time::timeout(
            REPLY_TIMEOUT,
            netio::resolve::connect_from(account.source, peer),
        )
        .await
        .map_err(|_| FetchError::Timeout("connect"))??;
        let tls = match (account.security, &account.tls) {
            (Security::Plain, _) => None,
            (_, Some((config, name))) => {
                let name = tls::ServerName::try_from(name.clone())
                    .map_err(|_| FetchError::ServerName(name.clone()))?;
                Some((tls::TlsConnector::from(config.clone()), name))
            }
            (_, None) => return Err(FetchError::NoTlsSetup),
        };
        let local = stream.local_addr()?;
        let mut conn = Conn {
            io: Some(BufReader::new(Transport::Plain(stream))),
            tls,
            proto: protocol.name(),
            local,
            peer,
            observe,
        };
        if account.security == Security::Implicit {
            conn.start_tls().await?;
        }
        Ok(conn)
    }

    fn io(&mut self) -> Result<&mut BufReader<Transport>, FetchError> {
        self.io.as_mut().ok_or(FetchError::Lost)
    }

    async fn start_tls(&mut self) -> Result<(), FetchError> {
        let reader = self.io.take().ok_or(FetchError::Lost)?;
        if !reader.buffer().is_empty() {
            return Err(FetchError::DataBeforeTls);
        }
        let Transport::Plain(stream) = reader.into_inner() else {
            return Err(FetchError::TlsInTls);
        };
        let (connector, name) = self.tls.clone().ok_or(FetchError::NoTlsSetup)?;
        let secure = tokio::time::timeout(REPLY_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| FetchError::Timeout("TLS handshake"))??;
        self.io = Some(BufReader::new(Transport::Tls(Box::new(secure))));
        Ok(())
    }

    /// A line for the transcript.
    fn say(&mut self, by_server: bool, text: String) {
        self.said(by_server, text, false);
    }

    fn said(&mut self, by_server: bool, text: String, in_message: bool) {
        (self.observe)(&Said {
            by_server,
            text,
            in_message,
        });
    }

    /// The one `wire` event of a reply (a command's is sent by [`Conn::send`]).
    fn heard(&self, summary: &dyn std::fmt::Display) {
        netio::wire::emit(
            self.proto,
            netio::wire::Dir::Recv,
            self.local,
            self.peer,
            summary,
        );
    }

    /// Sends `line` (CRLF added); `shown` is what the transcript gets (a password masked).
    async fn send(&mut self, line: &str, shown: Option<&str>) -> Result<(), FetchError> {
        let shown = shown.unwrap_or(line);
        netio::wire::emit(
            self.proto,
            netio::wire::Dir::Send,
            self.local,
            self.peer,
            &shown,
        );
        self.say(false, shown.to_string());
        let io = self.io()?;
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        tokio::time::timeout(REPLY_TIMEOUT, async {
            io.get_mut().write_all(&bytes).await?;
            io.get_mut().flush().await
        })
        .await
        .map_err(|_| FetchError::Timeout("sending (the server stopped reading)"))??;
        Ok(())
    }

    /// One line, CRLF removed, at most [`wire::MAX_LINE`] long.
    async fn line(&mut self, shown: bool) -> Result<Vec<u8>, FetchError> {
        let io = self.io()?;
        let mut line = Vec::new();
        let read = tokio::time::timeout(
            REPLY_TIMEOUT,
            (&mut *io)
                .take(wire::MAX_LINE as u64 + 2)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| FetchError::Timeout("waiting for a reply"))??;
        if read == 0 {
            return Err(FetchError::Closed);
        }
        if !line.ends_with(b"\n") {
            return Err(protocol_error(format!(
                "a line longer than {} bytes",
                wire::MAX_LINE
            )));
        }
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
        if shown {
            let text = String::from_utf8_lossy(&line).into_owned();
            self.say(true, text);
        }
        Ok(line)
    }

    async fn exact(&mut self, count: usize) -> Result<Vec<u8>, FetchError> {
        let io = self.io()?;
        let mut bytes = vec![0; count];
        tokio::time::timeout(REPLY_TIMEOUT, io.read_exact(&mut bytes))
            .await
            .map_err(|_| FetchError::Timeout("waiting for a reply"))??;
        Ok(bytes)
    }
}

// ---- POP3 ----

/// A status reply: its text, or the server's `-ERR` as an error.
async fn pop3_reply(conn: &mut Conn<'_>, what: &str) -> Result<String, FetchError> {
    let line = conn.line(true).await?;
    let line = String::from_utf8_lossy(&line).into_owned();
    conn.heard(&line);
    match wire::pop3_status(&line).map_err(protocol_error)? {
        Ok(text) => Ok(text.to_string()),
        Err(text) => Err(FetchError::Pop3Refused {
            command: what.to_string(),
            text: text.to_string(),
        }),
    }
}

/// A multi-line body after its `+OK`, unstuffed, lines ending in CRLF; each line goes to
/// the transcript, marked as a message's when `message`.
async fn pop3_body(conn: &mut Conn<'_>, message: bool) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    loop {
        let line = conn.line(false).await?;
        let text = String::from_utf8_lossy(&line).into_owned();
        conn.said(true, text, message && line != b".");
        let Some(unstuffed) = wire::pop3_unstuff(&line) else {
            conn.heard(&format_args!("({} bytes, then \".\")", body.len()));
            return Ok(body);
        };
        if body.len() + unstuffed.len() + 2 > wire::MAX_MESSAGE {
            return Err(protocol_error(format!(
                "a reply longer than {} bytes",
                wire::MAX_MESSAGE
            )));
        }
        body.extend_from_slice(unstuffed);
        body.extend_from_slice(b"\r\n");
    }
}

async fn pop3(
    conn: &mut Conn<'_>,
    account: &Account,
    keep: bool,
    sink: &mut dyn Sink,
    key: &str,
    state: &mut AccountState,
) -> Result<Report, FetchError> {
    pop3_reply(conn, "greeting").await?;
    conn.send("CAPA", None).await?;
    let capabilities = match pop3_reply(conn, "CAPA").await {
        Ok(_) => String::from_utf8_lossy(&pop3_body(conn, false).await?).to_ascii_uppercase(),
        Err(_) => String::new(),
    };
    let has = |name: &str| {
        capabilities
            .lines()
            .any(|line| line.split(' ').next() == Some(name))
    };
    if account.security == Security::StartTls {
        if !has("STLS") {
            return Err(FetchError::NoStartTls("STLS"));
        }
        conn.send("STLS", None).await?;
        pop3_reply(conn, "STLS").await?;
        conn.start_tls().await?;
    }
    conn.send(&format!("USER {}", account.user), None).await?;
    pop3_reply(conn, "USER").await?;
    let masked = format!("PASS {}", "*".repeat(8));
    conn.send(&format!("PASS {}", account.password), Some(&masked))
        .await?;
    pop3_reply(conn, "PASS").await?;

    // The messages by number, with their UIDLs when the server keeps them.
    let uidls: BTreeMap<u64, String> = if has("UIDL") || capabilities.is_empty() {
        conn.send("UIDL", None).await?;
        match pop3_reply(conn, "UIDL").await {
            Ok(_) => pairs(&pop3_body(conn, false).await?),
            Err(_) => BTreeMap::new(),
        }
    } else {
        BTreeMap::new()
    };
    conn.send("LIST", None).await?;
    pop3_reply(conn, "LIST").await?;
    let sizes = pairs(&pop3_body(conn, false).await?);

    let mut report = Report::default();
    let mut present = BTreeSet::new();
    let mut stored = 0;
    for number in sizes.keys() {
        let uidl = uidls.get(number);
        if let Some(uidl) = uidl {
            present.insert(uidl.clone());
            if state.uidls.contains(uidl) {
                report.skipped += 1;
                if !keep {
                    conn.send(&format!("DELE {number}"), None).await?;
                    pop3_reply(conn, "DELE").await?;
                    report.deleted += 1;
                }
                continue;
            }
        }
        conn.send(&format!("RETR {number}"), None).await?;
        pop3_reply(conn, "RETR").await?;
        let message = pop3_body(conn, true).await?;
        sink.store(None, &message)?;
        stored += 1;
        report.messages += 1;
        report.bytes += message.len() as u64;
        if let Some(uidl) = uidl {
            state.uidls.insert(uidl.clone());
        }
        if !keep {
            conn.send(&format!("DELE {number}"), None).await?;
            pop3_reply(conn, "DELE").await?;
            report.deleted += 1;
        }
    }
    // Forget UIDLs the server no longer has (deleted here or elsewhere), and keep the ones
    // just taken before QUIT commits the deletions: if QUIT is lost, the next fetch skips them.
    if !uidls.is_empty() {
        state.uidls.retain(|uidl| present.contains(uidl));
    }
    sink.save_state(key, state)?;
    conn.send("QUIT", None).await?;
    pop3_reply(conn, "QUIT (the deletions were not done)").await?;
    if !keep {
        state.uidls.clear();
    }
    report.folders.push(("INBOX".into(), stored));
    Ok(report)
}

/// `N TEXT` lines (LIST, UIDL) as a map.
fn pairs(body: &[u8]) -> BTreeMap<u64, String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| {
            let (number, rest) = line.split_once(' ')?;
            Some((number.parse().ok()?, rest.trim().to_string()))
        })
        .collect()
}

// ---- IMAP ----

/// The IMAP side of a connection: tags and whole responses.
struct Imap<'c, 'a> {
    conn: &'c mut Conn<'a>,
    next_tag: u32,
}

/// What a command brought back: the untagged responses (whole, literals in place).
struct Answer {
    untagged: Vec<Vec<u8>>,
}

impl Imap<'_, '_> {
    /// One whole response: its lines joined with CRLF, literals in place.
    async fn response(&mut self) -> Result<Vec<u8>, FetchError> {
        let mut whole = self.conn.line(true).await?;
        let first = String::from_utf8_lossy(&whole).into_owned();
        let mut literals = 0;
        while let Some(length) = wire::literal_announced(&whole) {
            if whole.len() + length > wire::MAX_MESSAGE {
                return Err(protocol_error(format!(
                    "a literal longer than {} bytes",
                    wire::MAX_MESSAGE
                )));
            }
            let literal = self.conn.exact(length).await?;
            literals += literal.len();
            let text = String::from_utf8_lossy(&literal);
            for line in text.lines() {
                self.conn.said(true, line.to_string(), true);
            }
            whole.extend_from_slice(b"\r\n");
            whole.extend_from_slice(&literal);
            let rest = self.conn.line(true).await?;
            whole.extend_from_slice(&rest);
        }
        match literals {
            0 => self.conn.heard(&first),
            bytes => self
                .conn
                .heard(&format_args!("{first} ... ({bytes} bytes of literals)")),
        }
        Ok(whole)
    }

    /// Sends `command` with a new tag and reads up to its tagged status; `NO`/`BAD` are errors.
    async fn command(&mut self, command: &str, shown: Option<&str>) -> Result<Answer, FetchError> {
        self.next_tag += 1;
        let tag = format!("a{}", self.next_tag);
        let line = format!("{tag} {command}");
        let shown = shown.map(|shown| format!("{tag} {shown}"));
        self.conn.send(&line, shown.as_deref()).await?;
        let mut untagged = Vec::new();
        loop {
            let response = self.response().await?;
            let text = String::from_utf8_lossy(&response).into_owned();
            if let Some((got, status, rest)) = wire::imap_status(&text) {
                if got == tag {
                    let verb = command.split(' ').next().unwrap_or(command);
                    return if status.eq_ignore_ascii_case("OK") {
                        Ok(Answer { untagged })
                    } else {
                        Err(FetchError::ImapRefused {
                            command: verb.to_string(),
                            status: status.to_string(),
                            text: rest.to_string(),
                        })
                    };
                }
                if got == "*" && status.eq_ignore_ascii_case("BYE") && command != "LOGOUT" {
                    return Err(FetchError::Bye(rest.to_string()));
                }
            }
            if text.starts_with('+') {
                return Err(protocol_error("an unexpected continuation request"));
            }
            if untagged.len() >= 1_000_000 {
                return Err(protocol_error("too many untagged responses"));
            }
            untagged.push(response);
        }
    }
}

/// The greeting, STARTTLS when asked for, and LOGIN.
async fn imap_login<'c, 'a>(
    conn: &'c mut Conn<'a>,
    account: &Account,
) -> Result<Imap<'c, 'a>, FetchError> {
    let mut imap = Imap { conn, next_tag: 0 };
    let greeting = String::from_utf8_lossy(&imap.response().await?).into_owned();
    match wire::imap_status(&greeting) {
        Some(("*", "OK", _)) => {}
        _ => return Err(protocol_error(format!("greeting: {greeting}"))),
    }
    if account.security == Security::StartTls {
        let answer = imap.command("CAPABILITY", None).await?;
        let offered = answer.untagged.iter().any(|line| {
            String::from_utf8_lossy(line)
                .to_ascii_uppercase()
                .split(' ')
                .any(|word| word == "STARTTLS")
        });
        if !offered {
            return Err(FetchError::NoStartTls("STARTTLS"));
        }
        imap.command("STARTTLS", None).await?;
        imap.conn.start_tls().await?;
    }
    let (Some(user), Some(password)) =
        (wire::quoted(&account.user), wire::quoted(&account.password))
    else {
        return Err(FetchError::NotAscii("the user name and password"));
    };
    imap.command(
        &format!("LOGIN {user} {password}"),
        Some(&format!("LOGIN {user} {}", "*".repeat(8))),
    )
    .await?;
    Ok(imap)
}

async fn imap(
    conn: &mut Conn<'_>,
    account: &Account,
    folders: &Folders,
    sink: &mut dyn Sink,
    state: &mut AccountState,
) -> Result<Report, FetchError> {
    let mut imap = imap_login(conn, account).await?;

    // The folders: the one asked for, or every selectable one.
    let names: Vec<String> = match folders {
        Folders::One(name) => vec![name.clone()],
        Folders::All => {
            let answer = imap.command("LIST \"\" \"*\"", None).await?;
            let mut names = Vec::new();
            for response in &answer.untagged {
                let found = wire::items(response).map_err(protocol_error)?;
                let [_, kind, Item::List(attributes), _, name] = found.as_slice() else {
                    continue;
                };
                if !kind
                    .atom()
                    .is_some_and(|kind| kind.eq_ignore_ascii_case("LIST"))
                {
                    continue;
                }
                let unselectable = attributes.iter().any(|attribute| {
                    attribute.atom().is_some_and(|attribute| {
                        attribute.eq_ignore_ascii_case("\\Noselect")
                            || attribute.eq_ignore_ascii_case("\\NonExistent")
                    })
                });
                if let (false, Some(name)) = (unselectable, name.text()) {
                    names.push(name);
                }
            }
            // INBOX first, then the others by name.
            names.sort_by_key(|name| (!name.eq_ignore_ascii_case("INBOX"), name.clone()));
            names
        }
    };
    let delimiter_to_dot = |name: &str| name.replace('/', ".");
    let mut report = Report::default();
    for name in names {
        let local = if name.eq_ignore_ascii_case("INBOX") {
            None
        } else {
            let local = delimiter_to_dot(&name);
            if !folder_name_ok(&local) {
                tracing::warn!(folder = %name, "left out: not a safe local folder name");
                continue;
            }
            Some(local)
        };
        let quoted = wire::quoted(&name).ok_or(FetchError::NotAscii("a folder name"))?;
        let examine = imap.command(&format!("EXAMINE {quoted}"), None).await?;
        let mut validity = None;
        let mut exists = 0u64;
        for response in &examine.untagged {
            let text = String::from_utf8_lossy(response);
            if let Some(("*", _, rest)) = wire::imap_status(&text) {
                validity = validity.or(wire::response_code_number(rest, "UIDVALIDITY"));
            } else if let Some(count) = text
                .strip_prefix("* ")
                .and_then(|rest| rest.strip_suffix(" EXISTS"))
            {
                exists = count.trim().parse().unwrap_or(0);
            }
        }
        let validity = validity.unwrap_or(0);
        let last = match state.folders.get(&name) {
            Some(&(known, last)) if known == validity => last,
            _ => 0,
        };
        let mut highest = last;
        let mut stored = 0;
        if exists > 0 {
            let answer = imap
                .command(
                    &format!("UID FETCH {}:* (UID FLAGS BODY.PEEK[])", last + 1),
                    None,
                )
                .await?;
            for response in &answer.untagged {
                let found = wire::items(response).map_err(protocol_error)?;
                let [_, _, kind, Item::List(data)] = found.as_slice() else {
                    continue;
                };
                if !kind
                    .atom()
                    .is_some_and(|kind| kind.eq_ignore_ascii_case("FETCH"))
                {
                    continue;
                }
                let mut uid = None;
                let mut body = None;
                for pair in data.chunks(2) {
                    match (pair[0].atom().map(str::to_ascii_uppercase), pair.get(1)) {
                        (Some(key), Some(Item::Atom(value))) if key == "UID" => {
                            uid = value.parse::<u64>().ok();
                        }
                        (Some(key), Some(Item::Text(bytes))) if key == "BODY[]" => {
                            body = Some(bytes);
                        }
                        _ => {}
                    }
                }
                // `N:*` answers with the last message even when N is past it.
                let (Some(uid), Some(body)) = (uid, body) else {
                    continue;
                };
                if uid <= last {
                    report.skipped += 1;
                    continue;
                }
                sink.store(local.as_deref(), body)?;
                stored += 1;
                report.messages += 1;
                report.bytes += body.len() as u64;
                highest = highest.max(uid);
            }
        }
        state.folders.insert(name.clone(), (validity, highest));
        report.folders.push((name, stored));
    }
    imap.command("LOGOUT", None).await?;
    Ok(report)
}

/// The user agent files mail away on the server (IMAP): in the INBOX, `UID SEARCH` for
/// messages whose Subject contains `subject`, then `UID MOVE` them to `folder` (RFC 6851;
/// created when missing).
/// Returns the UIDs found.
pub async fn imap_move_matching(
    account: &Account,
    subject: &str,
    folder: &str,
    observe: &mut (dyn FnMut(&Said) + Send),
) -> Result<Vec<u64>, FetchError> {
    let mut conn = Conn::open(Protocol::Imap, account, observe).await?;
    let mut imap = imap_login(&mut conn, account).await?;
    let (Some(subject), Some(target)) = (wire::quoted(subject), wire::quoted(folder)) else {
        return Err(FetchError::NotAscii("the subject and folder"));
    };
    imap.command("SELECT \"INBOX\"", None).await?;
    let answer = imap
        .command(&format!("UID SEARCH SUBJECT {subject}"), None)
        .await?;
    let uids: Vec<u64> = answer
        .untagged
        .iter()
        .filter_map(|line| {
            let text = String::from_utf8_lossy(line).into_owned();
            text.strip_prefix("* SEARCH").map(|rest| {
                rest.split_whitespace()
                    .filter_map(|uid| uid.parse().ok())
                    .collect::<Vec<u64>>()
            })
        })
        .flatten()
        .collect();
    if !uids.is_empty() {
        let set = uids
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // The folder may exist already (`NO [ALREADYEXISTS]`): that is fine.
        let _ = imap.command(&format!("CREATE {target}"), None).await;
        imap.command(&format!("UID MOVE {set} {target}"), None)
            .await?;
    }
    imap.command("LOGOUT", None).await?;
    Ok(uids)
}

// ---- sinks ----

/// A local Maildir (Maildir++ folders for IMAP's), which keeps the fetch state beside it.
#[derive(Debug)]
pub struct MaildirSink {
    mailbox: Mailbox,
    host: String,
}

impl MaildirSink {
    /// The Maildir at `dir`, created when missing.
    pub fn open(dir: &Path) -> Result<MaildirSink, StoreError> {
        Ok(MaildirSink {
            mailbox: Mailbox::at(dir)?,
            host: std::fs::read_to_string("/etc/hostname")
                .map(|name| name.trim().to_string())
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "localhost".into()),
        })
    }

    fn state_path(&self) -> PathBuf {
        self.mailbox.path().join("applayer-fetch-state")
    }
}

impl Sink for MaildirSink {
    fn store(&mut self, folder: Option<&str>, message: &[u8]) -> Result<(), FetchError> {
        let unique = UniqueParts {
            time: SystemTime::now(),
            pid: std::process::id(),
            host: self.host.clone(),
        };
        self.mailbox
            .deliver(folder, message, &unique)
            .map(|_| ())
            .map_err(FetchError::Store)
    }

    fn load_state(&mut self, account: &str) -> io::Result<AccountState> {
        let text = match std::fs::read_to_string(self.state_path()) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(error) => return Err(error),
        };
        Ok(parse_state(&text, account))
    }

    fn save_state(&mut self, account: &str, state: &AccountState) -> io::Result<()> {
        let path = self.state_path();
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        let text = write_state(&old, account, state);
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(self.mailbox.path())?.sync_all()
    }
}

/// The state file: one line per fact, tab-separated, account first:
/// `ACCOUNT\tuidl\tUIDL` and `ACCOUNT\tfolder\tNAME\tUIDVALIDITY\tLAST`.
fn parse_state(text: &str, account: &str) -> AccountState {
    let mut state = AccountState::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [who, "uidl", uidl] if *who == account => {
                state.uidls.insert((*uidl).to_string());
            }
            [who, "folder", name, validity, last] if *who == account => {
                if let (Ok(validity), Ok(last)) = (validity.parse(), last.parse()) {
                    state.folders.insert((*name).to_string(), (validity, last));
                }
            }
            _ => {}
        }
    }
    state
}

fn write_state(old: &str, account: &str, state: &AccountState) -> String {
    let clean = |text: &str| text.replace(['\t', '\r', '\n'], " ");
    let account = clean(account);
    let mut text: String = old
        .lines()
        .filter(|line| line.split('\t').next() != Some(account.as_str()))
        .map(|line| format!("{line}\n"))
        .collect();
    for uidl in &state.uidls {
        text.push_str(&format!("{account}\tuidl\t{}\n", clean(uidl)));
    }
    for (name, (validity, last)) in &state.folders {
        text.push_str(&format!(
            "{account}\tfolder\t{}\t{validity}\t{last}\n",
            clean(name)
        ));
    }
    text
}

/// Standard output as an mbox (mboxrd: `From ` lines separate messages, `>` quotes body
/// lines that would look like one); keeps no state.
pub struct MboxSink<W: io::Write + Send> {
    out: W,
}

impl<W: io::Write + Send> MboxSink<W> {
    /// An mbox written to `out`.
    pub fn new(out: W) -> MboxSink<W> {
        MboxSink { out }
    }
}

impl<W: io::Write + Send> Sink for MboxSink<W> {
    fn store(&mut self, _folder: Option<&str>, message: &[u8]) -> Result<(), FetchError> {
        let date = asctime(&crate::rfc5322_date(SystemTime::now()));
        let mut text = format!("From MAILER-DAEMON {date}\n").into_bytes();
        for line in message.split(|&byte| byte == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let quoted = line.iter().skip_while(|&&byte| byte == b'>');
            if quoted.clone().take(5).eq(b"From ".iter()) {
                text.push(b'>');
            }
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        self.out.write_all(&text)?;
        self.out.flush()?;
        Ok(())
    }
}

/// `Mon, 07 Dec 2026 04:36:53 +0000` as the asctime of mbox `From ` lines (RFC 4155):
/// `Mon Dec  7 04:36:53 2026`.
fn asctime(rfc5322: &str) -> String {
    let parts: Vec<&str> = rfc5322
        .split([' ', ','])
        .filter(|part| !part.is_empty())
        .collect();
    match parts.as_slice() {
        [weekday, day, month, year, time, ..] => {
            let day = day.trim_start_matches('0');
            format!("{weekday} {month} {day:>2} {time} {year}")
        }
        _ => rfc5322.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_dates_are_asctime() {
        assert_eq!(
            asctime("Mon, 07 Dec 2026 04:36:53 +0000"),
            "Mon Dec  7 04:36:53 2026"
        );
        assert_eq!(
            asctime("Thu, 17 Dec 2026 04:36:53 +0000"),
            "Thu Dec 17 04:36:53 2026"
        );
    }

    #[test]
    fn state_round_trips_and_keeps_other_accounts() {
        let mut state = AccountState::default();
        state.uidls.insert("a1".into());
        state.folders.insert("Sent".into(), (7, 42));
        let text = write_state("other\tuidl\tz\n", "pop3 bob@x", &state);
        assert_eq!(parse_state(&text, "pop3 bob@x"), state);
        assert!(parse_state(&text, "other").uidls.contains("z"));
        let replaced = write_state(&text, "pop3 bob@x", &AccountState::default());
        assert_eq!(
            parse_state(&replaced, "pop3 bob@x"),
            AccountState::default()
        );
        assert!(replaced.contains("other\tuidl\tz"));
    }

    #[test]
    fn mbox_quotes_from_lines() {
        let mut out = Vec::new();
        MboxSink::new(&mut out)
            .store(
                None,
                b"Subject: x\r\n\r\nFrom here\r\n>From there\r\nok\r\n",
            )
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("From MAILER-DAEMON "), "{text}");
        assert!(text.contains("\n>From here\n>>From there\nok\n"), "{text}");
    }

    #[test]
    fn uidl_and_list_pairs() {
        let found = pairs(b"1 abc\r\n2 def\r\nbad\r\n");
        assert_eq!(found.get(&1).map(String::as_str), Some("abc"));
        assert_eq!(found.len(), 2);
    }
}
