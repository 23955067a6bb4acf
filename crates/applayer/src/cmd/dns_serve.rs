//! The `applayer dns serve` command: the authoritative server.

use std::process::ExitCode;

/// Arguments of `applayer dns serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer dns serve` is not built yet")
}
