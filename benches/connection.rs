//! Connection-level round trip: the client encodes, the server decodes and echoes, the
//! client decodes. 16 B, 1 KiB and 64 KiB messages. The server's send of one small message
//! written out at once, through each sending API. And the server's receive of many small
//! messages in one read, and of one large text read back as a `str`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::frame::{FrameEncoder, OpCode};
use rfc6455::{Config, Connection, Event, Role, Transmit};

fn move_bytes(from: &mut Connection, into: &mut BytesMut) {
    while let Some(Transmit::Bytes(b)) = from.poll_transmit() {
        into.extend_from_slice(&b);
    }
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("connection_round_trip");
    group.measurement_time(Duration::from_secs(3));
    for size in [16usize, 1024, 64 * 1024] {
        let now = Instant::now();
        let mut client = Connection::new(Role::Client, Config::default(), now);
        let mut server = Connection::new(Role::Server, Config::default(), now);
        let payload = Bytes::from(vec![0x5au8; size]);
        let mut to_server = BytesMut::with_capacity(size + 64);
        let mut to_client = BytesMut::with_capacity(size + 64);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{size}B"), |b| {
            b.iter(|| {
                client.send_binary(payload.clone()).unwrap();
                move_bytes(&mut client, &mut to_server);
                server.handle_input(now, &mut to_server).unwrap();
                let Some(Event::Binary(msg)) = server.poll_event() else {
                    panic!("no message")
                };
                server.send_binary(msg).unwrap();
                move_bytes(&mut server, &mut to_client);
                client.handle_input(now, &mut to_client).unwrap();
                let Some(Event::Binary(echo)) = client.poll_event() else {
                    panic!("no echo")
                };
                assert_eq!(echo.len(), size);
                black_box(echo);
            })
        });
    }
    group.finish();
}

/// A vectored write of `chunks` to `socket` (a copy, as into the kernel); the bytes written.
fn write_vectored<'a>(socket: &mut Vec<u8>, chunks: impl Iterator<Item = &'a [u8]>) -> usize {
    let before = socket.len();
    for chunk in chunks {
        socket.extend_from_slice(chunk);
    }
    socket.len() - before
}

/// A server sends one message and writes it out before the next, as an echo loop does:
/// from `Bytes` with a vectored write, from a slice with a vectored write of the slice itself
/// (`send_binary_vectored`), from a slice through `transmit_into`, and from a slice straight
/// into the write buffer with `send_binary_into`. The write is a copy into a reused buffer.
/// Then a client, which masks every frame, the last two ways.
fn server_send(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_send");
    for size in [16usize, 125, 64 * 1024] {
        let now = Instant::now();
        let mut conn = Connection::new(Role::Server, Config::default(), now);
        let payload = Bytes::from(vec![0x5au8; size]);
        let mut socket = Vec::with_capacity(size + 16);
        let mut write_buf = Vec::with_capacity(size + 16);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("send_binary_bytes/{size}B"), |b| {
            b.iter(|| {
                conn.send_binary(payload.clone()).unwrap();
                let n = write_vectored(&mut socket, conn.transmit_chunks());
                conn.advance_transmit(n);
                black_box(&socket);
                socket.clear();
            })
        });
        group.bench_function(format!("send_binary_vectored/{size}B"), |b| {
            b.iter(|| {
                let send = conn.send_binary_vectored(black_box(&payload)).unwrap();
                let n = write_vectored(&mut socket, send.chunks());
                send.advance(n);
                black_box(&socket);
                socket.clear();
            })
        });
        group.bench_function(format!("send_binary_from_slice/{size}B"), |b| {
            b.iter(|| {
                conn.send_binary_from_slice(black_box(&payload)).unwrap();
                conn.transmit_into(&mut write_buf);
                socket.extend_from_slice(&write_buf);
                write_buf.clear();
                black_box(&socket);
                socket.clear();
            })
        });
        group.bench_function(format!("send_binary_into/{size}B"), |b| {
            b.iter(|| {
                conn.send_binary_into(&mut write_buf, black_box(&payload))
                    .unwrap();
                socket.extend_from_slice(&write_buf);
                write_buf.clear();
                black_box(&socket);
                socket.clear();
            })
        });
        // A client masks every frame: into its outbox, or straight into the write buffer.
        let mut client = Connection::new(Role::Client, Config::default(), now);
        group.bench_function(format!("client_send_binary_from_slice/{size}B"), |b| {
            b.iter(|| {
                client.send_binary_from_slice(black_box(&payload)).unwrap();
                client.transmit_into(&mut write_buf);
                black_box(&write_buf);
                write_buf.clear();
            })
        });
        group.bench_function(format!("client_send_binary_into/{size}B"), |b| {
            b.iter(|| {
                client
                    .send_binary_into(&mut write_buf, black_box(&payload))
                    .unwrap();
                black_box(&write_buf);
                write_buf.clear();
            })
        });
    }
    group.finish();
}

/// Masked client frames, each given as (FIN, opcode, payload).
fn client_wire<'a>(frames: impl IntoIterator<Item = (bool, OpCode, &'a [u8])>) -> Vec<u8> {
    let mut enc = FrameEncoder::with_mask_keys(Role::Client, Box::new(|| [0x37, 0xfa, 0x21, 0x3d]));
    let mut out = BytesMut::new();
    for (fin, opcode, payload) in frames {
        enc.encode(&mut out, fin, 0, opcode, payload);
    }
    out.to_vec()
}

/// Masked client frames for `payloads`, each one whole message.
fn client_frames(opcode: OpCode, payloads: &[Vec<u8>]) -> Vec<u8> {
    client_wire(payloads.iter().map(|p| (true, opcode, &p[..])))
}

/// About `len` bytes of text mixing 1- to 4-byte characters.
fn mixed_text(len: usize) -> Vec<u8> {
    let mut s = String::new();
    for c in "aé€𝄞 zж中😀".chars().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    s.into_bytes()
}

/// A server receives one read holding many whole messages and takes every event: 64 text
/// messages of about 1 KiB (validated and copied in runs), 500 binary messages of 125 B and
/// 3000 of 16 B (copied into slabs; past ~1000 events they wait in runs); and one 64 KiB
/// text message, taken as it is and read back through `as_str` twice (the text is split off
/// the read buffer, so each call checks it again).
fn server_receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_receive");
    let now = Instant::now();
    let text_1k: Vec<Vec<u8>> = (0..64).map(|_| mixed_text(1024)).collect();
    let binary_125: Vec<Vec<u8>> = (0..500).map(|i| vec![i as u8; 125]).collect();
    let binary_16: Vec<Vec<u8>> = (0..3000).map(|i| vec![i as u8; 16]).collect();
    let cases = [
        (
            "text_1KiB_x64",
            client_frames(OpCode::Text, &text_1k),
            64,
            0,
        ),
        (
            "binary_125B_x500",
            client_frames(OpCode::Binary, &binary_125),
            500,
            0,
        ),
        (
            "binary_16B_x3000",
            client_frames(OpCode::Binary, &binary_16),
            3000,
            0,
        ),
        (
            "text_64KiB",
            client_frames(OpCode::Text, &[mixed_text(64 << 10)]),
            1,
            0,
        ),
        (
            "text_64KiB_as_str_twice",
            client_frames(OpCode::Text, &[mixed_text(64 << 10)]),
            1,
            2,
        ),
    ];
    for (name, input, messages, reads) in cases {
        let mut conn = Connection::new(Role::Server, Config::default(), now);
        let mut buf = BytesMut::with_capacity(input.len());
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.extend_from_slice(&input);
                conn.handle_input(now, &mut buf).unwrap();
                let mut got = 0;
                while let Some(event) = conn.poll_event() {
                    match event {
                        Event::Text(text) => {
                            for _ in 0..reads {
                                black_box(text.as_str());
                            }
                            black_box(text);
                        }
                        other => {
                            black_box(other);
                        }
                    }
                    got += 1;
                }
                assert_eq!(got, messages);
            })
        });
    }
    group.finish();
}

/// A server receives 1 MiB binary messages in reads of 64 KiB, as the comparison's decode
/// rows feed it: each sent as one frame (its payload unmasked in place, 256 KiB at a time) or
/// as 1024 fragments of 1 KiB (each appended to the message being reassembled); and 64 KiB
/// messages in one frame each (a read of 64 KiB, then one of the frame's last 14 bytes). The
/// reads come from 32 MiB of input, one message after another, so that they are not in
/// cache, as the bytes a socket read copies from the kernel are not; and once more from one
/// 64 KiB message read over and over (`binary_64KiB_in_cache`), where the memory traffic is
/// cheap and what the connection does per message shows.
fn server_receive_large(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_receive");
    let now = Instant::now();
    let payload: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
    let pieces = payload.len() / 1024;
    let fragments = client_wire(payload.chunks(1024).enumerate().map(|(i, piece)| {
        let opcode = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        (i + 1 == pieces, opcode, piece)
    }));
    let frame_64k = client_frames(OpCode::Binary, &[payload[..64 << 10].to_vec()]);
    // (name, one message's frames, payload length, whether its input stays in cache)
    let cases = [
        (
            "binary_1MiB_in_64KiB_reads",
            client_frames(OpCode::Binary, std::slice::from_ref(&payload)),
            payload.len(),
            false,
        ),
        (
            "binary_1MiB_in_1KiB_fragments",
            fragments,
            payload.len(),
            false,
        ),
        ("binary_64KiB", frame_64k.clone(), 64 << 10, false),
        ("binary_64KiB_in_cache", frame_64k, 64 << 10, true),
    ];
    for (name, message, len, in_cache) in cases {
        let copies = if in_cache {
            1
        } else {
            (32 << 20) / message.len()
        };
        let wire = message.repeat(copies);
        let mut conn = Connection::new(Role::Server, Config::default(), now);
        let mut buf = BytesMut::with_capacity(64 << 10);
        let mut next = 0;
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let start = next * message.len();
                next = (next + 1) % copies;
                let mut got = None;
                for read in wire[start..start + message.len()].chunks(64 << 10) {
                    buf.reserve(read.len());
                    buf.extend_from_slice(read);
                    conn.handle_input(now, &mut buf).unwrap();
                    if let Some(event) = conn.poll_event() {
                        got = Some(event);
                    }
                }
                let Some(Event::Binary(message)) = got else {
                    panic!("no message")
                };
                assert_eq!(message.len(), len);
                black_box(message);
            })
        });
    }
    group.finish();
}

/// A server receives reads of small messages (64 texts of 1 KiB, 500 binaries of 125 B) that
/// are in memory, not in the cache (one after another from 32 MiB of input), by each input
/// method: `handle_read` with the read borrowed (small frames taken from it, its lines asked
/// for ahead), and `handle_input` after the read is appended to the input buffer.
fn server_receive_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_receive_read");
    let now = Instant::now();
    let text_1k: Vec<Vec<u8>> = (0..64).map(|_| mixed_text(1024)).collect();
    let binary_125: Vec<Vec<u8>> = (0..500).map(|i| vec![i as u8; 125]).collect();
    let cases = [
        ("text_1KiB_x64", client_frames(OpCode::Text, &text_1k), 64),
        (
            "binary_125B_x500",
            client_frames(OpCode::Binary, &binary_125),
            500,
        ),
    ];
    for (name, read, messages) in cases {
        let copies = (32 << 20) / read.len();
        let wire = read.repeat(copies);
        for by_read in [true, false] {
            let mut conn = Connection::new(Role::Server, Config::default(), now);
            let mut buf = BytesMut::with_capacity(read.len());
            let mut next = 0;
            group.throughput(Throughput::Bytes(read.len() as u64));
            let method = if by_read {
                "handle_read"
            } else {
                "handle_input"
            };
            group.bench_function(format!("{name}/{method}"), |b| {
                b.iter(|| {
                    let start = next * read.len();
                    next = (next + 1) % copies;
                    let this = &wire[start..start + read.len()];
                    if by_read {
                        conn.handle_read(now, &mut buf, this).unwrap();
                    } else {
                        buf.extend_from_slice(this);
                        conn.handle_input(now, &mut buf).unwrap();
                    }
                    let mut got = 0;
                    while let Some(event) = conn.poll_event() {
                        black_box(event);
                        got += 1;
                    }
                    assert_eq!(got, messages);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    round_trip,
    server_send,
    server_receive,
    server_receive_large,
    server_receive_reads
);
criterion_main!(benches);
