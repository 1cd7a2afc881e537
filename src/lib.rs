//! `rfc6455`: a sans-IO WebSocket protocol engine (RFC 6455).
//!
//! The crate implements the WebSocket protocol and nothing else: it owns no socket, no
//! runtime, no clock, no thread. Bytes go in, events and bytes to send come out, and the
//! caller supplies the time. It embeds in any event loop (tokio, mio, io_uring, plain
//! threads, embedded) and is easy to fuzz, because every input is a plain argument.
//!
//! ```text
//!    your event loop (tokio / mio / io_uring / std threads / embedded)
//!         |  bytes read          ^ bytes to write         |  now: Instant
//!         v                      |                        v
//!    +------------------------------------------------------------+
//!    |  rfc6455: handshake -> Connection (frames, messages, close) |
//!    +------------------------------------------------------------+
//!         |  events (Text, Binary, Ping, Pong, CloseReceived, Closed)
//!         v
//!    your application
//! ```
//!
//! # The driving loop
//!
//! A [`Connection`] has three kinds of input and three kinds of output:
//!
//! 1. Bytes read from the transport go to [`Connection::handle_input`] (read into its
//!    `BytesMut`), or, when they are already in memory of your own (a TLS `BufRead`'s
//!    `fill_buf`, a provided buffer), to [`Connection::handle_read`], which copies only what
//!    it must; end of stream to [`Connection::handle_eof`]; the clock to
//!    [`Connection::handle_timeout`].
//! 2. The application's commands: [`Connection::send_text`], [`Connection::send_binary`]
//!    (or, from borrowed bytes, [`Connection::send_binary_from_slice`],
//!    [`Connection::send_binary_into`] which also writes everything owed into the caller's
//!    buffer, and [`Connection::send_binary_vectored`], which offers the borrowed bytes
//!    themselves to one vectored write), [`Connection::send_ping`], [`Connection::close`],
//!    the streaming send.
//! 3. After **every** input or command, the embedder MUST, in this order:
//!    - drain [`Connection::poll_event`] to the application, until the terminal
//!      [`Event::Closed`] (the application may send in reply as it goes);
//!    - drain [`Connection::poll_transmit`] to the transport, closing the transport on
//!      [`Transmit::CloseTransport`] (or write the same bytes with a vectored write of
//!      [`Connection::transmit_chunks`], or append them to its own write buffer with
//!      [`Connection::transmit_into`], then call `poll_transmit` for the close);
//!    - re-arm its timer from [`Connection::poll_timeout`].
//!
//! Events come before output because taking an event can queue output: the reply to a
//! peer's Close is queued when [`Event::CloseReceived`] is taken, after whatever the
//! application sent in answer to the messages before it. Output drained first would leave
//! that reply unsent, with no timer armed, until more input came. The output owed after
//! [`Event::Closed`] (the last Close frame, the transport close) must still be written.
//!
//! Protocol violations by the peer are answered by the connection itself: the Close frame
//! with the right code is queued before the error is reported, and later input is ignored.
//!
//! # Example
//!
//! A client and a server connection joined in memory; a real program moves the bytes over
//! a socket instead.
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use rfc6455::{CloseCode, Config, Connection, Event, Role, Transmit};
//!
//! let now = Instant::now();
//! let mut client = Connection::new(Role::Client, Config::default(), now);
//! let mut server = Connection::new(Role::Server, Config::default(), now);
//!
//! // Moves everything `from` wants to send into `to`, the way a socket would.
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     let mut wire = BytesMut::new();
//!     while let Some(t) = from.poll_transmit() {
//!         match t {
//!             Transmit::Bytes(bytes) => wire.extend_from_slice(&bytes),
//!             Transmit::CloseTransport => {} // a socket would be closed here
//!         }
//!     }
//!     if !wire.is_empty() {
//!         // An error means the peer broke the protocol; the Close is already queued.
//!         let _ = to.handle_input(now, &mut wire);
//!     }
//! }
//!
//! client.send_text("Hello")?;
//! pump(&mut client, &mut server, now);
//! assert_eq!(server.poll_event(), Some(Event::Text("Hello".into())));
//!
//! // The server echoes, then the client closes the connection.
//! server.send_text("Hello back")?;
//! pump(&mut server, &mut client, now);
//! assert_eq!(client.poll_event(), Some(Event::Text("Hello back".into())));
//!
//! client.close(now, CloseCode::NORMAL, "done")?;
//! pump(&mut client, &mut server, now);
//! // Taking the Close from the server's events queues its reply (after anything the
//! // application sends in answer to earlier messages); the server then closes first.
//! while let Some(event) = server.poll_event() {
//!     println!("server: {event:?}");
//! }
//! pump(&mut server, &mut client, now);
//! client.handle_eof(); // the server closed the transport
//! while let Some(event) = client.poll_event() {
//!     if let Event::Closed(outcome) = event {
//!         assert!(outcome.clean);
//!         assert_eq!(outcome.code(), CloseCode::NORMAL);
//!     }
//! }
//! # Ok::<(), rfc6455::SendError>(())
//! ```
//!
//! # What is where
//!
//! - [`handshake`]: the opening handshake, server and client (HTTP/1.1 Upgrade).
//! - [`Connection`]: the state machine after the handshake.
//! - [`frame`]: the frame codec (header parse/encode, masking, incremental decoder).
//! - [`close`]: close codes and Close frame bodies.
//! - [`config`]: limits and timeouts, with their defaults.
//! - [`extensions`]: the seam for extensions such as permessage-deflate.
//!
//! # Security notes and what is left to the application
//!
//! - The `Origin` header is a hint from browsers; any other client can send any value, so an
//!   origin check is not authentication (RFC 6455 section 10.1, SEC-06). Authenticate with
//!   ordinary HTTP means (cookies, `Authorization`, TLS client certificates) in the handshake
//!   hook, which sees every request header (SEC-07).
//! - SHA-1 serves only to compute `Sec-WebSocket-Accept`; no security property rests on it
//!   (section 10.8, SEC-10).
//! - TLS (`wss://`) belongs to the transport you supply; the handshake only records whether
//!   the target was secure and picks the default port (SEC-08).
//! - Reconnecting after an abnormal close, with randomised and growing back-off (section
//!   7.2.3, CL-19), is the application's policy; the connection never reconnects or closes on
//!   its own except on a protocol error or a configured timeout (CL-18).
//!
//! # Errors
//!
//! - [`frame::ProtocolError`]: the peer broke the protocol; it knows its close code.
//! - [`handshake::HandshakeError`]: the opening handshake failed; it knows its HTTP status.
//! - [`SendError`]: a command was refused (our misuse, or backpressure).
//! - How a connection ended is not an error but the terminal [`Event::Closed`].
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
mod message;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits, ReceiveMode};
pub use connection::{
    CloseKind, CloseOutcome, Connection, ConnectionState, Event, MessageType, PreparedMessage,
    SendError, Transmit, VectoredSend,
};
pub use error::Error;
pub use utf8::Utf8Bytes;

/// Which end of the connection this endpoint is. Clients mask every frame they send;
/// servers never do (RFC 6455 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that sent the opening handshake request.
    Client,
    /// The endpoint that answered it.
    Server,
}

impl Role {
    /// Whether this is the client.
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Client)
    }

    /// Whether this is the server.
    pub const fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }
}
