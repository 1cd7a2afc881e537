//! Reassembly's buffer (FR-20, FR-21, FR-33): a run of alike fragmented messages is
//! reassembled without growing a buffer, and a message shorter than the one before it holds
//! only its own bytes once delivered. Observed through the connection's `heap_capacity` and
//! the delivered buffer's capacity.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Config, Connection, Event, Role};

/// `len` bytes as a binary message in fragments of `fragment` bytes, masked as a client sends.
fn fragmented(len: usize, fragment: usize, fill: u8) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
    let pieces: Vec<&[u8]> = payload.chunks(fragment).collect();
    fragments_to(Role::Server, OpCode::Binary, &pieces)
}

/// Feeds `wire` in reads of at most `read` bytes, returning the one message it carries and the
/// connection's heap capacity after each read but the last.
fn receive(c: &mut Connection, wire: &[u8], read: usize) -> (Bytes, Vec<usize>) {
    let mut buf = BytesMut::with_capacity(read);
    let mut got = None;
    let mut held = Vec::new();
    for piece in wire.chunks(read) {
        buf.extend_from_slice(piece);
        c.handle_input(t0(), &mut buf).unwrap();
        held.push(c.heap_capacity());
        while let Some(event) = c.poll_event() {
            match event {
                Event::Binary(data) if got.is_none() => got = Some(data),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    held.pop();
    (got.expect("the message was delivered"), held)
}

/// The capacity of the buffer behind a delivered message (it must be its only owner).
fn capacity(message: Bytes) -> usize {
    message
        .try_into_mut()
        .expect("the message owns its buffer")
        .capacity()
}

// FR-20/FR-21: the second of two equal 256 KiB messages in 1 KiB fragments starts with room for
// all of it (its reassembly grows no buffer, where the first one's doubles from 1 KiB), and
// each delivered message holds exactly its bytes.
#[test]
fn alike_fragmented_messages_reassemble_without_regrowing() {
    let mut c = conn(Role::Server, Config::default());
    let len = 256 * 1024;
    let (first, held) = receive(&mut c, &fragmented(len, 1024, 1), 16 * 1024);
    assert_eq!(first.len(), len);
    assert!(
        held[0] < len / 2,
        "the first message starts small: {held:?}"
    );
    assert_eq!(capacity(first), len);

    let wire = fragmented(len, 1024, 2);
    let (second, held) = receive(&mut c, &wire, 16 * 1024);
    assert!(held.len() >= 15);
    assert!(
        held.iter().all(|&h| h >= len && h == held[0]),
        "the second message's room, read by read: {held:?}"
    );
    let expected: Vec<u8> = (0..len).map(|i| 2u8.wrapping_add(i as u8)).collect();
    assert_eq!(&second[..], &expected[..]);
    assert_eq!(capacity(second), len);
    assert_eq!(c.heap_capacity(), 0);
}

// FR-20/FR-21: after a 1 MiB message, a 3000-byte one starts with 1 MiB of room, but once
// delivered holds only its own bytes, and the connection holds nothing.
#[test]
fn shorter_message_gives_back_the_room_it_started_with() {
    let mut c = conn(Role::Server, Config::default());
    drop(receive(&mut c, &fragmented(1 << 20, 4096, 3), 64 * 1024));
    assert_eq!(c.heap_capacity(), 0);

    let (small, held) = receive(&mut c, &fragmented(3000, 1000, 4), 1500);
    assert!(
        held[0] >= 1 << 20,
        "the message in progress starts with the last one's room: {held:?}"
    );
    let expected: Vec<u8> = (0..3000).map(|i| 4u8.wrapping_add(i as u8)).collect();
    assert_eq!(&small[..], &expected[..]);
    assert_eq!(capacity(small), 3000);
    assert_eq!(c.heap_capacity(), 0);

    // And the next message starts from the short one's length.
    let (next, held) = receive(&mut c, &fragmented(8000, 1000, 5), 1500);
    assert!(held[0] < 8000, "{held:?}");
    assert_eq!(capacity(next), 8000);
}

// FR-33: the room a message starts with never lets it past the limit: a message over the
// limit after one near the limit still fails with 1009.
#[test]
fn the_limit_holds_after_a_message_near_the_limit() {
    let limit = 64 * 1024;
    let mut config = Config::default();
    config.limits.max_message_size = limit;
    let mut c = conn(Role::Server, config);
    // Charged its payload plus a fixed overhead per fragment: 60 KiB in 1 KiB fragments fits.
    let (first, _) = receive(&mut c, &fragmented(60 * 1024, 1024, 5), 16 * 1024);
    assert_eq!(first.len(), 60 * 1024);
    let out = feed_conn(
        &mut c,
        &fragmented(2 * limit as usize, 1024, 6),
        Split::Whole,
        false,
    );
    assert_eq!(close_code_on_wire(Role::Server, &out.wire), Some(1009));
}
