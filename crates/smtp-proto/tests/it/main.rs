//! Integration tests of smtp-proto: RFC example conversations, a server and a client driven
//! against each other in memory, and robustness properties over splits and random bytes.

mod pair;
mod rfc2920;
mod rfc3030;
mod rfc4954;
mod rfc5321;
mod robustness;
mod scenarios;
