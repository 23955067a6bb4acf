//! The torrent crate's integration tests: torrents we make against Transmission and
//! libtorrent, and torrents Transmission makes read by us.

mod interop;
