//! Sending: fragmentation, the streaming send, control frames, backpressure, batching,
//! zero-copy output and masking keys.

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Config, Connection, MessageType, PreparedMessage, Role, SendError, Transmit};

fn wire_of(c: &mut Connection) -> Vec<u8> {
    let mut out = Outcome::default();
    drain(c, &mut out);
    out.wire
}

// HS-R-05: after the handshake the server sends unmasked frames.
#[test]
fn hs_r_05_server_text_frame() {
    let mut c = conn(Role::Server, Config::default());
    c.send_text("x").unwrap();
    assert_eq!(wire_of(&mut c), vec![0x81, 0x01, 0x78]);
}

// FR-22: the streaming send produces byte-exact frames; control frames may go in between; a
// second message is refused until the first is finished.
#[test]
fn fr22_streaming_send_byte_exact() {
    let mut c = conn(Role::Server, Config::default());
    c.begin_message(MessageType::Text).unwrap();
    assert_eq!(
        c.begin_message(MessageType::Binary),
        Err(SendError::MessageInProgress)
    );
    c.continue_message(&b"Hel"[..]).unwrap();
    assert_eq!(c.send_text("other"), Err(SendError::MessageInProgress));
    c.send_ping(&b""[..]).unwrap();
    c.finish_message(&b"lo"[..]).unwrap();
    assert_eq!(
        wire_of(&mut c),
        vec![
            0x01, 0x03, b'H', b'e', b'l', 0x89, 0x00, 0x80, 0x02, b'l', b'o'
        ]
    );
    assert_eq!(
        c.finish_message(&b""[..]),
        Err(SendError::NoMessageInProgress)
    );
    c.send_text("next").unwrap();
}

// FR-22: a streamed text may split characters across parts, but never send invalid UTF-8.
#[test]
fn fr22_streaming_text_validated() {
    let mut c = conn(Role::Server, Config::default());
    c.begin_message(MessageType::Text).unwrap();
    c.continue_message(vec![0xe2, 0x82]).unwrap();
    c.finish_message(vec![0xac]).unwrap();
    let frames = frames_from(Role::Server, &wire_of(&mut c));
    let joined: Vec<u8> = frames.iter().flat_map(|f| f.3.to_vec()).collect();
    assert_eq!(joined, "€".as_bytes());
    c.begin_message(MessageType::Text).unwrap();
    assert_eq!(c.continue_message(vec![0xff]), Err(SendError::InvalidUtf8));
    c.continue_message(vec![0xe2]).unwrap();
    assert_eq!(
        c.finish_message(vec![]),
        Err(SendError::InvalidUtf8),
        "incomplete at the end"
    );
}

// Automatic fragmentation above the configured frame size; the receiver gets one message.
#[test]
fn auto_fragmentation() {
    let mut config = Config::default();
    config.max_send_frame_size = 1000;
    let mut c = conn(Role::Client, config);
    let payload: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    c.send_binary(payload.clone()).unwrap();
    let frames = frames_from(Role::Client, &wire_of(&mut c));
    let shape: Vec<_> = frames.iter().map(|f| (f.0, f.2, f.3.len())).collect();
    assert_eq!(
        shape,
        vec![
            (false, OpCode::Binary, 1000),
            (false, OpCode::Continuation, 1000),
            (true, OpCode::Continuation, 500)
        ]
    );
    let joined: Vec<u8> = frames.iter().flat_map(|f| f.3.to_vec()).collect();
    assert_eq!(joined, payload);
}

// FR-15, FR-31: control payloads over 125 bytes are refused; pings are allowed while open.
#[test]
fn fr15_fr31_control_frames() {
    let mut c = conn(Role::Client, Config::default());
    assert_eq!(
        c.send_ping(vec![0u8; 126]),
        Err(SendError::ControlTooLarge(126))
    );
    assert_eq!(
        c.send_pong(vec![0u8; 126]),
        Err(SendError::ControlTooLarge(126))
    );
    c.send_ping(vec![0u8; 125]).unwrap();
    let frames = frames_from(Role::Client, &wire_of(&mut c));
    assert_eq!((frames[0].2, frames[0].3.len()), (OpCode::Ping, 125));
}

// SEC-12, backpressure: a peer that never reads cannot make memory grow past the bound;
// accepted data is never lost; pongs and the Close reply still go out.
#[test]
fn sec12_backpressure_bounds_output() {
    let mut config = Config::default();
    config.limits.max_buffered_output = 64 * 1024;
    let mut c = conn(Role::Server, config);
    let mut accepted = 0usize;
    let mut refused = 0;
    for _ in 0..10_000 {
        match c.send_binary(vec![1u8; 1000]) {
            Ok(()) => accepted += 1,
            Err(SendError::Backpressure { limit, .. }) => {
                assert_eq!(limit, 64 * 1024);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 9000);
    assert!(
        c.buffered_amount() < 64 * 1024 + 1100,
        "bounded: {}",
        c.buffered_amount()
    );
    // The application's own control frames are refused like data; only the automatic
    // pongs and the Close are exempt.
    for refused in [c.send_ping(&b"app"[..]), c.send_pong(&b"app"[..])] {
        assert!(
            matches!(refused, Err(SendError::Backpressure { .. })),
            "{refused:?}"
        );
    }
    // A ping from the peer and its Close are still answered.
    let input = [
        frame_to(Role::Server, true, OpCode::Ping, b"p"),
        frame_to(Role::Server, true, OpCode::Close, &[0x03, 0xe8]),
    ]
    .concat();
    let mut buf = bytes::BytesMut::from(&input[..]);
    c.handle_input(t0(), &mut buf).unwrap();
    let frames = frames_from(Role::Server, &wire_of(&mut c));
    let data = frames.iter().filter(|f| f.2 == OpCode::Binary).count();
    assert_eq!(data, accepted, "nothing accepted was lost");
    let tail: Vec<_> = frames[frames.len() - 2..].iter().map(|f| f.2).collect();
    assert_eq!(tail, vec![OpCode::Pong, OpCode::Close]);
}

// Output batching: many small frames leave in one chunk.
#[test]
fn batching_many_frames_one_chunk() {
    let mut c = conn(Role::Server, Config::default());
    for i in 0..100u8 {
        c.send_binary(vec![i; 16]).unwrap();
    }
    let Some(Transmit::Bytes(chunk)) = c.poll_transmit() else {
        panic!("no output")
    };
    assert_eq!(chunk.len(), 100 * 18);
    assert_eq!(c.poll_transmit(), None);
}

// Zero-copy: a large server payload leaves as its own chunk, pointing at the caller's bytes;
// the vectored pair writes it in pieces.
#[test]
fn zero_copy_large_server_payload_and_vectored_write() {
    let mut c = conn(Role::Server, Config::default());
    let payload = Bytes::from(vec![9u8; 100_000]);
    c.send_binary(payload.clone()).unwrap();
    let chunks: Vec<Vec<u8>> = c.transmit_chunks().map(<[u8]>::to_vec).collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0], vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0x86, 0xa0]);
    c.advance_transmit(5);
    c.advance_transmit(10);
    assert_eq!(c.buffered_amount(), 100_010 - 15);
    let mut c = conn(Role::Server, Config::default());
    c.send_binary(payload.clone()).unwrap();
    let _header = c.poll_transmit();
    let Some(Transmit::Bytes(body)) = c.poll_transmit() else {
        panic!()
    };
    assert_eq!(body.as_ptr(), payload.as_ptr(), "the payload was copied");
}

// Prepared messages: encoded once, shared by many server connections; re-encoded (masked) for
// a client.
#[test]
fn prepared_message_shared() {
    let msg = PreparedMessage::text("hello all");
    assert_eq!(&msg.payload()[..], b"hello all");
    let mut wires = Vec::new();
    for _ in 0..3 {
        let mut c = conn(Role::Server, Config::default());
        c.send_prepared(&msg).unwrap();
        wires.push(wire_of(&mut c));
    }
    assert!(
        wires
            .iter()
            .all(|w| w == &[&[0x81, 9][..], b"hello all"].concat())
    );
    let mut client = conn(Role::Client, Config::default());
    client.send_prepared(&msg).unwrap();
    let frames = frames_from(Role::Client, &wire_of(&mut client));
    assert_eq!(&frames[0].3[..], b"hello all");
}

// FR-10, SEC-01: the default key source gives a fresh, unpredictable key per frame.
#[test]
fn fr10_sec01_fresh_keys_per_frame() {
    let mut c = Connection::new(Role::Client, Config::default(), t0());
    let mut keys = HashSet::new();
    for _ in 0..10_000 {
        c.send_binary(Bytes::new()).unwrap();
        let Some(Transmit::Bytes(f)) = c.poll_transmit() else {
            panic!()
        };
        assert_eq!(f.len(), 6);
        keys.insert([f[2], f[3], f[4], f[5]]);
    }
    // 32-bit keys: a few birthday collisions are possible, a pattern is not.
    assert!(keys.len() > 9_950, "only {} distinct keys", keys.len());
}

// SEC-02: the encoded bytes do not change when the caller's buffer changes afterwards.
#[test]
fn sec02_payload_fixed_at_encode_time() {
    let mut c = conn(Role::Client, Config::default());
    let mut data = vec![1u8, 2, 3];
    c.send_binary(Bytes::copy_from_slice(&data)).unwrap();
    data[0] = 99;
    let frames = frames_from(Role::Client, &wire_of(&mut c));
    assert_eq!(&frames[0].3[..], &[1, 2, 3]);
}

/// Writes everything owed through the vectored pair, at most `max` bytes per write.
fn write_vectored(c: &mut Connection, max: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        let mut n = 0;
        for chunk in c.transmit_chunks() {
            let take = chunk.len().min(max - n);
            wire.extend_from_slice(&chunk[..take]);
            n += take;
            if n == max {
                break;
            }
        }
        if n == 0 {
            return wire;
        }
        c.advance_transmit(n);
    }
}

// A lone server frame is queued as its header plus the caller's payload: no copy, no
// allocation of our own, and the chunks are the header then the payload. A tiny frame is
// kept inline whole and leaves as one chunk.
#[test]
fn lone_server_frame_queued_by_reference() {
    let mut c = conn(Role::Server, Config::default());
    let payload = Bytes::from(vec![7u8; 100]);
    c.send_binary(payload.clone()).unwrap();
    assert_eq!(c.heap_capacity(), 0, "the outbox allocated");
    assert_eq!(c.buffered_amount(), 102);
    let chunks: Vec<&[u8]> = c.transmit_chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0], &[0x82, 100][..]);
    assert_eq!(
        chunks[1].as_ptr(),
        payload.as_ptr(),
        "the payload was copied"
    );
    c.advance_transmit(102);
    assert_eq!(c.buffered_amount(), 0);
    assert_eq!(c.transmit_chunks().count(), 0);
    assert_eq!(c.poll_transmit(), None);

    c.send_binary(vec![7u8; 16]).unwrap();
    assert_eq!(c.heap_capacity(), 0, "the outbox allocated");
    let chunks: Vec<&[u8]> = c.transmit_chunks().collect();
    assert_eq!(
        chunks,
        vec![&frame_to(Role::Client, true, OpCode::Binary, &[7; 16])[..]]
    );
    c.advance_transmit(18);
    assert_eq!(c.transmit_chunks().count(), 0);
}

// A frame queued by reference and partly written (inside its header, then inside its
// payload) hands out exactly the bytes still owed, also when more frames queue behind it.
#[test]
fn lone_frame_partially_written_then_more_queued() {
    let payload: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let expected = [
        frame_to(Role::Client, true, OpCode::Binary, &payload),
        frame_to(Role::Client, true, OpCode::Text, b"after"),
        frame_to(Role::Client, true, OpCode::Binary, &[3; 20_000]),
    ]
    .concat();
    for first_write in [1, 2, 3, 4, 5, 150, 203] {
        let mut c = conn(Role::Server, Config::default());
        c.send_binary(payload.clone()).unwrap();
        let mut wire: Vec<u8> = c.transmit_chunks().flatten().copied().collect();
        wire.truncate(first_write);
        c.advance_transmit(first_write);
        assert_eq!(c.buffered_amount(), 204 - first_write);
        c.send_text("after").unwrap();
        c.send_binary(vec![3u8; 20_000]).unwrap();
        wire.extend(write_vectored(&mut c, 7));
        assert_eq!(wire, expected, "first write of {first_write}");
        assert_eq!(c.heap_capacity(), 0);
    }
}

// Any mix of frames, written in writes of any size, gives the same bytes as `poll_transmit`.
#[test]
fn vectored_writes_of_any_size_match_poll_transmit() {
    let sends = |c: &mut Connection| {
        c.send_binary(vec![1u8; 10]).unwrap();
        c.send_binary(vec![2u8; 17_000]).unwrap();
        c.send_text("small").unwrap();
        c.send_prepared(&PreparedMessage::binary(vec![4u8; 30_000]))
            .unwrap();
        c.send_ping(&b"p"[..]).unwrap();
    };
    for role in [Role::Server, Role::Client] {
        let mut reference = conn(role, Config::default());
        sends(&mut reference);
        let expected = wire_of(&mut reference);
        for max in [1, 2, 5, 11, 100, 4096, 17_003, 1 << 20] {
            let mut c = conn(role, Config::default());
            sends(&mut c);
            assert_eq!(
                write_vectored(&mut c, max),
                expected,
                "{role:?}, writes of {max}"
            );
            // One frame at a time, each partly written before the next is queued.
            let mut c = conn(role, Config::default());
            c.send_binary(vec![1u8; 10]).unwrap();
            let mut wire = Vec::new();
            let first: Vec<u8> = c.transmit_chunks().flatten().copied().collect();
            let n = max.min(first.len());
            wire.extend_from_slice(&first[..n]);
            c.advance_transmit(n);
            c.send_binary(vec![2u8; 17_000]).unwrap();
            c.send_text("small").unwrap();
            c.send_prepared(&PreparedMessage::binary(vec![4u8; 30_000]))
                .unwrap();
            c.send_ping(&b"p"[..]).unwrap();
            wire.extend(write_vectored(&mut c, max));
            assert_eq!(wire, expected, "{role:?}, first write {n}, then {max}");
            assert_eq!(c.heap_capacity(), 0);
        }
    }
}

// `poll_transmit` hands a lone small frame out as one chunk, and a prepared frame without a
// copy.
#[test]
fn poll_transmit_lone_frames() {
    let mut c = conn(Role::Server, Config::default());
    for len in [0, 16, 20, 21, 100] {
        c.send_binary(vec![5u8; len]).unwrap();
        let Some(Transmit::Bytes(frame)) = c.poll_transmit() else {
            panic!("no output")
        };
        let expected = frame_to(Role::Client, true, OpCode::Binary, &vec![5; len]);
        assert_eq!(&frame[..], &expected[..], "{len} bytes");
        assert_eq!(c.poll_transmit(), None);
    }
    let msg = PreparedMessage::text("hello all ".repeat(10));
    c.send_prepared(&msg).unwrap();
    let Some(Transmit::Bytes(frame)) = c.poll_transmit() else {
        panic!("no output")
    };
    assert_eq!(frame.len(), 102);
    let chunk: Vec<&[u8]> = {
        c.send_prepared(&msg).unwrap();
        c.transmit_chunks().collect()
    };
    assert_eq!(chunk.len(), 1);
    assert_eq!(
        chunk[0].as_ptr(),
        frame.as_ptr(),
        "the prepared frame was copied"
    );
}

// SEC-02: a client never hands out the caller's buffer, even for a lone frame.
#[test]
fn sec02_client_frame_never_points_at_caller_bytes() {
    let mut c = conn(Role::Client, Config::default());
    let payload = Bytes::from(vec![9u8; 100]);
    c.send_binary(payload.clone()).unwrap();
    let range = payload.as_ptr_range();
    for chunk in c.transmit_chunks() {
        assert!(!range.contains(&chunk.as_ptr()));
    }
    assert_eq!(
        &payload[..],
        &[9u8; 100][..],
        "the caller's bytes were masked"
    );
}

// FR-22: a prepared message is a second data message; while a streamed one is in progress
// it is refused like any other, on both the server's encode-once path and the client's, and
// nothing is queued between the fragments.
#[test]
fn fr22_prepared_message_refused_mid_stream() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        c.begin_message(MessageType::Text).unwrap();
        c.continue_message(Bytes::from_static(b"part")).unwrap();
        let before = c.buffered_amount();
        let msg = PreparedMessage::binary(vec![1u8; 10]);
        assert_eq!(
            c.send_prepared(&msg),
            Err(SendError::MessageInProgress),
            "{role:?}"
        );
        assert_eq!(
            c.buffered_amount(),
            before,
            "{role:?}: something was queued"
        );
        c.finish_message(Bytes::from_static(b"end")).unwrap();
        c.send_prepared(&msg).unwrap();
    }
}

// The by-reference threshold of a server's payload (16 KiB, `ZERO_COPY_MIN` in outbox.rs):
// from there on the payload leaves as its own chunk pointing at the caller's bytes, both for a
// lone frame taken with poll_transmit and behind another queued frame; one byte less and it is
// copied (a lone frame coalesced with its header into one chunk, a queued one into the
// coalescing buffer with the frame before it). No checklist ID: an output-buffering choice.
#[test]
fn server_payload_by_reference_from_16_kib() {
    const AT: usize = 16 * 1024;
    for len in [AT - 1, AT] {
        let by_reference = len >= AT;
        let payload = Bytes::from(vec![5u8; len]);

        // Alone: poll_transmit gives the header, then the payload itself; or one copy of both.
        let mut c = conn(Role::Server, Config::default());
        c.send_binary(payload.clone()).unwrap();
        let mut chunks = Vec::new();
        while let Some(Transmit::Bytes(chunk)) = c.poll_transmit() {
            chunks.push(chunk);
            assert!(chunks.len() <= 2, "{len}: more than two chunks");
        }
        let frame = frame_to(Role::Client, true, OpCode::Binary, &payload);
        assert_eq!(chunks.concat(), frame, "{len}");
        if by_reference {
            assert_eq!(chunks.len(), 2, "{len}: header and payload");
            assert_eq!(chunks[1].as_ptr(), payload.as_ptr(), "{len}: copied");
        } else {
            assert_eq!(chunks.len(), 1, "{len}: not coalesced");
        }

        // Behind a small frame: the payload is a chunk of its own, or copied with the rest.
        let mut c = conn(Role::Server, Config::default());
        c.send_binary(vec![1u8; 3]).unwrap();
        c.send_binary(payload.clone()).unwrap();
        let chunks: Vec<Vec<u8>> = c.transmit_chunks().map(<[u8]>::to_vec).collect();
        let wire = [
            frame_to(Role::Client, true, OpCode::Binary, &[1; 3]),
            frame.clone(),
        ]
        .concat();
        assert_eq!(chunks.concat(), wire, "{len}");
        let last = c.transmit_chunks().last().unwrap().as_ptr();
        if by_reference {
            assert_eq!(chunks.len(), 2, "{len}: both headers, then the payload");
            assert_eq!(last, payload.as_ptr(), "{len}: copied");
        } else {
            assert_eq!(chunks.len(), 1, "{len}: not coalesced");
            assert_ne!(last, payload.as_ptr(), "{len}");
        }
    }
}

// SEC-03, SEC-12: a zero limit means zero: with `max_buffered_output` 0 every send is refused
// (nothing queued), the automatic pong and the Close still go; with `max_frame_size` 0 an
// empty frame is accepted and a one-byte one fails with 1009.
#[test]
fn zero_limits_mean_zero() {
    let mut config = Config::default();
    config.limits.max_buffered_output = 0;
    let mut c = conn(Role::Server, config);
    assert!(matches!(
        c.send_text("a"),
        Err(SendError::Backpressure {
            buffered: 0,
            limit: 0
        })
    ));
    assert!(matches!(
        c.send_binary_from_slice(b""),
        Err(SendError::Backpressure { .. })
    ));
    let got = feed_conn(
        &mut c,
        &frame_to(Role::Server, true, OpCode::Ping, b"p"),
        Split::Whole,
        false,
    );
    let frames = frames_from(Role::Server, &got.wire);
    assert_eq!((frames.len(), frames[0].2), (1, OpCode::Pong));
    c.close(t0(), rfc6455::CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        frames_from(Role::Server, &wire_of(&mut c))[0].2,
        OpCode::Close
    );

    let mut config = Config::default();
    config.limits.max_frame_size = 0;
    let empty = feed_all_splits(
        Role::Server,
        &config,
        &frame_to(Role::Server, true, OpCode::Binary, b""),
    );
    assert_eq!(empty.events, vec![rfc6455::Event::Binary(Bytes::new())]);
    let one = feed_all_splits(
        Role::Server,
        &config,
        &frame_to(Role::Server, true, OpCode::Binary, b"x"),
    );
    assert_eq!(close_code_on_wire(Role::Server, &one.wire), Some(1009));
}
