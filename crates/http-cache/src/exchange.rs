//! One request's way through a shared cache, as a sans-IO machine: the request head, the
//! store's answer, the origin's response head (or its failure) and `now` go in; actions come
//! out (look up, serve the stored response, fetch, pass through, store, refresh, error).
//!
//! The driver owns the store, the sockets and the clock and runs the loop:
//!
//! 1. [`Exchange::new`], then [`Exchange::start`]: [`Action::Lookup`] (GET/HEAD) or
//!    [`Action::PassThrough`].
//! 2. Look the key up and call [`Exchange::looked_up`] with the selected entry, if any: it
//!    says to serve it ([`Action::Serve`], [`Action::ServeAndRevalidate`]), to fetch
//!    ([`Action::Fetch`], with validators when revalidating), to collapse onto another fetch
//!    of the same key ([`Action::Join`], then [`Exchange::joined`]), or an error.
//! 3. After a fetch, [`Exchange::upstream_head`] with the origin's head, or
//!    [`Exchange::upstream_failed`]: [`Action::Forward`] (with the entry to store, if it may
//!    be stored), [`Action::Refresh`] after a 304, or a stale [`Action::Serve`].
//! 4. Serving a stored entry, [`stored_reply`] says which form: the whole response, a 304 for
//!    the client's own validators, one range, several, or 416.
//!
//! The entry passed to the calls after a lookup is always the one given to `looked_up` (the
//! machine keeps no copy, so a hit costs no allocation here).

use crate::fields::remove;
use crate::freshness::CacheKind;
use crate::key::CacheKey;
use crate::policy::{
    decide_reuse, invalidates, is_error_status, stale_if_error_allows, RequestFacts, Reuse,
};
use crate::stored::{check_response_storable, request_facts, Entry};
use crate::validation::{conditional_fields, evaluate_client_conditions, ClientCondition};
use http_proto::range::{evaluate_range, RangeOutcome};
use http_proto::{BodyKind, HeaderMap, Method, RequestHead, ResponseHead, StatusCode, Uri};
use std::borrow::Cow;
use std::ops::Range;
use std::time::SystemTime;

/// What the cache did for a request, as sent in `X-Cache` and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the store without contacting the origin.
    Hit,
    /// Fetched from the origin (not stored, or stored now).
    Miss,
    /// Served from the store after the origin confirmed it with a 304.
    Revalidated,
    /// Served from the store although stale (allowed by max-stale, stale-while-revalidate or
    /// stale-if-error).
    Stale,
}

impl CacheStatus {
    /// `HIT`, `MISS`, `REVALIDATED` or `STALE`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Stale => "STALE",
        }
    }
}

/// The settings an exchange decides with.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeConfig {
    /// Shared (a proxy, a CDN edge) or private.
    pub kind: CacheKind,
    /// The largest body stored: a response declaring more is forwarded uncached (one whose
    /// length is unknown is stored until it passes this, then abandoned by the driver).
    pub max_object_size: u64,
}

/// How an origin exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No connection, or it broke before a response head: 502.
    Unreachable,
    /// No response head in time: 504.
    Timeout,
    /// The response head was malformed: 502.
    Malformed,
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Look up [`Exchange::key`] in the store and select the entry matching the request
    /// (`Vary`); then call [`Exchange::looked_up`].
    Lookup,
    /// Answer from the stored entry (in the form [`stored_reply`] gives) with `Age: age`.
    Serve {
        /// The `Age` to send.
        age: u64,
        /// `HIT`, `STALE` or `REVALIDATED`.
        status: CacheStatus,
    },
    /// Answer from the stored entry (stale, `STALE`), and revalidate it in the background
    /// with an exchange from [`Exchange::background`] (RFC 5861 §3).
    ServeAndRevalidate {
        /// The `Age` to send.
        age: u64,
    },
    /// Nothing usable is stored: collapse onto another fetch of this key if one is in flight
    /// (or register this one), and call [`Exchange::joined`].
    Join,
    /// Wait (bounded) for the fetch in flight to end, look up again and call
    /// [`Exchange::looked_up`].
    Wait,
    /// Fetch for the cache: the request as a GET (a HEAD too, so that the answer can be
    /// stored), with these conditional fields added (empty unless revalidating); then call
    /// [`Exchange::upstream_head`] or [`Exchange::upstream_failed`].
    Fetch {
        /// `If-None-Match` / `If-Modified-Since` from the stored validators (§4.3.1).
        validators: HeaderMap,
        /// Register as the key's fetch in flight (if none is), so that misses arriving
        /// meanwhile wait for it.
        register: bool,
    },
    /// Send the request through as it is (unsafe methods, ranges of what is not stored);
    /// then call [`Exchange::upstream_head`] or [`Exchange::upstream_failed`].
    PassThrough,
    /// A 304 freshened the stored entry (§4.3.4): put `entry` in the store in place of the
    /// old one (same body), then serve it (`REVALIDATED`, age from [`Entry::freshness`]).
    Refresh {
        /// The freshened entry.
        entry: Box<Entry>,
    },
    /// Stream the origin's response to the client.
    Forward {
        /// Store the body under this entry as it streams (abandon it past
        /// [`ExchangeConfig::max_object_size`] or if the body breaks).
        store: Option<Box<Entry>>,
        /// Remove the entry of the lookup: the new response replaces it but may not be
        /// stored itself (§4.3.3).
        drop_stored: bool,
        /// The client's own validators match the new response: send it a 304 made from the
        /// response head instead of the body (§4.3.2).
        not_modified: bool,
        /// Invalidate the target URI and those of `Location` / `Content-Location` (§4.4).
        invalidate: bool,
    },
    /// Answer with an error generated here.
    Error {
        /// The status.
        status: StatusCode,
        /// The explanation in the body.
        message: Cow<'static, str>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    Lookup,
    Joining,
    Fetching,
    Passing,
    Done,
}

/// One request's exchange. See the module documentation.
#[derive(Debug)]
pub struct Exchange<'a> {
    request: &'a RequestHead,
    facts: RequestFacts,
    key: CacheKey,
    config: ExchangeConfig,
    state: State,
    /// Whether a collapsed wait has been done (a request waits once, then fetches itself).
    waited: bool,
    /// Whether the lookup's entry still counts (a 304 for another representation drops it).
    stored_valid: bool,
    /// Whether the client sent its own validators.
    client_conditional: bool,
    background: bool,
}

impl<'a> Exchange<'a> {
    /// An exchange for `request` whose target URI is `target`.
    pub fn new(request: &'a RequestHead, target: &Uri, config: ExchangeConfig) -> Self {
        Exchange {
            request,
            facts: request_facts(request),
            key: CacheKey::from_uri("GET", target),
            config,
            state: State::Start,
            waited: false,
            stored_valid: true,
            client_conditional: request.headers.contains("if-none-match")
                || request.headers.contains("if-modified-since"),
            background: false,
        }
    }

    /// A background revalidation of `stored` for `request` (no client waits for it: the
    /// driver carries out only its store actions). Returns the exchange and its fetch.
    pub fn background(
        request: &'a RequestHead,
        target: &Uri,
        config: ExchangeConfig,
        stored: &Entry,
    ) -> (Self, Action) {
        let mut exchange = Exchange::new(request, target, config);
        exchange.background = true;
        exchange.state = State::Fetching;
        let action = Action::Fetch {
            validators: conditional_fields(&stored.meta.fields),
            register: false,
        };
        (exchange, action)
    }

    /// The cache key of the request.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The request's cache facts.
    pub fn facts(&self) -> &RequestFacts {
        &self.facts
    }

    /// Whether this is a background revalidation.
    pub fn is_background(&self) -> bool {
        self.background
    }

    /// The first action: look up a GET or HEAD, pass anything else through.
    pub fn start(&mut self) -> Action {
        if matches!(self.request.method, Method::Get | Method::Head) {
            self.state = State::Lookup;
            Action::Lookup
        } else {
            self.state = State::Passing;
            Action::PassThrough
        }
    }

    /// The store's answer at `now`: the entry selected for the request, if any.
    pub fn looked_up(&mut self, found: Option<&Entry>, now: SystemTime) -> Action {
        if let Some(entry) = found {
            match decide_reuse(&self.facts, &entry.freshness, self.config.kind, now) {
                Reuse::Serve { age, stale } => {
                    self.state = State::Done;
                    let status = if stale {
                        CacheStatus::Stale
                    } else {
                        CacheStatus::Hit
                    };
                    return Action::Serve { age, status };
                }
                Reuse::ServeStaleAndRevalidate { age } => {
                    self.state = State::Done;
                    return Action::ServeAndRevalidate { age };
                }
                Reuse::Revalidate => {
                    // §5.2.1.7: only-if-cached and nothing usable: 504.
                    if self.facts.control.only_if_cached {
                        return self
                            .error(StatusCode::GATEWAY_TIMEOUT, "only-if-cached and not fresh");
                    }
                    self.state = State::Fetching;
                    self.stored_valid = true;
                    return Action::Fetch {
                        validators: conditional_fields(&entry.meta.fields),
                        register: true,
                    };
                }
            }
        }
        self.stored_valid = false;
        if self.facts.control.only_if_cached {
            return self.error(StatusCode::GATEWAY_TIMEOUT, "only-if-cached and not cached");
        }
        if self.request.headers.contains("range") {
            // A range of something not stored: through; later full GETs fill the cache.
            self.state = State::Passing;
            return Action::PassThrough;
        }
        if self.waited {
            // Waited once already: fetch without waiting again.
            self.state = State::Fetching;
            return Action::Fetch {
                validators: HeaderMap::new(),
                register: false,
            };
        }
        self.state = State::Joining;
        Action::Join
    }

    /// The answer to [`Action::Join`]: whether this request now leads the key's fetch (or
    /// another fetch of the key is in flight).
    pub fn joined(&mut self, leader: bool) -> Action {
        if leader || self.waited {
            self.state = State::Fetching;
            return Action::Fetch {
                validators: HeaderMap::new(),
                register: false,
            };
        }
        self.waited = true;
        self.state = State::Lookup;
        Action::Wait
    }

    /// The origin could not be asked or did not answer (`stored` is the lookup's entry).
    pub fn upstream_failed(
        &mut self,
        stored: Option<&Entry>,
        failure: UpstreamFailure,
        message: impl Into<Cow<'static, str>>,
        now: SystemTime,
    ) -> Action {
        if let Some(entry) = stored.filter(|_| self.stored_valid && self.state == State::Fetching) {
            // RFC 5861 §4 / RFC 9111 §4.2.4: stale content on error where allowed.
            if stale_if_error_allows(&self.facts, &entry.freshness, self.config.kind, now) {
                self.state = State::Done;
                return Action::Serve {
                    age: entry.freshness.age(now),
                    status: CacheStatus::Stale,
                };
            }
            if entry.freshness.must_revalidate {
                // §5.2.2.2: a disconnected cache MUST generate 504 rather than reuse it.
                return self.error(StatusCode::GATEWAY_TIMEOUT, message);
            }
        }
        let status = match failure {
            UpstreamFailure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            UpstreamFailure::Unreachable | UpstreamFailure::Malformed => StatusCode::BAD_GATEWAY,
        };
        self.error(status, message)
    }

    /// The origin's final response head, for a request sent at `request_time` and answered
    /// at `response_time`; `body` is its framing (`stored` is the lookup's entry).
    pub fn upstream_head(
        &mut self,
        stored: Option<&Entry>,
        response: &ResponseHead,
        body: BodyKind,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Action {
        let code = response.status.as_u16();
        // RFC 9110 §15.2: a 1xx is interim, and RFC 9111 §3 stores only final responses. The
        // driver skips interim heads (http-proto's ResponseReader does); if one comes here
        // anyway it is passed on unstored and says nothing about what is stored.
        let interim = (100..200).contains(&code);
        if self.state == State::Passing {
            self.state = State::Done;
            return Action::Forward {
                store: None,
                drop_stored: false,
                not_modified: false,
                invalidate: invalidates(self.request.method.as_str(), code),
            };
        }
        let stored = stored.filter(|_| self.stored_valid && !interim);
        if code == 304 {
            if let Some(entry) = stored {
                let mut entry = entry.clone();
                if entry.freshen(response, request_time, response_time, self.config.kind) {
                    self.state = State::Done;
                    return Action::Refresh {
                        entry: Box::new(entry),
                    };
                }
                // The 304 names another representation: fetch it whole.
                self.stored_valid = false;
                return Action::Fetch {
                    validators: HeaderMap::new(),
                    register: false,
                };
            }
        }
        if is_error_status(code) {
            if let Some(entry) = stored {
                if stale_if_error_allows(
                    &self.facts,
                    &entry.freshness,
                    self.config.kind,
                    response_time,
                ) {
                    self.state = State::Done;
                    return Action::Serve {
                        age: entry.freshness.age(response_time),
                        status: CacheStatus::Stale,
                    };
                }
            }
        }
        self.state = State::Done;
        let storable = !interim
            && check_response_storable(&self.facts, response, self.config.kind).is_ok()
            && match body {
                BodyKind::Length(len) => len <= self.config.max_object_size,
                _ => true,
            };
        let store = storable.then(|| {
            let mut entry = Entry::new(
                &self.key,
                self.request,
                response,
                request_time,
                response_time,
                0,
                self.config.kind,
            );
            // An upstream cache's verdict is not ours to repeat on every hit.
            remove(&mut entry.meta.fields, "x-cache");
            Box::new(entry)
        });
        // A client revalidating its own copy gets a 304 if the new response matches it.
        let not_modified = !self.background
            && code == 200
            && self.client_conditional
            && evaluate_client_conditions(&self.request.headers, &response.headers, response_time)
                == ClientCondition::NotModified;
        Action::Forward {
            store,
            // A full response replaces what was stored (§4.3.3); if it may not be stored
            // itself, the old entry goes too rather than being revalidated again and again.
            drop_stored: !storable && code < 500 && stored.is_some(),
            not_modified,
            invalidate: false,
        }
    }

    /// After [`Action::Refresh`]: serve the freshened `entry` at `now`.
    pub fn refreshed(&mut self, entry: &Entry, now: SystemTime) -> Action {
        Action::Serve {
            age: entry.freshness.age(now),
            status: CacheStatus::Revalidated,
        }
    }

    fn error(&mut self, status: StatusCode, message: impl Into<Cow<'static, str>>) -> Action {
        self.state = State::Done;
        Action::Error {
            status,
            message: message.into(),
        }
    }
}

/// The form in which a stored response answers a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredReply {
    /// The stored response as it is.
    Full,
    /// `304 Not Modified`: the client's own validators match (§4.3.2).
    NotModified,
    /// `206` with one range (RFC 9110 §14).
    Partial(Range<u64>),
    /// `206 multipart/byteranges` with these ranges.
    Multipart(Vec<Range<u64>>),
    /// `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Which form of the stored `entry` answers `request`: a 304 for the client's validators, a
/// range (if `If-Range` holds), or the whole response.
pub fn stored_reply(request: &RequestHead, entry: &Entry) -> StoredReply {
    if entry.meta.status != 200 {
        return StoredReply::Full;
    }
    let conditional =
        request.headers.contains("if-none-match") || request.headers.contains("if-modified-since");
    if conditional
        && evaluate_client_conditions(
            &request.headers,
            &entry.meta.fields,
            entry.meta.response_time,
        ) == ClientCondition::NotModified
    {
        return StoredReply::NotModified;
    }
    if request.method != Method::Get {
        return StoredReply::Full;
    }
    let Some(range) = request.headers.get("range") else {
        return StoredReply::Full;
    };
    if !if_range_holds(request, entry) {
        return StoredReply::Full;
    }
    match evaluate_range(range, entry.meta.body_len) {
        RangeOutcome::Full => StoredReply::Full,
        RangeOutcome::Unsatisfiable => StoredReply::Unsatisfiable,
        RangeOutcome::Partial(mut ranges) if ranges.len() == 1 => {
            StoredReply::Partial(ranges.remove(0))
        }
        RangeOutcome::Partial(ranges) => StoredReply::Multipart(ranges),
    }
}

/// RFC 9110 §13.1.5 for a stored entry: a Range with If-Range applies only if the validator
/// matches (strong ETag comparison, or an exact Last-Modified date).
fn if_range_holds(request: &RequestHead, entry: &Entry) -> bool {
    let Some(if_range) = request.headers.get("if-range") else {
        return true;
    };
    let field = |name: &str| entry.meta.fields.get(name);
    let etag = field("etag").and_then(http_proto::EntityTag::parse);
    let last_modified = field("last-modified").and_then(http_proto::HttpDate::parse);
    http_proto::conditional::if_range_holds(if_range, etag.as_ref(), last_modified)
}

#[cfg(test)]
mod tests;
