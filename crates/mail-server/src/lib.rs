//! The mail transfer agent (RFC 5321 §2.3.3's MTA): SMTP on 25, submission on 587 and 465, the
//! durable outgoing queue, local delivery into Maildir and relay to the next hop found through
//! DNS MX records.
//!
//! # Contract
//!
//! `250` after DATA is sent only once the message and its envelope are on stable storage
//! ([`queue::Queue::enqueue`] returns after the fsync of the file and of its directory). An
//! entry leaves the queue only after every recipient got the next hop's `250`, was committed
//! to its mailbox, or was bounced: delivery is at-least-once.
//!
//! # Layout
//!
//! `auth` signs with DKIM and checks DKIM and SPF (through `mail-auth`). `policy` (who may send what to whom) and `bounce` (the RFC 3464 report) are pure; `queue`
//! owns the queue's files and `maildir` the mailboxes; `net` (the listeners) and
//! `delivery` (the queue manager: local delivery, MX lookup, the SMTP client) are the tokio
//! drivers of `smtp_proto`'s machines.

pub mod auth;
mod bounce;
pub mod config;
pub mod control;
pub mod delivery;
pub mod fetch;
pub mod headers;
mod imap;
pub mod imap_store;
pub mod maildir;
pub mod net;
pub mod policy;
mod pop3;
pub mod queue;
pub mod submit;
pub mod webmail;

pub use config::{Listener, ListenerKind, MailConfig, Retry};
pub use net::{bind, MailServer};
pub use submit::send;

/// Errors of setting up a mail server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A setting is wrong.
    #[error("mail configuration: {0}")]
    Config(String),
    /// A listening address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The queue cannot be opened.
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
    /// The mail store cannot be opened.
    #[error(transparent)]
    Store(#[from] maildir::StoreError),
}

/// An RFC 5322 §3.3 date (`Sat, 05 Dec 2026 21:17:21 +0000`).
pub fn rfc5322_date(time: std::time::SystemTime) -> String {
    let http = http_proto::fmt_http_date(time);
    match http.strip_suffix(" GMT") {
        Some(date) => format!("{date} +0000"),
        None => http,
    }
}
