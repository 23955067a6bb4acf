//! A server session and a client session driven against each other in memory, in virtual
//! time: deliveries, refusals, STARTTLS, AUTH, limits, smuggling and injection defences,
//! timeouts and shutdown.

use crate::pair::Pair;
use smtp_proto::{
    AuthPolicy, BareNewline, BodyType, ClientConfig, CloseReason, Credentials, Delivery,
    ForwardPath, MailParams, Message, Outcome, Recipient, ReversePath, Secret, ServerConfig,
    ServerEvent, ServerSession, TlsPolicy,
};
use std::time::{Duration, Instant};

fn message(recipients: &[&str], data: &[u8]) -> Message {
    Message {
        from: ReversePath::parse("<alice@crepes.fr>").unwrap(),
        params: MailParams::default(),
        recipients: recipients
            .iter()
            .map(|r| Recipient::new(ForwardPath::parse(r).unwrap()))
            .collect(),
        data: data.to_vec(),
    }
}

fn server() -> ServerConfig {
    ServerConfig::new("mail.hamburger.edu")
}

fn client() -> ClientConfig {
    ClientConfig::new("mail.crepes.fr")
}

/// `sent`, `deferred` or `bounced` per recipient, with the log text.
fn statuses(outcome: &Outcome) -> Vec<String> {
    outcome
        .recipients
        .iter()
        .map(|r| {
            let status = match r.delivery {
                Delivery::Accepted(_) => "sent",
                Delivery::Temporary(_) => "deferred",
                Delivery::Permanent(_) => "bounced",
            };
            format!("{} status={status} ({})", r.recipient.path, r.text)
        })
        .collect()
}

#[test]
fn plain_delivery() {
    let mut pair = Pair::new(
        server(),
        client(),
        message(&["<bob@hamburger.edu>"], b"Subject: Hi\r\n\r\nCrepes?\r\n"),
    );
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@hamburger.edu> status=sent (250 2.0.0 Ok: queued as 1)"]
    );
    assert!(pair.server.is_closed() && pair.client.is_closed());
    let (envelope, data) = &pair.service.stored[0];
    assert_eq!(data, b"Subject: Hi\r\n\r\nCrepes?\r\n");
    assert_eq!(envelope.helo, "mail.crepes.fr");
    assert_eq!(envelope.params.size, Some(24));
    assert!(pair.service.events.contains(&ServerEvent::Quit));
    // MAIL, RCPT and DATA went in one write (RFC 2920).
    let transcript = pair.transcript();
    assert!(
        transcript.contains(
            "C: MAIL FROM:<alice@crepes.fr> SIZE=24\nC: RCPT TO:<bob@hamburger.edu>\nC: DATA\n"
        ),
        "{transcript}"
    );
}

#[test]
fn pipelined_recipients_with_one_rejected() {
    let mut pair = Pair::new(
        server(),
        client(),
        message(
            &[
                "<bob@hamburger.edu>",
                "<bad@hamburger.edu>",
                "<carol@hamburger.edu>",
            ],
            b"x\r\n",
        ),
    );
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        [
            "<bob@hamburger.edu> status=sent (250 2.0.0 Ok: queued as 1)",
            "<bad@hamburger.edu> status=bounced (550 5.1.1 No such user here (in reply to RCPT TO command))",
            "<carol@hamburger.edu> status=sent (250 2.0.0 Ok: queued as 1)",
        ]
    );
    assert_eq!(pair.service.stored[0].0.recipients.len(), 2);
}

#[test]
fn without_pipelining_and_with_helo_only() {
    let mut config = server();
    config.extensions.pipelining = false;
    let mut pair = Pair::new(config, client(), message(&["<bob@x.y>", "<bad@x.y>"], b"x"));
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    assert!(matches!(
        outcome.recipients[1].delivery,
        Delivery::Permanent(_)
    ));
    // One command per write.
    assert!(pair
        .wire
        .iter()
        .filter(|(side, _)| *side == 'C')
        .all(|(_, bytes)| bytes.starts_with(b"QUIT")
            || bytes.iter().filter(|&&b| b == b'\n').count() == 1
            || bytes.ends_with(b"\r\n.\r\n")));
}

#[test]
fn dot_stuffing_round_trips() {
    let messages: [&[u8]; 5] = [
        b".\r\n",
        b"..\r\n.\r\n...\r\n",
        b"Subject: dots\r\n\r\n.leading\r\nmid.dle\r\n.\r\n",
        b"no final newline.",
        b".\n.\n\n.x\n",
    ];
    for data in messages {
        let mut pair = Pair::new(server(), client(), message(&["<bob@x.y>"], data));
        pair.piece = 3;
        let outcome = pair.run().unwrap();
        assert!(
            matches!(outcome.recipients[0].delivery, Delivery::Accepted(_)),
            "{:?}",
            String::from_utf8_lossy(data)
        );
        // What is stored is the message with CRLF line ends (bare LF normalised by the
        // client, a last line completed).
        let mut expected = String::from_utf8_lossy(data)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        if !expected.ends_with("\r\n") {
            expected.push_str("\r\n");
        }
        assert_eq!(String::from_utf8_lossy(&pair.service.stored[0].1), expected);
    }
}

#[test]
fn starttls_then_delivery() {
    let mut config = server();
    config.tls_available = true;
    let mut client = client();
    client.tls = TlsPolicy::Required;
    let mut pair = Pair::new(config, client, message(&["<bob@x.y>"], b"secret stuff\r\n"));
    let outcome = pair.run().unwrap();
    assert!(outcome.tls);
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    assert!(pair.service.stored[0].0.tls);
    let ehlos = pair.transcript().matches("C: EHLO mail.crepes.fr").count();
    assert_eq!(ehlos, 2, "EHLO again after TLS (RFC 3207 §4.2)");
}

#[test]
fn starttls_injection_is_dropped() {
    let mut config = server();
    config.tls_available = true;
    let mut pair = Pair::new(config, client(), message(&["<bob@x.y>"], b"hi\r\n"));
    // CVE-2011-0411: plaintext commands that arrive after STARTTLS and before the handshake.
    pair.inject_after_starttls = Some(b"MAIL FROM:<evil@x.y>\r\nRCPT TO:<victim@x.y>\r\n".to_vec());
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    assert_eq!(pair.server.discarded_input(), 44);
    let mails = pair
        .service
        .events
        .iter()
        .filter(|e| matches!(e, ServerEvent::Mail { .. }))
        .count();
    assert_eq!(mails, 1, "the injected MAIL never ran");
}

fn auth_pair() -> Pair {
    let mut config = server();
    config.tls_available = true;
    config.auth = AuthPolicy::AfterTls;
    let mut client = client();
    client.credentials = Some(Credentials {
        username: "alice".into(),
        password: Secret::new("secret"),
        allow_plaintext: false,
    });
    Pair::new(config, client, pair_message())
}

#[test]
fn auth_plain_after_starttls() {
    let mut pair = auth_pair();
    pair.piece = 1;
    let outcome = pair.run().unwrap();
    assert!(outcome.authenticated && outcome.tls);
    assert_eq!(
        pair.service.stored[0].0.authenticated.as_deref(),
        Some("alice")
    );
    assert!(pair
        .transcript()
        .contains("C: AUTH PLAIN AGFsaWNlAHNlY3JldA=="));
}

#[test]
fn auth_login_exchange() {
    // Our client prefers PLAIN (the client unit tests cover its LOGIN steps against a
    // LOGIN-only server); here the server's side of LOGIN, as Outlook and others speak it.
    let now = Instant::now();
    let mut config = server();
    config.auth = AuthPolicy::Always;
    let mut server = ServerSession::new(config, now);
    let mut service = crate::pair::Service::default();
    service.drive(&mut server);
    server.handle_input(now, b"EHLO x\r\nAUTH LOGIN\r\n");
    assert!(String::from_utf8(service.drive(&mut server))
        .unwrap()
        .ends_with("334 VXNlcm5hbWU6\r\n"));
    server.handle_input(now, b"YWxpY2U=\r\nc2VjcmV0\r\n");
    assert_eq!(
        service.drive(&mut server),
        b"334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n".to_vec()
    );
    assert_eq!(server.authenticated(), Some("alice"));
}

#[test]
fn wrong_password_defers() {
    let mut client = client();
    client.credentials = Some(Credentials {
        username: "alice".into(),
        password: Secret::new("wrong"),
        allow_plaintext: true,
    });
    let mut config = server();
    config.auth = AuthPolicy::Always;
    let mut pair = Pair::new(config, client, pair_message());
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@x.y> status=deferred (SASL authentication failed; server said: 535 5.7.8 Error: authentication failed)"]
    );
}

fn pair_message() -> Message {
    message(&["<bob@x.y>"], b"hi\r\n")
}

#[test]
fn too_big_at_mail_and_at_end_of_data() {
    // SIZE offered: the client sees the limit and bounces without sending (RFC 1870 §6).
    let mut config = server();
    config.max_message_size = 100;
    let big = vec![b'x'; 500];
    let mut pair = Pair::new(config.clone(), client(), message(&["<bob@x.y>"], &big));
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@x.y> status=bounced (message size 500 exceeds size limit 100 of server)"]
    );
    assert!(!pair.transcript().contains("MAIL FROM"));

    // A client declaring SIZE over the limit gets 552 at MAIL.
    let service = crate::pair::converse(
        config.clone(),
        "S: 220
         C: EHLO x
         S: 250
         C: MAIL FROM:<a@b.c> SIZE=101
         S: 552 5.3.4",
    );
    assert!(service.stored.is_empty());

    // SIZE not offered: the server finds out at the end of the data and answers then.
    config.extensions.size = false;
    let mut pair = Pair::new(config, client(), message(&["<bob@x.y>"], &big));
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@x.y> status=bounced (552 5.3.4 Message size exceeds fixed limit (in reply to end of DATA command))"]
    );
    assert!(pair.service.stored.is_empty());
}

#[test]
fn bare_lf_from_a_careless_client_is_rejected() {
    // Our client normalises bare LF (dot_stuffing_round_trips); a raw client sending one is
    // refused, as Postfix's `smtpd_forbid_bare_newline = strict` does.
    let now = Instant::now();
    let mut session = ServerSession::new(server(), now);
    let mut service = crate::pair::Service::default();
    session.handle_input(
        now,
        b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nhi\n.\nMAIL FROM:<spoof@x.y>\r\n",
    );
    let out = String::from_utf8(service.drive(&mut session)).unwrap();
    assert!(out.ends_with("550 5.5.2 mail.hamburger.edu Error: bare <LF> received\r\n"));
    assert!(session.is_closed());
    assert!(service.stored.is_empty());

    // In Postfix's "normal" mode the same bytes are one message, not two.
    let mut config = server();
    config.bare_newline = BareNewline::Normalize;
    let mut session = ServerSession::new(config, now);
    session.handle_input(
        now,
        b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nhi\n.\nMAIL FROM:<spoof@x.y>\r\n.\r\n",
    );
    let mut service = crate::pair::Service::default();
    service.drive(&mut session);
    assert_eq!(service.stored.len(), 1);
    assert_eq!(service.stored[0].1, b"hi\r\n.\r\nMAIL FROM:<spoof@x.y>\r\n");
}

#[test]
fn binarymime_by_bdat() {
    let mut msg = message(&["<bob@x.y>"], b"\0\x01\x02\r\n.\r\n\xff");
    msg.params.body = Some(BodyType::BinaryMime);
    let mut pair = Pair::new(server(), client(), msg);
    pair.piece = 2;
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    let (envelope, data) = &pair.service.stored[0];
    assert!(envelope.chunked);
    assert_eq!(data, b"\0\x01\x02\r\n.\r\n\xff");
}

#[test]
fn smtputf8_delivery() {
    let mut pair = Pair::new(
        server(),
        client(),
        message(&["<jösé@bücher.de>"], "Subject: ü\r\n".as_bytes()),
    );
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    assert!(pair.service.stored[0].0.params.smtputf8);

    let mut config = server();
    config.extensions.smtputf8 = false;
    let mut pair = Pair::new(config, client(), message(&["<jösé@bücher.de>"], b"x"));
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Permanent(_)
    ));
    assert!(pair.service.stored.is_empty());
}

#[test]
fn client_times_out_on_a_silent_server() {
    let mut pair = Pair::new(server(), client(), pair_message());
    pair.service.silent = true;
    let start = pair.now;
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@x.y> status=deferred (conversation timed out after MAIL FROM)"]
    );
    assert!(pair.now >= start + Duration::from_secs(300));
    assert!(pair.client.is_closed());
}

#[test]
fn server_times_out_an_idle_client() {
    let now = Instant::now();
    let mut session = ServerSession::new(server(), now);
    let mut service = crate::pair::Service::default();
    service.drive(&mut session);
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(300));
    session.handle_timeout(deadline);
    assert_eq!(
        service.drive(&mut session),
        b"421 4.4.2 mail.hamburger.edu Error: timeout exceeded\r\n".to_vec()
    );
    assert!(session.is_closed());
}

#[test]
fn shutdown_sends_421() {
    // At once: the client's EHLO gets 421 and the message is deferred.
    let mut pair = Pair::new(server(), client(), pair_message());
    pair.server.begin_shutdown();
    let outcome = pair.run().unwrap();
    assert_eq!(
        statuses(&outcome),
        ["<bob@x.y> status=deferred (421 4.3.2 mail.hamburger.edu Service shutting down (in reply to EHLO command))"]
    );

    // During a message: it is finished and accepted, then 421 comes instead of 221.
    let mut pair = Pair::new(server(), client(), pair_message());
    pair.service.shutdown_at_message = true;
    let outcome = pair.run().unwrap();
    assert!(matches!(
        outcome.recipients[0].delivery,
        Delivery::Accepted(_)
    ));
    assert!(pair.service.events.iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            reason: CloseReason::Shutdown,
            ..
        }
    )));
}

#[test]
fn traces_of_both_sides() {
    let mut config = server();
    config.trace = true;
    let mut client = client();
    client.trace = true;
    let mut pair = Pair::new(config, client, pair_message());
    pair.run().unwrap();
    let server_traces: Vec<_> = std::iter::from_fn(|| pair.server.poll_trace()).collect();
    let client_traces: Vec<_> = std::iter::from_fn(|| pair.client.poll_trace()).collect();
    // What one side sent the other received, summarised alike, in the same order.
    let summaries = |traces: &[smtp_proto::Trace], direction| -> Vec<String> {
        traces
            .iter()
            .filter(|t| t.direction == direction)
            .map(|t| t.summary.clone())
            .collect()
    };
    use smtp_proto::Direction::{Recv, Send};
    assert_eq!(
        summaries(&server_traces, Recv),
        summaries(&client_traces, Send)
    );
    assert_eq!(
        summaries(&server_traces, Send),
        summaries(&client_traces, Recv)
    );
    assert!(client_traces
        .iter()
        .any(|t| t.summary == "MAIL FROM:<alice@crepes.fr> SIZE=4"));
}
