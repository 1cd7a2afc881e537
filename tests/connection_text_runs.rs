//! Small text messages that follow one another in one read are validated together and share
//! one copy: the same events and errors as one message at a time (the general path, taken when
//! the input arrives a byte at a time), and a retained message keeps at most 4 KiB alive.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{CloseCode, Config, Event, Role};

fn text_frames(role: Role, texts: &[&[u8]]) -> Vec<u8> {
    texts
        .iter()
        .flat_map(|t| frame_to(role, true, OpCode::Text, t))
        .collect()
}

/// Asserts that `got` delivered `texts` as text messages, then failed with 1007.
fn assert_texts_then_1007(role: Role, got: &Outcome, texts: &[&str]) {
    assert_eq!(
        got.events.len(),
        texts.len() + 1,
        "{role:?}: {:?}",
        got.events
    );
    for (event, text) in got.events.iter().zip(texts) {
        assert!(
            matches!(event, Event::Text(t) if t.as_str() == *text),
            "{role:?}: {event:?}, expected {text:?}"
        );
    }
    assert!(
        matches!(got.events[texts.len()], Event::Closed(_)),
        "{role:?}"
    );
    assert_eq!(got.error, Some(ProtocolError::InvalidUtf8), "{role:?}");
    assert_eq!(
        close_code_on_wire(role, &got.wire),
        Some(CloseCode::INVALID_PAYLOAD.0),
        "{role:?}"
    );
}

// FR-23, FR-26: a message that ends inside a code point is invalid, even when the next
// message of the same read starts with the rest of it (the two are checked in one span,
// the header between them turned into ASCII). And a message that starts with a continuation
// byte is invalid, even when the message before it ended with a lead byte.
#[test]
fn fr26_a_code_point_split_between_two_messages_is_invalid() {
    for role in [Role::Server, Role::Client] {
        // U+20AC is E2 82 AC.
        let input = text_frames(
            role,
            &[b"first", b"ends in \xe2\x82", b"\xac then", b"after"],
        );
        let got = feed_all_splits(role, &Config::default(), &input);
        assert_texts_then_1007(role, &got, &["first"]);

        let input = text_frames(role, &[b"ok \xf0\x9d", b"\x84\x9e", b"after"]);
        let got = feed_all_splits(role, &Config::default(), &input);
        assert_texts_then_1007(role, &got, &[]);

        let input = text_frames(role, &[b"ok", b"\xac starts with a continuation", b"after"]);
        let got = feed_all_splits(role, &Config::default(), &input);
        assert_texts_then_1007(role, &got, &["ok"]);
    }
}

// FR-23, FR-25, CL-03: an invalid message at any place in a run (first, inside, last, alone)
// fails the connection with 1007 after exactly the messages before it.
#[test]
fn fr23_invalid_text_at_every_place_in_a_run() {
    let valid: Vec<String> = (0..5)
        .map(|i| format!("message {i}: é€𝄞").repeat(8))
        .collect();
    for role in [Role::Server, Role::Client] {
        for bad in 0..5 {
            let mut texts: Vec<&[u8]> = valid.iter().map(|t| t.as_bytes()).collect();
            let broken = [valid[bad].as_bytes(), b"\xed\xa0\x80"].concat(); // a surrogate
            texts[bad] = &broken;
            let got = feed_all_splits(role, &Config::default(), &text_frames(role, &texts));
            let before: Vec<&str> = valid[..bad].iter().map(String::as_str).collect();
            assert_texts_then_1007(role, &got, &before);
        }
    }
}

/// Text `i` of a run: lengths across both length encodings and both run limits (many short
/// messages reach the count limit first, long ones the 4 KiB span), with 1- to 4-byte
/// characters, some empty.
fn text(i: usize) -> String {
    let chars = ["a", "é", "€", "𝄞", " ", "ж"];
    let len = [0, 1, 7, 40, 125, 126, 700, 1500, 4000][i % 9];
    let mut s = String::new();
    let mut j = i;
    while s.len() + 4 <= len {
        s.push_str(chars[j % chars.len()]);
        j += 1;
    }
    s
}

// FR-23, FR-29, FR-02: 400 text messages in one read, with a binary message and a Ping among
// them (which end a run), come out in order and unchanged, in every split of the input.
#[test]
fn text_runs_give_the_events_of_one_message_at_a_time() {
    for role in [Role::Server, Role::Client] {
        let mut expected: Vec<Event> = (0..400).map(|i| Event::Text(text(i).into())).collect();
        expected.insert(150, Event::Binary(Bytes::from_static(b"\x00\xff binary")));
        expected.insert(300, Event::Ping(Bytes::from_static(b"ping")));
        let mut input = Vec::new();
        for event in &expected {
            input.extend_from_slice(&match event {
                Event::Text(t) => frame_to(role, true, OpCode::Text, t.as_bytes()),
                Event::Binary(b) => frame_to(role, true, OpCode::Binary, b),
                Event::Ping(p) => frame_to(role, true, OpCode::Ping, p),
                other => unreachable!("{other:?}"),
            });
        }
        let got = feed_all_splits(role, &Config::default(), &input);
        assert_eq!(got.error, None, "{role:?}");
        assert_eq!(got.events, expected, "{role:?}");
        // Every text reads back as a `str` and as bytes, and converts to `Bytes`, unchanged.
        for (i, event) in got.events.iter().enumerate() {
            if let Event::Text(t) = event {
                assert_eq!(t.as_str().as_bytes(), t.as_bytes(), "{role:?} {i}");
                assert_eq!(&t.clone().into_bytes()[..], t.as_bytes(), "{role:?} {i}");
            }
        }
    }
}

// SEC-03, SEC-12 (bounded memory): small text messages of one read share copies of at most
// 4 KiB, never the read buffer (nor the input buffer `handle_read` unmasks them in); the
// connection keeps none of it once the events are taken. By `handle_input` the payloads of a
// run keep the header's distance in the copy; by `handle_read`, one separating byte.
#[test]
fn small_text_messages_share_copies_of_at_most_4_kib() {
    const SLAB: usize = 4096;
    for (role, by_read) in [Role::Server, Role::Client]
        .into_iter()
        .flat_map(|role| [(role, false), (role, true)])
    {
        // 294 bytes each: a 16-bit length, so the header is 8 bytes masked, 4 unmasked; 13
        // of them fill a 4 KiB copy.
        let header = match (by_read, role) {
            (true, _) => 1,
            (false, Role::Server) => 8,
            (false, Role::Client) => 4,
        };
        let texts: Vec<String> = (0..3000)
            .map(|i| format!("{i:>5} {}", "é€𝄞".repeat(32)))
            .collect();
        let mut buf = BytesMut::with_capacity(1 << 20);
        for t in &texts {
            buf.extend_from_slice(&frame_to(role, true, OpCode::Text, t.as_bytes()));
        }
        let mut c = conn(role, Config::default());
        let (arena, stage) = if by_read {
            let mut stage = BytesMut::new();
            c.handle_read(t0(), &mut stage, &buf).unwrap();
            (arena(&buf), arena(&stage))
        } else {
            let arena = arena(&buf);
            c.handle_input(t0(), &mut buf).unwrap();
            (arena, 0..0)
        };
        let mut got = Vec::new();
        while let Some(event) = c.poll_event() {
            let Event::Text(t) = event else {
                panic!("{event:?}")
            };
            got.push(t);
        }
        assert_eq!(got.len(), texts.len(), "{role:?}");
        // Messages laid out one after another, a header's length apart, share a copy.
        let (mut span, mut longest_span, mut count, mut most) = (0, 0, 0, 0);
        for (i, t) in got.iter().enumerate() {
            assert_eq!(t.as_str(), texts[i], "{role:?} message {i}");
            let at = t.as_str().as_ptr() as usize;
            assert!(
                !arena.contains(&at) && !stage.contains(&at),
                "{role:?}: message {i} points into the read or input buffer"
            );
            let prev = i.checked_sub(1).map(|p| got[p].as_str());
            let follows = prev.is_some_and(|p| p.as_ptr() as usize + p.len() + header == at);
            (span, count) = if follows {
                (span + header + t.len(), count + 1)
            } else {
                (t.len(), 1)
            };
            longest_span = longest_span.max(span);
            most = most.max(count);
        }
        assert!(
            longest_span <= SLAB,
            "{role:?} {by_read}: {longest_span} bytes share one copy"
        );
        // 4 KiB holds 13 of them (with headers between them) or 13 (with one byte).
        assert!(
            most >= 13,
            "{role:?} {by_read}: text messages are not batched (runs of {most})"
        );
        assert_eq!(
            c.heap_capacity(),
            0,
            "{role:?}: the connection keeps a copy"
        );
    }
}

// SEC-12 (bounded memory), at the line: by `handle_read`, two texts that fill 4 KiB exactly
// with the byte between them share one copy, and one byte more does not.
#[test]
fn a_run_from_the_read_holds_exactly_4_kib() {
    for role in [Role::Server, Role::Client] {
        for (second, shared) in [(2048, true), (2049, false)] {
            let (a, b) = ("a".repeat(2047), "b".repeat(second));
            let wire = text_frames(role, &[a.as_bytes(), b.as_bytes()]);
            let mut c = conn(role, Config::default());
            c.handle_read(t0(), &mut BytesMut::new(), &wire).unwrap();
            let texts: Vec<_> = std::iter::from_fn(|| c.poll_event())
                .map(|e| match e {
                    Event::Text(t) => t,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(texts, [a.as_str(), b.as_str()], "{role:?}");
            let end_of_a = texts[0].as_str().as_ptr() as usize + 2047;
            let follows = texts[1].as_str().as_ptr() as usize == end_of_a + 1;
            assert_eq!(follows, shared, "{role:?}: 2047 + 1 + {second} bytes");
        }
    }
}
