//! Integration tests of the authoritative server: answers (sans-IO), the network driver, and
//! interoperability with dig, kdig, nsupdate, NSD and Knot.

mod answers;
mod interop;
mod server;
mod util;
