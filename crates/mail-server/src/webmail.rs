//! The web mail's [`webmail::Backend`] over the server's own users and Maildirs: logins through
//! [`Policy`], folders as Maildir++ folders, `\Seen` as the `S` letter of the file name's
//! info part (Dovecot's layout, which the IMAP server reads too), a move as a rename into the
//! other folder's `cur/`, a delete as a move into the Trash (and an unlink there), the Sent
//! copy written through [`imap_store::add`]. Every change is a rename or an fsynced write, so
//! the IMAP server's next rescan sees it. [`WebmailApp`] mounts the pages in the project's
//! web server (`web::App`); what the user sends goes through [`crate::net::Submitter`], the
//! submission path of port 587.

use crate::imap_store;
use crate::maildir::{folder_name_ok, Mailbox, Store, UniqueParts};
use crate::policy::Policy;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use webmail::{Backend, BackendError, Entry, INBOX, TRASH};

/// The Maildir backend of the web mail.
#[derive(Debug, Clone)]
pub struct MaildirBackend {
    policy: Policy,
    store: Store,
    hostname: String,
}

impl MaildirBackend {
    /// The users of `policy` with their mailboxes in `store`; `hostname` goes into new
    /// files' names.
    pub fn new(policy: Policy, store: Store, hostname: &str) -> MaildirBackend {
        MaildirBackend {
            policy,
            store,
            hostname: hostname.to_string(),
        }
    }

    fn mailbox(&self, user: &str) -> Result<Mailbox, BackendError> {
        let (local, domain) = user
            .split_once('@')
            .ok_or_else(|| BackendError::BadName(user.to_string()))?;
        self.store.mailbox(domain, local).map_err(store_error)
    }

    /// The directory of `folder` (`INBOX` or a Maildir++ folder that exists).
    fn folder_dir(&self, user: &str, folder: &str) -> Result<PathBuf, BackendError> {
        let mailbox = self.mailbox(user)?;
        if folder == INBOX {
            return Ok(mailbox.path().to_path_buf());
        }
        if !folder_name_ok(folder) {
            return Err(BackendError::BadName(folder.to_string()));
        }
        if !mailbox.has_folder(folder) {
            return Err(BackendError::NotFound);
        }
        mailbox.folder_path(Some(folder)).map_err(store_error)
    }

    fn unique(&self) -> UniqueParts {
        UniqueParts {
            time: SystemTime::now(),
            pid: std::process::id(),
            host: self.hostname.clone(),
        }
    }
}

fn store_error(error: impl std::fmt::Display) -> BackendError {
    BackendError::Store(error.to_string())
}

/// A message's file: its path, base name (up to `:`) and flag letters.
struct File {
    path: PathBuf,
    base: String,
    letters: String,
}

/// The messages of the folder at `dir`, in `new/` and `cur/`.
fn files(dir: &Path) -> Result<Vec<File>, BackendError> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let path = dir.join(sub);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(store_error(format!("{}: {error}", path.display()))),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let (base, letters) = match name.split_once(":2,") {
                Some((base, letters)) => (base.to_string(), letters.to_string()),
                None => (
                    name.split(':').next().unwrap_or(&name).to_string(),
                    String::new(),
                ),
            };
            found.push(File {
                path: entry.path(),
                base,
                letters,
            });
        }
    }
    Ok(found)
}

fn find(dir: &Path, id: &str) -> Result<File, BackendError> {
    if id.is_empty() || id.contains('/') || id.contains(':') || id.starts_with('.') {
        return Err(BackendError::BadName(id.to_string()));
    }
    files(dir)?
        .into_iter()
        .find(|file| file.base == id)
        .ok_or(BackendError::NotFound)
}

/// `letters` with `flag` set or cleared, sorted as Maildir wants.
fn with_flag(letters: &str, flag: char, on: bool) -> String {
    let mut set: Vec<char> = letters.chars().filter(|&letter| letter != flag).collect();
    if on {
        set.push(flag);
    }
    set.sort_unstable();
    set.into_iter().collect()
}

/// Renames `file` into `cur/` of `dir` with `letters`; the directory is synced.
fn place(file: &File, dir: &Path, letters: &str) -> Result<(), BackendError> {
    let target = dir.join("cur").join(format!("{}:2,{letters}", file.base));
    fs::rename(&file.path, &target)
        .and_then(|()| fs::File::open(dir.join("cur"))?.sync_all())
        .map_err(|error| store_error(format!("{}: {error}", target.display())))
}

/// Seconds of a Maildir unique name (its first dot-separated part), for newest-first order.
fn seconds(base: &str) -> u64 {
    base.split('.')
        .next()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(0)
}

impl Backend for MaildirBackend {
    fn authenticate(&mut self, user: &str, password: &str) -> Option<String> {
        self.policy.authenticate(user, password)
    }

    fn folders(&mut self, user: &str) -> Result<Vec<String>, BackendError> {
        let mut folders = vec![INBOX.to_string()];
        folders.extend(self.mailbox(user)?.folders().map_err(store_error)?);
        Ok(folders)
    }

    /// The IMAP server's view of the name: `/` for the Maildir++ `.` and modified UTF-7
    /// decoded (`Caf&AOk-.Cr&AOo-pes` is shown as `Café/Crêpes`).
    fn display_name(&self, folder: &str) -> String {
        let name = folder.replace('.', "/");
        imap_proto::mutf7::decode(&name).unwrap_or(name)
    }

    fn list(&mut self, user: &str, folder: &str) -> Result<Vec<Entry>, BackendError> {
        let mut found = files(&self.folder_dir(user, folder)?)?;
        found.sort_by(|a, b| (seconds(&b.base), &b.base).cmp(&(seconds(&a.base), &a.base)));
        Ok(found
            .into_iter()
            .map(|file| Entry {
                seen: file.letters.contains('S'),
                id: file.base,
            })
            .collect())
    }

    fn read(&mut self, user: &str, folder: &str, id: &str) -> Result<Vec<u8>, BackendError> {
        let file = find(&self.folder_dir(user, folder)?, id)?;
        fs::read(&file.path).map_err(|error| store_error(format!("{id}: {error}")))
    }

    fn set_seen(
        &mut self,
        user: &str,
        folder: &str,
        id: &str,
        seen: bool,
    ) -> Result<(), BackendError> {
        let dir = self.folder_dir(user, folder)?;
        let file = find(&dir, id)?;
        place(&file, &dir, &with_flag(&file.letters, 'S', seen))
    }

    fn move_message(
        &mut self,
        user: &str,
        folder: &str,
        id: &str,
        target: &str,
    ) -> Result<(), BackendError> {
        let from = self.folder_dir(user, folder)?;
        let to = self.folder_dir(user, target)?;
        let file = find(&from, id)?;
        place(&file, &to, &file.letters)
    }

    fn delete(&mut self, user: &str, folder: &str, id: &str) -> Result<(), BackendError> {
        if folder == TRASH {
            let file = find(&self.folder_dir(user, folder)?, id)?;
            return fs::remove_file(&file.path)
                .map_err(|error| store_error(format!("{id}: {error}")));
        }
        let mailbox = self.mailbox(user)?;
        if !mailbox.has_folder(TRASH) {
            mailbox.create_folder(TRASH).map_err(store_error)?;
        }
        self.move_message(user, folder, id, TRASH)
    }

    fn save_sent(&mut self, user: &str, message: &[u8]) -> Result<(), BackendError> {
        let mailbox = self.mailbox(user)?;
        if !mailbox.has_folder("Sent") {
            mailbox.create_folder("Sent").map_err(store_error)?;
        }
        let dir = mailbox.folder_path(Some("Sent")).map_err(store_error)?;
        imap_store::add(&dir, message, "S", &self.unique())
            .map(|_| ())
            .map_err(store_error)
    }
}

/// The web mail as an application of the web server: each request's page logic and Maildir
/// work on the blocking pool, submissions through the server's own submission path.
pub struct WebmailApp {
    inner: std::sync::Arc<std::sync::Mutex<(webmail::Webmail, MaildirBackend)>>,
    submitter: crate::net::Submitter,
    max_body: usize,
}

impl std::fmt::Debug for WebmailApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebmailApp").finish_non_exhaustive()
    }
}

impl WebmailApp {
    /// The pages with `config` over `backend`, sending through `submitter`.
    pub fn new(
        config: webmail::Config,
        backend: MaildirBackend,
        submitter: crate::net::Submitter,
    ) -> WebmailApp {
        let max_body = config.max_body;
        WebmailApp {
            inner: std::sync::Arc::new(std::sync::Mutex::new((
                webmail::Webmail::new(config),
                backend,
            ))),
            submitter,
            max_body,
        }
    }
}

type Shared = std::sync::Arc<std::sync::Mutex<(webmail::Webmail, MaildirBackend)>>;

/// Runs `work` on the page state on the blocking pool.
async fn with_state<T: Send + 'static>(
    inner: &Shared,
    work: impl FnOnce(&mut webmail::Webmail, &mut MaildirBackend) -> T + Send + 'static,
) -> Option<T> {
    let inner = inner.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (pages, backend) = &mut *guard;
        work(pages, backend)
    })
    .await
    .ok()
}

fn internal_error() -> (http_proto::ResponseHead, Vec<u8>) {
    let mut head = http_proto::ResponseHead::new(http_proto::StatusCode::INTERNAL_SERVER_ERROR);
    head.headers
        .append("Content-Type", "text/plain; charset=utf-8");
    (head, b"internal error\n".to_vec())
}

async fn respond(response: webmail::Response) -> (http_proto::ResponseHead, Vec<u8>) {
    if let Some(delay) = response.delay {
        tokio::time::sleep(delay).await;
    }
    (response.head, response.body)
}

impl web::App for WebmailApp {
    fn max_body(&self) -> usize {
        self.max_body
    }

    fn call(&self, request: web::AppRequest) -> web::AppFuture {
        let inner = self.inner.clone();
        let submitter = self.submitter.clone();
        Box::pin(async move {
            let input = webmail::Input {
                now: std::time::Instant::now(),
                time: SystemTime::now(),
                random: rand::random(),
            };
            let web::AppRequest {
                head, body, peer, ..
            } = request;
            let step = with_state(&inner, move |pages, backend| {
                pages.handle(backend, &head, &body, &input)
            })
            .await;
            match step {
                Some(webmail::Step::Respond(response)) => respond(response).await,
                Some(webmail::Step::Submit(submission)) => {
                    let result = submitter
                        .submit(
                            &submission.user,
                            &submission.from,
                            &submission.recipients,
                            submission.message.clone(),
                            peer,
                        )
                        .await;
                    if let Err(reason) = &result {
                        tracing::warn!(%peer, user = %submission.user, "webmail: not sent: {reason}");
                    }
                    match with_state(&inner, move |pages, backend| {
                        pages.submitted(backend, &submission, result)
                    })
                    .await
                    {
                        Some(response) => respond(response).await,
                        None => internal_error(),
                    }
                }
                None => internal_error(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(tag: &str) -> (MaildirBackend, PathBuf) {
        let root =
            std::env::temp_dir().join(format!("webmail-backend-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mut policy = Policy::new(&["hamburger.edu".to_string()]);
        policy.add_user("bob", "burgers").unwrap();
        let store = Store::open(&root).unwrap();
        (
            MaildirBackend::new(policy, store, "mail.hamburger.edu"),
            root,
        )
    }

    #[test]
    fn folder_names_are_shown_as_imap_clients_show_them() {
        let (backend, dir) = backend("names");
        assert_eq!(backend.display_name("Caf&AOk-.Cr&AOo-pes"), "Café/Crêpes");
        assert_eq!(backend.display_name("Lists.rust"), "Lists/rust");
        assert_eq!(backend.display_name("bad&name"), "bad&name");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn read_seen_move_delete_and_sent_on_the_maildir() {
        let (mut backend, root) = backend("ops");
        assert_eq!(
            backend.authenticate("bob", "burgers").as_deref(),
            Some("bob@hamburger.edu")
        );
        assert_eq!(backend.authenticate("bob", "nope"), None);
        let bob = "bob@hamburger.edu";
        let mailbox = backend.mailbox(bob).unwrap();
        for (n, secs) in [(0, 1_700_000_000u64), (1, 1_700_000_100)] {
            let unique = UniqueParts {
                time: std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
                pid: 1,
                host: "x".into(),
            };
            mailbox
                .deliver(
                    None,
                    format!("Subject: {n}\r\n\r\nbody {n}\r\n").as_bytes(),
                    &unique,
                )
                .unwrap();
        }
        let folders = backend.folders(bob).unwrap();
        assert_eq!(folders[0], "INBOX");
        assert!(folders.contains(&"Trash".to_string()), "{folders:?}");
        let list = backend.list(bob, INBOX).unwrap();
        assert_eq!(list.len(), 2);
        assert!(
            list[0].id.starts_with("1700000100."),
            "newest first: {list:?}"
        );
        assert!(!list[0].seen);
        let newest = list[0].id.clone();
        assert!(backend
            .read(bob, INBOX, &newest)
            .unwrap()
            .starts_with(b"Subject: 1"));
        // Seen: the file moves to cur/ with `:2,S`.
        backend.set_seen(bob, INBOX, &newest, true).unwrap();
        assert!(mailbox
            .path()
            .join("cur")
            .join(format!("{newest}:2,S"))
            .exists());
        assert!(backend.list(bob, INBOX).unwrap()[0].seen);
        backend.set_seen(bob, INBOX, &newest, false).unwrap();
        assert!(mailbox
            .path()
            .join("cur")
            .join(format!("{newest}:2,"))
            .exists());
        // Move, delete into the Trash, delete for good.
        backend.move_message(bob, INBOX, &newest, "Junk").unwrap();
        assert_eq!(backend.list(bob, "Junk").unwrap().len(), 1);
        backend.delete(bob, "Junk", &newest).unwrap();
        assert_eq!(backend.list(bob, TRASH).unwrap().len(), 1);
        backend.delete(bob, TRASH, &newest).unwrap();
        assert!(backend.list(bob, TRASH).unwrap().is_empty());
        // Refused and missing names.
        assert!(matches!(
            backend.read(bob, "../x", "a"),
            Err(BackendError::BadName(_))
        ));
        assert!(matches!(
            backend.read(bob, INBOX, "../../etc"),
            Err(BackendError::BadName(_))
        ));
        assert!(matches!(
            backend.read(bob, "Nope", "a"),
            Err(BackendError::NotFound)
        ));
        assert!(matches!(
            backend.read(bob, INBOX, &newest),
            Err(BackendError::NotFound)
        ));
        // The Sent copy is seen at once.
        backend
            .save_sent(bob, b"Subject: sent\r\n\r\nhi\r\n")
            .unwrap();
        let sent = backend.list(bob, "Sent").unwrap();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].seen);
        let _ = fs::remove_dir_all(root);
    }
}
