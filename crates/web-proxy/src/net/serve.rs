//! Writing a stored response to a client: whole (from memory, with writev, or streamed from
//! its disk record with the checksum checked), as the 304, 206 or 416 that
//! [`http_cache::exchange::stored_reply`] picks, or as `multipart/byteranges`.

use super::{drop_object, emit_sent, Aborted, Done, Shared, READ_CHUNK};
use crate::forward::{not_modified_from_store, stored_status_line, CacheStatus};
use crate::store::Object;
use http_cache::{exchange::stored_reply, StoredReply};
use http_proto::{Method, RequestHead, Version};
use netio::tcp::Conn;
use std::io;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Writes a stored response (or a 304, 206 or 416 derived from it) to the client.
pub(super) async fn serve_stored(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    object: &Object,
    age: u64,
    status: CacheStatus,
) -> Result<Done, Aborted> {
    let entry = &object.entry;
    let via = shared.via();
    let len = entry.meta.body_len;
    let mut range = 0..len;
    let mut code = entry.meta.status;
    let mut content_range = None;
    match stored_reply(head, entry) {
        StoredReply::Full => {}
        StoredReply::NotModified => {
            let reply = not_modified_from_store(entry, via, age, status);
            client.write_all(&reply).await?;
            emit_sent(conn, 304, status);
            return Ok(Done::new(304, 0, status));
        }
        StoredReply::Partial(part) => {
            code = 206;
            content_range = Some(http_proto::range::content_range(&part, len));
            range = part;
        }
        StoredReply::Multipart(ranges) => {
            return serve_multipart(shared, client, conn, head, object, age, status, ranges).await;
        }
        StoredReply::Unsatisfiable => {
            let mut out = Vec::with_capacity(256);
            out.extend_from_slice(b"HTTP/1.1 416 Range Not Satisfiable\r\n");
            out.extend_from_slice(format!("Content-Range: bytes */{len}\r\nContent-Length: 0\r\nAge: {age}\r\nVia: 1.1 {via}\r\nX-Cache: {}\r\n\r\n", status.as_str()).as_bytes());
            client.write_all(&out).await?;
            emit_sent(conn, 416, status);
            return Ok(Done::new(416, 0, status));
        }
    }
    let mut out = Vec::with_capacity(object.fields_block.len() + 160);
    if code == 206 {
        out.extend_from_slice(b"HTTP/1.1 206 Partial Content\r\n");
    } else {
        stored_status_line(entry, &mut out);
    }
    out.extend_from_slice(&object.fields_block);
    let body_len = range.end - range.start;
    let has_body = head.method != Method::Head
        && !matches!(entry.meta.status, 204 | 304)
        && entry.meta.status >= 200;
    {
        use std::io::Write;
        let _ = write!(out, "Age: {age}\r\nX-Cache: {}\r\n", status.as_str());
        if let Some(content_range) = &content_range {
            let _ = write!(out, "Content-Range: {content_range}\r\n");
        }
        if !matches!(entry.meta.status, 204 | 304) {
            let _ = write!(out, "Content-Length: {body_len}\r\n");
        }
        if head.version == Version::Http10 {
            out.extend_from_slice(if head.wants_close() {
                b"Connection: close\r\n"
            } else {
                b"Connection: keep-alive\r\n"
            });
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut sent = 0u64;
    match (&object.body.memory, has_body) {
        (_, false) => client.write_all(&out).await?,
        (Some(memory), true) => {
            let slice = &memory[range.start as usize..range.end as usize];
            if slice.len() <= 16 * 1024 {
                out.extend_from_slice(slice);
                client.write_all(&out).await?;
            } else {
                write_all_vectored(client, &out, slice).await?;
            }
            sent = slice.len() as u64;
        }
        (None, true) => {
            client.write_all(&out).await?;
            sent = stream_from_disk(shared, client, object, range.clone()).await?;
        }
    }
    emit_sent(conn, code, status);
    Ok(Done::new(code, sent, status))
}

/// Several ranges of a stored 200: a `multipart/byteranges` 206 (RFC 9110 §14.6), each part
/// read from memory or from the disk record.
#[allow(clippy::too_many_arguments)]
async fn serve_multipart(
    shared: &Shared,
    client: &mut TcpStream,
    conn: &Conn,
    head: &RequestHead,
    object: &Object,
    age: u64,
    status: CacheStatus,
    ranges: Vec<std::ops::Range<u64>>,
) -> Result<Done, Aborted> {
    use http_proto::range::{multipart_end, multipart_len, multipart_part_head};
    let entry = &object.entry;
    let len = entry.meta.body_len;
    let content_type = entry.meta.fields.get("content-type").map(str::to_string);
    let boundary = format!("applayer{:016x}", object.id ^ len.rotate_left(17));
    let total = multipart_len(&boundary, content_type.as_deref(), &ranges, len);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 206 Partial Content\r\n");
    for (name, value) in entry.meta.fields.iter() {
        if name.eq_ignore_ascii_case("content-type") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/byteranges; boundary={boundary}\r\nContent-Length: {total}\r\nAge: {age}\r\nVia: 1.1 {}\r\nX-Cache: {}\r\n",
            shared.via(),
            status.as_str()
        )
        .as_bytes(),
    );
    if head.version == Version::Http10 && !head.wants_close() {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    client.write_all(&out).await?;
    for range in &ranges {
        let part = multipart_part_head(&boundary, content_type.as_deref(), range, len);
        client.write_all(part.as_bytes()).await?;
        match &object.body.memory {
            Some(memory) => {
                client
                    .write_all(&memory[range.start as usize..range.end as usize])
                    .await?
            }
            None => {
                stream_from_disk(shared, client, object, range.clone()).await?;
            }
        }
    }
    client
        .write_all(multipart_end(&boundary).as_bytes())
        .await?;
    emit_sent(conn, 206, status);
    Ok(Done::new(206, total, status))
}

/// Writes `head` then `body` with as few system calls as possible (writev).
async fn write_all_vectored(client: &mut TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut head_done = 0;
    let mut body_done = 0;
    while head_done < head.len() {
        let parts = [io::IoSlice::new(&head[head_done..]), io::IoSlice::new(body)];
        let written = client.write_vectored(&parts).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let into_head = written.min(head.len() - head_done);
        head_done += into_head;
        body_done += written - into_head;
    }
    if body_done < body.len() {
        client.write_all(&body[body_done..]).await?;
    }
    Ok(())
}

/// Streams `range` of a disk-stored body; the whole-body checksum is checked when the whole
/// body is sent, and a mismatch aborts the connection (the client sees a short body, never a
/// wrong one presented as complete) and drops the record.
async fn stream_from_disk(
    shared: &Shared,
    client: &mut TcpStream,
    object: &Object,
    range: std::ops::Range<u64>,
) -> Result<u64, Aborted> {
    let (Some(disk), Some(id)) = (shared.disk.clone(), object.body.disk) else {
        return Err(Aborted::OutOfOrder(
            "stored body in neither memory nor disk",
        ));
    };
    let whole = range.start == 0 && range.end == object.entry.meta.body_len;
    let start = range.start;
    let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
        use std::io::{Seek, SeekFrom};
        let (mut file, header) = disk.open_body(id)?;
        file.seek(SeekFrom::Current(start as i64))?;
        Ok((file, header))
    })
    .await
    .map_err(|error| Aborted::Disk(io::Error::other(error)))?;
    let (file, header) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            drop_object(shared, object);
            return Err(Aborted::Disk(error));
        }
    };
    let mut file = Some(file);
    let mut left = range.end - range.start;
    let mut sent = 0u64;
    let mut crc = http_cache::entry::Crc32::new();
    while left > 0 {
        let want = (READ_CHUNK as u64).min(left) as usize;
        let Some(mut current) = file.take() else {
            break;
        };
        let (current, chunk) = tokio::task::spawn_blocking(move || -> io::Result<_> {
            use std::io::Read;
            let mut chunk = vec![0u8; want];
            current.read_exact(&mut chunk)?;
            Ok((current, chunk))
        })
        .await
        .map_err(|error| Aborted::Disk(io::Error::other(error)))?
        .map_err(Aborted::Disk)?;
        file = Some(current);
        if whole {
            crc.update(&chunk);
        }
        left -= chunk.len() as u64;
        if whole && left == 0 && crc.finish() != header.body_crc {
            drop_object(shared, object);
            return Err(Aborted::Checksum);
        }
        client.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    Ok(sent)
}
