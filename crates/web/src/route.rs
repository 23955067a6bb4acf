//! Request routing (sans-IO): which root and file a request names, safely, or which redirect
//! or built-in site answers it.

use crate::config::WebServerConfig;
use http_proto::{percent_decode, RequestHead, StatusCode};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// A file or directory under `root`.
    File {
        /// The document root.
        root: &'a Path,
        /// The path below the root: only normal components (no `..`, no hidden names).
        relative: PathBuf,
        /// Whether the request path ended with `/`.
        trailing_slash: bool,
    },
    /// A redirect from the site config.
    Redirect {
        /// 301, 302 ...
        status: StatusCode,
        /// The Location.
        location: String,
    },
    /// The cookie site; `path` is the request path below its prefix (starting with `/`).
    CookieSite {
        /// The path below the prefix.
        path: String,
    },
    /// The application mounted at index `index` of [`WebServerConfig::apps`].
    App {
        /// Its index.
        index: usize,
    },
    /// An error answer (400 for a malformed path, 404 for hidden names).
    Error(StatusCode),
}

/// The Host header's name part, lowercased, without port.
pub fn host_name(head: &RequestHead) -> Option<String> {
    if let http_proto::RequestTarget::Absolute(uri) = &head.target {
        return Some(uri.host.clone());
    }
    let host = head.headers.get("host")?;
    http_proto::uri::parse_authority(host)
        .ok()
        .map(|(name, _)| name)
}

/// Decodes a request path into path components below a root, refusing everything that could
/// leave it: `..` segments (also percent-encoded), NUL bytes, and hidden names (a leading dot,
/// which also hides the server's temporary upload files).
pub fn safe_relative_path(raw: &str) -> Result<(PathBuf, bool), StatusCode> {
    let decoded = percent_decode(raw).ok_or(StatusCode::BAD_REQUEST)?;
    if decoded.first() != Some(&b'/') || decoded.contains(&0) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let trailing_slash = decoded.ends_with(b"/");
    let mut relative = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(StatusCode::BAD_REQUEST),
            hidden if hidden.starts_with(b".") => return Err(StatusCode::NOT_FOUND),
            name => relative.push(OsStr::from_bytes(name)),
        }
    }
    Ok((relative, trailing_slash))
}

/// Routes a request: redirects first, then applications, then the cookie site, then files under the root for
/// the Host.
pub fn route<'a>(config: &'a WebServerConfig, head: &RequestHead) -> Route<'a> {
    let host = host_name(head);
    let path = head.target.path();
    for redirect in &config.redirects {
        if redirect.host.is_some() && redirect.host != host {
            continue;
        }
        if let Some(prefix) = redirect.from.strip_suffix('*') {
            if let Some(rest) = path.strip_prefix(prefix) {
                return Route::Redirect {
                    status: redirect.status,
                    location: format!("{}{}", redirect.to, rest),
                };
            }
        } else if path == redirect.from {
            return Route::Redirect {
                status: redirect.status,
                location: redirect.to.clone(),
            };
        }
    }
    if let Some(index) = config.apps.iter().position(|mount| mount.matches(path)) {
        return Route::App { index };
    }
    if let Some(site) = &config.cookie_site {
        let host_ok =
            site.hosts.is_empty() || host.as_ref().is_some_and(|h| site.hosts.contains(h));
        if host_ok {
            if let Some(rest) = path.strip_prefix(site.prefix.as_str()) {
                if rest.is_empty() || rest.starts_with('/') {
                    let path = if rest.is_empty() { "/" } else { rest };
                    return Route::CookieSite {
                        path: path.to_owned(),
                    };
                }
            }
        }
    }
    let root = host
        .as_ref()
        .and_then(|h| config.hosts.iter().find(|v| &v.name == h))
        .map(|v| v.root.as_path())
        .unwrap_or(config.root.as_path());
    match safe_relative_path(path) {
        Ok((relative, trailing_slash)) => Route::File {
            root,
            relative,
            trailing_slash,
        },
        Err(status) => Route::Error(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Redirect, VirtualHost};
    use http_proto::Method;

    fn request(path: &str, host: &str) -> RequestHead {
        RequestHead::origin(Method::Get, path).header("Host", host)
    }

    #[test]
    fn traversal_is_impossible() {
        let check = |raw: &str, expected: Result<&str, u16>| {
            let got = safe_relative_path(raw)
                .map(|(p, _)| p.to_string_lossy().into_owned())
                .map_err(|s| s.as_u16());
            assert_eq!(got, expected.map(str::to_owned), "{raw}");
        };
        check("/a/b.html", Ok("a/b.html"));
        check("/a//./b%20c", Ok("a/b c"));
        check("/../etc/passwd", Err(400));
        check("/a/%2e%2e/%2E%2E/etc/passwd", Err(400));
        check("/a/..%2f..%2fetc", Err(400));
        check("/a%00b", Err(400));
        check("/%zz", Err(400));
        check("/.git/config", Err(404));
        check("/a/.put-1.tmp", Err(404));
        check("/", Ok(""));
    }

    #[test]
    fn routes_by_host_redirect_and_cookie_site() {
        let mut config = WebServerConfig::new("/srv/default");
        config.hosts.push(VirtualHost {
            name: "www.someschool.edu".into(),
            root: "/srv/school".into(),
        });
        config.redirects.push(Redirect {
            host: None,
            from: "/old/*".into(),
            to: "/new/".into(),
            status: StatusCode::MOVED_PERMANENTLY,
        });
        config.cookie_site = Some(crate::config::CookieSiteConfig::new("/tmp/x.sqlite"));
        assert_eq!(
            route(
                &config,
                &request("/somedir/page.html", "WWW.someSchool.edu:80")
            ),
            Route::File {
                root: Path::new("/srv/school"),
                relative: "somedir/page.html".into(),
                trailing_slash: false
            }
        );
        assert!(matches!(
            route(&config, &request("/x", "other")),
            Route::File { root, .. } if root == Path::new("/srv/default")
        ));
        assert_eq!(
            route(&config, &request("/old/a.html", "a")),
            Route::Redirect {
                status: StatusCode::MOVED_PERMANENTLY,
                location: "/new/a.html".into()
            }
        );
        assert_eq!(
            route(&config, &request("/shop", "a")),
            Route::CookieSite { path: "/".into() }
        );
        assert_eq!(
            route(&config, &request("/shop/cart", "a")),
            Route::CookieSite {
                path: "/cart".into()
            }
        );
        assert!(matches!(
            route(&config, &request("/shopping", "a")),
            Route::File { .. }
        ));
    }
}
