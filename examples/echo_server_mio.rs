//! An echo server in one thread, embedded in a mio event loop: thousands of connections,
//! non-blocking sockets, and the connections' timers (a keepalive Ping after 20 s without
//! input, the Pong deadline, the close timeout, a 10 s handshake deadline) driven by
//! `poll_timeout` through the timeout of `Poll::poll`. Same behaviour as `echo_server`:
//! 16 MiB frames, 64 MiB messages, subprotocols `chat` and `echo`, replies batched into one
//! vectored write; output that the socket does not take yet stays in the connection and is
//! written when the socket becomes writable, and a connection that owes more than 1 MiB is
//! not read from until it has written it (flow control).
//!
//! Run: `cargo run --release --example echo_server_mio [127.0.0.1:9002]`

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rfc6455::handshake::{AcceptOptions, RequestParser, ServerConfig, ServerStatus};
use rfc6455::{Config, Connection, Event, Role, Transmit};

const LISTENER: Token = Token(usize::MAX);
const SUBPROTOCOLS: &[&str] = &["chat", "echo"];
const READ_SIZE: usize = 64 * 1024;
/// A connection owing more than this is not read from until it has written it out.
const HIGH_WATER: usize = 1 << 20;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const LINGER: Duration = Duration::from_secs(2);

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    // With reads paused above HIGH_WATER, one batch owes at most a message plus one read.
    config.limits.max_buffered_output = 2 * config.limits.max_message_size as usize;
    config
}

/// Where a client is in its life.
enum Phase {
    /// Reading the upgrade request.
    Handshake(RequestParser),
    /// The upgrade was refused: write the HTTP response, then close.
    Refused,
    /// A WebSocket connection.
    Open(Box<Connection>),
    /// Our half is shut; reading and discarding until the peer closes (bounded by a
    /// deadline), so unread input cannot turn the close into a reset.
    Draining,
}

struct Client {
    socket: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    input: BytesMut,
    /// An HTTP response head to write before any frame.
    head: Vec<u8>,
    /// Edge-triggered readiness: the socket may have more to read.
    readable: bool,
    /// The deadline of this client's entry in the timer heap.
    scheduled: Option<Instant>,
    /// The handshake or linger deadline.
    deadline: Instant,
}

/// What driving a client led to.
#[derive(PartialEq)]
enum Next {
    Keep,
    Drop,
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into())
        .parse()
        .map_err(io::Error::other)?;
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!(
        "mio echo server listening on ws://{}/",
        listener.local_addr()?
    );

    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; READ_SIZE];

    loop {
        // Sleep until a socket is ready or the earliest deadline passes.
        let timeout = timers
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut touched = Vec::new();
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut clients, &mut free, &mut touched);
                continue;
            }
            let id = event.token().0;
            if let Some(Some(client)) = clients.get_mut(id) {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    client.readable = true;
                }
                touched.push(id);
            }
        }
        // Deadlines that passed.
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = timers.peek() {
            if at > now {
                break;
            }
            timers.pop();
            let Some(Some(client)) = clients.get_mut(id) else {
                continue;
            };
            if client.scheduled != Some(at) {
                continue; // replaced by an earlier entry
            }
            client.scheduled = None;
            match &mut client.phase {
                Phase::Open(conn) => conn.handle_timeout(now),
                // The handshake or the linger took too long.
                _ if now >= client.deadline => {
                    remove(&poll, &mut clients, &mut free, id);
                    continue;
                }
                _ => {}
            }
            touched.push(id);
        }
        for id in touched {
            let Some(Some(client)) = clients.get_mut(id) else {
                continue;
            };
            if drive(client, &mut scratch) == Next::Drop {
                remove(&poll, &mut clients, &mut free, id);
                continue;
            }
            // Re-arm the timer; a later deadline keeps the earlier entry (an early
            // handle_timeout is harmless), so the heap holds about one entry per client.
            let next = match &client.phase {
                Phase::Open(conn) => conn.poll_timeout(),
                _ => Some(client.deadline),
            };
            if let Some(next) = next
                && client.scheduled.is_none_or(|s| next < s)
            {
                client.scheduled = Some(next);
                timers.push(Reverse((next, id)));
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    clients: &mut Vec<Option<Client>>,
    free: &mut Vec<usize>,
    touched: &mut Vec<usize>,
) {
    loop {
        let (mut socket, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("accept failed: {e}");
                return;
            }
        };
        let id = free.pop().unwrap_or_else(|| {
            clients.push(None);
            clients.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = poll.registry().register(&mut socket, Token(id), interest) {
            eprintln!("register failed: {e}");
            free.push(id);
            continue;
        }
        let _ = socket.set_nodelay(true);
        clients[id] = Some(Client {
            socket,
            peer,
            phase: Phase::Handshake(RequestParser::new(ServerConfig::default())),
            input: BytesMut::new(),
            head: Vec::new(),
            readable: true,
            scheduled: None,
            deadline: Instant::now() + HANDSHAKE_TIMEOUT,
        });
        touched.push(id);
    }
}

fn remove(poll: &Poll, clients: &mut [Option<Client>], free: &mut Vec<usize>, id: usize) {
    if let Some(mut client) = clients[id].take() {
        let _ = poll.registry().deregister(&mut client.socket);
        free.push(id);
    }
}

/// Writes what is owed, then reads and answers as long as the socket has input and the
/// client owes little: the whole per-client loop.
fn drive(client: &mut Client, scratch: &mut [u8]) -> Next {
    loop {
        match flush(client) {
            Ok(true) => {}
            Ok(false) => return Next::Keep, // blocked: wait until writable
            Err(_) => return Next::Drop,
        }
        if matches!(client.phase, Phase::Refused) {
            // The refusal was written.
            start_draining(client);
        }
        if !client.readable || owed(client) > HIGH_WATER {
            return Next::Keep;
        }
        let n = match client.socket.read(scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                client.readable = false;
                return Next::Keep;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        match &mut client.phase {
            Phase::Open(conn) => {
                if n == 0 {
                    conn.handle_eof();
                } else {
                    client.input.extend_from_slice(&scratch[..n]);
                    let _ = conn.handle_input(Instant::now(), &mut client.input);
                }
                echo(conn);
            }
            Phase::Handshake(_) | Phase::Refused | Phase::Draining if n == 0 => {
                return Next::Drop;
            }
            Phase::Handshake(_) => {
                client.input.extend_from_slice(&scratch[..n]);
                handshake(client);
            }
            Phase::Refused => {}
            Phase::Draining => {}
        }
    }
}

/// Advances the handshake with the input so far.
fn handshake(client: &mut Client) {
    let Phase::Handshake(parser) = &mut client.phase else {
        return;
    };
    match parser.feed(&mut client.input) {
        Ok(ServerStatus::Partial) => {}
        Ok(ServerStatus::Upgrade(request)) => {
            let chosen = request.select_subprotocol(SUBPROTOCOLS);
            match request.accept(&AcceptOptions::new().with_subprotocol(chosen)) {
                Ok((response, negotiated)) => {
                    client.head = response;
                    let mut conn = Box::new(Connection::from_handshake(
                        Role::Server,
                        &negotiated,
                        config(),
                        Instant::now(),
                    ));
                    // Frames the client sent right behind its request.
                    let _ = conn.handle_input(Instant::now(), &mut client.input);
                    echo(&mut conn);
                    client.phase = Phase::Open(conn);
                }
                Err(e) => refuse(client, e.response().unwrap_or_default()),
            }
        }
        Ok(ServerStatus::NotUpgrade(_)) => {
            let headers = [("Upgrade", "websocket"), ("Connection", "Upgrade, close")];
            let page = rfc6455::handshake::reject_response(426, &headers, b"WebSocket only\n");
            refuse(client, page.unwrap_or_default());
        }
        Ok(_) => refuse(client, Vec::new()),
        Err(e) => {
            let response = e.response().unwrap_or_default();
            eprintln!("{}: handshake refused: {e}", client.peer);
            refuse(client, response);
        }
    }
}

fn refuse(client: &mut Client, response: Vec<u8>) {
    client.head = response;
    client.phase = Phase::Refused;
}

fn start_draining(client: &mut Client) {
    let _ = client.socket.shutdown(Shutdown::Write);
    client.phase = Phase::Draining;
    client.deadline = Instant::now() + LINGER;
    client.scheduled = None;
}

/// Echoes every message; the rest of the events need nothing from an echo server.
fn echo(conn: &mut Connection) {
    while let Some(event) = conn.poll_event() {
        let sent = match event {
            Event::Text(text) => conn.send_text(text),
            Event::Binary(data) => conn.send_binary(data),
            _ => Ok(()),
        };
        if let Err(e) = sent {
            // Closed: the peer's Close came in the same batch. Backpressure cannot happen
            // with reads paused at HIGH_WATER, but a refusal is only logged anyway.
            if e != rfc6455::SendError::Closed {
                eprintln!("echo refused: {e}");
            }
        }
    }
}

fn owed(client: &Client) -> usize {
    client.head.len()
        + match &client.phase {
            Phase::Open(conn) => conn.buffered_amount(),
            _ => 0,
        }
}

/// Writes the HTTP head, then the connection's output, with vectored writes. `Ok(true)`:
/// everything owed was written; `Ok(false)`: the socket is full.
fn flush(client: &mut Client) -> io::Result<bool> {
    loop {
        let result = {
            // On the stack: no allocation per write.
            let mut slices = [IoSlice::new(&[]); 65];
            let mut n = 0;
            if !client.head.is_empty() {
                slices[0] = IoSlice::new(&client.head);
                n = 1;
            }
            if let Phase::Open(conn) = &mut client.phase {
                for chunk in conn.transmit_chunks().take(64) {
                    slices[n] = IoSlice::new(chunk);
                    n += 1;
                }
            }
            if n == 0 {
                break;
            }
            client.socket.write_vectored(&slices[..n])
        };
        let mut written = match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let from_head = written.min(client.head.len());
        client.head.drain(..from_head);
        written -= from_head;
        if let Phase::Open(conn) = &mut client.phase {
            conn.advance_transmit(written);
        }
    }
    if let Phase::Open(conn) = &mut client.phase
        && let Some(Transmit::CloseTransport) = conn.poll_transmit()
    {
        start_draining(client);
    }
    Ok(true)
}
