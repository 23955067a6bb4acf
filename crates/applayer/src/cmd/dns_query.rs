//! The `applayer dns query` command: a dig-like client.

use std::process::ExitCode;

/// Arguments of `applayer dns query`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer dns query` is not built yet")
}
