//! Static-file answers (sans-IO): validators, conditional requests (RFC 9110 §13), range
//! requests (§14), directory listings and error pages. The driver supplies file metadata and
//! streams the byte ranges this module picks.

use http_proto::range::{
    content_range, content_range_unsatisfied, multipart_end, multipart_part_head,
};
use http_proto::{
    evaluate_range, EntityTag, HttpDate, Method, RangeOutcome, RequestHead, ResponseHead,
    StatusCode,
};
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the driver learnt about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Its size.
    pub len: u64,
    /// Its modification time.
    pub modified: SystemTime,
}

impl FileInfo {
    /// A strong entity tag from the modification time (with nanoseconds) and the size, as
    /// nginx and Apache derive theirs: it changes whenever the file is rewritten.
    pub fn etag(&self) -> EntityTag {
        let since = self.modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        EntityTag {
            weak: false,
            tag: format!(
                "{:x}.{:x}-{:x}",
                since.as_secs(),
                since.subsec_nanos(),
                self.len
            ),
        }
    }

    /// The Last-Modified date.
    pub fn last_modified(&self) -> HttpDate {
        HttpDate::from_system_time(self.modified)
    }
}

pub use http_proto::conditional::{evaluate_preconditions, if_range_holds, Precondition};

/// One piece of a file answer: bytes to send first, then a byte range of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePart {
    /// Bytes sent before the range (a multipart part head; empty otherwise).
    pub prefix: Vec<u8>,
    /// The file bytes.
    pub range: Range<u64>,
}

/// A planned answer for a file: the head, and what the body is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePlan {
    /// The response head (without Date and Server, which the driver adds).
    pub head: ResponseHead,
    /// The parts of the body, in order (empty for HEAD, 304, 412, 416).
    pub parts: Vec<FilePart>,
    /// Bytes sent after the parts (the multipart closing delimiter).
    pub suffix: Vec<u8>,
}

/// Plans the answer to GET or HEAD of a file: conditional requests, then ranges (with
/// If-Range), then the whole file. `boundary` separates multipart/byteranges parts.
pub fn plan_file(
    head: &RequestHead,
    info: &FileInfo,
    content_type: &str,
    boundary: &str,
) -> FilePlan {
    let etag = info.etag();
    let last_modified = info.last_modified();
    let validators = |mut response: ResponseHead| {
        response
            .headers
            .append("Last-Modified", last_modified.to_string());
        response.headers.append("ETag", etag.to_string());
        response
    };
    match evaluate_preconditions(head, Some((&etag, last_modified))) {
        Precondition::NotModified => {
            return FilePlan {
                head: validators(ResponseHead::new(StatusCode::NOT_MODIFIED)),
                parts: Vec::new(),
                suffix: Vec::new(),
            }
        }
        Precondition::Failed => {
            return FilePlan {
                head: ResponseHead::new(StatusCode::PRECONDITION_FAILED)
                    .header("Content-Length", "0"),
                parts: Vec::new(),
                suffix: Vec::new(),
            }
        }
        Precondition::Proceed => {}
    }
    let is_head = head.method == Method::Head;
    let len = info.len;
    let mut outcome = RangeOutcome::Full;
    if head.method == Method::Get {
        if let Some(range) = head.headers.get("range") {
            let holds = head
                .headers
                .get("if-range")
                .is_none_or(|value| if_range_holds(value, Some(&etag), Some(last_modified)));
            if holds {
                outcome = evaluate_range(range, len);
            }
        }
    }
    let mut response;
    let mut parts = Vec::new();
    let mut suffix = Vec::new();
    match outcome {
        RangeOutcome::Full => {
            response = ResponseHead::new(StatusCode::OK)
                .header("Content-Type", content_type)
                .header("Content-Length", len.to_string());
            if !is_head && len > 0 {
                parts.push(FilePart {
                    prefix: Vec::new(),
                    range: 0..len,
                });
            }
        }
        RangeOutcome::Unsatisfiable => {
            response = ResponseHead::new(StatusCode::RANGE_NOT_SATISFIABLE)
                .header("Content-Range", content_range_unsatisfied(len))
                .header("Content-Length", "0");
        }
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0].clone();
            response = ResponseHead::new(StatusCode::PARTIAL_CONTENT)
                .header("Content-Type", content_type)
                .header("Content-Range", content_range(&range, len))
                .header("Content-Length", (range.end - range.start).to_string());
            parts.push(FilePart {
                prefix: Vec::new(),
                range,
            });
        }
        RangeOutcome::Partial(ranges) => {
            let mut total = 0u64;
            for range in ranges {
                let prefix =
                    multipart_part_head(boundary, Some(content_type), &range, len).into_bytes();
                total += prefix.len() as u64 + (range.end - range.start);
                parts.push(FilePart { prefix, range });
            }
            suffix = multipart_end(boundary).into_bytes();
            total += suffix.len() as u64;
            response = ResponseHead::new(StatusCode::PARTIAL_CONTENT)
                .header(
                    "Content-Type",
                    format!("multipart/byteranges; boundary={boundary}"),
                )
                .header("Content-Length", total.to_string());
        }
    }
    if response.status != StatusCode::RANGE_NOT_SATISFIABLE {
        response = validators(response);
    }
    response.headers.append("Accept-Ranges", "bytes");
    if is_head {
        parts.clear();
        suffix.clear();
    }
    FilePlan {
        head: response,
        parts,
        suffix,
    }
}

/// Escapes text for HTML.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One directory entry for a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingEntry {
    /// The file name.
    pub name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Its size.
    pub len: u64,
}

/// An HTML listing of a directory (entries sorted by name, directories with a slash).
pub fn directory_listing(url_path: &str, mut entries: Vec<ListingEntry>) -> Vec<u8> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let title = html_escape(url_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for entry in entries {
        let slash = if entry.is_dir { "/" } else { "" };
        let href = http_proto::uri::percent_encode_path(entry.name.as_bytes());
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{}{slash}</a> {}</li>\n",
            html_escape(&entry.name),
            if entry.is_dir {
                String::new()
            } else {
                format!("({} bytes)", entry.len)
            }
        ));
    }
    html.push_str("</ul></body></html>\n");
    html.into_bytes()
}

/// A small HTML error page for `status`.
pub fn error_page(status: StatusCode) -> (ResponseHead, Vec<u8>) {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>\n",
        code = status.as_u16(),
        reason = status.reason()
    )
    .into_bytes();
    let head = ResponseHead::new(status)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Content-Length", body.len().to_string());
    (head, body)
}

/// 405 with the Allow header.
pub fn method_not_allowed(allow: &str) -> (ResponseHead, Vec<u8>) {
    let (mut head, body) = error_page(StatusCode::METHOD_NOT_ALLOWED);
    head.headers.append("Allow", allow);
    (head, body)
}

/// A redirect with Location and a short HTML body.
pub fn redirect(status: StatusCode, location: &str) -> (ResponseHead, Vec<u8>) {
    let body = format!(
        "<!DOCTYPE html>\n<html><body><a href=\"{0}\">{0}</a></body></html>\n",
        html_escape(location)
    )
    .into_bytes();
    let head = ResponseHead::new(status)
        .header("Location", location)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Content-Length", body.len().to_string());
    (head, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn info() -> FileInfo {
        FileInfo {
            len: 10_000,
            modified: UNIX_EPOCH + Duration::from_secs(1_439_912_663),
        }
    }

    fn get(fields: &[(&str, &str)]) -> RequestHead {
        let mut head = RequestHead::origin(Method::Get, "/f").header("Host", "a");
        for (name, value) in fields {
            head.headers.append(*name, *value);
        }
        head
    }

    fn status(fields: &[(&str, &str)]) -> u16 {
        plan_file(&get(fields), &info(), "text/plain", "B")
            .head
            .status
            .as_u16()
    }

    #[test]
    fn conditional_get() {
        let etag = info().etag().to_string();
        let date = "Tue, 18 Aug 2015 15:44:23 GMT";
        assert_eq!(info().last_modified().to_string(), date);
        assert_eq!(status(&[]), 200);
        assert_eq!(status(&[("If-None-Match", &etag)]), 304);
        assert_eq!(status(&[("If-None-Match", &format!("W/{etag}"))]), 304);
        assert_eq!(status(&[("If-None-Match", "\"other\"")]), 200);
        assert_eq!(status(&[("If-None-Match", "*")]), 304);
        assert_eq!(status(&[("If-Modified-Since", date)]), 304);
        assert_eq!(
            status(&[("If-Modified-Since", "Tue, 18 Aug 2015 15:44:22 GMT")]),
            200
        );
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
        assert_eq!(
            status(&[("If-None-Match", "\"other\""), ("If-Modified-Since", date)]),
            200
        );
        assert_eq!(status(&[("If-Match", "\"other\"")]), 412);
        assert_eq!(status(&[("If-Match", &etag)]), 200);
        assert_eq!(
            status(&[("If-Unmodified-Since", "Tue, 18 Aug 2015 15:00:00 GMT")]),
            412
        );
        assert_eq!(status(&[("If-Modified-Since", "garbage")]), 200);
        let not_modified = plan_file(
            &get(&[("If-None-Match", &etag)]),
            &info(),
            "text/plain",
            "B",
        );
        assert!(not_modified.parts.is_empty());
        assert_eq!(not_modified.head.headers.get("etag"), Some(etag.as_str()));
    }

    #[test]
    fn ranges() {
        let plan = plan_file(
            &get(&[("Range", "bytes=0-499")]),
            &info(),
            "text/plain",
            "B",
        );
        assert_eq!(plan.head.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            plan.head.headers.get("content-range"),
            Some("bytes 0-499/10000")
        );
        assert_eq!(plan.parts[0].range, 0..500);
        let multi = plan_file(
            &get(&[("Range", "bytes=0-0,-1")]),
            &info(),
            "text/plain",
            "B",
        );
        assert_eq!(multi.parts.len(), 2);
        let total: u64 = multi
            .parts
            .iter()
            .map(|p| p.prefix.len() as u64 + p.range.end - p.range.start)
            .sum::<u64>()
            + multi.suffix.len() as u64;
        assert_eq!(
            multi.head.headers.get("content-length"),
            Some(total.to_string().as_str())
        );
        assert_eq!(status(&[("Range", "bytes=20000-")]), 416);
        assert_eq!(
            status(&[("Range", "bytes=0-1"), ("If-Range", "\"stale\"")]),
            200
        );
        let etag = info().etag().to_string();
        assert_eq!(status(&[("Range", "bytes=0-1"), ("If-Range", &etag)]), 206);
        assert_eq!(
            status(&[
                ("Range", "bytes=0-1"),
                ("If-Range", "Tue, 18 Aug 2015 15:44:23 GMT")
            ]),
            206
        );
    }

    #[test]
    fn head_has_length_but_no_parts() {
        let mut head = get(&[]);
        head.method = Method::Head;
        let plan = plan_file(&head, &info(), "text/plain", "B");
        assert_eq!(plan.head.headers.get("content-length"), Some("10000"));
        assert!(plan.parts.is_empty());
    }

    #[test]
    fn listing_escapes_names() {
        let html = directory_listing(
            "/d/",
            vec![ListingEntry {
                name: "<b>.txt".into(),
                is_dir: false,
                len: 3,
            }],
        );
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("&lt;b&gt;.txt"));
        assert!(html.contains("href=\"%3Cb%3E.txt\""));
    }
}
