//! Many small messages in one read, and reads arriving while events are still queued: the
//! same events, in order, with the same errors, as one message at a time.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Config, Event, Role};

/// Message `i` of a mixed stream: text (with 2-, 3- and 4-byte characters) and binary, of
/// lengths across the 7-bit and 16-bit encodings, some empty.
fn message(i: usize) -> Event {
    let len = [0, 1, 5, 125, 126, 300, 2000][i % 7];
    if i.is_multiple_of(3) {
        let text: String = "aé€𝄞".chars().cycle().take(len / 3).collect();
        Event::Text(text.into())
    } else {
        Event::Binary(Bytes::from(
            (0..len).map(|j| (i + j) as u8).collect::<Vec<_>>(),
        ))
    }
}

fn wire(role: Role, event: &Event) -> Vec<u8> {
    match event {
        Event::Text(t) => frame_to(role, true, OpCode::Text, t.as_str().as_bytes()),
        Event::Binary(b) => frame_to(role, true, OpCode::Binary, b),
        Event::Ping(p) => frame_to(role, true, OpCode::Ping, p),
        other => panic!("{other:?}"),
    }
}

/// Everything the connection owes the transport.
fn written(c: &mut rfc6455::Connection) -> Vec<u8> {
    let mut out = Vec::new();
    c.transmit_into(&mut out);
    out
}

fn drain_events(c: &mut rfc6455::Connection) -> Vec<Event> {
    let mut events = Vec::new();
    // Bounded: never more events than were sent, plus the terminal ones.
    for _ in 0..100_000 {
        match c.poll_event() {
            Some(event) => events.push(event),
            None => return events,
        }
    }
    panic!("events never ran out");
}

// FR-23, FR-29: 2,000 small messages and a Ping in the middle, in one read, come out in
// order and unchanged, for both roles (masked and not); the Ping's Pong is owed at once; an
// idle connection holds no memory once they are taken.
#[test]
fn many_small_messages_in_one_read_come_out_in_order() {
    for role in [Role::Server, Role::Client] {
        let mut expected: Vec<Event> = (0..2000).map(message).collect();
        expected.insert(1500, Event::Ping(Bytes::from_static(b"ping")));
        let mut input = BytesMut::new();
        for event in &expected {
            input.extend_from_slice(&wire(role, event));
        }
        let mut c = conn(role, Config::default());
        c.handle_input(t0(), &mut input).unwrap();
        assert!(input.is_empty());
        let out = frames_from(role, &written(&mut c));
        assert_eq!(out.len(), 1, "{role:?}");
        assert_eq!((out[0].2, &out[0].3[..]), (OpCode::Pong, &b"ping"[..]));
        let got = drain_events(&mut c);
        assert_eq!(got.len(), expected.len(), "{role:?}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{role:?} event {i}");
        }
        assert_eq!(c.heap_capacity(), 0, "{role:?}: memory held once drained");
    }
}

// Events taken a few at a time, with more input arriving in between, keep their order: the
// messages of a later read come after every message of an earlier one.
#[test]
fn order_holds_across_reads_and_partial_polls() {
    let role = Role::Server;
    let mut c = conn(role, Config::default());
    let mut got = Vec::new();
    let mut sent = 0;
    for read in 0..6 {
        let mut input = BytesMut::new();
        for _ in 0..700 {
            input.extend_from_slice(&wire(role, &message(sent)));
            sent += 1;
        }
        c.handle_input(t0(), &mut input).unwrap();
        for _ in 0..(100 + 150 * read) {
            match c.poll_event() {
                Some(event) => got.push(event),
                None => break,
            }
        }
    }
    got.extend(drain_events(&mut c));
    assert_eq!(got.len(), sent);
    for (i, event) in got.iter().enumerate() {
        assert_eq!(event, &message(i), "event {i}");
    }
}

// FR-23, FR-24, CL-03: invalid UTF-8 deep in a long run of small messages fails the
// connection from handle_input with 1007, after every message before it and none after.
#[test]
fn invalid_text_deep_in_a_run_fails_at_once() {
    let role = Role::Server;
    let mut input = BytesMut::new();
    for i in 0..900 {
        input.extend_from_slice(&wire(role, &message(i)));
    }
    input.extend_from_slice(&frame_to(role, true, OpCode::Text, b"ok \xff\xfe"));
    for i in 900..950 {
        input.extend_from_slice(&wire(role, &message(i)));
    }
    let mut c = conn(role, Config::default());
    assert!(c.handle_input(t0(), &mut input).is_err());
    assert_eq!(
        close_code_on_wire(role, &written(&mut c)),
        Some(CloseCode::INVALID_PAYLOAD.0)
    );
    let got = drain_events(&mut c);
    assert_eq!(got.len(), 901, "900 messages, then Closed");
    for (i, event) in got[..900].iter().enumerate() {
        assert_eq!(event, &message(i), "event {i}");
    }
    assert!(matches!(got[900], Event::Closed(_)), "{:?}", got[900]);
}
