//! The recursive resolution state machine: client questions in, upstream queries out, upstream
//! replies and timeouts in, client answers and events out. No I/O, no clock, no global RNG.

use crate::cache::{Cache, CacheLimits, Lookup, Negative, Rank};
use crate::rendered::RenderedAnswers;
use dns_proto::{Class, Edns, Message, Name, Opcode, Question, Rcode, Rdata, Record, RecordType};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Identifies one client request; chosen by the driver, echoed in [`Reply`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// Identifies one upstream query (one socket in the driver).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(pub u64);

/// Identifies one resolution task (a question being resolved).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

/// How a message travels (the stub client's enum, so one `Transport` serves both).
pub use dns_client::Transport;

/// Limits and behaviour of the resolver core.
#[derive(Clone, Debug)]
pub struct Options {
    /// The root servers to start from: (name, address).
    pub root_hints: Vec<(Name, SocketAddr)>,
    /// The port of name servers learnt from glue or lookups (53 on the real Internet; tests
    /// run whole hierarchies on another port).
    pub upstream_port: u16,
    /// How long to wait for one upstream reply before trying another server.
    pub upstream_timeout: Duration,
    /// How long one client question may take in all before it gets SERVFAIL.
    pub question_timeout: Duration,
    /// Referrals followed per question.
    pub max_referrals: usize,
    /// CNAME records followed per question.
    pub max_cname_chain: usize,
    /// Nesting of name-server address lookups (a lookup for a lookup ...).
    pub max_depth: usize,
    /// Upstream queries sent per task.
    pub max_upstream_per_task: usize,
    /// Tasks (questions being resolved, lookups included) at once.
    pub max_tasks: usize,
    /// Client questions being resolved at once per client address.
    pub max_per_client: usize,
    /// RFC 5452 §9.2 / draft-vixie-dnsext-dns0x20: randomise the case of upstream query names
    /// and insist the reply echoes it exactly. Servers that do not preserve the case of the
    /// question (rare; NSD, Knot, BIND and ours do) then never match: turn this off for them.
    /// There is deliberately no automatic fallback: a forger who sees the ID and port could
    /// use it to switch the check off.
    pub case_randomization: bool,
    /// The EDNS(0) UDP payload size we announce upstream and to clients.
    pub edns_payload: u16,
    /// Cache limits.
    pub cache: CacheLimits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            root_hints: Vec::new(),
            upstream_port: 53,
            upstream_timeout: Duration::from_millis(800),
            question_timeout: Duration::from_secs(5),
            max_referrals: 20,
            max_cname_chain: 10,
            max_depth: 3,
            max_upstream_per_task: 32,
            max_tasks: 10_000,
            max_per_client: 100,
            case_randomization: true,
            edns_payload: 1232,
            cache: CacheLimits::default(),
        }
    }
}

/// What became of a client query given to [`Resolver::handle_client_full`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The reply, to send now.
    Reply(Vec<u8>),
    /// Resolution started (or joined one in flight): the reply will come from
    /// [`Resolver::poll_reply`] with the same [`ClientId`], before the question timeout.
    Pending,
    /// Not a query we answer (too short for a header, or a response): send nothing.
    Ignored,
}

/// An upstream query for the driver to send.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Which query this is; the reply goes back with [`Resolver::handle_response`].
    pub upstream: UpstreamId,
    /// Where to send it.
    pub server: SocketAddr,
    /// UDP (from a fresh random port) or TCP.
    pub transport: Transport,
    /// The encoded query.
    pub message: Vec<u8>,
}

/// An answer for a client.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The request it answers.
    pub client: ClientId,
    /// The encoded response (already cut to the client's UDP size, TC set if needed).
    pub message: Vec<u8>,
}

/// What a server's reply meant for the resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer to the question (possibly after CNAMEs in the same reply).
    Answer,
    /// An alias: resolution goes on with the target name.
    Cname(Name),
    /// A referral to the servers of a zone further down.
    Referral {
        /// The delegated zone.
        zone: Name,
        /// Its name servers.
        servers: Vec<Name>,
    },
    /// The name does not exist.
    NxDomain,
    /// The name exists, without data of the type asked.
    NoData,
    /// A useless reply (upward referral, no data and no SOA ...): try another server.
    Lame,
    /// An error rcode: try another server.
    Failure(Rcode),
    /// Truncated over UDP: the same server is asked again over TCP.
    Truncated,
}

/// One step of a resolution, for `+trace`, logs and the world's timeline.
#[derive(Clone, Debug)]
pub enum Event {
    /// A query went upstream.
    Query {
        /// The task it serves.
        task: TaskId,
        /// Its identity.
        upstream: UpstreamId,
        /// The server asked.
        server: SocketAddr,
        /// The server's name (from the NS record or the hints).
        server_name: Name,
        /// The zone that server serves (the bailiwick of its reply).
        zone: Name,
        /// The question as sent (0x20 case included).
        question: Question,
        /// The random message ID.
        id: u16,
        /// UDP or TCP.
        transport: Transport,
    },
    /// A reply was accepted.
    Response {
        /// The task it serves.
        task: TaskId,
        /// The query it answers.
        upstream: UpstreamId,
        /// Who answered.
        server: SocketAddr,
        /// What it meant.
        outcome: Outcome,
        /// The reply itself.
        message: Box<Message>,
    },
    /// A server did not answer in time.
    Timeout {
        /// The task it served.
        task: TaskId,
        /// The query that timed out.
        upstream: UpstreamId,
        /// The silent server.
        server: SocketAddr,
    },
    /// A datagram that does not match its query (address, ID, question, QR) was dropped
    /// (RFC 5452 §9.1).
    Ignored {
        /// The query the socket was opened for.
        upstream: UpstreamId,
        /// The sender.
        from: SocketAddr,
        /// Why it was dropped.
        reason: &'static str,
    },
    /// A name server's address had to be looked up first (no glue).
    Lookup {
        /// The task that needs the address.
        task: TaskId,
        /// The task looking it up.
        child: TaskId,
        /// The name server's name.
        name: Name,
    },
    /// A task finished.
    Done {
        /// The task.
        task: TaskId,
        /// The question it resolved.
        question: Question,
        /// The result.
        rcode: Rcode,
    },
}

/// Counters, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client questions received.
    pub client_queries: u64,
    /// Client questions answered straight from the cache.
    pub cache_answers: u64,
    /// Upstream queries sent.
    pub upstream_queries: u64,
    /// Upstream queries that timed out.
    pub upstream_timeouts: u64,
    /// Datagrams dropped because they did not match their query.
    pub ignored: u64,
    /// SERVFAIL answers given to clients.
    pub servfails: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AddressLookup {
    /// Addresses known (or not needed).
    Known,
    /// Not tried yet.
    Untried,
    /// A child task is on it.
    Pending,
    /// Tried and failed, or impossible (an in-zone name without glue).
    Failed,
}

#[derive(Clone, Debug)]
struct Server {
    name: Name,
    addrs: Vec<SocketAddr>,
    lookup: AddressLookup,
}

#[derive(Clone, Debug)]
struct Zone {
    name: Name,
    servers: Vec<Server>,
    from_hints: bool,
    tried: Vec<SocketAddr>,
}

#[derive(Clone, Debug)]
struct Pending {
    upstream: UpstreamId,
    server: SocketAddr,
    id: u16,
    question: Question,
    transport: Transport,
    deadline: Instant,
}

#[derive(Clone, Debug)]
enum Wait {
    Nothing,
    Upstream(Pending),
    Child(TaskId),
}

#[derive(Clone, Debug)]
struct ClientRequest {
    client: ClientId,
    peer: IpAddr,
    query: Message,
    transport: Transport,
}

#[derive(Clone, Debug)]
enum Waiter {
    Client(ClientRequest),
    Parent { task: TaskId, server_name: Name },
}

#[derive(Clone, Debug)]
struct Task {
    question: Question,
    current: Name,
    chain: Vec<Record>,
    referrals: usize,
    zone: Option<Zone>,
    restarted: bool,
    depth: usize,
    sent: usize,
    deadline: Instant,
    wait: Wait,
    waiters: Vec<Waiter>,
    /// Registered in `inflight` for coalescing identical client questions.
    shared: bool,
}

/// How a task ended.
#[derive(Clone, Debug)]
enum Finish {
    Answer(Vec<Record>),
    Negative(Negative, Option<Record>),
    ServFail(&'static str),
}

enum Step {
    Waiting,
    Done(Finish),
}

/// The recursive resolver: see the crate docs for the run loop.
#[derive(Debug)]
pub struct Resolver {
    options: Options,
    rng: StdRng,
    cache: Cache,
    tasks: HashMap<TaskId, Task>,
    next_task: u64,
    next_upstream: u64,
    /// Upstream query → the task waiting for it.
    pending: HashMap<UpstreamId, TaskId>,
    /// Upstream deadlines, for `poll_timeout`.
    deadlines: BTreeMap<(Instant, UpstreamId), TaskId>,
    /// Client questions in flight, for coalescing: (lower-case name, type) → task.
    inflight: HashMap<(Name, RecordType), TaskId>,
    per_client: HashMap<IpAddr, usize>,
    ready: VecDeque<TaskId>,
    transmits: VecDeque<Transmit>,
    cancels: VecDeque<UpstreamId>,
    replies: VecDeque<Reply>,
    events: VecDeque<Event>,
    record_events: bool,
    stats: Stats,
    /// Replies answered from the cache, replayed for identical queries.
    rendered: RenderedAnswers,
    key_buffer: Vec<u8>,
}

/// The (lower-case) key for coalescing questions.
fn question_key(question: &Question) -> (Name, RecordType) {
    (question.name.to_lowercase(), question.qtype)
}

impl Resolver {
    /// A resolver with an empty cache. `seed` feeds the generator of query IDs, source-port
    /// choices (in the driver) and 0x20 case: the driver passes 32 bytes from the OS.
    pub fn new(options: Options, seed: [u8; 32]) -> Resolver {
        let cache = Cache::new(options.cache.clone());
        let options_max_entries = options.cache.max_entries;
        Resolver {
            options,
            rng: StdRng::from_seed(seed),
            cache,
            tasks: HashMap::new(),
            next_task: 1,
            next_upstream: 1,
            pending: HashMap::new(),
            deadlines: BTreeMap::new(),
            inflight: HashMap::new(),
            per_client: HashMap::new(),
            ready: VecDeque::new(),
            transmits: VecDeque::new(),
            cancels: VecDeque::new(),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            record_events: true,
            stats: Stats::default(),
            rendered: RenderedAnswers::new(options_max_entries),
            key_buffer: Vec::with_capacity(512),
        }
    }

    /// Turns the [`Event`] queue on or off (on by default; a benchmark may turn it off).
    pub fn set_record_events(&mut self, on: bool) {
        self.record_events = on;
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The cache (for inspection and tests).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The cache, mutably (to pre-load or inspect it; use [`Resolver::clear_cache`] to
    /// empty it).
    pub fn cache_mut(&mut self) -> &mut Cache {
        &mut self.cache
    }

    /// Empties the cache and the rendered replies built from it.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
        self.rendered.clear();
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Tasks in progress (lookups included).
    pub fn tasks_in_progress(&self) -> usize {
        self.tasks.len()
    }

    /// A random number from the resolver's generator (the driver uses it for source ports).
    pub fn random_u16(&mut self) -> u16 {
        self.rng.gen()
    }

    /// Takes one client query (`bytes` as received): see [`Resolver::handle_client_full`].
    /// Returns the reply when there is one at once; `None` both when resolution started (the
    /// reply comes from [`Resolver::poll_reply`]) and for input that deserves no reply.
    pub fn handle_client(
        &mut self,
        now: Instant,
        client: ClientId,
        peer: IpAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        match self.handle_client_full(now, client, peer, transport, bytes) {
            Admission::Reply(reply) => Some(reply),
            Admission::Pending | Admission::Ignored => None,
        }
    }

    /// Takes one client query (`bytes` as received). The reply comes at once when the cache
    /// answers it or it is refused or malformed ([`Admission::Reply`]); otherwise resolution
    /// starts and the reply comes later from [`Resolver::poll_reply`] ([`Admission::Pending`]);
    /// input shorter than a header, or a response, gets nothing ([`Admission::Ignored`]).
    pub fn handle_client_full(
        &mut self,
        now: Instant,
        client: ClientId,
        peer: IpAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Admission {
        if transport == Transport::Udp {
            if let Some(reply) = self.rendered.replay(now, bytes, &mut self.key_buffer) {
                self.stats.client_queries += 1;
                self.stats.cache_answers += 1;
                return Admission::Reply(reply);
            }
        }
        let query = match Message::decode(bytes) {
            Ok(query) => query,
            Err(_) => return formerr_for(bytes).map_or(Admission::Ignored, Admission::Reply),
        };
        if query.flags.qr {
            return Admission::Ignored;
        }
        self.stats.client_queries += 1;
        let limit = client_limit(&query, transport);
        let refuse =
            |rcode: Rcode| Admission::Reply(error_reply(&query, rcode).encode_limited(limit));
        if query.opcode != Opcode::QUERY {
            return refuse(Rcode::NOTIMP);
        }
        if let Some(edns) = &query.edns {
            // RFC 6891 §6.1.3: only version 0 exists.
            if edns.version > 0 {
                return refuse(Rcode::BADVERS);
            }
        }
        let [question] = &query.questions[..] else {
            return refuse(Rcode::FORMERR);
        };
        let question = question.clone();
        if question.qclass != Class::IN {
            return refuse(Rcode::REFUSED);
        }
        if question.qtype.is_meta() {
            return refuse(Rcode::NOTIMP);
        }
        if let Some((rcode, answers, authority)) = self.answer_from_cache(now, &question) {
            self.stats.cache_answers += 1;
            let mut response = answer_reply(&query, rcode);
            response.answers = answers;
            response.authority = authority;
            let reply = response.encode_limited(limit);
            if transport == Transport::Udp {
                self.rendered.remember(now, bytes, &reply);
            }
            return Admission::Reply(reply);
        }
        if !query.flags.rd {
            // Not cached, and the client asked us not to recurse.
            return refuse(Rcode::REFUSED);
        }
        let outstanding = self.per_client.get(&peer).copied().unwrap_or(0);
        if outstanding >= self.options.max_per_client {
            return refuse(Rcode::REFUSED);
        }
        let request = ClientRequest {
            client,
            peer,
            query: query.clone(),
            transport,
        };
        let key = question_key(&question);
        if let Some(task_id) = self.inflight.get(&key).copied() {
            if let Some(task) = self.tasks.get_mut(&task_id) {
                task.waiters.push(Waiter::Client(request));
                *self.per_client.entry(peer).or_insert(0) += 1;
                return Admission::Pending;
            }
        }
        if self.tasks.len() >= self.options.max_tasks {
            self.stats.servfails += 1;
            return refuse(Rcode::SERVFAIL);
        }
        *self.per_client.entry(peer).or_insert(0) += 1;
        let deadline = now + self.options.question_timeout;
        let task_id = self.spawn(question, 0, deadline, Waiter::Client(request));
        if let Some(task) = self.tasks.get_mut(&task_id) {
            task.shared = true;
        }
        self.inflight.insert(key, task_id);
        self.run(now);
        // A task may finish at once (for example an empty hints list): hand its reply back now.
        if let Some(index) = self.replies.iter().position(|reply| reply.client == client) {
            if let Some(reply) = self.replies.remove(index) {
                return Admission::Reply(reply.message);
            }
        }
        Admission::Pending
    }

    /// Takes a datagram (or TCP message) received on the socket of upstream query `upstream`
    /// from `from`. Anything that does not match the query exactly is dropped and the query
    /// keeps waiting (RFC 5452 §9.1): the sender's address and port, QR, the ID, the opcode and
    /// the question (with the exact 0x20 case).
    pub fn handle_response(
        &mut self,
        now: Instant,
        upstream: UpstreamId,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let Some(task_id) = self.pending.get(&upstream).copied() else {
            return; // late: the query was answered, timed out or cancelled
        };
        let Some(task) = self.tasks.get(&task_id) else {
            return;
        };
        let Wait::Upstream(pending) = &task.wait else {
            return;
        };
        let reason = if from != pending.server {
            Some("wrong source address or port")
        } else {
            match Message::decode(bytes) {
                Err(_) => Some("undecodable"),
                Ok(message) => match check_reply(pending, &message) {
                    Some(reason) => Some(reason),
                    None => {
                        let pending = pending.clone();
                        self.accept(now, task_id, pending, message);
                        self.run(now);
                        return;
                    }
                },
            }
        };
        if let Some(reason) = reason {
            self.stats.ignored += 1;
            self.event(|| Event::Ignored {
                upstream,
                from,
                reason,
            });
        }
    }

    /// Reports that upstream query `upstream` failed at the transport level (connection
    /// refused, ICMP unreachable, TCP reset): the next server is tried at once.
    pub fn handle_error(&mut self, now: Instant, upstream: UpstreamId) {
        self.expire(now, upstream);
        self.run(now);
    }

    /// Advances time: upstream queries past their deadline count as timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((&(deadline, upstream), _)) = self.deadlines.iter().next() {
            if deadline > now {
                break;
            }
            self.expire(now, upstream);
        }
        self.run(now);
    }

    fn expire(&mut self, now: Instant, upstream: UpstreamId) {
        let Some(task_id) = self.pending.remove(&upstream) else {
            return;
        };
        let Some(task) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if let Wait::Upstream(pending) = &task.wait {
            self.deadlines.remove(&(pending.deadline, upstream));
            let server = pending.server;
            task.wait = Wait::Nothing;
            self.stats.upstream_timeouts += 1;
            self.cancels.push_back(upstream);
            self.ready.push_back(task_id);
            self.event(|| Event::Timeout {
                task: task_id,
                upstream,
                server,
            });
        }
        let _ = now;
    }

    /// The next upstream query to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// An upstream query that needs no more replies: the driver may close its socket.
    pub fn poll_cancel(&mut self) -> Option<UpstreamId> {
        self.cancels.pop_front()
    }

    /// The next client answer to send.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Resolver::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(deadline, _)| *deadline)
    }

    fn event(&mut self, make: impl FnOnce() -> Event) {
        if self.record_events {
            self.events.push_back(make());
        }
    }

    /// Answers from the cache alone, following cached CNAMEs: (rcode, answers, authority).
    fn answer_from_cache(
        &mut self,
        now: Instant,
        question: &Question,
    ) -> Option<(Rcode, Vec<Record>, Vec<Record>)> {
        let mut name = question.name.clone();
        let mut chain = Vec::new();
        for _ in 0..=self.options.max_cname_chain {
            match self.cache.lookup(now, &name, question.qtype) {
                Lookup::Records(records) => {
                    chain.extend(records);
                    return Some((Rcode::NOERROR, chain, Vec::new()));
                }
                Lookup::Negative(negative, soa) => {
                    let rcode = match negative {
                        Negative::NxDomain => Rcode::NXDOMAIN,
                        Negative::NoData => Rcode::NOERROR,
                    };
                    return Some((rcode, chain, soa.into_iter().collect()));
                }
                Lookup::Cname(record) => {
                    let Rdata::Cname(target) = &record.rdata else {
                        return None;
                    };
                    name = target.clone();
                    chain.push(record);
                }
                Lookup::Miss => return None,
            }
        }
        None
    }

    fn spawn(
        &mut self,
        question: Question,
        depth: usize,
        deadline: Instant,
        waiter: Waiter,
    ) -> TaskId {
        let task_id = TaskId(self.next_task);
        self.next_task += 1;
        let task = Task {
            current: question.name.clone(),
            question,
            chain: Vec::new(),
            referrals: 0,
            zone: None,
            restarted: false,
            depth,
            sent: 0,
            deadline,
            wait: Wait::Nothing,
            waiters: vec![waiter],
            shared: false,
        };
        self.tasks.insert(task_id, task);
        self.ready.push_back(task_id);
        task_id
    }

    /// Runs every ready task until each waits or finishes.
    fn run(&mut self, now: Instant) {
        while let Some(task_id) = self.ready.pop_front() {
            let Some(mut task) = self.tasks.remove(&task_id) else {
                continue;
            };
            if !matches!(task.wait, Wait::Nothing) {
                self.tasks.insert(task_id, task);
                continue;
            }
            match self.advance(now, task_id, &mut task) {
                Step::Waiting => {
                    self.tasks.insert(task_id, task);
                }
                Step::Done(finish) => self.finish(now, task_id, task, finish),
            }
        }
    }

    /// Moves a task forward: the cache first, then the best server of the closest zone.
    fn advance(&mut self, now: Instant, task_id: TaskId, task: &mut Task) -> Step {
        if now >= task.deadline {
            return Step::Done(Finish::ServFail("question timeout"));
        }
        loop {
            match self.cache.lookup(now, &task.current, task.question.qtype) {
                Lookup::Records(records) => return Step::Done(Finish::Answer(records)),
                Lookup::Negative(negative, soa) => {
                    return Step::Done(Finish::Negative(negative, soa))
                }
                Lookup::Cname(record) => {
                    let Rdata::Cname(target) = &record.rdata else {
                        return Step::Done(Finish::ServFail("bad cached CNAME"));
                    };
                    let target = target.clone();
                    if let Some(failure) = self.follow_cname(task, record, target) {
                        return Step::Done(failure);
                    }
                }
                Lookup::Miss => break,
            }
        }
        let needs_zone = task
            .zone
            .as_ref()
            .is_none_or(|zone| !task.current.is_subdomain_of(&zone.name));
        if needs_zone {
            task.zone = Some(self.zone_for(now, &task.current));
        }
        loop {
            if task.sent >= self.options.max_upstream_per_task {
                return Step::Done(Finish::ServFail("upstream query budget spent"));
            }
            let Some(zone) = task.zone.as_mut() else {
                return Step::Done(Finish::ServFail("no zone"));
            };
            let candidates: Vec<(SocketAddr, Name)> = zone
                .servers
                .iter()
                .flat_map(|server| {
                    server
                        .addrs
                        .iter()
                        .map(move |addr| (*addr, server.name.clone()))
                })
                .filter(|(addr, _)| !zone.tried.contains(addr))
                .collect();
            if let Some((addr, server_name)) = candidates.choose(&mut self.rng).cloned() {
                zone.tried.push(addr);
                let zone_name = zone.name.clone();
                self.send(
                    now,
                    task_id,
                    task,
                    addr,
                    server_name,
                    zone_name,
                    Transport::Udp,
                );
                return Step::Waiting;
            }
            // No address left to try: look up a name server that came without glue.
            if task.depth < self.options.max_depth {
                let zone_name = zone.name.clone();
                let next = zone.servers.iter_mut().find(|server| {
                    server.lookup == AddressLookup::Untried
                        && !server.name.is_subdomain_of(&zone_name)
                });
                if let Some(server) = next {
                    server.lookup = AddressLookup::Pending;
                    let name = server.name.clone();
                    let question = Question::new(name.clone(), RecordType::A);
                    let waiter = Waiter::Parent {
                        task: task_id,
                        server_name: name.clone(),
                    };
                    let child = self.spawn(question, task.depth + 1, task.deadline, waiter);
                    task.wait = Wait::Child(child);
                    self.event(|| Event::Lookup {
                        task: task_id,
                        child,
                        name,
                    });
                    return Step::Waiting;
                }
            }
            // This zone's servers are all spent. A zone taken from the cache may be stale:
            // start once more from the root.
            if !zone.from_hints && !task.restarted {
                task.restarted = true;
                task.zone = Some(self.hints_zone());
                continue;
            }
            return Step::Done(Finish::ServFail("no server answered"));
        }
    }

    /// Appends `record` (a CNAME for the current name) to the chain and moves on to `target`.
    fn follow_cname(&mut self, task: &mut Task, record: Record, target: Name) -> Option<Finish> {
        if task.chain.len() >= self.options.max_cname_chain {
            return Some(Finish::ServFail("CNAME chain too long"));
        }
        if target == task.question.name || task.chain.iter().any(|seen| seen.name == target) {
            return Some(Finish::ServFail("CNAME loop"));
        }
        task.chain.push(record);
        task.current = target;
        None
    }

    /// The deepest zone with cached name servers, or the root from the hints.
    fn zone_for(&mut self, now: Instant, name: &Name) -> Zone {
        let Some((zone_name, names)) = self.cache.closest_zone(now, name) else {
            return self.hints_zone();
        };
        let port = self.options.upstream_port;
        let servers = names
            .into_iter()
            .map(|server_name| {
                let addrs: Vec<SocketAddr> = self
                    .cache
                    .addresses(now, &server_name)
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect();
                let lookup = if addrs.is_empty() {
                    AddressLookup::Untried
                } else {
                    AddressLookup::Known
                };
                Server {
                    name: server_name,
                    addrs,
                    lookup,
                }
            })
            .collect();
        Zone {
            name: zone_name,
            servers,
            from_hints: false,
            tried: Vec::new(),
        }
    }

    fn hints_zone(&self) -> Zone {
        let mut servers: Vec<Server> = Vec::new();
        for (name, addr) in &self.options.root_hints {
            match servers.iter_mut().find(|server| &server.name == name) {
                Some(server) => server.addrs.push(*addr),
                None => servers.push(Server {
                    name: name.clone(),
                    addrs: vec![*addr],
                    lookup: AddressLookup::Known,
                }),
            }
        }
        Zone {
            name: Name::root(),
            servers,
            from_hints: true,
            tried: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        now: Instant,
        task_id: TaskId,
        task: &mut Task,
        server: SocketAddr,
        server_name: Name,
        zone: Name,
        transport: Transport,
    ) {
        let id: u16 = self.rng.gen();
        let upstream = UpstreamId(self.next_upstream);
        self.next_upstream += 1;
        let name = if self.options.case_randomization {
            randomize_case(&task.current, &mut self.rng)
        } else {
            task.current.clone()
        };
        let question = Question::new(name, task.question.qtype);
        let mut message = Message::query(id, question.clone(), false);
        message.edns = Some(Edns {
            udp_payload: self.options.edns_payload,
            ..Edns::default()
        });
        let deadline = (now + self.options.upstream_timeout).min(task.deadline);
        task.sent += 1;
        self.stats.upstream_queries += 1;
        task.wait = Wait::Upstream(Pending {
            upstream,
            server,
            id,
            question: question.clone(),
            transport,
            deadline,
        });
        self.pending.insert(upstream, task_id);
        self.deadlines.insert((deadline, upstream), task_id);
        self.transmits.push_back(Transmit {
            upstream,
            server,
            transport,
            message: message.encode(),
        });
        self.event(|| Event::Query {
            task: task_id,
            upstream,
            server,
            server_name,
            zone,
            question,
            id,
            transport,
        });
    }

    /// A reply matched its query: classify it, cache what is in bailiwick, move the task on.
    fn accept(&mut self, now: Instant, task_id: TaskId, pending: Pending, message: Message) {
        self.pending.remove(&pending.upstream);
        self.deadlines.remove(&(pending.deadline, pending.upstream));
        self.cancels.push_back(pending.upstream);
        let Some(mut task) = self.tasks.remove(&task_id) else {
            return;
        };
        task.wait = Wait::Nothing;
        let (outcome, step) = self.classify(now, task_id, &mut task, &pending, &message);
        let server = pending.server;
        self.event(|| Event::Response {
            task: task_id,
            upstream: pending.upstream,
            server,
            outcome,
            message: Box::new(message),
        });
        match step {
            Step::Waiting => {
                if matches!(task.wait, Wait::Nothing) {
                    self.ready.push_back(task_id);
                }
                self.tasks.insert(task_id, task);
            }
            Step::Done(finish) => self.finish(now, task_id, task, finish),
        }
    }

    fn classify(
        &mut self,
        now: Instant,
        task_id: TaskId,
        task: &mut Task,
        pending: &Pending,
        message: &Message,
    ) -> (Outcome, Step) {
        if message.flags.tc && pending.transport == Transport::Udp {
            // RFC 1035 §4.2.1 / RFC 7766: ask the same server again over TCP.
            let zone = task
                .zone
                .as_ref()
                .map(|zone| zone.name.clone())
                .unwrap_or_else(Name::root);
            let server_name = task
                .zone
                .as_ref()
                .and_then(|zone| {
                    zone.servers
                        .iter()
                        .find(|server| server.addrs.contains(&pending.server))
                        .map(|server| server.name.clone())
                })
                .unwrap_or_else(Name::root);
            self.send(
                now,
                task_id,
                task,
                pending.server,
                server_name,
                zone,
                Transport::Tcp,
            );
            return (Outcome::Truncated, Step::Waiting);
        }
        if message.rcode != Rcode::NOERROR && message.rcode != Rcode::NXDOMAIN {
            return (Outcome::Failure(message.rcode), Step::Waiting);
        }
        let Some(zone_name) = task.zone.as_ref().map(|zone| zone.name.clone()) else {
            return (Outcome::Lame, Step::Waiting);
        };
        // Bailiwick (RFC 5452 §6 and Unbound's scrubber): only records at or below the zone the
        // server was asked about count; everything else in the reply is ignored.
        let in_bailiwick =
            |record: &Record| record.class == Class::IN && record.name.is_subdomain_of(&zone_name);
        let rank = if message.flags.aa {
            Rank::Authoritative
        } else {
            Rank::Answer
        };
        let qtype = task.question.qtype;
        let mut followed = false;
        let mut final_rrset: Option<Vec<Record>> = None;
        for _ in 0..=self.options.max_cname_chain {
            let current = task.current.clone();
            let rrset: Vec<Record> = message
                .answers
                .iter()
                .filter(|record| {
                    in_bailiwick(record) && record.name == current && record.rtype() == qtype
                })
                .map(|record| with_owner(record, &current, self.options.cache.max_ttl))
                .collect();
            if !rrset.is_empty() {
                final_rrset = Some(rrset);
                break;
            }
            if qtype == RecordType::CNAME {
                break;
            }
            let cname = message.answers.iter().find(|record| {
                in_bailiwick(record)
                    && record.name == current
                    && record.rtype() == RecordType::CNAME
            });
            let Some(cname) = cname else {
                break;
            };
            let Rdata::Cname(target) = &cname.rdata else {
                break;
            };
            let record = with_owner(cname, &current, self.options.cache.max_ttl);
            self.cache
                .insert_rrset(now, std::slice::from_ref(&record), rank);
            if let Some(failure) = self.follow_cname(task, record, target.clone()) {
                return (Outcome::Cname(target.clone()), Step::Done(failure));
            }
            followed = true;
        }
        if let Some(rrset) = final_rrset {
            self.cache.insert_rrset(now, &rrset, rank);
            return (Outcome::Answer, Step::Done(Finish::Answer(rrset)));
        }
        let current = task.current.clone();
        let soa = message
            .authority
            .iter()
            .find(|record| {
                in_bailiwick(record)
                    && record.rtype() == RecordType::SOA
                    && current.is_subdomain_of(&record.name)
            })
            .cloned();
        if message.rcode == Rcode::NXDOMAIN {
            self.cache
                .insert_negative(now, &current, qtype, Negative::NxDomain, soa.as_ref());
            return (
                Outcome::NxDomain,
                Step::Done(Finish::Negative(Negative::NxDomain, soa)),
            );
        }
        if followed {
            // The alias leads elsewhere: resolve the target (from the cache, this zone or
            // another one).
            return (Outcome::Cname(current), Step::Waiting);
        }
        // A referral: NS records for a zone strictly below the one asked, above the name.
        let cut = message
            .authority
            .iter()
            .filter(|record| in_bailiwick(record) && record.rtype() == RecordType::NS)
            .map(|record| record.name.clone())
            .find(|cut| cut != &zone_name && current.is_subdomain_of(cut));
        if let Some(cut) = cut {
            task.referrals += 1;
            if task.referrals > self.options.max_referrals {
                return (
                    Outcome::Referral {
                        zone: cut,
                        servers: Vec::new(),
                    },
                    Step::Done(Finish::ServFail("too many referrals")),
                );
            }
            let ns_set: Vec<Record> = message
                .authority
                .iter()
                .filter(|record| record.rtype() == RecordType::NS && record.name == cut)
                .map(|record| with_owner(record, &cut, self.options.cache.max_ttl))
                .collect();
            self.cache.insert_rrset(now, &ns_set, Rank::Referral);
            let port = self.options.upstream_port;
            let mut servers = Vec::new();
            let mut names = Vec::new();
            for record in &ns_set {
                let Rdata::Ns(target) = &record.rdata else {
                    continue;
                };
                names.push(target.clone());
                // Glue is used and cached only when the referring server is authoritative
                // for the name server's name (in its bailiwick); other additional data is
                // ignored.
                let mut addrs = Vec::new();
                if target.is_subdomain_of(&zone_name) {
                    for rtype in [RecordType::A, RecordType::AAAA] {
                        let glue: Vec<Record> = message
                            .additional
                            .iter()
                            .filter(|record| {
                                record.class == Class::IN
                                    && &record.name == target
                                    && record.rtype() == rtype
                            })
                            .map(|record| with_owner(record, target, self.options.cache.max_ttl))
                            .collect();
                        self.cache.insert_rrset(now, &glue, Rank::Glue);
                        addrs.extend(glue.iter().filter_map(|record| match &record.rdata {
                            Rdata::A(ip) => Some(SocketAddr::new(IpAddr::V4(*ip), port)),
                            Rdata::Aaaa(ip) => Some(SocketAddr::new(IpAddr::V6(*ip), port)),
                            _ => None,
                        }));
                    }
                }
                if addrs.is_empty() {
                    addrs = self
                        .cache
                        .addresses(now, target)
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, port))
                        .collect();
                }
                let lookup = if !addrs.is_empty() {
                    AddressLookup::Known
                } else if target.is_subdomain_of(&cut) {
                    // In the delegated zone but without glue: nobody can tell us its address.
                    AddressLookup::Failed
                } else {
                    AddressLookup::Untried
                };
                servers.push(Server {
                    name: target.clone(),
                    addrs,
                    lookup,
                });
            }
            task.zone = Some(Zone {
                name: cut.clone(),
                servers,
                from_hints: false,
                tried: Vec::new(),
            });
            return (
                Outcome::Referral {
                    zone: cut,
                    servers: names,
                },
                Step::Waiting,
            );
        }
        if soa.is_some() || (message.flags.aa && message.answers.is_empty()) {
            self.cache
                .insert_negative(now, &current, qtype, Negative::NoData, soa.as_ref());
            return (
                Outcome::NoData,
                Step::Done(Finish::Negative(Negative::NoData, soa)),
            );
        }
        (Outcome::Lame, Step::Waiting)
    }

    fn finish(&mut self, now: Instant, task_id: TaskId, task: Task, finish: Finish) {
        if task.shared {
            let key = question_key(&task.question);
            if self.inflight.get(&key) == Some(&task_id) {
                self.inflight.remove(&key);
            }
        }
        if let Wait::Upstream(pending) = &task.wait {
            self.pending.remove(&pending.upstream);
            self.deadlines.remove(&(pending.deadline, pending.upstream));
            self.cancels.push_back(pending.upstream);
        }
        let (rcode, answers, authority) = match &finish {
            Finish::Answer(records) => {
                let mut answers = task.chain.clone();
                answers.extend(records.iter().cloned());
                (Rcode::NOERROR, answers, Vec::new())
            }
            Finish::Negative(negative, soa) => {
                let rcode = match negative {
                    Negative::NxDomain => Rcode::NXDOMAIN,
                    Negative::NoData => Rcode::NOERROR,
                };
                (rcode, task.chain.clone(), soa.iter().cloned().collect())
            }
            Finish::ServFail(_) => (Rcode::SERVFAIL, Vec::new(), Vec::new()),
        };
        if let Finish::ServFail(reason) = &finish {
            tracing::debug!(task = task_id.0, name = %task.question.name, qtype = %task.question.qtype, "SERVFAIL: {reason}");
        }
        for waiter in task.waiters {
            match waiter {
                Waiter::Client(request) => {
                    if let Some(count) = self.per_client.get_mut(&request.peer) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.per_client.remove(&request.peer);
                        }
                    }
                    if rcode == Rcode::SERVFAIL {
                        self.stats.servfails += 1;
                    }
                    let mut response = answer_reply(&request.query, rcode);
                    response.answers = answers.clone();
                    response.authority = authority.clone();
                    let limit = client_limit(&request.query, request.transport);
                    self.replies.push_back(Reply {
                        client: request.client,
                        message: response.encode_limited(limit),
                    });
                }
                Waiter::Parent {
                    task: parent,
                    server_name,
                } => {
                    let port = self.options.upstream_port;
                    let addrs: Vec<SocketAddr> = answers
                        .iter()
                        .filter_map(|record| match &record.rdata {
                            Rdata::A(ip) => Some(SocketAddr::new(IpAddr::V4(*ip), port)),
                            Rdata::Aaaa(ip) => Some(SocketAddr::new(IpAddr::V6(*ip), port)),
                            _ => None,
                        })
                        .collect();
                    if let Some(parent_task) = self.tasks.get_mut(&parent) {
                        if let Some(zone) = parent_task.zone.as_mut() {
                            for server in zone
                                .servers
                                .iter_mut()
                                .filter(|server| server.name == server_name)
                            {
                                server.lookup = if addrs.is_empty() {
                                    AddressLookup::Failed
                                } else {
                                    AddressLookup::Known
                                };
                                server.addrs = addrs.clone();
                            }
                        }
                        if matches!(parent_task.wait, Wait::Child(child) if child == task_id) {
                            parent_task.wait = Wait::Nothing;
                            self.ready.push_back(parent);
                        }
                    }
                }
            }
        }
        let question = task.question;
        self.event(|| Event::Done {
            task: task_id,
            question,
            rcode,
        });
        let _ = now;
    }
}

/// RFC 5452 §9.1: the reply must come with QR set, our ID, a standard opcode and exactly our
/// question (name compared byte for byte, so the 0x20 case must be echoed).
fn check_reply(pending: &Pending, message: &Message) -> Option<&'static str> {
    if !message.flags.qr {
        return Some("not a response");
    }
    if message.id != pending.id {
        return Some("wrong ID");
    }
    if message.opcode != Opcode::QUERY {
        return Some("wrong opcode");
    }
    let [question] = &message.questions[..] else {
        return Some("not exactly one question");
    };
    if question.qtype != pending.question.qtype || question.qclass != pending.question.qclass {
        return Some("wrong question type or class");
    }
    if question.name.as_wire() != pending.question.name.as_wire() {
        return Some("wrong question name (or 0x20 case)");
    }
    None
}

/// A copy of `record` with owner `owner` (our spelling, not the server's 0x20 echo) and its
/// TTL capped.
fn with_owner(record: &Record, owner: &Name, max_ttl: Duration) -> Record {
    let mut record = record.clone();
    record.name = owner.clone();
    let cap = u32::try_from(max_ttl.as_secs()).unwrap_or(u32::MAX);
    record.ttl = record.ttl.min(cap);
    record
}

/// The name with each ASCII letter's case chosen at random.
pub(crate) fn randomize_case(name: &Name, rng: &mut StdRng) -> Name {
    let labels: Vec<Vec<u8>> = name
        .labels()
        .map(|label| {
            label
                .iter()
                .map(|byte| {
                    if byte.is_ascii_alphabetic() && rng.gen::<bool>() {
                        byte ^ 0x20
                    } else {
                        *byte
                    }
                })
                .collect()
        })
        .collect();
    // Same lengths as a valid name, so this cannot fail; fall back to the name itself anyway.
    Name::from_labels(labels).unwrap_or_else(|_| name.clone())
}

/// The UDP size limit for a reply to `query`, or no limit over TCP.
fn client_limit(query: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Udp => usize::from(query.max_udp_payload()),
        Transport::Tcp => usize::from(u16::MAX),
    }
}

/// A recursive server's reply skeleton: RA set, AA never.
fn answer_reply(query: &Message, rcode: Rcode) -> Message {
    let mut response = Message::response_to(query);
    response.flags.ra = true;
    response.rcode = rcode;
    response
}

fn error_reply(query: &Message, rcode: Rcode) -> Message {
    let mut response = answer_reply(query, rcode);
    if rcode == Rcode::FORMERR {
        response.questions.clear();
    }
    if rcode == Rcode::BADVERS {
        if let Some(edns) = response.edns.as_mut() {
            edns.version = 0;
        }
    }
    response
}

/// FORMERR for a query we cannot decode but whose header is there; nothing otherwise.
fn formerr_for(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = dns_proto::Header::decode(bytes).ok()?;
    if header.flags.qr {
        return None;
    }
    let mut response = Message::query(
        header.id,
        Question::new(Name::root(), RecordType::A),
        header.flags.rd,
    );
    response.questions.clear();
    response.flags.qr = true;
    response.flags.ra = true;
    response.opcode = header.opcode;
    response.rcode = Rcode::FORMERR;
    Some(response.encode())
}
