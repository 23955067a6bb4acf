//! DNS wire format and zone files, sans-IO.
//!
//! Contract: no sockets, no files, no clock, no randomness. Everything a peer can send is
//! parsed into types or rejected with a [`DecodeError`]; nothing here panics on network input.
//! Names compare case-insensitively and keep their case.
//!
//! The run loop of a server built on it:
//!
//! ```
//! use dns_proto::{Message, Question, Name, RecordType, Rcode};
//! # let query = Message::query(7, Question::new("example.com".parse().unwrap(), RecordType::A), true).encode();
//! // bytes from the socket
//! let reply = match Message::decode(&query) {
//!     Ok(query) => {
//!         let mut response = Message::response_to(&query);
//!         response.rcode = Rcode::REFUSED;
//!         response.encode_limited(query.max_udp_payload() as usize)
//!     }
//!     Err(_) => Vec::new(), // answer FORMERR from `Header::decode`, or drop
//! };
//! // bytes to the socket
//! # assert!(!reply.is_empty());
//! ```

pub mod ecs;
mod error;
mod message;
mod name;
mod rdata;
pub mod tsig;
mod types;
mod wire;
pub mod zone;

pub use ecs::{ClientSubnet, EcsError, ECS_OPTION_CODE};
pub use error::{DecodeError, NameError};
pub use message::{
    Edns, Flags, Header, Message, Question, Record, Summary, WireSummary, CLASSIC_UDP_SIZE,
    HEADER_LEN,
};
pub use name::{Labels, Name, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use rdata::{Caa, EdnsOption, Mx, Rdata, Soa, Srv, Tsig};
pub use types::{Class, Opcode, Rcode, RecordType, UnknownMnemonic};
