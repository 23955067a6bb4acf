//! CONNECT: a blind tunnel to `host:port` (forward mode only), logged when it ends.

use super::upstream::connect;
use super::{emit_sent, Shared};
use crate::forward::{error_response, CacheStatus};
use http_proto::{RequestHead, RequestTarget, StatusCode};
use netio::tcp::Conn;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// CONNECT: a blind tunnel to `host:port` (forward mode only).
pub(super) async fn tunnel(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    buffered: Vec<u8>,
) {
    let RequestTarget::Authority { host, port } = &head.target else {
        return;
    };
    if shared.config.origin.is_some() || !shared.config.allow_connect {
        let reply = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT not allowed here",
            shared.via(),
            true,
        );
        let _ = client.write_all(&reply).await;
        return;
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = format!("{host}:{port}");
    let (mut upstream, _) = match connect(shared, &authority, false).await {
        Ok(connected) => connected,
        Err(failure) => {
            let reply = error_response(failure.status(), &failure.to_string(), shared.via(), true);
            let _ = client.write_all(&reply).await;
            return;
        }
    };
    let established = format!(
        "HTTP/1.1 200 Connection Established\r\nVia: 1.1 {}\r\n\r\n",
        shared.via()
    );
    if client.write_all(established.as_bytes()).await.is_err() {
        return;
    }
    emit_sent(conn, 200, CacheStatus::Miss);
    if !buffered.is_empty() && upstream.write_all(&buffered).await.is_err() {
        return;
    }
    let started = Instant::now();
    let copied = tokio::select! {
        copied = tokio::io::copy_bidirectional(client, &mut upstream) => copied,
        _ = conn.shutdown.triggered() => Ok((0, 0)),
    };
    let (up, down) = copied.unwrap_or((0, 0));
    tracing::info!(
        target: "web_proxy::access",
        "{} \"CONNECT {authority} {}\" 200 {down} TUNNEL {:.1}ms up={up}",
        conn.peer.ip(),
        head.version,
        started.elapsed().as_secs_f64() * 1000.0
    );
}
