//! Graceful shutdown: a cloneable flag that tasks can wait on, and a signal watcher.

use tokio::sync::watch;

/// A shutdown flag shared by a server and its connection tasks.
///
/// Cloning gives another handle on the same flag. Once triggered it stays triggered.
#[derive(Clone, Debug)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A new, untriggered flag.
    pub fn new() -> Self {
        let (sender, _) = watch::channel(false);
        Self {
            sender: std::sync::Arc::new(sender),
        }
    }

    /// Sets the flag and wakes every task waiting in [`Shutdown::triggered`].
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Whether the flag is set.
    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Completes once the flag is set (at once if it already is).
    pub async fn triggered(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail with a closed channel.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }
}

/// Returns a [`Shutdown`] that is triggered by SIGINT or SIGTERM.
///
/// Must be called inside a tokio runtime. If the signal handlers cannot be installed (for
/// example in a sandbox without signals), the flag simply never fires from a signal.
pub fn shutdown_on_signals() -> Shutdown {
    let shutdown = Shutdown::new();
    let flag = shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot install SIGINT/SIGTERM handlers; stop with SIGKILL");
            return;
        };
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!("{name} received: stopping, draining connections");
        flag.trigger();
    });
    shutdown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_waiters_and_sticks() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.is_triggered());
        let waiter = shutdown.clone();
        let task = tokio::spawn(async move { waiter.triggered().await });
        shutdown.trigger();
        task.await.unwrap();
        assert!(shutdown.is_triggered());
        // A waiter that arrives after the trigger completes at once.
        shutdown.clone().triggered().await;
    }
}
