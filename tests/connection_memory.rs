//! Memory: the size of a Connection and the heap an idle connection holds (reported here and
//! documented in the README).

mod common;

use bytes::BytesMut;
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Config, Connection, Role};

#[test]
fn size_of_connection_is_small() {
    let size = std::mem::size_of::<Connection>();
    println!("size_of::<Connection>() = {size} bytes");
    assert!(size <= 512, "Connection grew to {size} bytes");
}

// An idle connection, before and after traffic, holds no heap buffers of its own.
#[test]
fn idle_connection_holds_no_heap() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        assert_eq!(c.heap_capacity(), 0, "{role:?} fresh");
        let input = [
            frame_to(role, false, OpCode::Text, &[b'a'; 3000]),
            frame_to(role, true, OpCode::Ping, b"p"),
            frame_to(role, true, OpCode::Continuation, &[b'b'; 3000]),
            frame_to(role, true, OpCode::Binary, &[1; 100_000]),
        ]
        .concat();
        let mut buf = BytesMut::from(&input[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        c.send_binary(vec![0u8; 50_000]).unwrap();
        c.send_text("hi").unwrap();
        assert!(c.heap_capacity() > 0);
        let mut out = Outcome::default();
        drain(&mut c, &mut out);
        assert_eq!(out.events.len(), 3);
        assert_eq!(c.heap_capacity(), 0, "{role:?} idle after traffic");
        println!(
            "{role:?}: idle heap after traffic = {} bytes",
            c.heap_capacity()
        );
    }
}

// The tungstenite #480 class: a small delivered message does not keep the read buffer alive.
#[test]
fn small_message_does_not_pin_read_buffer() {
    let mut c = conn(Role::Client, Config::default());
    let mut buf = BytesMut::with_capacity(1 << 20);
    buf.extend_from_slice(&frame_to(Role::Client, true, OpCode::Binary, &[5; 16]));
    c.handle_input(t0(), &mut buf).unwrap();
    let Some(rfc6455::Event::Binary(msg)) = c.poll_event() else {
        panic!()
    };
    let arena = buf.as_ptr() as usize - 18..buf.as_ptr() as usize + buf.capacity();
    assert!(
        !arena.contains(&(msg.as_ptr() as usize)),
        "a 16-byte message points into the 1 MiB read buffer"
    );
}

// SEC-03, SEC-12 (bounded memory): small messages from one read share slabs of at most 4 KiB
// instead of an allocation each; a retained message keeps at most its slab alive, never the
// read buffer.
#[test]
fn small_messages_share_slabs_of_at_most_4_kib() {
    const SLAB: usize = 4096;
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let mut buf = BytesMut::with_capacity(1 << 20);
        for i in 0..3000u32 {
            let payload = [(i % 251) as u8; 16];
            buf.extend_from_slice(&frame_to(role, true, OpCode::Binary, &payload));
        }
        let arena = arena(&buf);
        c.handle_input(t0(), &mut buf).unwrap();
        let mut messages = Vec::new();
        while let Some(event) = c.poll_event() {
            let rfc6455::Event::Binary(msg) = event else {
                panic!("{event:?}")
            };
            messages.push(msg);
        }
        assert_eq!(messages.len(), 3000);
        // Runs of messages laid end to end in memory share a slab.
        let mut run = 0;
        let mut longest = 0;
        for (i, msg) in messages.iter().enumerate() {
            assert_eq!(&msg[..], &[(i % 251) as u8; 16], "{role:?} message {i}");
            let at = msg.as_ptr() as usize;
            assert!(
                !arena.contains(&at),
                "{role:?}: message {i} points into the read buffer"
            );
            let follows = i > 0 && messages[i - 1].as_ptr() as usize + 16 == at;
            run = if follows { run + 16 } else { 16 };
            longest = longest.max(run);
        }
        assert!(
            longest <= SLAB,
            "{role:?}: {longest} bytes of messages share one slab"
        );
        assert!(
            longest >= 1024,
            "{role:?}: small messages are not batched ({longest} B runs)"
        );
        assert_eq!(
            c.heap_capacity(),
            0,
            "{role:?}: the connection keeps no slab"
        );
    }
}

// SEC-03 (bounded memory), FR-02 (every split): a read of thousands of small messages no
// longer queues a 56-byte event for each; past the first ~1000, runs of them (consecutive
// binary messages sharing a slab, consecutive texts sharing a `str`) wait compact, 4 bytes of
// bounds a message, and are made into events as the application takes them. Whatever the
// mix, whole and in every split, the messages come out in order and intact.
#[test]
fn thousands_of_small_messages_queue_compactly_and_in_order() {
    // Blocks of 40 binary messages, 30 texts and a ping; then every kind alternating.
    let blocks = |i: usize| match i % 71 {
        0..40 => OpCode::Binary,
        40..70 => OpCode::Text,
        _ => OpCode::Ping,
    };
    let alternating = |i: usize| match i % 7 {
        0 | 3 => OpCode::Text,
        5 if i.is_multiple_of(3) => OpCode::Ping,
        _ => OpCode::Binary,
    };
    let payload = |i: usize| format!("{i:05}é").into_bytes();
    let count = 12_000;
    for role in [Role::Server, Role::Client] {
        for (mix, kinds) in [
            ("blocks", &blocks as &dyn Fn(usize) -> OpCode),
            ("alternating", &alternating),
        ] {
            let mut wire = Vec::new();
            for i in 0..count {
                wire.extend_from_slice(&frame_to(role, true, kinds(i), &payload(i)));
            }
            let mut c = conn(role, Config::default());
            let mut buf = BytesMut::from(&wire[..]);
            c.handle_input(t0(), &mut buf).unwrap();
            let queued = c.heap_capacity();
            println!(
                "{role:?}, {mix}: {count} messages in one read ({} B) queue {queued} B",
                wire.len()
            );
            if mix == "blocks" {
                // 1024 ready events of 56 B, then 4 B a message (a deque may double).
                assert!(
                    queued < 1024 * 56 + count * 8 + 16 * 1024,
                    "{role:?}: {queued} B queued for {count} messages"
                );
            }
            let mut out = Outcome::default();
            drain(&mut c, &mut out);
            assert_eq!(c.heap_capacity(), 0, "{role:?}, {mix}: idle after the read");
            assert_eq!(out.events.len(), count, "{role:?}, {mix}");
            for (i, event) in out.events.iter().enumerate() {
                let want = payload(i);
                match (kinds(i), event) {
                    (OpCode::Text, rfc6455::Event::Text(t)) => assert_eq!(t.as_bytes(), want),
                    (OpCode::Binary, rfc6455::Event::Binary(b)) => assert_eq!(&b[..], want),
                    (OpCode::Ping, rfc6455::Event::Ping(p)) => assert_eq!(&p[..], want),
                    (kind, event) => {
                        panic!("{role:?}, {mix}, message {i}: {kind:?}, got {event:?}")
                    }
                }
            }
            // In pieces the same events come out (the pongs may differ: of many pings in
            // one read only the newest are answered, section 5.5.3).
            let part = &wire[..wire.len() / 8];
            for split in SPLITS {
                let mut c = conn(role, Config::default());
                let got = feed_conn(&mut c, part, split, false).events;
                assert!(got.len() >= count / 8 - 1, "{role:?}, {mix}, {split:?}");
                assert!(got == out.events[..got.len()], "{role:?}, {mix}, {split:?}");
            }
        }
    }
}

// FR-02, SEC-03: the usual large message, alone in its read, is queued without allocating
// (the queue's buffer used to be allocated for it and released when it was taken), and
// comes out intact, alone.
#[test]
fn a_lone_large_message_is_queued_without_allocating() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let payload: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
        let frame = frame_to(role, true, OpCode::Binary, &payload);
        for _ in 0..3 {
            // In two reads, as an embedder bounded by `read_hint` gives it.
            let mut buf = BytesMut::from(&frame[..60000]);
            c.handle_input(t0(), &mut buf).unwrap();
            assert!(c.poll_event().is_none());
            buf.extend_from_slice(&frame[60000..]);
            c.handle_input(t0(), &mut buf).unwrap();
            assert_eq!(c.heap_capacity(), 0, "{role:?}: the queue allocated");
            let Some(rfc6455::Event::Binary(got)) = c.poll_event() else {
                panic!("{role:?}: no message")
            };
            assert_eq!(&got[..], &payload[..]);
            assert!(c.poll_event().is_none());
            assert_eq!(c.heap_capacity(), 0);
        }
    }
}

/// Events in short: binary as its length and first byte, text, ping as its length.
fn describe(events: &[rfc6455::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            rfc6455::Event::Binary(b) => format!("bin {} {}", b.len(), b[0]),
            rfc6455::Event::Text(t) => format!("text {}", t.as_str()),
            rfc6455::Event::Ping(p) => format!("ping {}", p.len()),
            rfc6455::Event::Closed(_) => "closed".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

// FR-02, FR-17: a message held in place stays first: events queued after it, by a later
// `handle_input` before any poll (small messages, a ping), by the end of the stream or a
// second large message, come out after it, in order.
#[test]
fn a_held_message_keeps_its_place_before_later_events() {
    let role = Role::Server;
    let big = |fill: u8| frame_to(role, true, OpCode::Binary, &[fill; 70_000]);
    let small = frame_to(role, true, OpCode::Binary, b"small");
    let text = frame_to(role, true, OpCode::Text, b"text");
    let ping = frame_to(role, true, OpCode::Ping, b"p");
    let mut c = conn(role, Config::default());
    for input in [big(1), [small.clone(), text, ping].concat(), big(2), big(3)] {
        let mut buf = BytesMut::from(&input[..]);
        c.handle_input(t0(), &mut buf).unwrap();
    }
    c.handle_eof();
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert_eq!(
        describe(&out.events),
        [
            "bin 70000 1",
            "bin 5 115",
            "text text",
            "ping 1",
            "bin 70000 2",
            "bin 70000 3",
            "closed"
        ]
    );
    assert_eq!(c.heap_capacity(), 0);
}

// FR-02: a binary message that ends a read is held in place only when nothing else is
// queued; behind events not yet taken (of the same read, or of an earlier one) it queues
// after them, and comes out after them.
#[test]
fn a_message_that_ends_a_read_queues_behind_events_not_yet_taken() {
    for role in [Role::Server, Role::Client] {
        let big = |fill: u8| frame_to(role, true, OpCode::Binary, &[fill; 70_000]);
        let ping = frame_to(role, true, OpCode::Ping, b"p");
        let text = frame_to(role, true, OpCode::Text, b"text");
        for (case, reads, want) in [
            (
                "ping then big, one read",
                vec![[ping, big(1)].concat()],
                ["ping 1", "bin 70000 1"],
            ),
            (
                "text, then big",
                vec![text, big(2)],
                ["text text", "bin 70000 2"],
            ),
            (
                "big, then big",
                vec![big(3), big(4)],
                ["bin 70000 3", "bin 70000 4"],
            ),
        ] {
            let mut c = conn(role, Config::default());
            for read in reads {
                let mut buf = BytesMut::from(&read[..]);
                c.handle_input(t0(), &mut buf).unwrap();
                assert!(buf.is_empty(), "{role:?}, {case}: input left");
            }
            let mut out = Outcome::default();
            drain(&mut c, &mut out);
            assert_eq!(describe(&out.events), want, "{role:?}, {case}");
        }
    }
}

// SEC-03 (bounded memory): the event queue is sized for the small messages a read holds, not
// for its bytes: one small message ahead of a large frame queues two events in a small
// buffer, where sizing by the first frame alone would reserve room for ~960.
#[test]
fn one_small_message_before_a_large_frame_reserves_little() {
    let role = Role::Server;
    let mut c = conn(role, Config::default());
    let input = [
        frame_to(role, true, OpCode::Binary, b"hi"),
        frame_to(role, true, OpCode::Binary, &[7; 60_000]),
    ]
    .concat();
    let mut buf = BytesMut::from(&input[..]);
    c.handle_input(t0(), &mut buf).unwrap();
    let held = c.heap_capacity();
    assert!(held <= 1024, "two events hold {held} bytes of queue");
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert_eq!(out.events.len(), 2);
    assert_eq!(c.heap_capacity(), 0);
}

// SEC-03, SEC-12: `heap_capacity` counts every buffer the connection holds: a message being
// reassembled, queued events (with nothing in the output) and pongs owed while the output
// is at its high-water mark.
#[test]
fn heap_capacity_counts_every_buffer() {
    let role = Role::Server;
    let mut c = conn(role, Config::default());
    let mut buf = BytesMut::from(&frame_to(role, false, OpCode::Binary, &[1; 10_000])[..]);
    c.handle_input(t0(), &mut buf).unwrap();
    assert!(
        c.heap_capacity() >= 10_000,
        "reassembly: {}",
        c.heap_capacity()
    );

    let mut c = conn(role, Config::default());
    let mut buf = BytesMut::new();
    for i in 0..100u8 {
        buf.extend_from_slice(&frame_to(role, true, OpCode::Binary, &[i; 16]));
    }
    c.handle_input(t0(), &mut buf).unwrap();
    assert_eq!(c.buffered_amount(), 0);
    let events = 100 * std::mem::size_of::<rfc6455::Event>();
    assert!(c.heap_capacity() >= events, "events: {}", c.heap_capacity());
    assert!(format!("{c:?}").contains("events: 100"), "{c:?}");

    let mut config = Config::default();
    config.limits.max_buffered_output = 64;
    let mut c = conn(role, config);
    c.send_binary(bytes::Bytes::from(vec![0; 100])).unwrap();
    let before = c.heap_capacity();
    let mut buf = BytesMut::new();
    for _ in 0..8 {
        buf.extend_from_slice(&frame_to(role, true, OpCode::Ping, b"p"));
    }
    c.handle_input(t0(), &mut buf).unwrap();
    while c.poll_event().is_some() {}
    let owed = c.heap_capacity() - before;
    let bytes = std::mem::size_of::<bytes::Bytes>();
    assert!(
        (8 * bytes..=64 + 32 * bytes).contains(&owed),
        "8 owed pongs take {owed} B"
    );

    // Unwritten output: small frames coalesced into one buffer count with its capacity;
    // large server payloads queued by reference count as their queue entries, not their
    // bytes (those are the caller's).
    let mut c = conn(role, Config::default());
    for i in 0..100u8 {
        c.send_binary(vec![i; 16]).unwrap();
    }
    let wire = c.buffered_amount();
    assert_eq!(wire, 100 * 18);
    let held = c.heap_capacity();
    assert!(
        (wire..=4 * wire).contains(&held),
        "{wire} B coalesced in {held} B"
    );
    let mut c = conn(role, Config::default());
    let payload = bytes::Bytes::from(vec![7; 20_000]);
    for _ in 0..10 {
        c.send_binary(payload.clone()).unwrap();
    }
    assert_eq!(c.buffered_amount(), 10 * 20_004);
    let held = c.heap_capacity();
    assert!(
        (10 * bytes..20_000).contains(&held),
        "10 payloads by reference: {held} B"
    );
}

// SEC-12's other side (a performance property, no checklist requirement of its own): a
// large message that fills its read buffer is handed to the application without a copy, its
// payload unmasked in place and split off the buffer the caller read into.
#[test]
fn a_large_payload_is_split_off_the_read_buffer_without_a_copy() {
    for role in [Role::Server, Role::Client] {
        let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let frame = frame_to(role, true, OpCode::Binary, &payload);
        let mut c = conn(role, Config::default());
        let mut buf = BytesMut::with_capacity(frame.len());
        buf.extend_from_slice(&frame);
        let arena = arena(&buf);
        c.handle_input(t0(), &mut buf).unwrap();
        let Some(rfc6455::Event::Binary(data)) = c.poll_event() else {
            panic!("{role:?}: no message")
        };
        assert!(data[..] == payload[..], "{role:?}: other bytes");
        assert!(
            arena.contains(&(data.as_ptr() as usize)),
            "{role:?}: the payload was copied out of the read buffer"
        );
    }
}

// SEC-12 (tungstenite #480): a message of 4 KiB or more that comes after many consumed bytes
// in the same read buffer is copied, not split off: split off, a kept message would hold the
// whole allocation alive, the consumed front included (here 1 MiB for 5 000 bytes). Whether
// the other messages came in the same read or in earlier ones into the same allocation; and
// a large message at the front of a fresh buffer is still split off without a copy.
#[test]
fn a_large_message_after_consumed_bytes_does_not_pin_the_buffer() {
    for role in [Role::Server, Role::Client] {
        let small: Vec<u8> = (0..260)
            .flat_map(|_| frame_to(role, true, OpCode::Binary, &[3; 4000]))
            .collect();
        let last = frame_to(role, true, OpCode::Binary, &[5; 5000]);
        for reads in [1, 2] {
            let mut c = conn(role, Config::default());
            let mut buf = BytesMut::with_capacity(1 << 20);
            let arena = arena(&buf);
            buf.extend_from_slice(&small);
            if reads == 2 {
                c.handle_input(t0(), &mut buf).unwrap();
                while c.poll_event().is_some() {}
            }
            buf.extend_from_slice(&last);
            assert!(
                arena.contains(&(buf.as_ptr() as usize)),
                "the same allocation"
            );
            c.handle_input(t0(), &mut buf).unwrap();
            let mut kept = None;
            while let Some(event) = c.poll_event() {
                if let rfc6455::Event::Binary(data) = event {
                    kept = Some(data);
                }
            }
            let kept = kept.expect("the last message");
            assert_eq!(kept.len(), 5000);
            assert!(
                !arena.contains(&(kept.as_ptr() as usize)),
                "{role:?}, {reads} read(s): a 5 000-byte message pins the 1 MiB buffer"
            );
        }
    }
}

// SEC-12, documented in the README: control frames are not kept compact like runs of small
// messages; each takes one event slot until taken. 64 KiB of empty Pings in one call holds
// about 1.8 MB in a client (2-byte frames) and 0.9 MB in a server (6-byte masked frames),
// never more than 56 bytes of queue per 2 bytes of input, and nothing once taken.
#[test]
fn control_frames_take_a_slot_each() {
    for (role, at_most) in [(Role::Client, 1_900_000), (Role::Server, 950_000)] {
        let ping = frame_to(role, true, OpCode::Ping, b"");
        let count = 65536 / ping.len();
        let input: Vec<u8> = (0..count).flat_map(|_| ping.clone()).collect();
        let mut c = conn(role, Config::default());
        let mut buf = BytesMut::from(&input[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        let held = c.heap_capacity();
        println!("{role:?}: {count} pings hold {held} bytes");
        assert!(held <= at_most, "{role:?}: {held}");
        let slot = std::mem::size_of::<rfc6455::Event>();
        assert!(held >= count * slot, "{role:?}: one slot per ping ({held})");
        let taken = std::iter::from_fn(|| c.poll_event()).count();
        assert_eq!(taken, count);
        let mut out = Outcome::default();
        drain(&mut c, &mut out);
        assert_eq!(c.heap_capacity(), 0, "{role:?}: released once taken");
    }
}
