//! Properties over arbitrary input: the same events at every byte split of a valid
//! conversation, every prefix handled, and no panic on random bytes from a seeded xorshift
//! (codecs, both session machines in every state, with random service answers).

use crate::pair::{Pair, Service};
use smtp_proto::address::{Domain, ForwardPath, Mailbox, ReversePath};
use smtp_proto::{
    decode, AuthPolicy, BareNewline, ClientConfig, ClientSession, DataDecoder, EnhancedCode,
    MailParams, Message, Recipient, Reply, ReplyParser, ServerConfig, ServerEvent, ServerSession,
    TlsPolicy,
};
use std::time::{Duration, Instant};

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Bytes biased towards what SMTP parsers look at.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"\r",
            b".",
            b"..",
            b"\r\n.\r\n",
            b"EHLO ",
            b"MAIL FROM:<",
            b"RCPT TO:<",
            b"DATA",
            b"BDAT ",
            b" LAST",
            b"AUTH PLAIN ",
            b"AUTH LOGIN",
            b"STARTTLS",
            b"RSET",
            b"QUIT",
            b"NOOP",
            b"a@b.c>",
            b"<>",
            b" SIZE=",
            b" BODY=8BITMIME",
            b" SMTPUTF8",
            b" NOTIFY=SUCCESS",
            b" ORCPT=rfc822;a+40b",
            b"\"q\\\"\"",
            b"@[IPv6:::1]",
            b"250",
            b"250-",
            b"354 ",
            b"334 ",
            b"220 ",
            b"421 ",
            b"550 5.1.1 ",
            b"*",
            b"=",
            b"\0",
            b"\xff",
            b"\xc3\xbc",
            b"9999999999999999999999",
            b"AHVzZXIAc2VjcmV0",
        ];
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            match self.below(4) {
                0 => out.push(self.next() as u8),
                _ => out.extend_from_slice(WORDS[self.below(WORDS.len())]),
            }
        }
        out
    }
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.hamburger.edu");
    config.auth = AuthPolicy::Always;
    config.tls_available = true;
    config
}

/// Client inputs of whole valid conversations.
const CONVERSATIONS: &[&[u8]] = &[
    b"EHLO crepes.fr\r\nMAIL FROM:<alice@crepes.fr> SIZE=20\r\nRCPT TO:<bob@hamburger.edu>\r\n\
      RCPT TO:<bad@hamburger.edu>\r\nRCPT TO:<carol@hamburger.edu> NOTIFY=FAILURE\r\nDATA\r\n\
      Subject: x\r\n\r\n..dot\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n",
    b"HELO crepes.fr\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\n.\r\nQUIT\r\n",
    b"EHLO x\r\nMAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<b@c.d>\r\nBDAT 5\r\n\r\n.\r\nBDAT 3 LAST\r\n\0\x01\nQUIT\r\n",
    b"EHLO x\r\nAUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\nMAIL FROM:<a@b.c> AUTH=<>\r\nRCPT TO:<b@c.d>\r\n\
      DATA\r\nhi\r\n.\r\nQUIT\r\n",
    b"EHLO x\r\nAUTH LOGIN dXNlcg==\r\nd3Jvbmc=\r\nAUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\nQUIT\r\n",
    b"FOO\r\nEHLO\r\nMAIL FROM:x\r\nNOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nVRFY bob\r\nQUIT\r\n",
    b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nbare\nlf\r\n.\r\n",
];

fn run_server<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, Vec<ServerEvent>) {
    let now = Instant::now();
    let mut server = ServerSession::new(server_config(), now);
    let mut service = Service::default();
    let mut out = service.drive(&mut server);
    for piece in pieces {
        server.handle_input(now, piece);
        out.extend(service.drive(&mut server));
    }
    server.handle_eof(now);
    out.extend(service.drive(&mut server));
    assert!(server.is_closed());
    (out, service.events)
}

#[test]
fn server_gives_the_same_answers_at_every_split() {
    for conversation in CONVERSATIONS {
        let whole = run_server([*conversation]);
        for split in 0..=conversation.len() {
            let (head, tail) = conversation.split_at(split);
            assert_eq!(
                run_server([head, tail]),
                whole,
                "split at {split} of {:?}",
                String::from_utf8_lossy(conversation)
            );
        }
        assert_eq!(run_server(conversation.chunks(1)), whole, "byte by byte");
    }
}

#[test]
fn client_gives_the_same_result_at_every_piece_size() {
    let message = || Message {
        from: ReversePath::parse("<alice@crepes.fr>").unwrap(),
        params: MailParams::default(),
        recipients: ["<bob@x.y>", "<bad@x.y>", "<carol@x.y>"]
            .iter()
            .map(|r| Recipient::new(ForwardPath::parse(r).unwrap()))
            .collect(),
        data: b"Subject: x\r\n\r\n.one\n..two\r\nthree".to_vec(),
    };
    let mut client_config = ClientConfig::new("crepes.fr");
    client_config.tls = TlsPolicy::Required;
    let run = |piece: usize| {
        let mut pair = Pair::new(server_config(), client_config.clone(), message());
        pair.piece = piece;
        let outcome = pair.run().unwrap();
        let mut sides = (Vec::new(), Vec::new());
        for (side, bytes) in &pair.wire {
            if *side == 'C' {
                &mut sides.0
            } else {
                &mut sides.1
            }
            .extend_from_slice(bytes);
        }
        (outcome, sides, pair.service.stored)
    };
    let whole = run(usize::MAX);
    assert!(whole.0.tls);
    for piece in [1, 2, 3, 5, 7, 64] {
        assert_eq!(run(piece), whole, "pieces of {piece}");
    }
}

#[test]
fn client_handles_every_prefix_of_the_server_side() {
    let (_, server_bytes) = {
        let mut pair = Pair::new(
            ServerConfig::new("mx"),
            ClientConfig::new("crepes.fr"),
            Message {
                from: ReversePath::Null,
                params: MailParams::default(),
                recipients: vec![Recipient::new(ForwardPath::Postmaster)],
                data: b"x".to_vec(),
            },
        );
        pair.run().unwrap();
        let mut server_bytes = Vec::new();
        for (side, bytes) in &pair.wire {
            if *side == 'S' {
                server_bytes.extend_from_slice(bytes);
            }
        }
        ((), server_bytes)
    };
    for len in 0..=server_bytes.len() {
        let now = Instant::now();
        let mut client = ClientSession::new(
            ClientConfig::new("crepes.fr"),
            Message {
                from: ReversePath::Null,
                params: MailParams::default(),
                recipients: vec![Recipient::new(ForwardPath::Postmaster)],
                data: b"x".to_vec(),
            },
            now,
        );
        client.handle_input(now, &server_bytes[..len]);
        client.handle_eof(now);
        while client.poll_transmit().is_some() {}
        let done = std::iter::from_fn(|| client.poll_event())
            .filter(|e| matches!(e, smtp_proto::ClientEvent::Done(_)))
            .count();
        assert_eq!(done, 1, "exactly one result after {len} bytes");
        assert!(client.is_closed());
    }
}

/// Answers a decision at random (or not at all).
fn random_answer(rng: &mut XorShift, server: &mut ServerSession, event: &ServerEvent) {
    let reply = match rng.below(4) {
        0 => Reply::ok("Ok"),
        1 => Reply::new(550, Some(EnhancedCode::BAD_MAILBOX), "no"),
        2 => Reply::new(421, None, "bye"),
        _ => Reply::new(451, Some(EnhancedCode::SYSTEM), "later"),
    };
    match event {
        ServerEvent::Mail { .. } => server.accept_mail(reply),
        ServerEvent::Rcpt { .. } => server.accept_rcpt(reply),
        ServerEvent::Message { .. } => server.message_accepted(reply),
        ServerEvent::Vrfy { .. } => server.vrfy_result(reply),
        ServerEvent::Auth { .. } => server.auth_result(rng.below(2) == 0),
        ServerEvent::StartTls if rng.below(2) == 0 => server.tls_established(Instant::now()),
        _ => {}
    }
}

#[test]
fn server_survives_random_input() {
    let prefixes: &[&[u8]] = &[
        b"",
        b"EHLO x\r\n",
        b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\n",
        b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nBDAT 50\r\n",
        b"EHLO x\r\nAUTH PLAIN\r\n",
        b"EHLO x\r\nAUTH LOGIN\r\n",
        b"EHLO x\r\nSTARTTLS\r\n",
    ];
    let mut rng = XorShift(0x5eed_5eed_1234_5678);
    for round in 0..600 {
        let mut config = server_config();
        config.max_message_size = 1 + rng.below(300) as u64;
        config.max_recipients = 1 + rng.below(3);
        if rng.below(2) == 0 {
            config.bare_newline = BareNewline::Normalize;
        }
        if rng.below(3) == 0 {
            config.extensions = smtp_proto::Extensions {
                chunking: false,
                pipelining: false,
                ..Default::default()
            };
        }
        let mut now = Instant::now();
        let mut server = if round % 17 == 0 {
            ServerSession::refuse(config, now, Reply::new(554, None, "no"))
        } else {
            ServerSession::new(config, now)
        };
        let mut input = prefixes[rng.below(prefixes.len())].to_vec();
        let len = rng.below(1500);
        input.extend(rng.bytes(len));
        let mut total_out = 0;
        let mut offset = 0;
        while offset < input.len() {
            let piece = 1 + rng.below(200);
            let end = (offset + piece).min(input.len());
            now += Duration::from_secs(rng.below(400) as u64);
            if rng.below(10) == 0 {
                server.handle_timeout(now);
            }
            server.handle_input(now, &input[offset..end]);
            offset = end;
            while let Some(bytes) = server.poll_transmit() {
                total_out += bytes.len();
            }
            while let Some(event) = server.poll_event() {
                random_answer(&mut rng, &mut server, &event);
                while let Some(bytes) = server.poll_transmit() {
                    total_out += bytes.len();
                }
            }
            if rng.below(50) == 0 {
                server.begin_shutdown();
            }
        }
        server.handle_eof(now);
        server.handle_timeout(now + Duration::from_secs(3600));
        while server.poll_transmit().is_some() {}
        while server.poll_event().is_some() {}
        // Output stays proportional to input (no reply storms).
        assert!(total_out <= 200 + input.len() * 60, "round {round}");
    }
}

#[test]
fn client_survives_random_input() {
    let mut rng = XorShift(0xc0ff_ee00_dead_beef);
    let replies: &[&[u8]] = &[
        b"220 mx\r\n",
        b"250-mx\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE 100\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 SMTPUTF8\r\n",
        b"250 ok\r\n",
        b"354 go\r\n",
        b"334 \r\n",
        b"334 VXNlcm5hbWU6\r\n",
        b"235 ok\r\n",
        b"220 go\r\n",
        b"550 no\r\n",
        b"451 later\r\n",
        b"421 bye\r\n",
        b"502 what\r\n",
        b"221 bye\r\n",
    ];
    for round in 0..600 {
        let mut config = ClientConfig::new("crepes.fr");
        config.tls = [
            TlsPolicy::Disabled,
            TlsPolicy::Opportunistic,
            TlsPolicy::Required,
        ][rng.below(3)];
        if rng.below(2) == 0 {
            config.credentials = Some(smtp_proto::Credentials {
                username: "u".into(),
                password: "p".into(),
                allow_plaintext: rng.below(2) == 0,
            });
        }
        let mut params = MailParams::default();
        if rng.below(3) == 0 {
            params.body = Some(smtp_proto::BodyType::BinaryMime);
        }
        let message = Message {
            from: ReversePath::parse("<a@b.c>").unwrap(),
            params,
            recipients: (0..rng.below(4))
                .map(|i| {
                    Recipient::new(ForwardPath::Mailbox(
                        Mailbox::new(format!("r{i}"), Domain::Name("x.y".into())).unwrap(),
                    ))
                })
                .collect(),
            data: {
                let len = rng.below(300);
                rng.bytes(len)
            },
        };
        let mut now = Instant::now();
        let mut client = ClientSession::new(config, message, now);
        let mut done = 0;
        for _ in 0..rng.below(30) {
            let bytes = if rng.below(3) == 0 {
                let len = rng.below(100);
                rng.bytes(len)
            } else {
                replies[rng.below(replies.len())].to_vec()
            };
            now += Duration::from_secs(rng.below(200) as u64);
            match rng.below(12) {
                0 => client.handle_timeout(now),
                1 => client.tls_established(now),
                2 => client.handle_sent(now),
                _ => client.handle_input(now, &bytes),
            }
            while client.poll_transmit().is_some() {}
            while let Some(event) = client.poll_event() {
                if matches!(event, smtp_proto::ClientEvent::Done(_)) {
                    done += 1;
                }
            }
        }
        client.handle_eof(now);
        while let Some(event) = client.poll_event() {
            if matches!(event, smtp_proto::ClientEvent::Done(_)) {
                done += 1;
            }
        }
        assert_eq!(done, 1, "round {round}: exactly one result");
    }
}

#[test]
fn codecs_survive_random_input_and_round_trip() {
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    for _ in 0..20_000 {
        let len = rng.below(120);
        let bytes = rng.bytes(len);
        if let Ok(command) = decode(&bytes) {
            // decode → encode → decode agrees.
            let encoded = command.to_bytes();
            assert_eq!(
                decode(&encoded).as_ref(),
                Ok(&command),
                "{:?} → {:?}",
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&encoded)
            );
            let _ = smtp_proto::summary::command(&command);
        }
        let _ = smtp_proto::summary::command_line(&bytes);
        let mut parser = ReplyParser::new();
        let mut rest = &bytes[..];
        while let Ok((used, reply)) = parser.decode(rest) {
            rest = &rest[used.min(rest.len())..];
            match reply {
                Some(reply) => {
                    // A parsed reply encodes to something that parses to it again.
                    let mut again = ReplyParser::new();
                    let (_, parsed) = again.decode(&reply.to_bytes()).unwrap();
                    assert_eq!(parsed.unwrap().code, reply.code);
                }
                None => break,
            }
        }
        for mode in [BareNewline::Reject, BareNewline::Normalize] {
            let mut decoder = DataDecoder::new(50, mode);
            let mut out = Vec::new();
            if let Ok(used) = decoder.decode(&bytes, &mut out) {
                assert!(used <= bytes.len());
                assert!(out.len() <= 52);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(mailbox) = Mailbox::parse(&text) {
            assert_eq!(Mailbox::parse(&mailbox.to_string()), Ok(mailbox.clone()));
        }
        let _ = ForwardPath::parse(&text);
        let _ = ReversePath::parse(&text);
        let _ = smtp_proto::xtext::decode(&text);
        let _ = smtp_proto::sasl::decode_plain(&bytes);
        let _ = smtp_proto::sasl::decode_base64(&text);
        let _ = EnhancedCode::parse(&text);
    }
}
