//! Fuzz target: strict bencode (what decodes re-encodes to the same bytes), `.torrent`
//! metainfo (a parsed torrent has safe names and a piece table that fits), magnet links, and
//! the tracker's HTTP query parsing and UDP packet handling, and peer wire messages (what
//! decodes re-encodes to the same bytes, unknown ids aside).
#![no_main]

use bt_proto::bencode::{decode, decode_prefix};
use bt_proto::magnet::Magnet;
use bt_proto::metainfo::{safe_component, Metainfo};
use bt_proto::tracker::{parse_announce_query, parse_scrape_query, Tracker, TrackerConfig};
use bt_proto::udp_tracker;
use bt_proto::wire::{Handshake, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode(data) {
        assert_eq!(value.encode(), data, "strict bencode is canonical");
    }
    if let Ok((value, used)) = decode_prefix(data) {
        assert_eq!(value.encode(), &data[..used]);
    }
    if let Ok(meta) = Metainfo::parse(data) {
        let info = &meta.info;
        assert!(safe_component(&info.name));
        assert!(info
            .files
            .iter()
            .flat_map(|f| &f.path)
            .all(|p| safe_component(p)));
        assert_eq!(
            info.total_length().div_ceil(info.piece_length),
            info.pieces.len() as u64
        );
        let _ = bt_proto::show::transmission_show(&meta, "fuzz.torrent");
        let magnet = Magnet::of(&meta).to_string();
        assert_eq!(
            Magnet::parse(&magnet).map(|m| m.info_hash),
            Ok(meta.info_hash)
        );
    }
    let _ = Handshake::decode(data);
    let _ = bt_proto::metadata::decode_handshake(data);
    if let Some(message) = bt_proto::metadata::MetadataMessage::decode(data) {
        let _ = message.encode();
    }
    // A peer connection fed the bytes after a good handshake: events, never a panic.
    let shape = bt_proto::peer::TorrentShape {
        info_hash: [9; 20],
        peer_id: [1; 20],
        pieces: 5,
        piece_length: 32 * 1024,
        total: 150_000,
    };
    let mut conn = bt_proto::peer::PeerConn::new(shape, 0);
    conn.handle_input(&Handshake::new([9; 20], [2; 20]).encode(), 0);
    conn.set_choking(false, 0);
    for (at, chunk) in data.chunks(7).enumerate() {
        conn.handle_input(chunk, at as u64);
    }
    while conn.poll_event().is_some() {}
    if let Ok(Some((message, used))) = Message::decode(data) {
        if !matches!(message, Message::Unknown(_)) {
            assert_eq!(message.encode(), &data[..used]);
        }
    }
    let mut tracker = Tracker::new(TrackerConfig::default());
    let from = "127.0.0.1:6881".parse().unwrap();
    let _ = udp_tracker::describe(data);
    let _ = udp_tracker::handle(&mut tracker, &[1; 32], data, from, 1_000, 7);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((announce, _)) = parse_announce_query(text, from.ip()) {
            let _ = tracker.announce(&announce, 1_000, 7);
        }
        let _ = parse_scrape_query(text);
        if let Ok(magnet) = Magnet::parse(text) {
            let again = Magnet::parse(&magnet.to_string()).expect("our own link parses");
            assert_eq!(again, magnet);
        }
    }
});
