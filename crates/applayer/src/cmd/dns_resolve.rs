//! The `applayer dns resolve` command: the local (recursive, caching) DNS server.

use anyhow::Context;
use dns_resolver::hints::parse_hints;
use dns_resolver::net::{bind, ResolverConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `applayer dns resolve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Root hints in the `named.root` format (`NAME [TTL] [IN] A ADDRESS[#PORT]` lines).
    #[arg(long, value_name = "FILE")]
    root_hints: PathBuf,
    /// Address and port to serve clients on (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:53", value_name = "ADDR", value_parser = super::addr_parser(53))]
    listen: SocketAddr,
    /// Port of name servers learnt from referrals (53 on the real Internet).
    #[arg(long, default_value_t = 53, value_name = "PORT")]
    upstream_port: u16,
    /// Cache size in RRsets (plus negative answers).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    cache_size: usize,
    /// Milliseconds to wait for one upstream server before trying the next.
    #[arg(long, default_value_t = 800, value_name = "MS")]
    upstream_timeout: u64,
    /// Do not randomise the case of upstream query names (0x20).
    #[arg(long)]
    no_0x20: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.root_hints)
        .with_context(|| format!("cannot read root hints {}", args.root_hints.display()))?;
    let hints = match parse_hints(&text, args.upstream_port) {
        Ok(hints) => hints,
        Err(errors) => {
            for error in &errors {
                eprintln!("{}: {error}", args.root_hints.display());
            }
            anyhow::bail!("{} error(s) in the root hints", errors.len());
        }
    };
    let mut config = ResolverConfig::new(args.listen, hints);
    config.options.upstream_port = args.upstream_port;
    config.options.cache.max_entries = args.cache_size.max(1);
    config.options.upstream_timeout = Duration::from_millis(args.upstream_timeout.max(1));
    config.options.case_randomization = !args.no_0x20;
    let server = bind(config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = server.local_addr()?;
    tracing::info!(
        "local DNS server on {addr} (udp+tcp), root hints from {}",
        args.root_hints.display()
    );
    server.run(netio::shutdown_on_signals()).await?;
    Ok(ExitCode::SUCCESS)
}
