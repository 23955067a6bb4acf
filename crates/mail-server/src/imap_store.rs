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
//!
//! Mod-sequences (CONDSTORE, RFC 7162) live in the same list: the folder's HIGHESTMODSEQ in
//! the header, and each message's mod-sequence beside the flag letters it had when last
//! scanned; a scan that finds the letters changed (by our STORE or by any other agent's
//! rename), a new message or an expunge takes the next mod-sequence.
//!
//! Keywords (RFC 3501 §2.3.2, `$Forwarded`, `Junk` ...) are the lower-case letters `a`–`z` of
//! the info part, named in the folder's `dovecot-keywords` file (`0 $Forwarded` for `a`), as
//! Dovecot keeps them, so either server reads the other's keywords; 26 per folder at most.

use crate::maildir::{unique_name, StoreError, UniqueParts};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The UID list's file name inside a folder's directory.
pub const UIDLIST: &str = "applayer-uidlist";

/// The keyword names' file inside a folder's directory (Dovecot's name and format).
pub const KEYWORDS: &str = "dovecot-keywords";

/// Keywords per folder at most (the letters `a`–`z`).
pub const MAX_KEYWORDS: usize = 26;

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
    /// Its keywords, from the lower-case letters and the folder's keyword names.
    pub keywords: Vec<String>,
    /// Whether the file is still in `new/` (no session has claimed it: `\Recent`).
    pub in_new: bool,
    /// Its mod-sequence: when its flags last changed (RFC 7162).
    pub modseq: u64,
}

impl Message {
    /// The IMAP flags of the message: system flags in Maildir order, then keywords.
    pub fn flags(&self) -> Vec<String> {
        FLAG_LETTERS
            .iter()
            .filter(|(letter, _)| self.letters.contains(*letter))
            .map(|(_, flag)| flag.to_string())
            .chain(self.keywords.iter().cloned())
            .collect()
    }

    /// Whether the message has `flag` (`\Seen`, or a keyword; case-insensitive).
    pub fn has(&self, flag: &str) -> bool {
        match letter_of(flag) {
            Some(letter) => self.letters.contains(letter),
            None => self
                .keywords
                .iter()
                .any(|keyword| keyword.eq_ignore_ascii_case(flag)),
        }
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
    /// HIGHESTMODSEQ (RFC 7162 §3.1.1).
    pub highest_modseq: u64,
    /// The messages, in ascending UID order.
    pub messages: Vec<Message>,
    /// The UIDs this scan moved from `new/` to `cur/` (recent to the claiming session).
    pub claimed: Vec<u32>,
    /// The folder's keyword names, by letter (`a` first).
    pub keywords: Vec<String>,
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

/// The keyword names of the folder at `dir` by letter (`a` first); a missing or broken file
/// names none.
pub fn read_keywords(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let Ok(text) = fs::read_to_string(dir.join(KEYWORDS)) else {
        return names;
    };
    for line in text.lines() {
        let Some((index, name)) = line.split_once(' ') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        if index >= MAX_KEYWORDS || !keyword_ok(name) {
            continue;
        }
        if names.len() <= index {
            names.resize(index + 1, String::new());
        }
        names[index] = name.to_string();
    }
    names
}

/// Whether `name` is an IMAP keyword (an atom without `\`, RFC 3501 §9 `flag-keyword`).
pub fn keyword_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

fn write_keywords(dir: &Path, names: &[String]) -> Result<(), StoreError> {
    let mut text = String::new();
    for (index, name) in names.iter().enumerate() {
        if !name.is_empty() {
            text.push_str(&format!("{index} {name}\n"));
        }
    }
    replace_file(dir, KEYWORDS, &text)
}

/// Why flags could not be stored.
#[derive(Debug)]
pub enum FlagError {
    /// The folder has all the keywords it can name.
    TooManyKeywords,
    /// Not a flag: a `\` name that is not a system flag, or not an atom.
    BadFlag(String),
    /// The keyword file could not be written.
    Store(StoreError),
}

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagError::TooManyKeywords => {
                write!(f, "[LIMIT] at most {MAX_KEYWORDS} keywords per mailbox")
            }
            FlagError::BadFlag(flag) => write!(f, "{flag:?} is not a flag that can be stored"),
            FlagError::Store(error) => write!(f, "[SERVERBUG] {error}"),
        }
    }
}

/// The sorted letters for `flags` (system flags and keywords) in the folder at `dir`, keeping
/// `P` from `keep`; a keyword the folder has not named yet gets the next free letter, written
/// to the keyword file first. `\Recent` is not stored (RFC 3501 §2.3.2) and is skipped.
pub fn letters_with_keywords(
    dir: &Path,
    flags: &[String],
    keep: &str,
) -> Result<String, FlagError> {
    let mut names = read_keywords(dir);
    let mut added = false;
    let mut letters: Vec<char> = keep.chars().filter(|letter| *letter == 'P').collect();
    for flag in flags {
        if let Some(letter) = letter_of(flag) {
            letters.push(letter);
            continue;
        }
        if flag.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        if flag.starts_with('\\') || !keyword_ok(flag) {
            return Err(FlagError::BadFlag(flag.clone()));
        }
        let index = match names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(flag))
        {
            Some(index) => index,
            None => {
                let index = match names.iter().position(String::is_empty) {
                    Some(free) => free,
                    None if names.len() < MAX_KEYWORDS => {
                        names.push(String::new());
                        names.len() - 1
                    }
                    None => return Err(FlagError::TooManyKeywords),
                };
                names[index] = flag.clone();
                added = true;
                index
            }
        };
        letters.push((b'a' + index as u8) as char);
    }
    if added {
        write_keywords(dir, &names).map_err(FlagError::Store)?;
    }
    letters.sort_unstable();
    letters.dedup();
    Ok(letters.into_iter().collect())
}

/// Whether `flag` may be stored: a system flag (`\\Recent` too, which is ignored) or a
/// keyword.
pub fn flag_ok(flag: &str) -> bool {
    letter_of(flag).is_some()
        || flag.eq_ignore_ascii_case("\\Recent")
        || (!flag.starts_with('\\') && keyword_ok(flag))
}

/// The keywords of flag `letters` under the folder's `names` ([`read_keywords`]).
pub fn keywords_of(letters: &str, names: &[String]) -> Vec<String> {
    letters
        .bytes()
        .filter(u8::is_ascii_lowercase)
        .filter_map(|letter| names.get((letter - b'a') as usize))
        .filter(|name| !name.is_empty())
        .cloned()
        .collect()
}

struct UidList {
    validity: u32,
    next: u32,
    highest: u64,
    /// Base name → (UID, mod-sequence, letters last seen).
    uids: HashMap<String, (u32, u64, String)>,
}

fn read_uidlist(dir: &Path) -> Option<UidList> {
    let text = fs::read_to_string(dir.join(UIDLIST)).ok()?;
    let mut lines = text.lines();
    let mut header = lines.next()?.split(' ');
    let validity = header.next()?.strip_prefix('V')?.parse().ok()?;
    let next = header.next()?.strip_prefix('N')?.parse().ok()?;
    // `M` (HIGHESTMODSEQ) marks the list with mod-sequences: `uid modseq letters base`
    // (`-` for no letters); without it, the first format, `uid base`.
    let highest: Option<u64> = header
        .next()
        .and_then(|field| field.strip_prefix('M'))
        .and_then(|value| value.parse().ok());
    let mut uids = HashMap::new();
    for line in lines {
        let parsed = match highest {
            Some(_) => (|| {
                let mut fields = line.splitn(4, ' ');
                let uid = fields.next()?.parse::<u32>().ok()?;
                let modseq = fields.next()?.parse::<u64>().ok()?;
                let letters = fields.next()?;
                let letters = if letters == "-" { "" } else { letters };
                Some((fields.next()?.to_string(), uid, modseq, letters.to_string()))
            })(),
            None => line.split_once(' ').and_then(|(uid, base)| {
                Some((base.to_string(), uid.parse::<u32>().ok()?, 1, String::new()))
            }),
        };
        if let Some((base, uid, modseq, letters)) = parsed {
            if uid > 0 && uid < next {
                uids.insert(base, (uid, modseq, letters));
            }
        }
    }
    Some(UidList {
        validity,
        next,
        highest: highest.unwrap_or(1).max(1),
        uids,
    })
}

/// Writes the UID list crash-safely: a temporary file, fsync, rename, directory fsync.
fn write_uidlist(dir: &Path, folder: &Folder) -> Result<(), StoreError> {
    let mut text = format!(
        "V{} N{} M{}\n",
        folder.validity, folder.next, folder.highest_modseq
    );
    for message in &folder.messages {
        let letters = if message.letters.is_empty() {
            "-"
        } else {
            &message.letters
        };
        text.push_str(&format!(
            "{} {} {letters} {}\n",
            message.uid, message.modseq, message.base
        ));
    }
    replace_file(dir, UIDLIST, &text)
}

/// Replaces `dir/name` with `text` crash-safely: a temporary file, fsync, rename, directory
/// fsync (a crash leaves the old file or the new one, never a torn one).
fn replace_file(dir: &Path, name: &str, text: &str) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
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
        highest: 1,
        uids: HashMap::new(),
    });
    let mut found: Vec<(String, String, PathBuf, bool)> = Vec::new();
    let mut claimed_bases: std::collections::HashSet<String> = std::collections::HashSet::new();
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
            let mut in_new = sub == "new";
            if in_new && claim_new {
                let target = dir.join("cur").join(format!("{base}:2,{letters}"));
                match fs::rename(&file, &target) {
                    Ok(()) => {
                        file = target;
                        in_new = false;
                        claimed_bases.insert(base.clone());
                    }
                    // Another session or agent moved it first: the cur/ listing may miss
                    // it this time; the next scan sees it.
                    Err(_) => continue,
                }
            }
            found.push((base, letters, file, in_new));
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
    let names = read_keywords(dir);
    let mut messages = Vec::with_capacity(found.len());
    let mut kept = 0;
    for (base, letters, path, in_new) in found {
        let (uid, modseq) = match list.uids.get(&base) {
            Some((uid, modseq, seen)) if *seen == letters => {
                kept += 1;
                (*uid, *modseq)
            }
            Some((uid, _, _)) => {
                kept += 1;
                list.highest += 1;
                changed = true;
                (*uid, list.highest)
            }
            None => {
                let uid = list.next;
                list.next = list.next.saturating_add(1);
                list.highest += 1;
                changed = true;
                (uid, list.highest)
            }
        };
        messages.push(Message {
            modseq,
            uid,
            keywords: keywords_of(&letters, &names),
            base,
            path,
            letters,
            in_new,
        });
    }
    messages.sort_by_key(|message| message.uid);
    let claimed = messages
        .iter()
        .filter(|message| claimed_bases.contains(&message.base))
        .map(|message| message.uid)
        .collect();
    if messages.len() != list.uids.len() {
        // Expunged by someone: HIGHESTMODSEQ moves on (RFC 7162 §3.1.1 wants it to grow
        // with every change of the mailbox).
        changed = true;
    }
    if kept < list.uids.len() {
        list.highest += 1;
        changed = true;
    }
    let folder = Folder {
        dir: dir.to_path_buf(),
        validity: list.validity,
        next: list.next,
        highest_modseq: list.highest,
        messages,
        claimed,
        keywords: names,
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
    fn keywords_get_letters_in_dovecots_file() {
        let dir = maildir("keywords");
        let flags = |list: &[&str]| list.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let letters = letters_with_keywords(&dir, &flags(&["$Forwarded", "\\Seen", "Junk"]), "P")
            .expect("letters");
        assert_eq!(letters, "PSab");
        assert_eq!(
            fs::read_to_string(dir.join(KEYWORDS)).expect("file"),
            "0 $Forwarded\n1 Junk\n"
        );
        // Known ones (any case) reuse their letter; \Recent is never stored.
        let again =
            letters_with_keywords(&dir, &flags(&["junk", "\\Recent"]), "").expect("letters");
        assert_eq!(again, "b");
        fs::write(dir.join("cur/1.M1P1.h:2,Sab"), "x").expect("write");
        let folder = scan(&dir, true, 1).expect("scan");
        assert_eq!(folder.messages[0].flags(), ["\\Seen", "$Forwarded", "Junk"]);
        assert!(folder.messages[0].has("$forwarded"));
        assert_eq!(folder.keywords, ["$Forwarded", "Junk"]);
        // 26 at most.
        let many: Vec<String> = (0..24).map(|n| format!("k{n}")).collect();
        letters_with_keywords(&dir, &many, "").expect("26 fit");
        assert!(matches!(
            letters_with_keywords(&dir, &flags(&["one-too-many"]), ""),
            Err(FlagError::TooManyKeywords)
        ));
        assert!(
            !flag_ok("\\Bogus") && !flag_ok("a(b") && flag_ok("\\Recent") && flag_ok("$Label1")
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn mod_sequences_follow_every_change() {
        let dir = maildir("modseq");
        // A list in the first format (no mod-sequences) is read and upgraded.
        fs::write(dir.join(UIDLIST), "V9 N3\n1 1.M1P1.h\n2 2.M1P1.h\n").expect("write");
        fs::write(dir.join("cur/1.M1P1.h:2,"), "a").expect("write");
        fs::write(dir.join("cur/2.M1P1.h:2,S"), "b").expect("write");
        let first = scan(&dir, true, 1).expect("scan");
        assert_eq!(first.validity, 9);
        let h0 = first.highest_modseq;
        assert!(first.messages.iter().all(|m| m.modseq <= h0));
        // Nothing changed: nothing moves.
        let same = scan(&dir, true, 1).expect("scan");
        assert_eq!(same.highest_modseq, h0);
        assert_eq!(same.messages, first.messages);
        // Another agent renames message 1 (flags): it gets the next mod-sequence.
        fs::rename(dir.join("cur/1.M1P1.h:2,"), dir.join("cur/1.M1P1.h:2,F")).expect("mv");
        let flagged = scan(&dir, true, 1).expect("scan");
        assert_eq!(flagged.highest_modseq, h0 + 1);
        assert_eq!(flagged.by_uid(1).map(|m| m.modseq), Some(h0 + 1));
        assert_eq!(
            flagged.by_uid(2).map(|m| m.modseq),
            same.by_uid(2).map(|m| m.modseq)
        );
        // A delivery and an expunge move HIGHESTMODSEQ too, and it survives a rescan.
        fs::write(dir.join("new/3.M1P1.h"), "c").expect("write");
        fs::remove_file(dir.join("cur/2.M1P1.h:2,S")).expect("rm");
        let later = scan(&dir, true, 1).expect("scan");
        assert_eq!(later.highest_modseq, h0 + 3);
        assert_eq!(later.by_uid(3).map(|m| m.modseq), Some(h0 + 2));
        assert_eq!(scan(&dir, false, 1).expect("scan").highest_modseq, h0 + 3);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn claimed_messages_are_reported_once() {
        let dir = maildir("claimed");
        fs::write(dir.join("new/1.M1P1.h,S=1"), "x").expect("write");
        let peek = scan(&dir, false, 1).expect("scan");
        assert!(peek.claimed.is_empty() && peek.messages[0].in_new);
        let first = scan(&dir, true, 1).expect("scan");
        assert_eq!(first.claimed, [1]);
        assert!(!first.messages[0].in_new);
        assert!(scan(&dir, true, 1).expect("scan").claimed.is_empty());
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
