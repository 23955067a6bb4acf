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

pub mod policy;
pub mod queue;
