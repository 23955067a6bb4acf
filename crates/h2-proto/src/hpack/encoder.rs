//! The HPACK encoder: chooses each field's representation (RFC 7541 §6) and keeps its copy
//! of the peer decoder's dynamic table.

use super::table::{entry_size, Match, Table};
use super::{huffman, integer};

/// The most dynamic table we keep for the peer, whatever its SETTINGS_HEADER_TABLE_SIZE:
/// 4096 is the protocol's default, and a larger table would cost memory on both sides for
/// little gain on responses.
const OWN_CAP: usize = 4096;

/// Fields whose values change with every message: indexing them would only evict entries
/// that could be reused.
const NOT_INDEXED: [&[u8]; 10] = [
    b":path",
    b"age",
    b"content-length",
    b"content-range",
    b"date",
    b"etag",
    b"expires",
    b"if-modified-since",
    b"if-none-match",
    b"last-modified",
];

/// Encodes the header blocks of one direction of a connection, in order.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: Table,
    /// A size update owed at the start of the next block: the smallest maximum size since the
    /// last block and the final one (RFC 7541 §4.2).
    update: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder for a peer whose table size is the default 4096.
    pub fn new() -> Encoder {
        Encoder {
            table: Table::new(OWN_CAP),
            update: None,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with a dynamic
    /// table size update (RFC 7541 §4.2, §6.3) to min(new, our own cap of 4096), evicting as
    /// needed.
    pub fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(OWN_CAP);
        self.update = match self.update {
            None if size == self.table.max_size() => None,
            None => Some((size, size)),
            // §4.2: "the smallest maximum table size that occurs in that interval MUST be
            // signaled in a dynamic table size update. The final maximum size is always
            // signaled".
            Some((smallest, _)) => Some((smallest.min(size), size)),
        };
        // The decoder evicts when it reads the update, before any field of the next block:
        // evicting now leaves the same entries (the smallest size evicts the most).
        self.table.set_max_size(size);
    }

    /// The current size of the peer's dynamic table as we track it (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Appends one header block for `fields` to `out`: an exact static-table match as an
    /// index; a static name with literal value; incremental indexing into the dynamic table
    /// for fields worth it (not for values that change every response like `content-length`,
    /// `date`, `etag`, `last-modified`, `content-range`, `:path` values; never-indexed for
    /// `authorization`, `proxy-authorization`, `cookie` values shorter than 20 bytes and
    /// `set-cookie`, as nghttp2 does for sensitive fields); Huffman whenever it is shorter.
    pub fn encode<'a, I: IntoIterator<Item = (&'a [u8], &'a [u8])>>(
        &mut self,
        fields: I,
        out: &mut Vec<u8>,
    ) {
        if let Some((smallest, last)) = self.update.take() {
            if smallest < last {
                integer::encode(smallest, 5, 0x20, out);
            }
            integer::encode(last, 5, 0x20, out);
        }
        for (name, value) in fields {
            self.encode_field(name, value, out);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let sensitive = is_sensitive(name, value);
        let name_index = match self.table.find(name, value) {
            Match::Field(index) if !sensitive => {
                // §6.1: indexed.
                integer::encode(index, 7, 0x80, out);
                return;
            }
            Match::Field(index) | Match::Name(index) => Some(index),
            Match::None => None,
        };
        if sensitive {
            // §6.2.3: never indexed, and an intermediary must keep it so (§7.1.3).
            literal(name_index, name, value, 4, 0x10, out);
        } else if self.worth_indexing(name, value) {
            // §6.2.1: the name index refers to the table before this insertion, as the
            // decoder reads it.
            literal(name_index, name, value, 6, 0x40, out);
            self.table.insert(name.to_vec(), value.to_vec());
        } else {
            // §6.2.2: without indexing.
            literal(name_index, name, value, 4, 0x00, out);
        }
    }

    /// Whether a field should enter the dynamic table: not a value that changes with every
    /// message, and small enough not to flush most of the table.
    fn worth_indexing(&self, name: &[u8], value: &[u8]) -> bool {
        !NOT_INDEXED.contains(&name) && entry_size(name, value) <= self.table.max_size() / 4 * 3
    }
}

/// Fields that must not enter any table, as nghttp2 treats them: credentials, and cookies
/// short enough to be guessed by probing the table (RFC 7541 §7.1.3).
fn is_sensitive(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" | b"set-cookie" => true,
        b"cookie" => value.len() < 20,
        _ => false,
    }
}

/// A literal field (§6.2) with the name by index or as a string.
fn literal(
    name_index: Option<usize>,
    name: &[u8],
    value: &[u8],
    prefix_bits: u32,
    flags: u8,
    out: &mut Vec<u8>,
) {
    match name_index {
        Some(index) => integer::encode(index, prefix_bits, flags, out),
        None => {
            out.push(flags);
            string(name, out);
        }
    }
    string(value, out);
}

/// A string literal (§5.2), Huffman-coded when that is shorter.
fn string(octets: &[u8], out: &mut Vec<u8>) {
    let coded_len = huffman::encoded_len(octets);
    if coded_len < octets.len() {
        integer::encode(coded_len, 7, 0x80, out);
        huffman::encode(octets, out);
    } else {
        integer::encode(octets.len(), 7, 0x00, out);
        out.extend_from_slice(octets);
    }
}
