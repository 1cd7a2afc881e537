//! Receiving: reassembly, control frames between fragments, UTF-8, pings and pongs, limits.
//! Every scenario is fed whole, one byte at a time and in random splits with identical
//! results (FR-02).

mod common;

use bytes::Bytes;
use common::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{Config, Event, ReceiveMode, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn data_events(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Ping(_) | Event::Pong(_)))
        .cloned()
        .collect()
}

// FR-01, FR-09, FR-02: the RFC 5.7 examples through a connection.
#[test]
fn fr01_rfc_examples() {
    let got = feed(Role::Client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(got.events, vec![Event::Text("Hello".into())]);
    let got = feed(
        Role::Server,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(got.events, vec![Event::Text("Hello".into())]);
    let got = feed(
        Role::Client,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
    );
    assert_eq!(got.events, vec![Event::Text("Hello".into())]);
}

// FR-17, FR-28: a ping between fragments is answered at once; the message still completes.
#[test]
fn fr17_fr28_control_between_fragments() {
    for role in ROLES {
        let input = [
            frame_to(role, false, OpCode::Text, b"Hel"),
            frame_to(role, true, OpCode::Ping, b""),
            frame_to(role, true, OpCode::Continuation, b"lo"),
        ]
        .concat();
        let got = feed(role, &input);
        assert_eq!(
            got.events,
            vec![Event::Ping(Bytes::new()), Event::Text("Hello".into())]
        );
        let frames = frames_from(role, &got.wire);
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].2, frames[0].3.len()), (OpCode::Pong, 0));
    }
}

// FR-20, FR-21: empty fragments, and a binary message in three frames.
#[test]
fn fr20_fr21_fragments_of_any_size() {
    for role in ROLES {
        let empty = [
            frame_to(role, false, OpCode::Text, b""),
            frame_to(role, false, OpCode::Continuation, b""),
            frame_to(role, true, OpCode::Continuation, b""),
        ]
        .concat();
        assert_eq!(feed(role, &empty).events, vec![Event::Text("".into())]);
        let abc = [
            frame_to(role, false, OpCode::Text, b""),
            frame_to(role, false, OpCode::Continuation, b"abc"),
            frame_to(role, true, OpCode::Continuation, b""),
        ]
        .concat();
        assert_eq!(feed(role, &abc).events, vec![Event::Text("abc".into())]);
        let bin = [
            frame_to(role, false, OpCode::Binary, &[1, 2]),
            frame_to(role, false, OpCode::Continuation, &[3]),
            frame_to(role, true, OpCode::Continuation, &[4, 5, 6]),
        ]
        .concat();
        assert_eq!(
            feed(role, &bin).events,
            vec![Event::Binary(Bytes::from_static(&[1, 2, 3, 4, 5, 6]))]
        );
    }
}

// FR-24: a code point split across frames, one byte per frame (Autobahn 6.2.3, 6.2.4).
#[test]
fn fr24_code_point_split_across_frames() {
    let text = "κόσμε";
    for role in ROLES {
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        let input = fragments_to(role, OpCode::Text, &pieces);
        assert_eq!(feed(role, &input).events, vec![Event::Text(text.into())]);
    }
}

// FR-25: fail-fast across frames (6.4.1/6.4.2) and inside one frame fed in chunks (6.4.3/6.4.4):
// the failure comes with the chunk holding the bad byte, before the frame is complete.
#[test]
fn fr25_fail_fast_utf8() {
    let good = [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
    ];
    for role in ROLES {
        let two_frames = [
            frame_to(role, false, OpCode::Text, &good),
            frame_to(
                role,
                true,
                OpCode::Continuation,
                &[0xf4, 0x90, 0x80, 0x80, 0x65],
            ),
        ]
        .concat();
        let got = feed(role, &two_frames);
        assert_eq!(got.error, Some(ProtocolError::InvalidUtf8));

        // One frame: the good part, then the bad byte, then more that never needs to arrive.
        let mut payload = good.to_vec();
        payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
        payload.extend_from_slice(b"edited");
        let frame = frame_to(role, true, OpCode::Text, &payload);
        let header_len = frame.len() - payload.len();
        let cut = header_len + good.len() + 2; // up to and including 0x90
        let mut c = conn(role, Config::default());
        let mut buf = bytes::BytesMut::from(&frame[..cut - 1]);
        assert_eq!(
            c.handle_input(t0(), &mut buf),
            Ok(()),
            "no error before the bad byte"
        );
        buf.extend_from_slice(&frame[cut - 1..cut]);
        assert_eq!(
            c.handle_input(t0(), &mut buf),
            Err(ProtocolError::InvalidUtf8),
            "error with the chunk holding 0x90"
        );
        let mut late = Outcome::default();
        drain(&mut c, &mut late);
        assert_eq!(close_code_on_wire(role, &late.wire), Some(1007));
    }
}

// FR-28, FR-29: ten pings in one buffer get ten pongs with the same payloads, in order
// (Autobahn 2.10, 2.11); masked when we are the client.
#[test]
fn fr28_fr29_every_ping_answered() {
    for role in ROLES {
        let input: Vec<u8> = (0..10u8)
            .flat_map(|i| frame_to(role, true, OpCode::Ping, &[i; 3]))
            .collect();
        let got = feed(role, &input);
        let pongs = opcodes_and_payloads(role, &got.wire);
        let expect: Vec<_> = (0..10u8)
            .map(|i| (OpCode::Pong, Bytes::from(vec![i; 3])))
            .collect();
        assert_eq!(pongs, expect);
        let masked = got.wire[1] & 0x80 != 0;
        assert_eq!(
            masked,
            role == Role::Client,
            "pong masking follows the role"
        );
    }
}

/// A server owing at most 3 pongs, with a 10-byte message in its output not yet written, so
/// that pongs stay owed rather than being moved into the output.
fn server_with_unwritten_output() -> rfc6455::Connection {
    let mut config = Config::default();
    config.limits.max_pending_pongs = 3;
    let mut c = conn(Role::Server, config);
    c.send_binary(vec![0u8; 10]).unwrap();
    c
}

/// The first payload byte of each Pong among `frames`, in order.
fn pong_ids(frames: &[(bool, u8, OpCode, Bytes)]) -> Vec<u8> {
    frames
        .iter()
        .filter(|f| f.2 == OpCode::Pong)
        .map(|f| f.3[0])
        .collect()
}

// FR-29, SEC-12: past the pending-pong cap, the oldest owed pongs are dropped; the newest
// ping is always answered.
#[test]
fn fr29_pending_pong_queue_is_bounded() {
    let mut c = server_with_unwritten_output();
    let input: Vec<u8> = (0..10u8)
        .flat_map(|i| frame_to(Role::Server, true, OpCode::Ping, &[i]))
        .collect();
    let mut buf = bytes::BytesMut::from(&input[..]);
    c.handle_input(t0(), &mut buf).unwrap();
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert_eq!(
        pong_ids(&frames_from(Role::Server, &out.wire)),
        vec![7, 8, 9]
    );
}

// FR-29, SEC-12: a peer that floods pings and does not read our output. Each time the
// writer tries to write (the vectored chunks, or a write buffer with no room) and the socket
// takes nothing, the owed pongs stay owed, still capped, instead of moving into the output
// behind the unwritten bytes; so the output does not grow with the flood. Once the socket
// takes the output, the newest pongs follow it.
#[test]
fn fr29_pongs_wait_while_the_output_is_not_written() {
    let mut c = server_with_unwritten_output();
    let owed = c.buffered_amount();
    for i in 0..100u8 {
        let mut buf = bytes::BytesMut::from(&frame_to(Role::Server, true, OpCode::Ping, &[i])[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        assert_eq!(c.poll_event(), Some(Event::Ping(Bytes::from(vec![i]))));
        let _unwritten = c.transmit_chunks().count();
        let mut full: [u8; 0] = [];
        assert_eq!(c.transmit_into(&mut &mut full[..]), 0);
        assert_eq!(
            c.buffered_amount(),
            owed,
            "ping {i}: pongs queued behind unwritten output"
        );
    }
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    let frames = frames_from(Role::Server, &out.wire);
    assert_eq!(frames[0].2, OpCode::Binary);
    assert_eq!(pong_ids(&frames), vec![97, 98, 99]);
}

// FR-30: unsolicited pongs are reported and never answered (Autobahn 2.7-2.9).
#[test]
fn fr30_unsolicited_pong_not_answered() {
    for role in ROLES {
        let input = [
            frame_to(role, true, OpCode::Pong, b""),
            frame_to(role, true, OpCode::Pong, b"abc"),
        ]
        .concat();
        let got = feed(role, &input);
        assert_eq!(
            got.events,
            vec![
                Event::Pong(Bytes::new()),
                Event::Pong(Bytes::from_static(b"abc"))
            ]
        );
        assert!(got.wire.is_empty());
    }
}

// FR-33, SEC-03: the message limit counts reassembled bytes.
#[test]
fn fr33_message_limit_over_fragments() {
    let mut config = Config::default();
    config.limits.max_message_size = 1 << 20;
    let mut input = frame_to(Role::Server, false, OpCode::Binary, &[0; 1024]);
    for _ in 0..2047 {
        input.extend(frame_to(
            Role::Server,
            false,
            OpCode::Continuation,
            &[0; 1024],
        ));
    }
    let mut c = conn(Role::Server, config);
    let got = feed_conn(&mut c, &input, Split::Random(7), false);
    assert_eq!(
        got.error,
        Some(ProtocolError::MessageTooLarge { max: 1 << 20 })
    );
    assert_eq!(close_code_on_wire(Role::Server, &got.wire), Some(1009));
}

// FR-33: a flood of empty continuation frames also reaches the limit.
#[test]
fn fr33_empty_fragment_flood_hits_limit() {
    let mut config = Config::default();
    config.limits.max_message_size = 64 * 1024;
    let mut c = conn(Role::Server, config);
    let mut buf = bytes::BytesMut::from(&frame_to(Role::Server, false, OpCode::Binary, b"")[..]);
    c.handle_input(t0(), &mut buf).unwrap();
    let empty = frame_to(Role::Server, false, OpCode::Continuation, b"");
    let mut failed_after = None;
    for i in 0..100_000u32 {
        buf.extend_from_slice(&empty);
        if c.handle_input(t0(), &mut buf).is_err() {
            failed_after = Some(i + 1);
            break;
        }
    }
    let n = failed_after.expect("the flood never hit the limit");
    assert_eq!(
        u64::from(n),
        64 * 1024 / rfc6455::Limits::FRAGMENT_OVERHEAD + 1
    );
}

// FR-20, FR-33: legitimate fragmentation passes with default limits: 4 MiB in 64-byte
// fragments (Autobahn 9.4.1, binary; 9.3.1 is the text one, in autobahn_cases.rs).
#[test]
fn fr20_four_mib_in_64_byte_fragments_accepted_by_default() {
    let size = 4 << 20;
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut input = Vec::with_capacity(size * 2);
    for (i, chunk) in payload.chunks(64).enumerate() {
        let op = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        input.extend(frame_to(Role::Server, (i + 1) * 64 >= size, op, chunk));
    }
    let mut c = conn(Role::Server, Config::default());
    let got = feed_conn(&mut c, &input, Split::Random(3), false);
    assert_eq!(got.error, None);
    assert_eq!(got.events, vec![Event::Binary(payload.into())]);
}

// Streaming receive: chunks as they arrive, text on character boundaries, flags.
#[test]
fn streaming_receive_text_on_char_boundaries() {
    let mut config = Config::default();
    config.receive_mode = ReceiveMode::Streaming;
    let text = "aé𝄞κόσμε-end";
    let bytes = text.as_bytes();
    for role in ROLES {
        // Three frames cut inside code points; then a frame a byte, so that a code point
        // spans up to four frames (the start carried on over frames that add to it).
        let three = [&bytes[..2], &bytes[2..5], &bytes[5..]];
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        for (pieces, split) in SPLITS
            .iter()
            .map(|&split| (&three[..], split))
            .chain([(&bytewise[..], Split::Whole)])
        {
            let input = fragments_to(role, OpCode::Text, pieces);
            let mut c = conn(role, config.clone());
            let got = feed_conn(&mut c, &input, split, false);
            assert_eq!(got.error, None);
            let mut joined = String::new();
            let mut fins = 0;
            for e in &got.events {
                match e {
                    Event::TextChunk { data, fin, .. } => {
                        joined.push_str(data);
                        fins += usize::from(*fin);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(joined, text, "{} frames, {split:?}", pieces.len());
            assert_eq!(fins, 1);
            assert!(matches!(
                got.events.last(),
                Some(Event::TextChunk {
                    fin: true,
                    frame_fin: true,
                    ..
                })
            ));
        }
    }
}

// FR-20, FR-24: in streaming mode an empty non-final frame, or one whose bytes are all the
// start of a code point held for the next frame, makes no event: no empty chunk reaches the
// application before the last one. An empty final frame still ends the message, with an
// empty final chunk. Whatever the split, the chunks join to the message.
#[test]
fn streaming_receive_no_empty_chunks_but_an_empty_final_frame_ends_the_message() {
    let mut config = Config::default();
    config.receive_mode = ReceiveMode::Streaming;
    let euro = "€".as_bytes();
    let euro_end = [euro[2], b'!'];
    let cases: [(OpCode, Vec<&[u8]>); 2] = [
        (OpCode::Text, vec![b"ab", b"", &euro[..2], &euro_end, b""]),
        (OpCode::Binary, vec![b"ab", b"", b"cd", b""]),
    ];
    for role in ROLES {
        for (opcode, pieces) in &cases {
            let input = fragments_to(role, *opcode, pieces);
            for split in SPLITS {
                let mut c = conn(role, config.clone());
                let got = feed_conn(&mut c, &input, split, false);
                assert_eq!(got.error, None);
                let chunks: Vec<(Vec<u8>, bool, bool)> = got
                    .events
                    .iter()
                    .map(|e| match e {
                        Event::TextChunk {
                            data,
                            frame_fin,
                            fin,
                        } => (data.as_bytes().to_vec(), *frame_fin, *fin),
                        Event::BinaryChunk {
                            data,
                            frame_fin,
                            fin,
                        } => (data.to_vec(), *frame_fin, *fin),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                let what = format!("{role:?} {opcode:?} {split:?}: {chunks:?}");
                let (last, before) = chunks.split_last().expect("no events");
                assert!(
                    before.iter().all(|(data, _, fin)| !data.is_empty() && !fin),
                    "{what}"
                );
                assert_eq!((last.1, last.2), (true, true), "{what}");
                assert_eq!(
                    chunks.iter().flat_map(|c| c.0.clone()).collect::<Vec<u8>>(),
                    pieces.concat(),
                    "{what}"
                );
                if matches!(split, Split::Whole) {
                    let expected: Vec<&[u8]> = if *opcode == OpCode::Text {
                        vec![b"ab", "€!".as_bytes(), b""]
                    } else {
                        vec![b"ab", b"cd", b""]
                    };
                    let data: Vec<&[u8]> = chunks.iter().map(|c| &c.0[..]).collect();
                    assert_eq!(data, expected, "{what}");
                }
            }
        }
    }
}

#[test]
fn streaming_receive_delivers_partial_frames_and_fails_fast() {
    let mut config = Config::default();
    config.receive_mode = ReceiveMode::Streaming;
    let payload = vec![7u8; 10_000];
    let frame = frame_to(Role::Server, true, OpCode::Binary, &payload);
    let mut c = conn(Role::Server, config.clone());
    let got = feed_conn(&mut c, &frame[..5000], Split::Whole, false);
    let delivered: usize = got
        .events
        .iter()
        .map(|e| match e {
            Event::BinaryChunk { data, fin, .. } => {
                assert!(!fin);
                data.len()
            }
            other => panic!("{other:?}"),
        })
        .sum();
    assert!(
        delivered > 4000,
        "data delivered before the frame completed"
    );
    let rest = feed_conn(&mut c, &frame[5000..], Split::Whole, false);
    assert!(matches!(
        rest.events.last(),
        Some(Event::BinaryChunk { fin: true, .. })
    ));

    // Chunk boundaries depend on arrival; the error and the absence of a final chunk do not.
    let bad = frame_to(Role::Server, true, OpCode::Text, &[b'a', b'b', 0xff, b'c']);
    for split in SPLITS {
        let mut c = conn(Role::Server, config.clone());
        let got = feed_conn(&mut c, &bad, split, false);
        assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{split:?}");
        assert_eq!(close_code_on_wire(Role::Server, &got.wire), Some(1007));
        assert!(
            data_events(&got.events)
                .iter()
                .all(|e| !matches!(e, Event::TextChunk { fin: true, .. }))
        );
    }
}

// read_hint: the bytes that complete the frame in progress, whatever the split; 0 between
// frames, in both receive modes.
#[test]
fn read_hint_counts_the_rest_of_the_frame() {
    for role in ROLES {
        for mode in [ReceiveMode::Whole, ReceiveMode::Streaming] {
            let mut config = Config::default();
            config.receive_mode = mode;
            let mut c = conn(role, config.clone());
            let frame = frame_to(role, true, OpCode::Binary, &[7; 1000]);
            let header = frame.len() - 1000;
            let mut input = bytes::BytesMut::new();
            assert_eq!(c.read_hint(&input), 0, "{role:?} {mode:?} before any input");
            input.extend_from_slice(&frame[..header + 100]);
            c.handle_input(t0(), &mut input).unwrap();
            assert_eq!(
                c.read_hint(&input),
                900,
                "{role:?} {mode:?} after 100 bytes"
            );
            input.extend_from_slice(&frame[header + 100..header + 999]);
            c.handle_input(t0(), &mut input).unwrap();
            assert_eq!(c.read_hint(&input), 1, "{role:?} {mode:?} one byte short");
            input.extend_from_slice(&frame[header + 999..]);
            c.handle_input(t0(), &mut input).unwrap();
            assert_eq!(c.read_hint(&input), 0, "{role:?} {mode:?} complete");

            // A frame in progress when the connection fails (invalid text, caught before the
            // frame is complete): no more input is taken, so no more is hinted.
            let text = frame_to(role, true, OpCode::Text, &[b'a'; 1000]);
            let mut failing = conn(role, config.clone());
            let mut input = bytes::BytesMut::from(&text[..header + 100]);
            failing.handle_input(t0(), &mut input).unwrap();
            assert_eq!(failing.read_hint(&input), 900);
            let mut bad = frame_to(role, true, OpCode::Text, &[0xff; 1000]);
            bad.truncate(header + 100);
            let mut failing = conn(role, config.clone());
            let mut input = bytes::BytesMut::from(&bad[..]);
            assert!(failing.handle_input(t0(), &mut input).is_err());
            assert_eq!(failing.read_hint(&input), 0, "{role:?} {mode:?} failed");
        }
    }
}

// FR-02: a payload that holds WebSocket frames is data. Arriving in pieces, whatever the
// split, the bytes of a frame in progress are never read as frames of their own: a ping and
// a pong whose payload is a small frame, then one binary message (a frame larger than the
// small-message path takes, then the same bytes in 1 KiB fragments) come out as sent.
#[test]
fn fr02_a_payload_of_frames_is_never_read_as_frames() {
    for role in ROLES {
        // Frames of 8 bytes (a 2-byte masked or 6-byte unmasked payload), so that every
        // 1 KiB fragment starts on one; every other one a complete continuation frame.
        let body = match role {
            Role::Server => 2,
            Role::Client => 6,
        };
        let mut payload = Vec::new();
        for i in 0..1536u32 {
            let opcode = if i % 2 == 0 {
                OpCode::Continuation
            } else {
                OpCode::Binary
            };
            let frame = frame_to(role, true, opcode, &u64::from(i).to_be_bytes()[8 - body..]);
            assert_eq!(frame.len(), 8);
            payload.extend_from_slice(&frame);
        }
        let whole = frame_to(role, true, OpCode::Binary, &payload);
        let pieces: Vec<&[u8]> = payload.chunks(1024).collect();
        let fragmented = fragments_to(role, OpCode::Binary, &pieces);
        let inner = frame_to(role, true, OpCode::Binary, b"inner");
        let controls = [
            frame_to(role, true, OpCode::Ping, &inner),
            frame_to(role, true, OpCode::Pong, &inner),
        ]
        .concat();
        for (how, message) in [("one frame", whole), ("1 KiB fragments", fragmented)] {
            let input = [&controls[..], &message].concat();
            let got = feed_all_splits(role, &Config::default(), &input);
            assert_eq!(got.error, None, "{role:?}, {how}");
            let [Event::Ping(ping), Event::Pong(pong), Event::Binary(message)] = &got.events[..]
            else {
                panic!("{role:?}, {how}: {} events", got.events.len());
            };
            assert!(
                ping[..] == inner[..] && pong[..] == inner[..],
                "{role:?}, {how}"
            );
            assert!(message[..] == payload[..], "{role:?}, {how}: other bytes");
        }
    }
}

// FR-14, FR-33: in streaming mode nothing is reassembled, so the message limit does not
// apply: a frame and a fragmented message larger than `max_message_size` (each frame within
// `max_frame_size`) arrive whole, in chunks. Whole-message mode fails both with 1009.
#[test]
fn streaming_mode_has_no_message_limit() {
    let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    let pieces: Vec<&[u8]> = data.chunks(2000).collect();
    for role in ROLES {
        let one_frame = frame_to(role, true, OpCode::Binary, &data);
        let fragmented = fragments_to(role, OpCode::Binary, &pieces);
        for (how, input) in [("one frame", &one_frame), ("three fragments", &fragmented)] {
            let mut config = Config::default();
            config.limits.max_message_size = 1000;
            config.receive_mode = ReceiveMode::Streaming;
            for split in SPLITS {
                let got = feed_conn(&mut conn(role, config.clone()), input, split, false);
                assert_eq!(got.error, None, "{role:?}, {how}, {split:?}");
                let mut received = Vec::new();
                let mut fins = 0;
                for event in &got.events {
                    let Event::BinaryChunk { data, fin, .. } = event else {
                        panic!("{role:?}, {how}, {split:?}: not a chunk");
                    };
                    received.extend_from_slice(data);
                    fins += usize::from(*fin);
                }
                assert!(received == data, "{role:?}, {how}, {split:?}: other bytes");
                assert_eq!(fins, 1, "{role:?}, {how}, {split:?}: one message");
            }

            config.receive_mode = ReceiveMode::Whole;
            let got = feed_all_splits(role, &config, input);
            assert_eq!(
                got.error,
                Some(ProtocolError::MessageTooLarge { max: 1000 }),
                "{role:?}, {how}"
            );
            assert_eq!(
                close_code_on_wire(role, &got.wire),
                Some(1009),
                "{role:?}, {how}"
            );
        }
    }
}
