//! Integration tests of the world: the default world starts, passes its own check, and its
//! exchanges are drawn from the recording.

use std::net::IpAddr;
use world::run::{check, start, UpOptions};
use world::World;

#[tokio::test]
async fn default_world_starts_and_passes_its_check() {
    let mut world = World::default_world();
    // Its own address block and a high port offset keep this test clear of other worlds.
    world.relocate(201);
    let data_dir = std::env::temp_dir().join(format!("applayer-world-it-{}", std::process::id()));
    let running = start(
        &world,
        &UpOptions {
            port_offset: Some(20_000),
            data_dir: Some(data_dir.clone()),
        },
    )
    .await
    .unwrap();
    assert!(running.endpoint("gaia.cs.umass.edu", "tcp-upper").is_some());
    let client: IpAddr = "127.201.4.10".parse().unwrap();
    let results = check(&running, client).await;
    for service in [
        "tcp-upper",
        "udp-upper",
        "dns-auth",
        "dns-local",
        "web",
        "web-cache",
    ] {
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
    let _ = std::fs::remove_dir_all(&data_dir);
}
