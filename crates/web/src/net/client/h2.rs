//! Fetching a page and its objects over HTTP/2 on one connection (`Mode::Http2`): h2 by ALPN
//! for https, h2c with prior knowledge for http. The page's request goes first; once its body
//! is in, every same-origin object is requested at once, each on its own stream, and objects
//! the server pushed are taken from their promised streams instead. Objects of other origins
//! are fetched afterwards over HTTP/1.1. Round trips: the TCP handshake, the TLS handshake,
//! the page, then one for all the objects together (none when all were pushed).

use super::{failed, io_error, ClientStream, Connection, Context, Lane};
use crate::client::{referenced_objects, ClientError, ObjectReport};
use h2_proto::client::{ClientConfig, ClientConn, ClientEvent};
use h2_proto::conn::Direction;
use http_proto::{Method, RequestHead, ResponseHead, StatusCode, Uri};
use netio::wire::{self, Dir};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One stream's response as it arrives.
#[derive(Default)]
struct Response {
    head: Option<ResponseHead>,
    body: Vec<u8>,
    done: bool,
    failed: bool,
}

/// What the HTTP/2 part of a fetch found.
pub(super) struct H2Fetch {
    pub(super) objects: Vec<ObjectReport>,
    pub(super) base_head: ResponseHead,
    pub(super) base_body: Vec<u8>,
    pub(super) streams: usize,
    pub(super) pushed: usize,
    /// Objects of other origins, for HTTP/1.1.
    pub(super) elsewhere: Vec<Uri>,
}

struct Session<'a> {
    context: &'a Context,
    connection: Connection,
    machine: ClientConn,
    responses: HashMap<u32, Response>,
    /// Pushed streams by path.
    promised: HashMap<String, u32>,
    buf: Vec<u8>,
}

impl Context {
    /// Fetches `base` (and, for an HTML page, its objects) over one HTTP/2 connection.
    pub(super) async fn fetch_h2(
        &self,
        lane: &mut Lane,
        base: &Uri,
        method: &Method,
        body: Option<&[u8]>,
    ) -> Result<H2Fetch, ClientError> {
        let connection = self.open(base, lane).await?;
        if let ClientStream::Tls(stream) = &connection.stream {
            if stream.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
                return Err(io_error(
                    connection.peer,
                    std::io::Error::other("the server did not accept h2 (ALPN)"),
                ));
            }
        }
        let machine = ClientConn::new(ClientConfig {
            record: wire::enabled(),
            ..ClientConfig::default()
        });
        let mut session = Session {
            context: self,
            connection,
            machine,
            responses: HashMap::new(),
            promised: HashMap::new(),
            buf: vec![0u8; 64 * 1024],
        };
        let started = Instant::now();
        let request = self.request(base, method, body, false);
        let stream = session.send(base, &request, body)?;
        session.wait(&[stream]).await?;
        lane.round_trips += 1;
        let response = session.responses.remove(&stream).unwrap_or_default();
        let Some(base_head) = response.head.filter(|_| !response.failed) else {
            return Err(io_error(
                session.connection.peer,
                std::io::Error::other("the page's stream was reset"),
            ));
        };
        let (base_report, base_body) = self.finish(
            base,
            &request,
            &base_head,
            response.body,
            session.connection.id,
            started,
        );
        let mut fetch = H2Fetch {
            objects: vec![base_report],
            base_head: base_head.clone(),
            base_body: base_body.clone(),
            streams: 1,
            pushed: 0,
            elsewhere: Vec::new(),
        };
        let wants_objects = self.options.fetch_objects
            && *method == Method::Get
            && matches!(base_head.status.as_u16(), 200 | 304)
            && super::is_html(&base_head, &base_body);
        if !wants_objects {
            return Ok(fetch);
        }
        let page = String::from_utf8_lossy(&base_body).into_owned();
        let (same, elsewhere): (Vec<Uri>, Vec<Uri>) = referenced_objects(&page, base)
            .into_iter()
            .partition(|uri| super::origin_key(uri) == super::origin_key(base));
        fetch.elsewhere = elsewhere;
        // Every object at once (the server's stream limit permitting), pushed ones taken
        // from their streams.
        let started = Instant::now();
        let mut pending: VecDeque<usize> = (0..same.len()).collect();
        let mut streams: Vec<Option<(u32, RequestHead)>> = vec![None; same.len()];
        let mut used: Vec<u32> = Vec::new();
        while !pending.is_empty() || used.iter().any(|s| !session.finished(*s)) {
            while let Some(&index) = pending.front() {
                let uri = &same[index];
                let request = self.request(uri, &Method::Get, None, false);
                let stream = match session.promised.remove(&uri.path_and_query()) {
                    Some(stream) => {
                        fetch.pushed += 1;
                        stream
                    }
                    None if session.machine.can_send() => session.send(uri, &request, None)?,
                    None => break,
                };
                pending.pop_front();
                streams[index] = Some((stream, request));
                used.push(stream);
            }
            let open: Vec<u32> = used
                .iter()
                .copied()
                .filter(|s| !session.finished(*s))
                .collect();
            if open.is_empty() && pending.is_empty() {
                break;
            }
            session.step().await?;
        }
        // Pushed objects came with the page: only requested ones cost a round trip.
        if fetch.pushed < same.len() {
            lane.round_trips += 1;
        }
        fetch.streams += used.len();
        for (index, uri) in same.iter().enumerate() {
            let Some((stream, request)) = &streams[index] else {
                fetch.objects.push(failed(uri));
                continue;
            };
            let response = session.responses.remove(stream).unwrap_or_default();
            match response.head.filter(|_| !response.failed) {
                Some(head) => {
                    let (report, _) = self.finish(
                        uri,
                        request,
                        &head,
                        response.body,
                        session.connection.id,
                        started,
                    );
                    fetch.objects.push(report);
                }
                None => fetch.objects.push(failed(uri)),
            }
        }
        // Pushes we did not use are cancelled.
        for (_, stream) in session.promised.drain() {
            session.machine.cancel(stream);
        }
        let _ = session.flush().await;
        Ok(fetch)
    }
}

impl Session<'_> {
    fn finished(&self, stream: u32) -> bool {
        self.responses
            .get(&stream)
            .is_some_and(|r| r.done || r.failed)
    }

    /// Starts a request (its head as HTTP/2 fields) and returns its stream.
    fn send(
        &mut self,
        uri: &Uri,
        request: &RequestHead,
        body: Option<&[u8]>,
    ) -> Result<u32, ClientError> {
        let mut path = uri.path.clone();
        if let Some(query) = &uri.query {
            path.push('?');
            path.push_str(query);
        }
        let method = request.method.to_string();
        let authority = uri.authority();
        let mut fields: Vec<(String, String)> = vec![
            (":method".into(), method),
            (":scheme".into(), uri.scheme.clone()),
            (":authority".into(), authority),
            (":path".into(), path),
        ];
        for (name, value) in request.headers.iter() {
            let name = name.to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "host" | "connection" | "keep-alive" | "transfer-encoding" | "upgrade"
            ) {
                continue;
            }
            fields.push((name, value.to_owned()));
        }
        if !fields.iter().any(|(name, _)| name == "priority") {
            if let Some(priority) = priority_for(&uri.path) {
                fields.push(("priority".into(), priority.into()));
            }
        }
        let borrowed: Vec<(&str, &[u8])> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let stream = self
            .machine
            .send_request(&borrowed, body)
            .map_err(|error| io_error(self.connection.peer, std::io::Error::other(error)))?;
        if wire::enabled() {
            let summary = format!("{} (stream {stream})", request.summary());
            wire::emit(
                "http",
                Dir::Send,
                self.connection.local,
                self.connection.peer,
                &summary,
            );
        }
        self.responses.insert(stream, Response::default());
        Ok(stream)
    }

    /// Runs the connection until every stream in `streams` is complete.
    async fn wait(&mut self, streams: &[u32]) -> Result<(), ClientError> {
        while streams.iter().any(|s| !self.finished(*s)) {
            self.step().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        let mut out = Vec::new();
        self.machine.poll_transmit(&mut out);
        self.emit_frames();
        if out.is_empty() {
            return Ok(());
        }
        let peer = self.connection.peer;
        let timeout = self.context.options.timeout;
        match tokio::time::timeout(timeout, self.connection.stream.write_all(&out)).await {
            Ok(result) => result.map_err(|e| io_error(peer, e)),
            Err(_) => Err(ClientError::Timeout {
                addr: peer,
                what: "send",
            }),
        }
    }

    /// Sends what is queued, reads once, and files the events.
    async fn step(&mut self) -> Result<(), ClientError> {
        self.flush().await?;
        let peer = self.connection.peer;
        let timeout = self.context.options.timeout;
        let read = tokio::time::timeout(timeout, self.connection.stream.read(&mut self.buf))
            .await
            .map_err(|_| ClientError::Timeout {
                addr: peer,
                what: "response",
            })?
            .map_err(|e| io_error(peer, e))?;
        if read == 0 {
            return Err(io_error(
                peer,
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"),
            ));
        }
        self.machine.handle_input(&self.buf[..read]);
        while let Some(event) = self.machine.poll_event() {
            self.file(event);
        }
        if let Some((code, reason)) = self.machine.error() {
            return Err(io_error(
                peer,
                std::io::Error::other(format!("HTTP/2 connection error {code}: {reason}")),
            ));
        }
        Ok(())
    }

    fn emit_frames(&mut self) {
        if !wire::enabled() {
            return;
        }
        for (direction, summary) in self.machine.take_log() {
            let dir = match direction {
                Direction::Received => Dir::Recv,
                Direction::Sent => Dir::Send,
            };
            wire::emit(
                "h2",
                dir,
                self.connection.local,
                self.connection.peer,
                &summary,
            );
        }
    }

    fn file(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Response {
                stream,
                status,
                fields,
                end_stream,
            } => {
                if (100..200).contains(&status) {
                    return;
                }
                let Some(code) = StatusCode::from_u16(status) else {
                    self.responses.entry(stream).or_default().failed = true;
                    return;
                };
                let mut head = ResponseHead::new(code);
                for (name, value) in fields {
                    head.headers
                        .append(name.as_str(), String::from_utf8_lossy(&value).as_ref());
                }
                if wire::enabled() {
                    let summary = format!("{} (stream {stream})", head.summary());
                    wire::emit(
                        "http",
                        Dir::Recv,
                        self.connection.local,
                        self.connection.peer,
                        &summary,
                    );
                }
                let response = self.responses.entry(stream).or_default();
                response.head = Some(head);
                response.done = end_stream;
            }
            ClientEvent::Data {
                stream,
                data,
                end_stream,
            } => {
                let response = self.responses.entry(stream).or_default();
                response.body.extend_from_slice(&data);
                response.done |= end_stream;
            }
            ClientEvent::Promise { promised, path, .. } => {
                self.responses.insert(promised, Response::default());
                self.promised.insert(path, promised);
            }
            ClientEvent::Reset { stream, .. } => {
                self.responses.entry(stream).or_default().failed = true;
            }
            ClientEvent::GoAway { .. } => {}
        }
    }
}

/// The RFC 9218 priority a request asks for by what it fetches, as browsers rank them: the
/// page first, then what blocks its rendering (style sheets, then scripts), then images and
/// media, which render as they come (incremental). `None` leaves the default (u=3).
pub(crate) fn priority_for(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or("");
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "" | "html" | "htm" => Some("u=0, i"),
        "css" => Some("u=1"),
        "js" | "mjs" => Some("u=2"),
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "svg" | "avif" | "ico" | "mp4" | "webm"
        | "m4s" => Some("u=4, i"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::priority_for;

    #[test]
    fn requests_are_ranked_as_browsers_rank_them() {
        assert_eq!(priority_for("/"), Some("u=0, i"));
        assert_eq!(priority_for("/somedir/page.html"), Some("u=0, i"));
        assert_eq!(priority_for("/style.CSS"), Some("u=1"));
        assert_eq!(priority_for("/app.js"), Some("u=2"));
        assert_eq!(priority_for("/images/a.png"), Some("u=4, i"));
        assert_eq!(priority_for("/data.bin"), None);
        // The server reads them back as RFC 9218 says.
        let parsed =
            h2_proto::conn::Priority::parse(b"u=4, i", h2_proto::conn::Priority::default());
        assert_eq!((parsed.urgency, parsed.incremental), (4, true));
    }
}
