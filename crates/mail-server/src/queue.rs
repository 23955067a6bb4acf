//! The durable outgoing queue: one file per message (envelope and content, checksummed), made
//! durable before the `250`; per-message delivery state beside it; recovery that drops torn
//! entries and sets corrupt ones aside.
//!
//! Layout under the queue directory (Postfix's queues, simplified):
//! - `tmp/`: a message being written; anything here at start-up was never acknowledged and is
//!   removed.
//! - `active/ID`: an accepted message. Written to `tmp/`, fsynced, renamed here, and the
//!   directory fsynced before [`Queue::enqueue`] returns.
//! - `state/ID`: its delivery state (attempts, next attempt, what each recipient's last try
//!   said), replaced atomically after every attempt.
//! - `corrupt/ID`: an entry whose checksum or syntax failed at recovery, kept for the operator.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Errors of the queue's storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The disk is full: the client is told to try later (452 4.3.1).
    #[error("{path}: no space left on the queue's disk")]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// An entry does not parse or its checksum does not match.
    #[error("queue entry {id}: {reason}")]
    Corrupt {
        /// The entry.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No such entry.
    #[error("queue entry {0} not found")]
    NotFound(String),
}

impl QueueError {
    fn io(path: &Path, source: io::Error) -> QueueError {
        // ENOSPC and EDQUOT: the disk or the quota is full.
        if matches!(source.raw_os_error(), Some(28) | Some(122)) {
            QueueError::NoSpace {
                path: path.to_path_buf(),
            }
        } else {
            QueueError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Whether the error is a full disk (answer 452 4.3.1 rather than 451 4.3.0).
    pub fn is_no_space(&self) -> bool {
        matches!(self, QueueError::NoSpace { .. })
    }
}

/// A recipient of a queued message, with its DSN parameters (RFC 3461).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// The forward path as accepted (`bob@hamburger.edu`).
    pub address: String,
    /// `NOTIFY=` as given (`SUCCESS,FAILURE`), if any.
    pub notify: Option<String>,
    /// `ORCPT=` as given (`rfc822;bob@hamburger.edu`), if any.
    pub orcpt: Option<String>,
}

/// The envelope of a queued message (RFC 5321 §2.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path; empty for the null sender (`MAIL FROM:<>`, bounces).
    pub from: String,
    /// The recipients.
    pub recipients: Vec<QueuedRecipient>,
    /// When the message was accepted, in seconds since the Unix epoch.
    pub arrival: u64,
    /// The client's HELO/EHLO name.
    pub helo: String,
    /// The client's address.
    pub peer: String,
    /// `BODY=` (`7BIT`, `8BITMIME`, `BINARYMIME`).
    pub body: String,
    /// Whether the client asked for SMTPUTF8.
    pub smtputf8: bool,
    /// `RET=` (`FULL`, `HDRS`), if any.
    pub ret: Option<String>,
    /// `ENVID=`, if any.
    pub envid: Option<String>,
    /// The authenticated submitter, if any.
    pub auth: Option<String>,
}

/// What the last try said for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientStatus {
    /// Not yet tried, or deferred: `last` is the reason of the last deferral.
    Pending {
        /// The last temporary failure, e.g. `connect to 127.0.7.10:25: refused`.
        last: Option<String>,
    },
    /// Delivered (the next hop's 250 or the mailbox commit), with the reply text.
    Delivered(String),
    /// Failed for good (a 5xx, or the queue lifetime ran out), with the reason.
    Failed(String),
}

impl RecipientStatus {
    /// Whether the recipient still waits for delivery.
    pub fn is_pending(&self) -> bool {
        matches!(self, RecipientStatus::Pending { .. })
    }
}

/// The delivery state of a queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryState {
    /// Attempts made so far.
    pub attempts: u32,
    /// When to try next, in seconds since the epoch.
    pub next_attempt: u64,
    /// One status per recipient, in the envelope's order.
    pub recipients: Vec<RecipientStatus>,
    /// Whether the bounce or delay notice for failed recipients has been queued.
    pub bounced: bool,
    /// Whether the delay warning (RFC 3464 `Action: delayed`) has been queued.
    pub warned: bool,
}

impl DeliveryState {
    /// The state of a message just accepted: every recipient pending, due now.
    pub fn new(envelope: &Envelope) -> DeliveryState {
        DeliveryState {
            attempts: 0,
            next_attempt: envelope.arrival,
            recipients: vec![RecipientStatus::Pending { last: None }; envelope.recipients.len()],
            bounced: false,
            warned: false,
        }
    }

    /// Whether no recipient waits any more.
    pub fn is_finished(&self) -> bool {
        !self.recipients.iter().any(RecipientStatus::is_pending)
    }
}

/// A queued message as recovery finds it.
#[derive(Clone, Debug)]
pub struct QueuedEntry {
    /// The queue id.
    pub id: String,
    /// Its envelope.
    pub envelope: Envelope,
    /// Its delivery state.
    pub state: DeliveryState,
    /// The message's size in bytes.
    pub size: u64,
}

/// What [`Queue::open`] found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The messages waiting for delivery, oldest first.
    pub entries: Vec<QueuedEntry>,
    /// Half-written files removed from `tmp/` (never acknowledged to a client).
    pub torn: usize,
    /// Entries moved to `corrupt/`, with the reason.
    pub corrupt: Vec<String>,
}

/// The queue directory.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
}

const MAGIC: &str = "applayer-queue 1";

/// Makes queue ids: the arrival time in microseconds and a counter, in hex, as Postfix's long
/// queue ids are time based; unique across restarts because time moves on, and within one
/// process because of the counter.
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn new_id(now: SystemTime) -> String {
    let micros = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xfff;
    format!("{micros:014X}{count:03X}")
}

/// Whether `id` is a name this queue made (so a stray file is never parsed as an entry, and an
/// id from a command line cannot name a path outside the queue).
pub fn is_queue_id(id: &str) -> bool {
    (8..=32).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn sync_dir(path: &Path) -> Result<(), QueueError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| QueueError::io(path, error))
}

/// Writes `bytes` to `tmp` with fsync, renames it to `target`, fsyncs the target's directory.
fn write_durably(tmp: &Path, target: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|error| QueueError::io(tmp, error))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|error| QueueError::io(tmp, error))?;
        fs::rename(tmp, target).map_err(|error| QueueError::io(target, error))?;
        sync_dir(target.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

impl Queue {
    /// Opens (creating) the queue under `dir` and recovers what a previous run left: torn
    /// files in `tmp/` are removed, entries that fail their checksum move to `corrupt/`, and
    /// every other entry comes back with its delivery state.
    pub fn open(dir: &Path) -> Result<(Queue, Recovery), QueueError> {
        for sub in ["tmp", "active", "state", "corrupt"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|error| QueueError::io(&path, error))?;
        }
        let queue = Queue {
            dir: dir.to_path_buf(),
        };
        let mut recovery = Recovery::default();
        let tmp = dir.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(|error| QueueError::io(&tmp, error))? {
            let entry = entry.map_err(|error| QueueError::io(&tmp, error))?;
            if fs::remove_file(entry.path()).is_ok() {
                recovery.torn += 1;
            }
        }
        let active = dir.join("active");
        let mut ids = Vec::new();
        for entry in fs::read_dir(&active).map_err(|error| QueueError::io(&active, error))? {
            let entry = entry.map_err(|error| QueueError::io(&active, error))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_queue_id(&name) {
                ids.push(name);
            }
        }
        // Time-based ids sort by arrival.
        ids.sort();
        for id in ids {
            match queue.load(&id) {
                Ok((envelope, message)) => {
                    let state = match queue.state(&id, &envelope) {
                        Ok(state) => state,
                        Err(QueueError::Corrupt { reason, .. }) => {
                            // A state file is replaced atomically, so a bad one is damage from
                            // outside; starting over redelivers at worst (at-least-once).
                            tracing::warn!(%id, "queue state unreadable ({reason}); retrying every recipient");
                            DeliveryState::new(&envelope)
                        }
                        Err(error) => return Err(error),
                    };
                    recovery.entries.push(QueuedEntry {
                        id,
                        envelope,
                        state,
                        size: message.len() as u64,
                    });
                }
                Err(QueueError::Corrupt { reason, .. }) => {
                    let from = active.join(&id);
                    let to = dir.join("corrupt").join(&id);
                    fs::rename(&from, &to).map_err(|error| QueueError::io(&to, error))?;
                    let _ = fs::remove_file(dir.join("state").join(&id));
                    tracing::error!(%id, "corrupt queue entry moved to {}: {reason}", to.display());
                    recovery.corrupt.push(format!("{id}: {reason}"));
                }
                Err(error) => return Err(error),
            }
        }
        Ok((queue, recovery))
    }

    /// A handle on the queue in `dir` for reading it (`mail queue`) while a server may be
    /// running: no recovery, nothing created or moved.
    pub fn inspect(dir: &Path) -> Queue {
        Queue {
            dir: dir.to_path_buf(),
        }
    }

    /// Stores a message durably and returns its queue id; the caller answers `250` only after
    /// this returns `Ok`.
    pub fn enqueue(
        &self,
        envelope: &Envelope,
        message: &[u8],
        now: SystemTime,
    ) -> Result<String, QueueError> {
        let id = self.next_id(now);
        self.enqueue_as(&id, envelope, message)?;
        Ok(id)
    }

    /// A fresh queue id, for a message whose `Received` header names its id before it is
    /// stored with [`enqueue_as`](Self::enqueue_as).
    pub fn next_id(&self, now: SystemTime) -> String {
        loop {
            let id = new_id(now);
            if !self.dir.join("active").join(&id).exists() {
                return id;
            }
        }
    }

    /// Stores a message durably under `id` (from [`next_id`](Self::next_id)).
    pub fn enqueue_as(
        &self,
        id: &str,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(), QueueError> {
        if !is_queue_id(id) {
            return Err(QueueError::NotFound(id.to_string()));
        }
        let body = encode_entry(envelope, message);
        let target = self.dir.join("active").join(id);
        write_durably(&self.dir.join("tmp").join(id), &target, &body)
    }

    /// Reads an entry back: its envelope and the message.
    pub fn load(&self, id: &str) -> Result<(Envelope, Vec<u8>), QueueError> {
        if !is_queue_id(id) {
            return Err(QueueError::NotFound(id.to_string()));
        }
        let path = self.dir.join("active").join(id);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(QueueError::NotFound(id.to_string()))
            }
            Err(error) => return Err(QueueError::io(&path, error)),
        };
        decode_entry(&bytes).map_err(|reason| QueueError::Corrupt {
            id: id.to_string(),
            reason,
        })
    }

    /// The delivery state of an entry (a fresh one if none was saved yet).
    pub fn state(&self, id: &str, envelope: &Envelope) -> Result<DeliveryState, QueueError> {
        let path = self.dir.join("state").join(id);
        match fs::read_to_string(&path) {
            Ok(text) => decode_state(&text, envelope.recipients.len()).map_err(|reason| {
                QueueError::Corrupt {
                    id: id.to_string(),
                    reason,
                }
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Ok(DeliveryState::new(envelope))
            }
            Err(error) => Err(QueueError::io(&path, error)),
        }
    }

    /// Saves the delivery state after an attempt (atomically: temp file, fsync, rename).
    pub fn save_state(&self, id: &str, state: &DeliveryState) -> Result<(), QueueError> {
        let tmp = self.dir.join("tmp").join(format!("{id}.state"));
        let _ = fs::remove_file(&tmp);
        write_durably(
            &tmp,
            &self.dir.join("state").join(id),
            encode_state(state).as_bytes(),
        )
    }

    /// Removes a finished entry and its state.
    pub fn remove(&self, id: &str) -> Result<(), QueueError> {
        if !is_queue_id(id) {
            return Err(QueueError::NotFound(id.to_string()));
        }
        let path = self.dir.join("active").join(id);
        fs::remove_file(&path).map_err(|error| QueueError::io(&path, error))?;
        let _ = fs::remove_file(self.dir.join("state").join(id));
        sync_dir(&self.dir.join("active"))
    }

    /// The ids of the entries waiting, oldest first.
    pub fn ids(&self) -> Result<Vec<String>, QueueError> {
        let active = self.dir.join("active");
        let mut ids: Vec<String> = fs::read_dir(&active)
            .map_err(|error| QueueError::io(&active, error))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| is_queue_id(name))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Percent-encodes the bytes that would break a header line (`%`, controls, space).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for char in text.chars() {
        if char == '%' || char.is_control() || char == ' ' {
            let mut buffer = [0u8; 4];
            for byte in char.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(char);
        }
    }
    out
}

fn unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("not UTF-8: {text:?}"))
}

fn optional(value: &Option<String>) -> String {
    value.as_deref().map(escape).unwrap_or_else(|| "-".into())
}

fn read_optional(value: &str) -> Result<Option<String>, String> {
    if value == "-" {
        Ok(None)
    } else {
        unescape(value).map(Some)
    }
}

/// The entry file: a magic line with the length and CRC-32 of the rest, the envelope as
/// `key value` lines, a blank line, the message.
fn encode_entry(envelope: &Envelope, message: &[u8]) -> Vec<u8> {
    let mut rest = String::new();
    rest.push_str(&format!(
        "from {}\n",
        optional(&Some(envelope.from.clone()))
    ));
    for recipient in &envelope.recipients {
        rest.push_str(&format!(
            "rcpt {} {} {}\n",
            escape(&recipient.address),
            optional(&recipient.notify),
            optional(&recipient.orcpt)
        ));
    }
    rest.push_str(&format!("arrival {}\n", envelope.arrival));
    rest.push_str(&format!(
        "helo {}\n",
        optional(&Some(envelope.helo.clone()))
    ));
    rest.push_str(&format!(
        "peer {}\n",
        optional(&Some(envelope.peer.clone()))
    ));
    rest.push_str(&format!("body {}\n", escape(&envelope.body)));
    rest.push_str(&format!("smtputf8 {}\n", u8::from(envelope.smtputf8)));
    rest.push_str(&format!("ret {}\n", optional(&envelope.ret)));
    rest.push_str(&format!("envid {}\n", optional(&envelope.envid)));
    rest.push_str(&format!("auth {}\n", optional(&envelope.auth)));
    rest.push_str(&format!("size {}\n\n", message.len()));
    let mut tail = rest.into_bytes();
    tail.extend_from_slice(message);
    let mut out = format!("{MAGIC} {} {:08x}\n", tail.len(), crc32fast::hash(&tail)).into_bytes();
    out.extend_from_slice(&tail);
    out
}

fn decode_entry(bytes: &[u8]) -> Result<(Envelope, Vec<u8>), String> {
    let newline = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .ok_or("no header line")?;
    let first = std::str::from_utf8(&bytes[..newline]).map_err(|_| "header not UTF-8")?;
    let rest = &bytes[newline + 1..];
    let mut words = first.rsplitn(3, ' ');
    let crc = words
        .next()
        .and_then(|word| u32::from_str_radix(word, 16).ok())
        .ok_or("no checksum")?;
    let length: usize = words
        .next()
        .and_then(|word| word.parse().ok())
        .ok_or("no length")?;
    if words.next() != Some(MAGIC) {
        return Err("not a queue entry".into());
    }
    if rest.len() != length {
        return Err(format!("length {} where {length} was written", rest.len()));
    }
    if crc32fast::hash(rest) != crc {
        return Err("checksum mismatch".into());
    }
    let split = rest
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .ok_or("no end of envelope")?;
    let head = std::str::from_utf8(&rest[..split]).map_err(|_| "envelope not UTF-8")?;
    let message = rest[split + 2..].to_vec();
    let mut envelope = Envelope {
        from: String::new(),
        recipients: Vec::new(),
        arrival: 0,
        helo: String::new(),
        peer: String::new(),
        body: "7BIT".into(),
        smtputf8: false,
        ret: None,
        envid: None,
        auth: None,
    };
    let mut size = None;
    for line in head.lines() {
        let (key, value) = line.split_once(' ').ok_or("envelope line without value")?;
        match key {
            "from" => envelope.from = unescape(value)?,
            "rcpt" => {
                let fields: Vec<&str> = value.split(' ').collect();
                let [address, notify, orcpt] = fields[..] else {
                    return Err(format!("bad rcpt line {line:?}"));
                };
                envelope.recipients.push(QueuedRecipient {
                    address: unescape(address)?,
                    notify: read_optional(notify)?,
                    orcpt: read_optional(orcpt)?,
                });
            }
            "arrival" => envelope.arrival = value.parse().map_err(|_| "bad arrival")?,
            "helo" => envelope.helo = unescape(value)?,
            "peer" => envelope.peer = unescape(value)?,
            "body" => envelope.body = unescape(value)?,
            "smtputf8" => envelope.smtputf8 = value == "1",
            "ret" => envelope.ret = read_optional(value)?,
            "envid" => envelope.envid = read_optional(value)?,
            "auth" => envelope.auth = read_optional(value)?,
            "size" => size = value.parse::<usize>().ok(),
            // Unknown keys from a newer version are kept out of the way, not fatal.
            _ => {}
        }
    }
    if size != Some(message.len()) {
        return Err("message size does not match".into());
    }
    if envelope.recipients.is_empty() {
        return Err("no recipients".into());
    }
    Ok((envelope, message))
}

fn encode_state(state: &DeliveryState) -> String {
    let mut out = format!(
        "attempts {}\nnext {}\nbounced {}\n",
        state.attempts,
        state.next_attempt,
        u8::from(state.bounced)
    );
    if state.warned {
        out.push_str("warned 1\n");
    }
    for status in &state.recipients {
        match status {
            RecipientStatus::Pending { last } => {
                out.push_str(&format!("pending {}\n", optional(last)))
            }
            RecipientStatus::Delivered(text) => out.push_str(&format!("sent {}\n", escape(text))),
            RecipientStatus::Failed(text) => out.push_str(&format!("failed {}\n", escape(text))),
        }
    }
    out
}

fn decode_state(text: &str, recipients: usize) -> Result<DeliveryState, String> {
    let mut state = DeliveryState {
        attempts: 0,
        next_attempt: 0,
        recipients: Vec::new(),
        bounced: false,
        warned: false,
    };
    for line in text.lines() {
        let (key, value) = line.split_once(' ').ok_or("state line without value")?;
        match key {
            "attempts" => state.attempts = value.parse().map_err(|_| "bad attempts")?,
            "next" => state.next_attempt = value.parse().map_err(|_| "bad next")?,
            "bounced" => state.bounced = value == "1",
            "warned" => state.warned = value == "1",
            "pending" => state.recipients.push(RecipientStatus::Pending {
                last: read_optional(value)?,
            }),
            "sent" => state
                .recipients
                .push(RecipientStatus::Delivered(unescape(value)?)),
            "failed" => state
                .recipients
                .push(RecipientStatus::Failed(unescape(value)?)),
            _ => {}
        }
    }
    if state.recipients.len() != recipients {
        return Err(format!(
            "{} recipient states for {recipients} recipients",
            state.recipients.len()
        ));
    }
    Ok(state)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn envelope() -> Envelope {
        Envelope {
            from: "alice@crepes.fr".into(),
            recipients: vec![
                QueuedRecipient {
                    address: "bob@hamburger.edu".into(),
                    notify: Some("SUCCESS,FAILURE".into()),
                    orcpt: Some("rfc822;bob@hamburger.edu".into()),
                },
                QueuedRecipient {
                    address: "\"odd name\"@hamburger.edu".into(),
                    notify: None,
                    orcpt: None,
                },
            ],
            arrival: 1_800_000_000,
            helo: "crepes.fr".into(),
            peer: "127.0.6.10".into(),
            body: "8BITMIME".into(),
            smtputf8: true,
            ret: Some("HDRS".into()),
            envid: Some("QQ314159".into()),
            auth: None,
        }
    }

    #[test]
    fn entries_round_trip_and_damage_is_caught() {
        let message = b"Subject: hi\r\n\r\nline\r\n\r\n.dots\r\n100% sure\r\n";
        let bytes = encode_entry(&envelope(), message);
        let (back, body) = decode_entry(&bytes).unwrap();
        assert_eq!(back, envelope());
        assert_eq!(body, message);
        // Every truncation and every single flipped byte is refused, never accepted or a panic.
        for cut in 0..bytes.len() {
            assert!(decode_entry(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x01;
            assert!(decode_entry(&damaged).is_err(), "flip at {index}");
        }
    }

    #[test]
    fn null_sender_and_state_round_trip() {
        let mut bounce = envelope();
        bounce.from = String::new();
        let (back, _) = decode_entry(&encode_entry(&bounce, b"x")).unwrap();
        assert_eq!(back.from, "");
        let state = DeliveryState {
            attempts: 3,
            next_attempt: 1_800_001_800,
            recipients: vec![
                RecipientStatus::Delivered("250 2.0.0 Ok: queued as 1F".into()),
                RecipientStatus::Pending {
                    last: Some("connect to 127.0.7.10:25: Connection refused".into()),
                },
            ],
            bounced: false,
            warned: true,
        };
        assert_eq!(decode_state(&encode_state(&state), 2).unwrap(), state);
        assert!(decode_state(&encode_state(&state), 3).is_err());
        assert!(!state.is_finished());
    }

    #[test]
    fn queue_ids_are_unique_and_safe() {
        let now = SystemTime::now();
        let a = new_id(now);
        let b = new_id(now);
        assert_ne!(a, b);
        assert!(is_queue_id(&a));
        for bad in ["", "../x", "abc", "1234567G", "ABCDEF0/12"] {
            assert!(!is_queue_id(bad), "{bad}");
        }
    }
}
