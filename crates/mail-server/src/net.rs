//! The SMTP listeners: each connection runs a `smtp_proto::ServerSession`, answers its
//! decisions from the policy, stores accepted messages in the queue (the `250` comes after the
//! fsync) and wakes the delivery loop. The only module with server sockets.

use crate::config::{Listener, ListenerKind, MailConfig};
use crate::delivery::Deliverer;
use crate::policy::Policy;
use crate::queue::{Envelope, Queue, QueuedRecipient};
use netio::tcp::{Conn, TcpLimits};
use netio::wire::{self, Dir};
use netio::Shutdown;
use smtp_proto::{
    AuthPolicy, EnhancedCode, Reply, ServerConfig, ServerEvent, ServerSession, VrfyPolicy,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What every connection shares.
struct Shared {
    config: MailConfig,
    policy: Policy,
    queue: Arc<Queue>,
    deliverer: Deliverer,
    /// TLS for STARTTLS and port 465.
    tls: Option<tls::TlsAcceptor>,
    /// POP3 on the same mailboxes.
    pop3: Arc<crate::pop3::Pop3Shared>,
    imap: Arc<crate::imap::ImapShared>,
    /// DKIM and SPF checks of mail from other servers, when on.
    checker: Option<crate::auth::Checker>,
    /// SMTP connections open per client address (Postfix's anvil).
    clients: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open SMTP connection counted against its client's limit; uncounted when dropped.
struct ClientSlot<'a> {
    shared: &'a Shared,
    ip: std::net::IpAddr,
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut clients = self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = clients.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                clients.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    /// Counts a new connection from `ip`; None when that client has its limit open already
    /// (`mynetworks` are exempt, as Postfix's smtpd_client_event_limit_exceptions).
    fn client_slot(&self, ip: std::net::IpAddr) -> Option<Option<ClientSlot<'_>>> {
        let limit = self.config.max_connections_per_client;
        if limit == 0
            || self
                .config
                .networks
                .iter()
                .any(|network| network.contains(ip))
        {
            return Some(None);
        }
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = clients.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Some(ClientSlot { shared: self, ip }))
    }
}

/// A handle that submits messages as an authenticated user would on port 587, without a
/// socket: the web mail's path into the same policy checks, added fields, DKIM signature and
/// fsynced queue commit.
#[derive(Clone)]
pub struct Submitter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submitter").finish_non_exhaustive()
    }
}

impl Submitter {
    /// Submits `message` from `from` to `recipients` for the authenticated `user` (an
    /// address), who connected from `peer`; the queue id's reply text, or why not.
    pub async fn submit(
        &self,
        user: &str,
        from: &str,
        recipients: &[String],
        message: Vec<u8>,
        peer: SocketAddr,
    ) -> Result<String, String> {
        let shared = &self.shared;
        if !shared.policy.may_send_as(user, from) {
            return Err(format!("<{from}>: sender address not owned by user {user}"));
        }
        if recipients.is_empty() || recipients.len() > shared.config.max_recipients {
            return Err(format!(
                "1 to {} recipients, not {}",
                shared.config.max_recipients,
                recipients.len()
            ));
        }
        if message.len() as u64 > shared.config.max_message_size {
            return Err(format!(
                "message larger than {} bytes",
                shared.config.max_message_size
            ));
        }
        let from_path = smtp_proto::ReversePath::parse(&format!("<{from}>"))
            .map_err(|error| format!("<{from}>: {error}"))?;
        let recipients = recipients
            .iter()
            .map(|to| {
                smtp_proto::ForwardPath::parse(&format!("<{to}>"))
                    .map(smtp_proto::Recipient::new)
                    .map_err(|error| format!("<{to}>: {error}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = smtp_proto::Envelope {
            helo: shared.config.hostname.clone(),
            esmtp: true,
            from: from_path,
            params: smtp_proto::MailParams::default(),
            recipients,
            tls: false,
            authenticated: Some(user.to_string()),
            chunked: false,
        };
        let reply = store(
            shared,
            peer,
            ListenerKind::Submission,
            false,
            envelope,
            message,
        )
        .await;
        if reply.is_positive() {
            Ok(reply.text())
        } else {
            Err(format!("{} {}", reply.code, reply.text()))
        }
    }
}

/// A bound mail server: listeners and the delivery loop, not yet running.
pub struct MailServer {
    shared: Arc<Shared>,
    listeners: Vec<(TcpListener, Listener)>,
}

impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServer")
            .field("hostname", &self.shared.config.hostname)
            .field("listeners", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

/// Binds every listener, opens (and recovers) the queue and the mail store.
pub async fn bind(config: MailConfig) -> Result<MailServer, crate::MailError> {
    let policy = config.policy()?;
    let (queue, recovery) = Queue::open(&config.data_dir.join("queue"))?;
    if recovery.torn > 0 || !recovery.corrupt.is_empty() || !recovery.entries.is_empty() {
        tracing::info!(
            waiting = recovery.entries.len(),
            torn = recovery.torn,
            corrupt = recovery.corrupt.len(),
            "mail queue recovered"
        );
    }
    let queue = Arc::new(queue);
    let store = crate::maildir::Store::open(&config.data_dir.join("mail"))?;
    let pop3_store = crate::maildir::Store::open(&config.data_dir.join("mail"))?;
    let imap_store = crate::maildir::Store::open(&config.data_dir.join("mail"))?;
    for mailbox in policy.mailboxes() {
        store.mailbox(&mailbox.domain, &mailbox.local)?;
    }
    let tls = config.tls.clone().map(tls::TlsAcceptor::from);
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let socket =
            TcpListener::bind(listener.addr)
                .await
                .map_err(|source| crate::MailError::Bind {
                    addr: listener.addr,
                    source,
                })?;
        if listener.kind != ListenerKind::Smtp && tls.is_none() {
            tracing::warn!(addr = %listener.addr, "no TLS certificate: {} without TLS", listener.kind.name());
        }
        listeners.push((socket, *listener));
    }
    let deliverer = Deliverer::new(
        &config,
        policy.clone(),
        queue.clone(),
        store,
        recovery.entries,
    );
    let pop3 = Arc::new(crate::pop3::Pop3Shared::new(
        config.hostname.clone(),
        policy.clone(),
        pop3_store,
        tls.clone(),
        config.pop3_plaintext_login,
        config.pop3_apop,
        config.auth_failure_delay,
    ));
    let mut imap = crate::imap::ImapShared::new(
        config.hostname.clone(),
        policy.clone(),
        imap_store,
        tls.clone(),
        config.imap_plaintext_login,
        config.auth_failure_delay,
    );
    imap.idle_timeout = config.imap_idle_timeout;
    let imap = Arc::new(imap);
    Ok(MailServer {
        shared: Arc::new(Shared {
            checker: match config.check_inbound {
                true => Some(
                    crate::auth::Checker::new(&config.hostname, config.dns, config.source)
                        .map_err(crate::MailError::Config)?,
                ),
                false => None,
            },
            config,
            policy,
            queue,
            deliverer,
            tls,
            pop3,
            imap,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
        }),
        listeners,
    })
}

impl MailServer {
    /// The in-process submission handle (the web mail's).
    pub fn submitter(&self) -> Submitter {
        Submitter {
            shared: self.shared.clone(),
        }
    }

    /// The web mail over this server's users, mailboxes and submission path, for a web
    /// server to mount.
    pub fn webmail(
        &self,
        config: webmail::Config,
    ) -> Result<crate::webmail::WebmailApp, crate::maildir::StoreError> {
        let store = crate::maildir::Store::open(&self.shared.config.data_dir.join("mail"))?;
        let backend = crate::webmail::MaildirBackend::new(
            self.shared.policy.clone(),
            store,
            &self.shared.config.hostname,
        );
        Ok(crate::webmail::WebmailApp::new(
            config,
            backend,
            self.submitter(),
        ))
    }

    /// The addresses bound, with what each serves.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, ListenerKind)> {
        self.listeners
            .iter()
            .filter_map(|(socket, listener)| Some((socket.local_addr().ok()?, listener.kind)))
            .collect()
    }

    /// Serves until `shutdown`: the listeners and the delivery loop.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let limits = TcpLimits {
            max_connections: 1_000,
            drain_timeout: std::time::Duration::from_secs(10),
            ..TcpLimits::default()
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (socket, listener) in self.listeners {
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(%addr, host = %self.shared.config.hostname, "{} listening", listener.kind.name());
            }
            let shared = self.shared.clone();
            let shutdown = shutdown.clone();
            let limits = limits.clone();
            if matches!(listener.kind, ListenerKind::Pop3 | ListenerKind::Pop3s) {
                let pop3 = shared.pop3.clone();
                let implicit = listener.kind == ListenerKind::Pop3s;
                tasks.spawn(async move {
                    netio::tcp::serve(socket, limits, shutdown, move |stream, conn| {
                        let pop3 = pop3.clone();
                        async move {
                            crate::pop3::serve_connection(pop3, stream, conn, implicit).await
                        }
                    })
                    .await
                });
                continue;
            }
            if matches!(listener.kind, ListenerKind::Imap | ListenerKind::Imaps) {
                let imap = shared.imap.clone();
                let implicit = listener.kind == ListenerKind::Imaps;
                tasks.spawn(async move {
                    netio::tcp::serve(socket, limits, shutdown, move |stream, conn| {
                        let imap = imap.clone();
                        async move {
                            crate::imap::serve_connection(imap, stream, conn, implicit).await
                        }
                    })
                    .await
                });
                continue;
            }
            tasks.spawn(async move {
                netio::tcp::serve(socket, limits, shutdown, move |stream, conn| {
                    let shared = shared.clone();
                    async move { serve_connection(shared, stream, conn, listener.kind).await }
                })
                .await
            });
        }
        let control = self.shared.deliverer.clone();
        let control_dir = self.shared.config.data_dir.join("queue");
        let control_shutdown = shutdown.clone();
        tasks.spawn(async move {
            crate::control::serve(&control_dir, control, control_shutdown).await;
            Ok(())
        });
        let deliverer = self.shared.deliverer.clone();
        let delivery_shutdown = shutdown.clone();
        tasks.spawn(async move {
            deliverer.run(delivery_shutdown).await;
            Ok(())
        });
        let mut result = Ok(());
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(error)) = done {
                result = Err(error);
            }
        }
        result
    }
}

fn session_config(shared: &Shared, kind: ListenerKind) -> ServerConfig {
    let mut config = ServerConfig::new(shared.config.hostname.clone());
    config.greeting = "ESMTP applayer".into();
    config.max_message_size = shared.config.max_message_size;
    config.max_recipients = shared.config.max_recipients;
    config.tls_available = shared.tls.is_some() && kind != ListenerKind::Submissions;
    config.auth = match kind {
        // A public MX offers no AUTH (Postfix's default on port 25).
        ListenerKind::Smtp => AuthPolicy::Disabled,
        // Submission: only once the connection is private (RFC 8314 §3.3, RFC 4954 §4).
        ListenerKind::Submission if shared.tls.is_some() => AuthPolicy::AfterTls,
        ListenerKind::Submission => AuthPolicy::Always,
        ListenerKind::Submissions => AuthPolicy::Always,
        ListenerKind::Pop3 | ListenerKind::Pop3s | ListenerKind::Imap | ListenerKind::Imaps => {
            AuthPolicy::Disabled
        }
    };
    config.vrfy = if shared.config.vrfy {
        VrfyPolicy::Ask
    } else {
        VrfyPolicy::Disabled
    };
    // Postfix's `smtpd_forbid_bare_newline = strict`: a bare LF or CR in a command or in
    // the data gets `550 5.5.2` and the connection is closed, so no reading of a message's
    // end but <CRLF>.<CRLF> can be smuggled past us or a next hop (CVE-2023-51764 class).
    config.bare_newline = smtp_proto::BareNewline::Reject;
    config.trace = wire::enabled();
    config
}

/// One client connection: plaintext, then TLS after STARTTLS; TLS from the start on 465.
async fn serve_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    conn: Conn,
    kind: ListenerKind,
) {
    let peer = conn.peer;
    let Some(_slot) = shared.client_slot(peer.ip()) else {
        // Postfix's answer when smtpd_client_connection_count_limit is reached.
        let text = format!(
            "421 4.7.0 {} Error: too many connections from {}\r\n",
            shared.config.hostname,
            peer.ip()
        );
        tracing::warn!(
            %peer,
            limit = shared.config.max_connections_per_client,
            "smtp connection refused: too many connections from this client"
        );
        if kind != ListenerKind::Submissions {
            wire::emit("smtp", Dir::Send, conn.local, peer, &text.trim_end());
            let _ = stream.write_all(text.as_bytes()).await;
        }
        let _ = stream.shutdown().await;
        return;
    };
    let config = Arc::new(session_config(&shared, kind));
    let mut context = Context {
        shared: shared.clone(),
        conn,
        kind,
        tls: false,
    };
    let result = async {
        match (&shared.tls, kind) {
            (Some(acceptor), ListenerKind::Submissions) => {
                // RFC 8314 §3.3: the handshake comes first, then the greeting.
                let mut secure = accept_tls(acceptor, stream).await?;
                context.tls = true;
                let mut session = ServerSession::new(config, Instant::now());
                drive(&mut context, &mut secure, &mut session).await?;
                Ok(())
            }
            _ => run_session(&mut context, stream, config).await,
        }
    }
    .await;
    if let Err(error) = result {
        tracing::info!(%peer, "smtp connection ended: {error}");
    }
}

/// Why a mail server connection (SMTP, POP3, IMAP) ended early; logged as one line.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading, writing or the mail store failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The client did not finish the TLS handshake within 30 s.
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    /// An implicit-TLS listener (POP3S, IMAPS) without a certificate.
    #[error("implicit TLS without a certificate")]
    NoCertificate,
}

/// The server side of a TLS handshake (implicit TLS, or after STARTTLS/STLS), within 30 s.
pub(crate) async fn accept_tls(
    acceptor: &tls::TlsAcceptor,
    stream: TcpStream,
) -> Result<tls::ServerTlsStream<TcpStream>, SessionError> {
    tokio::time::timeout(std::time::Duration::from_secs(30), acceptor.accept(stream))
        .await
        .map_err(|_| SessionError::HandshakeTimeout)?
        .map_err(SessionError::Handshake)
}

async fn run_session(
    context: &mut Context,
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
) -> Result<(), SessionError> {
    let mut session = ServerSession::new(config, Instant::now());
    if drive(context, &mut stream, &mut session).await? != End::StartTls {
        return Ok(());
    }
    let Some(acceptor) = context.shared.tls.clone() else {
        return Ok(());
    };
    let mut secure = accept_tls(&acceptor, stream).await?;
    context.tls = true;
    session.tls_established(Instant::now());
    drive(context, &mut secure, &mut session).await?;
    Ok(())
}

struct Context {
    shared: Arc<Shared>,
    conn: Conn,
    kind: ListenerKind,
    tls: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    StartTls,
}

/// Runs the session over `io` until it closes or asks for TLS.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    context: &mut Context,
    io: &mut S,
    session: &mut ServerSession,
) -> std::io::Result<End> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut shutting_down = false;
    let soft_limit = context.shared.config.soft_error_limit;
    let error_sleep = context.shared.config.error_sleep;
    let mut errors_before = session.errors();
    loop {
        let mut start_tls = false;
        // The tarpit: replies to errors past the soft limit go out only after a pause each.
        let errors = session.errors();
        let tarpitted = errors.saturating_sub(errors_before.max(soft_limit));
        errors_before = errors;
        if tarpitted > 0 {
            tokio::time::sleep(error_sleep * tarpitted).await;
        }
        loop {
            while let Some(bytes) = session.poll_transmit() {
                io.write_all(&bytes).await?;
            }
            while let Some(trace) = session.poll_trace() {
                let dir = match trace.direction {
                    smtp_proto::Direction::Recv => Dir::Recv,
                    smtp_proto::Direction::Send => Dir::Send,
                };
                wire::emit(
                    "smtp",
                    dir,
                    context.conn.local,
                    context.conn.peer,
                    &trace.summary,
                );
            }
            let Some(event) = session.poll_event() else {
                break;
            };
            if answer(context, session, event).await {
                start_tls = true;
            }
        }
        io.flush().await?;
        if start_tls {
            return Ok(End::StartTls);
        }
        if session.is_closed() {
            let _ = io.shutdown().await;
            return Ok(End::Closed);
        }
        let deadline = session.poll_timeout();
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = io.read(&mut buffer), if session.wants_input() => {
                match read? {
                    0 => session.handle_eof(Instant::now()),
                    n => session.handle_input(Instant::now(), &buffer[..n]),
                }
            }
            () = sleep => session.handle_timeout(Instant::now()),
            () = context.conn.shutdown.triggered(), if !shutting_down => {
                shutting_down = true;
                session.begin_shutdown();
            }
        }
    }
}

/// Answers one event; true for STARTTLS.
async fn answer(context: &mut Context, session: &mut ServerSession, event: ServerEvent) -> bool {
    let shared = context.shared.clone();
    let peer = context.conn.peer;
    match event {
        ServerEvent::Helo { .. } => {}
        ServerEvent::Mail { from, .. } => {
            let sender = from.mailbox().map(ToString::to_string).unwrap_or_default();
            let user = session.authenticated().map(|user| {
                shared
                    .policy
                    .qualify(user)
                    .unwrap_or_else(|_| user.to_string())
            });
            match user {
                None if context.kind != ListenerKind::Smtp => session.reject(Reply::new(
                    530,
                    Some(EnhancedCode::SECURITY),
                    "Authentication required",
                )),
                Some(user) if !shared.policy.may_send_as(&user, &sender) => {
                    session.reject(Reply::new(
                        553,
                        Some(EnhancedCode::NOT_AUTHORIZED),
                        format!("<{sender}>: Sender address rejected: not owned by user {user}"),
                    ))
                }
                _ => session.accept_mail(Reply::sender_ok()),
            }
        }
        ServerEvent::Rcpt { to, .. } => {
            let address = match to.mailbox() {
                Some(mailbox) => mailbox.to_string(),
                // `<postmaster>` alone (RFC 5321 §4.1.1.3): ours.
                None => format!(
                    "postmaster@{}",
                    shared.policy.domains().first().cloned().unwrap_or_default()
                ),
            };
            let authenticated = session.authenticated().is_some();
            match shared.policy.recipient(&address, peer.ip(), authenticated) {
                Ok(_) => session.accept_rcpt(Reply::recipient_ok()),
                Err(refusal) => {
                    let (code, (class, subject, detail), text) = refusal.reply(&address);
                    tracing::info!(%peer, "NOQUEUE: reject: RCPT: {code} {text}");
                    session.reject(Reply::new(
                        code,
                        Some(EnhancedCode::new(class, subject, detail)),
                        text,
                    ));
                }
            }
        }
        ServerEvent::Message { envelope, data } => {
            let reply = store(
                &context.shared,
                context.conn.peer,
                context.kind,
                context.tls,
                envelope,
                data,
            )
            .await;
            if reply.is_positive() {
                session.message_accepted(reply);
            } else {
                session.reject(reply);
            }
        }
        ServerEvent::Vrfy { argument } => {
            let address = argument.trim_matches(|c| c == '<' || c == '>').to_string();
            let reply = match shared.policy.recipient(&address, peer.ip(), false) {
                Ok(destinations) if !destinations.local.is_empty() => {
                    Reply::new(250, Some(EnhancedCode::OK), format!("<{address}>"))
                }
                _ => Reply::new(
                    550,
                    Some(EnhancedCode::BAD_MAILBOX),
                    format!("<{address}>: User unknown"),
                ),
            };
            session.vrfy_result(reply);
        }
        ServerEvent::Auth {
            identity,
            password,
            authzid,
            ..
        } => {
            let user = shared.policy.authenticate(&identity, password.expose());
            // Acting as somebody else (a PLAIN authzid) is not allowed.
            let ok = match (&user, &authzid) {
                (Some(user), Some(authzid)) => {
                    shared
                        .policy
                        .authenticate(authzid, password.expose())
                        .as_ref()
                        == Some(user)
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            if ok {
                tracing::info!(%peer, user = %identity, "smtp: authenticated");
            } else {
                tracing::warn!(%peer, user = %identity, "smtp: authentication failed");
                tokio::time::sleep(shared.config.auth_failure_delay).await;
            }
            session.auth_result(ok);
        }
        ServerEvent::StartTls => return true,
        ServerEvent::Quit => {}
        ServerEvent::Closed { reason, after } => {
            if !matches!(reason, smtp_proto::CloseReason::Eof) || after != "QUIT" {
                tracing::info!(%peer, "smtp: disconnect after {after} ({reason:?})");
            }
        }
    }
    false
}

/// Adds the trace header and stores the message; the reply says what became of it.
/// Commits an accepted message to the queue as a listener of `kind` does (Received field,
/// submission's added fields and DKIM signature, port 25's checks); the reply for the client.
async fn store(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    kind: ListenerKind,
    tls: bool,
    envelope: smtp_proto::Envelope,
    data: Vec<u8>,
) -> Reply {
    let shared = shared.clone();
    let now = SystemTime::now();
    let id = shared.queue.next_id(now);
    let tls = tls || envelope.tls;
    let queued = Envelope {
        from: envelope
            .from
            .mailbox()
            .map(ToString::to_string)
            .unwrap_or_default(),
        recipients: envelope
            .recipients
            .iter()
            .map(|recipient| QueuedRecipient {
                address: recipient
                    .path
                    .mailbox()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "postmaster".into()),
                notify: recipient.params.notify.map(|notify| notify.to_string()),
                orcpt: recipient.params.orcpt.as_ref().map(|orcpt| {
                    format!(
                        "{};{}",
                        orcpt.addr_type,
                        smtp_proto::xtext::encoded(&orcpt.address)
                    )
                }),
            })
            .collect(),
        arrival: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0),
        helo: envelope.helo.clone(),
        peer: peer.ip().to_string(),
        body: envelope
            .params
            .body
            .map(|body| body.as_str().to_string())
            .unwrap_or_else(|| "7BIT".into()),
        smtputf8: envelope.params.smtputf8,
        ret: envelope.params.ret.map(|ret| match ret {
            smtp_proto::Ret::Full => "FULL".to_string(),
            smtp_proto::Ret::Headers => "HDRS".to_string(),
        }),
        envid: envelope.params.envid.clone(),
        auth: envelope.authenticated.clone(),
    };
    // RFC 5321 §4.4 and RFC 3848: where it came from, how, for whom, when.
    let with = match (envelope.esmtp, tls, envelope.authenticated.is_some()) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    };
    let first = queued
        .recipients
        .first()
        .map(|recipient| format!("\r\n\tfor <{}>", recipient.address))
        .filter(|_| queued.recipients.len() == 1)
        .unwrap_or_default();
    let received = format!(
        "Received: from {} ([{}])\r\n\tby {} (applayer) with {with} id {id}{first};\r\n\t{}\r\n",
        envelope.helo,
        peer.ip(),
        shared.config.hostname,
        crate::rfc5322_date(now)
    );
    // RFC 6409 §8: a submission server adds the Message-ID and Date a user agent left out.
    let added = match kind {
        ListenerKind::Smtp
        | ListenerKind::Pop3
        | ListenerKind::Pop3s
        | ListenerKind::Imap
        | ListenerKind::Imaps => String::new(),
        ListenerKind::Submission | ListenerKind::Submissions => {
            crate::headers::missing_submission_fields(
                &data,
                &id,
                &shared.config.hostname,
                &crate::rfc5322_date(now),
            )
        }
    };
    let mut body = Vec::with_capacity(added.len() + data.len());
    body.extend_from_slice(added.as_bytes());
    body.extend_from_slice(&data);
    let mut first_fields = String::new();
    match kind {
        // RFC 6376: what our users send leaves signed by the key of its From domain.
        ListenerKind::Submission | ListenerKind::Submissions => {
            if let Some(key) = crate::auth::key_for(&shared.config.dkim, &body, &queued.from) {
                match key.sign(&body) {
                    Ok(signature) => first_fields = signature,
                    Err(error) => tracing::error!(%peer, %id, "cannot sign with DKIM: {error}"),
                }
            }
        }
        // RFC 8601: a border server drops results that claim to be its own, then adds its own.
        ListenerKind::Smtp => {
            if let Some(checker) = &shared.checker {
                body = crate::headers::without_fields(&body, "Authentication-Results", |value| {
                    crate::headers::claims_authserv_id(value, checker.hostname())
                });
                let verdict = checker
                    .check(&body, peer.ip(), &envelope.helo, &queued.from)
                    .await;
                tracing::info!(%peer, %id, "smtp: {}", verdict.summary);
                first_fields = verdict.field;
            }
        }
        ListenerKind::Pop3 | ListenerKind::Pop3s | ListenerKind::Imap | ListenerKind::Imaps => {}
    }
    let mut message = Vec::with_capacity(first_fields.len() + received.len() + body.len());
    match kind {
        // The signature sits under our Received field; the results sit above it.
        ListenerKind::Smtp => {
            message.extend_from_slice(first_fields.as_bytes());
            message.extend_from_slice(received.as_bytes());
        }
        _ => {
            message.extend_from_slice(received.as_bytes());
            message.extend_from_slice(first_fields.as_bytes());
        }
    }
    message.extend_from_slice(&body);
    let size = message.len();
    let queue = shared.queue.clone();
    let stored_id = id.clone();
    let stored =
        tokio::task::spawn_blocking(move || queue.enqueue_as(&stored_id, &queued, &message)).await;
    match stored {
        Ok(Ok(())) => {
            tracing::info!(%peer, %id, size, tls, "smtp: message accepted");
            shared.deliverer.enqueued(&id);
            Reply::queued(&id)
        }
        Ok(Err(error)) if error.is_no_space() => {
            tracing::error!(%peer, "cannot queue message: {error}");
            Reply::new(
                452,
                Some(EnhancedCode::new(4, 3, 1)),
                "Insufficient system storage",
            )
        }
        Ok(Err(error)) => {
            tracing::error!(%peer, "cannot queue message: {error}");
            Reply::new(
                451,
                Some(EnhancedCode::SYSTEM),
                "Local error in processing; try again later",
            )
        }
        Err(error) => {
            tracing::error!(%peer, "queue writer failed: {error}");
            Reply::new(
                451,
                Some(EnhancedCode::SYSTEM),
                "Local error in processing; try again later",
            )
        }
    }
}
