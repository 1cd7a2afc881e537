//! `rfc6455`: a sans-IO WebSocket protocol engine.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
mod message;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits, ReceiveMode};
pub use connection::{
    CloseKind, CloseOutcome, Connection, ConnectionState, Event, MessageType, PreparedMessage,
    SendError, Transmit,
};
pub use error::Error;
pub use utf8::Utf8Bytes;

/// Which end of the connection this endpoint is. Clients mask every frame they send;
/// servers never do (RFC 6455 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that sent the opening handshake request.
    Client,
    /// The endpoint that answered it.
    Server,
}

impl Role {
    /// Whether this is the client.
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Client)
    }

    /// Whether this is the server.
    pub const fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }
}
