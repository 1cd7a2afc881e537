//! Keepalive, pong and idle deadlines, derived from when data last arrived.

use std::time::Instant;

use bytes::Bytes;

use crate::config::Config;

/// Liveness bookkeeping. Deadlines are computed, not stored, so they never go stale. A
/// deadline beyond what `Instant` can represent (a timeout of `Duration::MAX`, say) is no
/// deadline at all, as with `None`.
#[derive(Clone, Debug)]
pub(super) struct Keepalive {
    /// When bytes last arrived (or when the connection opened).
    last_received: Instant,
    /// When the keepalive Ping awaiting its Pong was sent; its payload is `sent`.
    outstanding: Option<Instant>,
    /// Counter for keepalive Ping payloads.
    sent: u32,
}

impl Keepalive {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            last_received: now,
            outstanding: None,
            sent: 0,
        }
    }

    pub(super) fn received(&mut self, now: Instant) {
        if now > self.last_received {
            self.last_received = now;
        }
    }

    /// A Pong arrived: it settles the outstanding keepalive Ping if the payload matches.
    pub(super) fn pong(&mut self, payload: &[u8]) {
        if self.outstanding.is_some() && payload == self.sent.to_be_bytes() {
            self.outstanding = None;
        }
    }

    fn pong_deadline(&self, config: &Config) -> Option<Instant> {
        let sent_at = self.outstanding?;
        sent_at.checked_add(config.pong_timeout?)
    }

    fn ping_deadline(&self, config: &Config) -> Option<Instant> {
        if self.outstanding.is_some() {
            return None;
        }
        self.last_received.checked_add(config.keepalive_interval?)
    }

    fn idle_deadline(&self, config: &Config) -> Option<Instant> {
        self.last_received.checked_add(config.idle_timeout?)
    }

    pub(super) fn pong_overdue(&self, now: Instant, config: &Config) -> bool {
        self.pong_deadline(config).is_some_and(|d| now >= d)
    }

    pub(super) fn idle(&self, now: Instant, config: &Config) -> bool {
        self.idle_deadline(config).is_some_and(|d| now >= d)
    }

    /// The payload of a keepalive Ping to send now, if one is due.
    pub(super) fn ping_due(&mut self, now: Instant, config: &Config) -> Option<Bytes> {
        if self.ping_deadline(config).is_none_or(|d| now < d) {
            return None;
        }
        self.sent = self.sent.wrapping_add(1);
        self.outstanding = Some(now);
        Some(Bytes::copy_from_slice(&self.sent.to_be_bytes()))
    }

    /// The earliest deadline while open.
    pub(super) fn next_deadline(&self, config: &Config) -> Option<Instant> {
        [
            self.pong_deadline(config),
            self.ping_deadline(config),
            self.idle_deadline(config),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
