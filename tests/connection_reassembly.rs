//! Reassembly of many fragments that arrive together: the checks run frame by frame in order,
//! whatever the split (FR-02), and the reassembly buffer stays within the message limit.

mod common;

use bytes::Bytes;
use common::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{Config, Event, Limits, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn config_with_limit(max_message_size: u64) -> Config {
    let mut config = Config::default();
    config.limits.max_message_size = max_message_size;
    config
}

// FR-17, FR-20, FR-28: long runs of fragments with control frames between them and messages
// after them, all in one buffer.
#[test]
fn runs_of_fragments_with_control_frames_between() {
    let text: String = (0..3000).map(|i| ['a', 'é', '€', '𝄞'][i % 4]).collect();
    let binary: Vec<u8> = (0..5000).map(|i| (i % 253) as u8).collect();
    for role in ROLES {
        let bytes = text.as_bytes();
        let mut input = Vec::new();
        for (i, chunk) in bytes.chunks(97).enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            input.extend(frame_to(role, (i + 1) * 97 >= bytes.len(), op, chunk));
            if i == 10 {
                input.extend(frame_to(role, true, OpCode::Ping, b"p"));
            }
            if i == 30 {
                input.extend(frame_to(role, true, OpCode::Pong, b"q"));
            }
        }
        input.extend(frame_to(role, true, OpCode::Binary, &[7; 3]));
        input.extend(fragmented(role, OpCode::Binary, &binary, 1000));
        let got = feed(role, &input);
        assert_eq!(got.error, None);
        assert_eq!(
            got.events,
            vec![
                Event::Ping(Bytes::from_static(b"p")),
                Event::Pong(Bytes::from_static(b"q")),
                Event::Text(text.as_str().into()),
                Event::Binary(Bytes::from_static(&[7; 3])),
                Event::Binary(binary.clone().into()),
            ]
        );
    }
}

// FR-25: invalid UTF-8 in a fragment is reported before a broken header further on, even
// when both are in the buffer at once.
#[test]
fn utf8_error_comes_before_a_later_header_error() {
    for role in ROLES {
        let mut input = [
            frame_to(role, false, OpCode::Text, b"abc"),
            frame_to(role, false, OpCode::Continuation, b"def"),
            frame_to(role, false, OpCode::Continuation, &[b'g', 0xff, b'h']),
            frame_to(role, false, OpCode::Continuation, b"ijk"),
        ]
        .concat();
        // Opcode 0x3 is reserved.
        input.extend([0x83, 0x00]);
        let got = feed(role, &input);
        assert_eq!(got.error, Some(ProtocolError::InvalidUtf8));
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1007));
    }
}

// FR-33: the limit is hit inside a run of complete fragments, before the broken frame after it.
#[test]
fn limit_is_hit_inside_a_run_of_fragments() {
    let config = config_with_limit(4096);
    for role in ROLES {
        let mut input = Vec::new();
        for i in 0..10 {
            let op = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            input.extend(frame_to(role, false, op, &[1; 1000]));
        }
        input.extend([0x83, 0x00]);
        let got = feed_all_splits(role, &config, &input);
        assert_eq!(
            got.error,
            Some(ProtocolError::MessageTooLarge { max: 4096 })
        );
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1009));
    }
}

// FR-33: a flood of empty continuation frames that arrives in one piece is charged frame by
// frame: the last frame within the limit passes, the next one fails.
#[test]
fn empty_fragment_flood_in_one_buffer() {
    let limit = 64 * 1024;
    let config = config_with_limit(limit);
    let within = limit / Limits::FRAGMENT_OVERHEAD;
    for (continuations, fails) in [(within, false), (within + 1, true)] {
        let mut input = frame_to(Role::Server, false, OpCode::Binary, b"");
        let empty = frame_to(Role::Server, false, OpCode::Continuation, b"");
        for _ in 0..continuations {
            input.extend_from_slice(&empty);
        }
        let got = feed_all_splits(Role::Server, &config, &input);
        let expected = fails.then_some(ProtocolError::MessageTooLarge { max: limit });
        assert_eq!(got.error, expected, "{continuations} empty frames");
    }
}

// SEC-03: the reassembly buffer grows ahead of the message, but never past the message limit,
// and is released with the delivered message.
#[test]
fn reassembly_buffer_stays_within_the_limit() {
    let limit = 20_000;
    for role in ROLES {
        let mut c = conn(role, config_with_limit(limit));
        let mut buf = bytes::BytesMut::new();
        for i in 0..3 {
            let op = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            buf.extend_from_slice(&frame_to(role, false, op, &[5; 6000]));
        }
        c.handle_input(t0(), &mut buf).unwrap();
        let held = c.heap_capacity();
        assert!(
            (18_000..=limit as usize).contains(&held),
            "{role:?}: {held} bytes held for 18000 received"
        );
        buf.extend_from_slice(&frame_to(role, true, OpCode::Continuation, &[5; 1000]));
        c.handle_input(t0(), &mut buf).unwrap();
        let mut out = Outcome::default();
        drain(&mut c, &mut out);
        assert_eq!(out.events, vec![Event::Binary(vec![5; 19_000].into())]);
        assert_eq!(c.heap_capacity(), 0, "{role:?}: idle after delivery");
    }
}

// FR-03, FR-07, FR-08, FR-12, FR-13, FR-14: inside a run of complete fragments, the common
// continuation header (no RSV bits, the role's mask bit, a 7- or 16-bit length) is read by a
// short loop; every other form goes to the general parser. Whole (the run's loop) and byte by
// byte (the general parser alone), each gives the same events, error and close code.
#[test]
fn continuation_headers_of_every_form_inside_a_run() {
    let mut small_frames = Config::default();
    small_frames.limits.max_frame_size = 100;
    for role in ROLES {
        let (m, key): (u8, &[u8]) = match role {
            Role::Server => (0x80, &[0, 0, 0, 0]),
            Role::Client => (0, &[]),
        };
        let wrong_m = m ^ 0x80;
        let start = [
            frame_to(role, false, OpCode::Binary, b"start "),
            frame_to(role, false, OpCode::Continuation, b"mid "),
        ]
        .concat();
        let end = frame_to(role, true, OpCode::Continuation, b"end");
        let header = |b0: u8, b1: u8, ext: &[u8], with_key: &[u8], payload: &[u8]| {
            [&[b0, b1][..], ext, with_key, payload].concat()
        };
        let ok = |frame: Vec<u8>, len: usize, config: &Config| {
            let got = feed_all_splits(role, config, &[start.clone(), frame, end.clone()].concat());
            assert_eq!(got.error, None, "{role:?}");
            assert!(
                matches!(&got.events[..], [Event::Binary(b)] if b.len() == 10 + len + 3),
                "{role:?}: {:?}",
                got.events
            );
        };
        let fails = |frame: Vec<u8>, error: ProtocolError, code: u16, config: &Config| {
            let got = feed_all_splits(role, config, &[start.clone(), frame, end.clone()].concat());
            assert_eq!(got.error, Some(error), "{role:?}");
            assert_eq!(close_code_on_wire(role, &got.wire), Some(code), "{role:?}");
        };
        let config = Config::default();
        // Accepted: 7-bit, 16-bit and 64-bit lengths (the last by the general parser).
        ok(
            frame_to(role, false, OpCode::Continuation, &[b'a'; 125]),
            125,
            &config,
        );
        ok(
            frame_to(role, false, OpCode::Continuation, &[b'b'; 300]),
            300,
            &config,
        );
        ok(
            frame_to(role, false, OpCode::Continuation, &[b'c'; 70_000]),
            70_000,
            &config,
        );
        // RSV1 with no extension (FR-03).
        let rsv = header(0x40, m | 1, &[], key, b"x");
        fails(rsv, ProtocolError::ReservedBits(0b100), 1002, &config);
        // The other role's mask bit (FR-07, FR-08).
        let wrong_key: &[u8] = if key.is_empty() { &[0, 0, 0, 0] } else { &[] };
        let masked = header(0x00, wrong_m | 1, &[], wrong_key, b"x");
        let error = match role {
            Role::Server => ProtocolError::UnmaskedFrame,
            Role::Client => ProtocolError::MaskedFrame,
        };
        fails(masked, error, 1002, &config);
        // A 16-bit length that fits in 7 bits (FR-12).
        let short = header(0x00, m | 126, &[0, 5], key, b"xxxxx");
        fails(short, ProtocolError::NonMinimalLength(5), 1002, &config);
        // A 64-bit length with its top bit set (FR-13).
        let top = header(0x00, m | 127, &[0x80, 0, 0, 0, 0, 0, 0, 0], key, b"");
        fails(top, ProtocolError::LengthTopBitSet, 1002, &config);
        // Over the frame limit, with a 16-bit length (FR-14).
        let big = frame_to(role, false, OpCode::Continuation, &[b'd'; 200]);
        fails(
            big,
            ProtocolError::FrameTooLarge { len: 200, max: 100 },
            1009,
            &small_frames,
        );
    }
}

/// One frame of a random, possibly invalid, sequence.
#[derive(Clone, Debug)]
struct RawFrame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

fn raw_frame() -> impl proptest::strategy::Strategy<Value = RawFrame> {
    use proptest::prelude::*;
    // Mostly continuation frames, some data and control frames, rarely a reserved opcode;
    // payloads mostly ASCII, sometimes any byte (invalid UTF-8 in text).
    let opcode = prop_oneof![
        8 => Just(0u8),
        2 => Just(1u8),
        2 => Just(2u8),
        1 => Just(9u8),
        1 => Just(10u8),
        1 => Just(3u8),
    ];
    let payload = prop_oneof![
        4 => proptest::collection::vec(b'a'..=b'z', 0..300),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (any::<bool>(), opcode, payload).prop_map(|(fin, opcode, mut payload)| {
        let control = opcode >= 8;
        if control {
            payload.truncate(125);
        }
        RawFrame {
            fin: fin || control,
            opcode,
            payload,
        }
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    // FR-02: whatever mix of fragments, control frames and protocol errors arrives, whole or
    // split at random or byte by byte, the events and the error are the same (runs of complete
    // fragments take a different path from fragments that arrive piecemeal).
    #[test]
    fn random_fragment_sequences_are_split_invariant(
        frames in proptest::collection::vec(raw_frame(), 1..40),
        limit in 200u64..4000,
        server in proptest::prelude::any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut input = Vec::new();
        for f in &frames {
            let opcode = OpCode::from_u8(f.opcode);
            match opcode {
                Some(op) => input.extend(frame_to(role, f.fin, op, &f.payload)),
                // A reserved opcode: the header alone fails the connection.
                None => input.extend([0x80 | f.opcode, 0x00]),
            }
        }
        feed_all_splits(role, &config_with_limit(limit), &input);
    }
}
