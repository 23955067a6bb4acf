//! The health of every cluster member, from the monitor's probe results: the sans-IO half
//! of the health monitor (`net::Monitor` is the other).
//!
//! A member starts up. `fall` failed probes in a row take it down; `rise` good probes in a
//! row bring it back. A cluster is up while any member is. Each good probe also updates the
//! member's smoothed RTT (RFC 6298's α = 1/8) and its reported load. Results come in only
//! through [`Health::handle_probe`], which only the monitor calls: nothing network-facing
//! can feed it.

use crate::config::Cluster;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The outcome of one probe of one member.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbeOutcome {
    /// The member answered its health check with a 2xx in time.
    Passed {
        /// Connect to response head.
        rtt: Duration,
        /// The `X-Load` header's value, if it sent one.
        load: Option<f64>,
    },
    /// No connection, a timeout, or a status other than 2xx.
    Failed,
}

/// When members go down and come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive failures that take a member down (N).
    pub fall: u32,
    /// Consecutive successes that bring it back (M).
    pub rise: u32,
}

impl Default for HealthPolicy {
    fn default() -> HealthPolicy {
        HealthPolicy { fall: 3, rise: 2 }
    }
}

/// A member going down or coming back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    /// The cluster's index.
    pub cluster: usize,
    /// The member's address.
    pub member: IpAddr,
    /// Its new state.
    pub up: bool,
    /// Whether the whole cluster is now up (any member up).
    pub cluster_up: bool,
}

#[derive(Clone, Debug)]
struct Member {
    address: IpAddr,
    up: bool,
    /// Consecutive failures while up, or successes while down.
    streak: u32,
    srtt: Option<Duration>,
    load: Option<f64>,
    last_probe: Option<Instant>,
}

/// What selection needs to know of one cluster right now.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterStatus {
    /// The members that are up, in configuration order (empty: the cluster is down).
    pub up_members: Vec<IpAddr>,
    /// The smallest smoothed RTT among its up members, if measured.
    pub rtt: Option<Duration>,
    /// Reported load over capacity (0 when nothing was reported): 1.0 is full.
    pub load: f64,
}

impl ClusterStatus {
    /// Whether any member is up.
    pub fn is_up(&self) -> bool {
        !self.up_members.is_empty()
    }
}

/// A snapshot of every cluster's status, indexed like the clusters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthView {
    /// One per cluster.
    pub clusters: Vec<ClusterStatus>,
}

impl HealthView {
    /// Everything up, nothing measured: the state before the first probe.
    pub fn all_up(clusters: &[Cluster]) -> HealthView {
        HealthView {
            clusters: clusters
                .iter()
                .map(|cluster| ClusterStatus {
                    up_members: cluster.addresses.clone(),
                    rtt: None,
                    load: 0.0,
                })
                .collect(),
        }
    }
}

/// The health state of every member of every cluster.
#[derive(Clone, Debug)]
pub struct Health {
    policy: HealthPolicy,
    capacities: Vec<f64>,
    members: Vec<Vec<Member>>,
    events: VecDeque<HealthEvent>,
}

impl Health {
    /// Every member of `clusters` up, unmeasured.
    pub fn new(clusters: &[Cluster], policy: HealthPolicy) -> Health {
        Health {
            policy: HealthPolicy {
                fall: policy.fall.max(1),
                rise: policy.rise.max(1),
            },
            capacities: clusters.iter().map(|cluster| cluster.capacity).collect(),
            members: clusters
                .iter()
                .map(|cluster| {
                    cluster
                        .addresses
                        .iter()
                        .map(|&address| Member {
                            address,
                            up: true,
                            streak: 0,
                            srtt: None,
                            load: None,
                            last_probe: None,
                        })
                        .collect()
                })
                .collect(),
            events: VecDeque::new(),
        }
    }

    /// Takes one probe result of member `member` of cluster `cluster` (indexes as in the
    /// clusters file; unknown indexes are ignored).
    pub fn handle_probe(
        &mut self,
        cluster: usize,
        member: usize,
        outcome: ProbeOutcome,
        now: Instant,
    ) {
        let policy = self.policy;
        let Some(state) = self
            .members
            .get_mut(cluster)
            .and_then(|m| m.get_mut(member))
        else {
            return;
        };
        state.last_probe = Some(now);
        let passed = matches!(outcome, ProbeOutcome::Passed { .. });
        if let ProbeOutcome::Passed { rtt, load } = outcome {
            // RFC 6298 §2: SRTT <- 7/8 SRTT + 1/8 R.
            state.srtt = Some(match state.srtt {
                None => rtt,
                Some(srtt) => (srtt * 7 + rtt) / 8,
            });
            state.load = load.filter(|load| load.is_finite() && *load >= 0.0);
        }
        let changed = if state.up == passed {
            state.streak = 0;
            false
        } else {
            state.streak += 1;
            let needed = if state.up { policy.fall } else { policy.rise };
            if state.streak >= needed {
                state.up = passed;
                state.streak = 0;
                true
            } else {
                false
            }
        };
        if changed {
            let event = HealthEvent {
                cluster,
                member: state.address,
                up: state.up,
                cluster_up: self.members[cluster].iter().any(|m| m.up),
            };
            self.events.push_back(event);
        }
    }

    /// The next member that went down or came back.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    /// The status of every cluster now.
    pub fn view(&self) -> HealthView {
        HealthView {
            clusters: self
                .members
                .iter()
                .zip(&self.capacities)
                .map(|(members, capacity)| {
                    let up: Vec<&Member> = members.iter().filter(|m| m.up).collect();
                    let reported: f64 = up.iter().filter_map(|m| m.load).sum();
                    ClusterStatus {
                        up_members: up.iter().map(|m| m.address).collect(),
                        rtt: up.iter().filter_map(|m| m.srtt).min(),
                        load: reported / capacity,
                    }
                })
                .collect(),
        }
    }

    /// When a member was last probed.
    pub fn last_probe(&self, cluster: usize, member: usize) -> Option<Instant> {
        self.members.get(cluster)?.get(member)?.last_probe
    }
}

/// What a health check's response head says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthResponse {
    /// The status code.
    pub status: u16,
    /// The `X-Load` header as a number (a member's load in its cluster's capacity unit).
    pub load: Option<f64>,
}

impl HealthResponse {
    /// Whether the check passed (RFC 9110 §15.3: 2xx is success).
    pub fn passed(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Parses a health check's response head (`HTTP/1.x SSS reason`, then header lines), as much
/// of it as arrived: `None` if the status line is not there or not HTTP/1.x. A bad `X-Load`
/// value is ignored, as an unknown header would be.
pub fn parse_health_response(head: &[u8]) -> Option<HealthResponse> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next()?;
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status = code.parse().ok()?;
    let mut load = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("x-load") {
                load = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0);
            }
        }
    }
    Some(HealthResponse { status, load })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::GeoPoint;

    #[test]
    fn parses_health_responses() {
        let check = |head: &str, expected: Option<(u16, Option<f64>)>| {
            let parsed = parse_health_response(head.as_bytes()).map(|r| (r.status, r.load));
            assert_eq!(parsed, expected, "{head:?}");
        };
        check(
            "HTTP/1.1 200 OK\r\nX-Load: 42.5\r\n\r\n",
            Some((200, Some(42.5))),
        );
        check(
            "HTTP/1.0 503 Busy\r\nx-load: lots\r\n\r\n",
            Some((503, None)),
        );
        check("HTTP/1.1 204\r\n", Some((204, None)));
        check("HTTP/2 200\r\n", None);
        check("SSH-2.0-OpenSSH\r\n", None);
        check("HTTP/1.1 20", None);
        let full = "HTTP/1.1 200 OK\r\nX-Load: 1\r\n\r\n".as_bytes();
        for end in 0..full.len() {
            let _ = parse_health_response(&full[..end]);
        }
    }

    fn clusters() -> Vec<Cluster> {
        let cluster = |name: &str, addresses: &[&str]| Cluster {
            name: name.into(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            location: GeoPoint::new(0.0, 0.0).unwrap(),
            capacity: 100.0,
            health_port: 80,
        };
        vec![
            cluster("a", &["127.0.20.1", "127.0.20.2"]),
            cluster("b", &["127.0.21.1"]),
        ]
    }

    const PASS: ProbeOutcome = ProbeOutcome::Passed {
        rtt: Duration::from_millis(8),
        load: Some(30.0),
    };

    #[test]
    fn falls_after_n_failures_and_rises_after_m_successes() {
        let now = Instant::now();
        let mut health = Health::new(&clusters(), HealthPolicy { fall: 3, rise: 2 });
        let probe = |health: &mut Health, outcome| health.handle_probe(1, 0, outcome, now);
        probe(&mut health, ProbeOutcome::Failed);
        probe(&mut health, ProbeOutcome::Failed);
        probe(&mut health, PASS); // a success in between resets the count
        probe(&mut health, ProbeOutcome::Failed);
        probe(&mut health, ProbeOutcome::Failed);
        assert!(health.view().clusters[1].is_up());
        assert_eq!(health.poll_event(), None);
        probe(&mut health, ProbeOutcome::Failed);
        assert!(!health.view().clusters[1].is_up());
        let event = health.poll_event().unwrap();
        assert_eq!((event.up, event.cluster_up), (false, false));
        probe(&mut health, PASS);
        assert!(!health.view().clusters[1].is_up());
        probe(&mut health, PASS);
        assert!(health.view().clusters[1].is_up());
        assert!(health.poll_event().unwrap().cluster_up);
    }

    #[test]
    fn a_cluster_is_up_while_any_member_is() {
        let now = Instant::now();
        let mut health = Health::new(&clusters(), HealthPolicy { fall: 1, rise: 1 });
        health.handle_probe(0, 0, ProbeOutcome::Failed, now);
        let view = health.view();
        assert_eq!(
            view.clusters[0].up_members,
            ["127.0.20.2".parse::<IpAddr>().unwrap()]
        );
        assert!(!health.poll_event().unwrap().up);
        health.handle_probe(0, 1, PASS, now);
        assert_eq!(health.view().clusters[0].load, 0.3);
        assert_eq!(
            health.view().clusters[0].rtt,
            Some(Duration::from_millis(8))
        );
        health.handle_probe(7, 0, ProbeOutcome::Failed, now); // no such cluster: ignored
    }
}
