//! The `applayer world` commands (being built).

use std::process::ExitCode;

/// Arguments of `applayer world`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer world` is not built yet")
}
