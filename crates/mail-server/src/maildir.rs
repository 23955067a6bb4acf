//! Local mailboxes in Maildir format (cr.yp.to/proto/maildir.html, with Dovecot's `,S=` size
//! field), one per user under `ROOT/DOMAIN/USER/`: a message is written to `tmp/`, fsynced,
//! renamed into `new/`, and `new/` is fsynced before delivery counts as done. Folders are
//! Maildir++ (Courier's and Dovecot's layout): `.Sent/`, `.Lists.rust/` beside the INBOX's
//! `new/`, `cur/` and `tmp/`, each a Maildir with a `maildirfolder` marker file; `.` separates
//! levels of the hierarchy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors of the mail store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A user or domain name that cannot be a directory name.
    #[error("{0:?} cannot name a mailbox")]
    BadName(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The root of every mailbox.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// One user's Maildir.
#[derive(Clone, Debug)]
pub struct Mailbox {
    dir: PathBuf,
}

/// What makes a delivered file's name unique (passed in: the store reads no clock).
#[derive(Clone, Debug)]
pub struct UniqueParts {
    /// The delivery time.
    pub time: SystemTime,
    /// Our process id.
    pub pid: u32,
    /// Our host name.
    pub host: String,
}

/// A name is safe as one directory level: no separators, no dot files, no `..`.
fn safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name
            .bytes()
            .any(|byte| byte == b'/' || byte == b'\\' || byte == 0 || byte.is_ascii_control())
}

/// Maildir's unique name: `SECS.MmicrosPpidQcount.host,S=size` (the host's `/` and `:`
/// escaped as `\057` and `\072`).
pub(crate) fn unique_name(unique: &UniqueParts, size: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let elapsed = unique.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let host = unique.host.replace('/', "\\057").replace(':', "\\072");
    format!(
        "{}.M{}P{}Q{}.{host},S={size}",
        elapsed.as_secs(),
        elapsed.subsec_micros(),
        unique.pid,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The folders every mailbox has from the start, for the special uses of RFC 6154 (Dovecot's
/// `auto = create` in its example configuration).
pub const SPECIAL_FOLDERS: [&str; 4] = ["Drafts", "Sent", "Trash", "Junk"];

/// A folder name is safe: levels separated by `.`, each a safe directory-name part, not INBOX
/// (which is the Maildir itself).
pub fn folder_name_ok(name: &str) -> bool {
    name.len() <= 200
        && !name.eq_ignore_ascii_case("inbox")
        && name
            .split('.')
            .all(|level| safe(level) && !level.contains(['~', '*', '%']))
}

/// Makes `dir` a Maildir: `tmp/`, `new/`, `cur/`.
fn make_maildir(dir: &Path) -> Result<(), StoreError> {
    for sub in ["tmp", "new", "cur"] {
        let path = dir.join(sub);
        if !path.is_dir() {
            fs::create_dir_all(&path).map_err(io_error(&path))?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(root).map_err(io_error(root))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The Maildir of `local@domain`, created on first use.
    pub fn mailbox(&self, domain: &str, local: &str) -> Result<Mailbox, StoreError> {
        let domain = domain.to_ascii_lowercase();
        let local = local.to_ascii_lowercase();
        for name in [&domain, &local] {
            if !safe(name) {
                return Err(StoreError::BadName(name.clone()));
            }
        }
        let dir = self.root.join(domain).join(local);
        let fresh = !dir.join("cur").is_dir();
        make_maildir(&dir)?;
        let mailbox = Mailbox { dir };
        if fresh {
            for folder in SPECIAL_FOLDERS {
                mailbox.create_folder(folder)?;
            }
        }
        Ok(mailbox)
    }
}

impl Mailbox {
    /// The Maildir at `dir` (a user agent's own, as `mail fetch --maildir` fills), created
    /// when missing.
    pub fn at(dir: &Path) -> Result<Mailbox, StoreError> {
        make_maildir(dir)?;
        Ok(Mailbox {
            dir: dir.to_path_buf(),
        })
    }

    /// The Maildir's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The directory of `folder` (a Maildir++ `.NAME`), or of the INBOX for None.
    pub fn folder_path(&self, folder: Option<&str>) -> Result<PathBuf, StoreError> {
        match folder {
            None => Ok(self.dir.clone()),
            Some(name) if folder_name_ok(name) => Ok(self.dir.join(format!(".{name}"))),
            Some(name) => Err(StoreError::BadName(format!("folder {name}"))),
        }
    }

    /// Whether `folder` exists.
    pub fn has_folder(&self, folder: &str) -> bool {
        self.folder_path(Some(folder))
            .is_ok_and(|path| path.join("cur").is_dir())
    }

    /// Creates `folder` (and the levels above it, as Dovecot does), with its marker file.
    pub fn create_folder(&self, folder: &str) -> Result<(), StoreError> {
        let mut name = String::new();
        for level in folder.split('.') {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(level);
            let path = self.folder_path(Some(&name))?;
            make_maildir(&path)?;
            let marker = path.join("maildirfolder");
            if !marker.exists() {
                File::create(&marker).map_err(io_error(&marker))?;
            }
        }
        Ok(())
    }

    /// The folders (not the INBOX), sorted.
    pub fn folders(&self) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(folder) = name.strip_prefix('.') {
                if folder_name_ok(folder) && entry.path().join("cur").is_dir() {
                    found.push(folder.to_string());
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Delivers `message` into `new/` of the INBOX or of `folder` (created when missing);
    /// when this returns, the message survives a crash. Nothing half-written is ever visible
    /// in `new/`.
    pub fn deliver(
        &self,
        folder: Option<&str>,
        message: &[u8],
        unique: &UniqueParts,
    ) -> Result<PathBuf, StoreError> {
        let dir = self.folder_path(folder)?;
        if let Some(folder) = folder {
            if !self.has_folder(folder) {
                self.create_folder(folder)?;
            }
        }
        let name = unique_name(unique, message.len());
        let tmp = dir.join("tmp").join(&name);
        let target = dir.join("new").join(&name);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_error(&tmp))?;
            file.write_all(message)
                .and_then(|()| file.sync_all())
                .map_err(io_error(&tmp))?;
            fs::rename(&tmp, &target).map_err(io_error(&target))?;
            let new = dir.join("new");
            File::open(&new)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error(&new))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| target)
    }

    /// The messages in `new/` and `cur/`, oldest first, as paths.
    pub fn messages(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let path = self.dir.join(sub);
            for entry in fs::read_dir(&path).map_err(io_error(&path))? {
                let entry = entry.map_err(io_error(&path))?;
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    found.push(entry.path());
                }
            }
        }
        found.sort_by_key(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let seconds: u64 = name
                .split('.')
                .next()
                .and_then(|secs| secs.parse().ok())
                .unwrap_or(0);
            (seconds, name)
        });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique() -> UniqueParts {
        UniqueParts {
            time: UNIX_EPOCH + std::time::Duration::from_micros(1_800_000_000_123_456),
            pid: 42,
            host: "mail/hamburger:edu".into(),
        }
    }

    #[test]
    fn names_are_maildir_names() {
        let name = unique_name(&unique(), 1234);
        assert!(name.starts_with("1800000000.M123456P42Q"), "{name}");
        assert!(
            name.ends_with(".mail\\057hamburger\\072edu,S=1234"),
            "{name}"
        );
        assert_ne!(unique_name(&unique(), 1), unique_name(&unique(), 1));
    }

    #[test]
    fn deliveries_land_in_new_and_unsafe_names_are_refused() {
        let root = std::env::temp_dir().join(format!("maildir-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let bob = store.mailbox("Hamburger.EDU", "bob").unwrap();
        for i in 0..5 {
            bob.deliver(
                None,
                format!("Subject: {i}\r\n\r\nbody\r\n").as_bytes(),
                &unique(),
            )
            .unwrap();
        }
        let messages = bob.messages().unwrap();
        assert_eq!(messages.len(), 5);
        assert!(messages
            .iter()
            .all(|path| path.parent().unwrap().ends_with("new")));
        assert_eq!(fs::read_dir(bob.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(bob.path(), root.join("hamburger.edu").join("bob"));
        for (domain, local) in [
            ("..", "bob"),
            ("a/b", "bob"),
            ("x", ".hidden"),
            ("x", ""),
            ("x", "a\0b"),
        ] {
            assert!(store.mailbox(domain, local).is_err(), "{domain} {local}");
        }
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn folders_are_maildir_plus_plus() {
        let root = std::env::temp_dir().join(format!("maildir-folders-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let bob = store.mailbox("hamburger.edu", "bob").unwrap();
        assert_eq!(bob.folders().unwrap(), ["Drafts", "Junk", "Sent", "Trash"]);
        assert!(bob.path().join(".Sent/maildirfolder").is_file());
        let path = bob
            .deliver(Some("Lists.rust"), b"Subject: x\r\n\r\nx\r\n", &unique())
            .unwrap();
        assert!(
            path.starts_with(bob.path().join(".Lists.rust/new")),
            "{path:?}"
        );
        assert!(bob.has_folder("Lists"), "the parent level is made too");
        assert_eq!(
            bob.folders().unwrap(),
            ["Drafts", "Junk", "Lists", "Lists.rust", "Sent", "Trash"]
        );
        // The INBOX has nothing: the message went to the folder only.
        assert!(bob.messages().unwrap().is_empty());
        for bad in ["", "..", "a..b", ".x", "a/b", "INBOX", "x\0", "a.*", "%"] {
            assert!(bob.deliver(Some(bad), b"x", &unique()).is_err(), "{bad:?}");
            assert!(!folder_name_ok(bad), "{bad:?}");
        }
        // A second open does not re-create folders the user deleted.
        fs::remove_dir_all(bob.path().join(".Junk")).unwrap();
        let again = store.mailbox("hamburger.edu", "bob").unwrap();
        assert!(!again.has_folder("Junk"));
        let _ = fs::remove_dir_all(&root);
    }
}
