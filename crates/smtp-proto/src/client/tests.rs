//! Unit tests of the client session against scripted server replies.

use super::*;
use crate::address::ForwardPath;
use crate::command::{Notify, Ret};

const EHLO_ALL: &str = "250-mx.hamburger.edu\r\n250-PIPELINING\r\n250-SIZE 1000\r\n\
    250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
    250 ENHANCEDSTATUSCODES\r\n";
const EHLO_BARE: &str = "250 mx.hamburger.edu\r\n";

fn message(recipients: &[&str]) -> Message {
    Message {
        from: ReversePath::parse("<alice@crepes.fr>").unwrap(),
        params: MailParams::default(),
        recipients: recipients
            .iter()
            .map(|r| Recipient::new(ForwardPath::parse(r).unwrap()))
            .collect(),
        data: b"Subject: hi\r\n\r\n.dot\r\n".to_vec(),
    }
}

struct Script {
    client: ClientSession,
    now: Instant,
    events: Vec<ClientEvent>,
}

impl Script {
    fn new(config: ClientConfig, message: Message) -> Script {
        let now = Instant::now();
        Script {
            client: ClientSession::new(config, message, now),
            now,
            events: Vec::new(),
        }
    }

    fn plain(message: Message) -> Script {
        Script::new(ClientConfig::new("crepes.fr"), message)
    }

    fn output(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(bytes) = self.client.poll_transmit() {
            out.extend(bytes);
        }
        self.events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
        String::from_utf8(out).unwrap()
    }

    /// The server says `replies`; returns what the client writes back.
    fn server(&mut self, replies: &str) -> String {
        self.client.handle_input(self.now, replies.as_bytes());
        self.output()
    }

    fn outcome(&self) -> &Outcome {
        self.events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Done(outcome) => Some(outcome),
                _ => None,
            })
            .expect("done")
    }

    fn texts(&self) -> Vec<String> {
        self.outcome()
            .recipients
            .iter()
            .map(|r| {
                let kind = match r.delivery {
                    Delivery::Accepted(_) => "sent",
                    Delivery::Temporary(_) => "deferred",
                    Delivery::Permanent(_) => "bounced",
                };
                format!("{kind}: {}", r.text)
            })
            .collect()
    }
}

#[test]
fn delivery_without_pipelining_falls_back_to_helo() {
    let mut script = Script::plain(message(&["<bob@hamburger.edu>"]));
    assert_eq!(script.output(), "");
    assert_eq!(
        script.server("220 mx.hamburger.edu ESMTP\r\n"),
        "EHLO crepes.fr\r\n"
    );
    assert_eq!(
        script.server("502 5.5.2 Error: command not recognized\r\n"),
        "HELO crepes.fr\r\n"
    );
    // No extensions: no parameters.
    assert_eq!(
        script.server("250 mx.hamburger.edu\r\n"),
        "MAIL FROM:<alice@crepes.fr>\r\n"
    );
    assert_eq!(
        script.server("250 Ok\r\n"),
        "RCPT TO:<bob@hamburger.edu>\r\n"
    );
    assert_eq!(script.server("250 Ok\r\n"), "DATA\r\n");
    assert_eq!(
        script.server("354 go ahead\r\n"),
        "Subject: hi\r\n\r\n..dot\r\n.\r\n"
    );
    assert_eq!(
        script.server("250 2.0.0 Ok: queued as 4711\r\n"),
        "QUIT\r\n"
    );
    assert_eq!(script.texts(), ["sent: 250 2.0.0 Ok: queued as 4711"]);
    assert!(!script.client.is_closed());
    script.server("221 Bye\r\n");
    assert!(script.client.is_closed());
}

#[test]
fn pipelining_sends_the_envelope_in_one_write() {
    let mut msg = message(&["<bob@hamburger.edu>", "<bad@hamburger.edu>", "<carol@x.y>"]);
    msg.params.body = Some(BodyType::EightBitMime);
    msg.params.ret = Some(Ret::Full);
    msg.params.envid = Some("id 1".into());
    msg.recipients[0].params.notify = Some(Notify {
        failure: true,
        ..Notify::NEVER
    });
    let mut script = Script::plain(msg);
    script.server("220 mx\r\n");
    let size = b"Subject: hi\r\n\r\n.dot\r\n".len();
    assert_eq!(
        script.server(EHLO_ALL),
        format!(
            "MAIL FROM:<alice@crepes.fr> SIZE={size} BODY=8BITMIME RET=FULL ENVID=id+201\r\n\
             RCPT TO:<bob@hamburger.edu> NOTIFY=FAILURE\r\nRCPT TO:<bad@hamburger.edu>\r\n\
             RCPT TO:<carol@x.y>\r\nDATA\r\n"
        )
    );
    assert_eq!(script.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"), "");
    assert_eq!(
        script.server("550 5.1.1 <bad@hamburger.edu>: no such user\r\n450 4.2.2 full\r\n"),
        ""
    );
    assert_eq!(
        script.server("354 go\r\n"),
        "Subject: hi\r\n\r\n..dot\r\n.\r\n"
    );
    assert_eq!(script.server("250 2.0.0 Ok: queued as X\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        [
            "sent: 250 2.0.0 Ok: queued as X",
            "bounced: 550 5.1.1 <bad@hamburger.edu>: no such user (in reply to RCPT TO command)",
            "deferred: 450 4.2.2 full (in reply to RCPT TO command)",
        ]
    );
}

#[test]
fn dsn_and_body_parameters_only_when_offered() {
    let mut msg = message(&["<bob@x.y>"]);
    msg.params.body = Some(BodyType::EightBitMime);
    msg.params.ret = Some(Ret::Headers);
    msg.recipients[0].params.notify = Some(Notify::NEVER);
    let mut script = Script::plain(msg);
    script.server("220 mx\r\n");
    assert_eq!(
        script.server("250-mx\r\n250 SIZE\r\n"),
        format!(
            "MAIL FROM:<alice@crepes.fr> SIZE={}\r\n",
            b"Subject: hi\r\n\r\n.dot\r\n".len()
        )
    );
    assert_eq!(script.server("250 ok\r\n"), "RCPT TO:<bob@x.y>\r\n");
}

#[test]
fn every_recipient_rejected_means_no_data() {
    let mut script = Script::plain(message(&["<bad1@x.y>", "<bad2@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_ALL);
    let out = script.server(
        "250 2.1.0 Ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 Error: no valid recipients\r\n",
    );
    assert_eq!(out, "QUIT\r\n");
    assert_eq!(script.texts().len(), 2);
    assert!(script.texts()[0].starts_with("bounced: 550 5.1.1 no"));
}

#[test]
fn mail_rejected() {
    // Pipelined: the RCPT and DATA replies are read before QUIT goes.
    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_ALL);
    assert_eq!(script.server("451 4.3.0 try later\r\n"), "");
    assert_eq!(
        script.texts(),
        ["deferred: 451 4.3.0 try later (in reply to MAIL FROM command)"]
    );
    assert_eq!(
        script.server("503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
        "QUIT\r\n"
    );

    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_BARE);
    assert_eq!(script.server("553 5.7.1 sender rejected\r\n"), "QUIT\r\n");
    assert!(script.texts()[0].starts_with("bounced: 553 5.7.1"));
}

#[test]
fn data_and_final_replies() {
    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_BARE);
    script.server("250 ok\r\n");
    script.server("250 ok\r\n");
    assert_eq!(script.server("451 4.3.0 no data now\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: 451 4.3.0 no data now (in reply to DATA command)"]
    );

    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_BARE);
    script.server("250 ok\r\n250 ok\r\n");
    script.server("354 go\r\n");
    assert_eq!(script.server("554 5.7.1 spam\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["bounced: 554 5.7.1 spam (in reply to end of DATA command)"]
    );
}

#[test]
fn greeting_refused_and_421() {
    let mut script = Script::plain(message(&["<bob@x.y>"]));
    assert_eq!(script.server("554 mx no service\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: refused to talk to me: 554 mx no service"]
    );

    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_BARE);
    assert_eq!(script.server("421 4.3.2 mx shutting down\r\n"), "");
    assert!(script.client.is_closed());
    assert!(script.texts()[0].starts_with("deferred: 421 4.3.2 mx shutting down"));
}

#[test]
fn lost_connection_and_timeouts() {
    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server(EHLO_BARE);
    script.server("250 ok\r\n250 ok\r\n");
    script.server("354 go\r\n");
    // The final reply never comes: deferred, and it may arrive twice.
    let deadline = script.client.poll_timeout().unwrap();
    assert_eq!(deadline, script.now + Duration::from_secs(180 + 600));
    script
        .client
        .handle_sent(script.now + Duration::from_secs(1));
    let deadline = script.client.poll_timeout().unwrap();
    assert_eq!(deadline, script.now + Duration::from_secs(601));
    script.client.handle_timeout(deadline);
    script.output();
    assert!(script.client.is_closed());
    assert_eq!(
        script.texts(),
        ["deferred: conversation timed out after end of data -- message may be sent more than once"]
    );
    assert_eq!(
        script.outcome().recipients[0].delivery.reply().enhanced,
        Some(EnhancedCode::BAD_CONNECTION)
    );

    let mut script = Script::plain(message(&["<bob@x.y>"]));
    assert_eq!(
        script.client.poll_timeout(),
        Some(script.now + Duration::from_secs(300))
    );
    script.server("220 mx\r\n");
    script.server(EHLO_ALL);
    script.client.handle_eof(script.now);
    script.output();
    assert_eq!(
        script.texts(),
        ["deferred: lost connection after MAIL FROM"]
    );

    let mut script = Script::plain(message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server("250 mx\r\n250 ok\r\n250 ok\r\n");
    assert_eq!(
        script.client.poll_timeout(),
        Some(script.now + Duration::from_secs(120)),
        "DATA initiation: 2 minutes"
    );
    script.server("garbage\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: protocol error: malformed reply line"]
    );
}

#[test]
fn requirements_the_server_cannot_meet() {
    let mut msg = message(&["<jösé@bücher.de>"]);
    msg.params.smtputf8 = true;
    let mut script = Script::plain(msg);
    script.server("220 mx\r\n");
    assert_eq!(script.server("250-mx\r\n250 8BITMIME\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["bounced: SMTPUTF8 is required, but was not offered by the server"]
    );
    assert_eq!(
        script.outcome().recipients[0].delivery.reply().enhanced,
        Some(EnhancedCode::new(5, 6, 7))
    );

    // A non-ASCII address without the flag sets SMTPUTF8 when it is offered.
    let mut script = Script::plain(message(&["<jösé@bücher.de>"]));
    script.server("220 mx\r\n");
    assert!(script
        .server("250-mx\r\n250 SMTPUTF8\r\n")
        .starts_with("MAIL FROM:<alice@crepes.fr> SMTPUTF8\r\n"));

    let mut big = message(&["<bob@x.y>"]);
    big.data = vec![b'x'; 2000];
    let mut script = Script::plain(big);
    script.server("220 mx\r\n");
    assert_eq!(script.server(EHLO_ALL), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["bounced: message size 2000 exceeds size limit 1000 of server"]
    );
}

#[test]
fn binarymime_goes_by_bdat() {
    let mut msg = message(&["<bob@x.y>", "<bad@x.y>"]);
    msg.params.body = Some(BodyType::BinaryMime);
    msg.data = b"\0\x01\r\n.\r\n".to_vec();
    let mut script = Script::plain(msg);
    script.server("220 mx\r\n");
    let out = script.server(EHLO_ALL);
    assert_eq!(
        out,
        "MAIL FROM:<alice@crepes.fr> SIZE=7 BODY=BINARYMIME\r\nRCPT TO:<bob@x.y>\r\nRCPT TO:<bad@x.y>\r\n"
    );
    assert_eq!(
        script.server("250 ok\r\n250 ok\r\n550 no\r\n"),
        "BDAT 7 LAST\r\n\0\x01\r\n.\r\n"
    );
    assert_eq!(script.server("250 2.0.0 queued\r\n"), "QUIT\r\n");
    assert_eq!(script.texts()[0], "sent: 250 2.0.0 queued");

    let mut msg = message(&["<bob@x.y>"]);
    msg.params.body = Some(BodyType::BinaryMime);
    let mut script = Script::plain(msg);
    script.server("220 mx\r\n");
    assert_eq!(script.server("250-mx\r\n250 CHUNKING\r\n"), "QUIT\r\n");
    assert!(script.texts()[0].contains("BINARYMIME is required"));
}

fn tls_config(policy: TlsPolicy) -> ClientConfig {
    let mut config = ClientConfig::new("crepes.fr");
    config.tls = policy;
    config
}

#[test]
fn starttls_when_offered() {
    let mut script = Script::new(
        tls_config(TlsPolicy::Opportunistic),
        message(&["<bob@x.y>"]),
    );
    script.server("220 mx\r\n");
    assert_eq!(
        script.server("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
        "STARTTLS\r\n"
    );
    // A reply pipelined by the server after its 220 is plaintext: dropped.
    assert_eq!(script.server("220 2.0.0 go\r\n250 2.1.0 injected\r\n"), "");
    assert_eq!(script.events, [ClientEvent::StartTls]);
    assert_eq!(script.client.poll_timeout(), None);
    assert!(!script.client.wants_input());
    script.client.tls_established(script.now);
    assert_eq!(script.output(), "EHLO crepes.fr\r\n");
    // After TLS, STARTTLS offered again is not used again.
    let out = script.server("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    assert!(out.starts_with("MAIL FROM:"), "{out}");
    script.server("250 ok\r\n250 ok\r\n354 go\r\n");
    script.server("250 2.0.0 ok\r\n");
    assert!(script.outcome().tls);

    // Opportunistic: a refused STARTTLS goes on in plaintext.
    let mut script = Script::new(
        tls_config(TlsPolicy::Opportunistic),
        message(&["<bob@x.y>"]),
    );
    script.server("220 mx\r\n");
    script.server("250-mx\r\n250 STARTTLS\r\n");
    assert!(script
        .server("454 4.7.0 TLS not available\r\n")
        .starts_with("MAIL FROM:"));
}

#[test]
fn starttls_required() {
    let mut script = Script::new(tls_config(TlsPolicy::Required), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert_eq!(script.server(EHLO_BARE), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: TLS is required, but was not offered"]
    );

    let mut script = Script::new(tls_config(TlsPolicy::Required), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server("250-mx\r\n250 STARTTLS\r\n");
    assert_eq!(script.server("454 4.7.0 no TLS\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: TLS is required, but host refused to start TLS: 454 4.7.0 no TLS"]
    );

    let mut script = Script::new(tls_config(TlsPolicy::Disabled), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert!(script
        .server("250-mx\r\n250 STARTTLS\r\n")
        .starts_with("MAIL FROM:"));
}

fn auth_config(allow_plaintext: bool) -> ClientConfig {
    let mut config = ClientConfig::new("crepes.fr");
    config.credentials = Some(Credentials {
        username: "alice".into(),
        password: Secret::new("secret"),
        allow_plaintext,
    });
    config
}

#[test]
fn auth_plain_and_login() {
    let mut script = Script::new(auth_config(true), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert_eq!(
        script.server("250-mx\r\n250 AUTH LOGIN PLAIN\r\n"),
        "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
    );
    assert!(script.server("235 2.7.0 ok\r\n").starts_with("MAIL FROM:"));

    let mut script = Script::new(auth_config(true), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert_eq!(
        script.server("250-mx\r\n250 AUTH=LOGIN\r\n"),
        "AUTH LOGIN\r\n"
    );
    assert_eq!(script.server("334 VXNlcm5hbWU6\r\n"), "YWxpY2U=\r\n");
    assert_eq!(script.server("334 UGFzc3dvcmQ6\r\n"), "c2VjcmV0\r\n");
    assert!(script.server("235 2.7.0 ok\r\n").starts_with("MAIL FROM:"));

    // A failed login defers (Postfix smtp_sasl_auth_soft_bounce).
    let mut script = Script::new(auth_config(true), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    script.server("250-mx\r\n250 AUTH PLAIN\r\n");
    assert_eq!(script.server("535 5.7.8 bad credentials\r\n"), "QUIT\r\n");
    assert_eq!(
        script.texts(),
        ["deferred: SASL authentication failed; server said: 535 5.7.8 bad credentials"]
    );
    assert_eq!(script.outcome().recipients[0].delivery.reply().code, 454);
}

#[test]
fn auth_needs_tls_unless_allowed() {
    let mut script = Script::new(auth_config(false), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert_eq!(
        script.server("250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
        "QUIT\r\n"
    );
    assert_eq!(
        script.texts(),
        ["deferred: SASL authentication failed; no mechanism available"]
    );
    // No AUTH offered at all: go on without (as Postfix does).
    let mut script = Script::new(auth_config(false), message(&["<bob@x.y>"]));
    script.server("220 mx\r\n");
    assert!(script.server(EHLO_BARE).starts_with("MAIL FROM:"));
}

#[test]
fn capabilities() {
    let reply = Reply::with_lines(
        250,
        None,
        vec![
            "mx".into(),
            "size 1000".into(),
            "AUTH PLAIN login".into(),
            "AUTH=CRAM-MD5 PLAIN".into(),
            "X-UNKNOWN".into(),
            "".into(),
            "SIZE".into(),
        ],
    );
    let capabilities = Capabilities::parse(&reply);
    assert_eq!(capabilities.size, Some(0), "the last SIZE line wins");
    assert_eq!(capabilities.auth, ["PLAIN", "LOGIN", "CRAM-MD5"]);
    assert!(!capabilities.pipelining);
}

#[test]
fn no_recipients_is_done_at_once() {
    let script = Script::plain(message(&[]));
    assert!(script.client.is_closed());
}
