//! The disk store: one record file per stored response (format in `http_cache::entry`),
//! written crash-safely (temporary file, fsync, rename, directory fsync) and checked on load.
//!
//! Blocking `std::fs` calls: the driver runs them on tokio's blocking pool. A record that fails
//! any check (torn write, bit rot, a stray file) is deleted, never served.

use http_cache::entry::{Crc32, EntryMeta, RecordHeader, RECORD_HEADER_LEN};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bodies at most this long are read into memory (and checked) when the store is opened.
pub const SMALL_BODY: u64 = 64 * 1024;

/// A record found when opening the store.
#[derive(Debug)]
pub struct Loaded {
    /// Its id (from the file name).
    pub id: u64,
    /// Its meta.
    pub meta: EntryMeta,
    /// Its body, if small enough to load (already checked).
    pub body: Option<Vec<u8>>,
}

/// A directory of records.
#[derive(Clone, Debug)]
pub struct DiskStore {
    objects: PathBuf,
    tmp: PathBuf,
}

impl DiskStore {
    /// Opens (creating) `dir`, deletes leftover temporary files of interrupted writes, and
    /// loads every valid record; invalid ones are deleted.
    pub fn open(dir: &Path) -> io::Result<(DiskStore, Vec<Loaded>)> {
        let store = DiskStore {
            objects: dir.join("objects"),
            tmp: dir.join("tmp"),
        };
        fs::create_dir_all(&store.objects)?;
        fs::create_dir_all(&store.tmp)?;
        for entry in fs::read_dir(&store.tmp)? {
            let _ = fs::remove_file(entry?.path());
        }
        let mut loaded = Vec::new();
        for entry in fs::read_dir(&store.objects)? {
            let path = entry?.path();
            let id = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".rec"))
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            match id.map(|id| (id, load_record(&path))) {
                Some((id, Ok((meta, body)))) => loaded.push(Loaded { id, meta, body }),
                Some((_, Err(error))) => {
                    tracing::warn!(path = %path.display(), "dropping invalid cache record: {error}");
                    let _ = fs::remove_file(&path);
                }
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok((store, loaded))
    }

    /// The path of record `id`.
    pub fn path(&self, id: u64) -> PathBuf {
        self.objects.join(format!("{id:016x}.rec"))
    }

    fn tmp_path(&self, id: u64) -> PathBuf {
        self.tmp.join(format!("{id:016x}.tmp"))
    }

    /// Writes a whole record at once (small bodies).
    pub fn write(&self, id: u64, meta: &EntryMeta, body: &[u8]) -> io::Result<()> {
        let mut writer = self.begin(id, meta)?;
        writer.write(body)?;
        writer.finish(meta)
    }

    /// Starts a record whose body arrives in pieces.
    pub fn begin(&self, id: u64, meta: &EntryMeta) -> io::Result<RecordWriter> {
        let tmp = self.tmp_path(id);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let encoded = meta.encode();
        // The header is written last, when the checksums are known; zeros never validate.
        file.write_all(&[0u8; RECORD_HEADER_LEN])?;
        file.write_all(&encoded)?;
        Ok(RecordWriter {
            file,
            tmp,
            target: self.path(id),
            objects: self.objects.clone(),
            meta_len: encoded.len(),
            crc: Crc32::new(),
            body_len: 0,
        })
    }

    /// Opens record `id` for reading its body: checks the header against the file size and the
    /// meta checksum, and positions the file at the body.
    pub fn open_body(&self, id: u64) -> io::Result<(File, RecordHeader)> {
        let path = self.path(id);
        let mut file = File::open(&path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; RECORD_HEADER_LEN];
        file.read_exact(&mut header)?;
        let header = RecordHeader::decode(&header, len).map_err(invalid)?;
        let mut meta = vec![0u8; header.meta_len as usize];
        file.read_exact(&mut meta)?;
        if http_cache::entry::crc32(&meta) != header.meta_crc {
            return Err(invalid("meta checksum mismatch"));
        }
        file.seek(SeekFrom::Start(header.body_offset()))?;
        Ok((file, header))
    }

    /// Writes record `new_id` with `meta` and the body of record `old_id` (after a 304 changed
    /// the stored fields), checking the old body's checksum on the way.
    pub fn rewrite(&self, old_id: u64, new_id: u64, meta: &EntryMeta) -> io::Result<()> {
        let (mut file, header) = self.open_body(old_id)?;
        let mut writer = self.begin(new_id, meta)?;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut left = header.body_len;
        let mut check = Crc32::new();
        while left > 0 {
            let want = buffer.len().min(left as usize);
            file.read_exact(&mut buffer[..want])?;
            check.update(&buffer[..want]);
            writer.write(&buffer[..want])?;
            left -= want as u64;
        }
        if check.finish() != header.body_crc {
            writer.abort();
            return Err(invalid("body checksum mismatch"));
        }
        writer.finish(meta)
    }

    /// Deletes record `id` (missing is fine).
    pub fn remove(&self, id: u64) {
        let _ = fs::remove_file(self.path(id));
    }
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// Reads and fully checks a record's meta, and its body if small.
fn load_record(path: &Path) -> io::Result<(EntryMeta, Option<Vec<u8>>)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut header = [0u8; RECORD_HEADER_LEN];
    file.read_exact(&mut header)?;
    let header = RecordHeader::decode(&header, len).map_err(invalid)?;
    let mut meta = vec![0u8; header.meta_len as usize];
    file.read_exact(&mut meta)?;
    if http_cache::entry::crc32(&meta) != header.meta_crc {
        return Err(invalid("meta checksum mismatch"));
    }
    let meta = EntryMeta::decode(&meta).map_err(invalid)?;
    if meta.body_len != header.body_len {
        return Err(invalid("body length mismatch"));
    }
    if header.body_len > SMALL_BODY {
        return Ok((meta, None));
    }
    let mut body = vec![0u8; header.body_len as usize];
    file.read_exact(&mut body)?;
    if http_cache::entry::crc32(&body) != header.body_crc {
        return Err(invalid("body checksum mismatch"));
    }
    Ok((meta, Some(body)))
}

/// A record being written: body bytes go to a temporary file; [`RecordWriter::finish`] makes
/// it a record atomically.
#[derive(Debug)]
pub struct RecordWriter {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    objects: PathBuf,
    meta_len: usize,
    crc: Crc32,
    body_len: u64,
}

impl RecordWriter {
    /// Appends body bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.crc.update(data);
        self.body_len += data.len() as u64;
        Ok(())
    }

    /// Body bytes written so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Writes the final meta (its encoding must have the length of the one given to
    /// [`DiskStore::begin`]; only `body_len` may differ) and the header, fsyncs, and renames
    /// the file into place.
    pub fn finish(mut self, meta: &EntryMeta) -> io::Result<()> {
        let mut meta = meta.clone();
        meta.body_len = self.body_len;
        let encoded = meta.encode();
        if encoded.len() != self.meta_len {
            self.abort();
            return Err(invalid("meta changed length while writing"));
        }
        let header = EntryMeta::record_header(&encoded, self.body_len, self.crc.finish());
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header.encode())?;
        self.file.write_all(&encoded)?;
        self.file.sync_all()?;
        fs::rename(&self.tmp, &self.target)?;
        // Make the rename itself durable.
        if let Ok(directory) = File::open(&self.objects) {
            let _ = directory.sync_all();
        }
        Ok(())
    }

    /// Gives up: deletes the temporary file.
    pub fn abort(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_cache::freshness::from_unix_seconds;

    fn meta(key: &str) -> EntryMeta {
        EntryMeta {
            key: key.into(),
            variant: vec![],
            status: 200,
            reason: "OK".into(),
            fields: [("Content-Type", "text/plain")].into_iter().collect(),
            request_time: from_unix_seconds(1_700_000_000),
            response_time: from_unix_seconds(1_700_000_001),
            age_value: 0,
            body_len: 0,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("web-proxy-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_reopen_and_reject_torn_records() {
        let dir = temp_dir("torn");
        let (store, loaded) = DiskStore::open(&dir).unwrap();
        assert!(loaded.is_empty());
        store.write(1, &meta("GET http://h/a"), b"hello").unwrap();
        let big = vec![7u8; (SMALL_BODY + 10) as usize];
        store.write(2, &meta("GET http://h/big"), &big).unwrap();
        store
            .write(3, &meta("GET http://h/torn"), b"world")
            .unwrap();
        // Tear record 3 (as a crash mid-write of a non-atomic writer would) and leave a stray
        // temporary file as an interrupted write does.
        let torn = store.path(3);
        let len = fs::metadata(&torn).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        fs::write(dir.join("tmp").join("0000000000000009.tmp"), b"partial").unwrap();
        drop(store);

        let (store, mut loaded) = DiskStore::open(&dir).unwrap();
        loaded.sort_by_key(|record| record.id);
        assert_eq!(
            loaded.iter().map(|record| record.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(loaded[0].body.as_deref(), Some(&b"hello"[..]));
        assert_eq!(loaded[1].meta.body_len, big.len() as u64);
        assert!(loaded[1].body.is_none());
        assert!(!torn.exists());
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        let (mut file, header) = store.open_body(2).unwrap();
        let mut body = Vec::new();
        file.read_to_end(&mut body).unwrap();
        assert_eq!(body, big);
        assert_eq!(http_cache::entry::crc32(&body), header.body_crc);

        let mut updated = meta("GET http://h/big");
        updated.fields.append("X-New", "1");
        updated.body_len = big.len() as u64;
        store.rewrite(2, 4, &updated).unwrap();
        store.remove(2);
        let (_, loaded) = DiskStore::open(&dir).unwrap();
        assert!(loaded
            .iter()
            .any(|record| record.id == 4 && record.meta.fields.len() == 2));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupted_small_body_is_dropped() {
        let dir = temp_dir("flip");
        let (store, _) = DiskStore::open(&dir).unwrap();
        store.write(5, &meta("GET http://h/x"), b"abcdef").unwrap();
        let path = store.path(5);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        let (_, loaded) = DiskStore::open(&dir).unwrap();
        assert!(loaded.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
