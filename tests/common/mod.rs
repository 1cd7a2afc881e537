//! Test harness: feed bytes to one connection in any split, or drive a client/server pair in
//! memory with virtual time. No sockets, no sleeps; every loop is bounded.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rfc6455::frame::{FrameEncoder, OpCode};
use rfc6455::{Config, Connection, Event, Role, Transmit};

/// How to cut an input into pieces.
#[derive(Clone, Copy, Debug)]
pub enum Split {
    Whole,
    OneByte,
    Random(u64),
    /// Reads of this many bytes (the last one shorter), for inputs too large to feed in
    /// small pieces.
    Every(usize),
    /// Random reads of 1 to 9 000 bytes, which hold whole frames of several KiB.
    RandomLarge(u64),
}

pub const SPLITS: [Split; 6] = [
    Split::Whole,
    Split::OneByte,
    Split::Random(1),
    Split::Random(2),
    Split::Random(0xdead_beef),
    Split::RandomLarge(3),
];

/// How a test hands the pieces of its input to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Appended to the input buffer, then `handle_input`.
    Input,
    /// `handle_read` with the piece.
    Read,
    /// The two in turn, piece by piece.
    Mixed,
}

pub const VIAS: [Via; 3] = [Via::Input, Via::Read, Via::Mixed];

/// A tiny deterministic generator (xorshift) for splits.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub fn pieces(input: &[u8], split: Split) -> Vec<&[u8]> {
    match split {
        Split::Whole => vec![input],
        Split::OneByte => input.chunks(1).collect(),
        Split::Every(n) => input.chunks(n).collect(),
        Split::Random(seed) | Split::RandomLarge(seed) => {
            let most = if let Split::Random(_) = split {
                64
            } else {
                9000
            };
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            let mut rest = input;
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(most));
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
            out
        }
    }
}

/// What a connection did with some input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Event>,
    /// Everything it wrote, concatenated.
    pub wire: Vec<u8>,
    pub closed_transport: bool,
    pub error: Option<rfc6455::frame::ProtocolError>,
}

pub fn t0() -> Instant {
    // One fixed origin per process keeps virtual times comparable.
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// A connection with deterministic masking keys.
pub fn conn(role: Role, config: Config) -> Connection {
    let mut c = Connection::new(role, config, t0());
    let mut n: u8 = 0;
    c.set_mask_key_source(Box::new(move || {
        n = n.wrapping_add(1);
        [n, 0x5a, 0xa5, n ^ 0xff]
    }));
    c
}

pub fn drain(conn: &mut Connection, out: &mut Outcome) {
    // Output, then events, then output again: taking an event can queue a reply.
    drain_transmit(conn, out);
    while let Some(e) = conn.poll_event() {
        out.events.push(e);
    }
    drain_transmit(conn, out);
}

fn drain_transmit(conn: &mut Connection, out: &mut Outcome) {
    for _ in 0..100_000 {
        match conn.poll_transmit() {
            Some(Transmit::Bytes(b)) => out.wire.extend_from_slice(&b),
            Some(Transmit::CloseTransport) => {
                assert!(!out.closed_transport, "CloseTransport given twice");
                out.closed_transport = true;
            }
            None => break,
        }
    }
}

/// Feeds `input` to `conn` in the given split, draining after every piece, then EOF if `eof`.
pub fn feed_conn(conn: &mut Connection, input: &[u8], split: Split, eof: bool) -> Outcome {
    feed_conn_via(conn, input, split, Via::Input, eof)
}

/// [`feed_conn`], handing each piece over `via` the given method.
pub fn feed_conn_via(
    conn: &mut Connection,
    input: &[u8],
    split: Split,
    via: Via,
    eof: bool,
) -> Outcome {
    let mut out = Outcome::default();
    let mut buf = BytesMut::new();
    for (i, piece) in pieces(input, split).into_iter().enumerate() {
        let read = via == Via::Read || (via == Via::Mixed && i % 2 == 1);
        let result = if read {
            conn.handle_read(t0(), &mut buf, piece)
        } else {
            buf.extend_from_slice(piece);
            conn.handle_input(t0(), &mut buf)
        };
        if let Err(e) = result {
            assert!(out.error.is_none(), "two errors reported");
            out.error = Some(e);
        }
        drain(conn, &mut out);
    }
    if eof {
        conn.handle_eof();
        drain(conn, &mut out);
    }
    out
}

/// Feeds `input` to a fresh connection of `role` in every split, each by every method
/// (`handle_input`, `handle_read` and the two mixed); asserts identical outcomes and returns
/// it.
pub fn feed_all_splits(role: Role, config: &Config, input: &[u8]) -> Outcome {
    let mut first: Option<Outcome> = None;
    for split in SPLITS {
        for via in VIAS {
            let mut c = conn(role, config.clone());
            let got = feed_conn_via(&mut c, input, split, via, false);
            match &first {
                None => first = Some(got),
                Some(expect) => assert_eq!(&got, expect, "split {split:?} via {via:?} differs"),
            }
        }
    }
    first.unwrap()
}

pub fn feed(role: Role, input: &[u8]) -> Outcome {
    feed_all_splits(role, &Config::default(), input)
}

/// One frame as the peer of `role` would send it: masked when we are the server.
pub fn frame_to(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame_rsv_to(role, fin, 0, opcode, payload)
}

/// One message of `opcode` as the frames `pieces` (the first with `opcode`, the rest
/// continuations, FIN on the last), as `role`'s peer sends them.
/// `payload` as a message to `role` in fragments of `piece` bytes (the last shorter), the
/// first with `opcode`.
pub fn fragmented(role: Role, opcode: OpCode, payload: &[u8], piece: usize) -> Vec<u8> {
    fragments_to(role, opcode, &payload.chunks(piece).collect::<Vec<_>>())
}

pub fn fragments_to(role: Role, opcode: OpCode, pieces: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 { opcode } else { OpCode::Continuation };
        wire.extend(frame_to(role, i + 1 == pieces.len(), op, piece));
    }
    wire
}

/// The other side of a connection of `role`.
pub fn peer_of(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

pub fn frame_rsv_to(role: Role, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let peer = peer_of(role);
    let mut enc = FrameEncoder::with_mask_keys(peer, Box::new(|| [0x37, 0xfa, 0x21, 0x3d]));
    let mut out = BytesMut::new();
    enc.encode(&mut out, fin, rsv, opcode, payload);
    out.to_vec()
}

/// Decodes everything a connection of `role` wrote, as the peer would see it:
/// (fin, opcode, payload) per frame.
pub fn frames_from(role: Role, wire: &[u8]) -> Vec<(bool, u8, OpCode, Bytes)> {
    let peer = peer_of(role);
    let mut dec = rfc6455::frame::FrameDecoder::new(rfc6455::frame::DecoderConfig {
        allowed_rsv: 0b111,
        max_frame_size: u64::MAX >> 1,
        ..rfc6455::frame::DecoderConfig::new(peer)
    });
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(f) = dec.decode(&mut buf).expect("our own output decodes") {
        out.push((f.header.fin, f.header.rsv, f.header.opcode, f.payload));
    }
    assert!(buf.is_empty(), "trailing bytes in our output");
    out
}

/// The addresses `buf`'s allocation spans from its front: a payload that points into them
/// was split off `buf` (not copied), and keeps the allocation alive.
pub fn arena(buf: &BytesMut) -> std::ops::Range<usize> {
    buf.as_ptr() as usize..buf.as_ptr() as usize + buf.capacity()
}

/// The opcode and payload of each frame `role` wrote on `wire`.
pub fn opcodes_and_payloads(role: Role, wire: &[u8]) -> Vec<(OpCode, Bytes)> {
    frames_from(role, wire)
        .into_iter()
        .map(|f| (f.2, f.3))
        .collect()
}

/// The code of the Close frame a connection wrote, if any.
pub fn close_code_on_wire(role: Role, wire: &[u8]) -> Option<u16> {
    frames_from(role, wire)
        .into_iter()
        .find(|f| f.2 == OpCode::Close)
        .map(|f| {
            if f.3.len() >= 2 {
                u16::from_be_bytes([f.3[0], f.3[1]])
            } else {
                1005
            }
        })
}

/// The reason of the first Close frame in `wire` (`None` without one or when not UTF-8).
pub fn close_reason_on_wire(role: Role, wire: &[u8]) -> Option<String> {
    let close = frames_from(role, wire)
        .into_iter()
        .find(|f| f.2 == OpCode::Close)?;
    String::from_utf8(close.3.get(2..)?.to_vec()).ok()
}

/// A client and a server joined in memory, with a virtual clock.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    to_server: BytesMut,
    to_client: BytesMut,
    pub client_closed_transport: bool,
    pub server_closed_transport: bool,
    /// When set, bytes each side writes are held back instead of delivered.
    pub hold_to_server: bool,
    pub hold_to_client: bool,
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Self {
        Self {
            client: conn(Role::Client, client),
            server: conn(Role::Server, server),
            now: t0(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            client_closed_transport: false,
            server_closed_transport: false,
            hold_to_server: false,
            hold_to_client: false,
        }
    }

    pub fn default_pair() -> Self {
        Self::new(Config::default(), Config::default())
    }

    /// Moves bytes and events until nothing changes (bounded).
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            progress |= pump(
                &mut self.client,
                &mut self.to_server,
                &mut self.client_closed_transport,
                &mut self.client_events,
            );
            progress |= pump(
                &mut self.server,
                &mut self.to_client,
                &mut self.server_closed_transport,
                &mut self.server_events,
            );
            if !self.hold_to_server && (!self.to_server.is_empty() || self.client_closed_transport)
            {
                if !self.to_server.is_empty() {
                    let _ = self.server.handle_input(self.now, &mut self.to_server);
                    progress = true;
                }
                if self.client_closed_transport
                    && self.to_server.is_empty()
                    && self.server.state() != rfc6455::ConnectionState::Closed
                {
                    self.server.handle_eof();
                    progress = true;
                }
            }
            if !self.hold_to_client && (!self.to_client.is_empty() || self.server_closed_transport)
            {
                if !self.to_client.is_empty() {
                    let _ = self.client.handle_input(self.now, &mut self.to_client);
                    progress = true;
                }
                if self.server_closed_transport
                    && self.to_client.is_empty()
                    && self.client.state() != rfc6455::ConnectionState::Closed
                {
                    self.client.handle_eof();
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Advances the virtual clock to `now + by`, firing timers as they fall due (bounded).
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        for _ in 0..10_000 {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else {
                self.now = end;
                self.drive();
                return;
            };
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.drive();
        }
        panic!("timers did not settle");
    }

    pub fn take_server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }

    pub fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }
}

fn pump(
    conn: &mut Connection,
    wire: &mut BytesMut,
    closed: &mut bool,
    events: &mut Vec<Event>,
) -> bool {
    let mut progress = false;
    while let Some(t) = conn.poll_transmit() {
        progress = true;
        match t {
            Transmit::Bytes(b) => wire.extend_from_slice(&b),
            Transmit::CloseTransport => {
                assert!(!*closed, "CloseTransport given twice");
                *closed = true;
            }
        }
    }
    while let Some(e) = conn.poll_event() {
        progress = true;
        events.push(e);
    }
    progress
}

pub fn closed_outcome(events: &[Event]) -> &rfc6455::CloseOutcome {
    let closed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Closed(o) => Some(&**o),
            _ => None,
        })
        .collect();
    assert_eq!(closed.len(), 1, "exactly one Closed event: {events:?}");
    assert!(
        matches!(events.last(), Some(Event::Closed(_))),
        "Closed is last: {events:?}"
    );
    closed[0]
}

/// Feeds `data` in pieces of the given sizes (cycled) to a handshake parser until it gives
/// something other than "partial"; the rest of `data` is then appended to the buffer, as a
/// socket would deliver it. Returns that result (or `partial` when `data` ran out) and the
/// caller's buffer.
pub fn feed_head_in_chunks<T, E>(
    data: &[u8],
    chunks: &[usize],
    mut feed: impl FnMut(&mut BytesMut) -> Result<T, E>,
    is_partial: impl Fn(&T) -> bool,
    partial: T,
) -> (Result<T, E>, BytesMut) {
    let mut buf = BytesMut::new();
    let mut pos = 0;
    for i in 0.. {
        if pos >= data.len() {
            break;
        }
        let n = chunks[i % chunks.len()].clamp(1, data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        match feed(&mut buf) {
            Ok(status) if is_partial(&status) => continue,
            other => {
                buf.extend_from_slice(&data[pos..]);
                return (other, buf);
            }
        }
    }
    (Ok(partial), buf)
}

/// A toy extension that reverses each message's payload and sets RSV1 (a stand-in for
/// permessage-deflate), refusing to decode past the message limit.
#[derive(Debug)]
pub struct Reverse;

impl rfc6455::extensions::Extension for Reverse {
    fn rsv_bits(&self) -> u8 {
        rfc6455::frame::RSV1
    }
    fn encode_message(
        &mut self,
        _opcode: OpCode,
        payload: Bytes,
    ) -> Result<(Bytes, u8), &'static str> {
        let mut v = payload.to_vec();
        v.reverse();
        Ok((v.into(), rfc6455::frame::RSV1))
    }
    fn decode_message(
        &mut self,
        _rsv: u8,
        payload: Bytes,
        max_size: u64,
    ) -> Result<Bytes, rfc6455::frame::ProtocolError> {
        if payload.len() as u64 > max_size {
            return Err(rfc6455::frame::ProtocolError::MessageTooLarge { max: max_size });
        }
        let mut v = payload.to_vec();
        v.reverse();
        Ok(v.into())
    }
}
