//! The mail user agent's side (seed §2.3.1): composing a MIME message (RFC 5322, RFC 2045 ff.,
//! with `mail-builder`) and submitting it to a server (RFC 6409) in plaintext, with STARTTLS
//! (RFC 3207) or with implicit TLS (RFC 8314), as `applayer mail send`, the world's check and
//! its scenario do.

use crate::delivery::{client_drive, ClientEnd, CONNECT_TIMEOUT};
use smtp_proto::{ClientConfig, ClientSession, Message, TlsPolicy, Trace};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP (port 25 between servers, or a test).
    Plain,
    /// STARTTLS, required: the message is not sent if the server does not offer it (port 587).
    StartTls,
    /// TLS from the first byte (port 465, RFC 8314 "submissions").
    Implicit,
}

/// Where and how to submit.
#[derive(Clone)]
pub struct Submission {
    /// The server.
    pub server: SocketAddr,
    /// Our address, when it matters (the world's hosts each have one).
    pub source: Option<IpAddr>,
    /// Our EHLO name.
    pub helo: String,
    /// AUTH PLAIN/LOGIN credentials.
    pub credentials: Option<smtp_proto::Credentials>,
    /// Plain, STARTTLS or implicit TLS.
    pub security: Security,
    /// The client configuration and the name the server's certificate must carry; needed
    /// unless `security` is [`Security::Plain`].
    pub tls: Option<(Arc<tls::rustls::ClientConfig>, String)>,
}

fn io_error(text: String) -> std::io::Error {
    std::io::Error::other(text)
}

/// Submits `message`; every command and reply of the dialogue goes to `observe` as it
/// happens (the `S:`/`C:` transcript of `mail send -v`). Returns the per-recipient outcome.
pub async fn submit(
    submission: &Submission,
    message: Message,
    observe: &mut (dyn FnMut(&Trace) + Send),
) -> std::io::Result<smtp_proto::Outcome> {
    let server = submission.server;
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        netio::resolve::connect_from(submission.source, server),
    )
    .await
    .map_err(|_| io_error(format!("connect to {server}: timed out")))??;
    let tls = match (submission.security, &submission.tls) {
        (Security::Plain, _) => None,
        (_, Some((config, name))) => {
            let name = tls::ServerName::try_from(name.clone())
                .map_err(|error| io_error(format!("{name}: {error}")))?;
            Some((tls::TlsConnector::from(config.clone()), name))
        }
        (_, None) => return Err(io_error("TLS asked for without a TLS set-up".into())),
    };
    let mut config = ClientConfig::new(submission.helo.clone());
    config.tls = match submission.security {
        Security::StartTls => TlsPolicy::Required,
        Security::Plain | Security::Implicit => TlsPolicy::Disabled,
    };
    config.credentials = submission.credentials.clone();
    config.trace = true;
    let mut session = ClientSession::new(config, message, Instant::now());
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    let handshake = |connector: tls::TlsConnector, name, stream| async move {
        tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| io_error("TLS handshake timed out".into()))?
    };
    let mut stream = stream;
    if submission.security == Security::Implicit {
        let Some((connector, name)) = tls else {
            unreachable!("checked above")
        };
        let mut secure = handshake(connector, name, stream).await?;
        return match client_drive(&mut secure, &mut session, local, peer, observe).await? {
            ClientEnd::Done(outcome) => Ok(outcome),
            ClientEnd::StartTls => Err(io_error("STARTTLS inside TLS".into())),
        };
    }
    match client_drive(&mut stream, &mut session, local, peer, observe).await? {
        ClientEnd::Done(outcome) => Ok(outcome),
        ClientEnd::StartTls => {
            let Some((connector, name)) = tls else {
                return Err(io_error("STARTTLS without a TLS set-up".into()));
            };
            let mut secure = handshake(connector, name, stream).await?;
            session.tls_established(Instant::now());
            match client_drive(&mut secure, &mut session, local, peer, observe).await? {
                ClientEnd::Done(outcome) => Ok(outcome),
                ClientEnd::StartTls => Err(io_error("STARTTLS twice".into())),
            }
        }
    }
}

/// Sends one message as a user agent does: from `source` if given; with STARTTLS, required,
/// when `tls` is given (a client configuration and the name to verify); with AUTH when
/// `credentials` are given. [`submit`] with no transcript.
pub async fn send(
    server: SocketAddr,
    source: Option<IpAddr>,
    helo: &str,
    credentials: Option<smtp_proto::Credentials>,
    tls: Option<(Arc<tls::rustls::ClientConfig>, String)>,
    message: Message,
) -> std::io::Result<smtp_proto::Outcome> {
    let submission = Submission {
        server,
        source,
        helo: helo.to_string(),
        credentials,
        security: if tls.is_some() {
            Security::StartTls
        } else {
            Security::Plain
        },
        tls,
    };
    submit(&submission, message, &mut |_| {}).await
}

/// A file to attach: its name as the recipient sees it, its MIME type and its bytes.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The file name (no directories).
    pub name: String,
    /// The media type, e.g. `image/jpeg`.
    pub content_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// Reads `path`; the type comes from the file name's extension.
    pub fn read(path: &Path) -> std::io::Result<Attachment> {
        let bytes = std::fs::read(path)?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        Ok(Attachment {
            content_type: media_type(&name).to_string(),
            name,
            bytes,
        })
    }
}

/// The media type for a file name's extension (the common ones; the rest are
/// `application/octet-stream`).
pub fn media_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "ics" => "text/calendar",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// What a user agent puts in a new message.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The author, `alice@crepes.fr`.
    pub from: String,
    /// The recipients for the To field.
    pub to: Vec<String>,
    /// The subject (any Unicode; encoded as RFC 2047 words when needed).
    pub subject: String,
    /// The text of the message (`\n` or `\r\n` line ends; any Unicode).
    pub body: String,
    /// The files to attach.
    pub attachments: Vec<Attachment>,
}

/// The message for `draft`: From, To, Subject, Date, a fresh Message-ID in the author's
/// domain, MIME-Version, a `text/plain; charset=utf-8` body (quoted-printable or base64 when
/// it is not plain ASCII) and a `multipart/mixed` with the attachments in base64 when there
/// are any. Lines end in CRLF throughout.
pub fn compose(draft: &Draft, now: SystemTime) -> Vec<u8> {
    let domain = draft
        .from
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .filter(|domain| !domain.is_empty())
        .unwrap_or("localhost");
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let message_id = format!(
        "{}.{:09}.{}.applayer@{domain}",
        since.as_secs(),
        since.subsec_nanos(),
        std::process::id()
    );
    let body = draft.body.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut builder = mail_builder::MessageBuilder::new()
        .from(draft.from.as_str())
        .to(draft.to.iter().map(String::as_str).collect::<Vec<&str>>())
        .subject(draft.subject.as_str())
        .date(since.as_secs() as i64)
        .message_id(message_id)
        .text_body(body);
    for attachment in &draft.attachments {
        builder = builder.attachment(
            attachment.content_type.as_str(),
            attachment.name.as_str(),
            attachment.bytes.as_slice(),
        );
    }
    // Writing into a Vec cannot fail.
    builder.write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_bare_newline(bytes: &[u8]) -> bool {
        bytes.iter().enumerate().any(|(index, &byte)| {
            (byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r'))
                || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n'))
        })
    }

    #[test]
    fn a_plain_message_has_the_fields_and_crlf_lines() {
        let draft = Draft {
            from: "alice@crepes.fr".into(),
            to: vec!["bob@hamburger.edu".into()],
            subject: "crepes".into(),
            body: "Bonjour Bob\n.a dot line\nAlice\n".into(),
            attachments: vec![],
        };
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_796_529_600);
        let message = compose(&draft, now);
        let text = String::from_utf8(message.clone()).unwrap();
        assert!(!has_bare_newline(&message), "{text}");
        for field in [
            "From: <alice@crepes.fr>\r\n",
            "To: <bob@hamburger.edu>\r\n",
            "Subject: crepes\r\n",
            "MIME-Version: 1.0\r\n",
        ] {
            assert!(text.contains(field), "no {field:?} in {text}");
        }
        assert!(text.contains("@crepes.fr>\r\n"), "{text}");
        assert!(crate::headers::has_field(&message, "Date"), "{text}");
        assert!(crate::headers::has_field(&message, "Message-ID"), "{text}");
        assert!(
            text.contains("Bonjour Bob\r\n.a dot line\r\nAlice"),
            "{text}"
        );
    }

    #[test]
    fn attachments_and_unicode_are_encoded() {
        let draft = Draft {
            from: "alice@crepes.fr".into(),
            to: vec!["bob@hamburger.edu".into(), "carol@hamburger.edu".into()],
            subject: "Crêpes für alle".into(),
            body: "Voilà la recette.\n".into(),
            attachments: vec![Attachment {
                name: "recette.pdf".into(),
                content_type: media_type("recette.pdf").into(),
                bytes: (0..=255u8).collect(),
            }],
        };
        let message = compose(&draft, SystemTime::now());
        assert!(!has_bare_newline(&message));
        assert!(message.is_ascii(), "8-bit text left unencoded");
        let text = String::from_utf8(message).unwrap();
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("application/pdf"), "{text}");
        assert!(text.contains("recette.pdf"), "{text}");
        assert!(
            text.contains("=?utf-8?"),
            "subject not RFC 2047 encoded: {text}"
        );
        assert!(text.contains("carol@hamburger.edu"), "{text}");
    }

    #[test]
    fn media_types_by_extension() {
        assert_eq!(media_type("a.JPG"), "image/jpeg");
        assert_eq!(media_type("notes.txt"), "text/plain");
        assert_eq!(media_type("noextension"), "application/octet-stream");
    }
}
