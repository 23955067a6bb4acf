//! Cluster selection: which cluster answers a client, and why.
//!
//! The rule, in order (a *candidate* is a cluster with a member up and load under its
//! capacity; when every up cluster is full, the up clusters are the candidates):
//!
//! 1. **coverage**: the longest coverage line containing the client that names a cluster;
//!    that cluster, if it is a candidate.
//! 2. **geo**: the client's location is known (the longest coverage line containing it that
//!    has coordinates): the candidate minimising `distance_km × (1 + load)`.
//! 3. **rtt**: some candidate has a measured RTT (the monitor's probes, from this server to
//!    the cluster): the one minimising `rtt_ms × (1 + load)` among those measured.
//! 4. **fallback**: otherwise the least-loaded candidate (ties: file order); and when no
//!    cluster is up at all, fail open: the client's coverage cluster, else the first cluster,
//!    with all its members (an answer that may work beats none).
//!
//! The ECS scope of every decision is [`PrefixTable::scope`] of the coverage table: all of
//! the decision's inputs that depend on the client's address come from that table.

use crate::config::{Cluster, Coverage};
use crate::health::HealthView;
use crate::prefix::PrefixTable;
use std::fmt;
use std::net::IpAddr;

/// Why a cluster was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The client's coverage zone.
    Coverage,
    /// The nearest candidate to the client's location.
    Geo,
    /// The candidate with the smallest measured RTT.
    Rtt,
    /// Nothing better known, or nothing up.
    Fallback,
}

impl Reason {
    /// All reasons, in counter order.
    pub const ALL: [Reason; 4] = [Reason::Coverage, Reason::Geo, Reason::Rtt, Reason::Fallback];

    /// The lower-case name used in logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Coverage => "coverage",
            Reason::Geo => "geo",
            Reason::Rtt => "rtt",
            Reason::Fallback => "fallback",
        }
    }

    /// The index into [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The cluster's index.
    pub cluster: usize,
    /// Why.
    pub reason: Reason,
    /// The ECS SCOPE PREFIX-LENGTH for `client` (RFC 7871 §7.2.1).
    pub scope: u8,
    /// Which client group it was made for: the index of the longest coverage line containing
    /// the client, or `None` (used to log a line when a group's decision changes).
    pub group: Option<usize>,
    /// The cluster is down and was chosen failing open: answer all its members.
    pub fail_open: bool,
}

/// The clusters and coverage zones, and the selection rule over them.
#[derive(Clone, Debug)]
pub struct Selector {
    clusters: Vec<Cluster>,
    coverage: PrefixTable<Coverage>,
}

impl Selector {
    /// A selector over `clusters` (at least one) and a coverage table whose cluster indexes
    /// point into them.
    pub fn new(clusters: Vec<Cluster>, coverage: PrefixTable<Coverage>) -> Selector {
        Selector { clusters, coverage }
    }

    /// The clusters.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// The coverage table.
    pub fn coverage(&self) -> &PrefixTable<Coverage> {
        &self.coverage
    }

    /// Chooses the cluster for a client at `client`, given the clusters' health now.
    pub fn select(&self, client: IpAddr, health: &HealthView) -> Decision {
        let status = |index: usize| health.clusters.get(index);
        let up = |index: usize| status(index).is_some_and(|s| s.is_up());
        let load = |index: usize| status(index).map_or(0.0, |s| s.load);
        let mut candidates: Vec<usize> = (0..self.clusters.len())
            .filter(|&index| up(index) && load(index) < 1.0)
            .collect();
        if candidates.is_empty() {
            candidates = (0..self.clusters.len())
                .filter(|&index| up(index))
                .collect();
        }
        let mut group = None;
        let mut covering = None;
        let mut location = None;
        for index in self.coverage.matches(client) {
            let Some((_, entry)) = self.coverage.entry(index) else {
                continue;
            };
            group = group.or(Some(index));
            covering = covering.or(entry.cluster);
            location = location.or(entry.location);
        }
        let scope = if self.coverage.is_empty() {
            0
        } else {
            self.coverage.scope(client)
        };
        let decide = |cluster: usize, reason: Reason| Decision {
            cluster,
            reason,
            scope,
            group,
            fail_open: false,
        };
        if candidates.is_empty() {
            return Decision {
                fail_open: true,
                ..decide(covering.unwrap_or(0), Reason::Fallback)
            };
        }
        if let Some(cluster) = covering.filter(|cluster| candidates.contains(cluster)) {
            return decide(cluster, Reason::Coverage);
        }
        let best = |cost: &dyn Fn(usize) -> Option<f64>| -> Option<usize> {
            let mut best: Option<(usize, f64)> = None;
            for &index in &candidates {
                let Some(cost) = cost(index) else { continue };
                if best.is_none_or(|(_, lowest)| cost < lowest) {
                    best = Some((index, cost));
                }
            }
            best.map(|(index, _)| index)
        };
        if let Some(client_location) = location {
            let cost = |index: usize| {
                let distance = client_location.distance_km(&self.clusters[index].location);
                Some(distance * (1.0 + load(index)))
            };
            if let Some(cluster) = best(&cost) {
                return decide(cluster, Reason::Geo);
            }
        }
        let rtt_cost = |index: usize| {
            let rtt = status(index)?.rtt?;
            Some(rtt.as_secs_f64() * 1000.0 * (1.0 + load(index)))
        };
        if let Some(cluster) = best(&rtt_cost) {
            return decide(cluster, Reason::Rtt);
        }
        let cluster = best(&|index| Some(load(index))).unwrap_or(0);
        decide(cluster, Reason::Fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_clusters, parse_coverage};
    use crate::health::ClusterStatus;
    use std::time::Duration;

    const CLUSTERS: &str = r#"
[[cluster]]
name = "deep-east"
addresses = ["127.0.20.1"]
lat = 40.71
lon = -74.01
[[cluster]]
name = "deep-west"
addresses = ["127.0.21.1"]
lat = 37.77
lon = -122.42
[[cluster]]
name = "paris"
addresses = ["127.0.22.1"]
lat = 48.86
lon = 2.35
"#;

    const COVERAGE: &str = "\
127.0.20.0/24 deep-east
127.0.21.0/24 deep-west
127.0.30.0/24 - 51.51 -0.13   # London: nearest is Paris
127.0.31.0/24 - 34.05 -118.24 # Los Angeles: nearest is deep-west
";

    fn selector() -> Selector {
        let clusters = parse_clusters(CLUSTERS, "clusters").unwrap();
        let coverage = parse_coverage(COVERAGE, "coverage", &clusters).unwrap();
        Selector::new(clusters, coverage)
    }

    fn view(states: &[(bool, Option<u64>, f64)]) -> HealthView {
        HealthView {
            clusters: states
                .iter()
                .map(|&(up, rtt, load)| ClusterStatus {
                    up_members: if up {
                        vec!["127.0.0.1".parse().unwrap()]
                    } else {
                        vec![]
                    },
                    rtt: rtt.map(Duration::from_millis),
                    load,
                })
                .collect(),
        }
    }

    /// (client, health, expected cluster, expected reason).
    fn check(client: &str, health: &HealthView, cluster: &str, reason: Reason) {
        let selector = selector();
        let decision = selector.select(client.parse().unwrap(), health);
        assert_eq!(
            (
                selector.clusters()[decision.cluster].name.as_str(),
                decision.reason
            ),
            (cluster, reason),
            "{client}"
        );
    }

    #[test]
    fn coverage_then_geo_then_rtt_then_fallback() {
        let healthy = view(&[(true, None, 0.0), (true, None, 0.0), (true, None, 0.0)]);
        check("127.0.20.9", &healthy, "deep-east", Reason::Coverage);
        check("127.0.21.9", &healthy, "deep-west", Reason::Coverage);
        check("127.0.30.9", &healthy, "paris", Reason::Geo);
        check("127.0.31.9", &healthy, "deep-west", Reason::Geo);
        check("10.0.0.1", &healthy, "deep-east", Reason::Fallback);
        let measured = view(&[
            (true, Some(30), 0.0),
            (true, Some(5), 0.0),
            (true, None, 0.0),
        ]);
        check("10.0.0.1", &measured, "deep-west", Reason::Rtt);
        // Load scales the RTT: 5 ms at 0.9 load (9.5) loses to 8 ms idle.
        let loaded = view(&[
            (true, Some(8), 0.0),
            (true, Some(5), 0.9),
            (true, None, 0.0),
        ]);
        check("10.0.0.1", &loaded, "deep-east", Reason::Rtt);
    }

    #[test]
    fn unhealthy_or_full_coverage_clusters_are_passed_over() {
        let east_down = view(&[(false, None, 0.0), (true, None, 0.0), (true, None, 0.0)]);
        // deep-east's clients have no location: the fallback picks the least loaded.
        check("127.0.20.9", &east_down, "deep-west", Reason::Fallback);
        let east_full = view(&[(true, None, 1.2), (true, None, 0.5), (true, None, 0.1)]);
        check("127.0.20.9", &east_full, "paris", Reason::Fallback);
        let all_full = view(&[(true, None, 1.2), (true, None, 1.5), (false, None, 0.0)]);
        check("127.0.20.9", &all_full, "deep-east", Reason::Coverage);
        let all_down = view(&[(false, None, 0.0), (false, None, 0.0), (false, None, 0.0)]);
        let decision = selector().select("127.0.21.3".parse().unwrap(), &all_down);
        assert_eq!(
            (decision.cluster, decision.reason, decision.fail_open),
            (1, Reason::Fallback, true)
        );
    }

    #[test]
    fn decisions_carry_their_scope_and_group() {
        let healthy = view(&[(true, None, 0.0), (true, None, 0.0), (true, None, 0.0)]);
        let decision = selector().select("127.0.21.200".parse().unwrap(), &healthy);
        assert_eq!((decision.scope, decision.group), (24, Some(1)));
        let decision = selector().select("127.0.22.1".parse().unwrap(), &healthy);
        assert_eq!((decision.scope, decision.group), (23, None));
        let decision = selector().select("2001:db8::1".parse().unwrap(), &healthy);
        assert_eq!(decision.scope, 0);
    }
}
