//! Conformance tests of http-cache, filed by RFC section; each opens with the quoted requirement.

mod rfc5861;
mod rfc9111;
mod support;
