//! Integration tests of smtp-proto.
