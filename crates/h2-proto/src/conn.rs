//! A server's HTTP/2 connection (RFC 9113) as a sans-IO machine: bytes in through
//! [`ServerConn::handle_input`] (with the time), requests and their bodies out through
//! [`ServerConn::poll_event`], responses in through [`ServerConn::send_headers`] and
//! [`ServerConn::send_data`], frames out through [`ServerConn::poll_transmit`].
//!
//! It owns the preface and SETTINGS exchange, stream states (§5.1), the connection and stream
//! flow-control windows in both directions (§5.2, §6.9), header blocks across CONTINUATION,
//! request validation (§8.2, §8.3: a malformed request costs its stream, not the connection),
//! RFC 9218 priorities deciding which stream's DATA goes next, server push, graceful GOAWAY,
//! and the limits against the known attacks: rapid reset (CVE-2023-44487), CONTINUATION floods
//! (the header block is bounded), HPACK bombs (the decoded list is bounded; the block still
//! decodes so the table stays in step, and the stream gets `431`), SETTINGS/PING floods (a
//! count per window and a bound on unsent replies), zero-window stalls (`handle_timeout`
//! closes a connection whose peer keeps our data blocked), and stream-limit floods
//! (REFUSED_STREAM beyond SETTINGS_MAX_CONCURRENT_STREAMS, counted as resets).

use crate::frame::{self, setting, Dependency, ErrorCode, Frame, FrameError, MAX_WINDOW, PREFACE};
use crate::hpack;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The limits and settings of a connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much request body a stream may send
    /// ahead of our reading it.
    pub initial_window_size: u32,
    /// The connection's receive window (raised from 65,535 by a WINDOW_UPDATE at the start).
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a larger request gets `431`.
    pub max_header_list_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE we advertise (the decoder's memory).
    pub header_table_size: u32,
    /// The largest header block (HEADERS and its CONTINUATIONs) we buffer; past it the
    /// connection ends with ENHANCE_YOUR_CALM.
    pub max_header_block: usize,
    /// Client resets (and refused streams) allowed per `window`.
    pub max_resets: u32,
    /// Frames that cost us work but carry no request (SETTINGS, PING, PRIORITY, empty DATA,
    /// WINDOW_UPDATE, unknown types) allowed per `window`.
    pub max_control_frames: u32,
    /// The window both counts are kept over.
    pub window: Duration,
    /// Unsent replies (SETTINGS and PING ACKs, RST_STREAMs) we hold before giving up on a peer
    /// that sends but does not read.
    pub max_control_backlog: usize,
    /// How long response data may wait on a window the peer keeps at zero.
    pub stall_timeout: Duration,
    /// Whether to record each frame's summary for wire events ([`ServerConn::take_log`]).
    pub record: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent_streams: 100,
            initial_window_size: 1 << 20,
            connection_window: 4 << 20,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 64 * 1024,
            header_table_size: 4096,
            max_header_block: 256 * 1024,
            max_resets: 200,
            max_control_frames: 2000,
            window: Duration::from_secs(10),
            max_control_backlog: 64 * 1024,
            stall_timeout: Duration::from_secs(30),
            record: false,
        }
    }
}

/// A request's head, validated (RFC 9113 §8.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `:method`.
    pub method: String,
    /// `:scheme` (empty for CONNECT).
    pub scheme: String,
    /// `:authority`, if sent.
    pub authority: Option<String>,
    /// `:path` (empty for CONNECT).
    pub path: String,
    /// The regular fields in order, names lowercase; `cookie` crumbs joined (§8.2.3).
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// The first value of a field.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// What the connection tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request.
    Request {
        /// Its stream.
        stream: u32,
        /// The head.
        request: Request,
        /// No body follows.
        end_stream: bool,
    },
    /// Request body bytes (empty with `end_stream` for trailers or an empty last frame).
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
        /// The body is complete.
        end_stream: bool,
    },
    /// The stream ended abnormally (the client reset it, or we did on its error): stop
    /// answering it.
    Reset {
        /// The stream.
        stream: u32,
        /// The code.
        code: ErrorCode,
    },
    /// The client sent GOAWAY.
    GoAway {
        /// Its code.
        code: ErrorCode,
    },
}

/// A frame's direction in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the peer.
    Received,
    /// To the peer.
    Sent,
}

/// Why a send was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is not open for sending (never opened, reset, or already ended).
    #[error("stream {0} is not open for sending")]
    NotOpen(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the 24 bytes of the client preface.
    Preface,
    /// The preface came; the first frame must be SETTINGS.
    FirstSettings,
    /// Running.
    Open,
    /// A connection error: GOAWAY queued, nothing more read or answered.
    Failed,
}

/// RFC 9218 priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// Urgency 0 (highest) ..= 7.
    pub urgency: u8,
    /// Incremental: interleave with the other incremental streams of its urgency.
    pub incremental: bool,
}

impl Default for Priority {
    fn default() -> Priority {
        Priority {
            urgency: 3,
            incremental: false,
        }
    }
}

impl Priority {
    /// Parses a Priority Field Value (RFC 9218 §4: a structured-field dictionary with `u`
    /// and `i`); unknown members and bad values are ignored, as §4 asks.
    pub fn parse(value: &[u8], mut base: Priority) -> Priority {
        let Ok(text) = std::str::from_utf8(value) else {
            return base;
        };
        for member in text.split(',') {
            let member = member.trim();
            let (key, value) = member.split_once('=').unwrap_or((member, "?1"));
            let value = value.split(';').next().unwrap_or("").trim();
            match key.trim() {
                "u" => {
                    if let Ok(urgency) = value.parse::<u8>() {
                        if urgency <= 7 {
                            base.urgency = urgency;
                        }
                    }
                }
                "i" => match value {
                    "?1" => base.incremental = true,
                    "?0" => base.incremental = false,
                    _ => {}
                },
                _ => {}
            }
        }
        base
    }
}

#[derive(Debug)]
struct Stream {
    /// The client may still send (DATA, trailers).
    remote_open: bool,
    /// We have sent the response's final HEADERS.
    headers_sent: bool,
    /// We have sent END_STREAM.
    local_closed: bool,
    recv_window: i64,
    recv_unacked: u32,
    send_window: i64,
    /// Body bytes waiting for the windows, from `send_at`.
    send_buf: Vec<u8>,
    send_at: usize,
    /// The application has given the whole body.
    send_end: bool,
    content_length: Option<u64>,
    received: u64,
    priority: Priority,
    /// A stream we promised (even id).
    pushed: bool,
    /// The response is complete while the client still sends: its body is checked and
    /// thrown away (§8.1), not handed to the driver.
    discard: bool,
}

impl Stream {
    fn new(send_window: i64, recv_window: i64) -> Stream {
        Stream {
            remote_open: true,
            headers_sent: false,
            local_closed: false,
            recv_window,
            recv_unacked: 0,
            send_window,
            send_buf: Vec::new(),
            send_at: 0,
            send_end: false,
            content_length: None,
            received: 0,
            priority: Priority::default(),
            pushed: false,
            discard: false,
        }
    }

    fn pending(&self) -> usize {
        self.send_buf.len() - self.send_at
    }

    /// Whether DATA could go now, given the connection window.
    fn sendable(&self, conn_window: i64) -> bool {
        if !self.headers_sent || self.local_closed {
            return false;
        }
        if self.pending() > 0 {
            self.send_window > 0 && conn_window > 0
        } else {
            self.send_end
        }
    }

    fn blocked(&self, conn_window: i64) -> bool {
        self.headers_sent
            && !self.local_closed
            && self.pending() > 0
            && (self.send_window <= 0 || conn_window <= 0)
    }
}

/// A window of counted events.
#[derive(Debug)]
struct Counter {
    start: Option<Instant>,
    count: u32,
}

impl Counter {
    /// Counts one at `now`; true when the count in the current window exceeds `max`.
    fn hit(&mut self, now: Instant, window: Duration, max: u32) -> bool {
        match self.start {
            Some(start) if now.saturating_duration_since(start) < window => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        self.count > max
    }
}

/// The peer's settings that bind what we send.
#[derive(Debug)]
struct PeerSettings {
    initial_window: u32,
    max_frame_size: u32,
    enable_push: bool,
    max_concurrent_streams: u32,
}

/// The header block being assembled.
#[derive(Debug)]
struct Partial {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
    dependency: Option<Dependency>,
}

/// How many closed streams we remember, to tell a frame on a closed stream from one on a
/// stream that never was.
const CLOSED_MEMORY: usize = 256;

/// How a stream we remember was closed: it decides what a late frame on it means (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// Both sides sent END_STREAM: anything more but PRIORITY, WINDOW_UPDATE or
    /// RST_STREAM is a connection error STREAM_CLOSED.
    Normally,
    /// We reset it: the peer may have sent frames before it heard, so they are ignored.
    ByUs,
    /// The peer reset it: a frame after that is a stream error STREAM_CLOSED.
    ByPeer,
}

/// A server's HTTP/2 connection.
#[derive(Debug)]
pub struct ServerConn {
    config: Config,
    phase: Phase,
    input: Vec<u8>,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    peer: PeerSettings,
    streams: BTreeMap<u32, Stream>,
    closed: BTreeMap<u32, Closed>,
    closed_order: VecDeque<u32>,
    last_client_stream: u32,
    next_push: u32,
    conn_send_window: i64,
    conn_recv_window: i64,
    conn_recv_unacked: u32,
    partial: Option<Partial>,
    control: Vec<u8>,
    events: VecDeque<Event>,
    /// The last stream id of the GOAWAY we sent.
    goaway_sent: Option<u32>,
    goaway_received: bool,
    resets: Counter,
    control_frames: Counter,
    stalled_since: Option<Instant>,
    /// Round-robin position among incremental streams.
    rr_last: u32,
    error: Option<(ErrorCode, String)>,
    log: Vec<(Direction, String)>,
    requests: u64,
}

impl ServerConn {
    /// A connection whose client will start with the preface; our SETTINGS (and the
    /// connection window's raise) are queued at once.
    pub fn new(config: Config) -> ServerConn {
        let mut conn = ServerConn {
            decoder: hpack::Decoder::new(config.header_table_size as usize),
            encoder: hpack::Encoder::new(),
            phase: Phase::Preface,
            input: Vec::new(),
            peer: PeerSettings {
                initial_window: 65_535,
                max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
                enable_push: true,
                max_concurrent_streams: u32::MAX,
            },
            streams: BTreeMap::new(),
            closed: BTreeMap::new(),
            closed_order: VecDeque::new(),
            last_client_stream: 0,
            next_push: 2,
            conn_send_window: 65_535,
            conn_recv_window: 65_535,
            conn_recv_unacked: 0,
            partial: None,
            control: Vec::new(),
            events: VecDeque::new(),
            goaway_sent: None,
            goaway_received: false,
            resets: Counter {
                start: None,
                count: 0,
            },
            control_frames: Counter {
                start: None,
                count: 0,
            },
            stalled_since: None,
            rr_last: 0,
            error: None,
            log: Vec::new(),
            requests: 0,
            config,
        };
        let settings = [
            (
                setting::MAX_CONCURRENT_STREAMS,
                conn.config.max_concurrent_streams,
            ),
            (
                setting::INITIAL_WINDOW_SIZE,
                conn.config.initial_window_size,
            ),
            (setting::MAX_FRAME_SIZE, conn.config.max_frame_size),
            (
                setting::MAX_HEADER_LIST_SIZE,
                conn.config.max_header_list_size,
            ),
            (setting::HEADER_TABLE_SIZE, conn.config.header_table_size),
            (setting::ENABLE_PUSH, 0),
            (setting::NO_RFC7540_PRIORITIES, 1),
        ];
        frame::write_settings(&mut conn.control, &settings);
        conn.record_sent(|| Frame::Settings {
            ack: false,
            params: settings.to_vec(),
        });
        let raise = conn.config.connection_window.saturating_sub(65_535);
        if raise > 0 {
            frame::write_window_update(&mut conn.control, 0, raise);
            conn.conn_recv_window += i64::from(raise);
            conn.record_sent(|| Frame::WindowUpdate {
                stream: 0,
                increment: raise,
            });
        }
        conn
    }

    /// A connection upgraded from HTTP/1.1 (`Upgrade: h2c`, RFC 7540 §3.2): the client's
    /// `HTTP2-Settings` payload (base64url-decoded) applies, and its HTTP/1.1 request is
    /// stream 1, half-closed by the client. The client still sends the preface.
    pub fn upgraded(
        config: Config,
        settings_payload: &[u8],
        request: Request,
    ) -> Result<ServerConn, FrameError> {
        let mut conn = ServerConn::new(config);
        let params = upgrade_settings(settings_payload)?;
        conn.apply_settings(&params)?;
        let mut stream = Stream::new(
            i64::from(conn.peer.initial_window),
            i64::from(conn.config.initial_window_size),
        );
        stream.remote_open = false;
        conn.streams.insert(1, stream);
        conn.last_client_stream = 1;
        conn.requests = 1;
        conn.events.push_back(Event::Request {
            stream: 1,
            request,
            end_stream: true,
        });
        Ok(conn)
    }

    // ---- input ----

    /// Takes bytes from the peer. After a connection error the bytes are dropped and the
    /// GOAWAY waits in [`ServerConn::poll_transmit`].
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if self.phase == Phase::Failed {
            return;
        }
        self.input.extend_from_slice(data);
        if let Err(error) = self.process(now) {
            self.fail(error);
        }
        if self.control.len() > self.config.max_control_backlog && self.phase != Phase::Failed {
            self.fail(FrameError::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "too many unread replies",
            });
        }
    }

    /// Checks the stall limit: call it now and then (once a second is plenty).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Failed {
            return;
        }
        let conn_window = self.conn_send_window;
        if self.streams.values().any(|s| s.blocked(conn_window)) {
            let since = *self.stalled_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.config.stall_timeout {
                self.fail(FrameError::Connection {
                    code: ErrorCode::ENHANCE_YOUR_CALM,
                    reason: "flow-control window kept at zero",
                });
            }
        } else {
            self.stalled_since = None;
        }
    }

    fn process(&mut self, now: Instant) -> Result<(), FrameError> {
        let mut at = 0;
        let result = loop {
            let rest = &self.input[at..];
            if self.phase == Phase::Preface {
                let n = rest.len().min(PREFACE.len());
                if rest[..n] != PREFACE[..n] {
                    break Err(FrameError::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "not the HTTP/2 connection preface",
                    });
                }
                if n < PREFACE.len() {
                    break Ok(());
                }
                at += PREFACE.len();
                self.phase = Phase::FirstSettings;
                continue;
            }
            match frame::parse(rest, self.config.max_frame_size) {
                Ok(None) => break Ok(()),
                Ok(Some((frame, used))) => {
                    at += used;
                    if let Err(error) = self.handle_frame(frame, now) {
                        match error {
                            FrameError::Stream { stream, code, .. } => {
                                self.reset_stream(stream, code);
                                // Streams the client gets reset count as the ones it resets
                                // itself would (rapid reset by malformed requests).
                                if let Err(error) = self.count_reset(now) {
                                    break Err(error);
                                }
                            }
                            connection => break Err(connection),
                        }
                    }
                    if self.phase == Phase::Failed {
                        break Ok(());
                    }
                }
                Err(FrameError::Stream { stream, code, .. }) => {
                    // A frame-level stream error (a PRIORITY of the wrong size): skip it,
                    // unless it breaks a connection rule first (§3.4, §6.10).
                    if self.phase == Phase::FirstSettings {
                        break Err(FrameError::Connection {
                            code: ErrorCode::PROTOCOL_ERROR,
                            reason: "the first frame was not SETTINGS",
                        });
                    }
                    if self.partial.is_some() {
                        break Err(FrameError::Connection {
                            code: ErrorCode::PROTOCOL_ERROR,
                            reason: "a header block was interrupted",
                        });
                    }
                    let Some(header) = frame::FrameHeader::parse(rest) else {
                        break Ok(());
                    };
                    at += frame::HEADER_LEN + header.length as usize;
                    self.reset_stream(stream, code);
                    if let Err(error) = self.count_reset(now) {
                        break Err(error);
                    }
                }
                Err(error) => break Err(error),
            }
        };
        self.input.drain(..at.min(self.input.len()));
        result
    }

    fn record_received(&mut self, frame: &Frame) {
        if self.config.record {
            self.log.push((Direction::Received, frame.summary()));
        }
    }

    fn record_sent(&mut self, frame: impl FnOnce() -> Frame) {
        if self.config.record {
            let summary = frame().summary();
            self.log.push((Direction::Sent, summary));
        }
    }

    fn count_control(&mut self, now: Instant) -> Result<(), FrameError> {
        if self
            .control_frames
            .hit(now, self.config.window, self.config.max_control_frames)
        {
            return Err(FrameError::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "too many control frames",
            });
        }
        Ok(())
    }

    fn count_reset(&mut self, now: Instant) -> Result<(), FrameError> {
        if self
            .resets
            .hit(now, self.config.window, self.config.max_resets)
        {
            return Err(FrameError::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "too many reset streams",
            });
        }
        Ok(())
    }

    /// Whether a client stream id is idle (never opened).
    fn idle(&self, stream: u32) -> bool {
        stream > self.last_client_stream && !stream.is_multiple_of(2)
    }

    fn handle_frame(&mut self, frame: Frame, now: Instant) -> Result<(), FrameError> {
        self.record_received(&frame);
        let proto = |reason| FrameError::Connection {
            code: ErrorCode::PROTOCOL_ERROR,
            reason,
        };
        if self.phase == Phase::FirstSettings {
            if !matches!(frame, Frame::Settings { ack: false, .. }) {
                return Err(proto("the first frame was not SETTINGS"));
            }
            self.phase = Phase::Open;
        }
        // §6.10: a header block is contiguous.
        if let Some(partial) = &self.partial {
            match &frame {
                Frame::Continuation { stream, .. } if *stream == partial.stream => {}
                _ => return Err(proto("a header block was interrupted")),
            }
        }
        match frame {
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len, now),
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                dependency,
            } => {
                if stream.is_multiple_of(2) {
                    return Err(proto("HEADERS on an even stream"));
                }
                self.start_block(stream, fragment, end_stream, dependency)?;
                if end_headers {
                    self.finish_block(now)?;
                }
                Ok(())
            }
            Frame::Continuation {
                stream: _,
                fragment,
                end_headers,
            } => {
                // Empty CONTINUATION frames never grow the block: count them all (the
                // 2024 CONTINUATION flood).
                self.count_control(now)?;
                let Some(partial) = &mut self.partial else {
                    return Err(proto("CONTINUATION without a header block"));
                };
                partial.block.extend_from_slice(&fragment);
                if partial.block.len() > self.config.max_header_block {
                    return Err(FrameError::Connection {
                        code: ErrorCode::ENHANCE_YOUR_CALM,
                        reason: "header block too long",
                    });
                }
                if end_headers {
                    self.finish_block(now)?;
                }
                Ok(())
            }
            Frame::Priority { stream, dependency } => {
                self.count_control(now)?;
                if dependency.stream == stream {
                    return Err(FrameError::Stream {
                        stream,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "stream depends on itself",
                    });
                }
                Ok(())
            }
            Frame::RstStream { stream, code } => {
                if self.idle(stream) || (stream.is_multiple_of(2) && stream >= self.next_push) {
                    return Err(proto("RST_STREAM on an idle stream"));
                }
                if self.streams.remove(&stream).is_some() {
                    self.remember_closed(stream, Closed::ByPeer);
                    self.events.push_back(Event::Reset { stream, code });
                    // A cancelled push is the client declining our offer, not an attack.
                    if !stream.is_multiple_of(2) {
                        self.count_reset(now)?;
                    }
                }
                Ok(())
            }
            Frame::Settings { ack, params } => {
                self.count_control(now)?;
                if ack {
                    return Ok(());
                }
                self.apply_settings(&params)?;
                frame::write_settings_ack(&mut self.control);
                self.record_sent(|| Frame::Settings {
                    ack: true,
                    params: Vec::new(),
                });
                Ok(())
            }
            Frame::PushPromise { .. } => Err(proto("PUSH_PROMISE from a client")),
            Frame::Ping { ack, data } => {
                self.count_control(now)?;
                if !ack {
                    frame::write_ping(&mut self.control, true, data);
                    self.record_sent(|| Frame::Ping { ack: true, data });
                }
                Ok(())
            }
            Frame::GoAway { code, .. } => {
                self.goaway_received = true;
                self.events.push_back(Event::GoAway { code });
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => {
                // Updates while we have body bytes waiting are the flow control working (a
                // client with small windows sends many); only idle ones count as a flood.
                if !self.streams.values().any(|s| s.pending() > 0) {
                    self.count_control(now)?;
                }
                if stream == 0 {
                    self.conn_send_window += i64::from(increment);
                    if self.conn_send_window > i64::from(MAX_WINDOW) {
                        return Err(FrameError::Connection {
                            code: ErrorCode::FLOW_CONTROL_ERROR,
                            reason: "connection window above 2^31-1",
                        });
                    }
                    return Ok(());
                }
                if self.idle(stream) {
                    return Err(proto("WINDOW_UPDATE on an idle stream"));
                }
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.send_window += i64::from(increment);
                    if s.send_window > i64::from(MAX_WINDOW) {
                        return Err(FrameError::Stream {
                            stream,
                            code: ErrorCode::FLOW_CONTROL_ERROR,
                            reason: "stream window above 2^31-1",
                        });
                    }
                }
                Ok(())
            }
            Frame::PriorityUpdate { prioritized, value } => {
                self.count_control(now)?;
                if prioritized == 0 {
                    return Err(proto("PRIORITY_UPDATE for stream 0"));
                }
                if let Some(s) = self.streams.get_mut(&prioritized) {
                    s.priority = Priority::parse(&value, s.priority);
                }
                Ok(())
            }
            Frame::Unknown { .. } => self.count_control(now),
        }
    }

    fn apply_settings(&mut self, params: &[(u16, u32)]) -> Result<(), FrameError> {
        for &(id, value) in params {
            match id {
                setting::HEADER_TABLE_SIZE => self.encoder.set_max_table_size(value as usize),
                setting::ENABLE_PUSH => self.peer.enable_push = value == 1,
                setting::MAX_CONCURRENT_STREAMS => self.peer.max_concurrent_streams = value,
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - i64::from(self.peer.initial_window);
                    self.peer.initial_window = value;
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > i64::from(MAX_WINDOW) {
                            return Err(FrameError::Connection {
                                code: ErrorCode::FLOW_CONTROL_ERROR,
                                reason: "SETTINGS_INITIAL_WINDOW_SIZE overflows a window",
                            });
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => self.peer.max_frame_size = value,
                _ => {}
            }
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        stream: u32,
        data: Vec<u8>,
        end_stream: bool,
        flow_len: u32,
        now: Instant,
    ) -> Result<(), FrameError> {
        let flow = i64::from(flow_len);
        if flow > self.conn_recv_window {
            return Err(FrameError::Connection {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "DATA beyond the connection window",
            });
        }
        self.conn_recv_window -= flow;
        self.conn_recv_unacked += flow_len;
        self.replenish_connection();
        if data.is_empty() && !end_stream {
            self.count_control(now)?;
        }
        if self.idle(stream) || stream.is_multiple_of(2) && !self.streams.contains_key(&stream) {
            return Err(FrameError::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "DATA on an idle stream",
            });
        }
        let closed_err = FrameError::Stream {
            stream,
            code: ErrorCode::STREAM_CLOSED,
            reason: "DATA on a closed stream",
        };
        let Some(s) = self.streams.get_mut(&stream) else {
            // §5.1 "closed": after our RST_STREAM, late frames are ignored (their bytes
            // counted against the connection window above); after END_STREAM both ways,
            // more DATA is a connection error; after the client's RST_STREAM, a stream error.
            return match self.closed.get(&stream) {
                Some(Closed::ByUs) => Ok(()),
                Some(Closed::Normally) => Err(FrameError::Connection {
                    code: ErrorCode::STREAM_CLOSED,
                    reason: "DATA on a closed stream",
                }),
                _ => Err(closed_err),
            };
        };
        // §5.1 "half-closed (remote)": the client said it was done.
        if !s.remote_open {
            return Err(closed_err);
        }
        if flow > s.recv_window {
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "DATA beyond the stream window",
            });
        }
        s.recv_window -= flow;
        s.received += data.len() as u64;
        let length_wrong = match s.content_length {
            Some(length) => s.received > length || (end_stream && s.received != length),
            None => false,
        };
        if length_wrong {
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "body length differs from content-length",
            });
        }
        let discard = s.discard;
        if end_stream {
            s.remote_open = false;
        } else {
            s.recv_unacked += flow_len;
            let half = self.config.initial_window_size / 2;
            if s.recv_unacked >= half.max(1) {
                let increment = s.recv_unacked;
                s.recv_window += i64::from(increment);
                s.recv_unacked = 0;
                frame::write_window_update(&mut self.control, stream, increment);
                self.record_sent(|| Frame::WindowUpdate { stream, increment });
            }
        }
        if !discard {
            self.events.push_back(Event::Data {
                stream,
                data,
                end_stream,
            });
        }
        self.close_if_done(stream);
        Ok(())
    }

    fn replenish_connection(&mut self) {
        if self.conn_recv_unacked >= self.config.connection_window / 2 {
            let increment = self.conn_recv_unacked;
            self.conn_recv_window += i64::from(increment);
            self.conn_recv_unacked = 0;
            frame::write_window_update(&mut self.control, 0, increment);
            self.record_sent(|| Frame::WindowUpdate {
                stream: 0,
                increment,
            });
        }
    }

    fn start_block(
        &mut self,
        stream: u32,
        fragment: Vec<u8>,
        end_stream: bool,
        dependency: Option<Dependency>,
    ) -> Result<(), FrameError> {
        if fragment.len() > self.config.max_header_block {
            return Err(FrameError::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "header block too long",
            });
        }
        self.partial = Some(Partial {
            stream,
            block: fragment,
            end_stream,
            dependency,
        });
        Ok(())
    }

    fn finish_block(&mut self, now: Instant) -> Result<(), FrameError> {
        let Some(Partial {
            stream,
            block,
            end_stream,
            dependency,
        }) = self.partial.take()
        else {
            return Ok(());
        };
        // Decode first, whatever becomes of the stream, so the table stays in step.
        let decoded = self
            .decoder
            .decode(&block, self.config.max_header_list_size as usize)
            .map_err(|_| FrameError::Connection {
                code: ErrorCode::COMPRESSION_ERROR,
                reason: "header block does not decode",
            })?;
        if let Some(s) = self.streams.get_mut(&stream) {
            // Trailers: only on an open stream, and they end it (§8.1).
            if !s.remote_open {
                return Err(FrameError::Stream {
                    stream,
                    code: ErrorCode::STREAM_CLOSED,
                    reason: "HEADERS on a half-closed stream",
                });
            }
            if !end_stream {
                return Err(FrameError::Stream {
                    stream,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "trailers without END_STREAM",
                });
            }
            if decoded.fields.iter().any(|f| f.name.first() == Some(&b':')) {
                return Err(FrameError::Stream {
                    stream,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "pseudo-header in trailers",
                });
            }
            if let Some(length) = s.content_length {
                if s.received != length {
                    return Err(FrameError::Stream {
                        stream,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "body length differs from content-length",
                    });
                }
            }
            s.remote_open = false;
            if !s.discard {
                self.events.push_back(Event::Data {
                    stream,
                    data: Vec::new(),
                    end_stream: true,
                });
            }
            self.close_if_done(stream);
            return Ok(());
        }
        if !self.idle(stream) {
            return match self.closed.get(&stream) {
                // §5.1: frames the client sent before it heard of our RST_STREAM are
                // ignored (the block was decoded above, so the table stays in step).
                Some(Closed::ByUs) => Ok(()),
                Some(_) => Err(FrameError::Connection {
                    code: ErrorCode::STREAM_CLOSED,
                    reason: "HEADERS on a closed stream",
                }),
                None => Err(FrameError::Connection {
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "stream id not above the last one",
                }),
            };
        }
        self.last_client_stream = stream;
        if self.goaway_sent.is_some_and(|last| stream > last) {
            // After our GOAWAY, new streams are ignored (§6.8).
            return Ok(());
        }
        if dependency.is_some_and(|d| d.stream == stream) {
            self.remember_closed(stream, Closed::ByUs);
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "stream depends on itself",
            });
        }
        let active = self
            .streams
            .keys()
            .filter(|id| !id.is_multiple_of(2))
            .count();
        if active >= self.config.max_concurrent_streams as usize {
            self.remember_closed(stream, Closed::ByUs);
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::REFUSED_STREAM,
                reason: "over SETTINGS_MAX_CONCURRENT_STREAMS",
            });
        }
        let mut s = Stream::new(
            i64::from(self.peer.initial_window),
            i64::from(self.config.initial_window_size),
        );
        s.remote_open = !end_stream;
        if decoded.too_large {
            self.streams.insert(stream, s);
            self.count_reset(now)?;
            self.send_simple(stream, 431);
            return Ok(());
        }
        let request = match validate_request(decoded.fields) {
            Ok(request) => request,
            Err(reason) => {
                self.remember_closed(stream, Closed::ByUs);
                return Err(FrameError::Stream {
                    stream,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason,
                });
            }
        };
        if let Some(value) = request.field("content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match length {
                Some(length) if end_stream && length != 0 => {
                    self.remember_closed(stream, Closed::ByUs);
                    return Err(FrameError::Stream {
                        stream,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "content-length on a request without a body",
                    });
                }
                Some(length) => s.content_length = Some(length),
                None => {
                    self.remember_closed(stream, Closed::ByUs);
                    return Err(FrameError::Stream {
                        stream,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "bad content-length",
                    });
                }
            }
        }
        if let Some(value) = request.field("priority") {
            s.priority = Priority::parse(value, s.priority);
        }
        self.streams.insert(stream, s);
        self.requests += 1;
        self.events.push_back(Event::Request {
            stream,
            request,
            end_stream,
        });
        Ok(())
    }

    /// Answers a stream with a bodiless status of our own (431).
    fn send_simple(&mut self, stream: u32, status: u16) {
        let _ = self.send_headers(stream, status, &[("content-length", b"0")], true);
    }

    fn remember_closed(&mut self, stream: u32, how: Closed) {
        if self.closed.insert(stream, how).is_none() {
            self.closed_order.push_back(stream);
            if self.closed_order.len() > CLOSED_MEMORY {
                if let Some(old) = self.closed_order.pop_front() {
                    self.closed.remove(&old);
                }
            }
        }
    }

    /// Sends RST_STREAM and forgets the stream; the driver hears of it as [`Event::Reset`]
    /// if it knew the stream.
    fn reset_stream(&mut self, stream: u32, code: ErrorCode) {
        frame::write_rst_stream(&mut self.control, stream, code);
        self.record_sent(|| Frame::RstStream { stream, code });
        if self.streams.remove(&stream).is_some() {
            self.events.push_back(Event::Reset { stream, code });
        }
        self.remember_closed(stream, Closed::ByUs);
    }

    /// A connection error: GOAWAY with the code; nothing more is read or answered.
    fn fail(&mut self, error: FrameError) {
        let (code, reason) = match error {
            FrameError::Connection { code, reason } => (code, reason),
            FrameError::Stream { code, reason, .. } => (code, reason),
        };
        // What was queued for the streams no longer matters; the GOAWAY goes after any
        // control frames already queued (the SETTINGS, say).
        self.streams.clear();
        self.partial = None;
        frame::write_goaway(
            &mut self.control,
            self.last_client_stream,
            code,
            reason.as_bytes(),
        );
        let last_stream = self.last_client_stream;
        self.record_sent(|| Frame::GoAway {
            last_stream,
            code,
            debug: Vec::new(),
        });
        self.goaway_sent = Some(self.last_client_stream);
        self.error = Some((code, reason.to_string()));
        self.phase = Phase::Failed;
    }

    fn close_if_done(&mut self, stream: u32) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if s.local_closed && !s.remote_open {
            self.streams.remove(&stream);
            self.remember_closed(stream, Closed::Normally);
        }
    }

    // ---- commands ----

    /// Sends a response head (`status` with `fields`, names lowercase). A 1xx (`103 Early
    /// Hints`) may come before the final one; `end_stream` ends a bodiless response.
    pub fn send_headers(
        &mut self,
        stream: u32,
        status: u16,
        fields: &[(&str, &[u8])],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let max_frame = self.peer.max_frame_size;
        let Some(s) = self.streams.get_mut(&stream) else {
            return Err(SendError::NotOpen(stream));
        };
        if s.headers_sent || s.local_closed {
            return Err(SendError::NotOpen(stream));
        }
        let informational = (100..200).contains(&status);
        let status_text = status.to_string();
        let mut block = Vec::with_capacity(64);
        self.encoder.encode(
            std::iter::once((b":status".as_slice(), status_text.as_bytes()))
                .chain(fields.iter().map(|(n, v)| (n.as_bytes(), *v))),
            &mut block,
        );
        let end = end_stream && !informational;
        frame::write_header_block(&mut self.control, stream, None, &block, end, max_frame);
        if !informational {
            s.headers_sent = true;
            if end {
                s.local_closed = true;
                s.send_end = true;
            }
        }
        let len = block.len();
        self.record_sent(|| Frame::Headers {
            stream,
            fragment: vec![0; len],
            end_stream: end,
            end_headers: true,
            dependency: None,
        });
        if end {
            self.finish_local(stream);
        }
        Ok(())
    }

    /// Queues response body bytes; they go out as the windows allow. Keep
    /// [`ServerConn::buffered`] small (tens of KiB) per stream.
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let Some(s) = self.streams.get_mut(&stream) else {
            return Err(SendError::NotOpen(stream));
        };
        if s.local_closed || s.send_end {
            return Err(SendError::NotOpen(stream));
        }
        if s.send_at > 0 && s.send_at >= s.send_buf.len() / 2 {
            s.send_buf.drain(..s.send_at);
            s.send_at = 0;
        }
        s.send_buf.extend_from_slice(data);
        s.send_end = end_stream;
        Ok(())
    }

    /// Body bytes queued on a stream and not yet sent; `None` once the stream is gone.
    pub fn buffered(&self, stream: u32) -> Option<usize> {
        self.streams.get(&stream).map(Stream::pending)
    }

    /// The stream's RFC 9218 priority (from its `priority` field and PRIORITY_UPDATE).
    pub fn priority(&self, stream: u32) -> Option<Priority> {
        self.streams.get(&stream).map(|s| s.priority)
    }

    /// Cancels a stream (RST_STREAM with `code`).
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.streams.contains_key(&stream) {
            frame::write_rst_stream(&mut self.control, stream, code);
            self.record_sent(|| Frame::RstStream { stream, code });
            self.streams.remove(&stream);
            self.remember_closed(stream, Closed::ByUs);
        }
    }

    /// Promises a response for a request the client did not make (server push, RFC 9113
    /// §8.4) on `parent`'s stream; the promised stream's response is then sent like any other.
    /// `None` when the client disabled push, went away, or has no room for another stream.
    pub fn push(
        &mut self,
        parent: u32,
        method: &str,
        scheme: &str,
        authority: &str,
        path: &str,
    ) -> Option<u32> {
        if !self.peer.enable_push || self.goaway_received || self.phase != Phase::Open {
            return None;
        }
        let parent_ok = self
            .streams
            .get(&parent)
            .is_some_and(|s| !parent.is_multiple_of(2) && !s.local_closed);
        let pushed = self
            .streams
            .keys()
            .filter(|id| id.is_multiple_of(2))
            .count();
        if !parent_ok || pushed >= self.peer.max_concurrent_streams as usize {
            return None;
        }
        let promised = self.next_push;
        if promised > MAX_WINDOW - 1 {
            return None;
        }
        self.next_push += 2;
        let mut block = Vec::with_capacity(64);
        self.encoder.encode(
            [
                (b":method".as_slice(), method.as_bytes()),
                (b":scheme".as_slice(), scheme.as_bytes()),
                (b":authority".as_slice(), authority.as_bytes()),
                (b":path".as_slice(), path.as_bytes()),
            ],
            &mut block,
        );
        frame::write_header_block(
            &mut self.control,
            parent,
            Some(promised),
            &block,
            false,
            self.peer.max_frame_size,
        );
        let len = block.len();
        self.record_sent(|| Frame::PushPromise {
            stream: parent,
            promised,
            fragment: vec![0; len],
            end_headers: true,
        });
        let mut s = Stream::new(
            i64::from(self.peer.initial_window),
            i64::from(self.config.initial_window_size),
        );
        s.remote_open = false;
        s.pushed = true;
        self.streams.insert(promised, s);
        Some(promised)
    }

    /// Starts a graceful shutdown: GOAWAY with the last stream we will answer; the streams
    /// already open finish.
    pub fn shutdown(&mut self) {
        if self.goaway_sent.is_some() {
            return;
        }
        let last_stream = self.last_client_stream;
        frame::write_goaway(&mut self.control, last_stream, ErrorCode::NO_ERROR, b"");
        self.record_sent(|| Frame::GoAway {
            last_stream,
            code: ErrorCode::NO_ERROR,
            debug: Vec::new(),
        });
        self.goaway_sent = Some(last_stream);
    }

    /// After the response is complete. If the client is still sending, the stream stays
    /// half-closed (local): the rest of its body is still checked (windows, content-length,
    /// trailers) but thrown away. §8.1 would also allow RST_STREAM(NO_ERROR) here; not
    /// sending it keeps a late malformed body answerable with the right error, and the
    /// driver's body timeout bounds a client that never finishes.
    fn finish_local(&mut self, stream: u32) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if s.remote_open {
            s.discard = true;
        } else {
            self.close_if_done(stream);
        }
    }

    // ---- output ----

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends frames to send to `out`, until it holds about `max` bytes or nothing more can
    /// go: control frames first, then DATA in RFC 9218 order within the windows.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>, max: usize) {
        out.append(&mut self.control);
        if self.phase == Phase::Failed {
            return;
        }
        while out.len() < max {
            let Some(stream) = self.next_stream() else {
                break;
            };
            let conn_window = self.conn_send_window;
            let max_frame = self.peer.max_frame_size as usize;
            let Some(s) = self.streams.get_mut(&stream) else {
                break;
            };
            let room = (max - out.len()).max(1024);
            let n = s
                .pending()
                .min(max_frame)
                .min(usize::try_from(s.send_window.max(0)).unwrap_or(0))
                .min(usize::try_from(conn_window.max(0)).unwrap_or(0))
                .min(room);
            let end = s.send_end && n == s.pending();
            frame::write_data_header(out, stream, n, end);
            out.extend_from_slice(&s.send_buf[s.send_at..s.send_at + n]);
            s.send_at += n;
            if s.send_at == s.send_buf.len() {
                s.send_buf.clear();
                s.send_at = 0;
            }
            s.send_window -= n as i64;
            self.conn_send_window -= n as i64;
            if n > 0 {
                // Data moved: a slow window is not a stalled one.
                self.stalled_since = None;
            }
            if s.priority.incremental {
                self.rr_last = stream;
            }
            if end {
                s.local_closed = true;
            }
            self.record_sent(|| Frame::Data {
                stream,
                data: vec![0; n],
                end_stream: end,
                flow_len: n as u32,
            });
            if end {
                self.finish_local(stream);
            }
        }
    }

    /// The stream whose DATA goes next (RFC 9218 §10): the most urgent; within an urgency,
    /// non-incremental streams one at a time in id order, then the incremental ones in turn.
    fn next_stream(&self) -> Option<u32> {
        let conn_window = self.conn_send_window;
        // (urgency, incremental, order): ids after the last incremental stream served come
        // first, then the wrap-around, so incremental streams take turns.
        let mut best: Option<(u8, bool, u32)> = None;
        for (&id, s) in &self.streams {
            if !s.sendable(conn_window) {
                continue;
            }
            let p = s.priority;
            let order = if p.incremental && id <= self.rr_last {
                id | (1 << 31)
            } else {
                id
            };
            let key = (p.urgency, p.incremental, order);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.map(|(_, _, order)| order & MAX_WINDOW)
    }

    /// The frames' summaries recorded since the last call (when [`Config::record`]).
    pub fn take_log(&mut self) -> Vec<(Direction, String)> {
        std::mem::take(&mut self.log)
    }

    /// Whether the connection has nothing more to do: after a connection error, or after
    /// GOAWAY (either way) once every stream is done, with nothing left to send.
    pub fn is_closed(&self) -> bool {
        if !self.control.is_empty() {
            return false;
        }
        match self.phase {
            Phase::Failed => true,
            _ => (self.goaway_sent.is_some() || self.goaway_received) && self.streams.is_empty(),
        }
    }

    /// Whether bytes are waiting to be sent.
    pub fn wants_write(&self) -> bool {
        if !self.control.is_empty() {
            return true;
        }
        let conn_window = self.conn_send_window;
        self.phase != Phase::Failed && self.streams.values().any(|s| s.sendable(conn_window))
    }

    /// The connection error that ended it, if one did.
    pub fn error(&self) -> Option<&(ErrorCode, String)> {
        self.error.as_ref()
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The client's streams whose request body has not ended yet (for a body timeout).
    pub fn receiving_streams(&self) -> Vec<u32> {
        self.streams
            .iter()
            .filter(|(_, s)| s.remote_open)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Requests accepted so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }
}

/// The settings of an `HTTP2-Settings` payload (a SETTINGS frame's payload), checked as
/// a SETTINGS frame would be; a server checks them before it answers `101`.
pub fn upgrade_settings(payload: &[u8]) -> Result<Vec<(u16, u32)>, FrameError> {
    let mut framed = Vec::new();
    frame::write_frame(&mut framed, frame::kind::SETTINGS, 0, 0, payload);
    match frame::parse(&framed, frame::MAX_MAX_FRAME_SIZE)? {
        Some((Frame::Settings { params, .. }, _)) => Ok(params),
        _ => Err(FrameError::Connection {
            code: ErrorCode::PROTOCOL_ERROR,
            reason: "bad HTTP2-Settings",
        }),
    }
}

/// The fields that belong to a connection, not a message (§8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
];

/// Checks a request's fields (§8.2, §8.3.1) and splits out the pseudo-headers.
fn validate_request(fields: Vec<hpack::Field>) -> Result<Request, &'static str> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut regular: Vec<(String, Vec<u8>)> = Vec::with_capacity(fields.len());
    let mut cookies: Vec<Vec<u8>> = Vec::new();
    for field in fields {
        let name = field.name;
        if name.is_empty() {
            return Err("empty field name");
        }
        if field
            .value
            .iter()
            .any(|&b| b == 0 || b == b'\r' || b == b'\n')
        {
            return Err("NUL, CR or LF in a field value");
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            if !regular.is_empty() || !cookies.is_empty() {
                return Err("pseudo-header after a regular field");
            }
            let value = String::from_utf8(field.value).map_err(|_| "pseudo-header not UTF-8")?;
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.replace(value).is_some() {
                return Err("duplicate pseudo-header");
            }
            continue;
        }
        if !name.iter().all(|&b| is_token_lower(b)) {
            return Err("field name not a lowercase token");
        }
        if field
            .value
            .first()
            .is_some_and(|b| *b == b' ' || *b == b'\t')
            || field
                .value
                .last()
                .is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            return Err("field value with surrounding whitespace");
        }
        // Checked as a token of lowercase ASCII above.
        let name = String::from_utf8(name).map_err(|_| "field name not ASCII")?;
        if CONNECTION_SPECIFIC.contains(&name.as_str()) {
            return Err("connection-specific field");
        }
        if name == "te" && field.value != b"trailers" {
            return Err("te other than trailers");
        }
        if name == "cookie" {
            cookies.push(field.value);
            continue;
        }
        regular.push((name, field.value));
    }
    let method = method.ok_or("no :method")?;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| is_token_lower(b.to_ascii_lowercase()))
    {
        return Err("bad :method");
    }
    let (scheme, path) = if method == "CONNECT" {
        if scheme.is_some() || path.is_some() || authority.is_none() {
            return Err("CONNECT with :scheme or :path, or without :authority");
        }
        (String::new(), String::new())
    } else {
        let scheme = scheme.ok_or("no :scheme")?;
        let path = path.ok_or("no :path")?;
        if path.is_empty() {
            return Err("empty :path");
        }
        if (scheme == "http" || scheme == "https")
            && !(path.starts_with('/') || (path == "*" && method == "OPTIONS"))
        {
            return Err(":path neither absolute nor *");
        }
        (scheme, path)
    };
    if !cookies.is_empty() {
        regular.push(("cookie".to_string(), cookies.join(b"; ".as_slice())));
    }
    Ok(Request {
        method,
        scheme,
        authority,
        path,
        fields: regular,
    })
}

/// A token character (RFC 9110 §5.6.2) other than an uppercase letter.
fn is_token_lower(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests;
