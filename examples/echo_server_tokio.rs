//! The echo server over tokio: a task per connection, reading straight into the
//! connection's input buffer, answering each batch of input with vectored writes, and a
//! `sleep_until(poll_timeout)` in the `select!` for the timers. Same behaviour as
//! `echo_server`: 16 MiB frames, 64 MiB messages, subprotocols `chat` and `echo`.
//!
//! Run: `cargo run --release --example echo_server_tokio [127.0.0.1:9003]`

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rfc6455::handshake::{AcceptOptions, Negotiated, RequestParser, ServerConfig, ServerStatus};
use rfc6455::{Config, Connection, Event, Role, SendError, Transmit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, timeout};

const SUBPROTOCOLS: &[&str] = &["chat", "echo"];
const READ_SIZE: usize = 64 * 1024;

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.limits.max_buffered_output = 2 * config.limits.max_message_size as usize;
    config
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).await?;
    println!(
        "tokio echo server listening on ws://{}/",
        listener.local_addr()?
    );
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = serve(stream, peer).await {
                eprintln!("{peer}: i/o error: {e}");
            }
        });
    }
}

/// Reads the upgrade request (for at most 10 s) and answers it.
async fn handshake(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<Option<Negotiated>> {
    let mut parser = RequestParser::new(ServerConfig::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match parser.feed(buf) {
            Ok(ServerStatus::Partial) => {
                let read = tokio::time::timeout_at(deadline, stream.read_buf(buf)).await;
                if read.map_err(|_| io::ErrorKind::TimedOut)?? == 0 {
                    return Ok(None);
                }
            }
            Ok(ServerStatus::Upgrade(request)) => {
                let chosen = request.select_subprotocol(SUBPROTOCOLS);
                let options = AcceptOptions::new().with_subprotocol(chosen);
                let (response, negotiated) = request.accept(&options).map_err(io::Error::other)?;
                stream.write_all(&response).await?;
                return Ok(Some(negotiated));
            }
            Ok(ServerStatus::NotUpgrade(_)) => {
                let headers = [("Upgrade", "websocket"), ("Connection", "Upgrade, close")];
                let page = rfc6455::handshake::reject_response(426, &headers, b"WebSocket only\n");
                stream.write_all(&page.map_err(io::Error::other)?).await?;
                return Ok(None);
            }
            Ok(_) => return Ok(None),
            Err(e) => {
                if let Some(response) = e.response() {
                    stream.write_all(&response).await?;
                }
                return Ok(None);
            }
        }
    }
}

async fn serve(mut stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let Some(negotiated) = handshake(&mut stream, &mut buf).await? else {
        return linger_close(stream).await;
    };
    let mut conn = Connection::from_handshake(Role::Server, &negotiated, config(), Instant::now());
    loop {
        if !buf.is_empty()
            && let Err(e) = conn.handle_input(Instant::now(), &mut buf)
        {
            eprintln!("{peer}: protocol error: {e}");
        }
        while let Some(event) = conn.poll_event() {
            let sent = match event {
                Event::Text(text) => conn.send_text(text),
                Event::Binary(data) => conn.send_binary(data),
                _ => Ok(()),
            };
            match sent {
                Ok(()) | Err(SendError::Closed) => {}
                Err(e) => eprintln!("{peer}: echo refused: {e}"),
            }
        }
        if flush(&mut stream, &mut conn).await? {
            return linger_close(stream).await;
        }
        // Wait for input or the connection's next deadline, whichever comes first.
        let far = Instant::now() + Duration::from_secs(3600);
        let deadline = tokio::time::Instant::from_std(conn.poll_timeout().unwrap_or(far));
        buf.reserve(READ_SIZE);
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => conn.handle_eof(),
                Ok(_) => {}
            },
            () = sleep_until(deadline) => conn.handle_timeout(Instant::now()),
        }
    }
}

/// Writes everything owed with vectored writes; returns whether to close the transport.
async fn flush(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<bool> {
    loop {
        let written = {
            let slices: Vec<IoSlice<'_>> =
                conn.transmit_chunks().take(64).map(IoSlice::new).collect();
            if slices.is_empty() {
                break;
            }
            stream.write_vectored(&slices).await?
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

/// Shuts our half, then discards input until the peer closes (for at most 2 s), so unread
/// input does not turn the close into a reset.
async fn linger_close(mut stream: TcpStream) -> io::Result<()> {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = timeout(Duration::from_secs(2), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}
