//! Authoritative DNS: answers from in-memory zones, zone transfers and dynamic updates.
//!
//! The answering logic ([`Authority`]) is sans-IO: request bytes and facts about the request
//! (peer, transport, time) in, response bytes out. [`net`] runs it over UDP and TCP with
//! tokio; `store` is the one place that reads and writes zone files.
//!
//! ```
//! use dns_server::{Authority, Handled, RequestInfo, Transport, Zone, ZonePolicy};
//! use dns_proto::{Message, Question, RecordType};
//! let origin = "umass.edu".parse().unwrap();
//! let zone = Zone::parse_str("$TTL 3600\n@ SOA dns admin 1 2 3 4 5\n@ NS dns\ndns A 128.119.40.186\n", &origin, "umass.edu.zone").unwrap();
//! let mut authority = Authority::new();
//! authority.insert_zone(zone, ZonePolicy::default());
//! let query = Message::query(1, Question::new("dns.umass.edu".parse().unwrap(), RecordType::A), false);
//! let info = RequestInfo { peer: "127.0.0.1".parse().unwrap(), transport: Transport::Udp, now: 0 };
//! let Handled::Reply(bytes) = authority.handle(&query.encode(), &info) else { panic!() };
//! assert_eq!(Message::decode(&bytes).unwrap().answers.len(), 1);
//! ```

//! Starting a server (what `applayer dns serve` and the world do):
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use dns_server::{DnsServerConfig, TsigKey, Zone, ZoneConfig};
//! let origin = "com".parse().unwrap();
//! let text = "$TTL 172800\n@ SOA a.gtld-servers.net. admin.com. 1 1800 900 604800 86400\n@ NS a.gtld-servers.net.\n";
//! let mut com = ZoneConfig::new(Zone::parse_str(text, &origin, "com.zone").unwrap());
//! let key = TsigKey::from_base64("registrar-key", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
//! com.policy.allow_update.keys.push(key.name.clone());
//! let server = dns_server::bind(DnsServerConfig {
//!     listen: vec!["127.0.1.2:53".parse().unwrap()],
//!     zones: vec![com],
//!     keys: vec![key],
//!     data_dir: Some("applayer-data/dns".into()),
//!     ..DnsServerConfig::default()
//! })
//! .await?;
//! println!("serving on {:?}", server.local_addrs());
//! server.run(netio::Shutdown::new()).await
//! # }
//! ```

mod authority;
mod config;
pub mod net;
mod rrl;
pub mod store;
mod update;
mod zone;

pub use authority::{
    Acl, Authority, Handled, RequestInfo, Responder, Transport, ZonePolicy, MAX_UDP_RESPONSE,
};
pub use config::{DnsServerConfig, RrlConfig, ZoneConfig, ZoneSource};
pub use dns_proto::tsig::TsigKey;
pub use net::{bind, DnsServer};
pub use rrl::{Rrl, RrlVerdict};
pub use update::UpdateOutcome;
pub use zone::Zone;
