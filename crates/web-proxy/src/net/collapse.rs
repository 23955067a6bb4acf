//! Collapsed forwarding: one origin fetch per key at a time; misses arriving meanwhile wait
//! for it and then look in the store again.

use super::Shared;
use std::sync::Arc;
use tokio::sync::watch;

pub(super) enum Joined {
    Leader(Inflight),
    Follower(watch::Receiver<bool>),
}

/// A fetch in flight for a key; dropping it wakes the requests waiting for it.
pub(super) struct Inflight {
    shared: Arc<Shared>,
    key: String,
    done: watch::Sender<bool>,
}

impl Inflight {
    pub(super) fn join(shared: &Arc<Shared>, key: &str) -> Joined {
        let mut inflight = shared
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(receiver) = inflight.get(key) {
            return Joined::Follower(receiver.clone());
        }
        let (done, receiver) = watch::channel(false);
        inflight.insert(key.to_string(), receiver);
        Joined::Leader(Inflight {
            shared: shared.clone(),
            key: key.to_string(),
            done,
        })
    }

    /// Registers a fetch for `key` (if none is registered) so that misses arriving meanwhile
    /// wait for it.
    pub(super) fn lead(shared: &Arc<Shared>, key: &str) -> Option<Inflight> {
        match Inflight::join(shared, key) {
            Joined::Leader(leader) => Some(leader),
            Joined::Follower(_) => None,
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let mut inflight = self
            .shared
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inflight.remove(&self.key);
        let _ = self.done.send(true);
    }
}
