//! The chunk-level simulator: the same [`Session`] and ABR the real player runs, with each
//! download's time computed from a bandwidth [`Trace`] plus a round-trip time per request.
//! Deterministic: given the same download times the player would see, the same decisions.

use crate::abr::Abr;
use crate::session::{Action, Content, Failure, Session, SessionConfig, SessionLog};
use crate::trace::Trace;

/// How the simulated network and player behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Seconds from a request to its first byte.
    pub rtt: f64,
    /// The session's own settings.
    pub session: SessionConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rtt: 0.08,
            session: SessionConfig::default(),
        }
    }
}

/// When a request for `bytes` made at `start` completes over `trace` after `rtt`.
pub fn download_finish(trace: &Trace, start: f64, rtt: f64, bytes: u64) -> f64 {
    trace.finish_time(start + rtt.max(0.0), bytes as f64 * 8.0)
}

/// Plays `content` over `trace` with `abr`, to the end (or until the session gives up).
pub fn simulate(
    content: &Content,
    trace: &Trace,
    abr: Box<dyn Abr>,
    config: &SimConfig,
) -> SessionLog {
    let mut session = Session::new(config.session, content.clone(), abr);
    let mut now = 0.0;
    // Every step makes progress; the bound only guards against a bug turning into a hang.
    let limit = 16 * (content.segment_count() + 1) * (config.session.max_retries as usize + 2);
    for _ in 0..limit {
        match session.poll_action(now) {
            Action::Request(request) => {
                let bytes = content.size(request.index, request.quality);
                let finish = download_finish(trace, now, config.rtt, bytes);
                if finish <= request.deadline {
                    now = finish;
                    session.handle_downloaded(now, bytes);
                } else {
                    let first_byte = now + config.rtt.max(0.0);
                    let received = trace.bits_between(first_byte, request.deadline) / 8.0;
                    now = request.deadline;
                    session.handle_failed(now, received as u64, Failure::Timeout);
                }
            }
            Action::Wait { until } => {
                now = if until > now { until } else { now + 1e-3 };
                session.handle_timeout(now);
            }
            Action::Done(_) => break,
        }
    }
    session.into_log()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::{by_name, NAMES};

    #[test]
    fn same_inputs_same_log() {
        let content =
            Content::uniform(vec![0.3e6, 0.75e6, 1.2e6, 1.85e6, 2.85e6, 4.3e6], 4.0, 30).unwrap();
        let trace = Trace::parse("0 3\n20 0.8\n40 5\n60 1.5\n").unwrap();
        for name in NAMES {
            let first = simulate(
                &content,
                &trace,
                by_name(name).unwrap(),
                &SimConfig::default(),
            );
            let again = simulate(
                &content,
                &trace,
                by_name(name).unwrap(),
                &SimConfig::default(),
            );
            assert_eq!(first, again, "{name}");
            assert_eq!(first.chunks.len(), 30, "{name}");
        }
    }

    #[test]
    fn a_dead_link_gives_up_instead_of_hanging() {
        let content = Content::uniform(vec![1e6, 2e6], 4.0, 5).unwrap();
        // 1 kbit/s: no segment fits its deadline.
        let trace = Trace::constant(0.001).unwrap();
        let log = simulate(
            &content,
            &trace,
            by_name("throughput").unwrap(),
            &SimConfig::default(),
        );
        assert!(matches!(
            log.outcome,
            Some(crate::session::Outcome::GaveUp { index: 0, .. })
        ));
    }
}
