//! BitTorrent, sans-IO: strict bencode ([`bencode`]), `.torrent` metainfo v1 single- and
//! multi-file with BEP 12 tracker tiers ([`metainfo`]), building a torrent from bytes fed in
//! order ([`build`]), magnet links ([`magnet`]) and the layout `transmission-show` prints
//! ([`show`]).
//!
//! Contract: nothing here touches a socket or a file, reads a clock, or panics on input;
//! times come in as arguments. SHA-1 is the `sha1` crate's.
//!
//! ```
//! let torrent = bt_proto::build::TorrentBuilder::new("hello.txt", &[(vec![], 5)], 16 * 1024)
//!     .unwrap()
//!     .feed(b"hello")
//!     .finish(&bt_proto::build::Extras::default())
//!     .unwrap();
//! let meta = bt_proto::metainfo::Metainfo::parse(&torrent).unwrap();
//! assert_eq!(meta.info.name, "hello.txt");
//! assert_eq!(meta.info.total_length(), 5);
//! ```

pub mod bencode;
pub mod build;
pub mod choker;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod peer;
pub mod picker;
pub mod show;
pub mod tracker;
pub mod udp_tracker;
pub mod wire;

pub use bencode::{BencodeError, Value};
pub use metainfo::{Metainfo, MetainfoError};

/// A 20-byte SHA-1 digest (an info-hash or a piece hash).
pub type Sha1Hash = [u8; 20];

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}
