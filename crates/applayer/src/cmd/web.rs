//! The `applayer web` command group: dispatch only; each command lives in its own module.

use std::process::ExitCode;

/// Arguments of `applayer web`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: WebCommand,
}

#[derive(clap::Subcommand, Debug)]
enum WebCommand {
    /// HTTP/1.0 and 1.1 origin server for a directory, with the cookie site.
    Serve(super::web_serve::Args),
    /// Fetch a page and the objects it references, and report connections and round trips.
    Get(super::web_get::Args),
    /// A caching forward or reverse proxy (web cache) with conditional GET.
    Proxy(super::proxy::Args),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        WebCommand::Serve(args) => super::web_serve::run(args).await,
        WebCommand::Get(args) => super::web_get::run(args).await,
        WebCommand::Proxy(args) => super::proxy::run(args).await,
    }
}
