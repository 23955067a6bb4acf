//! The IMAP view of a Maildir folder: UIDs and flags (RFC 3501 §2.3). The Maildir on disk is
//! the truth, in Dovecot's layout: flags live in the file name's info part (`:2,` and the
//! sorted letters D F P R S T), messages seen in `new/` are moved to `cur/`. Per folder, the
//! file `applayer-uidlist` keeps UIDVALIDITY, UIDNEXT and the UID of each base name (the file
//! name up to `:`), rewritten crash-safely (temporary file, fsync, rename, directory fsync),
//! so UIDs survive restarts.
//!
//! [`scan`] rereads the directory each time a session needs fresh state, so deliveries, POP3
//! deletions and other agents renaming, moving or deleting files are all seen: a base name
//! that vanished is expunged, a new one gets the next UID, a renamed info part changes flags.
//! Callers in one process serialise scans of one folder (a mutex per folder).

use crate::maildir::{unique_name, StoreError, UniqueParts};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The UID list's file name inside a folder's directory.
pub const UIDLIST: &str = "applayer-uidlist";

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The Maildir flag letters and their IMAP system flags, in Maildir's sorted order.
const FLAG_LETTERS: [(char, &str); 5] = [
    ('D', "\\Draft"),
    ('F', "\\Flagged"),
    ('R', "\\Answered"),
    ('S', "\\Seen"),
    ('T', "\\Deleted"),
];

/// One message of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its UID.
    pub uid: u32,
    /// The file name up to `:` (stable across flag changes).
    pub base: String,
    /// The file's current path.
    pub path: PathBuf,
    /// The Maildir flag letters (sorted, as in the file name; `P` kept though IMAP has none).
    pub letters: String,
}

impl Message {
    /// The IMAP system flags of the message, in Maildir order.
    pub fn flags(&self) -> Vec<&'static str> {
        FLAG_LETTERS
            .iter()
            .filter(|(letter, _)| self.letters.contains(*letter))
            .map(|(_, flag)| *flag)
            .collect()
    }

    /// Whether the message has `flag` (`\Seen` ...; case-insensitive).
    pub fn has(&self, flag: &str) -> bool {
        letter_of(flag).is_some_and(|letter| self.letters.contains(letter))
    }
}

/// The Maildir letter of an IMAP system flag (`None` for keywords and `\Recent`).
pub fn letter_of(flag: &str) -> Option<char> {
    FLAG_LETTERS
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(flag))
        .map(|(letter, _)| *letter)
}

/// The sorted, deduplicated letters of `flags`, keeping the non-IMAP letters of `keep`
/// (`P`, lower-case keyword letters).
pub fn letters_for(flags: &[String], keep: &str) -> String {
    let mut letters: Vec<char> = keep
        .chars()
        .filter(|letter| !FLAG_LETTERS.iter().any(|(known, _)| known == letter))
        .chain(flags.iter().filter_map(|flag| letter_of(flag)))
        .collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// A folder as scanned: UIDVALIDITY, UIDNEXT and its messages in UID order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// The folder's directory (the INBOX's Maildir or a `.NAME` one).
    pub dir: PathBuf,
    /// UIDVALIDITY.
    pub validity: u32,
    /// UIDNEXT.
    pub next: u32,
    /// The messages, in ascending UID order.
    pub messages: Vec<Message>,
}

impl Folder {
    /// The message with `uid`.
    pub fn by_uid(&self, uid: u32) -> Option<&Message> {
        self.messages
            .binary_search_by_key(&uid, |message| message.uid)
            .ok()
            .and_then(|index| self.messages.get(index))
    }
}

/// Splits a file name into base and flag letters (`base:2,FS`); names without an info part
/// have no flags.
fn split_name(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((base, info)) => (base, info.strip_prefix("2,").unwrap_or("")),
        None => (name, ""),
    }
}

struct UidList {
    validity: u32,
    next: u32,
    uids: HashMap<String, u32>,
}

fn read_uidlist(dir: &Path) -> Option<UidList> {
    let text = fs::read_to_string(dir.join(UIDLIST)).ok()?;
    let mut lines = text.lines();
    let mut header = lines.next()?.split(' ');
    let validity = header.next()?.strip_prefix('V')?.parse().ok()?;
    let next = header.next()?.strip_prefix('N')?.parse().ok()?;
    let mut uids = HashMap::new();
    for line in lines {
        let Some((uid, base)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            if uid > 0 && uid < next {
                uids.insert(base.to_string(), uid);
            }
        }
    }
    Some(UidList {
        validity,
        next,
        uids,
    })
}

/// Writes the UID list crash-safely: a temporary file, fsync, rename, directory fsync.
fn write_uidlist(dir: &Path, folder: &Folder) -> Result<(), StoreError> {
    let mut text = format!("V{} N{}\n", folder.validity, folder.next);
    for message in &folder.messages {
        text.push_str(&format!("{} {}\n", message.uid, message.base));
    }
    let tmp = dir.join(format!("{UIDLIST}.tmp"));
    let target = dir.join(UIDLIST);
    (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    })()
    .map_err(io_error(&target))
}

/// Rescans the folder at `dir`: moves `new/` messages to `cur/` (when `claim_new`), gives
/// unseen base names the next UIDs (oldest delivery first), drops vanished ones, and writes
/// the UID list when it changed. `validity` is the UIDVALIDITY for a folder that has no
/// list yet (the caller derives it from the clock).
pub fn scan(dir: &Path, claim_new: bool, validity: u32) -> Result<Folder, StoreError> {
    let list = read_uidlist(dir);
    let mut changed = list.is_none();
    let mut list = list.unwrap_or(UidList {
        validity: validity.max(1),
        next: 1,
        uids: HashMap::new(),
    });
    let mut found: Vec<(String, String, PathBuf)> = Vec::new();
    for sub in ["new", "cur"] {
        let path = dir.join(sub);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(io_error(&path)(error)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let mut file = entry.path();
            let (base, letters) = split_name(&name);
            let (base, letters) = (base.to_string(), letters.to_string());
            if sub == "new" && claim_new {
                let target = dir.join("cur").join(format!("{base}:2,{letters}"));
                match fs::rename(&file, &target) {
                    Ok(()) => file = target,
                    // Another session or agent moved it first: the cur/ listing may miss
                    // it this time; the next scan sees it.
                    Err(_) => continue,
                }
            }
            found.push((base, letters, file));
        }
    }
    // Oldest delivery first (Maildir names start with the seconds), then by name.
    found.sort_by(|a, b| {
        let seconds = |name: &str| -> u64 {
            name.split('.')
                .next()
                .and_then(|secs| secs.parse().ok())
                .unwrap_or(0)
        };
        (seconds(&a.0), &a.0).cmp(&(seconds(&b.0), &b.0))
    });
    found.dedup_by(|a, b| a.0 == b.0);
    let mut messages = Vec::with_capacity(found.len());
    for (base, letters, path) in found {
        let uid = match list.uids.get(&base) {
            Some(&uid) => uid,
            None => {
                let uid = list.next;
                list.next = list.next.saturating_add(1);
                changed = true;
                uid
            }
        };
        messages.push(Message {
            uid,
            base,
            path,
            letters,
        });
    }
    messages.sort_by_key(|message| message.uid);
    if messages.len() != list.uids.len() {
        changed = true;
    }
    let folder = Folder {
        dir: dir.to_path_buf(),
        validity: list.validity,
        next: list.next,
        messages,
    };
    if changed {
        write_uidlist(dir, &folder)?;
    }
    Ok(folder)
}

/// Gives `message` the flag `letters` by renaming it into `cur/`; returns the new path.
/// `None` when the file is gone (expunged or moved by another agent).
pub fn set_letters(
    dir: &Path,
    message: &Message,
    letters: &str,
) -> Result<Option<PathBuf>, StoreError> {
    let target = dir
        .join("cur")
        .join(format!("{}:2,{letters}", message.base));
    if target == message.path {
        return Ok(Some(target));
    }
    match fs::rename(&message.path, &target) {
        Ok(()) => Ok(Some(target)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error(&target)(error)),
    }
}

/// Stores `bytes` as a new message of the folder at `dir` with flag `letters` (APPEND, COPY):
/// written to `tmp/`, fsynced, renamed into `cur/`, `cur/` fsynced. Returns the base name;
/// the next [`scan`] gives it its UID.
pub fn add(
    dir: &Path,
    bytes: &[u8],
    letters: &str,
    unique: &UniqueParts,
) -> Result<String, StoreError> {
    let base = unique_name(unique, bytes.len());
    let tmp = dir.join("tmp").join(&base);
    let target = dir.join("cur").join(format!("{base}:2,{letters}"));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir.join("cur"))?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(&target))?;
    Ok(base)
}

/// Removes `message` (EXPUNGE); a file already gone is fine.
pub fn remove(message: &Message) -> Result<(), StoreError> {
    match fs::remove_file(&message.path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(io_error(&message.path)(error))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn unique(seconds: u64) -> UniqueParts {
        UniqueParts {
            time: UNIX_EPOCH + Duration::from_secs(seconds),
            pid: 7,
            host: "mail.hamburger.edu".into(),
        }
    }

    fn maildir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("imap-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        dir
    }

    #[test]
    fn uids_flags_and_restarts() {
        let dir = maildir("uids");
        fs::write(dir.join("new/1000.M1P1.host,S=3"), "a\r\n").expect("write");
        fs::write(dir.join("cur/999.M1P1.host,S=3:2,S"), "b\r\n").expect("write");
        let folder = scan(&dir, true, 4242).expect("scan");
        assert_eq!((folder.validity, folder.next), (4242, 3));
        assert_eq!(folder.messages[0].base, "999.M1P1.host,S=3");
        assert_eq!(folder.messages[0].flags(), ["\\Seen"]);
        assert_eq!(folder.messages[1].uid, 2);
        assert!(
            dir.join("cur/1000.M1P1.host,S=3:2,").exists(),
            "claimed from new/"
        );
        // Flags by rename; another agent deletes one and delivers one.
        let letters = letters_for(&["\\Flagged".into(), "\\Seen".into()], "P");
        assert_eq!(letters, "FPS");
        set_letters(&dir, &folder.messages[1], &letters).expect("rename");
        fs::remove_file(&folder.messages[0].path).expect("rm");
        add(&dir, b"c\r\n", "", &unique(2000)).expect("add");
        // A restart: a different validity seed does not matter, UIDs are kept.
        let again = scan(&dir, true, 1).expect("scan");
        assert_eq!(again.validity, 4242);
        let uids: Vec<u32> = again.messages.iter().map(|m| m.uid).collect();
        assert_eq!(uids, [2, 3]);
        assert!(again
            .by_uid(2)
            .is_some_and(|m| m.has("\\flagged") && m.has("\\Seen")));
        assert_eq!(again.next, 4);
        remove(&again.messages[0]).expect("rm");
        remove(&again.messages[0]).expect("rm twice is fine");
        assert_eq!(scan(&dir, false, 1).expect("scan").messages.len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn broken_uidlist_starts_over() {
        let dir = maildir("broken");
        fs::write(dir.join(UIDLIST), "garbage\n").expect("write");
        fs::write(dir.join("cur/5.M1P1.h:2,T"), "x").expect("write");
        let folder = scan(&dir, true, 77).expect("scan");
        assert_eq!((folder.validity, folder.next), (77, 2));
        assert!(folder.messages[0].has("\\Deleted"));
        let _ = fs::remove_dir_all(&dir);
    }
}
