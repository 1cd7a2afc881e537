//! The connection state machine after the opening handshake (RFC 6455 sections 5 to 7).

mod event;
mod outbox;
pub(crate) mod queue;
mod send;
mod timers;

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

pub use event::{CloseKind, CloseOutcome, Event, SendError, Timeout, Transmit};
pub use send::{MessageType, PreparedMessage, VectoredSend};

use crate::Role;
use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::config::Config;
use crate::extensions::Extension;
use crate::frame::{
    DecoderConfig, FrameDecoder, FrameEncoder, MaskKeySource, OpCode, ProtocolError,
};
use crate::handshake::Negotiated;
use crate::message::{Received, Receiver, SingleBinary, Slab};
use crate::utf8::Utf8Bytes;
use outbox::Outbox;
use queue::EventQueue;
use send::OutMessage;
use timers::Keepalive;

/// The lifecycle of a connection (RFC 6455 section 4 and 7, CL-01). A [`Connection`] starts
/// open: the CONNECTING state belongs to the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Messages flow both ways.
    Open,
    /// A Close was sent or received; the close handshake or the transport close is pending.
    /// After the peer's Close, data may still be sent until its [`Event::CloseReceived`] is
    /// taken (answers to the messages before it); after ours, nothing.
    Closing,
    /// Over: [`Event::Closed`] was queued.
    Closed,
}

/// Where the connection is, with the data each phase needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// We sent Close and wait for the peer's (CL-08, CL-20).
    CloseSent {
        deadline: Option<Instant>,
    },
    /// The peer's Close arrived at `at`; our reply waits until the application has taken
    /// [`Event::CloseReceived`] (so answers to the messages before it go first) or calls
    /// [`Connection::close`] to reply with its own code. Data may still be sent (CL-07).
    CloseReceived {
        at: Instant,
    },
    /// Client: the close handshake completed; we wait for the server to close the transport
    /// (CL-11).
    AwaitingTransportClose {
        deadline: Option<Instant>,
    },
    /// Over. Input is ignored, commands are refused.
    Closed,
}

/// Whether the embedder was told to close the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransportClose {
    NotYet,
    Owed,
    Given,
}

/// A WebSocket connection after the handshake: a sans-IO state machine.
///
/// It never touches a socket or a clock. Its methods come in four kinds:
///
/// - **Inputs** from the transport and the clock: [`handle_input`](Self::handle_input),
///   [`handle_eof`](Self::handle_eof), [`handle_timeout`](Self::handle_timeout).
/// - **Commands** from the application: [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary) (or, from borrowed bytes,
///   [`send_text_from_str`](Self::send_text_from_str) and
///   [`send_binary_from_slice`](Self::send_binary_from_slice)), [`send_ping`](Self::send_ping),
///   [`send_pong`](Self::send_pong), [`close`](Self::close), the streaming send
///   ([`begin_message`](Self::begin_message), [`continue_message`](Self::continue_message),
///   [`finish_message`](Self::finish_message)) and [`send_prepared`](Self::send_prepared).
/// - **Outputs**: [`poll_transmit`](Self::poll_transmit) (or the vectored pair
///   [`transmit_chunks`](Self::transmit_chunks) / [`advance_transmit`](Self::advance_transmit),
///   or [`transmit_into`](Self::transmit_into) the caller's write buffer),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
///   [`send_binary_into`](Self::send_binary_into) and [`send_text_into`](Self::send_text_into)
///   are a command and `transmit_into` in one call: a small message from borrowed bytes goes
///   straight into the caller's write buffer. [`send_binary_vectored`](Self::send_binary_vectored)
///   and [`send_text_vectored`](Self::send_text_vectored) are a command and a vectored write in
///   one: a large message from borrowed bytes goes out without a copy.
/// - **Getters**: [`role`](Self::role), [`state`](Self::state),
///   [`buffered_amount`](Self::buffered_amount), [`subprotocol`](Self::subprotocol).
///
/// **The loop.** After every input or command, the embedder MUST drain
/// [`poll_event`](Self::poll_event) to the application, then drain
/// [`poll_transmit`](Self::poll_transmit) to the transport (closing it on
/// [`Transmit::CloseTransport`]), then re-arm its timer from
/// [`poll_timeout`](Self::poll_timeout). Events go first because taking
/// [`Event::CloseReceived`] queues the reply to the peer's Close. Times passed in must not go
/// backwards.
///
/// **Peer misbehaviour** is handled here, not by the embedder: the Close frame with the right
/// code (1002, 1007, 1009) is queued, then [`Transmit::CloseTransport`] and a terminal
/// [`Event::Closed`] with [`CloseKind::Failed`]; later input is ignored.
pub struct Connection {
    state: State,
    transport: TransportClose,
    receiver: Receiver,
    encoder: FrameEncoder,
    outbox: Outbox,
    events: EventQueue,
    /// Pongs owed while the output is at its high-water mark, oldest first; allocated only
    /// while there are any (never empty when `Some`), so that a connection stays small.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in the connection instead of a Vec's 24, for a list rarely used"
    )]
    pending_pongs: Option<Box<Vec<Bytes>>>,
    sending: Option<OutMessage>,
    keepalive: Keepalive,
    /// The extension and subprotocol in use, allocated only when there is either, so that a
    /// plain connection stays small.
    agreed: Option<Box<Agreed>>,
    /// The Close frames exchanged and what started the closing; allocated only once closing
    /// starts, so an open connection stays small.
    closing: Option<Box<Closing>>,
    config: Config,
}

/// What the opening handshake agreed on, beyond the protocol itself.
#[derive(Default)]
struct Agreed {
    extension: Option<Box<dyn Extension>>,
    subprotocol: Option<Box<str>>,
}

/// The extension in `agreed`, if any (a free function, so that it borrows only that field).
fn extension_mut(agreed: &mut Option<Box<Agreed>>) -> Option<&mut (dyn Extension + 'static)> {
    agreed.as_deref_mut()?.extension.as_deref_mut()
}

/// What the closing handshake has exchanged so far.
#[derive(Debug, Default)]
struct Closing {
    received: Option<Option<CloseFrame>>,
    sent: Option<Option<CloseFrame>>,
    /// A deadline that started the closing, reported in the outcome.
    cause: Option<Timeout>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role())
            .field("state", &self.state)
            .field("buffered", &self.outbox.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// An open connection for `role`, as if a handshake had just completed at `now`.
    pub fn new(role: Role, config: Config, now: Instant) -> Self {
        let decoder = FrameDecoder::new(DecoderConfig {
            max_frame_size: config.limits.max_frame_size,
            ..DecoderConfig::new(role)
        });
        Self {
            state: State::Open,
            transport: TransportClose::NotYet,
            receiver: Receiver::new(decoder, config.receive_mode),
            encoder: FrameEncoder::new(role),
            outbox: Outbox::default(),
            events: EventQueue::default(),
            pending_pongs: None,
            sending: None,
            keepalive: Keepalive::new(now),
            agreed: None,
            closing: None,
            config,
        }
    }

    /// A connection built from a completed handshake: it records the agreed subprotocol.
    /// Bytes that followed the handshake head in the caller's buffer go to
    /// [`handle_input`](Self::handle_input) next (HS-X-01, HS-X-02).
    ///
    /// The extensions in `negotiated` are not installed: the crate ships no extension
    /// (permessage-deflate included). Install an implementation of each with
    /// [`set_extension`](Self::set_extension) before the first input, or do not agree to
    /// one you cannot run; otherwise the peer's first frame that uses its RSV bits fails the
    /// connection with 1002.
    pub fn from_handshake(
        role: Role,
        negotiated: &Negotiated,
        config: Config,
        now: Instant,
    ) -> Self {
        let mut conn = Self::new(role, config, now);
        if let Some(subprotocol) = negotiated.subprotocol.as_deref() {
            conn.agreed.get_or_insert_default().subprotocol = Some(Box::from(subprotocol));
        }
        conn
    }

    /// Replaces the masking key source of a client (for deterministic tests). The default is
    /// a CSPRNG ([`OsMaskKeys`](crate::frame::OsMaskKeys)); never use a predictable source in
    /// production (SEC-01).
    pub fn set_mask_key_source(&mut self, keys: Box<dyn MaskKeySource>) {
        self.encoder = FrameEncoder::with_mask_keys(self.role(), keys);
    }

    /// Installs a negotiated extension (the seam for permessage-deflate): its RSV bits are
    /// accepted on the first frame of a message and its transform applies to every message.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.receiver.allow_rsv(extension.rsv_bits());
        self.agreed.get_or_insert_default().extension = Some(extension);
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.encoder.role()
    }

    /// The lifecycle state.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Open => ConnectionState::Open,
            State::CloseSent { .. }
            | State::CloseReceived { .. }
            | State::AwaitingTransportClose { .. } => ConnectionState::Closing,
            State::Closed => ConnectionState::Closed,
        }
    }

    /// Whether an extension transforms messages.
    fn has_extension(&self) -> bool {
        self.agreed.as_ref().is_some_and(|a| a.extension.is_some())
    }

    /// The subprotocol the handshake agreed on.
    pub fn subprotocol(&self) -> Option<&str> {
        self.agreed.as_ref()?.subprotocol.as_deref()
    }

    /// Bytes in the output, not yet handed out: the unit of
    /// [`advance_transmit`](Self::advance_transmit) and of the backpressure limit.
    ///
    /// Pongs owed for received pings are not counted until they join the output, which they
    /// do when the output is next taken ([`poll_transmit`](Self::poll_transmit),
    /// [`transmit_chunks`](Self::transmit_chunks), [`transmit_into`](Self::transmit_into))
    /// or with the next send. So 0 here does not mean there is nothing to write: take the
    /// output after every input, as the driving loop does, rather than deciding from this.
    pub fn buffered_amount(&self) -> usize {
        self.outbox.len()
    }

    /// Heap bytes held by the connection's own buffers (output, events, reassembly). An idle
    /// connection, with everything drained, holds none.
    ///
    /// The output counts its coalescing buffer and its queue of chunks, not the copies it
    /// has already split off into that queue (the header of a payload queued by reference,
    /// and the small frames coalesced ahead of it); those are bounded with the output by
    /// [`Limits::max_buffered_output`](crate::Limits::max_buffered_output).
    pub fn heap_capacity(&self) -> usize {
        self.outbox.heap_capacity()
            + self.events.heap_capacity()
            + self.pending_pongs.as_ref().map_or(0, |pongs| {
                std::mem::size_of::<Vec<Bytes>>() + pongs.capacity() * std::mem::size_of::<Bytes>()
            })
            + self.receiver.heap_capacity()
    }

    // ----- inputs -----

    /// Consumes bytes from the peer at the front of `input`: every complete frame is taken
    /// out; an incomplete frame's remainder stays in `input` for the next call.
    ///
    /// Delivered payloads never keep `input`'s allocation alive unless they fill most of it:
    /// payloads under 4 KiB are copied out (the messages of one call share copies of at most
    /// 4 KiB, so a message kept by the application pins at most 4 KiB), and larger ones are
    /// split off without a copy only when they fill at least half of `input`'s allocation,
    /// counting the bytes consumed before them since this connection first saw it (split
    /// off, a kept payload keeps those alive too).
    ///
    /// Returns `Err` when the input made us fail the connection (the peer broke the protocol).
    /// The error is for logging: the Close frame with its code, the transport close and
    /// [`Event::Closed`] are already queued, so keep draining outputs as usual. Input after
    /// that, or after the peer's Close, is discarded (CL-09, CL-14).
    pub fn handle_input(
        &mut self,
        now: Instant,
        input: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        if !self.takes_input() {
            input.clear();
            return Ok(());
        }
        if !input.is_empty() {
            self.keepalive.received(now);
        }
        self.receiver.observe(input);
        // Whatever this call queues comes after a message held in place by the last one.
        self.events.unlone();
        let mut slab = Slab::default();
        self.receive(now, input, &mut slab)
            .or_else(|err| self.failed(input, err))
    }

    /// The peer broke a rule: the input is discarded and the connection failed (the Close
    /// with the error's code, the transport close and `Closed` queued); returns the error for
    /// the caller to report.
    fn failed(&mut self, input: &mut BytesMut, err: ProtocolError) -> Result<(), ProtocolError> {
        input.clear();
        self.fail(err.clone());
        Err(err)
    }

    /// Handles `read`, bytes just read from the peer into memory of your own, with `input`
    /// as the buffer for what they leave incomplete: the same events, output and result as
    /// `input.extend_from_slice(read)` followed by [`handle_input`](Self::handle_input),
    /// with fewer passes over the bytes.
    ///
    /// Use it when the bytes arrive in memory that is not `input`'s: decrypted TLS records
    /// (a `BufRead`'s `fill_buf`), a ring of buffers the kernel fills, a fuzzer's slice. What
    /// it saves:
    /// - small whole messages (one frame of under 4 KiB) complete in `read` are taken from
    ///   it: a binary payload is unmasked as it is copied into the message, and text payloads
    ///   are unmasked into `input` (empty at that point, and emptied again), validated there
    ///   and copied into the message, as `handle_input` does in `input`;
    /// - the payload of a large frame from a client is unmasked while it is copied into
    ///   `input`, one pass over it instead of a copy and then an unmask in place;
    /// - the fragments of a message are appended to the message straight from `read`,
    ///   unmasked on the way, without passing through `input` (the message's first frame and
    ///   control frames between its fragments go through `input` alone, and a frame that a
    ///   previous read left incomplete there is completed first, with just the bytes it
    ///   lacks).
    ///
    /// The read's bytes are asked for (prefetched) a few KiB ahead of where they are being
    /// consumed: a read that is not in the cache any more costs less.
    ///
    /// A transport that can read straight into `input`'s spare capacity needs none of this
    /// and calls `handle_input`. Pass the same `input` every time, as with `handle_input`, and
    /// bound reads by [`read_hint`](Self::read_hint) to let large payloads leave without a
    /// copy. The two methods may be mixed.
    ///
    /// ```
    /// use std::io::BufRead;
    /// use std::time::Instant;
    ///
    /// use bytes::BytesMut;
    /// use rfc6455::{Config, Connection, Event, Role};
    ///
    /// // A client's masked "Hello" (RFC 6455 section 5.7), behind a reader that lends its
    /// // buffer, as a TLS stream's plaintext reader does.
    /// let wire: &[u8] = &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut reader = std::io::BufReader::with_capacity(4, wire);
    /// let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
    /// let mut input = BytesMut::new();
    /// let mut texts = Vec::new();
    /// loop {
    ///     let read = reader.fill_buf()?;
    ///     if read.is_empty() {
    ///         conn.handle_eof();
    ///         break;
    ///     }
    ///     let n = read.len();
    ///     conn.handle_read(Instant::now(), &mut input, read)?;
    ///     reader.consume(n);
    ///     while let Some(event) = conn.poll_event() {
    ///         if let Event::Text(text) = event {
    ///             texts.push(text);
    ///         }
    ///     }
    ///     // ... and write what `poll_transmit` gives, re-arm the timer (see the crate docs).
    /// }
    /// assert_eq!(texts, ["Hello"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_read(
        &mut self,
        now: Instant,
        input: &mut BytesMut,
        mut read: &[u8],
    ) -> Result<(), ProtocolError> {
        if self.takes_input() && !read.is_empty() {
            // The read may end inside a header that `extend_from_read` takes, leaving `input`
            // empty for `handle_input`.
            self.keepalive.received(now);
        }
        let mut slab = Slab::default();
        while self.takes_input() && !read.is_empty() {
            // How much of `read` to hand to `handle_input` on its own next (0: the rest goes
            // the usual way).
            let alone = if input.is_empty() {
                let max_message_size = self.config.limits.max_message_size;
                // Small whole messages, with `input` as the stage for their texts. They come
                // after a message held in place by `handle_input`.
                self.events.unlone();
                let small = self.receiver.small_messages_from_read(
                    read,
                    input,
                    &mut slab,
                    &mut self.events,
                    max_message_size,
                );
                match small {
                    Ok(0) => {}
                    Ok(used) => {
                        read = &read[used..];
                        continue;
                    }
                    Err(err) => return self.failed(input, err),
                }
                let taken = self.receiver.fragments_from_read(
                    read,
                    extension_mut(&mut self.agreed),
                    max_message_size,
                );
                let (used, message) = match taken {
                    Ok(taken) => taken,
                    Err(err) => return self.failed(input, err),
                };
                if let Some(event) = message {
                    self.events.push(event);
                }
                if used > 0 {
                    read = &read[used..];
                    continue;
                }
                // The first frame of a fragmented message, or a control frame between its
                // fragments, so that the fragments after it can be taken from `read`.
                self.receiver.frame_alone_len(read)
            } else {
                // `input` holds the front of the frame in progress: the bytes it lacks, so
                // that what follows it can be taken from `read`.
                let missing = usize::try_from(self.read_hint(input)).unwrap_or(usize::MAX);
                if missing > read.len() { 0 } else { missing }
            };
            if alone == 0 {
                break;
            }
            let (frame, after) = read.split_at(alone);
            self.receiver.extend_from_read(input, frame);
            self.handle_input(now, input)?;
            read = after;
        }
        if self.takes_input() {
            self.receiver.extend_from_read(input, read);
        }
        self.handle_input(now, input)
    }

    /// Takes every complete frame from `input`, queueing events, until it needs more bytes,
    /// the peer's Close arrives, or the peer breaks a rule.
    fn receive(
        &mut self,
        now: Instant,
        input: &mut BytesMut,
        slab: &mut Slab,
    ) -> Result<(), ProtocolError> {
        let max_message_size = self.config.limits.max_message_size;
        loop {
            self.receiver
                .small_messages(input, slab, &mut self.events, max_message_size)?;
            match self.receiver.single_binary(input, max_message_size)? {
                SingleBinary::Message(payload) if input.is_empty() => {
                    self.events.push_last_binary(payload);
                    return Ok(());
                }
                SingleBinary::Message(payload) => {
                    self.events.push(Event::Binary(payload));
                    continue;
                }
                SingleBinary::NeedMore => return Ok(()),
                SingleBinary::Other => {}
            }
            let Some(received) =
                self.receiver
                    .next(input, extension_mut(&mut self.agreed), max_message_size)?
            else {
                return Ok(());
            };
            match received {
                Received::Data(event) => self.events.push(event),
                Received::Ping(payload) => {
                    if self.state == State::Open {
                        let pongs = self.pending_pongs.get_or_insert_default();
                        if pongs.len() >= self.config.limits.max_pending_pongs.max(1) {
                            // Answering only the newest pings is allowed (section 5.5.3).
                            pongs.remove(0);
                        }
                        pongs.push(payload.clone());
                    }
                    self.events.push(Event::Ping(payload));
                }
                Received::Pong(payload) => {
                    self.keepalive.pong(&payload);
                    self.events.push(Event::Pong(payload));
                }
                Received::Close(frame) => {
                    input.clear();
                    self.on_close_received(now, frame);
                    return Ok(());
                }
            }
        }
    }

    /// How many more bytes complete the frame in progress, given the `input` that the last
    /// [`handle_input`](Self::handle_input) left unconsumed; 0 between frames, and once the
    /// connection takes no more input (after the peer's Close, after failing, closed).
    ///
    /// An embedder may bound its next read by this when it is non-zero: a large payload then
    /// ends exactly at the end of the buffer and goes to the application without a copy, and
    /// the buffer is free for reuse once the application drops it.
    pub fn read_hint(&self, input: &[u8]) -> u64 {
        if !self.takes_input() {
            return 0;
        }
        self.receiver
            .payload_remaining()
            .saturating_sub(input.len() as u64)
    }

    /// Whether input is still read: until the peer's Close, and not after failing or
    /// closing (CL-09, CL-14).
    fn takes_input(&self) -> bool {
        matches!(self.state, State::Open | State::CloseSent { .. })
    }

    /// The transport reached end of stream (the peer closed it, or it broke).
    pub fn handle_eof(&mut self) {
        match self.state {
            State::Open | State::CloseSent { .. } | State::CloseReceived { .. } => {
                self.finish(CloseKind::TransportClosed, false)
            }
            State::AwaitingTransportClose { .. } => self.finish(self.normal_kind(), true),
            State::Closed => {}
        }
    }

    /// The clock reached `now`. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Open => {
                if self.keepalive.pong_overdue(now, &self.config) {
                    let frame =
                        CloseFrame::new(CloseCode::INTERNAL_ERROR, "keepalive ping timeout").ok();
                    self.fail_with(frame, CloseKind::TimedOut(Timeout::Pong));
                } else if let Some(idle) = self
                    .config
                    .idle_timeout
                    .filter(|_| self.keepalive.idle(now, &self.config))
                {
                    self.closing().cause = Some(Timeout::Idle(idle));
                    self.start_close(
                        now,
                        Some(
                            CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")
                                .expect("a valid close frame"),
                        ),
                    );
                } else if let Some(payload) = self.keepalive.ping_due(now, &self.config) {
                    // While the output is at or above the high-water mark the transport is
                    // not draining: queue nothing more (the owed pongs stay bounded in
                    // `pending_pongs`). The ping counts as sent, so a peer that leaves our
                    // output stalled past the pong timeout is failed (1011) instead of the
                    // output growing by a batch of pongs every interval.
                    if self.outbox.len() < self.config.limits.max_buffered_output {
                        self.flush_pongs();
                        self.outbox
                            .push_frame(&mut self.encoder, true, 0, OpCode::Ping, payload);
                    }
                }
            }
            State::CloseSent {
                deadline: Some(deadline),
            } if now >= deadline => {
                self.finish(CloseKind::TimedOut(Timeout::CloseHandshake), false);
            }
            State::AwaitingTransportClose {
                deadline: Some(deadline),
            } if now >= deadline => {
                self.finish(CloseKind::TimedOut(Timeout::TransportClose), true);
            }
            _ => {}
        }
    }

    // ----- outputs -----

    /// The next bytes to write, or [`Transmit::CloseTransport`] once everything owed was
    /// handed out and the transport should close. Small frames are coalesced into one
    /// chunk; a large server payload comes as its own chunk, not copied.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.outbox.is_empty() {
            self.flush_pongs();
        }
        if let Some(chunk) = self.outbox.pop() {
            return Some(Transmit::Bytes(chunk));
        }
        if self.transport == TransportClose::Owed {
            self.transport = TransportClose::Given;
            return Some(Transmit::CloseTransport);
        }
        None
    }

    /// Everything owed to the transport, as chunks for a vectored write: a lone server frame
    /// as its header and the payload it was given (not copied; a tiny frame as one chunk),
    /// several frames coalesced, large server payloads as their own chunks. Follow with
    /// [`advance_transmit`](Self::advance_transmit) by the number of bytes written, and call
    /// [`poll_transmit`](Self::poll_transmit) once all is written to learn whether to close.
    pub fn transmit_chunks(&mut self) -> impl Iterator<Item = &[u8]> {
        if self.outbox.is_empty() {
            self.flush_pongs();
        }
        self.outbox.chunks()
    }

    /// Appends everything owed to the transport to `out`, the caller's write buffer, and
    /// drops it from the output; returns the number of bytes appended. One copy, for an
    /// embedder that writes from a buffer of its own (and for many small frames, cheaper
    /// than a vectored write of their chunks). A buffer that cannot grow (such as
    /// `&mut [u8]`) gets what fits; the rest stays owed for the next call.
    ///
    /// Once it returns 0 with everything written, call
    /// [`poll_transmit`](Self::poll_transmit) to learn whether to close the transport.
    pub fn transmit_into<B: BufMut>(&mut self, out: &mut B) -> usize {
        if self.outbox.is_empty() {
            self.flush_pongs();
        }
        self.outbox.write_into(out)
    }

    /// Drops `n` written bytes from the front of the output.
    ///
    /// # Panics
    /// If `n` is more than [`buffered_amount`](Self::buffered_amount).
    pub fn advance_transmit(&mut self, n: usize) {
        self.outbox.advance(n);
    }

    /// The next event for the application.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.at_most_one() || matches!(self.state, State::CloseReceived { .. }) {
            // Nothing queued, nothing to release: the common last call of a polling loop.
            if self.events.is_released() {
                return None;
            }
            return self.poll_last_event();
        }
        self.events.pop()
    }

    /// [`poll_event`](Self::poll_event) for the last queued event, or while our reply to the
    /// peer's Close waits for the application to take [`Event::CloseReceived`].
    #[inline(never)]
    fn poll_last_event(&mut self) -> Option<Event> {
        if let Some(payload) = self.events.take_lone() {
            return Some(Event::Binary(payload));
        }
        let event = self.events.pop();
        if let (Some(Event::CloseReceived(frame)), State::CloseReceived { at }) =
            (&event, self.state)
        {
            // Echo the code (CL-07); a Close without a code gets an empty one.
            let reply = frame.as_ref().map(|f| CloseFrame {
                code: f.code,
                reason: Utf8Bytes::new(),
            });
            self.reply_close(at, reply);
        }
        // Hold no memory while idle.
        self.events.release_if_empty();
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => self.keepalive.next_deadline(&self.config),
            State::CloseSent { deadline } | State::AwaitingTransportClose { deadline } => deadline,
            State::CloseReceived { .. } | State::Closed => None,
        }
    }

    // ----- commands: closing -----

    /// Starts the close handshake with `code` and `reason` (CL-08). Data may still arrive
    /// until the peer's Close; nothing but that is sent after ours (FR-32). Refused for codes
    /// that may not be sent (1005, 1006, 1015, unassigned) and reasons over 123 bytes (CL-06).
    ///
    /// After the peer's Close arrived and before its [`Event::CloseReceived`] was taken,
    /// this sends the reply with `code` and `reason` instead of the echoed code. Once our
    /// Close is queued (by an earlier `close`, or by taking that event, which queues the
    /// echo) or the connection is over, it sends nothing and returns [`SendError::Closed`]:
    /// the closing is already under way, so an application may treat that error as done.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let frame = CloseFrame::new(code, reason)?;
        match self.state {
            State::Open => self.start_close(now, Some(frame)),
            State::CloseReceived { at } => self.reply_close(at, Some(frame)),
            _ => return Err(SendError::Closed),
        }
        Ok(())
    }

    fn start_close(&mut self, now: Instant, frame: Option<CloseFrame>) {
        self.push_close(frame);
        self.state = State::CloseSent {
            deadline: self.config.close_timeout.and_then(|t| now.checked_add(t)),
        };
    }

    /// Queues our Close after any pongs still owed. Never refused by backpressure.
    fn push_close(&mut self, frame: Option<CloseFrame>) {
        self.flush_pongs();
        let payload = frame.as_ref().map_or_else(Bytes::new, CloseFrame::to_bytes);
        self.outbox
            .push_frame(&mut self.encoder, true, 0, OpCode::Close, payload);
        self.closing().sent = Some(frame);
        self.sending = None;
    }

    fn on_close_received(&mut self, now: Instant, frame: Option<CloseFrame>) {
        self.closing().received = Some(frame.clone());
        self.events.push(Event::CloseReceived(frame));
        match self.state {
            // Our reply waits for the application to see the messages before the Close.
            State::Open => self.state = State::CloseReceived { at: now },
            // The reply to our Close, or a simultaneous close (CL-12): no second Close.
            _ => self.close_handshake_done(now),
        }
    }

    /// Sends our reply to the peer's Close, which arrived at `at`.
    fn reply_close(&mut self, at: Instant, frame: Option<CloseFrame>) {
        self.push_close(frame);
        self.close_handshake_done(at);
    }

    /// Both Close frames went (CL-08): the server closes the transport now (CL-10), the
    /// client waits for it to (CL-11).
    fn close_handshake_done(&mut self, at: Instant) {
        match self.role() {
            Role::Server => self.finish(self.normal_kind(), true),
            Role::Client => {
                self.pending_pongs = None;
                self.state = State::AwaitingTransportClose {
                    deadline: self.config.close_timeout.and_then(|t| at.checked_add(t)),
                };
            }
        }
    }

    fn closing(&mut self) -> &mut Closing {
        self.closing.get_or_insert_with(Box::default)
    }

    fn normal_kind(&self) -> CloseKind {
        match self.closing.as_ref().and_then(|c| c.cause) {
            Some(cause) => CloseKind::TimedOut(cause),
            None => CloseKind::Normal,
        }
    }

    /// Fails the connection (RFC 6455 section 7.1.7): Close with the error's code if we had
    /// not sent one, then the transport close.
    fn fail(&mut self, err: ProtocolError) {
        let reason = err.to_string();
        let frame = CloseFrame::new(err.close_code(), truncate_reason(&reason)).ok();
        self.fail_with(frame, CloseKind::Failed(err));
    }

    /// Ends the connection uncleanly: our Close with `frame` if we had not sent one (pongs
    /// owed for pings that arrived before it still go first, so the output does not depend
    /// on how the input was split), then the transport close.
    fn fail_with(&mut self, frame: Option<CloseFrame>, kind: CloseKind) {
        if self.state == State::Open {
            self.push_close(frame);
        }
        self.finish(kind, false);
    }

    /// The end: the terminal event and the transport close, exactly once.
    fn finish(&mut self, kind: CloseKind, clean: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.sending = None;
        self.pending_pongs = None;
        if self.transport == TransportClose::NotYet {
            self.transport = TransportClose::Owed;
        }
        let closing = self.closing.take().map(|c| *c).unwrap_or_default();
        self.events.push(Event::Closed(Box::new(CloseOutcome {
            kind,
            received: closing.received,
            sent: closing.sent,
            clean,
        })));
    }

    /// Moves owed pongs into the output, in the order their pings arrived.
    #[inline]
    fn flush_pongs(&mut self) {
        if self.pending_pongs.is_some() {
            self.push_pongs();
        }
    }

    fn push_pongs(&mut self) {
        let Some(pongs) = self.pending_pongs.take() else {
            return;
        };
        for payload in *pongs {
            self.outbox
                .push_frame(&mut self.encoder, true, 0, OpCode::Pong, payload);
        }
    }
}

/// A reason that fits in a Close frame, cut on a character boundary.
fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
