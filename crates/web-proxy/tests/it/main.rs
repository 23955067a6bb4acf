//! Integration tests of web-proxy: end-to-end behaviour and interop with real clients and
//! servers.

mod cdn;
mod cluster;
mod interop;
mod proxy;
mod support;
