//! The frame layer: opcodes, headers, masking and the incremental codec (RFC 6455 section 5).

mod codec;
mod header;
pub(crate) mod mask;

pub use codec::{
    DEFAULT_MAX_FRAME_SIZE, DecoderConfig, Frame, FrameChunk, FrameDecoder, FrameEncoder,
    MaskKeySource, OsMaskKeys,
};
pub(crate) use codec::{Lent, encode_frame};
pub use header::{FrameHeader, HeaderStatus, MAX_HEADER_LEN};
pub use mask::apply_mask;
#[doc(hidden)]
pub use mask::{MaskFn, apply_mask_fallback, apply_mask_naive, mask_paths};
pub(crate) use mask::{copy_masked, extend_unmasked_reused, prefetch_read};

use crate::close::CloseCode;

/// The largest payload of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// RSV1, the bit permessage-deflate uses (RFC 7692).
pub const RSV1: u8 = 0b100;
/// RSV2.
pub const RSV2: u8 = 0b010;
/// RSV3.
pub const RSV3: u8 = 0b001;

/// A frame opcode (RFC 6455 section 5.2). Reserved values are not representable: they are
/// rejected when a header is parsed (FR-04).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: the first frame of a text message.
    Text = 0x1,
    /// 0x2: the first frame of a binary message.
    Binary = 0x2,
    /// 0x8: connection close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values 3-7 and 11-15.
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Close, Ping and Pong are control frames (opcodes with the top bit set).
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// Continuation, Text and Binary are data frames.
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }
}

/// A violation of the protocol by the peer. Each variant names the rule it breaks and knows
/// the close code to fail the connection with ([`close_code`](Self::close_code), CL-15).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// FR-03: an RSV bit that no negotiated extension defines.
    #[error("reserved bits {0:#05b} set without an extension that defines them")]
    ReservedBits(u8),
    /// FR-04: a reserved opcode (3-7, 11-15).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// FR-15: a control frame with more than 125 bytes of payload.
    #[error("control frame over 125 bytes")]
    ControlFrameTooLarge,
    /// FR-16: a control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// FR-13: the most significant bit of a 64-bit length is set.
    #[error("64-bit payload length with the most significant bit set")]
    LengthTopBitSet,
    /// FR-12: a length not in its minimal encoding (strict policy, documented on
    /// [`FrameHeader::parse`]).
    #[error("payload length {0} not in its minimal encoding")]
    NonMinimalLength(u64),
    /// FR-14: a frame longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// FR-07: a client sent an unmasked frame.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// FR-08: a server sent a masked frame.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// FR-18: a continuation frame with no message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// FR-19: a new data message while a fragmented one is unfinished.
    #[error("new data frame while a fragmented message is unfinished")]
    ExpectedContinuation,
    /// FR-33: a message larger than the configured maximum, counting a fixed overhead per
    /// fragment.
    #[error("message exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The configured limit.
        max: u64,
    },
    /// FR-23 to FR-27: a text message that is not valid UTF-8.
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// CL-02: a Close frame with a one-byte body.
    #[error("close frame with a one-byte body")]
    CloseLengthOne,
    /// CL-05: a Close frame with a code that may not be received.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// CL-04: a Close reason that is not valid UTF-8.
    #[error("invalid UTF-8 in a close reason")]
    InvalidCloseReason,
    /// An extension (e.g. permessage-deflate) rejected the data; it names the code.
    #[error("extension error: {reason}")]
    Extension {
        /// The close code the extension asks for.
        code: CloseCode,
        /// What went wrong.
        reason: &'static str,
    },
}

impl ProtocolError {
    /// The close code to fail the connection with (CL-15).
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::Extension { code, .. } => *code,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}
