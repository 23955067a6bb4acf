//! `applayer torrent experiment`, the distribution-time experiment, on a small case: real rate
//! limits in network namespaces (root only), measured times against the fluid bounds.

use crate::{applayer, scratch};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    })
}

/// N = 1 and 3, a 4 MiB file, the server at 40 Mbit/s, peers at 20 Mbit/s up and 200 down.
/// Every time is at least its bound (the shaping is real: unshaped, loopback-fast transfers
/// would take a few milliseconds), close to it, and P2P beats client-server at N = 3.
#[test]
fn distribution_time_against_the_bounds() {
    if !is_root() {
        eprintln!("skipped: the experiment needs root for its network namespaces");
        return;
    }
    // Root in a container without CAP_SYS_ADMIN cannot make namespaces either: say so.
    let probe = std::process::Command::new("unshare")
        .args(["--net", "true"])
        .output();
    if !probe.as_ref().is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: this root cannot make network namespaces ({probe:?})");
        return;
    }
    let dir = scratch("experiment");
    let output = applayer(
        &dir,
        &[
            "torrent",
            "experiment",
            "--peers",
            "1,3",
            "--size",
            "4M",
            "--server-up",
            "40mbit",
            "--peer-up",
            "20mbit",
            "--peer-down",
            "200mbit",
            "--out",
            "out",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("client-server") && table.contains("P2P"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/results.json")).unwrap()).unwrap();
    let f = 4.0 * 1048576.0 * 8.0;
    let expected_bounds = [
        ("client_server", 1, f / 40e6),
        ("client_server", 3, 3.0 * f / 40e6),
        ("p2p", 1, f / 40e6),
        ("p2p", 3, 3.0 * f / (40e6 + 3.0 * 20e6)),
    ];
    for (way, n, bound) in expected_bounds {
        let run = json[way]
            .as_array()
            .unwrap()
            .iter()
            .find(|run| run["n"] == n)
            .unwrap_or_else(|| panic!("no {way} run for N={n}: {json}"));
        let measured = run["measured_s"].as_f64().unwrap();
        assert!(
            (run["bound_s"].as_f64().unwrap() - bound).abs() < 1e-6,
            "{run}"
        );
        assert!(
            measured >= bound * 0.98,
            "{way} N={n}: {measured} s under the bound {bound} s"
        );
        let slack = if way == "p2p" { 1.6 } else { 1.25 };
        assert!(
            measured <= bound * slack,
            "{way} N={n}: {measured} s against the bound {bound} s"
        );
        assert_eq!(run["per_peer_s"].as_array().unwrap().len(), n);
    }
    let cs3 = json["client_server"][1]["measured_s"].as_f64().unwrap();
    let p2p3 = json["p2p"][1]["measured_s"].as_f64().unwrap();
    assert!(
        p2p3 < cs3,
        "P2P {p2p3} s is not faster than client-server {cs3} s at N=3"
    );
    let svg = std::fs::read_to_string(dir.join("out/distribution-time.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
    // The namespaces are gone and the copies removed; the logs stay.
    let namespaces = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&namespaces.stdout).into_owned();
    assert!(!listing.contains("-core"), "{listing}");
    assert!(!dir.join("out/work").exists());
    assert!(dir.join("out/logs/p2p3-peer3.log").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
