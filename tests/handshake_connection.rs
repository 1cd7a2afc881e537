//! From the opening handshake to the connection: bytes after either head are frames
//! (HS-X-01, HS-X-02), the 101 opens the connection (HS-R-05), and nothing is sent before it
//! (HS-C-11).

mod common;

use bytes::BytesMut;
use common::*;
use rfc6455::handshake::{
    AcceptOptions, ClientConfig, ClientHandshake, ClientStatus, RequestParser, ServerConfig,
    ServerStatus,
};
use rfc6455::{Config, Connection, Event, Role};

fn upgrade(request: &[u8]) -> (Vec<u8>, rfc6455::handshake::Negotiated, BytesMut) {
    let mut parser = RequestParser::new(ServerConfig::default());
    let mut buf = BytesMut::from(request);
    let ServerStatus::Upgrade(req) = parser.feed(&mut buf).unwrap() else {
        panic!("not an upgrade")
    };
    let sub = req.select_subprotocol(&["chat"]).map(str::to_owned);
    let (response, negotiated) = req
        .accept(&AcceptOptions::new().with_subprotocol(sub.as_deref()))
        .unwrap();
    (response, negotiated, buf)
}

// HS-X-02, HS-R-05: a client frame sent right behind the request reaches the connection.
#[test]
fn hs_x_02_frames_after_request_head_are_delivered() {
    let mut client = ClientHandshake::with_nonce(
        "ws://example.com/chat",
        ClientConfig::default().with_subprotocol("chat"),
        [7; 16],
    )
    .unwrap();
    let mut wire = client.request().to_vec();
    wire.extend(frame_to(
        Role::Server,
        true,
        rfc6455::frame::OpCode::Text,
        b"early",
    ));
    let (response, negotiated, mut rest) = upgrade(&wire);
    assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    let mut server = Connection::from_handshake(Role::Server, &negotiated, Config::default(), t0());
    assert_eq!(server.subprotocol(), Some("chat"));
    server.handle_input(t0(), &mut rest).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Text("early".into())));
    // HS-R-05: after the 101 the server sends unmasked frames.
    server.send_text("x").unwrap();
    let Some(rfc6455::Transmit::Bytes(out)) = server.poll_transmit() else {
        panic!()
    };
    assert_eq!(&out[..], &[0x81, 0x01, 0x78]);

    // The client validates the 101; bytes after it are frames.
    let mut inbox = BytesMut::from(&response[..]);
    inbox.extend_from_slice(&out);
    let ClientStatus::Accepted(n) = client.feed(&mut inbox).unwrap() else {
        panic!("not accepted")
    };
    assert_eq!(n.subprotocol.as_deref(), Some("chat"));
    let mut conn = Connection::from_handshake(Role::Client, &n, Config::default(), t0());
    conn.handle_input(t0(), &mut inbox).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Text("x".into())));
}

// HS-X-01: one buffer with a 101 response and a frame, fed in every split: Open, then Text.
#[test]
fn hs_x_01_frames_after_101_in_every_split() {
    let client =
        ClientHandshake::with_nonce("ws://example.com/", ClientConfig::default(), [1; 16]).unwrap();
    let (response, _, _) = upgrade(client.request());
    let mut wire = response.clone();
    wire.extend_from_slice(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    for split in SPLITS {
        let mut hs = client.clone();
        let mut buf = BytesMut::new();
        let mut conn: Option<Connection> = None;
        let mut events = Vec::new();
        for piece in pieces(&wire, split) {
            buf.extend_from_slice(piece);
            if conn.is_none() {
                match hs.feed(&mut buf).unwrap() {
                    ClientStatus::Partial => continue,
                    ClientStatus::Accepted(n) => {
                        conn = Some(Connection::from_handshake(
                            Role::Client,
                            &n,
                            Config::default(),
                            t0(),
                        ))
                    }
                    other => panic!("{other:?}"),
                }
            }
            let c = conn.as_mut().unwrap();
            c.handle_input(t0(), &mut buf).unwrap();
            while let Some(e) = c.poll_event() {
                events.push(e);
            }
        }
        assert_eq!(events, vec![Event::Text("Hello".into())], "{split:?}");
    }
}

// HS-C-11: before the response is accepted, the only thing a client can send is the request:
// there is no Connection until `Accepted`, so no frame can be produced.
#[test]
fn hs_c_11_nothing_before_the_response() {
    let mut client =
        ClientHandshake::with_nonce("ws://example.com/", ClientConfig::default(), [2; 16]).unwrap();
    let request = client.request().to_vec();
    assert!(request.ends_with(b"\r\n\r\n"));
    let mut partial = BytesMut::from(&b"HTTP/1.1 101 Switching Protocols\r\n"[..]);
    assert!(matches!(
        client.feed(&mut partial).unwrap(),
        ClientStatus::Partial
    ));
    assert_eq!(
        client.request(),
        &request[..],
        "still only the request to send"
    );
}
