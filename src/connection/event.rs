//! What the connection hands out: events, transmits, the terminal outcome, and the errors of
//! commands.

use std::time::Duration;

use bytes::Bytes;

use crate::close::{CloseCode, CloseFrame, CloseFrameError};
use crate::frame::ProtocolError;
use crate::utf8::Utf8Bytes;

/// Something that happened on the connection, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete text message (valid UTF-8, FR-23).
    Text(Utf8Bytes),
    /// A complete binary message.
    Binary(Bytes),
    /// Part of a text message, in [`ReceiveMode::Streaming`](crate::config::ReceiveMode).
    /// Every chunk is valid UTF-8 on its own: chunks end on character boundaries.
    TextChunk {
        /// The text.
        data: Utf8Bytes,
        /// The chunk ends a frame.
        frame_fin: bool,
        /// The chunk ends the message.
        fin: bool,
    },
    /// Part of a binary message, in [`ReceiveMode::Streaming`](crate::config::ReceiveMode).
    BinaryChunk {
        /// The bytes.
        data: Bytes,
        /// The chunk ends a frame.
        frame_fin: bool,
        /// The chunk ends the message.
        fin: bool,
    },
    /// A Ping arrived. While the connection is open, the Pong is queued automatically; not
    /// after our Close, which is the last frame we send (RFC 6455 section 1.4), nor after
    /// the peer's.
    Ping(Bytes),
    /// A Pong arrived (solicited or not; it is never answered, FR-30).
    Pong(Bytes),
    /// The peer's Close arrived: `None` when it carried no code. If it started the closing,
    /// the reply (echoing its code, CL-07) is queued when this event is taken from
    /// [`poll_event`](super::Connection::poll_event), so that answers to the messages that
    /// came before it go out first; call [`close`](super::Connection::close) before taking it
    /// to reply with another code. Drain the output after taking it (the documented loop
    /// takes events before it drains the output).
    CloseReceived(Option<CloseFrame>),
    /// The connection is over. Emitted exactly once, always the last event; the output may
    /// still hold the last Close frame and [`Transmit::CloseTransport`], to be written before
    /// the connection is dropped. (Boxed: it is rare and large, and keeps every other event
    /// small.)
    Closed(Box<CloseOutcome>),
}

/// How the connection ended: the terminal [`Event::Closed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseOutcome {
    /// What ended it.
    pub kind: CloseKind,
    /// The peer's Close frame, if one arrived (`Some(None)`: a Close without a code).
    pub received: Option<Option<CloseFrame>>,
    /// The Close frame we sent, if any (`Some(None)`: a Close without a code).
    pub sent: Option<Option<CloseFrame>>,
    /// The close handshake completed before the transport closed (RFC 6455 section 7.1.4,
    /// CL-17).
    pub clean: bool,
}

impl CloseOutcome {
    /// The WebSocket Connection Close Code of RFC 6455 section 7.1.5 (CL-13): the code of the
    /// first Close received, 1005 if it had none, 1006 if no Close was received.
    pub fn code(&self) -> CloseCode {
        match &self.received {
            Some(Some(frame)) => frame.code,
            Some(None) => CloseCode::NO_STATUS_RECEIVED,
            None => CloseCode::ABNORMAL,
        }
    }

    /// The WebSocket Connection Close Reason (section 7.1.6): the reason of the first Close
    /// received, or empty.
    pub fn reason(&self) -> &str {
        match &self.received {
            Some(Some(frame)) => frame.reason.as_str(),
            _ => "",
        }
    }
}

/// What ended a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseKind {
    /// The close handshake completed.
    Normal,
    /// We failed the connection because the peer violated the protocol.
    Failed(ProtocolError),
    /// The transport closed without a completed close handshake.
    TransportClosed,
    /// A deadline passed.
    TimedOut(Timeout),
}

/// Which deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The peer did not answer our Close in time (CL-20).
    CloseHandshake,
    /// (Client) the server did not close the transport after the close handshake (CL-11).
    /// The handshake itself completed, so the outcome is still clean.
    TransportClose,
    /// A keepalive Ping got no Pong in time; we failed the connection with 1011.
    Pong,
    /// Nothing was received for the idle timeout; we started closing with 1001.
    Idle(Duration),
}

/// An output for the transport, from [`Connection::poll_transmit`](super::Connection::poll_transmit).
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Transmit {
    /// Bytes to write, in order.
    Bytes(Bytes),
    /// Everything owed has been handed out: close the transport now (after writing what was
    /// handed out before). Given once.
    CloseTransport,
}

/// A command was refused. Nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closing or closed: no more data after our Close (FR-32), nothing
    /// at all after the connection ended. (Between the peer's Close arriving and its
    /// [`Event::CloseReceived`] being taken, while [`Connection::state`] already says
    /// `Closing`, data may still be sent: answers to the messages that came before it.)
    ///
    /// [`Connection::state`]: super::Connection::state
    #[error("the connection is closing or closed")]
    Closed,
    /// Buffered output is at or above the high-water mark; retry after writing some out.
    #[error("output buffer full ({buffered} bytes buffered, high-water mark {limit})")]
    Backpressure {
        /// Bytes currently buffered.
        buffered: usize,
        /// The configured high-water mark.
        limit: usize,
    },
    /// A control frame payload over 125 bytes (FR-15).
    #[error("control frame payload of {0} bytes, the limit is 125")]
    ControlTooLarge(usize),
    /// The Close frame could not be built (code not sendable, reason too long, CL-06).
    #[error(transparent)]
    CloseFrame(#[from] CloseFrameError),
    /// A streamed message is in progress: finish it first (FR-22).
    #[error("a streamed message is in progress")]
    MessageInProgress,
    /// No streamed message is in progress.
    #[error("no streamed message is in progress")]
    NoMessageInProgress,
    /// Text to send is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// The extension failed to transform the message.
    #[error("extension failed: {0}")]
    Extension(&'static str),
}
