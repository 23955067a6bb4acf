//! Test fixtures: a programmable origin server, a proxy started on 127.0.0.1:0, and a raw
//! HTTP/1.1 client.

use http_proto::{
    parse_request, parse_response, BodyDecoder, Limits, Method, RequestHead, ResponseHead,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use web_proxy::{ProxyConfig, ProxyStats};

/// What the test origin answers: raw response bytes for a request head.
pub(crate) type Handler = Arc<dyn Fn(&RequestHead) -> Vec<u8> + Send + Sync>;

/// A tiny origin server: counts requests, remembers the last request head, answers with the
/// handler (which can be swapped), optionally after a delay.
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Arc<AtomicUsize>,
    pub(crate) last: Arc<Mutex<Option<RequestHead>>>,
    handler: Arc<Mutex<Handler>>,
    delay: Arc<Mutex<Duration>>,
}

impl Origin {
    pub(crate) async fn start(
        handler: impl Fn(&RequestHead) -> Vec<u8> + Send + Sync + 'static,
    ) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let origin = Origin {
            addr,
            hits: Arc::new(AtomicUsize::new(0)),
            last: Arc::new(Mutex::new(None)),
            handler: Arc::new(Mutex::new(Arc::new(handler))),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
        };
        let (hits, last, handler, delay) = (
            origin.hits.clone(),
            origin.last.clone(),
            origin.handler.clone(),
            origin.delay.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (hits, last, handler, delay) =
                    (hits.clone(), last.clone(), handler.clone(), delay.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let parsed = loop {
                            match parse_request(&buffer, &Limits::default()) {
                                Ok(Some(parsed)) => break parsed,
                                Ok(None) => {}
                                Err(_) => return,
                            }
                            match stream.read_buf(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                        };
                        buffer.drain(..parsed.len);
                        let mut decoder = BodyDecoder::new(parsed.body);
                        let mut body = Vec::new();
                        while !decoder.is_done() {
                            let used = decoder.decode_into(&buffer, &mut body).unwrap();
                            buffer.drain(..used);
                            if decoder.is_done() {
                                break;
                            }
                            if stream.read_buf(&mut buffer).await.unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        hits.fetch_add(1, Ordering::SeqCst);
                        *last.lock().unwrap() = Some(parsed.head.clone());
                        let wait = *delay.lock().unwrap();
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        let answer = {
                            let handler = handler.lock().unwrap().clone();
                            handler(&parsed.head)
                        };
                        if answer.is_empty() {
                            return; // close without answering
                        }
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        origin
    }

    pub(crate) fn set(&self, handler: impl Fn(&RequestHead) -> Vec<u8> + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub(crate) fn count(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn last_request(&self) -> RequestHead {
        self.last
            .lock()
            .unwrap()
            .clone()
            .expect("the origin saw a request")
    }
}

/// A response with `Content-Length`, the given extra fields and body.
pub(crate) fn response(status: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in fields {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A running proxy.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    pub(crate) stats: Arc<ProxyStats>,
    shutdown: netio::Shutdown,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Proxy {
    pub(crate) async fn start(config: ProxyConfig) -> Proxy {
        Proxy::start_at(ProxyConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        })
        .await
    }

    /// A proxy listening on `config.listen` as given.
    pub(crate) async fn start_at(config: ProxyConfig) -> Proxy {
        let server = web_proxy::bind(config).await.unwrap();
        let addr = server.local_addrs()[0];
        let stats = server.stats();
        let shutdown = netio::Shutdown::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        Proxy {
            addr,
            stats,
            shutdown,
            task: Some(task),
        }
    }

    /// Reverse proxy in front of `origin`, memory store.
    pub(crate) async fn reverse(origin: &Origin) -> Proxy {
        Proxy::start(ProxyConfig {
            origin: Some(http_proto::Uri::parse(&origin.url("/")).unwrap()),
            ..ProxyConfig::default()
        })
        .await
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) head: ResponseHead,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }

    pub(crate) fn cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }
}

/// Sends one request (`method target` plus `fields`, `Host` added) on a new connection and
/// reads one response.
pub(crate) async fn send(
    proxy: SocketAddr,
    method: &str,
    target: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !fields
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str("Host: test.example\r\n");
    }
    for (name, value) in fields {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_reply(&mut stream, &Method::parse(method).unwrap()).await
}

/// Reads one response from `stream` (10 s limit).
pub(crate) async fn read_reply(stream: &mut TcpStream, method: &Method) -> Reply {
    let mut buffer = Vec::new();
    read_reply_buffered(stream, &mut buffer, method).await
}

/// Reads one response from `stream`, keeping bytes of later (pipelined) responses in `buffer`.
pub(crate) async fn read_reply_buffered(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    method: &Method,
) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), async {
        let parsed = loop {
            if let Some(parsed) = parse_response(buffer, &Limits::default(), method).unwrap() {
                break parsed;
            }
            assert!(
                stream.read_buf(buffer).await.unwrap() > 0,
                "proxy closed before a response"
            );
        };
        buffer.drain(..parsed.len);
        let mut decoder = BodyDecoder::new(parsed.body);
        let mut body = Vec::new();
        loop {
            let used = decoder.decode_into(buffer, &mut body).unwrap();
            buffer.drain(..used);
            if decoder.is_done() {
                break;
            }
            if stream.read_buf(buffer).await.unwrap() == 0 {
                decoder.handle_eof().unwrap();
                break;
            }
        }
        Reply {
            head: parsed.head,
            body,
        }
    })
    .await
    .expect("a response within 10 s")
}

/// A fresh temporary directory.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("web-proxy-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
