//! `applayer mail fetch`: the user agent's pull (seed §2.3.4) with POP3 or IMAP into a local
//! Maildir (or standard output as an mbox), the dialogue shown with `-v` as the seed does.

use anyhow::Context;
use mail_server::fetch::{Account, Folders, MaildirSink, MboxSink, Protocol, Said, Sink};
use mail_server::submit::Security;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Example: `applayer mail fetch --pop3 bob@mail.hamburger.edu --password burgers --maildir
/// ~/Maildir -v`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Fetch with POP3 (110 with STLS, 995 with `--tls`): download and delete, or `--keep`.
    #[arg(long, required_unless_present = "imap", conflicts_with = "imap")]
    pop3: bool,
    /// Fetch with IMAP (143 with STARTTLS, 993 with `--tls`): the mail stays on the server;
    /// what was fetched before is skipped.
    #[arg(long)]
    imap: bool,
    /// The account: `USER@HOST` (the last `@` separates them: `bob@hamburger.edu@mail.hamburger.edu`
    /// logs in as `bob@hamburger.edu`).
    #[arg(value_name = "USER@HOST")]
    account: String,
    /// The password (default: the APPLAYER_PASSWORD environment variable).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Connect here instead of HOST (`IP[:PORT]`; the port defaults to the protocol's).
    #[arg(long, value_name = "ADDR")]
    server: Option<String>,
    /// Resolve HOST with this DNS server (e.g. the world's) instead of the system's.
    #[arg(long, value_name = "ADDR", value_parser = super::addr_parser(53))]
    dns: Option<SocketAddr>,
    /// POP3: leave the messages on the server (later fetches skip them by UIDL).
    #[arg(long)]
    keep: bool,
    /// IMAP: this folder (default INBOX).
    #[arg(long, value_name = "FOLDER", conflicts_with = "all")]
    folder: Option<String>,
    /// IMAP: every folder, each into the Maildir++ folder of its name.
    #[arg(long)]
    all: bool,
    /// Store into this Maildir (created when missing); without it, the messages go to
    /// standard output as an mbox.
    #[arg(long, value_name = "DIR")]
    maildir: Option<PathBuf>,
    /// TLS from the first byte (995, 993).
    #[arg(long, conflicts_with = "plain")]
    tls: bool,
    /// No TLS at all: the password crosses in the clear (a trusted network only; the
    /// default is STLS/STARTTLS, required).
    #[arg(long)]
    plain: bool,
    /// The CA to trust (PEM; default: the world's applayer-data/state/ca/ca.pem).
    #[arg(long, value_name = "FILE")]
    cafile: Option<PathBuf>,
    /// Print the dialogue as the seed does (`S:` the server, `C:` us) on standard error.
    #[arg(short, long)]
    verbose: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let protocol = if args.imap {
        Protocol::Imap
    } else {
        Protocol::Pop3
    };
    if protocol == Protocol::Pop3 && (args.folder.is_some() || args.all) {
        anyhow::bail!("--folder and --all are IMAP's: POP3 has only the INBOX");
    }
    let (user, host) = args
        .account
        .rsplit_once('@')
        .filter(|(user, host)| !user.is_empty() && !host.is_empty())
        .with_context(|| format!("{:?}: expected USER@HOST", args.account))?;
    let password = match &args.password {
        Some(password) => password.clone(),
        None => std::env::var("APPLAYER_PASSWORD")
            .context("no password: --password, or the APPLAYER_PASSWORD environment variable")?,
    };
    let security = if args.tls {
        Security::Implicit
    } else if args.plain {
        Security::Plain
    } else {
        Security::StartTls
    };
    let port = protocol.port(security);
    let server = match &args.server {
        Some(text) => {
            super::socket_addr(text, port).map_err(|error| anyhow::anyhow!("--server: {error}"))?
        }
        None => {
            let resolver: Arc<dyn netio::resolve::Resolve> = match args.dns {
                Some(server) => Arc::new(world::resolve::DnsResolve {
                    server,
                    timeout: Duration::from_secs(3),
                    source: None,
                }),
                None => Arc::new(netio::resolve::SystemResolver),
            };
            *resolver
                .resolve(host, port)
                .await
                .with_context(|| format!("cannot resolve {host}"))?
                .first()
                .with_context(|| format!("{host}: no address"))?
        }
    };
    let tls = match security {
        Security::Plain => None,
        Security::StartTls | Security::Implicit => {
            let cafile = match &args.cafile {
                Some(path) => path.clone(),
                None if std::path::Path::new(super::mail::WORLD_CA).exists() => {
                    PathBuf::from(super::mail::WORLD_CA)
                }
                None => anyhow::bail!(
                    "TLS needs a CA to trust: --cafile FILE (the world's is {}), or --plain",
                    super::mail::WORLD_CA
                ),
            };
            Some((super::mail::trust(&cafile)?, host.to_string()))
        }
    };
    let account = Account {
        server,
        source: None,
        user: user.to_string(),
        password,
        security,
        tls,
    };
    let folders = match (&args.folder, args.all) {
        (_, true) => Folders::All,
        (Some(folder), false) => Folders::One(folder.clone()),
        (None, false) => Folders::One("INBOX".into()),
    };
    let mut sink: Box<dyn Sink> = match &args.maildir {
        Some(dir) => Box::new(
            MaildirSink::open(dir).with_context(|| format!("--maildir {}", dir.display()))?,
        ),
        None => Box::new(MboxSink::new(std::io::stdout())),
    };
    let verbose = args.verbose;
    let mut observe = move |said: &Said| {
        if verbose {
            eprintln!("{} {}", if said.by_server { "S:" } else { "C:" }, said.text);
        }
    };
    let report = tokio::time::timeout(
        Duration::from_secs(600),
        mail_server::fetch::fetch(
            protocol,
            &account,
            &folders,
            args.keep,
            sink.as_mut(),
            &mut observe,
        ),
    )
    .await
    .context("not done in 600 s")?
    .with_context(|| format!("cannot fetch from {server}"))?;
    let place = match &args.maildir {
        Some(dir) => dir.display().to_string(),
        None => "standard output".into(),
    };
    for (folder, count) in &report.folders {
        eprintln!("{folder}: {count} new message(s) into {place}");
    }
    eprintln!(
        "{} message(s), {} bytes{}{}",
        report.messages,
        report.bytes,
        if report.skipped > 0 {
            format!(", {} fetched before", report.skipped)
        } else {
            String::new()
        },
        if report.deleted > 0 {
            format!(", {} deleted on the server", report.deleted)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
