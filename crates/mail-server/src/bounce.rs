//! Delivery status notifications (RFC 3464, RFC 6522): the bounce a sender gets for the
//! recipients that failed, built as MIME with `mail-builder`.

use crate::queue::Envelope;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use std::time::{SystemTime, UNIX_EPOCH};

/// The headers of `message` (everything before the first empty line).
fn headers(message: &[u8]) -> &[u8] {
    message
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|end| &message[..end + 2])
        .unwrap_or(message)
}

/// The status code (`5.1.1`) in a reason text, else a general permanent failure.
fn status_of(reason: &str) -> String {
    reason
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| "5.0.0".to_string())
}

/// Which notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The recipients failed for good (`Action: failed`).
    Failure,
    /// The recipients are still waiting (`Action: delayed`), tried again until `until`
    /// (seconds since the epoch; Postfix's `delay_warning_time`).
    Delay {
        /// When the message will bounce if it is still not delivered.
        until: u64,
    },
}

/// The notification for `recipients` (address, reason) of queue entry `id`.
pub(crate) fn build(
    hostname: &str,
    id: &str,
    envelope: &Envelope,
    message: &[u8],
    recipients: &[(String, String)],
    notice: Notice,
    now: SystemTime,
) -> Vec<u8> {
    let failed = recipients;
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let mut text = match notice {
        Notice::Failure => format!(
            "This is the mail system at host {hostname}.\r\n\r\n\
             I'm sorry to have to inform you that your message could not\r\n\
             be delivered to one or more recipients. It's attached below.\r\n\r\n"
        ),
        Notice::Delay { until } => format!(
            "This is the mail system at host {hostname}.\r\n\r\n\
             ####################################################################\r\n\
             # THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n\
             ####################################################################\r\n\r\n\
             Your message could not be delivered yet to the recipients below.\r\n\
             It will be tried again until {}.\r\n\r\n",
            crate::rfc5322_date(UNIX_EPOCH + std::time::Duration::from_secs(until))
        ),
    };
    for (address, reason) in failed {
        text.push_str(&format!("<{address}>: {reason}\r\n"));
    }
    // RFC 3464 §2.2: per-message fields, then a block per recipient.
    let mut status = format!("Reporting-MTA: dns; {hostname}\r\nX-Queue-ID: {id}\r\n");
    if let Some(envid) = &envelope.envid {
        status.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    status.push_str(&format!(
        "Arrival-Date: {}\r\n",
        crate::rfc5322_date(UNIX_EPOCH + std::time::Duration::from_secs(envelope.arrival))
    ));
    for (address, reason) in failed {
        let (action, code) = match notice {
            Notice::Failure => ("failed", status_of(reason)),
            // A delay is a temporary condition: 4.x.x (the reason's code, made transient).
            Notice::Delay { .. } => ("delayed", format!("4{}", &status_of(reason)[1..])),
        };
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {address}\r\nAction: {action}\r\nStatus: {code}\r\nDiagnostic-Code: smtp; {}\r\n",
            reason.replace(['\r', '\n'], " ")
        ));
        if let Notice::Delay { until } = notice {
            status.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                crate::rfc5322_date(UNIX_EPOCH + std::time::Duration::from_secs(until))
            ));
        }
    }
    let returned = if envelope.ret.as_deref() == Some("FULL") {
        MimePart::new("message/rfc822", message.to_vec())
    } else {
        MimePart::new(
            "text/rfc822-headers",
            String::from_utf8_lossy(headers(message)).into_owned(),
        )
    };
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", text),
            MimePart::new("message/delivery-status", status),
            returned,
        ],
    );
    let postmaster = format!("MAILER-DAEMON@{hostname}");
    MessageBuilder::new()
        .from(("Mail Delivery System".to_string(), postmaster))
        .to(envelope.from.as_str())
        .subject(match notice {
            Notice::Failure => "Undelivered Mail Returned to Sender",
            Notice::Delay { .. } => "Delayed Mail (still being retried)",
        })
        .message_id(match notice {
            Notice::Failure => format!("{id}.bounce@{hostname}"),
            Notice::Delay { .. } => format!("{id}.delay@{hostname}"),
        })
        .date(seconds)
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-replied"),
        )
        .body(report)
        .write_to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_come_from_the_reason() {
        assert_eq!(status_of("550 5.1.1 <x>: User unknown"), "5.1.1");
        assert_eq!(status_of("relay=mx[1.2.3.4]:25, 554 5.7.1 denied"), "5.7.1");
        assert_eq!(status_of("delivery time expired: connect refused"), "5.0.0");
        assert_eq!(status_of("version 1.2.3 of x"), "5.0.0");
    }

    #[test]
    fn the_report_is_multipart_with_the_failed_recipients() {
        let envelope = crate::queue::tests::envelope();
        let bytes = build(
            "mail.crepes.fr",
            "ABCDEF0123",
            &envelope,
            b"Subject: hello\r\nFrom: alice@crepes.fr\r\n\r\nbody text\r\n",
            &[("bob@hamburger.edu".into(), "550 5.1.1 User unknown".into())],
            Notice::Failure,
            UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("multipart/report"), "{text}");
        assert!(
            text.contains("report-type=\"delivery-status\"")
                || text.contains("report-type=delivery-status"),
            "{text}"
        );
        assert!(
            text.contains("Final-Recipient: rfc822; bob@hamburger.edu"),
            "{text}"
        );
        assert!(text.contains("Status: 5.1.1"), "{text}");
        assert!(text.contains("Subject: hello"), "{text}");
        assert!(
            !text.contains("body text"),
            "RET=HDRS returns the headers only:\n{text}"
        );
        assert!(
            text.contains("To: <alice@crepes.fr>") || text.contains("To: alice@crepes.fr"),
            "{text}"
        );
    }

    #[test]
    fn a_delay_warning_says_delayed_and_until_when() {
        let envelope = crate::queue::tests::envelope();
        let bytes = build(
            "mail.crepes.fr",
            "ABCDEF0123",
            &envelope,
            b"Subject: hello\r\n\r\nbody\r\n",
            &[(
                "bob@hamburger.edu".into(),
                "connect to 127.0.7.10:25: Connection refused".into(),
            )],
            Notice::Delay {
                until: 1_800_432_000,
            },
            UNIX_EPOCH + std::time::Duration::from_secs(1_800_014_400),
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Action: delayed"), "{text}");
        assert!(text.contains("Status: 4.0.0"), "{text}");
        assert!(text.contains("Will-Retry-Until: "), "{text}");
        assert!(text.contains("Subject: Delayed Mail"), "{text}");
        assert!(text.contains("THIS IS A WARNING ONLY"), "{text}");
    }
}
