//! Integration tests of the web crate: the origin server end to end over real sockets, and
//! interoperability with curl, wget and Python's http.client.

mod client;
mod interop;
mod server;
mod support;
