//! The `applayer socket` commands (being built).

use std::process::ExitCode;

/// Arguments of `applayer socket`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer socket` is not built yet")
}
