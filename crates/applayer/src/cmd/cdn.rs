//! `applayer cdn`: dispatches to the CDN's sub-commands.

use std::process::ExitCode;

/// Arguments of `applayer cdn`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: CdnCommand,
}

#[derive(clap::Subcommand, Debug)]
enum CdnCommand {
    /// KingCDN's authoritative DNS: answers each query with the cluster chosen for the
    /// querying resolver (coverage zones, geography, measured RTT and load, health).
    Dns(super::cdn_dns::Args),
    /// Fill a cluster's caches with URLs ahead of demand (off-peak push, as Netflix does).
    Push(super::cdn_push::Args),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CdnCommand::Dns(args) => super::cdn_dns::run(args).await,
        CdnCommand::Push(args) => super::cdn_push::run(args).await,
    }
}
