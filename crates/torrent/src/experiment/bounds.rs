//! The fluid lower bounds on distribution time of the textbook (§2.5.1): a file of `F` bits
//! from one server of upload rate `u_s` to `N` peers of download rate `d` and upload rate `u`.
//!
//! - client-server: `D_cs ≥ max{ N·F/u_s, F/d_min }`
//! - P2P: `D_P2P ≥ max{ F/u_s, F/d_min, N·F/(u_s + Σu_i) }`

/// The experiment's rates (bits per second) and size (bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The file's size in bytes.
    pub size: u64,
    /// The server's (the seed's) upload rate.
    pub server_up: u64,
    /// Each peer's upload rate.
    pub peer_up: u64,
    /// Each peer's download rate.
    pub peer_down: u64,
}

impl Params {
    fn bits(&self) -> f64 {
        self.size as f64 * 8.0
    }

    /// The client-server bound for `n` clients, in seconds.
    pub fn client_server(&self, n: usize) -> f64 {
        let f = self.bits();
        (n as f64 * f / self.server_up as f64).max(f / self.peer_down as f64)
    }

    /// The P2P bound for `n` peers, in seconds.
    pub fn p2p(&self, n: usize) -> f64 {
        let f = self.bits();
        let total_up = self.server_up as f64 + n as f64 * self.peer_up as f64;
        (f / self.server_up as f64)
            .max(f / self.peer_down as f64)
            .max(n as f64 * f / total_up)
    }
}

/// Parses a rate in bits per second: `40mbit`, `40M`, `1.5gbit`, `800kbit`, `20000000`.
pub fn parse_rate(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix("/s").unwrap_or(&lower);
    let lower = lower.strip_suffix("bit").unwrap_or(lower);
    let lower = lower.strip_suffix("bps").unwrap_or(lower);
    let (digits, multiplier) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1e3),
        'm' => (&lower[..lower.len() - 1], 1e6),
        'g' => (&lower[..lower.len() - 1], 1e9),
        _ => (lower, 1.0),
    };
    let value: f64 = digits.trim().parse().ok()?;
    let bits = value * multiplier;
    (1.0..1e12).contains(&bits).then_some(bits.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference case: N=4, F=64 MiB, u_s=40 Mbit/s, u_i=20 Mbit/s.
    #[test]
    fn the_textbook_bounds() {
        let params = Params {
            size: 64 << 20,
            server_up: 40_000_000,
            peer_up: 20_000_000,
            peer_down: 1_000_000_000,
        };
        let f = 64.0 * 1048576.0 * 8.0;
        assert!((params.client_server(4) - 4.0 * f / 40e6).abs() < 1e-9);
        assert!((params.p2p(4) - 4.0 * f / 120e6).abs() < 1e-9);
        // One peer: the server's upload bounds both.
        assert!((params.p2p(1) - f / 40e6).abs() < 1e-9);
        assert!((params.client_server(1) - f / 40e6).abs() < 1e-9);
        // The P2P bound flattens towards F/u as N grows; client-server grows linearly.
        assert!(params.p2p(1000) < f / 20e6);
        assert!(params.client_server(8) > 2.0 * params.p2p(8));
        // A slow download link bounds both.
        let slow = Params {
            peer_down: 1_000_000,
            ..params
        };
        assert!((slow.p2p(2) - f / 1e6).abs() < 1e-9);
        assert!((slow.client_server(2) - f / 1e6).abs() < 1e-9);
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("40mbit"), Some(40_000_000));
        assert_eq!(parse_rate("40M"), Some(40_000_000));
        assert_eq!(parse_rate("1.5gbit"), Some(1_500_000_000));
        assert_eq!(parse_rate("800kbit/s"), Some(800_000));
        assert_eq!(parse_rate("20000"), Some(20_000));
        assert_eq!(parse_rate("0"), None);
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_rate("-5m"), None);
    }
}
