//! The frame codec against RFC 6455 section 5: the section 5.7 examples byte for byte, the
//! table of rejected headers with their close codes, and property tests for the encode ->
//! decode round trip and for chunking invariance (FR-02).

mod common;

use bytes::BytesMut;
use common::{arena, peer_of};
use proptest::prelude::*;
use rfc6455::Role;
use rfc6455::frame::{
    DecoderConfig, Frame, FrameDecoder, FrameEncoder, FrameHeader, MAX_HEADER_LEN, OpCode,
    ProtocolError, RSV1, RSV2, RSV3, apply_mask,
};

const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// What decoding a whole input gives: the frames before the first error, and that error.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<ProtocolError>,
    /// Bytes left in the buffer and whether the decoder is between frames.
    leftover: usize,
    idle: bool,
}

/// Feeds `input` to a fresh decoder in the pieces delimited by `cuts` (sorted offsets),
/// draining every complete frame after each piece.
fn decode_pieces(cfg: DecoderConfig, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = FrameDecoder::new(cfg);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([&input.len()]) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        error: Some(e),
                        leftover: 0,
                        idle: false,
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        leftover: buf.len(),
        idle: dec.is_idle(),
    }
}

/// The same with [`FrameDecoder::decode_chunk`], the chunks of each frame joined back into a
/// frame. Checks the chunk flags on the way.
fn decode_chunks_reassembled(cfg: DecoderConfig, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = FrameDecoder::new(cfg);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut current: Option<(FrameHeader, Vec<u8>)> = None;
    let mut from = 0;
    for &to in cuts.iter().chain([&input.len()]) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        loop {
            match dec.decode_chunk(&mut buf) {
                Ok(Some(chunk)) => {
                    assert_eq!(chunk.first, current.is_none(), "first flag");
                    let (header, mut data) =
                        current.take().unwrap_or_else(|| (chunk.header, Vec::new()));
                    assert_eq!(header, chunk.header, "header changed between chunks");
                    assert!(
                        !chunk.payload.is_empty() || header.payload_len == 0,
                        "empty chunk of a non-empty frame"
                    );
                    data.extend_from_slice(&chunk.payload);
                    if chunk.last {
                        assert_eq!(data.len() as u64, header.payload_len);
                        frames.push(Frame {
                            header,
                            payload: data.into(),
                        });
                    } else {
                        current = Some((header, data));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        error: Some(e),
                        leftover: 0,
                        idle: false,
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        leftover: buf.len(),
        idle: dec.is_idle(),
    }
}

fn decode_whole(cfg: DecoderConfig, input: &[u8]) -> Outcome {
    decode_pieces(cfg, input, &[])
}

fn one_byte_cuts(input: &[u8]) -> Vec<usize> {
    (1..input.len()).collect()
}

fn server() -> DecoderConfig {
    DecoderConfig::new(Role::Server)
}

fn client() -> DecoderConfig {
    DecoderConfig::new(Role::Client)
}

fn fixed_key(key: [u8; 4]) -> FrameEncoder {
    let mut key = Some(key);
    FrameEncoder::with_mask_keys(
        Role::Client,
        Box::new(move || key.take().expect("one key per test frame")),
    )
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 section 5.7, byte for byte.
// ---------------------------------------------------------------------------------------------

struct Example {
    name: &'static str,
    /// The frames on the wire, concatenated.
    wire: Vec<u8>,
    /// Who sent them (the decoder takes the other role).
    sender: Role,
    /// (fin, opcode, payload) of each frame.
    frames: Vec<(bool, OpCode, Vec<u8>)>,
}

fn rfc_examples() -> Vec<Example> {
    let bin256: Vec<u8> = (0..256).map(|i| (i * 7) as u8).collect();
    let bin64k: Vec<u8> = (0..65536).map(|i| (i * 13 + 5) as u8).collect();
    let mut wire256 = vec![0x82, 0x7e, 0x01, 0x00];
    wire256.extend_from_slice(&bin256);
    let mut wire64k = vec![0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    wire64k.extend_from_slice(&bin64k);
    vec![
        Example {
            name: "a single-frame unmasked text message",
            wire: vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            sender: Role::Server,
            frames: vec![(true, OpCode::Text, b"Hello".to_vec())],
        },
        Example {
            name: "a single-frame masked text message",
            wire: vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            sender: Role::Client,
            frames: vec![(true, OpCode::Text, b"Hello".to_vec())],
        },
        Example {
            name: "a fragmented unmasked text message",
            wire: vec![0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
            sender: Role::Server,
            frames: vec![
                (false, OpCode::Text, b"Hel".to_vec()),
                (true, OpCode::Continuation, b"lo".to_vec()),
            ],
        },
        Example {
            name: "unmasked Ping",
            wire: vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            sender: Role::Server,
            frames: vec![(true, OpCode::Ping, b"Hello".to_vec())],
        },
        Example {
            name: "masked Pong",
            wire: vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            sender: Role::Client,
            frames: vec![(true, OpCode::Pong, b"Hello".to_vec())],
        },
        Example {
            name: "256 bytes binary message in a single unmasked frame",
            wire: wire256,
            sender: Role::Server,
            frames: vec![(true, OpCode::Binary, bin256)],
        },
        Example {
            name: "64KiB binary message in a single unmasked frame",
            wire: wire64k,
            sender: Role::Server,
            frames: vec![(true, OpCode::Binary, bin64k)],
        },
    ]
}

fn receiver_of(sender: Role) -> DecoderConfig {
    match sender {
        Role::Client => server(),
        Role::Server => client(),
    }
}

// FR-01, FR-09: decode each example, whole, one byte at a time and in chunks of 2 and 3.
#[test]
fn fr01_rfc_examples_decode() {
    for ex in rfc_examples() {
        let cfg = receiver_of(ex.sender);
        let whole = decode_whole(cfg, &ex.wire);
        assert_eq!(whole.error, None, "{}", ex.name);
        assert_eq!((whole.leftover, whole.idle), (0, true), "{}", ex.name);
        let got: Vec<_> = whole
            .frames
            .iter()
            .map(|f| (f.header.fin, f.header.opcode, f.payload.to_vec()))
            .collect();
        assert_eq!(got, ex.frames, "{}", ex.name);
        for f in &whole.frames {
            assert_eq!(f.header.rsv, 0, "{}", ex.name);
            let expect_key = (ex.sender == Role::Client).then_some(RFC_KEY);
            assert_eq!(f.header.mask, expect_key, "{}", ex.name);
        }
        let bytewise = decode_pieces(cfg, &ex.wire, &one_byte_cuts(&ex.wire));
        assert_eq!(bytewise, whole, "{} one byte at a time", ex.name);
        for step in [2, 3] {
            let cuts: Vec<usize> = (step..ex.wire.len()).step_by(step).collect();
            assert_eq!(
                decode_pieces(cfg, &ex.wire, &cuts),
                whole,
                "{} in chunks of {step}",
                ex.name
            );
        }
    }
}

// FR-01, FR-05, FR-06, FR-11: encode each example; client frames with the RFC's key.
#[test]
fn fr01_rfc_examples_encode() {
    for ex in rfc_examples() {
        let mut out = BytesMut::new();
        for (fin, opcode, payload) in &ex.frames {
            let mut enc = match ex.sender {
                Role::Client => fixed_key(RFC_KEY),
                Role::Server => FrameEncoder::new(Role::Server),
            };
            enc.encode(&mut out, *fin, 0, *opcode, payload);
        }
        assert_eq!(&out[..], &ex.wire[..], "{}", ex.name);
    }
}

// SEC-02: the caller's payload is not masked in place.
#[test]
fn client_encode_leaves_the_payload_untouched() {
    let payload = b"Hello".to_vec();
    let mut out = BytesMut::new();
    fixed_key(RFC_KEY).encode(&mut out, true, 0, OpCode::Text, &payload);
    assert_eq!(payload, b"Hello");
    assert_eq!(&out[6..], &[0x7f, 0x9f, 0x4d, 0x51, 0x58]);
}

// ---------------------------------------------------------------------------------------------
// Rejections: input bytes -> error -> close code, for both roles.
// ---------------------------------------------------------------------------------------------

/// Which decoders a row applies to.
#[derive(Clone, Copy, Debug)]
enum Roles {
    /// Both: the input is written as a server would send it (unmasked); the server-side
    /// decoder gets the same header with the MASK bit set and a key inserted.
    Both,
    /// Only this decoder role, with the input exactly as written.
    Only(Role),
}

struct Rejection {
    id: &'static str,
    roles: Roles,
    /// RSV bits the decoder allows (a negotiated extension).
    allowed_rsv: u8,
    /// `None`: the default limit.
    max_frame_size: Option<u64>,
    input: &'static [u8],
    error: ProtocolError,
    close_code: u16,
}

const fn reject(
    id: &'static str,
    input: &'static [u8],
    error: ProtocolError,
    code: u16,
) -> Rejection {
    Rejection {
        id,
        roles: Roles::Both,
        allowed_rsv: 0,
        max_frame_size: None,
        input,
        error,
        close_code: code,
    }
}

fn rejections() -> Vec<Rejection> {
    use ProtocolError as E;
    vec![
        // FR-03: RSV bits that no negotiated extension defines.
        reject("FR-03", &[0xc1, 0x00], E::ReservedBits(RSV1), 1002),
        reject("FR-03", &[0xa1, 0x00], E::ReservedBits(RSV2), 1002),
        reject("FR-03", &[0x91, 0x00], E::ReservedBits(RSV3), 1002),
        reject(
            "FR-03",
            &[0xf2, 0x00],
            E::ReservedBits(RSV1 | RSV2 | RSV3),
            1002,
        ),
        Rejection {
            allowed_rsv: RSV1,
            ..reject("FR-03", &[0xe1, 0x00], E::ReservedBits(RSV2), 1002)
        },
        Rejection {
            allowed_rsv: RSV1,
            ..reject("FR-03", &[0xd1, 0x00], E::ReservedBits(RSV3), 1002)
        },
        // FR-04: reserved opcodes 3-7 and 11-15.
        reject("FR-04", &[0x83, 0x00], E::ReservedOpcode(0x3), 1002),
        reject("FR-04", &[0x84, 0x00], E::ReservedOpcode(0x4), 1002),
        reject("FR-04", &[0x85, 0x00], E::ReservedOpcode(0x5), 1002),
        reject("FR-04", &[0x86, 0x00], E::ReservedOpcode(0x6), 1002),
        reject("FR-04", &[0x87, 0x00], E::ReservedOpcode(0x7), 1002),
        reject("FR-04", &[0x8b, 0x00], E::ReservedOpcode(0xb), 1002),
        reject("FR-04", &[0x8c, 0x00], E::ReservedOpcode(0xc), 1002),
        reject("FR-04", &[0x8d, 0x00], E::ReservedOpcode(0xd), 1002),
        reject("FR-04", &[0x8e, 0x00], E::ReservedOpcode(0xe), 1002),
        reject("FR-04", &[0x0f, 0x00], E::ReservedOpcode(0xf), 1002),
        // FR-15: control frames over 125 bytes.
        reject(
            "FR-15",
            &[0x89, 0x7e, 0x00, 0x7e],
            E::ControlFrameTooLarge,
            1002,
        ),
        reject(
            "FR-15",
            &[0x8a, 0x7e, 0x01, 0x00],
            E::ControlFrameTooLarge,
            1002,
        ),
        reject(
            "FR-15",
            &[0x88, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
            E::ControlFrameTooLarge,
            1002,
        ),
        // FR-16: control frames without FIN.
        reject("FR-16", &[0x09, 0x00], E::FragmentedControlFrame, 1002),
        reject("FR-16", &[0x0a, 0x00], E::FragmentedControlFrame, 1002),
        reject(
            "FR-16",
            &[0x08, 0x02, 0x03, 0xe8],
            E::FragmentedControlFrame,
            1002,
        ),
        // FR-13: the top bit of a 64-bit length, decided without the payload.
        reject(
            "FR-13",
            &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
            E::LengthTopBitSet,
            1002,
        ),
        reject(
            "FR-13",
            &[0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            E::LengthTopBitSet,
            1002,
        ),
        // FR-12: non-minimal lengths (strict policy).
        reject(
            "FR-12",
            &[0x81, 0x7e, 0x00, 0x05],
            E::NonMinimalLength(5),
            1002,
        ),
        reject(
            "FR-12",
            &[0x82, 0x7e, 0x00, 0x7d],
            E::NonMinimalLength(125),
            1002,
        ),
        reject(
            "FR-12",
            &[0x82, 0x7e, 0x00, 0x00],
            E::NonMinimalLength(0),
            1002,
        ),
        reject(
            "FR-12",
            &[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0x00, 0x7e],
            E::NonMinimalLength(126),
            1002,
        ),
        reject(
            "FR-12",
            &[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
            E::NonMinimalLength(65535),
            1002,
        ),
        // FR-14: frames over the configured maximum, 1009, from the header alone.
        reject(
            "FR-14",
            &[0x82, 0x7f, 0, 0, 0x01, 0, 0, 0, 0, 0],
            E::FrameTooLarge {
                len: 1 << 40,
                max: 16 << 20,
            },
            1009,
        ),
        reject(
            "FR-14",
            &[0x82, 0x7f, 0, 0, 0, 0, 0x01, 0, 0, 0x01],
            E::FrameTooLarge {
                len: (16 << 20) + 1,
                max: 16 << 20,
            },
            1009,
        ),
        Rejection {
            max_frame_size: Some(100),
            ..reject(
                "FR-14",
                &[0x82, 0x65],
                E::FrameTooLarge { len: 101, max: 100 },
                1009,
            )
        },
        Rejection {
            max_frame_size: Some(1000),
            ..reject(
                "FR-14",
                &[0x81, 0x7e, 0x03, 0xe9],
                E::FrameTooLarge {
                    len: 1001,
                    max: 1000,
                },
                1009,
            )
        },
        // FR-07: a server receiving an unmasked frame.
        Rejection {
            roles: Roles::Only(Role::Server),
            ..reject(
                "FR-07",
                &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
                E::UnmaskedFrame,
                1002,
            )
        },
        Rejection {
            roles: Roles::Only(Role::Server),
            ..reject("FR-07", &[0x89, 0x00], E::UnmaskedFrame, 1002)
        },
        // FR-08: a client receiving a masked frame.
        Rejection {
            roles: Roles::Only(Role::Client),
            ..reject(
                "FR-08",
                &[
                    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                ],
                E::MaskedFrame,
                1002,
            )
        },
        Rejection {
            roles: Roles::Only(Role::Client),
            ..reject("FR-08", &[0x88, 0x80, 1, 2, 3, 4], E::MaskedFrame, 1002)
        },
    ]
}

/// The same header with the MASK bit set and a key after the length.
fn masked_variant(unmasked: &[u8]) -> Vec<u8> {
    assert_eq!(
        unmasked[1] & 0x80,
        0,
        "rows for both roles are written unmasked"
    );
    let key_at = match unmasked[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let mut out = unmasked.to_vec();
    out[1] |= 0x80;
    let at = key_at.min(out.len());
    out.splice(at..at, [0xa5, 0x5a, 0x0f, 0xf0]);
    out
}

#[test]
fn rejection_table() {
    for row in rejections() {
        let cases: Vec<(Role, Vec<u8>)> = match row.roles {
            Roles::Both => vec![
                (Role::Client, row.input.to_vec()),
                (Role::Server, masked_variant(row.input)),
            ],
            Roles::Only(role) => vec![(role, row.input.to_vec())],
        };
        for (role, input) in cases {
            let mut cfg = DecoderConfig::new(role);
            cfg.allowed_rsv = row.allowed_rsv;
            if let Some(max) = row.max_frame_size {
                cfg.max_frame_size = max;
            }
            let what = format!("{} {role:?} {input:02x?}", row.id);
            // The input ends with the header (or little more): the error must not wait for
            // the payload.
            let whole = decode_whole(cfg, &input);
            assert_eq!(whole.frames, vec![], "{what}");
            assert_eq!(whole.error.as_ref(), Some(&row.error), "{what}");
            assert_eq!(row.error.close_code().as_u16(), row.close_code, "{what}");
            // Fed one byte at a time, the same error.
            let bytewise = decode_pieces(cfg, &input, &one_byte_cuts(&input));
            assert_eq!(bytewise, whole, "{what} one byte at a time");
            // The header parser alone says the same.
            assert_eq!(
                FrameHeader::parse(&input, &cfg).err().as_ref(),
                Some(&row.error),
                "{what} FrameHeader::parse"
            );
        }
    }
}

// The boundaries just inside each rule are accepted (so the table above is not vacuous).
#[test]
fn boundaries_are_accepted() {
    let mut cfg = client();
    cfg.max_frame_size = 100;
    let mut at_limit = vec![0x82, 100];
    at_limit.extend([0u8; 100]);
    assert_eq!(decode_whole(cfg, &at_limit).frames.len(), 1);

    let mut ping125 = vec![0x89, 0x7d];
    ping125.extend([1u8; 125]);
    let out = decode_whole(client(), &ping125);
    assert_eq!((out.frames.len(), out.error), (1, None));

    let mut len126 = vec![0x82, 0x7e, 0x00, 0x7e];
    len126.extend([2u8; 126]);
    assert_eq!(decode_whole(client(), &len126).frames[0].payload.len(), 126);

    let mut len65536 = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    len65536.extend(vec![3u8; 65536]);
    assert_eq!(
        decode_whole(client(), &len65536).frames[0].payload.len(),
        65536
    );

    let mut rsv1 = client();
    rsv1.allowed_rsv = RSV1;
    let out = decode_whole(rsv1, &[0xc1, 0x01, b'x']);
    assert_eq!(out.frames[0].header.rsv, RSV1);
}

// ---------------------------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------------------------

/// A frame to encode: header fields and a payload of `len` bytes derived from `seed`.
#[derive(Clone, Debug)]
struct FrameSpec {
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    len: usize,
    seed: u8,
}

impl FrameSpec {
    fn payload(&self) -> Vec<u8> {
        (0..self.len)
            .map(|i| {
                (i as u8)
                    .wrapping_mul(self.seed | 1)
                    .wrapping_add(self.seed)
            })
            .collect()
    }
}

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

/// Lengths weighted towards the encoding boundaries.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=130,
        120usize..=140,
        65530usize..=65540,
        0usize..=70000,
    ]
}

/// A frame whose RSV bits are within `allowed`.
fn frame_spec(allowed: u8) -> impl Strategy<Value = FrameSpec> {
    (any::<bool>(), any::<u8>(), opcode(), length(), any::<u8>()).prop_map(
        move |(fin, rsv, opcode, len, seed)| {
            let control = opcode.is_control();
            FrameSpec {
                fin: fin || control,
                rsv: rsv & allowed,
                opcode,
                len: if control { len % 126 } else { len },
                seed,
            }
        },
    )
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Client), Just(Role::Server)]
}

/// Encodes `frames` as `sender`, with client keys from `keys` in turn.
fn encode_stream(sender: Role, keys: &[[u8; 4]], frames: &[FrameSpec]) -> BytesMut {
    let keys = keys.to_vec();
    let mut next = 0;
    let mut enc = FrameEncoder::with_mask_keys(
        sender,
        Box::new(move || {
            next += 1;
            keys[(next - 1) % keys.len()]
        }),
    );
    let mut out = BytesMut::new();
    for f in frames {
        enc.encode(&mut out, f.fin, f.rsv, f.opcode, &f.payload());
    }
    out
}

/// Sorted cut points from random indices into `0..=len`.
fn cut_points(len: usize, idx: &[prop::sample::Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = idx.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    // FR-01, FR-05, FR-06, FR-11: encode -> decode gives back every header field and payload.
    #[test]
    fn encode_decode_round_trip(
        sender in role(),
        allowed in 0u8..8,
        keys in proptest::collection::vec(any::<[u8; 4]>(), 1..4),
        frames in proptest::collection::vec(frame_spec(7), 1..5),
    ) {
        let frames: Vec<FrameSpec> = frames
            .into_iter()
            .map(|f| FrameSpec { rsv: f.rsv & allowed, ..f })
            .collect();
        let wire = encode_stream(sender, &keys, &frames);
        let mut cfg = DecoderConfig::new(peer_of(sender));
        cfg.allowed_rsv = allowed;
        let out = decode_whole(cfg, &wire);
        prop_assert_eq!(&out.error, &None);
        prop_assert_eq!((out.leftover, out.idle), (0, true));
        prop_assert_eq!(out.frames.len(), frames.len());
        for (i, (got, spec)) in out.frames.iter().zip(&frames).enumerate() {
            let h = got.header;
            prop_assert_eq!(
                (h.fin, h.rsv, h.opcode, h.payload_len),
                (spec.fin, spec.rsv, spec.opcode, spec.len as u64)
            );
            let key = (sender == Role::Client).then(|| keys[i % keys.len()]);
            prop_assert_eq!(h.mask, key);
            prop_assert_eq!(&got.payload[..], &spec.payload()[..]);
        }
        // The decoded headers re-encode to exactly the bytes they were parsed from (minimal
        // lengths, FR-11/FR-12), and the payloads re-mask to the wire bytes.
        let mut again = Vec::new();
        for f in &out.frames {
            let mut head = [0; MAX_HEADER_LEN];
            let n = f.header.encode(&mut head);
            prop_assert_eq!(n, f.header.encoded_len());
            again.extend_from_slice(&head[..n]);
            let start = again.len();
            again.extend_from_slice(&f.payload);
            if let Some(key) = f.header.mask {
                apply_mask(&mut again[start..], key, 0);
            }
        }
        prop_assert_eq!(&again[..], &wire[..]);
    }

    // FR-02: any split of a valid stream, and one byte at a time, gives identical frames.
    #[test]
    fn chunking_invariance_valid_stream(
        sender in role(),
        key in any::<[u8; 4]>(),
        frames in proptest::collection::vec(frame_spec(0), 1..4),
        idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // Keep the one-byte-at-a-time run cheap.
        let frames: Vec<FrameSpec> = frames
            .into_iter()
            .map(|f| FrameSpec { len: f.len % 3000, ..f })
            .collect();
        let wire = encode_stream(sender, &[key], &frames);
        let cfg = receiver_of(sender);
        let whole = decode_whole(cfg, &wire);
        prop_assert_eq!(whole.frames.len(), frames.len());
        let cuts = cut_points(wire.len(), &idx);
        prop_assert_eq!(&decode_pieces(cfg, &wire, &cuts), &whole);
        prop_assert_eq!(&decode_pieces(cfg, &wire, &one_byte_cuts(&wire)), &whole);
        prop_assert_eq!(&decode_chunks_reassembled(cfg, &wire, &[]), &whole);
        prop_assert_eq!(&decode_chunks_reassembled(cfg, &wire, &cuts), &whole);
        prop_assert_eq!(&decode_chunks_reassembled(cfg, &wire, &one_byte_cuts(&wire)), &whole);
    }

    // FR-02 for errors and truncated input: valid frames followed by arbitrary bytes give the
    // same frames and the same error (or the same incomplete state) in every split.
    #[test]
    fn chunking_invariance_with_garbage(
        dec_role in role(),
        small_limit in any::<bool>(),
        key in any::<[u8; 4]>(),
        frames in proptest::collection::vec(frame_spec(0), 0..3),
        garbage in proptest::collection::vec(any::<u8>(), 0..40),
        idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let frames: Vec<FrameSpec> = frames
            .into_iter()
            .map(|f| FrameSpec { len: f.len % 300, ..f })
            .collect();
        let sender = peer_of(dec_role);
        let mut wire = encode_stream(sender, &[key], &frames).to_vec();
        wire.extend_from_slice(&garbage);
        let mut cfg = DecoderConfig::new(dec_role);
        if small_limit {
            cfg.max_frame_size = 50;
        }
        let whole = decode_whole(cfg, &wire);
        let cuts = cut_points(wire.len(), &idx);
        prop_assert_eq!(&decode_pieces(cfg, &wire, &cuts), &whole);
        prop_assert_eq!(&decode_pieces(cfg, &wire, &one_byte_cuts(&wire)), &whole);
        // The streaming decoder agrees on complete frames and on the error. (Its leftover
        // differs by design: it takes partial payload out of the buffer.)
        for chunked in [
            decode_chunks_reassembled(cfg, &wire, &[]),
            decode_chunks_reassembled(cfg, &wire, &cuts),
            decode_chunks_reassembled(cfg, &wire, &one_byte_cuts(&wire)),
        ] {
            prop_assert_eq!(&chunked.frames, &whole.frames);
            prop_assert_eq!(&chunked.error, &whole.error);
            prop_assert_eq!(chunked.idle, whole.idle);
        }
    }
}

// FR-09: a large masked payload that arrives in pieces (partly unmasked in place) and is then
// copied out in several pieces keeps the key phase everywhere; the same when split off.
#[test]
fn large_masked_payload_in_pieces() {
    let payload: Vec<u8> = (0..20_003).map(|i| (i * 29 + 1) as u8).collect();
    let key = [0x0b, 0xad, 0xf0, 0x0d];
    let mut wire = BytesMut::new();
    fixed_key(key).encode(&mut wire, true, 0, OpCode::Binary, &payload);
    let first_len = wire.len();
    // A second frame behind it, so the first payload does not dominate the buffer and is
    // copied; alone, it is split off in place.
    fixed_key(key).encode(&mut wire, true, 0, OpCode::Binary, &payload[..5000]);
    for input in [&wire[..], &wire[..first_len]] {
        for step in [1021, 4099, 9000, input.len()] {
            let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
            for out in [
                decode_pieces(server(), input, &cuts),
                decode_chunks_reassembled(server(), input, &cuts),
            ] {
                assert_eq!(out.error, None);
                assert_eq!(&out.frames[0].payload[..], &payload[..], "step {step}");
                if input.len() > first_len {
                    assert_eq!(&out.frames[1].payload[..], &payload[..5000]);
                }
            }
        }
    }
}

// FR-09, FR-02: switching from `decode_chunk` to `decode` in the middle of a masked frame
// yields the rest of that frame's payload, unmasked at the right key phase (the header still
// gives the whole frame's length), and the next frame decodes normally.
#[test]
fn decode_after_decode_chunk_returns_the_rest_of_the_frame() {
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut wire = BytesMut::new();
    let mut enc = FrameEncoder::with_mask_keys(Role::Client, Box::new(|| [0x11, 0x22, 0x33, 0x44]));
    enc.encode(&mut wire, true, 0, OpCode::Binary, &payload);
    enc.encode(&mut wire, true, 0, OpCode::Text, b"next");
    let header_len = wire.len() - payload.len() - 10; // the second frame: 2 + 4 + 4 bytes
    for first in [1, 3, 5, 150, 299] {
        let mut dec = FrameDecoder::new(server());
        let mut buf = BytesMut::from(&wire[..header_len + first]);
        let chunk = dec.decode_chunk(&mut buf).unwrap().expect("a first chunk");
        assert_eq!(&chunk.payload[..], &payload[..first], "first {first}");
        assert!(chunk.first && !chunk.last);
        buf.extend_from_slice(&wire[header_len + first..]);
        let rest = dec
            .decode(&mut buf)
            .unwrap()
            .expect("the rest of the frame");
        assert_eq!(rest.header.payload_len, payload.len() as u64);
        assert_eq!(&rest.payload[..], &payload[first..], "first {first}");
        let next = dec.decode(&mut buf).unwrap().expect("the next frame");
        assert_eq!(
            (next.header.opcode, &next.payload[..]),
            (OpCode::Text, &b"next"[..])
        );
        assert!(buf.is_empty());
    }
}

// SEC-12 (no unbounded retention): a payload under 4 KiB is copied out, so it never
// pins a large read buffer; a large payload that fills most of the buffer is split off it
// without a copy; a large one in a mostly larger buffer is copied too.
#[test]
fn decode_copies_small_payloads_and_splits_large_ones_off() {
    let mut client = FrameEncoder::new(Role::Client);
    for (len, room, split) in [
        (100, 1 << 20, false),
        (4095, 8000, false),
        (65_536, 65_550, true),
        (65_536, 1 << 20, false),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut buf = BytesMut::with_capacity(room);
        client.encode(&mut buf, true, 0, OpCode::Binary, &payload);
        let arena = arena(&buf);
        let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
        let frame = dec.decode(&mut buf).unwrap().expect("a whole frame");
        assert!(
            frame.payload[..] == payload[..],
            "{len} in {room}: other bytes"
        );
        assert_eq!(
            arena.contains(&(frame.payload.as_ptr() as usize)),
            split,
            "{len} bytes in a buffer of {room}: split off (not copied)?"
        );
    }
}

// The same through the public decoder, frame by frame: a payload of 4 KiB or more after a
// megabyte of consumed frames in the same buffer is copied (split off, it would keep the
// whole megabyte alive), while one that starts a new buffer is split off.
#[test]
fn payload_after_consumed_frames_is_copied() {
    let mut client = FrameEncoder::new(Role::Client);
    let mut buf = BytesMut::with_capacity(1 << 20);
    let arena = arena(&buf);
    for _ in 0..260 {
        client.encode(&mut buf, true, 0, OpCode::Binary, &[3; 4000]);
    }
    client.encode(&mut buf, true, 0, OpCode::Binary, &[5; 5000]);
    let mut dec = FrameDecoder::new(DecoderConfig::new(Role::Server));
    let mut last = None;
    while let Some(frame) = dec.decode(&mut buf).unwrap() {
        last = Some(frame.payload);
    }
    let last = last.unwrap();
    assert_eq!(last[..], [5; 5000][..]);
    assert!(
        !arena.contains(&(last.as_ptr() as usize)),
        "pins the buffer"
    );

    let mut fresh = BytesMut::with_capacity(6000);
    client.encode(&mut fresh, true, 0, OpCode::Binary, &[6; 5000]);
    let arena = common::arena(&fresh);
    let frame = dec.decode(&mut fresh).unwrap().unwrap();
    assert!(arena.contains(&(frame.payload.as_ptr() as usize)), "copied");
}

// FR-06, FR-11: the header alone, for a payload the server sends separately (a vectored
// write): unmasked, in the smallest length encoding, the same bytes as the whole frame's.
#[test]
fn encode_header_unmasked_writes_the_whole_frames_header() {
    let mut server = FrameEncoder::new(Role::Server);
    assert!(format!("{server:?}").contains("Server"));
    for len in [0usize, 125, 126, 65_535, 65_536] {
        let payload = vec![7u8; len];
        let mut whole = BytesMut::new();
        server.encode(&mut whole, false, RSV1, OpCode::Binary, &payload);
        let mut header = BytesMut::new();
        server.encode_header_unmasked(&mut header, false, RSV1, OpCode::Binary, len as u64);
        assert_eq!(header[..], whole[..whole.len() - len], "{len}");
    }
}

// FR-06, SEC-01: a client encoder refuses to write an unmasked header, in release builds too.
#[test]
#[should_panic(expected = "client frames must be masked")]
fn encode_header_unmasked_refuses_a_client() {
    let mut client = FrameEncoder::new(Role::Client);
    client.encode_header_unmasked(&mut BytesMut::new(), true, 0, OpCode::Binary, 3);
}

// FR-01, FR-04: the opcode table: the six defined values round-trip through their wire
// value, every reserved one (3-7, 11-15) is refused, and each defined opcode is exactly one of
// data (0-2) and control (8-10). The role helpers name the two ends.
#[test]
fn fr01_fr04_opcode_table_and_roles() {
    let mut defined = 0;
    for value in 0u8..16 {
        match OpCode::from_u8(value) {
            Some(opcode) => {
                defined += 1;
                assert_eq!(opcode.as_u8(), value);
                assert_eq!(opcode.is_data(), value <= 2, "{opcode:?}");
                assert_eq!(opcode.is_control(), value >= 8, "{opcode:?}");
            }
            None => assert!((3..=7).contains(&value) || value >= 11, "{value}"),
        }
    }
    assert_eq!(defined, 6);
    assert!(Role::Client.is_client() && !Role::Client.is_server());
    assert!(Role::Server.is_server() && !Role::Server.is_client());
}
