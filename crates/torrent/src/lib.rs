//! BitTorrent drivers over the sans-IO `bt-proto`: [`create`] makes a `.torrent` from a file
//! or a folder on disk (the files are read in order and fed to
//! [`bt_proto::build::TorrentBuilder`]); [`tracker`] serves HTTP and UDP announces and
//! scrapes; [`client`] downloads and seeds (over [`storage`] and [`announce`]), serving its
//! metadata to magnet clients; [`magnet`] gets a magnet link's metadata from peers;
//! [`experiment`] measures client-server against P2P distribution time in network namespaces.

pub mod announce;
pub mod client;
pub mod create;
pub mod experiment;
pub mod magnet;
pub mod storage;
pub mod tracker;

pub use create::{create, CreateError, CreateOptions};
pub use tracker::{bind as bind_tracker, TrackerServer, TrackerServerConfig};
