//! The opening handshake (RFC 6455 section 4), sans-IO.
//!
//! - Server: feed received bytes to a [`RequestParser`]; it returns
//!   [`ServerStatus::Partial`] until the request head is complete, then either an
//!   [`UpgradeRequest`] (a valid WebSocket upgrade: [`accept`](UpgradeRequest::accept) it or
//!   [`reject`](UpgradeRequest::reject) it) or a plain HTTP [`Request`] (not an upgrade at
//!   all, so one port can serve a page and a WebSocket). A broken upgrade is a
//!   [`HandshakeError`] that carries the HTTP status and a ready-to-write
//!   [`response`](HandshakeError::response).
//! - Client: build a [`ClientHandshake`] from a `ws://` or `wss://` target, write its
//!   [`request`](ClientHandshake::request), then feed the response bytes until it returns
//!   [`ClientStatus::Accepted`] or [`ClientStatus::Rejected`].
//!
//! In both directions the parser consumes exactly the HTTP head from the caller's buffer:
//! bytes after it are WebSocket frames (after a 101) or an HTTP body (otherwise) and stay
//! with the caller.
//!
//! ```
//! use bytes::BytesMut;
//! use rfc6455::handshake::{AcceptOptions, ClientConfig, ClientHandshake, ClientStatus,
//!     RequestParser, ServerStatus};
//!
//! let mut client = ClientHandshake::new("ws://example.com/chat", ClientConfig::default())?;
//! let mut server = RequestParser::default();
//! let mut to_server = BytesMut::from(&client.request()[..]);
//! let ServerStatus::Upgrade(request) = server.feed(&mut to_server)? else { unreachable!() };
//! let (response, server_side) = request.accept(&AcceptOptions::default())?;
//! let mut to_client = BytesMut::from(&response[..]);
//! let ClientStatus::Accepted(client_side) = client.feed(&mut to_client)? else { unreachable!() };
//! assert_eq!(server_side, client_side);
//! # Ok::<(), rfc6455::handshake::HandshakeError>(())
//! ```

mod client;
mod extensions;
#[cfg(feature = "http")]
mod http;
mod origin;
mod server;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest as _, Sha1};

pub use client::{ClientConfig, ClientHandshake, ClientStatus, Response, Target};
pub use extensions::{Extension, ExtensionParam, parse_extensions, serialize_extensions};
pub use origin::{OriginHook, OriginPolicy};
pub use server::{
    AcceptOptions, Request, RequestParser, ServerConfig, ServerStatus, UpgradeRequest,
    reject_response,
};

/// The GUID appended to the key before hashing (RFC 6455 section 1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 section 4.1 item 9).
pub const WEBSOCKET_VERSION: &str = "13";

/// Default cap on the size of an HTTP head, in bytes: 16 KiB. Browsers send well under
/// 2 KiB; cookies can push a request to a few KiB.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 * 1024;

/// Default cap on the number of header fields in an HTTP head: 64.
pub const DEFAULT_MAX_HEADERS: usize = 64;

/// The base64 engine for `Sec-WebSocket-Key`: the standard alphabet with canonical padding,
/// accepting non-zero padding bits. The RFC's own example key `AQIDBAUGBwgJCgsMDQ4PEC==`
/// has non-zero padding bits (HS-S-06a); it decodes to the same 16 bytes as
/// `AQIDBAUGBwgJCgsMDQ4PEA==`. Keys are only ever encoded with zero padding bits.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value: base64(SHA-1(key +
/// GUID)). The key is used exactly as received (surrounding whitespace trimmed), never
/// decoded (RFC 6455 section 4.2.2 step 5.4).
///
/// ```
/// assert_eq!(
///     rfc6455::handshake::derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
/// );
/// ```
pub fn derive_accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(trim_ows(key));
    sha1.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 decoding to exactly 16 bytes.
pub(crate) fn key_is_valid(key: &[u8]) -> bool {
    let mut out = [0u8; 18];
    matches!(KEY_ENGINE.decode_slice(key, &mut out), Ok(16))
}

/// Encodes a 16-byte nonce as a `Sec-WebSocket-Key`.
pub(crate) fn encode_key(nonce: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// Why an opening handshake failed: which header or value was wrong, and (for a server)
/// which HTTP status to answer with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head is larger than the configured cap (431).
    #[error("HTTP head exceeds {limit} bytes")]
    HeadTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The HTTP head has more header fields than the configured cap (431).
    #[error("HTTP head has more than {limit} header fields")]
    TooManyHeaders {
        /// The cap on header fields.
        limit: usize,
    },
    /// The bytes are not a well-formed HTTP/1.x head (400).
    #[error("malformed HTTP head: {reason}")]
    MalformedHttp {
        /// What was wrong.
        reason: &'static str,
    },
    /// The upgrade request's method is not GET (405, with `Allow: GET`).
    #[error("method {method} is not allowed for a WebSocket upgrade, only GET")]
    MethodNotAllowed {
        /// The method received.
        method: String,
    },
    /// The HTTP version is older than 1.1 (400).
    #[error("HTTP/1.{minor} is not allowed, HTTP/1.1 or later is required")]
    HttpVersion {
        /// The minor version received (0 for HTTP/1.0).
        minor: u8,
    },
    /// The request target is neither origin-form nor an absolute `http(s)` or `ws(s)` URI
    /// (400).
    #[error("invalid request target {target:?}")]
    InvalidTarget {
        /// The target received.
        target: String,
    },
    /// A required header is missing (400; 426 for `Sec-WebSocket-Version`).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that must appear once appears more than once (400).
    #[error("{0} header appears more than once")]
    DuplicateHeader(&'static str),
    /// A header has a value that breaks its rule (400).
    #[error("invalid {name} header: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What was wrong with its value.
        reason: &'static str,
    },
    /// The client asked for a WebSocket version other than 13 (426, with
    /// `Sec-WebSocket-Version: 13`).
    #[error("unsupported WebSocket version {version:?}, only 13 is supported")]
    UnsupportedVersion {
        /// The version received.
        version: String,
    },
    /// The upgrade request announces a body (`Content-Length` above 0 or
    /// `Transfer-Encoding`), which could be confused with frame bytes (400, HS-X-03).
    #[error("an upgrade request must not have a body ({0} header)")]
    UnexpectedBody(&'static str),
    /// The [`OriginPolicy`] refused the request's `Origin` (403).
    #[error("origin {origin:?} is not allowed")]
    OriginForbidden {
        /// The `Origin` received, if any.
        origin: Option<String>,
    },
    /// The client target is not a valid `ws://` or `wss://` URI (client side; nothing was
    /// produced).
    #[error("invalid WebSocket URI: {reason}")]
    InvalidUri {
        /// What was wrong.
        reason: &'static str,
    },
    /// The local configuration is invalid: a subprotocol, extension or extra header that
    /// cannot be sent (nothing was produced).
    #[error("invalid handshake configuration: {reason}")]
    InvalidConfig {
        /// What was wrong.
        reason: String,
    },
    /// The peer or the application named a subprotocol or extension that was not offered
    /// (client: the server's response; server: the application's accept options).
    #[error("{name} value {value:?} was not offered")]
    NotOffered {
        /// The header concerned.
        name: &'static str,
        /// The value that was not offered.
        value: String,
    },
    /// The server's `Sec-WebSocket-Accept` does not match the key the client sent.
    #[error("Sec-WebSocket-Accept {received:?} does not match the expected {expected:?}")]
    AcceptMismatch {
        /// The value derived from the client's key.
        expected: String,
        /// The value received.
        received: String,
    },
    /// The handshake already completed or failed; it accepts no more input.
    #[error("the handshake is already finished")]
    Finished,
}

impl HandshakeError {
    /// The HTTP status a server answers with: 400, 403, 405, 426 or 431. `None` for errors
    /// that only arise on the client or from local misuse, which are never sent to a peer.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => 431,
            Self::MethodNotAllowed { .. } => 405,
            Self::UnsupportedVersion { .. } => 426,
            Self::MissingHeader(name) if *name == SEC_WEBSOCKET_VERSION => 426,
            Self::OriginForbidden { .. } => 403,
            Self::MalformedHttp { .. }
            | Self::HttpVersion { .. }
            | Self::InvalidTarget { .. }
            | Self::MissingHeader(_)
            | Self::DuplicateHeader(_)
            | Self::InvalidHeader { .. }
            | Self::UnexpectedBody(_) => 400,
            Self::InvalidUri { .. }
            | Self::InvalidConfig { .. }
            | Self::NotOffered { .. }
            | Self::AcceptMismatch { .. }
            | Self::Finished => return None,
        })
    }

    /// The header at fault, when one is.
    pub fn header(&self) -> Option<&'static str> {
        match self {
            Self::MissingHeader(name)
            | Self::DuplicateHeader(name)
            | Self::InvalidHeader { name, .. }
            | Self::UnexpectedBody(name)
            | Self::NotOffered { name, .. } => Some(name),
            Self::UnsupportedVersion { .. } => Some(SEC_WEBSOCKET_VERSION),
            Self::OriginForbidden { .. } => Some(ORIGIN),
            Self::AcceptMismatch { .. } => Some(SEC_WEBSOCKET_ACCEPT),
            _ => None,
        }
    }

    /// A complete HTTP/1.1 error response for a server to write before closing the
    /// transport: the [`status`](Self::status), `Connection: close`, a plain-text body
    /// with this error's message, plus `Sec-WebSocket-Version: 13` and `Upgrade: websocket`
    /// on a 426 and `Allow: GET` on a 405. `None` when [`status`](Self::status) is `None`.
    pub fn response(&self) -> Option<Vec<u8>> {
        let status = self.status()?;
        let mut headers: Vec<(&str, &str)> = vec![("Connection", "close")];
        match status {
            426 => {
                headers.push((SEC_WEBSOCKET_VERSION, WEBSOCKET_VERSION));
                headers.push(("Upgrade", "websocket"));
            }
            405 => headers.push(("Allow", "GET")),
            _ => {}
        }
        headers.push(("Content-Type", "text/plain; charset=utf-8"));
        let mut out = Vec::with_capacity(256);
        write_head(&mut out, status, &headers);
        let body = self.to_string();
        let _ = write!(
            ByteWriter(&mut out),
            "Content-Length: {}\r\n\r\n",
            body.len()
        );
        out.extend_from_slice(body.as_bytes());
        Some(out)
    }
}

/// What a completed opening handshake agreed on; a
/// connection (see [`crate::connection`]) is built from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The subprotocol both sides agreed on, if any.
    pub subprotocol: Option<String>,
    /// The extensions in force, in the order the server listed them (applied in that order).
    pub extensions: Vec<Extension>,
}

/// The header fields of an HTTP head, in the order received. Names keep their original
/// case and are compared ASCII case-insensitively; values are raw bytes with surrounding
/// whitespace trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field (the value's surrounding spaces and tabs are trimmed).
    pub fn push(&mut self, name: impl Into<String>, value: impl AsRef<[u8]>) {
        self.fields
            .push((name.into(), trim_ows(value.as_ref()).to_vec()));
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of the first field called `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether the comma-separated token lists of every field called `name`, merged,
    /// contain `token` (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(split_list)
            .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub(crate) fn from_httparse(headers: &[httparse::Header<'_>]) -> Self {
        let mut out = Self {
            fields: Vec::with_capacity(headers.len()),
        };
        for h in headers {
            out.push(h.name, h.value);
        }
        out
    }

    /// The single value of `name`: `Ok(None)` when absent, an error when repeated.
    pub(crate) fn unique(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        if self.count(name) > 1 {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(self.get(name))
    }
}

pub(crate) const HOST: &str = "Host";
pub(crate) const UPGRADE: &str = "Upgrade";
pub(crate) const CONNECTION: &str = "Connection";
pub(crate) const ORIGIN: &str = "Origin";
pub(crate) const SEC_WEBSOCKET_KEY: &str = "Sec-WebSocket-Key";
pub(crate) const SEC_WEBSOCKET_ACCEPT: &str = "Sec-WebSocket-Accept";
pub(crate) const SEC_WEBSOCKET_VERSION: &str = "Sec-WebSocket-Version";
pub(crate) const SEC_WEBSOCKET_PROTOCOL: &str = "Sec-WebSocket-Protocol";
pub(crate) const SEC_WEBSOCKET_EXTENSIONS: &str = "Sec-WebSocket-Extensions";

/// Header names the handshake writes itself; extra headers from the application may not
/// repeat them.
pub(crate) const RESERVED_HEADERS: [&str; 9] = [
    HOST,
    UPGRADE,
    CONNECTION,
    ORIGIN,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
];

/// Whether `b` is an RFC 9110 `tchar`.
pub(crate) const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*')
        || matches!(b, b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Whether `s` is a non-empty RFC 9110 `token`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Trims optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The elements of a comma-separated list, trimmed, empty elements skipped
/// (RFC 9110 section 5.6.1).
pub(crate) fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// Whether `b` may appear in a header value this crate writes: visible ASCII, SP or HTAB.
pub(crate) const fn is_field_byte(b: u8) -> bool {
    matches!(b, b' '..=b'~' | b'\t')
}

/// Checks an extra header from the application: a token name, a value of visible ASCII,
/// spaces and tabs, and not one of the headers the handshake writes itself.
pub(crate) fn check_extra_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    let reason = if !is_token(name.as_bytes()) {
        "header name is not a token"
    } else if !value.bytes().all(is_field_byte) {
        "header value has a byte other than visible ASCII, space or tab"
    } else if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        "header is written by the handshake itself"
    } else {
        return Ok(());
    };
    Err(HandshakeError::InvalidConfig {
        reason: format!("extra header {name:?}: {reason}"),
    })
}

/// The reason phrase for common statuses ("" for others; the phrase is optional).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes a status line and header fields, without the blank line that ends the head.
/// Values must already be checked.
pub(crate) fn write_head(out: &mut Vec<u8>, status: u16, headers: &[(&str, &str)]) {
    let _ = write!(
        ByteWriter(out),
        "HTTP/1.1 {status} {}\r\n",
        reason_phrase(status)
    );
    for (name, value) in headers {
        write_field(out, name, value);
    }
}

/// Writes one `name: value\r\n` line.
pub(crate) fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `fmt::Write` into a byte vector.
pub(crate) struct ByteWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Maps an httparse error to a handshake error (431 for too many headers, else 400).
pub(crate) fn httparse_error(e: httparse::Error, max_headers: usize) -> HandshakeError {
    let reason = match e {
        httparse::Error::TooManyHeaders => {
            return HandshakeError::TooManyHeaders { limit: max_headers };
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::Version => "invalid HTTP version",
    };
    HandshakeError::MalformedHttp { reason }
}

/// Finds the end of an HTTP head (the byte after its blank line) in `buf`, scanning from
/// `*scanned` and advancing it so that no byte is looked at twice across calls (apart from
/// the two bytes of look-behind). Accepts CRLF and bare LF line endings, as httparse does.
pub(crate) fn find_head_end(buf: &[u8], scanned: &mut usize, counter: &mut u64) -> Option<usize> {
    let start = (*scanned).min(buf.len());
    // A terminator is "\n\n" or "\n\r\n"; resume two bytes back so one split across calls
    // is still found.
    let from = start.saturating_sub(2);
    let hay = &buf[from..];
    let mut found = None;
    let mut i = 0;
    while let Some(pos) = hay[i..].iter().position(|&b| b == b'\n') {
        let nl = i + pos;
        match hay.get(nl + 1) {
            Some(b'\n') => {
                found = Some(from + nl + 2);
                break;
            }
            Some(b'\r') if hay.get(nl + 2) == Some(&b'\n') => {
                found = Some(from + nl + 3);
                break;
            }
            _ => i = nl + 1,
        }
    }
    let end = found.unwrap_or(buf.len());
    *counter += (end - from) as u64;
    *scanned = end;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // HS-R-03
    #[test]
    fn hs_r_03_accept_key_rfc_example() {
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // Used as received: surrounding whitespace is not part of the key.
        assert_eq!(
            derive_accept_key(b" dGhlIHNhbXBsZSBub25jZQ==\t"),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    // HS-S-06, HS-S-06a
    #[test]
    fn hs_s_06_key_validity() {
        assert!(key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(key_is_valid(b"AQIDBAUGBwgJCgsMDQ4PEC=="), "HS-S-06a");
        assert!(key_is_valid(b"AQIDBAUGBwgJCgsMDQ4PEA=="));
        assert!(!key_is_valid(b"AQIDBAUGBwgJCgsMDQ4PEBE="), "17 bytes");
        assert!(!key_is_valid(b"AQIDBAUGBwgJCgsMDQ4P"), "15 bytes");
        assert!(!key_is_valid(b"@@@"));
        assert!(!key_is_valid(b"AQIDBAUGBwgJCgsMDQ4PEA"), "missing padding");
        assert!(!key_is_valid(b""));
    }

    // HS-C-06
    #[test]
    fn hs_c_06_key_encoding_of_01_to_10() {
        let nonce: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
        assert_eq!(encode_key(&nonce), "AQIDBAUGBwgJCgsMDQ4PEA==");
    }

    // HS-S-05
    #[test]
    fn hs_s_05_token_lists_merge_across_lines() {
        let mut h = Headers::new();
        h.push("connection", "keep-alive");
        h.push("CONNECTION", " , Upgrade ");
        assert!(h.contains_token("Connection", "upgrade"));
        let mut h = Headers::new();
        h.push("Connection", "upgradex, keep-alive");
        assert!(!h.contains_token("Connection", "upgrade"));
    }

    #[test]
    fn head_end_is_found_across_splits_linearly() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        for split in 0..head.len() {
            let mut scanned = 0;
            let mut counter = 0;
            let first = find_head_end(&head[..split], &mut scanned, &mut counter);
            let end = first.or_else(|| find_head_end(head, &mut scanned, &mut counter));
            assert_eq!(end, Some(head.len() - 4), "split {split}");
            assert!(counter <= head.len() as u64 + 2);
        }
        let mut scanned = 0;
        assert_eq!(find_head_end(b"a\n\nb", &mut scanned, &mut 0), Some(3));
    }

    #[test]
    fn error_response_426_carries_version() {
        let err = HandshakeError::UnsupportedVersion {
            version: "8".into(),
        };
        let resp = String::from_utf8(err.response().unwrap()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(HandshakeError::Finished.response(), None);
    }
}
