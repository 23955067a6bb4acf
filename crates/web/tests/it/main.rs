//! Integration tests of the web crate: the origin server end to end over real sockets, and
//! interoperability with curl, wget and Python's http.client, and HTTP/2 with curl, nghttp and h2load.

mod client;
mod h2;
mod interop;
mod server;
mod support;
