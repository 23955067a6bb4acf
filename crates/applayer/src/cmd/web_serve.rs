//! The `applayer web serve` command: the HTTP/1.x origin server.

use std::process::ExitCode;

/// Arguments of `applayer web serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer web serve` is not built yet")
}
