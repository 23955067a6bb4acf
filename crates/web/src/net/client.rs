//! The page-fetching client's connections.
