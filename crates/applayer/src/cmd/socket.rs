//! The `applayer socket` commands: the uppercase TCP/UDP servers and clients, and the pinger.

use super::seconds;
use anyhow::Context;
use sockets::net::{self as sock, PingEvent};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer socket`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: SocketCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SocketCommand {
    /// TCP uppercase server: uppercases whatever its clients send, many clients at once.
    TcpServer(ServerArgs),
    /// TCP uppercase client: sends each line of stdin (or --message) and prints the reply.
    TcpClient(ClientArgs),
    /// UDP uppercase server: answers each datagram with it uppercased.
    UdpServer(UdpServerArgs),
    /// UDP uppercase client: sends each line of stdin (or --message) in a datagram.
    UdpClient(ClientArgs),
    /// UDP pinger: sequence-numbered pings with RTTs and a `ping`-style summary.
    UdpPing(PingArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12000", value_parser = super::addr_parser(12000))]
    listen: SocketAddr,
    /// Longest line accepted, in bytes; longer lines get an error and the connection closes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_line: usize,
    /// Most clients served at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a connection may stay idle.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
}

#[derive(clap::Args, Debug)]
struct UdpServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12000", value_parser = super::addr_parser(12000))]
    listen: SocketAddr,
    /// Fraction of datagrams to drop on purpose (0 to 1), so that loss can be seen.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    loss: f64,
    /// Seed for the drop decisions (random by default).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(clap::Args, Debug)]
struct ClientArgs {
    /// The server's address, e.g. 127.0.0.1:12000 (the port defaults to 12000).
    #[arg(value_parser = super::addr_parser(12000))]
    server: SocketAddr,
    /// Send this instead of reading lines from stdin (may be repeated).
    #[arg(short, long)]
    message: Vec<String>,
    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// UDP only: how many times to resend a datagram that got no reply.
    #[arg(long, default_value_t = 2)]
    retries: u32,
}

#[derive(clap::Args, Debug)]
struct PingArgs {
    /// The server's address, e.g. 127.0.0.1:12000 (the port defaults to 12000).
    #[arg(value_parser = super::addr_parser(12000))]
    server: SocketAddr,
    /// Number of pings.
    #[arg(short = 'c', long, default_value_t = 10)]
    count: u32,
    /// Seconds between pings.
    #[arg(short = 'i', long, default_value_t = 1.0)]
    interval: f64,
    /// Seconds to wait for each reply.
    #[arg(short = 'W', long, default_value_t = 1.0)]
    timeout: f64,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        SocketCommand::TcpServer(args) => {
            let mut config = sock::TcpUpperConfig::new(args.listen);
            config.max_line = args.max_line;
            config.limits.max_connections = args.max_connections;
            config.limits.idle_timeout = Duration::from_secs(args.idle_timeout);
            let server = sock::TcpUpperServer::bind(config)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            eprintln!("tcp uppercase server listening on {}", server.local_addr()?);
            server.run(netio::shutdown_on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::UdpServer(args) => {
            let mut config = sock::UdpUpperConfig::new(args.listen);
            config.loss = args.loss;
            config.seed = args.seed;
            let server = sock::UdpUpperServer::bind(config)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            eprintln!("udp uppercase server listening on {}", server.local_addr()?);
            server.run(netio::shutdown_on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::TcpClient(args) => {
            let timeout = seconds(args.timeout, "--timeout")?;
            let mut client = sock::TcpUpperClient::connect(args.server, timeout)
                .await
                .with_context(|| format!("cannot connect to {}", args.server))?;
            for line in input_lines(&args.message) {
                let reply = client.exchange(&line?).await?;
                print_reply(&reply)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::UdpClient(args) => {
            let timeout = seconds(args.timeout, "--timeout")?;
            let mut failed = false;
            for line in input_lines(&args.message) {
                match sock::udp_exchange(args.server, &line?, timeout, args.retries).await {
                    Ok(reply) => print_reply(&reply)?,
                    Err(error) => {
                        eprintln!("applayer: {error}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        SocketCommand::UdpPing(args) => {
            let interval = seconds(args.interval, "--interval")?;
            let timeout = seconds(args.timeout, "--timeout")?;
            println!("PING {} over UDP: {} pings", args.server, args.count);
            let stats =
                sock::udp_ping(
                    None,
                    args.server,
                    args.count,
                    interval,
                    timeout,
                    |event| match event {
                        PingEvent::Reply { seq, bytes, rtt } => println!(
                            "{bytes} bytes from {}: seq={seq} time={:.3} ms",
                            args.server,
                            rtt.as_secs_f64() * 1000.0
                        ),
                        PingEvent::Timeout { seq } => println!("Request timed out: seq={seq}"),
                    },
                )
                .await?;
            println!("\n--- {} ping statistics ---\n{stats}", args.server);
            Ok(if stats.received_count() == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The `--message` values, or else the lines of stdin.
fn input_lines(messages: &[String]) -> Box<dyn Iterator<Item = std::io::Result<Vec<u8>>> + '_> {
    if messages.is_empty() {
        Box::new(std::io::stdin().lock().split(b'\n').map(|line| {
            line.map(|mut line| {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                line
            })
        }))
    } else {
        Box::new(
            messages
                .iter()
                .map(|message| Ok(message.clone().into_bytes())),
        )
    }
}

fn print_reply(reply: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(reply)?;
    stdout.write_all(b"\n")?;
    stdout.flush()
}
