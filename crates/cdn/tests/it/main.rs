//! End-to-end tests of the CDN DNS: our server on 127.0.0.1, real health responders, and
//! dig and kdig as the clients (skipped when missing, unless `CI` is set).

use cdn::health::HealthPolicy;
use cdn::{CdnDnsConfig, MonitorConfig, RoutePattern, RouterConfig};
use dns_server::{DnsServerConfig, Zone, ZoneConfig};
use netio::Shutdown;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ZONE: &str =
    "$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n";

/// A tiny HTTP server answering every request `200 OK`, until aborted.
async fn responder(address: &str, port: u16) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((address, port))
        .await
        .expect("bind responder");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, task)
}

/// Runs `program args`, bounded; `None` when the program is not installed (outside CI).
async fn run(program: &str, args: &[String]) -> Option<String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), child).await {
        Ok(Ok(output)) => Some(String::from_utf8_lossy(&output.stdout).into_owned()),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{program} is not installed"
            );
            eprintln!("skipping: {program} is not installed");
            None
        }
        Ok(Err(error)) => panic!("{program}: {error}"),
        Err(_) => panic!("{program} took over 10 s"),
    }
}

fn query_args(tool: &str, server: SocketAddr, name: &str, subnet: Option<&str>) -> Vec<String> {
    let (tries, time) = match tool {
        "kdig" => ("+retry=0", "+timeout=2"),
        _ => ("+tries=1", "+time=2"),
    };
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        name.into(),
        "A".into(),
        tries.into(),
        time.into(),
    ];
    if let Some(subnet) = subnet {
        args.push(format!("+subnet={subnet}"));
    }
    args
}

/// The A records of an answer section, as (TTL, address), from dig's or kdig's output.
fn answers(output: &str, name: &str) -> Vec<(u32, String)> {
    output
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, ttl, "IN", "A", address] => Some((ttl.parse().ok()?, address.to_string())),
                _ => None,
            }
        })
        .collect()
}

/// The `CLIENT-SUBNET: ADDR/SOURCE/SCOPE` both tools print.
fn client_subnet(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|line| line.split("CLIENT-SUBNET: ").nth(1))
        .map(|text| text.trim().to_string())
}

struct Setup {
    server: SocketAddr,
    shutdown: Shutdown,
    east: tokio::task::JoinHandle<()>,
    east_port: u16,
    west: tokio::task::JoinHandle<()>,
}

async fn start() -> Setup {
    let (east_port, east) = responder("127.0.20.1", 0).await;
    let (west_port, west) = responder("127.0.21.1", 0).await;
    let clusters_text = format!(
        "[[cluster]]\nname = \"deep-east\"\naddresses = [\"127.0.20.1\"]\nlat = 40.71\nlon = -74.01\nhealth_port = {east_port}\n\
         [[cluster]]\nname = \"deep-west\"\naddresses = [\"127.0.21.1\"]\nlat = 37.77\nlon = -122.42\nhealth_port = {west_port}\n"
    );
    let clusters = cdn::config::parse_clusters(&clusters_text, "clusters.toml").unwrap();
    let coverage = cdn::config::parse_coverage(
        "127.0.20.0/24 deep-east\n127.0.21.0/24 deep-west\n127.0.30.0/24 - 34.05 -118.24\n",
        "coverage",
        &clusters,
    )
    .unwrap();
    let origin = "kingcdn.com".parse().unwrap();
    let zone = Zone::parse_str(ZONE, &origin, "kingcdn.com.zone").unwrap();
    let config = CdnDnsConfig {
        dns: DnsServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            zones: vec![ZoneConfig::new(zone)],
            ..DnsServerConfig::default()
        },
        clusters,
        coverage,
        router: RouterConfig {
            routes: vec!["*.kingcdn.com".parse::<RoutePattern>().unwrap()],
            ttl: 20,
            answer_count: 0,
        },
        monitor: MonitorConfig {
            path: "/health".into(),
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(500),
            policy: HealthPolicy { fall: 2, rise: 1 },
        },
    };
    let server = cdn::bind(config).await.expect("bind");
    let address = server.local_addrs()[0];
    let shutdown = Shutdown::new();
    tokio::spawn(server.run(shutdown.clone()));
    Setup {
        server: address,
        shutdown,
        east,
        east_port,
        west,
    }
}

const NAME: &str = "a1105.kingcdn.com.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_and_kdig_get_the_cluster_of_their_subnet_with_the_scope() {
    let setup = start().await;
    for tool in ["dig", "kdig"] {
        let Some(west) = run(
            tool,
            &query_args(tool, setup.server, NAME, Some("127.0.21.0/24")),
        )
        .await
        else {
            continue;
        };
        assert_eq!(
            answers(&west, NAME),
            [(20, "127.0.21.1".to_string())],
            "{tool}:\n{west}"
        );
        assert_eq!(
            client_subnet(&west).as_deref(),
            Some("127.0.21.0/24/24"),
            "{tool}:\n{west}"
        );
        let east = run(
            tool,
            &query_args(tool, setup.server, NAME, Some("127.0.20.0/24")),
        )
        .await
        .unwrap();
        assert_eq!(
            answers(&east, NAME),
            [(20, "127.0.20.1".to_string())],
            "{tool}:\n{east}"
        );
        // Los Angeles, by location: the nearest cluster, deep-west.
        let la = run(
            tool,
            &query_args(tool, setup.server, NAME, Some("127.0.30.0/24")),
        )
        .await
        .unwrap();
        assert_eq!(answers(&la, NAME)[0].1, "127.0.21.1", "{tool}:\n{la}");
        // A static name of the zone: the zone's answer, its TTL, scope 0.
        let ns = run(
            tool,
            &query_args(
                tool,
                setup.server,
                "ns1.kingcdn.com.",
                Some("127.0.21.0/24"),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            answers(&ns, "ns1.kingcdn.com."),
            [(3600, "127.0.0.1".to_string())],
            "{tool}:\n{ns}"
        );
        assert_eq!(
            client_subnet(&ns).as_deref(),
            Some("127.0.21.0/24/0"),
            "{tool}:\n{ns}"
        );
    }
    setup.shutdown.trigger();
    setup.east.abort();
    setup.west.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_members_stop_answering_leaves_the_answers_and_comes_back() {
    let setup = start().await;
    let args = query_args("dig", setup.server, NAME, Some("127.0.20.0/24"));
    let Some(before) = run("dig", &args).await else {
        return;
    };
    assert_eq!(answers(&before, NAME)[0].1, "127.0.20.1", "{before}");
    setup.east.abort();
    let _ = setup.east.await;
    // Two failed rounds of 200 ms, each bounded by the 500 ms timeout: well under 5 s.
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(5);
    let moved = loop {
        let output = run("dig", &args).await.unwrap();
        let found = answers(&output, NAME);
        if found.iter().all(|(_, address)| address != "127.0.20.1") && !found.is_empty() {
            break output;
        }
        assert!(
            Instant::now() < deadline,
            "still answering deep-east 5 s after it stopped:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answers(&moved, NAME)[0].1, "127.0.21.1", "{moved}");
    eprintln!("left the answers after {:?}", stopped.elapsed());
    // It comes back after one good check (rise 1) once it answers again.
    let (_, east) = responder("127.0.20.1", setup.east_port).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let output = run("dig", &args).await.unwrap();
        if answers(&output, NAME)
            .first()
            .is_some_and(|(_, address)| address == "127.0.20.1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deep-east did not come back:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    setup.shutdown.trigger();
    east.abort();
    setup.west.abort();
}
