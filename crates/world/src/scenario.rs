//! Scenarios: the textbook's worked examples replayed on live servers of the world. Each runs
//! its exchanges with the real clients, step by step; the caller draws each step's recorded
//! messages.

use crate::run::Running;
use crate::trace;
use crate::World;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

/// A scenario's name and what it shows.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioInfo {
    /// The name `applayer scenario run` takes.
    pub name: &'static str,
    /// One line on what it shows.
    pub about: &'static str,
}

/// Every scenario, in the seed's order.
pub const SCENARIOS: &[ScenarioInfo] = &[
    ScenarioInfo {
        name: "dns",
        about: "seed §2.4: cse.nyu.edu resolves gaia.cs.umass.edu through its local DNS server (root, TLD, authoritative), then again from the cache, then a name that bypasses the root",
    },
    ScenarioInfo {
        name: "sockets",
        about: "seed §2.7: cse.nyu.edu sends a sentence to the uppercase servers of gaia.cs.umass.edu over TCP and UDP, then pings it",
    },
];

/// One step of a scenario: what it did and saw, and which recorded messages belong to it.
#[derive(Clone, Debug)]
pub struct Step {
    /// A heading.
    pub title: String,
    /// What happened, in a few lines.
    pub story: String,
    /// The step's messages: indexes into the recording.
    pub records: Range<usize>,
}

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No such scenario.
    #[error("no scenario named `{0}` (see `applayer scenario list`)")]
    Unknown(String),
    /// The world lacks a host or service the scenario needs.
    #[error("the world has no {0}")]
    Missing(String),
    /// A step failed.
    #[error("{step}: {reason}")]
    Step {
        /// Which step.
        step: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Runs scenario `name` against the running world, whose messages are being recorded.
pub async fn run(name: &str, world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    match name {
        "sockets" => sockets(world, running).await,
        "dns" => dns(world, running).await,
        other => Err(ScenarioError::Unknown(other.to_string())),
    }
}

fn host_address(world: &World, name: &str) -> Result<IpAddr, ScenarioError> {
    world
        .host(name)
        .map(|host| host.address)
        .ok_or_else(|| ScenarioError::Missing(format!("host {name}")))
}

fn endpoint(running: &Running, host: &str, service: &str) -> Result<SocketAddr, ScenarioError> {
    running
        .endpoint(host, service)
        .ok_or_else(|| ScenarioError::Missing(format!("{service} service on {host}")))
}

/// Runs `body` as one step and marks the messages recorded meanwhile as its own. Waits a
/// moment first so that the last replies of the step before have been recorded.
async fn step<F>(steps: &mut Vec<Step>, title: &str, body: F) -> Result<(), ScenarioError>
where
    F: std::future::Future<Output = Result<String, ScenarioError>>,
{
    tokio::time::sleep(Duration::from_millis(20)).await;
    let start = trace::recorded();
    let story = body.await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    steps.push(Step {
        title: title.to_string(),
        story,
        records: start..trace::recorded(),
    });
    Ok(())
}

async fn sockets(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    const WAIT: Duration = Duration::from_secs(3);
    let client = host_address(world, "cse.nyu.edu")?;
    let tcp = endpoint(running, "gaia.cs.umass.edu", "tcp-upper")?;
    let udp = endpoint(running, "gaia.cs.umass.edu", "udp-upper")?;
    let failed = |step: &'static str| {
        move |error: sockets::net::ClientError| ScenarioError::Step {
            step,
            reason: error.to_string(),
        }
    };
    let sentence = b"the quick brown fox";
    let mut steps = Vec::new();
    step(&mut steps, "TCP: a connection, then the sentence", async {
        let mut connection = sockets::net::TcpUpperClient::connect_from(Some(client), tcp, WAIT)
            .await
            .map_err(failed("TCP connect"))?;
        let reply = connection
            .exchange(sentence)
            .await
            .map_err(failed("TCP exchange"))?;
        Ok(format!(
            "cse.nyu.edu connected to the welcoming socket {tcp}, sent \"{}\", got \"{}\"",
            String::from_utf8_lossy(sentence),
            String::from_utf8_lossy(&reply)
        ))
    })
    .await?;
    step(
        &mut steps,
        "UDP: one datagram each way, no connection",
        async {
            let reply = sockets::net::udp_exchange_from(Some(client), udp, sentence, WAIT, 2)
                .await
                .map_err(failed("UDP exchange"))?;
            Ok(format!(
                "cse.nyu.edu sent one datagram to {udp} and got \"{}\"",
                String::from_utf8_lossy(&reply)
            ))
        },
    )
    .await?;
    step(&mut steps, "UDP pinger", async {
        let stats = sockets::net::udp_ping(
            Some(client),
            udp,
            3,
            Duration::from_millis(20),
            WAIT,
            |_| {},
        )
        .await
        .map_err(failed("UDP ping"))?;
        Ok(stats.to_string())
    })
    .await?;
    Ok(steps)
}

async fn dns(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    use dns_proto::{Name, RecordType};
    let _client = host_address(world, "cse.nyu.edu")?;
    let local = endpoint(running, "dns.nyu.edu", "dns-local")?;
    let options = dns_resolver::net::QueryOptions {
        // INTEGRATION: source: Some(client),
        timeout: Duration::from_secs(5),
        ..dns_resolver::net::QueryOptions::default()
    };
    let ask = |name: &'static str, step_name: &'static str| {
        let options = options.clone();
        async move {
            let qname: Name = name.parse().map_err(|error| ScenarioError::Step {
                step: step_name,
                reason: format!("{name}: {error}"),
            })?;
            let started = Instant::now();
            let reply = dns_resolver::net::query(local, &qname, RecordType::A, &options)
                .await
                .map_err(|error| ScenarioError::Step {
                    step: step_name,
                    reason: error.to_string(),
                })?;
            let elapsed = started.elapsed();
            let answers: Vec<String> = reply
                .answers
                .iter()
                .map(|record| record.rdata.to_string())
                .collect();
            let mut story = String::new();
            let _ = write!(
                story,
                "cse.nyu.edu asked its local DNS server dns.nyu.edu ({local}) for {name}: {} {} in {:.1} ms",
                reply.rcode,
                answers.join(", "),
                elapsed.as_secs_f64() * 1000.0
            );
            Ok(story)
        }
    };
    let mut steps = Vec::new();
    step(
        &mut steps,
        "First query: recursive to dns.nyu.edu, iterative from there to root, TLD and authoritative",
        ask("gaia.cs.umass.edu", "first query"),
    )
    .await?;
    step(
        &mut steps,
        "Same query again: answered from dns.nyu.edu's cache",
        ask("gaia.cs.umass.edu", "cached query"),
    )
    .await?;
    step(
        &mut steps,
        "Another .edu name: the cached edu NS records bypass the root",
        ask("www.someschool.edu", "bypass the root"),
    )
    .await?;
    Ok(steps)
}
