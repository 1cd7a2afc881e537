//! The auto traits an embedder relies on: a connection, its handshakes and its codec move
//! between threads (a tokio task, a worker pool), and every error type fits in
//! `Box<dyn Error + Send + Sync>` (anyhow, `?` in an async task). A field that is not Send
//! (an `Rc`, a non-Send extension or key source) would break every multi-threaded embedder;
//! these are checked at compile time.

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn connection_handshakes_and_codec_are_send() {
    send::<rfc6455::Connection>();
    send::<rfc6455::handshake::ClientHandshake>();
    send::<rfc6455::handshake::RequestParser>();
    send::<rfc6455::frame::FrameDecoder>();
    send::<rfc6455::frame::FrameEncoder>();
}

#[test]
fn shared_values_are_send_and_sync() {
    send_sync::<rfc6455::Event>();
    send_sync::<rfc6455::Utf8Bytes>();
    send_sync::<rfc6455::PreparedMessage>();
    send_sync::<rfc6455::CloseFrame>();
    send_sync::<rfc6455::Config>();
    send_sync::<rfc6455::handshake::UpgradeRequest>();
    send_sync::<rfc6455::handshake::Negotiated>();
}

#[test]
fn errors_fit_a_boxed_error() {
    error::<rfc6455::Error>();
    error::<rfc6455::SendError>();
    error::<rfc6455::frame::ProtocolError>();
    error::<rfc6455::handshake::HandshakeError>();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(rfc6455::SendError::Closed);
    assert!(boxed.to_string().contains("clos"));
}
