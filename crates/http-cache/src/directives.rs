//! `Cache-Control` directives (RFC 9111 §5.2, RFC 5861 §3–4) and `Pragma` (§5.4), parsed
//! from field values into one typed set.

/// RFC 9111 §1.2.2: the greatest delta-seconds value a cache needs to represent; larger values
/// (and overflowing calculations) are clamped to it.
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// A list-valued directive that may carry field names: `no-cache` or `private`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldScope {
    /// The unqualified form: the directive applies to the whole response.
    All,
    /// The qualified form: only the listed fields (lowercase).
    Fields(Vec<String>),
}

/// The `max-stale` request directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxStale {
    /// No argument: a stale response of any staleness is acceptable.
    Any,
    /// Staleness of at most this many seconds is acceptable.
    Seconds(u64),
}

impl MaxStale {
    /// Whether a response `staleness` seconds past its freshness lifetime is acceptable.
    pub fn allows(self, staleness: u64) -> bool {
        match self {
            MaxStale::Any => true,
            MaxStale::Seconds(limit) => staleness <= limit,
        }
    }
}

/// Every cache directive this cache understands, from a request or a response.
///
/// Unknown directives are ignored (RFC 9111 §5.2.3). When a directive appears more than once the
/// first occurrence wins (§4.2.1); a duration directive with an invalid argument counts as 0 so
/// that the response is stale (§4.2.1: "consider responses that have invalid freshness
/// information ... to be stale").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age` (request §5.2.1.1, response §5.2.2.1).
    pub max_age: Option<u64>,
    /// `s-maxage` (response §5.2.2.10).
    pub s_maxage: Option<u64>,
    /// `max-stale` (request §5.2.1.2).
    pub max_stale: Option<MaxStale>,
    /// `min-fresh` (request §5.2.1.3).
    pub min_fresh: Option<u64>,
    /// `no-cache` (request §5.2.1.4; response §5.2.2.4, possibly with field names).
    pub no_cache: Option<FieldScope>,
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-transform` (§5.2.1.6, §5.2.2.6).
    pub no_transform: bool,
    /// `only-if-cached` (request §5.2.1.7).
    pub only_if_cached: bool,
    /// `must-revalidate` (response §5.2.2.2).
    pub must_revalidate: bool,
    /// `must-understand` (response §5.2.2.3).
    pub must_understand: bool,
    /// `public` (response §5.2.2.9).
    pub public: bool,
    /// `private` (response §5.2.2.7, possibly with field names).
    pub private: Option<FieldScope>,
    /// `proxy-revalidate` (response §5.2.2.8).
    pub proxy_revalidate: bool,
    /// `immutable` (RFC 8246): the response will not change while fresh.
    pub immutable: bool,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4), in a response or a request.
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field value of one message (all lines, in order).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut control = CacheControl::default();
        for value in values {
            for (name, argument) in split_directives(value) {
                control.apply(&name, argument);
            }
        }
        control
    }

    /// Parses one field value (convenience for tests and single-line fields).
    pub fn parse_str(value: &str) -> Self {
        Self::parse([value.as_bytes()])
    }

    fn apply(&mut self, name: &str, argument: Option<String>) {
        let seconds = || delta_seconds(argument.as_deref());
        match name {
            "max-age" => set_once(&mut self.max_age, seconds()),
            "s-maxage" => set_once(&mut self.s_maxage, seconds()),
            "min-fresh" => set_once(&mut self.min_fresh, seconds()),
            "stale-while-revalidate" => set_once(&mut self.stale_while_revalidate, seconds()),
            "stale-if-error" => set_once(&mut self.stale_if_error, seconds()),
            "max-stale" => {
                let value = match argument.as_deref() {
                    None => MaxStale::Any,
                    // An unparsable argument is read conservatively: no staleness at all.
                    Some(text) => MaxStale::Seconds(parse_delta(text).unwrap_or(0)),
                };
                set_once(&mut self.max_stale, value);
            }
            "no-cache" => set_once(&mut self.no_cache, field_scope(argument.as_deref())),
            "private" => set_once(&mut self.private, field_scope(argument.as_deref())),
            "no-store" => self.no_store = true,
            "no-transform" => self.no_transform = true,
            "only-if-cached" => self.only_if_cached = true,
            "must-revalidate" => self.must_revalidate = true,
            "must-understand" => self.must_understand = true,
            "public" => self.public = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "immutable" => self.immutable = true,
            // RFC 9111 §5.2.3: "A cache MUST ignore unrecognized cache directives."
            _ => {}
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// A delta-seconds argument; invalid or missing arguments give 0 (stale), too-large ones clamp.
fn delta_seconds(argument: Option<&str>) -> u64 {
    argument.and_then(parse_delta).unwrap_or(0)
}

/// RFC 9111 §1.2.2: `delta-seconds = 1*DIGIT`, clamped at [`DELTA_SECONDS_MAX`].
pub fn parse_delta(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u64 = 0;
    for digit in text.bytes() {
        value = value
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'));
        if value >= DELTA_SECONDS_MAX {
            return Some(DELTA_SECONDS_MAX);
        }
    }
    Some(value)
}

/// The scope of a `no-cache` / `private` argument: its comma-separated field names (lower
/// case), or the whole response when there are none.
pub(crate) fn field_scope(argument: Option<&str>) -> FieldScope {
    match argument {
        None => FieldScope::All,
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect();
            if names.is_empty() {
                FieldScope::All
            } else {
                FieldScope::Fields(names)
            }
        }
    }
}

/// Splits `#cache-directive` into lowercase names and unquoted arguments. Commas inside quoted
/// strings do not split; malformed members (empty names) are skipped.
fn split_directives(value: &[u8]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut index = 0;
    let len = value.len();
    while index < len {
        // Skip OWS and empty list members.
        while index < len && matches!(value[index], b' ' | b'\t' | b',') {
            index += 1;
        }
        let name_start = index;
        while index < len && !matches!(value[index], b'=' | b',' | b' ' | b'\t') {
            index += 1;
        }
        let name = String::from_utf8_lossy(&value[name_start..index]).to_ascii_lowercase();
        while index < len && matches!(value[index], b' ' | b'\t') {
            index += 1;
        }
        let mut argument = None;
        if index < len && value[index] == b'=' {
            index += 1;
            while index < len && matches!(value[index], b' ' | b'\t') {
                index += 1;
            }
            if index < len && value[index] == b'"' {
                index += 1;
                let mut text = Vec::new();
                while index < len && value[index] != b'"' {
                    if value[index] == b'\\' && index + 1 < len {
                        index += 1;
                    }
                    text.push(value[index]);
                    index += 1;
                }
                index += 1; // closing quote (or end)
                argument = Some(String::from_utf8_lossy(&text).into_owned());
            } else {
                let start = index;
                while index < len && !matches!(value[index], b',' | b' ' | b'\t') {
                    index += 1;
                }
                argument = Some(String::from_utf8_lossy(&value[start..index]).into_owned());
            }
        }
        // Anything else up to the next comma is junk of a malformed member.
        while index < len && value[index] != b',' {
            index += 1;
        }
        if !name.is_empty() {
            out.push((name, argument));
        }
    }
    out
}

/// RFC 9111 §5.4: `Pragma: no-cache` in a request without `Cache-Control` acts as
/// `Cache-Control: no-cache` (for HTTP/1.0 clients).
pub fn pragma_no_cache<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().any(|value| {
        value
            .split(|&b| b == b',')
            .any(|member| member.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_response_directives() {
        let control =
            CacheControl::parse_str("public, max-age=60, s-maxage=\"120\", must-revalidate");
        assert!(control.public && control.must_revalidate);
        assert_eq!(control.max_age, Some(60));
        assert_eq!(control.s_maxage, Some(120));
    }

    #[test]
    fn case_insensitive_names_and_ows() {
        let control = CacheControl::parse_str("  No-Store ,MAX-AGE = 5 ,,");
        assert!(control.no_store);
        assert_eq!(control.max_age, Some(5));
    }

    #[test]
    fn qualified_no_cache_and_private_keep_field_names() {
        let control = CacheControl::parse_str("no-cache=\"Set-Cookie, X-Foo\", private=\"a\"");
        assert_eq!(
            control.no_cache,
            Some(FieldScope::Fields(vec![
                "set-cookie".into(),
                "x-foo".into()
            ]))
        );
        assert_eq!(control.private, Some(FieldScope::Fields(vec!["a".into()])));
        assert_eq!(
            CacheControl::parse_str("no-cache").no_cache,
            Some(FieldScope::All)
        );
    }

    #[test]
    fn first_occurrence_wins_and_invalid_is_zero() {
        assert_eq!(
            CacheControl::parse_str("max-age=10, max-age=20").max_age,
            Some(10)
        );
        assert_eq!(CacheControl::parse_str("max-age=abc").max_age, Some(0));
        assert_eq!(CacheControl::parse_str("max-age=-1").max_age, Some(0));
        assert_eq!(CacheControl::parse_str("max-age").max_age, Some(0));
    }

    #[test]
    fn overflow_clamps_to_2_pow_31() {
        assert_eq!(
            CacheControl::parse_str("max-age=99999999999999999999999").max_age,
            Some(DELTA_SECONDS_MAX)
        );
    }

    #[test]
    fn max_stale_forms() {
        assert_eq!(
            CacheControl::parse_str("max-stale").max_stale,
            Some(MaxStale::Any)
        );
        assert_eq!(
            CacheControl::parse_str("max-stale=7").max_stale,
            Some(MaxStale::Seconds(7))
        );
    }

    #[test]
    fn unknown_directives_are_ignored_and_quoted_commas_do_not_split() {
        let control = CacheControl::parse_str("community=\"UCI, x\", max-age=3, foo");
        assert_eq!(control.max_age, Some(3));
        assert_eq!(
            control,
            CacheControl {
                max_age: Some(3),
                ..Default::default()
            }
        );
    }

    #[test]
    fn multiple_lines_combine() {
        let control =
            CacheControl::parse([&b"max-age=3"[..], b"no-transform", b"stale-if-error=30"]);
        assert!(control.no_transform);
        assert_eq!(control.stale_if_error, Some(30));
    }

    #[test]
    fn pragma() {
        assert!(pragma_no_cache([&b"foo, No-Cache"[..]]));
        assert!(!pragma_no_cache([&b"no-cachex"[..]]));
    }

    #[test]
    fn never_panics_on_any_bytes() {
        let samples: [&[u8]; 6] = [
            b"\"",
            b"a=\"\\",
            b"=,=,",
            b"\xff\xfe=\"\xff",
            b"max-age=\"",
            b"\\\\\\",
        ];
        for sample in samples {
            for end in 0..=sample.len() {
                let _ = CacheControl::parse([&sample[..end]]);
            }
        }
        let mut state: u32 = 12345;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..24)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    b"=,\" \\amx-0129"[(state >> 16) as usize % 13]
                })
                .collect();
            let _ = CacheControl::parse([&bytes[..]]);
        }
    }
}
