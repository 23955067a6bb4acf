//! RFC 4954 (AUTH) conformance: the examples of §4 and §8, and the error replies of §6.

use crate::pair::converse;
use smtp_proto::{AuthPolicy, ServerConfig, ServerEvent};

fn config() -> ServerConfig {
    let mut config = ServerConfig::new("smtp.example.com");
    config.tls_available = true;
    config.auth = AuthPolicy::AfterTls;
    config
}

/// §8 example: STARTTLS, EHLO again, AUTH PLAIN with an initial response
/// (authzid "test", authcid "test", password "1234").
#[test]
fn starttls_then_auth_plain_initial_response() {
    let service = converse(
        config(),
        "S: 220 smtp.example.com
         C: EHLO client.example.com
         S: 250 BINARYMIME
         C: STARTTLS
         S: 220 2.0.0 Ready to start TLS
         C: <TLS>
         C: EHLO client.example.com
         S: 250 BINARYMIME
         C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
         S: 235 2.7.0 Authentication successful",
    );
    assert!(service.events.iter().any(|e| matches!(
        e,
        ServerEvent::Auth { authzid: Some(z), identity, .. } if z == "test" && identity == "test"
    )));
}

/// §4: "If the client ... does not send an initial response, the server ... sends a 334
/// reply with empty text", and the response follows on its own line.
#[test]
fn auth_plain_with_challenge() {
    converse(
        config(),
        "S: 220
         C: EHLO client.example.com
         S: 250
         C: STARTTLS
         S: 220
         C: <TLS>
         C: EHLO client.example.com
         S: 250
         C: AUTH PLAIN
         S: 334
         C: dGVzdAB0ZXN0ADEyMzQ=
         S: 235 2.7.0",
    );
}

/// §4 and §6: "*" cancels (501), a non-base64 response gets 501 5.5.2, an unknown mechanism
/// 504, AUTH twice 503, bad credentials 535 5.7.8, and without TLS 538 5.7.11.
#[test]
fn auth_errors() {
    converse(
        config(),
        "S: 220
         C: EHLO client.example.com
         S: 250
         C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
         S: 538 5.7.11
         C: STARTTLS
         S: 220
         C: <TLS>
         C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
         S: 503 5.5.1 Error: send EHLO first
         C: EHLO client.example.com
         S: 250
         C: AUTH LOGIN
         S: 334 VXNlcm5hbWU6
         C: *
         S: 501 5.7.0
         C: AUTH PLAIN
         S: 334
         C: %%%
         S: 501 5.5.2
         C: AUTH GSSAPI
         S: 504 5.5.4
         C: AUTH PLAIN AHRlc3QAd3Jvbmc=
         S: 535 5.7.8
         C: AUTH LOGIN dGVzdA==
         S: 334 UGFzc3dvcmQ6
         C: MTIzNA==
         S: 235 2.7.0
         C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
         S: 503 5.5.1 Error: already authenticated",
    );
}
