//! The one socket option we need that neither std (stably) nor rustix offers:
//! `TCP_DEFER_ACCEPT`. This module holds the workspace's only unsafe code, two plain
//! `setsockopt`/`getsockopt` calls on an `int`.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// Makes a listening socket defer accept until the client's first bytes have come
/// (`TCP_DEFER_ACCEPT`, nginx's `listen ... deferred`, Apache's default on Linux): the kernel
/// completes the handshake but wakes `accept` only once there is something to read, or after
/// about `wait` (rounded up to whole seconds; then the connection is accepted without data).
/// A zero `wait` turns deferral off.
/// For protocols where the client speaks first (HTTP); never for SMTP, POP3 or IMAP.
pub fn set_defer_accept(listener: &impl AsFd, wait: Duration) -> std::io::Result<()> {
    let seconds = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .min(i32::MAX as u64) as libc::c_int;
    let fd = listener.as_fd().as_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `fd` is borrowed from a live socket for the call, and the kernel reads exactly
    // `size_of::<c_int>()` bytes from `seconds`, a live local of that type.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether a listening socket defers accept until data comes ([`set_defer_accept`]).
pub fn defers_accept(listener: &impl AsFd) -> std::io::Result<bool> {
    let fd = listener.as_fd().as_raw_fd();
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: `fd` is borrowed from a live socket for the call; the kernel writes at most
    // `len` bytes (the size of `value`, a live local) and the new length to `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value > 0)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defer_accept_is_set_and_read_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!defers_accept(&listener).unwrap());
        set_defer_accept(&listener, Duration::from_millis(200)).unwrap();
        assert!(defers_accept(&listener).unwrap());
        set_defer_accept(&listener, Duration::ZERO).unwrap();
        assert!(!defers_accept(&listener).unwrap());
    }
}
