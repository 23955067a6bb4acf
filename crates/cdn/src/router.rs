//! The request-routing answers: for the routed names, A/AAAA records of the selected
//! cluster with a short TTL and the ECS option echoed with its scope; everything else is
//! left to the zones (`dns_server::Authority`), whose answers get the ECS echo with scope 0.
//!
//! [`Router::answer`] is the sans-IO answer (the health view, the rotation and the request's
//! facts come in); [`RequestRouter`] is the [`dns_server::Responder`] the server calls, which
//! adds the shared health view, the per-reason counters and the decision-change log.

use crate::health::HealthView;
use crate::select::{Decision, Reason, Selector};
use dns_proto::{Class, ClientSubnet, Message, Name, Rcode, Rdata, Record, RecordType};
use dns_server::{Authority, RequestInfo, Responder};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;

/// Which names are routed: `a1105.kingcdn.com` (that name) or `*.kingcdn.com` (every name
/// below kingcdn.com). Names the zone itself holds (the SOA, NS and glue names) are never
/// routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutePattern {
    /// Exactly this name.
    Exact(Name),
    /// Any name strictly below this one.
    Below(Name),
}

impl RoutePattern {
    /// Whether `name` is routed by this pattern.
    pub fn matches(&self, name: &Name) -> bool {
        match self {
            RoutePattern::Exact(exact) => name == exact,
            RoutePattern::Below(parent) => name != parent && name.is_subdomain_of(parent),
        }
    }

    /// The name the pattern is about (to check it is inside a served zone).
    pub fn name(&self) -> &Name {
        match self {
            RoutePattern::Exact(name) | RoutePattern::Below(name) => name,
        }
    }
}

impl FromStr for RoutePattern {
    type Err = dns_proto::NameError;

    fn from_str(text: &str) -> Result<RoutePattern, Self::Err> {
        match text.strip_prefix("*.") {
            Some(parent) => Ok(RoutePattern::Below(parent.parse()?)),
            None => Ok(RoutePattern::Exact(text.parse()?)),
        }
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutePattern::Exact(name) => write!(f, "{name}"),
            RoutePattern::Below(name) => write!(f, "*.{name}"),
        }
    }
}

/// How routed names are answered.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// The routed names.
    pub routes: Vec<RoutePattern>,
    /// The TTL of routed answers: short, so that viewers follow a cluster change within one
    /// TTL.
    pub ttl: u32,
    /// How many member addresses per answer (0: all), rotated from answer to answer.
    pub answer_count: usize,
}

impl Default for RouterConfig {
    fn default() -> RouterConfig {
        RouterConfig {
            routes: Vec::new(),
            ttl: 20,
            answer_count: 0,
        }
    }
}

/// The sans-IO request router: routed names answered per a [`Selector`].
#[derive(Clone, Debug)]
pub struct Router {
    selector: Selector,
    config: RouterConfig,
}

/// What [`Router::answer`] decided.
#[derive(Debug)]
pub struct Routed {
    /// The response.
    pub response: Message,
    /// The selection, for a routed address query.
    pub decision: Option<Decision>,
}

impl Router {
    /// A router.
    pub fn new(selector: Selector, config: RouterConfig) -> Router {
        Router { selector, config }
    }

    /// The selector.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Whether `name` is routed (matches a pattern and is not a name of the zone).
    pub fn is_routed(&self, name: &Name, authority: &Authority) -> bool {
        self.config.routes.iter().any(|route| route.matches(name)) && !authority.has_name(name)
    }

    /// The answer to `query` from `peer`, or `None` to leave it to the zones unchanged (not
    /// routed, no ECS). `rotation` picks where the member list starts.
    pub fn answer(
        &self,
        query: &Message,
        peer: IpAddr,
        health: &HealthView,
        rotation: usize,
        authority: &Authority,
    ) -> Option<Routed> {
        let question = query.questions.first()?;
        let subnet = query.edns.as_ref().and_then(ClientSubnet::find);
        let subnet = match subnet {
            None => None,
            Some(Ok(subnet)) => Some(subnet),
            // RFC 7871 §6: a malformed option "SHOULD" get FORMERR.
            Some(Err(_)) => {
                let mut response = Message::response_to(query);
                response.rcode = Rcode::FORMERR;
                return Some(Routed {
                    response,
                    decision: None,
                });
            }
        };
        let class_ok = question.qclass == Class::IN || question.qclass == Class::ANY;
        if !class_ok || !self.is_routed(&question.name, authority) {
            let subnet = subnet?;
            // Not tailored: the echo says so with scope 0 (RFC 7871 §7.2.1).
            let mut response = authority.answer(query);
            echo(&mut response, subnet.with_scope(0));
            return Some(Routed {
                response,
                decision: None,
            });
        }
        // RFC 7871 §7.2.1: select by the client subnet when there is one; a SOURCE
        // PREFIX-LENGTH of 0 discloses nothing, so the resolver's address decides and the
        // answer is declared good for everyone (scope 0).
        let client = match subnet {
            Some(subnet) if subnet.source_prefix > 0 => subnet.address,
            _ => peer,
        };
        let mut response = Message::response_to(query);
        response.flags.aa = true;
        let wanted: &[RecordType] = match question.qtype {
            RecordType::A => &[RecordType::A],
            RecordType::AAAA => &[RecordType::AAAA],
            RecordType::ANY => &[RecordType::A, RecordType::AAAA],
            _ => &[],
        };
        let mut decision = None;
        if !wanted.is_empty() {
            let chosen = self.selector.select(client, health);
            let cluster = &self.selector.clusters()[chosen.cluster];
            let members: &[IpAddr] = match health.clusters.get(chosen.cluster) {
                Some(status) if !chosen.fail_open && status.is_up() => &status.up_members,
                _ => &cluster.addresses,
            };
            for &rtype in wanted {
                let family: Vec<IpAddr> = members
                    .iter()
                    .copied()
                    .filter(|address| address.is_ipv4() == (rtype == RecordType::A))
                    .collect();
                if family.is_empty() {
                    continue;
                }
                let count = match self.config.answer_count {
                    0 => family.len(),
                    count => count.min(family.len()),
                };
                for offset in 0..count {
                    let address = family[(rotation + offset) % family.len()];
                    let rdata = match address {
                        IpAddr::V4(v4) => Rdata::A(v4),
                        IpAddr::V6(v6) => Rdata::Aaaa(v6),
                    };
                    response.answers.push(Record::new(
                        question.name.clone(),
                        self.config.ttl,
                        rdata,
                    ));
                }
            }
            decision = Some(chosen);
        }
        if response.answers.is_empty() {
            // NODATA: the name exists (it is routed), not with this type (RFC 2308 §2.2).
            response
                .authority
                .extend(authority.negative_soa(&question.name));
        }
        if let Some(subnet) = subnet {
            let scope = match (subnet.source_prefix, decision) {
                (0, _) | (_, None) => 0,
                (_, Some(decision)) => decision.scope,
            };
            echo(&mut response, subnet.with_scope(scope));
        }
        Some(Routed { response, decision })
    }
}

/// Puts the ECS option in a response that has EDNS (a query with ECS has EDNS).
fn echo(response: &mut Message, subnet: ClientSubnet) {
    if let Some(edns) = &mut response.edns {
        edns.options.push(subnet.to_option());
    }
}

/// A snapshot of the counters, for the status output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Decisions per reason, in [`Reason::ALL`] order.
    pub by_reason: [u64; 4],
    /// (cluster name, decisions that chose it).
    pub by_cluster: Vec<(String, u64)>,
}

impl fmt::Display for Status {
    /// One line: `decisions coverage=N geo=N rtt=N fallback=N; clusters a=N b=N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decisions")?;
        for (reason, count) in Reason::ALL.iter().zip(self.by_reason) {
            write!(f, " {reason}={count}")?;
        }
        write!(f, "; clusters")?;
        for (name, count) in &self.by_cluster {
            write!(f, " {name}={count}")?;
        }
        Ok(())
    }
}

/// The router as the DNS server's [`Responder`]: the health view the monitor keeps current,
/// the counters, the rotation, and one log line whenever a client group's decision changes.
#[derive(Debug)]
pub struct RequestRouter {
    router: Router,
    health: RwLock<HealthView>,
    rotation: AtomicUsize,
    by_reason: [AtomicU64; 4],
    by_cluster: Vec<AtomicU64>,
    /// Per client group (coverage line, plus one for "no line"): the last (cluster, reason)
    /// encoded as `(cluster + 1) << 2 | reason`, 0 before the first decision.
    last: Vec<AtomicU32>,
}

impl RequestRouter {
    /// A responder with every cluster up until the monitor says otherwise.
    pub fn new(router: Router) -> RequestRouter {
        let clusters = router.selector().clusters();
        let health = HealthView::all_up(clusters);
        let by_cluster = clusters.iter().map(|_| AtomicU64::new(0)).collect();
        let last = (0..=router.selector().coverage().len())
            .map(|_| AtomicU32::new(0))
            .collect();
        RequestRouter {
            router,
            health: RwLock::new(health),
            rotation: AtomicUsize::new(0),
            by_reason: Default::default(),
            by_cluster,
            last,
        }
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The health view now.
    pub fn health(&self) -> HealthView {
        self.health
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the health view: only the monitor (in this crate) calls it, so health
    /// results from anywhere else cannot reach the answers.
    pub(crate) fn set_health(&self, view: HealthView) {
        *self
            .health
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = view;
    }

    /// The counters now.
    pub fn status(&self) -> Status {
        Status {
            by_reason: std::array::from_fn(|index| self.by_reason[index].load(Ordering::Relaxed)),
            by_cluster: self
                .router
                .selector()
                .clusters()
                .iter()
                .zip(&self.by_cluster)
                .map(|(cluster, count)| (cluster.name.clone(), count.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    fn record(&self, decision: &Decision, client: IpAddr) {
        self.by_reason[decision.reason.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(count) = self.by_cluster.get(decision.cluster) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let slot = decision.group.map_or(0, |group| group + 1);
        let code = ((decision.cluster as u32 + 1) << 2) | decision.reason.index() as u32;
        let Some(last) = self.last.get(slot) else {
            return;
        };
        let previous = last.swap(code, Ordering::Relaxed);
        if previous != code {
            let selector = self.router.selector();
            let group = decision
                .group
                .and_then(|group| selector.coverage().entry(group))
                .map_or_else(|| "other".to_string(), |(prefix, _)| prefix.to_string());
            let cluster = &selector.clusters()[decision.cluster].name;
            let before = (previous >> 2)
                .checked_sub(1)
                .and_then(|index| selector.clusters().get(index as usize))
                .map_or("-", |cluster| cluster.name.as_str());
            tracing::info!(clients = %group, %client, from = before, to = %cluster, reason = %decision.reason, "routing decision changed");
        }
    }
}

impl Responder for RequestRouter {
    fn respond(
        &self,
        query: &Message,
        info: &RequestInfo,
        authority: &Authority,
    ) -> Option<Message> {
        let health = self
            .health
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let rotation = self.rotation.fetch_add(1, Ordering::Relaxed);
        let routed = self
            .router
            .answer(query, info.peer, &health, rotation, authority)?;
        drop(health);
        if let Some(decision) = &routed.decision {
            let client = query
                .edns
                .as_ref()
                .and_then(ClientSubnet::find)
                .and_then(Result::ok)
                .filter(|subnet| subnet.source_prefix > 0)
                .map_or(info.peer, |subnet| subnet.address);
            self.record(decision, client);
        }
        Some(routed.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_clusters, parse_coverage};
    use dns_proto::{Edns, EdnsOption, Question};
    use dns_server::{Zone, ZonePolicy};

    const ZONE: &str =
        "$TTL 3600\n@ SOA ns1 admin 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.19.1\n";
    const CLUSTERS: &str = "[[cluster]]\nname = \"east\"\naddresses = [\"127.0.20.1\", \"127.0.20.2\", \"::20\"]\nlat = 40.7\nlon = -74.0\n[[cluster]]\nname = \"west\"\naddresses = [\"127.0.21.1\"]\nlat = 37.8\nlon = -122.4\n";
    const COVERAGE: &str = "127.0.20.0/24 east\n127.0.21.0/24 west\n";

    fn setup() -> (RequestRouter, Authority) {
        let origin = "kingcdn.com".parse().unwrap();
        let mut authority = Authority::new();
        authority.insert_zone(
            Zone::parse_str(ZONE, &origin, "kingcdn.com.zone").unwrap(),
            ZonePolicy::default(),
        );
        let clusters = parse_clusters(CLUSTERS, "clusters").unwrap();
        let coverage = parse_coverage(COVERAGE, "coverage", &clusters).unwrap();
        let config = RouterConfig {
            routes: vec!["*.kingcdn.com".parse().unwrap()],
            ..RouterConfig::default()
        };
        (
            RequestRouter::new(Router::new(Selector::new(clusters, coverage), config)),
            authority,
        )
    }

    fn query(name: &str, rtype: RecordType, ecs: Option<Vec<u8>>) -> Message {
        let mut query = Message::query(7, Question::new(name.parse().unwrap(), rtype), false);
        if let Some(data) = ecs {
            query.edns = Some(Edns {
                options: vec![EdnsOption { code: 8, data }],
                ..Edns::default()
            });
        }
        query
    }

    fn ask(router: &RequestRouter, authority: &Authority, query: &Message) -> Option<Message> {
        let info = RequestInfo {
            peer: "127.0.0.1".parse().unwrap(),
            transport: dns_server::Transport::Udp,
            now: 0,
        };
        router.respond(query, &info, authority)
    }

    fn subnet(response: &Message) -> Option<ClientSubnet> {
        ClientSubnet::find(response.edns.as_ref()?)?.ok()
    }

    #[test]
    fn answers_routed_names_by_client_subnet_with_the_scope() {
        let (router, authority) = setup();
        let west = query(
            "a1105.kingcdn.com",
            RecordType::A,
            Some(vec![0, 1, 24, 0, 127, 0, 21]),
        );
        let response = ask(&router, &authority, &west).unwrap();
        assert!(response.flags.aa);
        assert_eq!(response.answers.len(), 1);
        assert_eq!(response.answers[0].ttl, 20);
        assert_eq!(
            response.answers[0].rdata,
            Rdata::A("127.0.21.1".parse().unwrap())
        );
        let echoed = subnet(&response).unwrap();
        assert_eq!((echoed.source_prefix, echoed.scope_prefix), (24, 24));
        let east = query(
            "a1105.kingcdn.com",
            RecordType::A,
            Some(vec![0, 1, 24, 0, 127, 0, 20]),
        );
        let response = ask(&router, &authority, &east).unwrap();
        assert_eq!(response.answers.len(), 2);
        let aaaa = ask(
            &router,
            &authority,
            &query("x.kingcdn.com", RecordType::AAAA, None),
        )
        .unwrap();
        // No ECS: the resolver's address (127.0.0.1) is in no coverage zone; fallback, east.
        assert_eq!(aaaa.answers[0].rdata, Rdata::Aaaa("::20".parse().unwrap()));
        assert_eq!(router.status().by_reason, [2, 0, 0, 1]);
    }

    #[test]
    fn leaves_zone_names_to_the_zone_and_echoes_scope_zero() {
        let (router, authority) = setup();
        assert!(ask(
            &router,
            &authority,
            &query("ns1.kingcdn.com", RecordType::A, None)
        )
        .is_none());
        let with_ecs = query(
            "ns1.kingcdn.com",
            RecordType::A,
            Some(vec![0, 1, 24, 0, 127, 0, 21]),
        );
        let response = ask(&router, &authority, &with_ecs).unwrap();
        assert_eq!(response.answers.len(), 1);
        assert_eq!(subnet(&response).unwrap().scope_prefix, 0);
        let txt = ask(
            &router,
            &authority,
            &query("a1.kingcdn.com", RecordType::TXT, None),
        )
        .unwrap();
        assert_eq!(
            (txt.rcode, txt.answers.len(), txt.authority.len()),
            (Rcode::NOERROR, 0, 1)
        );
        let bad = query(
            "a1.kingcdn.com",
            RecordType::A,
            Some(vec![0, 1, 20, 0, 127, 0, 21]),
        );
        assert_eq!(
            ask(&router, &authority, &bad).unwrap().rcode,
            Rcode::FORMERR
        );
    }
}
