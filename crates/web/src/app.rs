//! Applications mounted in the origin server at a path prefix (the web mail): the server
//! collects a request's body (up to the application's limit, else `413`), hands head and body
//! to the application, and sends the response it returns. The trait is runtime-free: an
//! application returns a boxed future, which the driver awaits (bounded by
//! [`App::timeout`]).

use http_proto::{RequestHead, ResponseHead};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// One request for an application.
#[derive(Debug)]
pub struct AppRequest {
    /// The request head (the whole path, prefix included).
    pub head: RequestHead,
    /// The whole body (at most [`App::max_body`] bytes).
    pub body: Vec<u8>,
    /// The client.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
}

/// A response to come: head and body.
pub type AppFuture = Pin<Box<dyn Future<Output = (ResponseHead, Vec<u8>)> + Send>>;

/// A dynamic site served under a path prefix.
pub trait App: Send + Sync + 'static {
    /// The largest request body the application takes; larger ones get `413`.
    fn max_body(&self) -> usize {
        1024 * 1024
    }
    /// How long an answer may take before the client gets `504`.
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    /// Answers one request.
    fn call(&self, request: AppRequest) -> AppFuture;
}

/// An application and where it is mounted.
#[derive(Clone)]
pub struct AppMount {
    /// The path prefix (`""`: every path; `/mail`: `/mail` and below).
    pub prefix: String,
    /// The application.
    pub app: Arc<dyn App>,
}

impl std::fmt::Debug for AppMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMount")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl AppMount {
    /// Whether `path` is under this mount's prefix.
    pub fn matches(&self, path: &str) -> bool {
        let prefix = self.prefix.trim_end_matches('/');
        match path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl App for Nothing {
        fn call(&self, _: AppRequest) -> AppFuture {
            Box::pin(async { (ResponseHead::new(http_proto::StatusCode::OK), Vec::new()) })
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let mount = |prefix: &str| AppMount {
            prefix: prefix.into(),
            app: Arc::new(Nothing),
        };
        assert!(mount("").matches("/anything"));
        assert!(mount("/mail").matches("/mail"));
        assert!(mount("/mail/").matches("/mail/folder"));
        assert!(!mount("/mail").matches("/mailbox"));
        assert!(!mount("/mail").matches("/"));
    }
}
