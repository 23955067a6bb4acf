//! The cookie site of the seed (§2.2.4): the first visit gets `Set-Cookie: id=N`, later
//! requests send the id back, and the backend database keeps each user's visits and activity;
//! a returning user sees "welcome back" with their history. The page logic here is sans-IO
//! over the [`VisitStore`] trait; [`SqliteStore`] is the store that survives restarts.

use crate::files::{error_page, html_escape, method_not_allowed};
use http_proto::cookie::{parse_cookie_header, SetCookie};
use http_proto::uri::decode_form;
use http_proto::{HttpDate, Method, RequestHead, ResponseHead, StatusCode};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The name of the identification cookie.
pub const COOKIE_NAME: &str = "id";

/// The first identification number handed out (the textbook's example number).
pub const FIRST_ID: u64 = 1678;

/// A backend store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused.
    #[error("cookie store: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One thing a user did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// When, in Unix seconds.
    pub at: u64,
    /// `visit`, `cart` ...
    pub kind: String,
    /// The page visited, the item added ...
    pub detail: String,
}

/// The backend database of the cookie site.
pub trait VisitStore {
    /// Creates a user and returns their identification number.
    fn new_user(&mut self, now: SystemTime, user_agent: &str) -> Result<u64, StoreError>;
    /// Whether `id` was handed out.
    fn user_exists(&mut self, id: u64) -> Result<bool, StoreError>;
    /// Records an activity of `id`.
    fn record(
        &mut self,
        id: u64,
        now: SystemTime,
        kind: &str,
        detail: &str,
    ) -> Result<(), StoreError>;
    /// The user's most recent activities, newest first.
    fn history(&mut self, id: u64, limit: usize) -> Result<Vec<Activity>, StoreError>;
    /// How many visits the user made.
    fn visits(&mut self, id: u64) -> Result<u64, StoreError>;
    /// Every user id, ascending.
    fn users(&mut self) -> Result<Vec<u64>, StoreError>;
}

/// The cookie site's SQLite database (created if missing).
pub struct SqliteStore {
    connection: rusqlite::Connection,
}

fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS users (
                 id INTEGER PRIMARY KEY,
                 created INTEGER NOT NULL,
                 user_agent TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS activity (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 user INTEGER NOT NULL REFERENCES users(id),
                 at INTEGER NOT NULL,
                 kind TEXT NOT NULL,
                 detail TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS activity_user ON activity(user, seq);",
        )?;
        Ok(SqliteStore { connection })
    }
}

impl VisitStore for SqliteStore {
    fn new_user(&mut self, now: SystemTime, user_agent: &str) -> Result<u64, StoreError> {
        let id: i64 = self.connection.query_row(
            "INSERT INTO users (id, created, user_agent)
             VALUES ((SELECT COALESCE(MAX(id), ?1) + 1 FROM users), ?2, ?3) RETURNING id",
            rusqlite::params![FIRST_ID as i64 - 1, unix(now), user_agent],
            |row| row.get(0),
        )?;
        Ok(id as u64)
    }

    fn user_exists(&mut self, id: u64) -> Result<bool, StoreError> {
        let count: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM users WHERE id = ?1",
            [id as i64],
            |row| row.get(0),
        )?;
        Ok(count > 0)
    }

    fn record(
        &mut self,
        id: u64,
        now: SystemTime,
        kind: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO activity (user, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id as i64, unix(now), kind, detail],
        )?;
        Ok(())
    }

    fn history(&mut self, id: u64, limit: usize) -> Result<Vec<Activity>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT at, kind, detail FROM activity WHERE user = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(rusqlite::params![id as i64, limit as i64], |row| {
            Ok(Activity {
                at: row.get::<_, i64>(0)?.max(0) as u64,
                kind: row.get(1)?,
                detail: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn visits(&mut self, id: u64) -> Result<u64, StoreError> {
        let count: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM activity WHERE user = ?1 AND kind = 'visit'",
            [id as i64],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    fn users(&mut self) -> Result<Vec<u64>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT id FROM users ORDER BY id")?;
        let rows = statement.query_map([], |row| row.get::<_, i64>(0))?;
        Ok(rows
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|id| id as u64)
            .collect())
    }
}

/// The items of the little shop, for the "add to cart" activity.
const ITEMS: [&str; 4] = ["textbook", "router", "ethernet-cable", "coffee"];

fn page(title: &str, body: &str) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}</body></html>\n",
        title = html_escape(title)
    )
    .into_bytes()
}

fn html_response(status: StatusCode, body: Vec<u8>) -> (ResponseHead, Vec<u8>) {
    let head = ResponseHead::new(status)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-store")
        .header("Content-Length", body.len().to_string());
    (head, body)
}

/// The identification number in the request's Cookie header, if any.
pub fn cookie_id(head: &RequestHead) -> Option<u64> {
    head.headers
        .get_all("cookie")
        .flat_map(parse_cookie_header)
        .find(|(name, _)| name == COOKIE_NAME)
        .and_then(|(_, value)| value.parse().ok())
}

/// Answers one request to the cookie site. `path` is below the site's prefix, `prefix` is
/// that prefix (for links), `body` the request body (form posts).
pub fn handle(
    store: &mut dyn VisitStore,
    head: &RequestHead,
    path: &str,
    prefix: &str,
    body: &[u8],
    now: SystemTime,
) -> (ResponseHead, Vec<u8>) {
    match answer(store, head, path, prefix, body, now) {
        Ok(response) => response,
        Err(error) => {
            tracing::error!("cookie site: {error}");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn answer(
    store: &mut dyn VisitStore,
    head: &RequestHead,
    path: &str,
    prefix: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(ResponseHead, Vec<u8>), StoreError> {
    let is_post = head.method == Method::Post;
    if !matches!(head.method, Method::Get | Method::Head | Method::Post) {
        return Ok(method_not_allowed("GET, HEAD, POST"));
    }
    let known = match cookie_id(head) {
        Some(id) if store.user_exists(id)? => Some(id),
        _ => None,
    };
    let user_agent = head.headers.get("user-agent").unwrap_or("");
    let (id, new_cookie) = match known {
        Some(id) => (id, None),
        None => {
            let id = store.new_user(now, user_agent)?;
            let mut cookie = SetCookie::new(COOKIE_NAME, id.to_string())
                .unwrap_or_else(|| unreachable_cookie(id));
            cookie.path = Some("/".into());
            cookie.max_age = Some(365 * 24 * 3600);
            cookie.http_only = true;
            cookie.same_site = Some(http_proto::cookie::SameSite::Lax);
            (id, Some(cookie))
        }
    };
    let home = if prefix.is_empty() {
        "/".to_owned()
    } else {
        format!("{prefix}/")
    };
    let (mut response, body) = if is_post {
        if path != "/cart" {
            return Ok(method_not_allowed("GET, HEAD"));
        }
        let form = decode_form(&String::from_utf8_lossy(body));
        let item = form
            .iter()
            .find(|(name, _)| name == "item")
            .map(|(_, value)| value.as_str())
            .unwrap_or("");
        if item.is_empty() || item.len() > 100 {
            error_page(StatusCode::BAD_REQUEST)
        } else {
            store.record(id, now, "cart", item)?;
            crate::files::redirect(StatusCode::SEE_OTHER, &home)
        }
    } else if path == "/history.json" {
        let history = store.history(id, 100)?;
        let mut json = format!(
            "{{\"id\":{id},\"visits\":{},\"history\":[",
            store.visits(id)?
        );
        for (index, activity) in history.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "{{\"at\":{},\"kind\":{},\"detail\":{}}}",
                activity.at,
                json_string(&activity.kind),
                json_string(&activity.detail)
            ));
        }
        json.push_str("]}\n");
        let body = json.into_bytes();
        let head = ResponseHead::new(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-store")
            .header("Content-Length", body.len().to_string());
        (head, body)
    } else {
        let earlier = store.history(id, 20)?;
        let visits_before = store.visits(id)?;
        store.record(id, now, "visit", path)?;
        let mut html = String::new();
        if new_cookie.is_some() {
            html.push_str(&format!(
                "<h1>Welcome, new visitor</h1>\n<p>Your identification number is <b>{id}</b>. \
We sent it in a <code>Set-Cookie</code> header; your browser will send it back, \
and our backend database will remember what you do.</p>\n"
            ));
        } else {
            html.push_str(&format!(
                "<h1>Welcome back, visitor {id}</h1>\n<p>This is visit number {} we know of.</p>\n",
                visits_before + 1
            ));
        }
        html.push_str(&format!("<p>Page: {}</p>\n", html_escape(path)));
        html.push_str(&format!(
            "<form method=\"post\" action=\"{}cart\">\n<select name=\"item\">",
            html_escape(&home)
        ));
        for item in ITEMS {
            html.push_str(&format!("<option>{item}</option>"));
        }
        html.push_str("</select> <button>Add to cart</button></form>\n");
        if !earlier.is_empty() {
            html.push_str("<h2>Your history</h2>\n<table>\n<tr><th>When</th><th>What</th><th>Detail</th></tr>\n");
            for activity in &earlier {
                html.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    HttpDate::from_unix(activity.at),
                    html_escape(&activity.kind),
                    html_escape(&activity.detail)
                ));
            }
            html.push_str("</table>\n");
        }
        let title = if new_cookie.is_some() {
            "Welcome"
        } else {
            "Welcome back"
        };
        html_response(StatusCode::OK, page(title, &html))
    };
    if let Some(cookie) = new_cookie {
        response.headers.append("Set-Cookie", cookie.to_string());
    }
    Ok((response, body))
}

/// Decimal digits are always cookie-octets, so `SetCookie::new` cannot refuse an id; this
/// builds the same cookie by hand to avoid an unwrap.
fn unreachable_cookie(id: u64) -> SetCookie {
    SetCookie {
        name: COOKIE_NAME.into(),
        value: id.to_string(),
        expires: None,
        max_age: None,
        domain: None,
        path: None,
        secure: false,
        http_only: false,
        same_site: None,
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(method: Method, path: &str, cookie: Option<&str>) -> RequestHead {
        let mut head = RequestHead::origin(method, path).header("Host", "shop");
        if let Some(cookie) = cookie {
            head.headers.append("Cookie", cookie);
        }
        head
    }

    #[test]
    fn first_visit_cookie_then_welcome_back_surviving_reopen() {
        let dir = std::env::temp_dir().join(format!("applayer-cookie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("site.sqlite");
        let _ = std::fs::remove_file(&db);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cookie = {
            let mut store = SqliteStore::open(&db).unwrap();
            let (head, body) = handle(
                &mut store,
                &request(Method::Get, "/", None),
                "/",
                "/shop",
                b"",
                now,
            );
            assert_eq!(head.status, StatusCode::OK);
            let set_cookie = head.headers.get("set-cookie").unwrap().to_owned();
            assert!(set_cookie.starts_with("id=1678; Path=/"), "{set_cookie}");
            assert!(String::from_utf8(body).unwrap().contains("new visitor"));
            let (head, _) = handle(
                &mut store,
                &request(Method::Post, "/cart", Some("id=1678")),
                "/cart",
                "/shop",
                b"item=router",
                now,
            );
            assert_eq!(head.status, StatusCode::SEE_OTHER);
            assert_eq!(head.headers.get("location"), Some("/shop/"));
            "id=1678".to_owned()
        };
        // A restart: a new connection to the same file.
        let mut store = SqliteStore::open(&db).unwrap();
        let (head, body) = handle(
            &mut store,
            &request(Method::Get, "/", Some(&cookie)),
            "/",
            "/shop",
            b"",
            now,
        );
        assert!(head.headers.get("set-cookie").is_none());
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("Welcome back, visitor 1678"), "{body}");
        assert!(body.contains("router"));
        assert!(body.contains("visit number 2"));
        // An unknown id gets a fresh one.
        let (head, _) = handle(
            &mut store,
            &request(Method::Get, "/", Some("id=99")),
            "/",
            "/shop",
            b"",
            now,
        );
        assert!(head
            .headers
            .get("set-cookie")
            .unwrap()
            .starts_with("id=1679;"));
        let (_, json) = handle(
            &mut store,
            &request(Method::Get, "/history.json", Some(&cookie)),
            "/history.json",
            "/shop",
            b"",
            now,
        );
        let json = String::from_utf8(json).unwrap();
        assert!(json.starts_with("{\"id\":1678,\"visits\":2,"), "{json}");
        assert_eq!(store.users().unwrap(), [1678, 1679]);
        let (head, _) = handle(
            &mut store,
            &request(Method::Delete, "/", None),
            "/",
            "/shop",
            b"",
            now,
        );
        assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
