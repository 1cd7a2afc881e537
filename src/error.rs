//! The umbrella error: one `From` for each module's error.

use crate::close::CloseFrameError;
use crate::connection::SendError;
use crate::frame::ProtocolError;
use crate::handshake::HandshakeError;

/// Any error of this crate. Each module's own error converts into it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer violated the protocol after the handshake.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A command was refused (our own misuse or backpressure).
    #[error(transparent)]
    Send(#[from] SendError),
    /// A Close frame could not be built.
    #[error(transparent)]
    CloseFrame(#[from] CloseFrameError),
}
