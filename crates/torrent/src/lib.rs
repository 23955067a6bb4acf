//! BitTorrent drivers over the sans-IO `bt-proto`: [`create`] makes a `.torrent` from a file
//! or a folder on disk (the files are read in order and fed to
//! [`bt_proto::build::TorrentBuilder`]). The tracker and the peer client will join it here.

pub mod create;

pub use create::{create, CreateError, CreateOptions};
