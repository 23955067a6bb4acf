//! The receive/answer loop for datagram services (DNS, the UDP uppercase server, the pinger).

use crate::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// The largest datagram [`serve`] receives; longer ones are truncated by the kernel.
pub const MAX_DATAGRAM: usize = 65_535;

/// Receives datagrams on `socket` until `shutdown` fires and sends back whatever `handler`
/// returns for each (nothing for `None`).
///
/// The handler runs inline: datagram services answer from memory, so there is no task per
/// packet. Receive and send errors (such as ICMP port-unreachable reported on the socket) are
/// logged at debug level and never end the loop.
pub async fn serve<H>(
    socket: Arc<UdpSocket>,
    shutdown: Shutdown,
    mut handler: H,
) -> std::io::Result<()>
where
    H: FnMut(&[u8], SocketAddr) -> Option<Vec<u8>>,
{
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // One shutdown waiter for the whole loop, not one per datagram.
    let stopped = shutdown.triggered();
    tokio::pin!(stopped);
    loop {
        let received = tokio::select! {
            biased;
            _ = &mut stopped => return Ok(()),
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!("udp receive error: {error}");
                continue;
            }
        };
        if let Some(reply) = handler(&buf[..len], peer) {
            if let Err(error) = socket.send_to(&reply, peer).await {
                tracing::debug!(%peer, "udp send error: {error}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_each_datagram() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(socket, shutdown.clone(), |bytes, _peer| {
            if bytes == b"drop" {
                None
            } else {
                Some(bytes.iter().rev().copied().collect())
            }
        }));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        client.send(b"drop").await.unwrap();
        client.send(b"abc").await.unwrap();
        let mut buf = [0u8; 16];
        let len = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..len], b"cba");
        shutdown.trigger();
        server.await.unwrap().unwrap();
    }
}
