//! A command-line WebSocket client on `std::net`: connects to a `ws://` URL, sends each line
//! of standard input as a text message, prints every message that comes back (text as is,
//! one per line; binary as a size), and closes with 1000 when standard input ends. Logs go
//! to standard error. The exit status is 0 when the connection closed cleanly.
//!
//! Run: `cargo run --release --example client -- ws://127.0.0.1:9001/ [subprotocol...]`
//!
//! One thread owns the connection; a thread reading standard input and a thread reading the
//! socket send what they get over a channel, and the channel's receive timeout is the
//! connection's next deadline (keepalive pings every 20 s, the close timeout).

use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rfc6455::handshake::{ClientConfig, ClientHandshake, ClientStatus, Negotiated};
use rfc6455::{CloseCode, Config, Connection, Event, Role, Transmit};

/// What the connection's thread waits for.
enum Input {
    Line(String),
    StdinEnd,
    Bytes(Vec<u8>),
    SocketEnd,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let mut config = ClientConfig::default();
    for protocol in args {
        config = config.with_subprotocol(protocol);
    }
    match run(&url, config) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Opens the TCP connection and performs the opening handshake. Returns the stream, what
/// was agreed, and any bytes that followed the 101 response (already frames).
fn connect(url: &str, config: ClientConfig) -> io::Result<(TcpStream, Negotiated, BytesMut)> {
    let mut handshake = ClientHandshake::new(url, config).map_err(io::Error::other)?;
    let target = handshake.target();
    if target.is_secure() {
        return Err(io::Error::other(
            "wss:// needs TLS, which this example does not do",
        ));
    }
    let mut stream = TcpStream::connect((target.host(), target.port()))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(handshake.request())?;
    let mut buf = BytesMut::new();
    let mut scratch = [0u8; 4096];
    loop {
        match handshake.feed(&mut buf).map_err(io::Error::other)? {
            ClientStatus::Partial => {
                let n = stream.read(&mut scratch)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&scratch[..n]);
            }
            ClientStatus::Accepted(negotiated) => {
                stream.set_read_timeout(None)?;
                return Ok((stream, negotiated, buf));
            }
            ClientStatus::Rejected(response) => {
                return Err(io::Error::other(format!(
                    "the server refused the upgrade: {} {}",
                    response.status(),
                    response.reason()
                )));
            }
            _ => return Err(io::Error::other("unexpected handshake status")),
        }
    }
}

fn run(url: &str, config: ClientConfig) -> io::Result<bool> {
    let (mut stream, negotiated, mut buf) = connect(url, config)?;
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    let mut conn = Connection::from_handshake(Role::Client, &negotiated, config, Instant::now());
    eprintln!("connected to {url}, subprotocol {:?}", conn.subprotocol());

    let (tx, rx) = mpsc::channel();
    spawn_stdin_reader(tx.clone());
    spawn_socket_reader(stream.try_clone()?, tx);

    let mut clean = false;
    let mut closed = false;
    let mut transport_closed = false;
    loop {
        if !buf.is_empty()
            && let Err(e) = conn.handle_input(Instant::now(), &mut buf)
        {
            eprintln!("protocol error: {e}");
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Text(text) => println!("{text}"),
                Event::Binary(data) => println!("<{} bytes of binary>", data.len()),
                Event::Ping(_) | Event::Pong(_) => {}
                Event::CloseReceived(frame) => eprintln!("the server closes: {frame:?}"),
                Event::Closed(outcome) => {
                    eprintln!(
                        "closed: code {}, clean {}, {:?}",
                        u16::from(outcome.code()),
                        outcome.clean,
                        outcome.kind
                    );
                    clean = outcome.clean;
                    closed = true;
                }
                _ => {}
            }
        }
        transport_closed |= flush(&mut stream, &mut conn)?;
        if closed && transport_closed {
            return Ok(clean);
        }
        let input = match conn.poll_timeout() {
            Some(deadline) => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match input {
            Ok(Input::Line(line)) => {
                if let Err(e) = conn.send_text(line) {
                    eprintln!("not sent: {e}");
                }
            }
            Ok(Input::StdinEnd) => {
                // Ignored when the connection is already closing.
                let _ = conn.close(Instant::now(), CloseCode::NORMAL, "end of input");
            }
            Ok(Input::Bytes(bytes)) => buf.extend_from_slice(&bytes),
            Ok(Input::SocketEnd) | Err(RecvTimeoutError::Disconnected) => conn.handle_eof(),
            Err(RecvTimeoutError::Timeout) => conn.handle_timeout(Instant::now()),
        }
    }
}

/// Writes everything owed; returns whether the transport was closed.
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
    if let Some(Transmit::CloseTransport) = conn.poll_transmit() {
        let _ = stream.shutdown(Shutdown::Both);
        return Ok(true);
    }
    Ok(false)
}

fn spawn_stdin_reader(tx: Sender<Input>) {
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if tx.send(Input::Line(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("standard input: {e}");
                    break;
                }
            }
        }
        let _ = tx.send(Input::StdinEnd);
    });
}

fn spawn_socket_reader(mut stream: TcpStream, tx: Sender<Input>) {
    std::thread::spawn(move || {
        let mut scratch = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut scratch) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::SocketEnd);
                    return;
                }
                Ok(n) => {
                    if tx.send(Input::Bytes(scratch[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}
