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
/// [`list`]: HeaderMap::list
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(Name, String)>,
}

/// A field name: the common ones, as they usually come, need no allocation of their own.
type Name = std::borrow::Cow<'static, str>;

/// `name` as a static string when it is one of the common field names, spelt exactly so.
pub(crate) fn known_name(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"Host" => "Host",
        b"host" => "host",
        b"User-Agent" => "User-Agent",
        b"user-agent" => "user-agent",
        b"Accept" => "Accept",
        b"accept" => "accept",
        b"Accept-Encoding" => "Accept-Encoding",
        b"accept-encoding" => "accept-encoding",
        b"Accept-Language" => "Accept-Language",
        b"Accept-Ranges" => "Accept-Ranges",
        b"Age" => "Age",
        b"Cache-Control" => "Cache-Control",
        b"cache-control" => "cache-control",
        b"Connection" => "Connection",
        b"connection" => "connection",
        b"Content-Encoding" => "Content-Encoding",
        b"Content-Length" => "Content-Length",
        b"content-length" => "content-length",
        b"Content-Range" => "Content-Range",
        b"Content-Type" => "Content-Type",
        b"content-type" => "content-type",
        b"Cookie" => "Cookie",
        b"Date" => "Date",
        b"ETag" => "ETag",
        b"Etag" => "Etag",
        b"Expires" => "Expires",
        b"If-Modified-Since" => "If-Modified-Since",
        b"If-None-Match" => "If-None-Match",
        b"Keep-Alive" => "Keep-Alive",
        b"Last-Modified" => "Last-Modified",
        b"Location" => "Location",
        b"Pragma" => "Pragma",
        b"Range" => "Range",
        b"Referer" => "Referer",
        b"Server" => "Server",
        b"Set-Cookie" => "Set-Cookie",
        b"Transfer-Encoding" => "Transfer-Encoding",
        b"Vary" => "Vary",
        b"Via" => "Via",
        b"X-Cache" => "X-Cache",
        _ => return None,
    })
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

fn sanitise_value(value: String) -> String {
    // The common case, checked in one pass: no CR, LF or NUL and nothing to trim.
    let bytes = value.as_bytes();
    let clean = !bytes.iter().fold(false, |bad, &b| {
        bad | (b == b'\r') | (b == b'\n') | (b == 0)
    }) && !matches!(bytes.first(), Some(b' ' | b'\t'))
        && !matches!(bytes.last(), Some(b' ' | b'\t'));
    if clean {
        return value;
    }
    let value = if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        value.replace(['\r', '\n', '\0'], " ")
    } else {
        value
    };
    let trimmed = value.trim_matches([' ', '\t']);
    if trimmed.len() == value.len() {
        value
    } else {
        trimmed.to_owned()
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
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Adds a field line after the existing ones (a repeated name adds another line).
    /// A name that is not a token is ignored.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        if !is_token(&name) {
            return;
        }
        self.entries
            .push((Name::Owned(name), sanitise_value(value.into())));
    }

    /// Adds a field line that the parser has already validated.
    pub(crate) fn append_parsed(&mut self, name: Name, value: String) {
        self.entries.push((name, value));
    }

    /// Replaces every line named `name` by one line with `value` (at the first one's place, or at
    /// the end).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        if !is_token(&name) {
            return;
        }
        let value = sanitise_value(value.into());
        match self.position(&name) {
            Some(index) => {
                self.entries[index].1 = value;
                let mut seen = false;
                self.entries.retain(|(n, _)| {
                    if n.eq_ignore_ascii_case(&name) {
                        let keep = !seen;
                        seen = true;
                        keep
                    } else {
                        true
                    }
                });
            }
            None => self.entries.push((Name::Owned(name), value)),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The value of the first line named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .map(|index| self.entries[index].1.as_str())
    }

    /// The values of every line named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many lines are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether at least one line is named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// The elements of the comma-separated list formed by every line named `name`
    /// (RFC 9110 §5.6.1), trimmed, empty elements skipped; commas inside quoted strings do not
    /// split.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list)
    }

    /// Whether the list `name` holds `token` (case-insensitive), e.g. `Connection: close`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|element| element.eq_ignore_ascii_case(token))
    }

    /// Removes every line named `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.entries.len()
    }

    /// Keeps only the lines for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|(n, v)| keep(n, v));
    }

    /// Every line as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every line.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Writes every line as `name: value\r\n` (no final empty line).
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.entries {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum()
    }
}

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

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for HeaderMap {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_themselves_and_only_exact_spellings_match() {
        for name in [
            "Host",
            "host",
            "User-Agent",
            "user-agent",
            "Accept",
            "accept",
            "Accept-Encoding",
            "accept-encoding",
            "Accept-Language",
            "Accept-Ranges",
            "Age",
            "Cache-Control",
            "cache-control",
            "Connection",
            "connection",
            "Content-Encoding",
            "Content-Length",
            "content-length",
            "Content-Range",
            "Content-Type",
            "content-type",
            "Cookie",
            "Date",
            "ETag",
            "Etag",
            "Expires",
            "If-Modified-Since",
            "If-None-Match",
            "Keep-Alive",
            "Last-Modified",
            "Location",
            "Pragma",
            "Range",
            "Referer",
            "Server",
            "Set-Cookie",
            "Transfer-Encoding",
            "Vary",
            "Via",
            "X-Cache",
        ] {
            assert_eq!(known_name(name.as_bytes()), Some(name));
        }
        assert_eq!(known_name(b"HOST"), None);
        assert_eq!(known_name(b"X-Custom"), None);
        // Parsed names keep their spelling whether or not they are common.
        let parsed = crate::parse_response(
            b"HTTP/1.1 200 OK\r\nSERVER: x\r\nServer: y\r\nX-Custom: z\r\n\r\n",
            &crate::Limits::default(),
            &crate::Method::Get,
        )
        .unwrap()
        .unwrap();
        let names: Vec<&str> = parsed.head.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["SERVER", "Server", "X-Custom"]);
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
