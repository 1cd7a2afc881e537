//! The opening handshake (RFC 6455 section 4), sans-IO.
//!
//! - Server: feed received bytes to a [`RequestParser`]; it returns
//!   [`ServerStatus::Partial`] until the request head is complete, then either an
//!   [`UpgradeRequest`] (a valid WebSocket upgrade: [`accept`](UpgradeRequest::accept) it or
//!   [`reject`](UpgradeRequest::reject) it) or a plain HTTP [`Request`] (not an upgrade at
//!   all, so one port can serve a page and a WebSocket). A broken upgrade is a
//!   [`HandshakeError`] that carries the HTTP status and a ready-to-write
//!   [`response`](HandshakeError::response). A rejected or broken upgrade ends the
//!   connection: both responses say `Connection: close`; write one, then close the
//!   transport. The parser reads no further request after an upgrade request, only after
//!   a plain one.
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
pub(crate) use extensions::check_extensions;
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

/// Default cap on the size of an HTTP head, in bytes: 32 KiB. Browsers send well under
/// 2 KiB, but single-sign-on cookies can take a request past 16 KiB, and a reverse proxy
/// in front passes such heads on: nginx by default up to four 8 KiB lines.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 32 * 1024;

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
    String::from_utf8_lossy(&accept_key(key)).into_owned()
}

/// [`derive_accept_key`] without an allocation: the 28 base64 characters.
pub(crate) fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha1 = Sha1::new();
    sha1.update(trim_ows(key));
    sha1.update(WEBSOCKET_GUID.as_bytes());
    let mut out = [0; 28];
    // 20 bytes always encode to 28 characters, so this cannot fail.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(sha1.finalize(), &mut out);
    out
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
    /// on a 426 (whose `Connection` then also lists `Upgrade`) and `Allow: GET` on a 405.
    /// `None` when [`status`](Self::status) is `None`.
    pub fn response(&self) -> Option<Vec<u8>> {
        let status = self.status()?;
        // A sender of `Upgrade` also lists `upgrade` in `Connection` (RFC 9110 section 7.8),
        // so that intermediaries do not forward it.
        let connection = if status == 426 {
            "Upgrade, close"
        } else {
            "close"
        };
        let mut headers: Vec<(&str, &str)> = vec![("Connection", connection)];
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
///
/// All names and values share one buffer (for a parsed head, a copy of its header lines),
/// so a head costs two allocations, not two per field.
#[derive(Clone, Default)]
pub struct Headers {
    /// The bytes the names and values are in. Names come from `&str`, so each name's span
    /// is UTF-8.
    bytes: Vec<u8>,
    /// Each field's name and value as spans of `bytes`, in order.
    fields: Vec<Field>,
}

/// Where one field's name and value are in [`Headers::bytes`]: `(start, end)` each.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

impl PartialEq for Headers {
    /// The same fields in the same order (names compared byte for byte).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.raw().eq(other.raw())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))))
            .finish()
    }
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field (the value's surrounding spaces and tabs are trimmed).
    pub fn push(&mut self, name: impl Into<String>, value: impl AsRef<[u8]>) {
        self.push_str(&name.into(), value.as_ref());
    }

    fn push_str(&mut self, name: &str, value: &[u8]) {
        let name_start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_bytes());
        let value_start = self.bytes.len();
        self.bytes.extend_from_slice(trim_ows(value));
        self.fields.push(Field {
            name: (name_start, value_start),
            value: (value_start, self.bytes.len()),
        });
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The value of the first field called `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// [`get_all`](Self::get_all) from the field at index `first` on.
    pub(crate) fn get_all_from<'a>(
        &'a self,
        first: usize,
        name: &'a str,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let fields = self.fields.get(first..).unwrap_or_default().iter();
        fields
            .filter(move |f| self.span(f.name).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| self.span(f.value))
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }

    /// Whether the comma-separated token lists of every field called `name`, merged,
    /// contain `token` (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| list_contains(v, token))
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        // A name's span holds exactly the bytes of a `&str`, so the check cannot fail.
        self.raw()
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// Every field with its name as bytes: the lookups compare bytes.
    pub(crate) fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|field| (self.span(field.name), self.span(field.value)))
    }

    fn span(&self, (start, end): (usize, usize)) -> &[u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// The value of the field at `index` (in the order received); empty when out of range.
    pub(crate) fn value_at(&self, index: usize) -> &[u8] {
        self.fields
            .get(index)
            .map_or(&[], |field| self.span(field.value))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields httparse found, each copied.
    pub(crate) fn from_httparse(headers: &[httparse::Header<'_>]) -> Self {
        let size = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut out = Self {
            bytes: Vec::with_capacity(size),
            fields: Vec::with_capacity(headers.len()),
        };
        for h in headers {
            if h.value.iter().any(|&b| b == b'\r' || b == b'\n') {
                // A folded line (obs-fold, which the client accepts in responses): each
                // line break becomes a space before the value is read (RFC 9112 section 5.2).
                let unfolded: Vec<u8> = h
                    .value
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect();
                out.push_str(h.name, &unfolded);
            } else {
                out.push_str(h.name, h.value);
            }
        }
        out
    }

    /// The fields httparse found in `head`, with one copy of the lines that hold them
    /// instead of one per name and value (httparse has already trimmed the values).
    pub(crate) fn from_httparse_head(head: &[u8], headers: &[httparse::Header<'_>]) -> Self {
        // httparse's names and values are slices of `head`: this is where.
        let base = head.as_ptr() as usize;
        let span = |s: &[u8]| {
            let start = (s.as_ptr() as usize).wrapping_sub(base);
            (start, start.wrapping_add(s.len()))
        };
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Self::new();
        };
        let start = span(first.name.as_bytes()).0;
        let Some(bytes) = head.get(start..span(last.value).1) else {
            return Self::from_httparse(headers);
        };
        let rebase = |(s, e): (usize, usize)| (s.wrapping_sub(start), e.wrapping_sub(start));
        let fields = headers.iter().map(|h| Field {
            name: rebase(span(h.name.as_bytes())),
            value: rebase(span(h.value)),
        });
        Self {
            bytes: bytes.to_vec(),
            fields: fields.collect(),
        }
    }

    /// The single value of `name`: `Ok(None)` when absent, an error when repeated.
    pub(crate) fn unique(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.get_all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first)
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
    TCHAR[b as usize]
}

/// [`is_tchar`] as a table: one load per byte in the token scans of header values.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*')
            || matches!(b, b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        i += 1;
    }
    table
};

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

/// Whether the comma-separated list `value` contains `token` (ASCII case-insensitive).
pub(crate) fn list_contains(value: &[u8], token: &str) -> bool {
    // Mostly the list is just the token.
    value.eq_ignore_ascii_case(token.as_bytes())
        || split_list(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
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
pub(crate) fn write_field(out: &mut Vec<u8>, name: &str, value: impl AsRef<[u8]>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_ref());
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
    let found = find_blank_line(&buf[from..]).map(|end| from + end);
    let end = found.unwrap_or(buf.len());
    *counter += (end - from) as u64;
    *scanned = end;
    found
}

/// The index just after the first blank line (`\n\n` or `\n\r\n`) in `hay`. Whole 16-byte
/// groups are tested at once and only the newlines found are looked at, since header lines
/// are tens of bytes long.
fn find_blank_line(hay: &[u8]) -> Option<usize> {
    let blank_line_end = |nl: usize| match hay.get(nl + 1) {
        Some(b'\n') => Some(nl + 2),
        Some(b'\r') if hay.get(nl + 2) == Some(&b'\n') => Some(nl + 3),
        _ => None,
    };
    let mut groups = hay.chunks_exact(16);
    let mut base = 0;
    for group in &mut groups {
        let mut newlines = newline_flags(group.try_into().unwrap_or_default());
        while newlines != 0 {
            let nl = base + newlines.trailing_zeros() as usize / 8;
            if let Some(end) = blank_line_end(nl) {
                return Some(end);
            }
            newlines &= newlines - 1;
        }
        base += 16;
    }
    let rest = groups.remainder().iter().enumerate();
    rest.filter(|&(_, &b)| b == b'\n')
        .find_map(|(i, _)| blank_line_end(base + i))
}

/// The top bit of byte `i` set where `group[i]` is `\n`, every other bit clear: a zero-byte
/// test on `group` XOR newlines, in two 64-bit words, exact (no carry crosses a byte).
fn newline_flags(group: [u8; 16]) -> u128 {
    const LOW7: u128 = u128::MAX / 255 * 0x7f;
    let x = u128::from_le_bytes(group) ^ (u128::MAX / 255 * u128::from(b'\n'));
    // A byte of `x` is zero iff adding 0x7f to its low 7 bits, OR-ed with it, leaves the top
    // bit clear.
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_search_matches_a_naive_one() {
        let naive = |hay: &[u8]| {
            (0..hay.len()).find_map(|i| {
                if hay[i..].starts_with(b"\n\n") {
                    Some(i + 2)
                } else if hay[i..].starts_with(b"\n\r\n") {
                    Some(i + 3)
                } else {
                    None
                }
            })
        };
        let head = b"GET / HTTP/1.1\r\nHost: example.com\nUpgrade: websocket\r\n\r\nX\n\n";
        for start in 0..head.len() {
            for end in start..=head.len() {
                let hay = &head[start..end];
                assert_eq!(find_blank_line(hay), naive(hay), "{start}..{end}");
            }
        }
        // Newlines at every position of a group, and lone CRs.
        for gap in 0..40 {
            let mut hay = vec![b'a'; gap];
            hay.extend_from_slice(b"\n\ra\r\n\n");
            assert_eq!(find_blank_line(&hay), naive(&hay), "gap {gap}");
        }
        // Every byte value, at every position of a group, against every neighbour.
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut group = [b'\n' ^ 1; 16];
                group[at] = b;
                let flags = newline_flags(group);
                let expected = if b == b'\n' { 0x80u128 << (8 * at) } else { 0 };
                assert_eq!(flags, expected, "byte {b} at {at}");
                group = [b; 16];
                group[at] = b'\n';
                let others = if b == b'\n' {
                    u128::MAX / 255 * 0x80
                } else {
                    0
                };
                assert_eq!(newline_flags(group), others | (0x80u128 << (8 * at)));
            }
        }
    }

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
        // Upgrade is sent, so Connection lists it (RFC 9110 section 7.8); other statuses
        // only close.
        assert!(
            resp.contains("\r\nConnection: Upgrade, close\r\n"),
            "{resp}"
        );
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"));
        let other = HandshakeError::MissingHeader("Host").response().unwrap();
        let other = String::from_utf8(other).unwrap();
        assert!(other.contains("\r\nConnection: close\r\n"), "{other}");
        assert!(!other.contains("Upgrade"), "{other}");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(HandshakeError::Finished.response(), None);
    }
}
