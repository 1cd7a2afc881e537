//! The server side: parse and validate an upgrade request; write a 101 or a rejection.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use bytes::{Buf as _, BytesMut};

use super::origin::OriginPolicy;
use super::{
    ByteWriter, CONNECTION, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS, Extension, HOST,
    HandshakeError, Headers, Negotiated, ORIGIN, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE, WEBSOCKET_VERSION, accept_key,
    check_extensions, check_extra_header, find_head_end, httparse_error, is_field_byte, is_token,
    key_is_valid, list_contains, parse_extensions, serialize_extensions, split_list, write_field,
    write_head,
};

/// Server-side handshake settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest request head accepted, in bytes, blank line included. Default:
    /// [`DEFAULT_MAX_HEAD_SIZE`] (32 KiB). A larger head fails with 431 as soon as this many
    /// bytes have arrived without its end, without waiting for the rest.
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
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The method then the target, back to back (one allocation for both).
    line: String,
    /// Where the method ends in `line`.
    method_len: usize,
    minor_version: u8,
    headers: Headers,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("minor_version", &self.minor_version)
            .field("headers", &self.headers)
            .finish()
    }
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
        Self::from_parts(&method.into(), &target.into(), minor_version, headers)
    }

    fn from_parts(method: &str, target: &str, minor_version: u8, headers: Headers) -> Self {
        let mut line = String::with_capacity(method.len() + target.len());
        line.push_str(method);
        line.push_str(target);
        Self {
            line,
            method_len: method.len(),
            minor_version,
            headers,
        }
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.line.get(..self.method_len).unwrap_or_default()
    }

    /// The request target as received, e.g. `/chat?room=1`.
    pub fn target(&self) -> &str {
        self.line.get(self.method_len..).unwrap_or_default()
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
        UpgradeFields::scan(&self.headers).is_upgrade()
    }

    /// Validates this request as a WebSocket upgrade (RFC 6455 section 4.2.1), whether or
    /// not [`is_websocket_upgrade`](Self::is_websocket_upgrade) holds: for a router that has
    /// already decided this path is a WebSocket endpoint.
    pub fn into_upgrade(self, policy: &OriginPolicy) -> Result<UpgradeRequest, HandshakeError> {
        let fields = UpgradeFields::scan(&self.headers);
        UpgradeRequest::validate(self, &fields, policy)
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
/// Between calls, the caller may only append to the buffer. After a plain request
/// ([`ServerStatus::NotUpgrade`]) the parser is ready for the next request on the same
/// connection (e.g. pipelined plain HTTP); after an upgrade request (what follows it is
/// WebSocket frames once accepted, and nothing once rejected) or an error it returns
/// [`HandshakeError::Finished`].
#[derive(Clone, Debug, Default)]
pub struct RequestParser {
    config: ServerConfig,
    scanned: usize,
    finished: bool,
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
        if self.finished {
            return Err(HandshakeError::Finished);
        }
        let result = self.parse_inner(buf);
        match &result {
            Err(_) | Ok((ServerStatus::Upgrade(_), _)) => self.finished = true,
            Ok((ServerStatus::Partial, _)) => {}
            Ok((ServerStatus::NotUpgrade(_), _)) => self.scanned = 0,
        }
        result
    }

    fn parse_inner(&mut self, buf: &[u8]) -> Result<(ServerStatus, usize), HandshakeError> {
        let max = self.config.max_head_size;
        let window = &buf[..buf.len().min(max)];
        // A head that arrived in one piece needs no separate search for its end: httparse
        // finds it. Anything else (or a head httparse rejects, for the error below) takes
        // the scan.
        let whole = if self.scanned == 0 && arrived_whole(window) {
            self.read_head(window).ok().flatten()
        } else {
            None
        };
        let (request, head_len) = match whole {
            Some(parsed) => parsed,
            None => {
                let Some(end) = find_head_end(window, &mut self.scanned, &mut self.bytes_scanned)
                else {
                    // No end within the first `max` bytes: no head that fits can follow.
                    if !buf.is_empty() && buf.len() >= max {
                        return Err(HandshakeError::HeadTooLarge { limit: max });
                    }
                    return Ok((ServerStatus::Partial, 0));
                };
                self.read_head(&buf[..end])?
                    .ok_or(HandshakeError::MalformedHttp {
                        reason: "incomplete request head",
                    })?
            }
        };
        Ok((classify(request, &self.config.origin_policy)?, head_len))
    }

    /// Runs httparse on `buf`: the request and the length of its head, `None` when the head
    /// is incomplete.
    fn read_head(&mut self, buf: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
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
        let head_len = match req.parse_with_uninit_headers(buf, slots) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(httparse_error(e, self.config.max_headers)),
        };
        let request = Request::from_parts(
            req.method.unwrap_or_default(),
            req.path.unwrap_or_default(),
            req.version.unwrap_or_default(),
            Headers::from_httparse_head(buf, req.headers),
        );
        Ok(Some((request, head_len)))
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

/// Whether `buf` holds a head that arrived in one piece: it ends with a blank line and does
/// not start with one. httparse then ends the head where the scan would, at the first blank
/// line: every newline before it ends the request line or a header line (httparse only
/// skips blank lines before the request line, and refuses folded header lines in requests).
fn arrived_whole(buf: &[u8]) -> bool {
    !matches!(buf.first(), Some(b'\r' | b'\n'))
        && (buf.ends_with(b"\n\n") || buf.ends_with(b"\n\r\n"))
}

/// Sorts a request into plain HTTP or an upgrade, validating the latter.
fn classify(request: Request, policy: &OriginPolicy) -> Result<ServerStatus, HandshakeError> {
    let fields = UpgradeFields::scan(&request.headers);
    if !fields.is_upgrade() {
        return Ok(ServerStatus::NotUpgrade(request));
    }
    UpgradeRequest::validate(request, &fields, policy).map(ServerStatus::Upgrade)
}

/// The header fields an upgrade depends on, spotted in one pass over a head: every check
/// then reads these instead of searching the fields again.
#[derive(Default)]
struct UpgradeFields {
    host: Unique,
    version: Unique,
    key: Unique,
    origin: Unique,
    upgrade_lines: usize,
    upgrade_lists_websocket: bool,
    connection_lines: usize,
    connection_lists_upgrade: bool,
    /// Whether `Transfer-Encoding` or `Content-Length` appears.
    body_headers: bool,
    /// The index of the first `Sec-WebSocket-Protocol` field.
    protocol_lines: Option<usize>,
    /// The index of the first `Sec-WebSocket-Extensions` field.
    extension_lines: Option<usize>,
}

/// Where a header that must appear at most once was found.
#[derive(Clone, Copy, Default)]
struct Unique {
    /// The index of its first field.
    first: Option<usize>,
    repeated: bool,
}

impl Unique {
    fn see(&mut self, index: usize) {
        self.repeated |= self.first.is_some();
        self.first = self.first.or(Some(index));
    }

    /// The field's index: `Ok(None)` when absent, an error when repeated.
    fn get(self, name: &'static str) -> Result<Option<usize>, HandshakeError> {
        if self.repeated {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(self.first)
    }
}

/// The header names [`UpgradeFields`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    Host,
    Origin,
    Upgrade,
    Connection,
    ContentLength,
    TransferEncoding,
    Key,
    Version,
    Protocol,
    Extensions,
}

impl Known {
    /// Which known header `name` is (ASCII case-insensitive). The length picks the
    /// candidates, so most fields cost at most one comparison.
    fn of(name: &[u8]) -> Option<Self> {
        // Clients nearly always send the usual spelling, so the exact compare (of a known
        // length, done inline) settles most.
        let is = |spelling: &str| {
            name == spelling.as_bytes() || name.eq_ignore_ascii_case(spelling.as_bytes())
        };
        Some(match name.len() {
            4 if is(HOST) => Self::Host,
            6 if is(ORIGIN) => Self::Origin,
            7 if is(UPGRADE) => Self::Upgrade,
            10 if is(CONNECTION) => Self::Connection,
            14 if is("Content-Length") => Self::ContentLength,
            17 if is(SEC_WEBSOCKET_KEY) => Self::Key,
            17 if is("Transfer-Encoding") => Self::TransferEncoding,
            21 if is(SEC_WEBSOCKET_VERSION) => Self::Version,
            22 if is(SEC_WEBSOCKET_PROTOCOL) => Self::Protocol,
            24 if is(SEC_WEBSOCKET_EXTENSIONS) => Self::Extensions,
            _ => return None,
        })
    }
}

impl UpgradeFields {
    fn scan(headers: &Headers) -> Self {
        let mut f = Self::default();
        for (i, (name, value)) in headers.raw().enumerate() {
            match Known::of(name) {
                None => {}
                Some(Known::Host) => f.host.see(i),
                Some(Known::Origin) => f.origin.see(i),
                Some(Known::Key) => f.key.see(i),
                Some(Known::Version) => f.version.see(i),
                Some(Known::Upgrade) => {
                    f.upgrade_lines += 1;
                    f.upgrade_lists_websocket =
                        f.upgrade_lists_websocket || list_contains(value, "websocket");
                }
                Some(Known::Connection) => {
                    f.connection_lines += 1;
                    f.connection_lists_upgrade =
                        f.connection_lists_upgrade || list_contains(value, "upgrade");
                }
                Some(Known::ContentLength | Known::TransferEncoding) => f.body_headers = true,
                Some(Known::Protocol) => f.protocol_lines = f.protocol_lines.or(Some(i)),
                Some(Known::Extensions) => f.extension_lines = f.extension_lines.or(Some(i)),
            }
        }
        f
    }

    /// [`Request::is_websocket_upgrade`].
    fn is_upgrade(&self) -> bool {
        self.upgrade_lists_websocket || self.key.first.is_some() || self.version.first.is_some()
    }
}

/// A valid WebSocket upgrade request (RFC 6455 section 4.2.1), waiting for the application
/// to [`accept`](Self::accept) or [`reject`](Self::reject) it.
#[derive(Clone)]
pub struct UpgradeRequest {
    request: Request,
    /// The resource name when it is not the target itself (an absolute-form target).
    resource: Option<String>,
    /// Where the `Host`, `Sec-WebSocket-Key` and `Origin` fields are in the request's
    /// headers; their values were checked to be ASCII.
    host: usize,
    key: usize,
    origin: Option<usize>,
    subprotocols: Vec<String>,
    /// The offered extensions, parsed on first use: validation only checks their grammar,
    /// since a server that supports none never looks at them.
    extensions: OnceLock<Vec<Extension>>,
}

impl PartialEq for UpgradeRequest {
    fn eq(&self, other: &Self) -> bool {
        // Everything else is derived from the request.
        self.request == other.request
    }
}

impl Eq for UpgradeRequest {}

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeRequest")
            .field("request", &self.request)
            .field("resource", &self.resource())
            .field("host", &self.host())
            .field("key", &self.key())
            .field("origin", &self.origin())
            .field("subprotocols", &self.subprotocols)
            .field("extensions", &self.extensions())
            .finish()
    }
}

impl UpgradeRequest {
    fn validate(
        request: Request,
        fields: &UpgradeFields,
        policy: &OriginPolicy,
    ) -> Result<Self, HandshakeError> {
        let h = &request.headers;
        if request.method() != "GET" {
            return Err(HandshakeError::MethodNotAllowed {
                method: request.method().to_owned(),
            });
        }
        if request.minor_version < 1 {
            return Err(HandshakeError::HttpVersion {
                minor: request.minor_version,
            });
        }
        let resource = match resource_name(request.target())? {
            Cow::Borrowed(_) => None,
            Cow::Owned(resource) => Some(resource),
        };
        let Some(host) = fields.host.get(HOST)? else {
            return Err(HandshakeError::MissingHeader(HOST));
        };
        if check_ascii(HOST, h.value_at(host))?.is_empty() {
            return Err(invalid(HOST, "empty"));
        }
        if fields.upgrade_lines == 0 {
            return Err(HandshakeError::MissingHeader(UPGRADE));
        }
        if !fields.upgrade_lists_websocket {
            return Err(invalid(UPGRADE, "does not list websocket"));
        }
        if fields.connection_lines == 0 {
            return Err(HandshakeError::MissingHeader(CONNECTION));
        }
        if !fields.connection_lists_upgrade {
            return Err(invalid(CONNECTION, "does not list upgrade"));
        }
        let Some(version) = fields.version.get(SEC_WEBSOCKET_VERSION)? else {
            return Err(HandshakeError::MissingHeader(SEC_WEBSOCKET_VERSION));
        };
        let version = h.value_at(version);
        if version != WEBSOCKET_VERSION.as_bytes() {
            return Err(HandshakeError::UnsupportedVersion {
                version: String::from_utf8_lossy(version).into_owned(),
            });
        }
        let Some(key) = fields.key.get(SEC_WEBSOCKET_KEY)? else {
            return Err(HandshakeError::MissingHeader(SEC_WEBSOCKET_KEY));
        };
        if !key_is_valid(h.value_at(key)) {
            return Err(invalid(SEC_WEBSOCKET_KEY, "not base64 of 16 bytes"));
        }
        if fields.body_headers {
            check_no_body(h)?;
        }
        let mut subprotocols = Vec::new();
        if let Some(first) = fields.protocol_lines {
            for token in h
                .get_all_from(first, SEC_WEBSOCKET_PROTOCOL)
                .flat_map(split_list)
            {
                if !is_token(token) {
                    return Err(invalid(SEC_WEBSOCKET_PROTOCOL, "element is not a token"));
                }
                subprotocols.push(String::from_utf8_lossy(token).into_owned());
            }
        }
        if let Some(first) = fields.extension_lines {
            check_extensions(h.get_all_from(first, SEC_WEBSOCKET_EXTENSIONS))?;
        }
        let origin = fields.origin.get(ORIGIN)?;
        let origin_value = origin
            .map(|o| check_ascii(ORIGIN, h.value_at(o)))
            .transpose()?;
        if !matches!(policy, OriginPolicy::Any) {
            // Checked ASCII, so UTF-8.
            let origin_value = origin_value.and_then(|o| std::str::from_utf8(o).ok());
            if !policy.allows(origin_value) {
                return Err(HandshakeError::OriginForbidden {
                    origin: origin_value.map(str::to_owned),
                });
            }
        }
        check_ascii(SEC_WEBSOCKET_KEY, h.value_at(key))?;
        Ok(Self {
            resource,
            host,
            key,
            origin,
            subprotocols,
            extensions: OnceLock::new(),
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
        self.resource
            .as_deref()
            .unwrap_or_else(|| self.request.target())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        let resource = self.resource();
        resource.split_once('?').map_or(resource, |(p, _)| p)
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.resource().split_once('?').map(|(_, q)| q)
    }

    /// The host the request is for: the `Host` header value, or for an absolute-form target
    /// (`GET http://h:8080/chat HTTP/1.1`) the target's authority without any user
    /// information (`h:8080`), which takes precedence over `Host` (RFC 9112 section
    /// 3.2.2). The request must carry a valid `Host` either way.
    pub fn host(&self) -> &str {
        match split_absolute(self.request.target()) {
            Some((host, _)) => host,
            None => self.ascii_value(self.host),
        }
    }

    /// The `Sec-WebSocket-Key` value as received.
    pub fn key(&self) -> &str {
        self.ascii_value(self.key)
    }

    /// The `Origin` header value, if any (sent by browsers).
    pub fn origin(&self) -> Option<&str> {
        self.origin.map(|o| self.ascii_value(o))
    }

    /// The value of the header field at `index`, which validation found to be ASCII.
    fn ascii_value(&self, index: usize) -> &str {
        std::str::from_utf8(self.request.headers.value_at(index)).unwrap_or_default()
    }

    /// The offered subprotocols in the client's order of preference, all lines merged.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The offered extensions in the client's order, all lines merged.
    pub fn extensions(&self) -> &[Extension] {
        self.extensions.get_or_init(|| {
            // Validation checked the grammar, so this cannot fail.
            parse_extensions(self.headers().get_all(SEC_WEBSOCKET_EXTENSIONS)).unwrap_or_default()
        })
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
        self.check_accept_options(options)?;
        let accept = accept_key(self.request.headers.value_at(self.key));
        let extensions = serialize_agreed(options);
        let agreed = agreed_fields(options, extensions.as_deref());
        // One allocation of the exact size: the fixed start, the key, each agreed
        // `name: value\r\n`, the blank line.
        let fixed = ACCEPT_PREFIX.len() + accept.len() + 4;
        let size = agreed.clone().fold(fixed, |size, (name, value)| {
            size + name.len() + value.len() + 4
        });
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(ACCEPT_PREFIX);
        out.extend_from_slice(&accept);
        out.extend_from_slice(b"\r\n");
        for (name, value) in agreed {
            write_field(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok((out, negotiated(options)))
    }

    /// The checks of [`accept`](Self::accept) on the application's options.
    fn check_accept_options(&self, options: &AcceptOptions) -> Result<(), HandshakeError> {
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
                .extensions()
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
        Ok(())
    }

    /// The header fields of the 101 response for already validated options.
    #[cfg(feature = "http")]
    pub(crate) fn response_fields(
        &self,
        options: &AcceptOptions,
    ) -> (Vec<(String, String)>, Negotiated) {
        let accept = accept_key(self.request.headers.value_at(self.key));
        let extensions = serialize_agreed(options);
        let fields = response_fields(&accept, options, extensions.as_deref())
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        (fields, negotiated(options))
    }

    /// Rejects the upgrade with any non-1xx response (401 with `WWW-Authenticate`, a 3xx
    /// redirect, 404 from routing, 403 from an origin check...): [`reject_response`] with
    /// `Connection: close` first, unless `headers` has a `Connection` field of its own.
    ///
    /// Write it, then close the transport. What followed the request in the buffer is not
    /// HTTP to be parsed: it may be frames the client sent early, or a request smuggled
    /// behind the upgrade by a proxy that took the upgrade for done (the parser refuses to
    /// read on after an upgrade request, [`HandshakeError::Finished`]).
    pub fn reject(
        &self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<u8>, HandshakeError> {
        if headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("Connection"))
        {
            return reject_response(status, headers, body);
        }
        let with_close: Vec<(&str, &str)> = std::iter::once(("Connection", "close"))
            .chain(headers.iter().copied())
            .collect();
        reject_response(status, &with_close, body)
    }
}

/// The start of every 101, up to the `Sec-WebSocket-Accept` value: the status line and the
/// fields that never change, as [`response_fields`] lists them.
const ACCEPT_PREFIX: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: ";

/// The header fields of a 101 response, in order: the upgrade itself, the `accept` key,
/// then what `options` agreed (`extensions` is their serialised list, if any).
#[cfg(any(test, feature = "http"))]
fn response_fields<'a>(
    accept: &'a [u8; 28],
    options: &'a AcceptOptions,
    extensions: Option<&'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    // The key is base64, so ASCII.
    let accept = std::str::from_utf8(accept).unwrap_or_default();
    [
        (UPGRADE, "websocket"),
        (CONNECTION, "Upgrade"),
        (super::SEC_WEBSOCKET_ACCEPT, accept),
    ]
    .into_iter()
    .chain(agreed_fields(options, extensions))
}

/// The header fields of a 101 that depend on what `options` agreed, in order
/// (`extensions` is their serialised list, if any).
fn agreed_fields<'a>(
    options: &'a AcceptOptions,
    extensions: Option<&'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> + Clone {
    let protocol = options.subprotocol.as_deref();
    let extra = options
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    (protocol.map(|p| (SEC_WEBSOCKET_PROTOCOL, p)).into_iter())
        .chain(extensions.map(|e| (SEC_WEBSOCKET_EXTENSIONS, e)))
        .chain(extra)
}

/// The `Sec-WebSocket-Extensions` value for the agreed extensions; `None` when there are none.
fn serialize_agreed(options: &AcceptOptions) -> Option<String> {
    (!options.extensions.is_empty()).then(|| serialize_extensions(&options.extensions))
}

/// What an accept with `options` agrees to.
fn negotiated(options: &AcceptOptions) -> Negotiated {
    Negotiated {
        subprotocol: options.subprotocol.clone(),
        extensions: options.extensions.clone(),
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

/// `value`, when it is ASCII.
fn check_ascii<'a>(name: &'static str, value: &'a [u8]) -> Result<&'a [u8], HandshakeError> {
    if !value.is_ascii() {
        return Err(invalid(name, "not ASCII"));
    }
    Ok(value)
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

/// The resource name of a request target: origin-form as is (borrowed), absolute-form
/// reduced to path and query (RFC 6455 section 4.2.1 item 1).
fn resource_name(target: &str) -> Result<Cow<'_, str>, HandshakeError> {
    let bad = || HandshakeError::InvalidTarget {
        target: target.to_owned(),
    };
    if target.contains('#') {
        return Err(bad());
    }
    if target.starts_with('/') {
        return Ok(Cow::Borrowed(target));
    }
    let (_, path) = split_absolute(target).ok_or_else(bad)?;
    Ok(Cow::Owned(match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    }))
}

/// An absolute-form target (`http://u@h:80/chat?x`, `ws://h?q`) split into its host and
/// port without user information (`h:80`) and the rest (`/chat?x`, `?q`, or empty); `None`
/// for any other form, a scheme other than http(s) or ws(s), or an empty host.
fn split_absolute(target: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    if !["http", "https", "ws", "wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some((host, path))
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
        assert_eq!(resource_name("http://u:p@h:8/x?y").unwrap(), "/x?y");
        assert_eq!(split_absolute("http://u:p@h:8/x?y"), Some(("h:8", "/x?y")));
        assert_eq!(split_absolute("ws://[::1]:9?q"), Some(("[::1]:9", "?q")));
        assert_eq!(split_absolute("/x"), None);
        for bad in [
            "*",
            "h:80",
            "ftp://h/",
            "http:///x",
            "http://u@/x",
            "/a#b",
            "",
        ] {
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

    /// The fixed start of a 101 is what writing its first fields gives, and a full 101 is
    /// the status line and every field of `response_fields` in order.
    #[test]
    fn accept_writes_the_response_fields() {
        let h = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: x-a, x-b; p=1\r\n\r\n";
        let Ok((ServerStatus::Upgrade(request), _)) = RequestParser::default().parse(h) else {
            panic!("not an upgrade");
        };
        let offered = request.extensions().to_vec();
        let plain = AcceptOptions::new();
        let full = AcceptOptions::new()
            .with_subprotocol(Some("chat"))
            .with_extension(offered[1].clone())
            .with_extension(offered[0].clone())
            .with_header("Set-Cookie", "a=b");
        for options in [plain, full] {
            let (out, _) = request.accept(&options).unwrap();
            let accept = accept_key(request.key().as_bytes());
            let extensions = serialize_agreed(&options);
            let mut expected = Vec::new();
            write_head(&mut expected, 101, &[]);
            for (name, value) in response_fields(&accept, &options, extensions.as_deref()) {
                write_field(&mut expected, name, value);
            }
            expected.extend_from_slice(b"\r\n");
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(out.capacity(), out.len(), "allocated to the exact size");
        }
    }

    /// A head that arrives in one piece skips the search for its end; the result is the
    /// one the search gives, also when httparse alone would see the head differently.
    #[test]
    fn a_head_that_arrived_whole_parses_as_a_scanned_one() {
        let upgrade =
            b"GET /a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let heads: [&[u8]; 7] = [
            upgrade,
            b"GET / HTTP/1.1\nHost: a\n\n",
            // httparse skips blank lines before the request line; the search ends there.
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\n",
            // A body that ends with a blank line: the head ends at the first one.
            b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nx\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
        ];
        for head in heads {
            let mut whole = RequestParser::default();
            let got = whole.parse(head);
            // Took the shortcut, unless httparse refused the head.
            let shortcut = arrived_whole(head) && got.is_ok();
            assert_eq!(whole.bytes_scanned() == 0, shortcut, "{head:?}");
            let mut scanned = RequestParser::default();
            assert_eq!(scanned.parse(&head[..1]), Ok((ServerStatus::Partial, 0)));
            assert_eq!(scanned.parse(head), got, "{head:?}");
            assert!(scanned.bytes_scanned() > 0);
        }
        assert!(arrived_whole(upgrade));
        assert!(arrived_whole(b"GET / HTTP/1.1\n\r\n"));
        assert!(!arrived_whole(b"\r\nGET / HTTP/1.1\r\n\r\n"));
        assert!(!arrived_whole(b"GET / HTTP/1.1\r\n\r\nframes"));
        assert!(!arrived_whole(b""));
    }

    #[test]
    fn known_header_names_match_in_any_case() {
        let cases = [
            ("Host", Some(Known::Host)),
            ("hOST", Some(Known::Host)),
            ("Pragma", None),
            ("ORIGIN", Some(Known::Origin)),
            ("upgrade", Some(Known::Upgrade)),
            ("User-Agent", None),
            ("connection", Some(Known::Connection)),
            ("content-length", Some(Known::ContentLength)),
            ("sec-websocket-key", Some(Known::Key)),
            ("SEC-WEBSOCKET-KEY", Some(Known::Key)),
            ("Sec-WebSocket-Kex", None),
            ("transfer-encoding", Some(Known::TransferEncoding)),
            ("Sec-Websocket-Version", Some(Known::Version)),
            ("sec-websocket-protocol", Some(Known::Protocol)),
            ("Sec-WebSocket-Extensions", Some(Known::Extensions)),
            ("Sec-WebSocket-Extension", None),
            ("", None),
        ];
        for (name, known) in cases {
            assert_eq!(Known::of(name.as_bytes()), known, "{name}");
        }
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
