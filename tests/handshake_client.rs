//! Client-side opening handshake: every HS-C, HS-V and client HS-N / HS-X row of
//! RFC-CHECKLIST section 1, each test naming its ID.

mod common;

use bytes::BytesMut;
use common::feed_head_in_chunks;
use proptest::prelude::*;
use rfc6455::Role;
use rfc6455::frame::{DecoderConfig, FrameDecoder, OpCode};
use rfc6455::handshake::{
    AcceptOptions, ClientConfig, ClientHandshake, ClientStatus, Extension, HandshakeError,
    RequestParser, ServerStatus, derive_accept_key,
};

/// The RFC 6455 section 1.3 nonce, whose key is `dGhlIHNhbXBsZSBub25jZQ==`.
const SAMPLE_NONCE: [u8; 16] = *b"the sample nonce";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn client(config: ClientConfig) -> ClientHandshake {
    ClientHandshake::with_nonce("ws://server.example.com/chat", config, SAMPLE_NONCE).unwrap()
}

fn request_text(target: &str, config: ClientConfig) -> String {
    let hs = ClientHandshake::with_nonce(target, config, SAMPLE_NONCE).unwrap();
    String::from_utf8(hs.request().to_vec()).unwrap()
}

/// A 101 response for the sample key with `extra` header lines.
fn response_101(extra: &[&str]) -> Vec<u8> {
    let mut s = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n"
    );
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A response from raw lines.
fn raw(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n\r\n");
    s.into_bytes()
}

/// Feeds `data` in the given chunk sizes (cycled) to a fresh client built with `config`;
/// returns the first non-partial result and the caller's buffer afterwards.
fn feed_chunks(
    config: &ClientConfig,
    data: &[u8],
    chunks: &[usize],
) -> (Result<ClientStatus, HandshakeError>, BytesMut) {
    let mut hs = client(config.clone());
    feed_head_in_chunks(
        data,
        chunks,
        |buf| hs.feed(buf),
        |status| matches!(status, ClientStatus::Partial),
        ClientStatus::Partial,
    )
}

/// The result fed whole, after asserting that byte-by-byte and fixed splits agree. (A
/// rejected response's body holds the bytes present when the head completed, so splits
/// are compared on everything received.)
fn run(config: &ClientConfig, data: &[u8]) -> Result<ClientStatus, HandshakeError> {
    let reference = feed_chunks(config, data, &[data.len().max(1)]);
    for chunks in [&[1][..], &[2], &[3, 7], &[17, 1, 5]] {
        let (result, buf) = feed_chunks(config, data, chunks);
        assert_eq!(strip_body(&result), strip_body(&reference.0), "{chunks:?}");
        assert_eq!(
            received_after_head(&result, &buf),
            received_after_head(&reference.0, &reference.1)
        );
    }
    reference.0
}

fn strip_body(r: &Result<ClientStatus, HandshakeError>) -> Result<ClientStatus, HandshakeError> {
    match r {
        Ok(ClientStatus::Rejected(resp)) => {
            Ok(ClientStatus::Rejected(rfc6455::handshake::Response::new(
                resp.status(),
                resp.reason(),
                resp.headers().clone(),
                Default::default(),
            )))
        }
        other => other.clone(),
    }
}

fn received_after_head(r: &Result<ClientStatus, HandshakeError>, buf: &BytesMut) -> Vec<u8> {
    let mut out = match r {
        Ok(ClientStatus::Rejected(resp)) => resp.body().to_vec(),
        _ => Vec::new(),
    };
    out.extend_from_slice(buf);
    out
}

fn accepted(config: &ClientConfig, data: &[u8]) -> rfc6455::handshake::Negotiated {
    match run(config, data) {
        Ok(ClientStatus::Accepted(n)) => n,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn failed(config: &ClientConfig, data: &[u8]) -> HandshakeError {
    match run(config, data) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

// HS-C-01
#[test]
fn hs_c_01_invalid_targets_produce_nothing() {
    let e = ClientHandshake::new("ws://h/p#x", ClientConfig::default()).unwrap_err();
    assert!(matches!(e, HandshakeError::InvalidUri { .. }));
    for bad in [
        "http://h/",
        "h/chat",
        "ws://",
        "ws://h:99999/",
        "ws://h:0/",
        "ws://h:+80/",
        "ws://h:8o/",
        "ws://user@h/",
    ] {
        assert!(
            ClientHandshake::new(bad, ClientConfig::default()).is_err(),
            "{bad}"
        );
    }
    let hs = ClientHandshake::new("WSS://h", ClientConfig::default()).unwrap();
    assert!(hs.target().is_secure());
    assert_eq!(hs.target().port(), 443);
    assert!(hs.request().starts_with(b"GET / HTTP/1.1\r\nHost: h\r\n"));
    let plain = ClientHandshake::new("Ws://h", ClientConfig::default()).unwrap();
    assert_eq!(plain.target().port(), 80);
    assert!(!plain.target().is_secure());
}

// HS-C-02, HS-C-03
#[test]
fn hs_c_02_03_request_line() {
    assert!(request_text("ws://h", ClientConfig::default()).starts_with("GET / HTTP/1.1\r\n"));
    assert!(
        request_text("ws://h/a?b=c", ClientConfig::default())
            .starts_with("GET /a?b=c HTTP/1.1\r\n")
    );
    assert!(request_text("ws://h?q", ClientConfig::default()).starts_with("GET /?q HTTP/1.1\r\n"));
    assert!(
        request_text("ws://h/chat", ClientConfig::default()).starts_with("GET /chat HTTP/1.1\r\n")
    );
}

// HS-C-04, SEC-08
#[test]
fn hs_c_04_host_header() {
    let host = |t: &str| {
        let text = request_text(t, ClientConfig::default());
        text.lines().nth(1).unwrap().to_owned()
    };
    assert_eq!(host("ws://h:80/"), "Host: h");
    assert_eq!(host("ws://h:8080/"), "Host: h:8080");
    assert_eq!(host("ws://[::1]:9001/"), "Host: [::1]:9001");
    assert_eq!(host("wss://h/"), "Host: h");
    assert_eq!(host("wss://h:80/"), "Host: h:80");
}

// HS-C-05, HS-C-07: golden bytes of the default request.
#[test]
fn hs_c_05_07_golden_request() {
    assert_eq!(
        request_text("ws://server.example.com/chat", ClientConfig::default()),
        "GET /chat HTTP/1.1\r\n\
         Host: server.example.com\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n"
    );
}

// HS-C-06
#[test]
fn hs_c_06_fresh_random_16_byte_keys() {
    let a = ClientHandshake::new("ws://h/", ClientConfig::default()).unwrap();
    let b = ClientHandshake::new("ws://h/", ClientConfig::default()).unwrap();
    assert_ne!(a.key(), b.key());
    for hs in [&a, &b] {
        // A valid key is accepted by the server, which checks it decodes to 16 bytes.
        let mut buf = BytesMut::from(hs.request());
        let Ok(ServerStatus::Upgrade(r)) = RequestParser::default().feed(&mut buf) else {
            panic!()
        };
        assert_eq!(r.key(), hs.key());
        assert_eq!(hs.key().len(), 24);
    }
    let nonce: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
    let injected = ClientHandshake::with_nonce("ws://h/", ClientConfig::default(), nonce).unwrap();
    assert_eq!(injected.key(), "AQIDBAUGBwgJCgsMDQ4PEA==");
}

// HS-C-08
#[test]
fn hs_c_08_origin_only_when_configured() {
    assert!(!request_text("ws://h/", ClientConfig::default()).contains("Origin"));
    let text = request_text("ws://h/", ClientConfig::default().with_origin("https://a"));
    assert!(text.contains("\r\nOrigin: https://a\r\n"));
}

// HS-C-09
#[test]
fn hs_c_09_subprotocols_checked_before_anything_is_produced() {
    for bad in [&["chat", "chat"][..], &[""], &["a b"]] {
        let mut config = ClientConfig::default();
        for p in bad {
            config = config.with_subprotocol(*p);
        }
        let e = ClientHandshake::new("ws://h/", config).unwrap_err();
        assert!(matches!(e, HandshakeError::InvalidConfig { .. }), "{bad:?}");
    }
    let text = request_text(
        "ws://h/",
        ClientConfig::default()
            .with_subprotocol("chat")
            .with_subprotocol("superchat"),
    );
    assert!(text.contains("\r\nSec-WebSocket-Protocol: chat, superchat\r\n"));
}

// HS-C-10
#[test]
fn hs_c_10_extension_offer_serialised_and_recorded() {
    let pmd = Extension::new("permessage-deflate")
        .unwrap()
        .with_param("client_max_window_bits", None)
        .unwrap();
    let config = ClientConfig::default().with_extension(pmd.clone());
    let text = request_text("ws://h/", config.clone());
    assert!(
        text.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        )
    );
    assert_eq!(client(config).config().extensions, [pmd]);
}

// HS-C-11: before a valid response there is no connection: the handshake only hands out
// its request, a partial response gives no `Negotiated`, and a rejected or failed one never
// will.
#[test]
fn hs_c_11_nothing_but_the_request_before_the_response() {
    let mut hs = client(ClientConfig::default());
    let request = hs.request().to_vec();
    let full = response_101(&[]);
    let mut buf = BytesMut::from(&full[..full.len() - 1]);
    assert_eq!(hs.feed(&mut buf), Ok(ClientStatus::Partial));
    assert_eq!(hs.request(), request);
    let mut hs = client(ClientConfig::default());
    let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
    assert!(matches!(hs.feed(&mut buf), Ok(ClientStatus::Rejected(_))));
    buf.extend_from_slice(&full);
    assert_eq!(hs.feed(&mut buf), Err(HandshakeError::Finished));
}

// HS-V-01
#[test]
fn hs_v_01_non_101_is_returned_with_status_and_headers() {
    let data = raw(&["HTTP/1.1 403 Forbidden", "Content-Length: 0"]);
    let Ok(ClientStatus::Rejected(resp)) = run(&ClientConfig::default(), &data) else {
        panic!()
    };
    assert_eq!((resp.status(), resp.reason()), (403, "Forbidden"));
    assert_eq!(resp.minor_version(), 1);
    assert_eq!(resp.headers().get_str("content-length"), Some("0"));
    let data = raw(&["HTTP/1.0 403 Forbidden", "Content-Length: 0"]);
    let Ok(ClientStatus::Rejected(resp)) = run(&ClientConfig::default(), &data) else {
        panic!("an HTTP/1.0 refusal is a refusal")
    };
    assert_eq!((resp.status(), resp.minor_version()), (403, 0));
    let data = raw(&["HTTP/1.1 302 Found", "Location: ws://other/"]);
    let Ok(ClientStatus::Rejected(resp)) = run(&ClientConfig::default(), &data) else {
        panic!()
    };
    assert_eq!(resp.headers().get_str("Location"), Some("ws://other/"));
}

// HS-V-01: interim responses (100 Continue, 103 Early Hints) before the final one are read
// and skipped, in every split (RFC 9110 section 15.2: a client must parse them); the frames
// after the 101 stay in the buffer; each head has the cap to itself.
#[test]
fn hs_v_01_interim_responses_are_skipped() {
    let interim = [
        &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    ]
    .concat();
    let mut data = [&interim[..], &response_101(&[])].concat();
    accepted(&ClientConfig::default(), &data);
    data.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    let mut hs = client(ClientConfig::default());
    let mut buf = BytesMut::from(&data[..]);
    assert!(matches!(hs.feed(&mut buf), Ok(ClientStatus::Accepted(_))));
    assert_eq!(&buf[..], &[0x81, 0x02, b'h', b'i']);

    let refusal = [&interim[..], &raw(&["HTTP/1.1 404 Not Found"])].concat();
    let Ok(ClientStatus::Rejected(resp)) = run(&ClientConfig::default(), &refusal) else {
        panic!("the final response decides")
    };
    assert_eq!(resp.status(), 404);

    // The cap is per head: each fits in the 101's length, which all of them together pass;
    // one byte less fails on the 101 itself.
    let cap = response_101(&[]).len();
    assert!(data.len() > cap);
    accepted(&ClientConfig::default().with_max_head_size(cap), &data);
    assert_eq!(
        failed(&ClientConfig::default().with_max_head_size(cap - 1), &data),
        HandshakeError::HeadTooLarge { limit: cap - 1 }
    );
}

// HS-V-01, HS-V-04: a folded header line (obs-fold) in a response is unfolded, each line
// break read as a space (RFC 9112 section 5.2: a user agent MUST), not refused as malformed:
// in a 101, even in the Accept and Protocol fields, and in a refusal.
#[test]
fn hs_v_01_folded_response_lines_are_unfolded() {
    let config = ClientConfig::default().with_subprotocol("chat");
    let data = raw(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection:",
        " Upgrade",
        &format!("Sec-WebSocket-Accept:\r\n\t{SAMPLE_ACCEPT}"),
        "Sec-WebSocket-Protocol: chat",
        "X-Folded: a",
        "  b",
    ]);
    let negotiated = accepted(&config, &data);
    assert_eq!(negotiated.subprotocol.as_deref(), Some("chat"));
    let data = raw(&[
        "HTTP/1.1 401 Unauthorized",
        "WWW-Authenticate: Bearer realm=\"a\",",
        " error=\"invalid_token\"",
        "Content-Length: 0",
    ]);
    let Ok(ClientStatus::Rejected(resp)) = run(&ClientConfig::default(), &data) else {
        panic!("a folded refusal is a refusal")
    };
    let value = resp.headers().get_str("www-authenticate").unwrap();
    assert!(!value.contains(['\r', '\n']), "{value:?}");
    assert_eq!(
        value.split_whitespace().collect::<Vec<_>>(),
        ["Bearer", "realm=\"a\",", "error=\"invalid_token\""]
    );
}

// HS-V-02
#[test]
fn hs_v_02_upgrade_websocket() {
    let config = ClientConfig::default();
    let wire = |u: &str| {
        raw(&[
            "HTTP/1.1 101 Switching Protocols",
            u,
            "Connection: Upgrade",
            &format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}"),
        ])
    };
    accepted(&config, &wire("Upgrade: WebSocket"));
    assert_eq!(
        failed(&config, &wire("Upgrade: foo")).header(),
        Some("Upgrade")
    );
    assert_eq!(
        failed(&config, &wire("X: y")),
        HandshakeError::MissingHeader("Upgrade")
    );
}

// HS-V-03
#[test]
fn hs_v_03_connection_lists_upgrade() {
    let config = ClientConfig::default();
    let wire = |c: &str| {
        raw(&[
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            c,
            &format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}"),
        ])
    };
    assert_eq!(
        failed(&config, &wire("Connection: keep-alive")).header(),
        Some("Connection")
    );
    accepted(&config, &wire("Connection: UPGRADE"));
    accepted(&config, &wire("Connection: keep-alive, upgrade"));
    assert_eq!(
        failed(&config, &wire("X: y")),
        HandshakeError::MissingHeader("Connection")
    );
}

// HS-V-04
#[test]
fn hs_v_04_exact_accept_once() {
    let config = ClientConfig::default();
    let wire = |accepts: &[&str]| {
        let mut lines = vec![
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
        ];
        lines.extend_from_slice(accepts);
        raw(&lines)
    };
    let good = format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}");
    accepted(&config, &wire(&[&good]));
    accepted(
        &config,
        &wire(&[&format!("Sec-WebSocket-Accept:   {SAMPLE_ACCEPT} ")]),
    );
    let flipped = format!(
        "Sec-WebSocket-Accept: {}",
        SAMPLE_ACCEPT.replacen('s', "S", 1)
    );
    let mismatch = failed(&config, &wire(&[&flipped]));
    assert!(matches!(mismatch, HandshakeError::AcceptMismatch { .. }));
    assert_eq!(mismatch.header(), Some("Sec-WebSocket-Accept"));
    // A client-side failure: nothing to answer the server with.
    assert_eq!((mismatch.status(), mismatch.response()), (None, None));
    assert_eq!(
        failed(&config, &wire(&[])),
        HandshakeError::MissingHeader("Sec-WebSocket-Accept")
    );
    assert_eq!(
        failed(&config, &wire(&[&good, &good])),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Accept")
    );
}

// HS-V-05, HS-N-05
#[test]
fn hs_v_05_only_offered_extensions() {
    let none = ClientConfig::default();
    let e = failed(
        &none,
        &response_101(&["Sec-WebSocket-Extensions: permessage-deflate"]),
    );
    assert_eq!(
        e,
        HandshakeError::NotOffered {
            name: "Sec-WebSocket-Extensions",
            value: "permessage-deflate".into()
        }
    );
    let pmd = ClientConfig::default().with_extension(Extension::new("permessage-deflate").unwrap());
    let n = accepted(
        &pmd,
        &response_101(&[
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
        ]),
    );
    assert_eq!(n.extensions[0].name(), "permessage-deflate");
    assert!(
        n.extensions[0]
            .param("server_no_context_takeover")
            .is_some()
    );
    // HS-N-05: offered but not accepted: not in force.
    assert!(accepted(&pmd, &response_101(&[])).extensions.is_empty());
    // HS-N-03 on the client: a grammar breach fails the handshake.
    let e = failed(
        &pmd,
        &response_101(&["Sec-WebSocket-Extensions: permessage-deflate;;"]),
    );
    assert_eq!(e.header(), Some("Sec-WebSocket-Extensions"));
}

// HS-N-04: several extension lines in a response are merged.
#[test]
fn hs_n_04_client_merges_extension_lines() {
    let config = ClientConfig::default()
        .with_extension(Extension::new("foo").unwrap())
        .with_extension(Extension::new("bar").unwrap());
    let n = accepted(
        &config,
        &response_101(&[
            "Sec-WebSocket-Extensions: foo",
            "Sec-WebSocket-Extensions: bar",
        ]),
    );
    let names: Vec<&str> = n.extensions.iter().map(Extension::name).collect();
    assert_eq!(names, ["foo", "bar"]);
}

// HS-V-06
#[test]
fn hs_v_06_subprotocol_offered_single_once() {
    let chat = ClientConfig::default().with_subprotocol("chat");
    let e = failed(&chat, &response_101(&["Sec-WebSocket-Protocol: superchat"]));
    assert_eq!(
        e,
        HandshakeError::NotOffered {
            name: "Sec-WebSocket-Protocol",
            value: "superchat".into()
        }
    );
    let n = accepted(&chat, &response_101(&["Sec-WebSocket-Protocol: chat"]));
    assert_eq!(n.subprotocol.as_deref(), Some("chat"));
    assert_eq!(accepted(&chat, &response_101(&[])).subprotocol, None);
    let none = ClientConfig::default();
    assert!(matches!(
        failed(&none, &response_101(&["Sec-WebSocket-Protocol: chat"])),
        HandshakeError::NotOffered { .. }
    ));
    let two = ClientConfig::default()
        .with_subprotocol("chat")
        .with_subprotocol("superchat");
    let e = failed(
        &two,
        &response_101(&["Sec-WebSocket-Protocol: chat, superchat"]),
    );
    assert_eq!(
        e,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Protocol",
            reason: "is not a single token"
        }
    );
    let e = failed(
        &two,
        &response_101(&[
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Protocol: chat",
        ]),
    );
    assert_eq!(e, HandshakeError::DuplicateHeader("Sec-WebSocket-Protocol"));
}

// HS-V-07
#[test]
fn hs_v_07_other_format_breaches() {
    let config = ClientConfig::default();
    let mut old = response_101(&[]);
    old[7] = b'0'; // HTTP/1.0
    assert_eq!(
        failed(&config, &old),
        HandshakeError::HttpVersion { minor: 0 }
    );
    let garbage = b"HTTP/1.1 1x1 Switching\r\n\r\n";
    assert!(matches!(
        failed(&config, garbage),
        HandshakeError::MalformedHttp { .. }
    ));
    assert!(matches!(
        failed(&config, b"SSH-2.0-OpenSSH\r\n\r\n"),
        HandshakeError::MalformedHttp { .. }
    ));
}

// HS-X-01
#[test]
fn hs_x_01_frames_after_the_101_stay_in_the_buffer() {
    let mut data = response_101(&[]);
    data.extend_from_slice(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let config = ClientConfig::default();
    let reference = feed_chunks(&config, &data, &[data.len()]);
    for chunks in [&[1][..], &[4, 13]] {
        assert_eq!(feed_chunks(&config, &data, chunks), reference);
    }
    let (status, mut buf) = reference;
    assert!(matches!(status, Ok(ClientStatus::Accepted(_))));
    let frame = FrameDecoder::new(DecoderConfig::new(Role::Client))
        .decode(&mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(frame.header.opcode, OpCode::Text);
    assert_eq!(&frame.payload[..], b"Hello");
}

// HS-X-04
#[test]
fn hs_x_04_rejected_body_goes_to_the_caller_not_to_frames() {
    let mut data = raw(&[
        "HTTP/1.1 401 Unauthorized",
        "WWW-Authenticate: Basic",
        "Content-Length: 7",
    ]);
    data.extend_from_slice(b"go away");
    let mut hs = client(ClientConfig::default());
    let mut buf = BytesMut::from(&data[..]);
    let Ok(ClientStatus::Rejected(resp)) = hs.feed(&mut buf) else {
        panic!()
    };
    assert_eq!(resp.status(), 401);
    assert_eq!(&resp.body()[..], b"go away");
    assert!(buf.is_empty());
}

// SEC-04: the response head is capped too.
#[test]
fn sec_04_response_head_cap() {
    let mut data = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    while data.len() < 1 << 20 {
        data.extend_from_slice(b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut hs = client(ClientConfig::default());
    let mut buf = BytesMut::from(&data[..]);
    assert_eq!(
        hs.feed(&mut buf),
        Err(HandshakeError::HeadTooLarge {
            limit: rfc6455::handshake::DEFAULT_MAX_HEAD_SIZE
        })
    );
    let mut hs = client(
        ClientConfig::default()
            .with_max_head_size(1 << 21)
            .with_max_headers(8),
    );
    data.extend_from_slice(b"\r\n");
    let mut buf = BytesMut::new();
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        match hs.feed(&mut buf) {
            Ok(ClientStatus::Partial) => {}
            other => {
                assert_eq!(other, Err(HandshakeError::TooManyHeaders { limit: 8 }));
                break;
            }
        }
    }
    // Linear: every byte up to the blank line scanned, each about once.
    assert!(hs.bytes_scanned() >= data.len() as u64 - 4);
    assert!(hs.bytes_scanned() <= 3 * data.len() as u64);

    // The cap is on what arrived: a head still incomplete one byte short of the cap waits
    // for more; at the cap without its end no head that fits can follow, so it fails then.
    let mut hs = client(ClientConfig::default().with_max_head_size(64));
    let mut buf = BytesMut::from(&data[..63]);
    assert_eq!(hs.feed(&mut buf), Ok(ClientStatus::Partial));
    buf.extend_from_slice(&data[63..64]);
    assert_eq!(
        hs.feed(&mut buf),
        Err(HandshakeError::HeadTooLarge { limit: 64 })
    );
    // A 101 of exactly the cap, blank line included, is accepted, frames after it or not.
    let ok = response_101(&[]);
    for after in [&[][..], &[0x82, 0x00]] {
        let mut hs = client(ClientConfig::default().with_max_head_size(ok.len()));
        let mut buf = BytesMut::from(&ok[..]);
        buf.extend_from_slice(after);
        let status = hs.feed(&mut buf);
        assert!(
            matches!(status, Ok(ClientStatus::Accepted(_))),
            "{status:?}"
        );
        assert_eq!(&buf[..], after);
    }
    let mut hs = client(ClientConfig::default().with_max_head_size(0));
    assert_eq!(hs.feed(&mut BytesMut::new()), Ok(ClientStatus::Partial));
    let mut hs = client(ClientConfig::default().with_max_head_size(ok.len() - 1));
    let mut buf = BytesMut::from(&ok[..]);
    assert_eq!(
        hs.feed(&mut buf),
        Err(HandshakeError::HeadTooLarge {
            limit: ok.len() - 1
        })
    );
}

/// Client and server of this crate agree, with negotiation on both sides.
#[test]
fn round_trip_with_the_server() {
    let pmd = Extension::parse("permessage-deflate; client_max_window_bits").unwrap();
    let config = ClientConfig::default()
        .with_origin("https://app.example")
        .with_subprotocol("v2.chat")
        .with_subprotocol("chat")
        .with_extension(pmd)
        .with_header("Authorization", "Bearer t");
    let mut hs = ClientHandshake::new("wss://[2001:db8::1]:8443/ws?x=1", config).unwrap();
    let mut to_server = BytesMut::from(hs.request());
    let Ok(ServerStatus::Upgrade(req)) = RequestParser::default().feed(&mut to_server) else {
        panic!()
    };
    assert_eq!(req.host(), "[2001:db8::1]:8443");
    assert_eq!(req.resource(), "/ws?x=1");
    assert_eq!(req.headers().get_str("authorization"), Some("Bearer t"));
    let chosen = req
        .select_subprotocol(&["chat", "v2.chat"])
        .map(str::to_owned);
    assert_eq!(
        chosen.as_deref(),
        Some("v2.chat"),
        "client preference order"
    );
    let accept_ext = Extension::parse("permessage-deflate; client_max_window_bits=12").unwrap();
    let opts = AcceptOptions::new()
        .with_subprotocol(chosen.as_deref())
        .with_extension(accept_ext);
    let (resp, server_side) = req.accept(&opts).unwrap();
    assert!(String::from_utf8_lossy(&resp).contains(&derive_accept_key(hs.key().as_bytes())));
    let mut to_client = BytesMut::from(&resp[..]);
    let Ok(ClientStatus::Accepted(client_side)) = hs.feed(&mut to_client) else {
        panic!()
    };
    assert_eq!(client_side, server_side);
    assert!(to_client.is_empty());
}

proptest! {
    #[test]
    fn random_splits_give_identical_results(chunks in proptest::collection::vec(1usize..40, 1..12), which in 0usize..4) {
        let mut frames = response_101(&["Sec-WebSocket-Protocol: chat"]);
        frames.extend_from_slice(&[0x81, 0x02, b'h', b'i', 0x89, 0x00]);
        let mut rejected = raw(&["HTTP/1.1 404 Not Found", "Content-Length: 4"]);
        rejected.extend_from_slice(b"nope");
        let inputs = [frames, rejected, response_101(&["Sec-WebSocket-Protocol: nope"]), b"HTTP/1.1 101 OK\r\n\r\n".to_vec()];
        let config = ClientConfig::default().with_subprotocol("chat");
        let data = &inputs[which];
        let whole = feed_chunks(&config, data, &[data.len()]);
        let split = feed_chunks(&config, data, &chunks);
        prop_assert_eq!(strip_body(&split.0), strip_body(&whole.0));
        prop_assert_eq!(received_after_head(&split.0, &split.1), received_after_head(&whole.0, &whole.1));
    }

    #[test]
    fn arbitrary_responses_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), chunks in proptest::collection::vec(1usize..40, 1..8)) {
        let _ = feed_chunks(&ClientConfig::default(), &data, &chunks);
        let mut with_head = response_101(&[]);
        with_head.splice(34..34, data.iter().copied());
        let _ = feed_chunks(&ClientConfig::default(), &with_head, &chunks);
    }
}

#[cfg(feature = "http")]
mod http_feature {
    use super::*;

    #[test]
    fn to_http_request_and_finish_http() {
        let mut hs = client(ClientConfig::default().with_subprotocol("chat"));
        let req = hs.to_http_request().unwrap();
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri(), "/chat");
        assert_eq!(req.headers()["host"], "server.example.com");
        assert_eq!(
            req.headers()["sec-websocket-key"],
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert_eq!(req.headers()["sec-websocket-protocol"], "chat");
        let resp = http::Response::builder()
            .status(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", SAMPLE_ACCEPT)
            .header("Sec-WebSocket-Protocol", "chat")
            .body(())
            .unwrap();
        let Ok(ClientStatus::Accepted(n)) = hs.finish_http(&resp) else {
            panic!()
        };
        assert_eq!(n.subprotocol.as_deref(), Some("chat"));
        assert_eq!(hs.finish_http(&resp), Err(HandshakeError::Finished));

        let mut hs = client(ClientConfig::default());
        let denied = http::Response::builder().status(403).body(()).unwrap();
        let Ok(ClientStatus::Rejected(r)) = hs.finish_http(&denied) else {
            panic!()
        };
        assert_eq!(r.status(), 403);

        // HS-V-07: HTTP/1.0 is a version this handshake knows: a refusal over it is a
        // refusal, a 101 over it fails as it does from bytes (not as an HTTP/2 response).
        let mut hs = client(ClientConfig::default());
        let mut old_denied = http::Response::builder().status(403).body(()).unwrap();
        *old_denied.version_mut() = http::Version::HTTP_10;
        let Ok(ClientStatus::Rejected(r)) = hs.finish_http(&old_denied) else {
            panic!()
        };
        assert_eq!((r.status(), r.minor_version()), (403, 0));
        let mut old_101 = resp.clone();
        *old_101.version_mut() = http::Version::HTTP_10;
        let mut hs = client(ClientConfig::default().with_subprotocol("chat"));
        assert_eq!(
            hs.finish_http(&old_101),
            Err(HandshakeError::HttpVersion { minor: 0 })
        );
        let mut h2 = resp;
        *h2.version_mut() = http::Version::HTTP_2;
        let mut hs = client(ClientConfig::default().with_subprotocol("chat"));
        assert!(matches!(
            hs.finish_http(&h2),
            Err(HandshakeError::MalformedHttp { .. })
        ));
    }
}
