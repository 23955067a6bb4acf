//! Web mail (seed §2.3.4: the browser talks HTTP to the mail server), sans-IO: an HTTP
//! request head and body in, a response (or a message to submit) out, over a [`Backend`]
//! that holds the mailboxes and the users.
//!
//! # Contract
//!
//! - Nothing here reads a clock, a random source, a socket or a file: [`Input`] brings the
//!   time and 32 random bytes with each request; the backend does the file work.
//! - Sessions: a 128-bit random id in a `HttpOnly; SameSite=Strict` cookie (`Secure` when
//!   [`Config::secure_cookies`]), made fresh at every login (a cookie from before the login is
//!   never promoted: no session fixation), forgotten after [`Config::idle_timeout`] without a
//!   request. Every POST must carry the session's CSRF token, and a POST whose `Origin` is
//!   not this site's is refused. A failed login answers after [`Config::login_failure_delay`]
//!   (the driver waits [`Response::delay`]).
//! - Everything a message brings is escaped; an HTML body is sanitised ([`html::sanitize`])
//!   and shown only inside a sandboxed `iframe` from a URL whose own
//!   `Content-Security-Policy` allows no script and no remote content. Attachments download
//!   with `Content-Disposition: attachment` and `nosniff`.
//! - Sending: [`Step::Submit`] hands the composed message to the driver, which puts it
//!   through the mail server's submission path and reports back with
//!   [`Webmail::submitted`] (a copy then goes to the Sent folder).
//!
//! # Run loop
//!
//! ```text
//! loop {
//!     let (head, body) = next request;            // body limited to Config::max_body
//!     match webmail.handle(&mut backend, &head, &body, &input(now, random)) {
//!         Step::Respond(response) => { sleep(response.delay); send(response) }
//!         Step::Submit(submission) => {
//!             let result = submit(&submission).await;
//!             send(webmail.submitted(&mut backend, &submission, result));
//!         }
//!     }
//! }
//! ```

pub mod form;
pub mod html;

use html::escape;
use http_proto::cookie::{parse_cookie_header, SameSite, SetCookie};
use http_proto::{Method, RequestHead, ResponseHead, StatusCode};
use mail_parser::MimeHeaders;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "webmail_session";

/// The INBOX's name in URLs and on the page.
pub const INBOX: &str = "INBOX";

/// The folder deleted messages go to.
pub const TRASH: &str = "Trash";

/// Settings of the web mail.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the pages live (`""` for the site's root, or `/mail`).
    pub prefix: String,
    /// Whether the cookie gets `Secure` (served over TLS).
    pub secure_cookies: bool,
    /// A session unused this long is forgotten.
    pub idle_timeout: Duration,
    /// Messages per page of a list.
    pub page_size: usize,
    /// The largest request body (a compose form with its attachments).
    pub max_body: usize,
    /// How long a failed login waits before its answer.
    pub login_failure_delay: Duration,
    /// Sessions kept at most (the oldest go first).
    pub max_sessions: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            prefix: String::new(),
            secure_cookies: false,
            idle_timeout: Duration::from_secs(30 * 60),
            page_size: 50,
            max_body: 10 * 1024 * 1024,
            login_failure_delay: Duration::from_secs(2),
            max_sessions: 10_000,
        }
    }
}

/// A message in a folder listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its id in the folder (the Maildir unique name, without flags).
    pub id: String,
    /// Whether it has been read.
    pub seen: bool,
}

/// A failure of the backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No such folder or message.
    #[error("not found")]
    NotFound,
    /// A folder or message name that is not allowed.
    #[error("bad name {0:?}")]
    BadName(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

/// The mailboxes and users behind the pages. `user` is always an address that
/// [`Backend::authenticate`] returned.
pub trait Backend {
    /// The user's address when `password` is right.
    fn authenticate(&mut self, user: &str, password: &str) -> Option<String>;
    /// The user's folders: [`INBOX`] first, then the others.
    fn folders(&mut self, user: &str) -> Result<Vec<String>, BackendError>;
    /// How a folder's name is shown (the store's name, e.g. an IMAP one in modified UTF-7,
    /// may differ from what a person reads); the name itself stays the id in URLs and forms.
    fn display_name(&self, folder: &str) -> String {
        folder.to_owned()
    }
    /// The messages of a folder, newest first.
    fn list(&mut self, user: &str, folder: &str) -> Result<Vec<Entry>, BackendError>;
    /// A message's bytes.
    fn read(&mut self, user: &str, folder: &str, id: &str) -> Result<Vec<u8>, BackendError>;
    /// Sets or clears `\Seen`.
    fn set_seen(
        &mut self,
        user: &str,
        folder: &str,
        id: &str,
        seen: bool,
    ) -> Result<(), BackendError>;
    /// Moves a message to another folder.
    fn move_message(
        &mut self,
        user: &str,
        folder: &str,
        id: &str,
        target: &str,
    ) -> Result<(), BackendError>;
    /// Deletes a message: into [`TRASH`], or for good when it is in the Trash already.
    fn delete(&mut self, user: &str, folder: &str, id: &str) -> Result<(), BackendError>;
    /// Keeps a copy of a sent message in the Sent folder.
    fn save_sent(&mut self, user: &str, message: &[u8]) -> Result<(), BackendError>;
}

/// What comes with each request besides the request.
#[derive(Clone, Debug)]
pub struct Input {
    /// Now, for session expiry.
    pub now: Instant,
    /// The wall-clock time, for the Date of composed messages.
    pub time: SystemTime,
    /// Fresh random bytes (session ids, CSRF tokens, Message-IDs).
    pub random: [u8; 32],
}

/// A response to send.
#[derive(Clone, Debug)]
pub struct Response {
    /// The head (with Content-Length).
    pub head: ResponseHead,
    /// The body.
    pub body: Vec<u8>,
    /// Wait this long before sending (a failed login).
    pub delay: Option<Duration>,
}

/// A composed message for the driver to submit.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The logged-in user (the authenticated identity).
    pub user: String,
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The message, CRLF lines.
    pub message: Vec<u8>,
}

/// What the driver does next.
#[derive(Clone, Debug)]
pub enum Step {
    /// Send this.
    Respond(Response),
    /// Submit this, then call [`Webmail::submitted`].
    Submit(Submission),
}

struct Session {
    user: String,
    csrf: String,
    last_seen: Instant,
}

/// The web mail's state: its settings and the live sessions.
pub struct Webmail {
    config: Config,
    sessions: HashMap<String, Session>,
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A message id in a URL: a Maildir unique name's characters only.
fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b',' | b'=' | b'_' | b'-'))
}

/// Percent-encodes a query or form value (everything but the unreserved characters).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The pages' policy: no script at all, styles from the page itself, frames only from us.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a message's HTML body: a sandbox (an opaque origin, no scripts, no forms),
/// nothing loaded but inline images, embeddable only by our own pages.
const BODY_CSP: &str = "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; \
img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222}\
header{background:#2b4c7e;color:#fff;padding:.5em 1em;display:flex;justify-content:space-between}\
header a{color:#fff}header button{color:#fff;background:none;border:1px solid #fff;border-radius:3px}nav{float:left;width:11em;padding:1em}\
main{margin-left:13em;padding:1em}table{border-collapse:collapse;width:100%}\
td,th{padding:.3em .5em;border-bottom:1px solid #ddd;text-align:left}\
tr.unseen td{font-weight:bold}iframe{width:100%;height:30em;border:1px solid #ccc}\
pre{white-space:pre-wrap}.notice{background:#efe;padding:.5em}.error{background:#fee;padding:.5em}\
form.inline{display:inline}label{display:block;margin-top:.5em}\
input[type=text],input[type=email],input[type=password],textarea{width:100%;max-width:50em}";

/// `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with
/// our own forms' POSTs (Fetch, "serializing a request origin"), which the Origin check must
/// refuse; other sites still get no `Referer` from our pages.
fn with_security_headers(head: ResponseHead, csp: &str) -> ResponseHead {
    head.header("Content-Security-Policy", csp)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "same-origin")
        .header("Cache-Control", "no-store")
}

fn html_response(status: StatusCode, title: &str, body: &str) -> Response {
    let document = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\
<meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
    .into_bytes();
    let head = with_security_headers(ResponseHead::new(status), PAGE_CSP)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("X-Frame-Options", "DENY")
        .header("Content-Length", document.len().to_string());
    Response {
        head,
        body: document,
        delay: None,
    }
}

fn redirect(location: &str) -> Response {
    let head = with_security_headers(ResponseHead::new(StatusCode::SEE_OTHER), PAGE_CSP)
        .header("Location", location)
        .header("Content-Length", "0");
    Response {
        head,
        body: Vec::new(),
        delay: None,
    }
}

fn error(status: StatusCode, text: &str) -> Response {
    html_response(
        status,
        status.reason(),
        &format!(
            "<main><h1>{} {}</h1><p class=\"error\">{}</p></main>",
            status.as_u16(),
            escape(status.reason()),
            escape(text)
        ),
    )
}

/// A field of a parsed form, as text.
fn field<'a>(fields: &'a [form::Field], name: &str) -> &'a str {
    fields
        .iter()
        .find(|field| field.name == name)
        .and_then(|field| std::str::from_utf8(&field.value).ok())
        .unwrap_or("")
}

/// The query's parameters.
fn query(head: &RequestHead) -> Vec<(String, String)> {
    head.target
        .query()
        .map(http_proto::uri::decode_form)
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or("")
}

/// An address a user typed: `local@domain`, or `Name <local@domain>`.
fn parse_address(text: &str) -> Option<String> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    let (local, domain) = address.rsplit_once('@')?;
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 254
            && part
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\\\"".contains(c))
    };
    (ok(local) && ok(domain)).then(|| format!("{local}@{domain}"))
}

fn addresses(text: &str) -> Result<Vec<String>, String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| parse_address(part).ok_or_else(|| format!("not an address: {part}")))
        .collect()
}

/// A parsed message's address field for display: `Name <address>`, comma-separated.
fn show_addresses(address: Option<&mail_parser::Address<'_>>) -> String {
    let Some(address) = address else {
        return String::new();
    };
    address
        .iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => address.to_owned(),
            (Some(name), None) => name.to_owned(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_address(address: Option<&mail_parser::Address<'_>>) -> Option<String> {
    address?.first()?.address().map(str::to_owned)
}

/// A filename safe to put in a header: the base name, printable ASCII without quotes.
fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| !matches!(c, '"' | '\\' | ';' | '%'))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

/// Types an attachment may be served as; everything else is `application/octet-stream`.
fn download_type(content_type: Option<&mail_parser::ContentType<'_>>) -> &'static str {
    let Some(content_type) = content_type else {
        return "application/octet-stream";
    };
    let main = content_type.ctype().to_ascii_lowercase();
    let sub = content_type
        .subtype()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match (main.as_str(), sub.as_str()) {
        ("image", "png") => "image/png",
        ("image", "jpeg") => "image/jpeg",
        ("image", "gif") => "image/gif",
        ("application", "pdf") => "application/pdf",
        ("text", "plain") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn is_html_body(message: &mail_parser::Message<'_>) -> bool {
    message.html_part(0).is_some_and(|part| part.is_text_html())
}

fn unix_date(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Webmail {
    /// Web mail with `config` and no sessions.
    pub fn new(mut config: Config) -> Webmail {
        config.prefix = config.prefix.trim_end_matches('/').to_owned();
        Webmail {
            config,
            sessions: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sessions alive now.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.prefix)
    }

    fn folder_url(&self, folder: &str) -> String {
        self.url(&format!("/folder?f={}", query_escape(folder)))
    }

    fn session_cookie(&self, value: &str, max_age: Option<i64>) -> String {
        let mut cookie = SetCookie::new(SESSION_COOKIE, value).unwrap_or(SetCookie {
            name: SESSION_COOKIE.into(),
            value: String::new(),
            expires: None,
            max_age: None,
            domain: None,
            path: None,
            secure: false,
            http_only: false,
            same_site: None,
        });
        cookie.path = Some(if self.config.prefix.is_empty() {
            "/".into()
        } else {
            self.config.prefix.clone()
        });
        cookie.http_only = true;
        cookie.secure = self.config.secure_cookies;
        cookie.same_site = Some(SameSite::Strict);
        cookie.max_age = max_age;
        cookie.to_string()
    }

    /// The session the request's cookie names, if it is alive (then its clock restarts).
    fn session_id(&mut self, head: &RequestHead, now: Instant) -> Option<String> {
        let ids: Vec<String> = head
            .headers
            .get_all("cookie")
            .flat_map(parse_cookie_header)
            .filter(|(name, _)| name == SESSION_COOKIE)
            .map(|(_, value)| value)
            .collect();
        for id in ids {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            if now.saturating_duration_since(session.last_seen) > self.config.idle_timeout {
                self.sessions.remove(&id);
                continue;
            }
            session.last_seen = now;
            return Some(id);
        }
        None
    }

    /// Whether a POST comes from our own pages: the Origin (when the browser sends one)
    /// names this site.
    fn origin_ok(&self, head: &RequestHead) -> bool {
        let Some(origin) = head.headers.get("origin") else {
            return true;
        };
        let Some(host) = head.headers.get("host") else {
            return false;
        };
        let scheme = if self.config.secure_cookies {
            "https"
        } else {
            "http"
        };
        origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
    }

    /// Answers one request. `body` is the whole request body (the driver refuses bodies
    /// larger than [`Config::max_body`] with 413 before calling this).
    pub fn handle(
        &mut self,
        backend: &mut dyn Backend,
        head: &RequestHead,
        body: &[u8],
        input: &Input,
    ) -> Step {
        let path = head.target.path();
        let Some(path) = path.strip_prefix(self.config.prefix.as_str()) else {
            return Step::Respond(error(StatusCode::NOT_FOUND, "no such page"));
        };
        let path = if path.is_empty() { "/" } else { path };
        let is_post = head.method == Method::Post;
        if !matches!(head.method, Method::Get | Method::Head | Method::Post) {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response.head.headers.append("Allow", "GET, HEAD, POST");
            return Step::Respond(response);
        }
        if is_post && !self.origin_ok(head) {
            return Step::Respond(error(StatusCode::FORBIDDEN, "cross-site request refused"));
        }
        if path == "/login" {
            return Step::Respond(if is_post {
                self.login(backend, head, body, input)
            } else {
                self.login_page(StatusCode::OK, "")
            });
        }
        let Some(session_id) = self.session_id(head, input.now) else {
            if is_post {
                return Step::Respond(error(
                    StatusCode::FORBIDDEN,
                    "your session has ended; log in again",
                ));
            }
            return Step::Respond(redirect(&self.url("/login")));
        };
        let (user, csrf) = match self.sessions.get(&session_id) {
            Some(session) => (session.user.clone(), session.csrf.clone()),
            None => return Step::Respond(redirect(&self.url("/login"))),
        };
        if is_post {
            let content_type = head.headers.get("content-type").unwrap_or("");
            let fields = match form::parse(content_type, body) {
                Ok(fields) => fields,
                Err(problem) => {
                    return Step::Respond(error(StatusCode::BAD_REQUEST, &problem.to_string()))
                }
            };
            // The token of this session, in the form: a page of ours sent it.
            if !same_secret(field(&fields, "csrf"), &csrf) {
                return Step::Respond(error(
                    StatusCode::FORBIDDEN,
                    "the form's security token is wrong; reload the page",
                ));
            }
            return self.post(backend, path, &user, &session_id, &fields, input);
        }
        let params = query(head);
        let page = match path {
            "/" => Ok(redirect(&self.folder_url(INBOX))),
            "/folder" => self.folder_page(backend, &user, &csrf, &params),
            "/message" => self.message_page(backend, &user, &csrf, &params),
            "/body" => self.body_page(backend, &user, &params),
            "/attachment" => self.attachment(backend, &user, &params),
            "/compose" => self.compose_page(backend, &user, &csrf, &params),
            _ => Ok(error(StatusCode::NOT_FOUND, "no such page")),
        };
        Step::Respond(page.unwrap_or_else(|problem| backend_error(&problem)))
    }

    fn post(
        &mut self,
        backend: &mut dyn Backend,
        path: &str,
        user: &str,
        session_id: &str,
        fields: &[form::Field],
        input: &Input,
    ) -> Step {
        let folder = field(fields, "f");
        let id = field(fields, "id");
        let result = match path {
            "/logout" => {
                self.sessions.remove(session_id);
                let mut response = redirect(&self.url("/login"));
                response
                    .head
                    .headers
                    .append("Set-Cookie", self.session_cookie("", Some(0)));
                return Step::Respond(response);
            }
            "/send" => return self.send(user, fields, input),
            "/move" | "/delete" | "/seen" if !id_ok(id) => {
                Err(BackendError::BadName(id.to_owned()))
            }
            "/move" => {
                let target = field(fields, "to");
                backend
                    .move_message(user, folder, id, target)
                    .map(|()| redirect(&self.folder_url(folder)))
            }
            "/delete" => backend
                .delete(user, folder, id)
                .map(|()| redirect(&self.folder_url(folder))),
            "/seen" => {
                let seen = field(fields, "seen") == "1";
                backend
                    .set_seen(user, folder, id, seen)
                    .map(|()| redirect(&self.folder_url(folder)))
            }
            _ => Ok(error(StatusCode::NOT_FOUND, "no such page")),
        };
        Step::Respond(result.unwrap_or_else(|problem| backend_error(&problem)))
    }

    fn login_page(&self, status: StatusCode, problem: &str) -> Response {
        let problem = if problem.is_empty() {
            String::new()
        } else {
            format!("<p class=\"error\">{}</p>", escape(problem))
        };
        html_response(
            status,
            "Log in",
            &format!(
                "<main><h1>Web mail</h1>{problem}<form method=\"post\" action=\"{}\">\
<label>User <input type=\"text\" name=\"user\" autocomplete=\"username\" required autofocus></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
<p><button type=\"submit\">Log in</button></p></form></main>",
                escape(&self.url("/login"))
            ),
        )
    }

    fn login(
        &mut self,
        backend: &mut dyn Backend,
        head: &RequestHead,
        body: &[u8],
        input: &Input,
    ) -> Response {
        let content_type = head.headers.get("content-type").unwrap_or("");
        let fields = form::parse(content_type, body).unwrap_or_default();
        let user = field(&fields, "user");
        let password = field(&fields, "password");
        let Some(address) = backend.authenticate(user, password) else {
            let mut response =
                self.login_page(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
            response.delay = Some(self.config.login_failure_delay);
            return response;
        };
        // No fixation: whatever session the browser had ends, and the new one gets an id
        // nobody has seen before.
        if let Some(old) = self.session_id(head, input.now) {
            self.sessions.remove(&old);
        }
        let idle = self.config.idle_timeout;
        let now = input.now;
        self.sessions
            .retain(|_, session| now.saturating_duration_since(session.last_seen) <= idle);
        while self.sessions.len() >= self.config.max_sessions.max(1) {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, session)| session.last_seen)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.sessions.remove(&id),
                None => break,
            };
        }
        let id = hex(&input.random[..16]);
        let csrf = hex(&input.random[16..]);
        self.sessions.insert(
            id.clone(),
            Session {
                user: address,
                csrf,
                last_seen: now,
            },
        );
        let mut response = redirect(&self.folder_url(INBOX));
        response
            .head
            .headers
            .append("Set-Cookie", self.session_cookie(&id, None));
        response
    }

    /// The frame of every page after login: the user, log-out, the folders.
    fn layout(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        csrf: &str,
        current: &str,
        content: &str,
    ) -> Result<String, BackendError> {
        let mut out = format!(
            "<header><span>Web mail: <b id=\"user\">{}</b></span><span><a href=\"{}\">Write</a> \
<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button type=\"submit\">Log out</button></form></span></header>\n<nav><ul>",
            escape(user),
            escape(&self.url("/compose")),
            escape(&self.url("/logout")),
            escape(csrf)
        );
        for folder in backend.folders(user)? {
            let bold = if folder == current { " <b>•</b>" } else { "" };
            let _ = write!(
                out,
                "<li><a href=\"{}\">{}</a>{bold}</li>",
                escape(&self.folder_url(&folder)),
                escape(&backend.display_name(&folder))
            );
        }
        out.push_str("</ul></nav>\n<main>");
        out.push_str(content);
        out.push_str("</main>\n");
        Ok(out)
    }

    fn folder_page(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        csrf: &str,
        params: &[(String, String)],
    ) -> Result<Response, BackendError> {
        let folder = match param(params, "f") {
            "" => INBOX,
            folder => folder,
        };
        let entries = backend.list(user, folder)?;
        let page_size = self.config.page_size.max(1);
        let pages = entries.len().div_ceil(page_size).max(1);
        let page = param(params, "page")
            .parse::<usize>()
            .unwrap_or(1)
            .clamp(1, pages);
        let mut content = String::new();
        if param(params, "notice") == "sent" {
            content.push_str("<p class=\"notice\" id=\"notice\">Message sent.</p>");
        }
        let _ = write!(
            content,
            "<h1>{}</h1><p>{} messages, page {page} of {pages}</p>\
<table id=\"messages\"><tr><th>From</th><th>Subject</th><th>Date</th></tr>",
            escape(&backend.display_name(folder)),
            entries.len()
        );
        let parser = mail_parser::MessageParser::default();
        for entry in entries.iter().skip((page - 1) * page_size).take(page_size) {
            let bytes = backend.read(user, folder, &entry.id)?;
            let message = parser.parse_headers(&bytes[..]);
            let (from, subject, date) = match &message {
                Some(message) => (
                    show_addresses(message.from()),
                    message.subject().unwrap_or("(no subject)").to_owned(),
                    message.date().map(|d| d.to_rfc822()).unwrap_or_default(),
                ),
                None => (String::new(), "(unreadable)".into(), String::new()),
            };
            let subject = if subject.trim().is_empty() {
                "(no subject)".to_owned()
            } else {
                subject
            };
            let _ = write!(
                content,
                "<tr class=\"{}\"><td>{}</td><td><a class=\"subject\" href=\"{}\">{}</a></td><td>{}</td></tr>",
                if entry.seen { "seen" } else { "unseen" },
                escape(&from),
                escape(&self.url(&format!(
                    "/message?f={}&id={}",
                    query_escape(folder),
                    query_escape(&entry.id)
                ))),
                escape(&subject),
                escape(&date)
            );
        }
        content.push_str("</table><p>");
        let link = |page: usize| {
            escape(&self.url(&format!("/folder?f={}&page={page}", query_escape(folder))))
        };
        if page > 1 {
            let _ = write!(
                content,
                "<a rel=\"prev\" href=\"{}\">Newer</a> ",
                link(page - 1)
            );
        }
        if page < pages {
            let _ = write!(
                content,
                "<a rel=\"next\" href=\"{}\">Older</a>",
                link(page + 1)
            );
        }
        content.push_str("</p>");
        let body = self.layout(backend, user, csrf, folder, &content)?;
        Ok(html_response(
            StatusCode::OK,
            &backend.display_name(folder),
            &body,
        ))
    }

    fn message_params<'a>(
        &self,
        params: &'a [(String, String)],
    ) -> Result<(&'a str, &'a str), BackendError> {
        let folder = match param(params, "f") {
            "" => INBOX,
            folder => folder,
        };
        let id = param(params, "id");
        if !id_ok(id) {
            return Err(BackendError::BadName(id.to_owned()));
        }
        Ok((folder, id))
    }

    fn message_page(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        csrf: &str,
        params: &[(String, String)],
    ) -> Result<Response, BackendError> {
        let (folder, id) = self.message_params(params)?;
        let bytes = backend.read(user, folder, id)?;
        backend.set_seen(user, folder, id, true)?;
        let message = mail_parser::MessageParser::default().parse(&bytes[..]);
        let mut content = String::new();
        let here = format!("f={}&id={}", query_escape(folder), query_escape(id));
        match &message {
            None => content.push_str("<p class=\"error\">This message cannot be read.</p>"),
            Some(message) => {
                let subject = message.subject().unwrap_or("(no subject)");
                let _ = write!(
                    content,
                    "<h1 id=\"subject\">{}</h1><table>",
                    escape(subject)
                );
                for (name, value) in [
                    ("From", show_addresses(message.from())),
                    ("To", show_addresses(message.to())),
                    ("Cc", show_addresses(message.cc())),
                    (
                        "Date",
                        message.date().map(|d| d.to_rfc822()).unwrap_or_default(),
                    ),
                ] {
                    if !value.is_empty() {
                        let _ = write!(
                            content,
                            "<tr><th>{name}</th><td class=\"{}\">{}</td></tr>",
                            name.to_ascii_lowercase(),
                            escape(&value)
                        );
                    }
                }
                content.push_str("</table>");
                if is_html_body(message) {
                    let _ = write!(
                        content,
                        "<iframe id=\"body\" title=\"message\" sandbox=\"allow-popups allow-popups-to-escape-sandbox\" \
referrerpolicy=\"no-referrer\" src=\"{}\"></iframe>",
                        escape(&self.url(&format!("/body?{here}")))
                    );
                } else {
                    let text = message.body_text(0).unwrap_or_default();
                    let _ = write!(content, "<pre id=\"body\">{}</pre>", escape(&text));
                }
                let attachments: Vec<_> = message.attachments().collect();
                if !attachments.is_empty() {
                    content.push_str("<h2>Attachments</h2><ul id=\"attachments\">");
                    for (index, part) in attachments.iter().enumerate() {
                        let name = part.attachment_name().unwrap_or("attachment");
                        let _ = write!(
                            content,
                            "<li><a href=\"{}\" download>{}</a> ({} bytes)</li>",
                            escape(&self.url(&format!("/attachment?{here}&n={index}"))),
                            escape(name),
                            part.contents().len()
                        );
                    }
                    content.push_str("</ul>");
                }
            }
        }
        let hidden = format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"f\" value=\"{}\">\
<input type=\"hidden\" name=\"id\" value=\"{}\">",
            escape(csrf),
            escape(folder),
            escape(id)
        );
        let _ = write!(
            content,
            "<p><a id=\"reply\" href=\"{}\">Reply</a> \
<form class=\"inline\" method=\"post\" action=\"{}\">{hidden}<input type=\"hidden\" name=\"seen\" value=\"0\"><button type=\"submit\">Mark unread</button></form> \
<form class=\"inline\" method=\"post\" action=\"{}\">{hidden}<button id=\"delete\" type=\"submit\">Delete</button></form> \
<form class=\"inline\" method=\"post\" action=\"{}\">{hidden}<select name=\"to\">",
            escape(&self.url(&format!("/compose?reply={}&f={}", query_escape(id), query_escape(folder)))),
            escape(&self.url("/seen")),
            escape(&self.url("/delete")),
            escape(&self.url("/move")),
        );
        for target in backend.folders(user)? {
            if target != folder {
                let _ = write!(
                    content,
                    "<option value=\"{}\">{}</option>",
                    escape(&target),
                    escape(&backend.display_name(&target))
                );
            }
        }
        content.push_str("</select> <button type=\"submit\">Move</button></form></p>");
        let title = message
            .as_ref()
            .and_then(|m| m.subject())
            .unwrap_or("Message")
            .to_owned();
        let body = self.layout(backend, user, csrf, folder, &content)?;
        Ok(html_response(StatusCode::OK, &title, &body))
    }

    fn body_page(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        params: &[(String, String)],
    ) -> Result<Response, BackendError> {
        let (folder, id) = self.message_params(params)?;
        let bytes = backend.read(user, folder, id)?;
        let html = mail_parser::MessageParser::default()
            .parse(&bytes[..])
            .filter(is_html_body)
            .and_then(|message| message.body_html(0).map(|html| html::sanitize(&html)))
            .unwrap_or_default();
        let document = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><base target=\"_blank\"></head><body>{html}</body></html>\n"
        )
        .into_bytes();
        let head = with_security_headers(ResponseHead::new(StatusCode::OK), BODY_CSP)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("X-Frame-Options", "SAMEORIGIN")
            .header("Content-Length", document.len().to_string());
        Ok(Response {
            head,
            body: document,
            delay: None,
        })
    }

    fn attachment(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        params: &[(String, String)],
    ) -> Result<Response, BackendError> {
        let (folder, id) = self.message_params(params)?;
        let index: usize = param(params, "n")
            .parse()
            .map_err(|_| BackendError::NotFound)?;
        let bytes = backend.read(user, folder, id)?;
        let message = mail_parser::MessageParser::default()
            .parse(&bytes[..])
            .ok_or(BackendError::NotFound)?;
        let part = message
            .attachments()
            .nth(index)
            .ok_or(BackendError::NotFound)?;
        let name = part.attachment_name().unwrap_or("attachment");
        let body = part.contents().to_vec();
        let head = with_security_headers(
            ResponseHead::new(StatusCode::OK),
            "sandbox; default-src 'none'",
        )
        .header("Content-Type", download_type(part.content_type()))
        .header(
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                safe_filename(name),
                query_escape(name)
            ),
        )
        .header("Content-Length", body.len().to_string());
        Ok(Response {
            head,
            body,
            delay: None,
        })
    }

    fn compose_page(
        &self,
        backend: &mut dyn Backend,
        user: &str,
        csrf: &str,
        params: &[(String, String)],
    ) -> Result<Response, BackendError> {
        let (mut to, mut subject, mut text, mut in_reply_to, mut references) = Default::default();
        let reply = param(params, "reply");
        if !reply.is_empty() {
            let folder = match param(params, "f") {
                "" => INBOX,
                folder => folder,
            };
            if !id_ok(reply) {
                return Err(BackendError::BadName(reply.to_owned()));
            }
            let bytes = backend.read(user, folder, reply)?;
            if let Some(message) = mail_parser::MessageParser::default().parse(&bytes[..]) {
                to = first_address(message.reply_to())
                    .or_else(|| first_address(message.from()))
                    .unwrap_or_default();
                let original = message.subject().unwrap_or("").trim();
                subject = if original.len() >= 3
                    && original.is_char_boundary(3)
                    && original[..3].eq_ignore_ascii_case("re:")
                {
                    original.to_owned()
                } else {
                    format!("Re: {original}")
                };
                // RFC 5322 §3.6.4: In-Reply-To is the parent's id; References the parent's
                // References (or In-Reply-To) followed by the parent's id.
                if let Some(id) = message.message_id() {
                    in_reply_to = format!("<{id}>");
                    let mut chain: Vec<String> = match message.references().as_text_list() {
                        Some(list) => list.iter().map(|r| format!("<{r}>")).collect(),
                        None => message
                            .references()
                            .as_text()
                            .map(|r| vec![format!("<{r}>")])
                            .unwrap_or_default(),
                    };
                    chain.push(in_reply_to.clone());
                    references = chain.join(" ");
                }
                let who = show_addresses(message.from());
                let date = message.date().map(|d| d.to_rfc822()).unwrap_or_default();
                let original_text = message.body_text(0).unwrap_or_default();
                let mut quoted = format!("\n\nOn {date}, {who} wrote:\n");
                for line in original_text.lines().take(500) {
                    quoted.push_str("> ");
                    quoted.push_str(line);
                    quoted.push('\n');
                }
                text = quoted;
            }
        }
        let content = format!(
            "<h1>{}</h1><form id=\"compose\" method=\"post\" action=\"{}\" enctype=\"multipart/form-data\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"in_reply_to\" value=\"{}\"><input type=\"hidden\" name=\"references\" value=\"{}\">\
<label>To <input type=\"text\" name=\"to\" value=\"{}\" required></label>\
<label>Cc <input type=\"text\" name=\"cc\"></label>\
<label>Subject <input type=\"text\" name=\"subject\" value=\"{}\"></label>\
<label>Message <textarea name=\"body\" rows=\"16\">{}</textarea></label>\
<label>Attachments <input type=\"file\" name=\"attachment\" multiple></label>\
<p><button id=\"send\" type=\"submit\">Send</button></p></form>",
            if reply.is_empty() { "New message" } else { "Reply" },
            escape(&self.url("/send")),
            escape(csrf),
            escape(&in_reply_to),
            escape(&references),
            escape(&to),
            escape(&subject),
            escape(&text),
        );
        let body = self.layout(backend, user, csrf, "", &content)?;
        Ok(html_response(StatusCode::OK, "Write", &body))
    }

    fn send(&mut self, user: &str, fields: &[form::Field], input: &Input) -> Step {
        let to = match addresses(field(fields, "to")) {
            Ok(to) => to,
            Err(problem) => return Step::Respond(error(StatusCode::BAD_REQUEST, &problem)),
        };
        let cc = match addresses(field(fields, "cc")) {
            Ok(cc) => cc,
            Err(problem) => return Step::Respond(error(StatusCode::BAD_REQUEST, &problem)),
        };
        if to.is_empty() {
            return Step::Respond(error(StatusCode::BAD_REQUEST, "no recipient"));
        }
        if to.len() + cc.len() > 100 {
            return Step::Respond(error(StatusCode::BAD_REQUEST, "too many recipients"));
        }
        let subject: String = field(fields, "subject")
            .chars()
            .filter(|c| !c.is_control())
            .take(998)
            .collect();
        let text = field(fields, "body")
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        let domain = user.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
        let message_id = format!(
            "{}.{}@{domain}",
            unix_date(input.time),
            hex(&input.random[..12])
        );
        let mut builder = mail_builder::MessageBuilder::new()
            .from(user)
            .to(to.iter().map(String::as_str).collect::<Vec<&str>>())
            .subject(subject)
            .date(unix_date(input.time))
            .message_id(message_id)
            .text_body(text);
        if !cc.is_empty() {
            builder = builder.cc(cc.iter().map(String::as_str).collect::<Vec<&str>>());
        }
        let message_ids = |text: &str| -> Vec<String> {
            text.split_whitespace()
                .filter_map(|id| id.strip_prefix('<')?.strip_suffix('>'))
                .filter(|id| id.contains('@') && id.len() <= 250 && !id.contains(['<', '>']))
                .take(50)
                .map(str::to_owned)
                .collect()
        };
        if let Some(parent) = message_ids(field(fields, "in_reply_to")).into_iter().next() {
            builder = builder.in_reply_to(parent);
        }
        let references = message_ids(field(fields, "references"));
        if !references.is_empty() {
            builder = builder.references(references);
        }
        for upload in fields.iter().filter(|f| {
            f.name == "attachment" && f.filename.as_deref().is_some_and(|n| !n.is_empty())
        }) {
            let name = safe_filename(upload.filename.as_deref().unwrap_or(""));
            let content_type = upload
                .content_type
                .as_deref()
                .filter(|t| {
                    t.len() < 100 && t.contains('/') && t.bytes().all(|b| b.is_ascii_graphic())
                })
                .unwrap_or("application/octet-stream")
                .to_owned();
            builder = builder.attachment(content_type, name, upload.value.clone());
        }
        let message = builder.write_to_vec().unwrap_or_default();
        let mut recipients = to;
        recipients.extend(cc);
        Step::Submit(Submission {
            user: user.to_owned(),
            from: user.to_owned(),
            recipients,
            message,
        })
    }

    /// The answer after the driver submitted `submission`: `Ok(queue id)` or `Err(the
    /// server's reason)`. A sent message is copied to the Sent folder.
    pub fn submitted(
        &mut self,
        backend: &mut dyn Backend,
        submission: &Submission,
        result: Result<String, String>,
    ) -> Response {
        match result {
            Ok(_) => {
                if let Err(problem) = backend.save_sent(&submission.user, &submission.message) {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("sent, but not saved in Sent: {problem}"),
                    );
                }
                redirect(&self.url("/folder?f=INBOX&notice=sent"))
            }
            Err(reason) => error(
                StatusCode::BAD_REQUEST,
                &format!("the message was not sent: {reason}"),
            ),
        }
    }
}

fn backend_error(problem: &BackendError) -> Response {
    match problem {
        BackendError::NotFound => error(StatusCode::NOT_FOUND, "no such folder or message"),
        BackendError::BadName(_) => error(StatusCode::BAD_REQUEST, &problem.to_string()),
        BackendError::Store(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the mail store failed"),
    }
}

#[cfg(test)]
mod tests;
