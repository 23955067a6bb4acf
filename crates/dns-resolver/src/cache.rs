//! The resolver's cache: RRsets and negative answers with TTLs counting down from a passed-in
//! `now`, trust ranks (RFC 2181 §5.4.1) and a bounded size with CLOCK eviction.

use dns_proto::{Name, Record, RecordType};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How much we trust cached data, lowest first (RFC 2181 §5.4.1). Data of a lower rank never
/// replaces live data of a higher rank, so glue cannot overwrite an authoritative answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Additional-section data (glue) from a referral, in bailiwick of the referring server.
    Glue,
    /// An NS RRset from the authority section of a referral.
    Referral,
    /// An answer from a server that did not set AA.
    Answer,
    /// An answer with AA set.
    Authoritative,
}

/// Why a name has no data.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Negative {
    /// The name does not exist (no type at all).
    NxDomain,
    /// The name exists but has no record of this type.
    NoData,
}

/// What the cache knows about a (name, type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The RRset, TTLs set to the time left.
    Records(Vec<Record>),
    /// The name is an alias: its CNAME record (TTL set to the time left).
    Cname(Record),
    /// A cached negative answer, with the SOA that proved it (TTL set to the time left).
    Negative(Negative, Option<Record>),
    /// Nothing usable.
    Miss,
}

/// Cache limits.
#[derive(Clone, Debug)]
pub struct CacheLimits {
    /// The most entries (RRsets or negative answers) kept; older, unused ones are evicted.
    pub max_entries: usize,
    /// TTLs above this are cut down to it.
    pub max_ttl: Duration,
    /// Negative answers are kept at most this long (RFC 2308 §5 suggests 1–3 hours).
    pub max_negative_ttl: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_entries: 100_000,
            max_ttl: Duration::from_secs(86_400),
            max_negative_ttl: Duration::from_secs(3_600),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Type(RecordType),
    /// RFC 2308 §5: an NXDOMAIN answer covers every type of the name.
    NxDomain,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    name: Name,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Data {
    Records(Vec<Record>),
    Negative(Negative, Option<Record>),
}

#[derive(Clone, Debug)]
struct Entry {
    data: Data,
    expires: Instant,
    rank: Rank,
    /// CLOCK bit: set on every hit, cleared when the eviction hand passes.
    referenced: bool,
    /// Round robin: how far the next answer rotates the RRset (counts answers served).
    turn: u32,
}

/// Counters for the cache, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered (positive or negative).
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
}

/// The resolver cache. Names compare case-insensitively (as [`Name`] does).
#[derive(Debug)]
pub struct Cache {
    limits: CacheLimits,
    entries: HashMap<Key, Entry>,
    /// Insertion order for the CLOCK hand; may hold keys already removed (skipped lazily).
    clock: VecDeque<Key>,
    stats: CacheStats,
}

/// `ttl` seconds from `now`, capped.
fn expiry(now: Instant, ttl: u32, cap: Duration) -> Instant {
    now + Duration::from_secs(u64::from(ttl)).min(cap)
}

/// Whole seconds left until `expires` (0 when past).
fn seconds_left(now: Instant, expires: Instant) -> u32 {
    let left = expires.saturating_duration_since(now).as_secs();
    u32::try_from(left).unwrap_or(u32::MAX)
}

/// The records of an RRset starting at record `turn % len` and wrapping round, TTLs set to
/// `ttl`: round robin, so that the authoritative server's load distribution survives the cache
/// (Unbound's `rrset-roundrobin`).
fn rotated(records: &[Record], turn: u32, ttl: u32) -> Vec<Record> {
    let start = match records.len() {
        0 | 1 => 0,
        len => usize::try_from(turn).unwrap_or(0) % len,
    };
    let (head, tail) = records.split_at(start);
    tail.iter()
        .chain(head)
        .map(|record| with_ttl(record, ttl))
        .collect()
}

fn with_ttl(record: &Record, ttl: u32) -> Record {
    let mut record = record.clone();
    record.ttl = ttl;
    record
}

impl Cache {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Cache {
        Cache {
            limits,
            entries: HashMap::new(),
            clock: VecDeque::new(),
            stats: CacheStats::default(),
        }
    }

    /// Entries held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hit, miss and eviction counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.clock.clear();
    }

    /// Stores an RRset (all records of one owner and type) at `rank`. The RRset's TTL is the
    /// smallest of its records (RFC 2181 §5.2). A TTL of 0 is not cached. Returns whether it was
    /// stored (data of a lower rank does not replace live data of a higher rank).
    pub fn insert_rrset(&mut self, now: Instant, records: &[Record], rank: Rank) -> bool {
        let Some(first) = records.first() else {
            return false;
        };
        let ttl = records.iter().map(|record| record.ttl).min().unwrap_or(0);
        if ttl == 0 {
            return false;
        }
        let key = Key {
            name: first.name.clone(),
            kind: Kind::Type(first.rtype()),
        };
        if let Some(existing) = self.entries.get(&key) {
            if existing.expires > now && existing.rank > rank {
                return false;
            }
        }
        let entry = Entry {
            data: Data::Records(records.to_vec()),
            expires: expiry(now, ttl, self.limits.max_ttl),
            rank,
            referenced: false,
            // The RRset as received usually goes to the client that asked for it: the first
            // answer from the cache starts one further.
            turn: 1,
        };
        self.put(now, key, entry);
        true
    }

    /// Stores a negative answer for (`name`, `rtype`) (for NXDOMAIN the type is irrelevant:
    /// it covers them all). The TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), capped; without
    /// an SOA nothing is cached (RFC 2308 §5: "negative responses without SOA records SHOULD
    /// NOT be cached").
    pub fn insert_negative(
        &mut self,
        now: Instant,
        name: &Name,
        rtype: RecordType,
        negative: Negative,
        soa: Option<&Record>,
    ) -> bool {
        let Some(soa) = soa else {
            return false;
        };
        let minimum = match &soa.rdata {
            dns_proto::Rdata::Soa(data) => data.minimum,
            _ => return false,
        };
        let ttl = soa.ttl.min(minimum);
        if ttl == 0 {
            return false;
        }
        let kind = match negative {
            Negative::NxDomain => Kind::NxDomain,
            Negative::NoData => Kind::Type(rtype),
        };
        let key = Key {
            name: name.clone(),
            kind,
        };
        let entry = Entry {
            data: Data::Negative(negative, Some(soa.clone())),
            expires: expiry(now, ttl, self.limits.max_negative_ttl),
            rank: Rank::Authoritative,
            referenced: false,
            turn: 0,
        };
        self.put(now, key, entry);
        true
    }

    fn put(&mut self, now: Instant, key: Key, entry: Entry) {
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.limits.max_entries.max(1) {
                if !self.evict_one(now) {
                    break;
                }
            }
            self.clock.push_back(key.clone());
        }
        self.entries.insert(key, entry);
    }

    /// CLOCK: pass over entries in insertion order, giving referenced ones a second chance;
    /// expired entries go first whatever their bit.
    fn evict_one(&mut self, now: Instant) -> bool {
        // Every live entry is in the queue, so two passes always find a victim.
        let mut budget = self.clock.len() * 2 + 1;
        while let Some(key) = self.clock.pop_front() {
            budget -= 1;
            let Some(entry) = self.entries.get_mut(&key) else {
                continue; // removed earlier; its queue slot was stale
            };
            if entry.referenced && entry.expires > now && budget > 0 {
                entry.referenced = false;
                self.clock.push_back(key);
                continue;
            }
            self.entries.remove(&key);
            self.stats.evictions += 1;
            return true;
        }
        false
    }

    fn live(&mut self, now: Instant, key: &Key) -> Option<&mut Entry> {
        let expired = self.entries.get(key)?.expires <= now;
        if expired {
            // Drop it now so it stops taking space (its clock slot goes stale).
            self.entries.remove(key);
            return None;
        }
        let entry = self.entries.get_mut(key)?;
        entry.referenced = true;
        Some(entry)
    }

    /// The RRset for exactly (`name`, `rtype`) with TTLs counted down, if live.
    pub fn rrset(&mut self, now: Instant, name: &Name, rtype: RecordType) -> Option<Vec<Record>> {
        let key = Key {
            name: name.clone(),
            kind: Kind::Type(rtype),
        };
        let entry = self.live(now, &key)?;
        let left = seconds_left(now, entry.expires);
        match &entry.data {
            Data::Records(records) => Some(
                records
                    .iter()
                    .map(|record| with_ttl(record, left))
                    .collect(),
            ),
            Data::Negative(..) => None,
        }
    }

    /// The rank of the live RRset for (`name`, `rtype`), if any.
    pub fn rank(&self, now: Instant, name: &Name, rtype: RecordType) -> Option<Rank> {
        let key = Key {
            name: name.clone(),
            kind: Kind::Type(rtype),
        };
        self.entries
            .get(&key)
            .filter(|entry| entry.expires > now)
            .map(|entry| entry.rank)
    }

    /// What the cache can answer for (`name`, `rtype`): the RRset, a CNAME to follow, a
    /// negative answer, or a miss. Counts hits and misses.
    pub fn lookup(&mut self, now: Instant, name: &Name, rtype: RecordType) -> Lookup {
        let found = self.lookup_quiet(now, name, rtype);
        if found == Lookup::Miss {
            self.stats.misses += 1;
        } else {
            self.stats.hits += 1;
        }
        found
    }

    fn lookup_quiet(&mut self, now: Instant, name: &Name, rtype: RecordType) -> Lookup {
        let nx_key = Key {
            name: name.clone(),
            kind: Kind::NxDomain,
        };
        if let Some(entry) = self.live(now, &nx_key) {
            let left = seconds_left(now, entry.expires);
            if let Data::Negative(negative, soa) = &entry.data {
                return Lookup::Negative(*negative, soa.as_ref().map(|soa| with_ttl(soa, left)));
            }
        }
        let key = Key {
            name: name.clone(),
            kind: Kind::Type(rtype),
        };
        if let Some(entry) = self.live(now, &key) {
            // Only answers count as answers: an NS RRset learnt from a referral (or glue) is
            // the parent's copy and must not be served as the child's authoritative data.
            let left = seconds_left(now, entry.expires);
            match &entry.data {
                Data::Records(records) if entry.rank >= Rank::Answer => {
                    let turn = entry.turn;
                    if records.len() > 1 {
                        entry.turn = turn.wrapping_add(1);
                    }
                    return Lookup::Records(rotated(records, turn, left));
                }
                Data::Negative(negative, soa) => {
                    return Lookup::Negative(
                        *negative,
                        soa.as_ref().map(|soa| with_ttl(soa, left)),
                    );
                }
                Data::Records(_) => {}
            }
        }
        if rtype != RecordType::CNAME {
            let cname_key = Key {
                name: name.clone(),
                kind: Kind::Type(RecordType::CNAME),
            };
            if let Some(entry) = self.live(now, &cname_key) {
                let left = seconds_left(now, entry.expires);
                if let Data::Records(records) = &entry.data {
                    if let Some(record) = records.first() {
                        return Lookup::Cname(with_ttl(record, left));
                    }
                }
            }
        }
        Lookup::Miss
    }

    /// The deepest zone cut at or above `name` whose NS RRset is cached: (zone, NS names).
    pub fn closest_zone(&mut self, now: Instant, name: &Name) -> Option<(Name, Vec<Name>)> {
        let mut cursor = Some(name.clone());
        while let Some(zone) = cursor {
            if let Some(records) = self.rrset(now, &zone, RecordType::NS) {
                let servers: Vec<Name> = records
                    .iter()
                    .filter_map(|record| match &record.rdata {
                        dns_proto::Rdata::Ns(target) => Some(target.clone()),
                        _ => None,
                    })
                    .collect();
                if !servers.is_empty() {
                    return Some((zone, servers));
                }
            }
            cursor = zone.parent();
        }
        None
    }

    /// The cached IPv4 and IPv6 addresses of `name` (any rank).
    pub fn addresses(&mut self, now: Instant, name: &Name) -> Vec<std::net::IpAddr> {
        let mut out = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(records) = self.rrset(now, name, rtype) {
                out.extend(records.iter().filter_map(|record| match &record.rdata {
                    dns_proto::Rdata::A(ip) => Some(std::net::IpAddr::V4(*ip)),
                    dns_proto::Rdata::Aaaa(ip) => Some(std::net::IpAddr::V6(*ip)),
                    _ => None,
                }));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns_proto::Rdata;

    fn a(name: &Name, last: u8) -> Record {
        Record::new(
            name.clone(),
            300,
            Rdata::A(std::net::Ipv4Addr::new(10, 0, 0, last)),
        )
    }

    fn firsts(cache: &mut Cache, now: Instant, name: &Name, n: usize) -> Vec<Record> {
        (0..n)
            .map(|_| match cache.lookup(now, name, RecordType::A) {
                Lookup::Records(records) => records[0].clone(),
                other => panic!("not records: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn answers_rotate_a_multi_record_rrset() {
        let mut cache = Cache::new(CacheLimits::default());
        let now = Instant::now();
        let name = Name::parse("cnn.com.", None).unwrap();
        let set = [a(&name, 1), a(&name, 2), a(&name, 3)];
        assert!(cache.insert_rrset(now, &set, Rank::Authoritative));
        let later = now + Duration::from_secs(10);
        // The stored order went to the asking client; the first answer from the cache starts
        // one further, wrapping round, with every record present and the TTL counted down.
        let Lookup::Records(first) = cache.lookup(later, &name, RecordType::A) else {
            panic!("miss");
        };
        assert_eq!(
            first.iter().map(|r| r.rdata.clone()).collect::<Vec<_>>(),
            [
                set[1].rdata.clone(),
                set[2].rdata.clone(),
                set[0].rdata.clone()
            ]
        );
        assert!(first.iter().all(|record| record.ttl == 290));
        let heads = firsts(&mut cache, later, &name, 3);
        assert_eq!(heads[0].rdata, set[2].rdata);
        assert_eq!(heads[1].rdata, set[0].rdata);
        assert_eq!(heads[2].rdata, set[1].rdata);
    }

    #[test]
    fn single_records_stay_put() {
        let mut cache = Cache::new(CacheLimits::default());
        let now = Instant::now();
        let name = Name::parse("gaia.cs.umass.edu.", None).unwrap();
        assert!(cache.insert_rrset(now, &[a(&name, 7)], Rank::Answer));
        let heads = firsts(&mut cache, now, &name, 3);
        assert!(heads.iter().all(|record| record.rdata == heads[0].rdata));
    }
}
