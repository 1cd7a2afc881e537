//! The closing matrix: local, remote, simultaneous, timeout and EOF, in each state, for both
//! roles (CL-01 to CL-20).

mod common;

use std::time::Duration;

use common::*;
use rfc6455::connection::Timeout;
use rfc6455::frame::OpCode;
use rfc6455::{
    CloseCode, CloseFrame, CloseKind, Config, ConnectionState, Event, Role, SendError, Transmit,
};

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

// CL-01, CL-08, CL-10, CL-11, CL-17: the client closes; the server echoes and closes the
// transport first; the client sees the server's EOF; both outcomes clean.
#[test]
fn cl08_client_initiated_close() {
    let mut p = Pair::default_pair();
    assert_eq!(p.client.state(), ConnectionState::Open);
    p.client.close(p.now, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(p.client.state(), ConnectionState::Closing);
    p.drive();
    assert_eq!(p.server.state(), ConnectionState::Closed);
    assert_eq!(p.client.state(), ConnectionState::Closed);
    assert!(
        p.server_closed_transport,
        "CL-10: the server closes the transport first"
    );
    let s = p.take_server_events();
    assert_eq!(
        s[0],
        Event::CloseReceived(Some(CloseFrame::new(CloseCode::NORMAL, "bye").unwrap()))
    );
    let so = closed_outcome(&s);
    assert_eq!(
        (so.kind.clone(), so.clean, so.code(), so.reason()),
        (CloseKind::Normal, true, CloseCode::NORMAL, "bye")
    );
    let c = p.take_client_events();
    let co = closed_outcome(&c);
    assert_eq!(
        (co.kind.clone(), co.clean, co.code()),
        (CloseKind::Normal, true, CloseCode::NORMAL)
    );
}

// CL-07, CL-10: the server closes; the client echoes; the server closes the transport.
#[test]
fn cl07_server_initiated_close_echoes_code() {
    let mut p = Pair::default_pair();
    p.server.close(p.now, CloseCode(4000), "x").unwrap();
    p.drive();
    let c = p.take_client_events();
    assert_eq!(
        c[0],
        Event::CloseReceived(Some(CloseFrame::new(CloseCode(4000), "x").unwrap()))
    );
    let co = closed_outcome(&c);
    assert_eq!(
        co.sent,
        Some(Some(CloseFrame::new(CloseCode(4000), "").unwrap())),
        "the code is echoed"
    );
    assert!(co.clean);
    let so = closed_outcome(&p.server_events);
    assert_eq!((so.code(), so.clean), (CloseCode(4000), true));
}

// CL-07, CL-13: an empty Close is answered with an empty Close; the code reported is 1005.
#[test]
fn cl13_empty_close_reports_1005() {
    for role in [Role::Server, Role::Client] {
        let got = feed(role, &frame_to(role, true, OpCode::Close, b""));
        let frames = frames_from(role, &got.wire);
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].2, frames[0].3.len()), (OpCode::Close, 0));
        assert_eq!(got.events[0], Event::CloseReceived(None));
        if role == Role::Server {
            let o = closed_outcome(&got.events);
            assert_eq!((o.code(), o.reason()), (CloseCode::NO_STATUS_RECEIVED, ""));
            assert!(got.closed_transport);
        } else {
            // CL-11: the client waits for the server to close the transport.
            assert!(!got.closed_transport);
            assert_eq!(got.events.len(), 1);
        }
    }
}

// CL-09: after the peer's Close, nothing more is processed: no pong, no second reply, no
// message (Autobahn 7.1.2-7.1.5).
#[test]
fn cl09_input_after_close_is_ignored() {
    for role in [Role::Server, Role::Client] {
        let input = [
            frame_to(role, true, OpCode::Close, &close_payload(1000, "")),
            frame_to(role, true, OpCode::Ping, b""),
            frame_to(role, true, OpCode::Close, &close_payload(1000, "")),
            frame_to(role, true, OpCode::Text, b"late"),
        ]
        .concat();
        let got = feed(role, &input);
        let frames = frames_from(role, &got.wire);
        assert_eq!(
            frames.len(),
            1,
            "{role:?}: only the Close reply: {frames:?}"
        );
        assert_eq!(frames[0].2, OpCode::Close);
        assert!(
            !got.events
                .iter()
                .any(|e| matches!(e, Event::Text(_) | Event::Ping(_)))
        );
    }
}

// CL-12: simultaneous close: each side treats the other's Close as the reply and sends no
// second one; the reported code is the peer's.
#[test]
fn cl12_simultaneous_close() {
    let mut p = Pair::default_pair();
    p.client.close(p.now, CloseCode::NORMAL, "").unwrap();
    p.server.close(p.now, CloseCode::GOING_AWAY, "").unwrap();
    p.drive();
    let so = closed_outcome(&p.server_events).clone();
    let co = closed_outcome(&p.client_events).clone();
    assert_eq!(so.code(), CloseCode::NORMAL);
    assert_eq!(co.code(), CloseCode::GOING_AWAY);
    assert!(so.clean && co.clean);
    assert_eq!(
        so.sent,
        Some(Some(CloseFrame::new(CloseCode::GOING_AWAY, "").unwrap()))
    );
}

// CL-13, CL-16, CL-17: EOF while open is 1006, not clean; EOF in CLOSING before the peer's
// Close is not clean either.
#[test]
fn cl16_eof_while_open_or_closing() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let got = feed_conn(&mut c, b"", Split::Whole, true);
        let o = closed_outcome(&got.events);
        assert_eq!(
            (o.code(), o.clean, o.kind.clone()),
            (CloseCode::ABNORMAL, false, CloseKind::TransportClosed)
        );
        assert!(got.closed_transport);

        let mut c = conn(role, Config::default());
        c.close(t0(), CloseCode::NORMAL, "").unwrap();
        let got = feed_conn(&mut c, b"", Split::Whole, true);
        let o = closed_outcome(&got.events);
        assert_eq!((o.code(), o.clean), (CloseCode::ABNORMAL, false));
    }
}

// CL-20: our Close is never answered: after the close timeout the transport closes, 1006.
#[test]
fn cl20_close_handshake_timeout() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_secs(3));
    let mut p = Pair::new(config.clone(), config);
    p.hold_to_server = true; // the server never sees the client's Close
    p.client.close(p.now, CloseCode::NORMAL, "").unwrap();
    p.drive();
    assert_eq!(p.client.poll_timeout(), Some(t0() + Duration::from_secs(3)));
    p.client.handle_timeout(t0() + Duration::from_millis(2999));
    assert_eq!(
        p.client.state(),
        ConnectionState::Closing,
        "an early call is harmless"
    );
    p.advance(Duration::from_millis(2999));
    assert_eq!(p.client.state(), ConnectionState::Closing);
    p.advance(Duration::from_millis(1));
    assert!(p.client_closed_transport);
    let o = closed_outcome(&p.client_events);
    assert_eq!(
        (o.code(), o.clean, o.kind.clone()),
        (
            CloseCode::ABNORMAL,
            false,
            CloseKind::TimedOut(Timeout::CloseHandshake)
        )
    );
}

// CL-11: the client waits for the server to close the transport, then gives up.
#[test]
fn cl11_client_waits_for_server_transport_close() {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_secs(2));
    let mut c = conn(Role::Client, config);
    let got = feed_conn(
        &mut c,
        &frame_to(Role::Client, true, OpCode::Close, &close_payload(1000, "")),
        Split::Whole,
        false,
    );
    assert!(!got.closed_transport);
    assert_eq!(c.state(), ConnectionState::Closing);
    c.handle_timeout(t0() + Duration::from_secs(1));
    assert_eq!(
        c.state(),
        ConnectionState::Closing,
        "early calls are harmless"
    );
    c.handle_timeout(t0() + Duration::from_secs(2));
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert!(out.closed_transport);
    let o = closed_outcome(&out.events);
    assert_eq!(
        (o.kind.clone(), o.clean, o.code()),
        (
            CloseKind::TimedOut(Timeout::TransportClose),
            true,
            CloseCode::NORMAL
        )
    );
}

// CL-06, FR-32: local misuse is refused with a typed error and nothing is sent.
#[test]
fn cl06_fr32_local_misuse_refused() {
    let mut c = conn(Role::Server, Config::default());
    for code in [1005u16, 1006, 1015, 999, 5000] {
        assert!(
            matches!(
                c.close(t0(), CloseCode(code), ""),
                Err(SendError::CloseFrame(_))
            ),
            "{code}"
        );
    }
    assert!(matches!(
        c.close(t0(), CloseCode::NORMAL, &"a".repeat(124)),
        Err(SendError::CloseFrame(_))
    ));
    assert_eq!(c.buffered_amount(), 0);
    c.close(t0(), CloseCode(4000), "x").unwrap();
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    assert_eq!(out.wire, vec![0x88, 0x03, 0x0f, 0xa0, 0x78]);
    assert_eq!(c.send_text("a"), Err(SendError::Closed));
    assert_eq!(c.send_ping(&b"p"[..]), Err(SendError::Closed));
    assert_eq!(c.close(t0(), CloseCode::NORMAL, ""), Err(SendError::Closed));
    assert_eq!(c.buffered_amount(), 0);
}

// CL-18: the library never closes on its own without a request, an error or a timeout.
#[test]
fn cl18_no_spontaneous_close() {
    let mut p = Pair::default_pair();
    p.client.send_text("hi").unwrap();
    p.advance(Duration::from_secs(3600));
    assert_eq!(p.client.state(), ConnectionState::Open);
    assert_eq!(p.server.state(), ConnectionState::Open);
    assert_eq!(p.take_server_events(), vec![Event::Text("hi".into())]);
}

// CL-07: a Close received while our streamed message is unfinished is answered at once; the
// message is abandoned.
#[test]
fn cl07_close_during_streamed_send() {
    let mut c = conn(Role::Server, Config::default());
    c.begin_message(rfc6455::MessageType::Binary).unwrap();
    c.continue_message(vec![1u8; 4]).unwrap();
    let got = feed_conn(
        &mut c,
        &frame_to(Role::Server, true, OpCode::Close, &close_payload(1001, "")),
        Split::Whole,
        false,
    );
    let frames = frames_from(Role::Server, &got.wire);
    assert_eq!(frames.last().unwrap().2, OpCode::Close);
    assert_eq!(c.finish_message(vec![]), Err(SendError::Closed));
}

// Exactly one terminal event, whatever happens after it.
#[test]
fn exactly_one_closed_event() {
    let mut c = conn(Role::Server, Config::default());
    let mut all = feed_conn(
        &mut c,
        &frame_to(Role::Server, true, OpCode::Close, b""),
        Split::Whole,
        true,
    )
    .events;
    c.handle_eof();
    c.handle_timeout(t0() + Duration::from_secs(100));
    while let Some(e) = c.poll_event() {
        all.push(e);
    }
    closed_outcome(&all);
    assert_eq!(c.poll_transmit(), None);
}

// CL-07 (Autobahn 7.1.1), CL-10, CL-11: a message and the Close in one read: the
// application's answer to the message goes before the Close reply, which is queued when the
// application takes CloseReceived. One pass of the documented loop (events, then output,
// then the timer) completes it: nothing is left owed, the server has closed the transport
// with no timer armed, the client waits for that under the close timeout.
#[test]
fn cl07_answer_to_message_before_close_reply() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let input = [
            frame_to(role, true, OpCode::Text, b"Hello World"),
            frame_to(role, true, OpCode::Close, &close_payload(1000, "")),
        ]
        .concat();
        let mut buf = bytes::BytesMut::from(&input[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        assert_eq!(c.state(), ConnectionState::Closing);
        let mut out = Outcome::default();
        while let Some(e) = c.poll_event() {
            if let Event::Text(t) = &e {
                c.send_text(t.clone()).unwrap();
            }
            out.events.push(e);
        }
        for _ in 0..10 {
            match c.poll_transmit() {
                Some(Transmit::Bytes(b)) => out.wire.extend_from_slice(&b),
                Some(Transmit::CloseTransport) => out.closed_transport = true,
                None => break,
            }
        }
        assert_eq!(c.poll_transmit(), None);
        assert_eq!(c.buffered_amount(), 0, "{role:?}: nothing left owed");
        let timer = (role == Role::Client).then(|| t0() + Duration::from_secs(10));
        assert_eq!(c.poll_timeout(), timer, "{role:?}");
        assert_eq!(
            out.events.last().map(|e| matches!(e, Event::Closed(_))),
            Some(role == Role::Server),
            "{role:?}: the server's Closed came with the events"
        );
        assert_eq!(
            opcodes_and_payloads(role, &out.wire),
            vec![
                (OpCode::Text, bytes::Bytes::from_static(b"Hello World")),
                (OpCode::Close, bytes::Bytes::from_static(&[0x03, 0xe8]))
            ],
            "{role:?}"
        );
        assert_eq!(out.closed_transport, role == Role::Server);
        assert_eq!(
            c.send_text("late"),
            Err(SendError::Closed),
            "nothing after our Close"
        );
    }
}

// CL-07: the application may reply to the peer's Close with its own code.
#[test]
fn cl07_reply_with_own_code() {
    let mut c = conn(Role::Server, Config::default());
    let mut buf = bytes::BytesMut::from(
        &frame_to(
            Role::Server,
            true,
            OpCode::Close,
            &close_payload(1001, "bye"),
        )[..],
    );
    c.handle_input(t0(), &mut buf).unwrap();
    c.close(t0(), CloseCode(4001), "app says").unwrap();
    let got = feed_conn(&mut c, b"", Split::Whole, false);
    assert_eq!(close_code_on_wire(Role::Server, &got.wire), Some(4001));
    let o = closed_outcome(&got.events);
    assert_eq!((o.code(), o.clean), (CloseCode::GOING_AWAY, true));
    assert_eq!(c.close(t0(), CloseCode::NORMAL, ""), Err(SendError::Closed));
}

/// The states a connection can be put in for the closing matrix.
#[derive(Clone, Copy, Debug)]
enum Start {
    Open,
    /// We sent Close.
    CloseSent,
    /// The peer's Close arrived, our reply is not out yet.
    CloseReceived,
    /// Client: the handshake completed, waiting for the server's transport close.
    AwaitingTransportClose,
    Closed,
}

fn start(role: Role, state: Start) -> rfc6455::Connection {
    let mut config = Config::default();
    config.close_timeout = Some(Duration::from_secs(5));
    let mut c = conn(role, config);
    let close = frame_to(role, true, OpCode::Close, &close_payload(1000, ""));
    let mut buf = bytes::BytesMut::new();
    match state {
        Start::Open => {}
        Start::CloseSent => c.close(t0(), CloseCode::NORMAL, "").unwrap(),
        // The peer's Close is in, but the application has not taken it yet.
        Start::CloseReceived => {
            buf.extend_from_slice(&close);
            c.handle_input(t0(), &mut buf).unwrap();
            return c;
        }
        Start::AwaitingTransportClose | Start::Closed => {
            buf.extend_from_slice(&close);
            c.handle_input(t0(), &mut buf).unwrap();
            let eof = state == Start::Closed;
            let _ = feed_conn(&mut c, b"", Split::Whole, eof);
        }
    }
    let _ = feed_conn(&mut c, b"", Split::Whole, false);
    c
}

impl PartialEq for Start {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

// CL-01, CL-08 to CL-17, CL-20: every closing action in every state, both roles, followed by
// the usual drain (output, events, output): the state after it, whether a Close goes on the
// wire, and how clean the outcome is when the connection ended.
#[test]
fn closing_matrix() {
    #[derive(Clone, Copy, Debug)]
    enum Action {
        LocalClose,
        RemoteClose,
        Eof,
        Timeout,
    }
    use ConnectionState::{Closed as C, Closing as G, Open as O};
    // (start, action) -> (state after: server, client; a Close written; clean if it ended)
    type Row = (
        Start,
        Action,
        ConnectionState,
        ConnectionState,
        bool,
        Option<bool>,
    );
    let table: &[Row] = &[
        (Start::Open, Action::LocalClose, G, G, true, None),
        (Start::Open, Action::RemoteClose, C, G, true, Some(true)),
        (Start::Open, Action::Eof, C, C, false, Some(false)),
        (Start::Open, Action::Timeout, O, O, false, None),
        (Start::CloseSent, Action::LocalClose, G, G, false, None),
        (
            Start::CloseSent,
            Action::RemoteClose,
            C,
            G,
            false,
            Some(true),
        ),
        (Start::CloseSent, Action::Eof, C, C, false, Some(false)),
        (Start::CloseSent, Action::Timeout, C, C, false, Some(false)),
        (
            Start::CloseReceived,
            Action::LocalClose,
            C,
            G,
            true,
            Some(true),
        ),
        (
            Start::CloseReceived,
            Action::RemoteClose,
            C,
            G,
            true,
            Some(true),
        ),
        (Start::CloseReceived, Action::Eof, C, C, false, Some(false)),
        (
            Start::CloseReceived,
            Action::Timeout,
            C,
            G,
            true,
            Some(true),
        ),
    ];
    for role in [Role::Server, Role::Client] {
        for &(st, action, server_after, client_after, close_written, clean) in table {
            let mut c = start(role, st);
            match action {
                Action::LocalClose => {
                    let _ = c.close(t0(), CloseCode::GOING_AWAY, "");
                }
                Action::RemoteClose => {
                    let mut buf = bytes::BytesMut::from(
                        &frame_to(role, true, OpCode::Close, &close_payload(1001, ""))[..],
                    );
                    c.handle_input(t0(), &mut buf).unwrap();
                }
                Action::Eof => c.handle_eof(),
                Action::Timeout => c.handle_timeout(t0() + Duration::from_secs(6)),
            }
            let mut out = Outcome::default();
            drain(&mut c, &mut out);
            let expect = if role == Role::Server {
                server_after
            } else {
                client_after
            };
            assert_eq!(c.state(), expect, "{role:?} {st:?} {action:?}");
            let wrote_close = frames_from(role, &out.wire)
                .iter()
                .any(|f| f.2 == OpCode::Close);
            assert_eq!(
                wrote_close, close_written,
                "{role:?} {st:?} {action:?}: Close on the wire"
            );
            // A client that completed the handshake is still waiting for the server's EOF.
            let ended = c.state() == C;
            match clean {
                Some(clean) if ended => assert_eq!(
                    closed_outcome(&out.events).clean,
                    clean,
                    "{role:?} {st:?} {action:?}"
                ),
                _ => assert!(
                    !out.events.iter().any(|e| matches!(e, Event::Closed(_))),
                    "{role:?} {st:?} {action:?}"
                ),
            }
        }
    }
    // Closed and AwaitingTransportClose: every action is inert except EOF ending the client's
    // wait cleanly.
    for st in [Start::AwaitingTransportClose, Start::Closed] {
        let mut c = start(Role::Client, st);
        assert!(c.close(t0(), CloseCode::NORMAL, "").is_err());
        let mut buf =
            bytes::BytesMut::from(&frame_to(Role::Client, true, OpCode::Text, b"late")[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        assert!(buf.is_empty(), "input discarded (CL-09)");
        let out = feed_conn(&mut c, b"", Split::Whole, true);
        assert!(out.wire.is_empty());
        if st == Start::AwaitingTransportClose {
            assert!(
                closed_outcome(&out.events).clean,
                "EOF after the handshake is clean (CL-17)"
            );
        } else {
            assert!(out.events.is_empty());
        }
        assert_eq!(c.state(), C);
    }
}

// CL-08, FR-28, FR-32: after our Close, input still arrives until the peer's Close: its
// messages and Pings are delivered, but no Pong follows our Close (RFC 6455 section 1.4:
// after sending a Close a peer sends nothing further; tungstenite does the same). A Pong
// owed from before our Close goes out ahead of it.
#[test]
fn cl08_after_our_close_no_pong_but_input_still_delivered() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role, Config::default());
        let mut buf = bytes::BytesMut::from(&frame_to(role, true, OpCode::Ping, b"before")[..]);
        c.handle_input(t0(), &mut buf).unwrap();
        c.close(t0(), CloseCode::NORMAL, "").unwrap();
        let input = [
            frame_to(role, true, OpCode::Ping, b"after"),
            frame_to(role, true, OpCode::Text, b"late message"),
        ]
        .concat();
        let got = feed_conn(&mut c, &input, Split::Whole, false);
        assert_eq!(
            opcodes_and_payloads(role, &got.wire),
            vec![
                (OpCode::Pong, bytes::Bytes::from_static(b"before")),
                (OpCode::Close, bytes::Bytes::from_static(&[0x03, 0xe8])),
            ],
            "{role:?}"
        );
        assert_eq!(
            got.events,
            vec![
                Event::Ping(bytes::Bytes::from_static(b"before")),
                Event::Ping(bytes::Bytes::from_static(b"after")),
                Event::Text("late message".into()),
            ],
            "{role:?}"
        );
        assert_eq!(c.state(), ConnectionState::Closing);
    }
}
