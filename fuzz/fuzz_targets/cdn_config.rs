//! Fuzz target: the CDN's parsers (clusters file, coverage file, prefixes, health-check
//! response heads, the ECS option) never panic, and an accepted ECS option round-trips.
#![no_main]

use cdn::config::{parse_clusters, parse_coverage};
use cdn::health::parse_health_response;
use cdn::prefix::Prefix;
use dns_proto::ClientSubnet;
use libfuzzer_sys::fuzz_target;

const CLUSTERS: &str = "[[cluster]]\nname = \"east\"\naddresses = [\"127.0.20.1\"]\nlat = 40.7\nlon = -74.0\n";

fuzz_target!(|data: &[u8]| {
    if let Ok(subnet) = ClientSubnet::decode(data) {
        assert_eq!(ClientSubnet::decode(&subnet.encode()), Ok(subnet));
    }
    let _ = parse_health_response(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = text.parse::<Prefix>();
    let _ = parse_clusters(text, "fuzz");
    let clusters = parse_clusters(CLUSTERS, "clusters").expect("constant");
    if let Ok(table) = parse_coverage(text, "fuzz", &clusters) {
        for (prefix, _) in table.iter() {
            let network = prefix.network();
            assert!(table.longest_match(network).is_some());
            assert!(table.scope(network) >= prefix.prefix_len());
        }
    }
});
