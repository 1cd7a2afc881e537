//! `Connection::handle_read` (bytes handed over from the caller's own memory) and
//! `FrameDecoder::extend_from_read`: the same frames, events, output and errors as appending
//! the bytes to the input buffer and calling `handle_input`, whatever the split (FR-02),
//! with the shortcuts they take observable where they matter (the input buffer left unused,
//! keepalive refreshed).

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use rfc6455::frame::{DecoderConfig, FrameDecoder, OpCode, ProtocolError};
use rfc6455::{Config, Event, ReceiveMode, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// `wire`, what a connection of `role` wrote, is exactly one Pong carrying `payload`.
fn assert_only_pong(role: Role, wire: &[u8], payload: &'static [u8]) {
    assert_eq!(
        opcodes_and_payloads(role, wire),
        vec![(OpCode::Pong, Bytes::from_static(payload))]
    );
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

// FR-02, FR-20: large single frames (whose payload `handle_read` unmasks while copying) and
// fragmented messages with 1 KiB fragments (taken straight from the read), with control frames
// between the fragments (FR-17, FR-28), fed in every split by every method.
#[test]
fn large_frames_and_fragment_runs_read_the_same_way_in_every_split() {
    let big = pattern(70_000, 1);
    let text: String = (0..9000).map(|i| ['a', 'é', '€', '𝄞'][i % 4]).collect();
    for role in ROLES {
        let mut input = frame_to(role, true, OpCode::Binary, &big);
        input.extend(frame_to(role, true, OpCode::Binary, &pattern(4096, 2)));
        input.extend(frame_to(role, true, OpCode::Binary, &pattern(4095, 3)));
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1024).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            input.extend(frame_to(role, i + 1 == chunks.len(), op, chunk));
            if i == 3 {
                input.extend(frame_to(role, true, OpCode::Ping, b"mid"));
            }
        }
        input.extend(fragmented(role, OpCode::Binary, &pattern(20_000, 4), 1024));
        input.extend(frame_to(role, true, OpCode::Text, b"after"));
        let got = feed(role, &input);
        assert_eq!(got.error, None);
        assert_eq!(
            got.events,
            vec![
                Event::Binary(big.clone().into()),
                Event::Binary(pattern(4096, 2).into()),
                Event::Binary(pattern(4095, 3).into()),
                Event::Ping(Bytes::from_static(b"mid")),
                Event::Text(text.as_str().into()),
                Event::Binary(pattern(20_000, 4).into()),
                Event::Text("after".into()),
            ]
        );
        // The Ping is answered (FR-28).
        assert_only_pong(role, &got.wire, b"mid");
    }
}

// FR-02, FR-25, FR-33: errors found in fragments taken straight from the read fail the
// connection with the same code as through the input buffer: invalid UTF-8 -> 1007, a message
// over the limit -> 1009, a new message before the last one ended -> 1002.
#[test]
fn errors_in_fragments_taken_from_the_read_close_with_the_same_codes() {
    let mut limited = Config::default();
    limited.limits.max_message_size = 5000;
    for role in ROLES {
        let mut bad_text = fragmented(role, OpCode::Text, &[b'a'; 3000], 1000);
        bad_text.truncate(
            bad_text.len() - frame_to(role, true, OpCode::Continuation, &[b'a'; 1000]).len(),
        );
        bad_text.extend(frame_to(
            role,
            false,
            OpCode::Continuation,
            &[b'b', 0xff, b'c'],
        ));
        bad_text.extend(frame_to(role, true, OpCode::Continuation, b"ok"));
        let too_long = fragmented(role, OpCode::Binary, &pattern(8000, 5), 1000);
        let mut interleaved = fragmented(role, OpCode::Binary, &pattern(3000, 6), 1000);
        interleaved.truncate(
            interleaved.len() - frame_to(role, true, OpCode::Continuation, &pattern(1000, 0)).len(),
        );
        interleaved.extend(frame_to(role, true, OpCode::Binary, b"x"));
        for (input, config, code) in [
            (bad_text, Config::default(), 1007),
            (too_long, limited.clone(), 1009),
            (interleaved, Config::default(), 1002),
        ] {
            let got = feed_all_splits(role, &config, &input);
            assert!(
                got.error.is_some(),
                "{role:?}: no error for close code {code}"
            );
            assert_eq!(close_code_on_wire(role, &got.wire), Some(code));
            assert!(got.closed_transport);
        }
    }
}

/// Where `buf`'s allocation ends: the same while the buffer is reused (its front reclaimed
/// or not), another once it grows into a new allocation.
fn allocation_end(buf: &BytesMut) -> usize {
    arena(buf).end
}

// FR-20, SEC-12: with a message in progress, complete fragments in a read go into the
// message without passing through the input buffer: a buffer with room for one fragment never
// grows.
#[test]
fn complete_fragments_do_not_pass_through_the_input_buffer() {
    let role = Role::Server;
    let payload = pattern(64 * 1024, 7);
    let wire = fragmented(role, OpCode::Binary, &payload, 1024);
    let first = frame_to(role, false, OpCode::Binary, &payload[..1024]).len();
    let mut c = conn(role, Config::default());
    let mut input = BytesMut::with_capacity(2048);
    let end = allocation_end(&input);
    c.handle_read(t0(), &mut input, &wire[..first]).unwrap();
    assert!(c.poll_event().is_none());
    // Everything after the first fragment, in one read.
    c.handle_read(t0(), &mut input, &wire[first..]).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Binary(payload.into())));
    assert!(input.is_empty());
    assert_eq!(allocation_end(&input), end, "the input buffer grew");
}

// FR-02, SEC-12: a read that ends inside a frame leaves the rest in the input buffer; the
// next read completes that frame with just the bytes it lacks, and the frames after it are
// taken from the read, control frames between them one at a time (FR-17): a buffer with room
// for one fragment never grows, though each read is larger.
#[test]
fn a_frame_split_across_reads_is_completed_before_the_rest_is_taken() {
    let role = Role::Server;
    let payload = pattern(32 * 1024, 8);
    let wire = fragmented(role, OpCode::Binary, &payload, 1024);
    // A Ping and a Pong between the fragments, answered and delivered in their place.
    let after_two = 2 * frame_to(role, false, OpCode::Continuation, &payload[..1024]).len();
    let mut wire = wire;
    // The later one first, so that the earlier offset still falls between frames.
    for (at, opcode) in [(3 * after_two, OpCode::Pong), (after_two, OpCode::Ping)] {
        let frame = frame_to(role, true, opcode, b"between");
        wire.splice(at..at, frame);
    }
    let mut c = conn(role, Config::default());
    let mut input = BytesMut::with_capacity(2048);
    let end = allocation_end(&input);
    let mut events = Vec::new();
    for read in wire.chunks(3000) {
        c.handle_read(t0(), &mut input, read).unwrap();
        assert_eq!(allocation_end(&input), end, "the input buffer grew");
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
    }
    assert_eq!(
        events,
        vec![
            Event::Ping(Bytes::from_static(b"between")),
            Event::Pong(Bytes::from_static(b"between")),
            Event::Binary(payload.into()),
        ]
    );
    // The Ping was answered.
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert_only_pong(role, &out.wire, b"between");
}

// FR-02, FR-20: in streaming mode fragments are delivered as chunks, never reassembled from
// the read: reads that end exactly at frame boundaries (the case where `handle_read` would
// take fragments straight from the read in whole-message mode) give the chunks
// `handle_input` gives.
#[test]
fn streaming_mode_reads_at_frame_boundaries_deliver_chunks() {
    let mut config = Config::default();
    config.receive_mode = ReceiveMode::Streaming;
    for role in ROLES {
        let payload = pattern(5000, 11);
        let frames: Vec<Vec<u8>> = payload
            .chunks(1000)
            .enumerate()
            .map(|(i, chunk)| {
                let op = if i == 0 {
                    OpCode::Binary
                } else {
                    OpCode::Continuation
                };
                frame_to(role, i == 4, op, chunk)
            })
            .collect();
        // The opening frame alone, then the four continuations in one read.
        let wire = frames.concat();
        let first = frames[0].len();
        let mut outcomes = Vec::new();
        for via in [Via::Input, Via::Read] {
            let mut c = conn(role, config.clone());
            let mut out = Outcome::default();
            let mut buf = BytesMut::new();
            for read in [&wire[..first], &wire[first..]] {
                if via == Via::Read {
                    c.handle_read(t0(), &mut buf, read).unwrap();
                } else {
                    buf.extend_from_slice(read);
                    c.handle_input(t0(), &mut buf).unwrap();
                }
                drain(&mut c, &mut out);
            }
            outcomes.push(out);
        }
        assert_eq!(outcomes[1], outcomes[0], "{role:?}");
        let chunks = outcomes[0]
            .events
            .iter()
            .filter(|e| matches!(e, Event::BinaryChunk { .. }))
            .count();
        assert_eq!(chunks, 5, "{role:?}: {:?}", outcomes[0].events);
    }
}

// Keepalive (no checklist ID; the timer tests are in connection_timers.rs): an empty read is
// not traffic, and does not refresh it.
#[test]
fn an_empty_read_does_not_refresh_keepalive() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    let mut c = conn(Role::Server, config);
    let mut input = BytesMut::new();
    c.handle_read(t0() + Duration::from_secs(7), &mut input, &[])
        .unwrap();
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(10)));
}

// Keepalive, FR-09: a read that is exactly the header of a large frame leaves the input
// buffer empty (the header is taken from the read), and still counts as traffic for keepalive;
// the payload that follows arrives unmasked.
#[test]
fn a_read_of_only_a_header_refreshes_keepalive() {
    let role = Role::Server;
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    let frame = frame_to(role, true, OpCode::Binary, &pattern(8192, 9));
    let header_len = frame.len() - 8192;
    let mut c = conn(role, config);
    let mut input = BytesMut::new();
    let later = t0() + Duration::from_secs(7);
    c.handle_read(later, &mut input, &frame[..header_len])
        .unwrap();
    assert!(input.is_empty(), "the header was left in the input buffer");
    assert_eq!(c.poll_timeout(), Some(later + Duration::from_secs(10)));
    c.handle_read(later, &mut input, &frame[header_len..])
        .unwrap();
    assert_eq!(c.poll_event(), Some(Event::Binary(pattern(8192, 9).into())));
}

// CL-09, CL-14: after the peer's Close, or after failing, `handle_read` takes nothing.
#[test]
fn nothing_is_read_after_the_close_or_a_failure() {
    let role = Role::Server;
    let later = frame_to(role, true, OpCode::Binary, &pattern(5000, 10));
    let mut closed = conn(role, Config::default());
    let mut input = BytesMut::new();
    closed
        .handle_read(
            t0(),
            &mut input,
            &frame_to(role, true, OpCode::Close, &[0x03, 0xe8]),
        )
        .unwrap();
    closed.handle_read(t0(), &mut input, &later).unwrap();
    assert!(input.is_empty());
    let events: Vec<Event> = std::iter::from_fn(|| closed.poll_event())
        .take(10)
        .collect();
    assert!(matches!(events[0], Event::CloseReceived(_)), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Binary(_))),
        "{events:?}"
    );

    let mut failed = conn(role, Config::default());
    let mut input = BytesMut::new();
    let err = failed.handle_read(t0(), &mut input, &[0x83, 0x80, 1, 2, 3, 4]);
    assert!(
        matches!(err, Err(ProtocolError::ReservedOpcode(3))),
        "{err:?}"
    );
    failed.handle_read(t0(), &mut input, &later).unwrap();
    assert!(input.is_empty());
    let events: Vec<Event> = std::iter::from_fn(|| failed.poll_event())
        .take(10)
        .collect();
    assert!(matches!(events[..], [Event::Closed(_)]), "{events:?}");
}

// FR-02, FR-09: `extend_from_read` takes the header of a masked frame of at least 4 KiB from
// a read that starts it while the buffer is empty (its payload then arrives unmasked); a
// smaller frame's header, an unmasked frame's, or one that finds the buffer in use, is
// appended as it is.
#[test]
fn extend_from_read_takes_only_a_large_masked_frames_header() {
    let server = DecoderConfig::new(Role::Server);
    for (len, masked, taken) in [
        (4096, true, true),
        (70_000, true, true),
        (4095, true, false),
        (8192, false, false),
    ] {
        let role = if masked { Role::Server } else { Role::Client };
        let frame = frame_to(role, true, OpCode::Binary, &pattern(len, 1));
        let header_len = frame.len() - len;
        let config = if masked {
            server
        } else {
            DecoderConfig::new(Role::Client)
        };
        let mut decoder = FrameDecoder::new(config);
        let mut buf = BytesMut::new();
        decoder.extend_from_read(&mut buf, &frame[..header_len + 10]);
        if taken {
            assert_eq!(buf.len(), 10, "len {len}: the header stayed in the buffer");
            assert_eq!(decoder.payload_remaining(), len as u64);
            assert_eq!(
                decoder.partial_payload(&mut buf).unwrap().1,
                &pattern(len, 1)[..10]
            );
        } else {
            assert_eq!(&buf[..], &frame[..header_len + 10], "len {len}");
            assert_eq!(decoder.payload_remaining(), 0);
        }
        decoder.extend_from_read(&mut buf, &frame[header_len + 10..]);
        let got = decoder
            .decode(&mut buf)
            .unwrap()
            .expect("the frame is complete");
        assert_eq!(got.payload, pattern(len, 1));
    }
    // The buffer holds a byte already: nothing is taken from the read.
    let frame = frame_to(Role::Server, true, OpCode::Binary, &pattern(5000, 2));
    let mut decoder = FrameDecoder::new(server);
    let mut buf = BytesMut::new();
    decoder.extend_from_read(&mut buf, &frame[..1]);
    decoder.extend_from_read(&mut buf, &frame[1..100]);
    assert_eq!(&buf[..], &frame[..100]);
}

/// `n` small messages as the peer of `role` sends them: texts of 1-4 byte characters and
/// binaries of 0 to `max` bytes (from `rng`), and the events they should give.
fn small_messages(role: Role, rng: &mut Rng, n: usize, max: usize) -> (Vec<u8>, Vec<Event>) {
    const CHARS: [&str; 4] = ["a", "\u{e9}", "\u{20ac}", "\u{1f600}"];
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for i in 0..n {
        let len = rng.below(max + 1);
        if rng.below(2) == 0 {
            let mut text = String::new();
            while text.len() + 4 <= len {
                text.push_str(CHARS[rng.below(4)]);
            }
            wire.extend(frame_to(role, true, OpCode::Text, text.as_bytes()));
            events.push(Event::Text(text.into()));
        } else {
            let payload = pattern(len, i);
            wire.extend(frame_to(role, true, OpCode::Binary, &payload));
            events.push(Event::Binary(payload.into()));
        }
    }
    (wire, events)
}

// FR-02, FR-23: runs of small messages taken straight from the read, longer than a run holds
// (32 texts, 4 KiB), texts and binaries alternating, come out in order, and the input buffer,
// where their texts are unmasked and validated, is left empty and small; binaries alone
// leave it untouched.
#[test]
fn small_messages_taken_from_the_read_come_out_in_order() {
    for role in ROLES {
        for max in [20, 300, 2000] {
            let (wire, want) = small_messages(role, &mut Rng::new(max as u64), 200, max);
            let mut c = conn(role, Config::default());
            let mut input = BytesMut::new();
            c.handle_read(t0(), &mut input, &wire).unwrap();
            assert!(input.is_empty(), "{role:?} {max}: the stage is emptied");
            assert!(
                input.capacity() <= 8 << 10,
                "{role:?} {max}: {}",
                input.capacity()
            );
            let mut out = Outcome::default();
            drain(&mut c, &mut out);
            assert_eq!(out.events, want, "{role:?} {max}");
            assert!(out.wire.is_empty());
            // And in every split, by every method.
            assert_eq!(
                feed_all_splits(role, &Config::default(), &wire).events,
                want
            );
        }
        // Small binaries alone never touch the input buffer: each is copied from the read
        // straight into its slab.
        let wire: Vec<u8> = (0..100)
            .flat_map(|i| frame_to(role, true, OpCode::Binary, &pattern(i * 3, i)))
            .collect();
        let mut c = conn(role, Config::default());
        let mut input = BytesMut::with_capacity(64);
        let before = arena(&input);
        c.handle_read(t0(), &mut input, &wire).unwrap();
        assert_eq!(arena(&input), before, "{role:?}: the input buffer was used");
        let mut out = Outcome::default();
        drain(&mut c, &mut out);
        assert_eq!(out.events.len(), 100, "{role:?}");
    }
}

/// Every frame `decoder` yields from `wire` fed in `reads`, by `extend_from_read` or by
/// `extend_from_slice`, with the error that ended it.
fn decode_reads(
    wire: &[u8],
    reads: &[usize],
    fused: bool,
    config: DecoderConfig,
) -> (Vec<(bool, OpCode, Bytes)>, Option<ProtocolError>) {
    let mut decoder = FrameDecoder::new(config);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = reads[i % reads.len()].clamp(1, rest.len());
        i += 1;
        let (read, after) = rest.split_at(n);
        rest = after;
        if fused {
            decoder.extend_from_read(&mut buf, read);
        } else {
            buf.extend_from_slice(read);
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push((f.header.fin, f.header.opcode, f.payload)),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    // FR-02: `extend_from_read` gives the decoder the same frames and the same error as
    // `extend_from_slice`, for frames small and large (at and around the 4 KiB line where it
    // takes a header from the read), masked or not, in any reads.
    #[test]
    fn extend_from_read_decodes_like_extend_from_slice(
        sizes in proptest::collection::vec(
            proptest::prop_oneof![0usize..200, 4090usize..4100, 5000usize..70_000], 1..6),
        reads in proptest::collection::vec(1usize..20_000, 1..8),
        server in proptest::prelude::any::<bool>(),
        break_last in proptest::prelude::any::<bool>(),
    ) {
        // A server decodes masked client frames; a client unmasked server frames.
        let role = if server { Role::Server } else { Role::Client };
        let mut wire = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            wire.extend(frame_to(role, true, OpCode::Binary, &pattern(n, i)));
        }
        if break_last {
            // A frame with the wrong masking for the role: 1002 at its header.
            wire.extend(frame_to(peer_of(role), true, OpCode::Binary, &pattern(6000, 9)));
        }
        let config = DecoderConfig::new(role);
        let plain = decode_reads(&wire, &reads, false, config);
        let fused = decode_reads(&wire, &reads, true, config);
        proptest::prop_assert_eq!(&fused, &plain);
        proptest::prop_assert_eq!(plain.0.len(), sizes.len());
        proptest::prop_assert_eq!(plain.1.is_some(), break_last);
    }

    // FR-02, FR-23: small texts and binaries, some texts broken at a random byte, in random
    // reads (up to 9 000 bytes): the same outcome by `handle_read`, by `handle_input` and by
    // the two mixed.
    #[test]
    fn small_messages_read_like_handle_input(
        n in 1usize..120,
        max in proptest::prop_oneof![0usize..40, 0usize..4200],
        seed in proptest::prelude::any::<u64>(),
        server in proptest::prelude::any::<bool>(),
        breaks in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..2),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let (wire, _) = small_messages(role, &mut Rng::new(seed), n, max);
        // Any byte changed: the frames, and the UTF-8 of the texts, break anywhere.
        let mut wire = wire;
        for (at, byte) in breaks {
            let at = at % wire.len();
            wire[at] = byte;
        }
        let mut outcomes = Vec::new();
        for via in VIAS {
            let mut c = conn(role, Config::default());
            outcomes.push(feed_conn_via(&mut c, &wire, Split::RandomLarge(seed), via, false));
        }
        proptest::prop_assert_eq!(&outcomes[1], &outcomes[0]);
        proptest::prop_assert_eq!(&outcomes[2], &outcomes[0]);
    }

    // FR-02, FR-17, FR-20: messages of 1 KiB-ish fragments with pings between them and large
    // single frames, in reads of any size up to 9 000 bytes, give the same outcome by
    // `handle_read`, by `handle_input` and by the two mixed.
    #[test]
    fn handle_read_matches_handle_input(
        messages in proptest::collection::vec((0usize..12_000, 1usize..3000, proptest::prelude::any::<bool>()), 1..5),
        seed in proptest::prelude::any::<u64>(),
        server in proptest::prelude::any::<bool>(),
        streaming in proptest::prelude::any::<bool>(),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut config = Config::default();
        if streaming {
            config.receive_mode = ReceiveMode::Streaming;
        }
        let mut wire = Vec::new();
        for (i, &(len, piece, ping)) in messages.iter().enumerate() {
            let payload = pattern(len, i);
            let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&payload[..]] } else { payload.chunks(piece).collect() };
            for (k, chunk) in chunks.iter().enumerate() {
                let op = if k == 0 { OpCode::Binary } else { OpCode::Continuation };
                wire.extend(frame_to(role, k + 1 == chunks.len(), op, chunk));
                if ping && k == 0 {
                    wire.extend(frame_to(role, true, OpCode::Ping, b"p"));
                }
            }
        }
        let mut outcomes = Vec::new();
        for via in VIAS {
            let mut c = conn(role, config.clone());
            outcomes.push(feed_conn_via(&mut c, &wire, Split::RandomLarge(seed), via, false));
        }
        // In streaming mode the chunks depend on the reads, which are the same for all three.
        proptest::prop_assert_eq!(&outcomes[1], &outcomes[0]);
        proptest::prop_assert_eq!(&outcomes[2], &outcomes[0]);
        let ends = outcomes[0].events.iter().filter(|e| match e {
            Event::Binary(_) => !streaming,
            Event::BinaryChunk { fin, .. } => streaming && *fin,
            _ => false,
        });
        proptest::prop_assert_eq!(ends.count(), messages.len());
    }
}
