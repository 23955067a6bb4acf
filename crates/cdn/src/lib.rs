//! KingCDN's request routing by DNS (textbook §2.6.3): the CDN's authoritative server answers
//! each query for a routed name (`a1105.kingcdn.com`) with the addresses of the cluster it
//! selects for the client, with a short TTL.
//!
//! Sans-IO, time passed in: [`prefix`] (CIDR, longest-prefix match, the ECS scope of a lookup),
//! [`config`] (the clusters and coverage files, parsed from text with every problem's line),
//! [`geo`] (great-circle distance), [`health`] (member health from probe results: down after
//! N failures, back after M successes; the health-check response parser), [`select`] (the
//! selection rule: coverage zone, geography, RTT, fallback, each weighed by load) and
//! [`router`] (the DNS answers, EDNS Client Subnet per RFC 7871, counters; installed in
//! `dns_server` as its [`dns_server::Responder`], so everything not routed is the ordinary
//! authoritative answer). [`net`] is the I/O: the server and the HTTP health monitor.
//!
//! ```
//! use cdn::config::{parse_clusters, parse_coverage};
//! use cdn::health::HealthView;
//! use cdn::select::{Reason, Selector};
//! let clusters = parse_clusters(
//!     "[[cluster]]\nname = \"deep-east\"\naddresses = [\"127.0.20.1\"]\nlat = 40.7\nlon = -74.0\n",
//!     "clusters.toml",
//! ).unwrap();
//! let coverage = parse_coverage("127.0.20.0/24 deep-east\n", "coverage", &clusters).unwrap();
//! let selector = Selector::new(clusters, coverage);
//! let health = HealthView::all_up(selector.clusters());
//! let decision = selector.select("127.0.20.77".parse().unwrap(), &health);
//! assert_eq!((decision.cluster, decision.reason, decision.scope), (0, Reason::Coverage, 24));
//! ```

pub mod config;
pub mod geo;
pub mod health;
pub mod net;
pub mod prefix;
pub mod router;
pub mod select;

pub use net::{bind, CdnDnsConfig, CdnDnsServer, MonitorConfig};
pub use router::{RequestRouter, RoutePattern, Router, RouterConfig, Status};
