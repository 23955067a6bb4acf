//! The TCP accept loop every stream server runs: a connection limit, shutdown and draining.

use crate::Shutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Limits applied by [`serve`] and handed to every connection handler in [`Conn`].
#[derive(Clone, Debug)]
pub struct TcpLimits {
    /// Connections served at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a handler may wait for the rest of a message it has started to read.
    pub read_timeout: Duration,
    /// How long a connection may sit idle between messages before it is closed.
    pub idle_timeout: Duration,
    /// The largest message (line, header block ...) a handler should buffer.
    pub max_message: usize,
    /// After shutdown, how long connections in flight may take to finish.
    pub drain_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_message: 64 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// What a connection handler gets besides the stream.
#[derive(Clone, Debug)]
pub struct Conn {
    /// Our address on this connection.
    pub local: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
    /// The server's limits.
    pub limits: Arc<TcpLimits>,
    /// Triggered when the server stops; long-lived handlers finish their current message and
    /// close.
    pub shutdown: Shutdown,
}

/// Accepts connections on `listener` until `shutdown` fires, running `handler` for each on its
/// own task, at most `limits.max_connections` at once.
///
/// On shutdown it stops accepting at once, then waits up to `limits.drain_timeout` for the
/// connections in flight to finish; connections still open after that are abandoned to the
/// runtime's own shutdown. Accept errors (such as running out of file descriptors) are logged
/// and retried after a short pause rather than ending the server.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: TcpLimits,
    shutdown: Shutdown,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream, Conn) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let local = listener.local_addr()?;
    // A listener on a specific address knows every connection's local address; only a
    // wildcard listener needs to ask the kernel per connection.
    let local_known = !local.ip().is_unspecified();
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.triggered() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.triggered() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Small request/response exchanges must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let conn = Conn {
                    local: if local_known {
                        local
                    } else {
                        stream.local_addr().unwrap_or(local)
                    },
                    peer,
                    limits: limits.clone(),
                    shutdown: shutdown.clone(),
                };
                let task = handler(stream, conn);
                tokio::spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Err(error) => {
                tracing::warn!(%local, "accept failed: {error}; retrying in 100 ms");
                drop(permit);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let draining = slots.acquire_many(max as u32);
    if tokio::time::timeout(limits.drain_timeout, draining)
        .await
        .is_err()
    {
        tracing::warn!(%local, "connections still open after the drain timeout; closing them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_until_shutdown_then_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(
            listener,
            TcpLimits::default(),
            shutdown.clone(),
            |mut stream, _conn| async move {
                let mut buf = [0u8; 5];
                if stream.read_exact(&mut buf).await.is_ok() {
                    let _ = stream.write_all(&buf).await;
                }
            },
        ));
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut echo = [0u8; 5];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        shutdown.trigger();
        server.await.unwrap().unwrap();
        // The listener is closed: new connections are refused.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn connection_limit_holds_back_extra_clients() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let limits = TcpLimits {
            max_connections: 1,
            ..TcpLimits::default()
        };
        tokio::spawn(serve(
            listener,
            limits,
            shutdown.clone(),
            |mut stream, _conn| async move {
                let _ = stream.write_all(b"hi").await;
                // Hold the slot until the client closes.
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut greeting = [0u8; 2];
        first.read_exact(&mut greeting).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(200), second.read_exact(&mut greeting))
                .await;
        assert!(waited.is_err(), "second client was served past the limit");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.read_exact(&mut greeting))
            .await
            .expect("second client served once the first left")
            .unwrap();
        shutdown.trigger();
    }
}
