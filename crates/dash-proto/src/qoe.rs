//! Quality of experience of a session: average bit rate, rebuffering, startup delay,
//! switches, and the linear QoE of MPC and Pensieve, as a serializable summary and a table.

use crate::session::SessionLog;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// QoE weight of one second of rebuffering, in Mbit/s (Yin et al. 2015, Mao et al. 2017).
pub const REBUFFER_PENALTY: f64 = 4.3;

/// The linear QoE of MPC/Pensieve for the delivered bit rates (bits/s, in order) and the
/// rebuffering seconds (startup included): Σ bitrate in Mbit/s − 4.3 × rebuffer seconds −
/// Σ |bitrate change| in Mbit/s.
pub fn linear_qoe(bitrates: &[f64], rebuffer_seconds: f64) -> f64 {
    let quality: f64 = bitrates.iter().map(|rate| rate / 1e6).sum();
    let smoothness: f64 = bitrates
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).abs() / 1e6)
        .sum();
    quality - REBUFFER_PENALTY * rebuffer_seconds - smoothness
}

/// The numbers of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Segments delivered.
    pub chunks: usize,
    /// Mean bit rate of the delivered segments, Mbit/s.
    pub average_bitrate_mbps: f64,
    /// Seconds from the first request to the start of playback.
    pub startup_delay: f64,
    /// Stalls after startup.
    pub stalls: usize,
    /// Seconds stalled after startup.
    pub rebuffer_seconds: f64,
    /// Stalled seconds over stalled plus media seconds.
    pub rebuffer_ratio: f64,
    /// Quality changes between consecutive segments.
    pub switches: usize,
    /// Failed download attempts.
    pub failures: usize,
    /// [`linear_qoe`] with the startup delay counted as rebuffering (as Pensieve does).
    pub qoe: f64,
    /// `qoe` divided by the number of segments.
    pub qoe_per_chunk: f64,
    /// Whether every segment was delivered.
    pub finished: bool,
}

impl Summary {
    /// Summarizes a session's log.
    pub fn of(log: &SessionLog) -> Summary {
        let bitrates: Vec<f64> = log.chunks.iter().map(|chunk| chunk.bitrate).collect();
        let chunks = bitrates.len();
        let startup_delay = log.startup_delay.unwrap_or(0.0);
        // (A fold from +0.0: an empty f64 sum is -0.0, which would print as "-0.00".)
        let rebuffer_seconds = log
            .stalls
            .iter()
            .fold(0.0, |total, stall| total + (stall.end - stall.start));
        let media: f64 = log.media_duration;
        let qoe = linear_qoe(&bitrates, startup_delay + rebuffer_seconds);
        Summary {
            chunks,
            average_bitrate_mbps: if chunks == 0 {
                0.0
            } else {
                bitrates.iter().sum::<f64>() / chunks as f64 / 1e6
            },
            startup_delay,
            stalls: log.stalls.len(),
            rebuffer_seconds,
            rebuffer_ratio: if media + rebuffer_seconds > 0.0 {
                rebuffer_seconds / (media + rebuffer_seconds)
            } else {
                0.0
            },
            switches: log
                .chunks
                .windows(2)
                .filter(|pair| pair[0].quality != pair[1].quality)
                .count(),
            failures: log
                .downloads
                .iter()
                .filter(|d| d.outcome == crate::abr::DownloadOutcome::Failed)
                .count(),
            qoe,
            qoe_per_chunk: if chunks == 0 {
                0.0
            } else {
                qoe / chunks as f64
            },
            finished: log.outcome == Some(crate::session::Outcome::Finished),
        }
    }

    /// A plain-text table, one row per named summary.
    pub fn table(rows: &[(&str, &Summary)]) -> String {
        let width = rows
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0)
            .max(9);
        let mut out = format!(
            "{:<width$} {:>7} {:>9} {:>8} {:>6} {:>9} {:>7} {:>8} {:>8} {:>9}\n",
            "algorithm",
            "chunks",
            "avg Mb/s",
            "startup",
            "stalls",
            "rebuf s",
            "rebuf%",
            "switches",
            "QoE",
            "QoE/chunk"
        );
        for (name, s) in rows {
            let _ = writeln!(
                out,
                "{:<width$} {:>7} {:>9.3} {:>8.2} {:>6} {:>9.2} {:>6.1}% {:>8} {:>8.2} {:>9.3}",
                name,
                s.chunks,
                s.average_bitrate_mbps,
                s.startup_delay,
                s.stalls,
                s.rebuffer_seconds,
                100.0 * s.rebuffer_ratio,
                s.switches,
                s.qoe,
                s.qoe_per_chunk
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_qoe_by_hand() {
        // 1 + 3 + 2 Mbit/s, one second stalled, changes of 2 and 1.
        let qoe = linear_qoe(&[1e6, 3e6, 2e6], 1.0);
        assert!((qoe - (6.0 - 4.3 - 3.0)).abs() < 1e-12);
        assert_eq!(linear_qoe(&[], 0.0), 0.0);
    }
}
