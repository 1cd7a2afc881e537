//! Autobahn|Testsuite cases (fuzzingclient, 1.x to 10.x; 12.x and 13.x are
//! permessage-deflate) that the other test files did not yet cover with the same input and
//! the same expectation, found by an audit of the case list against the tests. Autobahn
//! itself needs Python 2 and is not run here; each test names the cases it stands for and
//! the checklist IDs. Both roles, every split unless the input is too large for one byte at
//! a time.

mod common;

use bytes::Bytes;
use common::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{CloseCode, CloseFrame, CloseKind, Config, Event, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

// 6.7.x, 6.9.x, 6.22.x, 6.23.x (FR-22, FR-27): noncharacters, the last code point of each
// plane, the replacement character and U+10FFFF are valid UTF-8 and must be delivered
// unchanged, alone and inside a longer text.
#[test]
fn autobahn_6_22_noncharacters_and_max_code_point_accepted() {
    let valid: [&[u8]; 10] = [
        &[0xef, 0xbf, 0xbe],       // U+FFFE
        &[0xef, 0xbf, 0xbf],       // U+FFFF
        &[0xef, 0xb7, 0x90],       // U+FDD0
        &[0xef, 0xb7, 0xaf],       // U+FDEF
        &[0xef, 0xbf, 0xb9],       // U+FFF9
        &[0xef, 0xbf, 0xbd],       // U+FFFD
        &[0xf0, 0x9f, 0xbf, 0xbe], // U+1FFFE
        &[0xf0, 0x9f, 0xbf, 0xbf], // U+1FFFF
        &[0xf4, 0x8f, 0xbf, 0xbe], // U+10FFFE
        &[0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
    ];
    for role in ROLES {
        for chars in valid {
            for text in [chars.to_vec(), [b"a", chars, b"z"].concat()] {
                let got = feed(role, &frame_to(role, true, OpCode::Text, &text));
                let expect = std::str::from_utf8(&text).unwrap();
                assert_eq!(got.events, vec![Event::Text(expect.into())], "{text:x?}");
                assert_eq!(got.error, None);
            }
        }
    }
}

// 6.8.x, 6.10.x, 6.17.x to 6.21.x (FR-23, FR-27): 5- and 6-byte forms, code points above
// U+10FFFF in 4-byte form, and surrogates (alone or paired, as CESU-8 would write them) fail
// with 1007.
#[test]
fn autobahn_6_8_long_forms_and_surrogates_fail_with_1007() {
    let invalid: [&[u8]; 9] = [
        &[0xf8, 0x88, 0x80, 0x80, 0x80],
        &[0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
        &[0xfb, 0xbf, 0xbf, 0xbf, 0xbf],
        &[0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf],
        &[0xf7, 0xbf, 0xbf, 0xbf],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0xed, 0xa0, 0x80],
        &[0xed, 0xbf, 0xbf],
        &[0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
    ];
    for role in ROLES {
        for bytes in invalid {
            let got = feed(role, &frame_to(role, true, OpCode::Text, bytes));
            assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{bytes:x?}");
            assert_eq!(close_code_on_wire(role, &got.wire), Some(1007));
            assert!(!got.events.iter().any(|e| matches!(e, Event::Text(_))));
        }
    }
}

// 6.4.1, 6.4.2 (FR-25): fail fast across fragments. The first fragment is valid; the failure
// comes with the fragment that holds the invalid byte, although the message is not finished
// (FIN = 0 throughout), and not a frame later.
#[test]
fn autobahn_6_4_fail_fast_before_the_message_ends() {
    let kosme = "κόσμε".as_bytes();
    let cases: [(&[u8], &[u8]); 2] = [
        (kosme, &[0xf4, 0x90, 0x80, 0x80]),    // 6.4.1
        (&[kosme, &[0xf4]].concat(), &[0x90]), // 6.4.2
    ];
    for role in ROLES {
        for (first, second) in cases {
            for split in SPLITS {
                let mut c = conn(role, Config::default());
                let start = feed_conn(
                    &mut c,
                    &frame_to(role, false, OpCode::Text, first),
                    split,
                    false,
                );
                assert_eq!((start.error, start.events), (None, vec![]), "{split:?}");
                let bad = frame_to(role, false, OpCode::Continuation, second);
                let got = feed_conn(&mut c, &bad, split, false);
                assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{split:?}");
                assert_eq!(close_code_on_wire(role, &got.wire), Some(1007));
            }
        }
    }
}

// 6.3.2 (FR-23, FR-25): the invalid text of 6.3.1 sent one byte per frame fails with the
// frame that carries the first impossible byte (the 0xa0 after 0xed), not before.
#[test]
fn autobahn_6_3_2_invalid_text_one_byte_per_frame() {
    let payload = [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65,
        0x64, 0x69, 0x74, 0x65, 0x64,
    ];
    let bad_at = payload.iter().position(|&b| b == 0xa0).unwrap();
    for role in ROLES {
        let mut c = conn(role, Config::default());
        for (i, &b) in payload.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            let got = feed_conn(
                &mut c,
                &frame_to(role, i + 1 == payload.len(), op, &[b]),
                Split::Whole,
                false,
            );
            if i < bad_at {
                assert_eq!(got.error, None, "{role:?} byte {i}");
            } else {
                assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{role:?}");
                assert_eq!(close_code_on_wire(role, &got.wire), Some(1007));
                break;
            }
        }
    }
}

// 5.12 to 5.16 (FR-18): a continuation with FIN = 0 and no message in progress fails with
// 1002, like the FIN = 1 one, alone or after a complete message (5.15 delivers that message).
#[test]
fn autobahn_5_12_unfinished_continuation_without_a_message() {
    for role in ROLES {
        let alone = frame_to(role, false, OpCode::Continuation, b"fragment1");
        let got = feed(role, &alone);
        assert_eq!(got.error, Some(ProtocolError::UnexpectedContinuation));
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1002));

        let after_a_message = [
            frame_to(role, false, OpCode::Text, b"fragment1"),
            frame_to(role, true, OpCode::Continuation, b"fragment2"),
            frame_to(role, false, OpCode::Continuation, b"fragment3"),
            frame_to(role, true, OpCode::Text, b"fragment4"),
        ]
        .concat();
        let got = feed(role, &after_a_message);
        assert_eq!(got.events[0], Event::Text("fragment1fragment2".into()));
        assert_eq!(got.error, Some(ProtocolError::UnexpectedContinuation));
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1002));
    }
}

// 3.2, 3.7, 4.1.3, 4.2.3 (FR-03, FR-04, CL-14): a reserved bit or opcode after a valid
// message in the same read: the message is delivered, the connection fails with 1002, and
// the Ping after the bad frame gets no Pong. A Close with every RSV bit fails the same way.
#[test]
fn autobahn_3_2_4_1_3_violation_after_a_message_then_a_ping() {
    for role in ROLES {
        let mut bad_frames = vec![
            (
                frame_rsv_to(role, true, 0b010, OpCode::Text, b"Hello, world!"),
                ProtocolError::ReservedBits(0b010),
            ),
            (
                frame_rsv_to(role, true, 0b111, OpCode::Close, &[0x03, 0xe8]),
                ProtocolError::ReservedBits(0b111),
            ),
        ];
        for opcode in [5u8, 0xd] {
            let mut frame = frame_to(role, true, OpCode::Binary, b"");
            frame[0] = 0x80 | opcode;
            bad_frames.push((frame, ProtocolError::ReservedOpcode(opcode)));
        }
        for (bad, error) in bad_frames {
            let input = [
                frame_to(role, true, OpCode::Text, b"Hello, world!"),
                bad,
                frame_to(role, true, OpCode::Ping, b""),
            ]
            .concat();
            let got = feed(role, &input);
            assert_eq!(got.error.as_ref(), Some(&error));
            assert_eq!(got.events[0], Event::Text("Hello, world!".into()));
            assert_eq!(got.events.len(), 2, "{:?}", got.events);
            assert_eq!(
                closed_outcome(&got.events).kind,
                CloseKind::Failed(error.clone())
            );
            let opcodes: Vec<OpCode> = opcodes_and_payloads(role, &got.wire)
                .into_iter()
                .map(|f| f.0)
                .collect();
            assert_eq!(
                opcodes,
                [OpCode::Close],
                "{error:?}: no Pong, only the Close"
            );
            assert_eq!(close_code_on_wire(role, &got.wire), Some(1002));
        }
    }
}

// 7.1.5 (CL-09): a message left unfinished by the peer's Close is never delivered, and what
// follows the Close (its last fragment) is ignored; the reply echoes the code.
#[test]
fn autobahn_7_1_5_close_in_the_middle_of_a_message() {
    for role in ROLES {
        let input = [
            frame_to(role, false, OpCode::Text, b"fragment1"),
            frame_to(role, true, OpCode::Close, &[0x03, 0xe8]),
            frame_to(role, true, OpCode::Continuation, b"fragment2"),
        ]
        .concat();
        let got = feed(role, &input);
        assert_eq!(got.error, None);
        assert!(
            !got.events
                .iter()
                .any(|e| matches!(e, Event::Text(_) | Event::TextChunk { .. })),
            "{:?}",
            got.events
        );
        assert!(matches!(got.events[0], Event::CloseReceived(_)));
        assert_eq!(
            opcodes_and_payloads(role, &got.wire),
            vec![(OpCode::Close, Bytes::from_static(&[0x03, 0xe8]))]
        );
    }
}

// 7.3.5 (CL-03): a Close with a 123-byte reason (the most that fits) is accepted and echoed;
// the application sees the whole reason.
#[test]
fn autobahn_7_3_5_close_with_the_longest_reason() {
    let reason = "*".repeat(123);
    for role in ROLES {
        let payload = [&[0x03, 0xe8][..], reason.as_bytes()].concat();
        let got = feed(role, &frame_to(role, true, OpCode::Close, &payload));
        assert_eq!(got.error, None);
        assert_eq!(
            got.events[0],
            Event::CloseReceived(Some(
                CloseFrame::new(CloseCode::NORMAL, reason.as_str()).unwrap()
            ))
        );
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1000));
    }
}

// 7.7.x (CL-05, CL-07): every code a peer may send is accepted and echoed at connection
// level, both roles: the RFC's codes, the IANA-registered 1012 to 1014, and the ranges for
// libraries (3000-3999) and applications (4000-4999).
#[test]
fn autobahn_7_7_valid_close_codes_echoed() {
    let codes = [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ];
    for role in ROLES {
        for code in codes {
            let got = feed(
                role,
                &frame_to(role, true, OpCode::Close, &code.to_be_bytes()),
            );
            assert_eq!(got.error, None, "{code}");
            assert_eq!(close_code_on_wire(role, &got.wire), Some(code), "{code}");
            let received = CloseFrame::new(CloseCode(code), "").unwrap();
            assert_eq!(got.events[0], Event::CloseReceived(Some(received)));
            if role == Role::Server {
                // The server closes the transport at once; the client waits for it to.
                assert_eq!(closed_outcome(&got.events).code(), CloseCode(code));
            }
        }
    }
}

// 2.4 (FR-15, FR-28): a Ping with the largest control payload, 125 bytes, is answered with a
// Pong carrying the same 125 bytes.
#[test]
fn autobahn_2_4_ping_of_125_bytes_answered_in_full() {
    let payload: Vec<u8> = (0..125u8).map(|i| i.wrapping_mul(37)).collect();
    for role in ROLES {
        let got = feed(role, &frame_to(role, true, OpCode::Ping, &payload));
        assert_eq!(
            opcodes_and_payloads(role, &got.wire),
            vec![(OpCode::Pong, Bytes::from(payload.clone()))]
        );
    }
}

// 9.1.6, 9.2.6 (FR-14, SEC-03): with the default limits, a 16 MiB message in one frame is
// exactly at the frame limit and is delivered (text and binary); one byte more fails with
// 1009 from the header. Fed whole and in 64 KiB reads (one byte at a time would take long).
#[test]
fn autobahn_9_1_6_sixteen_mib_in_one_frame_at_the_default_limit() {
    let len = 16 << 20;
    let text = "ab".repeat(len / 2);
    for role in ROLES {
        for (opcode, payload) in [
            (OpCode::Text, text.as_bytes()),
            (OpCode::Binary, text.as_bytes()),
        ] {
            let wire = frame_to(role, true, opcode, payload);
            for split in [Split::Whole, Split::Every(64 * 1024)] {
                let got = feed_conn(&mut conn(role, Config::default()), &wire, split, false);
                assert_eq!(got.error, None, "{opcode:?}");
                assert_eq!(got.events.len(), 1, "{opcode:?}");
                match &got.events[0] {
                    Event::Text(t) => assert!(opcode == OpCode::Text && t.as_bytes() == payload),
                    Event::Binary(b) => assert!(opcode == OpCode::Binary && b == payload),
                    other => panic!("{other:?}"),
                }
            }
        }
        let over = frame_to(role, true, OpCode::Binary, &vec![0; len + 1]);
        let got = feed_conn(
            &mut conn(role, Config::default()),
            &over,
            Split::Whole,
            false,
        );
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1009));
    }
}

// 9.3.x, 10.1.1 (FR-20, FR-21): a 64 KiB text message in fragments of 1300 bytes, which cut
// through multi-byte characters, is delivered as one message; and a 4 MiB text in 64-byte
// fragments.
#[test]
fn autobahn_10_1_1_fragmented_text_reassembled() {
    for (len, piece) in [(65536usize, 1300usize), (4 << 20, 64)] {
        let mut text = String::new();
        for c in "aé€😀".chars().cycle() {
            if text.len() + c.len_utf8() > len {
                break;
            }
            text.push(c);
        }
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(piece).collect();
        for role in ROLES {
            let wire = fragments_to(role, OpCode::Text, &pieces);
            for split in [Split::Whole, Split::Random(3)] {
                let mut c = conn(role, Config::default());
                let got = feed_conn(&mut c, &wire, split, false);
                assert_eq!(got.error, None);
                assert_eq!(got.events, vec![Event::Text(text.as_str().into())], "{len}");
            }
        }
    }
}
