//! The client side: write an upgrade request; validate the response.

use std::net::Ipv6Addr;

use bytes::{Buf as _, Bytes, BytesMut};
use rand::Rng as _;

use super::{
    CONNECTION, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS, Extension, HOST, HandshakeError,
    Headers, Negotiated, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE, WEBSOCKET_VERSION, check_extra_header,
    derive_accept_key, encode_key, find_head_end, httparse_error, is_token, parse_extensions,
    serialize_extensions, write_field,
};

/// A parsed `ws://` or `wss://` URI (RFC 6455 section 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    secure: bool,
    host: String,
    ipv6: bool,
    port: u16,
    resource: String,
}

impl Target {
    /// Parses `ws://host[:port][/path][?query]` or `wss://...`. The scheme is
    /// case-insensitive; the default ports are 80 and 443; IPv6 literals are written in
    /// brackets. User information, fragments, whitespace, control and non-ASCII characters
    /// are refused (HS-C-01).
    pub fn parse(uri: &str) -> Result<Self, HandshakeError> {
        let err = |reason| HandshakeError::InvalidUri { reason };
        if !uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(err("whitespace, control or non-ASCII character"));
        }
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or(err("missing ws:// or wss://"))?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(err("scheme is not ws or wss"));
        };
        if rest.contains('#') {
            return Err(err("fragments are not allowed"));
        }
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(err("user information is not allowed"));
        }
        let (host, ipv6, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or(err("unterminated IPv6 literal"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(err("invalid IPv6 literal"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(err("junk after IPv6 literal"))?),
            };
            (host, true, port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b);
            if host.is_empty() {
                return Err(err("empty host"));
            }
            if !host.bytes().all(valid) {
                return Err(err("invalid character in host"));
            }
            (host, false, port)
        };
        let default_port = if secure { 443 } else { 80 };
        let port = match port {
            None | Some("") => default_port,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(err("port out of range")),
                Ok(n) => n,
            },
            Some(_) => return Err(err("invalid port")),
        };
        let resource = match tail {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Self {
            secure,
            host: host.to_owned(),
            ipv6,
            port,
            resource,
        })
    }

    /// Whether the scheme is `wss` (the caller's transport must use TLS).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host to connect to, without brackets for an IPv6 literal.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (80 or 443 when the URI names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The resource name sent in the request line: the path (`/` when empty) and the query.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value: the host (bracketed when IPv6), plus `:port` unless the port
    /// is the scheme's default (HS-C-04).
    pub fn host_header(&self) -> String {
        let mut out = if self.ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port != if self.secure { 443 } else { 80 } {
            out.push_str(&format!(":{}", self.port));
        }
        out
    }
}

/// Client-side handshake settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `Origin` header to send; `None` (the default) sends none, as a non-browser
    /// client may (HS-C-08).
    pub origin: Option<String>,
    /// Subprotocols to offer, most preferred first: unique tokens (HS-C-09).
    pub subprotocols: Vec<String>,
    /// Extensions to offer, in order of preference.
    pub extensions: Vec<Extension>,
    /// Extra header fields for the request (`Authorization`, `Cookie`, ...).
    pub headers: Vec<(String, String)>,
    /// The largest response head accepted, in bytes, blank line included. Default:
    /// [`DEFAULT_MAX_HEAD_SIZE`]. A larger head fails as soon as this many bytes have arrived
    /// without its end.
    pub max_head_size: usize,
    /// The most response header fields accepted. Default: [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            origin: None,
            subprotocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

impl ClientConfig {
    /// Sets the `Origin` header.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds a subprotocol to offer (after those already added).
    pub fn with_subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.subprotocols.push(subprotocol.into());
        self
    }

    /// Adds an extension to offer (after those already added).
    pub fn with_extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds an extra request header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`max_head_size`](Self::max_head_size).
    pub fn with_max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    fn validate(&self) -> Result<(), HandshakeError> {
        let config = |reason: String| HandshakeError::InvalidConfig { reason };
        for (i, p) in self.subprotocols.iter().enumerate() {
            if !is_token(p.as_bytes()) {
                return Err(config(format!("subprotocol {p:?} is not a token")));
            }
            if self.subprotocols[..i].contains(p) {
                return Err(config(format!("subprotocol {p:?} offered twice")));
            }
        }
        if let Some(o) = &self.origin
            && (o.is_empty() || !o.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        {
            return Err(config(format!("origin {o:?} is not visible ASCII")));
        }
        for (name, value) in &self.headers {
            check_extra_header(name, value)?;
        }
        Ok(())
    }
}

/// A response that is not `101 Switching Protocols` (HS-V-01, HS-X-04): the handshake did
/// not happen, and the bytes after the head are the start of an HTTP body, never frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub(crate) minor_version: u8,
    status: u16,
    reason: String,
    headers: Headers,
    body: Bytes,
}

impl Response {
    /// A response from its parts (used by the `http` conversions).
    pub fn new(status: u16, reason: impl Into<String>, headers: Headers, body: Bytes) -> Self {
        Self {
            minor_version: 1,
            status,
            reason: reason.into(),
            headers,
            body,
        }
    }

    /// The status code, e.g. 401. Redirects are never followed: a 3xx comes back here with
    /// its `Location` header.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as received.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The HTTP minor version: 1 for HTTP/1.1.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The bytes received after the head so far: the start (or all) of the body. The rest
    /// of a longer body, per `Content-Length`, is still on the transport.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What [`ClientHandshake::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientStatus {
    /// The response head is incomplete: read more bytes and call again. Not an error.
    Partial,
    /// A valid 101 response: the connection is open with what was agreed. Bytes after the
    /// head are frames and stay in the caller's buffer (HS-X-01).
    Accepted(Negotiated),
    /// Any other status: the connection is not upgraded. The bytes after the head were
    /// moved into [`Response::body`].
    Rejected(Response),
}

/// The client half of the handshake: the request to write, and the validation of the
/// server's response (RFC 6455 section 4.1).
///
/// Until [`feed`](Self::feed) returns [`ClientStatus::Accepted`] there is no connection and
/// nothing to send but [`request`](Self::request) (HS-C-11).
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    target: Target,
    config: ClientConfig,
    key: String,
    request: Vec<u8>,
    scanned: usize,
    bytes_scanned: u64,
    finished: bool,
}

impl ClientHandshake {
    /// A handshake for `target` with a fresh random key from [`rand::rng`] (a CSPRNG seeded
    /// by the OS). Fails, producing nothing, on an invalid URI or configuration.
    pub fn new(target: &str, config: ClientConfig) -> Result<Self, HandshakeError> {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        Self::with_nonce(target, config, nonce)
    }

    /// A handshake with a given 16-byte nonce instead of a random one: for deterministic
    /// tests, or a caller's own CSPRNG. A nonce must never be reused (HS-C-06).
    pub fn with_nonce(
        target: &str,
        config: ClientConfig,
        nonce: [u8; 16],
    ) -> Result<Self, HandshakeError> {
        let target = Target::parse(target)?;
        config.validate()?;
        let key = encode_key(&nonce);
        let request = write_request(&target, &config, &key);
        Ok(Self {
            target,
            config,
            key,
            request,
            scanned: 0,
            bytes_scanned: 0,
            finished: false,
        })
    }

    /// The request bytes to write to the transport.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The parsed target (host and port to connect to; whether to use TLS).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The configuration in force.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Parses the response from the front of `buf`; between calls the caller may only
    /// append to it. On a 101 the head is removed and the frames after it stay in `buf`
    /// (HS-X-01); on any other status the head is removed and the rest of `buf` moves into
    /// [`Response::body`] (HS-X-04). A 101 that breaks a rule of RFC 6455 section 4.1 is an
    /// error (HS-V-*). Interim responses before it (a 1xx other than 101, such as 103 Early
    /// Hints) are read and skipped, each under the head cap (RFC 9110 section 15.2). After
    /// a final result or an error, further calls return [`HandshakeError::Finished`].
    pub fn feed(&mut self, buf: &mut BytesMut) -> Result<ClientStatus, HandshakeError> {
        if self.finished {
            return Err(HandshakeError::Finished);
        }
        let result = self.feed_inner(buf);
        if !matches!(result, Ok(ClientStatus::Partial)) {
            self.finished = true;
        }
        result
    }

    fn feed_inner(&mut self, buf: &mut BytesMut) -> Result<ClientStatus, HandshakeError> {
        loop {
            let response = match self.read_head(buf)? {
                Some(response) => response,
                None => return Ok(ClientStatus::Partial),
            };
            // An interim response (100 Continue, 103 Early Hints) comes before the final
            // one, which a client must still read (RFC 9110 section 15.2): skip it.
            if (100..200).contains(&response.status) && response.status != 101 {
                continue;
            }
            return self.finish(response, buf);
        }
    }

    /// Reads one response head from the front of `buf` and removes it; `None` while it is
    /// incomplete.
    fn read_head(&mut self, buf: &mut BytesMut) -> Result<Option<Response>, HandshakeError> {
        let max = self.config.max_head_size;
        let window = &buf[..buf.len().min(max)];
        let Some(end) = find_head_end(window, &mut self.scanned, &mut self.bytes_scanned) else {
            // No end within the first `max` bytes: no head that fits can follow.
            if !buf.is_empty() && buf.len() >= max {
                return Err(HandshakeError::HeadTooLarge { limit: max });
            }
            return Ok(None);
        };
        let mut headers = vec![httparse::EMPTY_HEADER; self.config.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
        // A user agent unfolds obs-fold in responses rather than refusing them (RFC 9112
        // section 5.2); `Headers::from_httparse` turns the line breaks into spaces.
        let parsed = httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .parse_response(&mut resp, &buf[..end]);
        let head_len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(HandshakeError::MalformedHttp {
                    reason: "incomplete response head",
                });
            }
            Err(e) => return Err(httparse_error(e, self.config.max_headers)),
        };
        let response = Response {
            minor_version: resp.version.unwrap_or_default(),
            status: resp.code.unwrap_or_default(),
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: Headers::from_httparse(resp.headers),
            body: Bytes::new(),
        };
        buf.advance(head_len);
        self.scanned = 0;
        Ok(Some(response))
    }

    /// [`finish`](Self::finish), once: later calls return [`HandshakeError::Finished`].
    #[cfg(feature = "http")]
    pub(crate) fn finish_once(
        &mut self,
        response: Response,
        rest: &mut BytesMut,
    ) -> Result<ClientStatus, HandshakeError> {
        if std::mem::replace(&mut self.finished, true) {
            return Err(HandshakeError::Finished);
        }
        self.finish(response, rest)
    }

    /// Validates a complete response head; `rest` holds the bytes after it.
    fn finish(
        &self,
        mut response: Response,
        rest: &mut BytesMut,
    ) -> Result<ClientStatus, HandshakeError> {
        if response.status != 101 {
            response.body = rest.split().freeze();
            return Ok(ClientStatus::Rejected(response));
        }
        self.validate(&response).map(ClientStatus::Accepted)
    }

    /// HS-V-02 to HS-V-07 on a 101 response.
    fn validate(&self, response: &Response) -> Result<Negotiated, HandshakeError> {
        let h = &response.headers;
        if response.minor_version < 1 {
            return Err(HandshakeError::HttpVersion {
                minor: response.minor_version,
            });
        }
        let upgrade = h
            .unique(UPGRADE)?
            .ok_or(HandshakeError::MissingHeader(UPGRADE))?;
        if !upgrade.eq_ignore_ascii_case(b"websocket") {
            return Err(invalid(UPGRADE, "is not websocket"));
        }
        if h.count(CONNECTION) == 0 {
            return Err(HandshakeError::MissingHeader(CONNECTION));
        }
        if !h.contains_token(CONNECTION, "upgrade") {
            return Err(invalid(CONNECTION, "does not list upgrade"));
        }
        let accept = h
            .unique(SEC_WEBSOCKET_ACCEPT)?
            .ok_or(HandshakeError::MissingHeader(SEC_WEBSOCKET_ACCEPT))?;
        let expected = derive_accept_key(self.key.as_bytes());
        if accept != expected.as_bytes() {
            return Err(HandshakeError::AcceptMismatch {
                expected,
                received: String::from_utf8_lossy(accept).into_owned(),
            });
        }
        let subprotocol = match h.unique(SEC_WEBSOCKET_PROTOCOL)? {
            None => None,
            Some(p) if !is_token(p) => {
                return Err(invalid(SEC_WEBSOCKET_PROTOCOL, "is not a single token"));
            }
            Some(p) => {
                let p = String::from_utf8_lossy(p).into_owned();
                if !self.config.subprotocols.contains(&p) {
                    return Err(HandshakeError::NotOffered {
                        name: SEC_WEBSOCKET_PROTOCOL,
                        value: p,
                    });
                }
                Some(p)
            }
        };
        let extensions = parse_extensions(h.get_all(SEC_WEBSOCKET_EXTENSIONS))?;
        for e in &extensions {
            let offered = self.config.extensions.iter();
            if !offered
                .map(Extension::name)
                .any(|n| n.eq_ignore_ascii_case(e.name()))
            {
                return Err(HandshakeError::NotOffered {
                    name: SEC_WEBSOCKET_EXTENSIONS,
                    value: e.name().to_owned(),
                });
            }
        }
        Ok(Negotiated {
            subprotocol,
            extensions,
        })
    }

    /// Bytes examined while looking for the end of the response head. Exposed for the
    /// linear-time test only.
    #[doc(hidden)]
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes_scanned
    }
}

fn invalid(name: &'static str, reason: &'static str) -> HandshakeError {
    HandshakeError::InvalidHeader { name, reason }
}

/// The header fields of the request, in order.
pub(crate) fn request_fields(
    target: &Target,
    config: &ClientConfig,
    key: &str,
) -> Vec<(String, String)> {
    let mut fields = vec![
        (HOST.to_owned(), target.host_header()),
        (UPGRADE.to_owned(), "websocket".to_owned()),
        (CONNECTION.to_owned(), "Upgrade".to_owned()),
        (SEC_WEBSOCKET_KEY.to_owned(), key.to_owned()),
        (
            SEC_WEBSOCKET_VERSION.to_owned(),
            WEBSOCKET_VERSION.to_owned(),
        ),
    ];
    if let Some(origin) = &config.origin {
        fields.push((ORIGIN.to_owned(), origin.clone()));
    }
    if !config.subprotocols.is_empty() {
        fields.push((
            SEC_WEBSOCKET_PROTOCOL.to_owned(),
            config.subprotocols.join(", "),
        ));
    }
    if !config.extensions.is_empty() {
        let value = serialize_extensions(&config.extensions);
        fields.push((SEC_WEBSOCKET_EXTENSIONS.to_owned(), value));
    }
    fields.extend(config.headers.iter().cloned());
    fields
}

fn write_request(target: &Target, config: &ClientConfig, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.resource.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in request_fields(target, config, key) {
        write_field(&mut out, &name, &value);
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // HS-C-01
    #[test]
    fn hs_c_01_target_parsing() {
        let t = Target::parse("WSS://h").unwrap();
        assert!(t.is_secure());
        assert_eq!((t.host(), t.port(), t.resource()), ("h", 443, "/"));
        let t = Target::parse("ws://[::1]:9001/a?b").unwrap();
        assert_eq!((t.host(), t.port(), t.resource()), ("::1", 9001, "/a?b"));
        assert_eq!(t.host_header(), "[::1]:9001");
        assert_eq!(Target::parse("ws://h:/").unwrap().port(), 80);
        for bad in [
            "ws://h/p#x",
            "http://h/",
            "ws:/h",
            "ws://",
            "ws://:80/",
            "ws://u@h/",
            "ws://h:0/",
            "ws://h:65536/",
            "ws://h:8o/",
            "ws://[::1/",
            "ws://[zz]/",
            "ws://[::1]x/",
            "ws://h /",
            "ws://h/\u{e9}",
            "ws://h\\x/",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(HandshakeError::InvalidUri { .. })),
                "{bad}"
            );
        }
    }

    // HS-C-04, SEC-08
    #[test]
    fn hs_c_04_host_header() {
        let host = |u: &str| Target::parse(u).unwrap().host_header();
        assert_eq!(host("ws://h:80/"), "h");
        assert_eq!(host("ws://h:8080/"), "h:8080");
        assert_eq!(host("wss://h:443"), "h");
        assert_eq!(host("wss://h:80"), "h:80");
        assert_eq!(host("ws://[::1]/"), "[::1]");
    }

    // HS-C-09
    #[test]
    fn hs_c_09_subprotocol_tokens_checked() {
        for bad in [vec!["chat", "chat"], vec![""], vec!["a b"], vec!["a,b"]] {
            let mut config = ClientConfig::default();
            for p in bad.iter() {
                config = config.with_subprotocol(*p);
            }
            assert!(
                matches!(
                    ClientHandshake::with_nonce("ws://h/", config, [0; 16]),
                    Err(HandshakeError::InvalidConfig { .. })
                ),
                "{bad:?}"
            );
        }
        let bad_header = ClientConfig::default().with_header("Sec-WebSocket-Key", "x");
        assert!(ClientHandshake::with_nonce("ws://h/", bad_header, [0; 16]).is_err());
        let bad_origin = ClientConfig::default().with_origin("a\r\nb");
        assert!(ClientHandshake::with_nonce("ws://h/", bad_origin, [0; 16]).is_err());
    }
}
