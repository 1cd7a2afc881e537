//! The receive side: frames to messages. Reassembly with limits, incremental fail-fast UTF-8
//! validation, whole or streaming delivery.

use bytes::{Bytes, BytesMut};

use crate::close::CloseFrame;
use crate::config::{Limits, ReceiveMode};
use crate::connection::Event;
use crate::extensions::Extension;
use crate::frame::{FrameDecoder, FrameHeader, Lent, OpCode, ProtocolError};
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// One thing decoded from the input.
#[derive(Debug)]
pub(crate) enum Received {
    /// A message, or a chunk of one in streaming mode.
    Data(Event),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<CloseFrame>),
}

/// The data message being received.
#[derive(Debug)]
struct InMessage {
    text: bool,
    /// Extension bits of its first frame: the message is transformed when non-zero.
    rsv: u8,
    /// Bytes charged against the message limit so far.
    charged: u64,
    /// Reassembled payload (whole mode, or a transformed message in any mode).
    data: BytesMut,
}

/// Frames to messages.
#[derive(Debug)]
pub(crate) struct Receiver {
    decoder: FrameDecoder,
    mode: ReceiveMode,
    message: Option<InMessage>,
    /// The header checks ran for the frame in progress.
    frame_checked: bool,
    /// Payload bytes of the frame in progress at the front of the buffer already validated.
    seen: usize,
    utf8: Utf8Validator,
    /// Streaming text: the start of a code point that ended the previous frame.
    carry: ([u8; 4], u8),
}

impl Receiver {
    pub(crate) fn new(decoder: FrameDecoder, mode: ReceiveMode) -> Self {
        Self {
            decoder,
            mode,
            message: None,
            frame_checked: false,
            seen: 0,
            utf8: Utf8Validator::default(),
            carry: ([0; 4], 0),
        }
    }

    /// Decodes the next message, message chunk or control frame from the front of `buf`.
    pub(crate) fn next(
        &mut self,
        buf: &mut BytesMut,
        mut ext: Option<&mut (dyn Extension + 'static)>,
        max_message_size: u64,
    ) -> Result<Option<Received>, ProtocolError> {
        loop {
            let Some(&header) = self.decoder.header(buf)? else {
                return Ok(None);
            };
            if !self.frame_checked {
                self.check_header(&header, max_message_size)?;
                self.frame_checked = true;
            }
            if header.opcode.is_control() {
                let Some(frame) = self.decoder.decode(buf)? else {
                    return Ok(None);
                };
                self.end_frame();
                return Ok(Some(match header.opcode {
                    OpCode::Ping => Received::Ping(frame.payload),
                    OpCode::Pong => Received::Pong(frame.payload),
                    _ => Received::Close(CloseFrame::parse(&frame.payload)?),
                }));
            }
            let transformed = self.message.as_ref().is_some_and(|m| m.rsv != 0);
            let got = if transformed || self.mode == ReceiveMode::Whole {
                self.whole_frame(buf, &header, ext.as_deref_mut(), max_message_size)?
            } else {
                self.streaming_frame(buf, &header)?
            };
            match got {
                Step::NeedMore => return Ok(None),
                Step::Continue => continue,
                Step::Deliver(event) => return Ok(Some(Received::Data(event))),
            }
        }
    }

    /// The rules decided from a data or control frame's header, once per frame.
    fn check_header(
        &mut self,
        header: &FrameHeader,
        max_message_size: u64,
    ) -> Result<(), ProtocolError> {
        // RSV bits an extension allowed are valid only on the first frame of a data message
        // (PMD-F-01); the decoder already rejected bits no extension allows (FR-03).
        if header.rsv != 0 && !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        match (header.opcode, &mut self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            // Streaming delivery has no message limit (messages may exceed memory); every
            // reassembled message is charged its payload plus a fixed overhead per fragment.
            (OpCode::Continuation, Some(message))
                if self.mode == ReceiveMode::Whole || message.rsv != 0 =>
            {
                message.charged = message
                    .charged
                    .saturating_add(header.payload_len)
                    .saturating_add(Limits::FRAGMENT_OVERHEAD);
                if message.charged > max_message_size {
                    return Err(ProtocolError::MessageTooLarge {
                        max: max_message_size,
                    });
                }
            }
            (OpCode::Text | OpCode::Binary, None) => {
                let whole = self.mode == ReceiveMode::Whole || header.rsv != 0;
                if whole && header.payload_len > max_message_size {
                    return Err(ProtocolError::MessageTooLarge {
                        max: max_message_size,
                    });
                }
                self.message = Some(InMessage {
                    text: header.opcode == OpCode::Text,
                    rsv: header.rsv,
                    charged: header.payload_len,
                    data: BytesMut::new(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn end_frame(&mut self) {
        self.frame_checked = false;
        self.seen = 0;
    }

    /// Whole-message delivery (and any transformed message).
    fn whole_frame(
        &mut self,
        buf: &mut BytesMut,
        header: &FrameHeader,
        ext: Option<&mut (dyn Extension + 'static)>,
        max_message_size: u64,
    ) -> Result<Step, ProtocolError> {
        let Some(message) = &mut self.message else {
            unreachable!("check_header starts a message for every data frame")
        };
        let validate = message.text && message.rsv == 0;
        // A fragmented message is appended straight from the input to its buffer (one copy,
        // no allocation per fragment); a single-frame message is taken whole.
        let fragmented = !header.fin || !message.data.is_empty();
        let start = message.data.len();
        let decoded = if fragmented {
            (self.decoder.decode_into(buf, &mut message.data)?).map(|_| Got::Appended)
        } else if validate {
            // A single-frame text message is validated once, as a whole; when it is copied
            // out of the input anyway, it is copied into a shared `str`, which the
            // application then reads without a second check.
            let copy = |payload: &[u8]| {
                simdutf8::basic::from_utf8(payload)
                    .map(Utf8Bytes::copy_from_str)
                    .map_err(|_| ProtocolError::InvalidUtf8)
            };
            (self.decoder.decode_lent(buf, copy)?).map(|lent| match lent {
                Lent::Copied(text) => Got::Text(text),
                Lent::Split(payload) => Got::Single(payload),
            })
        } else {
            (self.decoder.decode(buf)?).map(|frame| Got::Single(frame.payload))
        };
        let Some(got) = decoded else {
            // Fail fast on the payload received so far (FR-25).
            if validate && let Some((_, partial)) = self.decoder.partial_payload(buf) {
                self.utf8.feed(&partial[self.seen..])?;
                self.seen = partial.len();
            }
            return Ok(Step::NeedMore);
        };
        let single = match got {
            Got::Text(text) => {
                let text = text?;
                self.utf8 = Utf8Validator::default();
                self.end_frame();
                self.message = None;
                return Ok(Step::Deliver(Event::Text(text)));
            }
            Got::Single(payload) => Some(payload),
            Got::Appended => None,
        };
        if validate {
            let payload = single.as_deref().unwrap_or(&message.data[start..]);
            self.utf8.feed(&payload[self.seen..])?;
        }
        self.end_frame();
        if !header.fin {
            return Ok(Step::Continue);
        }
        let Some(message) = self.message.take() else {
            unreachable!("check_header starts a message for every data frame")
        };
        let payload = match single {
            Some(payload) => payload,
            None => message.data.freeze(),
        };
        let payload = match (message.rsv, ext) {
            (0, _) => payload,
            (rsv, Some(ext)) => ext.decode_message(rsv, payload, max_message_size)?,
            (rsv, None) => return Err(ProtocolError::ReservedBits(rsv)),
        };
        Ok(Step::Deliver(if message.text {
            if validate {
                self.utf8.finish()?;
            } else {
                simdutf8::basic::from_utf8(&payload).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Event::Text(Utf8Bytes::from_bytes_unchecked(payload))
        } else {
            Event::Binary(payload)
        }))
    }

    /// Streaming delivery of an untransformed data frame.
    fn streaming_frame(
        &mut self,
        buf: &mut BytesMut,
        header: &FrameHeader,
    ) -> Result<Step, ProtocolError> {
        let text = self.message.as_ref().is_some_and(|m| m.text);
        let Some(frame) = self.decoder.decode(buf)? else {
            let Some((_, partial)) = self.decoder.partial_payload(buf) else {
                return Ok(Step::NeedMore);
            };
            let available = partial.len();
            let deliverable = if text {
                self.utf8.feed(&partial[self.seen..])?;
                self.seen = available;
                available - self.utf8.pending().len().min(available)
            } else {
                available
            };
            if deliverable == 0 {
                return Ok(Step::NeedMore);
            }
            let data = self.decoder.take_partial(buf, deliverable);
            self.seen -= deliverable.min(self.seen);
            return Ok(Step::Deliver(self.chunk(text, data, false, false)));
        };
        let fin = header.fin;
        let mut payload = frame.payload;
        if text {
            self.utf8.feed(&payload[self.seen..])?;
            if fin {
                self.utf8.finish()?;
            }
        }
        self.end_frame();
        let mut next_carry = ([0; 4], 0);
        if text && !fin {
            let held = self.utf8.pending();
            let in_frame = held.len().min(payload.len());
            next_carry.0[..held.len()].copy_from_slice(held);
            next_carry.1 = held.len() as u8;
            if held.len() > payload.len() {
                // The previous carry is still incomplete: it moves on with this frame's bytes.
                self.carry = ([0; 4], 0);
            }
            payload.truncate(payload.len() - in_frame);
        }
        if fin {
            self.message = None;
        }
        let event = if payload.is_empty() && self.carry.1 == 0 && !fin {
            None
        } else {
            Some(self.chunk(text, payload, true, fin))
        };
        self.carry = next_carry;
        Ok(event.map_or(Step::Continue, Step::Deliver))
    }

    /// A chunk event, with any carried start of a code point put in front.
    fn chunk(&mut self, text: bool, data: Bytes, frame_fin: bool, fin: bool) -> Event {
        if !text {
            return Event::BinaryChunk {
                data,
                frame_fin,
                fin,
            };
        }
        let data = if self.carry.1 == 0 {
            data
        } else {
            let mut joined = BytesMut::with_capacity(self.carry.1 as usize + data.len());
            joined.extend_from_slice(&self.carry.0[..self.carry.1 as usize]);
            joined.extend_from_slice(&data);
            self.carry = ([0; 4], 0);
            joined.freeze()
        };
        Event::TextChunk {
            data: Utf8Bytes::from_bytes_unchecked(data),
            frame_fin,
            fin,
        }
    }

    /// Payload bytes of the frame in progress still expected, or 0 between frames.
    pub(crate) fn payload_remaining(&self) -> u64 {
        self.decoder.payload_remaining()
    }

    /// Heap bytes held for a message in progress.
    pub(crate) fn heap_capacity(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.capacity())
    }

    /// Lets an extension's RSV bits through the decoder.
    pub(crate) fn allow_rsv(&mut self, bits: u8) {
        let mut config = *self.decoder.config();
        config.allowed_rsv = bits;
        self.decoder.set_config(config);
    }
}

/// A data frame completed by [`Receiver::whole_frame`].
enum Got {
    /// Appended to the message being reassembled.
    Appended,
    /// The payload of a single-frame message.
    Single(Bytes),
    /// A single-frame text message, validated and copied.
    Text(Result<Utf8Bytes, ProtocolError>),
}

enum Step {
    NeedMore,
    Continue,
    Deliver(Event),
}
