//! The receive side: frames to messages. Reassembly with limits, incremental fail-fast UTF-8
//! validation, whole or streaming delivery.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::close::CloseFrame;
use crate::config::{Limits, ReceiveMode};
use crate::connection::Event;
use crate::connection::queue::{Bounds, EventQueue, RUN_MAX};
use crate::extensions::Extension;
use crate::frame::{
    FrameDecoder, FrameHeader, Lent, OpCode, ProtocolError, apply_mask, copy_masked,
    extend_unmasked_reused, prefetch_read,
};
use crate::utf8::{InvalidUtf8, Utf8Bytes, Utf8Validator};

/// The most a slab holds: the most memory one small delivered message can keep alive.
pub(crate) const SLAB_SIZE: usize = 4096;

/// The longest payload the small-message fast path takes. Longer payloads may be split off
/// the input without a copy, which the general path decides.
const SMALL_PAYLOAD_MAX: usize = SLAB_SIZE - 1;

/// Small payloads copied out of the input during one [`Connection::handle_input`] call share
/// one allocation of at most [`SLAB_SIZE`] bytes, instead of one allocation each. The slab is
/// dropped when the call returns (an idle connection holds no heap); the messages keep their
/// part of it alive, so a retained small message pins at most `SLAB_SIZE` bytes.
///
/// While the event queue takes ready events, each binary message is queued as its event at
/// once; past that mark, consecutive ones copied into a slab are queued as one run (their
/// payloads and bounds, see [`EventQueue`]), a run ended by the end of the slab, [`RUN_MAX`]
/// messages, or any other event.
///
/// [`Connection::handle_input`]: crate::Connection::handle_input
#[derive(Debug, Default)]
pub(crate) struct Slab {
    free: BytesMut,
}

/// The open run of binary messages in the [`Slab`], during one
/// [`Receiver::small_messages`] call (which queues it before returning): made only once that
/// call has a small message, so that a call without one does not fill its bounds.
struct BinaryRun {
    /// The slab's unused part, taken from it for the call (and given back at its end); the
    /// payloads of the open run are at its front.
    free: BytesMut,
    run_len: usize,
    count: usize,
    bounds: [Bounds; RUN_MAX],
}

impl BinaryRun {
    fn new(slab: &mut Slab) -> Self {
        Self {
            free: std::mem::take(&mut slab.free),
            run_len: 0,
            count: 0,
            bounds: [(0, 0); RUN_MAX],
        }
    }

    /// Copies a binary message's payload `src` into the open run, unmasking it with `key`
    /// (starting at phase 0) if masked; queues the run first when it has no room. `input_left`
    /// bounds the size of a new slab: nothing more than the input left can be copied during
    /// this call.
    #[inline(always)]
    fn push(
        &mut self,
        src: &[u8],
        key: Option<[u8; 4]>,
        input_left: usize,
        events: &mut EventQueue,
    ) {
        if self.count == RUN_MAX || self.free.len() - self.run_len < src.len() {
            self.flush(events);
            if self.free.len() < src.len() {
                // Zeroed once, in bulk, so that each payload can be written into it in one
                // pass (masked on the way) in safe code.
                self.free = BytesMut::zeroed(input_left.clamp(src.len(), SLAB_SIZE));
            }
        }
        let (at, end) = (self.run_len, self.run_len + src.len());
        let dst = &mut self.free[at..end];
        match key {
            Some(key) => copy_masked(dst, src, key),
            None => dst.copy_from_slice(src),
        }
        if self.count == 0 && events.has_ready_room(1) {
            // While few events wait, each is made at once (no run to keep).
            events.push_binary(self.free.split_to(src.len()).freeze());
            return;
        }
        // Both within the slab, so under `SLAB_SIZE`.
        self.bounds[self.count] = (at as u16, end as u16);
        self.count += 1;
        self.run_len = end;
    }

    /// Queues the open run, if any.
    #[inline(always)]
    fn flush(&mut self, events: &mut EventQueue) {
        if self.count > 0 {
            self.flush_run(events);
        }
    }

    fn flush_run(&mut self, events: &mut EventQueue) {
        let count = std::mem::take(&mut self.count);
        let payloads = self.free.split_to(std::mem::take(&mut self.run_len));
        events.push_binaries(payloads, &self.bounds[..count]);
    }
}

/// The payload length, the header's length and the masking key of the header at the front of
/// `input`, whose mask bit is `masked`, when the length takes 7 bits or the 2 bytes of a
/// 16-bit length that needs them (FR-12) and the header is complete; `None` otherwise (a
/// 64-bit length, a non-minimal one, or more bytes needed), which the general parser decides.
#[inline(always)]
fn short_header_rest(input: &[u8], masked: bool) -> Option<(usize, usize, Option<[u8; 4]>)> {
    let (len, mut header_len) = match input.get(1)? & 0x7f {
        126 => match input.get(2..4) {
            Some(&[high, low]) if high != 0 || low >= 126 => {
                (usize::from(u16::from_be_bytes([high, low])), 4)
            }
            _ => return None,
        },
        127 => return None,
        len => (usize::from(len), 2),
    };
    let key = if masked {
        let &[a, b, c, d] = input.get(header_len..header_len + 4)? else {
            return None;
        };
        header_len += 4;
        Some([a, b, c, d])
    } else {
        None
    };
    Some((len, header_len, key))
}

/// The header of a frame the small-message fast path takes: a whole text or binary message
/// (FIN, no RSV bits) of at most the fast path's length, masked as the role requires, whose
/// payload is complete in the input.
struct SmallFrame {
    text: bool,
    /// Header bytes, the masking key included.
    header_len: usize,
    len: usize,
    key: Option<[u8; 4]>,
}

impl SmallFrame {
    /// The frame at the front of `input`, or `None` for anything else (left to the general
    /// path, which also reports every broken rule).
    #[inline(always)]
    fn parse(input: &[u8], expect_masked: bool, max_len: usize) -> Option<Self> {
        let &[first, second, ..] = input else {
            return None;
        };
        let text = match first {
            0x81 => true,
            0x82 => false,
            _ => return None,
        };
        let masked = second & 0x80 != 0;
        let (len, header_len, key) = short_header_rest(input, masked)?;
        if masked != expect_masked || len > max_len || input.len() < header_len + len {
            return None;
        }
        Some(Self {
            text,
            header_len,
            len,
            key,
        })
    }
}

/// The header of a complete continuation frame at the front of `input` in the common form
/// (no RSV bits, masked as the role requires, a 7- or 16-bit length within the frame limit),
/// read in a few steps; `None` for anything else, which [`FrameDecoder::peek_complete`]
/// then decides (with every error). Both agree on every frame this accepts.
#[inline(always)]
fn continuation_header(
    input: &[u8],
    config: &crate::frame::DecoderConfig,
) -> Option<(FrameHeader, usize)> {
    let &[first, second, ..] = input else {
        return None;
    };
    if first & 0x7f != 0 || (second & 0x80 != 0) != config.expect_masked {
        return None;
    }
    let (len, header_len, mask) = short_header_rest(input, config.expect_masked)?;
    let len = len as u64;
    if len > config.max_frame_size || ((input.len() - header_len) as u64) < len {
        return None;
    }
    let header = FrameHeader {
        fin: first & 0x80 != 0,
        rsv: 0,
        opcode: OpCode::Continuation,
        mask,
        payload_len: len,
    };
    Some((header, header_len))
}

/// The most text messages of one [`TextRun`].
const TEXT_RUN_MAX: usize = 32;

/// Small whole text messages that follow one another in the input, validated together and
/// copied into one shared `str` (at most [`SLAB_SIZE`] bytes, as binary slabs).
///
/// Each payload is unmasked where it lies, and the frame header between two payloads is
/// overwritten with ASCII spaces (the bytes are consumed anyway); from a read that is not to
/// be written, each payload is unmasked into a stage instead, one space after the one before
/// ([`push_copied`](Self::push_copied)). The span from the first
/// payload to the last is then valid UTF-8 exactly when every payload is: no character can
/// run on across an ASCII byte, so a valid span breaks into valid payloads, and valid
/// payloads joined by ASCII are valid. One validation and one allocation serve the whole run,
/// against one each per message.
///
/// Compare, "decode 1 KiB text", three runs each (AMD EPYC, AVX-512): one `Arc<str>` per
/// message 140-143 ns; runs 129-136; their events written in place 123-126. Most of what
/// queueing the events still costs is the first reference count increment, which waits
/// for the copy's stores (into memory that is not in L1) to drain; queueing them one run
/// later only moved that wait to the next stores (130-132 ns).
#[derive(Default)]
struct TextRun {
    /// The span in the input: the start of the first payload, the end of the last.
    start: usize,
    end: usize,
    count: usize,
    /// Each payload's bounds, from `start`.
    bounds: [(u16, u16); TEXT_RUN_MAX],
}

impl TextRun {
    /// Adds the message whose payload is `buf[at..end]`, delivering the run first when it
    /// has no room for it.
    #[inline(always)]
    fn push(
        &mut self,
        buf: &mut [u8],
        at: usize,
        end: usize,
        key: Option<[u8; 4]>,
        events: &mut EventQueue,
    ) -> Result<(), InvalidUtf8> {
        if self.count == TEXT_RUN_MAX || (self.count > 0 && end - self.start > SLAB_SIZE) {
            self.flush(buf, events)?;
        }
        if let Some(key) = key {
            apply_mask(&mut buf[at..end], key, 0);
        }
        if self.count == 0 {
            self.start = at;
        } else {
            buf[self.end..at].fill(b' ');
        }
        // Both under `SLAB_SIZE`: the span never exceeds it.
        self.bounds[self.count] = ((at - self.start) as u16, (end - self.start) as u16);
        self.count += 1;
        self.end = end;
        Ok(())
    }

    /// [`push`](Self::push) for a payload that is not to be written: `payload` is copied to
    /// the end of `stage` (unmasked with `key`, from phase 0), which holds the run: the first
    /// payload at its front, one ASCII space between two payloads (see above).
    #[inline(always)]
    fn push_copied(
        &mut self,
        stage: &mut BytesMut,
        payload: &[u8],
        key: Option<[u8; 4]>,
        events: &mut EventQueue,
    ) -> Result<(), InvalidUtf8> {
        if self.count == TEXT_RUN_MAX
            || (self.count > 0 && stage.len() + 1 + payload.len() > SLAB_SIZE)
        {
            self.flush_stage(stage, events)?;
        }
        // The run starts at the stage's front: `start` stays 0.
        if self.count > 0 {
            stage.extend_from_slice(b" ");
        }
        let at = stage.len();
        match key {
            Some(key) => extend_unmasked_reused(stage, payload, key, 0),
            None => stage.extend_from_slice(payload),
        }
        // Both within the stage, which holds at most `SLAB_SIZE` bytes while the run has
        // more than one payload (and a lone payload is under `SLAB_SIZE`).
        self.bounds[self.count] = (at as u16, stage.len() as u16);
        self.count += 1;
        self.end = stage.len();
        Ok(())
    }

    /// [`flush`](Self::flush) for a run in `stage` ([`push_copied`](Self::push_copied)),
    /// emptying the stage for the next run.
    #[inline(always)]
    fn flush_stage(
        &mut self,
        stage: &mut BytesMut,
        events: &mut EventQueue,
    ) -> Result<(), InvalidUtf8> {
        self.flush(stage, events)?;
        stage.clear();
        Ok(())
    }

    /// Validates the run and queues its messages, or fails at the first invalid one, with
    /// the messages before it queued (FR-23, FR-25).
    #[inline(always)]
    fn flush(&mut self, buf: &[u8], events: &mut EventQueue) -> Result<(), InvalidUtf8> {
        // Called before every binary message: nothing to do, inline.
        if self.count == 0 {
            return Ok(());
        }
        self.flush_run(buf, events)
    }

    /// [`flush`](Self::flush) when the run is not empty.
    fn flush_run(&mut self, buf: &[u8], events: &mut EventQueue) -> Result<(), InvalidUtf8> {
        let count = std::mem::take(&mut self.count);
        let span = &buf[self.start..self.end];
        let bounds = &self.bounds[..count];
        let range = |&(a, b): &(u16, u16)| usize::from(a)..usize::from(b);
        match (simdutf8::basic::from_utf8(span), bounds) {
            (Ok(text), [_]) => events.push(Event::Text(Utf8Bytes::copy_from_str(text))),
            // Every bound is a character boundary of the valid span (see above), checked in
            // debug builds only, by `Utf8Bytes::slice_of` (in release it cost 4-5% of the
            // text row).
            (Ok(text), _) => events.push_texts(Arc::from(text), bounds),
            // One of them is invalid: find which, delivering the ones before it.
            (Err(_), _) => {
                for bounds in bounds {
                    events.push(Event::Text(Utf8Bytes::copy_from_utf8(
                        &span[range(bounds)],
                    )?));
                }
            }
        }
        Ok(())
    }
}

/// Where [`Receiver::small_run`] takes its frames from, and where it unmasks and validates a
/// run of text payloads.
///
/// An enum, not a trait: with one `small_run` for both, the event queue's slot writes that
/// it inlines are inlined once. Generic (one copy per source), they were called out of line,
/// which cost `handle_input` 1-2 ns a 125-byte message (callgrind: 242.6 M instructions
/// against 258.3 M for the same workload).
enum SmallSource<'a> {
    /// The caller's input buffer: text payloads are unmasked where they lie. The input is
    /// usually where the caller just wrote it, in the cache.
    InPlace(&'a mut BytesMut),
    /// A read that is not to be written: text payloads are unmasked into `stage` (the
    /// caller's input buffer while it is empty). The read may be in memory, not in the
    /// cache: its lines further on are asked for as frames are taken.
    Staged {
        read: &'a [u8],
        stage: &'a mut BytesMut,
    },
}

impl SmallSource<'_> {
    /// The frames, from the front.
    #[inline(always)]
    fn frames(&self) -> &[u8] {
        match self {
            Self::InPlace(buf) => buf,
            Self::Staged { read, .. } => read,
        }
    }

    /// Adds the text payload at `frames()[at..end]` to `run`.
    #[inline(always)]
    fn push_text(
        &mut self,
        run: &mut TextRun,
        at: usize,
        end: usize,
        key: Option<[u8; 4]>,
        events: &mut EventQueue,
    ) -> Result<(), InvalidUtf8> {
        match self {
            Self::InPlace(buf) => run.push(buf, at, end, key, events),
            Self::Staged { read, stage } => run.push_copied(stage, &read[at..end], key, events),
        }
    }

    /// Validates `run` and queues its messages (see [`TextRun::flush`]).
    #[inline(always)]
    fn flush_texts(
        &mut self,
        run: &mut TextRun,
        events: &mut EventQueue,
    ) -> Result<(), InvalidUtf8> {
        match self {
            Self::InPlace(buf) => run.flush(buf, events),
            Self::Staged { stage, .. } => run.flush_stage(stage, events),
        }
    }

    /// Told that the frame at `frames()[pos..end]` is being taken.
    #[inline(always)]
    fn taking(&self, pos: usize, end: usize) {
        if let Self::Staged { read, .. } = self {
            prefetch_read(read, pos, end);
        }
    }
}

/// One thing decoded from the input.
#[derive(Debug)]
pub(crate) enum Received {
    /// A message, or a chunk of one in streaming mode.
    Data(Event),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<CloseFrame>),
}

/// What [`Receiver::single_binary`] found at the front of the input.
pub(crate) enum SingleBinary {
    /// A whole binary message of one frame, taken.
    Message(Bytes),
    /// Such a message, not complete yet (or a header not complete yet).
    NeedMore,
    /// Anything else, left to [`Receiver::next`].
    Other,
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
    /// The length of the last message reassembled from fragments: the capacity the next one
    /// starts with (see [`whole_frame`](Self::whole_frame)).
    reassembled_len: u32,
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
            reassembled_len: 0,
        }
    }

    /// Notes where the caller's input buffer is, before anything of it is consumed: see
    /// [`FrameDecoder::observe`].
    #[inline]
    pub(crate) fn observe(&mut self, input: &BytesMut) {
        self.decoder.observe(input);
    }

    /// Appends bytes from the peer to the input: [`FrameDecoder::extend_from_read`].
    #[inline]
    pub(crate) fn extend_from_read(&mut self, input: &mut BytesMut, read: &[u8]) {
        self.decoder.extend_from_read(input, read);
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
            self.check_frame(&header, max_message_size)?;
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
            let rsv = self.message.as_ref().map_or(0, |m| m.rsv);
            let got = if reassembled_whole(self.mode, rsv) {
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

    /// The binary message of one frame (FIN, no RSV bits) at the front of `buf`, in
    /// whole-message mode: the usual large message, taken with the checks and state changes
    /// of [`next`](Self::next) and the same result, without its general layers (perf, 64 KiB
    /// messages with the input in cache: the `Step`/`Received` results moved through memory
    /// and stalled the loads that read them back). Anything else is left in place. Out of
    /// line: inlined into `handle_input`, it cost the small-message loop there 3-4% (criterion
    /// `server_receive/binary_125B_x500` and `binary_16B_x3000`) with the same instructions.
    #[inline(never)]
    pub(crate) fn single_binary(
        &mut self,
        buf: &mut BytesMut,
        max_message_size: u64,
    ) -> Result<SingleBinary, ProtocolError> {
        if self.mode != ReceiveMode::Whole {
            return Ok(SingleBinary::Other);
        }
        let Some(header) = self.decoder.peek_header(buf)? else {
            return Ok(SingleBinary::NeedMore);
        };
        if header.opcode != OpCode::Binary || !header.fin || header.rsv != 0 {
            return Ok(SingleBinary::Other);
        }
        self.check_frame(&header, max_message_size)?;
        let Some(frame) = self.decoder.decode(buf)? else {
            return Ok(SingleBinary::NeedMore);
        };
        self.end_frame();
        self.message = None;
        Ok(SingleBinary::Message(frame.payload))
    }

    /// The fast path for the most common input: whole text or binary messages in one frame
    /// of under 4 KiB each, complete at the front of `buf`, between messages, delivered
    /// in whole-message mode. Takes every such message there is, pushing its event to
    /// `events`, and stops at anything else (including every frame that breaks a rule),
    /// which is left to [`next`](Self::next). `next` gives the same result for the frames
    /// taken here, only slower.
    pub(crate) fn small_messages(
        &mut self,
        buf: &mut BytesMut,
        slab: &mut Slab,
        events: &mut EventQueue,
        max_message_size: u64,
    ) -> Result<(), ProtocolError> {
        let taken = self.small_run(SmallSource::InPlace(buf), slab, events, max_message_size)?;
        buf.advance(taken);
        Ok(())
    }

    /// [`small_messages`](Self::small_messages) for the frames at the front of `read`, bytes
    /// from the peer that never entered the caller's buffer: returns how many bytes of `read`
    /// it took. Text payloads are unmasked into `stage` (which must be empty, and is left
    /// empty unless this fails), validated there and copied out, as `small_messages` does
    /// in place; binary payloads are copied straight into their slab, unmasked on the way.
    pub(crate) fn small_messages_from_read(
        &mut self,
        read: &[u8],
        stage: &mut BytesMut,
        slab: &mut Slab,
        events: &mut EventQueue,
        max_message_size: u64,
    ) -> Result<usize, ProtocolError> {
        debug_assert!(stage.is_empty(), "the text stage starts empty");
        self.small_run(
            SmallSource::Staged { read, stage },
            slab,
            events,
            max_message_size,
        )
    }

    /// The loop of [`small_messages`](Self::small_messages) over the frames of `src`: returns
    /// how many bytes of them it took.
    fn small_run(
        &mut self,
        mut src: SmallSource<'_>,
        slab: &mut Slab,
        events: &mut EventQueue,
        max_message_size: u64,
    ) -> Result<usize, ProtocolError> {
        if self.message.is_some() || self.mode != ReceiveMode::Whole || !self.decoder.is_idle() {
            return Ok(0);
        }
        let config = self.decoder.config();
        let max_len = (SMALL_PAYLOAD_MAX as u64)
            .min(config.max_frame_size)
            .min(max_message_size) as usize;
        let expect_masked = config.expect_masked;
        let frames = src.frames();
        let Some(mut frame) = SmallFrame::parse(frames, expect_masked, max_len) else {
            return Ok(0);
        };
        // With a second small message behind the first, room at once for as many as the input
        // holds frames of the first one's size (a lone one before a large frame reserves none).
        let first = frame.header_len + frame.len;
        if SmallFrame::parse(&frames[first..], expect_masked, max_len).is_some() {
            events.reserve_ready(frames.len() / first);
        }
        let mut pos = 0;
        let mut texts = TextRun::default();
        let mut binaries = BinaryRun::new(slab);
        loop {
            let at = pos + frame.header_len;
            let end = at + frame.len;
            src.taking(pos, end);
            // Events keep the order of the messages: a run is queued before anything else.
            if frame.text {
                binaries.flush(events);
                src.push_text(&mut texts, at, end, frame.key, events)?;
            } else {
                src.flush_texts(&mut texts, events)?;
                let frames = src.frames();
                binaries.push(&frames[at..end], frame.key, frames.len() - pos, events);
            }
            pos = end;
            match SmallFrame::parse(&src.frames()[pos..], expect_masked, max_len) {
                Some(next) => frame = next,
                None => break,
            }
        }
        binaries.flush(events);
        slab.free = binaries.free;
        src.flush_texts(&mut texts, events)?;
        Ok(pos)
    }

    /// [`check_header`](Self::check_header) for the frame in progress, unless done already.
    #[inline(always)]
    fn check_frame(
        &mut self,
        header: &FrameHeader,
        max_message_size: u64,
    ) -> Result<(), ProtocolError> {
        if !self.frame_checked {
            self.check_header(header, max_message_size)?;
            self.frame_checked = true;
        }
        Ok(())
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
            (OpCode::Continuation, Some(message)) if reassembled_whole(self.mode, message.rsv) => {
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
                if reassembled_whole(self.mode, header.rsv) && header.payload_len > max_message_size
                {
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
        if fragmented && message.data.capacity() == 0 {
            // Messages on one connection tend to be alike: a fragmented message starts with
            // the room the last one took (a length that passed the message limit), so a run of
            // similar messages grows no buffer, and a reallocation that cannot grow in place
            // copies nothing. A shorter message gives the rest back in `trimmed`; a longer one
            // grows by doubling from there.
            message.data = BytesMut::with_capacity(self.reassembled_len as usize);
        }
        let start = message.data.len();
        let decoded = if fragmented {
            (self
                .decoder
                .decode_into(buf, &mut message.data, max_message_size)?)
            .map(|_| Got::Appended)
        } else if validate {
            // A single-frame text message is validated once, as a whole; when it is copied
            // out of the input anyway, it is copied into a shared `str`, which the
            // application then reads without a second check.
            let copy = |payload: &[u8]| Utf8Bytes::copy_from_utf8(payload).map_err(Into::into);
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
        let fin = header.fin
            || (single.is_none() && self.append_complete_fragments(buf, max_message_size)?);
        if !fin {
            return Ok(Step::Continue);
        }
        Ok(Step::Deliver(self.complete_message(
            single,
            ext,
            max_message_size,
        )?))
    }

    /// The event of the message in progress, whose final frame was just taken: `single`, the
    /// payload of a message of one frame, or else the fragments reassembled, decoded by the
    /// extension that transformed it and checked as UTF-8 when it is text.
    fn complete_message(
        &mut self,
        single: Option<Bytes>,
        ext: Option<&mut (dyn Extension + 'static)>,
        max_message_size: u64,
    ) -> Result<Event, ProtocolError> {
        let Some(message) = self.message.take() else {
            unreachable!("check_header starts a message for every data frame")
        };
        let validate = message.text && message.rsv == 0;
        let payload = match single {
            Some(payload) => payload,
            None => {
                self.reassembled_len = u32::try_from(message.data.len()).unwrap_or(u32::MAX);
                trimmed(message.data)
            }
        };
        let payload = match (message.rsv, ext) {
            (0, _) => payload,
            (rsv, Some(ext)) => ext.decode_message(rsv, payload, max_message_size)?,
            (rsv, None) => return Err(ProtocolError::ReservedBits(rsv)),
        };
        Ok(if message.text {
            if validate {
                self.utf8.finish()?;
            } else {
                simdutf8::basic::from_utf8(&payload).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Event::Text(Utf8Bytes::from_bytes_unchecked(payload))
        } else {
            Event::Binary(payload)
        })
    }

    /// The length of the frame at the front of `read` when it is complete and is one that
    /// [`fragments_from_read`](Self::fragments_from_read) stops at but that should not end
    /// the taking of fragments from the read: a data frame without FIN that opens a
    /// fragmented message reassembled whole, or a control frame between the fragments of one.
    /// 0 otherwise, a broken header included.
    pub(crate) fn frame_alone_len(&self, read: &[u8]) -> usize {
        let Ok(Some((header, header_len))) = self.decoder.peek_complete(read) else {
            return 0;
        };
        let wanted = match &self.message {
            None => {
                !header.fin
                    && matches!(header.opcode, OpCode::Text | OpCode::Binary)
                    && reassembled_whole(self.mode, header.rsv)
            }
            Some(message) => {
                header.opcode.is_control() && reassembled_whole(self.mode, message.rsv)
            }
        };
        if wanted {
            // Complete in `read`, so the payload length fits.
            header_len + header.payload_len as usize
        } else {
            0
        }
    }

    /// Takes the continuation frames complete at the front of `read`, bytes from the peer
    /// that never entered the caller's buffer, straight into the message being reassembled,
    /// as [`next`](Self::next) would take them from the buffer (the same checks, in the same
    /// order). Returns how many bytes of `read` it used and, when the message's final frame
    /// was among them, the message. Takes nothing unless the decoder is between frames of a
    /// message reassembled whole, and stops at anything but a complete continuation frame.
    pub(crate) fn fragments_from_read(
        &mut self,
        read: &[u8],
        ext: Option<&mut (dyn Extension + 'static)>,
        max_message_size: u64,
    ) -> Result<(usize, Option<Event>), ProtocolError> {
        let Some(message) = &mut self.message else {
            return Ok((0, None));
        };
        if !self.decoder.is_idle() || !reassembled_whole(self.mode, message.rsv) {
            return Ok((0, None));
        }
        if message.data.capacity() == 0 {
            // As `whole_frame` starts a fragmented message.
            message.data = BytesMut::with_capacity(self.reassembled_len as usize);
        }
        let mut consumed = 0;
        if !self.append_fragments_from(read, &mut consumed, max_message_size)? {
            return Ok((consumed, None));
        }
        let event = self.complete_message(None, ext, max_message_size)?;
        Ok((consumed, Some(event)))
    }

    /// Appends the continuation frames that are complete in `buf` to the message being
    /// reassembled, in one loop, with the same checks in the same order as frame by frame,
    /// and consumes them from `buf` at once. Stops at an incomplete frame or a control frame
    /// (both left to [`next`](Self::next)). Returns whether the message's final fragment was
    /// appended.
    // Out of line: inlined, it costs the single-frame paths of `next` in register pressure.
    #[inline(never)]
    fn append_complete_fragments(
        &mut self,
        buf: &mut BytesMut,
        max_message_size: u64,
    ) -> Result<bool, ProtocolError> {
        let mut consumed = 0;
        let appended = self.append_fragments_from(buf, &mut consumed, max_message_size);
        buf.advance(consumed);
        appended
    }

    /// [`append_complete_fragments`](Self::append_complete_fragments) over `input`, counting
    /// the bytes it used in `consumed`.
    fn append_fragments_from(
        &mut self,
        input: &[u8],
        consumed: &mut usize,
        max_message_size: u64,
    ) -> Result<bool, ProtocolError> {
        loop {
            let rest = &input[*consumed..];
            let simple = if self.decoder.is_idle() {
                continuation_header(rest, self.decoder.config())
            } else {
                None
            };
            let (header, header_len) = match simple {
                Some(found) => found,
                None => match self.decoder.peek_complete(rest)? {
                    Some(found) => found,
                    None => return Ok(false),
                },
            };
            if header.opcode != OpCode::Continuation {
                return Ok(false);
            }
            self.check_header(&header, max_message_size)?;
            let Some(message) = &mut self.message else {
                unreachable!("a fragmented message is in progress")
            };
            let start = message.data.len();
            *consumed += FrameDecoder::unmask_payload_into(
                &input[*consumed..],
                &header,
                header_len,
                &mut message.data,
                max_message_size,
            );
            if message.text && message.rsv == 0 {
                self.utf8.feed(&message.data[start..])?;
            }
            if header.fin {
                return Ok(true);
            }
        }
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

/// Whether a message whose first frame carries the RSV bits `rsv` is reassembled and
/// delivered whole: always in whole-message mode, and in streaming mode when an extension
/// transforms it (its first frame has RSV bits set).
fn reassembled_whole(mode: ReceiveMode, rsv: u8) -> bool {
    mode == ReceiveMode::Whole || rsv != 0
}

/// A reassembled payload without the spare capacity of its buffer, so that a delivered message
/// holds only its own bytes (with glibc and most allocators, shrinking in place copies nothing).
fn trimmed(data: BytesMut) -> Bytes {
    let mut data = Vec::from(data);
    data.shrink_to_fit();
    Bytes::from(data)
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
