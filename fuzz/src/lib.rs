//! Shared helpers for the fuzz targets: input readers, the connection driver and its
//! invariants, the round trip, and the RFC reference used by the differential target.
//!
//! Inputs are read byte by byte from an [`Unstructured`] with a small hand-written format
//! (a tag byte, then a length byte and that many bytes), so that the committed seeds (raw
//! RFC byte streams) are meaningful inputs and not noise.

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use rfc6455::frame::{DecoderConfig, FrameDecoder, FrameHeader, MAX_HEADER_LEN, OpCode};
use rfc6455::{
    CloseCode, Config, Connection, ConnectionState, Event, MessageType, PreparedMessage,
    ReceiveMode, Role, SendError, Transmit, VectoredSend,
};

pub mod reference;

fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary().unwrap_or(0)
}

fn short(u: &mut Unstructured<'_>) -> u16 {
    u.arbitrary().unwrap_or(0)
}

/// A length byte, then up to that many bytes (fewer at the end of the input).
fn chunk<'a>(u: &mut Unstructured<'a>) -> &'a [u8] {
    let n = usize::from(byte(u)).min(u.len());
    u.bytes(n).unwrap_or_default()
}

/// A decoder configuration from one byte: role, allowed RSV bits, frame limit.
pub fn decoder_config(b: u8) -> DecoderConfig {
    const MAX: [u64; 8] = [16 << 20, 0, 1, 125, 126, 65535, 65536, u64::MAX >> 1];
    let role = if b & 0x80 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    DecoderConfig {
        allowed_rsv: (b >> 4) & 0x7,
        max_frame_size: MAX[usize::from(b & 7)],
        ..DecoderConfig::new(role)
    }
}

// ----- frame_header -----

/// `frame_header`: byte 0 is the configuration, the rest is parsed. A complete parse
/// re-encodes to exactly the bytes it consumed; every strict prefix of those bytes is
/// partial; an error is decided by the bytes present (a longer input gives the same error).
pub fn check_frame_header(data: &[u8]) {
    let Some((&cfg, buf)) = data.split_first() else {
        return;
    };
    let config = decoder_config(cfg);
    let status = FrameHeader::parse(buf, &config);
    let consumed = match &status {
        Ok(rfc6455::frame::HeaderStatus::Complete { header, len }) => {
            let mut out = [0; MAX_HEADER_LEN];
            let n = header.encode(&mut out);
            assert_eq!(&out[..n], &buf[..*len], "re-encoding differs: {header:?}");
            assert_eq!(header.encoded_len(), n);
            assert!(header.payload_len <= config.max_frame_size);
            *len
        }
        Ok(rfc6455::frame::HeaderStatus::Partial) => {
            assert!(
                buf.len() < MAX_HEADER_LEN,
                "partial with a full header's bytes"
            );
            buf.len()
        }
        Err(_) => buf.len().min(MAX_HEADER_LEN),
    };
    for n in 0..consumed {
        match FrameHeader::parse(&buf[..n], &config) {
            Ok(rfc6455::frame::HeaderStatus::Partial) => {}
            Ok(complete) => panic!("prefix of {n} bytes is {complete:?}, the whole is {status:?}"),
            Err(e) => assert_eq!(Err(e), status, "prefix of {n} bytes fails differently"),
        }
    }
}

// ----- decoder -----

/// Frames (header and payload) and the error, if any, of one decoding run.
type Decoded = (
    Vec<(FrameHeader, Vec<u8>)>,
    Option<rfc6455::frame::ProtocolError>,
);

/// Feeds `stream` in pieces with `decode`, or with `decode_chunk` (chunks reassembled); the
/// pieces are appended with `extend_from_slice`, or with `extend_from_read` when `fused`.
fn decode_pieces(
    config: DecoderConfig,
    stream: &[u8],
    sizes: &[u8],
    chunked: bool,
    fused: bool,
) -> Decoded {
    let mut dec = FrameDecoder::new(config);
    let mut buf = BytesMut::new();
    let mut frames: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
    let mut open = false;
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = match sizes.get(i % sizes.len().max(1)) {
            Some(&s) => usize::from(s) + 1,
            None => rest.len(),
        }
        .min(rest.len());
        i += 1;
        if fused {
            dec.extend_from_read(&mut buf, &rest[..n]);
        } else {
            buf.extend_from_slice(&rest[..n]);
        }
        rest = &rest[n..];
        loop {
            let step = if chunked {
                dec.decode_chunk(&mut buf).map(|c| {
                    c.map(|c| {
                        assert_eq!(c.first, !open, "first flag");
                        if c.first {
                            frames.push((c.header, Vec::new()));
                        }
                        let last = frames.last_mut().expect("a frame in progress");
                        assert_eq!(last.0, c.header, "header changed within a frame");
                        last.1.extend_from_slice(&c.payload);
                        open = !c.last;
                    })
                })
            } else {
                dec.decode(&mut buf)
                    .map(|f| f.map(|f| frames.push((f.header, f.payload.to_vec()))))
            };
            match step {
                Ok(Some(())) => {}
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    if open {
        // A frame whose payload is incomplete is not a decoded frame.
        frames.pop();
    }
    (frames, None)
}

/// `decoder`: byte 0 is the configuration, byte 1 the number `n` of chunk sizes that follow,
/// the rest the stream. Whole, chunked and streaming decodes must agree; each decoded frame
/// re-encodes to its bytes in the stream.
pub fn check_decoder(data: &[u8]) {
    let [cfg, n, rest @ ..] = data else {
        return;
    };
    let (sizes, stream) = rest.split_at(usize::from(*n).min(rest.len()));
    let config = decoder_config(*cfg);
    let whole = decode_pieces(config, stream, &[], false, false);
    let chunked = decode_pieces(config, stream, sizes, false, false);
    assert_eq!(whole, chunked, "chunking {sizes:?} changed the result");
    let streamed = decode_pieces(config, stream, sizes, true, false);
    assert_eq!(whole, streamed, "streaming decode {sizes:?} differs");
    let one = decode_pieces(config, stream, &[0], true, false);
    assert_eq!(whole, one, "one byte at a time differs");
    // Appending by `extend_from_read` changes nothing either way.
    let fused = decode_pieces(config, stream, sizes, false, true);
    assert_eq!(whole, fused, "extend_from_read in {sizes:?} differs");
    let fused_streamed = decode_pieces(config, stream, sizes, true, true);
    assert_eq!(
        whole, fused_streamed,
        "extend_from_read, streaming, in {sizes:?} differs"
    );
    // The frames are the stream, re-encoded.
    let mut again = BytesMut::new();
    for (header, payload) in &whole.0 {
        let mut out = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        again.extend_from_slice(&out[..n]);
        let start = again.len();
        again.extend_from_slice(payload);
        if let Some(key) = header.mask {
            rfc6455::frame::apply_mask(&mut again[start..], key, 0);
        }
    }
    assert_eq!(
        &again[..],
        &stream[..again.len()],
        "frames do not re-encode"
    );
}

// ----- connection -----

/// Values for the setup bytes, in tenths of a second; index 0 is the default, and the last
/// is `Duration::MAX`, a timeout too long for `Instant` to hold its deadline ("never").
const TIMES: [Option<u64>; 8] = [
    None,
    Some(1),
    Some(5),
    Some(10),
    Some(30),
    Some(0),
    Some(2),
    Some(u64::MAX),
];

fn time(b: u8) -> Option<Duration> {
    TIMES[usize::from(b & 7)].map(|t| match t {
        u64::MAX => Duration::MAX,
        t => Duration::from_millis(t * 100),
    })
}

/// A configuration from 8 setup bytes: small limits, so the fuzzer reaches them.
pub fn connection_config(u: &mut Unstructured<'_>) -> Config {
    const SIZES: [u64; 8] = [16 << 20, 0, 1, 125, 126, 1000, 65536, 64 << 20];
    const BUF: [usize; 8] = [1 << 20, 0, 1, 64, 200, 1000, 5000, 1 << 16];
    const FRAME: [usize; 8] = [16 << 20, 1, 2, 3, 10, 125, 126, 70000];
    let s: [u8; 8] = std::array::from_fn(|_| byte(u));
    let mut config = Config::default();
    config.limits.max_frame_size = SIZES[usize::from(s[0] & 7)];
    config.limits.max_message_size =
        SIZES[usize::from(s[1] & 7)].max(if s[1] & 8 != 0 { 64 << 20 } else { 0 });
    config.limits.max_buffered_output = BUF[usize::from(s[2] & 7)];
    config.limits.max_pending_pongs = usize::from(s[3] & 0x1f);
    config.max_send_frame_size = FRAME[usize::from(s[4] & 7)];
    config.close_timeout = if s[5] & 0x80 != 0 {
        None
    } else {
        time(s[5]).or(Some(Duration::from_secs(10)))
    };
    config.keepalive_interval = time(s[5] >> 3);
    config.pong_timeout = time(s[6]);
    config.idle_timeout = time(s[6] >> 3);
    if s[7] & 1 != 0 {
        config.receive_mode = ReceiveMode::Streaming;
    }
    config
}

/// Deterministic masking keys (never do this outside tests).
fn fixed_keys(c: &mut Connection) {
    let mut n: u8 = 0;
    c.set_mask_key_source(Box::new(move || {
        n = n.wrapping_add(1);
        [n, 0x5a, 0xa5, n ^ 0xff]
    }));
}

/// One frame as the peer of `role` sends it (masked towards a server), with a raw first
/// byte; `flip` sends it with the wrong mask bit.
fn peer_frame(role: Role, b0: u8, flip: bool, payload: &[u8]) -> Vec<u8> {
    let masked = (role == Role::Server) != flip;
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: masked.then_some([0x37, 0xfa, 0x21, 0x3d]),
        payload_len: payload.len() as u64,
    };
    let mut out = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut out);
    out[0] = b0;
    let mut frame = out[..n].to_vec();
    frame.extend(payload.iter().enumerate().map(|(i, b)| match header.mask {
        Some(k) => b ^ k[i % 4],
        None => *b,
    }));
    frame
}

/// Per-frame header budget of an outgoing message of `len` bytes.
fn send_cost(len: usize, config: &Config) -> usize {
    len + MAX_HEADER_LEN * (len / config.max_send_frame_size.max(1) + 1)
}

/// A control frame on the wire, at most.
const CONTROL: usize = 125 + MAX_HEADER_LEN;

/// The embedder of a connection under test, with the invariants it checks after every
/// operation.
struct Driver {
    conn: Connection,
    config: Config,
    now: Instant,
    input: BytesMut,
    /// Everything written to the transport.
    wire: Vec<u8>,
    closed_events: usize,
    close_transports: usize,
    buffered_at_close: usize,
    /// The largest data message accepted, as bytes on the wire.
    largest_send: usize,
}

impl Driver {
    fn new(role: Role, config: Config) -> Self {
        let now = Instant::now();
        let mut conn = Connection::new(role, config.clone(), now);
        fixed_keys(&mut conn);
        Self {
            conn,
            config,
            now,
            input: BytesMut::new(),
            wire: Vec::new(),
            closed_events: 0,
            close_transports: 0,
            buffered_at_close: 0,
            largest_send: 0,
        }
    }

    /// Hands `bytes` over by `handle_read`, or appended to the input for `handle_input`.
    fn feed(&mut self, bytes: &[u8], read: bool) {
        let failed = if read {
            self.conn.handle_read(self.now, &mut self.input, bytes)
        } else {
            self.input.extend_from_slice(bytes);
            self.conn.handle_input(self.now, &mut self.input)
        }
        .is_err();
        self.events();
        if failed {
            assert_eq!(self.closed_events, 1, "an error without the terminal event");
        }
    }

    /// A data command: accepted only below the high-water mark, and only while open.
    fn data(&mut self, len: usize, send: impl FnOnce(&mut Connection) -> Result<(), SendError>) {
        let before = self.conn.buffered_amount();
        let open = self.conn.state() == ConnectionState::Open;
        let result = send(&mut self.conn);
        if result.is_ok() {
            assert!(open, "a send accepted while not open");
            assert!(
                before < self.config.limits.max_buffered_output,
                "a send accepted at {before} buffered bytes, limit {}",
                self.config.limits.max_buffered_output
            );
            self.largest_send = self.largest_send.max(send_cost(len, &self.config));
        }
    }

    /// Writes up to `n` bytes to the transport, as a slow socket would.
    fn write(&mut self, n: usize) {
        let taken = write_prefix(self.conn.transmit_chunks(), n, &mut self.wire);
        self.conn.advance_transmit(taken);
    }

    /// Bytes the connection appended to a write buffer of ours (`transmit_into`, the
    /// `send_*_into` calls): on the wire, and never after the transport close.
    fn written(&mut self, out: &[u8]) {
        if !out.is_empty() {
            assert_eq!(self.close_transports, 0, "bytes after the transport close");
            self.wire.extend_from_slice(out);
        }
    }

    /// Everything owed, appended to a growable buffer or to a fixed one of `room` bytes (the
    /// rest stays owed).
    fn transmit_into(&mut self, room: Option<usize>) {
        let (n, out) = match room {
            None => {
                let mut out = Vec::new();
                (self.conn.transmit_into(&mut out), out)
            }
            Some(room) => {
                let mut out = vec![0; room];
                let mut rest = &mut out[..];
                let n = self.conn.transmit_into(&mut rest);
                out.truncate(n);
                (n, out)
            }
        };
        assert_eq!(n, out.len(), "transmit_into miscounted");
        // Everything owed fits a growable buffer; a fixed one is filled before anything is
        // left owed.
        if room.is_none_or(|room| n < room) {
            assert_eq!(
                self.conn.buffered_amount(),
                0,
                "transmit_into left bytes owed"
            );
        }
        self.written(&out);
    }

    fn drain(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            match t {
                Transmit::Bytes(b) => {
                    assert!(!b.is_empty(), "an empty transmit");
                    assert_eq!(self.close_transports, 0, "bytes after the transport close");
                    self.wire.extend_from_slice(&b);
                }
                Transmit::CloseTransport => {
                    assert_eq!(self.close_transports, 0, "CloseTransport given twice");
                    assert_eq!(self.conn.buffered_amount(), 0);
                    self.close_transports += 1;
                }
            }
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            assert_eq!(self.closed_events, 0, "an event after Closed: {e:?}");
            if let Event::Closed(_) = e {
                self.closed_events += 1;
                self.buffered_at_close = self.conn.buffered_amount();
            }
        }
    }

    /// The invariants that hold between operations.
    fn check(&mut self) {
        self.events();
        let limits = self.config.limits;
        let buffered = self.conn.buffered_amount();
        let pongs = (limits.max_pending_pongs.max(1) + 1) * CONTROL;
        // Above the high-water mark by at most one accepted message or keepalive Ping with
        // the batch of pongs flushed ahead of it (only queued below the mark), plus, once
        // per connection, the pongs still owed and the Close when closing or failing (pongs
        // and the Close are never dropped, whatever the level).
        let allowed = limits.max_buffered_output + self.largest_send + 2 * pongs + 2 * CONTROL;
        assert!(
            buffered <= allowed,
            "{buffered} bytes buffered, allowed {allowed}"
        );
        let heap = self.conn.heap_capacity();
        let message = usize::try_from(limits.max_message_size.min(1 << 30)).unwrap_or(0);
        let heap_allowed = 2 * (buffered + message + pongs) + 16 * 1024;
        assert!(
            heap <= heap_allowed,
            "{heap} heap bytes, allowed {heap_allowed}"
        );
        if self.closed_events > 0 {
            assert_eq!(self.conn.state(), ConnectionState::Closed);
            assert_eq!(self.conn.poll_timeout(), None);
            assert!(
                buffered <= self.buffered_at_close,
                "output queued after Closed"
            );
            self.buffered_at_close = buffered;
        } else {
            assert_eq!(self.close_transports, 0, "transport closed before Closed");
        }
    }

    /// The end: all output written, EOF. Exactly one terminal event, one transport close,
    /// and a wire our own strict peer accepts, with nothing after the Close frame.
    fn finish(mut self, role: Role) {
        self.drain();
        self.conn.handle_eof();
        self.drain();
        self.check();
        assert_eq!(self.closed_events, 1, "not exactly one Closed event");
        assert_eq!(self.close_transports, 1, "not exactly one transport close");
        assert!(self.conn.send_text("x").is_err());
        assert!(self.conn.close(self.now, CloseCode::NORMAL, "").is_err());

        let peer_role = if role == Role::Server {
            Role::Client
        } else {
            Role::Server
        };
        let mut dec = FrameDecoder::new(DecoderConfig {
            max_frame_size: u64::MAX >> 1,
            ..DecoderConfig::new(peer_role)
        });
        let mut buf = BytesMut::from(&self.wire[..]);
        let mut closed = false;
        while let Some(frame) = dec.decode(&mut buf).expect("our output decodes") {
            assert!(!closed, "a frame after our Close: {frame:?}");
            closed = frame.header.opcode == OpCode::Close;
        }
        assert!(buf.is_empty(), "a partial frame in our output");
        let mut config = Config::default();
        config.limits.max_frame_size = u64::MAX >> 1;
        config.limits.max_message_size = u64::MAX >> 1;
        let mut peer = Connection::new(peer_role, config, self.now);
        let mut wire = BytesMut::from(&self.wire[..]);
        if let Err(e) = peer.handle_input(self.now, &mut wire) {
            panic!("our own output violates the protocol: {e}");
        }
    }
}

/// A vectored write of at most `room` bytes of `chunks` (a slow socket), appended to `out`;
/// returns the bytes taken.
fn write_prefix<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
    room: usize,
    out: &mut Vec<u8>,
) -> usize {
    let mut taken = 0;
    for chunk in chunks {
        let k = chunk.len().min(room - taken);
        out.extend_from_slice(&chunk[..k]);
        taken += k;
        if taken == room {
            break;
        }
    }
    taken
}

/// [`write_prefix`] of what `send` offers; the rest is left to the connection.
fn write_vectored(send: VectoredSend<'_, '_>, room: usize, out: &mut Vec<u8>) {
    let taken = write_prefix(send.chunks(), room, out);
    send.advance(taken);
}

/// `connection_server` / `connection_client`: 8 setup bytes, then operations until the
/// input runs out.
pub fn run_connection(role: Role, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let config = connection_config(&mut u);
    let mut d = Driver::new(role, config);
    while !u.is_empty() {
        let op = byte(&mut u);
        // The high bits pick between the ways of doing the same thing.
        let how = op >> 4;
        match op % 16 {
            0 => d.feed(chunk(&mut u), how & 1 != 0),
            1 => {
                let (b0, flip) = (byte(&mut u), byte(&mut u) & 1 != 0);
                let frame = peer_frame(role, b0, flip, chunk(&mut u));
                d.feed(&frame, how & 1 != 0);
            }
            2 => {
                d.conn.handle_eof();
            }
            3 => {
                d.now += Duration::from_millis(u64::from(byte(&mut u)) * 100);
                d.conn.handle_timeout(d.now);
            }
            4 => {
                // A timer firing at its deadline, or an early call.
                if let Some(t) = d.conn.poll_timeout() {
                    d.now = d.now.max(t);
                }
                d.conn.handle_timeout(d.now);
            }
            5 => {
                let text = String::from_utf8_lossy(chunk(&mut u)).into_owned();
                let mut out = Vec::new();
                match how % 4 {
                    0 => d.data(text.len(), |c| c.send_text(text.clone())),
                    1 => d.data(text.len(), |c| c.send_text_from_str(&text)),
                    2 => d.data(text.len(), |c| c.send_text_into(&mut out, &text)),
                    _ => {
                        let room = usize::from(short(&mut u));
                        d.data(text.len(), |c| {
                            let send = c.send_text_vectored(&text)?;
                            write_vectored(send, room, &mut out);
                            Ok(())
                        })
                    }
                }
                d.written(&out);
            }
            6 => {
                let data = chunk(&mut u);
                let mut out = Vec::new();
                match how % 5 {
                    0 => d.data(data.len(), |c| c.send_binary(Bytes::copy_from_slice(data))),
                    1 => d.data(data.len(), |c| c.send_binary_from_slice(data)),
                    2 => d.data(data.len(), |c| c.send_binary_into(&mut out, data)),
                    3 => {
                        let room = usize::from(short(&mut u));
                        d.data(data.len(), |c| {
                            let send = c.send_binary_vectored(data)?;
                            write_vectored(send, room, &mut out);
                            Ok(())
                        })
                    }
                    _ => {
                        let message = PreparedMessage::binary(Bytes::copy_from_slice(data));
                        d.data(data.len(), |c| c.send_prepared(&message))
                    }
                }
                d.written(&out);
            }
            7 => {
                let data = Bytes::copy_from_slice(chunk(&mut u));
                d.data(data.len(), |c| c.send_ping(data));
            }
            8 => {
                let data = Bytes::copy_from_slice(chunk(&mut u));
                d.data(data.len(), |c| c.send_pong(data));
            }
            9 => {
                let code = CloseCode(short(&mut u));
                let reason = String::from_utf8_lossy(chunk(&mut u)).into_owned();
                let _ = d.conn.close(d.now, code, &reason);
            }
            10 => {
                let kind = if byte(&mut u) & 1 == 0 {
                    MessageType::Text
                } else {
                    MessageType::Binary
                };
                let _ = d.conn.begin_message(kind);
            }
            11 => {
                let data = Bytes::copy_from_slice(chunk(&mut u));
                d.data(data.len(), |c| c.continue_message(data));
            }
            12 => {
                let data = Bytes::copy_from_slice(chunk(&mut u));
                d.data(data.len(), |c| c.finish_message(data));
            }
            13 => d.write(usize::from(short(&mut u))),
            14 => match how % 3 {
                0 => d.drain(),
                1 => d.transmit_into(None),
                _ => d.transmit_into(Some(usize::from(byte(&mut u)))),
            },
            _ => {
                let n = usize::from(short(&mut u)).min(u.len());
                let bytes = u.bytes(n).unwrap_or_default();
                d.feed(bytes, how & 1 != 0);
            }
        }
        d.check();
    }
    d.finish(role);
}

// ----- roundtrip -----

/// Moves everything `from` wants to send into `to`, in pieces of the given sizes.
fn pump(
    from: &mut Connection,
    to: &mut Connection,
    now: Instant,
    sizes: &[u8],
    events: &mut Vec<Event>,
) {
    let mut wire = Vec::new();
    while let Some(t) = from.poll_transmit() {
        if let Transmit::Bytes(b) = t {
            wire.extend_from_slice(&b);
        }
    }
    let mut buf = BytesMut::new();
    let mut rest = &wire[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s) + 1)
            .min(rest.len());
        i += 1;
        // `handle_read` and `handle_input` in turn: the same result either way.
        if i % 2 == 0 {
            to.handle_read(now, &mut buf, &rest[..n])
        } else {
            buf.extend_from_slice(&rest[..n]);
            to.handle_input(now, &mut buf)
        }
        .expect("our own frames are valid");
        rest = &rest[n..];
        events.extend(std::iter::from_fn(|| to.poll_event()));
    }
    assert!(buf.is_empty(), "bytes left over");
}

/// Streaming-mode chunks joined back into whole messages.
fn join_chunks(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut text = None;
    let mut partial = Vec::new();
    for e in events {
        let (is_text, data, fin) = match e {
            Event::TextChunk { data, fin, .. } => (true, data.into_bytes(), fin),
            Event::BinaryChunk { data, fin, .. } => (false, data, fin),
            other => {
                out.push(other);
                continue;
            }
        };
        assert!(
            text.is_none_or(|t| t == is_text),
            "message type changed mid-message"
        );
        text = Some(is_text);
        partial.extend_from_slice(&data);
        if fin {
            let data = Bytes::from(std::mem::take(&mut partial));
            out.push(if is_text {
                Event::Text(rfc6455::Utf8Bytes::try_from_bytes(data).expect("chunks are UTF-8"))
            } else {
                Event::Binary(data)
            });
            text = None;
        }
    }
    assert!(
        partial.is_empty() && text.is_none(),
        "an unfinished message"
    );
    out
}

/// `roundtrip`: 8 setup bytes (send frame size, receive mode, chunk sizes), then messages.
/// Client to server and server to client, each side receives exactly what was sent.
pub fn run_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let setup = byte(&mut u);
    let sizes = chunk(&mut u).to_vec();
    let mut config = Config::default();
    config.max_send_frame_size = [16 << 20, 1, 2, 3, 7, 125, 126, 65536][usize::from(setup & 7)];
    if setup & 8 != 0 {
        config.receive_mode = ReceiveMode::Streaming;
    }
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, config.clone(), now);
    let mut server = Connection::new(Role::Server, config.clone(), now);
    fixed_keys(&mut client);
    let mut sent = Vec::new();
    while !u.is_empty() {
        let tag = byte(&mut u);
        let payload = chunk(&mut u);
        let text = String::from_utf8_lossy(payload).into_owned();
        let split = usize::from(byte(&mut u));
        for c in [&mut client, &mut server] {
            match tag % 6 {
                0 => c.send_text(text.clone()).unwrap(),
                1 => c.send_binary(Bytes::copy_from_slice(payload)).unwrap(),
                4 => c.send_text_from_str(&text).unwrap(),
                5 => c.send_binary_from_slice(payload).unwrap(),
                2 => {
                    // Streamed, split anywhere (even inside a character).
                    let bytes = text.as_bytes();
                    let at = split.min(bytes.len());
                    c.begin_message(MessageType::Text).unwrap();
                    c.continue_message(Bytes::copy_from_slice(&bytes[..at]))
                        .unwrap();
                    c.finish_message(Bytes::copy_from_slice(&bytes[at..]))
                        .unwrap();
                }
                _ => {
                    // 3: streamed binary.
                    let at = split.min(payload.len());
                    c.begin_message(MessageType::Binary).unwrap();
                    c.continue_message(Bytes::copy_from_slice(&payload[..at]))
                        .unwrap();
                    c.finish_message(Bytes::copy_from_slice(&payload[at..]))
                        .unwrap();
                }
            }
        }
        sent.push(match tag % 2 {
            0 => Event::Text(text.into()),
            _ => Event::Binary(Bytes::copy_from_slice(payload)),
        });
    }
    for to_server in [true, false] {
        let mut events = Vec::new();
        if to_server {
            pump(&mut client, &mut server, now, &sizes, &mut events);
        } else {
            pump(&mut server, &mut client, now, &sizes, &mut events);
        }
        let events = if config.receive_mode == ReceiveMode::Streaming {
            join_chunks(events)
        } else {
            events
        };
        assert_eq!(events, sent, "received differs from sent");
    }
}

// ----- differential -----

/// Our verdict on a client byte stream: the messages delivered, and the close code we
/// failed with.
pub fn ours(stream: &[u8]) -> (Vec<reference::Message>, Option<u16>) {
    let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
    let mut buf = BytesMut::from(stream);
    let verdict = conn.handle_input(Instant::now(), &mut buf).err();
    let mut messages = Vec::new();
    take_messages(&mut conn, &mut messages);
    (messages, verdict.map(|e| e.close_code().as_u16()))
}

/// Appends the data messages among `conn`'s events to `messages`.
fn take_messages(conn: &mut Connection, messages: &mut Vec<reference::Message>) {
    while let Some(e) = conn.poll_event() {
        match e {
            Event::Text(t) => messages.push(reference::Message::Text(t.to_string())),
            Event::Binary(b) => messages.push(reference::Message::Binary(b.to_vec())),
            _ => {}
        }
    }
}

/// An in-memory stream for tungstenite: reads from the input, swallows writes.
struct Wire(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tungstenite's reading of the same stream as a server: the messages it delivers, and the
/// error it fails with (`None` when it read to the end or to a Close).
pub fn theirs(stream: &[u8]) -> (Vec<reference::Message>, Option<String>) {
    use tungstenite::error::{Error, ProtocolError};
    use tungstenite::protocol::{Message, Role, WebSocket};
    let wire = Wire(std::io::Cursor::new(stream.to_vec()));
    let mut ws = WebSocket::from_raw_socket(wire, Role::Server, None);
    let mut messages = Vec::new();
    for _ in 0..=stream.len() {
        match ws.read() {
            Ok(Message::Text(t)) => messages.push(reference::Message::Text(t.to_string())),
            Ok(Message::Binary(b)) => messages.push(reference::Message::Binary(b.to_vec())),
            Ok(_) => {}
            Err(
                Error::ConnectionClosed
                | Error::AlreadyClosed
                | Error::Io(_)
                | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ) => return (messages, None),
            Err(e) => return (messages, Some(e.to_string())),
        }
    }
    (messages, None)
}

/// [`ours`], with `stream` handed to `Connection::handle_read` in reads of `read` bytes.
pub fn ours_by_read(stream: &[u8], read: usize) -> (Vec<reference::Message>, Option<u16>) {
    let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
    let mut buf = BytesMut::new();
    let mut verdict = None;
    let mut messages = Vec::new();
    for piece in stream.chunks(read.max(1)) {
        if let Err(e) = conn.handle_read(Instant::now(), &mut buf, piece) {
            assert!(verdict.is_none(), "two errors");
            verdict = Some(e.close_code().as_u16());
        }
        take_messages(&mut conn, &mut messages);
    }
    (messages, verdict)
}

/// `differential`: a client byte stream into our server, into tungstenite's, and into the
/// RFC reference. Ours must match the reference exactly (messages, and failing with one of
/// its codes); tungstenite must deliver the same messages wherever both accept.
pub fn check_differential(data: &[u8]) {
    let reading = reference::server_reads(data);
    let stream = &data[..reading.end];
    let (messages, code) = ours(stream);
    // The same through `handle_read`: in one read, in reads of 7 bytes and of 1 500.
    for read in [stream.len(), 7, 1500] {
        assert_eq!(
            ours_by_read(stream, read),
            (messages.clone(), code),
            "handle_read in reads of {read} bytes differs from handle_input"
        );
    }
    assert_eq!(
        messages, reading.messages,
        "our messages differ from the RFC reading"
    );
    match (&reading.fails_with, code) {
        (None, None) => {}
        (Some(codes), Some(code)) => {
            assert!(
                codes.contains(&code),
                "we failed with {code}, the RFC says {codes:?}"
            )
        }
        (expected, got) => panic!("the RFC says {expected:?}, we failed with {got:?}"),
    }
    let (their_messages, their_error) = theirs(stream);
    let n = messages.len().min(their_messages.len());
    assert_eq!(
        messages[..n],
        their_messages[..n],
        "delivered messages differ"
    );
    match (code, their_error) {
        (None, None) => assert_eq!(messages, their_messages, "both accept, messages differ"),
        (None, Some(e)) => panic!("tungstenite rejects ({e}) what we and the RFC accept"),
        // Where we reject and they accept, the reference above already confirmed our
        // verdict: their laxness is not our bug.
        _ => {}
    }
}

// ----- handshakes -----

/// Byte 0 is the number `n` of chunk sizes, the next `n` bytes the sizes, the rest the head.
fn sizes_and_rest(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(n).min(rest.len()))
}

/// Feeds `head` in pieces (all of it at once when `sizes` is empty) to `feed` until it
/// returns something other than `partial`; gives that and what is left in the buffer.
fn feed_head<T: PartialEq>(
    head: &[u8],
    sizes: &[u8],
    partial: &T,
    mut feed: impl FnMut(&mut BytesMut) -> T,
) -> (T, Vec<u8>) {
    let mut buf = BytesMut::new();
    let mut rest = head;
    let mut i = 0;
    loop {
        let n = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s) + 1)
            .min(rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let got = feed(&mut buf);
        if got != *partial || rest.is_empty() {
            // Whatever was not fed yet follows what the parser left.
            buf.extend_from_slice(rest);
            return (got, buf.to_vec());
        }
    }
}

/// The `Sec-WebSocket-Accept` value for a key, computed here from RFC 6455 section 4.2.2.
fn expected_accept(key: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let mut sha1 = sha1::Sha1::new();
    sha1.update(key.trim_matches([' ', '\t']).as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// `handshake_request`: chunk sizes, then a request head. Whole and chunked parses agree,
/// and a complete head meets the head cap exactly at its length (`check_head_cap`);
/// an upgrade can be accepted, with the right Accept, and our client accepts that answer;
/// a failure's error response is an HTTP response with the error's status.
pub fn check_handshake_request(data: &[u8]) {
    use rfc6455::handshake::{
        AcceptOptions, HandshakeError, RequestParser, ServerConfig, ServerStatus,
    };
    let (sizes, head) = sizes_and_rest(data);
    let run = |head: &[u8], sizes: &[u8], cap: usize| {
        let mut parser = RequestParser::new(ServerConfig::default().with_max_head_size(cap));
        feed_head(head, sizes, &Ok(ServerStatus::Partial), |buf| {
            parser.feed(buf)
        })
    };
    let whole = whole_and_chunked(head, sizes, run);
    if let Ok(ServerStatus::Upgrade(_) | ServerStatus::NotUpgrade(_)) = &whole.0 {
        let len = head.len() - whole.1.len();
        let too_large = Err(HandshakeError::HeadTooLarge { limit: len - 1 });
        check_head_cap(head, len, &whole, too_large, |head, cap| {
            run(head, sizes, cap)
        });
    }
    match whole.0 {
        Ok(ServerStatus::Upgrade(request)) => {
            // Nothing after an upgrade request is parsed as HTTP, and a rejection closes.
            let mut parser = RequestParser::default();
            let mut buf = BytesMut::from(head);
            assert!(matches!(
                parser.feed(&mut buf),
                Ok(ServerStatus::Upgrade(_))
            ));
            let rest = buf.clone();
            assert_eq!(parser.feed(&mut buf), Err(HandshakeError::Finished));
            assert_eq!(buf, rest, "nothing consumed after the upgrade");
            let refusal = request.reject(403, &[], b"").expect("a valid refusal");
            assert!(refusal.starts_with(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"));
            let (response, _) = request
                .accept(&AcceptOptions::new())
                .expect("a valid upgrade request can be accepted");
            let accept = expected_accept(request.key());
            assert_eq!(accept.len(), 28);
            assert!(response.starts_with(b"HTTP/1.1 101 "));
            let line = format!("\r\nSec-WebSocket-Accept: {accept}\r\n");
            assert!(
                response.windows(line.len()).any(|w| w == line.as_bytes()),
                "no {line:?} in the 101 for key {:?}",
                request.key()
            );
            check_client_reads(&response, request.key());
        }
        Err(e) => {
            if let Some(response) = e.response() {
                let status = read_response(&response, None);
                assert_eq!(Some(status), e.status(), "error response of {e:?}");
            }
        }
        Ok(_) => {}
    }
}

/// Our client, had it sent `key`, accepts the 101 `response`.
fn check_client_reads(response: &[u8], key: &str) {
    use base64::Engine;
    let mut nonce = [0u8; 16];
    let decoded = base64::engine::general_purpose::STANDARD.decode_slice(key.trim(), &mut nonce);
    if decoded != Ok(16) {
        return; // A key our client would not have written (non-canonical base64).
    }
    let status = read_response(response, Some(nonce));
    assert_eq!(status, 101, "our client does not accept our server's 101");
}

/// Parses a response with our client (the sample nonce unless one is given): the status.
fn read_response(response: &[u8], nonce: Option<[u8; 16]>) -> u16 {
    use rfc6455::handshake::{ClientConfig, ClientHandshake, ClientStatus};
    let nonce = nonce.unwrap_or(*b"the sample nonce");
    let mut client =
        ClientHandshake::with_nonce("ws://example.com/", ClientConfig::default(), nonce)
            .expect("a valid client");
    let mut buf = BytesMut::from(response);
    match client.feed(&mut buf) {
        Ok(ClientStatus::Accepted(_)) => 101,
        Ok(ClientStatus::Rejected(r)) => r.status(),
        other => panic!("our client cannot read our server's response: {other:?}"),
    }
}

/// `run(head, sizes, cap)` with the default head cap, fed whole, after asserting that
/// feeding it in `sizes` gives the same.
fn whole_and_chunked<S: PartialEq + std::fmt::Debug>(
    head: &[u8],
    sizes: &[u8],
    run: impl Fn(&[u8], &[u8], usize) -> (S, Vec<u8>),
) -> (S, Vec<u8>) {
    let cap = rfc6455::handshake::DEFAULT_MAX_HEAD_SIZE;
    let whole = run(head, &[], cap);
    assert_eq!(
        whole,
        run(head, sizes, cap),
        "chunking {sizes:?} changed the result"
    );
    whole
}

/// The head cap counts the head's bytes, blank line included (HS-S-12, SEC-04): with a cap
/// of exactly the `len` bytes of the head at the front of `input`, `run(input, cap)` gives
/// the same result as `whole` (the default cap); with one byte less it fails with
/// `too_large`, however the input was split, and already when only the first `len - 1`
/// bytes have arrived.
fn check_head_cap<S: PartialEq + std::fmt::Debug>(
    input: &[u8],
    len: usize,
    whole: &(S, Vec<u8>),
    too_large: S,
    run: impl Fn(&[u8], usize) -> (S, Vec<u8>),
) {
    assert_eq!(
        run(input, len),
        *whole,
        "a cap of exactly the head's {len} bytes"
    );
    assert_eq!(
        run(input, len - 1).0,
        too_large,
        "a cap one byte under the head"
    );
    assert_eq!(
        run(&input[..len - 1], len - 1).0,
        too_large,
        "the cap's worth of bytes without the head's end"
    );
}

/// Whether `head` starts with an interim response (a 1xx other than 101), after any empty
/// lines: `HTTP/1.x 1`, not `HTTP/1.x 101`.
fn starts_with_interim(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let line = &head[start..];
    line.starts_with(b"HTTP/1.") && line.get(9) == Some(&b'1') && line.get(9..12) != Some(b"101")
}

/// `handshake_response`: chunk sizes, then a response head, read by a client that offered
/// subprotocol `chat` and `permessage-deflate` with the RFC's sample key. Whole and chunked
/// reads agree, and a complete head meets the head cap exactly at its length
/// (`check_head_cap`); an accepted response carries the exact Accept and only what was offered
/// (extension names compare ASCII case-insensitively, the crate's policy).
pub fn check_handshake_response(data: &[u8]) {
    use rfc6455::handshake::{
        ClientConfig, ClientHandshake, ClientStatus, Extension, HandshakeError,
    };
    let (sizes, head) = sizes_and_rest(data);
    let run = |head: &[u8], sizes: &[u8], cap: usize| {
        let config = ClientConfig::default()
            .with_max_head_size(cap)
            .with_subprotocol("chat")
            .with_extension(Extension::new("permessage-deflate").expect("a valid name"));
        let mut client = ClientHandshake::with_nonce(
            "ws://server.example.com/chat",
            config,
            *b"the sample nonce",
        )
        .expect("a valid client");
        let (got, rest) = feed_head(head, sizes, &Ok(ClientStatus::Partial), |buf| {
            client.feed(buf)
        });
        // The body of a non-101 is what had arrived after the head: join it with the rest.
        if let Ok(ClientStatus::Rejected(r)) = &got {
            let body = [&r.body()[..], &rest].concat();
            let r = (r.status(), r.reason().to_owned(), r.headers().clone(), body);
            return (Err(r), Vec::new());
        }
        (Ok(got), rest)
    };
    let whole = whole_and_chunked(head, sizes, run);
    let head_len = match &whole {
        (Err((.., body)), _) => Some(head.len() - body.len()),
        (Ok(Ok(ClientStatus::Accepted(_))), rest) => Some(head.len() - rest.len()),
        _ => None,
    };
    // With interim responses skipped before the final one, the cap applies to each head,
    // not to all of them: the exact-length check is for a single head.
    if let Some(len) = head_len.filter(|_| !starts_with_interim(head)) {
        let too_large = Ok(Err(HandshakeError::HeadTooLarge { limit: len - 1 }));
        check_head_cap(head, len, &whole, too_large, |head, cap| {
            run(head, sizes, cap)
        });
    }
    match whole.0 {
        Err((status, ..)) => assert_ne!(status, 101, "a 101 returned as a rejection"),
        Ok(Ok(ClientStatus::Accepted(negotiated))) => {
            let accept = expected_accept("dGhlIHNhbXBsZSBub25jZQ==");
            assert!(
                head.windows(accept.len()).any(|w| w == accept.as_bytes()),
                "accepted without the Accept value {accept}"
            );
            assert!(matches!(
                negotiated.subprotocol.as_deref(),
                None | Some("chat")
            ));
            assert!(
                negotiated
                    .extensions
                    .iter()
                    .all(|e| e.name().eq_ignore_ascii_case("permessage-deflate"))
            );
        }
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The harness passes correct behaviour: a send refused at the high-water mark.
    #[test]
    fn backpressure_input_passes() {
        let mut input = vec![0, 0, 1, 0, 0, 0, 0, 0];
        input.extend_from_slice(&[5, 1, b'a', 5, 1, b'b', 13, 2, 0]);
        run_connection(Role::Client, &input);
        run_connection(Role::Server, &input);
    }

    // The reference and the crate agree on the RFC 5.7 examples, and tungstenite is lax
    // where the crate is strict: a non-minimal length (FR-12).
    #[test]
    fn differential_verdicts() {
        check_differential(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        let mut non_minimal = vec![0x82, 0xfe, 0x00, 0x01, 0, 0, 0, 0, 0x2a];
        let reading = reference::server_reads(&non_minimal);
        assert_eq!(reading.fails_with, Some(vec![1002]));
        assert_eq!(ours(&non_minimal).1, Some(1002));
        assert_eq!(
            theirs(&non_minimal),
            (vec![reference::Message::Binary(vec![0x2a])], None)
        );
        check_differential(&non_minimal);
        non_minimal[1] = 0x81; // minimal: everyone accepts
        check_differential(
            &non_minimal[..2]
                .iter()
                .chain(&non_minimal[4..])
                .copied()
                .collect::<Vec<_>>(),
        );
    }
}

#[cfg(test)]
mod keepalive {
    use super::*;

    /// Peer pings and keepalive rounds while the transport never drains: the input that
    /// showed the output growing past the high-water mark every keepalive round (see
    /// `tests/fuzz_regressions.rs`); the same bytes are a `connection_server` seed.
    pub(crate) fn keepalive_rounds(rounds: u32) -> Vec<u8> {
        let mut input = vec![0, 0, 3, 16, 0, 8, 4, 0];
        for round in 1..=rounds {
            for _ in 0..16 {
                input.extend_from_slice(&[1, 0x89, 0, 125]);
                input.extend_from_slice(&[b'p'; 125]);
            }
            input.extend_from_slice(&[3, 2]);
            input.extend_from_slice(&[1, 0x8a, 0, 4]);
            input.extend_from_slice(&round.to_be_bytes());
        }
        input
    }

    #[test]
    fn stalled_output_stays_bounded() {
        run_connection(Role::Server, &keepalive_rounds(4));
    }
}

#[cfg(test)]
mod corpus_report {
    use super::*;

    /// Tallies verdicts over a corpus directory (`DIFF_CORPUS=dir cargo test -- --ignored
    /// --nocapture`): how often we and tungstenite agree, and where each rejects alone.
    #[test]
    #[ignore = "reads a local corpus"]
    fn differential_tally() {
        let dir = std::env::var("DIFF_CORPUS").expect("DIFF_CORPUS");
        let mut tally = std::collections::BTreeMap::<String, usize>::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            check_differential(&data);
            let end = reference::server_reads(&data).end;
            let (_, code) = ours(&data[..end]);
            let (_, theirs) = theirs(&data[..end]);
            let key = match (code, theirs) {
                (None, None) => "both accept".to_owned(),
                (Some(c), Some(_)) => format!("both reject (ours {c})"),
                (Some(c), None) => {
                    let rules = reference::server_reads(&data).rules;
                    format!("only we reject: {c}, RFC {rules:?}")
                }
                (None, Some(e)) => format!("only tungstenite rejects: {e}"),
            };
            *tally.entry(key).or_default() += 1;
        }
        for (k, n) in tally {
            println!("{n:6}  {k}");
        }
    }
}
