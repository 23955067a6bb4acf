//! IP prefixes (CIDR) and the longest-prefix-match table behind coverage zones and client
//! locations, with the ECS scope of a lookup.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix such as `127.0.20.0/24` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The network address (bits past `len` are zero).
    network: IpAddr,
    /// The prefix length in bits.
    len: u8,
}

/// Why a prefix does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// Not `ADDRESS/LENGTH` or a bare address.
    #[error("{0:?} is not an IP address or ADDRESS/LENGTH")]
    Syntax(String),
    /// A length longer than the address.
    #[error("prefix length {len} is longer than {max}")]
    TooLong {
        /// Given.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
    /// Bits set past the length (`127.0.20.1/24`): probably a typo, so refused.
    #[error("{0} has bits set past its length")]
    HostBits(String),
}

/// An address as (is IPv6, bits left-aligned in a u128).
fn bits(address: IpAddr) -> (bool, u128) {
    match address {
        IpAddr::V4(v4) => (false, (u32::from(v4) as u128) << 96),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// The first `len` bits of `value` (left-aligned), the rest zero.
fn masked(value: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        value & (u128::MAX << (128 - len.min(128) as u32))
    }
}

fn max_len(address: IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

impl Prefix {
    /// A prefix from an address and a length (the address is masked).
    pub fn new(address: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = max_len(address);
        if len > max {
            return Err(PrefixError::TooLong { len, max });
        }
        let (v6, value) = bits(address);
        let value = masked(value, len);
        let network = if v6 {
            IpAddr::V6(value.into())
        } else {
            IpAddr::V4(((value >> 96) as u32).into())
        };
        Ok(Prefix { network, len })
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is `0.0.0.0/0` or `::/0`.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (v6, value) = bits(address);
        let (own_v6, own) = bits(self.network);
        v6 == own_v6 && masked(value, self.len) == own
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(text: &str) -> Result<Prefix, PrefixError> {
        let syntax = || PrefixError::Syntax(text.to_string());
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let len = match len {
            Some(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse::<u8>().map_err(|_| syntax())?
            }
            Some(_) => return Err(syntax()),
            None => max_len(address),
        };
        let prefix = Prefix::new(address, len)?;
        if prefix.network != address {
            return Err(PrefixError::HostBits(text.to_string()));
        }
        Ok(prefix)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// Prefixes of one family, indexed by length for longest-prefix match.
#[derive(Clone, Debug, Default)]
struct Family {
    /// Lengths present, longest first.
    lengths: Vec<u8>,
    /// (length, masked bits) → entry index.
    entries: HashMap<(u8, u128), usize>,
    /// (masked bits, length) of every entry, for the scope computation.
    all: Vec<(u128, u8)>,
}

/// A longest-prefix-match table from prefixes to values.
///
/// A lookup probes one hash map entry per distinct prefix length present (at most 33 for
/// IPv4), longest first: a table of a few thousand coverage lines costs a handful of probes.
#[derive(Clone, Debug)]
pub struct PrefixTable<T> {
    v4: Family,
    v6: Family,
    values: Vec<(Prefix, T)>,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> PrefixTable<T> {
        PrefixTable {
            v4: Family::default(),
            v6: Family::default(),
            values: Vec::new(),
        }
    }
}

impl<T> PrefixTable<T> {
    /// An empty table.
    pub fn new() -> PrefixTable<T> {
        PrefixTable::default()
    }

    /// Adds an entry; an entry for the same prefix replaces the value and returns the old.
    pub fn insert(&mut self, prefix: Prefix, value: T) -> Option<T> {
        let (v6, value_bits) = bits(prefix.network);
        let family = if v6 { &mut self.v6 } else { &mut self.v4 };
        if let Some(&index) = family.entries.get(&(prefix.len, value_bits)) {
            return Some(std::mem::replace(&mut self.values[index].1, value));
        }
        family
            .entries
            .insert((prefix.len, value_bits), self.values.len());
        family.all.push((value_bits, prefix.len));
        if let Err(at) = family.lengths.binary_search_by(|len| prefix.len.cmp(len)) {
            family.lengths.insert(at, prefix.len);
        }
        self.values.push((prefix, value));
        None
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &(Prefix, T)> {
        self.values.iter()
    }

    /// The entry at `index` (as returned by [`PrefixTable::matches`]).
    pub fn entry(&self, index: usize) -> Option<&(Prefix, T)> {
        self.values.get(index)
    }

    /// Indexes of the entries containing `address`, longest prefix first.
    pub fn matches(&self, address: IpAddr) -> impl Iterator<Item = usize> + '_ {
        let (v6, value) = bits(address);
        let family = if v6 { &self.v6 } else { &self.v4 };
        family
            .lengths
            .iter()
            .filter_map(move |&len| family.entries.get(&(len, masked(value, len))).copied())
    }

    /// The longest entry containing `address`.
    pub fn longest_match(&self, address: IpAddr) -> Option<&(Prefix, T)> {
        self.matches(address)
            .next()
            .map(|index| &self.values[index])
    }

    /// The ECS scope of a lookup (RFC 7871 §7.2.1): the fewest leading bits of `address`
    /// that decide every lookup in this table. All addresses sharing that many bits with
    /// `address` match the same entries: it is at least the longest matching entry's
    /// length, and one more than the bits `address` shares with any entry not containing it
    /// (else part of the block would fall inside that entry).
    pub fn scope(&self, address: IpAddr) -> u8 {
        let (v6, value) = bits(address);
        let family = if v6 { &self.v6 } else { &self.v4 };
        let mut scope = 0u8;
        for &(network, len) in &family.all {
            let common = ((network ^ value).leading_zeros() as u8).min(len);
            let needed = if common >= len { len } else { common + 1 };
            scope = scope.max(needed);
        }
        scope.min(max_len(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn table(prefixes: &[&str]) -> PrefixTable<usize> {
        let mut table = PrefixTable::new();
        for (index, prefix) in prefixes.iter().enumerate() {
            table.insert(prefix.parse().unwrap(), index);
        }
        table
    }

    #[test]
    fn parses_and_refuses_prefixes() {
        assert_eq!(
            "127.0.20.0/24".parse::<Prefix>().unwrap().to_string(),
            "127.0.20.0/24"
        );
        assert_eq!("2001:db8::/32".parse::<Prefix>().unwrap().prefix_len(), 32);
        assert_eq!("10.0.0.1".parse::<Prefix>().unwrap().prefix_len(), 32);
        for bad in [
            "127.0.20.0/33",
            "127.0.20.1/24",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let table = table(&["0.0.0.0/0", "127.0.0.0/8", "127.0.20.0/24", "2001:db8::/32"]);
        let check = |address: &str, expected: Option<usize>| {
            let found = table.longest_match(ip(address)).map(|entry| entry.1);
            assert_eq!(found, expected, "{address}");
        };
        check("127.0.20.9", Some(2));
        check("127.0.21.9", Some(1));
        check("10.1.1.1", Some(0));
        check("2001:db8:5::1", Some(3));
        check("2001:db9::1", None);
        assert_eq!(
            table.matches(ip("127.0.20.9")).collect::<Vec<_>>(),
            [2, 1, 0]
        );
    }

    #[test]
    fn scope_covers_exactly_the_deciding_bits() {
        let table = table(&["127.0.20.0/24", "127.0.21.0/24", "10.0.0.0/8"]);
        // Inside an entry with no longer neighbour: the entry's length.
        assert_eq!(table.scope(ip("127.0.20.5")), 24);
        assert_eq!(table.scope(ip("10.9.9.9")), 8);
        // 127.0.22.1 shares 22 bits with 127.0.20.0 and 127.0.21.0: a /23 around it is
        // still clear of both.
        assert_eq!(table.scope(ip("127.0.22.1")), 23);
        // Far from everything: one bit decides (10/8 starts with 0, 127 too, 200 not).
        assert_eq!(table.scope(ip("200.1.1.1")), 1);
        assert_eq!(PrefixTable::<()>::new().scope(ip("1.2.3.4")), 0);
    }
}
