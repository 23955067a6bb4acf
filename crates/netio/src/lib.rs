//! Socket I/O shared by every server and client of applayer.
//!
//! This is the one library crate (with `world` and the service crates' `net` modules) that
//! touches sockets, timers and tasks. Protocol crates stay sans-IO; their drivers use the pieces
//! here so that every server gets the same limits and the same shutdown behaviour:
//!
//! - [`tcp::serve`]: an accept loop with a connection limit that stops accepting on shutdown and
//!   drains the connections in flight;
//! - [`tcp::serve_parking`]: the same for protocols with idle periods (HTTP keep-alive): idle
//!   connections leave the runtime for a lot that holds them as a bare socket and a deadline;
//! - [`udp::serve`]: a receive/answer loop for datagram services;
//! - [`Shutdown`] and [`shutdown_on_signals`]: graceful stop on SIGINT/SIGTERM;
//! - [`shaper`]: a token-bucket rate shaper around any connection;
//! - [`wire::emit`]: the one structured event per protocol message that the world's timeline
//!   is drawn from;
//! - [`io`]: bounded, timed reads;
//! - [`resolve`]: pluggable name resolution and connecting from a chosen local address.

pub mod io;
mod park;
pub mod resolve;
pub mod shaper;
mod shutdown;
mod sockopt;
mod stream;
pub mod tcp;
pub mod udp;
pub mod wire;

pub use shutdown::{shutdown_on_signals, Shutdown};
