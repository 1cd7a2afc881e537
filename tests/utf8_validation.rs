//! Text validation (FR-23 to FR-27) agrees with the standard library's `str::from_utf8` on
//! every input: through `Utf8Bytes::try_from_bytes`, through a connection given the whole
//! frame (the fast path, which checks runs of messages at once), and given the frame in two
//! pieces (the incremental validator). The SIMD validator works on 64-byte blocks, so inputs
//! are shifted across block boundaries.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use proptest::prelude::*;
use rfc6455::frame::{OpCode, ProtocolError};
use rfc6455::{Config, Event, Role, Utf8Bytes};

/// What a server connection makes of `payload` sent as one text frame, after `before` valid
/// text messages in the same read, with the input cut at `split` (0: whole).
fn receive(payload: &[u8], before: usize, split: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut input = Vec::new();
    for i in 0..before {
        input.extend(frame_to(
            Role::Server,
            true,
            OpCode::Text,
            format!("{i} é").as_bytes(),
        ));
    }
    let start = input.len();
    input.extend(frame_to(Role::Server, true, OpCode::Text, payload));
    let mut c = conn(Role::Server, Config::default());
    let mut buf = BytesMut::new();
    let cut = if split == 0 {
        input.len()
    } else {
        start + split.min(payload.len())
    };
    for piece in [&input[..cut], &input[cut..]] {
        buf.extend_from_slice(piece);
        c.handle_input(t0(), &mut buf)?;
    }
    let mut texts = Vec::new();
    while let Some(event) = c.poll_event() {
        match event {
            Event::Text(t) => texts.push(t),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(texts.len(), before + 1);
    Ok(texts.pop().unwrap().as_bytes().to_vec())
}

fn check(payload: &[u8], before: usize, split: usize) {
    let expect = std::str::from_utf8(payload).is_ok();
    let wrapped = Utf8Bytes::try_from_bytes(Bytes::copy_from_slice(payload));
    assert_eq!(wrapped.is_ok(), expect, "try_from_bytes on {payload:x?}");
    match receive(payload, before, split) {
        Ok(got) => {
            assert!(expect, "accepted invalid text {payload:x?}");
            assert_eq!(got, payload);
        }
        Err(e) => {
            assert!(!expect, "rejected valid text {payload:x?}: {e}");
            assert_eq!(e, ProtocolError::InvalidUtf8);
        }
    }
}

/// Pieces of text: valid characters of every width, and the byte sequences RFC 3629 forbids
/// (FR-27): overlong forms, surrogates, code points past U+10FFFF, lone continuation bytes,
/// truncated sequences, bytes that never appear.
fn atom() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        4 => "[a-z ]{1,16}".prop_map(String::into_bytes),
        1 => Just(vec![0xc0, 0xaf]),
        1 => Just(vec![0xe0, 0x80, 0xaf]),
        1 => Just(vec![0xed, 0xa0, 0x80]),
        1 => Just(vec![0xf4, 0x90, 0x80, 0x80]),
        1 => Just(vec![0xf0, 0x80, 0x80, 0x80]),
        1 => Just(vec![0x80]),
        1 => Just(vec![0xe2, 0x82]),
        1 => Just(vec![0xf0, 0x9d, 0x84]),
        1 => prop::sample::select(vec![0xc1u8, 0xf5, 0xf8, 0xfe, 0xff]).prop_map(|b| vec![b]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    // FR-23 to FR-27.
    #[test]
    fn validation_agrees_with_std(
        shift in 0usize..70,
        atoms in prop::collection::vec(atom(), 0..40),
        invalid_odds in 0usize..4,
        before in 0usize..3,
        split in 0usize..300,
    ) {
        // Mostly valid inputs, so that the error lands anywhere in a long run.
        let atoms: Vec<Vec<u8>> = atoms
            .into_iter()
            .filter(|a| invalid_odds == 0 || std::str::from_utf8(a).is_ok())
            .collect();
        let mut payload = vec![b'.'; shift];
        payload.extend(atoms.concat());
        payload.truncate(4000);
        check(&payload, before, split);
    }
}

// FR-24, FR-27: every two-byte sequence, at each place around a 64-byte block boundary.
#[test]
fn every_two_byte_sequence_at_a_block_boundary() {
    for at in [0, 62, 63, 64] {
        let mut payload = vec![b'x'; at + 2];
        for pair in 0..=u16::MAX {
            payload[at..].copy_from_slice(&pair.to_be_bytes());
            let expect = std::str::from_utf8(&payload).is_ok();
            let got = Utf8Bytes::try_from_bytes(Bytes::copy_from_slice(&payload)).is_ok();
            assert_eq!(got, expect, "{pair:04x} at {at}");
        }
    }
}

// FR-27: every three-byte sequence after the lead bytes with special rules (E0: no overlong
// forms; ED: no surrogates; EF: U+FFFE and U+FFFF are fine), and every continuation of the
// four-byte leads F0 and F4 (no overlong forms, nothing past U+10FFFF), across a block
// boundary and through the connection's whole-frame path.
#[test]
fn three_and_four_byte_sequences_with_special_leads() {
    for lead in [0xe0u8, 0xed, 0xef, 0xf0, 0xf4] {
        for rest in 0..=u16::MAX {
            let [b1, b2] = rest.to_be_bytes();
            let mut payload = vec![b'y'; 62];
            payload.extend([lead, b1, b2]);
            if lead >= 0xf0 {
                payload.push(0x80);
            }
            let expect = std::str::from_utf8(&payload).is_ok();
            let got = Utf8Bytes::try_from_bytes(Bytes::copy_from_slice(&payload)).is_ok();
            assert_eq!(got, expect, "{lead:02x} {b1:02x} {b2:02x}");
            if rest % 61 == 0 {
                check(&payload, 1, 0);
            }
        }
    }
}
