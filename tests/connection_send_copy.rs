//! Sending from borrowed bytes (`send_binary_from_slice`, `send_text_from_str`,
//! `send_binary_into`, `send_text_into`, `send_binary_vectored`, `send_text_vectored`) and
//! copying the output into the caller's buffer (`transmit_into`): the same frames, order and
//! errors as the `Bytes` API.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use rfc6455::frame::{OpCode, RSV1};
use rfc6455::{Config, Connection, Event, MessageType, Role, SendError, Transmit, VectoredSend};

/// Payload lengths around the inline limit, the length encodings (FR-11) and the size from
/// which a server queues a `Bytes` payload by reference.
const SIZES: [usize; 10] = [0, 1, 20, 21, 125, 126, 16 * 1024, 65_535, 65_536, 70_000];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn wire_of(c: &mut Connection) -> Vec<u8> {
    let mut out = Outcome::default();
    drain(c, &mut out);
    out.wire
}

/// Everything `c` owes, through `transmit_into` a growable buffer.
fn transmit_all(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    c.transmit_into(&mut out);
    assert_eq!(c.buffered_amount(), 0, "transmit_into takes everything");
    out
}

/// The ways to send a message from borrowed bytes, each followed by a drain through
/// `transmit_into` (the vectored ones first write all their chunks).
#[derive(Clone, Copy, Debug)]
enum Way {
    FromSlice,
    Into,
    Vectored,
    TextFromStr,
    TextInto,
    TextVectored,
}

const WAYS: [Way; 6] = [
    Way::FromSlice,
    Way::Into,
    Way::Vectored,
    Way::TextFromStr,
    Way::TextInto,
    Way::TextVectored,
];

/// Writes every chunk of `send` to `out` and reports them all written.
fn write_all_vectored(send: VectoredSend<'_, '_>, out: &mut Vec<u8>) {
    let before = out.len();
    for chunk in send.chunks() {
        out.extend_from_slice(chunk);
    }
    assert_eq!(out.len() - before, send.len());
    send.advance(out.len() - before);
}

impl Way {
    fn opcode(self) -> OpCode {
        match self {
            Way::FromSlice | Way::Into | Way::Vectored => OpCode::Binary,
            Way::TextFromStr | Way::TextInto | Way::TextVectored => OpCode::Text,
        }
    }

    /// A payload for this way: text must be UTF-8.
    fn payload(self, len: usize) -> Vec<u8> {
        match self.opcode() {
            OpCode::Text => (0..len).map(|i| b'a' + (i % 26) as u8).collect(),
            _ => payload(len),
        }
    }

    /// Sends `data` and returns what was appended to the caller's buffer.
    fn send(self, c: &mut Connection, data: &[u8]) -> Result<Vec<u8>, SendError> {
        let mut out = Vec::new();
        let text = || std::str::from_utf8(data).unwrap();
        match self {
            Way::FromSlice => c.send_binary_from_slice(data)?,
            Way::TextFromStr => c.send_text_from_str(text())?,
            Way::Into => c.send_binary_into(&mut out, data)?,
            Way::TextInto => c.send_text_into(&mut out, text())?,
            Way::Vectored => write_all_vectored(c.send_binary_vectored(data)?, &mut out),
            Way::TextVectored => write_all_vectored(c.send_text_vectored(text())?, &mut out),
        }
        c.transmit_into(&mut out);
        Ok(out)
    }

    /// The same message through the `Bytes` API, drained with `poll_transmit`.
    fn reference(self, c: &mut Connection, data: &[u8]) -> Vec<u8> {
        let data = Bytes::copy_from_slice(data);
        match self.opcode() {
            OpCode::Text => c.send_text(String::from_utf8(data.to_vec()).unwrap()),
            _ => c.send_binary(data),
        }
        .unwrap();
        wire_of(c)
    }
}

// FR-05, FR-06, FR-11: every borrowed-bytes send puts the same bytes on the wire as the
// `Bytes` API, for both roles (the client's masked with the same keys) and every length
// encoding.
#[test]
fn fr05_fr06_fr11_same_wire_as_bytes_api() {
    for role in [Role::Server, Role::Client] {
        for way in WAYS {
            for len in SIZES {
                let data = way.payload(len);
                let mut ours = conn(role, Config::default());
                let mut reference = conn(role, Config::default());
                let wire = way.send(&mut ours, &data).unwrap();
                assert_eq!(
                    wire,
                    way.reference(&mut reference, &data),
                    "{role:?} {way:?} {len} B"
                );
                let frames = frames_from(role, &wire);
                assert_eq!(frames.len(), 1);
                assert_eq!((frames[0].0, frames[0].2), (true, way.opcode()));
                assert_eq!(&frames[0].3[..], &data[..]);
            }
        }
    }
}

// Config::max_send_frame_size still splits a borrowed payload into a first frame and
// continuations (FR-21), exactly as it splits a `Bytes` payload.
#[test]
fn fr21_fragmentation_applies() {
    let mut config = Config::default();
    config.max_send_frame_size = 100;
    for role in [Role::Server, Role::Client] {
        for way in WAYS {
            let data = way.payload(250);
            let mut ours = conn(role, config.clone());
            let mut reference = conn(role, config.clone());
            let wire = way.send(&mut ours, &data).unwrap();
            assert_eq!(
                wire,
                way.reference(&mut reference, &data),
                "{role:?} {way:?}"
            );
            let frames = frames_from(role, &wire);
            let shape: Vec<(bool, OpCode, usize)> =
                frames.iter().map(|f| (f.0, f.2, f.3.len())).collect();
            assert_eq!(
                shape,
                [
                    (false, way.opcode(), 100),
                    (false, OpCode::Continuation, 100),
                    (true, OpCode::Continuation, 50)
                ]
            );
            // Exactly one or two frames' worth: no empty frame after the last full one.
            for (len, frames) in [(100, 1), (200, 2)] {
                let data = way.payload(len);
                let wire = way.send(&mut conn(role, config.clone()), &data).unwrap();
                let reference = way.reference(&mut conn(role, config.clone()), &data);
                assert_eq!(wire, reference, "{role:?} {way:?} {len}");
                let shape: Vec<(bool, usize)> = frames_from(role, &wire)
                    .iter()
                    .map(|f| (f.0, f.3.len()))
                    .collect();
                let mut want = vec![(false, 100); frames];
                want[frames - 1].0 = true;
                assert_eq!(shape, want, "{role:?} {way:?} {len}");
            }
        }
    }
}

// FR-28, FR-29: pongs owed for received pings, and frames already queued, leave before the
// new message, in order.
#[test]
fn fr28_owed_pongs_and_queued_frames_go_first() {
    for way in WAYS {
        let mut c = conn(Role::Server, Config::default());
        let mut input = BytesMut::from(&frame_to(Role::Server, true, OpCode::Ping, b"p1")[..]);
        input.extend_from_slice(&frame_to(Role::Server, true, OpCode::Ping, b"p2"));
        c.handle_input(t0(), &mut input).unwrap();
        let data = way.payload(200);
        let wire = way.send(&mut c, &data).unwrap();
        let frames = frames_from(Role::Server, &wire);
        let got: Vec<(OpCode, &[u8])> = frames.iter().map(|f| (f.2, &f.3[..])).collect();
        assert_eq!(
            got,
            [
                (OpCode::Pong, &b"p1"[..]),
                (OpCode::Pong, &b"p2"[..]),
                (way.opcode(), &data[..])
            ],
            "{way:?}"
        );

        // A frame queued and not yet written goes before the new one.
        c.send_ping(&b"first"[..]).unwrap();
        let wire = way.send(&mut c, b"second").unwrap();
        let frames = frames_from(Role::Server, &wire);
        let got: Vec<(OpCode, &[u8])> = frames.iter().map(|f| (f.2, &f.3[..])).collect();
        assert_eq!(
            got,
            [
                (OpCode::Ping, &b"first"[..]),
                (way.opcode(), &b"second"[..])
            ],
            "{way:?}"
        );
    }
}

// FR-32, FR-22, SEC-12: the errors are those of the `Bytes` API, in the same cases, and a
// refused send writes nothing.
#[test]
fn fr32_fr22_sec12_same_errors() {
    for way in WAYS {
        // Closed: after our Close (FR-32).
        let mut c = conn(Role::Server, Config::default());
        c.close(t0(), rfc6455::CloseCode::NORMAL, "").unwrap();
        wire_of(&mut c);
        assert_eq!(way.send(&mut c, b"a"), Err(SendError::Closed), "{way:?}");
        assert_eq!(c.send_binary(&b"a"[..]), Err(SendError::Closed));

        // A streamed message in progress (FR-22).
        let mut c = conn(Role::Server, Config::default());
        c.begin_message(MessageType::Binary).unwrap();
        assert_eq!(
            way.send(&mut c, b"a"),
            Err(SendError::MessageInProgress),
            "{way:?}"
        );

        // Backpressure (SEC-12): the same numbers, and nothing appended.
        let mut config = Config::default();
        config.limits.max_buffered_output = 64;
        let mut c = conn(Role::Server, config);
        c.send_binary(vec![0u8; 100]).unwrap();
        let expected = c.send_binary(&b"a"[..]).unwrap_err();
        assert_eq!(
            expected,
            SendError::Backpressure {
                buffered: 102,
                limit: 64
            }
        );
        let mut out = Vec::new();
        let got = match way {
            Way::FromSlice => c.send_binary_from_slice(b"a"),
            Way::TextFromStr => c.send_text_from_str("a"),
            Way::Into => c.send_binary_into(&mut out, b"a"),
            Way::TextInto => c.send_text_into(&mut out, "a"),
            Way::Vectored => c.send_binary_vectored(b"a").map(drop),
            Way::TextVectored => c.send_text_vectored("a").map(drop),
        };
        assert_eq!(got, Err(expected), "{way:?}");
        assert!(out.is_empty(), "{way:?}: a refused send wrote nothing");
    }
}

// An extension's transform applies to messages sent from borrowed bytes, as to any other.
#[test]
fn extension_transform_applies() {
    for role in [Role::Server, Role::Client] {
        for way in WAYS {
            let mut c = conn(role, Config::default());
            c.set_extension(Box::new(Reverse));
            let wire = way.send(&mut c, b"abc").unwrap();
            let frames = frames_from(role, &wire);
            assert_eq!(frames.len(), 1);
            assert_eq!(
                (frames[0].1, frames[0].2, &frames[0].3[..]),
                (RSV1, way.opcode(), &b"cba"[..]),
                "{role:?} {way:?}"
            );
        }
    }
}

// SEC-02: a client's frame is masked into the connection's own buffer at send time: changing
// the caller's bytes afterwards changes nothing on the wire, and no output chunk points at
// them.
#[test]
fn sec02_client_copy_is_fixed_at_send_time() {
    let mut c = conn(Role::Client, Config::default());
    let mut data = vec![9u8; 100];
    c.send_binary_from_slice(&data).unwrap();
    let range = data.as_ptr_range();
    for chunk in c.transmit_chunks() {
        assert!(!range.contains(&chunk.as_ptr()));
    }
    data.fill(0);
    let frames = frames_from(Role::Client, &wire_of(&mut c));
    assert_eq!(&frames[0].3[..], &[9u8; 100][..]);
    assert_eq!(
        &data[..],
        &[0u8; 100][..],
        "the caller's bytes were not masked"
    );
}

// SEC-02: a client's message sent straight into the caller's write buffer is masked there,
// not in the caller's payload, at every length (several stack pieces included), and the
// peer reads the payload back.
#[test]
fn sec02_client_send_into_masks_in_the_write_buffer_only() {
    for len in [0, 1, 5, 125, 255, 256, 257, 1000, 70_000] {
        let mut c = conn(Role::Client, Config::default());
        let data = payload(len);
        let before = data.clone();
        let mut out = Vec::new();
        c.send_binary_into(&mut out, &data).unwrap();
        assert_eq!(data, before, "len {len}: the caller's bytes were modified");
        assert_eq!(c.buffered_amount(), 0, "len {len}: all of it in `out`");
        let frames = frames_from(Role::Client, &out);
        assert_eq!(frames.len(), 1, "len {len}");
        // The peer's decoder refuses an unmasked frame from a client (FR-07).
        assert_eq!(&frames[0].3[..], &data[..], "len {len}");
    }
}

// A buffer that cannot grow gets what fits; the rest stays owed, in order, and the whole
// equals what `poll_transmit` gives.
#[test]
fn transmit_into_a_fixed_buffer_takes_what_fits() {
    for size in [1usize, 3, 7, 64, 1000] {
        let mut c = conn(Role::Server, Config::default());
        let mut reference = conn(Role::Server, Config::default());
        for conn in [&mut c, &mut reference] {
            conn.send_binary(payload(10)).unwrap();
            conn.send_binary(payload(20_000)).unwrap();
            conn.send_text("tail").unwrap();
        }
        let expected = wire_of(&mut reference);
        let mut got = Vec::new();
        let mut scratch = vec![0u8; size];
        loop {
            let mut room = &mut scratch[..];
            let n = c.transmit_into(&mut room);
            assert_eq!(room.len(), size - n);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&scratch[..n]);
        }
        assert_eq!(got, expected, "{size}-byte buffer");
        assert_eq!(c.buffered_amount(), 0);
    }
}

// `send_binary_into` with a buffer too small for the frame queues it, and what is left is
// written by the next `transmit_into`, in order.
#[test]
fn send_into_a_full_buffer_queues_the_rest() {
    let mut c = conn(Role::Server, Config::default());
    let mut scratch = [0u8; 4];
    let mut room = &mut scratch[..];
    c.send_binary_into(&mut room, b"hello").unwrap();
    assert!(room.is_empty());
    assert_eq!(scratch, [0x82, 0x05, b'h', b'e']);
    assert_eq!(c.buffered_amount(), 3);
    assert_eq!(transmit_all(&mut c), b"llo");
}

// A BytesMut works as the caller's buffer, and bytes already in it are kept.
#[test]
fn transmit_into_appends_to_bytes_mut() {
    let mut c = conn(Role::Server, Config::default());
    let mut out = BytesMut::from(&b"head"[..]);
    c.send_text_into(&mut out, "hi").unwrap();
    c.send_text_from_str("yo").unwrap();
    assert_eq!(c.transmit_into(&mut out), 4);
    assert_eq!(&out[..], b"head\x81\x02hi\x81\x02yo");
}

// The close handshake still ends with `Transmit::CloseTransport` when the output is taken
// with `transmit_into` (CL-10).
#[test]
fn cl10_close_transport_after_transmit_into() {
    let mut c = conn(Role::Server, Config::default());
    let mut input = BytesMut::from(&frame_to(Role::Server, true, OpCode::Close, &[0x03, 0xe8])[..]);
    c.handle_input(t0(), &mut input).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::CloseReceived(_))));
    assert_eq!(transmit_all(&mut c), [0x88, 0x02, 0x03, 0xe8]);
    assert_eq!(c.transmit_into(&mut Vec::new()), 0);
    assert!(matches!(c.poll_transmit(), Some(Transmit::CloseTransport)));
}

// Small sends from borrowed bytes leave no heap behind: the connection is idle at 0 bytes
// after each (a frame of up to 20 payload bytes is held inline until written; a larger one
// goes straight into the caller's buffer with `send_binary_into`).
#[test]
fn small_sends_hold_no_heap() {
    let mut c = conn(Role::Server, Config::default());
    c.send_binary_from_slice(&payload(20)).unwrap();
    assert_eq!(c.heap_capacity(), 0, "inline until written");
    transmit_all(&mut c);
    let mut out = Vec::new();
    c.send_binary_into(&mut out, &payload(125)).unwrap();
    assert_eq!(c.heap_capacity(), 0);
    assert_eq!(c.buffered_amount(), 0);
    assert_eq!(out.len(), 127);
}

/// Whether one of `send`'s chunks points into `data`.
fn offers_borrowed(send: &VectoredSend<'_, '_>, data: &[u8]) -> bool {
    let range = data.as_ptr_range();
    send.chunks().any(|chunk| range.contains(&chunk.as_ptr()))
}

// FR-11, SEC-02: a server's unfragmented message is offered as its header (every length
// encoding) and the caller's own bytes, and once all of it is written nothing was copied or
// kept: no heap, nothing owed.
#[test]
fn vectored_send_offers_the_callers_bytes_without_a_copy() {
    for len in SIZES {
        let data = payload(len);
        let mut c = conn(Role::Server, Config::default());
        let send = c.send_binary_vectored(&data).unwrap();
        let chunks: Vec<&[u8]> = send.chunks().collect();
        assert_eq!(send.len(), chunks.iter().map(|c| c.len()).sum::<usize>());
        assert!(!send.is_empty(), "a frame is at least its header");
        if len > 0 {
            let last = chunks.last().unwrap();
            assert_eq!(last.as_ptr_range(), data.as_ptr_range(), "{len} B");
        }
        let mut wire = Vec::new();
        write_all_vectored(send, &mut wire);
        assert_eq!(c.heap_capacity(), 0, "{len} B");
        assert_eq!(c.buffered_amount(), 0, "{len} B");
        let mut reference = conn(Role::Server, Config::default());
        reference.send_binary(data.clone()).unwrap();
        assert_eq!(wire, wire_of(&mut reference), "{len} B");
    }
}

// FR-02 (our side of "any split"), SEC-02: the transport may take any prefix of what is
// offered (frames queued before, owed pongs, then the message); the rest is copied, so the
// caller's bytes can change at once, and what is written later completes the same bytes in
// order.
#[test]
fn fr02_sec02_partial_vectored_write_queues_the_rest_in_order() {
    for len in [0usize, 3, 300, 70_000] {
        let expected = {
            let mut reference = conn(Role::Server, Config::default());
            let mut input = BytesMut::from(&frame_to(Role::Server, true, OpCode::Ping, b"p")[..]);
            reference.handle_input(t0(), &mut input).unwrap();
            reference.send_binary(&b"before"[..]).unwrap();
            reference.send_binary(payload(len)).unwrap();
            wire_of(&mut reference)
        };
        let splits: Vec<usize> = if len < 1000 {
            (0..=expected.len()).collect()
        } else {
            vec![
                0,
                1,
                7,
                8,
                9,
                17,
                18,
                40,
                1000,
                expected.len() - 1,
                expected.len(),
            ]
        };
        for written in splits {
            let mut c = conn(Role::Server, Config::default());
            let mut input = BytesMut::from(&frame_to(Role::Server, true, OpCode::Ping, b"p")[..]);
            c.handle_input(t0(), &mut input).unwrap();
            c.send_binary(&b"before"[..]).unwrap();
            let mut data = payload(len);
            let send = c.send_binary_vectored(&data).unwrap();
            assert_eq!(send.len(), expected.len());
            let offered: Vec<u8> = send.chunks().flatten().copied().collect();
            assert_eq!(offered, expected, "{len} B");
            send.advance(written);
            data.fill(0xee);
            let mut wire = expected[..written].to_vec();
            wire.extend_from_slice(&transmit_all(&mut c));
            assert_eq!(wire, expected, "{len} B, {written} written");
        }
    }
}

// Dropping the `VectoredSend` unwritten is "nothing written": the whole message is queued
// (copied), and the caller's bytes can change at once (SEC-02).
#[test]
fn sec02_dropped_vectored_send_queues_a_copy() {
    let mut c = conn(Role::Server, Config::default());
    let mut data = payload(70_000);
    let send = c.send_text_vectored("hi").unwrap();
    drop(send);
    drop(c.send_binary_vectored(&data).unwrap());
    data.fill(0);
    let frames = frames_from(Role::Server, &wire_of(&mut c));
    let got: Vec<(OpCode, &[u8])> = frames.iter().map(|f| (f.2, &f.3[..])).collect();
    assert_eq!(
        got,
        [
            (OpCode::Text, &b"hi"[..]),
            (OpCode::Binary, &payload(70_000)[..])
        ]
    );
}

// FR-05, SEC-02: a client's message is masked into the connection's buffer (never offered
// from the caller's bytes, never masked in them), as are messages an extension transforms
// or that are sent in several frames; the chunks are then the connection's output.
#[test]
fn fr05_sec02_vectored_send_copies_when_it_must() {
    let data = payload(1000);
    let mut client = conn(Role::Client, Config::default());
    let send = client.send_binary_vectored(&data).unwrap();
    assert!(
        !offers_borrowed(&send, &data),
        "a client's frame is masked in a copy"
    );
    drop(send);
    assert_eq!(data, payload(1000), "the caller's bytes were not masked");

    let mut config = Config::default();
    config.max_send_frame_size = 100;
    let mut fragmented = conn(Role::Server, config);
    let send = fragmented.send_binary_vectored(&data).unwrap();
    assert!(!offers_borrowed(&send, &data));
    drop(send);

    let mut transformed = conn(Role::Server, Config::default());
    transformed.set_extension(Box::new(Reverse));
    let send = transformed.send_binary_vectored(&data).unwrap();
    assert!(!offers_borrowed(&send, &data));
}

// Reporting more bytes written than were offered is a caller bug, caught at once (local
// misuse of the API, no checklist requirement).
#[test]
#[should_panic(expected = "advanced past the bytes offered")]
fn vectored_send_advance_past_the_offer_panics() {
    let mut c = conn(Role::Server, Config::default());
    let send = c.send_binary_vectored(b"abc").unwrap();
    send.advance(6);
}
