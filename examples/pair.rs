//! A client and a server `Connection` joined in memory: messages, a ping, and the close
//! handshake, with every event printed. No sockets, no threads.
//!
//! Run: `cargo run --release --example pair`

use std::time::Instant;

use bytes::BytesMut;
use rfc6455::{CloseCode, Config, Connection, Role, Transmit};

/// Moves what `from` has to send into `to`; returns whether `from` asked to close the
/// transport.
fn pump(name: &str, from: &mut Connection, to: &mut Connection, now: Instant) -> bool {
    let mut wire = BytesMut::new();
    let mut close = false;
    while let Some(t) = from.poll_transmit() {
        match t {
            Transmit::Bytes(bytes) => wire.extend_from_slice(&bytes),
            Transmit::CloseTransport => close = true,
        }
    }
    if !wire.is_empty() {
        println!("{name} -> {} bytes", wire.len());
        if let Err(e) = to.handle_input(now, &mut wire) {
            println!("peer of {name} failed the connection: {e}");
        }
    }
    close
}

fn print_events(name: &str, conn: &mut Connection) {
    while let Some(event) = conn.poll_event() {
        println!("{name} event: {event:?}");
    }
}

fn main() -> Result<(), rfc6455::SendError> {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default(), now);
    let mut server = Connection::new(Role::Server, Config::default(), now);

    client.send_text("Hello, server")?;
    client.send_binary(vec![1u8, 2, 3])?;
    client.send_ping(&b"are you there"[..])?;
    pump("client", &mut client, &mut server, now);
    print_events("server", &mut server);

    server.send_text("Hello, client")?;
    pump("server", &mut server, &mut client, now);
    print_events("client", &mut client);

    client.close(now, CloseCode::NORMAL, "bye")?;
    pump("client", &mut client, &mut server, now);
    // Taking the Close event queues the server's reply.
    print_events("server", &mut server);
    let server_closed = pump("server", &mut server, &mut client, now);
    if server_closed {
        println!("server closes the transport");
        client.handle_eof();
    }
    print_events("client", &mut client);
    Ok(())
}
