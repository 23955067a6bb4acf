//! The `applayer mail` commands: the mail server (SMTP, submission, queue, Maildir, relay) and
//! a sending user agent.

use anyhow::Context;
use mail_server::{Listener, ListenerKind, MailConfig};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer mail`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: MailCommand,
}

#[derive(clap::Subcommand, Debug)]
enum MailCommand {
    /// A mail server: SMTP (25), submission (587), the durable queue, Maildir delivery, relay
    /// to the next hop by MX.
    Serve(Box<ServeArgs>),
    /// Send a message (read from standard input, or `--body`) as a user agent does.
    Send(SendArgs),
    /// List the queue (id, size, age, tries, next try, sender, recipients with their last
    /// error); `--flush` retries everything now, `--delete ID` drops an entry.
    Queue(QueueArgs),
    /// Download a user's mail with POP3 or IMAP, as a user agent does.
    Fetch(Box<super::mail_fetch::Args>),
}

/// Example: `applayer mail queue --data-dir applayer-data/state/mail/mail.crepes.fr --flush`.
#[derive(clap::Args, Debug)]
struct QueueArgs {
    /// The server's data directory (default: every mail host of the world started here,
    /// under applayer-data/state/mail/).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Ask the running server to try every entry now.
    #[arg(long, conflicts_with = "delete")]
    flush: bool,
    /// Delete this entry (repeatable).
    #[arg(long, value_name = "ID")]
    delete: Vec<String>,
}

/// Example: `applayer mail serve --domain hamburger.edu --data-dir ./mail --user bob:burgers`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// A domain to receive mail for (repeatable; the first is the users' default).
    #[arg(long = "domain", value_name = "DOMAIN", required = true)]
    domains: Vec<String>,
    /// Where the queue (`queue/`) and the mailboxes (`mail/DOMAIN/USER/`, Maildir) live.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// A user: `NAME:PASSWORD` (NAME is `bob` or `bob@domain`; repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// An alias: `ADDRESS=TARGET[,TARGET...]` (repeatable).
    #[arg(long = "alias", value_name = "ADDRESS=TARGETS")]
    aliases: Vec<String>,
    /// Mail for unknown users of DOMAIN goes to USER: `DOMAIN=USER` (repeatable).
    #[arg(long = "catch-all", value_name = "DOMAIN=USER")]
    catch_all: Vec<String>,
    /// Our host name (greeting, Received headers); default: the first domain's `mail.` name.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// SMTP listener (port 25 of other servers; repeatable).
    #[arg(long = "smtp", value_name = "ADDR", value_parser = super::addr_parser(25), default_value = "127.0.0.1:2525")]
    smtp: Vec<SocketAddr>,
    /// Submission listener (users, AUTH required; repeatable).
    #[arg(long = "submission", value_name = "ADDR", value_parser = super::addr_parser(587), default_value = "127.0.0.1:2587")]
    submission: Vec<SocketAddr>,
    /// Submission with implicit TLS (RFC 8314; repeatable).
    #[arg(long = "submissions", value_name = "ADDR", value_parser = super::addr_parser(465), default_value = "127.0.0.1:2465")]
    submissions: Vec<SocketAddr>,
    /// POP3 listener (STLS; repeatable).
    #[arg(long = "pop3", value_name = "ADDR", value_parser = super::addr_parser(110), default_value = "127.0.0.1:2110")]
    pop3: Vec<SocketAddr>,
    /// POP3 with implicit TLS (repeatable).
    #[arg(long = "pop3s", value_name = "ADDR", value_parser = super::addr_parser(995), default_value = "127.0.0.1:2995")]
    pop3s: Vec<SocketAddr>,
    /// Allow POP3 USER/PASS and AUTH without TLS (off by default).
    #[arg(long)]
    pop3_plaintext: bool,
    /// Offer POP3 APOP (an MD5 challenge in the greeting; off by default, as in Dovecot).
    #[arg(long)]
    pop3_apop: bool,
    /// IMAP listener (STARTTLS; repeatable).
    #[arg(long = "imap", value_name = "ADDR", value_parser = super::addr_parser(143), default_value = "127.0.0.1:2143")]
    imap: Vec<SocketAddr>,
    /// IMAP with implicit TLS (repeatable).
    #[arg(long = "imaps", value_name = "ADDR", value_parser = super::addr_parser(993), default_value = "127.0.0.1:2993")]
    imaps: Vec<SocketAddr>,
    /// Allow IMAP LOGIN and AUTHENTICATE without TLS (off by default: LOGINDISABLED).
    #[arg(long)]
    imap_plaintext: bool,
    /// Serve the web mail (HTTP; login, folders, read, compose, reply, move, delete) on ADDR
    /// (off by default; the world's mail hosts serve it on port 80).
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(80))]
    webmail: Option<SocketAddr>,
    /// The server's certificate chain (PEM); without it, a certificate for the host name from
    /// a CA kept in DATA_DIR/ca (its ca.pem is what clients trust).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Trust this CA (PEM) for STARTTLS to next hops (else they get plaintext).
    #[arg(long, value_name = "FILE")]
    relay_ca: Option<PathBuf>,
    /// Clients that may relay without AUTH (`127.0.0.0/8`; none by default: no open relay).
    #[arg(long = "mynetworks", value_name = "CIDR")]
    networks: Vec<String>,
    /// The DNS server for MX lookups of next hops.
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(53))]
    dns: Option<SocketAddr>,
    /// A next hop that bypasses DNS: `DOMAIN=ADDR` (repeatable; Postfix's transport map).
    #[arg(long = "route", value_name = "DOMAIN=ADDR")]
    routes: Vec<String>,
    /// The port of next hops.
    #[arg(long, value_name = "PORT", default_value_t = 25)]
    relay_port: u16,
    /// The largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 10_240_000)]
    max_message_size: u64,
    /// Answer VRFY (off by default).
    #[arg(long)]
    vrfy: bool,
    /// The first wait after a temporary failure, doubled at each later one (Postfix's
    /// minimal_backoff_time), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    min_backoff: u64,
    /// The longest wait between two attempts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 4000)]
    max_backoff: u64,
    /// How long a message may wait before it bounces, in seconds (5 days).
    #[arg(long, value_name = "SECS", default_value_t = 432_000)]
    queue_lifetime: u64,
    /// Accept and queue, deliver nothing until `mail queue --flush` (Postfix's
    /// defer_transports).
    #[arg(long)]
    defer_delivery: bool,
    /// Tell the sender once when a message has waited this long, in seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 14_400)]
    delay_warning: u64,
    /// Sign what users of DOMAIN submit with the key in FILE (PEM: Ed25519 or RSA, PKCS#8
    /// or PKCS#1), its record at SELECTOR._domainkey.DOMAIN; a new Ed25519 key is written to
    /// FILE when it does not exist. The record to publish is printed at start. Repeatable.
    #[arg(long = "dkim-key", value_name = "DOMAIN:SELECTOR:FILE")]
    dkim_keys: Vec<String>,
    /// SMTP connections one client address may have open at once; more get `421 4.7.0`
    /// (Postfix's smtpd_client_connection_count_limit; --mynetworks are exempt; 0: none).
    #[arg(long, value_name = "N", default_value_t = 50)]
    client_connection_limit: usize,
    /// Check the DKIM signatures and the sender's SPF policy of mail from other servers
    /// (port 25) and record them in an Authentication-Results field (asks --dns).
    #[arg(long)]
    check_auth: bool,
}

/// Example: `applayer mail send --server 127.0.6.10 --auth alice:wonderland --from
/// alice@crepes.fr --to bob@hamburger.edu --subject crepes --attach recipe.pdf < body.txt`.
#[derive(clap::Args, Debug)]
struct SendArgs {
    /// The server: `IP[:PORT]`; the port defaults to 465 with `--tls`, 587 with `--auth`,
    /// else 25.
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// The sender (envelope and From).
    #[arg(long, value_name = "ADDRESS")]
    from: String,
    /// A recipient (repeatable).
    #[arg(long = "to", value_name = "ADDRESS", required = true)]
    to: Vec<String>,
    /// `NAME:PASSWORD` for AUTH PLAIN (after TLS).
    #[arg(long, visible_alias = "user", value_name = "NAME:PASSWORD")]
    auth: Option<String>,
    /// The Subject.
    #[arg(long, default_value = "")]
    subject: String,
    /// The text of the message (default: standard input).
    #[arg(long)]
    body: Option<String>,
    /// Attach a file (repeatable; the type comes from its extension).
    #[arg(long = "attach", value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Send standard input as the whole message (headers included) instead of composing one.
    #[arg(long, conflicts_with_all = ["body", "attach", "subject"])]
    raw: bool,
    /// Our EHLO name.
    #[arg(long, default_value = "localhost")]
    helo: String,
    /// STARTTLS, required (the default with `--cafile`).
    #[arg(long, conflicts_with = "tls")]
    starttls: bool,
    /// TLS from the first byte (submissions, port 465, RFC 8314).
    #[arg(long)]
    tls: bool,
    /// The CA to trust (PEM), e.g. the world's applayer-data/state/ca/ca.pem (the default
    /// when it exists and TLS is asked for).
    #[arg(long, value_name = "FILE")]
    cafile: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the server's address).
    #[arg(long, value_name = "NAME")]
    tls_name: Option<String>,
    /// Print the SMTP dialogue as the seed does (`S:` the server, `C:` us) on standard error.
    #[arg(short, long)]
    verbose: bool,
}

/// The certificates of a PEM file, for a client to trust.
pub(crate) fn trust(
    path: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<tls::rustls::ClientConfig>> {
    use tls::rustls::pki_types::pem::PemObject;
    use tls::rustls::pki_types::CertificateDer;
    let roots = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    Ok(tls::client_config(&roots, &[])?)
}

fn split_pair<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .with_context(|| format!("{what} {text:?}: expected A=B"))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        MailCommand::Serve(args) => serve(*args).await,
        MailCommand::Send(args) => send(args).await,
        MailCommand::Queue(args) => queue(args),
        MailCommand::Fetch(args) => super::mail_fetch::run(*args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| format!("mail.{}", args.domains[0]));
    let mut config = MailConfig::new(&hostname, &args.domains, args.data_dir.clone());
    for user in &args.users {
        let (name, password) = user
            .split_once(':')
            .filter(|(name, password)| !name.is_empty() && !password.is_empty())
            .with_context(|| format!("--user {user:?}: expected NAME:PASSWORD"))?;
        config.users.push((name.to_string(), password.to_string()));
    }
    for alias in &args.aliases {
        let (from, to) = split_pair(alias, "--alias")?;
        config.aliases.push((
            from.to_string(),
            to.split(',')
                .map(|target| target.trim().to_string())
                .collect(),
        ));
    }
    for entry in &args.catch_all {
        let (domain, user) = split_pair(entry, "--catch-all")?;
        config
            .catch_all
            .push((domain.to_string(), user.to_string()));
    }
    for network in &args.networks {
        config.networks.push(
            mail_server::policy::Network::parse(network)
                .with_context(|| format!("--mynetworks {network:?}: expected IP/PREFIX"))?,
        );
    }
    for route in &args.routes {
        let (domain, addr) = split_pair(route, "--route")?;
        let addr = super::socket_addr(addr, 25)
            .map_err(|error| anyhow::anyhow!("--route {route}: {error}"))?;
        config.routes.push((domain.to_string(), addr));
    }
    config.listeners = args
        .smtp
        .iter()
        .map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Smtp,
        })
        .chain(args.submission.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Submission,
        }))
        .chain(args.submissions.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Submissions,
        }))
        .chain(args.pop3.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Pop3,
        }))
        .chain(args.pop3s.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Pop3s,
        }))
        .chain(args.imap.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Imap,
        }))
        .chain(args.imaps.iter().map(|addr| Listener {
            addr: *addr,
            kind: ListenerKind::Imaps,
        }))
        .collect();
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => tls::load_pem(cert, key, std::slice::from_ref(&hostname))?,
        _ => {
            let ca = tls::Ca::load_or_create(&args.data_dir.join("ca"), "applayer mail CA")?;
            let mut names = vec![hostname.as_str()];
            names.extend(args.domains.iter().map(String::as_str));
            ca.issue(&names)?
        }
    };
    config.tls = Some(tls::server_config(vec![identity], &[])?);
    if let Some(path) = &args.relay_ca {
        config.client_tls = Some(trust(path)?);
    }
    config.dns = args.dns;
    config.relay_port = args.relay_port;
    config.max_message_size = args.max_message_size;
    config.vrfy = args.vrfy;
    config.defer_delivery = args.defer_delivery;
    config.pop3_plaintext_login = args.pop3_plaintext;
    config.pop3_apop = args.pop3_apop;
    config.imap_plaintext_login = args.imap_plaintext;
    config.check_inbound = args.check_auth;
    config.max_connections_per_client = args.client_connection_limit;
    for spec in &args.dkim_keys {
        let mut parts = spec.splitn(3, ':');
        let (Some(domain), Some(selector), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("--dkim-key {spec:?}: expected DOMAIN:SELECTOR:FILE");
        };
        let key = mail_server::auth::DkimKey::load_or_create(domain, selector, file.as_ref())
            .map_err(|error| anyhow::anyhow!("--dkim-key {spec}: {error}"))?;
        eprintln!(
            "{hostname}: DKIM key for {domain}; publish: {}",
            key.zone_line()
        );
        config.dkim.push(std::sync::Arc::new(key));
    }
    config.retry = mail_server::Retry {
        min_backoff: Duration::from_secs(args.min_backoff.max(1)),
        max_backoff: Duration::from_secs(args.max_backoff.max(args.min_backoff).max(1)),
        lifetime: Duration::from_secs(args.queue_lifetime),
        delay_warning: (args.delay_warning > 0).then(|| Duration::from_secs(args.delay_warning)),
    };
    let shutdown = netio::shutdown_on_signals();
    let data_dir = config.data_dir.clone();
    let server = mail_server::bind(config).await?;
    for (addr, kind) in server.local_addrs() {
        eprintln!("{hostname}: {} on {addr}", kind.name());
    }
    let Some(addr) = args.webmail else {
        server.run(shutdown).await?;
        return Ok(ExitCode::SUCCESS);
    };
    // The web mail: the project's web server with the pages mounted at its root.
    let app = server
        .webmail(webmail::Config::default())
        .context("cannot open the mailboxes for the web mail")?;
    let root = data_dir.join("webmail-root");
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let mut web_config = web::WebServerConfig::new(root);
    web_config.listen = vec![addr];
    web_config.apps.push(web::AppMount {
        prefix: String::new(),
        app: std::sync::Arc::new(app),
    });
    let web_server = web::bind(web_config)
        .await
        .with_context(|| format!("cannot listen for the web mail on {addr}"))?;
    eprintln!("{hostname}: webmail on {addr}");
    let (mail, pages) = tokio::join!(server.run(shutdown.clone()), web_server.run(shutdown));
    mail?;
    pages?;
    Ok(ExitCode::SUCCESS)
}

/// The world's CA, where `world up` keeps it (relative to the directory it ran in).
pub(crate) const WORLD_CA: &str = "applayer-data/state/ca/ca.pem";

async fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    use mail_server::submit::{Attachment, Draft, Security, Submission};
    let security = if args.tls {
        Security::Implicit
    } else if args.starttls || args.cafile.is_some() {
        Security::StartTls
    } else {
        Security::Plain
    };
    let default_port = match (security, &args.auth) {
        (Security::Implicit, _) => 465,
        (_, Some(_)) => 587,
        _ => 25,
    };
    let server = super::socket_addr(&args.server, default_port)
        .map_err(|error| anyhow::anyhow!("--server: {error}"))?;
    let data = if args.raw {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("cannot read the message from standard input")?;
        // Lines end in CRLF on the wire whatever the file used.
        String::from_utf8_lossy(&data)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes()
    } else {
        let body = match &args.body {
            Some(body) => body.clone(),
            None => {
                let mut body = String::new();
                std::io::stdin()
                    .read_to_string(&mut body)
                    .context("cannot read the message text from standard input")?;
                body
            }
        };
        let attachments = args
            .attach
            .iter()
            .map(|path| {
                Attachment::read(path).with_context(|| format!("--attach {}", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        mail_server::submit::compose(
            &Draft {
                from: args.from.clone(),
                to: args.to.clone(),
                subject: args.subject.clone(),
                body,
                attachments,
            },
            std::time::SystemTime::now(),
        )
    };
    let from = smtp_proto::ReversePath::parse(&format!("<{}>", args.from))
        .map_err(|error| anyhow::anyhow!("--from {}: {error}", args.from))?;
    let recipients = args
        .to
        .iter()
        .map(|to| {
            smtp_proto::ForwardPath::parse(&format!("<{to}>"))
                .map(smtp_proto::Recipient::new)
                .map_err(|error| anyhow::anyhow!("--to {to}: {error}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let credentials = match &args.auth {
        Some(user) => {
            let (name, password) = user
                .split_once(':')
                .with_context(|| format!("--auth {user:?}: expected NAME:PASSWORD"))?;
            Some(smtp_proto::Credentials {
                username: name.to_string(),
                password: smtp_proto::Secret::new(password),
                // Over plain TCP only when the user asked for no TLS at all.
                allow_plaintext: true,
            })
        }
        None => None,
    };
    let tls = match security {
        Security::Plain => None,
        Security::StartTls | Security::Implicit => {
            let cafile = match &args.cafile {
                Some(path) => path.clone(),
                None if std::path::Path::new(WORLD_CA).exists() => PathBuf::from(WORLD_CA),
                None => anyhow::bail!(
                    "TLS needs a CA to trust: --cafile FILE (the world's is {WORLD_CA})"
                ),
            };
            Some((
                trust(&cafile)?,
                args.tls_name
                    .clone()
                    .unwrap_or_else(|| server.ip().to_string()),
            ))
        }
    };
    let message = smtp_proto::Message {
        from,
        params: smtp_proto::MailParams::default(),
        recipients,
        data,
    };
    let submission = Submission {
        server,
        source: None,
        helo: args.helo.clone(),
        credentials,
        security,
        tls,
    };
    let verbose = args.verbose;
    let text = String::from_utf8_lossy(&message.data).into_owned();
    let mut observe = move |trace: &smtp_proto::Trace| {
        if !verbose {
            return;
        }
        match trace.direction {
            smtp_proto::Direction::Recv => eprintln!("S: {}", trace.summary),
            smtp_proto::Direction::Send if trace.summary.starts_with("<message") => {
                // The seed shows the message's lines, then the lone dot.
                for line in text.lines() {
                    let stuffed = if line.starts_with('.') { "." } else { "" };
                    eprintln!("C: {stuffed}{line}");
                }
                eprintln!("C: .");
            }
            smtp_proto::Direction::Send => eprintln!("C: {}", trace.summary),
        }
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        mail_server::submit::submit(&submission, message, &mut observe),
    )
    .await
    .context("no answer in 120 s")?
    .with_context(|| format!("cannot send through {server}"))?;
    let mut failed = false;
    for result in &outcome.recipients {
        let accepted = matches!(result.delivery, smtp_proto::Delivery::Accepted(_));
        failed |= !accepted;
        println!(
            "{} <{}>: {}",
            if accepted { "sent" } else { "refused" },
            result
                .recipient
                .path
                .mailbox()
                .map(ToString::to_string)
                .unwrap_or_else(|| "postmaster".into()),
            result.text
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where `world up` keeps its mail hosts' data directories.
const WORLD_MAIL: &str = "applayer-data/state/mail";

fn queue(args: QueueArgs) -> anyhow::Result<ExitCode> {
    let servers: Vec<(Option<String>, PathBuf)> = match &args.data_dir {
        Some(dir) => vec![(None, dir.clone())],
        None => {
            let mut hosts: Vec<(Option<String>, PathBuf)> = std::fs::read_dir(WORLD_MAIL)
                .with_context(|| {
                    format!("no --data-dir, and no world's mail hosts under {WORLD_MAIL}")
                })?
                .flatten()
                .filter(|entry| entry.path().join("queue").is_dir())
                .map(|entry| {
                    (
                        Some(entry.file_name().to_string_lossy().into_owned()),
                        entry.path(),
                    )
                })
                .collect();
            hosts.sort();
            hosts
        }
    };
    let mut failed = false;
    for (host, dir) in &servers {
        let queue_dir = dir.join("queue");
        if !queue_dir.is_dir() {
            anyhow::bail!("{}: no queue there", dir.display());
        }
        let prefix = host
            .as_ref()
            .map(|host| format!("{host}: "))
            .unwrap_or_default();
        if args.flush {
            match mail_server::control::request(&queue_dir, "flush")? {
                Some(answer) => println!("{prefix}{answer}"),
                None => {
                    println!("{prefix}no server is running on {}", dir.display());
                    failed = true;
                }
            }
            continue;
        }
        if !args.delete.is_empty() {
            for id in &args.delete {
                if !mail_server::queue::is_queue_id(id) {
                    anyhow::bail!("--delete {id:?}: not a queue id");
                }
                let listed = mail_server::control::list(&queue_dir)?;
                if !listed.iter().any(|entry| &entry.id == id) {
                    // With no --data-dir, the id is in one host's queue only.
                    if host.is_none() {
                        println!("{prefix}error {id}: no such entry");
                        failed = true;
                    }
                    continue;
                }
                let answer =
                    match mail_server::control::request(&queue_dir, &format!("delete {id}"))? {
                        Some(answer) => answer,
                        // No server running: the files are ours to remove.
                        None => match mail_server::queue::Queue::inspect(&queue_dir).remove(id) {
                            Ok(()) => format!("ok {id} deleted"),
                            Err(error) => format!("error {id}: {error}"),
                        },
                    };
                failed |= !answer.starts_with("ok");
                println!("{prefix}{answer}");
            }
            continue;
        }
        let entries = mail_server::control::list(&queue_dir)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        if let Some(host) = host {
            println!("{host}:");
        }
        print!("{}", mail_server::control::format_listing(&entries, now));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
