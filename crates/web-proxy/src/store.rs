//! The cache index: stored objects by key and variant, a byte bound, LRU eviction, and
//! invalidation. Sans-IO: bodies live in memory (`Arc<[u8]>`) or are named by a disk record id
//! that the driver reads; nothing here touches a file.

use http_cache::fields::Fields;
use http_cache::key::variant_matches;
use http_cache::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where a stored body is.
#[derive(Clone, Debug)]
pub struct StoredBody {
    /// The body in memory, if kept there (small objects, or no disk store).
    pub memory: Option<Arc<[u8]>>,
    /// The disk record id, if the object is on disk.
    pub disk: Option<u64>,
}

/// One stored response.
#[derive(Clone, Debug)]
pub struct Object {
    /// The object's id (also its disk record id when on disk).
    pub id: u64,
    /// The stored response.
    pub entry: Entry,
    /// The body.
    pub body: StoredBody,
    /// The encoded stored fields (from `forward::stored_fields_block`), reused on every hit.
    pub fields_block: Arc<[u8]>,
}

impl Object {
    /// The bytes this object counts against the bound: body plus stored fields.
    pub fn charge(&self) -> u64 {
        let fields: usize = self
            .entry
            .meta
            .fields
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum();
        self.entry.meta.body_len + fields as u64 + self.entry.meta.key.len() as u64 + 64
    }
}

struct Slot {
    object: Arc<Object>,
    tick: u64,
}

/// The index of stored objects with a byte bound and least-recently-used eviction.
pub struct Store {
    by_key: HashMap<String, Vec<u64>>,
    slots: HashMap<u64, Slot>,
    lru: BTreeMap<u64, u64>,
    bytes: u64,
    capacity: u64,
    tick: u64,
    next_id: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("objects", &self.slots.len())
            .field("bytes", &self.bytes)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Store {
    /// An empty store holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self {
            by_key: HashMap::new(),
            slots: HashMap::new(),
            lru: BTreeMap::new(),
            bytes: 0,
            capacity,
            tick: 0,
            next_id: 1,
        }
    }

    /// A new unique object id.
    pub fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Makes sure future ids are above `id` (after loading records from disk).
    pub fn reserve_id(&mut self, id: u64) {
        self.next_id = self.next_id.max(id + 1);
    }

    /// Bytes charged now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The object stored for `key` whose variant matches the request's selecting fields
    /// (§4.1); of several, the most recent by response time (§4). Marks it used.
    pub fn lookup(&mut self, key: &str, request: &impl Fields) -> Option<Arc<Object>> {
        let ids = self.by_key.get(key)?;
        let mut best: Option<&Slot> = None;
        for id in ids {
            let Some(slot) = self.slots.get(id) else {
                continue;
            };
            if !variant_matches(&slot.object.entry.meta.variant, request) {
                continue;
            }
            if best.is_none_or(|current| {
                slot.object.entry.meta.response_time > current.object.entry.meta.response_time
            }) {
                best = Some(slot);
            }
        }
        let object = best?.object.clone();
        self.touch(object.id);
        Some(object)
    }

    /// An object by id.
    pub fn get(&self, id: u64) -> Option<Arc<Object>> {
        self.slots.get(&id).map(|slot| slot.object.clone())
    }

    fn touch(&mut self, id: u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(slot) = self.slots.get_mut(&id) {
            self.lru.remove(&slot.tick);
            slot.tick = tick;
            self.lru.insert(tick, id);
        }
    }

    /// Stores `object` (whose id must be new: see [`Store::allocate_id`]), replacing any object of the same key and variant (§4.3.3: a full
    /// response replaces the stored one), then evicts least recently used objects until the
    /// bound holds. Returns the objects removed (the caller deletes their disk records). An
    /// object larger than the whole bound is not stored and comes back in the list.
    pub fn insert(&mut self, object: Object) -> Vec<Arc<Object>> {
        let mut removed = Vec::new();
        let key = object.entry.meta.key.clone();
        let same_variant: Vec<u64> = self
            .by_key
            .get(&key)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|id| {
                        self.slots.get(id).is_some_and(|slot| {
                            slot.object.entry.meta.variant == object.entry.meta.variant
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        for id in same_variant {
            removed.extend(self.remove(id));
        }
        let object = Arc::new(object);
        if object.charge() > self.capacity {
            removed.push(object);
            return removed;
        }
        self.tick += 1;
        self.bytes += object.charge();
        self.by_key.entry(key).or_default().push(object.id);
        self.lru.insert(self.tick, object.id);
        self.slots.insert(
            object.id,
            Slot {
                object: object.clone(),
                tick: self.tick,
            },
        );
        while self.bytes > self.capacity {
            let Some((_, victim)) = self.lru.pop_first() else {
                break;
            };
            if victim == object.id {
                // Never evict what was just stored while others remain; put it back.
                self.lru.insert(self.tick, victim);
                if self.slots.len() == 1 {
                    break;
                }
                continue;
            }
            removed.extend(self.remove(victim));
        }
        removed
    }

    /// Removes one object.
    pub fn remove(&mut self, id: u64) -> Option<Arc<Object>> {
        let slot = self.slots.remove(&id)?;
        self.lru.remove(&slot.tick);
        self.bytes = self.bytes.saturating_sub(slot.object.charge());
        let key = &slot.object.entry.meta.key;
        if let Some(ids) = self.by_key.get_mut(key) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.by_key.remove(key);
            }
        }
        Some(slot.object)
    }

    /// RFC 9111 §4.4: removes every stored response whose target URI is `uri` (all methods'
    /// keys end in the URI). Returns them.
    pub fn invalidate_uri(&mut self, uri: &str) -> Vec<Arc<Object>> {
        let keys: Vec<String> = self
            .by_key
            .keys()
            .filter(|key| {
                key.split_once(' ')
                    .is_some_and(|(_, key_uri)| key_uri == uri)
            })
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for key in keys {
            for id in self.by_key.get(&key).cloned().unwrap_or_default() {
                removed.extend(self.remove(id));
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_cache::entry::EntryMeta;
    use http_cache::freshness::{from_unix_seconds, CacheKind};

    fn object(
        store: &mut Store,
        key: &str,
        variant: Option<&str>,
        body_len: u64,
        at: u64,
    ) -> Object {
        let meta = EntryMeta {
            key: key.into(),
            variant: vec![("accept".into(), variant.map(|v| v.as_bytes().to_vec()))],
            status: 200,
            reason: "OK".into(),
            fields: http_proto::HeaderMap::new(),
            request_time: from_unix_seconds(at),
            response_time: from_unix_seconds(at),
            age_value: 0,
            body_len,
        };
        Object {
            id: store.allocate_id(),
            entry: Entry::from_meta(meta, CacheKind::Shared),
            body: StoredBody {
                memory: Some(vec![0u8; body_len as usize].into()),
                disk: None,
            },
            fields_block: Arc::from(&b""[..]),
        }
    }

    fn accept(value: &str) -> http_proto::HeaderMap {
        [("Accept", value)].into_iter().collect()
    }

    #[test]
    fn lookup_by_key_and_variant() {
        let mut store = Store::new(1 << 20);
        let html = object(&mut store, "GET http://h/", Some("text/html"), 10, 1);
        let json = object(&mut store, "GET http://h/", Some("application/json"), 10, 2);
        store.insert(html);
        store.insert(json);
        assert_eq!(store.len(), 2);
        assert_eq!(
            store
                .lookup("GET http://h/", &accept("text/html"))
                .unwrap()
                .entry
                .meta
                .request_time,
            from_unix_seconds(1)
        );
        assert!(store
            .lookup("GET http://h/", &accept("image/png"))
            .is_none());
        assert!(store
            .lookup("GET http://other/", &accept("text/html"))
            .is_none());
    }

    #[test]
    fn same_variant_replaces() {
        let mut store = Store::new(1 << 20);
        let first = object(&mut store, "GET http://h/", Some("a"), 10, 1);
        let second = object(&mut store, "GET http://h/", Some("a"), 20, 2);
        store.insert(first);
        let removed = store.insert(second);
        assert_eq!(removed.len(), 1);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn lru_eviction_keeps_the_bound() {
        let mut store = Store::new(1000);
        let a = object(&mut store, "GET http://h/a", None, 300, 1);
        let b = object(&mut store, "GET http://h/b", None, 300, 1);
        let c = object(&mut store, "GET http://h/c", None, 300, 1);
        store.insert(a);
        store.insert(b);
        // Use a, so b is the least recently used.
        assert!(store
            .lookup("GET http://h/a", &http_proto::HeaderMap::new())
            .is_some());
        let removed = store.insert(c);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].entry.meta.key, "GET http://h/b");
        assert!(store.bytes() <= 1000);
        let huge = object(&mut store, "GET http://h/huge", None, 5000, 1);
        assert_eq!(store.insert(huge).len(), 1);
        assert!(store
            .lookup("GET http://h/huge", &http_proto::HeaderMap::new())
            .is_none());
    }

    #[test]
    fn invalidation_by_uri() {
        let mut store = Store::new(1 << 20);
        let a = object(&mut store, "GET http://h/a", None, 1, 1);
        store.insert(a);
        assert_eq!(store.invalidate_uri("http://h/a").len(), 1);
        assert!(store.is_empty());
    }
}
