//! The queue manager: takes due entries from the queue, delivers local recipients into their
//! Maildir and relays the others to the next hop found through MX records (RFC 5321 §5),
//! records each recipient's outcome, retries deferred ones with backoff, bounces failures to
//! the sender (RFC 3464), and removes an entry only when no recipient waits.

use crate::config::{MailConfig, Retry};
use crate::policy::Policy;
use crate::queue::{DeliveryState, Envelope, Queue, QueuedEntry, RecipientStatus};
use dns_proto::{Name, Rcode, Rdata, RecordType};
use netio::wire::{self, Dir};
use smtp_proto::{
    ClientConfig, ClientEvent, ClientSession, Delivery, ForwardPath, Message, Recipient,
    ReversePath, TlsPolicy,
};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Deliveries at once (Postfix's `default_process_limit` is 100; one core needs fewer).
const CONCURRENCY: usize = 16;
/// How long a connection to a next hop may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// What the queue manager needs of the configuration.
#[derive(Debug)]
struct Settings {
    hostname: String,
    dns: Option<SocketAddr>,
    relay_port: u16,
    routes: Vec<(String, SocketAddr)>,
    source: Option<IpAddr>,
    retry: Retry,
    /// TLS to next hops (STARTTLS when offered).
    client_tls: Option<std::sync::Arc<tls::rustls::ClientConfig>>,
    /// Our own SMTP addresses: a next hop that is one of them is a mail loop.
    ours: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    policy: Policy,
    queue: Arc<Queue>,
    store: crate::maildir::Store,
    /// Entry id → when it is due (seconds since the epoch).
    schedule: Mutex<BTreeMap<String, u64>>,
    in_flight: Mutex<HashSet<String>>,
    /// Delivery held until a flush (`defer_delivery`).
    held: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

/// The queue manager; clones share it.
#[derive(Clone, Debug)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

/// What became of one recipient in one attempt.
#[derive(Debug)]
enum Outcome {
    Delivered(String),
    Deferred(String),
    Failed(String),
}

impl Deliverer {
    /// A queue manager for the entries recovery found.
    pub(crate) fn new(
        config: &MailConfig,
        policy: Policy,
        queue: Arc<Queue>,
        store: crate::maildir::Store,
        entries: Vec<QueuedEntry>,
    ) -> Deliverer {
        let schedule = entries
            .iter()
            .map(|entry| (entry.id.clone(), entry.state.next_attempt))
            .collect();
        Deliverer {
            inner: Arc::new(Inner {
                settings: Settings {
                    hostname: config.hostname.clone(),
                    dns: config.dns,
                    relay_port: config.relay_port,
                    routes: config.routes.clone(),
                    source: config.source,
                    retry: config.retry.clone(),
                    client_tls: config.client_tls.clone(),
                    ours: config
                        .listeners
                        .iter()
                        .filter(|listener| listener.kind == crate::config::ListenerKind::Smtp)
                        .map(|listener| listener.addr)
                        .collect(),
                },
                policy,
                queue,
                store,
                schedule: Mutex::new(schedule),
                in_flight: Mutex::new(HashSet::new()),
                held: std::sync::atomic::AtomicBool::new(config.defer_delivery),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// A new entry is in the queue: deliver it now.
    pub(crate) fn enqueued(&self, id: &str) {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id.to_string(), 0);
        self.inner.wake.notify_one();
    }

    /// Delivers due entries until `shutdown`; attempts in flight finish first.
    pub(crate) async fn run(self, shutdown: netio::Shutdown) {
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut attempts = tokio::task::JoinSet::new();
        loop {
            let now = unix(SystemTime::now());
            let (due, next) = {
                let schedule = self
                    .inner
                    .schedule
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let in_flight = self
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let mut due = Vec::new();
                let mut next: Option<u64> = None;
                for (id, &at) in schedule.iter() {
                    if in_flight.contains(id) {
                        continue;
                    }
                    if self.inner.held.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    if at <= now {
                        due.push(id.clone());
                    } else {
                        next = Some(next.map_or(at, |next| next.min(at)));
                    }
                }
                (due, next)
            };
            for id in due {
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    break;
                };
                self.inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone());
                let this = self.clone();
                attempts.spawn(async move {
                    this.attempt(&id).await;
                    this.inner
                        .in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    drop(permit);
                    this.inner.wake.notify_one();
                });
            }
            let wait = next
                .map(|at| Duration::from_secs(at.saturating_sub(now)))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.triggered() => break,
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
            }
        }
        // Let attempts in flight record their outcome (bounded by their own timeouts).
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
    }

    /// One delivery attempt of one entry.
    async fn attempt(&self, id: &str) {
        let inner = self.inner.clone();
        let queue = inner.queue.clone();
        let loaded = {
            let id = id.to_string();
            tokio::task::spawn_blocking(move || {
                let (envelope, message) = queue.load(&id)?;
                let state = queue.state(&id, &envelope)?;
                Ok::<_, crate::queue::QueueError>((envelope, message, state))
            })
            .await
        };
        let (envelope, message, mut state) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(crate::queue::QueueError::NotFound(_))) => {
                self.unschedule(id);
                return;
            }
            Ok(Err(error)) => {
                tracing::error!(%id, "cannot load queue entry: {error}");
                self.reschedule(id, unix(SystemTime::now()) + 300);
                return;
            }
            Err(_) => return,
        };
        state.attempts += 1;
        let outcomes = self.deliver(id, &envelope, &message, &state).await;
        let now = unix(SystemTime::now());
        for (index, outcome) in outcomes {
            let address = &envelope.recipients[index].address;
            let status = match outcome {
                Outcome::Delivered(text) => {
                    tracing::info!(%id, "to=<{address}>, status=sent ({text})");
                    RecipientStatus::Delivered(text)
                }
                Outcome::Deferred(text) => {
                    tracing::info!(%id, "to=<{address}>, status=deferred ({text})");
                    RecipientStatus::Pending { last: Some(text) }
                }
                Outcome::Failed(text) => {
                    tracing::info!(%id, "to=<{address}>, status=bounced ({text})");
                    RecipientStatus::Failed(text)
                }
            };
            state.recipients[index] = status;
        }
        // Past the queue lifetime, what still waits fails (Postfix's maximal_queue_lifetime).
        if now.saturating_sub(envelope.arrival) >= inner.settings.retry.lifetime.as_secs() {
            for status in &mut state.recipients {
                if let RecipientStatus::Pending { last } = status {
                    let reason = format!(
                        "delivery time expired{}",
                        last.as_deref()
                            .map(|last| format!(": {last}"))
                            .unwrap_or_default()
                    );
                    *status = RecipientStatus::Failed(reason);
                }
            }
        }
        if state.is_finished() {
            let failed: Vec<(String, String)> = envelope
                .recipients
                .iter()
                .zip(&state.recipients)
                .filter_map(|(recipient, status)| match status {
                    RecipientStatus::Failed(reason) => {
                        Some((recipient.address.clone(), reason.clone()))
                    }
                    _ => None,
                })
                .collect();
            if !failed.is_empty() && !envelope.from.is_empty() && !state.bounced {
                let notice = crate::bounce::Notice::Failure;
                if let Err(error) = self.notify(id, &envelope, &message, &failed, notice).await {
                    // Keep the entry: the bounce is tried again with it.
                    tracing::error!(%id, "cannot queue the bounce: {error}");
                    self.save(id, state, now + 300).await;
                    return;
                }
            }
            let queue = inner.queue.clone();
            let removed = {
                let id = id.to_string();
                tokio::task::spawn_blocking(move || queue.remove(&id)).await
            };
            match removed {
                Ok(Ok(())) => tracing::info!(%id, "removed"),
                Ok(Err(error)) => tracing::error!(%id, "cannot remove finished entry: {error}"),
                Err(_) => {}
            }
            self.unschedule(id);
            return;
        }
        // Still waiting after delay_warning: tell the sender once (RFC 3464 `delayed`).
        let age = now.saturating_sub(envelope.arrival);
        if let Some(warning) = inner.settings.retry.delay_warning {
            if age >= warning.as_secs() && !state.warned && !envelope.from.is_empty() {
                let waiting: Vec<(String, String)> = envelope
                    .recipients
                    .iter()
                    .zip(&state.recipients)
                    .filter_map(|(recipient, status)| match status {
                        RecipientStatus::Pending { last } => Some((
                            recipient.address.clone(),
                            last.clone().unwrap_or_else(|| "not yet tried".into()),
                        )),
                        _ => None,
                    })
                    .collect();
                let until = envelope.arrival + inner.settings.retry.lifetime.as_secs();
                let notice = crate::bounce::Notice::Delay { until };
                match self.notify(id, &envelope, &message, &waiting, notice).await {
                    Ok(_) => state.warned = true,
                    Err(error) => tracing::error!(%id, "cannot queue the delay warning: {error}"),
                }
            }
        }
        let next = now + inner.settings.retry.backoff(state.attempts).as_secs();
        self.save(id, state, next).await;
    }

    async fn save(&self, id: &str, mut state: DeliveryState, next: u64) {
        state.next_attempt = next;
        let queue = self.inner.queue.clone();
        let saved = {
            let id = id.to_string();
            tokio::task::spawn_blocking(move || queue.save_state(&id, &state)).await
        };
        if let Ok(Err(error)) = saved {
            tracing::error!(%id, "cannot save delivery state: {error}");
        }
        self.reschedule(id, next);
    }

    fn reschedule(&self, id: &str, at: u64) {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), at);
    }

    /// `mail queue --flush`: every waiting entry is due now. Returns how many there are.
    pub(crate) fn flush(&self) -> usize {
        let count = {
            let mut schedule = self
                .inner
                .schedule
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for at in schedule.values_mut() {
                *at = 0;
            }
            schedule.len()
        };
        self.inner
            .held
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.inner.wake.notify_one();
        count
    }

    /// `mail queue --delete ID`: takes the entry out of the schedule and the queue, unless an
    /// attempt is delivering it right now (`Ok(false)`: try again).
    pub(crate) fn delete(&self, id: &str) -> Result<bool, crate::queue::QueueError> {
        {
            let mut schedule = self
                .inner
                .schedule
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if in_flight.contains(id) {
                return Ok(false);
            }
            schedule.remove(id);
        }
        self.inner.queue.remove(id)?;
        tracing::info!(%id, "removed from the queue by the operator");
        Ok(true)
    }

    fn unschedule(&self, id: &str) {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Delivers every pending recipient once; returns an outcome per recipient tried.
    async fn deliver(
        &self,
        id: &str,
        envelope: &Envelope,
        message: &[u8],
        state: &DeliveryState,
    ) -> Vec<(usize, Outcome)> {
        let inner = &self.inner;
        let mut outcomes = Vec::new();
        let mut remote: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut forwards: Vec<(usize, Vec<String>)> = Vec::new();
        for (index, recipient) in envelope.recipients.iter().enumerate() {
            if !state.recipients[index].is_pending() {
                continue;
            }
            let Some((_, domain)) = recipient.address.rsplit_once('@') else {
                outcomes.push((index, Outcome::Failed("5.1.3 bad recipient address".into())));
                continue;
            };
            if !inner.policy.is_local_domain(domain) {
                remote
                    .entry(domain.to_ascii_lowercase())
                    .or_default()
                    .push(index);
                continue;
            }
            // Local: expand aliases now (the policy may have changed since acceptance).
            let localhost = IpAddr::from([127, 0, 0, 1]);
            match inner.policy.recipient(&recipient.address, localhost, true) {
                Err(refusal) => {
                    let (code, (class, subject, detail), text) = refusal.reply(&recipient.address);
                    outcomes.push((
                        index,
                        Outcome::Failed(format!("{code} {class}.{subject}.{detail} {text}")),
                    ));
                }
                Ok(destinations) => {
                    let mut result = None;
                    for mailbox in &destinations.local {
                        if let Err(error) = self
                            .deliver_local(envelope, message, &recipient.address, mailbox)
                            .await
                        {
                            result = Some(Outcome::Deferred(error));
                        }
                    }
                    if !destinations.remote.is_empty() {
                        forwards.push((index, destinations.remote.clone()));
                    }
                    outcomes.push((
                        index,
                        result.unwrap_or_else(|| {
                            Outcome::Delivered(format!(
                                "delivered to maildir{}",
                                if destinations.remote.is_empty() {
                                    String::new()
                                } else {
                                    format!(", forwarded to {}", destinations.remote.join(", "))
                                }
                            ))
                        }),
                    ));
                }
            }
        }
        // An alias that forwards elsewhere: a new entry for the new recipients (Postfix
        // rewrites the envelope the same way), from the same sender.
        for (index, targets) in forwards {
            let mut forwarded = envelope.clone();
            forwarded.recipients = targets
                .into_iter()
                .map(|address| crate::queue::QueuedRecipient {
                    address,
                    notify: None,
                    orcpt: Some(format!("rfc822;{}", envelope.recipients[index].address)),
                })
                .collect();
            if let Some(new_id) = self.enqueue(forwarded, message.to_vec()).await {
                tracing::info!(%id, "forwarded as {new_id}");
            } else if let Some(outcome) = outcomes.iter_mut().find(|(i, _)| *i == index) {
                outcome.1 = Outcome::Deferred("cannot queue the forwarded copy".into());
            }
        }
        for (domain, indexes) in remote {
            outcomes.extend(self.relay(id, &domain, &indexes, envelope, message).await);
        }
        outcomes
    }

    async fn enqueue(&self, envelope: Envelope, message: Vec<u8>) -> Option<String> {
        let queue = self.inner.queue.clone();
        let stored = tokio::task::spawn_blocking(move || {
            queue.enqueue(&envelope, &message, SystemTime::now())
        })
        .await;
        match stored {
            Ok(Ok(id)) => {
                self.enqueued(&id);
                Some(id)
            }
            Ok(Err(error)) => {
                tracing::error!("cannot queue a message: {error}");
                None
            }
            Err(_) => None,
        }
    }

    /// Commits one copy into a local mailbox, with `Return-Path` and `Delivered-To` on top
    /// (RFC 5321 §4.4: the final delivery adds the return path).
    async fn deliver_local(
        &self,
        envelope: &Envelope,
        message: &[u8],
        recipient: &str,
        mailbox: &crate::policy::LocalMailbox,
    ) -> Result<(), String> {
        let mut copy = format!(
            "Return-Path: <{}>\r\nDelivered-To: {recipient}\r\n",
            envelope.from
        )
        .into_bytes();
        copy.extend_from_slice(message);
        let store = self.inner.store.clone();
        let mailbox = mailbox.clone();
        let recipient = recipient.to_string();
        let host = self.inner.settings.hostname.clone();
        tokio::task::spawn_blocking(move || {
            let target = store
                .mailbox(&mailbox.domain, &mailbox.local)
                .map_err(|error| error.to_string())?;
            let folder = detail_folder(&target, &recipient, &mailbox.local);
            target
                .deliver(
                    folder.as_deref(),
                    &copy,
                    &crate::maildir::UniqueParts {
                        time: SystemTime::now(),
                        pid: std::process::id(),
                        host,
                    },
                )
                .map(|_| ())
                .map_err(|error| format!("4.3.0 cannot deliver to {mailbox}: {error}"))
        })
        .await
        .map_err(|error| format!("4.3.0 delivery task failed: {error}"))?
    }

    /// The next hops for `domain`, best first (RFC 5321 §5.1): the routes table, else the MX
    /// records, else the domain's own address (the implicit MX).
    async fn next_hops(&self, domain: &str) -> Result<Vec<(String, SocketAddr)>, Outcome> {
        let settings = &self.inner.settings;
        let routed: Vec<(String, SocketAddr)> = settings
            .routes
            .iter()
            .filter(|(route, _)| route.eq_ignore_ascii_case(domain))
            .map(|(route, addr)| (route.clone(), *addr))
            .collect();
        if !routed.is_empty() {
            return Ok(routed);
        }
        let Some(dns) = settings.dns else {
            return Err(Outcome::Deferred(format!(
                "4.4.3 no DNS server configured to find the mail server of {domain}"
            )));
        };
        let name: Name = domain
            .parse()
            .map_err(|_| Outcome::Failed(format!("5.1.2 bad domain {domain}")))?;
        let options = dns_client::QueryOptions {
            source: settings.source,
            ..Default::default()
        };
        let reply = dns_client::query(dns, &name, RecordType::MX, &options)
            .await
            .map_err(|error| {
                Outcome::Deferred(format!(
                    "4.4.3 Host or domain name lookup for {domain}: {error}"
                ))
            })?;
        if reply.rcode == Rcode::NXDOMAIN {
            return Err(Outcome::Failed(format!(
                "5.1.2 Host or domain name not found. Name service error for name={domain} type=MX: Host not found"
            )));
        }
        if reply.rcode != Rcode::NOERROR {
            return Err(Outcome::Deferred(format!(
                "4.4.3 MX lookup for {domain}: {}",
                reply.rcode
            )));
        }
        let mut exchanges: Vec<(u16, Name)> = reply
            .answers
            .iter()
            .filter_map(|record| match &record.rdata {
                Rdata::Mx(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect();
        // RFC 7505: a null MX says the domain takes no mail.
        if exchanges.len() == 1 && exchanges[0].1 == Name::root() {
            return Err(Outcome::Failed(format!(
                "5.1.10 {domain} does not accept mail (null MX)"
            )));
        }
        if exchanges.is_empty() {
            exchanges.push((0, name.clone()));
        }
        exchanges.sort_by_key(|(preference, _)| *preference);
        let mut hops = Vec::new();
        for (_, exchange) in exchanges {
            let mut addresses: Vec<IpAddr> = reply
                .additional
                .iter()
                .filter(|record| record.name == exchange)
                .filter_map(|record| match record.rdata {
                    Rdata::A(ip) => Some(IpAddr::V4(ip)),
                    _ => None,
                })
                .collect();
            if addresses.is_empty() {
                if let Ok(answer) = dns_client::query(dns, &exchange, RecordType::A, &options).await
                {
                    addresses = answer
                        .answers
                        .iter()
                        .filter_map(|record| match record.rdata {
                            Rdata::A(ip) => Some(IpAddr::V4(ip)),
                            _ => None,
                        })
                        .collect();
                }
            }
            let host = exchange.to_string().trim_end_matches('.').to_string();
            hops.extend(
                addresses
                    .into_iter()
                    .map(|ip| (host.clone(), SocketAddr::new(ip, settings.relay_port))),
            );
        }
        if hops.is_empty() {
            return Err(Outcome::Deferred(format!(
                "4.4.3 no address for the mail servers of {domain}"
            )));
        }
        Ok(hops)
    }

    /// Relays the recipients of one domain: next hops in order until one answers.
    async fn relay(
        &self,
        id: &str,
        domain: &str,
        indexes: &[usize],
        envelope: &Envelope,
        message: &[u8],
    ) -> Vec<(usize, Outcome)> {
        let all = |make: &dyn Fn() -> Outcome| indexes.iter().map(|&i| (i, make())).collect();
        let hops = match self.next_hops(domain).await {
            Ok(hops) => hops,
            Err(Outcome::Failed(text)) => return all(&|| Outcome::Failed(text.clone())),
            Err(Outcome::Deferred(text)) | Err(Outcome::Delivered(text)) => {
                return all(&|| Outcome::Deferred(text.clone()))
            }
        };
        let from = if envelope.from.is_empty() {
            ReversePath::Null
        } else {
            match ReversePath::parse(&format!("<{}>", envelope.from)) {
                Ok(path) => path,
                Err(error) => {
                    return all(&|| Outcome::Failed(format!("5.1.7 bad sender: {error}")))
                }
            }
        };
        let mut recipients = Vec::new();
        for &index in indexes {
            let queued = &envelope.recipients[index];
            let mut line = format!("RCPT TO:<{}>", queued.address);
            if let Some(notify) = &queued.notify {
                line.push_str(&format!(" NOTIFY={notify}"));
            }
            if let Some(orcpt) = &queued.orcpt {
                line.push_str(&format!(" ORCPT={orcpt}"));
            }
            match smtp_proto::decode(line.as_bytes()) {
                Ok(smtp_proto::Command::Rcpt { to: path, params }) => {
                    recipients.push(Recipient { path, params })
                }
                _ => match ForwardPath::parse(&format!("<{}>", queued.address)) {
                    Ok(path) => recipients.push(Recipient::new(path)),
                    Err(_) => return all(&|| Outcome::Failed("5.1.3 bad recipient".into())),
                },
            }
        }
        let params = smtp_proto::MailParams {
            body: match envelope.body.as_str() {
                "8BITMIME" => Some(smtp_proto::BodyType::EightBitMime),
                "BINARYMIME" => Some(smtp_proto::BodyType::BinaryMime),
                _ => None,
            },
            smtputf8: envelope.smtputf8,
            ret: match envelope.ret.as_deref() {
                Some("FULL") => Some(smtp_proto::Ret::Full),
                Some("HDRS") => Some(smtp_proto::Ret::Headers),
                _ => None,
            },
            envid: envelope.envid.clone(),
            ..Default::default()
        };
        let relay_message = Message {
            from,
            params,
            recipients,
            data: message.to_vec(),
        };
        let mut last_error = String::new();
        for (host, addr) in hops {
            if self.inner.settings.ours.contains(&addr) {
                return all(&|| {
                    Outcome::Failed(format!("5.4.6 mail for {domain} loops back to myself"))
                });
            }
            let stream = match tokio::time::timeout(
                CONNECT_TIMEOUT,
                netio::resolve::connect_from(self.inner.settings.source, addr),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    last_error =
                        format!("connect to {host}[{}]:{}: {error}", addr.ip(), addr.port());
                    tracing::info!(%id, "{last_error}");
                    continue;
                }
                Err(_) => {
                    last_error = format!(
                        "connect to {host}[{}]:{}: timed out",
                        addr.ip(),
                        addr.port()
                    );
                    continue;
                }
            };
            match self.session(stream, &host, relay_message.clone()).await {
                Ok(outcome) => {
                    let relay = format!("relay={host}[{}]:{}", addr.ip(), addr.port());
                    return indexes
                        .iter()
                        .zip(outcome.recipients)
                        .map(|(&index, result)| {
                            let text = format!("{relay}, {}", result.text);
                            let outcome = match result.delivery {
                                Delivery::Accepted(_) => Outcome::Delivered(text),
                                Delivery::Temporary(_) => Outcome::Deferred(text),
                                Delivery::Permanent(_) => Outcome::Failed(text),
                            };
                            (index, outcome)
                        })
                        .collect();
                }
                Err(error) => {
                    last_error = format!("{host}[{}]:{}: {error}", addr.ip(), addr.port());
                }
            }
        }
        all(&|| Outcome::Deferred(last_error.clone()))
    }

    /// Runs one client session on a connected stream, with STARTTLS when offered.
    async fn session(
        &self,
        mut stream: tokio::net::TcpStream,
        host: &str,
        message: Message,
    ) -> std::io::Result<smtp_proto::Outcome> {
        let settings = &self.inner.settings;
        let mut config = ClientConfig::new(settings.hostname.clone());
        config.tls = if settings.client_tls.is_some() {
            TlsPolicy::Opportunistic
        } else {
            TlsPolicy::Disabled
        };
        config.trace = wire::enabled();
        let mut session = ClientSession::new(config, message, Instant::now());
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        match client_drive(&mut stream, &mut session, local, peer, &mut |_| {}).await? {
            ClientEnd::Done(outcome) => Ok(outcome),
            ClientEnd::StartTls => {
                let Some(connector) = settings.client_tls.clone().map(tls::TlsConnector::from)
                else {
                    return Err(std::io::Error::other("STARTTLS without a TLS set-up"));
                };
                let name = tls::ServerName::try_from(host.to_string())
                    .map_err(|error| std::io::Error::other(format!("{host}: {error}")))?;
                let mut secure =
                    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
                        .await
                        .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
                session.tls_established(Instant::now());
                match client_drive(&mut secure, &mut session, local, peer, &mut |_| {}).await? {
                    ClientEnd::Done(outcome) => Ok(outcome),
                    ClientEnd::StartTls => Err(std::io::Error::other("STARTTLS twice")),
                }
            }
        }
    }

    /// Queues a delivery status notification (RFC 3464) to the sender of `id` for
    /// `recipients`: a bounce for those that failed, or a delay warning for those waiting.
    async fn notify(
        &self,
        id: &str,
        envelope: &Envelope,
        message: &[u8],
        recipients: &[(String, String)],
        notice: crate::bounce::Notice,
    ) -> Result<String, String> {
        let hostname = &self.inner.settings.hostname;
        let report = crate::bounce::build(
            hostname,
            id,
            envelope,
            message,
            recipients,
            notice,
            SystemTime::now(),
        );
        let bounce = Envelope {
            from: String::new(),
            recipients: vec![crate::queue::QueuedRecipient {
                address: envelope.from.clone(),
                notify: None,
                orcpt: None,
            }],
            arrival: unix(SystemTime::now()),
            helo: hostname.clone(),
            peer: "127.0.0.1".into(),
            body: "7BIT".into(),
            smtputf8: false,
            ret: None,
            envid: None,
            auth: None,
        };
        match self.enqueue(bounce, report).await {
            Some(bounce_id) => {
                let what = match notice {
                    crate::bounce::Notice::Failure => "non-delivery notification",
                    crate::bounce::Notice::Delay { .. } => "delay notification",
                };
                tracing::info!(%id, "sender {what}: {bounce_id}");
                Ok(bounce_id)
            }
            None => Err("cannot queue the notification".into()),
        }
    }
}

pub(crate) enum ClientEnd {
    Done(smtp_proto::Outcome),
    StartTls,
}

/// Runs `session` over `io` until it closes or asks for TLS; every traced command and reply
/// goes out as a wire event and to `observe` (the user agent's `-v` dialogue).
pub(crate) async fn client_drive<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    session: &mut ClientSession,
    local: SocketAddr,
    peer: SocketAddr,
    observe: &mut (dyn FnMut(&smtp_proto::Trace) + Send),
) -> std::io::Result<ClientEnd> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut done = None;
    loop {
        let mut start_tls = false;
        let mut wrote = false;
        while let Some(bytes) = session.poll_transmit() {
            io.write_all(&bytes).await?;
            wrote = true;
        }
        if wrote {
            io.flush().await?;
            session.handle_sent(Instant::now());
        }
        while let Some(trace) = session.poll_trace() {
            let dir = match trace.direction {
                smtp_proto::Direction::Recv => Dir::Recv,
                smtp_proto::Direction::Send => Dir::Send,
            };
            wire::emit("smtp", dir, local, peer, &trace.summary);
            observe(&trace);
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::StartTls => start_tls = true,
                ClientEvent::Done(outcome) => done = Some(outcome),
            }
        }
        if start_tls {
            return Ok(ClientEnd::StartTls);
        }
        if session.is_closed() {
            let _ = io.shutdown().await;
            return match done {
                Some(outcome) => Ok(ClientEnd::Done(outcome)),
                None => Err(std::io::Error::other("session ended without a result")),
            };
        }
        let deadline = session.poll_timeout();
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = io.read(&mut buffer), if session.wants_input() => {
                match read {
                    Ok(0) | Err(_) => session.handle_eof(Instant::now()),
                    Ok(n) => session.handle_input(Instant::now(), &buffer[..n]),
                }
            }
            () = sleep => session.handle_timeout(Instant::now()),
        }
    }
}

/// The folder that `bob+lists@` names for `bob`, when `bob` has it (Dovecot's
/// lmtp_save_to_detail_mailbox; a detail without its folder goes to the INBOX, so no sender
/// can make folders).
fn detail_folder(
    mailbox: &crate::maildir::Mailbox,
    recipient: &str,
    local: &str,
) -> Option<String> {
    let (user, _) = recipient.rsplit_once('@')?;
    let (base, detail) = user.split_once('+')?;
    if !base.eq_ignore_ascii_case(local) || detail.is_empty() {
        return None;
    }
    mailbox
        .folders()
        .ok()?
        .into_iter()
        .find(|folder| folder.eq_ignore_ascii_case(detail))
}
