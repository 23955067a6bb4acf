//! The `applayer web get` command: the page-fetching client.

use std::process::ExitCode;

/// Arguments of `applayer web get`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`applayer web get` is not built yet")
}
