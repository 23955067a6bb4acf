//! The local DNS server: recursive for its clients, iterative towards the root, caching.
//!
//! The core is sans-IO. [`Resolver`] takes client queries, upstream replies and timeouts with
//! the current time passed in, and hands out upstream queries, client replies and events; a
//! seed passed at construction feeds every random choice (query IDs, 0x20 case, server choice).
//! Drive it like this (the tokio driver in [`net`] does exactly this):
//!
//! ```text
//! loop {
//!     on client datagram:   if let Some(reply) = resolver.handle_client(now, id, peer, Udp, bytes) { send(reply) }
//!     on upstream reply:    resolver.handle_response(now, upstream, from, bytes)
//!     on deadline:          resolver.handle_timeout(now)
//!     then drain:           poll_transmit (send each from a fresh random port), poll_cancel (close
//!                           those sockets), poll_reply (answer clients), poll_event (log/trace),
//!                           and sleep until poll_timeout.
//! }
//! ```
//!
//! Resolution follows RFC 1034 §5.3.3: the cache first; else the deepest zone whose name
//! servers are cached (else the root hints); ask one of its servers; a referral moves down a
//! zone (glue used only in bailiwick), a CNAME restarts with the target, NXDOMAIN/NODATA are
//! cached negatively (RFC 2308), errors and timeouts move on to the next server. Name servers
//! without glue are looked up by sub-tasks. Every reply must match its query exactly
//! (RFC 5452): address, port, ID, question (and its 0x20 case).
//!
//! Other modules: [`cache`] (the TTL cache), [`hints`] (root hints files), [`net`] (sockets,
//! and `trace`, the iterative walk of `dns query +trace`). The stub client, dig's layout and
//! the registrar are `dns-client`'s.

pub mod cache;
pub mod hints;
mod machine;
pub mod net;
mod rendered;

pub use cache::{Cache, CacheLimits, CacheStats, Lookup, Negative, Rank};
pub use machine::{
    Admission, ClientId, Event, Options, Outcome, Reply, Resolver, Stats, TaskId, Transmit,
    Transport, UpstreamId,
};

#[cfg(test)]
mod sim_tests;
