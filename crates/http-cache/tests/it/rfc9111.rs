//! RFC 9111 (HTTP Caching): the MUST-level requirements of a shared cache, by section.

use crate::support::*;
use http_cache::directives::{CacheControl, DELTA_SECONDS_MAX};
use http_cache::fields::{strip_for_storage, Fields};
use http_cache::freshness::{
    freshness_lifetime, AgeInputs, CacheKind, Expires, FreshnessInputs, LifetimeSource,
};
use http_cache::key::{invalidation_uris, selecting_values, variant_matches, vary_names, CacheKey};
use http_cache::policy::{decide_reuse, invalidates, NotStorable, Reuse};
use http_cache::validation::{
    conditional_fields, evaluate_client_conditions, freshen_fields, freshen_target,
    ClientCondition, FreshenTarget,
};

mod s1_2_2_delta_seconds {
    use super::*;

    /// "If a cache receives a delta-seconds value greater than the greatest integer it can
    /// represent, or if any of its subsequent calculations overflows, the cache MUST consider
    /// the value to be 2147483648 (2^31) or the greatest positive integer it can conveniently
    /// represent."
    #[test]
    fn overflow_is_2_pow_31_never_negative() {
        let control = CacheControl::parse_str("max-age=18446744073709551616000");
        assert_eq!(control.max_age, Some(DELTA_SECONDS_MAX));
        let inputs = AgeInputs {
            age_value: DELTA_SECONDS_MAX,
            date_value: Some(at(0)),
            request_time: at(0),
            response_time: at(50),
        };
        assert_eq!(inputs.corrected_initial_age(), DELTA_SECONDS_MAX);
    }
}

mod s2_cache_key {
    use super::*;

    /// "The base cache key comprises the request method and target URI used to retrieve the
    /// stored response."
    #[test]
    fn key_is_method_and_target_uri() {
        let get = CacheKey::new("GET", "http", "example.com", "/a?x=1");
        assert_ne!(get, CacheKey::new("HEAD", "http", "example.com", "/a?x=1"));
        assert_ne!(get, CacheKey::new("GET", "http", "example.com", "/a?x=2"));
        assert_ne!(get, CacheKey::new("GET", "http", "example.org", "/a?x=1"));
        assert_eq!(
            get,
            CacheKey::new("GET", "HTTP", "EXAMPLE.com:80", "/a?x=1")
        );
    }
}

mod s3_storing {
    use super::*;

    /// "A cache MUST NOT store a response to a request unless: the request method is
    /// understood by the cache".
    #[test]
    fn only_understood_methods() {
        assert_eq!(
            storable_for(&request("POST", ""), 200, "max-age=60", false),
            Err(NotStorable::Method)
        );
        assert_eq!(
            storable_for(&request("BREW", ""), 200, "max-age=60", false),
            Err(NotStorable::Method)
        );
    }

    /// "... the response status code is final".
    #[test]
    fn only_final_statuses() {
        assert_eq!(
            storable(100, "max-age=60"),
            Err(NotStorable::StatusNotFinal)
        );
    }

    /// "... if the response status code is 206 or 304, or the must-understand cache directive
    /// is present: the cache understands the response status code".
    #[test]
    fn partial_and_not_modified_are_not_stored_and_must_understand_needs_known_status() {
        assert_eq!(
            storable(206, "max-age=60"),
            Err(NotStorable::StatusNotUnderstood)
        );
        assert_eq!(
            storable(304, "max-age=60"),
            Err(NotStorable::StatusNotUnderstood)
        );
        assert_eq!(
            storable(299, "max-age=60, must-understand"),
            Err(NotStorable::StatusNotUnderstood)
        );
        // §5.2.2.3: with an understood status, must-understand overrides the no-store fallback.
        assert_eq!(
            storable(200, "max-age=60, must-understand, no-store"),
            Ok(())
        );
    }

    /// "... the no-store cache directive is not present in the response".
    #[test]
    fn no_store_response() {
        assert_eq!(
            storable(200, "max-age=60, no-store"),
            Err(NotStorable::ResponseNoStore)
        );
    }

    /// "... if the cache is shared: the private response directive is either not present or
    /// allows a shared cache to store a modified response".
    #[test]
    fn private_unqualified_not_stored_qualified_stored_without_fields() {
        assert_eq!(
            storable(200, "max-age=60, private"),
            Err(NotStorable::Private)
        );
        assert_eq!(storable(200, "max-age=60, private=\"set-cookie\""), Ok(()));
        // §5.2.2.7: "a shared cache MUST NOT store the listed header fields".
        let mut stored = fields(&[("Set-Cookie", "id=1"), ("Content-Type", "text/html")]);
        strip_for_storage(&mut stored, &["set-cookie".to_string()]);
        assert!(!stored.has_field("set-cookie"));
        assert!(stored.has_field("content-type"));
    }

    /// "... the response contains at least one of: a public response directive; ... an
    /// Expires header field; a max-age response directive; if the cache is shared, an
    /// s-maxage response directive; ... a status code that is defined as heuristically
    /// cacheable".
    #[test]
    fn needs_explicit_freshness_or_heuristic_status() {
        assert_eq!(storable(200, ""), Ok(()));
        assert_eq!(storable(302, ""), Err(NotStorable::NoFreshnessInformation));
        assert_eq!(storable(302, "max-age=5"), Ok(()));
        assert_eq!(storable(302, "s-maxage=5"), Ok(()));
        assert_eq!(storable(302, "public"), Ok(()));
        assert_eq!(storable_for(&request("GET", ""), 302, "", true), Ok(()));
        assert_eq!(storable(404, ""), Ok(()));
    }

    /// §5.2.1.5: "The no-store request directive indicates that a cache MUST NOT store any
    /// part of either this request or any response to it."
    #[test]
    fn no_store_request() {
        assert_eq!(
            storable_for(&request("GET", "no-store"), 200, "max-age=60", false),
            Err(NotStorable::RequestNoStore)
        );
    }
}

mod s3_1_storing_fields {
    use super::*;

    /// "Header fields that are specific to a client's proxy configuration MUST NOT be stored
    /// ... Proxy-Authenticate, Proxy-Authentication-Info, and Proxy-Authorization"; the
    /// Connection header field and the fields listed in it are removed before forwarding.
    #[test]
    fn proxy_and_hop_by_hop_fields_are_not_stored() {
        let mut stored = fields(&[
            ("Proxy-Authenticate", "Basic"),
            ("Proxy-Authentication-Info", "x"),
            ("Connection", "X-Secret"),
            ("X-Secret", "1"),
            ("X-Custom-Unknown", "kept"),
        ]);
        strip_for_storage(&mut stored, &[]);
        assert_eq!(stored, fields(&[("X-Custom-Unknown", "kept")]));
    }
}

mod s3_5_authorization {
    use super::*;

    /// "A shared cache MUST NOT use a cached response to a request with an Authorization
    /// header field to satisfy any subsequent request unless the response contains a
    /// Cache-Control field with a response directive that allows it to be stored by a shared
    /// cache": must-revalidate, public, s-maxage.
    #[test]
    fn authorization_requires_explicit_permission() {
        let mut authorized = request("GET", "");
        authorized.has_authorization = true;
        assert_eq!(
            storable_for(&authorized, 200, "max-age=60", false),
            Err(NotStorable::Authorization)
        );
        assert_eq!(
            storable_for(&authorized, 200, "max-age=60, public", false),
            Ok(())
        );
        assert_eq!(
            storable_for(&authorized, 200, "max-age=60, must-revalidate", false),
            Ok(())
        );
        assert_eq!(storable_for(&authorized, 200, "s-maxage=60", false), Ok(()));
    }
}

mod s4_constructing_responses {
    use super::*;

    /// "the stored response does not contain the no-cache directive, unless it is
    /// successfully validated".
    #[test]
    fn no_cache_response_always_validated() {
        let entry = stored("max-age=60, no-cache", 60);
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(1)),
            Reuse::Revalidate
        );
    }

    /// "the stored response is either: fresh, or allowed to be served stale, or successfully
    /// validated."
    #[test]
    fn stale_without_permission_is_validated() {
        let entry = stored("max-age=60", 60);
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(59)),
            Reuse::Serve {
                age: 59,
                stale: false
            }
        );
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(60)),
            Reuse::Revalidate
        );
    }

    /// "When a stored response is used to satisfy a request without validation, a cache MUST
    /// generate an Age header field ... with a value equal to the stored response's
    /// current_age".
    #[test]
    fn age_is_current_age() {
        let mut entry = stored("max-age=600", 600);
        entry.corrected_initial_age = 30;
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(100)),
            Reuse::Serve {
                age: 130,
                stale: false
            }
        );
    }

    /// "A cache MUST write through requests with methods that are unsafe to the origin
    /// server" (and §4.4 invalidation follows a non-error response).
    #[test]
    fn unsafe_methods_invalidate_on_non_error() {
        assert!(invalidates("POST", 200));
        assert!(invalidates("DELETE", 204));
        assert!(invalidates("PUT", 303));
        assert!(
            invalidates("FROB", 200),
            "methods of unknown safety count as unsafe"
        );
        assert!(!invalidates("POST", 404));
        assert!(!invalidates("POST", 500));
        assert!(!invalidates("GET", 200));
        assert!(!invalidates("HEAD", 200));
    }
}

mod s4_1_vary {
    use super::*;

    /// "it MUST NOT use that response unless all the selecting header fields nominated by the
    /// Vary header field match in both the original request and the presented request."
    #[test]
    fn selecting_fields_must_match() {
        let names = vary_names(&fields(&[("Vary", "Accept-Language")])).unwrap();
        let stored = selecting_values(&names, &fields(&[("Accept-Language", "fr")]));
        assert!(variant_matches(
            &stored,
            &fields(&[("accept-language", "fr")])
        ));
        assert!(!variant_matches(
            &stored,
            &fields(&[("Accept-Language", "en")])
        ));
    }

    /// "If (after any normalization that might take place) a header field is absent from a
    /// request, it can only match another request if it is also absent there."
    #[test]
    fn absent_matches_only_absent() {
        let names = vary_names(&fields(&[("Vary", "Accept-Language")])).unwrap();
        let stored = selecting_values(&names, &fields(&[]));
        assert!(variant_matches(&stored, &fields(&[("Other", "x")])));
        assert!(!variant_matches(
            &stored,
            &fields(&[("Accept-Language", "fr")])
        ));
    }

    /// "A Vary header field value containing a member "*" always fails to match."
    #[test]
    fn star_never_matches() {
        assert_eq!(vary_names(&fields(&[("Vary", "Accept, *")])), None);
    }

    /// Matching allows "adding or removing whitespace" and "combining multiple header fields
    /// with the same field name".
    #[test]
    fn whitespace_and_line_combining_normalised() {
        let names = vec!["accept-encoding".to_string()];
        let stored = selecting_values(&names, &fields(&[("Accept-Encoding", "gzip,br")]));
        assert!(variant_matches(
            &stored,
            &fields(&[("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")])
        ));
        assert!(variant_matches(
            &stored,
            &fields(&[("Accept-Encoding", " gzip ,  br ")])
        ));
    }
}

mod s4_2_1_freshness_lifetime {
    use super::*;

    fn lifetime(control: &str, expires: Option<Expires>, kind: CacheKind) -> (u64, LifetimeSource) {
        let control = CacheControl::parse_str(control);
        let inputs = FreshnessInputs {
            control: &control,
            expires,
            date: at(0),
            last_modified: Some(at(0) - std::time::Duration::from_secs(1000)),
            heuristic_allowed: true,
        };
        let lifetime = freshness_lifetime(&inputs, kind);
        (lifetime.seconds, lifetime.source)
    }

    /// "If the cache is shared and the s-maxage response directive is present, use its value,
    /// or If the max-age response directive is present, use its value, or If the Expires
    /// response header field is present, use its value minus the value of the Date response
    /// header field".
    #[test]
    fn first_match_order() {
        let expires = Some(Expires::At(at(300)));
        assert_eq!(
            lifetime("s-maxage=10, max-age=20", expires, CacheKind::Shared),
            (10, LifetimeSource::SMaxAge)
        );
        assert_eq!(
            lifetime("s-maxage=10, max-age=20", expires, CacheKind::Private),
            (20, LifetimeSource::MaxAge)
        );
        assert_eq!(
            lifetime("", expires, CacheKind::Shared),
            (300, LifetimeSource::Expires)
        );
    }

    /// §5.3: "If a response includes a Cache-Control header field with the max-age directive,
    /// a recipient MUST ignore the Expires header field. Likewise, if a response includes the
    /// s-maxage directive, a shared cache recipient MUST ignore the Expires header field."
    #[test]
    fn max_age_and_s_maxage_override_expires() {
        assert_eq!(
            lifetime("max-age=5", Some(Expires::Invalid), CacheKind::Shared).0,
            5
        );
        assert_eq!(
            lifetime("s-maxage=7", Some(Expires::Invalid), CacheKind::Shared).0,
            7
        );
    }

    /// §5.3: "A cache recipient MUST interpret invalid date formats, especially the value
    /// "0", as representing a time in the past (i.e., "already expired")."
    #[test]
    fn invalid_expires_is_expired() {
        assert_eq!(
            lifetime("", Some(Expires::Invalid), CacheKind::Shared),
            (0, LifetimeSource::Expires)
        );
    }
}

mod s4_2_2_heuristic {
    use super::*;

    /// "A cache MUST NOT use heuristics to determine freshness when an explicit expiration
    /// time is present in the stored response."
    #[test]
    fn no_heuristic_with_explicit_expiration() {
        let control = CacheControl::parse_str("max-age=0");
        let inputs = FreshnessInputs {
            control: &control,
            expires: None,
            date: at(100_000),
            last_modified: Some(at(0)),
            heuristic_allowed: true,
        };
        assert_eq!(freshness_lifetime(&inputs, CacheKind::Shared).seconds, 0);
        let past = CacheControl::default();
        let inputs = FreshnessInputs {
            control: &past,
            expires: Some(Expires::At(at(0))),
            ..inputs
        };
        assert_eq!(freshness_lifetime(&inputs, CacheKind::Shared).seconds, 0);
    }

    /// "caches are encouraged to use a heuristic expiration value that is no more than some
    /// fraction of the interval since that time. A typical setting of this fraction might be
    /// 10%."
    #[test]
    fn ten_percent_of_last_modified_age() {
        let control = CacheControl::default();
        let inputs = FreshnessInputs {
            control: &control,
            expires: None,
            date: at(10_000),
            last_modified: Some(at(0)),
            heuristic_allowed: true,
        };
        assert_eq!(
            freshness_lifetime(&inputs, CacheKind::Shared).seconds,
            1_000
        );
    }
}

mod s4_2_3_age {
    use super::*;

    /// "apparent_age = max(0, response_time - date_value); response_delay = response_time -
    /// request_time; corrected_age_value = age_value + response_delay;
    /// corrected_initial_age = max(apparent_age, corrected_age_value)" and "A cache MUST
    /// interpret this value relative to the time the request was initiated, not the time that
    /// the response was received."
    #[test]
    fn the_formulas() {
        let inputs = AgeInputs {
            age_value: 100,
            date_value: Some(at(50)),
            request_time: at(58),
            response_time: at(60),
        };
        assert_eq!(inputs.corrected_initial_age(), 102);
        let inputs = AgeInputs {
            age_value: 0,
            date_value: Some(at(0)),
            request_time: at(58),
            response_time: at(60),
        };
        assert_eq!(inputs.corrected_initial_age(), 60);
        let skewed = AgeInputs {
            age_value: 0,
            date_value: Some(at(999)),
            request_time: at(60),
            response_time: at(60),
        };
        assert_eq!(skewed.corrected_initial_age(), 0);
    }

    /// "resident_time = now - response_time; current_age = corrected_initial_age +
    /// resident_time;"
    #[test]
    fn current_age() {
        assert_eq!(http_cache::freshness::current_age(102, at(60), at(70)), 112);
    }
}

mod s4_2_4_serving_stale {
    use super::*;

    /// "A cache MUST NOT generate a stale response if it is prohibited by an explicit
    /// in-protocol directive (e.g., by a "no-cache" cache directive, a "must-revalidate"
    /// cache-response-directive, or an applicable "s-maxage" or "proxy-revalidate"
    /// cache-response-directive)."
    #[test]
    fn directives_forbid_stale_even_with_max_stale() {
        let client = request("GET", "max-stale=1000");
        for control in [
            "max-age=10, must-revalidate",
            "s-maxage=10",
            "max-age=10, proxy-revalidate",
            "max-age=10, no-cache",
        ] {
            let entry = stored(control, 10);
            assert_eq!(
                decide_reuse(&client, &entry, CacheKind::Shared, at(20)),
                Reuse::Revalidate,
                "{control}"
            );
        }
        // proxy-revalidate does not bind a private cache.
        let entry = stored("max-age=10, proxy-revalidate", 10);
        assert_eq!(
            decide_reuse(&client, &entry, CacheKind::Private, at(20)),
            Reuse::Serve {
                age: 20,
                stale: true
            }
        );
    }

    /// "A cache MUST NOT generate a stale response unless it is disconnected or doing so is
    /// explicitly permitted by the client or origin server (e.g., by the max-stale request
    /// directive ...)".
    #[test]
    fn max_stale_permits() {
        let entry = stored("max-age=10", 10);
        assert_eq!(
            decide_reuse(
                &request("GET", "max-stale=5"),
                &entry,
                CacheKind::Shared,
                at(15)
            ),
            Reuse::Serve {
                age: 15,
                stale: true
            }
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "max-stale=5"),
                &entry,
                CacheKind::Shared,
                at(16)
            ),
            Reuse::Revalidate
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "max-stale"),
                &entry,
                CacheKind::Shared,
                at(9999)
            ),
            Reuse::Serve {
                age: 9999,
                stale: true
            }
        );
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(11)),
            Reuse::Revalidate
        );
    }
}

mod s4_3_validation {
    use super::*;

    /// §4.3.1: the Last-Modified timestamp "can be used in an If-Modified-Since header field
    /// for response validation"; the ETag "can be used in an If-None-Match header field for
    /// response validation".
    #[test]
    fn conditional_request_from_stored_validators() {
        let stored = fields(&[
            ("ETag", "W/\"7\""),
            ("Last-Modified", "Tue, 15 Nov 1994 12:45:26 GMT"),
        ]);
        let conditional = conditional_fields(&stored);
        assert_eq!(conditional.field("if-none-match"), Some(&b"W/\"7\""[..]));
        assert_eq!(
            conditional.field("if-modified-since"),
            Some(&b"Tue, 15 Nov 1994 12:45:26 GMT"[..])
        );
        assert!(conditional_fields(&fields(&[])).is_empty());
    }

    /// §4.3.2: "If the field value is "*", or if the field value is a list of entity-tags and
    /// at least one of them matches the entity-tag of the selected stored response, a cache
    /// recipient SHOULD generate a 304 (Not Modified) response".
    #[test]
    fn client_if_none_match() {
        let stored = fields(&[("ETag", "\"abc\"")]);
        assert_eq!(
            evaluate_client_conditions(
                &fields(&[("If-None-Match", "\"x\", \"abc\"")]),
                &stored,
                at(0)
            ),
            ClientCondition::NotModified
        );
        assert_eq!(
            evaluate_client_conditions(&fields(&[("If-None-Match", "*")]), &stored, at(0)),
            ClientCondition::NotModified
        );
        assert_eq!(
            evaluate_client_conditions(&fields(&[("If-None-Match", "\"x\"")]), &stored, at(0)),
            ClientCondition::SendFull
        );
    }

    /// §4.3.2: without If-None-Match, If-Modified-Since yields 304 when "the selected stored
    /// response has a Last-Modified field value that is earlier than or equal to the
    /// conditional timestamp"; else the Date; else the time it was received.
    #[test]
    fn client_if_modified_since() {
        let date = |seconds: u64| http_proto::fmt_http_date(at(seconds));
        let since = |seconds: u64| fields(&[("If-Modified-Since", &date(seconds))]);
        let stored = fields(&[("Last-Modified", &date(100)), ("Date", &date(500))]);
        assert_eq!(
            evaluate_client_conditions(&since(100), &stored, at(0)),
            ClientCondition::NotModified
        );
        assert_eq!(
            evaluate_client_conditions(&since(99), &stored, at(0)),
            ClientCondition::SendFull
        );
        let dated = fields(&[("Date", &date(500))]);
        assert_eq!(
            evaluate_client_conditions(&since(499), &dated, at(0)),
            ClientCondition::SendFull
        );
        assert_eq!(
            evaluate_client_conditions(&since(600), &fields(&[]), at(550)),
            ClientCondition::NotModified
        );
        assert_eq!(
            evaluate_client_conditions(&since(500), &fields(&[]), at(550)),
            ClientCondition::SendFull
        );
        // If-None-Match takes precedence.
        let both = fields(&[
            ("If-None-Match", "\"zz\""),
            ("If-Modified-Since", &date(100)),
        ]);
        assert_eq!(
            evaluate_client_conditions(&both, &stored, at(0)),
            ClientCondition::SendFull
        );
    }

    /// §4.3.4: "If none of the stored responses contain the same strong validator, then the
    /// cache MUST NOT use the new response to update any stored responses."
    #[test]
    fn strong_validator_must_match() {
        let stored = fields(&[("ETag", "\"v1\"")]);
        assert_eq!(
            freshen_target(&stored, &fields(&[("ETag", "\"v1\"")])),
            FreshenTarget::Update
        );
        assert_eq!(
            freshen_target(&stored, &fields(&[("ETag", "\"v2\"")])),
            FreshenTarget::Mismatch
        );
        assert_eq!(
            freshen_target(&fields(&[]), &fields(&[])),
            FreshenTarget::Update
        );
    }

    /// §4.3.4: "the cache MUST use the header fields provided in the 304 (Not Modified)
    /// response to replace all instances of the corresponding header fields in the stored
    /// response" ... "Caches MUST NOT update the following header fields: Content-Encoding,
    /// Content-Length, Content-MD5, Content-Range, ETag."
    #[test]
    fn freshening_replaces_fields_except_protected_ones() {
        let mut stored = fields(&[
            ("Cache-Control", "max-age=10"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
            ("Content-Length", "5"),
            ("ETag", "\"v1\""),
            ("Content-Encoding", "gzip"),
        ]);
        let not_modified = fields(&[
            ("Cache-Control", "max-age=99"),
            ("X-Multi", "c"),
            ("Content-Length", "0"),
            ("ETag", "\"v1-other\""),
            ("Content-Encoding", "br"),
            ("X-New", "1"),
            ("Connection", "close"),
        ]);
        freshen_fields(&mut stored, &not_modified);
        assert_eq!(
            stored.field_values("cache-control"),
            vec![&b"max-age=99"[..]]
        );
        assert_eq!(stored.field_values("x-multi"), vec![&b"c"[..]]);
        assert_eq!(stored.field("content-length"), Some(&b"5"[..]));
        assert_eq!(stored.field("etag"), Some(&b"\"v1\""[..]));
        assert_eq!(stored.field("content-encoding"), Some(&b"gzip"[..]));
        assert_eq!(stored.field("x-new"), Some(&b"1"[..]));
        assert!(!stored.has_field("connection"));
    }
}

mod s4_4_invalidation {
    use super::*;

    /// "A cache MUST invalidate the target URI when a non-error status code is received in
    /// response to an unsafe request method" and "a cache MUST NOT trigger an invalidation
    /// under these conditions if the origin of the URI to be invalidated differs from that of
    /// the target URI."
    #[test]
    fn target_and_same_origin_locations() {
        let response = fields(&[
            ("Location", "/new"),
            ("Content-Location", "http://evil.example/victim"),
        ]);
        let target = http_proto::Uri::parse("http://shop.example/cart").unwrap();
        let uris = invalidation_uris(&target, &response);
        assert_eq!(
            uris,
            vec![
                "http://shop.example/cart".to_string(),
                "http://shop.example/new".to_string()
            ]
        );
        let absolute = fields(&[("Location", "HTTP://Shop.Example:80/x")]);
        assert_eq!(
            invalidation_uris(&target, &absolute)[1],
            "http://shop.example/x"
        );
    }
}

mod s5_2_directives {
    use super::*;

    /// §5.2: "Cache directives are identified by a token, to be compared case-insensitively,
    /// and have an optional argument that can use both token and quoted-string syntax."
    #[test]
    fn token_and_quoted_arguments() {
        assert_eq!(CacheControl::parse_str("MAX-AGE=\"12\"").max_age, Some(12));
        assert_eq!(CacheControl::parse_str("Max-Age=12").max_age, Some(12));
    }

    /// §5.2.3: "A cache MUST ignore unrecognized cache directives."
    #[test]
    fn unknown_ignored() {
        assert_eq!(
            CacheControl::parse_str("community=\"UCI\", private").private,
            Some(http_cache::directives::FieldScope::All)
        );
    }

    /// §5.2.2.2: "once the response has become stale, a cache MUST NOT reuse that response to
    /// satisfy another request until it has been successfully validated by the origin".
    #[test]
    fn must_revalidate() {
        let entry = stored("max-age=1, must-revalidate, stale-while-revalidate=100", 1);
        assert_eq!(
            decide_reuse(&request("GET", ""), &entry, CacheKind::Shared, at(2)),
            Reuse::Revalidate
        );
        assert!(!http_cache::policy::stale_if_error_allows(
            &request("GET", "max-stale"),
            &entry,
            CacheKind::Shared,
            at(2)
        ));
    }

    /// §5.2.1.1/§5.2.1.3: request max-age and min-fresh constrain reuse.
    #[test]
    fn request_max_age_and_min_fresh() {
        let entry = stored("max-age=100", 100);
        assert_eq!(
            decide_reuse(
                &request("GET", "max-age=5"),
                &entry,
                CacheKind::Shared,
                at(6)
            ),
            Reuse::Revalidate
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "max-age=5"),
                &entry,
                CacheKind::Shared,
                at(5)
            ),
            Reuse::Serve {
                age: 5,
                stale: false
            }
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "min-fresh=50"),
                &entry,
                CacheKind::Shared,
                at(51)
            ),
            Reuse::Revalidate
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "min-fresh=50"),
                &entry,
                CacheKind::Shared,
                at(50)
            ),
            Reuse::Serve {
                age: 50,
                stale: false
            }
        );
        assert_eq!(
            decide_reuse(
                &request("GET", "no-cache"),
                &entry,
                CacheKind::Shared,
                at(1)
            ),
            Reuse::Revalidate
        );
    }
}

mod s5_4_pragma {
    /// §5.4: "Pragma: no-cache" is the HTTP/1.0 form of a no-cache request.
    #[test]
    fn pragma_no_cache_request() {
        use http_cache::policy::RequestFacts;
        let facts = RequestFacts {
            method: "GET".into(),
            pragma_no_cache: true,
            ..Default::default()
        };
        assert!(facts.wants_validation());
        assert!(http_cache::directives::pragma_no_cache([&b"no-cache"[..]]));
    }
}
