//! Sans-IO SMTP (RFC 5321) with the ESMTP extensions a mail server of today speaks:
//! PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, DSN, CHUNKING/BINARYMIME,
//! STARTTLS and AUTH PLAIN/LOGIN. Paths, commands and replies with their codecs, DATA framing,
//! and the two session machines: [`ServerSession`] (receiving) and [`ClientSession`] (relaying
//! one queued message to a next hop).
//!
//! # Contract
//!
//! Nothing here reads a clock, touches a socket or a file, draws a random number or panics on
//! network input: time comes in as `Instant` arguments, bytes as slices, and everything the
//! peer can get wrong is answered in SMTP's own terms (a reply code with an enhanced status
//! code, RFC 3463). Every buffer is bounded: command lines (512 octets, 12288 for AUTH),
//! messages (the configured size, counted past the limit so the answer comes after the data),
//! buffered pipelined input (see [`ServerSession::wants_input`]), reply lines and their
//! number.
//!
//! Policy is not the machines': whether a sender, a recipient, a message or a password is
//! good is asked through events ([`ServerEvent`]) and answered by method calls, so that slow
//! work (lookups, fsync of the queue file) happens outside and the machine stays
//! deterministic. In particular the server never says `250` to a message by itself: the
//! service says it once the message is stored.
//!
//! TLS is the driver's: the machine says when to start it ([`ServerEvent::StartTls`],
//! [`ClientEvent::StartTls`]) and is told when it is up (`tls_established`); plaintext that
//! was pipelined after STARTTLS is dropped, not taken into the TLS session.
//!
//! # Run loop of a server session
//!
//! After every `handle_*` call or answer: write out what `poll_transmit` gives, handle what
//! `poll_event` gives, arm a timer for `poll_timeout`, read only while `wants_input`, close
//! when `is_closed`.
//!
//! ```
//! use smtp_proto::{Reply, ServerConfig, ServerEvent, ServerSession};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut server = ServerSession::new(ServerConfig::new("mail.hamburger.edu"), now);
//! let mut wire = Vec::new(); // what the driver writes to the socket
//! let mut stored = Vec::new(); // the service's queue
//! let mut drive = |server: &mut ServerSession, wire: &mut Vec<u8>| {
//!     while let Some(bytes) = server.poll_transmit() {
//!         wire.extend_from_slice(&bytes);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             ServerEvent::Mail { .. } => server.accept_mail(Reply::sender_ok()),
//!             ServerEvent::Rcpt { to, .. } => match to.mailbox() {
//!                 Some(mailbox) if mailbox.local() == "bob" => {
//!                     server.accept_rcpt(Reply::recipient_ok())
//!                 }
//!                 _ => server.reject(Reply::new(
//!                     550,
//!                     Some(smtp_proto::EnhancedCode::BAD_MAILBOX),
//!                     "No such user",
//!                 )),
//!             },
//!             ServerEvent::Message { envelope, data } => {
//!                 stored.push((envelope, data)); // ... and fsync, then:
//!                 server.message_accepted(Reply::queued("4711"));
//!             }
//!             _ => {}
//!         }
//!         while let Some(bytes) = server.poll_transmit() {
//!             wire.extend_from_slice(&bytes);
//!         }
//!     }
//! };
//! drive(&mut server, &mut wire);
//! // A pipelining client sends its whole envelope at once (RFC 2920).
//! server.handle_input(
//!     now,
//!     b"EHLO crepes.fr\r\nMAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@hamburger.edu>\r\n\
//!       RCPT TO:<eve@hamburger.edu>\r\nDATA\r\n",
//! );
//! drive(&mut server, &mut wire);
//! server.handle_input(now, b"Subject: crepes\r\n\r\n..and more\r\n.\r\nQUIT\r\n");
//! drive(&mut server, &mut wire);
//!
//! let wire = String::from_utf8(wire).unwrap();
//! assert!(wire.starts_with("220 mail.hamburger.edu ESMTP\r\n250-mail.hamburger.edu\r\n"));
//! assert!(wire.contains("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 "));
//! assert!(wire.ends_with("250 2.0.0 Ok: queued as 4711\r\n221 2.0.0 Bye\r\n"));
//! assert_eq!(stored[0].0.recipients.len(), 1);
//! assert_eq!(stored[0].1, b"Subject: crepes\r\n\r\n.and more\r\n");
//! assert!(server.is_closed());
//! ```
//!
//! # Run loop of a client session
//!
//! The same shape; its result is [`ClientEvent::Done`], one [`Delivery`] per recipient with
//! the text a queue logs. Here the server's replies are scripted:
//!
//! ```
//! use smtp_proto::{
//!     ClientConfig, ClientEvent, ClientSession, Delivery, ForwardPath, MailParams, Message,
//!     Recipient, ReversePath,
//! };
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let message = Message {
//!     from: ReversePath::parse("<alice@crepes.fr>").unwrap(),
//!     params: MailParams::default(),
//!     recipients: vec![Recipient::new(ForwardPath::parse("<bob@hamburger.edu>").unwrap())],
//!     data: b"Subject: Hi\r\n\r\n.\r\n".to_vec(),
//! };
//! let mut client = ClientSession::new(ClientConfig::new("mail.crepes.fr"), message, now);
//! let mut sent = Vec::new();
//! for reply in [
//!     "220 mail.hamburger.edu ESMTP\r\n",
//!     "250-mail.hamburger.edu\r\n250 PIPELINING\r\n",
//!     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
//!     "250 2.0.0 Ok: queued as 4711\r\n",
//!     "221 2.0.0 Bye\r\n",
//! ] {
//!     client.handle_input(now, reply.as_bytes());
//!     while let Some(bytes) = client.poll_transmit() {
//!         sent.extend(bytes); // the driver writes these
//!     }
//! }
//! let Some(ClientEvent::Done(outcome)) = client.poll_event() else {
//!     panic!("no result")
//! };
//! assert!(matches!(outcome.recipients[0].delivery, Delivery::Accepted(_)));
//! assert_eq!(outcome.recipients[0].text, "250 2.0.0 Ok: queued as 4711");
//! let sent = String::from_utf8(sent).unwrap();
//! assert!(sent.starts_with("EHLO mail.crepes.fr\r\nMAIL FROM:<alice@crepes.fr>\r\n"));
//! assert!(sent.ends_with("DATA\r\nSubject: Hi\r\n\r\n..\r\n.\r\nQUIT\r\n"));
//! assert!(client.is_closed());
//! ```

pub mod address;
pub mod client;
pub mod command;
pub mod data;
pub mod reply;
pub mod sasl;
pub mod server;
pub mod summary;
pub mod xtext;

pub use address::{AddressError, Domain, ForwardPath, Mailbox, ReversePath};
pub use client::{
    Capabilities, ClientConfig, ClientEvent, ClientSession, ClientTimeouts, Credentials, Delivery,
    Message, Outcome, RecipientOutcome, TlsPolicy,
};
pub use command::{
    decode, AuthParam, BodyType, Command, CommandError, MailParams, Notify, Orcpt, RcptParams,
    Recipient, Ret,
};
pub use data::{BareNewline, DataDecoder, DataEncoder, DataError};
pub use reply::{EnhancedCode, Reply, ReplyError, ReplyParser};
pub use sasl::{Mechanism, Secret};
pub use server::{
    AuthPolicy, CloseReason, Envelope, Extensions, ServerConfig, ServerEvent, ServerSession,
    ServerTimeouts, VrfyPolicy,
};
pub use summary::{Direction, Trace};
