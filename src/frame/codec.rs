//! The incremental decoder over the caller's `BytesMut` and the encoder into an output buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::header::{FrameHeader, HeaderStatus, MAX_HEADER_LEN};
use super::mask::{apply_mask, extend_unmasked, extend_unmasked_reused};
use super::{OpCode, ProtocolError};
use crate::Role;

/// The default largest frame: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: u64 = 16 << 20;

/// Payloads shorter than this are copied out of the input buffer rather than split off, so
/// that a small delivered message never keeps a large read buffer alive.
const ZERO_COPY_MIN: usize = 4096;

/// The rules the decoder applies to each header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Frames must carry a mask (we are the server) or must not (we are the client)
    /// (FR-07, FR-08).
    pub expect_masked: bool,
    /// The RSV bits a negotiated extension defines (low three bits, RSV1 = `0b100`). Any
    /// other RSV bit fails the frame (FR-03).
    pub allowed_rsv: u8,
    /// The largest payload a single frame may declare (FR-14, close code 1009).
    pub max_frame_size: u64,
}

impl DecoderConfig {
    /// The rules for a decoder acting as `role`: no extension bits, a 16 MiB frame limit.
    pub const fn new(role: Role) -> Self {
        Self {
            expect_masked: matches!(role, Role::Server),
            allowed_rsv: 0,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

/// A decoded frame: its header and its unmasked payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The header as received (the mask key is kept; the payload is already unmasked).
    pub header: FrameHeader,
    /// The unmasked payload.
    pub payload: Bytes,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Waiting for a complete header at the front of the buffer.
    Header,
    /// The header was consumed; the payload follows at the front of the buffer.
    Payload {
        header: FrameHeader,
        /// Payload bytes not yet consumed from the buffer.
        remaining: u64,
        /// Payload bytes consumed so far (in streaming mode), for the mask phase.
        consumed: u64,
        /// How many bytes at the front of the buffer are already unmasked.
        unmasked: usize,
    },
}

/// An incomplete payload is unmasked in place once this much of it waits (the rest when the
/// frame completes, or when [`FrameDecoder::partial_payload`] shows it).
///
/// Unmasking each read as it arrived interleaved our pass with the caller's read copies,
/// which then ran ~20% slower (glibc's `memmove` streams best back to back; perf and a C
/// microbenchmark, AMD Zen 5); unmasking a 1 MiB payload only when complete reads it back
/// from past L2. Blocks of 256 KiB stay in L2 and interrupt the reads a quarter as often:
/// criterion `server_receive/binary_1MiB_in_64KiB_reads` 53.6-54.5 -> 51.2-51.4 us (input
/// in cache: 40.0-41.6 -> 39.9-40.6 us), compare decode 1 MiB 0.95x -> 1.01-1.03x of
/// tokio-websockets, 1024 MiB over a loopback socket median 186 -> 180 ms.
#[cfg(not(fuzzing))]
const UNMASK_BLOCK: usize = 256 * 1024;
/// Fuzz inputs are small: a block of a few bytes unmasks them in pieces at every phase.
#[cfg(fuzzing)]
const UNMASK_BLOCK: usize = 5;

/// An incremental frame decoder over the caller's [`BytesMut`].
///
/// [`decode`](Self::decode) consumes complete frames from the front of the buffer,
/// unmasking their payload in place and splitting it off without copying (payloads under
/// 4 KiB are copied instead, so a small message never pins a large read buffer). A frame's
/// header is consumed as soon as it is complete and validated; the rest of an incomplete
/// frame stays in the buffer. Feeding the same bytes in any split, down to one byte at a
/// time, yields the same frames and the same error (FR-02).
///
/// Pass the same buffer on every call: the decoder remembers how many of its front bytes
/// belong to the frame in progress and are already unmasked (a different buffer is misuse
/// and may panic).
///
/// Every rule of [`FrameHeader::parse`] is applied before any payload byte is looked at or
/// any memory is reserved. After an error, the decoder's state is unspecified: stop using it.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    config: DecoderConfig,
    state: State,
    seen: Seen,
}

/// The caller's buffer as this decoder has seen it: where its allocation ends (the low 32
/// bits of the address, which tell allocations apart well enough for a size decision) and
/// how far before that end the first view of it began. A payload split off without a copy
/// keeps the whole allocation alive, the bytes consumed before it included, so the decision
/// to split counts those too. Eight bytes: the connection stays within 512.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    end: u32,
    span: u32,
}

impl Seen {
    /// Notes where `buf` is: a view of the allocation seen before (its front moved forward
    /// as bytes were consumed, its end unchanged), or a new one (the caller's buffer was
    /// reallocated, or reclaimed its consumed front). Called on entry with the caller's
    /// buffer, before anything is consumed.
    #[inline]
    fn observe(&mut self, buf: &BytesMut) {
        let (end, room) = Self::locate(buf);
        // A front that moved back (more room than before) is a reclaimed buffer.
        if end != self.end || room > self.span {
            *self = Self { end, span: room };
        }
    }

    /// Bytes of `buf`'s allocation before its front that were consumed since
    /// [`observe`](Self::observe) first saw it (0 for an allocation not seen).
    #[inline]
    fn consumed_before(&self, buf: &BytesMut) -> usize {
        let (end, room) = Self::locate(buf);
        if end == self.end && room <= self.span {
            (self.span - room) as usize
        } else {
            0
        }
    }

    /// The low 32 bits of the address where `buf`'s allocation ends, and the room from its
    /// front to there (capped at `u32::MAX`).
    #[inline]
    fn locate(buf: &BytesMut) -> (u32, u32) {
        let end = (buf.as_ptr() as usize).wrapping_add(buf.capacity());
        (
            end as u32,
            u32::try_from(buf.capacity()).unwrap_or(u32::MAX),
        )
    }

    /// Whether a payload of `n` bytes at the front of `buf` is split off without copying:
    /// when it is large and dominates the allocation, the bytes consumed ahead of the front
    /// included. Otherwise it is copied, so it does not pin the buffer.
    #[inline]
    fn keeps_in_place(&self, buf: &BytesMut, n: usize) -> bool {
        // `capacity` covers the view of the buffer from its front to the allocation's end,
        // filled or not; a split-off payload keeps the consumed bytes before it alive too.
        n >= ZERO_COPY_MIN
            && n.saturating_mul(2) >= buf.capacity().saturating_add(self.consumed_before(buf))
    }

    /// Takes `n` bytes from the front of `buf`, without copying if
    /// [`keeps_in_place`](Self::keeps_in_place).
    fn split_payload(&self, buf: &mut BytesMut, n: usize) -> Bytes {
        if self.keeps_in_place(buf, n) {
            buf.split_to(n).freeze()
        } else {
            let out = Bytes::copy_from_slice(&buf[..n]);
            buf.advance(n);
            out
        }
    }
}

impl FrameDecoder {
    /// A decoder applying `config`.
    pub const fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            state: State::Header,
            seen: Seen { end: 0, span: 0 },
        }
    }

    /// The rules in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Changes the rules for the frames that follow (e.g. after an extension is negotiated).
    pub fn set_config(&mut self, config: DecoderConfig) {
        self.config = config;
    }

    /// Notes where the caller's buffer is, before anything of it is consumed: see
    /// [`Seen::observe`].
    #[inline]
    pub(crate) fn observe(&mut self, buf: &BytesMut) {
        self.seen.observe(buf);
    }

    /// Appends `read`, bytes just received from the peer, to `buf`: what
    /// `buf.extend_from_slice(read)` does, and the next [`decode`](Self::decode) returns the
    /// same frames, but payload bytes of a large masked frame are unmasked as they are copied,
    /// one pass over them instead of a copy and then an unmask in place.
    ///
    /// The bytes are copied unmasked while `buf` holds nothing but the unmasked front of the
    /// payload in progress (a large frame read in several pieces), and from a read that
    /// starts a new masked frame of at least 4 KiB while `buf` is empty; that frame's header
    /// is then taken from `read` at once, as [`decode`](Self::decode) would take it, and
    /// never enters `buf`. A header that breaks a rule is appended like any other bytes, for
    /// `decode` to report. Everything else is appended as it is.
    pub fn extend_from_read(&mut self, buf: &mut BytesMut, mut read: &[u8]) {
        if buf.is_empty()
            && let State::Header = self.state
            && let Ok(HeaderStatus::Complete { header, len }) =
                FrameHeader::parse(read, &self.config)
            && header.mask.is_some()
            && header.payload_len >= ZERO_COPY_MIN as u64
        {
            self.state = State::Payload {
                header,
                remaining: header.payload_len,
                consumed: 0,
                unmasked: 0,
            };
            read = &read[len..];
        }
        if let State::Payload {
            header: FrameHeader {
                mask: Some(key), ..
            },
            remaining,
            consumed,
            unmasked,
        } = &mut self.state
            && *unmasked == buf.len()
        {
            let missing = usize::try_from(*remaining).map_or(usize::MAX, |r| r - buf.len());
            let (payload, rest) = read.split_at(missing.min(read.len()));
            extend_unmasked_reused(buf, payload, *key, phase(*consumed, *unmasked));
            *unmasked += payload.len();
            read = rest;
        }
        buf.extend_from_slice(read);
    }

    /// Decodes the next complete frame from the front of `buf`, or returns `None` when more
    /// bytes are needed. Bytes of an incomplete payload are unmasked in place in blocks of
    /// 256 KiB as they arrive, the rest when the frame completes; they can be inspected (and
    /// are then unmasked) with [`partial_payload`](Self::partial_payload).
    ///
    /// The two ways of decoding may be mixed between frames, and also within one: after
    /// [`decode_chunk`](Self::decode_chunk) has taken part of a frame, `decode` returns the
    /// rest of it, so the returned payload is then shorter than `header.payload_len`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        self.observe(buf);
        let Some(done) = self.complete_frame(buf)? else {
            return Ok(None);
        };
        let payload = match done.header.mask {
            // The payload is copied out anyway: unmask the copy piece by piece while it is in
            // L1, rather than unmasking in place and then copying (two passes).
            Some(key) if !self.seen.keeps_in_place(buf, done.len) => {
                copy_unmasked(buf, done.len, done.unmasked, key, done.key_phase)
            }
            Some(key) => {
                apply_mask(&mut buf[done.unmasked..done.len], key, done.key_phase);
                self.seen.split_payload(buf, done.len)
            }
            None => self.seen.split_payload(buf, done.len),
        };
        Ok(Some(Frame {
            header: done.header,
            payload,
        }))
    }

    /// Like [`decode`](Self::decode), but appends the completed frame's payload, unmasked, to
    /// `dst`, a message being reassembled that may grow to `max_len` bytes, instead of
    /// returning it: reassembly copies each fragment once, with no allocation per fragment.
    pub(crate) fn decode_into(
        &mut self,
        buf: &mut BytesMut,
        dst: &mut BytesMut,
        max_len: u64,
    ) -> Result<Option<FrameHeader>, ProtocolError> {
        let Some(done) = self.complete_frame(buf)? else {
            return Ok(None);
        };
        reserve_reassembly(dst, done.len, max_len);
        dst.extend_from_slice(&buf[..done.unmasked]);
        match done.header.mask {
            Some(key) => extend_unmasked(dst, &buf[done.unmasked..done.len], key, done.key_phase),
            None => dst.extend_from_slice(&buf[done.unmasked..done.len]),
        }
        buf.advance(done.len);
        Ok(Some(done.header))
    }

    /// The next frame, when the decoder is between frames and that frame is complete at the
    /// front of `input`: its header and the header's length. Nothing is consumed, and a header
    /// error is the one [`header`](Self::header) would report. With
    /// [`unmask_payload_into`](Self::unmask_payload_into), a caller reassembles a run of
    /// complete frames without passing each through the decoder's state, then consumes them
    /// all at once.
    #[inline]
    pub(crate) fn peek_complete(
        &self,
        input: &[u8],
    ) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        if !self.is_idle() {
            return Ok(None);
        }
        let HeaderStatus::Complete { header, len } = FrameHeader::parse(input, &self.config)?
        else {
            return Ok(None);
        };
        let complete = ((input.len() - len) as u64) >= header.payload_len;
        Ok(complete.then_some((header, len)))
    }

    /// The header of the frame in progress, or else of the frame at the front of `input`,
    /// which stays unconsumed; `None` while that header is incomplete.
    #[inline]
    pub(crate) fn peek_header(&self, input: &[u8]) -> Result<Option<FrameHeader>, ProtocolError> {
        Ok(match self.state {
            State::Payload { header, .. } => Some(header),
            State::Header => match FrameHeader::parse(input, &self.config)? {
                HeaderStatus::Complete { header, .. } => Some(header),
                HeaderStatus::Partial => None,
            },
        })
    }

    /// Appends the payload of the frame that [`peek_complete`](Self::peek_complete) just
    /// returned for `input` to `dst`, unmasked, as [`decode_into`](Self::decode_into) does,
    /// and returns the frame's length (header and payload) for the caller to consume.
    #[inline]
    pub(crate) fn unmask_payload_into(
        input: &[u8],
        header: &FrameHeader,
        header_len: usize,
        dst: &mut BytesMut,
        max_len: u64,
    ) -> usize {
        // `peek_complete` found the whole payload in `input`, so its length fits.
        let end = header_len + header.payload_len as usize;
        let payload = &input[header_len..end];
        reserve_reassembly(dst, payload.len(), max_len);
        match header.mask {
            Some(key) => extend_unmasked(dst, payload, key, 0),
            None => dst.extend_from_slice(payload),
        }
        end
    }

    /// Completes the frame in progress like [`decode`](Self::decode), but a payload that
    /// `decode` would copy out is unmasked in place and lent to `copy`, which makes a copy of
    /// its own; a payload that is split off whole comes back as `Bytes`.
    pub(crate) fn decode_lent<T>(
        &mut self,
        buf: &mut BytesMut,
        copy: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<Lent<T>>, ProtocolError> {
        let Some(done) = self.complete_frame(buf)? else {
            return Ok(None);
        };
        if let Some(key) = done.header.mask {
            apply_mask(&mut buf[done.unmasked..done.len], key, done.key_phase);
        }
        if self.seen.keeps_in_place(buf, done.len) {
            return Ok(Some(Lent::Split(self.seen.split_payload(buf, done.len))));
        }
        let copied = copy(&buf[..done.len]);
        buf.advance(done.len);
        Ok(Some(Lent::Copied(copied)))
    }

    /// Unmasks in place what has arrived of an incomplete frame; once the frame's payload is
    /// complete at the front of `buf`, readies the decoder for the next frame and says where
    /// the payload is (its tail still masked).
    ///
    /// Inlined, and a header parsed here stays in locals unless the frame is incomplete: a
    /// header or a result written to memory and read back at once stalled the loads (store
    /// forwarding; perf, 64 KiB frames with the input in cache).
    #[inline(always)]
    fn complete_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Complete>, ProtocolError> {
        let (header, remaining, consumed, unmasked) = match self.state {
            State::Payload {
                header,
                remaining,
                consumed,
                unmasked,
            } => (header, remaining, consumed, unmasked),
            State::Header => match self.take_header(buf)? {
                Some(header) => (header, header.payload_len, 0, 0),
                None => return Ok(None),
            },
        };
        let available = in_front(buf, remaining);
        if (available as u64) < remaining {
            self.state = State::Payload {
                header,
                remaining,
                consumed,
                unmasked,
            };
            if available - unmasked >= UNMASK_BLOCK {
                self.unmask_to(buf, available);
            }
            return Ok(None);
        }
        self.state = State::Header;
        Ok(Some(Complete {
            header,
            len: available,
            unmasked,
            key_phase: phase(consumed, unmasked),
        }))
    }

    /// The header of the frame in progress and its payload bytes received so far, unmasked in
    /// place (those not yet unmasked are unmasked now), when a frame's header has been
    /// decoded but its payload is incomplete. Call after [`decode`](Self::decode) returned
    /// `None`; the slice grows until the frame completes.
    pub fn partial_payload<'b>(
        &mut self,
        buf: &'b mut BytesMut,
    ) -> Option<(&FrameHeader, &'b [u8])> {
        let available = self.payload_available(buf);
        self.unmask_to(buf, available);
        match &self.state {
            State::Payload { header, .. } => Some((header, &buf[..available])),
            State::Header => None,
        }
    }

    /// How many bytes at the front of `buf` belong to the payload of the frame in progress.
    fn payload_available(&self, buf: &[u8]) -> usize {
        match self.state {
            State::Payload { remaining, .. } => in_front(buf, remaining),
            State::Header => 0,
        }
    }

    /// Unmasks in place the payload bytes of the frame in progress up to `end`.
    fn unmask_to(&mut self, buf: &mut [u8], end: usize) {
        if let State::Payload {
            header,
            consumed,
            unmasked,
            ..
        } = &mut self.state
        {
            if let Some(key) = header.mask {
                apply_mask(&mut buf[*unmasked..end], key, phase(*consumed, *unmasked));
            }
            *unmasked = end;
        }
    }

    /// Streaming decode: splits off whatever payload of the current frame is available.
    ///
    /// Returns a chunk as soon as at least one payload byte is present (or at once for an
    /// empty frame), with flags telling whether it is the first and the last chunk of its
    /// frame. `None` means more bytes are needed.
    pub fn decode_chunk(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<FrameChunk>, ProtocolError> {
        self.observe(buf);
        self.parse_header(buf)?;
        let available = self.payload_available(buf);
        if matches!(self.state, State::Payload { remaining, .. } if available == 0 && remaining > 0)
        {
            return Ok(None);
        }
        self.unmask_to(buf, available);
        let State::Payload {
            header,
            remaining,
            consumed,
            unmasked,
        } = &mut self.state
        else {
            return Ok(None);
        };
        let chunk = FrameChunk {
            header: *header,
            first: *consumed == 0,
            last: available as u64 == *remaining,
            payload: self.seen.split_payload(buf, available),
        };
        *remaining -= available as u64;
        *consumed += available as u64;
        *unmasked = 0;
        if chunk.last {
            self.state = State::Header;
        }
        Ok(Some(chunk))
    }

    /// Parses the next frame's header if none is in progress, and returns the header of the
    /// frame in progress (`None`: the header is not complete yet).
    pub fn header(&mut self, buf: &mut BytesMut) -> Result<Option<&FrameHeader>, ProtocolError> {
        self.parse_header(buf)?;
        Ok(match &self.state {
            State::Payload { header, .. } => Some(header),
            State::Header => None,
        })
    }

    /// Splits off the first `n` payload bytes of the frame in progress. They must already be
    /// unmasked: `n` is at most the length of [`partial_payload`](Self::partial_payload).
    ///
    /// # Panics
    /// If `n` is larger than the unmasked bytes available.
    pub fn take_partial(&mut self, buf: &mut BytesMut, n: usize) -> Bytes {
        self.observe(buf);
        let State::Payload {
            remaining,
            consumed,
            unmasked,
            ..
        } = &mut self.state
        else {
            assert_eq!(n, 0, "no frame in progress");
            return Bytes::new();
        };
        assert!(n <= *unmasked, "took more payload than is unmasked");
        *remaining -= n as u64;
        *consumed += n as u64;
        *unmasked -= n;
        if *remaining == 0 {
            self.state = State::Header;
        }
        self.seen.split_payload(buf, n)
    }

    /// Payload bytes of the current frame still expected, or 0 between frames. A caller can
    /// use it to size its next read.
    pub fn payload_remaining(&self) -> u64 {
        match self.state {
            State::Payload { remaining, .. } => remaining,
            State::Header => 0,
        }
    }

    /// Whether the decoder is between frames (no header consumed for an unfinished frame).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header)
    }

    fn parse_header(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        if let State::Header = self.state
            && let Some(header) = self.take_header(buf)?
        {
            self.state = State::Payload {
                header,
                remaining: header.payload_len,
                consumed: 0,
                unmasked: 0,
            };
        }
        Ok(())
    }

    /// Parses the header at the front of `buf` and consumes it, once it is complete; the
    /// caller records it (or not, see [`complete_frame`](Self::complete_frame)).
    #[inline(always)]
    fn take_header(&self, buf: &mut BytesMut) -> Result<Option<FrameHeader>, ProtocolError> {
        Ok(match FrameHeader::parse(buf, &self.config)? {
            HeaderStatus::Complete { header, len } => {
                buf.advance(len);
                Some(header)
            }
            HeaderStatus::Partial => None,
        })
    }
}

/// How many bytes at the front of `buf` belong to a payload with `remaining` bytes to come.
#[inline(always)]
fn in_front(buf: &[u8], remaining: u64) -> usize {
    buf.len()
        .min(usize::try_from(remaining).unwrap_or(usize::MAX))
}

/// The mask phase of the byte at `offset` in the buffer, given how much of the frame's
/// payload was consumed before the buffer's front.
fn phase(consumed: u64, offset: usize) -> usize {
    ((consumed as usize) & 3).wrapping_add(offset) & 3
}

/// Takes `n` bytes from the front of `buf` as a copy, of which the first `unmasked` are
/// already unmasked; the rest is unmasked in the copy, starting at key phase `key_phase`.
fn copy_unmasked(
    buf: &mut BytesMut,
    n: usize,
    unmasked: usize,
    key: [u8; 4],
    key_phase: usize,
) -> Bytes {
    let mut out = BytesMut::with_capacity(n);
    out.extend_from_slice(&buf[..unmasked]);
    extend_unmasked(&mut out, &buf[unmasked..n], key, key_phase);
    buf.advance(n);
    out.freeze()
}

/// Makes room in `dst`, a message being reassembled that may grow to `max_len` bytes, for
/// `additional` more. The capacity doubles (glibc grows large blocks in place; a 4x step
/// measured no faster on the fragments row and doubles the peak), but never past `max_len`
/// (the caller checked the message limit already).
#[inline(always)]
fn reserve_reassembly(dst: &mut BytesMut, additional: usize, max_len: u64) {
    if dst.len() + additional > dst.capacity() {
        grow_reassembly(dst, additional, max_len);
    }
}

/// [`reserve_reassembly`] when the capacity is short.
fn grow_reassembly(dst: &mut BytesMut, additional: usize, max_len: u64) {
    let needed = dst.len() + additional;
    let limit = usize::try_from(max_len).unwrap_or(usize::MAX).max(needed);
    let target = dst.len().saturating_mul(2).clamp(needed, limit);
    if dst.capacity().saturating_mul(2) > limit {
        // `reserve` would at least double the capacity, past the limit: grow exactly.
        let mut grown = BytesMut::with_capacity(target);
        grown.extend_from_slice(dst);
        *dst = grown;
    } else {
        dst.reserve(target - dst.len());
    }
}

/// A completed payload from [`FrameDecoder::decode_lent`].
pub(crate) enum Lent<T> {
    /// The borrower's copy.
    Copied(T),
    /// Split off the input without a copy.
    Split(Bytes),
}

/// A frame whose payload is complete at the front of the buffer.
struct Complete {
    header: FrameHeader,
    /// The payload length.
    len: usize,
    /// How many payload bytes at the front are unmasked already.
    unmasked: usize,
    /// The key phase of the first masked byte.
    key_phase: usize,
}

/// A piece of a frame's payload, from [`FrameDecoder::decode_chunk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameChunk {
    /// The frame's header.
    pub header: FrameHeader,
    /// The first chunk of the frame.
    pub first: bool,
    /// The last chunk of the frame.
    pub last: bool,
    /// Unmasked payload bytes.
    pub payload: Bytes,
}

/// A source of masking keys for client frames (FR-10, SEC-01).
///
/// The default, [`OsMaskKeys`], is cryptographically secure. Inject another source only for
/// deterministic tests.
pub trait MaskKeySource: Send {
    /// A fresh key for the next frame.
    fn next_key(&mut self) -> [u8; 4];
}

/// Masking keys from `rand`'s thread-local generator: a CSPRNG seeded and periodically
/// reseeded from the operating system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsMaskKeys;

impl MaskKeySource for OsMaskKeys {
    fn next_key(&mut self) -> [u8; 4] {
        use rand::Rng;
        rand::rng().next_u32().to_ne_bytes()
    }
}

impl<F: FnMut() -> [u8; 4] + Send> MaskKeySource for F {
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// Encodes frames for one role: server frames unmasked, client frames masked with a fresh
/// key per frame (FR-05, FR-06, FR-10).
pub struct FrameEncoder {
    role: Role,
    keys: Box<dyn MaskKeySource>,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl FrameEncoder {
    /// An encoder for `role`, masking (as a client) with keys from [`OsMaskKeys`].
    pub fn new(role: Role) -> Self {
        Self::with_mask_keys(role, Box::new(OsMaskKeys))
    }

    /// An encoder with an injected key source (for deterministic tests).
    pub fn with_mask_keys(role: Role, keys: Box<dyn MaskKeySource>) -> Self {
        Self { role, keys }
    }

    /// The role this encoder writes for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The header for a frame of this role: a fresh masking key when we are the client.
    pub fn header(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv,
            opcode,
            mask: match self.role {
                Role::Client => Some(self.keys.next_key()),
                Role::Server => None,
            },
            payload_len,
        }
    }

    /// Appends a complete frame to `dst`: the header, then the payload, masked in `dst`
    /// when we are the client (the caller's buffer is never modified, SEC-02). Does not
    /// allocate when `dst` has room for the frame.
    pub fn encode(
        &mut self,
        dst: &mut BytesMut,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: &[u8],
    ) {
        let header = self.header(fin, rsv, opcode, payload.len() as u64);
        encode_frame(dst, &header, payload);
    }

    /// Appends only the header to `dst`, for a payload the caller sends separately without a
    /// copy. Only for the server role, whose payloads are not masked.
    ///
    /// # Panics
    /// On a client encoder: a client's frames are always masked (RFC 6455 section 5.3), and
    /// this would write one that is not, in release builds too.
    pub fn encode_header_unmasked(
        &mut self,
        dst: &mut BytesMut,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload_len: u64,
    ) {
        assert!(
            matches!(self.role, Role::Server),
            "client frames must be masked"
        );
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: None,
            payload_len,
        };
        let mut out = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        dst.extend_from_slice(&out[..n]);
    }
}

/// Appends `header` and `payload` to `dst`, masking the payload in `dst` if the header has a
/// key.
pub(crate) fn encode_frame(dst: &mut BytesMut, header: &FrameHeader, payload: &[u8]) {
    let mut out = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut out);
    dst.reserve(n + payload.len());
    dst.extend_from_slice(&out[..n]);
    match header.mask {
        Some(key) => extend_unmasked(dst, payload, key, 0),
        None => dst.put_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        cfg: DecoderConfig,
        input: &[u8],
        chunk: usize,
    ) -> Result<Vec<Frame>, ProtocolError> {
        let mut dec = FrameDecoder::new(cfg);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(f) = dec.decode(&mut buf)? {
                out.push(f);
            }
        }
        Ok(out)
    }

    // FR-01, FR-09: the section 5.7 examples, decode.
    #[test]
    fn fr01_rfc_examples_decode() {
        let client = DecoderConfig::new(Role::Client);
        let server = DecoderConfig::new(Role::Server);
        let f = decode_all(client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], 64).unwrap();
        assert_eq!(&f[0].payload[..], b"Hello");
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        for chunk in 1..=masked.len() {
            let f = decode_all(server, &masked, chunk).unwrap();
            assert_eq!(&f[0].payload[..], b"Hello", "chunk {chunk}");
        }
        let frag = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        let f = decode_all(client, &frag, 1).unwrap();
        assert_eq!((f[0].header.fin, &f[0].payload[..]), (false, &b"Hel"[..]));
        assert_eq!(
            (f[1].header.opcode, &f[1].payload[..]),
            (OpCode::Continuation, &b"lo"[..])
        );
        let mut big = vec![0x82, 0x7e, 0x01, 0x00];
        big.extend((0..256).map(|i| i as u8));
        let f = decode_all(client, &big, 7).unwrap();
        assert_eq!(f[0].payload.len(), 256);
        let mut huge = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        huge.extend(std::iter::repeat_n(0xab, 65536));
        let f = decode_all(client, &huge, 4096).unwrap();
        assert_eq!(f[0].payload.len(), 65536);
    }

    // FR-01, FR-09: the section 5.7 examples, encode.
    #[test]
    fn fr01_rfc_examples_encode() {
        let mut server = FrameEncoder::new(Role::Server);
        let mut out = BytesMut::new();
        server.encode(&mut out, true, 0, OpCode::Text, b"Hello");
        assert_eq!(&out[..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let mut client =
            FrameEncoder::with_mask_keys(Role::Client, Box::new(|| [0x37, 0xfa, 0x21, 0x3d]));
        let mut out = BytesMut::new();
        client.encode(&mut out, true, 0, OpCode::Text, b"Hello");
        assert_eq!(
            &out[..],
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let mut out = BytesMut::new();
        server.encode(&mut out, false, 0, OpCode::Text, b"Hel");
        server.encode(&mut out, true, 0, OpCode::Continuation, b"lo");
        assert_eq!(
            &out[..],
            &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
        );
        let mut out = BytesMut::new();
        server.encode(&mut out, true, 0, OpCode::Ping, b"Hello");
        assert_eq!(&out[..], &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let mut out = BytesMut::new();
        client.encode(&mut out, true, 0, OpCode::Pong, b"Hello");
        assert_eq!(
            &out[..],
            &[
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn encode_small_frame_does_not_allocate_with_room() {
        let mut server = FrameEncoder::new(Role::Server);
        let mut out = BytesMut::with_capacity(64);
        let ptr = out.as_ptr();
        server.encode(&mut out, true, 0, OpCode::Binary, &[1; 16]);
        assert_eq!(out.as_ptr(), ptr, "the buffer was reallocated");
    }

    #[test]
    fn partial_payload_is_unmasked_as_it_arrives() {
        let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut buf = BytesMut::from(&masked[..8]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        let (h, seen) = dec.partial_payload(&mut buf).unwrap();
        assert_eq!((h.opcode, seen), (OpCode::Text, &b"He"[..]));
        buf.extend_from_slice(&masked[8..10]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(dec.partial_payload(&mut buf).unwrap().1, b"Hell");
        buf.extend_from_slice(&masked[10..]);
        assert_eq!(
            &dec.decode(&mut buf).unwrap().unwrap().payload[..],
            b"Hello"
        );
        assert!(dec.is_idle() && buf.is_empty());
    }

    #[test]
    fn incomplete_payload_is_unmasked_in_blocks() {
        // FR-09 (the key index carries on across chunks), FR-02 (any split): the bytes of an
        // incomplete payload stay as they arrived until UNMASK_BLOCK of them wait (or
        // partial_payload asks for them); the frame decodes the same whatever the reads and
        // wherever partial_payload looks.
        let len = 2 * UNMASK_BLOCK + 12_345;
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + i / 5) as u8).collect();
        let key = [0x9a, 0x01, 0xfe, 0x33];
        let mut wire = vec![0x82, 0xff];
        wire.extend_from_slice(&(len as u64).to_be_bytes());
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        let header_len = 14;

        let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
        let mut buf = BytesMut::from(&wire[..header_len + 65_536]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(
            &buf[..],
            &wire[header_len..header_len + 65_536],
            "unmasked early"
        );
        buf.extend_from_slice(&wire[header_len + 65_536..header_len + UNMASK_BLOCK + 3]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(
            &buf[..],
            &payload[..UNMASK_BLOCK + 3],
            "a block waits masked"
        );

        for (read, peek_every) in [(65_536, 0), (65_536, 3), (1000, 7), (99_999, 1)] {
            let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
            let mut buf = BytesMut::new();
            let mut frame = None;
            for (n, piece) in wire.chunks(read).enumerate() {
                buf.extend_from_slice(piece);
                if let Some(f) = dec.decode(&mut buf).unwrap() {
                    frame = Some(f);
                    break;
                }
                if peek_every > 0
                    && n.is_multiple_of(peek_every)
                    && let Some((_, seen)) = dec.partial_payload(&mut buf)
                {
                    assert_eq!(seen, &payload[..seen.len()], "read {read}, piece {n}");
                }
            }
            let frame = frame.expect("the frame completes");
            assert!(
                frame.payload == payload,
                "reads of {read}, peeking every {peek_every}"
            );
        }
    }

    #[test]
    fn chunk_decode_keeps_mask_phase() {
        let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut buf = BytesMut::new();
        let mut text = Vec::new();
        let mut flags = Vec::new();
        for b in masked {
            buf.extend_from_slice(&[b]);
            while let Some(c) = dec.decode_chunk(&mut buf).unwrap() {
                text.extend_from_slice(&c.payload);
                flags.push((c.first, c.last));
            }
        }
        assert_eq!(&text, b"Hello");
        assert_eq!(flags.first(), Some(&(true, false)));
        assert_eq!(flags.last(), Some(&(false, true)));
    }

    #[test]
    fn small_payload_copied_large_split_off() {
        let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Client));
        let mut buf = BytesMut::with_capacity(1 << 16);
        buf.extend_from_slice(&[0x82, 0x03, 1, 2, 3]);
        let small = dec.decode(&mut buf).unwrap().unwrap();
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.capacity();
        assert!(
            !range.contains(&(small.payload.as_ptr() as usize)),
            "a 3-byte payload pins the read buffer"
        );
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        buf.extend_from_slice(&vec![7; 65536]);
        let start = buf.as_ptr() as usize + 10;
        let big = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            big.payload.as_ptr() as usize,
            start,
            "a 64 KiB payload was copied"
        );
    }
}
