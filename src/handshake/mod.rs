//! The opening handshake (RFC 6455 section 4). Placeholder until the handshake lands.

/// Why an opening handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Placeholder.
    #[error("handshake failed")]
    Failed,
}

/// What a completed opening handshake agreed on; a
/// [`Connection`](crate::connection::Connection) is built from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The subprotocol both sides agreed on, if any.
    pub subprotocol: Option<String>,
    /// The extensions in force, in the order the server listed them (applied in that order).
    pub extensions: Vec<String>,
}
