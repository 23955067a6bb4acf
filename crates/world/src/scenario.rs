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
        name: "registrar",
        about: "seed §2.4.3: networkutopia.com does not resolve; the registrar inserts its NS and glue records into the com TLD; then it resolves through the hierarchy",
    },
    ScenarioInfo {
        name: "web",
        about: "seed §2.2.2: the someDepartment page and its ten JPEGs fetched over non-persistent, then persistent connections, with connection and round-trip counts",
    },
    ScenarioInfo {
        name: "cookies",
        about: "seed §2.2.4: a first visit gets an identification number by Set-Cookie, the next visit sends it back and is welcomed back from the backend database",
    },
    ScenarioInfo {
        name: "web-cache",
        about: "seed §2.2.5: an object through the campus web cache twice (MISS, HIT), then conditional GETs answered 304 when unchanged and 200 after the origin changes it",
    },
    ScenarioInfo {
        name: "mail",
        about: "seed §2.3: Alice's user agent submits a message to mail.crepes.fr, which queues it, finds hamburger.edu's mail server by its MX record and hands it over with SMTP into Bob's mailbox; then Bob's server goes down, the next message waits in the queue with its retry time, and is delivered when the server is back",
    },
    ScenarioInfo {
        name: "p2p",
        about: "seed §2.5: seed.swarm.net registers a file with the tracker; alice, bob, carol and dave join at once, learn of each other from the tracker and trade its pieces, rarest first, with the seed sending each piece once or twice and the peers the rest",
    },
    ScenarioInfo {
        name: "video",
        about: "seed §2.6: NetCinema's video through KingCDN: cse.nyu.edu resolves video.netcinema.com (a CNAME to a1105.kingcdn.com), KingCDN's DNS picks the cluster deep in NYU's network, the player adapts to a bandwidth drop; pc.someschool.edu gets the cluster at the exchange; then the deep cluster goes down, the health checks move NYU to the other cluster, and the video plays from there (cache hits)",
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
    /// Which of them to draw (all when `None`): a swarm's haves and requests would bury its
    /// pieces.
    pub shows: Option<fn(&trace::WireRecord) -> bool>,
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
        "registrar" => registrar(world, running).await,
        "web" => web_fetch(running).await,
        "cookies" => cookies(running).await,
        "web-cache" => web_cache(running).await,
        "mail" => mail(world, running).await,
        "p2p" => p2p(world, running).await,
        "video" => video(world, running).await,
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
        shows: None,
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
    let client = host_address(world, "cse.nyu.edu")?;
    let local = endpoint(running, "dns.nyu.edu", "dns-local")?;
    let options = dns_client::QueryOptions {
        source: Some(client),
        timeout: Duration::from_secs(5),
        ..dns_client::QueryOptions::default()
    };
    let ask = |name: &'static str, step_name: &'static str| {
        let options = options.clone();
        async move {
            let qname: Name = name.parse().map_err(|error| ScenarioError::Step {
                step: step_name,
                reason: format!("{name}: {error}"),
            })?;
            let started = Instant::now();
            let reply = dns_client::query(local, &qname, RecordType::A, &options)
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

/// The page-fetching client as the campus PC runs it.
fn fetch_options(running: &Running) -> web::FetchOptions {
    web::FetchOptions {
        source: running
            .world()
            .host("pc.someschool.edu")
            .map(|host| host.address),
        resolver: std::sync::Arc::new(crate::resolve::HostTable::new(running.world())),
        timeout: Duration::from_secs(5),
        ..web::FetchOptions::default()
    }
}

fn web_url(running: &Running, host: &str, path: &str) -> Result<String, ScenarioError> {
    let addr = endpoint(running, host, "web")?;
    Ok(format!("{}{path}", crate::run::base_url(host, addr)))
}

async fn web_fetch(running: &Running) -> Result<Vec<Step>, ScenarioError> {
    let url = web_url(running, "www.someschool.edu", "/someDepartment/home.index")?;
    let mut steps = Vec::new();
    for (title, mode) in [
        (
            "Non-persistent HTTP: a new TCP connection for every object (2 RTTs each)",
            web::Mode::NonPersistent,
        ),
        (
            "Persistent HTTP: one connection, requests one after another",
            web::Mode::Persistent,
        ),
        (
            "Persistent HTTP with pipelining: all object requests back to back",
            web::Mode::Pipeline,
        ),
    ] {
        let options = web::FetchOptions {
            mode,
            ..fetch_options(running)
        };
        let url = url.clone();
        step(&mut steps, title, async move {
            let report = web::get(&url, &options)
                .await
                .map_err(|error| ScenarioError::Step {
                    step: "fetch",
                    reason: error.to_string(),
                })?;
            Ok(format!(
                "GET {url}: {} objects, {} bytes, {} TCP connection(s), {} round trips, {:.1} ms",
                report.objects.len(),
                report.bytes,
                report.connections,
                report.round_trips,
                report.total.as_secs_f64() * 1000.0
            ))
        })
        .await?;
    }
    Ok(steps)
}

async fn cookies(running: &Running) -> Result<Vec<Step>, ScenarioError> {
    let url = web_url(running, "www.someschool.edu", "/cookies")?;
    let jar = std::env::temp_dir().join(format!(
        "applayer-scenario-cookies-{}.txt",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&jar);
    let mut steps = Vec::new();
    for (title, what) in [
        (
            "First visit: no cookie; the server creates an ID and its database entry",
            "first visit",
        ),
        (
            "Next visit: the browser sends the cookie back; the server knows the user",
            "second visit",
        ),
    ] {
        let options = web::FetchOptions {
            cookie_jar: Some(jar.clone()),
            record_heads: true,
            ..fetch_options(running)
        };
        let url = url.clone();
        step(&mut steps, title, async move {
            let report = web::get(&url, &options)
                .await
                .map_err(|error| ScenarioError::Step {
                    step: what,
                    reason: error.to_string(),
                })?;
            let body = String::from_utf8_lossy(&report.base_body);
            let heading = body
                .split("<h1>")
                .nth(1)
                .and_then(|rest| rest.split("</h1>").next())
                .unwrap_or("(no heading)")
                .to_string();
            let set_cookie = report
                .base_head
                .headers
                .get("set-cookie")
                .map(str::to_string);
            Ok(match set_cookie {
                Some(cookie) => format!(
                    "{}: Set-Cookie: {cookie}\npage: {heading}",
                    report.base_head.status.as_u16()
                ),
                None => format!(
                    "{}: no Set-Cookie (the cookie came back)\npage: {heading}",
                    report.base_head.status.as_u16()
                ),
            })
        })
        .await?;
    }
    let _ = std::fs::remove_file(&jar);
    Ok(steps)
}

async fn web_cache(running: &Running) -> Result<Vec<Step>, ScenarioError> {
    const WAIT: Duration = Duration::from_secs(5);
    let cache = endpoint(running, "cache.someschool.edu", "web-cache")?;
    let origin = endpoint(running, "www.someschool.edu", "web")?;
    let root = running
        .web_root("www.someschool.edu")
        .ok_or_else(|| ScenarioError::Missing("document root of www.someschool.edu".into()))?
        .to_path_buf();
    let client = running
        .world()
        .host("pc.someschool.edu")
        .map(|host| host.address)
        .ok_or_else(|| ScenarioError::Missing("host pc.someschool.edu".into()))?;
    let url = format!(
        "{}/somedir/page.html",
        crate::run::base_url("www.someschool.edu", origin)
    );
    let fetch = |headers: &'static [(&'static str, &'static str)], what: &'static str| {
        let url = url.clone();
        async move {
            let response = web_proxy::get_via_from(Some(client), cache, &url, headers, WAIT)
                .await
                .map_err(|error| ScenarioError::Step {
                    step: what,
                    reason: error.to_string(),
                })?;
            Ok(format!(
                "GET {url} via the cache ({cache}): {} X-Cache: {}, {} bytes",
                response.status(),
                response.cache_status().unwrap_or("-"),
                response.body.len()
            ))
        }
    };
    let mut steps = Vec::new();
    step(
        &mut steps,
        "First request: a miss; the cache fetches the object from the origin and keeps a copy",
        fetch(&[], "miss"),
    )
    .await?;
    step(
        &mut steps,
        "Second request: a hit; the origin sees nothing",
        fetch(&[], "hit"),
    )
    .await?;
    step(
        &mut steps,
        "The client insists on a fresh copy: conditional GET (If-Modified-Since / If-None-Match), 304 Not Modified",
        fetch(&[("Cache-Control", "no-cache")], "revalidate"),
    )
    .await?;
    let page = root.join("somedir/page.html");
    let changed = format!(
        "<!DOCTYPE html>\n<html><body><h1>page.html, changed</h1><p>Changed at the origin at {:?}.</p></body></html>\n",
        std::time::SystemTime::now()
    );
    std::fs::write(&page, changed).map_err(|error| ScenarioError::Step {
        step: "change the object",
        reason: format!("{}: {error}", page.display()),
    })?;
    step(
        &mut steps,
        "The origin changed the object: the conditional GET gets 200 with the new version",
        fetch(&[("Cache-Control", "no-cache")], "changed"),
    )
    .await?;
    Ok(steps)
}

async fn registrar(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    use dns_proto::{Name, RecordType};
    let failed = |step: &'static str| move |reason: String| ScenarioError::Step { step, reason };
    let tld = endpoint(running, "a.gtld-servers.net", "dns-auth")?;
    let campus_dns = endpoint(running, "ldns.someschool.edu", "dns-local")?;
    let nyu_dns = endpoint(running, "dns.nyu.edu", "dns-local")?;
    let ns_address = host_address(world, "dns1.networkutopia.com")?;
    let key = world
        .keys
        .iter()
        .find(|key| key.name.trim_end_matches('.') == "registrar")
        .ok_or_else(|| ScenarioError::Missing("registrar key".into()))?;
    let key = dns_proto::tsig::TsigKey::from_base64(&key.name, &key.secret)
        .map_err(|error| failed("key")(error.to_string()))?;
    let www: Name = "www.networkutopia.com"
        .parse()
        .map_err(|error| failed("name")(format!("{error}")))?;
    let ask = |server: SocketAddr, client: &'static str, step_name: &'static str| {
        let www = www.clone();
        let source = world.host(client).map(|host| host.address);
        async move {
            let options = dns_client::QueryOptions {
                source,
                timeout: Duration::from_secs(5),
                ..dns_client::QueryOptions::default()
            };
            let reply = dns_client::query(server, &www, RecordType::A, &options)
                .await
                .map_err(|error| failed(step_name)(error.to_string()))?;
            let answers: Vec<String> = reply
                .answers
                .iter()
                .map(|record| record.rdata.to_string())
                .collect();
            Ok::<String, ScenarioError>(format!(
                "{client} asked {server} for www.networkutopia.com: {} {}",
                reply.rcode,
                answers.join(", ")
            ))
        }
    };
    let mut steps = Vec::new();
    step(
        &mut steps,
        "Before registration: com. has no delegation for networkutopia.com",
        ask(campus_dns, "pc.someschool.edu", "before"),
    )
    .await?;
    step(&mut steps, "The registrar inserts NS and glue into com. (DNS UPDATE signed with TSIG)", async {
        let name_server: Name = "dns1.networkutopia.com".parse().map_err(|error| failed("name")(format!("{error}")))?;
        let domain: Name = "networkutopia.com".parse().map_err(|error| failed("name")(format!("{error}")))?;
        let registration = dns_client::registrar::Registration::new(domain, vec![(name_server, Some(ns_address))]);
        dns_client::register(tld, &registration, Some(&key), Duration::from_secs(5))
            .await
            .map_err(|error| failed("register")(error.to_string()))?;
        Ok(format!(
            "a.gtld-servers.net ({tld}) accepted: networkutopia.com NS dns1.networkutopia.com, dns1.networkutopia.com A {ns_address}"
        ))
    })
    .await?;
    step(
        &mut steps,
        "After registration: resolved through root, com and the new authoritative server (another local server: the first still caches the NXDOMAIN, RFC 2308)",
        ask(nyu_dns, "cse.nyu.edu", "after"),
    )
    .await?;
    Ok(steps)
}

/// The first user of the mail service on `host`, and that host's first domain.
fn mail_user(world: &World, host: &str) -> Result<(String, String, String), ScenarioError> {
    let missing = || ScenarioError::Missing(format!("mail service with a user on {host}"));
    let host = world.host(host).ok_or_else(missing)?;
    host.services
        .iter()
        .find_map(|service| match &service.kind {
            crate::ServiceKind::Mail { domains, users, .. } => {
                let domain = crate::run::mail_domains(host, domains).into_iter().next()?;
                let (name, password) = users.first()?.clone();
                Some((name, password, domain))
            }
            _ => None,
        })
        .ok_or_else(missing)
}

/// Bob's account on mail.hamburger.edu at `server`, STARTTLS verified against the world CA.
fn bob_account(
    running: &Running,
    server: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    password: &str,
) -> Result<mail_server::fetch::Account, ScenarioError> {
    let failed = mail_failed("fetch");
    let ca = tls::Ca::load_or_create(&running.state_dir().join("ca"), "applayer world CA")
        .map_err(|error| failed(error.to_string()))?;
    let client =
        tls::client_config(&[ca.cert_der()], &[]).map_err(|error| failed(error.to_string()))?;
    Ok(mail_server::fetch::Account {
        server,
        source,
        user: user.to_string(),
        password: password.to_string(),
        security: mail_server::submit::Security::StartTls,
        tls: Some((client, "mail.hamburger.edu".into())),
    })
}

/// Bob's user agent fetches with `protocol` from `server` (STARTTLS against the world CA)
/// into `maildir`, keeping the mail on the server; the report and the dialogue in the seed's
/// `S:`/`C:` layout, messages shortened to a line.
async fn bob_fetches(
    running: &Running,
    protocol: mail_server::fetch::Protocol,
    server: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    password: &str,
    maildir: &std::path::Path,
) -> Result<(mail_server::fetch::Report, String), ScenarioError> {
    let failed = mail_failed("fetch");
    let account = bob_account(running, server, source, user, password)?;
    let mut sink = mail_server::fetch::MaildirSink::open(maildir)
        .map_err(|error| failed(error.to_string()))?;
    let mut lines: Vec<mail_server::fetch::Said> = Vec::new();
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        mail_server::fetch::fetch(
            protocol,
            &account,
            &mail_server::fetch::Folders::One("INBOX".into()),
            true,
            &mut sink,
            &mut |said: &mail_server::fetch::Said| lines.push(said.clone()),
        ),
    )
    .await
    .map_err(|_| failed("no answer in 30 s".into()))?
    .map_err(|error| failed(error.to_string()))?;
    // Replies and commands as they are; a message's lines folded into one.
    let mut dialogue = String::new();
    let mut folded = 0usize;
    for said in &lines {
        if !said.in_message {
            if folded > 0 {
                let _ = writeln!(dialogue, "  S: ({folded} lines of the message)");
                folded = 0;
            }
            let who = if said.by_server { "S:" } else { "C:" };
            let _ = writeln!(dialogue, "  {who} {}", said.text);
        } else {
            folded += 1;
        }
    }
    Ok((report, dialogue))
}

/// What the mail scenario's steps share: who sends to whom, and through where.
struct MailParty {
    from: String,
    to: String,
    alice: String,
    password: String,
    /// Alice's laptop, where her user agent submits from.
    laptop: Option<IpAddr>,
    submission: SocketAddr,
    bob_maildir: std::path::PathBuf,
    crepes_queue: std::path::PathBuf,
}

fn mail_failed(step: &'static str) -> impl Fn(String) -> ScenarioError {
    move |reason: String| ScenarioError::Step { step, reason }
}

impl MailParty {
    /// Alice's user agent submits a message with subject `token` to mail.crepes.fr on 587
    /// (STARTTLS verified against the world CA, then AUTH); the server's reply text.
    async fn submit(
        &self,
        running: &Running,
        token: &str,
        text: &str,
    ) -> Result<String, ScenarioError> {
        let failed = mail_failed;
        let (from, to) = (&self.from, &self.to);
        let message = smtp_proto::Message {
            from: smtp_proto::ReversePath::parse(&format!("<{from}>"))
                .map_err(|error| failed("sender")(error.to_string()))?,
            params: smtp_proto::MailParams::default(),
            recipients: vec![smtp_proto::Recipient::new(
                smtp_proto::ForwardPath::parse(&format!("<{to}>"))
                    .map_err(|error| failed("recipient")(error.to_string()))?,
            )],
            data: format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: {token}\r\n\r\n{text}")
                .into_bytes(),
        };
        let credentials = smtp_proto::Credentials {
            username: self.alice.clone(),
            password: smtp_proto::Secret::new(self.password.clone()),
            allow_plaintext: true,
        };
        let ca = tls::Ca::load_or_create(&running.state_dir().join("ca"), "applayer world CA")
            .map_err(|error| failed("world CA")(error.to_string()))?;
        let client = tls::client_config(&[ca.cert_der()], &[])
            .map_err(|error| failed("world CA")(error.to_string()))?;
        let outcome = mail_server::send(
            self.submission,
            self.laptop,
            "alice.crepes.fr",
            Some(credentials),
            Some((client, "mail.crepes.fr".to_string())),
            message,
        )
        .await
        .map_err(|error| failed("submission")(error.to_string()))?;
        let result = outcome
            .recipients
            .first()
            .ok_or_else(|| failed("submission")("no result".into()))?;
        if !matches!(result.delivery, smtp_proto::Delivery::Accepted(_)) {
            return Err(failed("submission")(result.text.clone()));
        }
        Ok(result.text.clone())
    }

    /// The file in Bob's `new/` whose message has subject `token`, waiting up to 10 s.
    async fn delivered(&self, token: &str) -> Result<std::path::PathBuf, ScenarioError> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let found = std::fs::read_dir(&self.bob_maildir)
                .into_iter()
                .flatten()
                .flatten()
                .find(|entry| {
                    std::fs::read_to_string(entry.path())
                        .map(|text| text.contains(token))
                        .unwrap_or(false)
                });
            if let Some(entry) = found {
                return Ok(entry.path());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(mail_failed("relay")(format!(
            "not in {} after 10 s",
            self.bob_maildir.display()
        )))
    }
}

/// The first `name` field of a message's header, unfolded.
fn header_field(message: &str, name: &str) -> Option<String> {
    let mut lines = message.lines();
    let head = name.to_ascii_lowercase();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if field.trim().to_ascii_lowercase() != head {
            continue;
        }
        let mut value = value.trim().to_string();
        for more in lines.by_ref() {
            if !more.starts_with([' ', '\t']) {
                break;
            }
            value.push(' ');
            value.push_str(more.trim());
        }
        return Some(value);
    }
    None
}

/// Bob's browser on the web mail at `base`: logs in (a session cookie), opens the folder
/// Crepes the IMAP leg filed the message in, and the message whose subject has `token`.
/// The story, and the message page.
async fn web_mail_read(
    running: &Running,
    base: &str,
    user: &str,
    password: &str,
    token: &str,
) -> Result<(String, String), String> {
    let jar = running
        .state_dir()
        .join("user-agents")
        .join(user)
        .join("browser-cookies.txt");
    if let Some(parent) = jar.parent() {
        std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
    }
    let _ = std::fs::remove_file(&jar);
    let options = web::FetchOptions {
        source: running
            .world()
            .host("bob.hamburger.edu")
            .map(|host| host.address),
        cookie_jar: Some(jar.clone()),
        fetch_objects: false,
        user_agent: "applayer (Bob's browser)".into(),
        ..fetch_options(running)
    };
    let mut story = String::new();
    let mut login = options.clone();
    login.method = http_proto::Method::Post;
    login
        .headers
        .append("Content-Type", "application/x-www-form-urlencoded");
    login.body = Some(
        format!(
            "user={}&password={}",
            webmail::query_escape(user),
            webmail::query_escape(password)
        )
        .into_bytes(),
    );
    let report = web::get(&format!("{base}/login"), &login)
        .await
        .map_err(|error| error.to_string())?;
    let head = &report.base_head;
    if head.status.as_u16() != 303 || !head.headers.contains("set-cookie") {
        return Err(format!(
            "POST /login answered {} without a session",
            head.status.as_u16()
        ));
    }
    let _ = writeln!(
        story,
        "  POST {base}/login (user={user}, password ********) -> {} {}, Set-Cookie: {}=<128-bit id>; HttpOnly; SameSite=Strict",
        head.status.as_u16(),
        head.headers.get("location").unwrap_or(""),
        webmail::SESSION_COOKIE,
    );
    let folder_url = format!("{base}/folder?f=Crepes");
    let report = web::get(&folder_url, &options)
        .await
        .map_err(|error| error.to_string())?;
    let page = String::from_utf8_lossy(&report.base_body).into_owned();
    if report.base_head.status.as_u16() != 200 {
        return Err(format!(
            "GET {folder_url} answered {}",
            report.base_head.status.as_u16()
        ));
    }
    // The message's link: the row whose subject has the token.
    let row = page
        .split("<tr")
        .find(|row| row.contains(token))
        .ok_or_else(|| format!("the folder page does not list {token}"))?;
    let href = row
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no link to the message")?
        .replace("&amp;", "&");
    let _ = writeln!(
        story,
        "  GET {folder_url} (cookie sent) -> {} text/html, the folder lists the message",
        report.base_head.status.as_u16()
    );
    let message_url = format!("{base}{href}");
    let report = web::get(&message_url, &options)
        .await
        .map_err(|error| error.to_string())?;
    let page = String::from_utf8_lossy(&report.base_body).into_owned();
    let subject = page
        .split("<h1 id=\"subject\">")
        .nth(1)
        .and_then(|rest| rest.split("</h1>").next())
        .unwrap_or("");
    if report.base_head.status.as_u16() != 200 || !subject.contains(token) {
        return Err(format!(
            "GET {message_url} answered {} without the message",
            report.base_head.status.as_u16()
        ));
    }
    let _ = writeln!(
        story,
        "  GET {message_url} -> {} text/html: \"{subject}\" (Content-Security-Policy: {}; ...)",
        report.base_head.status.as_u16(),
        report
            .base_head
            .headers
            .get("content-security-policy")
            .and_then(|policy| policy.split(';').next())
            .unwrap_or("none")
    );
    let _ = std::fs::remove_file(&jar);
    Ok((
        format!(
            "Bob's browser on bob.hamburger.edu logged in to the web mail on mail.hamburger.edu (our web server on port 80, the pages over the same Maildirs) and read the message in the folder IMAP filed it in:\n{}",
            story.trim_end()
        ),
        page,
    ))
}

async fn mail(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    let (alice, password, crepes) = mail_user(world, "mail.crepes.fr")?;
    let (bob, bob_password, hamburger) = mail_user(world, "mail.hamburger.edu")?;
    // Submission listens beside SMTP on the same host, on 587 (moved with the port offset).
    let smtp = endpoint(running, "mail.crepes.fr", "mail")?;
    let party = MailParty {
        from: format!("{alice}@{crepes}"),
        to: format!("{bob}@{hamburger}"),
        alice,
        password,
        laptop: world.host("alice.crepes.fr").map(|host| host.address),
        submission: SocketAddr::new(
            smtp.ip(),
            crate::run::effective_port(587, running.port_offset),
        ),
        bob_maildir: crate::run::mail_dir(running.state_dir(), "mail.hamburger.edu")
            .join("mail")
            .join(&hamburger)
            .join(bob.to_ascii_lowercase())
            .join("new"),
        crepes_queue: crate::run::mail_dir(running.state_dir(), "mail.crepes.fr").join("queue"),
    };
    let (from, to) = (party.from.clone(), party.to.clone());
    let token = format!("scenario-{}", std::process::id());
    let failed = mail_failed;
    let mut steps = Vec::new();
    step(
        &mut steps,
        "Alice's user agent submits the message; her server relays it to Bob's by MX",
        async {
            let reply = party
                .submit(running, &token, "Bonjour Bob,\r\n.a line that starts with a dot\r\n")
                .await?;
            let path = party.delivered(&token).await?;
            let text = std::fs::read_to_string(&path)
                .map_err(|error| failed("relay")(format!("{}: {error}", path.display())))?;
            let results = header_field(&text, "Authentication-Results")
                .unwrap_or_else(|| "(no Authentication-Results field)".into());
            Ok(format!(
                "mail.crepes.fr accepted <{from}>'s message for <{to}> over STARTTLS ({reply}), signed it with DKIM (d={crepes}, s={selector}), looked up the MX of {hamburger}, and relayed it over SMTP with STARTTLS; mail.hamburger.edu checked the signature and crepes.fr's SPF record in DNS, recorded\n  Authentication-Results: {results}\nand put it in {}",
                path.display(),
                selector = crate::run::DKIM_SELECTOR,
            ))
        },
    )
    .await?;
    // Seed §2.3.4: Bob's user agent pulls the message from his server.
    step(
        &mut steps,
        "Bob's user agent downloads his mail with POP3 (download-and-keep)",
        async {
            let pop3 = SocketAddr::new(
                endpoint(running, "mail.hamburger.edu", "mail")?.ip(),
                crate::run::effective_port(110, running.port_offset),
            );
            let bob_laptop = world.host("bob.hamburger.edu").map(|host| host.address);
            let laptop = running.state_dir().join("user-agents").join(&bob).join("Maildir");
            let (report, dialogue) =
                bob_fetches(running, mail_server::fetch::Protocol::Pop3, pop3, bob_laptop, &bob, &bob_password, &laptop)
                    .await?;
            let mut story = format!(
                "Bob's user agent connected to mail.hamburger.edu's POP3 port, upgraded with STLS (the world CA), and took {} message(s) ({} bytes) into {} without deleting them (UIDLs remembered, so the next fetch takes only new mail):\n",
                report.messages,
                report.bytes,
                laptop.display()
            );
            story.push_str(&dialogue);
            Ok(story.trim_end().to_string())
        },
    )
    .await?;
    // IMAP keeps the folders on the server: Bob finds the message and files it away.
    step(
        &mut steps,
        "Bob's user agent reads it with IMAP, searches for it and moves it to a folder on the server",
        async {
            let imap = SocketAddr::new(
                endpoint(running, "mail.hamburger.edu", "mail")?.ip(),
                crate::run::effective_port(143, running.port_offset),
            );
            let bob_laptop = world.host("bob.hamburger.edu").map(|host| host.address);
            let laptop = running.state_dir().join("user-agents").join(&bob).join("Maildir-imap");
            let (report, dialogue) =
                bob_fetches(running, mail_server::fetch::Protocol::Imap, imap, bob_laptop, &bob, &bob_password, &laptop)
                    .await?;
            let account = bob_account(running, imap, bob_laptop, &bob, &bob_password)?;
            let mut lines: Vec<mail_server::fetch::Said> = Vec::new();
            let moved = tokio::time::timeout(
                Duration::from_secs(30),
                mail_server::fetch::imap_move_matching(&account, &token, "Crepes", &mut |said: &mail_server::fetch::Said| lines.push(said.clone())),
            )
            .await
            .map_err(|_| failed("imap")("no answer in 30 s".into()))?
            .map_err(|error| failed("imap")(error.to_string()))?;
            if moved.is_empty() {
                return Err(failed("imap")(format!("UID SEARCH SUBJECT {token} found nothing")));
            }
            let folder = crate::run::mail_dir(running.state_dir(), "mail.hamburger.edu")
                .join("mail")
                .join(&hamburger)
                .join(bob.to_ascii_lowercase())
                .join(".Crepes");
            let mut story = format!(
                "Bob's user agent took {} message(s) ({} bytes) from the INBOX over IMAP with STARTTLS into {}, leaving them on the server:\n{dialogue}then searched the INBOX and moved UID {} into a new folder Crepes on the server ({}):\n",
                report.messages,
                report.bytes,
                laptop.display(),
                moved.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
                folder.display(),
            );
            for said in lines.iter().filter(|said| !said.in_message) {
                let who = if said.by_server { "S:" } else { "C:" };
                let _ = writeln!(story, "  {who} {}", said.text);
            }
            Ok(story.trim_end().to_string())
        },
    )
    .await?;
    // The third way of the seed's figure: the browser talks HTTP to the mail server.
    step(
        &mut steps,
        "Bob reads it in his browser on the web mail page (HTTP)",
        async {
            let pop3 = endpoint(running, "mail.hamburger.edu", "mail")?;
            let web = SocketAddr::new(
                pop3.ip(),
                crate::run::effective_port(80, running.port_offset),
            );
            let base = crate::run::base_url("mail.hamburger.edu", web);
            let (story, _) = web_mail_read(running, &base, &bob, &bob_password, &token)
                .await
                .map_err(failed("webmail"))?;
            Ok(story)
        },
    )
    .await?;
    // Part two: the seed's "if Bob's mail server is down, the message remains in Alice's mail
    // server's queue and the server tries again later".
    let later = format!("{token}-later");
    step(
        &mut steps,
        "mail.hamburger.edu goes down; Alice's next message waits in mail.crepes.fr's queue",
        async {
            running
                .stop_service("mail.hamburger.edu", "mail")
                .await
                .map_err(failed("stop"))?;
            let reply = party
                .submit(running, &later, "Are you there, Bob?\r\n")
                .await?;
            // Wait for the first attempt to fail and be recorded with its retry time.
            let started = Instant::now();
            let entries = loop {
                let queue = party.crepes_queue.clone();
                let entries = tokio::task::spawn_blocking(move || mail_server::control::list(&queue))
                    .await
                    .map_err(|error| failed("queue")(error.to_string()))?
                    .map_err(|error| failed("queue")(error.to_string()))?;
                let tried = entries.iter().any(|entry| {
                    entry.state.attempts > 0
                        && entry.state.recipients.iter().any(|status| {
                            matches!(status, mail_server::queue::RecipientStatus::Pending { last: Some(_) })
                        })
                });
                if tried {
                    break entries;
                }
                if started.elapsed() > Duration::from_secs(10) {
                    return Err(failed("queue")("no failed attempt recorded after 10 s".into()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or(0);
            let listing = mail_server::control::format_listing(&entries, now);
            let mut story = format!(
                "mail.crepes.fr accepted it ({reply}), found {hamburger}'s MX, and could not connect; the message stays queued and is tried again after 1 minute, then 2, 4 ... up to every 30 minutes (Postfix's 5 minutes to 4000 s, scaled for the world), for up to 5 days; `applayer mail queue` shows:\n"
            );
            for line in listing.lines() {
                let _ = writeln!(story, "  {line}");
            }
            Ok(story.trim_end().to_string())
        },
    )
    .await?;
    step(
        &mut steps,
        "mail.hamburger.edu comes back; the queued message is delivered",
        async {
            running
                .restart_service("mail.hamburger.edu", "mail")
                .await
                .map_err(|error| failed("restart")(error.to_string()))?;
            // The operator's `applayer mail queue --flush` instead of a minute's wait.
            let queue = party.crepes_queue.clone();
            let answer = tokio::task::spawn_blocking(move || {
                mail_server::control::request(&queue, "flush")
            })
            .await
            .map_err(|error| failed("flush")(error.to_string()))?
            .map_err(|error| failed("flush")(error.to_string()))?
            .ok_or_else(|| failed("flush")("mail.crepes.fr's queue control socket is gone".into()))?;
            let path = party.delivered(&later).await?;
            Ok(format!(
                "mail.hamburger.edu listens again; `applayer mail queue --flush` on mail.crepes.fr ({answer}) retried at once, and the message is in {}",
                path.display()
            ))
        },
    )
    .await?;
    Ok(steps)
}

/// The swarm's hosts in the default world.
const SWARM: [&str; 4] = [
    "alice.swarm.net",
    "bob.swarm.net",
    "carol.swarm.net",
    "dave.swarm.net",
];

/// The seed's upload rate in the swarm scenario, bytes per second: a slow uplink (the file takes
/// it two seconds to send once), so that the peers, unlimited, get most pieces from each other.
const SEED_UPLOAD: u64 = 64 * 1024;

/// Seed §2.5: one seed, four peers, a tracker; who sent which piece to whom.
async fn p2p(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    use torrent::client::{ClientConfig, Progress};
    let failed = |step: &'static str| move |reason: String| ScenarioError::Step { step, reason };
    let tracker = endpoint(running, "tracker.swarm.net", "torrent-tracker")?;
    let seed_ip = host_address(world, "seed.swarm.net")?;
    let mut peers = Vec::new();
    for name in SWARM {
        peers.push((name, host_address(world, name)?));
    }
    // The file: 8 pieces of 16 KiB (one block each), made afresh.
    let dir = running.state_dir().join("p2p");
    let _ = std::fs::remove_dir_all(&dir);
    let seed_dir = dir.join("seed.swarm.net");
    std::fs::create_dir_all(&seed_dir).map_err(|e| failed("the file")(e.to_string()))?;
    let file = seed_dir.join("lecture.mp4");
    let bytes: Vec<u8> = (0..8 * 16384).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&file, &bytes).map_err(|e| failed("the file")(e.to_string()))?;
    let announce = format!("http://{tracker}/announce");
    let torrent_bytes = torrent::create(
        &file,
        &torrent::CreateOptions {
            trackers: vec![vec![announce.clone()]],
            piece_length: Some(16384),
            ..torrent::CreateOptions::default()
        },
    )
    .map_err(|e| failed("the torrent")(e.to_string()))?;
    let meta = bt_proto::Metainfo::parse(&torrent_bytes)
        .map_err(|e| failed("the torrent")(e.to_string()))?;
    let pieces = meta.info.pieces.len();
    let shutdown = netio::Shutdown::new();
    let mut steps = Vec::new();
    let mut tasks = Vec::new();

    let (seed_tx, mut seed_rx) = tokio::sync::mpsc::unbounded_channel();
    step(&mut steps, "The seed registers with the tracker", async {
        let config = ClientConfig {
            meta: meta.clone(),
            dir: seed_dir.clone(),
            listen: SocketAddr::new(seed_ip, 6881),
            seed: true,
            peers: Vec::new(),
            upload_limit: Some(SEED_UPLOAD),
        };
        tasks.push(tokio::spawn(torrent::client::run(
            config,
            seed_tx,
            shutdown.clone(),
        )));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, seed_rx.recv()).await {
                Ok(Some(Progress::Tracker(Ok(_)))) => break,
                Ok(Some(Progress::Tracker(Err(error)))) => return Err(failed("the seed")(error)),
                Ok(Some(_)) => {}
                _ => return Err(failed("the seed")("no announce within 10 s".into())),
            }
        }
        Ok(format!(
            "seed.swarm.net has all {pieces} pieces of lecture.mp4 ({} KiB, pieces of 16 KiB), \
             uploads at most {} KiB/s, and announces itself to {announce}: the tracker now \
             knows one peer of the torrent.",
            bytes.len() / 1024,
            SEED_UPLOAD / 1024
        ))
    })
    .await?;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    step(&mut steps, "Four peers join and trade pieces", async {
        for (name, ip) in &peers {
            let (peer_tx, mut peer_rx) = tokio::sync::mpsc::unbounded_channel();
            let config = ClientConfig {
                meta: meta.clone(),
                dir: dir.join(name),
                listen: SocketAddr::new(*ip, 6881),
                seed: true,
                peers: Vec::new(),
                upload_limit: None,
            };
            tasks.push(tokio::spawn(torrent::client::run(
                config,
                peer_tx,
                shutdown.clone(),
            )));
            let tx = tx.clone();
            let name = *name;
            tokio::spawn(async move {
                while let Some(event) = peer_rx.recv().await {
                    if tx.send((name, event)).is_err() {
                        return;
                    }
                }
            });
        }
        // Who sent each piece to each peer, in the order they arrived.
        type Arrivals = Vec<(u32, Vec<IpAddr>)>;
        let mut received: Vec<(&str, Arrivals)> =
            peers.iter().map(|(name, _)| (*name, Vec::new())).collect();
        let mut complete = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while complete < peers.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((name, Progress::Piece { index, from, .. }))) => {
                    if let Some((_, list)) = received.iter_mut().find(|(n, _)| *n == name) {
                        list.push((index, from));
                    }
                }
                Ok(Some((_, Progress::Complete))) => complete += 1,
                Ok(Some((name, Progress::BadPiece(index)))) => {
                    return Err(failed("the swarm")(format!("{name}: piece {index} failed")))
                }
                Ok(Some(_)) => {}
                _ => {
                    return Err(failed("the swarm")(format!(
                        "{complete} of {} peers complete after 30 s",
                        peers.len()
                    )))
                }
            }
        }
        let elapsed = started.elapsed();
        let short = |ip: &IpAddr| {
            world
                .host_name(*ip)
                .map(|name| name.trim_end_matches(".swarm.net").to_string())
                .unwrap_or_else(|| ip.to_string())
        };
        let mut story = format!(
            "alice, bob, carol and dave start at once with nothing; each announces, gets the \
             peers the tracker knows, and connects to them (later ones to earlier ones). Each \
             asks for the rarest pieces it lacks (at the start a random few, so they fetch \
             different pieces), tells its neighbours of each piece it has checked, and uploads \
             to the four that upload the most to it, plus one optimistically. Every peer had \
             the file after {:.0} ms. Pieces in the order each peer got them, with the sender:\n",
            elapsed.as_secs_f64() * 1000.0
        );
        let mut from_seed = 0;
        for (name, list) in &received {
            let _ = write!(story, "  {:<6}", name.trim_end_matches(".swarm.net"));
            for (index, from) in list {
                let senders: Vec<String> = from.iter().map(&short).collect();
                from_seed += usize::from(from.contains(&seed_ip));
                let _ = write!(story, " {index}←{}", senders.join("+"));
            }
            story.push('\n');
        }
        let _ = write!(
            story,
            "The seed uploaded {from_seed} of the {} pieces delivered; the peers uploaded the \
             other {} to each other.",
            pieces * peers.len(),
            pieces * peers.len() - from_seed.min(pieces * peers.len())
        );
        Ok(story)
    })
    .await?;
    if let Some(last) = steps.last_mut() {
        last.shows = Some(shows_p2p);
    }
    shutdown.trigger();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(steps)
}

/// The swarm's drawing: announces, handshakes, piece announcements, unchokes and pieces (not
/// the haves, interests and requests between them).
fn shows_p2p(record: &trace::WireRecord) -> bool {
    record.proto != "bittorrent"
        || ["handshake", "bitfield", "have all", "unchoke", "piece"]
            .iter()
            .any(|prefix| record.summary.starts_with(prefix))
}

/// The video scenario's presentation: a test pattern of this many seconds ...
const VIDEO_SECONDS: u32 = 8;
/// ... cut into segments of this many seconds, at these bit rates.
const VIDEO_SEGMENT: Duration = Duration::from_secs(2);
const VIDEO_LADDER: [u32; 3] = [300_000, 800_000, 2_000_000];

/// KingCDN's server in the world: its host and settings (the first `cdn-dns` service).
fn kingcdn(world: &World) -> Result<(&crate::Host, &crate::model::CdnDnsDef), ScenarioError> {
    world
        .hosts
        .iter()
        .find_map(|host| {
            host.services
                .iter()
                .find_map(|service| match &service.kind {
                    crate::ServiceKind::CdnDns(cdn) => Some((host, cdn.as_ref())),
                    _ => None,
                })
        })
        .ok_or_else(|| ScenarioError::Missing("cdn-dns service".into()))
}

/// The addresses of a cluster's members.
fn cluster_members(world: &World, cluster: &crate::model::ClusterDef) -> Vec<IpAddr> {
    cluster
        .members
        .iter()
        .filter_map(|member| {
            member
                .parse::<IpAddr>()
                .ok()
                .or_else(|| world.host(member).map(|host| host.address))
        })
        .collect()
}

/// The cluster all of `addresses` belong to.
fn cluster_of<'a>(
    world: &World,
    cdn: &'a crate::model::CdnDnsDef,
    addresses: &[IpAddr],
) -> Option<&'a crate::model::ClusterDef> {
    if addresses.is_empty() {
        return None;
    }
    cdn.clusters.iter().find(|cluster| {
        let members = cluster_members(world, cluster);
        addresses.iter().all(|address| members.contains(address))
    })
}

/// Packages the test pattern into the origin's `video/` unless it is there: encoded once into
/// `packaged/` beside the world's state (ffmpeg takes seconds), then copied, dated like the
/// embedded sites so that caches may keep the objects (RFC 9111 §4.2.2).
async fn package_video(running: &Running, root: &std::path::Path) -> Result<String, ScenarioError> {
    let failed = |reason: String| ScenarioError::Step {
        step: "package the video",
        reason,
    };
    let target = root.join("video");
    if target.join(video::package::MPD_NAME).exists() {
        return Ok(format!("{} is there already", target.display()));
    }
    let cache = running
        .state_dir()
        .parent()
        .unwrap_or(running.state_dir())
        .join("packaged")
        .join(format!(
            "test-pattern-{VIDEO_SECONDS}s-{}s",
            VIDEO_SEGMENT.as_secs()
        ));
    let mut story = String::new();
    if !cache.join(video::package::MPD_NAME).exists() {
        let mut options = video::package::PackageOptions::new(
            video::package::Source::TestPattern {
                seconds: VIDEO_SECONDS,
            },
            &cache,
        );
        options.ladder = VIDEO_LADDER
            .iter()
            .map(|&bitrate| video::package::Rung::for_bitrate(bitrate))
            .collect();
        options.segment = VIDEO_SEGMENT;
        options.preset = "ultrafast".into();
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || video::package::package(&options))
            .await
            .map_err(|error| failed(error.to_string()))?
            .map_err(|error| match error {
                video::package::PackageError::Spawn { .. } => failed(format!(
                    "{error}; the video scenario encodes its test pattern with ffmpeg"
                )),
                other => failed(other.to_string()),
            })?;
        let rungs: Vec<String> = report
            .representations
            .iter()
            .map(|rung| match rung.height {
                Some(height) => format!("{}p at {} kb/s", height, rung.bandwidth / 1000),
                None => format!("{} at {} kb/s", rung.content_type, rung.bandwidth / 1000),
            })
            .collect();
        let _ = write!(
            story,
            "ffmpeg encoded a {VIDEO_SECONDS} s test pattern in {:.1} s: {}, segments of {} s; ",
            started.elapsed().as_secs_f64(),
            rungs.join(", "),
            VIDEO_SEGMENT.as_secs()
        );
    }
    std::fs::create_dir_all(&target).map_err(|error| failed(error.to_string()))?;
    let published = std::time::UNIX_EPOCH + Duration::from_secs(crate::site::PUBLISHED);
    let entries = std::fs::read_dir(&cache).map_err(|error| failed(error.to_string()))?;
    let mut files = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let copy = target.join(entry.file_name());
        std::fs::copy(&path, &copy)
            .and_then(|_| std::fs::File::options().write(true).open(&copy))
            .and_then(|file| file.set_modified(published))
            .map_err(|error| failed(format!("{}: {error}", copy.display())))?;
        files += 1;
    }
    let _ = write!(
        story,
        "{files} files (the MPD, init and media segments) put on www.netcinema.com under /video/"
    );
    Ok(story)
}

/// The health monitor's probes in a drawing: requests for the health path, and the response
/// on the same connection after each. [`Step::shows`] is a plain function, so the
/// connections it has seen a probe on are kept here, in drawing order.
static PROBES: std::sync::Mutex<(String, Vec<ProbeConnection>)> =
    std::sync::Mutex::new((String::new(), Vec::new()));

/// A connection (its two ends, ordered) and the probe responses still to come on it.
type ProbeConnection = ((String, String), usize);

/// The video drawing: everything but the health monitor's probes (one a second per edge).
fn shows_video(record: &trace::WireRecord) -> bool {
    if record.proto != "http" {
        return true;
    }
    let mut probes = PROBES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (request, pending) = &mut *probes;
    let pair = if record.local <= record.peer {
        (record.local.clone(), record.peer.clone())
    } else {
        (record.peer.clone(), record.local.clone())
    };
    // The monitor's side says `GET /health.txt`; the edges' add the version and the Host.
    let probe = !request.is_empty()
        && record
            .summary
            .strip_prefix(request.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
    if probe {
        match pending.iter_mut().find(|(known, _)| *known == pair) {
            Some((_, count)) => *count += 1,
            None => pending.push((pair, 1)),
        }
        return false;
    }
    let response = record.summary.starts_with(|ch: char| ch.is_ascii_digit());
    if let Some(at) = pending.iter().position(|(known, _)| *known == pair) {
        if response {
            pending[at].1 -= 1;
            if pending[at].1 == 0 {
                pending.remove(at);
            }
            return false;
        }
    }
    true
}

/// One viewer's playback, told fetch by fetch.
fn play_story(report: &video::player::PlayReport) -> String {
    let mut story = String::new();
    for fetch in &report.fetches {
        let path = fetch
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
            .unwrap_or(&fetch.url);
        let quality = match fetch.quality {
            Some(quality) => format!(
                " [{} kb/s]",
                report
                    .log
                    .ladder
                    .get(quality)
                    .map_or(0.0, |bits| bits / 1000.0)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            story,
            "  +{:5.2}s GET {path}{quality} -> {} X-Cache: {}, {:.1} kB in {:.2} s{}",
            fetch.at,
            fetch.status,
            fetch.cache.as_deref().unwrap_or("-"),
            fetch.bytes as f64 / 1000.0,
            fetch.seconds,
            fetch
                .error
                .as_deref()
                .map(|error| format!(" ({error})"))
                .unwrap_or_default()
        );
    }
    let summary = &report.summary;
    let qualities: Vec<String> = report
        .log
        .chunks
        .iter()
        .map(|chunk| format!("{:.0}", chunk.bitrate / 1000.0))
        .collect();
    let _ = write!(
        story,
        "{} ABR: segments at {} kb/s, {} switch(es), startup {:.2} s, {} stall(s) ({:.2} s), mean {:.2} Mbit/s, {}",
        report.abr,
        qualities.join(", "),
        summary.switches,
        summary.startup_delay,
        summary.stalls,
        summary.rebuffer_seconds,
        summary.average_bitrate_mbps,
        if summary.finished {
            "played to the end"
        } else {
            "did not finish"
        }
    );
    story
}

/// Seed §2.6: NetCinema's video through KingCDN, its cluster picked by DNS, and a failover.
async fn video(world: &World, running: &Running) -> Result<Vec<Step>, ScenarioError> {
    use dns_proto::{Name, Rdata, RecordType};
    let failed = |step: &'static str| move |reason: String| ScenarioError::Step { step, reason };
    let (cdn_host, cdn) = kingcdn(world)?;
    let root = running
        .web_root("www.netcinema.com")
        .ok_or_else(|| ScenarioError::Missing("document root of www.netcinema.com".into()))?
        .to_path_buf();
    let viewers = [
        ("cse.nyu.edu", host_address(world, "cse.nyu.edu")?),
        (
            "pc.someschool.edu",
            host_address(world, "pc.someschool.edu")?,
        ),
    ];
    let mut locals = Vec::new();
    for (name, _) in viewers {
        let host = world
            .host(name)
            .ok_or_else(|| ScenarioError::Missing(format!("host {name}")))?;
        let local = crate::run::local_dns(world, host, running.port_offset)
            .ok_or_else(|| ScenarioError::Missing(format!("local DNS server for {name}")))?;
        let local_name = world.host_name(local.ip()).unwrap_or("?").to_string();
        locals.push((local, local_name));
    }
    *PROBES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) =
        (format!("GET {}", cdn.health_path), Vec::new());
    let port = crate::run::effective_port(80, running.port_offset);
    let authority = if port == 80 {
        "video.netcinema.com".to_string()
    } else {
        format!("video.netcinema.com:{port}")
    };
    let url = format!("http://{authority}/video/{}", video::package::MPD_NAME);
    let video_name: Name = "video.netcinema.com"
        .parse()
        .map_err(|error| failed("name")(format!("{error}")))?;
    // A viewer's stub resolver asks its local DNS server; the answer and the cluster it names.
    let resolve = |viewer: usize, step_name: &'static str| {
        let (name, address) = viewers[viewer];
        let (local, local_name) = locals[viewer].clone();
        let video_name = video_name.clone();
        async move {
            let options = dns_client::QueryOptions {
                source: Some(address),
                timeout: Duration::from_secs(5),
                ..dns_client::QueryOptions::default()
            };
            let reply = dns_client::query(local, &video_name, RecordType::A, &options)
                .await
                .map_err(|error| failed(step_name)(error.to_string()))?;
            let addresses: Vec<IpAddr> = reply
                .answers
                .iter()
                .filter_map(|record| match record.rdata {
                    Rdata::A(a) => Some(IpAddr::V4(a)),
                    _ => None,
                })
                .collect();
            let answers: Vec<String> = reply
                .answers
                .iter()
                .map(|record| format!("{} {}", record.rtype(), record.rdata))
                .collect();
            let cluster = cluster_of(world, cdn, &addresses).map(|cluster| cluster.name.clone());
            let story = format!(
                "{name} asked its local DNS server {local_name} ({local}) for video.netcinema.com: {} {}",
                reply.rcode,
                answers.join(", ")
            );
            Ok::<_, ScenarioError>((story, cluster))
        }
    };
    let player = |viewer: usize, trace: dash_proto::trace::Trace, max_buffer: f64| {
        let (_, address) = viewers[viewer];
        let (local, _) = locals[viewer].clone();
        video::player::PlayOptions {
            abr: "throughput".into(),
            trace: Some(trace),
            session: dash_proto::session::SessionConfig {
                max_buffer,
                ..dash_proto::session::SessionConfig::default()
            },
            resolver: std::sync::Arc::new(crate::resolve::DnsResolve {
                server: local,
                timeout: Duration::from_secs(5),
                source: Some(address),
            }),
            max_segments: None,
            latency: Duration::from_millis(10),
            source: Some(address),
            http2: false,
        }
    };
    let trace = |samples: &[(f64, f64)]| {
        dash_proto::trace::Trace::from_samples(samples)
            .map_err(|error| failed("trace")(error.to_string()))
    };
    // 4 Mbit/s for 3 s, then 0.6 Mbit/s: the throughput rule steps down midway.
    let dropping = trace(&[(0.0, 4.0), (3.0, 0.6), (600.0, 0.6)])?;
    let steady = trace(&[(0.0, 4.0), (600.0, 4.0)])?;
    let play = |viewer: usize, options: video::player::PlayOptions, step_name: &'static str| {
        let url = url.clone();
        async move {
            let report = video::player::play(&url, &options)
                .await
                .map_err(|error| failed(step_name)(error.to_string()))?;
            if !report.summary.finished {
                return Err(failed(step_name)(format!(
                    "{} did not play to the end:\n{}",
                    viewers[viewer].0,
                    play_story(&report)
                )));
            }
            Ok(report)
        }
    };
    let expect = |got: &Option<String>, want: &str, step_name: &'static str| match got {
        Some(cluster) if cluster == want => Ok(()),
        other => Err(failed(step_name)(format!(
            "expected cluster {want}, got {}",
            other.as_deref().unwrap_or("none")
        ))),
    };
    let deep = cdn
        .clusters
        .first()
        .ok_or_else(|| ScenarioError::Missing("KingCDN cluster".into()))?;
    let home = cdn
        .clusters
        .get(1)
        .ok_or_else(|| ScenarioError::Missing("second KingCDN cluster".into()))?;

    let mut steps = Vec::new();
    step(
        &mut steps,
        "NetCinema puts its video on its origin server",
        package_video(running, &root),
    )
    .await?;
    step(
        &mut steps,
        "cse.nyu.edu resolves video.netcinema.com: the CNAME leads to KingCDN, whose server picks the cluster for dns.nyu.edu",
        async {
            let (story, cluster) = resolve(0, "viewer 1 resolves").await?;
            expect(&cluster, &deep.name, "viewer 1 resolves")?;
            Ok(format!(
                "{story}\ndns.netcinema.com aliased the name to a1105.kingcdn.com; {} ({}) saw the query come from {}, in its coverage zone for cluster {}, and answered that cluster's edges with a TTL of {} s",
                cdn_host.name,
                cdn_host.address,
                locals[0].1,
                deep.name,
                cdn.ttl
            ))
        },
    )
    .await?;
    step(
        &mut steps,
        "cse.nyu.edu plays the video from its cluster; the bandwidth drops after 3 s and the player steps down",
        async {
            let report = play(0, player(0, dropping.clone(), 4.0), "viewer 1 plays").await?;
            Ok(format!(
                "the player fetched the MPD from {url}, then the segments the throughput rule picked (a link of 4 Mbit/s, 0.6 Mbit/s from 3 s); the edges had nothing yet and fetched every object from www.netcinema.com (each path from the member that owns it):\n{}",
                play_story(&report)
            ))
        },
    )
    .await?;
    step(
        &mut steps,
        "pc.someschool.edu, in another network, resolves the same name and gets the other cluster",
        async {
            let (story, cluster) = resolve(1, "viewer 2 resolves").await?;
            expect(&cluster, &home.name, "viewer 2 resolves")?;
            let report = play(1, player(1, steady.clone(), 30.0), "viewer 2 plays").await?;
            Ok(format!(
                "{story}\n{} placed {} by its coverage line near cluster {}, the nearest up; the video came from there, its own copies fetched from the origin:\n{}",
                cdn_host.name, locals[1].1, home.name,
                play_story(&report)
            ))
        },
    )
    .await?;
    let health_bound = f64::from(cdn.ttl)
        + f64::from(cdn.fall) * cdn.health_interval
        + cdn.health_interval
        + cdn.health_timeout;
    step(
        &mut steps,
        "The enter-deep cluster goes down; KingCDN's health checks notice and its answers for NYU change",
        async {
            let mut stopped = Vec::new();
            for address in cluster_members(world, deep) {
                let name = world
                    .host_name(address)
                    .ok_or_else(|| ScenarioError::Missing(format!("host at {address}")))?
                    .to_string();
                running
                    .stop_service(&name, "web-cache")
                    .await
                    .map_err(failed("stop the edges"))?;
                stopped.push(name);
            }
            let started = Instant::now();
            let mut asked = 0;
            loop {
                let (story, cluster) = resolve(0, "failover").await?;
                asked += 1;
                if cluster.as_deref() == Some(home.name.as_str()) {
                    return Ok(format!(
                        "{} stopped; {} GETs {} from every edge each {} s and takes one out after {} failures, and dns.nyu.edu keeps an answer {} s: after {:.1} s (at most TTL + {} × interval + a round, {:.1} s) and {asked} queries, {story}",
                        stopped.join(" and "),
                        cdn_host.name,
                        cdn.health_path,
                        cdn.health_interval,
                        cdn.fall,
                        cdn.ttl,
                        started.elapsed().as_secs_f64(),
                        cdn.fall,
                        health_bound,
                    ));
                }
                if started.elapsed().as_secs_f64() > health_bound + 3.0 {
                    return Err(failed("failover")(format!(
                        "still {} after {:.1} s: {story}",
                        cluster.as_deref().unwrap_or("no cluster"),
                        started.elapsed().as_secs_f64()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        },
    )
    .await?;
    step(
        &mut steps,
        "cse.nyu.edu plays on from the bring-home cluster: what pc.someschool.edu watched is there (HIT)",
        async {
            let report = play(0, player(0, steady.clone(), 30.0), "viewer 1 plays again").await?;
            let hits = report
                .fetches
                .iter()
                .filter(|fetch| fetch.cache.as_deref() == Some("HIT"))
                .count();
            if hits == 0 {
                return Err(failed("viewer 1 plays again")(format!(
                    "no HIT from {}:\n{}",
                    home.name,
                    play_story(&report)
                )));
            }
            Ok(format!(
                "the player's resolver got {}'s edges for video.netcinema.com; {hits} of {} objects were already in the cluster:\n{}",
                home.name,
                report.fetches.len(),
                play_story(&report)
            ))
        },
    )
    .await?;
    for step in &mut steps {
        step.shows = Some(shows_video);
    }
    Ok(steps)
}
