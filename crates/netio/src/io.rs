//! Bounded and timed reads on byte streams.

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
}
