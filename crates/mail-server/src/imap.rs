//! IMAP on the same Maildirs SMTP delivers into (seed §2.3.4): port 143 with STARTTLS and 993
//! with implicit TLS, the tokio driver of `imap_proto`'s session. Folders are Maildir++ ones
//! shown with `/` as the hierarchy delimiter (`Lists/rust` is `.Lists.rust/`); UIDs and flags
//! come from [`crate::imap_store`]. Every command rescans the selected folder, so deliveries,
//! POP3 deletions and other agents' renames are seen; sessions on one folder share a change
//! notification, so IDLE wakes at once for changes made here (and polls every two seconds for
//! changes made by others).

use crate::imap_store::{self, Folder, Message};
use crate::maildir::{folder_name_ok, Mailbox, Store, UniqueParts, SPECIAL_FOLDERS};
use crate::net::{accept_tls, SessionError};
use crate::policy::Policy;
use imap_proto::{
    Command, Config, Event, Reply, SequenceSet, ServerSession, State, StoreMode, Value,
};
use netio::tcp::Conn;
use netio::wire::{self, Dir};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// How often IDLE rescans for changes made outside this process.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What every IMAP connection of a server shares.
pub(crate) struct ImapShared {
    pub(crate) hostname: String,
    pub(crate) policy: Policy,
    pub(crate) store: Store,
    pub(crate) tls: Option<tls::TlsAcceptor>,
    /// Whether LOGIN/AUTHENTICATE work without TLS (the world on loopback).
    pub(crate) plaintext_login: bool,
    /// How long a failed login waits before its `NO`.
    pub(crate) auth_failure_delay: Duration,
    /// The autologout timer.
    pub(crate) idle_timeout: Duration,
    /// Per folder directory: the lock serialising scans and the change notification.
    folders: Mutex<HashMap<PathBuf, Arc<FolderShared>>>,
}

#[derive(Default)]
struct FolderShared {
    lock: Mutex<()>,
    changed: Notify,
}

impl ImapShared {
    pub(crate) fn new(
        hostname: String,
        policy: Policy,
        store: Store,
        tls: Option<tls::TlsAcceptor>,
        plaintext_login: bool,
        auth_failure_delay: Duration,
    ) -> ImapShared {
        ImapShared {
            hostname,
            policy,
            store,
            tls,
            plaintext_login,
            auth_failure_delay,
            idle_timeout: Duration::from_secs(30 * 60),
            folders: Mutex::new(HashMap::new()),
        }
    }

    fn folder(&self, dir: &Path) -> Arc<FolderShared> {
        let mut folders = self
            .folders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        folders.entry(dir.to_path_buf()).or_default().clone()
    }

    /// Scans `dir` under its lock.
    fn scan(&self, dir: &Path, claim_new: bool) -> Result<Folder, String> {
        let folder = self.folder(dir);
        let _guard = folder.lock.lock().unwrap_or_else(|p| p.into_inner());
        let validity = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as u32)
            .unwrap_or(1);
        imap_store::scan(dir, claim_new, validity).map_err(|error| error.to_string())
    }

    fn changed(&self, dir: &Path) {
        self.folder(dir).changed.notify_waiters();
    }
}

fn unique(hostname: &str) -> UniqueParts {
    UniqueParts {
        time: SystemTime::now(),
        pid: std::process::id(),
        host: hostname.to_string(),
    }
}

/// The selected mailbox as this session knows it (its sequence numbers).
struct Selected {
    dir: PathBuf,
    read_only: bool,
    /// The messages by sequence number, with the flags last reported.
    known: Vec<Message>,
    /// The UIDs that are `\Recent` in this session (it claimed them from `new/`, or, read
    /// only, nobody has).
    recent: std::collections::HashSet<u32>,
}

/// The logged-in user's side of a session.
struct UserState {
    mailbox: Mailbox,
    selected: Option<Selected>,
    /// CONDSTORE is on (ENABLE, or a CONDSTORE-enabling command; RFC 7162 §3.1): flag
    /// changes are reported with their MODSEQ.
    condstore: bool,
}

/// Maps an IMAP mailbox name to its directory: `INBOX`, or `a/b` as the Maildir++ `.a.b`.
/// Names that could leave the store (`..`, absolute, empty levels, `.` inside) are refused.
fn folder_of(name: &str) -> Result<Option<String>, String> {
    if name == "INBOX" {
        return Ok(None);
    }
    let refused = || format!("[CANNOT] mailbox name {name:?} is not allowed");
    if imap_proto::mutf7::decode(name).is_none() {
        return Err(format!(
            "[CANNOT] mailbox name {name:?} is not valid modified UTF-7 (RFC 3501 5.1.3)"
        ));
    }
    if name.contains('.') || name.contains('\\') || name.starts_with('/') || name.ends_with('/') {
        return Err(refused());
    }
    let folder = name.replace('/', ".");
    if folder_name_ok(&folder) {
        Ok(Some(folder))
    } else {
        Err(refused())
    }
}

fn display_name(folder: &str) -> String {
    folder.replace('.', "/")
}

/// An IMAP string: quoted when safe, else a literal.
fn string(bytes: &[u8]) -> String {
    if bytes.len() < 200
        && bytes
            .iter()
            .all(|&byte| (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b'\\')
    {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        format!("{{{}}}\r\n{}", bytes.len(), String::from_utf8_lossy(bytes))
    }
}

/// Appends an IMAP string to raw output (literals keep their exact bytes).
fn push_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() < 200
        && bytes
            .iter()
            .all(|&byte| (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    }
}

fn nstring(value: Option<&str>) -> String {
    match value {
        Some(text) => string(text.as_bytes()),
        None => "NIL".into(),
    }
}

/// The message with CRLF line ends (what IMAP sizes and sections count).
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// Header and body split at the first empty line (the header keeps its final CRLF CRLF).
fn split_message(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.windows(4).position(|window| window == b"\r\n\r\n") {
        Some(at) => (&bytes[..at + 4], &bytes[at + 4..]),
        None => (bytes, &[]),
    }
}

/// The header fields as (name, raw field with continuation lines).
fn fields(header: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in header.split_inclusive(|&byte| byte == b'\n') {
        if line == b"\r\n" {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.1.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .split(|&byte| byte == b':')
            .next()
            .map(|name| String::from_utf8_lossy(name).trim().to_ascii_uppercase())
            .unwrap_or_default();
        out.push((name, line.to_vec()));
    }
    out
}

fn field_value(header: &[u8], name: &str) -> Option<String> {
    fields(header)
        .into_iter()
        .find(|(field, _)| field == name)
        .map(|(_, raw)| {
            let text = String::from_utf8_lossy(&raw).into_owned();
            let value = text.split_once(':').map(|(_, v)| v).unwrap_or("");
            value.replace("\r\n", "").trim().to_string()
        })
}

/// INTERNALDATE from the file's modification time (`07-Dec-2026 05:00:00 +0000`).
fn internal_date(path: &Path) -> String {
    let time = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .unwrap_or(UNIX_EPOCH);
    // `Sat, 05 Dec 2026 21:17:21 GMT`
    let http = http_proto::fmt_http_date(time);
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, clock, _] => format!("{day}-{month}-{year} {clock} +0000"),
        _ => "01-Jan-1970 00:00:00 +0000".into(),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since the epoch of an IMAP date (`7-Dec-2026`).
fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    let year: i64 = parts.next()?.get(..4)?.parse().ok()?;
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A `fmt::Write` onto a response buffer.
fn out_text(out: &mut Vec<u8>) -> impl std::fmt::Write + '_ {
    struct Bytes<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for Bytes<'_> {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0.extend_from_slice(text.as_bytes());
            Ok(())
        }
    }
    Bytes(out)
}

/// An IMAP date-time (`" 7-Dec-2026 10:02:03 +0100"`, RFC 3501 §9) as a time.
fn parse_date_time(text: &str) -> Option<std::time::SystemTime> {
    let text = text.trim_start();
    let (date, rest) = text.split_once(' ')?;
    let (clock, zone) = rest.split_once(' ')?;
    let days = parse_date(date)?;
    let mut hms = clock.split(':').map(|part| part.parse::<i64>().ok());
    let (hours, minutes, seconds) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 || clock.len() != 8 {
        return None;
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if zone.len() != 5 || !zone[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset =
        sign * (zone[1..3].parse::<i64>().ok()? * 3600 + zone[3..5].parse::<i64>().ok()? * 60);
    let unix = days * 86_400 + hours * 3600 + minutes * 60 + seconds - offset;
    let unix = u64::try_from(unix).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::from_secs(unix))
}

fn mtime_day(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|elapsed| (elapsed.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

fn flag_list(message: &Message, recent: bool) -> String {
    let mut flags = message.flags();
    if recent {
        flags.push("\\Recent".into());
    }
    format!("({})", flags.join(" "))
}

/// One connection: plaintext, then TLS after STARTTLS; TLS from the start with `implicit_tls`.
pub(crate) async fn serve_connection(
    shared: Arc<ImapShared>,
    stream: TcpStream,
    conn: Conn,
    implicit_tls: bool,
) {
    let peer = conn.peer;
    let result = async {
        let mut config = Config::new(shared.hostname.clone());
        config.tls_available = shared.tls.is_some();
        config.plaintext_login = shared.plaintext_login;
        config.idle_timeout = shared.idle_timeout;
        config.max_literal = 25 * 1024 * 1024;
        let mut user = None;
        match (&shared.tls, implicit_tls) {
            (Some(acceptor), true) => {
                let mut secure = accept_tls(acceptor, stream).await?;
                config.tls_active = true;
                let mut session = ServerSession::new(config, Instant::now());
                drive(&shared, &conn, &mut secure, &mut session, &mut user).await?;
            }
            (None, true) => return Err(SessionError::NoCertificate),
            (_, false) => {
                let mut stream = stream;
                let mut session = ServerSession::new(config, Instant::now());
                if drive(&shared, &conn, &mut stream, &mut session, &mut user).await? {
                    let Some(acceptor) = &shared.tls else {
                        return Ok(());
                    };
                    let mut secure = accept_tls(acceptor, stream).await?;
                    session.tls_established(Instant::now());
                    drive(&shared, &conn, &mut secure, &mut session, &mut user).await?;
                }
            }
        }
        Ok::<(), SessionError>(())
    }
    .await;
    if let Err(error) = result {
        tracing::info!(%peer, "imap connection ended: {error}");
    }
}

/// Logs one line crossing the wire (passwords redacted).
fn trace_line(conn: &Conn, dir: Dir, line: &str) {
    let upper = line.to_ascii_uppercase();
    let mut words = upper.split(' ');
    let _tag = words.next();
    let shown = match words.next() {
        Some("LOGIN") if dir == Dir::Recv => {
            let tag = line.split(' ').next().unwrap_or("");
            format!("{tag} LOGIN <redacted>")
        }
        Some("AUTHENTICATE") if dir == Dir::Recv && line.split(' ').count() > 3 => {
            let tag = line.split(' ').next().unwrap_or("");
            format!("{tag} AUTHENTICATE PLAIN <redacted>")
        }
        _ => line.to_string(),
    };
    wire::emit("imap", dir, conn.local, conn.peer, &shown);
}

/// Runs the session until it closes (`false`) or asks for TLS (`true`).
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<ImapShared>,
    conn: &Conn,
    io: &mut S,
    session: &mut ServerSession,
    user: &mut Option<UserState>,
) -> std::io::Result<bool> {
    let mut buffer = vec![0u8; 16 * 1024];
    let trace = wire::enabled();
    loop {
        let mut start_tls = false;
        loop {
            while let Some(bytes) = session.poll_transmit() {
                if trace {
                    let first = bytes.split(|&byte| byte == b'\r').next().unwrap_or(&[]);
                    trace_line(conn, Dir::Send, &String::from_utf8_lossy(first));
                }
                io.write_all(&bytes).await?;
            }
            let Some(event) = session.poll_event() else {
                break;
            };
            match event {
                Event::StartTls => start_tls = true,
                other => answer(shared, conn, session, user, other).await,
            }
        }
        io.flush().await?;
        if start_tls {
            return Ok(true);
        }
        if session.is_closed() {
            let _ = io.shutdown().await;
            return Ok(false);
        }
        let sleep = async {
            match session.poll_timeout() {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let idle_dir = match (session.is_idle(), user.as_ref()) {
            (
                true,
                Some(UserState {
                    selected: Some(selected),
                    ..
                }),
            ) => Some(selected.dir.clone()),
            _ => None,
        };
        let folder = idle_dir.as_ref().map(|dir| shared.folder(dir));
        let wake = async {
            match &folder {
                Some(folder) => {
                    let _ = tokio::time::timeout(IDLE_POLL, folder.changed.notified()).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = io.read(&mut buffer), if session.wants_input() => {
                match read? {
                    0 => session.handle_eof(),
                    n => {
                        if trace {
                            for line in String::from_utf8_lossy(&buffer[..n]).lines().take(8) {
                                trace_line(conn, Dir::Recv, line);
                            }
                        }
                        session.handle_input(Instant::now(), &buffer[..n]);
                    }
                }
            }
            () = sleep => session.handle_timeout(Instant::now()),
            () = wake => {
                if let Some(state) = user.as_mut() {
                    let updates = refresh(shared, state, true);
                    session.untagged(updates);
                }
            }
            () = conn.shutdown.triggered() => {
                let _ = io.write_all(b"* BYE server shutting down\r\n").await;
                return Ok(false);
            }
        }
    }
}

/// Rescans the selected folder and reports what changed to this session: EXPUNGE (only when
/// `expunges`; RFC 3501 §7.4.1 forbids them during FETCH, STORE and SEARCH), FETCH FLAGS,
/// EXISTS.
fn refresh(shared: &ImapShared, state: &mut UserState, expunges: bool) -> Vec<u8> {
    let condstore = state.condstore;
    let Some(selected) = state.selected.as_mut() else {
        return Vec::new();
    };
    let Ok(folder) = shared.scan(&selected.dir, !selected.read_only) else {
        return Vec::new();
    };
    selected.recent.extend(folder.claimed.iter().copied());
    if selected.read_only {
        selected
            .recent
            .extend(folder.messages.iter().filter(|m| m.in_new).map(|m| m.uid));
    }
    let mut out = String::new();
    if expunges {
        let mut index = selected.known.len();
        while index > 0 {
            index -= 1;
            if folder.by_uid(selected.known[index].uid).is_none() {
                selected.known.remove(index);
                let _ = write!(out, "* {} EXPUNGE\r\n", index + 1);
            }
        }
    }
    for (index, known) in selected.known.iter_mut().enumerate() {
        if let Some(now) = folder.by_uid(known.uid) {
            if now.letters != known.letters {
                let recent = selected.recent.contains(&now.uid);
                let modseq = if condstore {
                    format!(" MODSEQ ({})", now.modseq)
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "* {} FETCH (FLAGS {}{modseq})\r\n",
                    index + 1,
                    flag_list(now, recent)
                );
            }
            *known = now.clone();
        }
    }
    let last = selected
        .known
        .last()
        .map(|message| message.uid)
        .unwrap_or(0);
    let fresh: Vec<Message> = folder
        .messages
        .iter()
        .filter(|message| message.uid > last)
        .cloned()
        .collect();
    if !fresh.is_empty() {
        selected.known.extend(fresh);
        let _ = write!(out, "* {} EXISTS\r\n", selected.known.len());
    }
    out.into_bytes()
}

async fn answer(
    shared: &Arc<ImapShared>,
    conn: &Conn,
    session: &mut ServerSession,
    user: &mut Option<UserState>,
    event: Event,
) {
    let peer = conn.peer;
    match event {
        Event::Login {
            user: name,
            password,
        } => {
            let Some(address) = shared.policy.authenticate(&name, &password) else {
                tracing::warn!(%peer, user = %name, "imap: authentication failed");
                tokio::time::sleep(shared.auth_failure_delay).await;
                session.login_failed(None);
                return;
            };
            let Some((local, domain)) = address.split_once('@') else {
                session.login_failed(Some("bad address".into()));
                return;
            };
            match shared.store.mailbox(domain, local) {
                Ok(mailbox) => {
                    tracing::info!(%peer, %address, "imap: logged in");
                    *user = Some(UserState {
                        mailbox,
                        selected: None,
                        condstore: false,
                    });
                    session.login_ok(&address);
                }
                Err(error) => {
                    tracing::error!(%peer, "imap: {error}");
                    session.login_failed(Some("mailbox unavailable".into()));
                }
            }
        }
        Event::Command { command, tag } => {
            let Some(state) = user.as_mut() else {
                session.command_done(Vec::new(), Reply::No("log in first".into()), None);
                return;
            };
            state.condstore |= session.condstore_enabled();
            if command == Command::Idle {
                let updates = refresh(shared, state, true);
                session.idle_started();
                session.untagged(updates);
                return;
            }
            // The Maildir work (reads, fsyncs of APPEND/COPY/STORE) runs on the blocking
            // pool, so one session's fsync does not hold up every other session.
            let taken = std::mem::replace(
                state,
                UserState {
                    mailbox: state.mailbox.clone(),
                    selected: None,
                    condstore: state.condstore,
                },
            );
            let work = {
                let shared = shared.clone();
                let mut state = taken;
                tokio::task::spawn_blocking(move || {
                    let outcome = execute(&shared, &mut state, &tag, command);
                    (state, outcome)
                })
            };
            match work.await {
                Ok((back, (out, reply, next))) => {
                    *state = back;
                    session.command_done(out, reply, next);
                }
                Err(error) => {
                    tracing::error!(%peer, "imap: command failed: {error}");
                    *user = None;
                    session.command_done(
                        Vec::new(),
                        Reply::No("[SERVERBUG] internal error, log in again".into()),
                        Some(State::NotAuthenticated),
                    );
                }
            }
        }
        Event::IdleDone => {
            let updates = user
                .as_mut()
                .map(|state| refresh(shared, state, true))
                .unwrap_or_default();
            session.command_done(updates, Reply::Ok("IDLE terminated".into()), None);
        }
        Event::StartTls => {}
        Event::Closed => *user = None,
    }
}

type Outcome = (Vec<u8>, Reply, Option<State>);

fn no(text: impl Into<String>) -> Outcome {
    (Vec::new(), Reply::No(text.into()), None)
}

fn ok(out: Vec<u8>, text: impl Into<String>) -> Outcome {
    (out, Reply::Ok(text.into()), None)
}

/// The directory of a mailbox name, existing or not.
fn dir_of(state: &UserState, name: &str) -> Result<(Option<String>, PathBuf), String> {
    let folder = folder_of(name)?;
    let dir = state
        .mailbox
        .folder_path(folder.as_deref())
        .map_err(|error| error.to_string())?;
    Ok((folder, dir))
}

fn exists(dir: &Path) -> bool {
    dir.join("cur").is_dir()
}

fn execute(shared: &ImapShared, state: &mut UserState, tag: &str, command: Command) -> Outcome {
    match command {
        Command::Noop => ok(refresh(shared, state, true), "NOOP completed"),
        Command::Select {
            mailbox,
            read_only,
            condstore,
        } => {
            state.selected = None;
            state.condstore |= condstore;
            let dir = match dir_of(state, &mailbox) {
                Ok((_, dir)) if exists(&dir) => dir,
                Ok(_) => return no("[NONEXISTENT] no such mailbox"),
                Err(why) => return no(why),
            };
            let folder = match shared.scan(&dir, !read_only) {
                Ok(folder) => folder,
                Err(why) => return no(format!("[SERVERBUG] {why}")),
            };
            // Recent: what this session claimed from new/ (EXAMINE claims nothing, so what
            // is still there).
            let recent: std::collections::HashSet<u32> = folder
                .claimed
                .iter()
                .copied()
                .chain(folder.messages.iter().filter(|m| m.in_new).map(|m| m.uid))
                .collect();
            let mut flags = String::from("\\Answered \\Flagged \\Deleted \\Seen \\Draft");
            for keyword in folder.keywords.iter().filter(|k| !k.is_empty()) {
                flags.push(' ');
                flags.push_str(keyword);
            }
            let mut out = String::new();
            let _ = write!(
                out,
                "* FLAGS ({flags})\r\n\
                 * OK [PERMANENTFLAGS ({})] flags kept\r\n\
                 * {} EXISTS\r\n* {} RECENT\r\n\
                 * OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] predicted next UID\r\n\
                 * OK [HIGHESTMODSEQ {}] highest\r\n",
                if read_only {
                    String::new()
                } else {
                    format!("{flags} \\*")
                },
                folder.messages.len(),
                recent.len(),
                folder.validity,
                folder.next,
                folder.highest_modseq
            );
            if let Some(index) = folder.messages.iter().position(|m| !m.has("\\Seen")) {
                let _ = write!(out, "* OK [UNSEEN {}] first unseen\r\n", index + 1);
            }
            state.selected = Some(Selected {
                dir,
                read_only,
                known: folder.messages,
                recent,
            });
            let code = if read_only {
                "[READ-ONLY]"
            } else {
                "[READ-WRITE]"
            };
            (
                out.into_bytes(),
                Reply::Ok(format!(
                    "{code} {} completed",
                    if read_only { "EXAMINE" } else { "SELECT" }
                )),
                Some(State::Selected { read_only }),
            )
        }
        Command::Create { mailbox } => {
            let name = mailbox.trim_end_matches('/').to_string();
            match folder_of(&name) {
                Ok(None) => no("[ALREADYEXISTS] INBOX always exists"),
                Ok(Some(folder)) if state.mailbox.has_folder(&folder) => {
                    no("[ALREADYEXISTS] mailbox exists")
                }
                Ok(Some(folder)) => match state.mailbox.create_folder(&folder) {
                    Ok(()) => ok(Vec::new(), "CREATE completed"),
                    Err(error) => no(format!("[CANNOT] {error}")),
                },
                Err(why) => no(why),
            }
        }
        Command::Delete { mailbox } => match dir_of(state, &mailbox) {
            Ok((None, _)) => no("[CANNOT] INBOX cannot be deleted"),
            Ok((Some(folder), dir)) if exists(&dir) => {
                let children = state
                    .mailbox
                    .folders()
                    .unwrap_or_default()
                    .iter()
                    .any(|other| other.starts_with(&format!("{folder}.")));
                if children {
                    return no("[INUSE] mailbox has children (delete them first)");
                }
                if state.selected.as_ref().is_some_and(|s| s.dir == dir) {
                    return no("[INUSE] mailbox is selected");
                }
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => ok(Vec::new(), "DELETE completed"),
                    Err(error) => no(format!("[CANNOT] {error}")),
                }
            }
            Ok(_) => no("[NONEXISTENT] no such mailbox"),
            Err(why) => no(why),
        },
        Command::Rename { from, to } => {
            let (source, target) = match (dir_of(state, &from), dir_of(state, &to)) {
                (Ok(source), Ok(target)) => (source, target),
                (Err(why), _) | (_, Err(why)) => return no(why),
            };
            if !exists(&source.1) {
                return no("[NONEXISTENT] no such mailbox");
            }
            let Some(target_folder) = target.0 else {
                return no("[ALREADYEXISTS] INBOX exists");
            };
            if exists(&target.1) {
                return no("[ALREADYEXISTS] target exists");
            }
            match source.0 {
                // Renaming INBOX moves its messages to the new folder (RFC 3501 §6.3.5).
                None => {
                    if let Err(error) = state.mailbox.create_folder(&target_folder) {
                        return no(format!("[CANNOT] {error}"));
                    }
                    for sub in ["new", "cur"] {
                        let Ok(entries) = std::fs::read_dir(source.1.join(sub)) else {
                            continue;
                        };
                        for entry in entries.flatten() {
                            let _ = std::fs::rename(
                                entry.path(),
                                target.1.join(sub).join(entry.file_name()),
                            );
                        }
                    }
                    shared.changed(&source.1);
                    ok(Vec::new(), "RENAME completed")
                }
                Some(source_folder) => {
                    // The folder and its children.
                    let mut moves = vec![(source.1.clone(), target.1.clone())];
                    for child in state.mailbox.folders().unwrap_or_default() {
                        if let Some(rest) = child.strip_prefix(&format!("{source_folder}.")) {
                            if let (Ok(from), Ok(to)) = (
                                state.mailbox.folder_path(Some(&child)),
                                state
                                    .mailbox
                                    .folder_path(Some(&format!("{target_folder}.{rest}"))),
                            ) {
                                moves.push((from, to));
                            }
                        }
                    }
                    for (from, to) in moves {
                        if let Err(error) = std::fs::rename(&from, &to) {
                            return no(format!("[CANNOT] {error}"));
                        }
                    }
                    // Levels above the new name exist, as CREATE makes them.
                    if let Some((parent, _)) = target_folder.rsplit_once('.') {
                        let _ = state.mailbox.create_folder(parent);
                    }
                    ok(Vec::new(), "RENAME completed")
                }
            }
        }
        Command::Subscribe { mailbox, subscribe } => {
            if let Err(why) = folder_of(&mailbox) {
                return no(why);
            }
            let mut subscribed = subscriptions(&state.mailbox);
            subscribed.retain(|name| name != &mailbox);
            if subscribe {
                subscribed.push(mailbox);
            }
            match save_subscriptions(&state.mailbox, &subscribed) {
                Ok(()) => ok(Vec::new(), "completed"),
                Err(error) => no(format!("[SERVERBUG] {error}")),
            }
        }
        Command::List {
            reference,
            pattern,
            subscribed_only,
            ..
        } => {
            let mut out = String::new();
            let verb = if subscribed_only { "LSUB" } else { "LIST" };
            if pattern.is_empty() {
                let _ = write!(out, "* {verb} (\\Noselect) \"/\" \"\"\r\n");
                return ok(out.into_bytes(), format!("{verb} completed"));
            }
            let pattern = format!("{reference}{pattern}");
            let folders = state.mailbox.folders().unwrap_or_default();
            let subscribed = subscriptions(&state.mailbox);
            let mut names: Vec<(String, Option<String>)> = vec![("INBOX".into(), None)];
            names.extend(folders.iter().map(|f| (display_name(f), Some(f.clone()))));
            for (name, folder) in names {
                if !matches(&pattern, &name) {
                    continue;
                }
                if subscribed_only && !subscribed.contains(&name) {
                    continue;
                }
                let mut attributes = Vec::new();
                if let Some(folder) = &folder {
                    let children = folders.iter().any(|f| f.starts_with(&format!("{folder}.")));
                    attributes.push(if children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    });
                    if let Some(special) = SPECIAL_FOLDERS.iter().find(|s| *s == folder) {
                        attributes.push(match *special {
                            "Drafts" => "\\Drafts",
                            "Sent" => "\\Sent",
                            "Trash" => "\\Trash",
                            _ => "\\Junk",
                        });
                    }
                } else {
                    attributes.push("\\HasNoChildren");
                }
                let _ = write!(
                    out,
                    "* {verb} ({}) \"/\" {}\r\n",
                    attributes.join(" "),
                    string(name.as_bytes())
                );
            }
            ok(out.into_bytes(), format!("{verb} completed"))
        }
        Command::Status { mailbox, items } => {
            let dir = match dir_of(state, &mailbox) {
                Ok((_, dir)) if exists(&dir) => dir,
                Ok(_) => return no("[NONEXISTENT] no such mailbox"),
                Err(why) => return no(why),
            };
            let folder = match shared.scan(&dir, false) {
                Ok(folder) => folder,
                Err(why) => return no(format!("[SERVERBUG] {why}")),
            };
            let mut shown = Vec::new();
            for item in &items {
                let value = match item.as_str() {
                    "MESSAGES" => folder.messages.len() as u64,
                    "RECENT" => folder.messages.iter().filter(|m| m.in_new).count() as u64,
                    "UIDNEXT" => folder.next as u64,
                    "UIDVALIDITY" => folder.validity as u64,
                    "HIGHESTMODSEQ" => folder.highest_modseq,
                    "UNSEEN" => folder.messages.iter().filter(|m| !m.has("\\Seen")).count() as u64,
                    "DELETED" => folder
                        .messages
                        .iter()
                        .filter(|m| m.has("\\Deleted"))
                        .count() as u64,
                    "SIZE" => folder
                        .messages
                        .iter()
                        .map(|m| {
                            std::fs::metadata(&m.path)
                                .map(|meta| meta.len())
                                .unwrap_or(0)
                        })
                        .sum(),
                    other => {
                        return (
                            Vec::new(),
                            Reply::Bad(format!("unknown STATUS item {other}")),
                            None,
                        )
                    }
                };
                shown.push(format!("{item} {value}"));
            }
            let line = format!(
                "* STATUS {} ({})\r\n",
                string(mailbox.as_bytes()),
                shown.join(" ")
            );
            ok(line.into_bytes(), "STATUS completed")
        }
        Command::Append {
            mailbox,
            flags,
            message,
            date,
            ..
        } => {
            let dir = match dir_of(state, &mailbox) {
                Ok((_, dir)) if exists(&dir) => dir,
                Ok(_) => return no("[TRYCREATE] no such mailbox"),
                Err(why) => return no(why),
            };
            if let Some(bad) = flags.iter().find(|flag| !imap_store::flag_ok(flag)) {
                return (Vec::new(), Reply::Bad(format!("invalid flag {bad}")), None);
            }
            let letters = match imap_store::letters_with_keywords(&dir, &flags, "") {
                Ok(letters) => letters,
                Err(error) => return no(error.to_string()),
            };
            // RFC 3501 §6.3.11: the date-time argument becomes the INTERNALDATE (the file's
            // modification time, as Dovecot keeps it).
            let received = match date.as_deref().map(parse_date_time) {
                Some(Some(time)) => Some(time),
                Some(None) => return (Vec::new(), Reply::Bad("bad APPEND date-time".into()), None),
                None => None,
            };
            let base = match imap_store::add(&dir, &message, &letters, &unique(&shared.hostname)) {
                Ok(base) => base,
                Err(error) => return no(format!("[SERVERBUG] {error}")),
            };
            if let Some(time) = received {
                let path = dir.join("cur").join(format!("{base}:2,{letters}"));
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(time));
            }
            let folder = match shared.scan(&dir, false) {
                Ok(folder) => folder,
                Err(why) => return no(format!("[SERVERBUG] {why}")),
            };
            shared.changed(&dir);
            let uid = folder
                .messages
                .iter()
                .find(|m| m.base == base)
                .map(|m| m.uid)
                .unwrap_or(0);
            let out = refresh(shared, state, true);
            ok(
                out,
                format!("[APPENDUID {} {uid}] APPEND completed", folder.validity),
            )
        }
        Command::Close | Command::Unselect => {
            let close = command == Command::Close;
            if let Some(selected) = state.selected.take() {
                if close && !selected.read_only {
                    if let Ok(folder) = shared.scan(&selected.dir, true) {
                        for message in folder.messages.iter().filter(|m| m.has("\\Deleted")) {
                            let _ = imap_store::remove(message);
                        }
                    }
                    shared.changed(&selected.dir);
                }
            }
            (
                Vec::new(),
                Reply::Ok("completed".into()),
                Some(State::Authenticated),
            )
        }
        Command::Expunge { uids } => {
            let Some(selected) = state.selected.as_ref() else {
                return no("no mailbox selected");
            };
            if selected.read_only {
                return no("[READ-ONLY] mailbox is read-only");
            }
            let dir = selected.dir.clone();
            if let Ok(folder) = shared.scan(&dir, true) {
                for message in folder.messages.iter().filter(|m| m.has("\\Deleted")) {
                    if uids
                        .as_ref()
                        .is_none_or(|set| set.contains(message.uid, folder.next.saturating_sub(1)))
                    {
                        let _ = imap_store::remove(message);
                    }
                }
            }
            shared.changed(&dir);
            ok(refresh(shared, state, true), "EXPUNGE completed")
        }
        Command::Fetch {
            uid,
            set,
            items,
            changed_since,
        } => fetch(shared, state, uid, &set, &items, changed_since),
        Command::Store {
            uid,
            set,
            mode,
            silent,
            flags,
            unchanged_since,
        } => {
            if unchanged_since.is_some() {
                state.condstore = true;
            }
            let condstore = state.condstore;
            let mut out = refresh(shared, state, false);
            let Some(selected) = state.selected.as_mut() else {
                return no("no mailbox selected");
            };
            if selected.read_only {
                return no("[READ-ONLY] mailbox is read-only");
            }
            if let Some(bad) = flags.iter().find(|flag| !imap_store::flag_ok(flag)) {
                return (Vec::new(), Reply::Bad(format!("invalid flag {bad}")), None);
            }
            let targets = match resolve(&selected.known, &set, uid) {
                Ok(targets) => targets,
                Err(bad) => return bad,
            };
            let mut failure = None;
            // RFC 7162 §3.1.3: messages changed since UNCHANGEDSINCE are left alone and
            // named in the MODIFIED response code.
            let mut modified: Vec<u32> = Vec::new();
            let mut stored: Vec<usize> = Vec::new();
            for index in targets {
                let message = &selected.known[index];
                if unchanged_since.is_some_and(|limit| message.modseq > limit) {
                    modified.push(if uid { message.uid } else { index as u32 + 1 });
                    continue;
                }
                let current: Vec<String> = message.flags();
                let wanted: Vec<String> = match mode {
                    StoreMode::Replace => flags.clone(),
                    StoreMode::Add => current.iter().chain(flags.iter()).cloned().collect(),
                    StoreMode::Remove => current
                        .iter()
                        .filter(|f| !flags.iter().any(|g| g.eq_ignore_ascii_case(f)))
                        .cloned()
                        .collect(),
                };
                let letters = match imap_store::letters_with_keywords(
                    &selected.dir,
                    &wanted,
                    &message.letters,
                ) {
                    Ok(letters) => letters,
                    Err(error) => {
                        failure = Some(error.to_string());
                        break;
                    }
                };
                if let Ok(Some(path)) = imap_store::set_letters(&selected.dir, message, &letters) {
                    let names = imap_store::read_keywords(&selected.dir);
                    let message = &mut selected.known[index];
                    message.path = path;
                    message.keywords = imap_store::keywords_of(&letters, &names);
                    message.letters = letters;
                }
                stored.push(index);
            }
            let dir = selected.dir.clone();
            // One rescan gives the changed messages their new mod-sequences.
            if condstore {
                if let Ok(folder) = shared.scan(&dir, false) {
                    for &index in &stored {
                        if let Some(now) = folder.by_uid(selected.known[index].uid) {
                            selected.known[index] = now.clone();
                        }
                    }
                }
            }
            for &index in &stored {
                let message = &selected.known[index];
                let mut items = Vec::new();
                if !silent {
                    items.push(format!(
                        "FLAGS {}",
                        flag_list(message, selected.recent.contains(&message.uid))
                    ));
                }
                if uid {
                    items.push(format!("UID {}", message.uid));
                }
                if condstore {
                    items.push(format!("MODSEQ ({})", message.modseq));
                }
                if !silent || condstore {
                    out.extend_from_slice(
                        format!("* {} FETCH ({})\r\n", index + 1, items.join(" ")).as_bytes(),
                    );
                }
            }
            shared.changed(&dir);
            if let Some(why) = failure {
                return no(why);
            }
            if !modified.is_empty() {
                return ok(
                    out,
                    format!(
                        "[MODIFIED {}] conditional STORE failed for some messages",
                        sequence_set(&modified)
                    ),
                );
            }
            ok(out, "STORE completed")
        }
        Command::Copy {
            uid,
            remove,
            set,
            mailbox,
        } => {
            let mut out = refresh(shared, state, !remove);
            let target = match dir_of(state, &mailbox) {
                Ok((_, dir)) if exists(&dir) => dir,
                Ok(_) => return no("[TRYCREATE] no such mailbox"),
                Err(why) => return no(why),
            };
            let Some(selected) = state.selected.as_ref() else {
                return no("no mailbox selected");
            };
            if remove && selected.read_only {
                return no("[READ-ONLY] mailbox is read-only");
            }
            let targets = match resolve(&selected.known, &set, uid) {
                Ok(targets) => targets,
                Err(bad) => return bad,
            };
            let mut pairs = Vec::new();
            for &index in &targets {
                let message = &selected.known[index];
                let Ok(bytes) = std::fs::read(&message.path) else {
                    continue;
                };
                // Keyword letters are per folder: name them again in the target.
                let letters = match imap_store::letters_with_keywords(
                    &target,
                    &message.flags(),
                    &message.letters,
                ) {
                    Ok(letters) => letters,
                    Err(error) => return no(error.to_string()),
                };
                match imap_store::add(&target, &bytes, &letters, &unique(&shared.hostname)) {
                    Ok(base) => pairs.push((message.uid, base)),
                    Err(error) => return no(format!("[SERVERBUG] {error}")),
                }
            }
            let folder = match shared.scan(&target, false) {
                Ok(folder) => folder,
                Err(why) => return no(format!("[SERVERBUG] {why}")),
            };
            shared.changed(&target);
            let mut from = Vec::new();
            let mut to = Vec::new();
            for (old, base) in &pairs {
                if let Some(new) = folder.messages.iter().find(|m| &m.base == base) {
                    from.push(old.to_string());
                    to.push(new.uid.to_string());
                }
            }
            let code = if from.is_empty() {
                String::new()
            } else {
                format!(
                    "[COPYUID {} {} {}] ",
                    folder.validity,
                    from.join(","),
                    to.join(",")
                )
            };
            if remove {
                // MOVE: the COPYUID goes in an untagged OK, then the expunges (RFC 6851 §4.3).
                if !code.is_empty() {
                    out.extend_from_slice(format!("* OK {code}moved\r\n").as_bytes());
                }
                let dir = selected.dir.clone();
                for &index in &targets {
                    let _ = imap_store::remove(&selected.known[index]);
                }
                shared.changed(&dir);
                out.extend(refresh(shared, state, true));
                ok(out, "MOVE completed")
            } else {
                ok(out, format!("{code}COPY completed"))
            }
        }
        Command::Search { uid, keys, ret, .. } => {
            // RFC 7162 §3.1.5: a MODSEQ key turns CONDSTORE on and the answer carries the
            // highest mod-sequence of the messages found.
            let modseq_key = mentions_modseq(&keys);
            state.condstore |= modseq_key;
            let out = refresh(shared, state, false);
            let Some(selected) = state.selected.as_ref() else {
                return no("no mailbox selected");
            };
            let largest_uid = selected.known.last().map(|m| m.uid).unwrap_or(0);
            let count = selected.known.len() as u32;
            let mut hits = Vec::new();
            let mut highest = 0;
            for (index, message) in selected.known.iter().enumerate() {
                let mut context = SearchContext {
                    message,
                    recent: selected.recent.contains(&message.uid),
                    seq: index as u32 + 1,
                    count,
                    largest_uid,
                    bytes: None,
                };
                match search_all(&keys, &mut context) {
                    Ok(true) => {
                        highest = highest.max(message.modseq);
                        hits.push(if uid { message.uid } else { index as u32 + 1 })
                    }
                    Ok(false) => {}
                    Err(why) => return (Vec::new(), Reply::Bad(why), None),
                }
            }
            let mut out = out;
            let line = match ret {
                None => {
                    let mut line = String::from("* SEARCH");
                    for hit in &hits {
                        let _ = write!(line, " {hit}");
                    }
                    if modseq_key && !hits.is_empty() {
                        let _ = write!(line, " (MODSEQ {highest})");
                    }
                    line
                }
                Some(options) => {
                    let mut line = esearch(tag, uid, &options, &hits);
                    if modseq_key && !hits.is_empty() {
                        let _ = write!(line, " MODSEQ {highest}");
                    }
                    line
                }
            };
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            ok(out, "SEARCH completed")
        }
        Command::Idle => ok(Vec::new(), "IDLE completed"),
        _ => (Vec::new(), Reply::Bad("command not supported".into()), None),
    }
}

/// Whether search keys use MODSEQ (at any depth).
fn mentions_modseq(keys: &[Value]) -> bool {
    keys.iter().any(|key| match key {
        Value::Atom(atom) => atom.eq_ignore_ascii_case("MODSEQ"),
        Value::List(inner) => mentions_modseq(inner),
        _ => false,
    })
}

/// The ESEARCH response (RFC 4731 §3) for `hits` (ascending): MIN, MAX, COUNT and ALL as
/// asked (an empty RETURN list means ALL); MIN, MAX and ALL are left out when nothing matched.
fn esearch(tag: &str, uid: bool, options: &[String], hits: &[u32]) -> String {
    let mut line = format!("* ESEARCH (TAG {})", quoted(tag));
    if uid {
        line.push_str(" UID");
    }
    let all = options.is_empty() || options.iter().any(|o| o == "ALL");
    for option in options {
        match option.as_str() {
            "MIN" => {
                if let Some(min) = hits.first() {
                    let _ = write!(line, " MIN {min}");
                }
            }
            "MAX" => {
                if let Some(max) = hits.last() {
                    let _ = write!(line, " MAX {max}");
                }
            }
            "COUNT" => {
                let _ = write!(line, " COUNT {}", hits.len());
            }
            _ => {}
        }
    }
    if all && !hits.is_empty() {
        let _ = write!(line, " ALL {}", sequence_set(hits));
    }
    line
}

/// `1:3,7,9:10` for ascending numbers.
fn sequence_set(numbers: &[u32]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < numbers.len() {
        let start = numbers[index];
        let mut end = start;
        while index + 1 < numbers.len() && numbers[index + 1] == end + 1 {
            index += 1;
            end = numbers[index];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        index += 1;
    }
    out
}

/// A quoted string (tags are atoms, so only `"` and `\\` could need escaping).
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Indices (0-based) of `known` that `set` names (by sequence number or UID).
/// A sequence number past the end (or `*` in an empty mailbox) is the client's protocol
/// error and the whole command is BAD (Dovecot does the same); UIDs that do not exist are
/// ignored (RFC 3501 §6.4.8).
fn resolve(known: &[Message], set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Outcome> {
    if !uid {
        let count = known.len() as u32;
        for bound in set.0.iter().flat_map(|(low, high)| [low, high]) {
            let invalid = match bound {
                imap_proto::SeqBound::Number(n) => *n > count,
                imap_proto::SeqBound::Star => count == 0,
            };
            if invalid {
                return Err((
                    Vec::new(),
                    Reply::Bad(format!(
                        "invalid message sequence number (the mailbox has {count} messages)"
                    )),
                    None,
                ));
            }
        }
    }
    Ok(resolve_numbers(known, set, uid))
}

fn resolve_numbers(known: &[Message], set: &SequenceSet, uid: bool) -> Vec<usize> {
    let largest = if uid {
        known.last().map(|m| m.uid).unwrap_or(0)
    } else {
        known.len() as u32
    };
    known
        .iter()
        .enumerate()
        .filter(|(index, message)| {
            let number = if uid { message.uid } else { *index as u32 + 1 };
            set.contains(number, largest)
        })
        .map(|(index, _)| index)
        .collect()
}

/// IMAP LIST wildcards: `*` matches anything, `%` anything but the delimiter.
fn matches(pattern: &str, name: &str) -> bool {
    fn go(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|at| go(rest, &name[at..])),
            Some((b'%', rest)) => (0..=name.len())
                .take_while(|&at| at == 0 || name[at - 1] != b'/')
                .any(|at| go(rest, &name[at..])),
            Some((&byte, rest)) => name.first() == Some(&byte) && go(rest, &name[1..]),
        }
    }
    let pattern = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &pattern[5..])
    } else {
        pattern.to_string()
    };
    pattern.len() <= 200 && go(pattern.as_bytes(), name.as_bytes())
}

fn subscriptions(mailbox: &Mailbox) -> Vec<String> {
    std::fs::read_to_string(mailbox.path().join("subscriptions"))
        .map(|text| {
            text.lines()
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn save_subscriptions(mailbox: &Mailbox, names: &[String]) -> std::io::Result<()> {
    let path = mailbox.path().join("subscriptions");
    let tmp = mailbox.path().join("subscriptions.tmp");
    let mut text = names.join("\n");
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)
}

struct SearchContext<'a> {
    message: &'a Message,
    recent: bool,
    seq: u32,
    count: u32,
    largest_uid: u32,
    bytes: Option<Vec<u8>>,
}

impl SearchContext<'_> {
    fn bytes(&mut self) -> &[u8] {
        if self.bytes.is_none() {
            self.bytes = Some(crlf(&std::fs::read(&self.message.path).unwrap_or_default()));
        }
        self.bytes.as_deref().unwrap_or_default()
    }
}

fn contains_ci(haystack: &[u8], needle: &str) -> bool {
    let haystack = String::from_utf8_lossy(haystack).to_lowercase();
    haystack.contains(&needle.to_lowercase())
}

fn search_all(keys: &[Value], context: &mut SearchContext<'_>) -> Result<bool, String> {
    let mut index = 0;
    let mut all = true;
    while index < keys.len() {
        let (hit, used) = search_key(&keys[index..], context)?;
        all &= hit;
        index += used;
    }
    Ok(all)
}

/// Evaluates the key at the front of `keys`: (match, tokens used).
fn search_key(keys: &[Value], context: &mut SearchContext<'_>) -> Result<(bool, usize), String> {
    let arg = |n: usize| -> Result<String, String> {
        keys.get(n)
            .and_then(Value::as_text)
            .ok_or_else(|| "search key needs an argument".to_string())
    };
    let key = match keys.first() {
        Some(Value::List(inner)) => return Ok((search_all(inner, context)?, 1)),
        Some(Value::Atom(atom)) => atom.to_ascii_uppercase(),
        _ => return Err("bad search key".into()),
    };
    let message = context.message;
    let flag = |name: &str| message.has(name);
    let result = match key.as_str() {
        "ALL" => (true, 1),
        "SEEN" => (flag("\\Seen"), 1),
        "UNSEEN" => (!flag("\\Seen"), 1),
        "ANSWERED" => (flag("\\Answered"), 1),
        "UNANSWERED" => (!flag("\\Answered"), 1),
        "FLAGGED" => (flag("\\Flagged"), 1),
        "UNFLAGGED" => (!flag("\\Flagged"), 1),
        "DELETED" => (flag("\\Deleted"), 1),
        "UNDELETED" => (!flag("\\Deleted"), 1),
        "DRAFT" => (flag("\\Draft"), 1),
        "UNDRAFT" => (!flag("\\Draft"), 1),
        "RECENT" => (context.recent, 1),
        "NEW" => (context.recent && !flag("\\Seen"), 1),
        "OLD" => (!context.recent, 1),
        "KEYWORD" => (flag(&arg(1)?), 2),
        // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence; flags are not kept
        // with mod-sequences of their own, so the entry is read and passed over.
        "MODSEQ" => {
            let (value, used) = match keys.get(1) {
                Some(Value::String(_)) => (arg(3)?, 4),
                _ => (arg(1)?, 2),
            };
            let since: u64 = value
                .parse()
                .map_err(|_| format!("bad mod-sequence {value:?}"))?;
            (message.modseq >= since, used)
        }
        "UNKEYWORD" => (!flag(&arg(1)?), 2),
        "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => {
            let needle = arg(1)?;
            let (header, _) = split_message(context.bytes());
            let value = field_value(header, &key).unwrap_or_default();
            (value.to_lowercase().contains(&needle.to_lowercase()), 2)
        }
        "HEADER" => {
            let name = arg(1)?.to_ascii_uppercase();
            let needle = arg(2)?;
            let (header, _) = split_message(context.bytes());
            let hit = field_value(header, &name)
                .is_some_and(|value| value.to_lowercase().contains(&needle.to_lowercase()));
            (hit, 3)
        }
        "BODY" => {
            let needle = arg(1)?;
            let (_, body) = split_message(context.bytes());
            (contains_ci(body, &needle), 2)
        }
        "TEXT" => {
            let needle = arg(1)?;
            (contains_ci(context.bytes(), &needle), 2)
        }
        "LARGER" | "SMALLER" => {
            let size: usize = arg(1)?
                .parse()
                .map_err(|_| "a number, please".to_string())?;
            let len = context.bytes().len();
            (
                if key == "LARGER" {
                    len > size
                } else {
                    len < size
                },
                2,
            )
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            let day =
                parse_date(&arg(1)?).ok_or_else(|| "a date (1-Feb-2026), please".to_string())?;
            let have = mtime_day(&message.path);
            let hit = match key.trim_start_matches("SENT") {
                "BEFORE" => have < day,
                "ON" => have == day,
                _ => have >= day,
            };
            (hit, 2)
        }
        "UID" => {
            let set = SequenceSet::parse(&arg(1)?).map_err(|e| e.0)?;
            (set.contains(message.uid, context.largest_uid), 2)
        }
        "NOT" => {
            let (hit, used) = search_key(&keys[1..], context)?;
            (!hit, used + 1)
        }
        "OR" => {
            let (first, used_first) = search_key(&keys[1..], context)?;
            let (second, used_second) = search_key(&keys[1 + used_first..], context)?;
            (first || second, 1 + used_first + used_second)
        }
        other => match SequenceSet::parse(other) {
            Ok(set) => (set.contains(context.seq, context.count), 1),
            Err(_) => return Err(format!("unknown search key {other}")),
        },
    };
    if result.1 > keys.len() {
        return Err("search key needs an argument".into());
    }
    Ok(result)
}

/// A BODY[section]<partial> attribute, parsed.
/// BODY[...] or RFC 3516's BINARY[...] / BINARY.SIZE[...].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binary {
    No,
    Content,
    Size,
}

struct Section {
    peek: bool,
    binary: Binary,
    /// The section text inside the brackets, upper-cased.
    spec: String,
    partial: Option<(usize, usize)>,
}

fn parse_section(item: &str) -> Option<Section> {
    let (peek, binary, rest) = if let Some(rest) = item.strip_prefix("BODY.PEEK[") {
        (true, Binary::No, rest)
    } else if let Some(rest) = item.strip_prefix("BODY[") {
        (false, Binary::No, rest)
    } else if let Some(rest) = item.strip_prefix("BINARY.PEEK[") {
        (true, Binary::Content, rest)
    } else if let Some(rest) = item.strip_prefix("BINARY.SIZE[") {
        (true, Binary::Size, rest)
    } else {
        (false, Binary::Content, item.strip_prefix("BINARY[")?)
    };
    let close = rest.rfind(']')?;
    let spec = rest[..close].to_string();
    // RFC 3516: BINARY takes a part number only (or nothing: the whole message).
    if binary != Binary::No
        && !spec
            .split('.')
            .all(|piece| piece.parse::<u32>().is_ok_and(|n| n > 0) || spec.is_empty())
    {
        return None;
    }
    let tail = &rest[close + 1..];
    let partial = if tail.is_empty() {
        None
    } else {
        let inner = tail.strip_prefix('<')?.strip_suffix('>')?;
        let (start, len) = inner.split_once('.')?;
        Some((start.parse().ok()?, len.parse().ok()?))
    };
    if binary == Binary::Size && partial.is_some() {
        return None;
    }
    Some(Section {
        peek,
        binary,
        spec,
        partial,
    })
}

fn section_bytes(bytes: &[u8], spec: &str) -> Vec<u8> {
    let (header, body) = split_message(bytes);
    let spec = spec.trim();
    if spec.is_empty() {
        return bytes.to_vec();
    }
    if spec == "HEADER" {
        return header.to_vec();
    }
    if spec == "TEXT" {
        return body.to_vec();
    }
    if spec.starts_with(|c: char| c.is_ascii_digit()) {
        return mime::section(bytes, spec).unwrap_or_default();
    }
    if let Some(list) = spec
        .strip_prefix("HEADER.FIELDS.NOT")
        .map(|l| (l, true))
        .or_else(|| spec.strip_prefix("HEADER.FIELDS").map(|l| (l, false)))
    {
        let (names, not) = list;
        let names: Vec<String> = names
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split_whitespace()
            .map(|name| name.trim_matches('"').to_ascii_uppercase())
            .collect();
        let mut out = Vec::new();
        for (name, raw) in fields(header) {
            if names.contains(&name) != not {
                out.extend_from_slice(&raw);
            }
        }
        out.extend_from_slice(b"\r\n");
        return out;
    }
    Vec::new()
}

/// A simple one-part BODYSTRUCTURE from Content-Type (multipart bodies are shown as one
/// text part: a correct but coarse answer).
fn body_structure(bytes: &[u8], extended: bool) -> String {
    if let Some(structure) = mime::structure(bytes, extended) {
        return structure;
    }
    simple_structure(bytes, extended)
}

/// The one-part BODYSTRUCTURE from Content-Type alone (when MIME parsing gives up).
fn simple_structure(bytes: &[u8], extended: bool) -> String {
    let (header, body) = split_message(bytes);
    let content_type = field_value(header, "CONTENT-TYPE").unwrap_or_else(|| "text/plain".into());
    let mut pieces = content_type.split(';');
    let mime = pieces
        .next()
        .unwrap_or("text/plain")
        .trim()
        .to_ascii_uppercase();
    let (kind, subtype) = mime.split_once('/').unwrap_or(("TEXT", "PLAIN"));
    let (kind, subtype) = if kind == "MULTIPART" || kind.is_empty() {
        ("TEXT", "PLAIN")
    } else {
        (kind, subtype)
    };
    let charset = pieces
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "us-ascii".into());
    let encoding =
        field_value(header, "CONTENT-TRANSFER-ENCODING").unwrap_or_else(|| "7bit".into());
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    let mut out = format!(
        "({} {} (\"CHARSET\" {}) NIL NIL {} {}",
        string(kind.as_bytes()),
        string(subtype.as_bytes()),
        string(charset.as_bytes()),
        string(encoding.to_ascii_uppercase().as_bytes()),
        body.len()
    );
    if kind == "TEXT" {
        let _ = write!(out, " {lines}");
    }
    if extended {
        out.push_str(" NIL NIL NIL NIL");
    }
    out.push(')');
    out
}

/// Base64 (RFC 2045 §6.8) to octets: characters outside the alphabet are skipped, `=` ends
/// the data, a dangling sextet is dropped.
fn decode_base64(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in text {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7) to octets: `=XX` escapes, `=` line ends are soft breaks,
/// a malformed `=` is kept as it is.
fn decode_quoted_printable(text: &[u8]) -> Vec<u8> {
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if byte != b'=' {
            out.push(byte);
            index += 1;
            continue;
        }
        match (text.get(index + 1), text.get(index + 2)) {
            (Some(b'\r'), Some(b'\n')) => index += 3,
            (Some(b'\n'), _) => index += 2,
            (Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                out.push(hex(high).unwrap_or(0) << 4 | hex(low).unwrap_or(0));
                index += 3;
            }
            _ => {
                out.push(b'=');
                index += 1;
            }
        }
    }
    out
}

/// The MIME structure through `mail-parser`: BODYSTRUCTURE / BODY of multipart messages and
/// the raw bytes of part-number sections. Broken MIME still shows (the parser is lenient;
/// when it gives up, the one-part answer stands).
mod mime {
    use super::{envelope, string};
    use mail_parser::{Message, MessageParser, MimeHeaders};
    use std::fmt::Write as _;

    /// Deepest nesting followed.
    const MAX_DEPTH: usize = 16;

    pub(super) fn structure(bytes: &[u8], extended: bool) -> Option<String> {
        let message = MessageParser::default().parse(bytes)?;
        Some(part(&message, bytes, 0, extended, 0))
    }

    fn raw(bytes: &[u8], from: u32, to: u32) -> &[u8] {
        bytes.get(from as usize..to as usize).unwrap_or_default()
    }

    fn part(message: &Message<'_>, bytes: &[u8], id: u32, extended: bool, depth: usize) -> String {
        let Some(node) = message.parts.get(id as usize) else {
            return "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".into();
        };
        let content_type = node.content_type();
        if let (Some(children), true) = (node.sub_parts(), depth < MAX_DEPTH) {
            if !children.is_empty() {
                let mut out = String::from("(");
                for &child in children {
                    out.push_str(&part(message, bytes, child, extended, depth + 1));
                }
                let subtype = content_type
                    .and_then(|ct| ct.subtype())
                    .unwrap_or("mixed")
                    .to_ascii_uppercase();
                let _ = write!(out, " {}", string(subtype.as_bytes()));
                if extended {
                    match content_type.and_then(|ct| ct.attribute("boundary")) {
                        Some(boundary) => {
                            let _ = write!(
                                out,
                                " (\"BOUNDARY\" {}) NIL NIL NIL",
                                string(boundary.as_bytes())
                            );
                        }
                        None => out.push_str(" NIL NIL NIL NIL"),
                    }
                }
                out.push(')');
                return out;
            }
        }
        let kind = content_type
            .map(|ct| ct.ctype().to_ascii_uppercase())
            .filter(|kind| kind != "MULTIPART")
            .unwrap_or_else(|| "TEXT".into());
        let subtype = match content_type.and_then(|ct| ct.subtype()) {
            Some(subtype)
                if kind != "TEXT"
                    || content_type
                        .is_some_and(|ct| !ct.ctype().eq_ignore_ascii_case("multipart")) =>
            {
                subtype.to_ascii_uppercase()
            }
            _ => "PLAIN".into(),
        };
        let mut params = Vec::new();
        if let Some(attributes) = content_type.and_then(|ct| ct.attributes()) {
            for attribute in attributes.iter().take(16) {
                params.push(format!(
                    "{} {}",
                    string(attribute.name.to_ascii_uppercase().as_bytes()),
                    string(attribute.value.as_bytes())
                ));
            }
        }
        if params.is_empty() && kind == "TEXT" {
            params.push("\"CHARSET\" \"US-ASCII\"".into());
        }
        let params = if params.is_empty() {
            "NIL".to_string()
        } else {
            format!("({})", params.join(" "))
        };
        let encoding = node
            .content_transfer_encoding()
            .unwrap_or("7bit")
            .to_ascii_uppercase();
        let body = raw(bytes, node.offset_body, node.offset_end);
        let lines = body.iter().filter(|&&byte| byte == b'\n').count();
        let mut out = format!(
            "({} {} {params} {} NIL {} {}",
            string(kind.as_bytes()),
            string(subtype.as_bytes()),
            super::nstring(node.content_id()),
            string(encoding.as_bytes()),
            body.len()
        );
        if kind == "TEXT" {
            let _ = write!(out, " {lines}");
        } else if kind == "MESSAGE" && subtype == "RFC822" {
            let inner = structure(body, extended)
                .unwrap_or_else(|| "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".into());
            let _ = write!(out, " {} {inner} {lines}", envelope(body));
        }
        if extended {
            out.push_str(" NIL NIL NIL NIL");
        }
        out.push(')');
        out
    }

    /// The bytes of a part-number section (`1`, `2.1`, `1.MIME`), or None when no such part.
    /// RFC 3516: the content of part `spec` (`""`: the whole message) with its
    /// Content-Transfer-Encoding undone; `[UNKNOWN-CTE]` for an encoding we cannot undo.
    pub(super) fn binary(bytes: &[u8], spec: &str) -> Result<Vec<u8>, String> {
        if spec.is_empty() {
            return Ok(bytes.to_vec());
        }
        let missing = || "[NONEXISTENT] no such body part".to_string();
        let message = MessageParser::default().parse(bytes).ok_or_else(missing)?;
        let mut id: u32 = 0;
        for (depth, piece) in spec.split('.').enumerate() {
            if depth > MAX_DEPTH {
                return Err(missing());
            }
            let number: usize = piece.parse().map_err(|_| missing())?;
            let node = message.parts.get(id as usize).ok_or_else(missing)?;
            match node.sub_parts() {
                Some(children) if !children.is_empty() => {
                    id = *children
                        .get(number.checked_sub(1).ok_or_else(missing)?)
                        .ok_or_else(missing)?
                }
                _ if number == 1 => {}
                _ => return Err(missing()),
            }
        }
        let node = message.parts.get(id as usize).ok_or_else(missing)?;
        let body = raw(bytes, node.offset_body, node.offset_end);
        if node
            .sub_parts()
            .is_some_and(|children| !children.is_empty())
        {
            return Ok(body.to_vec());
        }
        let encoding = node
            .content_transfer_encoding()
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
            "base64" => Ok(super::decode_base64(body)),
            "quoted-printable" => Ok(super::decode_quoted_printable(body)),
            other => Err(format!(
                "[UNKNOWN-CTE] cannot decode the transfer encoding {other:?}"
            )),
        }
    }

    pub(super) fn section(bytes: &[u8], spec: &str) -> Option<Vec<u8>> {
        let message = MessageParser::default().parse(bytes)?;
        let mut id: u32 = 0;
        let mut suffix = None;
        for (depth, piece) in spec.split('.').enumerate() {
            if depth > MAX_DEPTH {
                return None;
            }
            let Ok(number) = piece.parse::<usize>() else {
                suffix = Some(piece.to_string());
                break;
            };
            let node = message.parts.get(id as usize)?;
            match node.sub_parts() {
                Some(children) if !children.is_empty() => {
                    id = *children.get(number.checked_sub(1)?)?
                }
                _ if number == 1 => {}
                _ => return None,
            }
        }
        let node = message.parts.get(id as usize)?;
        match suffix.as_deref() {
            None => Some(raw(bytes, node.offset_body, node.offset_end).to_vec()),
            Some("MIME") => Some(raw(bytes, node.offset_header, node.offset_body).to_vec()),
            Some(other) => {
                // HEADER / TEXT / HEADER.FIELDS of an embedded message/rfc822.
                let body = raw(bytes, node.offset_body, node.offset_end);
                let rest = spec
                    .rsplit_once(&format!(".{other}"))
                    .map(|(_, r)| r)
                    .unwrap_or("");
                Some(super::section_bytes(body, &format!("{other}{rest}")))
            }
        }
    }
}

fn address_list(value: Option<String>) -> String {
    let Some(value) = value else {
        return "NIL".into();
    };
    let mut out = String::from("(");
    for one in value.split(',').filter(|a| !a.trim().is_empty()) {
        let one = one.trim();
        let (name, address) = match (one.find('<'), one.rfind('>')) {
            (Some(open), Some(close)) if open < close => (
                Some(one[..open].trim().trim_matches('"').to_string()),
                &one[open + 1..close],
            ),
            _ => (None, one),
        };
        let (local, domain) = address.split_once('@').unwrap_or((address, ""));
        let _ = write!(
            out,
            "({} NIL {} {})",
            nstring(name.as_deref().filter(|n| !n.is_empty())),
            string(local.as_bytes()),
            string(domain.as_bytes())
        );
    }
    out.push(')');
    if out == "()" {
        "NIL".into()
    } else {
        out
    }
}

fn envelope(bytes: &[u8]) -> String {
    let (header, _) = split_message(bytes);
    let get = |name: &str| field_value(header, name);
    let from = address_list(get("FROM"));
    let sender = get("SENDER")
        .map(|v| address_list(Some(v)))
        .unwrap_or_else(|| from.clone());
    let reply_to = get("REPLY-TO")
        .map(|v| address_list(Some(v)))
        .unwrap_or_else(|| from.clone());
    format!(
        "({} {} {} {} {} {} {} {} {} {})",
        nstring(get("DATE").as_deref()),
        nstring(get("SUBJECT").as_deref()),
        from,
        sender,
        reply_to,
        address_list(get("TO")),
        address_list(get("CC")),
        address_list(get("BCC")),
        nstring(get("IN-REPLY-TO").as_deref()),
        nstring(get("MESSAGE-ID").as_deref()),
    )
}

fn fetch(
    shared: &ImapShared,
    state: &mut UserState,
    uid: bool,
    set: &SequenceSet,
    items: &[String],
    changed_since: Option<u64>,
) -> Outcome {
    // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE turn CONDSTORE on.
    if changed_since.is_some() || items.iter().any(|item| item == "MODSEQ") {
        state.condstore = true;
    }
    let condstore = state.condstore;
    let mut out = refresh(shared, state, false);
    let Some(selected) = state.selected.as_mut() else {
        return no("no mailbox selected");
    };
    let mut items: Vec<String> = items
        .iter()
        .flat_map(|item| match item.as_str() {
            "ALL" => vec!["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
            "FAST" => vec!["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
            "FULL" => vec!["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
            other => vec![other],
        })
        .map(str::to_string)
        .collect();
    if uid && !items.iter().any(|item| item == "UID") {
        items.insert(0, "UID".into());
    }
    if changed_since.is_some() && !items.iter().any(|item| item == "MODSEQ") {
        items.push("MODSEQ".into());
    }
    for item in &items {
        let known = matches!(
            item.as_str(),
            "UID"
                | "MODSEQ"
                | "FLAGS"
                | "INTERNALDATE"
                | "RFC822.SIZE"
                | "RFC822"
                | "RFC822.HEADER"
                | "RFC822.TEXT"
                | "ENVELOPE"
                | "BODY"
                | "BODYSTRUCTURE"
        ) || parse_section(item).is_some();
        if !known {
            return (
                Vec::new(),
                Reply::Bad(format!("unknown FETCH item {item}")),
                None,
            );
        }
    }
    let mut targets = match resolve(&selected.known, set, uid) {
        Ok(targets) => targets,
        Err(bad) => return bad,
    };
    if let Some(since) = changed_since {
        targets.retain(|&index| selected.known[index].modseq > since);
    }
    let mut changed = false;
    let mut seen_now: Vec<usize> = Vec::new();
    for index in targets {
        let message = selected.known[index].clone();
        let mut bytes: Option<Vec<u8>> = None;
        let load = |bytes: &mut Option<Vec<u8>>| -> Vec<u8> {
            if bytes.is_none() {
                *bytes = Some(crlf(&std::fs::read(&message.path).unwrap_or_default()));
            }
            bytes.clone().unwrap_or_default()
        };
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut set_seen = false;
        for item in &items {
            let mut part = Vec::new();
            match item.as_str() {
                "UID" => part.extend_from_slice(format!("UID {}", message.uid).as_bytes()),
                "MODSEQ" => {
                    part.extend_from_slice(format!("MODSEQ ({})", message.modseq).as_bytes())
                }
                "FLAGS" => {}
                "INTERNALDATE" => part.extend_from_slice(
                    format!("INTERNALDATE \"{}\"", internal_date(&message.path)).as_bytes(),
                ),
                "RFC822.SIZE" => part.extend_from_slice(
                    format!("RFC822.SIZE {}", load(&mut bytes).len()).as_bytes(),
                ),
                "ENVELOPE" => part.extend_from_slice(
                    format!("ENVELOPE {}", envelope(&load(&mut bytes))).as_bytes(),
                ),
                "BODYSTRUCTURE" => part.extend_from_slice(
                    format!("BODYSTRUCTURE {}", body_structure(&load(&mut bytes), true)).as_bytes(),
                ),
                "BODY" => part.extend_from_slice(
                    format!("BODY {}", body_structure(&load(&mut bytes), false)).as_bytes(),
                ),
                "RFC822" | "RFC822.HEADER" | "RFC822.TEXT" => {
                    let all = load(&mut bytes);
                    let (header, body) = split_message(&all);
                    let data = match item.as_str() {
                        "RFC822" => &all[..],
                        "RFC822.HEADER" => header,
                        _ => body,
                    };
                    set_seen |= item != "RFC822.HEADER";
                    part.extend_from_slice(item.as_bytes());
                    part.push(b' ');
                    push_string(&mut part, data);
                }
                other => {
                    let Some(section) = parse_section(other) else {
                        continue;
                    };
                    set_seen |= !section.peek;
                    let (data, name) = if section.binary == Binary::No {
                        let data = section_bytes(&load(&mut bytes), &section.spec);
                        (data, format!("BODY[{}]", section.spec))
                    } else {
                        let data = match mime::binary(&load(&mut bytes), &section.spec) {
                            Ok(data) => data,
                            Err(why) => return no(why),
                        };
                        if section.binary == Binary::Size {
                            part.extend_from_slice(
                                format!("BINARY.SIZE[{}] {}", section.spec, data.len()).as_bytes(),
                            );
                            parts.push(part);
                            continue;
                        }
                        (data, format!("BINARY[{}]", section.spec))
                    };
                    let push_string = |out: &mut Vec<u8>, data: &[u8]| {
                        if section.binary != Binary::No && data.contains(&0) {
                            // literal8 (RFC 3516 §4.3): the content has NULs.
                            out.extend_from_slice(format!("~{{{}}}\r\n", data.len()).as_bytes());
                            out.extend_from_slice(data);
                        } else {
                            push_string(out, data);
                        }
                    };
                    match section.partial {
                        Some((start, len)) => {
                            let from = start.min(data.len());
                            let to = start.saturating_add(len).min(data.len());
                            part.extend_from_slice(format!("{name}<{start}> ").as_bytes());
                            push_string(&mut part, &data[from..to]);
                        }
                        None => {
                            part.extend_from_slice(format!("{name} ").as_bytes());
                            push_string(&mut part, &data);
                        }
                    }
                }
            }
            if item != "FLAGS" {
                parts.push(part);
            }
        }
        let mut flags_changed = false;
        if set_seen && !selected.read_only && !message.has("\\Seen") {
            let letters = imap_store::letters_for(&["\\Seen".to_string()], &message.letters);
            let letters = imap_store::letters_for(
                &message
                    .flags()
                    .iter()
                    .map(|f| f.to_string())
                    .chain(std::iter::once("\\Seen".to_string()))
                    .collect::<Vec<_>>(),
                &letters,
            );
            if let Ok(Some(path)) = imap_store::set_letters(&selected.dir, &message, &letters) {
                let entry = &mut selected.known[index];
                entry.path = path;
                entry.letters = letters;
                flags_changed = true;
                changed = true;
                seen_now.push(index);
            }
        }
        if items.iter().any(|i| i == "FLAGS") || flags_changed {
            let entry = &selected.known[index];
            let recent = selected.recent.contains(&entry.uid);
            parts.push(format!("FLAGS {}", flag_list(entry, recent)).into_bytes());
        }
        out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
        for (position, part) in parts.iter().enumerate() {
            if position > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b")\r\n");
    }
    if changed {
        let dir = selected.dir.clone();
        // The \Seen set by reading changed mod-sequences: with CONDSTORE on, the client
        // gets them (RFC 7162 §3.1.4 wants MODSEQ with every flag change it is told of).
        if condstore {
            if let Ok(folder) = shared.scan(&dir, false) {
                for &index in &seen_now {
                    if let Some(now) = folder.by_uid(selected.known[index].uid) {
                        selected.known[index] = now.clone();
                        let uid_part = if uid {
                            format!("UID {} ", now.uid)
                        } else {
                            String::new()
                        };
                        let _ = write!(
                            out_text(&mut out),
                            "* {} FETCH ({uid_part}MODSEQ ({}))\r\n",
                            index + 1,
                            now.modseq
                        );
                    }
                }
            }
        }
        shared.changed(&dir);
    }
    ok(out, "FETCH completed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_store_are_refused() {
        for bad in ["../x", "/etc", "a/../../b", "a//b", "a.b", "", "x/", ".."] {
            assert!(folder_of(bad).is_err(), "{bad}");
        }
        assert_eq!(folder_of("Lists/rust"), Ok(Some("Lists.rust".into())));
        assert_eq!(folder_of("INBOX"), Ok(None));
        assert_eq!(folder_of("Caf&AOk-"), Ok(Some("Caf&AOk-".into())));
        assert!(folder_of("Caf&name").is_err());
    }

    #[test]
    fn transfer_encodings_undone() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_base64(b"AAEC"), [0, 1, 2]);
        assert_eq!(
            decode_quoted_printable(b"caf=C3=A9 =\r\nau lait=3D=ZZ\r\n"),
            "café au lait==ZZ\r\n".as_bytes()
        );
        let message = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n";
        assert_eq!(mime::binary(message, "1"), Ok(vec![0, 1, 2]));
        assert!(mime::binary(message, "2").is_err_and(|why| why.contains("UNKNOWN-CTE")));
        assert!(mime::binary(message, "3").is_err_and(|why| why.contains("NONEXISTENT")));
        assert_eq!(mime::binary(message, "").as_deref(), Ok(&message[..]));
    }

    #[test]
    fn wildcards_and_dates() {
        assert!(matches("*", "Lists/rust") && matches("%", "Sent") && !matches("%", "Lists/rust"));
        assert!(matches("inbox", "INBOX") && matches("Lists/%", "Lists/rust"));
        assert_eq!(parse_date("1-Jan-1970"), Some(0));
        assert_eq!(parse_date("07-Dec-2026"), Some(20_794));
        assert_eq!(parse_date("7-Foo-2026"), None);
        assert_eq!(sequence_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(
            esearch("a1", true, &["MIN".into(), "COUNT".into()], &[4, 9]),
            "* ESEARCH (TAG \"a1\") UID MIN 4 COUNT 2"
        );
        assert_eq!(esearch("a2", false, &[], &[]), "* ESEARCH (TAG \"a2\")");
        assert_eq!(
            esearch("a3", false, &["ALL".into(), "MAX".into()], &[1, 2]),
            "* ESEARCH (TAG \"a3\") MAX 2 ALL 1:2"
        );
        let at = |text: &str| {
            parse_date_time(text)
                .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                .map(|elapsed| elapsed.as_secs())
        };
        assert_eq!(at(" 1-Jan-1970 01:00:00 +0100"), Some(0));
        assert_eq!(at("07-Dec-2026 00:00:10 +0000"), Some(20_794 * 86_400 + 10));
        assert_eq!(
            at("07-Dec-2026 00:00:10 -0030"),
            Some(20_794 * 86_400 + 10 + 1800)
        );
        for bad in [
            "07-Dec-2026 24:00:00 +0000",
            "07-Dec-2026 1:00:00 +0000",
            "07-Dec-2026 00:00:00 0000",
            "07-Dec-2026",
            "1-Jan-1970 00:00:00 +0100",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn sections() {
        let message = crlf(b"From: a@b\nSubject: hi\n\nbody\n");
        assert_eq!(section_bytes(&message, "TEXT"), b"body\r\n");
        assert_eq!(
            section_bytes(&message, "HEADER.FIELDS (SUBJECT)"),
            b"Subject: hi\r\n\r\n"
        );
        assert!(body_structure(&message, true).starts_with("(\"TEXT\" \"PLAIN\""));
        assert!(envelope(&message).contains("(NIL NIL \"a\" \"b\")"));
        assert_eq!(section_bytes(&message, "1"), b"body\r\n");
    }

    #[test]
    fn multipart_structure_and_parts() {
        let message = crlf(
            b"Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n\
              --b\nContent-Type: text/plain; charset=utf-8\n\nhello\n\
              --b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nAAAA\n\
              --b--\n",
        );
        let structure = body_structure(&message, true);
        assert!(
            structure.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\")"),
            "{structure}"
        );
        assert!(
            structure.contains("\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\""),
            "{structure}"
        );
        assert!(
            structure.contains(" \"MIXED\" (\"BOUNDARY\" \"b\")"),
            "{structure}"
        );
        assert!(String::from_utf8_lossy(&section_bytes(&message, "1")).starts_with("hello"));
        assert!(String::from_utf8_lossy(&section_bytes(&message, "2")).starts_with("AAAA"));
        assert!(
            String::from_utf8_lossy(&section_bytes(&message, "2.MIME")).contains("application/pdf")
        );
        assert!(section_bytes(&message, "3").is_empty());
        // Broken MIME never panics and still shows.
        for broken in [
            &b"Content-Type: multipart/mixed; boundary=\n\n--\n--"[..],
            b"Content-Type: multipart/mixed\n\nno boundary",
            b"\xff\xfe: \x00\n\n",
            b"",
        ] {
            let broken = crlf(broken);
            assert!(body_structure(&broken, true).starts_with('('));
            let _ = section_bytes(&broken, "1.2.3.MIME");
            let _ = envelope(&broken);
        }
    }
}
