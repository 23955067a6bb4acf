//! The `applayer scenario` commands (being built).

use std::process::ExitCode;

/// Arguments of `applayer scenario`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer scenario` is not built yet")
}
