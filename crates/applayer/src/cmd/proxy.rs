//! The `applayer web proxy` command (being built).

use std::process::ExitCode;

/// Arguments of `applayer web proxy`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer web proxy` is not built yet")
}
