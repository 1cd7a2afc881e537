//! The seam for WebSocket extensions (RFC 6455 section 9): RSV bits and a per-message
//! payload transform, enough for permessage-deflate (RFC 7692). The crate ships no
//! extension itself: install one with
//! [`Connection::set_extension`](crate::Connection::set_extension).

use bytes::Bytes;

use crate::frame::{OpCode, ProtocolError};

/// A negotiated extension that transforms whole message payloads.
///
/// The connection applies it as follows:
/// - Receiving: frames may carry the bits of [`rsv_bits`](Self::rsv_bits), but only on the
///   first frame of a data message (never on a continuation or control frame: 1002,
///   PMD-F-01). A message whose first frame carries them is reassembled whole, then passed
///   to [`decode_message`](Self::decode_message); text is validated as UTF-8 after the
///   transform. A message without them is delivered unchanged (PMD-F-02).
/// - Sending: each data message is passed to [`encode_message`](Self::encode_message),
///   which returns the payload to frame and the RSV bits for its first frame. Control frames
///   are never transformed (PMD-F-10).
pub trait Extension: Send + std::fmt::Debug {
    /// The RSV bits this extension defines (RSV1 = `0b100`).
    fn rsv_bits(&self) -> u8;

    /// Transforms an outgoing message. Returns the payload and the RSV bits to set on its
    /// first frame (0 to send it untransformed).
    fn encode_message(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
    ) -> Result<(Bytes, u8), &'static str>;

    /// Transforms an incoming message whose first frame carried `rsv`. The output must not
    /// exceed `max_size` bytes: stop and return [`ProtocolError::MessageTooLarge`] as soon
    /// as it would (a decompression bomb guard, PMD-L-01).
    fn decode_message(
        &mut self,
        rsv: u8,
        payload: Bytes,
        max_size: u64,
    ) -> Result<Bytes, ProtocolError>;
}
