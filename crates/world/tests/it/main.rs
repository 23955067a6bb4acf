//! Integration tests of the world: the default world starts, passes its own check, and its
//! exchanges are drawn from the recording.

use std::net::IpAddr;
use world::run::{check, start, UpOptions};
use world::World;

#[tokio::test]
async fn default_world_starts_and_passes_its_check() {
    let world = World::default_world();
    // A high offset keeps this test clear of anything a developer runs on the standard ports.
    let running = start(
        &world,
        &UpOptions {
            port_offset: Some(20_000),
            data_dir: None,
        },
    )
    .await
    .unwrap();
    assert!(running.endpoint("gaia.cs.umass.edu", "tcp-upper").is_some());
    let client: IpAddr = "127.201.4.10".parse().unwrap();
    let results = check(&running, client).await;
    for service in ["tcp-upper", "udp-upper", "dns-auth", "dns-local"] {
        assert!(
            results.iter().any(|result| result.service == service),
            "no {service} checked"
        );
    }
    let resolved = results
        .iter()
        .find(|result| result.service == "dns-local")
        .unwrap();
    assert!(
        resolved.detail.contains("through the hierarchy"),
        "{}",
        resolved.detail
    );
    for result in &results {
        assert!(
            result.passed,
            "{} {}: {}",
            result.host, result.service, result.detail
        );
    }
    let table = running.table(&world);
    assert!(
        table.contains("gaia.cs.umass.edu") && table.contains("tcp-upper tcp/12000"),
        "{table}"
    );
    assert!(running.stop().await.is_empty());
}
