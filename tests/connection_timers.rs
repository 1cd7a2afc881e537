//! Keepalive and every deadline, with virtual time.

mod common;

use std::time::Duration;

use common::*;
use rfc6455::connection::Timeout;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, CloseKind, Config, ConnectionState, Event, Role};

fn keepalive_config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.pong_timeout = Some(Duration::from_secs(5));
    config
}

// Keepalive: a ping only after a quiet interval; the peer's automatic pong settles it.
#[test]
fn keepalive_pings_only_when_quiet() {
    let mut p = Pair::new(keepalive_config(), Config::default());
    assert_eq!(
        p.client.poll_timeout(),
        Some(t0() + Duration::from_secs(10))
    );
    // Traffic from the server at t=6 pushes the keepalive to t=16.
    p.advance(Duration::from_secs(6));
    p.server.send_text("tick").unwrap();
    p.drive();
    assert_eq!(
        p.client.poll_timeout(),
        Some(t0() + Duration::from_secs(16))
    );
    p.advance(Duration::from_secs(9));
    assert!(
        !p.server_events.iter().any(|e| matches!(e, Event::Ping(_))),
        "no ping while not quiet"
    );
    p.advance(Duration::from_secs(1));
    let pings = p
        .server_events
        .iter()
        .filter(|e| matches!(e, Event::Ping(_)))
        .count();
    assert_eq!(pings, 1, "one keepalive ping at t=16");
    assert!(p.client_events.iter().any(|e| matches!(e, Event::Pong(_))));
    // The pong settled it: no failure at the pong deadline, and the connection stays open.
    p.advance(Duration::from_secs(30));
    assert_eq!(p.client.state(), ConnectionState::Open);
}

// Pong timeout: the peer never answers; the client fails with 1011.
#[test]
fn pong_timeout_fails_with_1011() {
    let mut p = Pair::new(keepalive_config(), Config::default());
    p.hold_to_server = true;
    p.advance(Duration::from_secs(10)); // ping sent
    assert_eq!(
        p.client.poll_timeout(),
        Some(t0() + Duration::from_secs(15))
    );
    p.advance(Duration::from_secs(5));
    assert!(p.client_closed_transport);
    let o = closed_outcome(&p.client_events);
    assert_eq!(o.kind, CloseKind::TimedOut(Timeout::Pong));
    assert_eq!(
        o.sent.clone().flatten().map(|f| f.code),
        Some(CloseCode::INTERNAL_ERROR)
    );
}

// FR-30, pong timeout: only a Pong that echoes the keepalive Ping's payload settles it; another
// (unsolicited, or for some other ping) does not, and the client still fails with 1011.
#[test]
fn only_the_matching_pong_settles_the_keepalive() {
    let mut c = conn(Role::Client, keepalive_config());
    c.handle_timeout(t0() + Duration::from_secs(10));
    let mut out = Outcome::default();
    drain(&mut c, &mut out);
    let pings: Vec<_> = frames_from(Role::Client, &out.wire)
        .into_iter()
        .filter(|f| f.2 == OpCode::Ping)
        .collect();
    assert_eq!(pings.len(), 1, "a keepalive ping");
    let other = frame_to(Role::Client, true, OpCode::Pong, b"not the ping's payload");
    let mut buf = bytes::BytesMut::from(&other[..]);
    c.handle_input(t0() + Duration::from_secs(11), &mut buf)
        .unwrap();
    c.handle_timeout(t0() + Duration::from_secs(15));
    drain(&mut c, &mut out);
    let o = closed_outcome(&out.events);
    assert_eq!(o.kind, CloseKind::TimedOut(Timeout::Pong));
}

// Idle timeout: nothing received for the idle period starts a 1001 close.
#[test]
fn idle_timeout_starts_close() {
    let mut config = Config::default();
    config.idle_timeout = Some(Duration::from_secs(60));
    let mut p = Pair::new(Config::default(), config);
    p.advance(Duration::from_secs(59));
    p.server.handle_timeout(t0() + Duration::from_secs(59));
    assert_eq!(p.server.state(), ConnectionState::Open, "an early call");
    p.advance(Duration::from_secs(1));
    let o = closed_outcome(&p.server_events);
    assert_eq!(
        o.kind,
        CloseKind::TimedOut(Timeout::Idle(Duration::from_secs(60)))
    );
    assert_eq!(
        o.sent.clone().flatten().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    assert!(o.clean, "the client answered the Close");
    assert_eq!(
        closed_outcome(&p.client_events).code(),
        CloseCode::GOING_AWAY
    );
}

// Deadlines are off by default except the close timeout, which only runs while closing.
#[test]
fn defaults_arm_no_timer_while_open() {
    let c = conn(Role::Client, Config::default());
    assert_eq!(c.poll_timeout(), None);
    let mut c = conn(Role::Client, Config::default());
    c.close(t0(), CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(10)));
}

// handle_timeout tolerates early and repeated calls.
#[test]
fn early_timeouts_are_harmless() {
    let mut c = conn(Role::Server, keepalive_config());
    for s in 0..10 {
        c.handle_timeout(t0() + Duration::from_secs(s));
    }
    assert_eq!(c.buffered_amount(), 0, "no ping before the interval");
    c.handle_timeout(t0() + Duration::from_secs(10));
    c.handle_timeout(t0() + Duration::from_secs(10));
    let got = feed_conn(&mut c, b"", Split::Whole, false);
    let frames = frames_from(Role::Server, &got.wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].2, OpCode::Ping);
}

// CL-08, CL-11, keepalive: a timeout too long for `Instant` to hold its deadline
// (`Duration::MAX`, "practically never") is no deadline, not a panic in `poll_timeout`,
// `handle_timeout`, `close` or the peer's reply. Shorter timeouts beside it still count.
#[test]
fn timeouts_too_long_for_instant_mean_never() {
    let mut never = Config::default();
    never.keepalive_interval = Some(Duration::MAX);
    never.idle_timeout = Some(Duration::MAX);
    never.pong_timeout = Some(Duration::MAX);
    never.close_timeout = Some(Duration::MAX);
    let far = t0() + Duration::from_secs(1000 * 24 * 3600);

    let mut c = conn(Role::Client, never.clone());
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(far);
    assert_eq!(c.state(), ConnectionState::Open);
    assert_eq!(c.buffered_amount(), 0, "no keepalive ping");

    // A keepalive ping whose pong never comes: no pong deadline.
    let mut pinging = never.clone();
    pinging.keepalive_interval = Some(Duration::from_secs(10));
    let mut c = conn(Role::Client, pinging);
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(10)));
    c.handle_timeout(t0() + Duration::from_secs(10));
    let got = feed_conn(&mut c, b"", Split::Whole, false);
    assert_eq!(frames_from(Role::Client, &got.wire)[0].2, OpCode::Ping);
    assert_eq!(c.poll_timeout(), None, "the pong deadline is never");
    c.handle_timeout(far);
    assert_eq!(c.state(), ConnectionState::Open);

    // An idle timeout beside a keepalive that never fires: the idle deadline is the one.
    let mut idle = never.clone();
    idle.idle_timeout = Some(Duration::from_secs(30));
    let c = conn(Role::Server, idle);
    assert_eq!(c.poll_timeout(), Some(t0() + Duration::from_secs(30)));

    // Closing: our Close waits for the peer's without a deadline, and the client then waits
    // for the server's transport close without one, whether it closed first or replied.
    let close_1000 = frame_to(Role::Client, true, OpCode::Close, &[0x03, 0xe8]);
    let mut c = conn(Role::Client, never.clone());
    c.close(t0(), CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(far);
    assert_eq!(c.state(), ConnectionState::Closing);
    feed_conn(&mut c, &close_1000, Split::Whole, false);
    let mut replying = conn(Role::Client, never);
    let got = feed_conn(&mut replying, &close_1000, Split::Whole, false);
    assert_eq!(close_code_on_wire(Role::Client, &got.wire), Some(1000));
    for c in [&mut c, &mut replying] {
        assert_eq!(
            c.state(),
            ConnectionState::Closing,
            "awaiting the server's EOF"
        );
        assert_eq!(c.poll_timeout(), None);
        c.handle_timeout(far);
        assert_eq!(c.state(), ConnectionState::Closing);
    }
}
