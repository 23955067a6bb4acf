//! A token-bucket rate shaper, and a stream wrapper that applies one to reads and writes.
//!
//! Used for bandwidth experiments (the client-server versus P2P distribution time, DASH rate
//! adaptation): wrap a connection in [`Shaped`] and it carries at most `rate` bytes per second
//! each way on average, in bursts of at most `burst` bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A token bucket: tokens (bytes) accrue at `rate` per second up to `burst`.
///
/// Sans-IO: the caller passes the current time in.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket allowing `rate` bytes per second in bursts of up to `burst` bytes.
    /// Both are raised to at least 1.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// How many of `wanted` bytes may go now, or, when none may, how long until
    /// `min(wanted, burst)` of them may.
    pub fn available(&mut self, now: Instant, wanted: usize) -> Result<usize, Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return Ok((self.tokens as usize).min(wanted).max(1));
        }
        let need = (wanted as f64).min(self.burst) - self.tokens;
        Err(Duration::from_secs_f64(need.max(1.0) / self.rate))
    }

    /// Takes `used` bytes' worth of tokens (after a successful read or write).
    pub fn consume(&mut self, used: usize) {
        self.tokens -= used as f64;
    }
}

/// A stream whose reads and writes are each limited by a [`TokenBucket`].
#[derive(Debug)]
pub struct Shaped<T> {
    inner: T,
    read: Option<Limiter>,
    write: Option<Limiter>,
}

#[derive(Debug)]
struct Limiter {
    bucket: TokenBucket,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Limiter {
    fn new(rate: u64, burst: u64) -> Self {
        Self {
            bucket: TokenBucket::new(rate, burst, Instant::now()),
            sleep: None,
        }
    }

    /// Waits until some bytes may go and says how many.
    fn poll_available(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<usize> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.bucket.available(Instant::now(), wanted) {
                Ok(allowed) => return Poll::Ready(allowed),
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
    }
}

impl<T> Shaped<T> {
    /// Wraps `inner`; `read_rate` and `write_rate` are bytes per second (`None`: unlimited),
    /// with bursts of `burst` bytes.
    pub fn new(inner: T, read_rate: Option<u64>, write_rate: Option<u64>, burst: u64) -> Self {
        Self {
            inner,
            read: read_rate.map(|rate| Limiter::new(rate, burst)),
            write: write_rate.map(|rate| Limiter::new(rate, burst)),
        }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(limiter) = this.read.as_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let allowed = match limiter.poll_available(cx, buf.remaining()) {
            Poll::Ready(allowed) => allowed.min(16 * 1024),
            Poll::Pending => return Poll::Pending,
        };
        let mut chunk = [0u8; 16 * 1024];
        let mut limited = ReadBuf::new(&mut chunk[..allowed]);
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let filled = limited.filled();
                limiter.bucket.consume(filled.len());
                buf.put_slice(filled);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(limiter) = this.write.as_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        };
        if data.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        let allowed = match limiter.poll_available(cx, data.len()) {
            Poll::Ready(allowed) => allowed,
            Poll::Pending => return Poll::Pending,
        };
        match Pin::new(&mut this.inner).poll_write(cx, &data[..allowed]) {
            Poll::Ready(Ok(written)) => {
                limiter.bucket.consume(written);
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn bucket_refills_at_rate_up_to_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000, 100, start);
        assert_eq!(bucket.available(start, 500), Ok(100));
        bucket.consume(100);
        let wait = bucket.available(start, 50).unwrap_err();
        assert!((wait.as_secs_f64() - 0.05).abs() < 0.001, "{wait:?}");
        assert_eq!(
            bucket.available(start + Duration::from_millis(50), 500),
            Ok(50)
        );
        // Never more than the burst, however long it rested.
        assert_eq!(
            bucket.available(start + Duration::from_secs(60), 500),
            Ok(100)
        );
    }

    #[tokio::test]
    async fn shaped_writes_take_the_expected_time() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        // 20 KB at 100 KB/s with a 10 KB burst: the first 10 KB go at once, the rest take ~0.1 s.
        let mut shaped = Shaped::new(client, None, Some(100_000), 10_000);
        let started = std::time::Instant::now();
        let writer = tokio::spawn(async move {
            shaped.write_all(&vec![7u8; 20_000]).await.unwrap();
            shaped.shutdown().await.unwrap();
        });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        writer.await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(received.len(), 20_000);
        assert!((0.08..0.5).contains(&elapsed), "took {elapsed}s");
    }
}
