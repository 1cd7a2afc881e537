//! Close codes and the Close frame body (RFC 6455 section 5.5.1 and 7.4).

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::frame::ProtocolError;
use crate::utf8::Utf8Bytes;

/// Largest Close payload: a control frame carries at most 125 bytes (RFC 6455 section 5.5).
pub const MAX_CLOSE_PAYLOAD: usize = 125;
/// Longest reason that fits in a Close frame next to its two-byte code.
pub const MAX_REASON_LEN: usize = MAX_CLOSE_PAYLOAD - 2;

/// A WebSocket close status code (RFC 6455 section 7.4), a `u16` on the wire.
///
/// The constants name every code the RFC and the IANA registry define. Use
/// [`CloseCode::is_sendable`] before putting a code on the wire and
/// [`CloseCode::is_valid_received`] to judge a code a peer sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary for a text-only endpoint).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no code was present in the Close frame. Never sent on the wire.
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: the connection closed without a Close frame. Never sent on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message or frame too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: an unexpected condition prevented the endpoint from fulfilling the request.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy received an invalid response from upstream (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Never sent on the wire.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Which class the code falls in (CL-05, CL-06).
    pub const fn class(self) -> CloseCodeClass {
        match self.0 {
            1000..=1003 | 1007..=1014 => CloseCodeClass::Defined,
            1005 | 1006 | 1015 => CloseCodeClass::LocalOnly,
            3000..=3999 => CloseCodeClass::Registered,
            4000..=4999 => CloseCodeClass::Private,
            _ => CloseCodeClass::Invalid,
        }
    }

    /// Whether a code received in a Close frame is acceptable (CL-05): 1000-1003,
    /// 1007-1014 and 3000-4999. Everything else fails the connection with 1002.
    pub const fn is_valid_received(self) -> bool {
        matches!(
            self.class(),
            CloseCodeClass::Defined | CloseCodeClass::Registered | CloseCodeClass::Private
        )
    }

    /// Whether this endpoint may put the code on the wire (CL-06). The same set as
    /// [`is_valid_received`](Self::is_valid_received): never 1005, 1006, 1015, nor an
    /// unassigned or out-of-range value.
    pub const fn is_sendable(self) -> bool {
        self.is_valid_received()
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

/// The classification of a close code (RFC 6455 section 7.4.2 and the IANA registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCodeClass {
    /// 1000-1003 and 1007-1014: defined by RFC 6455 or registered with IANA later.
    Defined,
    /// 1005, 1006, 1015: reported locally, never valid on the wire.
    LocalOnly,
    /// 3000-3999: registered for libraries, frameworks and applications.
    Registered,
    /// 4000-4999: private use.
    Private,
    /// 0-999, 1004, 1016-2999 and 5000 and above: not to be sent, fails the connection when received.
    Invalid,
}

/// The body of a Close frame: a code and a UTF-8 reason of at most 123 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with a code and a reason, checked for sending (CL-03, CL-06).
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Result<Self, CloseFrameError> {
        let reason = reason.into();
        if !code.is_sendable() {
            return Err(CloseFrameError::UnsendableCode(code));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(CloseFrameError::ReasonTooLong(reason.len()));
        }
        Ok(Self { code, reason })
    }

    /// Parses a received Close payload (CL-02 to CL-05). An empty payload gives `None`.
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::CloseLengthOne),
            [hi, lo, reason @ ..] => {
                if payload.len() > MAX_CLOSE_PAYLOAD {
                    return Err(ProtocolError::ControlFrameTooLarge);
                }
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_received() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(Self {
                    code,
                    reason: Utf8Bytes::from(reason.to_owned()),
                }))
            }
        }
    }

    /// The encoded length of the body.
    pub fn encoded_len(&self) -> usize {
        2 + self.reason.len()
    }

    /// Appends the body (code then reason) to `dst`.
    pub fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.code.0);
        dst.put_slice(self.reason.as_bytes());
    }

    /// The encoded body as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        Bytes::from(out)
    }
}

/// Why a [`CloseFrame`] could not be built for sending.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseFrameError {
    /// The code may not be sent (1005, 1006, 1015, unassigned or out of range) (CL-06).
    #[error("close code {0} may not be sent")]
    UnsendableCode(CloseCode),
    /// The reason is over 123 bytes (CL-03).
    #[error("close reason is {0} bytes, the limit is 123")]
    ReasonTooLong(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    // CL-05: the Autobahn 7.7 codes are valid, 7.9 and 7.13 are not.
    #[test]
    fn cl05_received_code_classification() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(CloseCode(code).is_valid_received(), "{code} must be valid");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(
                !CloseCode(code).is_valid_received(),
                "{code} must be invalid"
            );
        }
    }

    // CL-06: local-only codes are never sendable.
    #[test]
    fn cl06_local_only_codes_not_sendable() {
        for code in [1005, 1006, 1015] {
            assert_eq!(CloseCode(code).class(), CloseCodeClass::LocalOnly);
            assert_eq!(
                CloseFrame::new(CloseCode(code), ""),
                Err(CloseFrameError::UnsendableCode(CloseCode(code)))
            );
        }
        assert!(CloseFrame::new(CloseCode(4000), "x").is_ok());
    }

    // CL-03: a reason of 123 bytes fits, 124 does not, to send and received; the body is the
    // code then the reason.
    #[test]
    fn cl03_reason_length_limit() {
        let longest = CloseFrame::new(CloseCode::NORMAL, "a".repeat(123)).unwrap();
        assert_eq!(longest.encoded_len(), 125);
        let mut body = Vec::new();
        longest.encode(&mut body);
        assert_eq!(body.len(), longest.encoded_len());
        assert_eq!(CloseFrame::parse(&body), Ok(Some(longest)));
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, "a".repeat(124)),
            Err(CloseFrameError::ReasonTooLong(124))
        );
        body.push(b'a');
        assert_eq!(
            CloseFrame::parse(&body),
            Err(ProtocolError::ControlFrameTooLarge)
        );
    }

    // The public conversions of close codes (no requirement of their own; CL-05's tests read
    // codes through them).
    #[test]
    fn close_codes_print_and_convert_as_their_number() {
        assert_eq!(CloseCode::NORMAL.to_string(), "1000");
        assert_eq!(format!("{:?}", CloseCode(4001)), "CloseCode(4001)");
        assert_eq!(u16::from(CloseCode::GOING_AWAY), 1001);
        assert_eq!(CloseCode::from(1011), CloseCode::INTERNAL_ERROR);
    }

    // CL-02, CL-04, CL-05: parse rules of a received body.
    #[test]
    fn cl02_cl04_parse_received_body() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[0x03]),
            Err(ProtocolError::CloseLengthOne)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff, 0xfe]),
            Err(ProtocolError::InvalidCloseReason)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xed]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        let parsed = CloseFrame::parse(&[0x0f, 0xa0, b'x']).unwrap().unwrap();
        assert_eq!(parsed.code, CloseCode(4000));
        assert_eq!(parsed.reason.as_str(), "x");
    }

    #[test]
    fn cl06_encode_code_and_reason() {
        let frame = CloseFrame::new(CloseCode(4000), "x").unwrap();
        assert_eq!(&frame.to_bytes()[..], &[0x0f, 0xa0, b'x']);
    }
}
