//! What the HTTP/1.1 driver reads from and writes to: the bare socket (netio's `Stream`, with
//! its readiness tricks, `sendfile` and parking) or a TLS session over it. TLS has no
//! readiness of its own (rustls may hold decrypted bytes the socket no longer signals), so
//! `readable` reads a record into a buffer and `try_read` serves from it; file bodies are
//! read and written (encryption needs the bytes in user space); a TLS connection never parks.

use netio::tcp::Stream;
use std::io::ErrorKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server-side TLS session over TCP.
pub(super) type TlsStream = tls::ServerTlsStream<TcpStream>;

/// A connection's byte stream.
pub(super) enum Transport {
    Plain(Stream),
    Tls(Box<TlsSide>),
}

/// A TLS session and the decrypted bytes read ahead of the driver.
pub(super) struct TlsSide {
    stream: TlsStream,
    buffer: Vec<u8>,
    at: usize,
    eof: bool,
}

impl Transport {
    pub(super) fn tls(stream: TlsStream) -> Transport {
        Transport::Tls(Box::new(TlsSide {
            stream,
            buffer: Vec::new(),
            at: 0,
            eof: false,
        }))
    }

    /// Whether an idle connection may leave the runtime for netio's lot.
    pub(super) fn can_park(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }

    pub(super) async fn readable(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.readable().await,
            Transport::Tls(side) => {
                if side.at < side.buffer.len() || side.eof {
                    return Ok(());
                }
                side.buffer.resize(16 * 1024, 0);
                side.at = 0;
                let n = side.stream.read(&mut side.buffer).await?;
                side.buffer.truncate(n);
                side.eof = n == 0;
                Ok(())
            }
        }
    }

    pub(super) fn try_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.try_read(buf),
            Transport::Tls(side) => {
                let waiting = &side.buffer[side.at..];
                if waiting.is_empty() {
                    return if side.eof {
                        Ok(0)
                    } else {
                        Err(ErrorKind::WouldBlock.into())
                    };
                }
                let n = waiting.len().min(buf.len());
                buf[..n].copy_from_slice(&waiting[..n]);
                side.at += n;
                Ok(n)
            }
        }
    }

    pub(super) fn forget_readable(&mut self) {
        if let Transport::Plain(stream) = self {
            stream.forget_readable();
        }
    }

    /// Writes without waiting where the socket allows it (TLS: never; the caller then waits in
    /// [`Transport::write_all`]).
    pub(super) fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.try_write(bytes),
            Transport::Tls(_) => Err(ErrorKind::WouldBlock.into()),
        }
    }

    pub(super) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.registered()?.write_all(bytes).await,
            Transport::Tls(side) => {
                side.stream.write_all(bytes).await?;
                side.stream.flush().await
            }
        }
    }

    pub(super) async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.registered()?.shutdown().await,
            Transport::Tls(side) => side.stream.shutdown().await,
        }
    }

    pub(super) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.registered()?.read(buf).await,
            Transport::Tls(_) => {
                self.readable().await?;
                self.try_read(buf)
            }
        }
    }

    pub(super) fn set_cork(&self, cork: bool) -> std::io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.set_cork(cork),
            Transport::Tls(_) => Err(ErrorKind::Unsupported.into()),
        }
    }

    /// Sends `len` bytes of `file` from `offset`: `sendfile(2)` on a bare socket, else read
    /// and written in 64 KiB pieces. Returns the bytes sent (fewer if the file is shorter).
    pub(super) async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        timeout: Duration,
    ) -> std::io::Result<u64> {
        match self {
            Transport::Plain(stream) => stream.send_file(file, offset, len, timeout).await,
            Transport::Tls(side) => {
                let mut chunk = vec![0u8; 64 * 1024];
                let mut sent = 0u64;
                while sent < len {
                    let want = (len - sent).min(chunk.len() as u64) as usize;
                    let n = super::fs::read_at(file, offset + sent, &mut chunk[..want])?;
                    if n == 0 {
                        break;
                    }
                    netio::io::timeout(timeout, "send", side.stream.write_all(&chunk[..n])).await?;
                    sent += n as u64;
                }
                side.stream.flush().await?;
                Ok(sent)
            }
        }
    }

    /// The bare socket, for parking (`None` for TLS, which never parks).
    pub(super) fn into_plain(self) -> Option<Stream> {
        match self {
            Transport::Plain(stream) => Some(stream),
            Transport::Tls(_) => None,
        }
    }
}
