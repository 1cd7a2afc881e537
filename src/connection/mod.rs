//! The connection state machine after the handshake. Placeholder.

/// A command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Placeholder.
    #[error("closed")]
    Closed,
}
