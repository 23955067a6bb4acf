//! `applayer cdn push`: fills a cluster's caches ahead of demand, each URL through the edge
//! that owns it on the cluster's consistent-hash ring (the ring the edges use), so that the
//! first viewer's request finds it there.

use anyhow::Context;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use web_proxy::ring::HashRing;

/// Arguments of `applayer cdn push`.
///
/// `applayer cdn push --edge 127.0.0.2:8080 --edge 127.0.0.3:8080 --edge 127.0.0.4:8080
/// http://video.netcinema.com/seg/1.m4s ...`: every edge of the cluster, as the edges name
/// each other (`--self` / `--peer` of `applayer web proxy`), then the URLs, with the host
/// name viewers use (it is part of the cache key).
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A member of the cluster (repeat for each; the same addresses the edges' `--peer` and
    /// `--self` give).
    #[arg(long = "edge", value_name = "ADDR", required = true, value_parser = super::addr_parser(80))]
    edges: Vec<SocketAddr>,

    /// Wait until this time of day (UTC, `HH:MM`; the next one, today or tomorrow) before
    /// pushing, to fill the caches off-peak.
    #[arg(long, value_name = "HH:MM", value_parser = time_of_day)]
    at: Option<u32>,

    /// Seconds allowed for each URL.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,

    /// The URLs to push (`http://host/path`).
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
}

/// `HH:MM` as seconds after midnight.
fn time_of_day(text: &str) -> Result<u32, String> {
    let (hours, minutes) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected HH:MM"))?;
    let hours: u32 = hours.parse().map_err(|_| format!("{text:?}: bad hour"))?;
    let minutes: u32 = minutes
        .parse()
        .map_err(|_| format!("{text:?}: bad minute"))?;
    if hours > 23 || minutes > 59 {
        return Err(format!("{text:?}: expected 00:00 to 23:59"));
    }
    Ok(hours * 3600 + minutes * 60)
}

/// How long from `now` (seconds since the epoch) until the next `at` (seconds after
/// midnight UTC).
fn wait_until(now: u64, at: u32) -> Duration {
    let today = now % 86_400;
    let at = u64::from(at);
    let wait = if at > today {
        at - today
    } else {
        86_400 - today + at
    };
    Duration::from_secs(wait)
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(at) = args.at {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let wait = wait_until(now, at);
        eprintln!(
            "applayer cdn push: waiting {}h{:02}m until {:02}:{:02} UTC",
            wait.as_secs() / 3600,
            wait.as_secs() / 60 % 60,
            at / 3600,
            at / 60 % 60
        );
        tokio::time::sleep(wait).await;
    }
    let ring = HashRing::new(args.edges.iter().map(SocketAddr::to_string));
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut failed = 0;
    println!(
        "{:<50} {:<22} {:>6} {:>10} {:>8} {:>7}",
        "url", "owner", "status", "bytes", "x-cache", "ms"
    );
    for url in &args.urls {
        let uri =
            http_proto::Uri::parse(url).map_err(|error| anyhow::anyhow!("{url:?}: {error}"))?;
        anyhow::ensure!(uri.scheme == "http", "{url:?}: only http:// URLs");
        let owner_name = ring
            .owner(&uri.path_and_query())
            .context("no edges")?
            .to_string();
        let owner: SocketAddr = owner_name.parse().context("edge address")?;
        let started = Instant::now();
        let fields = [(web_proxy::PUSH_FIELD, "applayer-cdn-push")];
        match web_proxy::get_via(owner, url, &fields, timeout).await {
            Ok(response) => {
                let cached = response.cache_status().unwrap_or("-").to_string();
                if !(200..300).contains(&response.status()) {
                    failed += 1;
                }
                println!(
                    "{url:<50} {owner_name:<22} {:>6} {:>10} {cached:>8} {:>7.1}",
                    response.status(),
                    response.body.len(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            Err(error) => {
                failed += 1;
                println!("{url:<50} {owner_name:<22} failed: {error}");
            }
        }
    }
    let pushed = args.urls.len() - failed;
    eprintln!(
        "applayer cdn push: {pushed} of {} URLs in the cluster's caches ({} edges); \
         X-Cache HIT means it was cached already",
        args.urls.len(),
        ring.members().len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::{time_of_day, wait_until};
    use std::time::Duration;

    #[test]
    fn off_peak_times() {
        assert_eq!(time_of_day("03:30"), Ok(3 * 3600 + 30 * 60));
        assert!(time_of_day("24:00").is_err());
        assert!(time_of_day("3").is_err());
        // 02:00 UTC on some day: 03:30 is 90 minutes away; 01:00 is tomorrow.
        let two = 20_000 * 86_400 + 2 * 3600;
        assert_eq!(wait_until(two, 3 * 3600 + 1800), Duration::from_secs(5400));
        assert_eq!(wait_until(two, 3600), Duration::from_secs(23 * 3600));
        assert_eq!(wait_until(two, 2 * 3600), Duration::from_secs(86_400));
    }
}
