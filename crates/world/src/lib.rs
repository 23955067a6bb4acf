//! The mini-Internet: a world is a set of hosts, each on its own loopback address, each running
//! some of applayer's services.
//!
//! - [`model`]: the world file (TOML) and its validation, reporting every error with its line;
//! - [`DEFAULT_WORLD`]: the embedded default world, the hosts of the textbook's examples;
//! - [`site`]: the default world's web content, embedded;
//! - [`resolve`]: name resolution for clients (the world's host table, or its DNS);
//! - [`run`]: starting every service of every host in this process, and the self-check;
//! - [`scenario`]: the textbook walkthroughs replayed on the running world;
//! - [`trace`]: recording every `wire` event as JSON lines and drawing them as a sequence
//!   diagram between named hosts.

pub mod model;
pub mod resolve;
pub mod run;
pub mod scenario;
pub mod site;
pub mod trace;

pub use model::{Host, Service, ServiceKind, World, WorldError};

/// The default world's TOML, embedded in the binary (`applayer world example` prints it).
pub const DEFAULT_WORLD: &str = include_str!("../worlds/default.toml");
