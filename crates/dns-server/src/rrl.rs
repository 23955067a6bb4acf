//! Response rate limiting (RRL): a token bucket per client network and response, with slip.
//!
//! Spoofed-source floods make an authoritative server a reflector; RRL caps identical
//! responses to one network. Limited responses are dropped, except every `slip`-th, which is
//! sent truncated (TC=1, no records) so a genuine client retries over TCP, where spoofing is
//! impossible. Time comes in as an argument.

use crate::config::RrlConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Buckets kept at most; beyond this the table is cleared (an attacker cannot grow it).
const MAX_BUCKETS: usize = 100_000;

/// What to do with one response.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RrlVerdict {
    /// Send it.
    Send,
    /// Send a truncated (TC=1) empty response instead.
    Slip,
    /// Send nothing.
    Drop,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    limited: u32,
}

/// The rate limiter state.
#[derive(Debug)]
pub struct Rrl {
    config: RrlConfig,
    buckets: HashMap<(IpAddr, u64), Bucket>,
}

/// The client network a bucket is kept for: /24 for IPv4, /56 for IPv6.
fn network(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[7..].fill(0);
            IpAddr::from(octets)
        }
    }
}

impl Rrl {
    /// A limiter with `config`.
    pub fn new(config: RrlConfig) -> Rrl {
        Rrl {
            config,
            buckets: HashMap::new(),
        }
    }

    /// Decides about one response of kind `key` (a hash of name, type and rcode) to `peer`.
    pub fn check(&mut self, peer: IpAddr, key: u64, now: Instant) -> RrlVerdict {
        if self.buckets.len() >= MAX_BUCKETS {
            self.buckets.clear();
        }
        let rate = self.config.responses_per_second.max(1) as f64;
        let bucket = self.buckets.entry((network(peer), key)).or_insert(Bucket {
            tokens: rate,
            last: now,
            limited: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.last);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * rate).min(rate);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = 0;
            return RrlVerdict::Send;
        }
        bucket.limited += 1;
        if self.config.slip > 0 && bucket.limited.is_multiple_of(self.config.slip) {
            RrlVerdict::Slip
        } else {
            RrlVerdict::Drop
        }
    }

    /// Forgets buckets idle for more than `age` (call now and then).
    pub fn expire(&mut self, now: Instant, age: Duration) {
        self.buckets
            .retain(|_, bucket| now.saturating_duration_since(bucket.last) < age);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_network_with_slip() {
        let mut rrl = Rrl::new(RrlConfig {
            responses_per_second: 3,
            slip: 2,
        });
        let start = Instant::now();
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let neighbour: IpAddr = "198.51.100.8".parse().unwrap();
        let verdicts: Vec<RrlVerdict> = (0..7).map(|_| rrl.check(peer, 1, start)).collect();
        use RrlVerdict::*;
        assert_eq!(verdicts, [Send, Send, Send, Drop, Slip, Drop, Slip]);
        // Same /24, same response: shares the bucket.
        assert_ne!(rrl.check(neighbour, 1, start), Send);
        // Another response kind, or another network: its own bucket.
        assert_eq!(rrl.check(peer, 2, start), Send);
        assert_eq!(rrl.check("203.0.113.1".parse().unwrap(), 1, start), Send);
        // A second later the bucket has refilled.
        assert_eq!(rrl.check(peer, 1, start + Duration::from_secs(1)), Send);
        rrl.expire(start + Duration::from_secs(100), Duration::from_secs(10));
        assert!(rrl.buckets.is_empty());
    }
}
