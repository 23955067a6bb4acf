//! HTTP/2 frames (RFC 9113 §4 and §6, and RFC 9218's PRIORITY_UPDATE): the 9-byte header, a
//! checked parse of each frame type into [`Frame`] that names the error the RFC requires for
//! each malformed frame ([`FrameError`]), and the encoders for what a server sends.

use std::fmt;

/// The client's connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The size of a frame header.
pub const HEADER_LEN: usize = 9;

/// The smallest SETTINGS_MAX_FRAME_SIZE (and its initial value).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest SETTINGS_MAX_FRAME_SIZE.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Frame types.
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (deprecated by RFC 9113, still parsed).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
    /// PRIORITY_UPDATE (RFC 9218 §7.1).
    pub const PRIORITY_UPDATE: u8 = 0x10;
}

/// Frame flags.
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters (RFC 9113 §6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218 §2.1).
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;
}

/// An HTTP/2 error code (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// Protocol error detected.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// Implementation fault.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// Flow-control limits exceeded.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// Settings not acknowledged.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// Frame received for a closed stream.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// Frame size incorrect.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// Stream not processed.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// Stream cancelled.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// Compression state not updated.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// TCP connection error for CONNECT.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// Processing capacity exceeded.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// Negotiated TLS parameters not acceptable.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// Use HTTP/1.1 for the request.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC's name for the code.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a malformed frame costs (RFC 9113 §5.4): the connection or only its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A connection error: GOAWAY with the code, then close.
    Connection {
        /// The code.
        code: ErrorCode,
        /// Why, for the GOAWAY's debug data and the log.
        reason: &'static str,
    },
    /// A stream error: RST_STREAM on the stream, the connection goes on.
    Stream {
        /// The stream.
        stream: u32,
        /// The code.
        code: ErrorCode,
        /// Why.
        reason: &'static str,
    },
}

fn conn_error(code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Connection { code, reason }
}

/// A frame's 9-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The payload's length.
    pub length: u32,
    /// The type.
    pub kind: u8,
    /// The flags.
    pub flags: u8,
    /// The stream (the reserved bit cleared).
    pub stream: u32,
}

impl FrameHeader {
    /// Reads a header from the first 9 bytes, if there are 9.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_WINDOW,
        })
    }

    /// Appends the header's bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let length = self.length.to_be_bytes();
        out.extend_from_slice(&length[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & MAX_WINDOW).to_be_bytes());
    }
}

/// RFC 7540's stream dependency, parsed from PRIORITY frames and HEADERS for the
/// self-dependency check only (RFC 9113 §5.3.1); RFC 9218 decides our order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    /// The stream depended on.
    pub stream: u32,
    /// Exclusive.
    pub exclusive: bool,
    /// Weight minus one.
    pub weight: u8,
}

/// A parsed frame. Payload ranges are copied out, so the frame outlives the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data {
        /// The stream.
        stream: u32,
        /// The data, padding removed.
        data: Vec<u8>,
        /// END_STREAM.
        end_stream: bool,
        /// The whole payload's length, padding included: what flow control counts.
        flow_len: u32,
    },
    /// HEADERS (the first fragment of a header block).
    Headers {
        /// The stream.
        stream: u32,
        /// The block fragment.
        fragment: Vec<u8>,
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS.
        end_headers: bool,
        /// The deprecated priority fields, if present.
        dependency: Option<Dependency>,
    },
    /// PRIORITY.
    Priority {
        /// The stream.
        stream: u32,
        /// Its dependency.
        dependency: Dependency,
    },
    /// RST_STREAM.
    RstStream {
        /// The stream.
        stream: u32,
        /// The code.
        code: ErrorCode,
    },
    /// SETTINGS.
    Settings {
        /// ACK.
        ack: bool,
        /// The parameters in order (each value checked).
        params: Vec<(u16, u32)>,
    },
    /// PUSH_PROMISE.
    PushPromise {
        /// The stream.
        stream: u32,
        /// The promised stream.
        promised: u32,
        /// The block fragment (the promised request's head).
        fragment: Vec<u8>,
        /// END_HEADERS.
        end_headers: bool,
    },
    /// PING.
    Ping {
        /// ACK.
        ack: bool,
        /// The opaque data.
        data: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// The last stream the sender may process.
        last_stream: u32,
        /// The code.
        code: ErrorCode,
        /// Debug data.
        debug: Vec<u8>,
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// The stream (0: the connection).
        stream: u32,
        /// The increment (1 ..= 2^31 - 1).
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// The stream.
        stream: u32,
        /// The block fragment.
        fragment: Vec<u8>,
        /// END_HEADERS.
        end_headers: bool,
    },
    /// PRIORITY_UPDATE (RFC 9218 §7.1).
    PriorityUpdate {
        /// The stream whose priority changes.
        prioritized: u32,
        /// The Priority Field Value (ASCII).
        value: Vec<u8>,
    },
    /// A frame of a type we do not know: ignored (RFC 9113 §4.1, §5.5).
    Unknown {
        /// The type.
        kind: u8,
        /// The stream.
        stream: u32,
    },
}

impl Frame {
    /// The frame's stream (0 for connection frames).
    pub fn stream(&self) -> u32 {
        match self {
            Frame::Data { stream, .. }
            | Frame::Headers { stream, .. }
            | Frame::Priority { stream, .. }
            | Frame::RstStream { stream, .. }
            | Frame::PushPromise { stream, .. }
            | Frame::WindowUpdate { stream, .. }
            | Frame::Continuation { stream, .. }
            | Frame::Unknown { stream, .. } => *stream,
            Frame::Settings { .. }
            | Frame::Ping { .. }
            | Frame::GoAway { .. }
            | Frame::PriorityUpdate { .. } => 0,
        }
    }

    /// A one-line summary for the wire event, as `nghttp -v` names frames.
    pub fn summary(&self) -> String {
        match self {
            Frame::Data {
                stream,
                data,
                end_stream,
                ..
            } => format!(
                "DATA stream={stream} len={}{}",
                data.len(),
                if *end_stream { " END_STREAM" } else { "" }
            ),
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                ..
            } => format!(
                "HEADERS stream={stream} block={}{}{}",
                fragment.len(),
                if *end_stream { " END_STREAM" } else { "" },
                if *end_headers { " END_HEADERS" } else { "" }
            ),
            Frame::Priority { stream, .. } => format!("PRIORITY stream={stream}"),
            Frame::RstStream { stream, code } => format!("RST_STREAM stream={stream} {code}"),
            Frame::Settings { ack: true, .. } => "SETTINGS ACK".to_string(),
            Frame::Settings { params, .. } => {
                let mut text = "SETTINGS".to_string();
                for (id, value) in params {
                    text.push_str(&format!(" {}={value}", setting_name(*id)));
                }
                text
            }
            Frame::PushPromise {
                stream, promised, ..
            } => format!("PUSH_PROMISE stream={stream} promised={promised}"),
            Frame::Ping { ack, .. } => if *ack { "PING ACK" } else { "PING" }.to_string(),
            Frame::GoAway {
                last_stream, code, ..
            } => format!("GOAWAY last_stream={last_stream} {code}"),
            Frame::WindowUpdate { stream, increment } => {
                format!("WINDOW_UPDATE stream={stream} +{increment}")
            }
            Frame::Continuation {
                stream,
                fragment,
                end_headers,
            } => format!(
                "CONTINUATION stream={stream} block={}{}",
                fragment.len(),
                if *end_headers { " END_HEADERS" } else { "" }
            ),
            Frame::PriorityUpdate { prioritized, value } => format!(
                "PRIORITY_UPDATE stream={prioritized} {}",
                String::from_utf8_lossy(value)
            ),
            Frame::Unknown { kind, stream } => format!("frame type {kind:#x} stream={stream}"),
        }
    }
}

/// A SETTINGS parameter's name.
pub fn setting_name(id: u16) -> String {
    match id {
        setting::HEADER_TABLE_SIZE => "HEADER_TABLE_SIZE".into(),
        setting::ENABLE_PUSH => "ENABLE_PUSH".into(),
        setting::MAX_CONCURRENT_STREAMS => "MAX_CONCURRENT_STREAMS".into(),
        setting::INITIAL_WINDOW_SIZE => "INITIAL_WINDOW_SIZE".into(),
        setting::MAX_FRAME_SIZE => "MAX_FRAME_SIZE".into(),
        setting::MAX_HEADER_LIST_SIZE => "MAX_HEADER_LIST_SIZE".into(),
        setting::NO_RFC7540_PRIORITIES => "NO_RFC7540_PRIORITIES".into(),
        other => format!("{other:#x}"),
    }
}

/// Reads one frame from the front of `buf`: `Ok(None)` until the whole frame is there, else the
/// frame and the bytes it took. `max_frame_size` is our SETTINGS_MAX_FRAME_SIZE; a longer frame
/// is a connection error (RFC 9113 §4.2), decided from the header alone so a peer cannot make us
/// buffer it.
pub fn parse(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = FrameHeader::parse(buf) else {
        return Ok(None);
    };
    if header.length > max_frame_size {
        return Err(conn_error(
            ErrorCode::FRAME_SIZE_ERROR,
            "frame longer than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    let total = HEADER_LEN + header.length as usize;
    let Some(payload) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    Ok(Some((parse_payload(header, payload)?, total)))
}

/// Removes the padding of a PADDED frame (RFC 9113 §6.1, §6.2, §6.6).
fn unpad(header: FrameHeader, payload: &[u8]) -> Result<&[u8], FrameError> {
    if header.flags & flag::PADDED == 0 {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(conn_error(
            ErrorCode::FRAME_SIZE_ERROR,
            "padded frame without a pad length",
        ));
    };
    let keep = rest.len().checked_sub(pad as usize).ok_or(conn_error(
        ErrorCode::PROTOCOL_ERROR,
        "padding longer than the frame",
    ))?;
    Ok(&rest[..keep])
}

fn dependency(bytes: &[u8]) -> Option<Dependency> {
    let b: &[u8; 5] = bytes.get(..5)?.try_into().ok()?;
    let raw = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some(Dependency {
        stream: raw & MAX_WINDOW,
        exclusive: raw & !MAX_WINDOW != 0,
        weight: b[4],
    })
}

fn be32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    for (slot, byte) in word.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u32::from_be_bytes(word)
}

fn parse_payload(header: FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
    let stream = header.stream;
    let on_stream = |what: &'static str| {
        if stream == 0 {
            Err(conn_error(ErrorCode::PROTOCOL_ERROR, what))
        } else {
            Ok(())
        }
    };
    let on_connection = |what: &'static str| {
        if stream != 0 {
            Err(conn_error(ErrorCode::PROTOCOL_ERROR, what))
        } else {
            Ok(())
        }
    };
    Ok(match header.kind {
        kind::DATA => {
            on_stream("DATA on stream 0")?;
            let data = unpad(header, payload)?;
            Frame::Data {
                stream,
                data: data.to_vec(),
                end_stream: header.flags & flag::END_STREAM != 0,
                flow_len: header.length,
            }
        }
        kind::HEADERS => {
            on_stream("HEADERS on stream 0")?;
            let mut rest = unpad(header, payload)?;
            let mut dep = None;
            if header.flags & flag::PRIORITY != 0 {
                dep = Some(dependency(rest).ok_or(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority fields",
                ))?);
                rest = &rest[5..];
            }
            Frame::Headers {
                stream,
                fragment: rest.to_vec(),
                end_stream: header.flags & flag::END_STREAM != 0,
                end_headers: header.flags & flag::END_HEADERS != 0,
                dependency: dep,
            }
        }
        kind::PRIORITY => {
            on_stream("PRIORITY on stream 0")?;
            if payload.len() != 5 {
                return Err(FrameError::Stream {
                    stream,
                    code: ErrorCode::FRAME_SIZE_ERROR,
                    reason: "PRIORITY not 5 bytes long",
                });
            }
            Frame::Priority {
                stream,
                dependency: dependency(payload).ok_or(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "PRIORITY not 5 bytes long",
                ))?,
            }
        }
        kind::RST_STREAM => {
            on_stream("RST_STREAM on stream 0")?;
            if payload.len() != 4 {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "RST_STREAM not 4 bytes long",
                ));
            }
            Frame::RstStream {
                stream,
                code: ErrorCode(be32(payload)),
            }
        }
        kind::SETTINGS => {
            on_connection("SETTINGS on a stream")?;
            let ack = header.flags & flag::ACK != 0;
            if ack && !payload.is_empty() {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "SETTINGS ACK with a payload",
                ));
            }
            if !payload.len().is_multiple_of(6) {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "SETTINGS length not a multiple of 6",
                ));
            }
            let mut params = Vec::with_capacity(payload.len() / 6);
            for chunk in payload.chunks_exact(6) {
                let id = u16::from_be_bytes([chunk[0], chunk[1]]);
                let value = be32(&chunk[2..]);
                match id {
                    setting::ENABLE_PUSH if value > 1 => {
                        return Err(conn_error(
                            ErrorCode::PROTOCOL_ERROR,
                            "SETTINGS_ENABLE_PUSH not 0 or 1",
                        ))
                    }
                    setting::INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
                        return Err(conn_error(
                            ErrorCode::FLOW_CONTROL_ERROR,
                            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                        ))
                    }
                    setting::MAX_FRAME_SIZE
                        if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
                    {
                        return Err(conn_error(
                            ErrorCode::PROTOCOL_ERROR,
                            "SETTINGS_MAX_FRAME_SIZE out of range",
                        ))
                    }
                    setting::NO_RFC7540_PRIORITIES if value > 1 => {
                        return Err(conn_error(
                            ErrorCode::PROTOCOL_ERROR,
                            "SETTINGS_NO_RFC7540_PRIORITIES not 0 or 1",
                        ))
                    }
                    _ => params.push((id, value)),
                }
            }
            Frame::Settings { ack, params }
        }
        kind::PUSH_PROMISE => {
            on_stream("PUSH_PROMISE on stream 0")?;
            let rest = unpad(header, payload)?;
            if rest.len() < 4 {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "PUSH_PROMISE too short",
                ));
            }
            Frame::PushPromise {
                stream,
                promised: be32(rest) & MAX_WINDOW,
                fragment: rest[4..].to_vec(),
                end_headers: header.flags & flag::END_HEADERS != 0,
            }
        }
        kind::PING => {
            on_connection("PING on a stream")?;
            let data: [u8; 8] = payload
                .try_into()
                .map_err(|_| conn_error(ErrorCode::FRAME_SIZE_ERROR, "PING not 8 bytes long"))?;
            Frame::Ping {
                ack: header.flags & flag::ACK != 0,
                data,
            }
        }
        kind::GOAWAY => {
            on_connection("GOAWAY on a stream")?;
            if payload.len() < 8 {
                return Err(conn_error(ErrorCode::FRAME_SIZE_ERROR, "GOAWAY too short"));
            }
            Frame::GoAway {
                last_stream: be32(payload) & MAX_WINDOW,
                code: ErrorCode(be32(&payload[4..8])),
                debug: payload[8..].to_vec(),
            }
        }
        kind::WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "WINDOW_UPDATE not 4 bytes long",
                ));
            }
            let increment = be32(payload) & MAX_WINDOW;
            if increment == 0 {
                return Err(if stream == 0 {
                    conn_error(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                } else {
                    FrameError::Stream {
                        stream,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "WINDOW_UPDATE of 0",
                    }
                });
            }
            Frame::WindowUpdate { stream, increment }
        }
        kind::CONTINUATION => {
            on_stream("CONTINUATION on stream 0")?;
            Frame::Continuation {
                stream,
                fragment: payload.to_vec(),
                end_headers: header.flags & flag::END_HEADERS != 0,
            }
        }
        kind::PRIORITY_UPDATE => {
            on_connection("PRIORITY_UPDATE on a stream")?;
            if payload.len() < 4 {
                return Err(conn_error(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "PRIORITY_UPDATE too short",
                ));
            }
            Frame::PriorityUpdate {
                prioritized: be32(payload) & MAX_WINDOW,
                value: payload[4..].to_vec(),
            }
        }
        other => Frame::Unknown {
            kind: other,
            stream,
        },
    })
}

/// Appends a frame header and payload.
pub fn write_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    FrameHeader {
        length: payload.len() as u32,
        kind,
        flags,
        stream,
    }
    .write(out);
    out.extend_from_slice(payload);
}

/// Appends a SETTINGS frame.
pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    let mut payload = Vec::with_capacity(params.len() * 6);
    for (id, value) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    write_frame(out, kind::SETTINGS, 0, 0, &payload);
}

/// Appends a SETTINGS ACK.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_frame(out, kind::SETTINGS, flag::ACK, 0, &[]);
}

/// Appends a PING (or its ACK).
pub fn write_ping(out: &mut Vec<u8>, ack: bool, data: [u8; 8]) {
    write_frame(out, kind::PING, if ack { flag::ACK } else { 0 }, 0, &data);
}

/// Appends a GOAWAY.
pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    let mut payload = Vec::with_capacity(8 + debug.len());
    payload.extend_from_slice(&(last_stream & MAX_WINDOW).to_be_bytes());
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(debug);
    write_frame(out, kind::GOAWAY, 0, 0, &payload);
}

/// Appends a RST_STREAM.
pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write_frame(out, kind::RST_STREAM, 0, stream, &code.0.to_be_bytes());
}

/// Appends a WINDOW_UPDATE.
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write_frame(
        out,
        kind::WINDOW_UPDATE,
        0,
        stream,
        &(increment & MAX_WINDOW).to_be_bytes(),
    );
}

/// Appends a header block as HEADERS (or PUSH_PROMISE, when `promised` is given) and as many
/// CONTINUATION frames as `max_frame_size` needs.
pub fn write_header_block(
    out: &mut Vec<u8>,
    stream: u32,
    promised: Option<u32>,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = max_frame_size.max(DEFAULT_MAX_FRAME_SIZE) as usize;
    let (kind, prefix) = match promised {
        Some(id) => (kind::PUSH_PROMISE, Some((id & MAX_WINDOW).to_be_bytes())),
        None => (kind::HEADERS, None),
    };
    let first_room = max - prefix.map_or(0, |p| p.len());
    let (first, mut rest) = block.split_at(block.len().min(first_room));
    let mut flags = if end_stream && promised.is_none() {
        flag::END_STREAM
    } else {
        0
    };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    FrameHeader {
        length: (first.len() + prefix.map_or(0, |p| p.len())) as u32,
        kind,
        flags,
        stream,
    }
    .write(out);
    if let Some(prefix) = prefix {
        out.extend_from_slice(&prefix);
    }
    out.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        rest = tail;
        let flags = if rest.is_empty() {
            flag::END_HEADERS
        } else {
            0
        };
        write_frame(out, kind::CONTINUATION, flags, stream, chunk);
    }
}

/// Appends a DATA frame's header; the caller appends the `length` bytes of data.
pub fn write_data_header(out: &mut Vec<u8>, stream: u32, length: usize, end_stream: bool) {
    FrameHeader {
        length: length as u32,
        kind: kind::DATA,
        flags: if end_stream { flag::END_STREAM } else { 0 },
        stream,
    }
    .write(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, kind, flags, stream, payload);
        out
    }

    fn parse_one(bytes: &[u8]) -> Result<Frame, FrameError> {
        parse(bytes, DEFAULT_MAX_FRAME_SIZE).map(|f| f.expect("complete").0)
    }

    fn conn_code(bytes: &[u8]) -> ErrorCode {
        match parse_one(bytes) {
            Err(FrameError::Connection { code, .. }) => code,
            other => panic!("expected a connection error, got {other:?}"),
        }
    }

    #[test]
    fn headers_round_trip_and_split_into_continuations() {
        let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        write_header_block(&mut out, 3, None, &block, true, DEFAULT_MAX_FRAME_SIZE);
        let mut at = 0;
        let mut got = Vec::new();
        let mut frames = Vec::new();
        while at < out.len() {
            let (frame, used) = parse(&out[at..], DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
            at += used;
            match &frame {
                Frame::Headers { fragment, .. } | Frame::Continuation { fragment, .. } => {
                    got.extend_from_slice(fragment)
                }
                other => panic!("{other:?}"),
            }
            frames.push(frame);
        }
        assert_eq!(got, block);
        assert_eq!(frames.len(), 3);
        assert!(matches!(
            frames[0],
            Frame::Headers {
                end_stream: true,
                end_headers: false,
                stream: 3,
                ..
            }
        ));
        assert!(matches!(
            frames[2],
            Frame::Continuation {
                end_headers: true,
                ..
            }
        ));
    }

    #[test]
    fn incomplete_frames_wait_and_long_ones_are_refused_early() {
        let bytes = frame(kind::PING, 0, 0, &[1; 8]);
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut], DEFAULT_MAX_FRAME_SIZE), Ok(None));
        }
        // A header announcing 16385 bytes is refused before any payload arrives.
        let long = [0x00, 0x40, 0x01, kind::DATA, 0, 0, 0, 0, 1];
        assert!(matches!(
            parse(&long, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::Connection {
                code: ErrorCode::FRAME_SIZE_ERROR,
                ..
            })
        ));
    }

    #[test]
    fn padding_is_removed_and_checked() {
        let ok = frame(kind::DATA, flag::PADDED, 1, &[2, b'h', b'i', 0, 0]);
        assert_eq!(
            parse_one(&ok),
            Ok(Frame::Data {
                stream: 1,
                data: b"hi".to_vec(),
                end_stream: false,
                flow_len: 5
            })
        );
        let bad = frame(kind::DATA, flag::PADDED, 1, &[5, b'h', b'i']);
        assert_eq!(conn_code(&bad), ErrorCode::PROTOCOL_ERROR);
        let bad = frame(kind::HEADERS, flag::PADDED, 1, &[9]);
        assert_eq!(conn_code(&bad), ErrorCode::PROTOCOL_ERROR);
    }

    /// RFC 9113 §6: each frame type's size and stream rules and their error codes.
    #[test]
    fn malformed_frames_get_the_rfcs_error() {
        assert_eq!(
            conn_code(&frame(kind::DATA, 0, 0, b"x")),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::HEADERS, 0, 0, b"")),
            ErrorCode::PROTOCOL_ERROR
        );
        assert!(matches!(
            parse_one(&frame(kind::PRIORITY, 0, 1, &[0; 4])),
            Err(FrameError::Stream {
                stream: 1,
                code: ErrorCode::FRAME_SIZE_ERROR,
                ..
            })
        ));
        assert_eq!(
            conn_code(&frame(kind::RST_STREAM, 0, 1, &[0; 3])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::RST_STREAM, 0, 0, &[0; 4])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 1, &[])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, flag::ACK, 0, &[0; 6])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 0, &[0; 5])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0])),
            ErrorCode::FLOW_CONTROL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::SETTINGS, 0, 0, &[0, 5, 1, 0, 0, 0])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::PING, 0, 0, &[0; 7])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::PING, 0, 1, &[0; 8])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::GOAWAY, 0, 0, &[0; 7])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::GOAWAY, 0, 3, &[0; 8])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::WINDOW_UPDATE, 0, 0, &[0; 3])),
            ErrorCode::FRAME_SIZE_ERROR
        );
        assert_eq!(
            conn_code(&frame(kind::WINDOW_UPDATE, 0, 0, &[0; 4])),
            ErrorCode::PROTOCOL_ERROR
        );
        assert!(matches!(
            parse_one(&frame(kind::WINDOW_UPDATE, 0, 5, &[0; 4])),
            Err(FrameError::Stream {
                stream: 5,
                code: ErrorCode::PROTOCOL_ERROR,
                ..
            })
        ));
        assert_eq!(
            conn_code(&frame(kind::CONTINUATION, 0, 0, b"")),
            ErrorCode::PROTOCOL_ERROR
        );
        // Unknown types and unknown settings are ignored.
        assert_eq!(
            parse_one(&frame(0xfa, 0xff, 7, b"whatever")),
            Ok(Frame::Unknown {
                kind: 0xfa,
                stream: 7
            })
        );
        assert_eq!(
            parse_one(&frame(kind::SETTINGS, 0, 0, &[0xff, 0xff, 0, 0, 0, 1])),
            Ok(Frame::Settings {
                ack: false,
                params: vec![(0xffff, 1)]
            })
        );
    }

    #[test]
    fn the_reserved_bit_is_ignored() {
        let mut bytes = frame(kind::WINDOW_UPDATE, 0, 1, &[0x80, 0, 0, 1]);
        bytes[5] |= 0x80;
        assert_eq!(
            parse_one(&bytes),
            Ok(Frame::WindowUpdate {
                stream: 1,
                increment: 1
            })
        );
    }

    #[test]
    fn no_prefix_of_any_frame_panics() {
        let frames = [
            frame(
                kind::HEADERS,
                flag::PADDED | flag::PRIORITY,
                1,
                &[1, 0, 0, 0, 1, 7, 9, 0],
            ),
            frame(kind::PUSH_PROMISE, flag::PADDED, 1, &[0, 0, 0, 0, 2]),
            frame(kind::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 1, b'x']),
            frame(kind::PRIORITY_UPDATE, 0, 0, &[0, 0, 0, 1, b'u', b'=', b'1']),
        ];
        for bytes in frames {
            for cut in 0..=bytes.len() {
                let _ = parse(&bytes[..cut], DEFAULT_MAX_FRAME_SIZE);
                let mut header = bytes.clone();
                // Lie about the length: each payload parser sees a shorter slice.
                header[2] = cut as u8;
                let _ = parse(&header, DEFAULT_MAX_FRAME_SIZE);
            }
        }
    }
}
