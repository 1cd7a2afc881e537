//! Server-side opening handshake: every HS-S, HS-N, HS-R and server HS-X row of
//! RFC-CHECKLIST section 1, each test naming its ID.

mod common;

use bytes::BytesMut;
use common::feed_head_in_chunks;
use proptest::prelude::*;
use rfc6455::Role;
use rfc6455::frame::{DecoderConfig, FrameDecoder, OpCode};
use rfc6455::handshake::{
    AcceptOptions, Extension, HandshakeError, Headers, OriginPolicy, Request, RequestParser,
    ServerConfig, ServerStatus, UpgradeRequest,
};

const CHROMIUM: &[u8] = include_bytes!("fixtures/chromium.http");
const FIREFOX: &[u8] = include_bytes!("fixtures/firefox.http");
const CURL: &[u8] = include_bytes!("fixtures/curl.http");
const PAGE: &[u8] = include_bytes!("fixtures/firefox-page.http");

/// A request built from raw header lines (no defaults), with a request line.
fn raw(line: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = format!("{line}\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

const BASE: [&str; 5] = [
    "Host: h",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

/// `BASE` with the header named `name` removed and `replacement` lines added.
fn base_without(name: &str, replacement: &[&str]) -> Vec<u8> {
    let mut headers: Vec<&str> = BASE
        .iter()
        .copied()
        .filter(|h| {
            !h.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .collect();
    headers.extend_from_slice(replacement);
    raw("GET /chat HTTP/1.1", &headers)
}

/// Feeds `data` to a fresh parser in the given chunk sizes (cycled); returns the first
/// non-partial result and the caller's buffer afterwards (every byte of `data` appended).
fn feed_chunks(
    config: ServerConfig,
    data: &[u8],
    chunks: &[usize],
) -> (Result<ServerStatus, HandshakeError>, BytesMut) {
    let mut parser = RequestParser::new(config);
    feed_head_in_chunks(
        data,
        chunks,
        |buf| parser.feed(buf),
        |status| matches!(status, ServerStatus::Partial),
        ServerStatus::Partial,
    )
}

fn whole(data: &[u8]) -> (Result<ServerStatus, HandshakeError>, BytesMut) {
    feed_chunks(ServerConfig::default(), data, &[data.len().max(1)])
}

/// The result fed whole, after asserting that byte-by-byte and a few fixed splits agree.
fn parse(data: &[u8]) -> Result<ServerStatus, HandshakeError> {
    parse_with(ServerConfig::default(), data)
}

fn parse_with(config: ServerConfig, data: &[u8]) -> Result<ServerStatus, HandshakeError> {
    let reference = feed_chunks(config.clone(), data, &[data.len().max(1)]);
    for chunks in [&[1][..], &[2], &[3, 7], &[17, 1, 5]] {
        assert_eq!(
            feed_chunks(config.clone(), data, chunks),
            reference,
            "{chunks:?}"
        );
    }
    reference.0
}

fn upgrade(data: &[u8]) -> UpgradeRequest {
    match parse(data) {
        Ok(ServerStatus::Upgrade(r)) => r,
        other => panic!("expected an upgrade, got {other:?}"),
    }
}

fn error(data: &[u8]) -> HandshakeError {
    match parse(data) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn accept_default(r: &UpgradeRequest) -> String {
    String::from_utf8(r.accept(&AcceptOptions::new()).unwrap().0).unwrap()
}

/// Asserts an error answers with `status` and that its response is that status, never 101.
fn assert_status(e: &HandshakeError, status: u16) {
    assert_eq!(e.status(), Some(status), "{e}");
    let resp = String::from_utf8(e.response().unwrap()).unwrap();
    assert!(resp.starts_with(&format!("HTTP/1.1 {status} ")), "{resp}");
    assert!(!resp.contains(" 101 "));
}

// HS-S-01
#[test]
fn hs_s_01_malformed_requests_get_4xx_never_101() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\r\nHost h\r\n\r\n".to_vec(), 400),
        (b"GET / HTTX/1.1\r\nHost: h\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n".to_vec(), 400),
        (b"G(T / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"\x00\x01\x02\r\n\r\n".to_vec(), 400),
        (base_without("Upgrade", &["Upgrade: foo"]), 400),
        (
            base_without("Sec-WebSocket-Key", &["Sec-WebSocket-Key: short"]),
            400,
        ),
        (
            base_without("Sec-WebSocket-Version", &["Sec-WebSocket-Version: 7"]),
            426,
        ),
    ];
    for (data, status) in cases {
        assert_status(&error(&data), status);
    }
}

// HS-S-02
#[test]
fn hs_s_02_method_version_and_target_forms() {
    let post = error(&raw("POST /chat HTTP/1.1", &BASE));
    assert_eq!(
        post,
        HandshakeError::MethodNotAllowed {
            method: "POST".into()
        }
    );
    assert_status(&post, 405);
    assert!(
        String::from_utf8(post.response().unwrap())
            .unwrap()
            .contains("\r\nAllow: GET\r\n")
    );
    let old = error(&raw("GET /chat HTTP/1.0", &BASE));
    assert_eq!(old, HandshakeError::HttpVersion { minor: 0 });
    assert_status(&old, 400);
    let abs = upgrade(&raw("GET http://h/chat HTTP/1.1", &BASE));
    assert_eq!(abs.resource(), "/chat");
    assert_eq!(abs.request().target(), "http://h/chat");
    // An absolute-form target's authority is the host, not the Host field (RFC 9112
    // section 3.2.2), without user information; Host must still be there.
    let other = upgrade(&raw("GET ws://u@a.example:8080/chat HTTP/1.1", &BASE));
    assert_eq!(other.host(), "a.example:8080");
    assert_eq!(other.headers().get_str("host"), Some("h"));
    assert_eq!(upgrade(&raw("GET /chat HTTP/1.1", &BASE)).host(), "h");
    let no_host = raw(
        "GET http://a.example/chat HTTP/1.1",
        &BASE[1..], // BASE without its Host line
    );
    assert_eq!(error(&no_host), HandshakeError::MissingHeader("Host"));
    let q = upgrade(&raw("GET /chat?room=1&x HTTP/1.1", &BASE));
    assert_eq!((q.path(), q.query()), ("/chat", Some("room=1&x")));
    assert_status(&error(&raw("GET * HTTP/1.1", &BASE)), 400);
}

// HS-S-01, HS-S-03 to HS-S-07: each header the handshake requires, when missing, is named by
// the error, which answers 400, except a missing Sec-WebSocket-Version: 426 with the version
// we speak (section 4.2.2).
#[test]
fn hs_s_01_missing_required_header_is_400_but_version_426() {
    for line in BASE {
        let name = line.split(':').next().unwrap();
        let e = error(&base_without(name, &[]));
        assert_eq!(e, HandshakeError::MissingHeader(name));
        assert_eq!(e.header(), Some(name));
        let status = if name == "Sec-WebSocket-Version" {
            426
        } else {
            400
        };
        assert_status(&e, status);
        let resp = String::from_utf8(e.response().unwrap()).unwrap();
        assert_eq!(
            resp.contains("Sec-WebSocket-Version: 13\r\n"),
            status == 426,
            "{resp}"
        );
    }
}

// HS-S-01, HS-S-04: a request with any one sign of an upgrade (Upgrade listing websocket,
// a Sec-WebSocket-Key, a Sec-WebSocket-Version) is an upgrade attempt, validated and refused
// with 400 when incomplete, never passed on as plain HTTP.
#[test]
fn hs_s_01_any_sign_of_an_upgrade_makes_an_attempt() {
    for (sign, missing) in [
        ("Upgrade: websocket", "Connection"),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Upgrade"),
        ("Sec-WebSocket-Version: 13", "Upgrade"),
    ] {
        let e = error(&raw("GET / HTTP/1.1", &["Host: h", sign]));
        assert_eq!(e, HandshakeError::MissingHeader(missing), "{sign}");
        assert_status(&e, 400);
        let mut headers = Headers::new();
        let (name, value) = sign.split_once(": ").unwrap();
        headers.push(name, value);
        assert!(
            Request::new("GET", "/", 1, headers).is_websocket_upgrade(),
            "{sign}"
        );
    }
    assert!(!Request::new("GET", "/", 1, Headers::new()).is_websocket_upgrade());
}

// HS-S-03
#[test]
fn hs_s_03_host_exactly_once() {
    assert_eq!(
        error(&base_without("Host", &[])),
        HandshakeError::MissingHeader("Host")
    );
    let two = error(&base_without("Host", &["Host: a", "Host: b"]));
    assert_eq!(two, HandshakeError::DuplicateHeader("Host"));
    assert_status(&two, 400);
    assert_eq!(upgrade(&raw("GET / HTTP/1.1", &BASE)).host(), "h");
}

// HS-S-04
#[test]
fn hs_s_04_upgrade_token_list() {
    upgrade(&base_without("Upgrade", &["Upgrade: WebSocket"]));
    upgrade(&base_without("Upgrade", &["Upgrade: h2c, websocket"]));
    let foo = error(&base_without("Upgrade", &["Upgrade: foo"]));
    assert_eq!(foo.header(), Some("Upgrade"));
    assert_status(&foo, 400);
    let missing = error(&base_without("Upgrade", &[]));
    assert_eq!(missing, HandshakeError::MissingHeader("Upgrade"));
}

// HS-S-05
#[test]
fn hs_s_05_connection_token_list_merged() {
    upgrade(&base_without(
        "Connection",
        &["Connection: keep-alive, Upgrade"],
    ));
    upgrade(&base_without(
        "Connection",
        &["Connection: keep-alive", "connection: UPGRADE"],
    ));
    for bad in [
        "Connection: keep-alive",
        "Connection: upgradex",
        "Connection: up grade",
    ] {
        let e = error(&base_without("Connection", &[bad]));
        assert_eq!(e.header(), Some("Connection"), "{bad}");
        assert_status(&e, 400);
    }
    assert_eq!(
        error(&base_without("Connection", &[])),
        HandshakeError::MissingHeader("Connection")
    );
}

// HS-S-06
#[test]
fn hs_s_06_key_once_and_16_bytes() {
    let key = |lines: &[&str]| error(&base_without("Sec-WebSocket-Key", lines));
    assert_eq!(key(&[]), HandshakeError::MissingHeader("Sec-WebSocket-Key"));
    assert_status(&key(&[]), 400);
    for bad in [
        "AQIDBAUGBwgJCgsMDQ4PEBE=",
        "@@@",
        "AQIDBAUGBwgJCgsMDQ4PEA",
        "",
    ] {
        let e = key(&[&format!("Sec-WebSocket-Key: {bad}")]);
        assert_eq!(e.header(), Some("Sec-WebSocket-Key"), "{bad}");
        assert_status(&e, 400);
    }
    let two = key(&[
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]);
    assert_eq!(two, HandshakeError::DuplicateHeader("Sec-WebSocket-Key"));
    let ok = upgrade(&raw("GET / HTTP/1.1", &BASE));
    assert_eq!(ok.key(), "dGhlIHNhbXBsZSBub25jZQ==");
}

// HS-S-06a: non-zero padding bits are accepted (documented policy), and the accept value is
// derived from the key exactly as received.
#[test]
fn hs_s_06a_rfc_example_key_with_padding_bits() {
    let r = upgrade(&base_without(
        "Sec-WebSocket-Key",
        &["Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC=="],
    ));
    let resp = accept_default(&r);
    let expected = rfc6455::handshake::derive_accept_key(b"AQIDBAUGBwgJCgsMDQ4PEC==");
    assert_ne!(
        expected,
        rfc6455::handshake::derive_accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA==")
    );
    assert!(resp.contains(&format!("Sec-WebSocket-Accept: {expected}\r\n")));
}

// HS-S-07
#[test]
fn hs_s_07_version_13_or_426() {
    let v8 = error(&base_without(
        "Sec-WebSocket-Version",
        &["Sec-WebSocket-Version: 8"],
    ));
    assert_eq!(
        v8,
        HandshakeError::UnsupportedVersion {
            version: "8".into()
        }
    );
    assert_status(&v8, 426);
    assert_eq!(v8.header(), Some("Sec-WebSocket-Version"));
    let resp = String::from_utf8(v8.response().unwrap()).unwrap();
    assert!(resp.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    let missing = error(&base_without("Sec-WebSocket-Version", &[]));
    assert_status(&missing, 426);
    assert!(
        String::from_utf8(missing.response().unwrap())
            .unwrap()
            .contains("Sec-WebSocket-Version: 13")
    );
    let two = error(&base_without(
        "Sec-WebSocket-Version",
        &["Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13"],
    ));
    assert_status(&two, 400);
}

// HS-S-08, SEC-05
#[test]
fn hs_s_08_origin_hook_403() {
    let config =
        ServerConfig::default().with_origin_policy(OriginPolicy::allow_list(["https://a"]));
    let evil = base_without("Origin", &["Origin: https://evil"]);
    let e = parse_with(config.clone(), &evil).unwrap_err();
    assert_eq!(
        e,
        HandshakeError::OriginForbidden {
            origin: Some("https://evil".into())
        }
    );
    assert_status(&e, 403);
    assert_eq!(e.header(), Some("Origin"));
    // The policy shows in a configuration's Debug (a custom hook only by name).
    assert_eq!(
        format!("{:?}", OriginPolicy::allow_list(["https://a"])),
        "AllowList { origins: [\"https://a\"], allow_missing: true }"
    );
    assert_eq!(format!("{:?}", OriginPolicy::Any), "Any");
    let custom = OriginPolicy::Custom(std::sync::Arc::new(|o| o.is_none()));
    assert_eq!(format!("{custom:?}"), "Custom(..)");
    let good = base_without("Origin", &["Origin: https://a"]);
    assert!(matches!(
        parse_with(config.clone(), &good),
        Ok(ServerStatus::Upgrade(_))
    ));
    // No Origin: a non-browser client; the default policy and the allow-list accept it.
    let none = raw("GET / HTTP/1.1", &BASE);
    assert!(matches!(
        parse_with(config, &none),
        Ok(ServerStatus::Upgrade(_))
    ));
    assert!(upgrade(&evil).origin() == Some("https://evil"));
}

// HS-S-09: routing is the application's: it rejects unknown resources.
#[test]
fn hs_s_09_routing_hook_404() {
    let r = upgrade(&raw("GET /nope HTTP/1.1", &BASE));
    let route = |r: &UpgradeRequest| -> Vec<u8> {
        if r.path() == "/chat" {
            r.accept(&AcceptOptions::new()).unwrap().0
        } else {
            r.reject(404, &[("Content-Type", "text/plain")], b"no such endpoint")
                .unwrap()
        }
    };
    let resp = String::from_utf8(route(&r)).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    assert!(!resp.contains("101"));
    assert!(resp.ends_with("\r\n\r\nno such endpoint"));
    let chat = upgrade(&raw("GET /chat HTTP/1.1", &BASE));
    assert!(route(&chat).starts_with(b"HTTP/1.1 101 "));
}

// HS-S-10, SEC-07: any non-101 answer, e.g. 401 after reading Authorization.
#[test]
fn hs_s_10_application_answers_401() {
    let r = upgrade(&base_without(
        "Authorization",
        &["Authorization: Bearer nope"],
    ));
    assert_eq!(r.headers().get_str("authorization"), Some("Bearer nope"));
    let resp = r
        .reject(401, &[("WWW-Authenticate", "Bearer")], b"")
        .unwrap();
    assert_eq!(
        resp,
        b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-Authenticate: Bearer\r\n\
          Content-Length: 0\r\n\r\n"
    );
    let redirect = r.reject(307, &[("Location", "/elsewhere")], b"").unwrap();
    assert!(redirect.starts_with(
        b"HTTP/1.1 307 Temporary Redirect\r\nConnection: close\r\nLocation: /elsewhere\r\n"
    ));
    // The application's own Connection field replaces the default, once.
    let kept = r.reject(401, &[("connection", "keep-alive")], b"").unwrap();
    let kept = String::from_utf8(kept).unwrap();
    assert_eq!(kept.to_ascii_lowercase().matches("connection:").count(), 1);
    assert!(kept.contains("connection: keep-alive\r\n"), "{kept}");
    assert!(r.reject(101, &[], b"").is_err());
}

// HS-S-10, HS-X-02, SEC-09: what follows an upgrade request is never parsed as HTTP. A
// request smuggled behind a rejected upgrade (one a proxy took for accepted) gets
// `Finished`, not `NotUpgrade`; pipelined plain requests are still read one after another.
#[test]
fn hs_s_10_nothing_is_parsed_after_an_upgrade_request() {
    let smuggled = b"GET /internal HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut buf = BytesMut::from(&raw("GET /chat HTTP/1.1", &BASE)[..]);
    buf.extend_from_slice(smuggled);
    let mut parser = RequestParser::default();
    let Ok(ServerStatus::Upgrade(r)) = parser.feed(&mut buf) else {
        panic!("an upgrade first")
    };
    assert_eq!(&buf[..], smuggled, "the rest stays with the caller");
    let resp = r.reject(403, &[], b"").unwrap();
    assert!(resp.starts_with(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"));
    assert_eq!(parser.feed(&mut buf), Err(HandshakeError::Finished));
    assert_eq!(&buf[..], smuggled, "nothing consumed");

    let mut pipelined = BytesMut::from(&smuggled[..]);
    pipelined.extend_from_slice(&raw("GET /chat HTTP/1.1", &BASE));
    let mut parser = RequestParser::default();
    assert!(matches!(
        parser.feed(&mut pipelined),
        Ok(ServerStatus::NotUpgrade(_))
    ));
    assert!(matches!(
        parser.feed(&mut pipelined),
        Ok(ServerStatus::Upgrade(_))
    ));
    assert!(pipelined.is_empty());
}

// HS-S-10: a rejection's status line carries the standard reason phrase (RFC 9110 section 15)
// for the statuses a server answers an upgrade or a plain request with; other statuses get an
// empty phrase, which HTTP/1.1 allows.
#[test]
fn hs_s_10_reject_status_lines_carry_the_reason_phrase() {
    for (status, phrase) in [
        (200, "OK"),
        (301, "Moved Permanently"),
        (302, "Found"),
        (303, "See Other"),
        (307, "Temporary Redirect"),
        (308, "Permanent Redirect"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (426, "Upgrade Required"),
        (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (418, ""),
        (599, ""),
    ] {
        let resp = rfc6455::handshake::reject_response(status, &[], b"").unwrap();
        let expected = format!("HTTP/1.1 {status} {phrase}\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(String::from_utf8(resp).unwrap(), expected);
    }
}

// HS-S-11
#[test]
fn hs_s_11_case_insensitive_names_trimmed_values_unknown_ignored() {
    let data = raw(
        "GET /chat HTTP/1.1",
        &[
            "host: h",
            "UPGRADE: websocket",
            "connection: upgrade",
            "sec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  ",
            "SEC-WEBSOCKET-VERSION: 13",
            "X-Foo: 1",
        ],
    );
    let r = upgrade(&data);
    assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert!(accept_default(&r).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(!accept_default(&r).contains("X-Foo"));
}

// HS-S-11: unknown fields are ignored, also those whose names are as long as a field the
// handshake reads (the parser picks candidates by length): none is taken for Host, Origin,
// Upgrade, Connection, Content-Length, Sec-WebSocket-Key, Transfer-Encoding,
// Sec-WebSocket-Version, -Protocol or -Extensions.
#[test]
fn hs_s_11_unknown_fields_as_long_as_known_ones_are_ignored() {
    const LOOKALIKES: [&str; 8] = [
        "Date: h2",                                    // 4, Host
        "Pragma: https://x",                           // 6, Origin
        "Referer: websocket",                          // 7, Upgrade
        "Keep-Alive: upgrade",                         // 10, Connection
        "Accept-Charset: 5",                           // 14, Content-Length
        "If-Modified-Since: AQIDBAUGBwgJCgsMDQ4PEA==", // 17, Key, Transfer-Encoding
        "X-Forwarded-Client-Ip: 13",                   // 21, Version
        "Access-Control-Max-Age: x y",                 // 22, Protocol
    ];
    let mut headers = LOOKALIKES.to_vec();
    headers.push("X-Forwarded-Client-Certs: x;;"); // 24, Extensions
    headers.extend(BASE);
    let r = upgrade(&raw("GET / HTTP/1.1", &headers));
    assert_eq!(r.host(), "h");
    assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(r.origin(), None);
    assert!(r.subprotocols().is_empty());
    assert!(r.extensions().is_empty());
    // Without the upgrade's own fields the request is plain HTTP, whatever its other fields
    // say.
    let mut plain = vec!["Host: h"];
    plain.extend(LOOKALIKES);
    let Ok(ServerStatus::NotUpgrade(req)) = parse(&raw("GET / HTTP/1.1", &plain)) else {
        panic!("not plain HTTP")
    };
    assert!(!req.is_websocket_upgrade());
}

// HS-S-12: caps (431) and linear work on a 64 KiB header flood fed one byte at a time.
#[test]
fn hs_s_12_header_flood_byte_by_byte_is_linear_and_431() {
    let mut flood = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    while flood.len() < 64 * 1024 {
        flood.extend_from_slice(b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut result = None;
    for (i, &b) in flood.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        match parser.feed(&mut buf) {
            Ok(ServerStatus::Partial) => {}
            other => {
                result = Some((i + 1, other));
                break;
            }
        }
    }
    let (fed, result) = result.expect("the cap must trip before the flood ends");
    let limit = rfc6455::handshake::DEFAULT_MAX_HEAD_SIZE;
    assert_eq!(
        fed, limit,
        "fails as soon as the cap is reached without the head's end, without buffering more"
    );
    let e = result.unwrap_err();
    assert_eq!(e, HandshakeError::HeadTooLarge { limit });
    assert_status(&e, 431);
    // Linear: each byte is scanned about once (two bytes of look-behind per call), and
    // httparse never ran on an incomplete head.
    assert!(
        parser.bytes_scanned() <= 3 * fed as u64,
        "{}",
        parser.bytes_scanned()
    );
    assert_eq!(parser.parse_attempts(), 0);

    // With a cap above the flood, the complete 64 KiB head fed byte by byte still costs one
    // parse and a linear scan, then fails on the header count.
    let mut flood = flood.clone();
    flood.extend_from_slice(b"\r\n");
    let config = ServerConfig::default().with_max_head_size(1 << 20);
    let mut parser = RequestParser::new(config);
    let mut buf = BytesMut::new();
    let mut last = Ok(ServerStatus::Partial);
    for &b in &flood {
        buf.extend_from_slice(&[b]);
        last = parser.feed(&mut buf);
        if !matches!(last, Ok(ServerStatus::Partial)) {
            break;
        }
    }
    assert_eq!(last, Err(HandshakeError::TooManyHeaders { limit: 64 }));
    assert_eq!(parser.parse_attempts(), 1);
    assert!(parser.bytes_scanned() <= 3 * flood.len() as u64);
}

// HS-S-12
#[test]
fn hs_s_12_caps_are_configurable() {
    // BASE and `extra` more fields.
    let with_fields = |extra: usize| {
        let many: Vec<String> = (0..extra).map(|i| format!("X-{i}: v")).collect();
        let mut headers: Vec<&str> = BASE.to_vec();
        headers.extend(many.iter().map(String::as_str));
        raw("GET / HTTP/1.1", &headers)
    };
    let data = with_fields(10);
    let small = ServerConfig::default().with_max_headers(8);
    assert_status(&parse_with(small, &data).unwrap_err(), 431);
    let tiny = ServerConfig::default().with_max_head_size(64);
    assert_eq!(
        parse_with(tiny, &data).unwrap_err(),
        HandshakeError::HeadTooLarge { limit: 64 }
    );
    assert!(matches!(parse(&data), Ok(ServerStatus::Upgrade(_))));
    // A cap above the default: 150 fields are taken whole, one more field is refused.
    let large = ServerConfig::default().with_max_headers(150);
    assert_eq!(RequestParser::new(large.clone()).config().max_headers, 150);
    let r = match parse_with(large.clone(), &with_fields(145)) {
        Ok(ServerStatus::Upgrade(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.headers().len(), 150);
    let over = parse_with(large, &with_fields(146)).unwrap_err();
    assert_eq!(over, HandshakeError::TooManyHeaders { limit: 150 });
    // Incomplete input is never an error.
    for n in 0..data.len() {
        assert_eq!(whole(&data[..n]).0, Ok(ServerStatus::Partial), "{n}");
    }
}

// HS-S-12: the default head cap takes what a reverse proxy passes on by default (nginx: four
// 8 KiB lines), such as a 20 KiB single-sign-on cookie and a 6 KiB bearer token.
#[test]
fn hs_s_12_default_cap_takes_large_cookies() {
    let cookie = format!("Cookie: sso={}", "c".repeat(20 * 1024));
    let token = format!("Authorization: Bearer {}", "t".repeat(6 * 1024));
    let mut headers = BASE.to_vec();
    headers.extend([cookie.as_str(), token.as_str()]);
    let r = upgrade(&raw("GET /chat HTTP/1.1", &headers));
    assert_eq!(
        r.headers().get_str("cookie").map(str::len),
        Some(4 + 20 * 1024)
    );
}

// HS-S-12, SEC-04: the cap counts the head's bytes, blank line included. A head of exactly
// `max_head_size` bytes is accepted, whatever follows it in the same read; once that many
// bytes have arrived without the head's end, it fails at once (431), in every split.
#[test]
fn hs_s_12_head_at_the_cap() {
    let head = raw("GET /chat HTTP/1.1", &BASE);
    let fits = ServerConfig::default().with_max_head_size(head.len());
    assert!(matches!(
        parse_with(fits.clone(), &head),
        Ok(ServerStatus::Upgrade(_))
    ));
    // Frames sent early after the head stay in the buffer, and do not count.
    let mut with_frame = head.clone();
    with_frame.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    let mut buf = BytesMut::from(&with_frame[..]);
    let status = RequestParser::new(fits).feed(&mut buf);
    assert!(matches!(status, Ok(ServerStatus::Upgrade(_))), "{status:?}");
    assert_eq!(&buf[..], &[0x81, 0x80, 1, 2, 3, 4]);

    let short = ServerConfig::default().with_max_head_size(head.len() - 1);
    let limit = head.len() - 1;
    assert_eq!(
        parse_with(short.clone(), &head),
        Err(HandshakeError::HeadTooLarge { limit })
    );
    // Fed byte by byte, it fails on the byte that reaches the cap, not on the one after.
    let mut parser = RequestParser::new(short);
    let mut buf = BytesMut::new();
    for (i, &b) in head.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        let status = parser.feed(&mut buf);
        if i + 1 < limit {
            assert_eq!(status, Ok(ServerStatus::Partial), "{i}");
        } else {
            assert_eq!(status, Err(HandshakeError::HeadTooLarge { limit }), "{i}");
            break;
        }
    }
    // Even a zero cap waits while nothing has arrived, and fails on the first byte.
    let mut parser = RequestParser::new(ServerConfig::default().with_max_head_size(0));
    assert_eq!(parser.parse(b""), Ok((ServerStatus::Partial, 0)));
    assert_eq!(
        parser.parse(b"G"),
        Err(HandshakeError::HeadTooLarge { limit: 0 })
    );
}

// HS-N-01
#[test]
fn hs_n_01_one_offered_subprotocol_or_none() {
    let r = upgrade(&base_without(
        "X",
        &[
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Protocol: superchat",
        ],
    ));
    assert_eq!(r.subprotocols(), ["chat", "superchat"]);
    let chosen = r.select_subprotocol(&["superchat"]);
    assert_eq!(chosen, Some("superchat"));
    let (resp, negotiated) = r
        .accept(&AcceptOptions::new().with_subprotocol(chosen))
        .unwrap();
    let resp = String::from_utf8(resp).unwrap();
    assert_eq!(
        resp.matches("Sec-WebSocket-Protocol: superchat\r\n")
            .count(),
        1
    );
    assert_eq!(negotiated.subprotocol.as_deref(), Some("superchat"));
    assert_eq!(r.select_subprotocol(&["mqtt"]), None);
    let (resp, negotiated) = r
        .accept(&AcceptOptions::new().with_subprotocol(None))
        .unwrap();
    assert!(
        !String::from_utf8(resp)
            .unwrap()
            .contains("Sec-WebSocket-Protocol")
    );
    assert_eq!(negotiated.subprotocol, None);
    let e = r
        .accept(&AcceptOptions::new().with_subprotocol(Some("mqtt")))
        .unwrap_err();
    assert_eq!(
        e,
        HandshakeError::NotOffered {
            name: "Sec-WebSocket-Protocol",
            value: "mqtt".into()
        }
    );
    // A malformed offer is a 400.
    let bad = error(&base_without("X", &["Sec-WebSocket-Protocol: a b"]));
    assert_status(&bad, 400);
}

// HS-N-02
#[test]
fn hs_n_02_only_offered_extensions() {
    let r = upgrade(&base_without("X", &["Sec-WebSocket-Extensions: x-unknown"]));
    assert_eq!(r.extensions(), [Extension::new("x-unknown").unwrap()]);
    assert!(!accept_default(&r).contains("Sec-WebSocket-Extensions"));
    let pmd = Extension::new("permessage-deflate").unwrap();
    let e = r
        .accept(&AcceptOptions::new().with_extension(pmd))
        .unwrap_err();
    assert_eq!(e.header(), Some("Sec-WebSocket-Extensions"));
}

// HS-N-03
#[test]
fn hs_n_03_extension_grammar_on_the_server() {
    let r = upgrade(&base_without(
        "X",
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\"10\""],
    ));
    let bits = r.extensions()[0].param("client_max_window_bits").unwrap();
    assert_eq!(bits.value(), Some("10"));
    let bad = error(&base_without(
        "X",
        &["Sec-WebSocket-Extensions: permessage-deflate;;"],
    ));
    assert_eq!(bad.header(), Some("Sec-WebSocket-Extensions"));
    assert_status(&bad, 400);
}

// HS-N-04: the server writes one Sec-WebSocket-Extensions line.
#[test]
fn hs_n_04_server_emits_one_extensions_line() {
    let r = upgrade(&base_without(
        "X",
        &[
            "Sec-WebSocket-Extensions: a; x=1",
            "Sec-WebSocket-Extensions: b",
        ],
    ));
    assert_eq!(r.extensions().len(), 2);
    let opts = AcceptOptions::new()
        .with_extension(r.extensions()[0].clone())
        .with_extension(r.extensions()[1].clone());
    let (resp, negotiated) = r.accept(&opts).unwrap();
    let resp = String::from_utf8(resp).unwrap();
    assert_eq!(resp.matches("Sec-WebSocket-Extensions").count(), 1);
    assert!(resp.contains("\r\nSec-WebSocket-Extensions: a; x=1, b\r\n"));
    assert_eq!(negotiated.extensions, r.extensions());
}

// HS-R-01, HS-R-02, HS-R-03, HS-R-04: golden bytes of a complete 101.
#[test]
fn hs_r_01_to_04_golden_101() {
    let r = upgrade(&base_without(
        "X",
        &[
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        ],
    ));
    let pmd = Extension::new("permessage-deflate")
        .unwrap()
        .with_param("client_max_window_bits", Some("15"))
        .unwrap();
    let opts = AcceptOptions::new()
        .with_subprotocol(Some("chat"))
        .with_extension(pmd)
        .with_header("Set-Cookie", "id=1");
    let (resp, _) = r.accept(&opts).unwrap();
    assert_eq!(
        String::from_utf8(resp).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
         Sec-WebSocket-Protocol: chat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\
         Set-Cookie: id=1\r\n\
         \r\n"
    );
    // Extra headers cannot repeat or break the handshake's own headers (HS-R-04).
    for (name, value) in [
        ("Sec-WebSocket-Accept", "x"),
        ("upgrade", "h2c"),
        ("X", "a\r\nb"),
        ("A B", "c"),
    ] {
        let e = r
            .accept(&AcceptOptions::new().with_header(name, value))
            .unwrap_err();
        assert!(matches!(e, HandshakeError::InvalidConfig { .. }), "{name}");
    }
}

// HS-R-05: the 101 yields the `Negotiated` the connection is built from; frames may follow
// at once. (The connection itself lives outside this module; here the server-role encoder
// stands in for it.)
#[test]
fn hs_r_05_frames_follow_the_101() {
    let r = upgrade(&raw("GET / HTTP/1.1", &BASE));
    let (resp, negotiated) = r.accept(&AcceptOptions::new()).unwrap();
    assert!(resp.ends_with(b"\r\n\r\n"));
    assert_eq!(negotiated, Default::default());
    let mut out = BytesMut::from(&resp[..]);
    rfc6455::frame::FrameEncoder::new(Role::Server).encode(&mut out, true, 0, OpCode::Text, b"x");
    assert_eq!(&out[resp.len()..], [0x81, 0x01, 0x78]);
}

// HS-X-02
#[test]
fn hs_x_02_early_frames_stay_in_the_buffer() {
    let mut data = raw("GET /chat HTTP/1.1", &BASE);
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    data.extend_from_slice(&frame);
    let (status, mut rest) = whole(&data);
    assert!(matches!(status, Ok(ServerStatus::Upgrade(_))));
    for chunks in [&[1][..], &[5, 9]] {
        let (s, r) = feed_chunks(ServerConfig::default(), &data, chunks);
        assert_eq!((&s, &r), (&status, &rest));
    }
    assert_eq!(&rest[..], frame);
    let mut decoder = FrameDecoder::new(DecoderConfig::new(Role::Server));
    let frame = decoder.decode(&mut rest).unwrap().unwrap();
    assert_eq!(frame.header.opcode, OpCode::Text);
    assert_eq!(&frame.payload[..], b"Hello");
}

// HS-X-03
#[test]
fn hs_x_03_upgrade_with_a_body_is_refused() {
    let cl = error(&base_without("X", &["Content-Length: 5"]));
    assert_eq!(cl, HandshakeError::UnexpectedBody("Content-Length"));
    assert_status(&cl, 400);
    let te = error(&base_without("X", &["Transfer-Encoding: chunked"]));
    assert_status(&te, 400);
    upgrade(&base_without("X", &["Content-Length: 0"]));
    upgrade(&base_without("X", &["Content-Length: 00"]));
    // A length that is not a decimal number (empty, letters, signs) is malformed, not a body.
    for bad in [
        "Content-Length:",
        "Content-Length: abc",
        "Content-Length: -0",
        "Content-Length: 0x",
    ] {
        let e = error(&base_without("X", &[bad]));
        assert!(
            matches!(e, HandshakeError::InvalidHeader { .. }),
            "{bad}: {e:?}"
        );
        assert_eq!(e.header(), Some("Content-Length"), "{bad}");
        assert_status(&e, 400);
    }
}

#[test]
fn plain_http_request_is_not_an_error() {
    let (status, rest) = whole(PAGE);
    let Ok(ServerStatus::NotUpgrade(req)) = status else {
        panic!("{status:?}")
    };
    assert_eq!((req.method(), req.target()), ("GET", "/index.html"));
    assert_eq!(req.minor_version(), 1);
    assert_eq!(req.headers().get_str("host"), Some("localhost:8080"));
    assert!(!req.is_websocket_upgrade());
    let debug = format!("{req:?}");
    for part in [
        "Request { method: \"GET\", target: \"/index.html\", minor_version: 1,",
        "(\"Host\", \"localhost:8080\")",
    ] {
        assert!(debug.contains(part), "{debug}");
    }
    assert!(rest.is_empty());
    let old = raw("GET / HTTP/1.0", &["Host: h"]);
    let Ok(ServerStatus::NotUpgrade(req)) = parse(&old) else {
        panic!()
    };
    assert_eq!(req.minor_version(), 0);
    // A POST with a body on the same port: the body stays in the caller's buffer, and the
    // parser continues with the next request on the connection.
    let mut data = b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    let (status, rest) = whole(&data);
    assert!(matches!(status, Ok(ServerStatus::NotUpgrade(ref r)) if r.method() == "POST"));
    assert_eq!(&rest[..], b"abc");
    data.extend_from_slice(&raw("GET /chat HTTP/1.1", &BASE));
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(&data[..]);
    assert!(matches!(
        parser.feed(&mut buf),
        Ok(ServerStatus::NotUpgrade(_))
    ));
    let _ = buf.split_to(3);
    assert!(matches!(
        parser.feed(&mut buf),
        Ok(ServerStatus::Upgrade(_))
    ));
    // Answering the page on the same port.
    let page =
        rfc6455::handshake::reject_response(200, &[("Content-Type", "text/html")], b"<p>hi</p>");
    assert!(page.unwrap().starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn parser_refuses_input_after_an_error() {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost h\r\n\r\n"[..]);
    assert!(parser.feed(&mut buf).is_err());
    assert_eq!(parser.feed(&mut buf), Err(HandshakeError::Finished));
}

#[test]
fn browser_fixtures_are_accepted() {
    let chromium = upgrade(CHROMIUM);
    assert_eq!(chromium.origin(), Some("http://localhost:8080"));
    assert_eq!(chromium.extensions()[0].name(), "permessage-deflate");
    assert!(
        accept_default(&chromium)
            .contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")
    );
    let firefox = upgrade(FIREFOX);
    assert_eq!(firefox.resource(), "/chat?room=lobby");
    assert_eq!(firefox.subprotocols(), ["chat", "superchat"]);
    assert!(
        accept_default(&firefox).contains("Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n")
    );
    let curl = upgrade(CURL);
    assert_eq!(curl.origin(), None);
    assert_eq!(curl.headers().get_str("User-Agent"), Some("curl/8.11.0"));
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..40, 1..12)
}

proptest! {
    // Every fixture, valid or not, gives the same result and leftover bytes in any split.
    #[test]
    fn random_splits_give_identical_results(chunks in chunk_sizes(), which in 0usize..6) {
        let mut flood_tail = raw("GET / HTTP/1.1", &BASE);
        flood_tail.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        let inputs: [Vec<u8>; 6] = [
            CHROMIUM.to_vec(),
            FIREFOX.to_vec(),
            CURL.to_vec(),
            PAGE.to_vec(),
            base_without("Connection", &["Connection: keep-alive"]),
            flood_tail,
        ];
        let data = &inputs[which];
        prop_assert_eq!(feed_chunks(ServerConfig::default(), data, &chunks), whole(data));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), chunks in chunk_sizes()) {
        let _ = feed_chunks(ServerConfig::default(), &data, &chunks);
        let mut with_head = raw("GET / HTTP/1.1", &["Host: h"]);
        with_head.splice(16..16, data.iter().copied());
        let _ = feed_chunks(ServerConfig::default(), &with_head, &chunks);
    }
}

#[cfg(feature = "http")]
mod http_feature {
    use super::*;
    use rfc6455::handshake::Request;

    #[test]
    fn from_http_request_to_http_response() {
        let req = http::Request::builder()
            .uri("/chat")
            .header("Host", "h")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", "chat")
            .body(())
            .unwrap();
        let parsed = Request::from_http(&req).unwrap();
        assert!(parsed.is_websocket_upgrade());
        let upgrade = parsed.into_upgrade(&OriginPolicy::Any).unwrap();
        let (resp, negotiated) = upgrade
            .accept_http(&AcceptOptions::new().with_subprotocol(Some("chat")))
            .unwrap();
        assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            resp.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(negotiated.subprotocol.as_deref(), Some("chat"));

        let mut v8 = req.clone();
        v8.headers_mut()
            .insert("Sec-WebSocket-Version", http::HeaderValue::from_static("8"));
        let e = Request::from_http(&v8)
            .unwrap()
            .into_upgrade(&OriginPolicy::Any)
            .unwrap_err();
        assert_eq!(e.status(), Some(426));
        // HS-S-02: an HTTP/1.0 request is a request (a plain one is served as usual); as an
        // upgrade it fails with 400, as it does from bytes. HTTP/2 is refused outright.
        let mut old = req.clone();
        *old.version_mut() = http::Version::HTTP_10;
        let parsed = Request::from_http(&old).unwrap();
        assert_eq!(parsed.minor_version(), 0);
        let e = parsed.into_upgrade(&OriginPolicy::Any).unwrap_err();
        assert_eq!(e, HandshakeError::HttpVersion { minor: 0 });
        assert_status(&e, 400);
        let mut h2 = req;
        *h2.version_mut() = http::Version::HTTP_2;
        assert!(matches!(
            Request::from_http(&h2),
            Err(HandshakeError::MalformedHttp { .. })
        ));
    }
}

// HS-S-11: the parsed header fields as the application sees them: every field in the order
// received with its name's case kept, the count, equality (same fields in the same order),
// and a Debug listing of the fields.
#[test]
fn hs_s_11_headers_in_order_count_equality_debug() {
    let r = upgrade(&raw(
        "GET / HTTP/1.1",
        &[&BASE[..], &["X-Custom:  a b ", "x-custom: c"]].concat(),
    ));
    let headers = r.headers();
    let fields: Vec<(&str, &[u8])> = headers.iter().collect();
    assert_eq!(fields.len(), 7);
    assert_eq!(headers.len(), 7);
    assert!(!headers.is_empty());
    assert_eq!(fields[0], ("Host", &b"h"[..]));
    assert_eq!(fields[5], ("X-Custom", &b"a b"[..]));
    assert_eq!(fields[6], ("x-custom", &b"c"[..]));

    let mut built = Headers::new();
    assert!(built.is_empty());
    assert_eq!((built.len(), built.iter().count()), (0, 0));
    for (name, value) in &fields {
        built.push(*name, value);
    }
    assert_eq!(&built, headers);
    let mut longer = built.clone();
    longer.push("X-More", "1");
    assert_ne!(&longer, headers, "a field more");
    assert_ne!(headers, &longer, "a field fewer");
    let mut other_value = Headers::new();
    let mut other_order = Headers::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        other_value.push(*name, if i == 6 { &b"d"[..] } else { value });
        let (name, value) = fields[(i + 1) % fields.len()];
        other_order.push(name, value);
    }
    assert_ne!(&other_value, headers, "another value");
    assert_ne!(&other_order, headers, "another order");

    let mut two = Headers::new();
    two.push("Host", "h");
    two.push("X-Bytes", [b'a', 0xff]);
    assert_eq!(
        format!("{two:?}"),
        "[(\"Host\", \"h\"), (\"X-Bytes\", \"a\u{fffd}\")]"
    );
}

// HS-S-11: two upgrade requests are equal exactly when their heads are, and Debug shows what
// the application decides on (resource, host, key, origin, offers).
#[test]
fn upgrade_request_equality_and_debug() {
    let a = upgrade(&raw("GET /a HTTP/1.1", &BASE));
    let same = upgrade(&raw("GET /a HTTP/1.1", &BASE));
    let other_path = upgrade(&raw("GET /b HTTP/1.1", &BASE));
    let other_host = upgrade(&base_without("Host", &["Host: g"]));
    assert_eq!(a, same);
    assert_ne!(a, other_path);
    assert_ne!(upgrade(&raw("GET /chat HTTP/1.1", &BASE)), other_host);
    let r = upgrade(&base_without(
        "Origin",
        &[
            "Origin: https://o",
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Extensions: x-ext; p=1",
        ],
    ));
    let debug = format!("{r:?}");
    for part in [
        "UpgradeRequest { request: Request { method: \"GET\", target: \"/chat\"",
        "resource: \"/chat\", host: \"h\", key: \"dGhlIHNhbXBsZSBub25jZQ==\"",
        "origin: Some(\"https://o\"), subprotocols: [\"chat\"], extensions: [",
        "x-ext",
    ] {
        assert!(debug.contains(part), "{part} not in {debug}");
    }
}
