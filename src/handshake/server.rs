//! The server side: parse and validate an upgrade request; write a 101 or a rejection.

use std::mem::MaybeUninit;

use bytes::{Buf as _, BytesMut};

use super::origin::OriginPolicy;
use super::{
    ByteWriter, CONNECTION, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS, Extension, HOST,
    HandshakeError, Headers, Negotiated, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE, WEBSOCKET_VERSION,
    check_extra_header, derive_accept_key, find_head_end, httparse_error, is_field_byte, is_token,
    key_is_valid, parse_extensions, serialize_extensions, split_list, write_field, write_head,
};

/// Server-side handshake settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request head accepted, in bytes, blank line included. Default:
    /// [`DEFAULT_MAX_HEAD_SIZE`] (16 KiB). Larger heads fail with 431 as soon as the cap is
    /// passed, without waiting for the rest.
    pub max_head_size: usize,
    /// The most header fields accepted. Default: [`DEFAULT_MAX_HEADERS`] (64). More fail
    /// with 431.
    pub max_headers: usize,
    /// Which `Origin` values an upgrade may carry. Default: [`OriginPolicy::Any`].
    pub origin_policy: OriginPolicy,
}

impl ServerConfig {
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

    /// Sets [`origin_policy`](Self::origin_policy).
    pub fn with_origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.origin_policy = policy;
        self
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
            max_headers: DEFAULT_MAX_HEADERS,
            origin_policy: OriginPolicy::Any,
        }
    }
}

/// A parsed HTTP/1.x request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    minor_version: u8,
    headers: Headers,
}

impl Request {
    /// A request head from its parts (used by the `http` conversions and for tests).
    /// `minor_version` is 1 for HTTP/1.1.
    pub fn new(
        method: impl Into<String>,
        target: impl Into<String>,
        minor_version: u8,
        headers: Headers,
    ) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            minor_version,
            headers,
        }
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as received, e.g. `/chat?room=1`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Whether this request tries to be a WebSocket upgrade: its `Upgrade` lists
    /// `websocket`, or it carries `Sec-WebSocket-Key` or `Sec-WebSocket-Version`. A request
    /// that does not is plain HTTP (a page, an API call) and is never an error.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.headers.contains_token(UPGRADE, "websocket")
            || self.headers.count(SEC_WEBSOCKET_KEY) > 0
            || self.headers.count(SEC_WEBSOCKET_VERSION) > 0
    }

    /// Validates this request as a WebSocket upgrade (RFC 6455 section 4.2.1), whether or
    /// not [`is_websocket_upgrade`](Self::is_websocket_upgrade) holds: for a router that has
    /// already decided this path is a WebSocket endpoint.
    pub fn into_upgrade(self, policy: &OriginPolicy) -> Result<UpgradeRequest, HandshakeError> {
        UpgradeRequest::validate(self, policy)
    }
}

/// What [`RequestParser::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerStatus {
    /// The head is incomplete: read more bytes and call again. Not an error.
    Partial,
    /// A valid WebSocket upgrade request: accept or reject it.
    Upgrade(UpgradeRequest),
    /// A plain HTTP request (not an upgrade at all): serve it as HTTP. Any body follows in
    /// the caller's buffer.
    NotUpgrade(Request),
}

/// An incremental HTTP request-head parser for the server side.
///
/// Feed it the bytes received so far, in the caller's buffer. Until the blank line that ends
/// the head has arrived it returns [`ServerStatus::Partial`]; the parser remembers how far
/// it has scanned, so a head arriving in many small pieces costs linear time (no
/// re-parsing; the CVE-2023-43669 class of quadratic behaviour). httparse runs once, on
/// the complete head.
///
/// Between calls, the caller may only append to the buffer. After a complete request the
/// parser is ready for the next request on the same connection (e.g. pipelined plain HTTP);
/// after an error it returns [`HandshakeError::Finished`].
#[derive(Clone, Debug, Default)]
pub struct RequestParser {
    config: ServerConfig,
    scanned: usize,
    failed: bool,
    bytes_scanned: u64,
    parse_attempts: u64,
}

impl RequestParser {
    /// A parser with `config`.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Parses from the front of `buf`. On a complete head the head's bytes are removed from
    /// `buf`; what follows them (frames a client sent early, or an HTTP body) stays there
    /// for the connection or the HTTP handler (HS-X-02). On `Partial` or an error nothing
    /// is removed.
    pub fn feed(&mut self, buf: &mut BytesMut) -> Result<ServerStatus, HandshakeError> {
        let (status, head_len) = self.parse(buf)?;
        buf.advance(head_len);
        Ok(status)
    }

    /// Like [`feed`](Self::feed) over a slice: returns the status and the length of the head
    /// (0 when partial). The bytes after the head belong to the caller. Between partial
    /// calls the slice must only grow at its end; after a complete head, the next call must
    /// start with the byte that followed it.
    pub fn parse(&mut self, buf: &[u8]) -> Result<(ServerStatus, usize), HandshakeError> {
        if self.failed {
            return Err(HandshakeError::Finished);
        }
        let result = self.parse_inner(buf);
        match &result {
            Err(_) => self.failed = true,
            Ok((ServerStatus::Partial, _)) => {}
            Ok(_) => self.scanned = 0,
        }
        result
    }

    fn parse_inner(&mut self, buf: &[u8]) -> Result<(ServerStatus, usize), HandshakeError> {
        let max = self.config.max_head_size;
        let window = &buf[..buf.len().min(max)];
        let Some(end) = find_head_end(window, &mut self.scanned, &mut self.bytes_scanned) else {
            if buf.len() > max {
                return Err(HandshakeError::HeadTooLarge { limit: max });
            }
            return Ok((ServerStatus::Partial, 0));
        };
        self.parse_attempts += 1;
        // Room for the default number of fields on the stack; a larger limit on the heap.
        let mut on_stack = [const { MaybeUninit::uninit() }; DEFAULT_MAX_HEADERS];
        let mut on_heap = Vec::new();
        let slots = if self.config.max_headers <= DEFAULT_MAX_HEADERS {
            &mut on_stack[..self.config.max_headers]
        } else {
            on_heap.resize_with(self.config.max_headers, MaybeUninit::uninit);
            &mut on_heap[..]
        };
        let mut req = httparse::Request::new(&mut []);
        let head_len = match req.parse_with_uninit_headers(&buf[..end], slots) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return Err(HandshakeError::MalformedHttp {
                    reason: "incomplete request head",
                });
            }
            Err(e) => return Err(httparse_error(e, self.config.max_headers)),
        };
        let request = Request {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            minor_version: req.version.unwrap_or_default(),
            headers: Headers::from_httparse(req.headers),
        };
        Ok((classify(request, &self.config.origin_policy)?, head_len))
    }

    /// Bytes examined while looking for the end of heads, over the parser's life. Exposed
    /// for the linear-time test only.
    #[doc(hidden)]
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes_scanned
    }

    /// Times httparse ran, over the parser's life. Exposed for the linear-time test only.
    #[doc(hidden)]
    pub fn parse_attempts(&self) -> u64 {
        self.parse_attempts
    }
}

/// Sorts a request into plain HTTP or an upgrade, validating the latter.
pub(crate) fn classify(
    request: Request,
    policy: &OriginPolicy,
) -> Result<ServerStatus, HandshakeError> {
    if !request.is_websocket_upgrade() {
        return Ok(ServerStatus::NotUpgrade(request));
    }
    UpgradeRequest::validate(request, policy).map(ServerStatus::Upgrade)
}

/// A valid WebSocket upgrade request (RFC 6455 section 4.2.1), waiting for the application
/// to [`accept`](Self::accept) or [`reject`](Self::reject) it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    request: Request,
    resource: String,
    host: String,
    key: String,
    origin: Option<String>,
    subprotocols: Vec<String>,
    extensions: Vec<Extension>,
}

impl UpgradeRequest {
    fn validate(request: Request, policy: &OriginPolicy) -> Result<Self, HandshakeError> {
        let h = &request.headers;
        if request.method != "GET" {
            return Err(HandshakeError::MethodNotAllowed {
                method: request.method.clone(),
            });
        }
        if request.minor_version < 1 {
            return Err(HandshakeError::HttpVersion {
                minor: request.minor_version,
            });
        }
        let resource = resource_name(&request.target)?;
        let host = h.unique(HOST)?.ok_or(HandshakeError::MissingHeader(HOST))?;
        let host = ascii(HOST, host)?;
        if host.is_empty() {
            return Err(invalid(HOST, "empty"));
        }
        if h.count(UPGRADE) == 0 {
            return Err(HandshakeError::MissingHeader(UPGRADE));
        }
        if !h.contains_token(UPGRADE, "websocket") {
            return Err(invalid(UPGRADE, "does not list websocket"));
        }
        if h.count(CONNECTION) == 0 {
            return Err(HandshakeError::MissingHeader(CONNECTION));
        }
        if !h.contains_token(CONNECTION, "upgrade") {
            return Err(invalid(CONNECTION, "does not list upgrade"));
        }
        let version = h
            .unique(SEC_WEBSOCKET_VERSION)?
            .ok_or(HandshakeError::MissingHeader(SEC_WEBSOCKET_VERSION))?;
        if version != WEBSOCKET_VERSION.as_bytes() {
            return Err(HandshakeError::UnsupportedVersion {
                version: String::from_utf8_lossy(version).into_owned(),
            });
        }
        let key = h
            .unique(SEC_WEBSOCKET_KEY)?
            .ok_or(HandshakeError::MissingHeader(SEC_WEBSOCKET_KEY))?;
        if !key_is_valid(key) {
            return Err(invalid(SEC_WEBSOCKET_KEY, "not base64 of 16 bytes"));
        }
        check_no_body(h)?;
        let mut subprotocols = Vec::new();
        for token in h.get_all(SEC_WEBSOCKET_PROTOCOL).flat_map(split_list) {
            if !is_token(token) {
                return Err(invalid(SEC_WEBSOCKET_PROTOCOL, "element is not a token"));
            }
            subprotocols.push(String::from_utf8_lossy(token).into_owned());
        }
        let extensions = parse_extensions(h.get_all(SEC_WEBSOCKET_EXTENSIONS))?;
        let origin = h.unique(ORIGIN)?.map(|o| ascii(ORIGIN, o)).transpose()?;
        if !policy.allows(origin.as_deref()) {
            return Err(HandshakeError::OriginForbidden { origin });
        }
        Ok(Self {
            resource,
            host,
            key: ascii(SEC_WEBSOCKET_KEY, key)?,
            origin,
            subprotocols,
            extensions,
            request,
        })
    }

    /// The whole request head.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The request's header fields (for authentication hooks: `Authorization`, cookies).
    pub fn headers(&self) -> &Headers {
        &self.request.headers
    }

    /// The resource name: path and query, e.g. `/chat?room=1`. An absolute-form target
    /// (`GET http://h/chat HTTP/1.1`) is reduced to its path and query.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.resource
            .split_once('?')
            .map_or(&self.resource, |(p, _)| p)
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.resource.split_once('?').map(|(_, q)| q)
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Sec-WebSocket-Key` value as received.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Origin` header value, if any (sent by browsers).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The offered subprotocols in the client's order of preference, all lines merged.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The offered extensions in the client's order, all lines merged.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The first subprotocol in the client's order of preference that `supported` lists,
    /// for [`AcceptOptions::subprotocol`].
    pub fn select_subprotocol(&self, supported: &[&str]) -> Option<&str> {
        self.subprotocols
            .iter()
            .find(|p| supported.contains(&p.as_str()))
            .map(String::as_str)
    }

    /// Accepts the upgrade: the `101 Switching Protocols` response to write, and what was
    /// agreed, to build the connection from. Fails (and writes nothing) when the options
    /// name a subprotocol or an extension the client did not offer (HS-N-01, HS-N-02), or
    /// an extra header that is malformed or one the handshake writes itself.
    pub fn accept(&self, options: &AcceptOptions) -> Result<(Vec<u8>, Negotiated), HandshakeError> {
        if let Some(p) = &options.subprotocol
            && !self.subprotocols.contains(p)
        {
            return Err(HandshakeError::NotOffered {
                name: SEC_WEBSOCKET_PROTOCOL,
                value: p.clone(),
            });
        }
        for e in &options.extensions {
            if !self
                .extensions
                .iter()
                .any(|o| o.name().eq_ignore_ascii_case(e.name()))
            {
                return Err(HandshakeError::NotOffered {
                    name: SEC_WEBSOCKET_EXTENSIONS,
                    value: e.name().to_owned(),
                });
            }
        }
        for (name, value) in &options.headers {
            check_extra_header(name, value)?;
        }
        let (fields, negotiated) = self.response_fields(options);
        let mut out = Vec::with_capacity(160);
        write_head(&mut out, 101, &[]);
        for (name, value) in &fields {
            write_field(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok((out, negotiated))
    }

    /// The header fields of the 101 response for already validated options.
    pub(crate) fn response_fields(
        &self,
        options: &AcceptOptions,
    ) -> (Vec<(String, String)>, Negotiated) {
        let mut fields = vec![
            (UPGRADE.to_owned(), "websocket".to_owned()),
            (CONNECTION.to_owned(), "Upgrade".to_owned()),
            (
                SEC_WEBSOCKET_ACCEPT.to_owned(),
                derive_accept_key(self.key.as_bytes()),
            ),
        ];
        if let Some(p) = &options.subprotocol {
            fields.push((SEC_WEBSOCKET_PROTOCOL.to_owned(), p.clone()));
        }
        if !options.extensions.is_empty() {
            let value = serialize_extensions(&options.extensions);
            fields.push((SEC_WEBSOCKET_EXTENSIONS.to_owned(), value));
        }
        fields.extend(options.headers.iter().cloned());
        let negotiated = Negotiated {
            subprotocol: options.subprotocol.clone(),
            extensions: options.extensions.clone(),
        };
        (fields, negotiated)
    }

    /// Rejects the upgrade with any non-1xx response (401 with `WWW-Authenticate`, a 3xx
    /// redirect, 404 from routing, 403 from an origin check...). Same as
    /// [`reject_response`].
    pub fn reject(
        &self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<u8>, HandshakeError> {
        reject_response(status, headers, body)
    }
}

/// What the server agrees to in [`UpgradeRequest::accept`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptOptions {
    /// The subprotocol chosen, which the client must have offered; `None` omits the header.
    pub subprotocol: Option<String>,
    /// The extensions agreed (each offered by the client), in the order they apply; written
    /// as one `Sec-WebSocket-Extensions` line.
    pub extensions: Vec<Extension>,
    /// Extra header fields for the 101 response (`Set-Cookie`, ...).
    pub headers: Vec<(String, String)>,
}

impl AcceptOptions {
    /// Nothing beyond the upgrade: no subprotocol, no extension, no extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a subprotocol (`None` for none).
    pub fn with_subprotocol(mut self, subprotocol: Option<&str>) -> Self {
        self.subprotocol = subprotocol.map(str::to_owned);
        self
    }

    /// Adds an agreed extension.
    pub fn with_extension(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds an extra header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An HTTP/1.1 response with a status from 200 to 999, the given header fields, a
/// `Content-Length` and `body`: for rejecting an upgrade, or for answering a plain
/// request on the same port. Fails on a 1xx status, a malformed header, or a
/// caller-supplied `Content-Length` or `Transfer-Encoding` (the length is always written
/// from `body`).
pub fn reject_response(
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<u8>, HandshakeError> {
    if !(200..=999).contains(&status) {
        return Err(HandshakeError::InvalidConfig {
            reason: format!("status {status} cannot carry headers and a body"),
        });
    }
    for (name, value) in headers {
        let bad_name = !is_token(name.as_bytes())
            || name.eq_ignore_ascii_case("Content-Length")
            || name.eq_ignore_ascii_case("Transfer-Encoding");
        if bad_name || !value.bytes().all(is_field_byte) {
            return Err(HandshakeError::InvalidConfig {
                reason: format!("response header {name:?} is not allowed"),
            });
        }
    }
    let mut out = Vec::with_capacity(128 + body.len());
    write_head(&mut out, status, headers);
    let _ = std::fmt::Write::write_fmt(
        &mut ByteWriter(&mut out),
        format_args!("Content-Length: {}\r\n\r\n", body.len()),
    );
    out.extend_from_slice(body);
    Ok(out)
}

fn invalid(name: &'static str, reason: &'static str) -> HandshakeError {
    HandshakeError::InvalidHeader { name, reason }
}

fn ascii(name: &'static str, value: &[u8]) -> Result<String, HandshakeError> {
    if !value.is_ascii() {
        return Err(invalid(name, "not ASCII"));
    }
    // ASCII is UTF-8: std's check takes its ASCII fast path and cannot fail here.
    Ok(std::str::from_utf8(value)
        .map_err(|_| invalid(name, "not ASCII"))?
        .to_owned())
}

/// HS-X-03: an upgrade request must not announce a body.
fn check_no_body(h: &Headers) -> Result<(), HandshakeError> {
    if h.count("Transfer-Encoding") > 0 {
        return Err(HandshakeError::UnexpectedBody("Transfer-Encoding"));
    }
    for value in h.get_all("Content-Length") {
        let digits = value.iter().all(u8::is_ascii_digit) && !value.is_empty();
        if !digits {
            return Err(invalid("Content-Length", "not a decimal number"));
        }
        if value.iter().any(|&b| b != b'0') {
            return Err(HandshakeError::UnexpectedBody("Content-Length"));
        }
    }
    Ok(())
}

/// The resource name of a request target: origin-form as is, absolute-form reduced to path
/// and query (RFC 6455 section 4.2.1 item 1).
fn resource_name(target: &str) -> Result<String, HandshakeError> {
    let bad = || HandshakeError::InvalidTarget {
        target: target.to_owned(),
    };
    if target.contains('#') {
        return Err(bad());
    }
    if target.starts_with('/') {
        return Ok(target.to_owned());
    }
    let (scheme, rest) = target.split_once("://").ok_or_else(bad)?;
    if !["http", "https", "ws", "wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(bad());
    }
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    if path_start == 0 {
        return Err(bad());
    }
    Ok(match &rest[path_start..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // HS-S-02
    #[test]
    fn hs_s_02_resource_names() {
        assert_eq!(resource_name("/chat?x=1").unwrap(), "/chat?x=1");
        assert_eq!(resource_name("http://h/chat").unwrap(), "/chat");
        assert_eq!(resource_name("HTTPS://h:1").unwrap(), "/");
        assert_eq!(resource_name("ws://h?q").unwrap(), "/?q");
        for bad in ["*", "h:80", "ftp://h/", "http:///x", "/a#b", ""] {
            assert!(resource_name(bad).is_err(), "{bad}");
        }
    }

    // HS-X-03
    #[test]
    fn hs_x_03_body_headers() {
        let mut h = Headers::new();
        h.push("Content-Length", "0");
        assert!(check_no_body(&h).is_ok());
        h.push("Content-Length", "5");
        assert_eq!(
            check_no_body(&h),
            Err(HandshakeError::UnexpectedBody("Content-Length"))
        );
        let mut h = Headers::new();
        h.push("Content-Length", "-1");
        assert_eq!(check_no_body(&h).unwrap_err().status(), Some(400));
        let mut h = Headers::new();
        h.push("transfer-encoding", "chunked");
        assert_eq!(
            check_no_body(&h),
            Err(HandshakeError::UnexpectedBody("Transfer-Encoding"))
        );
    }

    // HS-S-10
    #[test]
    fn hs_s_10_reject_response_shape() {
        let out = reject_response(401, &[("WWW-Authenticate", "Basic")], b"no").unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nno"
        );
        assert!(reject_response(101, &[], b"").is_err());
        assert!(reject_response(100, &[], b"").is_err());
        assert!(reject_response(1000, &[], b"").is_err());
        assert!(reject_response(400, &[("X", "a\r\nb")], b"").is_err());
        assert!(reject_response(400, &[("Content-Length", "9")], b"").is_err());
        assert!(reject_response(400, &[("Bad Name", "v")], b"").is_err());
    }
}
