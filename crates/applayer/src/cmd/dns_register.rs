//! The `applayer dns register` command: the registrar.

use std::process::ExitCode;

/// Arguments of `applayer dns register`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer dns register` is not built yet")
}
