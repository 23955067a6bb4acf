//! Bounded and timed reads on byte streams, two-byte length-prefixed framing (DNS over TCP,
//! RFC 1035 §4.2.2, the one copy the DNS server and resolver share), and file bodies sent
//! with `sendfile`.

use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Runs `future` with a deadline; on expiry gives an `io::ErrorKind::TimedOut` error that names
/// `what` (e.g. "idle", "header read").
pub async fn timeout<T>(
    duration: Duration,
    what: &'static str,
    future: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(duration, future).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{what} timeout after {}s", duration.as_secs_f64()),
        )),
    }
}

/// Appends `message` to `out` with its two-byte big-endian length in front; a message over
/// 65,535 bytes cannot be framed (`InvalidInput`), it is never cut short.
pub fn frame_u16(out: &mut Vec<u8>, message: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(message.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a {}-byte message does not fit a 2-byte length",
                message.len()
            ),
        )
    })?;
    out.reserve(message.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(())
}

/// Writes one length-prefixed message (one write for prefix and message).
pub async fn write_u16_framed<W: tokio::io::AsyncWrite + Unpin>(
    stream: &mut W,
    message: &[u8],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut framed = Vec::new();
    frame_u16(&mut framed, message)?;
    stream.write_all(&framed).await
}

/// Reads a two-byte big-endian length prefix.
pub async fn read_u16_prefix<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    Ok(usize::from(u16::from_be_bytes(len)))
}

/// Reads `len` bytes (the message after its prefix).
pub async fn read_exactly<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut message = vec![0u8; len];
    stream.read_exact(&mut message).await?;
    Ok(message)
}

/// Reads one length-prefixed message.
pub async fn read_u16_framed<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
) -> std::io::Result<Vec<u8>> {
    let len = read_u16_prefix(stream).await?;
    read_exactly(stream, len).await
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line; the terminating `\n` (and a `\r` before it) is not included.
    Complete(Vec<u8>),
    /// The peer closed the stream after these bytes and before a newline (may be empty).
    Eof(Vec<u8>),
    /// The line grew past the limit before a newline arrived. The bytes of the over-long line
    /// up to and including its newline have been consumed, so the stream is in sync again,
    /// unless the peer closed first.
    TooLong,
}

/// Reads one `\n`-terminated line of at most `max` bytes (terminator excluded), never buffering
/// more than `max` bytes of it, whatever the peer sends.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Eof(line)
            });
        }
        let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
            Some(index) => (&available[..=index], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            let content = if found { &chunk[..used - 1] } else { chunk };
            if line.len() + content.len() > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(content);
            }
        }
        reader.consume(used);
        if found {
            if too_long {
                return Ok(Line::TooLong);
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Complete(line));
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn framing_refuses_what_does_not_fit() {
        let mut out = Vec::new();
        frame_u16(&mut out, b"abc").expect("fits");
        assert_eq!(out, [0, 3, b'a', b'b', b'c']);
        assert!(frame_u16(&mut out, &vec![0u8; 65_536]).is_err());
        assert_eq!(out.len(), 5, "nothing appended on error");
        frame_u16(&mut out, &vec![7u8; 65_535]).expect("the largest fits");
        assert_eq!(&out[5..7], [0xFF, 0xFF]);
    }

    #[tokio::test]
    async fn framed_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 17);
        write_u16_framed(&mut a, b"hello").await.expect("write");
        write_u16_framed(&mut a, b"").await.expect("write");
        assert_eq!(read_u16_framed(&mut b).await.expect("read"), b"hello");
        assert_eq!(read_u16_framed(&mut b).await.expect("read"), b"");
        drop(a);
        assert!(read_u16_framed(&mut b).await.is_err());
    }

    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut reader, max).await.unwrap();
            let end = matches!(line, Line::Eof(_));
            out.push(line);
            if end || out.len() > 10 {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_strips_crlf() {
        assert_eq!(
            lines(b"ab\r\ncdef\nx", 10).await,
            vec![
                Line::Complete(b"ab".to_vec()),
                Line::Complete(b"cdef".to_vec()),
                Line::Eof(b"x".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn too_long_line_is_skipped_and_stream_resyncs() {
        assert_eq!(
            lines(b"0123456789abc\nok\n", 5).await,
            vec![
                Line::TooLong,
                Line::Complete(b"ok".to_vec()),
                Line::Eof(Vec::new())
            ]
        );
    }

    #[tokio::test]
    async fn send_file_sends_ranges_to_a_slow_reader_and_stops_at_the_end_of_the_file() {
        use tokio::io::AsyncReadExt;
        let path = std::env::temp_dir().join(format!("netio-sendfile-{}", std::process::id()));
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Unregistered at first, as an accepted connection is: the first wait registers it.
        let server = server.into_std().unwrap();
        // Small buffers, so that the sender has to wait for room.
        rustix::net::sockopt::set_socket_send_buffer_size(&server, 16 * 1024).unwrap();
        let mut server = crate::tcp::Stream::loose(server, true, false);
        let sender = tokio::spawn(async move {
            let timeout = Duration::from_secs(5);
            // A range that fills the socket buffers many times over (the reader is slow).
            let first = server
                .send_file(&file, 1000, 2_500_000, timeout)
                .await
                .unwrap();
            // A range past the end of the file: only what exists is sent.
            let second = server
                .send_file(&file, 2_999_990, 100, timeout)
                .await
                .unwrap();
            ((first, second), server)
        });
        let mut received = Vec::new();
        let mut buffer = vec![0u8; 4096];
        while received.len() < 2_500_010 {
            let n = client.read(&mut buffer).await.unwrap();
            assert!(n > 0);
            received.extend_from_slice(&buffer[..n]);
            if received.len() < 100_000 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let (sent, server) = sender.await.unwrap();
        assert_eq!(sent, (2_500_000, 10));
        assert!(
            server.is_registered(),
            "waiting for room registered the socket"
        );
        assert_eq!(&received[..2_500_000], &content[1000..2_501_000]);
        assert_eq!(&received[2_500_000..], &content[2_999_990..]);
    }
}
