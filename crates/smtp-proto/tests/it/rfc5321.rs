//! RFC 5321 conformance: the Appendix D scenarios and the sequencing rules of §4.1.4 and
//! §3.3, each run as a transcript against the server.

use crate::pair::converse;
use smtp_proto::{ServerConfig, VrfyPolicy};

fn config() -> ServerConfig {
    ServerConfig::new("foo.com")
}

/// Appendix D.1: "A Typical SMTP Transaction Scenario".
#[test]
fn d1_typical_transaction() {
    let service = converse(
        config(),
        "S: 220 foo.com
         C: EHLO bar.com
         S: 250 BINARYMIME
         C: MAIL FROM:<Smith@bar.com>
         S: 250 2.1.0
         C: RCPT TO:<Jones@foo.com>
         S: 250 2.1.5
         C: RCPT TO:<Green@foo.com>
         S: 550 5.1.1 No such user here
         C: RCPT TO:<Brown@foo.com>
         S: 250 2.1.5
         C: DATA
         S: 354
         C: Blah blah blah...
         C: ...etc. etc. etc.
         C: .
         S: 250 2.0.0 Ok: queued as 1
         C: QUIT
         S: 221 2.0.0",
    );
    let (envelope, data) = &service.stored[0];
    let recipients: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| r.path.to_string())
        .collect();
    assert_eq!(recipients, ["<Jones@foo.com>", "<Brown@foo.com>"]);
    assert_eq!(data, b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
}

/// Appendix D.2: "Aborted SMTP Transaction Scenario".
#[test]
fn d2_aborted_transaction() {
    let service = converse(
        config(),
        "S: 220 foo.com
         C: EHLO bar.com
         S: 250
         C: MAIL FROM:<Smith@bar.com>
         S: 250 2.1.0
         C: RCPT TO:<Jones@foo.com>
         S: 250 2.1.5
         C: RCPT TO:<Green@foo.com>
         S: 550 5.1.1
         C: RSET
         S: 250 2.0.0
         C: QUIT
         S: 221",
    );
    assert!(service.stored.is_empty());
}

/// Appendix D.3 and §4.1.1.3: relayed mail with a source route, accepted and the route
/// dropped (Appendix C).
#[test]
fn d3_relayed_mail_with_source_route() {
    let service = converse(
        config(),
        "S: 220
         C: EHLO bar.com
         S: 250
         C: MAIL FROM:<JQP@bar.com>
         S: 250 2.1.0
         C: RCPT TO:<@foo.com,@xyz.com:Jones@XYZ.COM>
         S: 250 2.1.5
         C: DATA
         S: 354
         C: Received: from bar.com by foo.com ; Thu, 21 May 1998 05:33:29 -0700
         C: Date: Thu, 21 May 1998 05:33:22 -0700
         C: .
         S: 250
         C: QUIT
         S: 221",
    );
    assert_eq!(
        service.stored[0].0.recipients[0].path.to_string(),
        "<Jones@XYZ.COM>"
    );
}

/// Appendix D.4: "Verifying and Sending Scenario".
#[test]
fn d4_verifying_and_sending() {
    let mut config = config();
    config.vrfy = VrfyPolicy::Ask;
    converse(
        config,
        "S: 220 foo.com
         C: EHLO bar.com
         S: 250
         C: VRFY Crispin
         S: 250 2.0.0 Mark Crispin <Admin.MRC@foo.com>
         C: VRFY Nobody
         S: 550 5.1.1
         C: MAIL FROM:<EAK@bar.com>
         S: 250
         C: RCPT TO:<Admin.MRC@foo.com>
         S: 250
         C: DATA
         S: 354
         C: Blah blah blah...
         C: .
         S: 250
         C: QUIT
         S: 221",
    );
}

/// §3.3, §4.1.4: "If the transaction beginning command argument is not acceptable, a 501
/// failure reply MUST be returned"; commands out of order get 503; DATA without an accepted
/// recipient gets 554 (or 503); RSET, NOOP and QUIT are allowed anywhere.
#[test]
fn sequencing() {
    converse(
        config(),
        "S: 220
         C: NOOP
         S: 250 2.0.0
         C: RSET
         S: 250 2.0.0
         C: MAIL FROM:<a@bar.com>
         S: 503 5.5.1 Error: send HELO/EHLO first
         C: HELO bar.com
         S: 250 foo.com
         C: RCPT TO:<a@foo.com>
         S: 503 5.5.1 Error: need MAIL command
         C: MAIL FROM:a@bar.com
         S: 501 5.1.7
         C: MAIL FROM:<a@bar.com>
         S: 250
         C: MAIL FROM:<a@bar.com>
         S: 503 5.5.1 Error: nested MAIL command
         C: DATA
         S: 554 5.5.1 Error: no valid recipients
         C: RCPT TO:<>
         S: 501 5.1.3
         C: RCPT TO:<postmaster>
         S: 250 2.1.5
         C: QUIT
         S: 221",
    );
}

/// §4.5.1: "Any system that includes an SMTP server supporting mail relaying or delivery
/// MUST support the reserved mailbox 'postmaster' as a case-insensitive local name."
#[test]
fn postmaster_without_domain() {
    let service = converse(
        config(),
        "S: 220
         C: EHLO bar.com
         S: 250
         C: MAIL FROM:<>
         S: 250
         C: RCPT TO:<PostMaster>
         S: 250
         C: DATA
         S: 354
         C: bounce
         C: .
         S: 250",
    );
    let envelope = &service.stored[0].0;
    assert_eq!(envelope.from, smtp_proto::ReversePath::Null);
    assert_eq!(
        envelope.recipients[0].path,
        smtp_proto::ForwardPath::Postmaster
    );
}

/// §4.5.3.1.4: "The maximum total length of a command line including the command word and
/// the <CRLF> is 512 octets." §4.5.3.1.10: "500 Line too long."
#[test]
fn command_line_limit() {
    let ok = format!("C: NOOP {}", "x".repeat(512 - 2 - 5));
    let long = format!("C: NOOP {}", "x".repeat(512 - 2 - 4));
    converse(
        config(),
        &format!(
            "S: 220
             {ok}
             S: 250
             {long}
             S: 500 5.5.2 Error: line too long
             C: NOOP
             S: 250"
        ),
    );
}
