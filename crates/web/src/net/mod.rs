//! The tokio drivers of the web crate: the origin server's accept loop and connections
//! (`server`), its file access (`fs`), and the page-fetching client's connections (`client`).
//! Everything outside this module is sans-IO.

pub(crate) mod client;
mod fs;
mod h2;
mod server;
mod transport;

pub use server::{bind, WebServer};
