//! The UDP tracker protocol (BEP 15), sans-IO: connect, announce, scrape and error packets
//! over a [`Tracker`]. Connection ids are a keyed MAC (HMAC-SHA256 with the tracker's secret)
//! of the client's IP address and a two-minute window, so a spoofer who cannot receive at an
//! address cannot announce from it; an id is good for its window and the next. The port is
//! left out of the MAC: libtorrent shares one connection id between all its sockets of a
//! process, as BEP 15 allows (the id belongs to the client's address).

use crate::tracker::{Announce, AnnounceError, Event, Tracker};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

/// The magic `protocol_id` of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Seconds per connection-id window.
pub const WINDOW: u64 = 120;
/// The most info-hashes in one scrape (BEP 15: about 74 fit a packet).
pub const MAX_SCRAPE: usize = 74;

const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

fn connection_id(secret: &[u8; 32], from: SocketAddr, window: u64) -> u64 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    match from.ip() {
        IpAddr::V4(ip) => mac.update(&ip.octets()),
        IpAddr::V6(ip) => mac.update(&ip.octets()),
    }
    mac.update(&window.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    u64::from_be_bytes([
        tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7],
    ])
}

fn valid_id(secret: &[u8; 32], from: SocketAddr, id: u64, now: u64) -> bool {
    let window = now / WINDOW;
    id == connection_id(secret, from, window)
        || (window > 0 && id == connection_id(secret, from, window - 1))
}

fn u32_at(packet: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
}

fn u64_at(packet: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(packet[at..at + 8].try_into().unwrap_or([0; 8]))
}

fn error(transaction: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + message.len());
    out.extend_from_slice(&ERROR.to_be_bytes());
    out.extend_from_slice(&transaction.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// A one-line description of a request packet, for wire events.
pub fn describe(packet: &[u8]) -> String {
    if packet.len() < 16 {
        return format!("{} bytes (too short)", packet.len());
    }
    match u32_at(packet, 8) {
        CONNECT => "connect".to_string(),
        ANNOUNCE if packet.len() >= 98 => format!(
            "announce {} left={}{}",
            crate::hex(&packet[16..36]),
            u64_at(packet, 64),
            match u32_at(packet, 80) {
                1 => " completed",
                2 => " started",
                3 => " stopped",
                _ => "",
            }
        ),
        SCRAPE => format!("scrape {} torrents", (packet.len() - 16) / 20),
        action => format!("action {action}"),
    }
}

/// Answers one request packet from `from` at `now` (seconds); `None` drops it (too short,
/// or a connect without the magic number). `random` seeds the peer pick.
pub fn handle(
    tracker: &mut Tracker,
    secret: &[u8; 32],
    packet: &[u8],
    from: SocketAddr,
    now: u64,
    random: u64,
) -> Option<Vec<u8>> {
    if packet.len() < 16 {
        return None;
    }
    let id = u64_at(packet, 0);
    let action = u32_at(packet, 8);
    let transaction = u32_at(packet, 12);
    if action == CONNECT {
        if id != PROTOCOL_ID {
            return None;
        }
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&CONNECT.to_be_bytes());
        out.extend_from_slice(&transaction.to_be_bytes());
        out.extend_from_slice(&connection_id(secret, from, now / WINDOW).to_be_bytes());
        return Some(out);
    }
    if !valid_id(secret, from, id, now) {
        return Some(error(transaction, "unknown or expired connection id"));
    }
    match action {
        ANNOUNCE => {
            if packet.len() < 98 {
                return Some(error(transaction, "announce too short"));
            }
            let mut info_hash = [0u8; 20];
            info_hash.copy_from_slice(&packet[16..36]);
            let mut peer_id = [0u8; 20];
            peer_id.copy_from_slice(&packet[36..56]);
            let event = match u32_at(packet, 80) {
                1 => Event::Completed,
                2 => Event::Started,
                3 => Event::Stopped,
                _ => Event::None,
            };
            let numwant = i32::from_be_bytes(packet[92..96].try_into().unwrap_or([0; 4]));
            let port = u16::from_be_bytes([packet[96], packet[97]]);
            let announce = Announce {
                info_hash,
                peer_id,
                // The `ip` field (84..88) is not trusted: the packet's source is.
                addr: SocketAddr::new(from.ip(), port),
                downloaded: u64_at(packet, 56),
                left: u64_at(packet, 64),
                uploaded: u64_at(packet, 72),
                event,
                numwant: usize::try_from(numwant).ok(),
            };
            match tracker.announce(&announce, now, random) {
                Ok(reply) => {
                    let v6 = from.is_ipv6();
                    let mut out = Vec::with_capacity(20 + reply.peers.len() * 18);
                    out.extend_from_slice(&ANNOUNCE.to_be_bytes());
                    out.extend_from_slice(&transaction.to_be_bytes());
                    out.extend_from_slice(&reply.interval.to_be_bytes());
                    out.extend_from_slice(&(reply.incomplete as u32).to_be_bytes());
                    out.extend_from_slice(&(reply.complete as u32).to_be_bytes());
                    for (_, addr) in &reply.peers {
                        match (addr.ip(), v6) {
                            (IpAddr::V4(ip), false) => out.extend_from_slice(&ip.octets()),
                            (IpAddr::V6(ip), true) => out.extend_from_slice(&ip.octets()),
                            _ => continue,
                        }
                        out.extend_from_slice(&addr.port().to_be_bytes());
                    }
                    Some(out)
                }
                Err(AnnounceError::Full) => Some(error(transaction, "tracker full")),
                Err(AnnounceError::Invalid(what)) => {
                    Some(error(transaction, &format!("invalid {what}")))
                }
            }
        }
        SCRAPE => {
            let hashes = &packet[16..];
            if hashes.is_empty()
                || !hashes.len().is_multiple_of(20)
                || hashes.len() / 20 > MAX_SCRAPE
            {
                return Some(error(transaction, "bad scrape"));
            }
            let mut out = Vec::with_capacity(8 + hashes.len() / 20 * 12);
            out.extend_from_slice(&SCRAPE.to_be_bytes());
            out.extend_from_slice(&transaction.to_be_bytes());
            for hash in hashes.chunks_exact(20) {
                let mut info_hash = [0u8; 20];
                info_hash.copy_from_slice(hash);
                let stats = tracker.stats(&info_hash);
                out.extend_from_slice(&(stats.complete as u32).to_be_bytes());
                out.extend_from_slice(&(stats.downloaded as u32).to_be_bytes());
                out.extend_from_slice(&(stats.incomplete as u32).to_be_bytes());
            }
            Some(out)
        }
        _ => Some(error(transaction, "unknown action")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::TrackerConfig;

    fn connect(tracker: &mut Tracker, secret: &[u8; 32], from: SocketAddr, now: u64) -> u64 {
        let mut packet = PROTOCOL_ID.to_be_bytes().to_vec();
        packet.extend_from_slice(&0u32.to_be_bytes());
        packet.extend_from_slice(&0xabcdu32.to_be_bytes());
        let reply = handle(tracker, secret, &packet, from, now, 1).unwrap();
        assert_eq!(&reply[..8], &[0, 0, 0, 0, 0, 0, 0xab, 0xcd]);
        u64_at(&reply, 8)
    }

    fn announce_packet(id: u64, peer: u8, left: u64, port: u16) -> Vec<u8> {
        let mut packet = id.to_be_bytes().to_vec();
        packet.extend_from_slice(&ANNOUNCE.to_be_bytes());
        packet.extend_from_slice(&7u32.to_be_bytes());
        packet.extend_from_slice(&[9; 20]);
        packet.extend_from_slice(&[peer; 20]);
        packet.extend_from_slice(&0u64.to_be_bytes());
        packet.extend_from_slice(&left.to_be_bytes());
        packet.extend_from_slice(&0u64.to_be_bytes());
        packet.extend_from_slice(&2u32.to_be_bytes());
        packet.extend_from_slice(&[6, 6, 6, 6]);
        packet.extend_from_slice(&0u32.to_be_bytes());
        packet.extend_from_slice(&(-1i32).to_be_bytes());
        packet.extend_from_slice(&port.to_be_bytes());
        packet
    }

    #[test]
    fn connect_announce_scrape() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let secret = [3u8; 32];
        let seeder: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let leecher: SocketAddr = "127.0.0.2:40001".parse().unwrap();
        let id = connect(&mut tracker, &secret, seeder, 1000);
        let reply = handle(
            &mut tracker,
            &secret,
            &announce_packet(id, 1, 0, 6881),
            seeder,
            1001,
            1,
        )
        .unwrap();
        assert_eq!(u32_at(&reply, 0), ANNOUNCE);
        assert_eq!(u32_at(&reply, 16), 1, "one seeder");
        let id2 = connect(&mut tracker, &secret, leecher, 1002);
        let reply = handle(
            &mut tracker,
            &secret,
            &announce_packet(id2, 2, 50, 6882),
            leecher,
            1003,
            1,
        )
        .unwrap();
        assert_eq!(
            &reply[20..],
            &[127, 0, 0, 1, 0x1a, 0xe1],
            "the seeder, at its packet's address"
        );
        let mut scrape = id.to_be_bytes().to_vec();
        scrape.extend_from_slice(&SCRAPE.to_be_bytes());
        scrape.extend_from_slice(&8u32.to_be_bytes());
        scrape.extend_from_slice(&[9; 20]);
        let reply = handle(&mut tracker, &secret, &scrape, seeder, 1004, 1).unwrap();
        assert_eq!((u32_at(&reply, 8), u32_at(&reply, 16)), (1, 1));
        // Another address cannot use the seeder's id; an old id expires.
        let spoof = handle(
            &mut tracker,
            &secret,
            &announce_packet(id, 3, 0, 1),
            leecher,
            1005,
            1,
        )
        .unwrap();
        assert_eq!(u32_at(&spoof, 0), ERROR);
        let late = handle(
            &mut tracker,
            &secret,
            &announce_packet(id, 1, 0, 6881),
            seeder,
            1000 + 3 * WINDOW,
            1,
        )
        .unwrap();
        assert_eq!(u32_at(&late, 0), ERROR);
        // Junk is dropped or answered with an error, never a panic.
        assert!(handle(&mut tracker, &secret, b"short", seeder, 1, 1).is_none());
        let mut bad_connect = 1u64.to_be_bytes().to_vec();
        bad_connect.extend_from_slice(&[0; 8]);
        assert!(handle(&mut tracker, &secret, &bad_connect, seeder, 1, 1).is_none());
        let mut short_announce = announce_packet(id, 1, 0, 6881);
        short_announce.truncate(50);
        let reply = handle(&mut tracker, &secret, &short_announce, seeder, 1001, 1).unwrap();
        assert_eq!(u32_at(&reply, 0), ERROR);
        assert!(describe(&announce_packet(id, 1, 0, 6881)).starts_with("announce 0909"));
    }
}
