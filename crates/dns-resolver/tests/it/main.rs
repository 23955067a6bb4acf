//! Integration tests of the local DNS server: against NSD/Knot hierarchies, next to Unbound,
//! with dig/kdig as clients, under spoofing and with dead upstreams, and dnspython as oracle.

mod harness;
mod hierarchy;
mod hostile;
mod oracle;
mod ours;
