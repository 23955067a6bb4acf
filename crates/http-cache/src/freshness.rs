//! Freshness lifetime (RFC 9111 §4.2.1–4.2.2) and age (§4.2.3) as arithmetic over plain
//! values: seconds as `u64`, instants as `SystemTime`. Nothing here reads a clock.

use crate::directives::{CacheControl, DELTA_SECONDS_MAX};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether the cache serves many users (a proxy) or one (a browser), and whether it is a CDN
/// cache obeying `CDN-Cache-Control` (RFC 9213).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// A shared cache: `s-maxage`, `proxy-revalidate` and `private` apply.
    Shared,
    /// A shared cache that is part of a CDN, operating on behalf of the origin (RFC 9213 §3):
    /// everything of [`CacheKind::Shared`], and its target list is `[CDN-Cache-Control]`.
    CdnEdge,
    /// A private cache.
    Private,
}

impl CacheKind {
    /// Whether the cache is shared (`s-maxage`, `proxy-revalidate` and `private` apply).
    pub fn is_shared(self) -> bool {
        matches!(self, CacheKind::Shared | CacheKind::CdnEdge)
    }

    /// RFC 9213 §2.1: the targeted fields (lower case) this cache obeys ahead of
    /// `Cache-Control`, most applicable first.
    pub fn target_list(self) -> &'static [&'static str] {
        match self {
            CacheKind::CdnEdge => &[crate::targeted::CDN_CACHE_CONTROL],
            CacheKind::Shared | CacheKind::Private => &[],
        }
    }
}

/// Whole seconds from `earlier` to `later`, 0 if `later` is not after `earlier`, clamped at
/// [`DELTA_SECONDS_MAX`].
pub fn seconds_between(earlier: SystemTime, later: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .map(|gap| gap.as_secs().min(DELTA_SECONDS_MAX))
        .unwrap_or(0)
}

/// A `SystemTime` as whole seconds since the Unix epoch (0 before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|gap| gap.as_secs())
        .unwrap_or(0)
}

/// Whole seconds since the Unix epoch as a `SystemTime`.
pub fn from_unix_seconds(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// The inputs of the age calculation of RFC 9111 §4.2.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeInputs {
    /// `age_value`: the received `Age` field, or 0.
    pub age_value: u64,
    /// `date_value`: the received `Date` field; `None` means the response had none, and the
    /// response time stands in for it (RFC 9110 §6.6.1: a recipient with a clock records the
    /// time it received a response without `Date`).
    pub date_value: Option<SystemTime>,
    /// `request_time`: when the request that produced the response was sent.
    pub request_time: SystemTime,
    /// `response_time`: when the response was received.
    pub response_time: SystemTime,
}

impl AgeInputs {
    /// `corrected_initial_age = max(apparent_age, corrected_age_value)`, where
    /// `apparent_age = max(0, response_time - date_value)` and
    /// `corrected_age_value = age_value + (response_time - request_time)`.
    pub fn corrected_initial_age(&self) -> u64 {
        let date_value = self.date_value.unwrap_or(self.response_time);
        let apparent_age = seconds_between(date_value, self.response_time);
        let response_delay = seconds_between(self.request_time, self.response_time);
        let corrected_age_value = self
            .age_value
            .saturating_add(response_delay)
            .min(DELTA_SECONDS_MAX);
        apparent_age.max(corrected_age_value)
    }
}

/// `current_age = corrected_initial_age + (now - response_time)` (RFC 9111 §4.2.3).
pub fn current_age(corrected_initial_age: u64, response_time: SystemTime, now: SystemTime) -> u64 {
    corrected_initial_age
        .saturating_add(seconds_between(response_time, now))
        .min(DELTA_SECONDS_MAX)
}

/// The `Expires` field of a response, as far as freshness cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expires {
    /// A valid HTTP-date.
    At(SystemTime),
    /// Present but not a valid date: RFC 9111 §5.3 "MUST interpret invalid date formats,
    /// especially the value "0", as representing a time in the past".
    Invalid,
}

/// Where a freshness lifetime came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifetimeSource {
    /// `s-maxage` (shared caches only).
    SMaxAge,
    /// `max-age`.
    MaxAge,
    /// `Expires` minus `Date`.
    Expires,
    /// The Last-Modified heuristic of §4.2.2.
    Heuristic,
    /// Nothing: the response is stale at once.
    None,
}

/// A computed freshness lifetime in seconds and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    /// The freshness lifetime in seconds.
    pub seconds: u64,
    /// Which rule gave it.
    pub source: LifetimeSource,
}

/// The fraction of `Date - Last-Modified` used as a heuristic lifetime (RFC 9111 §4.2.2 names
/// 10% as typical), and its cap.
pub const HEURISTIC_FRACTION_PERCENT: u64 = 10;
/// The longest heuristic lifetime we assign: one day.
pub const HEURISTIC_MAX_SECONDS: u64 = 24 * 3600;

/// The facts of a response that its freshness lifetime depends on.
#[derive(Clone, Copy, Debug)]
pub struct FreshnessInputs<'a> {
    /// The response's `Cache-Control`.
    pub control: &'a CacheControl,
    /// The response's `Expires`, if present.
    pub expires: Option<Expires>,
    /// The response's `Date` (or the response time when it had none).
    pub date: SystemTime,
    /// The response's `Last-Modified`, if present and valid.
    pub last_modified: Option<SystemTime>,
    /// Whether a heuristic lifetime may be used: the status is heuristically cacheable or the
    /// response is marked `public` (§4.2.2).
    pub heuristic_allowed: bool,
}

/// RFC 9111 §4.2.1: the first match of s-maxage (shared) > max-age > Expires − Date >
/// heuristic (§4.2.2, only when no explicit expiration time is present).
pub fn freshness_lifetime(inputs: &FreshnessInputs<'_>, kind: CacheKind) -> Lifetime {
    if kind.is_shared() {
        if let Some(seconds) = inputs.control.s_maxage {
            return Lifetime {
                seconds,
                source: LifetimeSource::SMaxAge,
            };
        }
    }
    if let Some(seconds) = inputs.control.max_age {
        return Lifetime {
            seconds,
            source: LifetimeSource::MaxAge,
        };
    }
    match inputs.expires {
        Some(Expires::At(expires)) => {
            return Lifetime {
                seconds: seconds_between(inputs.date, expires),
                source: LifetimeSource::Expires,
            };
        }
        Some(Expires::Invalid) => {
            return Lifetime {
                seconds: 0,
                source: LifetimeSource::Expires,
            }
        }
        None => {}
    }
    if inputs.heuristic_allowed {
        if let Some(last_modified) = inputs.last_modified {
            let since = seconds_between(last_modified, inputs.date);
            let seconds = (since * HEURISTIC_FRACTION_PERCENT / 100).min(HEURISTIC_MAX_SECONDS);
            return Lifetime {
                seconds,
                source: LifetimeSource::Heuristic,
            };
        }
    }
    Lifetime {
        seconds: 0,
        source: LifetimeSource::None,
    }
}

/// Whether the response carries an explicit expiration time for a cache of this kind.
pub fn has_explicit_expiration(control: &CacheControl, has_expires: bool, kind: CacheKind) -> bool {
    control.max_age.is_some() || has_expires || (kind.is_shared() && control.s_maxage.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        from_unix_seconds(1_000_000 + seconds)
    }

    #[test]
    fn apparent_age_wins_when_larger() {
        let inputs = AgeInputs {
            age_value: 0,
            date_value: Some(at(0)),
            request_time: at(9),
            response_time: at(10),
        };
        assert_eq!(inputs.corrected_initial_age(), 10);
    }

    #[test]
    fn corrected_age_value_counts_from_the_request() {
        let inputs = AgeInputs {
            age_value: 30,
            date_value: Some(at(10)),
            request_time: at(8),
            response_time: at(10),
        };
        assert_eq!(inputs.corrected_initial_age(), 32);
    }

    #[test]
    fn date_in_the_future_gives_zero_apparent_age() {
        let inputs = AgeInputs {
            age_value: 0,
            date_value: Some(at(100)),
            request_time: at(10),
            response_time: at(10),
        };
        assert_eq!(inputs.corrected_initial_age(), 0);
    }

    #[test]
    fn current_age_adds_resident_time_and_clock_going_back_is_zero() {
        assert_eq!(current_age(5, at(10), at(25)), 20);
        assert_eq!(current_age(5, at(10), at(3)), 5);
        assert_eq!(
            current_age(DELTA_SECONDS_MAX, at(0), at(10)),
            DELTA_SECONDS_MAX
        );
    }

    #[test]
    fn lifetime_precedence() {
        let control = CacheControl::parse_str("max-age=10, s-maxage=20");
        let inputs = FreshnessInputs {
            control: &control,
            expires: Some(Expires::At(at(500))),
            date: at(0),
            last_modified: Some(at(0)),
            heuristic_allowed: true,
        };
        assert_eq!(freshness_lifetime(&inputs, CacheKind::Shared).seconds, 20);
        assert_eq!(freshness_lifetime(&inputs, CacheKind::Private).seconds, 10);
        let none = CacheControl::default();
        let inputs = FreshnessInputs {
            control: &none,
            ..inputs
        };
        assert_eq!(
            freshness_lifetime(&inputs, CacheKind::Shared),
            Lifetime {
                seconds: 500,
                source: LifetimeSource::Expires
            }
        );
    }

    #[test]
    fn heuristic_is_ten_percent_capped() {
        let none = CacheControl::default();
        let inputs = FreshnessInputs {
            control: &none,
            expires: None,
            date: at(1000),
            last_modified: Some(at(0)),
            heuristic_allowed: true,
        };
        assert_eq!(freshness_lifetime(&inputs, CacheKind::Shared).seconds, 100);
        let old = FreshnessInputs {
            date: at(100 * 24 * 3600),
            ..inputs
        };
        assert_eq!(
            freshness_lifetime(&old, CacheKind::Shared).seconds,
            HEURISTIC_MAX_SECONDS
        );
        let not_allowed = FreshnessInputs {
            heuristic_allowed: false,
            ..inputs
        };
        assert_eq!(
            freshness_lifetime(&not_allowed, CacheKind::Shared).source,
            LifetimeSource::None
        );
    }
}
