//! Conversions from and to the `http` crate's types (feature `http`), for servers and
//! clients that already have an HTTP stack (hyper, axum) and only need the WebSocket rules.
//!
//! Only HTTP/1.x upgrades are covered: WebSockets over HTTP/2 and HTTP/3 (RFC 8441, RFC
//! 9220) use an extended CONNECT and are refused here.

use bytes::{Bytes, BytesMut};

use super::client::request_fields;
use super::{
    AcceptOptions, ClientHandshake, ClientStatus, HandshakeError, Headers, Negotiated, Request,
    Response, UpgradeRequest,
};

impl Request {
    /// The head of an `http` request. Fails for HTTP/2 and later, whose WebSocket
    /// bootstrapping (RFC 8441) this crate does not implement; HTTP/0.9 and 1.0 map to minor
    /// version 0, so validating them as an upgrade fails with 400.
    pub fn from_http<B>(request: &http::Request<B>) -> Result<Self, HandshakeError> {
        let minor = match request.version() {
            http::Version::HTTP_09 | http::Version::HTTP_10 => 0,
            http::Version::HTTP_11 => 1,
            _ => {
                return Err(HandshakeError::MalformedHttp {
                    reason: "WebSocket over HTTP/2 or HTTP/3 is not supported",
                });
            }
        };
        Ok(Self::new(
            request.method().as_str(),
            request.uri().to_string(),
            minor,
            headers_from_http(request.headers()),
        ))
    }
}

impl UpgradeRequest {
    /// [`accept`](Self::accept) as an `http::Response<()>` with status 101, for an HTTP stack
    /// that writes the response itself.
    pub fn accept_http(
        &self,
        options: &AcceptOptions,
    ) -> Result<(http::Response<()>, Negotiated), HandshakeError> {
        // Runs every check of `accept` (offered subprotocol and extensions, extra headers).
        let (_, negotiated) = self.accept(options)?;
        let (fields, _) = self.response_fields(options);
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = headers_to_http(&fields)?;
        Ok((response, negotiated))
    }
}

impl ClientHandshake {
    /// The request as an `http::Request<()>` (origin-form URI, `Host` among the headers),
    /// for an HTTP client that performs the upgrade itself.
    pub fn to_http_request(&self) -> Result<http::Request<()>, HandshakeError> {
        let fields = request_fields(self.target(), self.config(), self.key());
        let uri: http::Uri =
            self.target()
                .resource()
                .parse()
                .map_err(|_| HandshakeError::InvalidUri {
                    reason: "resource is not a valid HTTP request target",
                })?;
        let mut request = http::Request::new(());
        *request.uri_mut() = uri;
        *request.version_mut() = http::Version::HTTP_11;
        *request.headers_mut() = headers_to_http(&fields)?;
        Ok(request)
    }

    /// Validates a response received by an HTTP client, as [`feed`](Self::feed) does for
    /// bytes. A non-101 response comes back as [`ClientStatus::Rejected`] with an empty
    /// [`Response::body`]: the body stays with the HTTP client.
    pub fn finish_http<B>(
        &mut self,
        response: &http::Response<B>,
    ) -> Result<ClientStatus, HandshakeError> {
        let minor = match response.version() {
            http::Version::HTTP_09 | http::Version::HTTP_10 => 0,
            http::Version::HTTP_11 => 1,
            _ => {
                return Err(HandshakeError::MalformedHttp {
                    reason: "WebSocket over HTTP/2 or HTTP/3 is not supported",
                });
            }
        };
        let status = response.status();
        let mut parsed = Response::new(
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            headers_from_http(response.headers()),
            Bytes::new(),
        );
        parsed.minor_version = minor;
        self.finish_once(parsed, &mut BytesMut::new())
    }
}

fn headers_from_http(map: &http::HeaderMap) -> Headers {
    let mut headers = Headers::new();
    for (name, value) in map {
        headers.push(name.as_str(), value.as_bytes());
    }
    headers
}

fn headers_to_http(fields: &[(String, String)]) -> Result<http::HeaderMap, HandshakeError> {
    let mut map = http::HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let bad = || HandshakeError::InvalidConfig {
            reason: format!("header {name:?} cannot be represented"),
        };
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = http::HeaderValue::from_str(value).map_err(|_| bad())?;
        map.append(name, value);
    }
    Ok(map)
}
