//! Domain names: case-preserving, compared case-insensitively, parsed from text and wire.

use crate::error::{DecodeError, NameError};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire, length bytes included.
pub const MAX_NAME_LEN: usize = 255;
/// RFC 1035 §2.3.4: a label is at most 63 octets.
pub const MAX_LABEL_LEN: usize = 63;

/// An absolute domain name.
///
/// It keeps the case it was given (so `GaIa.cs.umass.edu` is echoed back as sent), while
/// equality, hashing and ordering ignore ASCII case (RFC 4343). Ordering is the canonical DNS
/// order of RFC 4034 §6.1 (compare labels from the right).
///
/// Internally the uncompressed wire form, terminating zero included; every constructor checks
/// the 63/255 limits, so a `Name` is always valid.
#[derive(Clone)]
pub struct Name {
    wire: Vec<u8>,
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name { wire: vec![0] }
    }

    /// Builds a name from its labels, leftmost first (the root label is implied).
    pub fn from_labels<I, L>(labels: I) -> Result<Name, NameError>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut wire = Vec::new();
        for label in labels {
            let label = label.as_ref();
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong { len: label.len() });
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.push(0);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong { len: wire.len() });
        }
        Ok(Name { wire })
    }

    /// Parses presentation format (`www.example.com.`, escapes `\.` and `\DDD` allowed).
    ///
    /// A name without a trailing dot is relative: it is completed with `origin` when given and
    /// taken as absolute otherwise. `@` alone means `origin` (an error without one).
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Name, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text == "@" {
            return origin.cloned().ok_or(NameError::NoOrigin);
        }
        if text == "." {
            return Ok(Name::root());
        }
        let bytes = text.as_bytes();
        let mut labels: Vec<Vec<u8>> = Vec::new();
        let mut label = Vec::new();
        let mut absolute = false;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    labels.push(std::mem::take(&mut label));
                    if i + 1 == bytes.len() {
                        absolute = true;
                    }
                    i += 1;
                }
                b'\\' => {
                    let (byte, used) = parse_escape(&bytes[i + 1..])?;
                    label.push(byte);
                    i += 1 + used;
                }
                byte => {
                    label.push(byte);
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong { len: label.len() });
            }
        }
        if !label.is_empty() {
            labels.push(label);
        }
        let name = Name::from_labels(&labels)?;
        match (absolute, origin) {
            (false, Some(origin)) => name.concat(origin),
            _ => Ok(name),
        }
    }

    /// Reads a possibly compressed name at `pos` in `msg`; returns it and the position just
    /// after it (after the first pointer if there is one).
    ///
    /// RFC 1035 §4.1.4: a pointer is two bytes `11` + 14-bit offset. Each pointer must point
    /// strictly before the pointer itself, so a chain always moves backwards and cannot loop;
    /// the assembled name must also stay within 255 octets.
    pub fn decode(msg: &[u8], pos: usize) -> Result<(Name, usize), DecodeError> {
        let mut wire = Vec::with_capacity(32);
        let mut cursor = pos;
        let mut end = None;
        loop {
            let len = *msg.get(cursor).ok_or(DecodeError::Truncated)? as usize;
            match len & 0xC0 {
                0x00 => {
                    if len == 0 {
                        wire.push(0);
                        if wire.len() > MAX_NAME_LEN {
                            return Err(DecodeError::NameTooLong);
                        }
                        return Ok((Name { wire }, end.unwrap_or(cursor + 1)));
                    }
                    let label = msg
                        .get(cursor + 1..cursor + 1 + len)
                        .ok_or(DecodeError::Truncated)?;
                    wire.push(len as u8);
                    wire.extend_from_slice(label);
                    // Leave room for the final zero.
                    if wire.len() >= MAX_NAME_LEN {
                        return Err(DecodeError::NameTooLong);
                    }
                    cursor += 1 + len;
                }
                0xC0 => {
                    let low = *msg.get(cursor + 1).ok_or(DecodeError::Truncated)? as usize;
                    let target = ((len & 0x3F) << 8) | low;
                    if target >= cursor {
                        return Err(DecodeError::BadPointer { offset: cursor });
                    }
                    if end.is_none() {
                        end = Some(cursor + 2);
                    }
                    cursor = target;
                }
                _ => return Err(DecodeError::BadLabelType { offset: cursor }),
            }
        }
    }

    /// The uncompressed wire form, terminating zero included.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// The length of the uncompressed wire form (1 for the root).
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels, leftmost first, without the empty root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.wire,
            pos: 0,
        }
    }

    /// The number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The name with its leftmost label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = 1 + self.wire[0] as usize;
        Some(Name {
            wire: self.wire[skip..].to_vec(),
        })
    }

    /// Whether `self` equals `zone` or lies below it.
    pub fn is_subdomain_of(&self, zone: &Name) -> bool {
        let (mine, theirs) = (self.wire.len(), zone.wire.len());
        if theirs > mine {
            return false;
        }
        // The suffix must start on a label boundary.
        let start = mine - theirs;
        let mut pos = 0;
        while pos < start {
            pos += 1 + self.wire[pos] as usize;
        }
        pos == start && self.wire[start..].eq_ignore_ascii_case(&zone.wire)
    }

    /// `self` with `suffix` appended (`self` is taken as relative).
    pub fn concat(&self, suffix: &Name) -> Result<Name, NameError> {
        let mut wire = Vec::with_capacity(self.wire.len() + suffix.wire.len());
        wire.extend_from_slice(&self.wire[..self.wire.len() - 1]);
        wire.extend_from_slice(&suffix.wire);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong { len: wire.len() });
        }
        Ok(Name { wire })
    }

    /// `label.self`.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong { len: label.len() });
        }
        let mut wire = Vec::with_capacity(self.wire.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.wire);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong { len: wire.len() });
        }
        Ok(Name { wire })
    }

    /// Whether the leftmost label is `*` (RFC 4592 wildcard owner).
    pub fn is_wildcard(&self) -> bool {
        self.wire.len() >= 3 && self.wire[0] == 1 && self.wire[1] == b'*'
    }

    /// The same name in lower case.
    pub fn to_lowercase(&self) -> Name {
        Name {
            wire: self.wire.to_ascii_lowercase(),
        }
    }

    /// The name relative to `origin` in presentation format (`www`, `@` for the origin itself),
    /// or the absolute form when it is not below `origin`.
    pub fn to_relative_string(&self, origin: &Name) -> String {
        if self == origin {
            return "@".to_string();
        }
        if !self.is_subdomain_of(origin) || origin.is_root() {
            return self.to_string();
        }
        let keep = self.label_count() - origin.label_count();
        let mut text = String::new();
        for (i, label) in self.labels().take(keep).enumerate() {
            if i > 0 {
                text.push('.');
            }
            write_label(&mut text, label);
        }
        text
    }
}

/// Parses the part of an escape after the backslash: `\DDD` or `\X`.
fn parse_escape(rest: &[u8]) -> Result<(u8, usize), NameError> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = (a - b'0') as u32 * 100 + (b - b'0') as u32 * 10 + (c - b'0') as u32;
            u8::try_from(value)
                .map(|byte| (byte, 3))
                .map_err(|_| NameError::BadEscape)
        }
        [a, ..] if a.is_ascii_digit() => Err(NameError::BadEscape),
        [byte, ..] => Ok((*byte, 1)),
        [] => Err(NameError::BadEscape),
    }
}

/// Writes one label in presentation format, escaping what must be escaped.
fn write_label(out: &mut String, label: &[u8]) {
    for &byte in label {
        match byte {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x21..=0x7E => out.push(byte as char),
            _ => {
                out.push('\\');
                out.push_str(&format!("{byte:03}"));
            }
        }
    }
}

/// Iterator over the labels of a [`Name`], leftmost first.
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.get(self.pos)? as usize;
        if len == 0 {
            return None;
        }
        let label = self.wire.get(self.pos + 1..self.pos + 1 + len)?;
        self.pos += 1 + len;
        Some(label)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        // Length bytes are at most 63, below 'A', so comparing the whole wire form
        // case-insensitively compares labels case-insensitively.
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One `write` of the lower-cased form: hashers are much faster on slices than bytes.
        let mut lower = [0u8; MAX_NAME_LEN];
        for (low, byte) in lower.iter_mut().zip(&self.wire) {
            *low = byte.to_ascii_lowercase();
        }
        state.write(&lower[..self.wire.len()]);
    }
}

impl Ord for Name {
    /// RFC 4034 §6.1 canonical order: labels compared right to left, each as lower-case bytes.
    fn cmp(&self, other: &Name) -> Ordering {
        let mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = other.labels().collect();
        for (a, b) in mine.iter().rev().zip(theirs.iter().rev()) {
            let ordering = a
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase));
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        mine.len().cmp(&theirs.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        let mut text = String::with_capacity(self.wire.len());
        for label in self.labels() {
            write_label(&mut text, label);
            text.push('.');
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl FromStr for Name {
    type Err = NameError;

    /// Parses an absolute name; the trailing dot is optional.
    fn from_str(text: &str) -> Result<Name, NameError> {
        Name::parse(text, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(name("www.Example.com").to_string(), "www.Example.com.");
        assert_eq!(name(".").to_string(), ".");
        assert_eq!(name("a\\.b.c.").label_count(), 2);
        assert_eq!(name("a\\.b.c.").to_string(), "a\\.b.c.");
        assert_eq!(name("a\\032b.c").to_string(), "a\\032b.c.");
        let origin = name("umass.edu");
        assert_eq!(
            Name::parse("gaia.cs", Some(&origin)).unwrap(),
            name("gaia.cs.umass.edu")
        );
        assert_eq!(Name::parse("@", Some(&origin)).unwrap(), origin);
        assert_eq!(Name::parse("x.", Some(&origin)).unwrap(), name("x"));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!("a..b".parse::<Name>(), Err(NameError::EmptyLabel));
        assert_eq!("".parse::<Name>(), Err(NameError::Empty));
        assert!(matches!(
            "a".repeat(64).parse::<Name>(),
            Err(NameError::LabelTooLong { len: 64 })
        ));
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(matches!(
            long.parse::<Name>(),
            Err(NameError::NameTooLong { .. })
        ));
        assert_eq!("a\\256".parse::<Name>(), Err(NameError::BadEscape));
        assert_eq!("a\\".parse::<Name>(), Err(NameError::BadEscape));
    }

    #[test]
    fn case_insensitive_but_preserving() {
        let upper = name("GAIA.cs.UMass.edu");
        let lower = name("gaia.cs.umass.edu");
        assert_eq!(upper, lower);
        use std::collections::hash_map::DefaultHasher;
        let hash = |n: &Name| {
            let mut h = DefaultHasher::new();
            n.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&upper), hash(&lower));
        assert_eq!(upper.to_string(), "GAIA.cs.UMass.edu.");
    }

    #[test]
    fn subdomains_and_parents() {
        let gaia = name("gaia.cs.umass.edu");
        assert!(gaia.is_subdomain_of(&name("UMASS.edu")));
        assert!(gaia.is_subdomain_of(&Name::root()));
        assert!(!gaia.is_subdomain_of(&name("mass.edu")));
        assert!(!name("edu").is_subdomain_of(&gaia));
        assert_eq!(gaia.parent().unwrap(), name("cs.umass.edu"));
        assert_eq!(Name::root().parent(), None);
        assert!(name("*.example").is_wildcard());
        assert_eq!(gaia.to_relative_string(&name("umass.edu")), "gaia.cs");
    }

    #[test]
    fn canonical_order() {
        // RFC 4034 §6.1 example order.
        let ordered = [
            "example",
            "a.example",
            "yljkjljk.a.example",
            "Z.a.example",
            "zABC.a.EXAMPLE",
            "z.example",
            "\\001.z.example",
            "*.z.example",
            "\\200.z.example",
        ];
        let names: Vec<Name> = ordered.iter().map(|t| name(t)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names);
    }

    #[test]
    fn decodes_compressed_and_rejects_loops() {
        // "a.b" at 0, then "c" + pointer to 0 at 5.
        let msg = [1, b'a', 1, b'b', 0, 1, b'c', 0xC0, 0];
        let (first, end) = Name::decode(&msg, 0).unwrap();
        assert_eq!((first, end), (name("a.b"), 5));
        let (second, end) = Name::decode(&msg, 5).unwrap();
        assert_eq!((second, end), (name("c.a.b"), 9));
        // A pointer to itself, and a forward pointer.
        assert!(matches!(
            Name::decode(&[0xC0, 0], 0),
            Err(DecodeError::BadPointer { .. })
        ));
        assert!(matches!(
            Name::decode(&[0xC0, 2, 0], 0),
            Err(DecodeError::BadPointer { .. })
        ));
        assert!(matches!(
            Name::decode(&[0x80], 0),
            Err(DecodeError::BadLabelType { .. })
        ));
        // Too long through pointers: 5 * 63-byte labels chained backwards.
        let mut msg = Vec::new();
        msg.push(63);
        msg.extend_from_slice(&[b'x'; 63]);
        msg.push(0);
        let mut previous = 0u16;
        for _ in 0..4 {
            let start = msg.len() as u16;
            msg.push(63);
            msg.extend_from_slice(&[b'y'; 63]);
            msg.extend_from_slice(&(0xC000 | previous).to_be_bytes());
            previous = start;
        }
        assert_eq!(
            Name::decode(&msg, previous as usize).unwrap_err(),
            DecodeError::NameTooLong
        );
    }

    #[test]
    fn decode_never_panics_on_prefixes() {
        let msg = [
            3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0,
        ];
        for len in 0..msg.len() {
            assert!(Name::decode(&msg[..len], 0).is_err());
        }
    }
}
