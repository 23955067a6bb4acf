//! Name resolution and outgoing connections for clients: a pluggable resolver (the system's,
//! or the world's own DNS), and connecting from a chosen local address so that a world host's
//! traffic leaves from its own address.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use tokio::net::{TcpSocket, TcpStream};

/// Turns a host name into addresses.
pub trait Resolve: Send + Sync + Debug {
    /// The addresses of `host` (a name or an IP literal) with `port`.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;
}

/// The system resolver (getaddrinfo through tokio); IP literals need no lookup.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(ip) = ip_literal(host) {
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            Ok(tokio::net::lookup_host((host, port)).await?.collect())
        })
    }
}

/// `host` as an IP address, with or without IPv6 brackets.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Connects to `addr`, from `source` when given (port chosen by the kernel).
pub async fn connect_from(source: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// Resolves `host` and connects to the first address that answers, from `source` when given.
pub async fn connect(
    resolver: &dyn Resolve,
    source: Option<IpAddr>,
    host: &str,
    port: u16,
) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
    for addr in resolver.resolve(host, port).await? {
        match connect_from(source, addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_from_the_chosen_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let source: IpAddr = "127.0.0.77".parse().unwrap();
        let (client, accepted) = tokio::join!(
            connect(&SystemResolver, Some(source), "127.0.0.1", port),
            listener.accept()
        );
        assert_eq!(client.unwrap().local_addr().unwrap().ip(), source);
        assert_eq!(accepted.unwrap().1.ip(), source);
    }

    #[test]
    fn ip_literals_with_and_without_brackets() {
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal("example.com"), None);
    }
}
