//! Connection configuration and limits, with documented defaults.

use std::time::Duration;

/// Size limits. Every limit is checked before memory is committed.
///
/// A limit means what it says, 0 included: a `max_frame_size` of 0 accepts only empty
/// frames, a `max_buffered_output` of 0 refuses every send. For no limit, use the type's
/// `MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest payload of one received frame. Default: 16 MiB. Larger frames fail the
    /// connection with 1009 as soon as their header arrives (FR-14).
    pub max_frame_size: u64,
    /// The largest received message, after reassembly. Default: 64 MiB. Each continuation
    /// frame is charged [`FRAGMENT_OVERHEAD`](Limits::FRAGMENT_OVERHEAD) bytes on top of its
    /// payload (the first frame only its payload, so an unfragmented message may be exactly
    /// this long),
    /// so a flood of empty or tiny continuation frames also reaches the limit (1009, FR-33).
    /// In [`ReceiveMode::Streaming`] nothing is reassembled and this limit does not apply
    /// (`max_frame_size` still does), except to a message an extension transforms (RSV bits
    /// set), which is reassembled whole.
    pub max_message_size: u64,
    /// Pongs owed for received pings and not yet handed to the transport. Default: 16. When
    /// more pings arrive, the oldest owed pong is dropped: answering only the newest ping is
    /// allowed (RFC 6455 section 5.5.3, FR-29).
    pub max_pending_pongs: usize,
    /// Output high-water mark in bytes. Default: 1 MiB. A send is refused with
    /// [`SendError::Backpressure`](crate::connection::SendError::Backpressure) while the
    /// buffered output is at or above it; a send that starts below it is accepted whole.
    /// The automatic pongs and Close frames are never refused (the application's own
    /// `send_ping` and `send_pong` are, like data). A keepalive Ping falling due while the
    /// output is at or above it is not queued (nor are owed pongs moved into the output):
    /// it counts as sent, so a peer that does not read our output is failed by the pong
    /// timeout rather than making the output grow every keepalive interval.
    pub max_buffered_output: usize,
}

impl Limits {
    /// Bytes charged to the message budget per received continuation frame, in addition to
    /// its payload: 32. A 4 MiB message in 64-byte fragments (Autobahn 9.3.1) is charged 6 MiB,
    /// well within the default 64 MiB, while a stream of empty continuation frames is cut
    /// off after two million frames.
    pub const FRAGMENT_OVERHEAD: u64 = 32;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_pending_pongs: 16,
            max_buffered_output: 1 << 20,
        }
    }
}

/// How received messages are delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveMode {
    /// Whole messages (`Event::Text`, `Event::Binary`). The default.
    #[default]
    Whole,
    /// Message data as it arrives (`Event::TextChunk`, `Event::BinaryChunk`), for messages
    /// larger than memory. Text chunks end on character boundaries. A message an installed
    /// extension transforms (its first frame carries the extension's RSV bits) is the
    /// exception: it is reassembled, transformed and delivered whole (`Event::Text`,
    /// `Event::Binary`), under `max_message_size`.
    Streaming,
}

/// The configuration of a [`Connection`](crate::connection::Connection).
///
/// A timeout too long for `Instant` to represent its deadline (`Duration::MAX`, say, for
/// "practically never") works as `None`: no deadline, never a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Size limits.
    pub limits: Limits,
    /// Outgoing messages longer than this are sent as several frames. Default: 16 MiB. 0
    /// works as 1.
    pub max_send_frame_size: usize,
    /// How long to wait for the peer's Close after ours, and (client) for the server to close
    /// the transport after the close handshake. Default: 10 s. `None`: wait forever.
    pub close_timeout: Option<Duration>,
    /// Send a Ping when nothing was received for this long. Default: off.
    pub keepalive_interval: Option<Duration>,
    /// Fail the connection (1011) when a keepalive Ping gets no Pong for this long.
    /// Default: 20 s. Only keepalive pings arm it.
    pub pong_timeout: Option<Duration>,
    /// Close the connection (1001) when nothing was received for this long. Default: off.
    pub idle_timeout: Option<Duration>,
    /// Whole messages or streaming. Default: whole.
    pub receive_mode: ReceiveMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_send_frame_size: 16 << 20,
            close_timeout: Some(Duration::from_secs(10)),
            keepalive_interval: None,
            pong_timeout: Some(Duration::from_secs(20)),
            idle_timeout: None,
            receive_mode: ReceiveMode::Whole,
        }
    }
}
