//! A TCP connection that joins the runtime's reactor only once it has to wait.
//!
//! Registering a socket with the reactor costs an `epoll_ctl` to add it, another to remove it
//! before close, and an event the moment it is added (tokio asks for writability too, which a
//! fresh socket has at once). A connection whose request is already there when it is accepted
//! (the listener defers accept until data arrives) or when it comes back from the idle lot
//! can often be answered and closed, or parked again, without waiting once: [`Stream`] lets it.
//! It reads and writes the bare socket while nothing would block, and registers it the first
//! time the handler must wait.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use tokio::net::TcpStream;

/// A server-side TCP connection for [`crate::tcp::serve_parking`] handlers: the non-blocking
/// `try_*` calls and [`Stream::readable`] work on the bare socket until something would block;
/// then the socket is registered with the runtime (and `TCP_NODELAY` set), and
/// [`Stream::registered`] gives the tokio stream for everything else.
#[derive(Debug)]
pub struct Stream {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not registered with the runtime.
    Loose {
        socket: std::net::TcpStream,
        /// Whether a read may find bytes: true until one would block.
        ready: bool,
        /// Whether `TCP_NODELAY` is set. A connection answered with one write and closed
        /// needs no syscall for it; a second write sets it first, so that it does not wait
        /// for the first one's acknowledgement.
        nodelay: bool,
        /// Whether something was written.
        written: bool,
    },
    Registered(TcpStream),
    /// Registration failed; the socket is gone.
    Failed,
}

fn failed() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "socket lost: registering it with the runtime failed",
    )
}

impl Stream {
    /// A non-blocking socket not yet registered. `ready`: whether its first read should be
    /// tried at once (bytes are probably there) rather than after the reactor says so.
    /// `nodelay`: whether `TCP_NODELAY` is set on it already.
    pub(crate) fn loose(socket: std::net::TcpStream, ready: bool, nodelay: bool) -> Stream {
        Stream {
            state: State::Loose {
                socket,
                ready,
                nodelay,
                written: false,
            },
        }
    }

    /// A stream that is registered already (tests, or a handler run by hand). Set
    /// `TCP_NODELAY` on it first if it may be parked: a parked socket is taken to have it.
    pub fn from_tokio(stream: TcpStream) -> Stream {
        Stream {
            state: State::Registered(stream),
        }
    }

    /// Whether the socket has been registered with the runtime.
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// Reads what the socket has, without waiting: `WouldBlock` if nothing, `Ok(0)` at end of
    /// stream.
    pub fn try_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.state {
            State::Loose { socket, ready, .. } => {
                let result = socket.read(buf);
                if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                    *ready = false;
                }
                result
            }
            State::Registered(stream) => stream.try_read(buf),
            State::Failed => Err(failed()),
        }
    }

    /// Writes what the socket takes now, without waiting (`WouldBlock` if nothing).
    pub fn try_write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.state {
            State::Loose {
                socket,
                written,
                nodelay,
                ..
            } => {
                if *written && !*nodelay {
                    socket.set_nodelay(true)?;
                    *nodelay = true;
                }
                *written = true;
                socket.write(buf)
            }
            State::Registered(stream) => stream.try_write(buf),
            State::Failed => Err(failed()),
        }
    }

    /// Notes that the socket was just read empty (a short read), so that the next
    /// [`Stream::readable`] waits for new bytes instead of trying a read that would block.
    ///
    /// For a registered socket this clears the runtime's readiness, which is only safe on a
    /// current-thread runtime: there no reactor turn can record new bytes between the read
    /// and the clearing. On a multi-thread runtime it does nothing (the next read finds out).
    pub fn forget_readable(&mut self) {
        match &mut self.state {
            State::Loose { ready, .. } => *ready = false,
            State::Registered(stream) => {
                let current_thread = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
                    handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
                });
                if current_thread {
                    let _ = stream.try_io(tokio::io::Interest::READABLE, || {
                        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                    });
                }
            }
            State::Failed => {}
        }
    }

    /// Waits until a read may find bytes (or the end of the stream). A loose socket that may
    /// have bytes returns at once; one that has none is registered first.
    pub async fn readable(&mut self) -> std::io::Result<()> {
        if let State::Loose { ready: true, .. } = self.state {
            return Ok(());
        }
        self.registered()?.readable().await
    }

    /// The tokio stream, registering the socket (with `TCP_NODELAY`) if it is not yet.
    pub fn registered(&mut self) -> std::io::Result<&mut TcpStream> {
        if let State::Loose { .. } = self.state {
            let State::Loose {
                socket, nodelay, ..
            } = std::mem::replace(&mut self.state, State::Failed)
            else {
                unreachable!("matched just above");
            };
            // Small request/response exchanges must not wait for Nagle (a socket that refuses
            // the option still works).
            if !nodelay {
                let _ = socket.set_nodelay(true);
            }
            self.state = State::Registered(TcpStream::from_std(socket)?);
        }
        match &mut self.state {
            State::Registered(stream) => Ok(stream),
            _ => Err(failed()),
        }
    }

    /// Sends `len` bytes of `file` from `offset` with `sendfile(2)`: the bytes go from the
    /// page cache to the socket without being copied through user space (what nginx's
    /// `sendfile on` does). When the socket's buffer is full it registers and waits for room,
    /// each wait bounded by `timeout` (then `TimedOut`). Returns the bytes sent: fewer than
    /// `len` only if the file is shorter than `offset + len` (it shrank under us).
    pub async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        timeout: std::time::Duration,
    ) -> std::io::Result<u64> {
        let end = offset.saturating_add(len);
        let mut position = offset;
        while position < end {
            // Linux sends at most about 2 GiB per call.
            let count = (end - position).min(1 << 30) as usize;
            let send = |socket: &dyn AsFd, position: &mut u64| {
                rustix::fs::sendfile(socket, file, Some(position), count).map_err(Into::into)
            };
            let sent = match &mut self.state {
                State::Loose { socket, .. } => send(socket, &mut position),
                State::Registered(stream) => stream.try_io(tokio::io::Interest::WRITABLE, || {
                    send(stream, &mut position)
                }),
                State::Failed => Err(failed()),
            };
            match sent {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    let stream = self.registered()?;
                    crate::io::timeout(timeout, "send", stream.writable()).await?;
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(position - offset)
    }

    /// Corks (`true`) or uncorks the socket (`TCP_CORK`): while corked, partial segments are
    /// held back, so a response head and the file body sent after it leave in full-sized
    /// segments (nginx's `tcp_nopush`). Uncorking sends what is held at once.
    pub fn set_cork(&self, cork: bool) -> std::io::Result<()> {
        let fd = match &self.state {
            State::Loose { socket, .. } => socket.as_fd(),
            State::Registered(stream) => stream.as_fd(),
            State::Failed => return Err(failed()),
        };
        rustix::net::sockopt::set_tcp_cork(fd, cork).map_err(Into::into)
    }

    /// The tokio stream, registered (with `TCP_NODELAY`).
    pub(crate) fn into_registered(mut self) -> std::io::Result<TcpStream> {
        self.registered()?;
        match self.state {
            State::Registered(stream) => Ok(stream),
            _ => Err(failed()),
        }
    }

    /// The bare socket, out of the runtime, with `TCP_NODELAY` set (to park it: a parked
    /// socket comes back as [`Stream::loose`] with `nodelay`).
    pub fn into_std(self) -> std::io::Result<std::net::TcpStream> {
        match self.state {
            State::Loose {
                socket, nodelay, ..
            } => {
                if !nodelay {
                    socket.set_nodelay(true)?;
                }
                Ok(socket)
            }
            State::Registered(stream) => stream.into_std(),
            State::Failed => Err(failed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn loose_stream_sets_nodelay_only_when_a_second_write_or_parking_needs_it() {
        let (server, mut client) = pair();
        let probe = server.try_clone().unwrap();
        let mut stream = Stream::loose(server, true, false);
        // Nothing to read yet: the read says so, and the stream stops assuming bytes.
        let mut buf = [0u8; 8];
        assert_eq!(
            stream.try_read(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        client.write_all(b"ping").unwrap();
        // `readable` now registers and waits for the reactor's word.
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.readable())
            .await
            .unwrap()
            .unwrap();
        assert!(stream.is_registered());
        assert!(probe.nodelay().unwrap());
        assert_eq!(stream.try_read(&mut buf).unwrap(), 4);

        let (server, _client) = pair();
        let probe = server.try_clone().unwrap();
        let mut stream = Stream::loose(server, true, false);
        stream.try_write(b"one").unwrap();
        assert!(!probe.nodelay().unwrap(), "one write needs no TCP_NODELAY");
        stream.try_write(b"two").unwrap();
        assert!(
            probe.nodelay().unwrap(),
            "the second write sets TCP_NODELAY"
        );
        assert!(!stream.is_registered());

        let (server, _client) = pair();
        let probe = server.try_clone().unwrap();
        let stream = Stream::loose(server, true, false);
        let parked = stream.into_std().unwrap();
        assert!(parked.nodelay().unwrap() && probe.nodelay().unwrap());
    }
}
