//! An echo server on `std::net`, one thread per connection. It echoes text and binary
//! messages (up to 16 MiB frames and 64 MiB messages, enough for Autobahn 9.x), answers each
//! batch of input with one vectored write, speaks the subprotocols `chat` and `echo` (the
//! first one a client offers is selected) and logs connects and closes.
//!
//! Run: `cargo run --release --example echo_server [127.0.0.1:9001]`
//! Try: `cargo run --release --example client ws://127.0.0.1:9001/`

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rfc6455::handshake::{AcceptOptions, Negotiated, RequestParser, ServerConfig, ServerStatus};
use rfc6455::{Config, Connection, Event, Role, SendError, Transmit};

/// The subprotocols this server speaks, in its order of preference.
const SUBPROTOCOLS: &[&str] = &["chat", "echo"];
/// How much one read asks for.
const READ_SIZE: usize = 256 * 1024;

/// Limits for an echo server: default frame and message limits (16 MiB, 64 MiB), and an
/// output buffer large enough to echo a whole batch of messages at once.
fn config() -> Config {
    let mut config = Config::default();
    config.limits.max_buffered_output = 2 * config.limits.max_message_size as usize;
    config
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "echo server listening on ws://{}/",
        listener.local_addr().unwrap()
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    let peer = stream.peer_addr().ok();
                    if let Err(e) = serve(stream) {
                        println!("{peer:?}: i/o error: {e}");
                    }
                });
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Reads once into `buf`; returns the number of bytes read (0 at end of stream).
fn read_some(stream: &mut TcpStream, buf: &mut BytesMut, scratch: &mut [u8]) -> io::Result<usize> {
    let n = stream.read(scratch)?;
    buf.extend_from_slice(&scratch[..n]);
    Ok(n)
}

/// Reads the upgrade request and answers it. `None` when the peer went away or was refused.
fn handshake(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    scratch: &mut [u8],
) -> io::Result<Option<Negotiated>> {
    let mut parser = RequestParser::new(ServerConfig::default());
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    loop {
        match parser.feed(buf) {
            Ok(ServerStatus::Partial) => {
                if read_some(stream, buf, scratch)? == 0 {
                    return Ok(None);
                }
            }
            Ok(ServerStatus::Upgrade(request)) => {
                let chosen = request.select_subprotocol(SUBPROTOCOLS);
                let options = AcceptOptions::new().with_subprotocol(chosen);
                let (response, negotiated) = request
                    .accept(&options)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                stream.write_all(&response)?;
                return Ok(Some(negotiated));
            }
            Ok(ServerStatus::NotUpgrade(request)) => {
                let body = b"This is a WebSocket echo server.\n";
                let headers = [
                    ("Upgrade", "websocket"),
                    // Upgrade is listed in Connection when sent (RFC 9110 section 7.8).
                    ("Connection", "Upgrade, close"),
                    ("Content-Type", "text/plain"),
                ];
                let response = rfc6455::handshake::reject_response(426, &headers, body)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                println!("plain HTTP {} {}: 426", request.method(), request.target());
                stream.write_all(&response)?;
                return Ok(None);
            }
            Ok(_) => return Ok(None),
            Err(e) => {
                println!("handshake refused: {e}");
                if let Some(response) = e.response() {
                    stream.write_all(&response)?;
                }
                return Ok(None);
            }
        }
    }
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_nodelay(true)?;
    let mut scratch = vec![0u8; READ_SIZE];
    let mut buf = BytesMut::new();
    let Some(negotiated) = handshake(&mut stream, &mut buf, &mut scratch)? else {
        linger_close(&mut stream);
        return Ok(());
    };
    let mut conn = Connection::from_handshake(Role::Server, &negotiated, config(), Instant::now());
    println!("{peer}: connected, subprotocol {:?}", conn.subprotocol());

    // The loop: feed what was read (the first round: frames sent right behind the
    // request), echo, write everything owed at once, read again.
    loop {
        if !buf.is_empty()
            && let Err(e) = conn.handle_input(Instant::now(), &mut buf)
        {
            println!("{peer}: protocol error: {e}");
        }
        echo_events(&mut conn, peer, &mut stream)?;
        if flush(&mut stream, &mut conn)? {
            linger_close(&mut stream);
            return Ok(());
        }
        // Block until input arrives or the connection's next deadline passes.
        let timeout = conn.poll_timeout().map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(timeout)?;
        match read_some(&mut stream, &mut buf, &mut scratch) {
            Ok(0) => conn.handle_eof(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                conn.handle_timeout(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                println!("{peer}: read failed: {e}");
                conn.handle_eof();
            }
        }
    }
}

/// Echoes every message received and logs the end of the connection.
fn echo_events(conn: &mut Connection, peer: SocketAddr, stream: &mut TcpStream) -> io::Result<()> {
    while let Some(event) = conn.poll_event() {
        let sent = match event {
            Event::Text(text) => send(stream, conn, |c| c.send_text(text.clone()))?,
            Event::Binary(data) => send(stream, conn, |c| c.send_binary(data.clone()))?,
            Event::Closed(outcome) => {
                println!(
                    "{peer}: closed, code {} reason {:?}, clean {}, {:?}",
                    u16::from(outcome.code()),
                    outcome.reason(),
                    outcome.clean,
                    outcome.kind
                );
                Ok(())
            }
            _ => Ok(()),
        };
        match sent {
            // The peer's Close came in the same batch: nothing more may be sent.
            Ok(()) | Err(SendError::Closed) => {}
            Err(e) => println!("{peer}: echo refused: {e}"),
        }
    }
    Ok(())
}

/// Runs a send command; when the output is over its high-water mark, writes it out first
/// and tries once more.
fn send(
    stream: &mut TcpStream,
    conn: &mut Connection,
    mut command: impl FnMut(&mut Connection) -> Result<(), SendError>,
) -> io::Result<Result<(), SendError>> {
    match command(conn) {
        Err(SendError::Backpressure { .. }) => {
            flush(stream, conn)?;
            Ok(command(conn))
        }
        other => Ok(other),
    }
}

/// Writes everything owed with vectored writes; returns whether to close the transport.
fn flush(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<bool> {
    loop {
        let written = {
            let slices: Vec<IoSlice<'_>> = conn.transmit_chunks().map(IoSlice::new).collect();
            if slices.is_empty() {
                break;
            }
            stream.write_vectored(&slices)?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        conn.advance_transmit(written);
    }
    Ok(matches!(
        conn.poll_transmit(),
        Some(Transmit::CloseTransport)
    ))
}

/// Closes our half, then reads (bounded) until the peer closes its half, so that unread
/// input does not turn the close into a reset that could destroy our last frames.
fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 4096];
    for _ in 0..256 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
