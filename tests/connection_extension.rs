//! The extension seam: RSV1 and a per-message payload transform, exercised with a toy
//! extension that reverses payload bytes (a stand-in for permessage-deflate).

mod common;

use common::*;
use rfc6455::frame::{OpCode, ProtocolError, RSV1};
use rfc6455::{Config, Event, Role};

fn with_ext(role: Role) -> rfc6455::Connection {
    let mut c = conn(role, Config::default());
    c.set_extension(Box::new(Reverse));
    c
}

#[test]
fn transform_applies_on_both_directions() {
    let mut client = with_ext(Role::Client);
    client.send_text("abc").unwrap();
    let mut out = Outcome::default();
    drain(&mut client, &mut out);
    let frames = frames_from(Role::Client, &out.wire);
    assert_eq!(
        (frames[0].1, &frames[0].3[..]),
        (RSV1, &b"cba"[..]),
        "RSV1 set on the transformed frame"
    );
    let mut server = with_ext(Role::Server);
    let got = feed_conn(&mut server, &out.wire, Split::OneByte, false);
    assert_eq!(got.events, vec![Event::Text("abc".into())]);
}

// PMD-F-02: a message without RSV1 is delivered unchanged even with the extension active.
#[test]
fn untransformed_message_passes_through() {
    let mut c = with_ext(Role::Server);
    let got = feed_conn(
        &mut c,
        &frame_to(Role::Server, true, OpCode::Text, b"Hello"),
        Split::Whole,
        false,
    );
    assert_eq!(got.events, vec![Event::Text("Hello".into())]);
}

// PMD-F-01: RSV1 on a control frame or a continuation fails with 1002; a fragmented
// transformed message is reassembled before the transform.
#[test]
fn rsv1_only_on_first_data_frame() {
    let mut c = with_ext(Role::Server);
    let got = feed_conn(
        &mut c,
        &frame_rsv_to(Role::Server, true, RSV1, OpCode::Ping, b""),
        Split::Whole,
        false,
    );
    assert_eq!(got.error, Some(ProtocolError::ReservedBits(RSV1)));
    assert_eq!(close_code_on_wire(Role::Server, &got.wire), Some(1002));

    let mut c = with_ext(Role::Server);
    let input = [
        frame_to(Role::Server, false, OpCode::Text, b"a"),
        frame_rsv_to(Role::Server, true, RSV1, OpCode::Continuation, b"b"),
    ]
    .concat();
    let got = feed_conn(&mut c, &input, Split::Whole, false);
    assert_eq!(got.error, Some(ProtocolError::ReservedBits(RSV1)));

    let mut c = with_ext(Role::Server);
    let input = [
        frame_rsv_to(Role::Server, false, RSV1, OpCode::Text, b"ed"),
        frame_to(Role::Server, true, OpCode::Continuation, b"cba"),
    ]
    .concat();
    let got = feed_conn(&mut c, &input, Split::OneByte, false);
    assert_eq!(got.events, vec![Event::Text("abcde".into())]);
}

// FR-03 / HS-N-05: without the extension installed, RSV1 is a protocol error.
#[test]
fn rsv1_without_extension_fails() {
    let got = feed(
        Role::Server,
        &frame_rsv_to(Role::Server, true, RSV1, OpCode::Text, b"x"),
    );
    assert_eq!(got.error, Some(ProtocolError::ReservedBits(RSV1)));
}

// PMD-F-03: the transformed text is UTF-8-checked after the transform.
#[test]
fn text_validated_after_transform() {
    let mut c = with_ext(Role::Server);
    let got = feed_conn(
        &mut c,
        &frame_rsv_to(Role::Server, true, RSV1, OpCode::Text, &[0xac, 0x82, 0xe2]),
        Split::Whole,
        false,
    );
    assert_eq!(
        got.events,
        vec![Event::Text("€".into())],
        "reversed bytes are valid UTF-8"
    );
    let mut c = with_ext(Role::Server);
    let got = feed_conn(
        &mut c,
        &frame_rsv_to(Role::Server, true, RSV1, OpCode::Text, &[0xe2, 0x82, 0xac]),
        Split::Whole,
        false,
    );
    assert_eq!(got.error, Some(ProtocolError::InvalidUtf8));
}

// SEC-11: a message can be sent untransformed (uncompressed) even with the extension active.
#[test]
fn sec11_untransformed_send() {
    let mut c = with_ext(Role::Client);
    c.send_untransformed(rfc6455::MessageType::Text, "secret=1")
        .unwrap();
    assert_eq!(
        c.send_untransformed(rfc6455::MessageType::Text, vec![0xff]),
        Err(rfc6455::SendError::InvalidUtf8)
    );
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    let frames = frames_from(Role::Client, &out.wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].1, &frames[0].3[..]),
        (0, &b"secret=1"[..]),
        "RSV1 clear, payload as given"
    );
}

/// An extension that refuses every transformed message, with a reason longer than a Close
/// frame holds.
#[derive(Debug)]
struct Refuses;

/// 1 + 60 x 2 bytes: with the error's prefix, 138 bytes.
const LONG_REASON: &str = "xéééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé";

impl rfc6455::extensions::Extension for Refuses {
    fn rsv_bits(&self) -> u8 {
        RSV1
    }
    fn encode_message(
        &mut self,
        _opcode: OpCode,
        payload: bytes::Bytes,
    ) -> Result<(bytes::Bytes, u8), &'static str> {
        Ok((payload, 0))
    }
    fn decode_message(
        &mut self,
        _rsv: u8,
        _payload: bytes::Bytes,
        _max_size: u64,
    ) -> Result<bytes::Bytes, ProtocolError> {
        Err(ProtocolError::Extension {
            code: rfc6455::CloseCode::INVALID_PAYLOAD,
            reason: LONG_REASON,
        })
    }
}

// CL-03, CL-04, CL-15: failing the connection sends the error's code and its description as the
// reason; a description longer than a Close frame holds (123 bytes) is cut on a character
// boundary.
#[test]
fn a_failure_close_carries_the_error_cut_to_fit() {
    assert_eq!(LONG_REASON.len(), 121);
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let reserved = match role {
            Role::Server => vec![0x83, 0x80, 0, 0, 0, 0],
            Role::Client => vec![0x83, 0x00],
        };
        let got = feed_conn(&mut c, &reserved, Split::Whole, false);
        assert_eq!(
            got.error,
            Some(ProtocolError::ReservedOpcode(3)),
            "{role:?}"
        );
        assert_eq!(
            close_reason_on_wire(role, &got.wire).as_deref(),
            Some("reserved opcode 0x3"),
            "{role:?}"
        );

        let mut c = conn(role, Config::default());
        c.set_extension(Box::new(Refuses));
        let input = frame_rsv_to(role, true, RSV1, OpCode::Binary, b"data");
        let got = feed_conn(&mut c, &input, Split::Whole, false);
        assert_eq!(close_code_on_wire(role, &got.wire), Some(1007), "{role:?}");
        let reason = close_reason_on_wire(role, &got.wire).expect("a UTF-8 reason");
        let full = format!("extension error: {LONG_REASON}");
        // 123 would cut an `é` in two: one byte less.
        assert_eq!(reason.len(), 122, "{role:?}: {reason}");
        assert!(full.starts_with(&reason), "{role:?}: {reason}");
    }
}
