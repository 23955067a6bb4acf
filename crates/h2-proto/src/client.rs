//! A client's HTTP/2 connection (RFC 9113) as a sans-IO machine, for fetching a page and its
//! objects on one connection: requests in ([`ClientConn::send_request`]), frames out
//! ([`ClientConn::poll_transmit`]), bytes in ([`ClientConn::handle_input`]), responses, body
//! data and pushed promises out ([`ClientConn::poll_event`]). It opens with the preface and
//! SETTINGS (push enabled or not), keeps within the server's SETTINGS_MAX_CONCURRENT_STREAMS,
//! sends request bodies within the server's windows, and replenishes its own receive windows
//! as data arrives. Malformed input from the server ends the connection with GOAWAY, as the
//! server side does.

use crate::frame::{self, setting, ErrorCode, Frame, FrameError, MAX_WINDOW, PREFACE};
use crate::hpack;
use std::collections::{BTreeMap, VecDeque};

/// The client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// SETTINGS_ENABLE_PUSH: whether the server may push.
    pub enable_push: bool,
    /// Our stream receive window (SETTINGS_INITIAL_WINDOW_SIZE).
    pub initial_window_size: u32,
    /// Our connection receive window (raised from 65,535 at the start).
    pub connection_window: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we take.
    pub max_header_list_size: u32,
    /// Whether to record each frame's summary ([`ClientConn::take_log`]).
    pub record: bool,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            enable_push: true,
            initial_window_size: 4 << 20,
            connection_window: 16 << 20,
            max_header_list_size: 256 * 1024,
            record: false,
        }
    }
}

/// What the connection tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A response head (1xx heads come as their own events, with `informational`).
    Response {
        /// The stream.
        stream: u32,
        /// The status code.
        status: u16,
        /// The fields, names lowercase.
        fields: Vec<(String, Vec<u8>)>,
        /// No body follows.
        end_stream: bool,
    },
    /// Body bytes.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
        /// The body is complete.
        end_stream: bool,
    },
    /// The server promised a response on `promised` for a request it made up (server push).
    Promise {
        /// The stream the promise came on.
        parent: u32,
        /// The promised stream.
        promised: u32,
        /// The promised request's `:path`.
        path: String,
        /// Its `:authority`.
        authority: Option<String>,
    },
    /// The stream was reset (by the server, or by us for its error).
    Reset {
        /// The stream.
        stream: u32,
        /// The code.
        code: ErrorCode,
    },
    /// The server sent GOAWAY: streams above `last_stream` were not processed.
    GoAway {
        /// The last stream the server processes.
        last_stream: u32,
        /// Its code.
        code: ErrorCode,
    },
}

/// Why a request could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// As many streams are open as the server allows; wait for one to end.
    #[error("the server's stream limit is reached")]
    Busy,
    /// The connection is going away or failed.
    #[error("the connection is closing")]
    Closing,
}

#[derive(Debug)]
struct Stream {
    /// The server may still send on it.
    remote_open: bool,
    /// Request body bytes waiting for the windows.
    body: VecDeque<u8>,
    /// Our side is done (END_STREAM sent or to be sent after the body).
    local_done: bool,
    end_sent: bool,
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    pushed: bool,
}

/// A client's HTTP/2 connection.
#[derive(Debug)]
pub struct ClientConn {
    config: ClientConfig,
    input: Vec<u8>,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    streams: BTreeMap<u32, Stream>,
    next_stream: u32,
    peer_max_streams: u32,
    peer_initial_window: u32,
    peer_max_frame: u32,
    conn_send_window: i64,
    conn_recv_window: i64,
    conn_recv_unacked: u32,
    /// The header block being assembled: (stream, promised stream, block, end_stream).
    partial: Option<(u32, Option<u32>, Vec<u8>, bool)>,
    control: Vec<u8>,
    events: VecDeque<Event>,
    got_settings: bool,
    goaway: Option<u32>,
    error: Option<(ErrorCode, String)>,
    log: Vec<(crate::conn::Direction, String)>,
}

type Event = ClientEvent;

impl ClientConn {
    /// A connection: the preface, our SETTINGS and the connection window's raise are queued.
    pub fn new(config: ClientConfig) -> ClientConn {
        let mut conn = ClientConn {
            input: Vec::new(),
            decoder: hpack::Decoder::new(4096),
            encoder: hpack::Encoder::new(),
            streams: BTreeMap::new(),
            next_stream: 1,
            peer_max_streams: 100,
            peer_initial_window: 65_535,
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            conn_send_window: 65_535,
            conn_recv_window: 65_535,
            conn_recv_unacked: 0,
            partial: None,
            control: PREFACE.to_vec(),
            events: VecDeque::new(),
            got_settings: false,
            goaway: None,
            error: None,
            log: Vec::new(),
            config,
        };
        let settings = [
            (setting::ENABLE_PUSH, u32::from(conn.config.enable_push)),
            (
                setting::INITIAL_WINDOW_SIZE,
                conn.config.initial_window_size,
            ),
            (
                setting::MAX_HEADER_LIST_SIZE,
                conn.config.max_header_list_size,
            ),
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

    fn record_sent(&mut self, frame: impl FnOnce() -> Frame) {
        if self.config.record {
            let summary = frame().summary();
            self.log.push((crate::conn::Direction::Sent, summary));
        }
    }

    /// Whether another request may start now.
    pub fn can_send(&self) -> bool {
        self.error.is_none()
            && self.goaway.is_none()
            && self.next_stream < MAX_WINDOW
            && self.open_requests() < self.peer_max_streams as usize
    }

    fn open_requests(&self) -> usize {
        self.streams
            .keys()
            .filter(|id| !id.is_multiple_of(2))
            .count()
    }

    /// Sends a request: `fields` are the pseudo-headers (`:method`, `:scheme`,
    /// `:authority`, `:path`) then the regular fields, names lowercase; `body` goes out as
    /// DATA within the windows. Returns the stream.
    pub fn send_request(
        &mut self,
        fields: &[(&str, &[u8])],
        body: Option<&[u8]>,
    ) -> Result<u32, RequestError> {
        if self.error.is_some() || self.goaway.is_some() {
            return Err(RequestError::Closing);
        }
        if !self.can_send() {
            return Err(RequestError::Busy);
        }
        let stream = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::with_capacity(64);
        self.encoder
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), *v)), &mut block);
        let end = body.is_none_or(<[u8]>::is_empty);
        frame::write_header_block(
            &mut self.control,
            stream,
            None,
            &block,
            end,
            self.peer_max_frame,
        );
        let len = block.len();
        self.record_sent(|| Frame::Headers {
            stream,
            fragment: vec![0; len],
            end_stream: end,
            end_headers: true,
            dependency: None,
        });
        self.streams.insert(
            stream,
            Stream {
                remote_open: true,
                body: body.unwrap_or_default().iter().copied().collect(),
                local_done: true,
                end_sent: end,
                send_window: i64::from(self.peer_initial_window),
                recv_window: i64::from(self.config.initial_window_size),
                recv_unacked: 0,
                pushed: false,
            },
        );
        Ok(stream)
    }

    /// Cancels a stream (RST_STREAM CANCEL), e.g. a push we do not want.
    pub fn cancel(&mut self, stream: u32) {
        if self.streams.remove(&stream).is_some() {
            frame::write_rst_stream(&mut self.control, stream, ErrorCode::CANCEL);
            self.record_sent(|| Frame::RstStream {
                stream,
                code: ErrorCode::CANCEL,
            });
        }
    }

    /// Takes bytes from the server.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.input.extend_from_slice(data);
        let mut at = 0;
        let result = loop {
            // We leave SETTINGS_MAX_FRAME_SIZE at its initial 16,384.
            match frame::parse(&self.input[at..], frame::DEFAULT_MAX_FRAME_SIZE) {
                Ok(None) => break Ok(()),
                Ok(Some((frame, used))) => {
                    at += used;
                    if self.config.record {
                        self.log
                            .push((crate::conn::Direction::Received, frame.summary()));
                    }
                    match self.handle_frame(frame) {
                        Ok(()) => {}
                        Err(FrameError::Stream { stream, code, .. }) => {
                            self.reset_stream(stream, code)
                        }
                        Err(error) => break Err(error),
                    }
                }
                Err(FrameError::Stream { stream, code, .. }) => {
                    let Some(header) = frame::FrameHeader::parse(&self.input[at..]) else {
                        break Ok(());
                    };
                    at += frame::HEADER_LEN + header.length as usize;
                    self.reset_stream(stream, code);
                }
                Err(error) => break Err(error),
            }
        };
        self.input.drain(..at.min(self.input.len()));
        if let Err(error) = result {
            self.fail(error);
        }
    }

    fn reset_stream(&mut self, stream: u32, code: ErrorCode) {
        frame::write_rst_stream(&mut self.control, stream, code);
        self.record_sent(|| Frame::RstStream { stream, code });
        if self.streams.remove(&stream).is_some() {
            self.events.push_back(Event::Reset { stream, code });
        }
    }

    fn fail(&mut self, error: FrameError) {
        let (code, reason) = match error {
            FrameError::Connection { code, reason } | FrameError::Stream { code, reason, .. } => {
                (code, reason)
            }
        };
        frame::write_goaway(&mut self.control, 0, code, reason.as_bytes());
        self.record_sent(|| Frame::GoAway {
            last_stream: 0,
            code,
            debug: Vec::new(),
        });
        for (stream, _) in std::mem::take(&mut self.streams) {
            self.events.push_back(Event::Reset { stream, code });
        }
        self.error = Some((code, reason.to_string()));
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), FrameError> {
        let proto = |reason| FrameError::Connection {
            code: ErrorCode::PROTOCOL_ERROR,
            reason,
        };
        if !self.got_settings && !matches!(frame, Frame::Settings { ack: false, .. }) {
            return Err(proto("the server's first frame was not SETTINGS"));
        }
        if let Some((stream, ..)) = &self.partial {
            if !matches!(&frame, Frame::Continuation { stream: s, .. } if s == stream) {
                return Err(proto("a header block was interrupted"));
            }
        }
        match frame {
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { params, .. } => {
                self.got_settings = true;
                for (id, value) in params {
                    match id {
                        setting::MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
                        setting::INITIAL_WINDOW_SIZE => {
                            let delta = i64::from(value) - i64::from(self.peer_initial_window);
                            self.peer_initial_window = value;
                            for stream in self.streams.values_mut() {
                                stream.send_window += delta;
                                if stream.send_window > i64::from(MAX_WINDOW) {
                                    return Err(FrameError::Connection {
                                        code: ErrorCode::FLOW_CONTROL_ERROR,
                                        reason: "window above 2^31-1",
                                    });
                                }
                            }
                        }
                        setting::MAX_FRAME_SIZE => self.peer_max_frame = value,
                        setting::HEADER_TABLE_SIZE => {
                            self.encoder.set_max_table_size(value as usize)
                        }
                        setting::ENABLE_PUSH if value != 0 => {
                            return Err(proto("a server sent SETTINGS_ENABLE_PUSH=1"))
                        }
                        _ => {}
                    }
                }
                frame::write_settings_ack(&mut self.control);
                self.record_sent(|| Frame::Settings {
                    ack: true,
                    params: Vec::new(),
                });
                Ok(())
            }
            Frame::Ping { ack: false, data } => {
                frame::write_ping(&mut self.control, true, data);
                self.record_sent(|| Frame::Ping { ack: true, data });
                Ok(())
            }
            Frame::Ping { .. } | Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::PriorityUpdate { .. } => Err(proto("PRIORITY_UPDATE from a server")),
            Frame::GoAway {
                last_stream, code, ..
            } => {
                self.goaway = Some(last_stream);
                let refused: Vec<u32> = self
                    .streams
                    .keys()
                    .copied()
                    .filter(|id| !id.is_multiple_of(2) && *id > last_stream)
                    .collect();
                for stream in refused {
                    self.streams.remove(&stream);
                    self.events.push_back(Event::Reset {
                        stream,
                        code: ErrorCode::REFUSED_STREAM,
                    });
                }
                self.events.push_back(Event::GoAway { last_stream, code });
                Ok(())
            }
            Frame::WindowUpdate {
                stream: 0,
                increment,
            } => {
                self.conn_send_window += i64::from(increment);
                if self.conn_send_window > i64::from(MAX_WINDOW) {
                    return Err(FrameError::Connection {
                        code: ErrorCode::FLOW_CONTROL_ERROR,
                        reason: "connection window above 2^31-1",
                    });
                }
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => {
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
            Frame::RstStream { stream, code } => {
                if self.streams.remove(&stream).is_some() {
                    self.events.push_back(Event::Reset { stream, code });
                }
                Ok(())
            }
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                ..
            } => {
                self.partial = Some((stream, None, fragment, end_stream));
                if end_headers {
                    self.finish_block()?;
                }
                Ok(())
            }
            Frame::PushPromise {
                stream,
                promised,
                fragment,
                end_headers,
            } => {
                if !self.config.enable_push {
                    return Err(proto("PUSH_PROMISE with push disabled"));
                }
                if !promised.is_multiple_of(2)
                    || promised == 0
                    || self.streams.contains_key(&promised)
                {
                    return Err(proto("bad promised stream"));
                }
                self.partial = Some((stream, Some(promised), fragment, false));
                if end_headers {
                    self.finish_block()?;
                }
                Ok(())
            }
            Frame::Continuation {
                fragment,
                end_headers,
                ..
            } => {
                let Some((_, _, block, _)) = &mut self.partial else {
                    return Err(proto("CONTINUATION without a header block"));
                };
                block.extend_from_slice(&fragment);
                if block.len() > 1 << 20 {
                    return Err(FrameError::Connection {
                        code: ErrorCode::ENHANCE_YOUR_CALM,
                        reason: "header block too long",
                    });
                }
                if end_headers {
                    self.finish_block()?;
                }
                Ok(())
            }
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len),
        }
    }

    fn on_data(
        &mut self,
        stream: u32,
        data: Vec<u8>,
        end_stream: bool,
        flow_len: u32,
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
        let Some(s) = self.streams.get_mut(&stream) else {
            // A stream we cancelled or never had: it costs the connection window only.
            return Ok(());
        };
        if !s.remote_open {
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::STREAM_CLOSED,
                reason: "DATA after END_STREAM",
            });
        }
        if flow > s.recv_window {
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "DATA beyond the stream window",
            });
        }
        s.recv_window -= flow;
        if end_stream {
            s.remote_open = false;
        } else {
            s.recv_unacked += flow_len;
            if s.recv_unacked >= self.config.initial_window_size / 2 {
                let increment = s.recv_unacked;
                s.recv_window += i64::from(increment);
                s.recv_unacked = 0;
                frame::write_window_update(&mut self.control, stream, increment);
                self.record_sent(|| Frame::WindowUpdate { stream, increment });
            }
        }
        self.events.push_back(Event::Data {
            stream,
            data,
            end_stream,
        });
        self.close_if_done(stream);
        Ok(())
    }

    fn close_if_done(&mut self, stream: u32) {
        if self
            .streams
            .get(&stream)
            .is_some_and(|s| !s.remote_open && s.end_sent)
        {
            self.streams.remove(&stream);
        }
    }

    fn finish_block(&mut self) -> Result<(), FrameError> {
        let Some((stream, promised, block, end_stream)) = self.partial.take() else {
            return Ok(());
        };
        let decoded = self
            .decoder
            .decode(&block, self.config.max_header_list_size as usize)
            .map_err(|_| FrameError::Connection {
                code: ErrorCode::COMPRESSION_ERROR,
                reason: "header block does not decode",
            })?;
        if decoded.too_large {
            return Err(FrameError::Stream {
                stream: promised.unwrap_or(stream),
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "header list too large",
            });
        }
        if let Some(promised) = promised {
            let field = |name: &[u8]| {
                decoded
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| String::from_utf8_lossy(&f.value).into_owned())
            };
            let Some(path) = field(b":path") else {
                return Err(FrameError::Stream {
                    stream: promised,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "promise without :path",
                });
            };
            self.streams.insert(
                promised,
                Stream {
                    remote_open: true,
                    body: VecDeque::new(),
                    local_done: true,
                    end_sent: true,
                    send_window: 0,
                    recv_window: i64::from(self.config.initial_window_size),
                    recv_unacked: 0,
                    pushed: true,
                },
            );
            self.events.push_back(Event::Promise {
                parent: stream,
                promised,
                path,
                authority: field(b":authority"),
            });
            return Ok(());
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            // A response on a stream we cancelled: the block is decoded (the table stays in
            // step) and dropped.
            return Ok(());
        };
        let status = decoded
            .fields
            .first()
            .filter(|f| f.name == b":status")
            .and_then(|f| std::str::from_utf8(&f.value).ok()?.parse::<u16>().ok());
        let Some(status) = status else {
            // Trailers (no :status) end the stream; a head without one is malformed.
            if end_stream && !s.remote_open {
                return Ok(());
            }
            if end_stream {
                s.remote_open = false;
                self.events.push_back(Event::Data {
                    stream,
                    data: Vec::new(),
                    end_stream: true,
                });
                self.close_if_done(stream);
                return Ok(());
            }
            return Err(FrameError::Stream {
                stream,
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "response without :status",
            });
        };
        if end_stream {
            s.remote_open = false;
        }
        let fields = decoded
            .fields
            .into_iter()
            .skip(1)
            .filter(|f| f.name.first() != Some(&b':'))
            .map(|f| (String::from_utf8_lossy(&f.name).into_owned(), f.value))
            .collect();
        self.events.push_back(Event::Response {
            stream,
            status,
            fields,
            end_stream,
        });
        self.close_if_done(stream);
        Ok(())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Appends frames to send: control frames and request heads, then request bodies within
    /// the windows.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.control);
        if self.error.is_some() {
            return;
        }
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let max_frame = self.peer_max_frame as usize;
            let Some(s) = self.streams.get_mut(&id) else {
                continue;
            };
            // Frames until the body is out or a window is spent.
            while !s.end_sent {
                let window = s.send_window.min(self.conn_send_window).max(0);
                let room = usize::try_from(window).unwrap_or(0);
                let n = s.body.len().min(max_frame).min(room);
                if n == 0 && !s.body.is_empty() {
                    break;
                }
                let end = n == s.body.len() && s.local_done;
                if n == 0 && !end {
                    break;
                }
                frame::write_data_header(out, id, n, end);
                out.extend(s.body.drain(..n));
                s.send_window -= n as i64;
                self.conn_send_window -= n as i64;
                s.end_sent = end;
                if self.config.record {
                    self.log.push((
                        crate::conn::Direction::Sent,
                        Frame::Data {
                            stream: id,
                            data: Vec::new(),
                            end_stream: end,
                            flow_len: n as u32,
                        }
                        .summary(),
                    ));
                }
            }
            self.close_if_done(id);
        }
    }

    /// Frame summaries recorded since the last call.
    pub fn take_log(&mut self) -> Vec<(crate::conn::Direction, String)> {
        std::mem::take(&mut self.log)
    }

    /// The connection error that ended it, if one did.
    pub fn error(&self) -> Option<&(ErrorCode, String)> {
        self.error.as_ref()
    }

    /// Streams still open (requests and pushes).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether a stream is a pushed one still open.
    pub fn is_pushed(&self, stream: u32) -> bool {
        self.streams.get(&stream).is_some_and(|s| s.pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{Config, Event as ServerEvent, ServerConn};
    use std::time::Instant;

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(client: &mut ClientConn, server: &mut ServerConn) {
        for _ in 0..1000 {
            let mut to_server = Vec::new();
            client.poll_transmit(&mut to_server);
            let mut to_client = Vec::new();
            server.poll_transmit(&mut to_client, 1 << 20);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            server.handle_input(&to_server, Instant::now());
            client.handle_input(&to_client);
        }
        panic!("no quiescence");
    }

    fn get(path: &str) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (":method", b"GET".to_vec()),
            (":scheme", b"http".to_vec()),
            (":authority", b"example.com".to_vec()),
            (":path", path.as_bytes().to_vec()),
        ]
    }

    fn try_send(
        client: &mut ClientConn,
        fields: &[(&'static str, Vec<u8>)],
        body: Option<&[u8]>,
    ) -> Result<u32, RequestError> {
        let borrowed: Vec<(&str, &[u8])> = fields.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        client.send_request(&borrowed, body)
    }

    fn send(
        client: &mut ClientConn,
        fields: &[(&'static str, Vec<u8>)],
        body: Option<&[u8]>,
    ) -> u32 {
        try_send(client, fields, body).unwrap()
    }

    fn events(client: &mut ClientConn) -> Vec<ClientEvent> {
        std::iter::from_fn(|| client.poll_event()).collect()
    }

    /// Our client against our server, in memory: many streams at once, a body larger than
    /// every initial window both ways, a push.
    #[test]
    fn client_and_server_exchange_requests_bodies_and_pushes() {
        let mut client = ClientConn::new(ClientConfig::default());
        let mut server = ServerConn::new(Config::default());
        let streams: Vec<u32> = (0..20)
            .map(|i| send(&mut client, &get(&format!("/o{i}")), None))
            .collect();
        let upload = vec![7u8; 300_000];
        let mut post = get("/up");
        post[0].1 = b"POST".to_vec();
        let post_stream = send(&mut client, &post, Some(&upload));
        let mut received = 0;
        for _ in 0..100 {
            pump(&mut client, &mut server);
            while let Some(event) = server.poll_event() {
                match event {
                    ServerEvent::Request {
                        stream,
                        request,
                        end_stream,
                    } => {
                        if request.path == "/o0" {
                            let promised = server
                                .push(stream, "GET", "http", "example.com", "/pushed.css")
                                .unwrap();
                            server.send_headers(promised, 200, &[], false).unwrap();
                            server.send_data(promised, b"p{}", true).unwrap();
                        }
                        if end_stream {
                            server
                                .send_headers(
                                    stream,
                                    200,
                                    &[("x-path", request.path.as_bytes())],
                                    false,
                                )
                                .unwrap();
                            server.send_data(stream, &vec![1u8; 100_000], true).unwrap();
                        }
                    }
                    ServerEvent::Data {
                        stream,
                        data,
                        end_stream,
                    } => {
                        received += data.len();
                        if end_stream {
                            server.send_headers(stream, 201, &[], true).unwrap();
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
            if client.open_streams() == 0 {
                break;
            }
        }
        assert_eq!(received, upload.len());
        let events = events(&mut client);
        let mut bodies = std::collections::HashMap::new();
        let mut statuses = std::collections::HashMap::new();
        let mut promised = None;
        for event in &events {
            match event {
                ClientEvent::Response { stream, status, .. } => {
                    statuses.insert(*stream, *status);
                }
                ClientEvent::Data { stream, data, .. } => {
                    *bodies.entry(*stream).or_insert(0) += data.len();
                }
                ClientEvent::Promise {
                    promised: p, path, ..
                } => {
                    assert_eq!(path, "/pushed.css");
                    promised = Some(*p);
                }
                other => panic!("{other:?}"),
            }
        }
        for stream in &streams {
            assert_eq!(statuses.get(stream), Some(&200));
            assert_eq!(bodies.get(stream), Some(&100_000));
        }
        assert_eq!(statuses.get(&post_stream), Some(&201));
        let promised = promised.expect("a push");
        assert_eq!(bodies.get(&promised), Some(&3));
        assert_eq!(client.open_streams(), 0);
    }

    #[test]
    fn the_servers_stream_limit_is_kept() {
        let mut client = ClientConn::new(ClientConfig::default());
        let mut server = ServerConn::new(Config {
            max_concurrent_streams: 3,
            ..Config::default()
        });
        pump(&mut client, &mut server);
        for i in 0..3 {
            send(&mut client, &get(&format!("/{i}")), None);
        }
        assert_eq!(
            try_send(&mut client, &get("/x"), None),
            Err(RequestError::Busy)
        );
    }

    #[test]
    fn a_bad_server_ends_the_connection() {
        let mut client = ClientConn::new(ClientConfig::default());
        client.handle_input(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        // "HTTP/1.1 " read as a frame header announces 4.7 MB: refused from the header.
        assert_eq!(
            client.error().map(|e| e.0),
            Some(ErrorCode::FRAME_SIZE_ERROR)
        );
        let mut out = Vec::new();
        client.poll_transmit(&mut out);
        let mut at = PREFACE.len();
        let mut goaway = false;
        while let Ok(Some((frame, used))) = frame::parse(&out[at..], frame::MAX_MAX_FRAME_SIZE) {
            goaway |= matches!(
                frame,
                Frame::GoAway {
                    code: ErrorCode::FRAME_SIZE_ERROR,
                    ..
                }
            );
            at += used;
        }
        assert!(goaway);
    }
}
