//! One module per command; each owns its clap arguments and an async `run` function.
//! `dns.rs` and `web.rs` only dispatch to their sub-commands.

pub(crate) mod dns;
pub(crate) mod dns_query;
pub(crate) mod dns_register;
pub(crate) mod dns_resolve;
pub(crate) mod dns_serve;
pub(crate) mod proxy;
pub(crate) mod scenario;
pub(crate) mod socket;
pub(crate) mod web;
pub(crate) mod web_get;
pub(crate) mod web_serve;
pub(crate) mod world;

/// A command-line number of seconds as a duration: a clear error, not a panic, for negative,
/// infinite or NaN values.
pub(crate) fn seconds(value: f64, what: &str) -> anyhow::Result<std::time::Duration> {
    use anyhow::Context;
    std::time::Duration::try_from_secs_f64(value)
        .with_context(|| format!("{what} must be a non-negative number of seconds"))
}
