//! The pages against an in-memory backend: login and sessions, CSRF, fixation, escaping,
//! sanitising, paging, reply, move and delete.

use super::*;

#[derive(Default)]
struct Memory {
    /// (folder, id, seen, bytes)
    messages: Vec<(String, String, bool, Vec<u8>)>,
    sent: Vec<Vec<u8>>,
}

impl Backend for Memory {
    fn authenticate(&mut self, user: &str, password: &str) -> Option<String> {
        (user == "bob" && password == "hunter2").then(|| "bob@hamburger.edu".to_owned())
    }
    fn folders(&mut self, _user: &str) -> Result<Vec<String>, BackendError> {
        Ok(vec![INBOX.into(), "Sent".into(), TRASH.into()])
    }
    fn list(&mut self, _user: &str, folder: &str) -> Result<Vec<Entry>, BackendError> {
        Ok(self
            .messages
            .iter()
            .rev()
            .filter(|m| m.0 == folder)
            .map(|m| Entry {
                id: m.1.clone(),
                seen: m.2,
            })
            .collect())
    }
    fn read(&mut self, _user: &str, folder: &str, id: &str) -> Result<Vec<u8>, BackendError> {
        self.messages
            .iter()
            .find(|m| m.0 == folder && m.1 == id)
            .map(|m| m.3.clone())
            .ok_or(BackendError::NotFound)
    }
    fn set_seen(
        &mut self,
        _: &str,
        folder: &str,
        id: &str,
        seen: bool,
    ) -> Result<(), BackendError> {
        let message = self
            .messages
            .iter_mut()
            .find(|m| m.0 == folder && m.1 == id)
            .ok_or(BackendError::NotFound)?;
        message.2 = seen;
        Ok(())
    }
    fn move_message(
        &mut self,
        _: &str,
        folder: &str,
        id: &str,
        target: &str,
    ) -> Result<(), BackendError> {
        let message = self
            .messages
            .iter_mut()
            .find(|m| m.0 == folder && m.1 == id)
            .ok_or(BackendError::NotFound)?;
        message.0 = target.to_owned();
        Ok(())
    }
    fn delete(&mut self, user: &str, folder: &str, id: &str) -> Result<(), BackendError> {
        if folder == TRASH {
            self.messages.retain(|m| !(m.0 == folder && m.1 == id));
            Ok(())
        } else {
            self.move_message(user, folder, id, TRASH)
        }
    }
    fn save_sent(&mut self, _: &str, message: &[u8]) -> Result<(), BackendError> {
        self.sent.push(message.to_vec());
        Ok(())
    }
}

struct Browser {
    webmail: Webmail,
    backend: Memory,
    cookie: Option<String>,
    now: Instant,
    counter: u8,
}

fn alice_message(n: usize) -> Vec<u8> {
    format!(
        "From: Alice <alice@crepes.fr>\r\nTo: bob@hamburger.edu\r\nSubject: crepes {n}\r\n\
Message-ID: <m{n}@crepes.fr>\r\nReferences: <r0@crepes.fr>\r\nDate: Mon, 7 Dec 2026 04:00:00 +0000\r\n\r\nBonjour Bob {n}\r\n"
    )
    .into_bytes()
}

impl Browser {
    fn new() -> Browser {
        let mut backend = Memory::default();
        for n in 0..5 {
            backend.messages.push((
                INBOX.into(),
                format!("100{n}.M1P1Q{n}.mx"),
                false,
                alice_message(n),
            ));
        }
        Browser {
            webmail: Webmail::new(Config {
                page_size: 2,
                ..Config::default()
            }),
            backend,
            cookie: None,
            now: Instant::now(),
            counter: 0,
        }
    }

    fn input(&mut self) -> Input {
        self.counter += 1;
        Input {
            now: self.now,
            time: UNIX_EPOCH + Duration::from_secs(1_796_600_000),
            random: [self.counter; 32],
        }
    }

    fn request(&mut self, method: Method, path: &str, body: &[u8], origin: Option<&str>) -> Step {
        let mut head = RequestHead::origin(method, path).header("Host", "mail.hamburger.edu");
        if let Some(cookie) = &self.cookie {
            head.headers.append("Cookie", cookie);
        }
        if let Some(origin) = origin {
            head.headers.append("Origin", origin);
        }
        if head.method == Method::Post {
            let content_type = if body.starts_with(b"--B") {
                "multipart/form-data; boundary=B"
            } else {
                "application/x-www-form-urlencoded"
            };
            head.headers.append("Content-Type", content_type);
        }
        let input = self.input();
        let step = self.webmail.handle(&mut self.backend, &head, body, &input);
        if let Step::Respond(response) = &step {
            if let Some(set) = response.head.headers.get("set-cookie") {
                self.cookie = Some(set.split(';').next().unwrap_or("").to_owned());
            }
        }
        step
    }

    fn get(&mut self, path: &str) -> Response {
        match self.request(Method::Get, path, b"", None) {
            Step::Respond(response) => response,
            Step::Submit(_) => panic!("GET submitted"),
        }
    }

    fn post(&mut self, path: &str, body: &str) -> Response {
        match self.request(
            Method::Post,
            path,
            body.as_bytes(),
            Some("http://mail.hamburger.edu"),
        ) {
            Step::Respond(response) => response,
            Step::Submit(_) => panic!("submitted"),
        }
    }

    fn login(&mut self) {
        let response = self.post("/login", "user=bob&password=hunter2");
        assert_eq!(response.head.status, StatusCode::SEE_OTHER);
    }

    fn csrf(&mut self) -> String {
        let page = text(&self.get("/folder?f=INBOX"));
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + 32].to_owned()
    }
}

fn text(response: &Response) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

#[test]
fn login_sets_a_fresh_strict_http_only_cookie_and_failures_wait() {
    let mut browser = Browser::new();
    assert_eq!(
        browser.get("/folder").head.headers.get("location"),
        Some("/login")
    );
    let failed = browser.post("/login", "user=bob&password=wrong");
    assert_eq!(failed.head.status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed.delay, Some(Duration::from_secs(2)));
    assert!(failed.head.headers.get("set-cookie").is_none());
    let ok = browser.post("/login", "user=bob&password=hunter2");
    let cookie = ok.head.headers.get("set-cookie").unwrap();
    assert!(cookie.starts_with("webmail_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"));
    let page = text(&browser.get("/folder?f=INBOX"));
    assert!(page.contains("bob@hamburger.edu"));
}

#[test]
fn no_session_fixation_the_id_changes_at_login() {
    let mut browser = Browser::new();
    // An attacker's planted id is unknown to the server, and ignored.
    browser.cookie = Some("webmail_session=0123456789abcdef0123456789abcdef".into());
    assert_eq!(browser.get("/folder").head.status, StatusCode::SEE_OTHER);
    browser.login();
    let first = browser.cookie.clone().unwrap();
    assert!(!first.contains("0123456789abcdef0123"));
    // Logging in again from a live session also gets a new id; the old one is dead.
    browser.login();
    let second = browser.cookie.clone().unwrap();
    assert_ne!(first, second);
    browser.cookie = Some(first);
    assert_eq!(browser.get("/folder").head.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.webmail.session_count(), 1);
}

#[test]
fn sessions_expire_when_idle() {
    let mut browser = Browser::new();
    browser.login();
    assert_eq!(browser.get("/folder").head.status, StatusCode::OK);
    browser.now += Duration::from_secs(31 * 60);
    assert_eq!(browser.get("/folder").head.status, StatusCode::SEE_OTHER);
}

#[test]
fn posts_without_the_token_or_from_another_origin_are_refused() {
    let mut browser = Browser::new();
    browser.login();
    let csrf = browser.csrf();
    let id = "1000.M1P1Q0.mx";
    let refused = browser.post("/delete", &format!("f=INBOX&id={id}"));
    assert_eq!(refused.head.status, StatusCode::FORBIDDEN);
    let refused = browser.post("/delete", &format!("f=INBOX&id={id}&csrf=00{}", &csrf[2..]));
    assert_eq!(refused.head.status, StatusCode::FORBIDDEN);
    let step = browser.request(
        Method::Post,
        "/delete",
        format!("f=INBOX&id={id}&csrf={csrf}").as_bytes(),
        Some("http://evil.example"),
    );
    assert!(matches!(step, Step::Respond(r) if r.head.status == StatusCode::FORBIDDEN));
    assert_eq!(browser.backend.messages[0].0, INBOX);
    let done = browser.post("/delete", &format!("f=INBOX&id={id}&csrf={csrf}"));
    assert_eq!(done.head.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.backend.messages[0].0, TRASH);
    browser.post("/delete", &format!("f=Trash&id={id}&csrf={csrf}"));
    assert_eq!(browser.backend.messages.len(), 4);
    let moved = browser.post(
        "/move",
        &format!("f=INBOX&id=1001.M1P1Q1.mx&to=Sent&csrf={csrf}"),
    );
    assert_eq!(moved.head.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.backend.messages[0].0, "Sent");
    let bad = browser.post("/move", &format!("f=INBOX&id=../../x&to=Sent&csrf={csrf}"));
    assert_eq!(bad.head.status, StatusCode::BAD_REQUEST);
}

#[test]
fn lists_page_newest_first() {
    let mut browser = Browser::new();
    browser.login();
    let first = text(&browser.get("/folder?f=INBOX"));
    assert!(first.contains("5 messages, page 1 of 3"), "{first}");
    assert!(first.contains("crepes 4") && first.contains("crepes 3"));
    assert!(!first.contains("crepes 2"));
    assert!(first.contains("rel=\"next\" href=\"/folder?f=INBOX&amp;page=2\""));
    let last = text(&browser.get("/folder?f=INBOX&page=3"));
    assert!(last.contains("crepes 0") && !last.contains("crepes 1"));
    assert!(last.contains("rel=\"prev\""));
    let clamped = text(&browser.get("/folder?f=INBOX&page=99"));
    assert!(clamped.contains("page 3 of 3"));
}

#[test]
fn everything_from_a_message_is_escaped_and_html_goes_to_a_sandbox() {
    let mut browser = Browser::new();
    let evil = b"From: \"<script>alert(1)</script>\" <eve@evil.example>\r\nSubject: <img src=x onerror=alert(1)>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>hi</p><script>window.pwned=1</script><img src=x onerror=\"window.pwned=1\"><img src=\"http://evil.example/bug.gif\">\r\n";
    browser
        .backend
        .messages
        .push((INBOX.into(), "2000.M1P1Q9.mx".into(), false, evil.to_vec()));
    browser.login();
    let list = text(&browser.get("/folder?f=INBOX"));
    assert!(
        !list.contains("<script>alert") && !list.contains("<img src=x"),
        "{list}"
    );
    assert!(list.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let view = browser.get("/message?f=INBOX&id=2000.M1P1Q9.mx");
    let csp = view.head.headers.get("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let page = text(&view);
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("<iframe id=\"body\" title=\"message\" sandbox=\"allow-popups"));
    assert!(
        browser.backend.messages.last().unwrap().2,
        "not marked seen"
    );
    let body = browser.get("/body?f=INBOX&id=2000.M1P1Q9.mx");
    let csp = body.head.headers.get("content-security-policy").unwrap();
    assert!(
        csp.starts_with("sandbox ") && csp.contains("img-src data:"),
        "{csp}"
    );
    let html = text(&body);
    assert!(html.contains("<p>hi</p>"), "{html}");
    for bad in ["<script", "onerror", "evil.example", "pwned"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
}

#[test]
fn reply_quotes_and_threads_and_send_submits() {
    let mut browser = Browser::new();
    browser.login();
    let csrf = browser.csrf();
    let compose = text(&browser.get("/compose?reply=1002.M1P1Q2.mx&f=INBOX"));
    assert!(
        compose.contains("name=\"to\" value=\"alice@crepes.fr\""),
        "{compose}"
    );
    assert!(compose.contains("value=\"Re: crepes 2\""));
    assert!(compose.contains("name=\"in_reply_to\" value=\"&lt;m2@crepes.fr&gt;\""));
    assert!(compose.contains("value=\"&lt;r0@crepes.fr&gt; &lt;m2@crepes.fr&gt;\""));
    assert!(compose.contains("&gt; Bonjour Bob 2"));
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
--B\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nAlice <alice@crepes.fr>\r\n\
--B\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nRe: crepes 2\r\n\
--B\r\nContent-Disposition: form-data; name=\"in_reply_to\"\r\n\r\n<m2@crepes.fr>\r\n\
--B\r\nContent-Disposition: form-data; name=\"references\"\r\n\r\n<r0@crepes.fr> <m2@crepes.fr>\r\n\
--B\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nMerci!\r\n\
--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"recette.txt\"\r\nContent-Type: text/plain\r\n\r\nfarine, oeufs\r\n--B--\r\n"
    );
    let step = browser.request(
        Method::Post,
        "/send",
        body.as_bytes(),
        Some("http://mail.hamburger.edu"),
    );
    let Step::Submit(submission) = step else {
        panic!("not submitted: {step:?}")
    };
    assert_eq!(submission.from, "bob@hamburger.edu");
    assert_eq!(submission.recipients, ["alice@crepes.fr"]);
    let message = String::from_utf8(submission.message.clone()).unwrap();
    for expected in [
        "In-Reply-To: <m2@crepes.fr>",
        "References: <r0@crepes.fr> <m2@crepes.fr>",
        "Subject: Re: crepes 2",
        "recette.txt",
        "From: <bob@hamburger.edu>",
    ] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
    let response = browser
        .webmail
        .submitted(&mut browser.backend, &submission, Ok("Q1".into()));
    assert_eq!(
        response.head.headers.get("location"),
        Some("/folder?f=INBOX&notice=sent")
    );
    assert_eq!(browser.backend.sent.len(), 1);
    let failed =
        browser
            .webmail
            .submitted(&mut browser.backend, &submission, Err("550 <x>: no".into()));
    assert_eq!(failed.head.status, StatusCode::BAD_REQUEST);
}

#[test]
fn attachments_download_as_attachments() {
    let mut browser = Browser::new();
    let message = b"From: alice@crepes.fr\r\nSubject: file\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"x\\\"; evil.html\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n";
    browser.backend.messages.push((
        INBOX.into(),
        "3000.M1P1Q1.mx".into(),
        false,
        message.to_vec(),
    ));
    browser.login();
    let page = text(&browser.get("/message?f=INBOX&id=3000.M1P1Q1.mx"));
    assert!(page.contains("<pre id=\"body\">see file"), "{page}");
    assert!(page.contains("/attachment?f=INBOX&amp;id=3000.M1P1Q1.mx&amp;n=0"));
    let download = browser.get("/attachment?f=INBOX&id=3000.M1P1Q1.mx&n=0");
    assert_eq!(download.head.status, StatusCode::OK);
    assert_eq!(
        download.head.headers.get("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        download.head.headers.get("x-content-type-options"),
        Some("nosniff")
    );
    let disposition = download.head.headers.get("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(!disposition[22..].split("\";").next().unwrap().contains('"'));
    assert_eq!(
        browser
            .get("/attachment?f=INBOX&id=3000.M1P1Q1.mx&n=7")
            .head
            .status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn broken_mime_still_shows() {
    let mut browser = Browser::new();
    let broken = b"From: =?utf-8?B?####?=\r\nContent-Type: multipart/mixed; boundary=\"\r\n\r\n--\r\n\xff\xfe garbage";
    browser.backend.messages.push((
        INBOX.into(),
        "4000.M1P1Q1.mx".into(),
        false,
        broken.to_vec(),
    ));
    browser.login();
    assert_eq!(browser.get("/folder?f=INBOX").head.status, StatusCode::OK);
    assert_eq!(
        browser
            .get("/message?f=INBOX&id=4000.M1P1Q1.mx")
            .head
            .status,
        StatusCode::OK
    );
    for cut in 0..broken.len() {
        browser.backend.messages.last_mut().unwrap().3 = broken[..cut].to_vec();
        let _ = browser.get("/message?f=INBOX&id=4000.M1P1Q1.mx");
        let _ = browser.get("/body?f=INBOX&id=4000.M1P1Q1.mx");
    }
}
