//! The `applayer dns resolve` command: the local (recursive, caching) DNS server.

use std::process::ExitCode;

/// Arguments of `applayer dns resolve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer dns resolve` is not built yet")
}
