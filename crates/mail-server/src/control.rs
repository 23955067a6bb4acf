//! The operator's side door into a running server (Postfix's `postqueue -f` and `postsuper
//! -d`): a Unix datagram socket at `DATA_DIR/queue/control`, owner-only, that takes `flush`
//! and `delete ID` and answers each with one line. Listing the queue needs no server: it
//! reads the queue's files ([`list`]).

use crate::delivery::Deliverer;
use crate::queue::{is_queue_id, DeliveryState, Envelope, Queue, QueueError, RecipientStatus};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket's name inside the queue directory.
pub const SOCKET: &str = "control";

/// The longest request or answer.
const MAX_DATAGRAM: usize = 1024;

/// Answers control requests until `shutdown`.
pub(crate) async fn serve(queue_dir: &Path, deliverer: Deliverer, shutdown: netio::Shutdown) {
    let path = queue_dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let socket = match tokio::net::UnixDatagram::bind(&path) {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!("no queue control socket at {}: {error}", path.display());
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let mut buffer = [0u8; MAX_DATAGRAM];
    loop {
        let (length, from) = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::warn!("queue control socket: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.triggered() => break,
        };
        let request = String::from_utf8_lossy(&buffer[..length])
            .trim()
            .to_string();
        let answer = answer(&deliverer, &request);
        if let Some(to) = from.as_pathname() {
            let _ = socket.send_to(answer.as_bytes(), to).await;
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn answer(deliverer: &Deliverer, request: &str) -> String {
    let mut words = request.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("flush"), None, None) => {
            let count = deliverer.flush();
            tracing::info!(count, "queue flushed by the operator");
            format!("ok {count} entries due now")
        }
        (Some("delete"), Some(id), None) if is_queue_id(id) => match deliverer.delete(id) {
            Ok(true) => format!("ok {id} deleted"),
            Ok(false) => format!("busy {id} is being delivered; try again"),
            Err(QueueError::NotFound(_)) => format!("error {id}: no such entry"),
            Err(error) => format!("error {id}: {error}"),
        },
        _ => "error unknown request (flush, delete ID)".to_string(),
    }
}

/// Sends `request` to the server whose queue is `queue_dir` and returns its answer; `Ok(None)`
/// when no server is running there.
pub fn request(queue_dir: &Path, request: &str) -> std::io::Result<Option<String>> {
    let server = queue_dir.join(SOCKET);
    if !server.exists() {
        return Ok(None);
    }
    let ours = reply_path(queue_dir);
    let _ = std::fs::remove_file(&ours);
    let socket = std::os::unix::net::UnixDatagram::bind(&ours)?;
    let result = (|| {
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        match socket.send_to(request.as_bytes(), &server) {
            Ok(_) => {}
            // A socket file left by a server that died.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(None),
            Err(error) => return Err(error),
        }
        let mut buffer = [0u8; MAX_DATAGRAM];
        let length = socket.recv(&mut buffer)?;
        Ok(Some(
            String::from_utf8_lossy(&buffer[..length]).into_owned(),
        ))
    })();
    let _ = std::fs::remove_file(&ours);
    result
}

fn reply_path(queue_dir: &Path) -> PathBuf {
    queue_dir.join(format!("control.{}", std::process::id()))
}

/// One waiting message as `mail queue` shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The queue id.
    pub id: String,
    /// The message's size in bytes.
    pub size: u64,
    /// The envelope.
    pub envelope: Envelope,
    /// The delivery state (attempts, next try, each recipient's last result).
    pub state: DeliveryState,
}

/// The entries of the queue in `queue_dir`, oldest first, read without disturbing a server
/// that may be running (an entry that disappears while we read is skipped).
pub fn list(queue_dir: &Path) -> Result<Vec<Listed>, QueueError> {
    let queue = Queue::inspect(queue_dir);
    let mut listed = Vec::new();
    for id in queue.ids()? {
        let (envelope, message) = match queue.load(&id) {
            Ok(loaded) => loaded,
            Err(QueueError::NotFound(_)) => continue,
            Err(error) => return Err(error),
        };
        let state = match queue.state(&id, &envelope) {
            Ok(state) => state,
            Err(QueueError::NotFound(_)) => continue,
            Err(error) => return Err(error),
        };
        listed.push(Listed {
            id,
            size: message.len() as u64,
            envelope,
            state,
        });
    }
    Ok(listed)
}

/// The listing as Postfix's `mailq` lays it out, with each entry's age, attempts and next try
/// (times relative to `now`, seconds since the epoch), and the last error of each recipient
/// still waiting.
pub fn format_listing(entries: &[Listed], now: u64) -> String {
    if entries.is_empty() {
        return "Mail queue is empty\n".to_string();
    }
    let mut out = format!(
        "{:<20} {:>8} {:>8} {:>5} {:>9}  {}\n",
        "-Queue ID-", "-Size-", "-Age-", "-Try-", "-Next-", "-Sender/Recipient-"
    );
    let mut bytes = 0;
    for entry in entries {
        bytes += entry.size;
        let sender = if entry.envelope.from.is_empty() {
            "MAILER-DAEMON"
        } else {
            entry.envelope.from.as_str()
        };
        let next = if entry.state.next_attempt <= now {
            "now".to_string()
        } else {
            format!("in {}", duration(entry.state.next_attempt - now))
        };
        out.push_str(&format!(
            "{:<20} {:>8} {:>8} {:>5} {:>9}  {}\n",
            entry.id,
            entry.size,
            duration(now.saturating_sub(entry.envelope.arrival)),
            entry.state.attempts,
            next,
            sender
        ));
        for (recipient, status) in entry
            .envelope
            .recipients
            .iter()
            .zip(&entry.state.recipients)
        {
            let note = match status {
                RecipientStatus::Pending { last: Some(last) } => format!(" ({last})"),
                RecipientStatus::Pending { last: None } => String::new(),
                RecipientStatus::Delivered(_) => " (delivered)".to_string(),
                RecipientStatus::Failed(reason) => format!(" (failed: {reason})"),
            };
            out.push_str(&format!("{:>56}  {}{note}\n", "", recipient.address));
        }
    }
    let count = entries.len();
    out.push_str(&format!(
        "-- {} Kbytes in {count} Request{}.\n",
        bytes.div_ceil(1024),
        if count == 1 { "" } else { "s" }
    ));
    out
}

/// `42s`, `5m`, `3h12m`, `2d4h`.
fn duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueuedRecipient;

    fn entry(id: &str, from: &str, state: DeliveryState) -> Listed {
        Listed {
            id: id.into(),
            size: 1500,
            envelope: Envelope {
                from: from.into(),
                recipients: vec![
                    QueuedRecipient {
                        address: "bob@hamburger.edu".into(),
                        notify: None,
                        orcpt: None,
                    },
                    QueuedRecipient {
                        address: "carol@hamburger.edu".into(),
                        notify: None,
                        orcpt: None,
                    },
                ],
                arrival: 1_000,
                helo: "client".into(),
                peer: "127.0.0.1".into(),
                body: "7BIT".into(),
                smtputf8: false,
                ret: None,
                envid: None,
                auth: None,
            },
            state,
        }
    }

    #[test]
    fn the_listing_shows_age_tries_next_and_last_errors() {
        let state = DeliveryState {
            attempts: 3,
            next_attempt: 1_000 + 4000,
            recipients: vec![
                RecipientStatus::Pending {
                    last: Some("connect to 127.0.7.10:25: refused".into()),
                },
                RecipientStatus::Delivered("250 ok".into()),
            ],
            bounced: false,
            warned: false,
        };
        let text = format_listing(&[entry("0661EF98F65E4E000", "", state)], 1_000 + 3700);
        assert!(text.contains("0661EF98F65E4E000"), "{text}");
        assert!(text.contains("1h01m"), "age: {text}");
        assert!(text.contains("in 5m"), "next: {text}");
        assert!(text.contains("MAILER-DAEMON"), "{text}");
        assert!(
            text.contains("bob@hamburger.edu (connect to 127.0.7.10:25: refused)"),
            "{text}"
        );
        assert!(text.contains("carol@hamburger.edu (delivered)"), "{text}");
        assert!(text.ends_with("-- 2 Kbytes in 1 Request.\n"), "{text}");
        assert_eq!(format_listing(&[], 0), "Mail queue is empty\n");
    }

    #[test]
    fn durations_read_like_mailq() {
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m");
        assert_eq!(duration(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(duration(2 * 86400 + 4 * 3600), "2d4h");
    }
}
