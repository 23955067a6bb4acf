//! The `applayer` binary: command-line parsing and wiring of the library crates, nothing more.

mod cmd;
mod logging;

use clap::{Parser, Subcommand};
use logging::LogFormat;
use std::process::ExitCode;

/// The Internet's application layer, built for real: DNS, the web, a web cache, e-mail, sockets
/// and a whole mini-Internet of them on one machine.
#[derive(Parser, Debug)]
#[command(name = "applayer", version, about, propagate_version = true)]
struct Cli {
    /// Log line format on standard error; the level comes from RUST_LOG (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The socket programs: the uppercase TCP/UDP client and server pair, and a UDP pinger.
    Socket(cmd::socket::Args),
    /// DNS: authoritative server, local (recursive, caching) server, dig-like client, registrar.
    Dns(cmd::dns::Args),
    /// The web: HTTP/1.x server, page-fetching client, caching proxy.
    Web(cmd::web::Args),
    /// E-mail: the mail server (SMTP, submission, queue, Maildir, MX relay) and a sender.
    Mail(cmd::mail::Args),
    /// BitTorrent: make and describe .torrent files.
    Torrent(cmd::torrent::Args),
    /// Video streaming: DASH packaging with ffmpeg and the adaptive (ABR) player.
    Video(cmd::video::Args),
    /// The CDN: KingCDN's cluster-selecting DNS and pushing content into edge clusters.
    Cdn(cmd::cdn::Args),
    /// The mini-Internet: bring up every host and service of a world file.
    World(cmd::world::Args),
    /// Textbook walkthroughs replayed on live servers and drawn as sequence diagrams.
    Scenario(cmd::scenario::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    logging::init(cli.log_format);
    // One worker thread: every server is event-driven on a single core, which is also how the
    // benchmarks compare us with nginx, Knot and Unbound.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("applayer: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Socket(args) => cmd::socket::run(args).await,
            Command::Dns(args) => cmd::dns::run(args).await,
            Command::Web(args) => cmd::web::run(args).await,
            Command::Mail(args) => cmd::mail::run(args).await,
            Command::Torrent(args) => cmd::torrent::run(args).await,
            Command::Video(args) => cmd::video::run(args).await,
            Command::Cdn(args) => cmd::cdn::run(args).await,
            Command::World(args) => cmd::world::run(args).await,
            Command::Scenario(args) => cmd::scenario::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("applayer: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints help and version as clap does; any other argument error as one line, exit code 2.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(2)
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("applayer: {first} (see --help)");
            ExitCode::from(2)
        }
    }
}
