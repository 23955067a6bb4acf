//! The header field map: case-insensitive names, repeated fields and list values, order kept.

use std::fmt;

/// An ordered multimap of header fields (RFC 9110 §5).
///
/// Names compare case-insensitively but keep the spelling they were given, so a proxy forwards
/// what it received. Repeated fields stay separate lines in their original order; [`list`]
/// joins them into one comma-separated list as RFC 9110 §5.3 allows.
///
/// Values added by the application are sanitised: CR, LF and NUL become spaces, so no caller
/// can split a message by putting a line break into a value. Names that are not tokens are
/// dropped by [`HeaderMap::append`].
///
/// Every name and value lives in one string, so a parsed message's fields cost two
/// allocations however many there are; what removed or replaced lines leave behind is
/// compacted away once it outgrows the live text.
///
/// [`list`]: HeaderMap::list
#[derive(Clone, Default)]
pub struct HeaderMap {
    /// Every name and value, back to back: one allocation for a whole message's fields.
    text: String,
    /// The lines, in order, as ranges of `text`.
    lines: Vec<Line>,
}

/// The `tchar` set (RFC 9110 §5.6.2) as a 256-entry table: one load per byte on the hot path.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = matches!(b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
            | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        byte += 1;
    }
    table
};

/// Whether `byte` may appear in a token (RFC 9110 §5.6.2 `tchar`).
pub fn is_tchar(byte: u8) -> bool {
    TCHAR[byte as usize]
}

/// Whether `text` is a non-empty token.
pub fn is_token(text: &str) -> bool {
    // Branch-free over the bytes: names are short and almost always valid.
    !text.is_empty() && text.bytes().fold(true, |ok, b| ok & is_tchar(b))
}

/// One field line: where its name and value are in the map's text.
#[derive(Clone, Copy, Debug)]
struct Line {
    name: (usize, usize),
    value: (usize, usize),
}

/// Appends `value` to `text` sanitised: CR, LF and NUL become spaces, then spaces and tabs
/// are trimmed from both ends.
fn push_sanitised(text: &mut String, value: &str) {
    // The common case, checked in one pass: no CR, LF or NUL and nothing to trim.
    let bytes = value.as_bytes();
    let clean = !bytes.iter().fold(false, |bad, &b| {
        bad | (b == b'\r') | (b == b'\n') | (b == 0)
    }) && !matches!(bytes.first(), Some(b' ' | b'\t'))
        && !matches!(bytes.last(), Some(b' ' | b'\t'));
    if clean {
        text.push_str(value);
    } else {
        let replaced = value.replace(['\r', '\n', '\0'], " ");
        text.push_str(replaced.trim_matches([' ', '\t']));
    }
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            text: String::with_capacity(capacity * 32),
            lines: Vec::with_capacity(capacity),
        }
    }

    fn name_of(&self, line: &Line) -> &str {
        &self.text[line.name.0..line.name.1]
    }

    fn value_of(&self, line: &Line) -> &str {
        &self.text[line.value.0..line.value.1]
    }

    fn push_line(&mut self, name: &str, value: impl FnOnce(&mut String)) {
        let name_start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        value(&mut self.text);
        self.lines.push(Line {
            name: (name_start, value_start),
            value: (value_start, self.text.len()),
        });
    }

    /// Adds a field line after the existing ones (a repeated name adds another line).
    /// A name that is not a token is ignored.
    pub fn append(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        if !is_token(name) {
            return;
        }
        self.push_line(name, |text| push_sanitised(text, value.as_ref()));
    }

    /// Adds a field line that the parser has already validated.
    pub(crate) fn append_parsed(&mut self, name: &str, value: &str) {
        self.push_line(name, |text| text.push_str(value));
    }

    /// Continues the last line's value with `more` after a space (an obs-fold line being
    /// unfolded by the parser); false if there is no line to continue.
    pub(crate) fn continue_last_value(&mut self, more: &str) -> bool {
        let end = self.text.len();
        match self.lines.last_mut() {
            Some(last) if last.value.1 == end => {
                self.text.push(' ');
                self.text.push_str(more);
                last.value.1 = self.text.len();
                true
            }
            _ => false,
        }
    }

    /// Replaces every line named `name` by one line with `value` (at the first one's place, or at
    /// the end).
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        if !is_token(name) {
            return;
        }
        match self.position(name) {
            Some(index) => {
                let start = self.text.len();
                push_sanitised(&mut self.text, value.as_ref());
                self.lines[index].value = (start, self.text.len());
                let HeaderMap { text, lines } = self;
                let mut seen = false;
                lines.retain(|line| {
                    if text[line.name.0..line.name.1].eq_ignore_ascii_case(name) {
                        let keep = !seen;
                        seen = true;
                        keep
                    } else {
                        true
                    }
                });
                self.compact();
            }
            None => self.push_line(name, |text| push_sanitised(text, value.as_ref())),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| self.name_of(line).eq_ignore_ascii_case(name))
    }

    /// Rewrites the text without what removed or replaced lines left behind, once that is
    /// more than the live text (so a map edited again and again stays bounded).
    fn compact(&mut self) {
        let live: usize = self
            .lines
            .iter()
            .map(|line| line.name.1 - line.name.0 + line.value.1 - line.value.0)
            .sum();
        if self.text.len() <= 2 * live + 1024 {
            return;
        }
        let mut compacted = HeaderMap::with_capacity(self.lines.len());
        for (name, value) in self.iter() {
            compacted.append_parsed(name, value);
        }
        *self = compacted;
    }

    /// The value of the first line named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .map(|index| self.value_of(&self.lines[index]))
    }

    /// The values of every line named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// How many lines are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether a line named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The elements of every `name` line taken as one comma-separated list (RFC 9110 §5.6.1),
    /// trimmed, empty elements skipped, commas inside quoted strings kept.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list)
    }

    /// Whether the list in `name` lines has `token` (case-insensitively), e.g. `chunked`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|element| element.eq_ignore_ascii_case(token))
    }

    /// Removes every line named `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.lines.len();
        let HeaderMap { text, lines } = self;
        lines.retain(|line| !text[line.name.0..line.name.1].eq_ignore_ascii_case(name));
        let removed = before - self.lines.len();
        if removed > 0 {
            self.compact();
        }
        removed
    }

    /// Keeps only the lines for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let before = self.lines.len();
        let HeaderMap { text, lines } = self;
        lines.retain(|line| {
            keep(
                &text[line.name.0..line.name.1],
                &text[line.value.0..line.value.1],
            )
        });
        if self.lines.len() < before {
            self.compact();
        }
    }

    /// Every line as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines
            .iter()
            .map(|line| (self.name_of(line), self.value_of(line)))
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Removes every line.
    pub fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }

    /// Writes every line as `name: value\r\n` (no final empty line).
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (name, value) in self.iter() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        self.lines
            .iter()
            .map(|line| line.name.1 - line.name.0 + line.value.1 - line.value.0 + 4)
            .sum()
    }
}

impl PartialEq for HeaderMap {
    /// The same lines in the same order (whatever each map's edits left behind).
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HeaderMap {}

impl fmt::Debug for HeaderMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a HeaderMap {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for HeaderMap {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in iter {
            map.append(name, value);
        }
        map
    }
}

/// Splits one field value at the commas of a list (RFC 9110 §5.6.1), honouring quoted strings
/// and backslash escapes in them; elements are trimmed and empty ones skipped.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut index = 0;
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let mut in_quotes = false;
        while index < bytes.len() {
            match bytes[index] {
                b'"' => in_quotes = !in_quotes,
                b'\\' if in_quotes => index += 1,
                b',' if !in_quotes => break,
                _ => {}
            }
            index += 1;
        }
        let end = index.min(bytes.len());
        let element = value
            .get(start..end)
            .unwrap_or("")
            .trim_matches([' ', '\t']);
        if index >= bytes.len() {
            done = true;
        } else {
            index += 1;
            start = index;
        }
        if !element.is_empty() {
            return Some(element);
        }
    })
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) and the proxy credentials that concern one hop only
/// (RFC 9110 §11.7): never forwarded, never stored by a cache. The one list: the proxy and
/// the cache use it. Fields named in a message's `Connection` are hop-by-hop too.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-authentication-info",
];

/// Whether `name` is one of [`HOP_BY_HOP`] (any case).
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|hop| hop.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random edits against a plain list of pairs (the old representation) as the model:
    /// the ranges, the compaction and the sanitising must agree with it at every step.
    #[test]
    fn random_edits_match_a_list_of_pairs() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let names = ["A", "b", "Via", "via", "X-Long-Name"];
        let values = [
            "1",
            " padded ",
            "two\r\nlines",
            "",
            "a much longer value than the others",
        ];
        let sanitise = |value: &str| {
            value
                .replace(['\r', '\n', '\0'], " ")
                .trim_matches([' ', '\t'])
                .to_owned()
        };
        let mut map = HeaderMap::new();
        let mut model: Vec<(String, String)> = Vec::new();
        for _ in 0..20_000 {
            let name = names[(next() % names.len() as u64) as usize];
            let value = values[(next() % values.len() as u64) as usize];
            match next() % 5 {
                0 | 1 => {
                    map.append(name, value);
                    model.push((name.to_owned(), sanitise(value)));
                }
                2 => {
                    map.insert(name, value);
                    match model.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
                        Some(first) => {
                            model[first].1 = sanitise(value);
                            let mut seen = false;
                            model.retain(|(n, _)| {
                                if n.eq_ignore_ascii_case(name) {
                                    let keep = !seen;
                                    seen = true;
                                    keep
                                } else {
                                    true
                                }
                            });
                        }
                        None => model.push((name.to_owned(), sanitise(value))),
                    }
                }
                3 => {
                    let removed = map.remove(name);
                    let before = model.len();
                    model.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    assert_eq!(removed, before - model.len());
                }
                _ => {
                    map.retain(|_, v| v.len() % 2 == 0);
                    model.retain(|(_, v)| v.len() % 2 == 0);
                }
            }
            let got: Vec<(&str, &str)> = map.iter().collect();
            let want: Vec<(&str, &str)> = model
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, want);
            assert!(map.text.len() <= 2 * map.encoded_len() + 1024 + 64);
        }
    }

    #[test]
    fn edits_keep_order_equality_and_a_bounded_text() {
        let mut map = HeaderMap::new();
        map.append("A", "1");
        map.append("B", "2");
        map.append("a", "3");
        for i in 0..10_000 {
            map.insert("B", i.to_string());
        }
        assert_eq!(map.get("b"), Some("9999"));
        assert!(map.text.len() < 4096, "text grew to {}", map.text.len());
        // The first A takes the value; the second goes.
        map.insert("A", " x\r\n");
        assert_eq!(map.iter().collect::<Vec<_>>(), [("A", "x"), ("B", "9999")]);
        let mut other = HeaderMap::new();
        other.append("A", "x");
        other.append("B", "9999");
        assert_eq!(map, other);
        assert_eq!(map.clone(), other);
        assert_eq!(map.remove("a"), 1);
        map.retain(|name, _| name != "B");
        assert!(map.is_empty());
        assert_eq!(map.encoded_len(), 0);
    }

    #[test]
    fn names_are_case_insensitive_and_order_is_kept() {
        let mut map = HeaderMap::new();
        map.append("Accept", "text/html");
        map.append("Host", "example.com");
        map.append("ACCEPT", "image/png");
        assert_eq!(map.get("accept"), Some("text/html"));
        assert_eq!(
            map.get_all("Accept").collect::<Vec<_>>(),
            ["text/html", "image/png"]
        );
        assert_eq!(map.count("accept"), 2);
        let names: Vec<_> = map.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Accept", "Host", "ACCEPT"]);
        map.insert("accept", "*/*");
        assert_eq!(map.get_all("Accept").collect::<Vec<_>>(), ["*/*"]);
        assert_eq!(map.iter().next().unwrap().0, "Accept");
        assert_eq!(map.remove("HOST"), 1);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn lists_span_lines_and_respect_quotes() {
        let mut map = HeaderMap::new();
        map.append("If-None-Match", "\"a,b\", W/\"c\"");
        map.append("If-None-Match", " , \"d\"");
        assert_eq!(
            map.list("if-none-match").collect::<Vec<_>>(),
            ["\"a,b\"", "W/\"c\"", "\"d\""]
        );
        map.append("Connection", "keep-alive, Close");
        assert!(map.has_token("connection", "close"));
        assert!(!map.has_token("connection", "upgrade"));
    }

    #[test]
    fn values_cannot_split_messages() {
        let mut map = HeaderMap::new();
        map.append("Location", "/x\r\nSet-Cookie: evil=1");
        map.append("Bad Name", "v");
        let mut out = Vec::new();
        map.encode(&mut out);
        assert_eq!(out, b"Location: /x  Set-Cookie: evil=1\r\n");
        assert_eq!(map.encoded_len(), out.len());
    }
}
