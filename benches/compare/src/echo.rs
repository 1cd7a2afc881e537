//! The echo row: one load client (raw pre-encoded masked frames, not any of the libraries)
//! against our `echo_server_mio` example and a minimal idiomatic echo server per peer, each
//! in its own process on 127.0.0.1.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mio::{Events, Interest, Poll, Token};

use crate::libs::Lib;
use crate::{Row, Unit, median};

const CONNECTIONS: usize = 64;
const WINDOW: usize = 32;
const PAYLOAD: usize = 16;
/// Distinct pre-encoded frames; message `k` of a connection is frame `k % FRAMES`.
const FRAMES: usize = 256;
const RUN_TIME: Duration = Duration::from_secs(2);
const MAX_MESSAGES: u64 = 20_000_000;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn payload(k: usize) -> [u8; PAYLOAD] {
    std::array::from_fn(|i| (k * 31 + i * 7) as u8)
}

/// Masked client frames, encoded here byte by byte.
fn frames() -> Vec<[u8; 6 + PAYLOAD]> {
    (0..FRAMES)
        .map(|k| {
            let key = [(k as u8) ^ 0x5a, 0x11, 0x22, (k as u8).wrapping_mul(3)];
            let mut f = [0u8; 6 + PAYLOAD];
            f[0] = 0x82;
            f[1] = 0x80 | PAYLOAD as u8;
            f[2..6].copy_from_slice(&key);
            for (i, b) in payload(k).iter().enumerate() {
                f[6 + i] = b ^ key[i % 4];
            }
            f
        })
        .collect()
}

struct Conn {
    socket: mio::net::TcpStream,
    sent: u64,
    received: u64,
    input: Vec<u8>,
    output: Vec<u8>,
}

/// Drives the load against `addr` for [`RUN_TIME`]; returns verified echoes per second.
pub(crate) fn load(addr: SocketAddr) -> f64 {
    let frames = frames();
    let mut poll = Poll::new().unwrap();
    let mut conns = Vec::new();
    for id in 0..CONNECTIONS {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(REQUEST).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "handshake cut short");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        s.set_nonblocking(true).unwrap();
        let mut socket = mio::net::TcpStream::from_std(s);
        poll.registry()
            .register(&mut socket, Token(id), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        conns.push(Conn { socket, sent: 0, received: 0, input: Vec::new(), output: Vec::new() });
    }
    let start = Instant::now();
    let deadline = start + RUN_TIME;
    let mut total: u64 = 0;
    let mut sending = true;
    for c in conns.iter_mut() {
        queue(c, &frames, &mut total, sending);
        flush(c);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut elapsed = None;
    loop {
        if sending && (Instant::now() >= deadline || total >= MAX_MESSAGES) {
            sending = false;
            elapsed = Some(start.elapsed());
        }
        if !sending && conns.iter().all(|c| c.received == c.sent) {
            break;
        }
        assert!(start.elapsed() < RUN_TIME * 5, "echoes stopped arriving");
        poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            loop {
                match c.socket.read(&mut buf) {
                    Ok(0) => panic!("server closed the connection"),
                    Ok(n) => c.input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            verify(c);
            queue(c, &frames, &mut total, sending);
            flush(c);
        }
    }
    let elapsed = elapsed.unwrap();
    let echoed: u64 = conns.iter().map(|c| c.received).sum();
    // Every echo verified; the rate counts those sent before the deadline.
    echoed.min(total) as f64 / elapsed.as_secs_f64()
}

/// Checks the echoes at the front of the input, in order.
fn verify(c: &mut Conn) {
    let mut at = 0;
    while c.input.len() - at >= 2 + PAYLOAD {
        assert_eq!(&c.input[at..at + 2], &[0x82, PAYLOAD as u8], "not an unmasked 16 B binary frame");
        let k = (c.received % FRAMES as u64) as usize;
        assert_eq!(c.input[at + 2..at + 2 + PAYLOAD], payload(k), "wrong echo");
        c.received += 1;
        at += 2 + PAYLOAD;
    }
    c.input.drain(..at);
}

/// Tops the window up.
fn queue(c: &mut Conn, frames: &[[u8; 6 + PAYLOAD]], total: &mut u64, sending: bool) {
    while sending && c.sent - c.received < WINDOW as u64 {
        c.output.extend_from_slice(&frames[(c.sent % FRAMES as u64) as usize]);
        c.sent += 1;
        *total += 1;
    }
}

fn flush(c: &mut Conn) {
    while !c.output.is_empty() {
        match c.socket.write(&c.output) {
            Ok(n) => {
                c.output.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
}

fn wait_listening(addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "server at {addr} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(lib: Lib, addr: SocketAddr) -> Server {
    let exe = std::env::current_exe().unwrap();
    let child = match lib {
        Lib::Ours => Command::new(exe.with_file_name("echo_server_mio"))
            .arg(addr.to_string())
            .stdout(std::process::Stdio::null())
            .spawn(),
        _ => Command::new(exe).args(["serve", lib.name(), &addr.to_string()]).spawn(),
    }
    .expect("start the echo server");
    wait_listening(addr);
    Server(child)
}

pub(crate) fn echo_row(reps: usize) -> Row {
    let servers: Vec<(Lib, SocketAddr, Server)> = Lib::ALL
        .iter()
        .enumerate()
        .map(|(i, &lib)| {
            let addr: SocketAddr = format!("127.0.0.1:{}", 39100 + i).parse().unwrap();
            (lib, addr, start(lib, addr))
        })
        .collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for r in 0..reps {
        for k in 0..servers.len() {
            let i = (r + k) % servers.len();
            rates[i].push(load(servers[i].1));
        }
    }
    // Stored as seconds per message, like the other rows' medians and runs.
    let runs = servers
        .iter()
        .zip(&rates)
        .map(|((lib, _, _), r)| (*lib, r.iter().map(|rate| 1.0 / rate).collect()))
        .collect();
    let medians = servers
        .iter()
        .zip(rates.iter_mut())
        .map(|((lib, _, _), r)| (*lib, Some(1.0 / median(r))))
        .collect();
    drop(servers);
    Row {
        name: format!("echo over loopback, {CONNECTIONS} connections x {PAYLOAD} B, window {WINDOW}"),
        unit: Unit::MsgsPerSec,
        medians,
        runs,
        target: ">= 5x each peer",
        goal: 5.0,
        note: "verified echoes per second, median of 2 s runs; ours: examples/echo_server_mio.rs (one thread); tungstenite: a thread per connection; fastwebsockets and tokio-websockets: a task per connection on a current-thread tokio runtime (fastwebsockets' handshake done by rfc6455, its server handshake needs hyper)".into(),
    }
}

/// The peers' echo servers: `serve <library> <addr>`.
pub(crate) fn serve(lib: &str, addr: &str) {
    match lib {
        "tungstenite" => {
            let listener = std::net::TcpListener::bind(addr).unwrap();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                std::thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let Ok(mut ws) = tungstenite::accept(stream) else { return };
                    while let Ok(msg) = ws.read() {
                        if (msg.is_binary() || msg.is_text()) && ws.send(msg).is_err() {
                            return;
                        }
                    }
                });
            }
        }
        "fastwebsockets" => crate::libs::runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        tokio::task::spawn_local(fastwebsockets_echo(stream));
                    }
                })
                .await
        }),
        "tokio-websockets" => crate::libs::runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        tokio::task::spawn_local(async move {
                            let _ = stream.set_nodelay(true);
                            let Ok((_, mut ws)) = tokio_websockets::ServerBuilder::new().accept(stream).await else {
                                return;
                            };
                            while let Some(Ok(msg)) = ws.next().await {
                                if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                })
                .await
        }),
        other => panic!("no server for {other}"),
    }
}

async fn fastwebsockets_echo(mut stream: tokio::net::TcpStream) {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket};
    use rfc6455::handshake::{AcceptOptions, RequestParser, ServerStatus};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    // The upgrade (fastwebsockets' own needs hyper); not part of what is measured.
    let mut buf = bytes::BytesMut::new();
    let mut parser = RequestParser::default();
    let request = loop {
        if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        match parser.feed(&mut buf) {
            Ok(ServerStatus::Upgrade(request)) => break request,
            Ok(ServerStatus::Partial) => {}
            _ => return,
        }
    };
    let Ok((response, _)) = request.accept(&AcceptOptions::new()) else { return };
    if stream.write_all(&response).await.is_err() {
        return;
    }
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    while let Ok(frame) = ws.read_frame().await {
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                let reply = Frame::new(true, frame.opcode, None, frame.payload);
                if ws.write_frame(reply).await.is_err() {
                    return;
                }
            }
            OpCode::Close => return,
            _ => {}
        }
    }
}
