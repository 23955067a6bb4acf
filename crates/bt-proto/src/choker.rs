//! Choking (BEP 3, as the textbook tells it): every 10 s the four interested peers that gave
//! us the most (while we download), or took the most (while we seed), are unchoked; one more,
//! the optimistic unchoke, is drawn every 30 s among the other interested peers, with peers
//! connected for under a minute three times as likely to be drawn (they have nothing to
//! trade yet); a peer that has sent us no block for 60 s while it unchoked us and we wanted
//! its pieces is snubbed and keeps only a chance at the optimistic slot (anti-snubbing).
//! Rates come in from the driver; time in seconds.

use std::collections::BTreeSet;

/// Regular unchoke slots.
pub const SLOTS: usize = 4;
/// Seconds between re-chokes.
pub const RECHOKE: u64 = 10;
/// Seconds between optimistic unchokes.
pub const OPTIMISTIC: u64 = 30;
/// Seconds under which a peer counts as new (three tickets in the optimistic draw).
pub const NEW_PEER: u64 = 60;
/// Seconds without a block after which a peer that unchoked us is snubbed.
pub const SNUB: u64 = 60;

/// What the choker needs to know of a peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerView {
    /// The driver's key for the peer.
    pub key: u64,
    /// Whether the peer wants our pieces.
    pub interested: bool,
    /// Bytes/s it sent us lately.
    pub rate_from: f64,
    /// Bytes/s we sent it lately.
    pub rate_to: f64,
    /// When it connected (seconds).
    pub connected_at: u64,
    /// When it last sent us a block, if ever.
    pub last_block_at: Option<u64>,
    /// Whether it unchokes us and we are interested in it.
    pub we_wait_on_it: bool,
}

impl PeerView {
    fn snubbed(&self, now: u64) -> bool {
        self.we_wait_on_it
            && now.saturating_sub(self.last_block_at.unwrap_or(self.connected_at)) >= SNUB
    }
}

/// The choker of one torrent.
#[derive(Clone, Debug, Default)]
pub struct Choker {
    last_rechoke: Option<u64>,
    last_optimistic: Option<u64>,
    optimistic: Option<u64>,
    unchoked: BTreeSet<u64>,
    random: u64,
}

impl Choker {
    /// A choker; `seed` drives the optimistic draw.
    pub fn new(seed: u64) -> Choker {
        Choker {
            random: seed | 1,
            ..Choker::default()
        }
    }

    /// Whether a re-choke is due at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.last_rechoke
            .is_none_or(|last| now.saturating_sub(last) >= RECHOKE)
    }

    /// The peers unchoked now.
    pub fn unchoked(&self) -> &BTreeSet<u64> {
        &self.unchoked
    }

    /// The optimistic unchoke, if any.
    pub fn optimistic(&self) -> Option<u64> {
        self.optimistic
    }

    /// Re-chokes at `now`: returns the peers to unchoke (the new set).
    pub fn rechoke(&mut self, peers: &[PeerView], now: u64, seeding: bool) -> BTreeSet<u64> {
        self.last_rechoke = Some(now);
        let mut regular: Vec<&PeerView> = peers
            .iter()
            .filter(|peer| peer.interested && (seeding || !peer.snubbed(now)))
            .collect();
        let rate = |peer: &PeerView| {
            if seeding {
                peer.rate_to
            } else {
                peer.rate_from
            }
        };
        regular.sort_by(|a, b| rate(b).total_cmp(&rate(a)).then(a.key.cmp(&b.key)));
        let mut chosen: BTreeSet<u64> = regular.iter().take(SLOTS).map(|peer| peer.key).collect();
        // The optimistic slot keeps its peer for 30 s unless it left or lost interest.
        let present = |key: u64| peers.iter().any(|peer| peer.key == key && peer.interested);
        let rotate = self
            .last_optimistic
            .is_none_or(|last| now.saturating_sub(last) >= OPTIMISTIC)
            || !self.optimistic.is_some_and(present);
        if rotate {
            let mut tickets: Vec<u64> = Vec::new();
            for peer in peers
                .iter()
                .filter(|peer| peer.interested && !chosen.contains(&peer.key))
            {
                let count = if now.saturating_sub(peer.connected_at) < NEW_PEER {
                    3
                } else {
                    1
                };
                tickets.extend(std::iter::repeat_n(peer.key, count));
            }
            self.optimistic = if tickets.is_empty() {
                None
            } else {
                self.random ^= self.random << 13;
                self.random ^= self.random >> 7;
                self.random ^= self.random << 17;
                Some(tickets[(self.random % tickets.len() as u64) as usize])
            };
            self.last_optimistic = Some(now);
        }
        if let Some(key) = self.optimistic {
            chosen.insert(key);
        }
        self.unchoked = chosen.clone();
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: u64, rate_from: f64, connected_at: u64) -> PeerView {
        PeerView {
            key,
            interested: true,
            rate_from,
            rate_to: 1000.0 - rate_from,
            connected_at,
            last_block_at: Some(connected_at),
            we_wait_on_it: false,
        }
    }

    #[test]
    fn four_best_uploaders_plus_one_optimistic() {
        let peers: Vec<PeerView> = (1..=8).map(|key| peer(key, key as f64 * 10.0, 0)).collect();
        let mut choker = Choker::new(9);
        assert!(choker.due(100));
        let set = choker.rechoke(&peers, 100, false);
        assert_eq!(set.len(), SLOTS + 1);
        for best in 5..=8 {
            assert!(set.contains(&best), "peer {best} gave the most");
        }
        let optimistic = choker.optimistic().expect("one optimistic");
        assert!(optimistic <= 4);
        assert!(!choker.due(105));
        // Re-chokes within 30 s keep the optimistic peer; after 30 s it may rotate.
        assert_eq!(choker.rechoke(&peers, 110, false), set);
        // While seeding, the best downloaders win instead.
        let seeding = choker.rechoke(&peers, 120, true);
        for best in 1..=4 {
            assert!(seeding.contains(&best), "peer {best} took the most");
        }
    }

    #[test]
    fn uninterested_and_snubbing_peers_lose_their_slot() {
        let mut peers: Vec<PeerView> = (1..=5).map(|key| peer(key, key as f64, 0)).collect();
        peers[4].interested = false;
        // Peer 4 unchoked us but has sent nothing for 60 s.
        peers[3].we_wait_on_it = true;
        peers[3].rate_from = 1e9;
        let mut choker = Choker::new(1);
        let set = choker.rechoke(&peers, 1000, false);
        assert!(!set.contains(&5), "not interested");
        assert!(set.contains(&1) && set.contains(&2) && set.contains(&3));
        // Peer 4 can only be the optimistic one now (it is the only one left).
        assert_eq!(choker.optimistic(), Some(4));
    }

    #[test]
    fn new_peers_are_three_times_as_likely_to_be_drawn() {
        let mut draws = [0u32; 2];
        for seed in 0..3000u64 {
            // Four busy peers fill the regular slots; 10 (old) and 11 (new) compete.
            let mut peers: Vec<PeerView> = (1..=4).map(|key| peer(key, 1000.0, 0)).collect();
            peers.push(peer(10, 0.0, 0));
            peers.push(peer(11, 0.0, 990));
            let mut choker = Choker::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            choker.rechoke(&peers, 1000, false);
            match choker.optimistic() {
                Some(10) => draws[0] += 1,
                Some(11) => draws[1] += 1,
                other => panic!("{other:?}"),
            }
        }
        let ratio = f64::from(draws[1]) / f64::from(draws[0]);
        assert!((2.4..3.8).contains(&ratio), "new:old = {ratio} ({draws:?})");
    }
}
