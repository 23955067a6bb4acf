//! Media types by file extension, for Content-Type of static files.

/// The media type for a file name or path by its extension (case-insensitive), or
/// `application/octet-stream` when unknown. Text types carry `charset=utf-8`.
pub fn media_type_for(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((_, extension)) = name.rsplit_once('.') else {
        return "application/octet-stream";
    };
    media_type_for_extension(extension).unwrap_or("application/octet-stream")
}

/// The media type for an extension without the dot (case-insensitive).
pub fn media_type_for_extension(extension: &str) -> Option<&'static str> {
    let mut lower = [0u8; 8];
    if extension.len() > lower.len() {
        return None;
    }
    for (slot, byte) in lower.iter_mut().zip(extension.bytes()) {
        *slot = byte.to_ascii_lowercase();
    }
    Some(match &lower[..extension.len()] {
        b"html" | b"htm" | b"index" => "text/html; charset=utf-8",
        b"css" => "text/css; charset=utf-8",
        b"js" | b"mjs" => "text/javascript; charset=utf-8",
        b"txt" | b"text" => "text/plain; charset=utf-8",
        b"csv" => "text/csv; charset=utf-8",
        b"xml" => "application/xml",
        b"json" => "application/json",
        b"md" => "text/markdown; charset=utf-8",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"png" => "image/png",
        b"gif" => "image/gif",
        b"svg" => "image/svg+xml",
        b"webp" => "image/webp",
        b"ico" => "image/x-icon",
        b"bmp" => "image/bmp",
        b"avif" => "image/avif",
        b"mp4" | b"m4v" => "video/mp4",
        b"m4s" => "video/iso.segment",
        b"webm" => "video/webm",
        b"ogv" => "video/ogg",
        b"mp3" => "audio/mpeg",
        b"m4a" => "audio/mp4",
        b"ogg" | b"oga" => "audio/ogg",
        b"wav" => "audio/wav",
        b"mpd" => "application/dash+xml",
        b"m3u8" => "application/vnd.apple.mpegurl",
        b"ts" => "video/mp2t",
        b"pdf" => "application/pdf",
        b"zip" => "application/zip",
        b"gz" => "application/gzip",
        b"tar" => "application/x-tar",
        b"wasm" => "application/wasm",
        b"woff" => "font/woff",
        b"woff2" => "font/woff2",
        b"ttf" => "font/ttf",
        b"torrent" => "application/x-bittorrent",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types() {
        assert_eq!(
            media_type_for("/someDepartment/home.index"),
            "text/html; charset=utf-8"
        );
        assert_eq!(media_type_for("a/B.JPG"), "image/jpeg");
        assert_eq!(media_type_for("x.tar.gz"), "application/gzip");
        assert_eq!(media_type_for("README"), "application/octet-stream");
        assert_eq!(media_type_for("dir.d/file"), "application/octet-stream");
        assert_eq!(
            media_type_for("x.verylongextension"),
            "application/octet-stream"
        );
    }
}
