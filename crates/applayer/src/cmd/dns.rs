//! The `applayer dns` command group: dispatch only; each command lives in its own module.

use std::process::ExitCode;

/// Arguments of `applayer dns`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: DnsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DnsCommand {
    /// Authoritative server for one or more zone files.
    Serve(super::dns_serve::Args),
    /// Local DNS server: recursive for its clients, iterative from the root, caching.
    Resolve(super::dns_resolve::Args),
    /// Ask a DNS server a question and print the answer the way dig does.
    Query(super::dns_query::Args),
    /// Registrar: insert a domain's NS and glue records into its TLD zone by DNS UPDATE.
    Register(super::dns_register::Args),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        DnsCommand::Serve(args) => super::dns_serve::run(args).await,
        DnsCommand::Resolve(args) => super::dns_resolve::run(args).await,
        DnsCommand::Query(args) => super::dns_query::run(args).await,
        DnsCommand::Register(args) => super::dns_register::run(args).await,
    }
}
