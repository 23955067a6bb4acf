//! The one structured event per protocol message that crosses the wire.
//!
//! Every driver calls [`emit`] once for each message it sends or receives. The event goes to the
//! `wire` tracing target with the fields `proto`, `dir`, `local`, `peer` and `summary`; the world
//! records these events and draws its timelines from them. The summary is formatted only when
//! the event is enabled, so a benchmark run with `RUST_LOG=warn` pays nothing for it.

use std::fmt::Display;
use std::net::SocketAddr;

/// The direction of a message, seen from the process that emits the event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The message was sent to `peer`.
    Send,
    /// The message was received from `peer`.
    Recv,
}

impl Dir {
    /// `"send"` or `"recv"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Send => "send",
            Dir::Recv => "recv",
        }
    }
}

/// Emits the `wire` event for one message.
///
/// `proto` names the protocol (`"dns"`, `"http"`, `"tcp-upper"` ...); `summary` is one line such
/// as `A? gaia.cs.umass.edu id=4711 rd`.
pub fn emit(
    proto: &'static str,
    dir: Dir,
    local: SocketAddr,
    peer: SocketAddr,
    summary: &dyn Display,
) {
    tracing::info!(
        target: "wire",
        proto,
        dir = dir.as_str(),
        local = %local,
        peer = %peer,
        summary = %summary,
    );
}

/// Whether `wire` events are enabled at all, so that a driver can skip building an expensive
/// summary.
pub fn enabled() -> bool {
    tracing::enabled!(target: "wire", tracing::Level::INFO)
}
