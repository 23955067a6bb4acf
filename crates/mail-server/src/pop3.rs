//! POP3 on the same Maildirs SMTP delivers into (seed §2.3.4): port 110 with STLS and 995
//! with implicit TLS, the tokio driver of `pop3_proto`'s session. A maildrop is locked by one
//! session at a time (a second gets `-ERR [IN-USE]`); deletions happen after QUIT only, and
//! a dropped connection deletes nothing.

use crate::maildir::Store;
use crate::net::{accept_tls, SessionError};
use crate::policy::Policy;
use netio::tcp::Conn;
use netio::wire::{self, Dir};
use pop3_proto::{Config, Event, Listed, LoginFailure, ServerSession};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What every POP3 connection of a server shares.
pub(crate) struct Pop3Shared {
    pub(crate) hostname: String,
    pub(crate) policy: Policy,
    pub(crate) store: Store,
    pub(crate) tls: Option<tls::TlsAcceptor>,
    /// Whether USER/PASS work without TLS (the world on loopback; off by default).
    pub(crate) plaintext_login: bool,
    /// Whether APOP is offered (a timestamp in the greeting).
    pub(crate) apop: bool,
    /// How long a failed login waits before its `-ERR`.
    pub(crate) auth_failure_delay: Duration,
    /// The maildrops locked by a session (`local@domain`).
    locks: Mutex<HashSet<String>>,
}

impl Pop3Shared {
    pub(crate) fn new(
        hostname: String,
        policy: Policy,
        store: Store,
        tls: Option<tls::TlsAcceptor>,
        plaintext_login: bool,
        apop: bool,
        auth_failure_delay: Duration,
    ) -> Pop3Shared {
        Pop3Shared {
            hostname,
            policy,
            store,
            tls,
            plaintext_login,
            apop,
            auth_failure_delay,
            locks: Mutex::new(HashSet::new()),
        }
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The lock on one maildrop, released when the session ends however it ends.
struct Lock {
    shared: Arc<Pop3Shared>,
    address: String,
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.shared.locks().remove(&self.address);
    }
}

/// What the session holds once logged in.
struct Maildrop {
    _lock: Lock,
    paths: Vec<PathBuf>,
}

/// The UIDL of a Maildir file: its unique name, without the `:2,` info or `,S=` fields.
fn uid_of(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name.split(':').next().unwrap_or(&name);
    let base = base.split(',').next().unwrap_or(base);
    // RFC 1939 §7: 1 to 70 characters in 0x21..0x7E.
    base.chars()
        .filter(|c| ('!'..='~').contains(c))
        .take(70)
        .collect()
}

/// The size as sent: the file's bytes with each bare LF counted as CRLF.
fn sent_size(path: &std::path::Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    let bare = bytes
        .iter()
        .enumerate()
        .filter(|&(index, &byte)| byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r'))
        .count();
    let mut size = bytes.len() + bare;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        size += 2;
    }
    Ok(size as u64)
}

/// A greeting timestamp unique to this session (RFC 1939 §7: `<process-ID.clock@hostname>`),
/// with a counter so two sessions in one microsecond differ.
fn apop_banner(hostname: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "<{}.{}.{}{:06}@{hostname}>",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        clock.as_secs(),
        clock.subsec_micros()
    )
}

/// One connection: plaintext, then TLS after STLS; TLS from the start with `implicit_tls`.
pub(crate) async fn serve_connection(
    shared: Arc<Pop3Shared>,
    stream: TcpStream,
    conn: Conn,
    implicit_tls: bool,
) {
    let peer = conn.peer;
    let result = async {
        let mut config = Config::new(shared.hostname.clone());
        config.tls_available = shared.tls.is_some();
        config.plaintext_login = shared.plaintext_login;
        if shared.apop {
            config.apop_banner = Some(apop_banner(&shared.hostname));
        }
        let mut maildrop = None;
        match (&shared.tls, implicit_tls) {
            (Some(acceptor), true) => {
                let mut secure = accept_tls(acceptor, stream).await?;
                config.tls_active = true;
                let mut session = ServerSession::new(config, Instant::now());
                drive(&shared, &conn, &mut secure, &mut session, &mut maildrop).await?;
            }
            (None, true) => return Err(SessionError::NoCertificate),
            (_, false) => {
                let mut stream = stream;
                let mut session = ServerSession::new(config, Instant::now());
                if drive(&shared, &conn, &mut stream, &mut session, &mut maildrop).await? {
                    let Some(acceptor) = &shared.tls else {
                        return Ok(());
                    };
                    let mut secure = accept_tls(acceptor, stream).await?;
                    session.tls_established(Instant::now());
                    drive(&shared, &conn, &mut secure, &mut session, &mut maildrop).await?;
                }
            }
        }
        Ok::<(), SessionError>(())
    }
    .await;
    if let Err(error) = result {
        tracing::info!(%peer, "pop3 connection ended: {error}");
    }
}

/// Runs the session until it closes (`false`) or asks for TLS (`true`).
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Pop3Shared>,
    conn: &Conn,
    io: &mut S,
    session: &mut ServerSession,
    maildrop: &mut Option<Maildrop>,
) -> std::io::Result<bool> {
    let mut buffer = vec![0u8; 8192];
    let trace = wire::enabled();
    loop {
        let mut start_tls = false;
        loop {
            while let Some(bytes) = session.poll_transmit() {
                if trace {
                    let first = bytes.split(|&byte| byte == b'\r').next().unwrap_or(&[]);
                    wire::emit(
                        "pop3",
                        Dir::Send,
                        conn.local,
                        conn.peer,
                        &String::from_utf8_lossy(first),
                    );
                }
                io.write_all(&bytes).await?;
            }
            let Some(event) = session.poll_event() else {
                break;
            };
            match event {
                Event::StartTls => start_tls = true,
                other => answer(shared, conn, session, maildrop, other).await,
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
        tokio::select! {
            read = io.read(&mut buffer), if session.wants_input() => {
                match read? {
                    0 => session.handle_eof(),
                    n => {
                        if trace {
                            for line in String::from_utf8_lossy(&buffer[..n]).lines() {
                                // Passwords never reach the recording.
                                let shown = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                                    Some("PASS") => "PASS <redacted>".to_string(),
                                    Some("AUTH") if line.len() > 11 => "AUTH PLAIN <redacted>".to_string(),
                                    _ => line.to_string(),
                                };
                                wire::emit("pop3", Dir::Recv, conn.local, conn.peer, &shown);
                            }
                        }
                        session.handle_input(Instant::now(), &buffer[..n]);
                    }
                }
            }
            () = sleep => session.handle_timeout(Instant::now()),
            () = conn.shutdown.triggered() => {
                // Ending without the update phase deletes nothing.
                return Ok(false);
            }
        }
    }
}

async fn answer(
    shared: &Arc<Pop3Shared>,
    conn: &Conn,
    session: &mut ServerSession,
    maildrop: &mut Option<Maildrop>,
    event: Event,
) {
    let peer = conn.peer;
    match event {
        Event::Login { user, password } => {
            let Some(address) = shared.policy.authenticate(&user, &password) else {
                tracing::warn!(%peer, %user, "pop3: authentication failed");
                tokio::time::sleep(shared.auth_failure_delay).await;
                session.login_failed(LoginFailure::Credentials);
                return;
            };
            open(shared, session, maildrop, address, peer).await;
        }
        Event::Apop {
            user,
            digest,
            banner,
        } => {
            let Some(address) = shared.policy.authenticate_apop(&user, &banner, &digest) else {
                tracing::warn!(%peer, %user, "pop3: APOP authentication failed");
                tokio::time::sleep(shared.auth_failure_delay).await;
                session.login_failed(LoginFailure::Credentials);
                return;
            };
            open(shared, session, maildrop, address, peer).await;
        }
        Event::Retrieve { index, .. } => {
            let Some(path) = maildrop
                .as_ref()
                .and_then(|drop| drop.paths.get(index))
                .cloned()
            else {
                session.message_missing();
                return;
            };
            match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
                Ok(Ok(bytes)) => session.message(&bytes),
                _ => session.message_missing(),
            }
        }
        Event::Commit { deleted } => {
            let paths: Vec<PathBuf> = maildrop
                .as_ref()
                .map(|drop| {
                    deleted
                        .iter()
                        .filter_map(|&index| drop.paths.get(index).cloned())
                        .collect()
                })
                .unwrap_or_default();
            let count = paths.len();
            let removed = tokio::task::spawn_blocking(move || {
                let mut failed = Vec::new();
                let mut dirs = HashSet::new();
                for path in &paths {
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        // Gone already (another agent): what the user wanted.
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => failed.push(format!("{}: {error}", path.display())),
                    }
                    if let Some(dir) = path.parent() {
                        dirs.insert(dir.to_path_buf());
                    }
                }
                for dir in dirs {
                    let _ = std::fs::File::open(&dir).and_then(|dir| dir.sync_all());
                }
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err(failed.join("; "))
                }
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
            if let Err(error) = &removed {
                tracing::error!(%peer, "pop3: update phase: {error}");
            } else if count > 0 {
                tracing::info!(%peer, user = session.user().unwrap_or(""), count, "pop3: messages deleted");
            }
            *maildrop = None;
            session.commit_done(removed);
        }
        Event::StartTls => {}
        Event::Closed => *maildrop = None,
    }
}

/// Locks `address`'s maildrop and lists it.
async fn open(
    shared: &Arc<Pop3Shared>,
    session: &mut ServerSession,
    maildrop: &mut Option<Maildrop>,
    address: String,
    peer: std::net::SocketAddr,
) {
    if !shared.locks().insert(address.clone()) {
        tracing::info!(%peer, %address, "pop3: maildrop in use");
        session.login_failed(LoginFailure::InUse);
        return;
    }
    let lock = Lock {
        shared: shared.clone(),
        address: address.clone(),
    };
    let Some((local, domain)) = address.split_once('@') else {
        session.login_failed(LoginFailure::Temporary("bad address".into()));
        return;
    };
    let mailbox = match shared.store.mailbox(domain, local) {
        Ok(mailbox) => mailbox,
        Err(error) => {
            tracing::error!(%peer, "pop3: {error}");
            session.login_failed(LoginFailure::Temporary("mailbox unavailable".into()));
            return;
        }
    };
    let listed = tokio::task::spawn_blocking(move || {
        let paths = mailbox.messages().map_err(|error| error.to_string())?;
        let mut listed = Vec::with_capacity(paths.len());
        let mut kept = Vec::with_capacity(paths.len());
        for path in paths {
            // A message removed meanwhile is simply not listed.
            if let Ok(size) = sent_size(&path) {
                listed.push(Listed {
                    uid: uid_of(&path),
                    size,
                });
                kept.push(path);
            }
        }
        Ok::<_, String>((kept, listed))
    })
    .await
    .unwrap_or_else(|error| Err(error.to_string()));
    match listed {
        Ok((paths, listed)) => {
            tracing::info!(%peer, %address, messages = listed.len(), "pop3: logged in");
            *maildrop = Some(Maildrop { _lock: lock, paths });
            session.login_ok(&address, listed);
        }
        Err(error) => {
            tracing::error!(%peer, "pop3: cannot list the maildrop: {error}");
            session.login_failed(LoginFailure::Temporary("maildrop unavailable".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_sizes_from_maildir_files() {
        let path = std::path::Path::new("/x/new/1796531551.M500102P20103Q1.mail.h,S=610:2,S");
        assert_eq!(uid_of(path), "1796531551.M500102P20103Q1.mail.h");
        let dir = std::env::temp_dir().join(format!("pop3-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m");
        std::fs::write(&file, b"a\r\nb\nc").unwrap();
        assert_eq!(sent_size(&file).unwrap(), 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
