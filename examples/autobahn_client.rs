//! The Autobahn|Testsuite client, on `std::net`: asks the fuzzing server for
//! `getCaseCount`, runs every case `runCase?case=N&agent=rfc6455` as an echo client (text
//! and binary echoed as received), then asks for `updateReports?agent=rfc6455`.
//!
//! Run the fuzzing server (`wstest -m fuzzingserver`, by default on port 9001), then:
//! `cargo run --release --example autobahn_client -- ws://127.0.0.1:9001`
//! and read the reports the server writes (`reports/clients/index.html`).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rfc6455::handshake::{ClientConfig, ClientHandshake, ClientStatus};
use rfc6455::{Config, Connection, Event, Role, SendError, Transmit};

const AGENT: &str = "rfc6455";

fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    if let Err(e) = run(base) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(base: &str) -> io::Result<()> {
    let mut count = None;
    session(&format!("{base}/getCaseCount"), |_, event| {
        if let Event::Text(text) = event {
            count = text.trim().parse::<u32>().ok();
        }
    })?;
    let count = count.ok_or_else(|| io::Error::other("getCaseCount gave no number"))?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let mut echoed = 0u64;
        let outcome = session(&url, |conn, event| {
            let sent = match event {
                Event::Text(text) => conn.send_text(text),
                Event::Binary(data) => conn.send_binary(data),
                _ => return,
            };
            match sent {
                Ok(()) => echoed += 1,
                Err(SendError::Closed) => {}
                Err(e) => eprintln!("case {case}: echo refused: {e}"),
            }
        });
        match outcome {
            Ok(code) => println!("case {case}/{count}: {echoed} echoed, closed with {code}"),
            Err(e) => println!("case {case}/{count}: {e}"),
        }
    }
    session(&format!("{base}/updateReports?agent={AGENT}"), |_, _| {})?;
    println!("reports updated");
    Ok(())
}

/// Echo-client limits: 16 MiB frames, 64 MiB messages, room to echo a whole batch, and a
/// 60 s idle timeout so that a stuck case cannot hang the run.
fn config() -> Config {
    let mut config = Config::default();
    config.limits.max_buffered_output = 2 * config.limits.max_message_size as usize;
    config.idle_timeout = Some(Duration::from_secs(60));
    config
}

/// Connects to `url`, hands every event to `on_event` (which may send), and runs the
/// connection to its end. Returns the close code.
fn session(url: &str, mut on_event: impl FnMut(&mut Connection, Event)) -> io::Result<u16> {
    let mut handshake =
        ClientHandshake::new(url, ClientConfig::default()).map_err(io::Error::other)?;
    let target = handshake.target();
    let mut stream = TcpStream::connect((target.host(), target.port()))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(handshake.request())?;
    let mut buf = BytesMut::new();
    let mut scratch = vec![0u8; 256 * 1024];
    let negotiated = loop {
        match handshake.feed(&mut buf).map_err(io::Error::other)? {
            ClientStatus::Partial => {
                let n = stream.read(&mut scratch)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&scratch[..n]);
            }
            ClientStatus::Accepted(negotiated) => break negotiated,
            ClientStatus::Rejected(response) => {
                return Err(io::Error::other(format!("refused: {}", response.status())));
            }
            _ => return Err(io::Error::other("unexpected handshake status")),
        }
    };
    let mut conn = Connection::from_handshake(Role::Client, &negotiated, config(), Instant::now());
    let mut code = None;
    loop {
        if !buf.is_empty() {
            let _ = conn.handle_input(Instant::now(), &mut buf);
        }
        while let Some(event) = conn.poll_event() {
            if let Event::Closed(outcome) = &event {
                code = Some(u16::from(outcome.code()));
            }
            on_event(&mut conn, event);
        }
        // Everything owed, in as few writes as the socket allows.
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
        }
        if let Some(code) = code {
            return Ok(code);
        }
        let timeout = conn.poll_timeout().map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        stream.set_read_timeout(timeout)?;
        match stream.read(&mut scratch) {
            Ok(0) => conn.handle_eof(),
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                conn.handle_timeout(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => conn.handle_eof(),
        }
    }
}
