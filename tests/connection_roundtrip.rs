//! proptest: random message sequences (sizes, fragmentation, interleaved pings) survive
//! client -> server -> client unchanged, in any input split.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use rfc6455::{Config, Event, MessageType, Role};

#[derive(Clone, Debug)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Streamed(bool, Vec<Vec<u8>>),
    Ping(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<String>().prop_map(Op::Text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Op::Binary),
        (
            any::<bool>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5)
        )
            .prop_map(|(t, p)| Op::Streamed(t, p)),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
    ]
}

fn send(c: &mut rfc6455::Connection, op: &Op) -> Option<Event> {
    match op {
        Op::Text(s) => {
            c.send_text(s.as_str()).unwrap();
            Some(Event::Text(s.as_str().into()))
        }
        Op::Binary(b) => {
            c.send_binary(b.clone()).unwrap();
            Some(Event::Binary(b.clone().into()))
        }
        Op::Streamed(text, parts) => {
            let kind = if *text {
                MessageType::Text
            } else {
                MessageType::Binary
            };
            c.begin_message(kind).unwrap();
            let mut all = Vec::new();
            for p in parts {
                // Text parts: send bytes of a lossy string so the whole stays valid UTF-8.
                let bytes = if *text {
                    String::from_utf8_lossy(p).into_owned().into_bytes()
                } else {
                    p.clone()
                };
                all.extend_from_slice(&bytes);
                c.continue_message(bytes).unwrap();
                c.send_ping(Bytes::from_static(b"mid")).unwrap();
            }
            c.finish_message(Bytes::new()).unwrap();
            Some(if *text {
                Event::Text(String::from_utf8(all).unwrap().into())
            } else {
                Event::Binary(all.into())
            })
        }
        Op::Ping(p) => {
            c.send_ping(p.clone()).unwrap();
            None
        }
    }
}

fn messages(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .filter(|e| matches!(e, Event::Text(_) | Event::Binary(_)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn messages_survive_client_server_client(ops in proptest::collection::vec(op(), 1..12), seed in any::<u64>(), frame_size in 1usize..2000) {
        let mut config = Config::default();
        config.max_send_frame_size = frame_size;
        let mut client = conn(Role::Client, config.clone());
        let mut server = conn(Role::Server, config);
        let expect: Vec<Event> = ops.iter().filter_map(|op| send(&mut client, op)).collect();
        // Client -> server, in random pieces.
        let mut wire = Outcome::default();
        drain(&mut client, &mut wire);
        let got = feed_conn(&mut server, &wire.wire, Split::Random(seed), false);
        prop_assert_eq!(got.error, None);
        // The server's pongs went out while it read; the echoes follow.
        let mut back = Outcome { events: vec![], wire: got.wire.clone(), closed_transport: false, error: None };
        let pings = got.events.iter().filter(|e| matches!(e, Event::Ping(_))).count();
        let received = messages(got.events);
        prop_assert_eq!(&received, &expect);
        // Echo back: server -> client.
        for e in &received {
            match e {
                Event::Text(t) => server.send_text(t.clone()).unwrap(),
                Event::Binary(b) => server.send_binary(b.clone()).unwrap(),
                _ => unreachable!(),
            }
        }
        drain(&mut server, &mut back);
        let got = feed_conn(&mut client, &back.wire, Split::Random(seed ^ 1), false);
        prop_assert_eq!(got.error, None);
        let pongs = got.events.iter().filter(|e| matches!(e, Event::Pong(_))).count();
        prop_assert_eq!(pongs, pings, "every ping answered");
        prop_assert_eq!(messages(got.events), expect);
    }
}
