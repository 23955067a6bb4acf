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
