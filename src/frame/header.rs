//! Frame header parse and encode (RFC 6455 section 5.2). Pure functions, no allocation.

use super::codec::DecoderConfig;
use super::{MAX_CONTROL_PAYLOAD, OpCode, ProtocolError};

/// The longest header: 2 bytes, an 8-byte length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame header (FR-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final frame of a message.
    pub fin: bool,
    /// RSV1, RSV2 and RSV3 as the low three bits (RSV1 = `0b100`).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// The result of parsing a header from a prefix of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum HeaderStatus {
    /// More bytes are needed. Too few bytes is never an error.
    Partial,
    /// A complete, valid header that used `len` bytes.
    Complete {
        /// The header.
        header: FrameHeader,
        /// How many bytes of the input it used (2 to 14).
        len: usize,
    },
}

impl FrameHeader {
    /// Parses a header from the front of `buf`, applying every rule that can be decided from
    /// the header alone, as soon as the bytes that decide it are present:
    ///
    /// - byte 0: RSV bits not allowed by `config` (FR-03), reserved opcodes (FR-04), a
    ///   control frame without FIN (FR-16);
    /// - byte 1: the MASK bit against the role (FR-07, FR-08), a control frame declaring more
    ///   than 125 bytes (FR-15);
    /// - the extended length: the top bit of a 64-bit length (FR-13), a length not in its
    ///   minimal form (FR-12), a frame over `config.max_frame_size` (FR-14, close code 1009).
    ///
    /// **Strict length policy (FR-12).** RFC 6455 section 5.2 requires senders to use the
    /// minimal length encoding. This parser rejects any other encoding with
    /// [`ProtocolError::NonMinimalLength`] (close code 1002), so that a complete parse always
    /// re-encodes to exactly the bytes it consumed.
    #[inline]
    pub fn parse(buf: &[u8], config: &DecoderConfig) -> Result<HeaderStatus, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(HeaderStatus::Partial);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        if rsv & !config.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits(rsv & !config.allowed_rsv));
        }
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(HeaderStatus::Partial);
        };
        let masked = b1 & 0x80 != 0;
        if masked != config.expect_masked {
            return Err(if masked {
                ProtocolError::MaskedFrame
            } else {
                ProtocolError::UnmaskedFrame
            });
        }
        let len7 = b1 & 0x7f;
        if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            // 126 and 127 announce an extended length, which a control frame never has. The
            // error is decided here, from the second byte, whatever follows.
            return Err(ProtocolError::ControlFrameTooLarge);
        }
        let (payload_len, mut pos) = match len7 {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(HeaderStatus::Partial);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    // The top bit is decidable from the first length byte alone.
                    if buf.get(2).is_some_and(|b| b & 0x80 != 0) {
                        return Err(ProtocolError::LengthTopBitSet);
                    }
                    return Ok(HeaderStatus::Partial);
                };
                let len = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if len & (1 << 63) != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if payload_len > config.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                len: payload_len,
                max: config.max_frame_size,
            });
        }
        let mask = if masked {
            let Some(k) = buf.get(pos..pos + 4) else {
                return Ok(HeaderStatus::Partial);
            };
            pos += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(HeaderStatus::Complete {
            header: Self {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len: pos,
        })
    }

    /// The length of the encoded header: 2 to 14 bytes.
    pub const fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        if self.mask.is_some() { len + 4 } else { len }
    }

    /// Encodes the header with the minimal length form (FR-11) into `out` and returns the
    /// number of bytes written.
    ///
    /// The payload length must be below 2^63, since no valid frame can carry more: a larger
    /// value is a bug in the caller, caught by a `debug_assert!`; release builds clear the top
    /// bit.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        debug_assert!(self.payload_len < 1 << 63, "payload length out of range");
        debug_assert!(self.rsv <= 0b111, "RSV is three bits");
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&(len & !(1 << 63)).to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn server() -> DecoderConfig {
        DecoderConfig::new(Role::Server)
    }
    fn client() -> DecoderConfig {
        DecoderConfig::new(Role::Client)
    }

    fn complete(buf: &[u8], cfg: &DecoderConfig) -> (FrameHeader, usize) {
        match FrameHeader::parse(buf, cfg).unwrap() {
            HeaderStatus::Complete { header, len } => (header, len),
            HeaderStatus::Partial => panic!("partial"),
        }
    }

    // FR-01: the section 5.7 headers.
    #[test]
    fn fr01_rfc_examples() {
        let (h, n) = complete(&[0x81, 0x05], &client());
        assert_eq!(n, 2);
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.mask),
            (true, OpCode::Text, 5, None)
        );
        let (h, n) = complete(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d], &server());
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let (h, n) = complete(&[0x01, 0x03], &client());
        assert_eq!((n, h.fin, h.opcode), (2, false, OpCode::Text));
        let (h, _) = complete(&[0x80, 0x02], &client());
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        let (h, _) = complete(&[0x89, 0x05], &client());
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, n) = complete(&[0x82, 0x7e, 0x01, 0x00], &client());
        assert_eq!((n, h.payload_len), (4, 256));
        let (h, n) = complete(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0], &client());
        assert_eq!((n, h.payload_len), (10, 65536));
    }

    // FR-02: every strict prefix of a header is partial, never an error.
    #[test]
    fn fr02_prefixes_are_partial() {
        let full = [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for n in 0..full.len() {
            assert_eq!(
                FrameHeader::parse(&full[..n], &server()),
                Ok(HeaderStatus::Partial)
            );
        }
        let (h, len) = complete(&full, &server());
        assert_eq!((h.payload_len, len), (65536, 14));
    }

    // FR-11: minimal length encoding on send.
    #[test]
    fn fr11_minimal_length_encoding() {
        let cases: [(u64, &[u8]); 4] = [
            (125, &[0x82, 0x7d]),
            (126, &[0x82, 0x7e, 0x00, 0x7e]),
            (65535, &[0x82, 0x7e, 0xff, 0xff]),
            (65536, &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, expect) in cases {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            let mut out = [0; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            assert_eq!(&out[..n], expect, "length {len}");
            assert_eq!(h.encoded_len(), n);
        }
    }

    #[test]
    fn encode_masked_header_matches_rfc_example() {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Text,
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            payload_len: 5,
        };
        let mut out = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
    }

    // FR-13: decided from the first length byte, without waiting for the rest.
    #[test]
    fn fr13_top_bit_decided_early() {
        assert_eq!(
            FrameHeader::parse(&[0x82, 0x7f, 0x80], &client()),
            Err(ProtocolError::LengthTopBitSet)
        );
    }

    // FR-15: decided from the second byte for 126/127, whatever follows.
    #[test]
    fn fr15_control_length_decided_early() {
        for input in [
            &[0x89, 0x7e][..],
            &[0x89, 0x7e, 0x00, 0x7e],
            &[0x8a, 0x7f],
            &[0x88, 0x7e, 0xff],
        ] {
            assert_eq!(
                FrameHeader::parse(input, &client()),
                Err(ProtocolError::ControlFrameTooLarge),
                "{input:02x?}"
            );
        }
    }
}
