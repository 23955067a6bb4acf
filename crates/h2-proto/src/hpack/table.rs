//! The index address space (RFC 7541 §2.3): the static table of Appendix A at indices 1 to
//! 61, then the dynamic table (§4), newest entry first.

use super::DecodeError;
use std::collections::VecDeque;

/// RFC 7541 Appendix A: the static table, index 1 first.
pub(crate) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// RFC 7541 §4.1: an entry's size is its name's and value's lengths plus 32 octets of
/// estimated overhead.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// The size of an entry, as §4.1 counts it.
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// What the tables hold of a field, for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The whole field, at this index.
    Field(usize),
    /// Only the name, at this index.
    Name(usize),
    /// Nothing.
    None,
}

#[derive(Debug, Clone)]
struct Entry {
    name: Vec<u8>,
    value: Vec<u8>,
}

/// The static table and one dynamic table: a decoder's or an encoder's copy of it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Newest first: `entries[0]` is index 62.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl Table {
    /// An empty dynamic table of at most `max_size` octets.
    pub(crate) fn new(max_size: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The dynamic table's size (§4.1).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The dynamic table's maximum size.
    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The field at `index` in the address space of §2.3.3.
    pub(crate) fn get(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        let out_of_range = DecodeError::IndexOutOfRange { index };
        // §6.1: "The index value of 0 is not used. It MUST be treated as a decoding error."
        let position = index.checked_sub(1).ok_or(out_of_range.clone())?;
        if let Some((name, value)) = STATIC.get(position) {
            return Ok((name.as_bytes(), value.as_bytes()));
        }
        // §2.3.3: "Indices strictly greater than the sum of the lengths of both tables MUST be
        // treated as a decoding error."
        let entry = self
            .entries
            .get(position - STATIC.len())
            .ok_or(out_of_range)?;
        Ok((&entry.name, &entry.value))
    }

    /// Adds a field as the newest entry, evicting the oldest ones to make room (§4.4). An
    /// entry larger than the maximum size empties the table and is not added.
    pub(crate) fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front(Entry { name, value });
    }

    /// Sets the maximum size, evicting the oldest entries until the table fits (§4.3).
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            let Some(entry) = self.entries.pop_back() else {
                break;
            };
            self.size -= entry_size(&entry.name, &entry.value);
        }
    }

    /// The best index for a field: the whole field if either table has it (static first),
    /// else its name (static first).
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> Match {
        let mut name_index = None;
        for (index, (static_name, static_value)) in (1..).zip(STATIC.iter()) {
            if static_name.as_bytes() == name {
                if static_value.as_bytes() == value {
                    return Match::Field(index);
                }
                name_index.get_or_insert(index);
            }
        }
        for (index, entry) in (STATIC.len() + 1..).zip(self.entries.iter()) {
            if entry.name == name {
                if entry.value == value {
                    return Match::Field(index);
                }
                name_index.get_or_insert(index);
            }
        }
        name_index.map_or(Match::None, Match::Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table_ends() {
        let table = Table::new(4096);
        assert_eq!(table.get(1), Ok((&b":authority"[..], &b""[..])));
        assert_eq!(table.get(2), Ok((&b":method"[..], &b"GET"[..])));
        assert_eq!(
            table.get(16),
            Ok((&b"accept-encoding"[..], &b"gzip, deflate"[..]))
        );
        assert_eq!(table.get(61), Ok((&b"www-authenticate"[..], &b""[..])));
        assert_eq!(table.get(0), Err(DecodeError::IndexOutOfRange { index: 0 }));
        assert_eq!(
            table.get(62),
            Err(DecodeError::IndexOutOfRange { index: 62 })
        );
        assert_eq!(
            table.get(usize::MAX),
            Err(DecodeError::IndexOutOfRange { index: usize::MAX })
        );
    }

    #[test]
    fn insertion_and_eviction() {
        // Each entry is 1 + 1 + 32 = 34 octets; 100 octets hold two.
        let mut table = Table::new(100);
        table.insert(b"a".to_vec(), b"1".to_vec());
        table.insert(b"b".to_vec(), b"2".to_vec());
        assert_eq!(table.size(), 68);
        assert_eq!(table.get(62), Ok((&b"b"[..], &b"2"[..])));
        assert_eq!(table.get(63), Ok((&b"a"[..], &b"1"[..])));
        table.insert(b"c".to_vec(), b"3".to_vec());
        assert_eq!(table.size(), 68);
        assert_eq!(table.get(62), Ok((&b"c"[..], &b"3"[..])));
        assert_eq!(table.get(63), Ok((&b"b"[..], &b"2"[..])));
        assert!(table.get(64).is_err());
        table.set_max_size(40);
        assert_eq!(table.size(), 34);
        assert_eq!(table.get(62), Ok((&b"c"[..], &b"3"[..])));
        // Larger than the whole table: empties it.
        table.insert(vec![b'x'; 10], Vec::new());
        assert_eq!(table.size(), 0);
        assert!(table.get(62).is_err());
        table.set_max_size(0);
        table.insert(Vec::new(), Vec::new());
        assert_eq!(table.size(), 0);
    }

    #[test]
    fn find_prefers_whole_fields_then_static_names() {
        let mut table = Table::new(4096);
        assert_eq!(table.find(b":method", b"POST"), Match::Field(3));
        assert_eq!(table.find(b":method", b"PUT"), Match::Name(2));
        assert_eq!(table.find(b"x-custom", b"1"), Match::None);
        table.insert(b"x-custom".to_vec(), b"1".to_vec());
        table.insert(b"cache-control".to_vec(), b"no-cache".to_vec());
        assert_eq!(table.find(b"x-custom", b"1"), Match::Field(63));
        assert_eq!(table.find(b"x-custom", b"2"), Match::Name(63));
        assert_eq!(table.find(b"cache-control", b"no-cache"), Match::Field(62));
        assert_eq!(table.find(b"cache-control", b"private"), Match::Name(24));
    }
}
