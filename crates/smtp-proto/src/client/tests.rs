//! Unit tests of the client session.
