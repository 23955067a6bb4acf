//! Targeted cache-control fields (RFC 9213): `CDN-Cache-Control`, and which set of response
//! directives a cache of a given [`CacheKind`] obeys.
//!
//! RFC 9213 §2.1: a cache with a target list uses the first targeted field on it that has a
//! valid, non-empty value, and then "MUST ignore the Cache-Control and Expires header fields
//! in that response"; without one it falls back to them. A cache whose target list does not
//! name a field "MUST NOT change [its] behavior" because of it and the field "MUST be passed
//! through": this crate never strips a targeted field (it is stored and forwarded as any
//! other end-to-end field), and §3 says CDN caches that use `CDN-Cache-Control` "will
//! typically forward this header so that downstream CDN caches can use it as well".

use crate::directives::{field_scope, CacheControl, FieldScope, DELTA_SECONDS_MAX};
use crate::fields::Fields;
use crate::freshness::CacheKind;
use crate::structured::{parse_dictionary, BareItem, MemberValue};

/// RFC 9213 §3: the field targeted at CDN caches (lower case, as field names are compared).
pub const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// Where a response's cache directives came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlSource {
    /// `Cache-Control` (and `Expires` counts).
    CacheControl,
    /// This targeted field (lower-case name); `Cache-Control` and `Expires` are ignored.
    Targeted(&'static str),
}

/// The response directives a cache obeys for one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseControl {
    /// The directives.
    pub control: CacheControl,
    /// Which field they came from.
    pub source: ControlSource,
}

impl ResponseControl {
    /// Whether `Expires` counts (RFC 9213 §2.1: not when a targeted field is used).
    pub fn honours_expires(&self) -> bool {
        self.source == ControlSource::CacheControl
    }
}

/// RFC 9213 §2.1: the directives a cache of `kind` takes from response `fields`: those of the
/// first field on its target list with a valid, non-empty value, else `Cache-Control`.
pub fn response_control(fields: &impl Fields, kind: CacheKind) -> ResponseControl {
    for &name in kind.target_list() {
        let values = fields.field_values(name);
        if values.is_empty() {
            continue;
        }
        if let Some(control) = CacheControl::parse_targeted(values) {
            return ResponseControl {
                control,
                source: ControlSource::Targeted(name),
            };
        }
    }
    ResponseControl {
        control: CacheControl::parse(fields.field_values("cache-control")),
        source: ControlSource::CacheControl,
    }
}

/// What a directive's value must be (RFC 9213 §2.2 maps the Cache-Control argument forms
/// onto structured types).
enum Expect {
    /// delta-seconds: a non-negative Integer.
    Seconds,
    /// No argument: Boolean (`no-store` alone is `?1`).
    Flag,
    /// Boolean, or a String listing field names (`no-cache`, `private`).
    FlagOrFields,
}

/// The type a response directive's value has, `None` for directives this cache does not
/// apply from a response (request-only or unknown ones: ignored, RFC 9111 §5.2.3).
fn expected(name: &str) -> Option<Expect> {
    Some(match name {
        "max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error" => Expect::Seconds,
        "no-store" | "no-transform" | "must-revalidate" | "must-understand" | "public"
        | "proxy-revalidate" | "immutable" => Expect::Flag,
        "no-cache" | "private" => Expect::FlagOrFields,
        _ => return None,
    })
}

impl CacheControl {
    /// RFC 9213 §2.2: a targeted field's lines as an `sf-dictionary` of response directives.
    /// `None` when the field must be ignored: empty, not a valid dictionary ("If a targeted
    /// field in a given response is empty, or a parsing error is encountered, that field MUST
    /// be ignored by the cache"), or a known directive of the wrong type (RFC 8941 §1.2:
    /// "violating field-specific constraints should have the same effect", e.g.
    /// `max-age="60"` or `max-age=-1`). Parameters are ignored (§2.2); a key given twice
    /// counts with its last value, as dictionaries do.
    pub fn parse_targeted<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<CacheControl> {
        let members = parse_dictionary(lines).ok()?;
        if members.is_empty() {
            return None;
        }
        let mut control = CacheControl::default();
        for (name, value) in members {
            let Some(expect) = expected(&name) else {
                continue;
            };
            let MemberValue::Item(item) = value else {
                return None;
            };
            match (expect, item.bare) {
                (Expect::Seconds, BareItem::Integer(seconds)) if seconds >= 0 => {
                    // RFC 9111 §1.2.2: larger values are clamped to 2^31.
                    let seconds = u64::try_from(seconds)
                        .unwrap_or(DELTA_SECONDS_MAX)
                        .min(DELTA_SECONDS_MAX);
                    control.set_seconds(&name, seconds);
                }
                (Expect::Flag | Expect::FlagOrFields, BareItem::Boolean(false)) => {}
                (Expect::Flag, BareItem::Boolean(true)) => control.set_flag(&name),
                (Expect::FlagOrFields, BareItem::Boolean(true)) => {
                    control.set_scope(&name, FieldScope::All)
                }
                // The field names of a qualified `no-cache` / `private` are a String (§2.2); a
                // single name as a Token is read the same way.
                (Expect::FlagOrFields, BareItem::String(names) | BareItem::Token(names)) => {
                    control.set_scope(&name, field_scope(Some(&names)))
                }
                _ => return None,
            }
        }
        Some(control)
    }

    fn set_seconds(&mut self, name: &str, seconds: u64) {
        let slot = match name {
            "max-age" => &mut self.max_age,
            "s-maxage" => &mut self.s_maxage,
            "stale-while-revalidate" => &mut self.stale_while_revalidate,
            _ => &mut self.stale_if_error,
        };
        *slot = Some(seconds);
    }

    fn set_flag(&mut self, name: &str) {
        let slot = match name {
            "no-store" => &mut self.no_store,
            "no-transform" => &mut self.no_transform,
            "must-revalidate" => &mut self.must_revalidate,
            "must-understand" => &mut self.must_understand,
            "public" => &mut self.public,
            "proxy-revalidate" => &mut self.proxy_revalidate,
            _ => &mut self.immutable,
        };
        *slot = true;
    }

    fn set_scope(&mut self, name: &str, scope: FieldScope) {
        if name == "no-cache" {
            self.no_cache = Some(scope);
        } else {
            self.private = Some(scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_proto::HeaderMap;

    fn targeted(value: &str) -> Option<CacheControl> {
        CacheControl::parse_targeted([value.as_bytes()])
    }

    fn fields(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().copied().collect()
    }

    #[test]
    fn directives_map_onto_cache_control() {
        assert_eq!(
            targeted(
                "max-age=600, s-maxage=60, no-store, must-revalidate, private=\"Set-Cookie, X-A\""
            ),
            Some(CacheControl {
                max_age: Some(600),
                s_maxage: Some(60),
                no_store: true,
                must_revalidate: true,
                private: Some(FieldScope::Fields(vec!["set-cookie".into(), "x-a".into()])),
                ..Default::default()
            })
        );
        assert_eq!(
            targeted("no-cache, stale-while-revalidate=30, stale-if-error=300"),
            Some(CacheControl {
                no_cache: Some(FieldScope::All),
                stale_while_revalidate: Some(30),
                stale_if_error: Some(300),
                ..Default::default()
            })
        );
    }

    #[test]
    fn parameters_false_unknown_and_duplicates() {
        // Parameters ignored; `?0` is the directive's absence; unknown directives of any type
        // (and request-only ones) ignored; a later duplicate wins.
        assert_eq!(
            targeted("max-age=5;foo=bar, no-store=?0, none, x=(1 2), max-stale=3, max-age=7"),
            Some(CacheControl {
                max_age: Some(7),
                ..Default::default()
            })
        );
        // RFC 9213 §3.1's `none`: valid and non-empty, so it is used (and means nothing).
        assert_eq!(targeted("none"), Some(CacheControl::default()));
    }

    #[test]
    fn huge_max_age_is_clamped() {
        assert_eq!(
            targeted("max-age=999999999999999").and_then(|control| control.max_age),
            Some(DELTA_SECONDS_MAX)
        );
    }

    #[test]
    fn invalid_or_empty_fields_are_ignored() {
        for value in [
            "",
            "  ",
            "max-age=60,",
            "Max-Age=60",
            "max-age=\"60\"",
            "max-age=-1",
            "max-age=1.5",
            "max-age=(60)",
            "no-store=1",
            "private=:aGk=:",
            "max-age=60 no-store",
        ] {
            assert_eq!(targeted(value), None, "{value:?}");
        }
    }

    #[test]
    fn target_list_selects_the_field() {
        let both = fields(&[
            ("Cache-Control", "no-store"),
            ("CDN-Cache-Control", "max-age=600"),
            ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ]);
        let edge = response_control(&both, CacheKind::CdnEdge);
        assert_eq!(edge.source, ControlSource::Targeted(CDN_CACHE_CONTROL));
        assert_eq!(edge.control.max_age, Some(600));
        assert!(!edge.control.no_store && !edge.honours_expires());
        // Not on the target list: no change (RFC 9213 §2.1).
        let proxy = response_control(&both, CacheKind::Shared);
        assert_eq!(proxy.source, ControlSource::CacheControl);
        assert!(proxy.control.no_store && proxy.honours_expires());
        // Invalid: fall back to Cache-Control.
        let invalid = fields(&[
            ("Cache-Control", "max-age=5"),
            ("CDN-Cache-Control", "max-age=600,"),
        ]);
        let fallback = response_control(&invalid, CacheKind::CdnEdge);
        assert_eq!(fallback.source, ControlSource::CacheControl);
        assert_eq!(fallback.control.max_age, Some(5));
        // Several lines make one dictionary.
        let lines = fields(&[
            ("CDN-Cache-Control", "max-age=600"),
            ("cdn-cache-control", "must-revalidate"),
        ]);
        let combined = response_control(&lines, CacheKind::CdnEdge).control;
        assert!(combined.must_revalidate && combined.max_age == Some(600));
    }
}
