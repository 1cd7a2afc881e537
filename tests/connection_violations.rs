//! The violation table: input bytes -> close code on the wire and the terminal outcome, for
//! both roles, fed whole, one byte at a time and in random splits (CL-14, CL-15, SEC-09).

mod common;

use common::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{CloseKind, Config, Event, Role};

struct Row {
    id: &'static str,
    input: Vec<u8>,
    code: u16,
    error: ProtocolError,
}

fn rows(role: Role) -> Vec<Row> {
    let f = |fin, op, p: &[u8]| frame_to(role, fin, op, p);
    let raw = |fin: bool, rsv: u8, op: u8, p: &[u8]| {
        // A frame with any opcode/RSV, masked as the peer of `role` would.
        let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | op];
        match role {
            Role::Server => {
                out.push(0x80 | p.len() as u8);
                out.extend_from_slice(&[1, 2, 3, 4]);
                out.extend(p.iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
            }
            Role::Client => {
                out.push(p.len() as u8);
                out.extend_from_slice(p);
            }
        }
        out
    };
    let cat = |parts: &[Vec<u8>]| parts.concat();
    let mut rows = vec![
        Row {
            id: "FR-03",
            input: raw(true, 0b100, 1, b"a"),
            code: 1002,
            error: ProtocolError::ReservedBits(0b100),
        },
        Row {
            id: "FR-03",
            input: raw(true, 0b001, 9, b""),
            code: 1002,
            error: ProtocolError::ReservedBits(0b001),
        },
        Row {
            id: "FR-04",
            input: raw(true, 0, 3, b""),
            code: 1002,
            error: ProtocolError::ReservedOpcode(3),
        },
        Row {
            id: "FR-04",
            input: raw(true, 0, 0xb, b""),
            code: 1002,
            error: ProtocolError::ReservedOpcode(0xb),
        },
        Row {
            id: "FR-15",
            input: f(true, OpCode::Ping, &[0; 126]),
            code: 1002,
            error: ProtocolError::ControlFrameTooLarge,
        },
        Row {
            id: "FR-16",
            input: raw(false, 0, 9, b""),
            code: 1002,
            error: ProtocolError::FragmentedControlFrame,
        },
        Row {
            id: "FR-18",
            input: f(true, OpCode::Continuation, b"a"),
            code: 1002,
            error: ProtocolError::UnexpectedContinuation,
        },
        Row {
            id: "FR-19",
            input: cat(&[f(false, OpCode::Text, b"a"), f(true, OpCode::Text, b"b")]),
            code: 1002,
            error: ProtocolError::ExpectedContinuation,
        },
        Row {
            id: "FR-23",
            input: f(
                true,
                OpCode::Text,
                &[
                    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0,
                    0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64,
                ],
            ),
            code: 1007,
            error: ProtocolError::InvalidUtf8,
        },
        Row {
            id: "FR-26",
            input: f(true, OpCode::Text, &[0xe2, 0x82]),
            code: 1007,
            error: ProtocolError::InvalidUtf8,
        },
        Row {
            id: "FR-27",
            input: f(true, OpCode::Text, &[0xc0, 0xaf]),
            code: 1007,
            error: ProtocolError::InvalidUtf8,
        },
        Row {
            id: "FR-27",
            input: f(true, OpCode::Text, &[0xf4, 0x90, 0x80, 0x80]),
            code: 1007,
            error: ProtocolError::InvalidUtf8,
        },
        Row {
            id: "CL-02",
            input: f(true, OpCode::Close, &[0x03]),
            code: 1002,
            error: ProtocolError::CloseLengthOne,
        },
        Row {
            id: "CL-03",
            input: f(
                true,
                OpCode::Close,
                &[&[0x03, 0xe8][..], &[b'a'; 124]].concat(),
            ),
            code: 1002,
            error: ProtocolError::ControlFrameTooLarge,
        },
        Row {
            id: "CL-04",
            input: f(true, OpCode::Close, &[0x03, 0xe8, 0xff, 0xfe]),
            code: 1007,
            error: ProtocolError::InvalidCloseReason,
        },
    ];
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        rows.push(Row {
            id: "CL-05",
            input: f(true, OpCode::Close, &code.to_be_bytes()),
            code: 1002,
            error: ProtocolError::InvalidCloseCode(code),
        });
    }
    // FR-07 / FR-08: the mask bit against the role.
    match role {
        Role::Server => rows.push(Row {
            id: "FR-07",
            input: vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
            code: 1002,
            error: ProtocolError::UnmaskedFrame,
        }),
        Role::Client => rows.push(Row {
            id: "FR-08",
            input: vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            code: 1002,
            error: ProtocolError::MaskedFrame,
        }),
    }
    // FR-12, FR-13, FR-14: length rules decided from the header.
    let mask_bit = if role == Role::Server { 0x80 } else { 0 };
    rows.push(Row {
        id: "FR-12",
        input: vec![0x82, mask_bit | 126, 0x00, 0x05],
        code: 1002,
        error: ProtocolError::NonMinimalLength(5),
    });
    rows.push(Row {
        id: "FR-13",
        input: vec![0x82, mask_bit | 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
        code: 1002,
        error: ProtocolError::LengthTopBitSet,
    });
    rows.push(Row {
        id: "FR-14",
        input: vec![0x82, mask_bit | 127, 0, 0, 1, 0, 0, 0, 0, 0],
        code: 1009,
        error: ProtocolError::FrameTooLarge {
            len: 1 << 40,
            max: 16 << 20,
        },
    });
    rows
}

#[test]
fn cl15_violation_table_both_roles_all_splits() {
    for role in [Role::Server, Role::Client] {
        for row in rows(role) {
            let got = feed(role, &row.input);
            assert_eq!(
                got.error.as_ref(),
                Some(&row.error),
                "{} {role:?}: error",
                row.id
            );
            assert_eq!(
                close_code_on_wire(role, &got.wire),
                Some(row.code),
                "{} {role:?}: code on the wire",
                row.id
            );
            assert!(got.closed_transport, "{} {role:?}: transport close", row.id);
            let outcome = closed_outcome(&got.events);
            assert_eq!(
                outcome.kind,
                CloseKind::Failed(row.error.clone()),
                "{}",
                row.id
            );
            assert!(!outcome.clean, "{}", row.id);
            assert_eq!(row.error.close_code().as_u16(), row.code, "{}", row.id);
        }
    }
}

// CL-14: after failing, more input gives no events and no output.
#[test]
fn cl14_no_processing_after_failure() {
    let mut c = conn(Role::Server, Config::default());
    let bad = frame_to(Role::Server, true, OpCode::Continuation, b"x");
    let first = feed_conn(&mut c, &bad, Split::Whole, false);
    assert!(first.error.is_some());
    let more = [
        frame_to(Role::Server, true, OpCode::Ping, b"p"),
        frame_to(Role::Server, true, OpCode::Text, b"t"),
    ]
    .concat();
    let after = feed_conn(&mut c, &more, Split::Whole, false);
    assert_eq!(after.events, vec![]);
    assert_eq!(after.wire, Vec::<u8>::new());
    assert_eq!(after.error, None);
    assert!(c.send_text("x").is_err());
}

// FR-02, CL-15: events come out in wire order before a failure (Autobahn 3.2, 4.1.3, 5.15).
#[test]
fn fr02_valid_message_delivered_before_failure() {
    for role in [Role::Server, Role::Client] {
        let input = [
            frame_to(role, true, OpCode::Text, b"Hello"),
            frame_to(role, true, OpCode::Ping, b"p"),
            frame_rsv_to(role, true, 0b010, OpCode::Text, b"bad"),
        ]
        .concat();
        let got = feed(role, &input);
        assert_eq!(got.events[0], Event::Text("Hello".into()));
        assert_eq!(got.events[1], Event::Ping("p".into()));
        assert!(matches!(got.events[2], Event::Closed(_)));
        assert_eq!(got.events.len(), 3);
        let frames = frames_from(role, &got.wire);
        // The pong owed for the ping that came before the violation still goes, then Close.
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!((frames[0].2, &frames[0].3[..]), (OpCode::Pong, &b"p"[..]));
        assert_eq!(frames[1].2, OpCode::Close);
    }
}

// FR-14, SEC-03: a frame over a configured limit fails from its header alone.
#[test]
fn fr14_configured_frame_limit_decided_from_header() {
    let mut config = Config::default();
    config.limits.max_frame_size = 1024;
    let header_only = [0x82, 0xfe, 0x04, 0x01, 1, 2, 3, 4]; // 1025 bytes declared, none sent
    let got = feed_all_splits(Role::Server, &config, &header_only);
    assert_eq!(
        got.error,
        Some(ProtocolError::FrameTooLarge {
            len: 1025,
            max: 1024
        })
    );
    assert_eq!(close_code_on_wire(Role::Server, &got.wire), Some(1009));
}

// The small-message fast path (whole messages of at most 125 bytes in one frame, taken when
// the input holds them complete) decides every rule as the general path does: each input is
// fed whole (fast path) and in every split down to one byte (general path), and the outcomes
// must be identical. FR-07/FR-08 (mask per role), FR-14 (frame limit), 1009 on the message
// limit, FR-23 (invalid UTF-8 in a small text message), FR-02 (messages before the failure).
#[test]
fn small_message_fast_path_matches_general_path_at_every_limit() {
    let mut small_limits = Config::default();
    small_limits.limits.max_message_size = 20;
    let mut small_frames = Config::default();
    small_frames.limits.max_frame_size = 20;
    for role in [Role::Server, Role::Client] {
        let ok = frame_to(role, true, OpCode::Binary, &[7; 20]);
        let over = frame_to(role, true, OpCode::Binary, &[7; 21]);
        let text_125 = frame_to(role, true, OpCode::Text, "é".repeat(62).as_bytes());
        let bad_text = frame_to(role, true, OpCode::Text, b"ok \xc3\x28 then");
        let wrong_mask = match role {
            Role::Server => vec![0x82, 0x02, 1, 2],
            Role::Client => vec![0x82, 0x82, 0, 0, 0, 0, 1, 2],
        };
        for (config, code) in [(&small_limits, 1009), (&small_frames, 1009)] {
            let got = feed_all_splits(role, config, &[ok.clone(), over.clone()].concat());
            assert!(
                matches!(&got.events[0], Event::Binary(b) if b.len() == 20),
                "{role:?}"
            );
            assert!(matches!(got.events[1], Event::Closed(_)), "{role:?}");
            assert_eq!(close_code_on_wire(role, &got.wire), Some(code), "{role:?}");
        }
        let got = feed_all_splits(role, &Config::default(), &[text_125, bad_text].concat());
        assert!(matches!(&got.events[0], Event::Text(t) if t.as_str() == "é".repeat(62)));
        assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{role:?}");
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1007), "{role:?}");
        let got = feed_all_splits(role, &Config::default(), &[ok.clone(), wrong_mask].concat());
        assert_eq!(got.events.len(), 2, "{role:?}: {:?}", got.events);
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1002), "{role:?}");

        // 16-bit lengths: the largest payload the fast path takes (4095), the smallest it
        // leaves to the general path (4096, and one more), and a non-minimal length (FR-12).
        let big = [
            frame_to(role, true, OpCode::Binary, &[1; 4095]),
            frame_to(role, true, OpCode::Text, "ж".repeat(2048).as_bytes()),
            frame_to(role, true, OpCode::Binary, &[3; 4097]),
            frame_to(role, true, OpCode::Binary, &[2; 300]),
        ]
        .concat();
        let got = feed_all_splits(role, &Config::default(), &big);
        let lens: Vec<usize> = got
            .events
            .iter()
            .map(|e| match e {
                Event::Binary(b) => b.len(),
                Event::Text(t) => t.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lens, [4095, 4096, 4097, 300], "{role:?}");
        let mut non_minimal = match role {
            Role::Server => vec![0x82, 0xfe, 0x00, 0x7d, 0, 0, 0, 0],
            Role::Client => vec![0x82, 0x7e, 0x00, 0x7d],
        };
        non_minimal.extend_from_slice(&[0; 125]);
        let got = feed_all_splits(
            role,
            &Config::default(),
            &[ok.clone(), non_minimal].concat(),
        );
        assert_eq!(
            got.error,
            Some(ProtocolError::NonMinimalLength(125)),
            "{role:?}"
        );
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1002), "{role:?}");
    }
}

// The single-frame binary path (a whole binary message in one frame, taken ahead of the
// general path) keeps every rule of it, whatever the split (FR-02): large messages between
// a Ping (FR-28, answered) and a fragmented text message (FR-17, FR-21) come out in order and
// intact, an empty one too (FR-20); and a binary frame inside a fragmented message (FR-19),
// one with an RSV bit (FR-03) and one over the message limit (SEC-03) fail the connection
// with 1002, 1002 and 1009 after the messages before them.
#[test]
fn single_frame_binary_path_keeps_every_rule_in_every_split() {
    let mut limited = Config::default();
    limited.limits.max_message_size = 8000;
    for role in [Role::Server, Role::Client] {
        let big: Vec<u8> = (0..10_000).map(|i| (i * 7) as u8).collect();
        let input = [
            frame_to(role, true, OpCode::Binary, &big),
            frame_to(role, true, OpCode::Ping, b"p"),
            frame_to(role, false, OpCode::Text, b"ab"),
            frame_to(role, true, OpCode::Continuation, b"cd"),
            frame_to(role, true, OpCode::Binary, &big[..5000]),
            frame_to(role, true, OpCode::Binary, b""),
        ]
        .concat();
        let got = feed_all_splits(role, &Config::default(), &input);
        assert_eq!(got.error, None, "{role:?}");
        assert!(
            matches!(&got.events[..], [
                Event::Binary(a),
                Event::Ping(_),
                Event::Text(t),
                Event::Binary(b),
                Event::Binary(c),
            ] if a[..] == big[..] && t.as_str() == "abcd" && b[..] == big[..5000] && c.is_empty()),
            "{role:?}: {:?}",
            got.events
        );
        let pongs: Vec<_> = frames_from(role, &got.wire)
            .into_iter()
            .filter(|f| f.2 == OpCode::Pong)
            .collect();
        assert_eq!(pongs.len(), 1, "{role:?}");

        let ok = frame_to(role, true, OpCode::Binary, &big[..6000]);
        let cases = [
            (
                Config::default(),
                [
                    ok.clone(),
                    frame_to(role, false, OpCode::Text, b"ab"),
                    frame_to(role, true, OpCode::Binary, &big),
                ]
                .concat(),
                ProtocolError::ExpectedContinuation,
                1002,
            ),
            (
                Config::default(),
                [
                    ok.clone(),
                    frame_rsv_to(role, true, 4, OpCode::Binary, &big),
                ]
                .concat(),
                ProtocolError::ReservedBits(4),
                1002,
            ),
            (
                limited.clone(),
                [ok.clone(), frame_to(role, true, OpCode::Binary, &big)].concat(),
                ProtocolError::MessageTooLarge { max: 8000 },
                1009,
            ),
        ];
        for (config, input, error, code) in cases {
            let got = feed_all_splits(role, &config, &input);
            assert_eq!(got.error.as_ref(), Some(&error), "{role:?}");
            assert!(
                matches!(&got.events[0], Event::Binary(b) if b[..] == big[..6000]),
                "{role:?}: {error:?}: {:?}",
                got.events
            );
            assert_eq!(close_code_on_wire(role, &got.wire), Some(code), "{role:?}");
        }
    }
}
