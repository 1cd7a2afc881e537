//! Each library driven as a server through its ordinary message API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};

use crate::mem::MemStream;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lib {
    Ours,
    Tungstenite,
    Fastwebsockets,
    TokioWebsockets,
}

impl Lib {
    pub const ALL: [Lib; 4] = [
        Lib::Ours,
        Lib::Tungstenite,
        Lib::Fastwebsockets,
        Lib::TokioWebsockets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lib::Ours => "rfc6455",
            Lib::Tungstenite => "tungstenite",
            Lib::Fastwebsockets => "fastwebsockets",
            Lib::TokioWebsockets => "tokio-websockets",
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Set by `--handle-input`: our decode driver appends each read to its `BytesMut` and calls
/// `handle_input` (the way of a transport that reads into the library's buffer), instead of
/// handing the borrowed read to `handle_read` (the way of bytes already in memory: a
/// `BufRead`'s `fill_buf`, a provided buffer, this comparison's input).
pub static VIA_INPUT: AtomicBool = AtomicBool::new(false);

/// Reads `messages` data messages from `input` (masked client frames) and hands each
/// payload to `f` (text as `&str`, through the library's text accessor).
pub fn decode<F: FnMut(&[u8])>(
    lib: Lib,
    rt: &tokio::runtime::Runtime,
    input: &[u8],
    messages: usize,
    mut f: F,
) {
    let mut stream = MemStream::new(input);
    match lib {
        Lib::Ours => {
            use rfc6455::{Config, Connection, Event, Role};
            let now = Instant::now();
            let mut conn = Connection::new(Role::Server, Config::default(), now);
            let mut buf = BytesMut::new();
            let mut got = 0;
            while got < messages {
                // Bounded by the frame in progress, with room made for it (up to 1 MiB), as
                // the peers do internally: a large payload then arrives in place and leaves
                // without a copy.
                let hint = usize::try_from(conn.read_hint(&buf)).unwrap_or(usize::MAX);
                let want = if hint == 0 { crate::mem::read_max() } else { hint };
                buf.reserve(want.min(1 << 20));
                let read = stream.next_read_max(want);
                assert!(!read.is_empty(), "input ended after {got} messages");
                if VIA_INPUT.load(Ordering::Relaxed) {
                    buf.extend_from_slice(read);
                    conn.handle_input(now, &mut buf).unwrap();
                } else {
                    conn.handle_read(now, &mut buf, read).unwrap();
                }
                while let Some(event) = conn.poll_event() {
                    match event {
                        Event::Binary(data) => f(&data),
                        Event::Text(text) => f(text.as_str().as_bytes()),
                        other => panic!("unexpected {other:?}"),
                    }
                    got += 1;
                }
            }
        }
        Lib::Tungstenite => {
            use tungstenite::{Message, WebSocket, protocol::Role};
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            for _ in 0..messages {
                match ws.read().unwrap() {
                    Message::Binary(data) => f(&data),
                    Message::Text(text) => f(text.as_str().as_bytes()),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        Lib::Fastwebsockets => rt.block_on(async {
            use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
            let ws = WebSocket::after_handshake(stream, Role::Server);
            let mut ws = FragmentCollector::new(ws);
            for _ in 0..messages {
                let frame = ws.read_frame().await.unwrap();
                match frame.opcode {
                    OpCode::Binary => f(&frame.payload),
                    OpCode::Text => f(std::str::from_utf8(&frame.payload).unwrap().as_bytes()),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }),
        Lib::TokioWebsockets => rt.block_on(async {
            let mut ws = tokio_websockets::ServerBuilder::new().serve(stream);
            for _ in 0..messages {
                let msg = ws.next().await.unwrap().unwrap();
                if let Some(text) = msg.as_text() {
                    f(text.as_bytes());
                } else {
                    assert!(msg.is_binary());
                    f(msg.as_payload());
                }
            }
        }),
    }
}

/// The floor of our driver loop on masked 64 KiB binary frames: the same reads as
/// [`decode`] gives `Lib::Ours`, bounded the same way, with a hand decoder that knows every
/// frame's layout (header skipped, payload unmasked in place and split off). With
/// `--null64k`, the decode 64 KiB row runs it in our column: what we take beyond it is the
/// library's own work.
pub fn null_decode_64k<F: FnMut(&[u8])>(input: &[u8], messages: usize, mut f: F) {
    const TOTAL: usize = 14 + 65536;
    let mut stream = MemStream::new(input);
    let mut buf = BytesMut::new();
    let mut got = 0;
    let mut need: usize = 0; // bytes still missing of the frame in progress
    while got < messages {
        let want = if need == 0 { crate::mem::read_max() } else { need };
        buf.reserve(want.min(1 << 20));
        let read = stream.next_read_max(want);
        assert!(!read.is_empty(), "input ended after {got} messages");
        buf.extend_from_slice(read);
        if buf.len() < TOTAL {
            need = TOTAL - buf.len();
            continue;
        }
        need = 0;
        assert_eq!(&buf[..2], &[0x82, 0xff], "not a masked 64 KiB binary frame");
        let key = [buf[10], buf[11], buf[12], buf[13]];
        rfc6455::frame::apply_mask(&mut buf[14..TOTAL], key, 0);
        let mut frame = buf.split_to(TOTAL);
        let payload = frame.split_off(14).freeze();
        drop(frame);
        f(&payload);
        got += 1;
    }
}

/// Sends `messages` binary messages of `payload` as the server, each written out (flushed)
/// before the next, as an echo loop does. Returns the transport's record.
pub fn encode(
    lib: Lib,
    rt: &tokio::runtime::Runtime,
    payload: &Bytes,
    messages: usize,
    keep: bool,
) -> (u64, Option<Vec<u8>>) {
    let mut stream = MemStream::new(&[]);
    if keep {
        stream = stream.keeping();
    }
    match lib {
        Lib::Ours => {
            use rfc6455::{Config, Connection, Role};
            let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
            if payload.len() < 16 * 1024 {
                // A small payload from borrowed bytes (as fastwebsockets is given it): encoded
                // straight into our write buffer, which is written out and reused.
                let mut write_buf = Vec::new();
                for _ in 0..messages {
                    conn.send_binary_into(&mut write_buf, payload).unwrap();
                    stream.write_bytes(&write_buf);
                    write_buf.clear();
                }
            } else {
                // A large one is written straight from the borrowed bytes (as fastwebsockets
                // is given it): its header and the payload itself in one vectored write.
                for _ in 0..messages {
                    let send = conn.send_binary_vectored(payload).unwrap();
                    let written = send.chunks().map(|chunk| stream.write_bytes(chunk)).sum();
                    send.advance(written);
                    assert_eq!(conn.buffered_amount(), 0);
                }
            }
            (stream.written, stream.keep)
        }
        Lib::Tungstenite => {
            use tungstenite::{Message, WebSocket, protocol::Role};
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            for _ in 0..messages {
                ws.send(Message::Binary(payload.clone())).unwrap();
            }
            let stream = ws.get_mut();
            (stream.written, stream.keep.take())
        }
        Lib::Fastwebsockets => rt.block_on(async {
            use fastwebsockets::{Frame, Payload, Role, WebSocket};
            let mut ws = WebSocket::after_handshake(stream, Role::Server);
            for _ in 0..messages {
                ws.write_frame(Frame::binary(Payload::Borrowed(payload)))
                    .await
                    .unwrap();
            }
            let mut stream = ws.into_inner();
            (stream.written, stream.keep.take())
        }),
        Lib::TokioWebsockets => rt.block_on(async {
            use tokio_websockets::Message;
            let mut ws = tokio_websockets::ServerBuilder::new().serve(stream);
            for _ in 0..messages {
                ws.send(Message::binary(payload.clone())).await.unwrap();
            }
            let stream = ws.get_mut();
            (stream.written, stream.keep.take())
        }),
    }
}

/// Writes everything our connection owes, with vectored writes as the echo examples do.
pub fn flush_ours(conn: &mut rfc6455::Connection, stream: &mut MemStream<'_>) {
    loop {
        let mut n = 0;
        for chunk in conn.transmit_chunks() {
            n += stream.write_bytes(chunk);
        }
        if n == 0 {
            break;
        }
        conn.advance_transmit(n);
    }
}

/// The server's side of the opening handshake: parse and validate `request`, write the 101.
/// Returns the response bytes written.
pub fn handshake(lib: Lib, rt: &tokio::runtime::Runtime, request: &[u8], keep: bool) -> Option<(u64, Option<Vec<u8>>)> {
    let mut stream = MemStream::new(request);
    if keep {
        stream = stream.keeping();
    }
    match lib {
        Lib::Ours => {
            use rfc6455::handshake::{AcceptOptions, RequestParser, ServerStatus};
            let mut buf = BytesMut::from(stream.next_read());
            let Ok(ServerStatus::Upgrade(request)) = RequestParser::default().feed(&mut buf) else {
                panic!("not an upgrade");
            };
            let (response, negotiated) = request.accept(&AcceptOptions::new()).unwrap();
            let conn = rfc6455::Connection::from_handshake(
                rfc6455::Role::Server,
                &negotiated,
                rfc6455::Config::default(),
                Instant::now(),
            );
            stream.write_bytes(&response);
            drop(conn);
            Some((stream.written, stream.keep))
        }
        Lib::Tungstenite => {
            let mut ws = tungstenite::accept(stream).unwrap();
            let stream = ws.get_mut();
            Some((stream.written, stream.keep.take()))
        }
        // Its server handshake is hyper's upgrade machinery; not comparable in memory.
        Lib::Fastwebsockets => None,
        Lib::TokioWebsockets => rt.block_on(async {
            let (_request, mut ws) = tokio_websockets::ServerBuilder::new()
                .accept(stream)
                .await
                .unwrap();
            let stream = ws.get_mut();
            Some((stream.written, stream.keep.take()))
        }),
    }
}

/// `size_of` the connection object (without its stream) and the heap it holds after one
/// message in and one out, with everything delivered and dropped.
pub fn idle(lib: Lib, rt: &tokio::runtime::Runtime, one_message: &[u8]) -> (usize, isize) {
    use crate::mem::{COUNTING, live_bytes};
    use std::sync::atomic::Ordering;
    let stream = MemStream::new(one_message);
    let stream_size = std::mem::size_of::<MemStream<'_>>();
    crate::mem::init_scratch();
    COUNTING.store(true, Ordering::SeqCst);
    let result = match lib {
        Lib::Ours => {
            use rfc6455::{Config, Connection, Role};
            let mut stream = stream;
            let base = live_bytes();
            let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
            let mut buf = BytesMut::from(stream.next_read());
            conn.handle_input(Instant::now(), &mut buf).unwrap();
            drop(buf);
            while let Some(event) = conn.poll_event() {
                if let rfc6455::Event::Binary(data) = event {
                    conn.send_binary(data).unwrap();
                }
            }
            flush_ours(&mut conn, &mut stream);
            assert_eq!(stream.written, 18);
            let held = live_bytes() - base;
            assert_eq!(held as usize, conn.heap_capacity());
            (std::mem::size_of::<Connection>(), held)
        }
        Lib::Tungstenite => {
            use tungstenite::{WebSocket, protocol::Role};
            let base = live_bytes();
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            let msg = ws.read().unwrap();
            ws.send(msg).unwrap();
            assert_eq!(ws.get_ref().written, 18);
            let held = live_bytes() - base;
            (std::mem::size_of::<WebSocket<MemStream<'_>>>() - stream_size, held)
        }
        Lib::Fastwebsockets => rt.block_on(async {
            use fastwebsockets::{FragmentCollector, Frame, Role, WebSocket};
            let base = live_bytes();
            let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
            let frame = ws.read_frame().await.unwrap();
            let payload = frame.payload.to_vec();
            ws.write_frame(Frame::binary(fastwebsockets::Payload::Owned(payload)))
                .await
                .unwrap();
            let held = live_bytes() - base;
            (
                std::mem::size_of::<FragmentCollector<MemStream<'_>>>() - stream_size,
                held,
            )
        }),
        Lib::TokioWebsockets => rt.block_on(async {
            let base = live_bytes();
            let mut ws = tokio_websockets::ServerBuilder::new().serve(stream);
            let msg = ws.next().await.unwrap().unwrap();
            ws.send(msg).await.unwrap();
            assert_eq!(ws.get_ref().written, 18);
            let held = live_bytes() - base;
            (
                std::mem::size_of::<tokio_websockets::WebSocketStream<MemStream<'_>>>() - stream_size,
                held,
            )
        }),
    };
    COUNTING.store(false, Ordering::SeqCst);
    result
}
