//! RFC 2920 (PIPELINING) conformance: the examples of §3.2 against the server.

use crate::pair::converse;
use smtp_proto::ServerConfig;

/// §3.2 example 1: "a typical pipelined exchange", the whole envelope and DATA in one write.
#[test]
fn example_1_pipelined_envelope() {
    let service = converse(
        ServerConfig::new("innosoft.com"),
        "S: 220 innosoft.com
         C: EHLO dbc.mtview.ca.us
         S: 250
         C: MAIL FROM:<mrose@dbc.mtview.ca.us>
         C: RCPT TO:<ned@innosoft.com>
         C: RCPT TO:<dan@innosoft.com>
         C: RCPT TO:<kvc@innosoft.com>
         C: DATA
         S: 250 2.1.0
         S: 250 2.1.5
         S: 250 2.1.5
         S: 250 2.1.5
         S: 354
         C: Date: Thu, 21 May 1998 05:33:29 -0700
         C: From: Marshall Rose <mrose@dbc.mtview.ca.us>
         C: Subject: Pipelining
         C:
         C: Hello.
         C: .
         C: QUIT
         S: 250 2.0.0 Ok: queued as 1
         S: 221",
    );
    assert_eq!(service.stored[0].0.recipients.len(), 3);
}

/// §3.2 example 2 (with errors): a refused recipient does not stop the others, and the
/// replies still come in command order.
#[test]
fn example_2_pipelining_with_errors() {
    let service = converse(
        ServerConfig::new("innosoft.com"),
        "S: 220 innosoft.com
         C: EHLO dbc.mtview.ca.us
         S: 250
         C: MAIL FROM:<mrose@dbc.mtview.ca.us>
         C: RCPT TO:<ned@innosoft.com>
         C: RCPT TO:<bad-dan@innsoft.com>
         C: RCPT TO:<kvc@innosoft.com>
         C: DATA
         S: 250 2.1.0
         S: 250 2.1.5
         S: 550 5.1.1
         S: 250 2.1.5
         S: 354
         C: Hello.
         C: .
         C: QUIT
         S: 250 2.0.0
         S: 221",
    );
    assert_eq!(service.stored[0].0.recipients.len(), 2);
}

/// §3.1: "the client ... must not send message data after a failed DATA": when every
/// recipient fails, DATA gets 554 and what a careless client sent next is taken as commands
/// (and counted as errors), not as a message.
#[test]
fn no_valid_recipients_pipelined() {
    let service = converse(
        ServerConfig::new("innosoft.com"),
        "S: 220
         C: EHLO dbc.mtview.ca.us
         S: 250
         C: MAIL FROM:<mrose@dbc.mtview.ca.us>
         C: RCPT TO:<bad1@innosoft.com>
         C: RCPT TO:<bad2@innosoft.com>
         C: DATA
         C: Subject: oops
         C: .
         C: QUIT
         S: 250 2.1.0
         S: 550
         S: 550
         S: 554 5.5.1 Error: no valid recipients
         S: 500 5.5.2
         S: 500 5.5.2
         S: 221",
    );
    assert!(service.stored.is_empty());
}
