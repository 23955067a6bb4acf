//! Read access to header fields as bytes, and what a cache stores of them (RFC 9111 §3.1),
//! over http-proto's one header model: the fields of a request, of a response and of a stored
//! entry are all [`HeaderMap`]s.

pub use http_proto::HeaderMap;

/// Anything that can list the values of a header field by (case-insensitive) name.
pub trait Fields {
    /// Every value of field `name` in order (one entry per field line).
    fn field_values<'a>(&'a self, name: &str) -> Vec<&'a [u8]>;

    /// The first value of field `name`.
    fn field<'a>(&'a self, name: &str) -> Option<&'a [u8]> {
        self.field_values(name).into_iter().next()
    }

    /// Whether field `name` is present.
    fn has_field(&self, name: &str) -> bool {
        !self.field_values(name).is_empty()
    }
}

impl Fields for http_proto::HeaderMap {
    fn field_values<'a>(&'a self, name: &str) -> Vec<&'a [u8]> {
        self.iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_bytes())
            .collect()
    }
}

/// The members of list field `name` in lower case (token lists such as `Connection` and
/// `Vary`), split by http-proto's list splitter.
pub fn list_members(fields: &HeaderMap, name: &str) -> Vec<String> {
    fields.list(name).map(str::to_ascii_lowercase).collect()
}

/// Whether a field (its lower-case name) is never stored nor forwarded from the store:
/// http-proto's hop-by-hop list (RFC 9110 §7.6.1, proxy credentials, RFC 9111 §3.1) and `Age`
/// (recomputed on every use).
pub fn not_stored(lower: &str) -> bool {
    lower == "age" || http_proto::is_hop_by_hop(lower)
}

/// Removes from `fields` the fields a cache must not store: hop-by-hop fields, those named in
/// `Connection`, proxy authentication fields (§3.1), `Age` (recomputed on every use), and the
/// fields named by a qualified `private` or `no-cache` directive (§5.2.2.4, §5.2.2.7).
pub fn strip_for_storage(fields: &mut HeaderMap, also: &[String]) {
    let connection = list_members(fields, "connection");
    fields.retain(|name, _| {
        let lower = name.to_ascii_lowercase();
        !not_stored(&lower) && !connection.contains(&lower) && !also.contains(&lower)
    });
}

/// Removes every instance of `name`.
pub fn remove(fields: &mut HeaderMap, name: &str) {
    fields.remove(name);
}

/// Replaces every instance of `name` by one line with `value`, appended at the end.
pub fn set(fields: &mut HeaderMap, name: &str, value: &str) {
    fields.remove(name);
    fields.append(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().copied().collect()
    }

    #[test]
    fn strips_hop_by_hop_and_connection_listed() {
        let mut fields = list(&[
            ("Connection", "close, X-Hop"),
            ("X-Hop", "1"),
            ("Content-Type", "text/plain"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Authenticate", "Basic"),
            ("Set-Cookie", "a=b"),
        ]);
        strip_for_storage(&mut fields, &["set-cookie".to_string()]);
        assert_eq!(fields, list(&[("Content-Type", "text/plain")]));
    }

    #[test]
    fn case_insensitive_lookup() {
        let fields = list(&[("ETag", "\"a\""), ("etag", "\"b\"")]);
        assert_eq!(fields.field_values("ETAG"), vec![&b"\"a\""[..], b"\"b\""]);
    }
}
