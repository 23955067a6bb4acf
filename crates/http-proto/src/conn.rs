//! The server side of one HTTP/1.x connection as a sans-IO state machine (RFC 9112 §9):
//! persistence, pipelining, `Expect: 100-continue`, bodyless responses, timeouts and errors.
//!
//! Drive it like this: feed bytes with [`ServerConn::handle_input`] (and the end of the
//! stream with [`ServerConn::handle_eof`], deadlines with [`ServerConn::handle_timeout`]);
//! after every call drain [`ServerConn::poll_event`] and answer each request with
//! [`ServerConn::send_response`] or [`ServerConn::send_head`] / [`ServerConn::send_body`] /
//! [`ServerConn::finish`]; write what [`ServerConn::poll_transmit`] gives; arm a timer for
//! [`ServerConn::poll_timeout`]; close the socket once [`ServerConn::is_closed`].
//!
//! Pipelined requests are handled one at a time: the next request is parsed only when the
//! response to the previous one is finished, so responses go out in order.

use crate::body::{BodyDecoder, BodyError, BodyKind};
use crate::date::HttpDate;
use crate::head::{RequestHead, ResponseHead};
use crate::header::HeaderMap;
use crate::parse::{parse_request, Limits};
use crate::types::{Method, StatusCode, Version};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Deadlines of a server connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request (or the connection's opening) to its complete head;
    /// this is the slowloris defence, since trickling bytes does not extend it.
    pub header_read: Duration,
    /// How long a persistent connection may wait idle for its next request.
    pub idle: Duration,
    /// The longest gap between two pieces of a request body.
    pub body_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            body_read: Duration::from_secs(30),
        }
    }
}

/// Configuration of a [`ServerConn`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnConfig {
    /// Size limits.
    pub limits: Limits,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// The Server header put on the responses the machine makes itself (errors), if any.
    pub server: Option<String>,
}

/// Why a request was abandoned before its body was complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// The body could not be decoded or was too large.
    Body(BodyError),
    /// The peer closed the connection mid-body.
    Eof,
    /// The body stopped arriving.
    Timeout,
}

/// What the connection tells the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A request head; its body (if `body` is not empty) follows as [`ServerEvent::Body`]
    /// events and a [`ServerEvent::BodyEnd`].
    Request {
        /// The head.
        head: RequestHead,
        /// The framing of its body.
        body: BodyKind,
    },
    /// A piece of the current request's body.
    Body(Vec<u8>),
    /// The current request's body is complete.
    BodyEnd {
        /// Trailer fields of a chunked body.
        trailers: HeaderMap,
    },
    /// The current request's body will never complete: discard partial work (such as a
    /// temporary file). The connection closes; if no response was started the machine has
    /// answered with an error itself.
    Aborted(AbortReason),
    /// The machine answered a request itself with an error status and will close, e.g. a
    /// malformed or smuggling request (400), limits (413, 414, 431), a header timeout (408).
    Rejected {
        /// The status sent.
        status: StatusCode,
        /// Why, for the log.
        reason: String,
    },
}

#[derive(Debug)]
enum Read {
    /// Waiting for a request head; `since` is when its first byte (or the connection) came.
    Head { since: Option<Instant> },
    /// Reading the body of the current request; `paused` until the service accepts an
    /// `Expect: 100-continue` body.
    Body {
        decoder: BodyDecoder,
        paused: bool,
        last_progress: Instant,
    },
    /// The current request is fully read; waiting for its response to finish.
    Done,
    /// No more requests will be read on this connection.
    Stopped,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum OutFraming {
    None,
    Length { remaining: u64 },
    Chunked,
    Close,
}

#[derive(Debug)]
struct Current {
    method: Method,
    version: Version,
    wants_close: bool,
    expects_continue: bool,
    continue_sent: bool,
    /// The response head has been sent; body framing follows.
    responding: Option<OutFraming>,
}

/// The server side of one connection. See the module documentation for the run loop.
#[derive(Debug)]
pub struct ServerConn {
    config: std::sync::Arc<ConnConfig>,
    now: Instant,
    date: Option<HttpDate>,
    input: Vec<u8>,
    read: Read,
    current: Option<Current>,
    idle_since: Instant,
    out: Vec<u8>,
    events: VecDeque<ServerEvent>,
    close_after_response: bool,
    closing: bool,
    eof: bool,
    shutting_down: bool,
    requests: u64,
}

impl ServerConn {
    /// A connection opened at `now`. A server shares one configuration between all its
    /// connections by passing an `Arc<ConnConfig>`.
    pub fn new(config: impl Into<std::sync::Arc<ConnConfig>>, now: Instant) -> ServerConn {
        ServerConn {
            config: config.into(),
            now,
            date: None,
            input: Vec::new(),
            read: Read::Head { since: Some(now) },
            current: None,
            idle_since: now,
            out: Vec::new(),
            // One slot: a keep-alive request needs one event at a time, and the default first
            // growth (four events of a few hundred bytes) would stay with every idle connection.
            events: VecDeque::with_capacity(1),
            close_after_response: false,
            closing: false,
            eof: false,
            shutting_down: false,
            requests: 0,
        }
    }

    /// Sets the date put in the responses the machine makes itself (the driver updates it,
    /// since the machine reads no clock).
    pub fn set_date(&mut self, date: HttpDate) {
        self.date = Some(date);
    }

    /// Requests received so far on this connection.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Bytes received from the peer.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.now = now;
        if matches!(self.read, Read::Stopped) || self.closing {
            return;
        }
        if self.input.is_empty() {
            if let Read::Head {
                since: since @ None,
            } = &mut self.read
            {
                *since = Some(now);
            }
        }
        self.input.extend_from_slice(bytes);
        self.advance();
    }

    /// Whether the driver should read more now: false while enough input is buffered (a
    /// pipelining client must wait for its responses) or once reading has stopped.
    pub fn wants_input(&self) -> bool {
        if self.closing || matches!(self.read, Read::Stopped) || self.eof {
            return false;
        }
        match &self.read {
            Read::Body { paused: false, .. } => self.input.len() < 64 * 1024,
            _ => self.input.len() < self.config.limits.max_head_bytes + 1,
        }
    }

    /// Whether the connection waits for a new request with nothing buffered, nothing to send
    /// and no request in progress. A driver may then set the socket aside (until it turns
    /// readable, or the deadline of [`poll_timeout`](Self::poll_timeout) passes) and carry on
    /// with a new machine: nothing of this one is still needed.
    pub fn is_idle(&self) -> bool {
        self.current.is_none()
            && self.input.is_empty()
            && self.out.is_empty()
            && self.events.is_empty()
            && !self.closing
            && !self.eof
            && !self.shutting_down
            && matches!(self.read, Read::Head { .. })
    }

    /// The peer closed its sending side. Requests already buffered are still answered.
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.eof = true;
        self.advance();
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match &self.read {
            Read::Head { .. } => {
                if !self.input.is_empty() {
                    self.reject(StatusCode::REQUEST_TIMEOUT, "request head timeout".into());
                } else {
                    self.close_now();
                }
            }
            Read::Body { .. } => {
                self.events
                    .push_back(ServerEvent::Aborted(AbortReason::Timeout));
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.responding.is_none())
                {
                    self.reject(StatusCode::REQUEST_TIMEOUT, "request body timeout".into());
                } else {
                    self.close_now();
                }
            }
            Read::Done | Read::Stopped => {}
        }
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing {
            return None;
        }
        match &self.read {
            Read::Head { since } if self.current.is_none() => Some(match since {
                Some(since) => *since + self.config.timeouts.header_read,
                None => self.idle_since + self.config.timeouts.idle,
            }),
            Read::Body {
                paused: false,
                last_progress,
                ..
            } => Some(*last_progress + self.config.timeouts.body_read),
            _ => None,
        }
    }

    /// The next event for the service.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the peer, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The bytes waiting to be written (an alternative to [`poll_transmit`](Self::poll_transmit)
    /// that keeps the buffer's allocation: write from this slice, then call
    /// [`consume_output`](Self::consume_output)).
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of [`pending_output`](Self::pending_output) were written.
    pub fn consume_output(&mut self, n: usize) {
        let n = n.min(self.out.len());
        if n == self.out.len() {
            // Give the buffer back once written, so that idle keep-alive connections hold no
            // output memory (a fresh one costs an allocation per response).
            if self.out.capacity() > 512 {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
        } else {
            self.out.drain(..n);
        }
    }

    /// Lends the machine an empty buffer to build its output in, if it holds none: a driver
    /// that recycles buffers between responses and connections (with
    /// [`take_output_buffer`](Self::take_output_buffer)) saves an allocation per response.
    /// Gives `buffer` back if the machine has a buffer already (else an empty `Vec`).
    pub fn provide_output_buffer(&mut self, mut buffer: Vec<u8>) -> Vec<u8> {
        if self.out.capacity() == 0 {
            buffer.clear();
            std::mem::replace(&mut self.out, buffer)
        } else {
            buffer
        }
    }

    /// All pending output was written: takes the buffer back (emptied) for reuse, as
    /// [`consume_output`](Self::consume_output) of everything would, but without freeing it.
    pub fn take_output_buffer(&mut self) -> Vec<u8> {
        let mut buffer = std::mem::take(&mut self.out);
        buffer.clear();
        buffer
    }

    /// Whether the connection is finished: nothing more will be read and all output has been
    /// taken. The driver then closes the socket.
    pub fn is_closed(&self) -> bool {
        self.closing && self.out.is_empty()
    }

    /// Graceful shutdown: an idle connection closes now; a busy one closes after the current
    /// response (which carries `Connection: close`).
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        if self.current.is_none() && self.input.is_empty() {
            self.close_now();
        }
    }

    /// Accepts the body of an `Expect: 100-continue` request: sends `100 Continue` and starts
    /// delivering the body. Without Expect it does nothing.
    pub fn continue_body(&mut self) {
        let Some(current) = &mut self.current else {
            return;
        };
        if let Read::Body { paused, .. } = &mut self.read {
            if *paused {
                *paused = false;
                if current.expects_continue
                    && !current.continue_sent
                    && current.responding.is_none()
                {
                    current.continue_sent = true;
                    self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                if let Read::Body { last_progress, .. } = &mut self.read {
                    *last_progress = self.now;
                }
                self.advance();
            }
        }
    }

    /// Whether the current request's method is HEAD (its response gets no body).
    pub fn is_head_request(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.method == Method::Head)
    }

    /// Sends a complete response with `body`. Content-Length is set to `body.len()` unless the
    /// head has one already (as a response to HEAD does); the body is left out for HEAD,
    /// 1xx, 204 and 304.
    pub fn send_response(&mut self, mut head: ResponseHead, body: &[u8]) {
        if !head.headers.contains("content-length") && !head.status.forbids_body() {
            head.headers
                .append("Content-Length", itoa(body.len() as u64));
        }
        self.send_head(head);
        self.send_body(body);
        self.finish();
    }

    /// Sends the response head for the current request. The framing is Content-Length if the
    /// head has it, chunked for HTTP/1.1 clients otherwise, or close-delimited for HTTP/1.0
    /// clients. `Connection: close` or `keep-alive` is set as needed.
    pub fn send_head(&mut self, mut head: ResponseHead) {
        let Some(current) = &mut self.current else {
            return;
        };
        if current.responding.is_some() {
            return;
        }
        let bodyless = current.method == Method::Head || head.status.forbids_body();
        let length = crate::body::content_length(&head.headers).ok().flatten();
        let mut framing = if bodyless {
            OutFraming::None
        } else if let Some(remaining) = length {
            OutFraming::Length { remaining }
        } else if current.version == Version::Http11 {
            head.headers.remove("content-length");
            head.headers.insert("Transfer-Encoding", "chunked");
            OutFraming::Chunked
        } else {
            OutFraming::Close
        };
        if head.status.forbids_body() {
            head.headers.remove("transfer-encoding");
            if head.status != StatusCode::NOT_MODIFIED {
                head.headers.remove("content-length");
            }
        }
        // The rest of an unread request body would be taken for the next request: close.
        let body_unread = !matches!(self.read, Read::Done);
        let close = current.wants_close
            || self.shutting_down
            || self.close_after_response
            || body_unread
            || framing == OutFraming::Close
            || head.headers.has_token("connection", "close");
        if close {
            head.headers.insert("Connection", "close");
            self.close_after_response = true;
        } else if current.version == Version::Http10 {
            head.headers.insert("Connection", "keep-alive");
        }
        if matches!(framing, OutFraming::Length { remaining: 0 }) {
            framing = OutFraming::None;
        }
        head.version = Version::Http11;
        head.encode(&mut self.out);
        current.responding = Some(framing);
    }

    /// Sends a response head whose fields come already encoded, for a body of exactly
    /// `content_length` bytes: the fast path for a response a server sends again and again
    /// (a cached file), which skips building and checking a [`ResponseHead`].
    ///
    /// `fields` are complete `Name: value\r\n` lines, valid per RFC 9110 (the caller vouches
    /// for them, e.g. by encoding them once from a [`HeaderMap`]), including `Content-Length`
    /// and excluding `Connection` and `Transfer-Encoding`. The machine adds the status line,
    /// `Connection` as needed and the blank line, exactly as [`send_head`](Self::send_head)
    /// would for the same fields.
    pub fn send_encoded_head(&mut self, status: StatusCode, fields: &[&[u8]], content_length: u64) {
        let Some(current) = &mut self.current else {
            return;
        };
        if current.responding.is_some() {
            return;
        }
        let framing =
            if current.method == Method::Head || status.forbids_body() || content_length == 0 {
                OutFraming::None
            } else {
                OutFraming::Length {
                    remaining: content_length,
                }
            };
        // As in `send_head`: an unread request body would be taken for the next request.
        let body_unread = !matches!(self.read, Read::Done);
        let close =
            current.wants_close || self.shutting_down || self.close_after_response || body_unread;
        let out = &mut self.out;
        crate::head::encode_status_line(Version::Http11, status, status.reason(), out);
        for field in fields {
            out.extend_from_slice(field);
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
            self.close_after_response = true;
        } else if current.version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        current.responding = Some(framing);
    }

    /// Sends a piece of the response body (framed as chunks if the response is chunked;
    /// dropped for HEAD and bodyless statuses; cut at the declared Content-Length).
    pub fn send_body(&mut self, data: &[u8]) {
        let Some(current) = &mut self.current else {
            return;
        };
        match &mut current.responding {
            Some(OutFraming::Length { remaining }) => {
                let take = (*remaining).min(data.len() as u64) as usize;
                self.out.extend_from_slice(&data[..take]);
                *remaining -= take as u64;
            }
            Some(OutFraming::Chunked) => crate::body::encode_chunk(data, &mut self.out),
            Some(OutFraming::Close) => self.out.extend_from_slice(data),
            Some(OutFraming::None) | None => {}
        }
    }

    /// How many body bytes of the response the caller may still write for a Content-Length
    /// response (`None` for other framings).
    pub fn body_remaining(&self) -> Option<u64> {
        match self.current.as_ref()?.responding? {
            OutFraming::Length { remaining } => Some(remaining),
            OutFraming::None => Some(0),
            _ => None,
        }
    }

    /// The caller wrote `n` body bytes to the socket itself (after draining the pending
    /// output), e.g. straight from a file; only for Content-Length responses.
    pub fn body_sent_directly(&mut self, n: u64) {
        if let Some(Current {
            responding: Some(OutFraming::Length { remaining }),
            ..
        }) = &mut self.current
        {
            *remaining = remaining.saturating_sub(n);
        }
    }

    /// Ends the current response. A Content-Length response that fell short of its length
    /// closes the connection (the peer could not frame the next response otherwise).
    pub fn finish(&mut self) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        match current.responding {
            None => return,
            Some(OutFraming::Chunked) => crate::body::encode_last_chunk(None, &mut self.out),
            Some(OutFraming::Length { remaining }) if remaining > 0 => {
                self.close_after_response = true
            }
            Some(OutFraming::Close) => self.close_after_response = true,
            _ => {}
        }
        self.current = None;
        self.idle_since = self.now;
        if self.input.is_empty() && self.input.capacity() > 16 * 1024 {
            self.input = Vec::new();
        }
        if self.close_after_response {
            self.close_now();
            return;
        }
        if !matches!(self.read, Read::Stopped) {
            self.read = Read::Head {
                since: (!self.input.is_empty()).then_some(self.now),
            };
        }
        if self.shutting_down && self.input.is_empty() {
            self.close_now();
            return;
        }
        self.advance();
    }

    /// The driver wrote the whole response to the current request to the socket itself (a
    /// proxy relaying an origin's answer with its own framing), after draining the pending
    /// output. `close`: that response ends the connection (close-delimited, or it said
    /// `Connection: close`). The next request is read as after [`finish`](Self::finish).
    pub fn finish_sent_directly(&mut self, close: bool) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        current.responding = Some(OutFraming::None);
        if close || current.wants_close || !matches!(self.read, Read::Done) {
            self.close_after_response = true;
        }
        self.finish();
    }

    /// Whether a response to the current request must end the connection: the client asked
    /// for it, the server is shutting down, or the machine decided so (an unread body).
    pub fn must_close(&self) -> bool {
        self.shutting_down
            || self.close_after_response
            || !matches!(self.read, Read::Done)
            || self.current.as_ref().is_some_and(|c| c.wants_close)
    }

    /// After a `CONNECT` (or another request that turns the connection into something else)
    /// has been answered directly: the bytes the client sent after the request, which belong
    /// to the tunnel. The machine is closed and reads nothing more.
    pub fn take_tunnel(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.input);
        self.current = None;
        self.close_now();
        rest
    }

    fn close_now(&mut self) {
        self.closing = true;
        self.read = Read::Stopped;
        self.input = Vec::new();
    }

    fn reject(&mut self, status: StatusCode, reason: String) {
        // An error response goes out only if no response has started on this request.
        let started = self
            .current
            .as_ref()
            .is_some_and(|c| c.responding.is_some());
        if !started {
            let body = format!("{} {}\n", status.as_u16(), status.reason());
            let mut head = ResponseHead::new(status);
            if let Some(date) = self.date {
                head.headers.append("Date", date.to_string());
            }
            if let Some(server) = &self.config.server {
                head.headers.append("Server", server.clone());
            }
            head.headers
                .append("Content-Type", "text/plain; charset=utf-8");
            head.headers
                .append("Content-Length", itoa(body.len() as u64));
            head.headers.append("Connection", "close");
            head.encode(&mut self.out);
            self.out.extend_from_slice(body.as_bytes());
        }
        self.events
            .push_back(ServerEvent::Rejected { status, reason });
        self.current = None;
        self.close_now();
    }

    fn advance(&mut self) {
        loop {
            match &mut self.read {
                Read::Stopped | Read::Done => return,
                Read::Head { .. } => {
                    if self.current.is_some() {
                        return;
                    }
                    if self.shutting_down && self.requests > 0 && self.input.is_empty() {
                        self.close_now();
                        return;
                    }
                    match parse_request(&self.input, &self.config.limits) {
                        Ok(None) => {
                            if self.eof {
                                self.close_now();
                            }
                            return;
                        }
                        Err(error) => {
                            self.reject(error.status(), error.to_string());
                            return;
                        }
                        Ok(Some(parsed)) => {
                            self.input.drain(..parsed.len);
                            self.requests += 1;
                            let head = parsed.head;
                            let expects_continue =
                                head.expects_continue() && !parsed.body.is_empty();
                            self.current = Some(Current {
                                method: head.method.clone(),
                                version: head.version,
                                wants_close: head.wants_close(),
                                expects_continue,
                                continue_sent: false,
                                responding: None,
                            });
                            self.read = if parsed.body.is_empty() {
                                Read::Done
                            } else {
                                Read::Body {
                                    decoder: BodyDecoder::with_limit(
                                        parsed.body,
                                        self.config.limits.max_body,
                                    ),
                                    paused: expects_continue,
                                    last_progress: self.now,
                                }
                            };
                            self.events.push_back(ServerEvent::Request {
                                head,
                                body: parsed.body,
                            });
                        }
                    }
                }
                Read::Body {
                    decoder,
                    paused,
                    last_progress,
                } => {
                    if *paused {
                        // The client may send the body without waiting; it stays buffered.
                        return;
                    }
                    let mut data = Vec::new();
                    match decoder.decode_into(&self.input, &mut data) {
                        Ok(used) => {
                            if used > 0 {
                                *last_progress = self.now;
                            }
                            self.input.drain(..used);
                            if !data.is_empty() {
                                self.events.push_back(ServerEvent::Body(data));
                            }
                            if decoder.is_done() {
                                let trailers = decoder.take_trailers();
                                self.events.push_back(ServerEvent::BodyEnd { trailers });
                                self.read = Read::Done;
                                return;
                            }
                            if self.eof {
                                self.events
                                    .push_back(ServerEvent::Aborted(AbortReason::Eof));
                                self.current = None;
                                self.close_now();
                            }
                            return;
                        }
                        Err(error) => {
                            let status = error.status();
                            let reason = error.to_string();
                            self.events
                                .push_back(ServerEvent::Aborted(AbortReason::Body(error)));
                            self.reject(status, reason);
                            return;
                        }
                    }
                }
            }
        }
    }
}

fn itoa(value: u64) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (ServerConn, Instant) {
        let now = Instant::now();
        (ServerConn::new(ConnConfig::default(), now), now)
    }

    fn output(conn: &mut ServerConn) -> String {
        let mut text = Vec::new();
        while let Some(bytes) = conn.poll_transmit() {
            text.extend(bytes);
        }
        String::from_utf8(text).unwrap()
    }

    fn next_request(conn: &mut ServerConn) -> RequestHead {
        match conn.poll_event() {
            Some(ServerEvent::Request { head, .. }) => head,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn responses_sent_directly_keep_the_connection() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert_eq!(next_request(&mut conn).target.path(), "/a");
        assert!(!conn.must_close());
        // The second request waits until the first response is done.
        assert!(conn.poll_event().is_none());
        conn.finish_sent_directly(false);
        assert!(!conn.is_closed());
        assert_eq!(next_request(&mut conn).target.path(), "/b");
        assert!(conn.must_close());
        conn.finish_sent_directly(false);
        assert!(conn.is_closed());
    }

    #[test]
    fn a_tunnel_takes_the_bytes_after_connect() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01",
        );
        assert_eq!(next_request(&mut conn).method, Method::Connect);
        assert_eq!(conn.take_tunnel(), b"\x16\x03\x01");
        assert!(conn.is_closed());
        assert!(conn.poll_event().is_none());
    }

    #[test]
    fn encoded_heads_match_built_heads() {
        let requests: [&[u8]; 4] = [
            b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        let head = || {
            ResponseHead::new(StatusCode::OK)
                .header("Content-Type", "text/plain")
                .header("Content-Length", "5")
                .header("ETag", "\"x\"")
                .header("Server", "t")
        };
        let mut fields = Vec::new();
        head().headers.encode(&mut fields);
        for request in requests {
            let (mut built, now) = conn();
            built.handle_input(now, request);
            next_request(&mut built);
            built.send_head(head());
            built.send_body(b"hello");
            built.finish();
            let (mut encoded, now) = conn();
            encoded.handle_input(now, request);
            next_request(&mut encoded);
            encoded.send_encoded_head(StatusCode::OK, &[&fields], 5);
            encoded.send_body(b"hello");
            encoded.finish();
            assert_eq!(
                output(&mut encoded),
                output(&mut built),
                "{}",
                String::from_utf8_lossy(request)
            );
            assert_eq!(encoded.is_closed(), built.is_closed());
        }
    }

    #[test]
    fn output_buffers_are_lent_and_taken_back() {
        let (mut conn, now) = conn();
        let lent = Vec::with_capacity(4096);
        assert_eq!(conn.provide_output_buffer(lent).capacity(), 0, "taken");
        let spare = conn.provide_output_buffer(Vec::with_capacity(100));
        assert_eq!(spare.capacity(), 100, "given back: the machine has one");
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"hello");
        assert!(conn.pending_output().ends_with(b"hello"));
        let buffer = conn.take_output_buffer();
        assert!(
            buffer.is_empty() && buffer.capacity() >= 4096,
            "the lent buffer, emptied"
        );
        assert!(conn.pending_output().is_empty());
        assert!(conn.is_idle());
    }

    #[test]
    fn idle_only_between_requests_with_nothing_buffered() {
        let (mut conn, now) = conn();
        assert!(
            conn.is_idle(),
            "a new connection waits for its first request"
        );
        conn.handle_input(now, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HT");
        assert!(!conn.is_idle(), "a request is in progress");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"1");
        assert!(!conn.is_idle(), "output not yet written");
        output(&mut conn);
        assert!(!conn.is_idle(), "part of the next request is buffered");
        conn.handle_input(now, b"TP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"2");
        output(&mut conn);
        assert!(conn.is_idle());
        conn.handle_eof(now);
        assert!(!conn.is_idle(), "the peer has gone");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        for index in 1..=3 {
            let head = next_request(&mut conn);
            assert_eq!(head.target.path(), format!("/{index}"));
            assert_eq!(conn.poll_event(), None, "one request at a time");
            conn.send_response(
                ResponseHead::new(StatusCode::OK),
                index.to_string().as_bytes(),
            );
        }
        let text = output(&mut conn);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3);
        assert!(text.ends_with("Connection: close\r\n\r\n3"));
        assert!(conn.is_closed());
    }

    #[test]
    fn http_10_closes_unless_keep_alive() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"x");
        assert!(output(&mut conn).contains("Connection: keep-alive\r\n"));
        assert!(!conn.is_closed());
        conn.handle_input(now, b"GET / HTTP/1.0\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"x");
        assert!(output(&mut conn).contains("Connection: close\r\n"));
        assert!(conn.is_closed());
    }

    #[test]
    fn head_and_304_have_no_body() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(
            ResponseHead::new(StatusCode::OK).header("Content-Length", "5"),
            b"hello",
        );
        assert_eq!(
            output(&mut conn),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        );
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::NOT_MODIFIED), b"ignored");
        assert_eq!(output(&mut conn), "HTTP/1.1 304 Not Modified\r\n\r\n");
        assert!(!conn.is_closed());
    }

    #[test]
    fn streaming_without_length_is_chunked() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.send_head(ResponseHead::new(StatusCode::OK));
        conn.send_body(b"abc");
        conn.finish();
        assert_eq!(
            output(&mut conn),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn expect_100_continue() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        );
        next_request(&mut conn);
        assert_eq!(conn.poll_event(), None);
        assert_eq!(output(&mut conn), "");
        conn.continue_body();
        assert_eq!(output(&mut conn), "HTTP/1.1 100 Continue\r\n\r\n");
        conn.handle_input(now, b"abc");
        assert_eq!(conn.poll_event(), Some(ServerEvent::Body(b"abc".to_vec())));
        assert!(matches!(
            conn.poll_event(),
            Some(ServerEvent::BodyEnd { .. })
        ));
        conn.send_response(ResponseHead::new(StatusCode::CREATED), b"");
        assert!(output(&mut conn).starts_with("HTTP/1.1 201 Created\r\n"));
        assert!(!conn.is_closed());
    }

    #[test]
    fn refusing_an_expected_body_closes() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        );
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::METHOD_NOT_ALLOWED), b"");
        assert!(output(&mut conn).contains("Connection: close"));
        assert!(conn.is_closed());
    }

    #[test]
    fn malformed_requests_get_400_and_close() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n");
        assert!(matches!(
            conn.poll_event(),
            Some(ServerEvent::Rejected {
                status: StatusCode::BAD_REQUEST,
                ..
            })
        ));
        let text = output(&mut conn);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(conn.is_closed());
    }

    #[test]
    fn body_aborted_on_eof() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
        );
        next_request(&mut conn);
        assert_eq!(conn.poll_event(), Some(ServerEvent::Body(b"abc".to_vec())));
        conn.handle_eof(now);
        assert_eq!(
            conn.poll_event(),
            Some(ServerEvent::Aborted(AbortReason::Eof))
        );
        assert!(conn.is_closed());
    }

    #[test]
    fn half_closed_client_still_gets_answers() {
        let (mut conn, now) = conn();
        conn.handle_input(
            now,
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        conn.handle_eof(now);
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"1");
        next_request(&mut conn);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"2");
        assert_eq!(output(&mut conn).matches("200 OK").count(), 2);
        assert!(conn.is_closed());
    }

    #[test]
    fn timeouts() {
        let (mut conn, now) = conn();
        let header = conn.poll_timeout().unwrap();
        assert_eq!(header, now + Duration::from_secs(10));
        // Trickling bytes does not move the header deadline.
        conn.handle_input(now + Duration::from_secs(5), b"GET / HT");
        assert_eq!(conn.poll_timeout(), Some(header));
        conn.handle_timeout(header);
        assert!(matches!(
            conn.poll_event(),
            Some(ServerEvent::Rejected {
                status: StatusCode::REQUEST_TIMEOUT,
                ..
            })
        ));
        assert!(conn.is_closed() || output(&mut conn).contains("408"));

        let (mut conn, now) = self::conn();
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        assert_eq!(conn.poll_timeout(), None);
        conn.send_response(ResponseHead::new(StatusCode::OK), b"");
        let idle = conn.poll_timeout().unwrap();
        assert_eq!(idle, now + Duration::from_secs(60));
        conn.handle_timeout(idle);
        assert_eq!(conn.poll_event(), None);
        output(&mut conn);
        assert!(conn.is_closed());
    }

    #[test]
    fn graceful_shutdown() {
        let (mut conn, now) = conn();
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        next_request(&mut conn);
        conn.begin_shutdown();
        assert!(!conn.is_closed());
        conn.send_response(ResponseHead::new(StatusCode::OK), b"");
        assert!(output(&mut conn).contains("Connection: close"));
        assert!(conn.is_closed());
    }
}
