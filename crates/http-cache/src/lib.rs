//! HTTP caching (RFC 9111, RFC 5861) as pure functions, sans-IO.
//!
//! Contract: nothing here reads a clock, touches a socket or a file, or panics on network
//! input. Times (`SystemTime`) come in as arguments; stored entries are plain values
//! ([`entry::EntryMeta`]) that a store (memory, disk) keeps and hands back.
//!
//! A proxy drives it like this, per request:
//!
//! 1. [`key::CacheKey`] from the method and target URI; look up the stored entries of that key
//!    and pick the one whose [`key::variant_matches`] the request (`Vary`, §4.1).
//! 2. [`policy::decide_reuse`] with the request's [`policy::RequestFacts`], the entry's
//!    [`policy::StoredFreshness`] and `now`: serve it (with `Age`), serve it stale and
//!    revalidate in the background, or revalidate first (`only-if-cached` then gives 504).
//! 3. To revalidate, add [`validation::conditional_fields`] to the forwarded request; a 304
//!    goes through [`validation::freshen_target`] and [`validation::freshen_fields`]; a full
//!    response replaces the entry if [`policy::check_storable`] allows.
//! 4. On an origin failure, [`policy::stale_if_error_allows`] says whether the stale entry may
//!    answer instead of a 502/504.
//! 5. Responses to unsafe methods invalidate [`key::invalidation_uris`] (§4.4).
//!

pub mod directives;
pub mod entry;
pub mod exchange;
pub mod fields;
pub mod freshness;
pub mod key;
pub mod policy;
pub mod stored;
pub mod structured;
pub mod targeted;
pub mod validation;

pub use directives::CacheControl;
pub use entry::EntryMeta;
pub use exchange::{Action, CacheStatus, Exchange, ExchangeConfig, StoredReply, UpstreamFailure};
pub use fields::Fields;
pub use freshness::CacheKind;
pub use key::CacheKey;
pub use policy::{RequestFacts, Reuse, StoredFreshness};
pub use stored::Entry;
pub use targeted::{response_control, ResponseControl};
