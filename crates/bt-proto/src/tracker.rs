//! A tracker's state, sans-IO: swarms keyed by info-hash, peers that announce (BEP 3), the
//! HTTP announce and scrape answers in bencode (BEP 3, compact peers BEP 23 and BEP 7's
//! `peers6`, scrape BEP 48), and the UDP tracker protocol (BEP 15) in [`crate::udp_tracker`].
//! Time (seconds) and randomness come in as arguments.

use crate::bencode::{text, Value};
use crate::Sha1Hash;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

/// How the tracker answers.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Seconds a client should wait between announces.
    pub interval: u32,
    /// Seconds it must wait at least.
    pub min_interval: u32,
    /// Peers given when the client does not say (`numwant`).
    pub default_numwant: usize,
    /// The most peers given.
    pub max_numwant: usize,
    /// Seconds after its last announce when a silent peer is forgotten.
    pub peer_timeout: u64,
    /// The most torrents tracked (announces for new ones are refused beyond).
    pub max_torrents: usize,
    /// The most peers per torrent (new peers are refused beyond).
    pub max_peers: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            interval: 120,
            min_interval: 30,
            default_numwant: 50,
            max_numwant: 200,
            peer_timeout: 2 * 120 + 60,
            max_torrents: 100_000,
            max_peers: 100_000,
        }
    }
}

/// The `event` of an announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A regular announce.
    None,
    /// The download starts.
    Started,
    /// The download just completed.
    Completed,
    /// The client leaves the swarm.
    Stopped,
}

/// One announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The torrent.
    pub info_hash: Sha1Hash,
    /// The client's peer id.
    pub peer_id: [u8; 20],
    /// Where peers reach it: the request's source address with its announced port (an `ip`
    /// parameter is not trusted, so nobody can aim a swarm at a third party).
    pub addr: SocketAddr,
    /// Bytes uploaded so far.
    pub uploaded: u64,
    /// Bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still missing (0: a seeder).
    pub left: u64,
    /// The event.
    pub event: Event,
    /// Peers wanted.
    pub numwant: Option<usize>,
}

/// The answer to an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Seconds until the next announce.
    pub interval: u32,
    /// Seconds at least.
    pub min_interval: u32,
    /// Seeders.
    pub complete: u64,
    /// Leechers.
    pub incomplete: u64,
    /// Other peers of the swarm (id, address).
    pub peers: Vec<([u8; 20], SocketAddr)>,
}

/// Why an announce is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// A required parameter is missing or malformed.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The tracker is full (torrents or peers).
    #[error("tracker full")]
    Full,
}

/// A torrent's counts for scrapes and the status page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwarmStats {
    /// Seeders.
    pub complete: u64,
    /// Leechers.
    pub incomplete: u64,
    /// Completed downloads announced (`event=completed`).
    pub downloaded: u64,
}

#[derive(Clone, Debug)]
struct Peer {
    addr: SocketAddr,
    left: u64,
    last_seen: u64,
}

#[derive(Clone, Debug, Default)]
struct Swarm {
    peers: HashMap<[u8; 20], Peer>,
    completed: u64,
}

impl Swarm {
    fn stats(&self) -> SwarmStats {
        let complete = self.peers.values().filter(|peer| peer.left == 0).count() as u64;
        SwarmStats {
            complete,
            incomplete: self.peers.len() as u64 - complete,
            downloaded: self.completed,
        }
    }
}

/// The tracker's swarms.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    swarms: HashMap<Sha1Hash, Swarm>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            swarms: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Records `announce` at `now` (seconds) and picks peers for it; `random` seeds the pick.
    pub fn announce(
        &mut self,
        announce: &Announce,
        now: u64,
        random: u64,
    ) -> Result<AnnounceReply, AnnounceError> {
        if announce.addr.port() == 0 {
            return Err(AnnounceError::Invalid("port"));
        }
        if !self.swarms.contains_key(&announce.info_hash) {
            if announce.event == Event::Stopped {
                return Ok(self.reply(SwarmStats::default(), Vec::new()));
            }
            if self.swarms.len() >= self.config.max_torrents {
                return Err(AnnounceError::Full);
            }
        }
        let max_peers = self.config.max_peers;
        let swarm = self.swarms.entry(announce.info_hash).or_default();
        if announce.event == Event::Stopped {
            swarm.peers.remove(&announce.peer_id);
            let stats = swarm.stats();
            return Ok(self.reply(stats, Vec::new()));
        }
        if !swarm.peers.contains_key(&announce.peer_id) && swarm.peers.len() >= max_peers {
            return Err(AnnounceError::Full);
        }
        let was = swarm.peers.insert(
            announce.peer_id,
            Peer {
                addr: announce.addr,
                left: announce.left,
                last_seen: now,
            },
        );
        // A completion counts once per peer: the event, or a leecher that became a seeder.
        let finished_now = announce.left == 0 && was.as_ref().is_some_and(|peer| peer.left > 0);
        if announce.event == Event::Completed && (finished_now || was.is_none())
            || (finished_now && announce.event != Event::Completed)
        {
            swarm.completed += 1;
        }
        let wanted = announce
            .numwant
            .unwrap_or(self.config.default_numwant)
            .min(self.config.max_numwant);
        // Seeders need only leechers; everyone else gets anyone.
        let seeder = announce.left == 0;
        let mut candidates: Vec<([u8; 20], SocketAddr)> = swarm
            .peers
            .iter()
            .filter(|(id, peer)| **id != announce.peer_id && !(seeder && peer.left == 0))
            .map(|(id, peer)| (*id, peer.addr))
            .collect();
        candidates.sort_by_key(|(id, _)| *id);
        shuffle(&mut candidates, random);
        candidates.truncate(wanted);
        let stats = swarm.stats();
        Ok(self.reply(stats, candidates))
    }

    fn reply(&self, stats: SwarmStats, peers: Vec<([u8; 20], SocketAddr)>) -> AnnounceReply {
        AnnounceReply {
            interval: self.config.interval,
            min_interval: self.config.min_interval,
            complete: stats.complete,
            incomplete: stats.incomplete,
            peers,
        }
    }

    /// Forgets peers silent for longer than the timeout, and swarms left empty (their
    /// completion counts go with them).
    pub fn expire(&mut self, now: u64) {
        let timeout = self.config.peer_timeout;
        for swarm in self.swarms.values_mut() {
            swarm
                .peers
                .retain(|_, peer| now.saturating_sub(peer.last_seen) <= timeout);
        }
        self.swarms
            .retain(|_, swarm| !swarm.peers.is_empty() || swarm.completed > 0);
    }

    /// The counts of one torrent (zeros if unknown).
    pub fn stats(&self, info_hash: &Sha1Hash) -> SwarmStats {
        self.swarms
            .get(info_hash)
            .map(Swarm::stats)
            .unwrap_or_default()
    }

    /// Every tracked torrent with its counts, by info-hash.
    pub fn torrents(&self) -> Vec<(Sha1Hash, SwarmStats)> {
        let mut all: Vec<_> = self
            .swarms
            .iter()
            .map(|(hash, swarm)| (*hash, swarm.stats()))
            .collect();
        all.sort_by_key(|(hash, _)| *hash);
        all
    }
}

/// Fisher–Yates with a xorshift generator seeded by `seed`.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// The bencoded HTTP answer to an announce: compact (`peers` of 6-byte IPv4 entries and
/// `peers6` of 18-byte IPv6 ones, BEP 23 / BEP 7) or the original list of dictionaries.
pub fn encode_announce_reply(reply: &AnnounceReply, compact: bool) -> Vec<u8> {
    let mut root = BTreeMap::new();
    root.insert(b"complete".to_vec(), Value::Int(reply.complete as i64));
    root.insert(b"incomplete".to_vec(), Value::Int(reply.incomplete as i64));
    root.insert(b"interval".to_vec(), Value::Int(i64::from(reply.interval)));
    root.insert(
        b"min interval".to_vec(),
        Value::Int(i64::from(reply.min_interval)),
    );
    if compact {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (_, addr) in &reply.peers {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    v4.extend_from_slice(&ip.octets());
                    v4.extend_from_slice(&addr.port().to_be_bytes());
                }
                IpAddr::V6(ip) => {
                    v6.extend_from_slice(&ip.octets());
                    v6.extend_from_slice(&addr.port().to_be_bytes());
                }
            }
        }
        root.insert(b"peers".to_vec(), Value::Bytes(v4));
        if !v6.is_empty() {
            root.insert(b"peers6".to_vec(), Value::Bytes(v6));
        }
    } else {
        let peers = reply
            .peers
            .iter()
            .map(|(id, addr)| {
                let mut peer = BTreeMap::new();
                peer.insert(b"ip".to_vec(), text(&addr.ip().to_string()));
                peer.insert(b"peer id".to_vec(), Value::Bytes(id.to_vec()));
                peer.insert(b"port".to_vec(), Value::Int(i64::from(addr.port())));
                Value::Dict(peer)
            })
            .collect();
        root.insert(b"peers".to_vec(), Value::List(peers));
    }
    Value::Dict(root).encode()
}

/// The bencoded failure answer (`failure reason`), which clients show to their users.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let mut root = BTreeMap::new();
    root.insert(b"failure reason".to_vec(), text(reason));
    Value::Dict(root).encode()
}

/// The bencoded scrape answer (BEP 48) for `files`.
pub fn encode_scrape(files: &[(Sha1Hash, SwarmStats)]) -> Vec<u8> {
    let mut entries = BTreeMap::new();
    for (hash, stats) in files {
        let mut entry = BTreeMap::new();
        entry.insert(b"complete".to_vec(), Value::Int(stats.complete as i64));
        entry.insert(b"downloaded".to_vec(), Value::Int(stats.downloaded as i64));
        entry.insert(b"incomplete".to_vec(), Value::Int(stats.incomplete as i64));
        entries.insert(hash.to_vec(), Value::Dict(entry));
    }
    let mut root = BTreeMap::new();
    root.insert(b"files".to_vec(), Value::Dict(entries));
    Value::Dict(root).encode()
}

/// An HTTP announce's query string (after `?`), with the request's source address: the
/// parameters of BEP 3, bytes percent-decoded. Returns the announce and whether the client
/// asked for the compact form.
pub fn parse_announce_query(
    query: &str,
    source: IpAddr,
) -> Result<(Announce, bool), AnnounceError> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let mut uploaded = 0;
    let mut downloaded = 0;
    let mut left = None;
    let mut event = Event::None;
    let mut numwant = None;
    let mut compact = true;
    for (key, value) in query_pairs(query) {
        let number = |what| -> Result<u64, AnnounceError> {
            std::str::from_utf8(&value)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or(AnnounceError::Invalid(what))
        };
        match key.as_str() {
            "info_hash" => {
                info_hash = Some(
                    <[u8; 20]>::try_from(value.as_slice())
                        .map_err(|_| AnnounceError::Invalid("info_hash"))?,
                )
            }
            "peer_id" => {
                peer_id = Some(
                    <[u8; 20]>::try_from(value.as_slice())
                        .map_err(|_| AnnounceError::Invalid("peer_id"))?,
                )
            }
            "port" => {
                port = Some(
                    u16::try_from(number("port")?).map_err(|_| AnnounceError::Invalid("port"))?,
                )
            }
            "uploaded" => uploaded = number("uploaded")?,
            "downloaded" => downloaded = number("downloaded")?,
            "left" => left = Some(number("left")?),
            "numwant" => numwant = Some(number("numwant")? as usize),
            "compact" => compact = value != b"0",
            "event" => {
                event = match value.as_slice() {
                    b"started" => Event::Started,
                    b"completed" => Event::Completed,
                    b"stopped" => Event::Stopped,
                    b"" | b"empty" | b"paused" => Event::None,
                    _ => return Err(AnnounceError::Invalid("event")),
                }
            }
            _ => {}
        }
    }
    let announce = Announce {
        info_hash: info_hash.ok_or(AnnounceError::Invalid("info_hash"))?,
        peer_id: peer_id.ok_or(AnnounceError::Invalid("peer_id"))?,
        addr: SocketAddr::new(source, port.ok_or(AnnounceError::Invalid("port"))?),
        uploaded,
        downloaded,
        left: left.ok_or(AnnounceError::Invalid("left"))?,
        event,
        numwant,
    };
    Ok((announce, compact))
}

/// The `info_hash` parameters of a scrape's query (none: every torrent, BEP 48).
pub fn parse_scrape_query(query: &str) -> Result<Vec<Sha1Hash>, AnnounceError> {
    query_pairs(query)
        .filter(|(key, _)| key == "info_hash")
        .map(|(_, value)| {
            <[u8; 20]>::try_from(value.as_slice()).map_err(|_| AnnounceError::Invalid("info_hash"))
        })
        .collect()
}

/// `key=value` pairs of a query string, percent-decoded to bytes (`+` is a space).
fn query_pairs(query: &str) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                String::from_utf8_lossy(&decode(key)).into_owned(),
                decode(value),
            )
        })
}

fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => match crate::magnet::hex_pair(bytes.get(at + 1..at + 3)) {
                Some(byte) => {
                    out.push(byte);
                    at += 3;
                }
                None => {
                    out.push(b'%');
                    at += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::decode as bdecode;

    fn announce(id: u8, left: u64, event: Event, port: u16) -> Announce {
        Announce {
            info_hash: [7; 20],
            peer_id: [id; 20],
            addr: SocketAddr::from(([127, 0, 0, id], port)),
            uploaded: 0,
            downloaded: 0,
            left,
            event,
            numwant: None,
        }
    }

    #[test]
    fn swarm_counts_peers_and_completions() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let seed = tracker
            .announce(&announce(1, 0, Event::Started, 6881), 0, 1)
            .unwrap();
        assert_eq!((seed.complete, seed.incomplete), (1, 0));
        assert!(seed.peers.is_empty(), "no one else yet");
        let leech = tracker
            .announce(&announce(2, 100, Event::Started, 6882), 1, 2)
            .unwrap();
        assert_eq!(
            leech.peers,
            vec![([1; 20], "127.0.0.1:6881".parse().unwrap())]
        );
        // The seeder is told of the leecher, never of other seeders.
        let again = tracker
            .announce(&announce(1, 0, Event::None, 6881), 2, 3)
            .unwrap();
        assert_eq!(again.peers.len(), 1);
        let done = tracker
            .announce(&announce(2, 0, Event::Completed, 6882), 3, 4)
            .unwrap();
        assert_eq!((done.complete, done.incomplete), (2, 0));
        assert_eq!(tracker.stats(&[7; 20]).downloaded, 1);
        // Stopped leaves; silence expires.
        tracker
            .announce(&announce(2, 0, Event::Stopped, 6882), 4, 5)
            .unwrap();
        assert_eq!(tracker.stats(&[7; 20]).complete, 1);
        tracker.expire(4 + tracker.config().peer_timeout + 1);
        assert_eq!(tracker.stats(&[7; 20]).complete, 0);
        assert_eq!(tracker.stats(&[7; 20]).downloaded, 1, "the count stays");
    }

    #[test]
    fn numwant_and_limits() {
        let mut tracker = Tracker::new(TrackerConfig {
            max_numwant: 5,
            max_peers: 30,
            ..TrackerConfig::default()
        });
        for id in 1..=30 {
            tracker
                .announce(&announce(id, 10, Event::Started, 7000), 0, u64::from(id))
                .unwrap();
        }
        let mut ask = announce(1, 10, Event::None, 7000);
        ask.numwant = Some(3);
        assert_eq!(tracker.announce(&ask, 1, 9).unwrap().peers.len(), 3);
        ask.numwant = Some(100);
        assert_eq!(tracker.announce(&ask, 1, 9).unwrap().peers.len(), 5);
        assert_eq!(
            tracker.announce(&announce(31, 10, Event::Started, 7000), 1, 1),
            Err(AnnounceError::Full)
        );
    }

    #[test]
    fn http_query_and_answers() {
        let query = "info_hash=%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07\
            &peer_id=-AL0001-abcdefghijkl&port=51413&uploaded=0&downloaded=0&left=5&event=started\
            &compact=1&ip=6.6.6.6";
        let (parsed, compact) = parse_announce_query(query, "127.0.0.9".parse().unwrap()).unwrap();
        assert!(compact);
        assert_eq!(parsed.info_hash, [7; 20]);
        assert_eq!(
            parsed.addr,
            "127.0.0.9:51413".parse().unwrap(),
            "ip= is ignored"
        );
        assert_eq!(&parsed.peer_id, b"-AL0001-abcdefghijkl");
        for bad in [
            "",
            "info_hash=short&peer_id=-AL0001-abcdefghijkl&port=1&left=0",
        ] {
            assert!(parse_announce_query(bad, "127.0.0.1".parse().unwrap()).is_err());
        }
        let reply = AnnounceReply {
            interval: 120,
            min_interval: 30,
            complete: 1,
            incomplete: 2,
            peers: vec![
                ([1; 20], "10.0.0.1:6881".parse().unwrap()),
                ([2; 20], "[::1]:6882".parse().unwrap()),
            ],
        };
        let compact = bdecode(&encode_announce_reply(&reply, true)).unwrap();
        assert_eq!(
            compact.get("peers").unwrap().as_bytes().unwrap(),
            [10, 0, 0, 1, 0x1a, 0xe1]
        );
        assert_eq!(compact.get("peers6").unwrap().as_bytes().unwrap().len(), 18);
        let full = bdecode(&encode_announce_reply(&reply, false)).unwrap();
        assert_eq!(full.get("peers").unwrap().as_list().unwrap().len(), 2);
        let scrape = bdecode(&encode_scrape(&[(
            [7; 20],
            SwarmStats {
                complete: 1,
                incomplete: 2,
                downloaded: 3,
            },
        )]))
        .unwrap();
        let entry = scrape
            .get("files")
            .unwrap()
            .as_dict()
            .unwrap()
            .get(&[7u8; 20][..])
            .unwrap();
        assert_eq!(entry.get("downloaded"), Some(&Value::Int(3)));
        assert_eq!(
            parse_scrape_query(
                "info_hash=%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07%07"
            )
            .unwrap(),
            vec![[7; 20]]
        );
        assert_eq!(decode("%4"), b"%4");
        assert_eq!(decode("a%2"), b"a%2");
    }
}
