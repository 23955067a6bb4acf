//! The UDP pinger's messages and its `ping`-style statistics.
//!
//! A ping is the text `PING <seq> <unix-time-in-microseconds>`; the uppercase server echoes it
//! back unchanged (it is already uppercase), and the textbook's pinger server, which also
//! uppercases, does too. Replies are matched by sequence number, case-insensitively.

use std::fmt;
use std::time::Duration;

/// Encodes the ping with sequence number `seq` sent at `sent_micros` (microseconds since the
/// Unix epoch).
pub fn encode(seq: u32, sent_micros: u64) -> Vec<u8> {
    format!("PING {seq} {sent_micros}").into_bytes()
}

/// Decodes a reply into its sequence number and send time, or `None` if it is not a ping.
pub fn decode(reply: &[u8]) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(reply).ok()?.trim();
    let mut words = text.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("ping") {
        return None;
    }
    let seq = words.next()?.parse().ok()?;
    let sent = words.next()?.parse().ok()?;
    words.next().is_none().then_some((seq, sent))
}

/// Round-trip statistics over a run of pings.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Pings sent.
    pub transmitted: u32,
    rtts: Vec<Duration>,
}

impl Stats {
    /// Records a sent ping.
    pub fn sent(&mut self) {
        self.transmitted += 1;
    }

    /// Records a reply that came back after `rtt`.
    pub fn received(&mut self, rtt: Duration) {
        self.rtts.push(rtt);
    }

    /// Replies received.
    pub fn received_count(&self) -> u32 {
        self.rtts.len() as u32
    }

    /// Lost fraction in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        100.0 * f64::from(self.transmitted - self.received_count()) / f64::from(self.transmitted)
    }

    /// `(min, avg, max, mdev)` in milliseconds, as `ping` computes them (mdev is the population
    /// standard deviation), or `None` with no replies.
    pub fn rtt_summary(&self) -> Option<(f64, f64, f64, f64)> {
        if self.rtts.is_empty() {
            return None;
        }
        let ms: Vec<f64> = self
            .rtts
            .iter()
            .map(|rtt| rtt.as_secs_f64() * 1000.0)
            .collect();
        let n = ms.len() as f64;
        let min = ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ms.iter().copied().fold(0.0, f64::max);
        let avg = ms.iter().sum::<f64>() / n;
        let variance = ms.iter().map(|x| x * x).sum::<f64>() / n - avg * avg;
        Some((min, avg, max, variance.max(0.0).sqrt()))
    }
}

impl fmt::Display for Stats {
    /// The two closing lines of `ping`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} packets transmitted, {} received, {}% packet loss",
            self.transmitted,
            self.received_count(),
            format_percent(self.loss_percent())
        )?;
        if let Some((min, avg, max, mdev)) = self.rtt_summary() {
            write!(
                f,
                "\nrtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
            )?;
        }
        Ok(())
    }
}

fn format_percent(percent: f64) -> String {
    if percent.fract() == 0.0 {
        format!("{percent:.0}")
    } else {
        format!("{percent:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_uppercased_or_lowercased_replies() {
        let message = encode(7, 1_700_000_000_123_456);
        assert_eq!(decode(&message), Some((7, 1_700_000_000_123_456)));
        assert_eq!(decode(b"ping 3 99\n"), Some((3, 99)));
        for bad in [
            &b"PONG 1 2"[..],
            b"PING x 2",
            b"PING 1",
            b"PING 1 2 3",
            b"\xff",
            b"",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn statistics_match_ping() {
        let mut stats = Stats::default();
        for ms in [10u64, 20, 30] {
            stats.sent();
            stats.received(Duration::from_millis(ms));
        }
        stats.sent();
        let (min, avg, max, mdev) = stats.rtt_summary().unwrap();
        assert_eq!((min, avg, max), (10.0, 20.0, 30.0));
        assert!((mdev - 8.165).abs() < 0.001);
        assert_eq!(
            stats.to_string(),
            "4 packets transmitted, 3 received, 25% packet loss\nrtt min/avg/max/mdev = 10.000/20.000/30.000/8.165 ms"
        );
        assert_eq!(
            Stats::default().to_string(),
            "0 packets transmitted, 0 received, 0% packet loss"
        );
    }
}
