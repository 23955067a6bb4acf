//! HTTP/2 (RFC 9113) and HPACK (RFC 7541), sans-IO: [`frame`] reads and writes the frames,
//! [`hpack`] compresses header fields, and [`conn`] is a server connection's machine (the
//! preface, SETTINGS, streams and their states, flow control, and the limits that defend
//! against the known HTTP/2 attacks), and [`client`] the client side for fetching a page and
//! its objects on one connection. Bytes and time go in; bytes and events come out.

pub mod client;
pub mod conn;
pub mod frame;
pub mod hpack;
