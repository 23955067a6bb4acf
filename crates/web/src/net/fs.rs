//! File access for the origin server: opening files safely under a root, reading ranges,
//! directory listings, and atomic uploads (temporary file + rename).

use crate::files::{FileInfo, ListingEntry};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a request path names under a root.
pub(super) enum Opened {
    /// A regular file, possibly shared with the open-file cache (read it with [`read_at`]),
    /// and its whole contents if it is small (up to [`CONTENT_MAX`] bytes).
    File(Arc<File>, FileInfo, Option<Arc<CachedBody>>),
    Dir(PathBuf),
    Missing,
    /// It exists but resolves outside the root (a symlink out) or cannot be read.
    Forbidden,
    /// It could not be opened for a reason of the server's own (out of file descriptors or
    /// memory, an I/O error): a 500, never a 404 a cache would keep.
    Failed(std::io::Error),
}

/// The real path of an open file, from `/proc/self/fd` (one syscall instead of one per
/// path component).
fn real_path(file: &File, fallback: &Path) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()
        .or_else(|| std::fs::canonicalize(fallback).ok())
}

/// FNV-1a: the caches' keys are short (paths, inode numbers) and hashed on every request,
/// where SipHash cost more than the lookup. Only files that exist are inserted, and the maps
/// are bounded, so keys chosen by clients cannot grow a bucket.
#[derive(Clone, Copy)]
struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Fnv = std::hash::BuildHasherDefault<FnvHasher>;

/// (device, inode) to (when checked, under which root).
type InsideMap = HashMap<(u64, u64), (Instant, PathBuf), Fnv>;

impl Default for FnvHasher {
    fn default() -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// Files (by device and inode) recently found to lie under a root, so that the real-path
/// check costs a syscall only on the first request for a file. A symlink swapped in later
/// leads to another inode, which is checked afresh; entries expire after a few seconds so a
/// file moved out of the root is not served through a new link for long.
pub(super) struct InsideCache {
    entries: Mutex<InsideMap>,
}

const INSIDE_TTL: Duration = Duration::from_secs(2);
const INSIDE_MAX: usize = 10_000;

impl InsideCache {
    pub(super) fn new() -> InsideCache {
        InsideCache {
            entries: Mutex::new(HashMap::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InsideMap> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn holds(&self, key: (u64, u64), root: &Path, now: Instant) -> bool {
        self.lock().get(&key).is_some_and(|(at, cached_root)| {
            now.duration_since(*at) < INSIDE_TTL && cached_root == root
        })
    }

    fn insert(&self, key: (u64, u64), root: &Path, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= INSIDE_MAX {
            entries.clear();
        }
        entries.insert(key, (now, root.to_path_buf()));
    }
}

/// Regular files kept open by path, with the contents of small ones (what nginx's
/// `open_file_cache` does, plus the bytes), so that a file asked for again costs one `fstat`
/// of the open descriptor instead of `open`, `fstat`, a read and `close`.
///
/// Freshness: every use checks the descriptor's own metadata, so a file rewritten in place
/// (new size or modification time), replaced by a rename or removed (its link count drops to
/// zero) is seen at once; cached contents are used only while size, modification and change
/// times are those they were read with. Once a second per entry the path itself is looked up
/// again (`stat`) and the bytes are read again, which catches what the descriptor cannot
/// see: a symlink pointed elsewhere, a file moved away while another takes its name, a
/// rewrite of the same size within one timestamp tick. The cache holds a bounded number of
/// descriptors and at most [`CONTENT_MAX`] bytes of contents per file.
pub(super) struct OpenCache {
    entries: Mutex<HashMap<PathBuf, CachedFile, Fnv>>,
}

struct CachedFile {
    file: Arc<File>,
    dev: u64,
    ino: u64,
    mode: u32,
    /// When the path was last checked to name this inode.
    at: Instant,
    content: Option<Content>,
}

/// A small file's bytes and the metadata they were read with.
struct Content {
    version: Version,
    body: Arc<CachedBody>,
}

/// A small file's contents as served from the open-file cache.
pub(super) struct CachedBody {
    /// The file as it was when the bytes were read.
    pub(super) info: FileInfo,
    pub(super) bytes: Box<[u8]>,
    /// The encoded header fields of a plain `200 OK` for these bytes (everything the file
    /// decides: type, length, validators), made by the first such response.
    pub(super) head: std::sync::OnceLock<Box<[u8]>>,
}

/// What must not change for cached bytes to stay valid.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(metadata: &std::fs::Metadata) -> Version {
        Version {
            len: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// Files up to this size are kept in memory by the open-file cache.
pub(super) const CONTENT_MAX: u64 = 64 * 1024;
/// How often a cached entry's path is looked up again.
const PATH_RECHECK: Duration = Duration::from_secs(1);
const OPEN_MAX: usize = 128;

impl OpenCache {
    pub(super) fn new() -> OpenCache {
        OpenCache {
            entries: Mutex::new(HashMap::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, CachedFile, Fnv>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fast path: an entry whose path was checked within the last second, validated by
    /// the metadata of its open descriptor.
    fn recent(&self, path: &Path, now: Instant) -> Option<Opened> {
        let file = {
            let entries = self.lock();
            let entry = entries.get(path)?;
            if now.duration_since(entry.at) >= PATH_RECHECK {
                return None;
            }
            entry.file.clone()
        };
        let metadata = file.metadata().ok()?;
        let mut entries = self.lock();
        let entry = entries.get(path)?;
        if !Arc::ptr_eq(&entry.file, &file)
            || !same_inode(entry, &metadata)
            || metadata.nlink() == 0
            || !metadata.is_file()
        {
            entries.remove(path);
            return None;
        }
        let version = Version::of(&metadata);
        let content = entry
            .content
            .as_ref()
            .filter(|content| content.version == version)
            .map(|content| content.body.clone());
        Some(Opened::File(file, file_info(&metadata), content))
    }

    /// The cached descriptor for `path` if it still names the inode `metadata` describes
    /// (the path was just looked up), with contents still valid for that metadata.
    fn get(&self, path: &Path, metadata: &std::fs::Metadata, now: Instant) -> Option<Opened> {
        let mut entries = self.lock();
        let entry = entries.get_mut(path)?;
        if same_inode(entry, metadata) {
            entry.at = now;
            // The bytes are read again at each path check: a rewrite that kept the size and
            // fell in the same timestamp tick is not served for more than a second.
            entry.content = None;
            return Some(Opened::File(entry.file.clone(), file_info(metadata), None));
        }
        entries.remove(path);
        None
    }

    fn insert(&self, path: PathBuf, file: &Arc<File>, metadata: &std::fs::Metadata, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= OPEN_MAX {
            entries.retain(|_, entry| now.duration_since(entry.at) < PATH_RECHECK * 5);
            if entries.len() >= OPEN_MAX {
                return;
            }
        }
        entries.insert(
            path,
            CachedFile {
                file: file.clone(),
                dev: metadata.dev(),
                ino: metadata.ino(),
                mode: metadata.mode(),
                at: now,
                content: None,
            },
        );
    }

    /// Keeps `bytes`, read from the file at `path` whose metadata is `metadata`.
    fn keep_content(&self, path: &Path, metadata: &std::fs::Metadata, body: Arc<CachedBody>) {
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(path) {
            if same_inode(entry, metadata) {
                entry.content = Some(Content {
                    version: Version::of(metadata),
                    body,
                });
            }
        }
    }
}

fn same_inode(entry: &CachedFile, metadata: &std::fs::Metadata) -> bool {
    entry.dev == metadata.dev() && entry.ino == metadata.ino() && entry.mode == metadata.mode()
}

fn file_info(metadata: &std::fs::Metadata) -> FileInfo {
    FileInfo {
        len: metadata.len(),
        modified: metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
    }
}

/// Opens `root/relative`; `root` is canonical. Anything that resolves outside the root
/// (symlinks out of it) is refused. A small file comes with its contents.
pub(super) fn open(
    root: &Path,
    relative: &Path,
    inside: &InsideCache,
    cache: &OpenCache,
) -> Opened {
    let path = root.join(relative);
    let now = Instant::now();
    let opened = match cache.recent(&path, now) {
        Some(opened) => opened,
        None => open_path(root, &path, now, inside, cache),
    };
    match opened {
        Opened::File(file, info, None) if info.len <= CONTENT_MAX => {
            match read_content(&file, &path, cache) {
                // The metadata the bytes were read with, in case the file changed meanwhile.
                Some(body) => Opened::File(file, body.info.clone(), Some(body)),
                None => Opened::File(file, info, None),
            }
        }
        other => other,
    }
}

/// Reads a small file whole and keeps the bytes in the cache when they match its metadata.
fn read_content(file: &File, path: &Path, cache: &OpenCache) -> Option<Arc<CachedBody>> {
    let metadata = file.metadata().ok()?;
    let len = metadata.len();
    if len > CONTENT_MAX {
        return None;
    }
    let mut bytes = vec![0u8; len as usize];
    let got = read_at(file, 0, &mut bytes).ok()?;
    if got as u64 != len {
        return None;
    }
    let body = Arc::new(CachedBody {
        info: file_info(&metadata),
        bytes: bytes.into(),
        head: std::sync::OnceLock::new(),
    });
    // Kept only if nothing changed while reading.
    if file
        .metadata()
        .is_ok_and(|after| Version::of(&after) == Version::of(&metadata))
    {
        cache.keep_content(path, &metadata, body.clone());
    }
    Some(body)
}

fn open_path(
    root: &Path,
    path: &Path,
    now: Instant,
    inside: &InsideCache,
    cache: &OpenCache,
) -> Opened {
    // The path still names a regular file we hold open and know to be inside.
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.is_file() && inside.holds((metadata.dev(), metadata.ino()), root, now) {
            if let Some(opened) = cache.get(path, &metadata, now) {
                return opened;
            }
        }
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return open_failure(error),
    };
    let metadata = match file.metadata() {
        Ok(metadata) => metadata,
        Err(error) => return Opened::Failed(error),
    };
    let key = (metadata.dev(), metadata.ino());
    if !inside.holds(key, root, now) {
        match real_path(&file, path) {
            Some(real) if real.starts_with(root) => inside.insert(key, root, now),
            _ => return Opened::Forbidden,
        }
    }
    if metadata.is_dir() {
        return Opened::Dir(path.to_path_buf());
    }
    if !metadata.is_file() {
        return Opened::Forbidden;
    }
    let file = Arc::new(file);
    cache.insert(path.to_path_buf(), &file, &metadata, now);
    Opened::File(file, file_info(&metadata), None)
}

/// What a failed `open` means for the client: no such file (404), not to be read (404, as
/// for a path outside the root), or a failure of the server's own (500).
fn open_failure(error: std::io::Error) -> Opened {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename => {
            Opened::Missing
        }
        ErrorKind::PermissionDenied => Opened::Forbidden,
        // ELOOP: a symlink loop (its ErrorKind is not stable yet).
        _ if error.raw_os_error() == Some(40) => Opened::Forbidden,
        _ => Opened::Failed(error),
    }
}

/// Reads up to `buf.len()` bytes at `offset`.
pub(super) fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while filled < buf.len() {
        // pread: no separate seek.
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The visible entries of a directory (hidden names left out).
pub(super) fn list(dir: &Path) -> std::io::Result<Vec<ListingEntry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let metadata = entry.metadata()?;
        entries.push(ListingEntry {
            name,
            is_dir: metadata.is_dir(),
            len: metadata.len(),
        });
    }
    Ok(entries)
}

static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// An upload in progress: a hidden temporary file next to the target, renamed over it when
/// the body is complete, removed if it is not.
pub(super) struct Upload {
    temp: PathBuf,
    target: PathBuf,
    file: Option<File>,
    pub(super) existed: bool,
}

impl Upload {
    /// Starts an upload to `root/relative`: the parent directory must exist under the root,
    /// and the target must not be a directory.
    pub(super) fn start(root: &Path, relative: &Path) -> Result<Upload, http_proto::StatusCode> {
        use http_proto::StatusCode;
        let target = root.join(relative);
        let parent = target.parent().ok_or(StatusCode::FORBIDDEN)?;
        let real_parent = std::fs::canonicalize(parent).map_err(|_| StatusCode::CONFLICT)?;
        if !real_parent.starts_with(root) || !real_parent.is_dir() {
            return Err(StatusCode::CONFLICT);
        }
        let existed = match std::fs::symlink_metadata(&target) {
            Ok(metadata) if metadata.is_dir() => return Err(StatusCode::METHOD_NOT_ALLOWED),
            Ok(metadata) if metadata.file_type().is_symlink() => return Err(StatusCode::FORBIDDEN),
            Ok(_) => true,
            Err(_) => false,
        };
        let name = target.file_name().ok_or(StatusCode::FORBIDDEN)?;
        let temp = real_parent.join(format!(
            ".put-{}-{}-{}.tmp",
            std::process::id(),
            UPLOADS.fetch_add(1, Ordering::Relaxed),
            name.len()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(Upload {
            temp,
            target: real_parent.join(name),
            file: Some(file),
            existed,
        })
    }

    pub(super) fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(data),
            None => Err(std::io::Error::other("upload already finished")),
        }
    }

    /// Makes the upload visible: flush, then rename over the target (atomic on one file
    /// system, so readers see the old or the new file, never a partial one).
    pub(super) fn commit(mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_data()?;
        }
        std::fs::rename(&self.temp, &self.target)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Not committed: remove the partial temporary file.
        if self.file.is_some() || self.temp.exists() {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Removes `root/relative` (a file only).
pub(super) fn delete(root: &Path, relative: &Path) -> http_proto::StatusCode {
    use http_proto::StatusCode;
    let target = root.join(relative);
    let Ok(real_parent) = target.parent().map(std::fs::canonicalize).transpose() else {
        return StatusCode::NOT_FOUND;
    };
    if real_parent.is_none_or(|p| !p.starts_with(root)) {
        return StatusCode::NOT_FOUND;
    }
    match std::fs::symlink_metadata(&target) {
        Err(_) => StatusCode::NOT_FOUND,
        Ok(metadata) if metadata.is_dir() => StatusCode::METHOD_NOT_ALLOWED,
        Ok(_) => match std::fs::remove_file(&target) {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(_) => StatusCode::FORBIDDEN,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_failures_map_to_missing_forbidden_or_the_servers_own() {
        let kind = |errno: i32| match open_failure(std::io::Error::from_raw_os_error(errno)) {
            Opened::Missing => "missing",
            Opened::Forbidden => "forbidden",
            Opened::Failed(_) => "failed",
            _ => "other",
        };
        // ENOENT, ENOTDIR, ENAMETOOLONG: no such file.
        assert_eq!([kind(2), kind(20), kind(36)], ["missing"; 3]);
        // EACCES, ELOOP: not to be read.
        assert_eq!([kind(13), kind(40)], ["forbidden"; 2]);
        // EMFILE, ENFILE, ENOMEM, EIO: the server's own failure, never a 404.
        assert_eq!([kind(24), kind(23), kind(12), kind(5)], ["failed"; 4]);
    }

    fn read_all(opened: Opened) -> (Vec<u8>, u64) {
        let Opened::File(file, info, content) = opened else {
            panic!("not a file");
        };
        let mut buf = vec![0u8; info.len as usize];
        let got = read_at(&file, 0, &mut buf).unwrap();
        buf.truncate(got);
        // Small files come with their contents, which must be the file's current bytes.
        assert_eq!(
            content.as_ref().map(|body| &body.bytes[..]),
            Some(&buf[..]),
            "cached contents are stale"
        );
        (buf, info.len)
    }

    #[test]
    fn open_file_cache_follows_rewrites_replacements_and_removals() {
        let dir = std::env::temp_dir().join(format!("web-fs-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        let (inside, cache) = (InsideCache::new(), OpenCache::new());
        let name = Path::new("a.txt");
        std::fs::write(root.join(name), b"first").unwrap();
        assert_eq!(read_all(open(&root, name, &inside, &cache)).0, b"first");
        // Served again from the cache.
        assert_eq!(read_all(open(&root, name, &inside, &cache)).0, b"first");
        // Rewritten in place (same inode): new length and contents.
        std::fs::write(root.join(name), b"second, longer").unwrap();
        assert_eq!(
            read_all(open(&root, name, &inside, &cache)),
            (b"second, longer".to_vec(), 14)
        );
        // Replaced by rename (a new inode), as our PUT does.
        std::fs::write(root.join("b.tmp"), b"third").unwrap();
        std::fs::rename(root.join("b.tmp"), root.join(name)).unwrap();
        assert_eq!(read_all(open(&root, name, &inside, &cache)).0, b"third");
        // Removed.
        std::fs::remove_file(root.join(name)).unwrap();
        assert!(matches!(
            open(&root, name, &inside, &cache),
            Opened::Missing
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
