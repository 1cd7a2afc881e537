//! The main job: a chat room on one port. A plain HTTP `GET /` serves the page; the page
//! opens a WebSocket to `/chat` on the same port (subprotocol `chat`); every message is
//! broadcast to every connected page, encoded once (`PreparedMessage`) and shared by all
//! connections. One thread, one mio event loop; keepalive pings every 20 s.
//!
//! Run: `cargo run --release --example chat [127.0.0.1:8080]`, then open the printed
//! address in two browser tabs.
//!
//! A page that cannot keep up (more than 1 MiB owed) misses messages instead of slowing
//! the room down.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rfc6455::handshake::{
    AcceptOptions, RequestParser, ServerConfig, ServerStatus, reject_response,
};
use rfc6455::{Config, Connection, Event, PreparedMessage, Role, SendError, Transmit};

const LISTENER: Token = Token(usize::MAX);
const READ_SIZE: usize = 16 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const LINGER: Duration = Duration::from_secs(2);
/// The longest chat message accepted.
const MAX_MESSAGE: u64 = 64 * 1024;

/// The page, served for `GET /`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>rfc6455 chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { list-style: none; padding: 0; border: 1px solid #ccc; height: 20rem; overflow-y: auto; }
  #log li { padding: .2rem .5rem; }
  #log li.notice { color: #777; font-style: italic; }
  form { display: flex; gap: .5rem; margin-top: .5rem; }
  #text { flex: 1; }
</style>
<h1>rfc6455 chat</h1>
<p id="status">connecting…</p>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off" autofocus placeholder="Say something"><button id="send">Send</button></form>
<p><button id="leave">Leave</button></p>
<script>
  const status = document.getElementById('status');
  const log = document.getElementById('log');
  const text = document.getElementById('text');
  const ws = new WebSocket(`ws://${location.host}/chat`, ['chat']);
  window.chat = { ws, closed: null };
  function show(line, notice) {
    const li = document.createElement('li');
    li.textContent = line;
    if (notice) li.className = 'notice';
    log.append(li);
    log.scrollTop = log.scrollHeight;
  }
  ws.onopen = () => { status.textContent = `connected (subprotocol ${ws.protocol})`; };
  ws.onmessage = (e) => show(e.data, e.data.startsWith('* '));
  ws.onclose = (e) => {
    window.chat.closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
    status.textContent = `closed: code ${e.code}${e.wasClean ? ', clean' : ''}`;
  };
  document.getElementById('form').onsubmit = (e) => {
    e.preventDefault();
    if (text.value && ws.readyState === WebSocket.OPEN) ws.send(text.value);
    text.value = '';
  };
  document.getElementById('leave').onclick = () => ws.close(1000, 'bye');
</script>
</html>
"#;

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.limits.max_frame_size = MAX_MESSAGE;
    config.limits.max_message_size = MAX_MESSAGE;
    config
}

enum Phase {
    /// Reading an HTTP request: a page request or the upgrade.
    Request(RequestParser),
    /// An HTTP response is being written; then the transport closes.
    Http,
    /// A member of the room.
    Open(Box<Connection>),
    /// Our half is shut; discarding input until the peer closes, for at most `LINGER`.
    Draining,
}

struct Client {
    socket: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    input: BytesMut,
    /// HTTP bytes to write before any frame (a page, a refusal or the 101).
    head: Vec<u8>,
    readable: bool,
    scheduled: Option<Instant>,
    deadline: Instant,
}

/// The room: every client, free slots, and the timer heap.
struct Room {
    poll: Poll,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Lines to broadcast after the current round of events.
    outgoing: Vec<String>,
    scratch: Vec<u8>,
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(io::Error::other)?;
    let mut listener = TcpListener::bind(addr)?;
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("chat: open http://{}/", listener.local_addr()?);

    let mut room = Room {
        poll,
        clients: Vec::new(),
        free: Vec::new(),
        timers: BinaryHeap::new(),
        outgoing: Vec::new(),
        scratch: vec![0; READ_SIZE],
    };
    let mut events = Events::with_capacity(1024);
    loop {
        let timeout = room
            .timers
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
        if let Err(e) = room.poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut touched = Vec::new();
        for event in events.iter() {
            if event.token() == LISTENER {
                room.accept_all(&listener, &mut touched);
            } else if let Some(Some(client)) = room.clients.get_mut(event.token().0) {
                client.readable |= event.is_readable() || event.is_read_closed();
                touched.push(event.token().0);
            }
        }
        room.expire_timers(&mut touched);
        for id in touched {
            room.drive(id);
        }
        room.broadcast();
    }
}

impl Room {
    fn accept_all(&mut self, listener: &TcpListener, touched: &mut Vec<usize>) {
        loop {
            let (mut socket, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    return;
                }
            };
            let id = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut socket, Token(id), interest)
            {
                eprintln!("register failed: {e}");
                self.free.push(id);
                continue;
            }
            let _ = socket.set_nodelay(true);
            self.clients[id] = Some(Client {
                socket,
                peer,
                phase: Phase::Request(RequestParser::new(ServerConfig::default())),
                input: BytesMut::new(),
                head: Vec::new(),
                readable: true,
                scheduled: None,
                deadline: Instant::now() + HANDSHAKE_TIMEOUT,
            });
            touched.push(id);
        }
    }

    fn expire_timers(&mut self, touched: &mut Vec<usize>) {
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(Some(client)) = self.clients.get_mut(id) else {
                continue;
            };
            if client.scheduled != Some(at) {
                continue; // superseded by an earlier entry
            }
            client.scheduled = None;
            match &mut client.phase {
                Phase::Open(conn) => conn.handle_timeout(now),
                _ if now >= client.deadline => {
                    self.remove(id);
                    continue;
                }
                _ => {}
            }
            touched.push(id);
        }
    }

    fn remove(&mut self, id: usize) {
        if let Some(mut client) = self.clients[id].take() {
            let _ = self.poll.registry().deregister(&mut client.socket);
            self.free.push(id);
        }
    }

    /// Runs one client's loop, then removes it or re-arms its timer.
    fn drive(&mut self, id: usize) {
        let Some(Some(client)) = self.clients.get_mut(id) else {
            return;
        };
        if !drive(client, id, &mut self.scratch, &mut self.outgoing) {
            self.remove(id);
            return;
        }
        let next = match &client.phase {
            Phase::Open(conn) => conn.poll_timeout(),
            _ => Some(client.deadline),
        };
        if let Some(next) = next
            && client.scheduled.is_none_or(|s| next < s)
        {
            client.scheduled = Some(next);
            self.timers.push(Reverse((next, id)));
        }
    }

    /// Sends each pending line to every member: encoded once, queued everywhere.
    fn broadcast(&mut self) {
        if self.outgoing.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.outgoing);
        for line in lines {
            let message = PreparedMessage::text(line);
            for client in self.clients.iter_mut().flatten() {
                if let Phase::Open(conn) = &mut client.phase {
                    match conn.send_prepared(&message) {
                        Ok(()) | Err(SendError::Closed) => {}
                        Err(e) => eprintln!("{}: message dropped: {e}", client.peer),
                    }
                }
            }
        }
        for id in 0..self.clients.len() {
            if matches!(&self.clients[id], Some(c) if matches!(c.phase, Phase::Open(_))) {
                self.drive(id);
            }
        }
    }
}

/// Writes what is owed, then reads and answers while input is available. `false`: drop
/// the client.
fn drive(client: &mut Client, id: usize, scratch: &mut [u8], outgoing: &mut Vec<String>) -> bool {
    loop {
        match flush(client) {
            Ok(true) => {}
            Ok(false) => return true, // the socket is full: wait until writable
            Err(_) => return false,
        }
        if matches!(client.phase, Phase::Http) {
            start_draining(client);
        }
        if !client.readable {
            return true;
        }
        let n = match client.socket.read(scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                client.readable = false;
                return true;
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
                room_events(conn, id, client.peer, outgoing);
            }
            _ if n == 0 => return false,
            Phase::Request(_) => {
                client.input.extend_from_slice(&scratch[..n]);
                request(client, id, outgoing);
            }
            Phase::Http | Phase::Draining => {}
        }
    }
}

/// Turns a member's events into lines for the room.
fn room_events(conn: &mut Connection, id: usize, peer: SocketAddr, outgoing: &mut Vec<String>) {
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Text(text) => outgoing.push(format!("user {id}: {text}")),
            Event::Closed(outcome) => {
                println!(
                    "{peer}: user {id} left, code {}, clean {}",
                    u16::from(outcome.code()),
                    outcome.clean
                );
                outgoing.push(format!("* user {id} left"));
            }
            _ => {}
        }
    }
}

/// Answers an HTTP request: the page, the upgrade to the chat, or an error.
fn request(client: &mut Client, id: usize, outgoing: &mut Vec<String>) {
    let Phase::Request(parser) = &mut client.phase else {
        return;
    };
    let page = |status: u16, content_type: &str, body: &[u8]| {
        let headers = [("Content-Type", content_type), ("Connection", "close")];
        reject_response(status, &headers, body).unwrap_or_default()
    };
    match parser.feed(&mut client.input) {
        Ok(ServerStatus::Partial) => {}
        Ok(ServerStatus::NotUpgrade(req)) => {
            client.head = match (req.method(), req.target()) {
                ("GET", "/") => page(200, "text/html; charset=utf-8", PAGE.as_bytes()),
                _ => page(404, "text/plain", b"not found\n"),
            };
            client.phase = Phase::Http;
        }
        Ok(ServerStatus::Upgrade(req)) if req.path() == "/chat" => {
            let chosen = req.select_subprotocol(&["chat"]);
            match req.accept(&AcceptOptions::new().with_subprotocol(chosen)) {
                Ok((response, negotiated)) => {
                    client.head = response;
                    let mut conn = Connection::from_handshake(
                        Role::Server,
                        &negotiated,
                        config(),
                        Instant::now(),
                    );
                    println!("{}: user {id} joined", client.peer);
                    outgoing.push(format!("* user {id} joined"));
                    let _ = conn.handle_input(Instant::now(), &mut client.input);
                    room_events(&mut conn, id, client.peer, outgoing);
                    client.phase = Phase::Open(Box::new(conn));
                }
                Err(e) => {
                    client.head = e.response().unwrap_or_default();
                    client.phase = Phase::Http;
                }
            }
        }
        Ok(ServerStatus::Upgrade(_)) => {
            client.head = page(404, "text/plain", b"no WebSocket here; try /chat\n");
            client.phase = Phase::Http;
        }
        Ok(_) => client.phase = Phase::Http,
        Err(e) => {
            client.head = e.response().unwrap_or_default();
            client.phase = Phase::Http;
        }
    }
}

fn start_draining(client: &mut Client) {
    let _ = client.socket.shutdown(Shutdown::Write);
    client.phase = Phase::Draining;
    client.deadline = Instant::now() + LINGER;
    client.scheduled = None;
}

/// Writes the HTTP head, then the connection's frames. `Ok(true)`: all written.
fn flush(client: &mut Client) -> io::Result<bool> {
    loop {
        let result = {
            let mut slices = Vec::new();
            if !client.head.is_empty() {
                slices.push(IoSlice::new(&client.head));
            }
            if let Phase::Open(conn) = &mut client.phase {
                slices.extend(conn.transmit_chunks().take(64).map(IoSlice::new));
            }
            if slices.is_empty() {
                break;
            }
            client.socket.write_vectored(&slices)
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
