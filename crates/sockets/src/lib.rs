//! The socket programs of the curriculum (seed §2.7): the uppercase service over TCP and UDP,
//! and a UDP pinger.
//!
//! The protocol logic is sans-IO and lives in [`upper`] (streaming Unicode-aware uppercasing)
//! and [`ping`] (ping messages and `ping`-style statistics). The tokio servers and clients live
//! in [`net`].
//!
//! The uppercase service is deliberately streaming: the server uppercases bytes as they arrive
//! and writes them straight back, so it serves the textbook's TCP client (which sends a sentence
//! without a newline and waits) as well as line-oriented clients such as `nc`, and holds no more
//! than a few bytes per connection whatever the client sends.

pub mod net;
pub mod ping;
pub mod upper;
