//! The `applayer mail` commands: the mail server (SMTP, submission, queue, Maildir, relay) and
//! a sending user agent.

use anyhow::Context;
use mail_server::{Listener, ListenerKind, MailConfig};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
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
    Serve(ServeArgs),
    /// Send a message (read from standard input, or `--body`) as a user agent does.
    Send(SendArgs),
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
}

#[derive(clap::Args, Debug)]
struct SendArgs {
    /// The server (its submission port with `--user`, else port 25).
    #[arg(long, value_name = "ADDR")]
    server: String,
    /// The sender.
    #[arg(long, value_name = "ADDRESS")]
    from: String,
    /// A recipient (repeatable).
    #[arg(long = "to", value_name = "ADDRESS", required = true)]
    to: Vec<String>,
    /// `NAME:PASSWORD` for AUTH PLAIN.
    #[arg(long, value_name = "NAME:PASSWORD")]
    user: Option<String>,
    /// The Subject header of a message made from `--body`.
    #[arg(long, default_value = "")]
    subject: String,
    /// The body (instead of a whole message on standard input).
    #[arg(long)]
    body: Option<String>,
    /// Our EHLO name.
    #[arg(long, default_value = "localhost")]
    helo: String,
    /// Use STARTTLS (required) and trust this CA (PEM), e.g. the world's
    /// applayer-data/state/ca/ca.pem.
    #[arg(long, value_name = "FILE")]
    cafile: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the server's address).
    #[arg(long, value_name = "NAME")]
    tls_name: Option<String>,
}

/// The certificates of a PEM file, for a client to trust.
fn trust(path: &std::path::Path) -> anyhow::Result<std::sync::Arc<tls::rustls::ClientConfig>> {
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
        MailCommand::Serve(args) => serve(args).await,
        MailCommand::Send(args) => send(args).await,
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
    let shutdown = netio::shutdown_on_signals();
    let server = mail_server::bind(config).await?;
    for (addr, kind) in server.local_addrs() {
        eprintln!("{hostname}: {} on {addr}", kind.name());
    }
    server.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let default_port = if args.user.is_some() { 587 } else { 25 };
    let server = super::socket_addr(&args.server, default_port)
        .map_err(|error| anyhow::anyhow!("--server: {error}"))?;
    let data = match &args.body {
        Some(body) => format!(
            "From: <{}>\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\n\r\n{}\r\n",
            args.from,
            args.to
                .iter()
                .map(|to| format!("<{to}>"))
                .collect::<Vec<_>>()
                .join(", "),
            args.subject,
            mail_server::rfc5322_date(std::time::SystemTime::now()),
            body.replace('\n', "\r\n")
        )
        .into_bytes(),
        None => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("cannot read the message from standard input")?;
            data
        }
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
    let credentials = match &args.user {
        Some(user) => {
            let (name, password) = user
                .split_once(':')
                .with_context(|| format!("--user {user:?}: expected NAME:PASSWORD"))?;
            Some(smtp_proto::Credentials {
                username: name.to_string(),
                password: smtp_proto::Secret::new(password),
                allow_plaintext: true,
            })
        }
        None => None,
    };
    let message = smtp_proto::Message {
        from,
        params: smtp_proto::MailParams::default(),
        recipients,
        data,
    };
    let source: Option<IpAddr> = None;
    let tls = match &args.cafile {
        Some(path) => Some((
            trust(path)?,
            args.tls_name
                .clone()
                .unwrap_or_else(|| server.ip().to_string()),
        )),
        None => None,
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        mail_server::send(server, source, &args.helo, credentials, tls, message),
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
