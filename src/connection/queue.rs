//! The events waiting for the application, with runs of small messages kept compact.
//!
//! One read can hold thousands of small messages (a 64 KiB read, ~3000 binary messages of
//! 16 bytes). Queued as one [`Event`] each (56 bytes), they took 2.6 times the read in queue
//! memory, allocated afresh for every read because the queue is released when drained (an
//! idle connection holds no heap). With glibc's default settings that allocation came back
//! from the kernel, page by page, on every read in a long-running process, and the 16-byte
//! decode took 45 ns a message instead of 20. Here the first ~1000 events of a read are
//! queued as before; after them a run of small messages that share one copy (a slab of
//! binary payloads, or one validated `str` of texts) waits as one entry, with 4 bytes of
//! bounds per message, and its events are made, about a thousand at a time, as the ready ones
//! are taken. The queue of a 64 KiB read of 16-byte messages is then ~70 KB instead of
//! ~230 KB, in pieces that glibc keeps in its heap.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::Event;
use crate::utf8::Utf8Bytes;

/// The most messages one run holds.
pub(crate) const RUN_MAX: usize = 64;

/// A message's bounds within its run, in bytes from the run's start. Runs never exceed
/// [`SLAB_SIZE`](crate::message::SLAB_SIZE), so both fit in 16 bits.
pub(crate) type Bounds = (u16, u16);

/// What waits behind the ready events: runs of small messages (their bounds kept apart, in
/// order), and the events queued after a run.
#[derive(Debug, Default)]
struct Pending {
    items: VecDeque<Item>,
    bounds: VecDeque<Bounds>,
}

#[derive(Debug)]
enum Item {
    /// Binary messages, their payloads back to back; the next `count` bounds are theirs.
    Binaries(BytesMut, usize),
    /// Text messages of one `str`; the next `count` bounds (character boundaries) are theirs.
    Texts(Arc<str>, usize),
    One(Event),
}

/// How many ready events the queue holds before runs wait compact, and about how many are
/// made ready at a time after that. With runs of small messages the ready queue stays under
/// 1024 events (a refill may pass the mark by one run), so its buffer stays at most 56 KiB,
/// well under the size from which glibc maps allocations from the kernel (128 KiB). Other
/// events (control frames, streaming chunks, a message alone between them) are made ready
/// one per frame whatever the mark: those are bounded only by the frames of one
/// `handle_input` call. A read of fewer small messages than the mark never waits: compare,
/// decode 125 B (~500 a read), with the mark at 64 31 ns, at 1024 29 ns, as before the runs.
#[cfg(not(fuzzing))]
const READY_MAX: usize = 960;
/// Fuzz inputs are small: a low mark sends their runs through the waiting path too.
#[cfg(fuzzing)]
const READY_MAX: usize = 3;

/// The event queue: ready [`Event`]s, then runs of small messages kept compact (and the
/// events that came after them) until the ready ones are taken.
///
/// The ready events are a plain `VecDeque<Event>`, written in place, so that taking one is a
/// copy out of memory written well before: an event made and handed out at once was written
/// field by field and read back with wider loads, which stalled on store forwarding (perf: 6
/// to 10 ns of a 16-byte message, in every variant tried that made events as they were
/// taken).
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    ready: VecDeque<Event>,
    /// A binary message queued last by a `handle_input` call into an empty queue: the usual
    /// large message, one per read or two. Held here, it goes in and out with no allocation:
    /// a `VecDeque` allocated for it and released when it was taken cost ~2% of the decode of
    /// 64 KiB messages (compare, `decode 64`). Only ever set while nothing else is queued;
    /// anything queued after it moves it to `ready` first.
    lone: Option<Bytes>,
    /// Allocated while a run waits (an idle connection holds none).
    pending: Option<Box<Pending>>,
}

impl EventQueue {
    /// Events queued.
    pub(crate) fn len(&self) -> usize {
        let pending = self.pending.as_deref().map_or(0, |pending| {
            pending
                .items
                .iter()
                .map(|item| match item {
                    Item::Binaries(_, count) | Item::Texts(_, count) => *count,
                    Item::One(_) => 1,
                })
                .sum()
        });
        self.ready.len() + usize::from(self.lone.is_some()) + pending
    }

    /// Whether the queue is empty and holds no memory.
    #[inline]
    pub(crate) fn is_released(&self) -> bool {
        self.ready.capacity() == 0 && self.pending.is_none() && self.lone.is_none()
    }

    /// Whether at most one event is queued (a run holds at least one).
    #[inline]
    pub(crate) fn at_most_one(&self) -> bool {
        self.ready.len() <= 1 && self.pending.is_none()
    }

    /// Queues a binary message that no other event follows in this call (the caller's input
    /// is used up): held in place when the queue is empty.
    #[inline]
    pub(crate) fn push_last_binary(&mut self, payload: Bytes) {
        if self.ready.is_empty() && self.pending.is_none() && self.lone.is_none() {
            self.lone = Some(payload);
        } else {
            self.push(Event::Binary(payload));
        }
    }

    /// Moves a message held in place to the ready events, before anything is queued after it.
    #[inline(always)]
    pub(crate) fn unlone(&mut self) {
        if let Some(payload) = self.lone.take() {
            self.ready.push_back(Event::Binary(payload));
        }
    }

    /// Takes the message held in place, if any: the next event when there is one (nothing
    /// else is queued then).
    #[inline(always)]
    pub(crate) fn take_lone(&mut self) -> Option<Bytes> {
        self.lone.take()
    }

    /// The small-message pushes run inside `handle_input`, which has moved a held message to
    /// the ready events first (they do not check, to stay lean).
    #[inline(always)]
    fn debug_assert_nothing_held(&self) {
        debug_assert!(
            self.lone.is_none(),
            "handle_input moves a held message first"
        );
    }

    /// Queues one event.
    #[inline(always)]
    pub(crate) fn push(&mut self, event: Event) {
        self.unlone();
        match &mut self.pending {
            Some(pending) => pending.items.push_back(Item::One(event)),
            None => self.ready.push_back(event),
        }
    }

    /// Whether `n` more events would be made ready at once (few wait, and no run).
    #[inline(always)]
    pub(crate) fn has_ready_room(&self, n: usize) -> bool {
        self.pending.is_none() && self.ready.len() + n <= READY_MAX
    }

    /// Makes room at once for about `n` more ready events (as many as fit under the mark), so
    /// that a read of many small messages grows the ready queue once instead of doubling it
    /// from empty, copying every event made so far at each step.
    #[inline]
    pub(crate) fn reserve_ready(&mut self, n: usize) {
        if self.pending.is_none() {
            self.ready
                .reserve(n.min(READY_MAX.saturating_sub(self.ready.len())));
        }
    }

    /// Queues a run behind the ready events, its bounds kept apart.
    fn wait(&mut self, run: Item, bounds: &[Bounds]) {
        let pending = self.pending.get_or_insert_default();
        pending.bounds.extend(bounds);
        pending.items.push_back(run);
    }

    /// Queues a binary message, its event written straight into its slot (see
    /// [`write_binaries`]).
    #[inline(always)]
    pub(crate) fn push_binary(&mut self, payload: Bytes) {
        self.debug_assert_nothing_held();
        debug_assert!(self.pending.is_none());
        let mut payload = Some(payload);
        self.ready.resize_with(self.ready.len() + 1, || {
            Event::Binary(payload.take().unwrap_or_default())
        });
    }

    /// Queues binary messages whose payloads lie back to back in `payloads` at `bounds`.
    pub(crate) fn push_binaries(&mut self, payloads: BytesMut, bounds: &[Bounds]) {
        self.debug_assert_nothing_held();
        debug_assert!(bounds.first().is_some_and(|b| b.0 == 0));
        debug_assert!(bounds.windows(2).all(|w| w[0].1 == w[1].0));
        debug_assert!(bounds.iter().all(|&(a, b)| a <= b));
        debug_assert!(
            bounds
                .last()
                .is_some_and(|b| usize::from(b.1) == payloads.len())
        );
        if self.has_ready_room(bounds.len()) {
            write_binaries(&mut self.ready, payloads, bounds.iter().copied());
        } else {
            self.wait(Item::Binaries(payloads, bounds.len()), bounds);
        }
    }

    /// Queues text messages that lie in `text` at `bounds`, character boundaries all
    /// (checked in debug builds by [`Utf8Bytes::slice_of`] as each event is made).
    pub(crate) fn push_texts(&mut self, text: Arc<str>, bounds: &[Bounds]) {
        self.debug_assert_nothing_held();
        if self.has_ready_room(bounds.len()) {
            write_texts(&mut self.ready, &text, bounds.iter().copied());
        } else {
            self.wait(Item::Texts(text, bounds.len()), bounds);
        }
    }

    /// Takes the next event, except one held in place (see [`take_lone`](Self::take_lone)):
    /// checked here, it made every call return its event through the stack.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.ready.is_empty() {
            self.refill();
        }
        self.ready.pop_front()
    }

    /// Makes about [`READY_MAX`] waiting events ready.
    #[inline(never)]
    fn refill(&mut self) {
        let Some(pending) = self.pending.as_deref_mut() else {
            return;
        };
        while self.ready.len() < READY_MAX
            && let Some(item) = pending.items.pop_front()
        {
            match item {
                Item::One(event) => self.ready.push_back(event),
                Item::Binaries(payloads, count) => {
                    write_binaries(&mut self.ready, payloads, pending.bounds.drain(..count));
                }
                Item::Texts(text, count) => {
                    write_texts(&mut self.ready, &text, pending.bounds.drain(..count));
                }
            }
        }
        if pending.items.is_empty() {
            self.pending = None;
        }
    }

    /// Gives the queue's memory back when it is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.ready.is_empty() && self.pending.is_none() && self.ready.capacity() > 0 {
            self.ready = VecDeque::new();
        }
    }

    /// Heap bytes held by the queue.
    pub(crate) fn heap_capacity(&self) -> usize {
        let pending = self.pending.as_deref().map_or(0, |pending| {
            std::mem::size_of::<Pending>()
                + pending.items.capacity() * std::mem::size_of::<Item>()
                + pending.bounds.capacity() * std::mem::size_of::<Bounds>()
        });
        self.ready.capacity() * std::mem::size_of::<Event>() + pending
    }
}

/// Appends binary messages to `queue`, their payloads back to back in `payloads`, ending at
/// the second of each of `bounds`. Each event is written in its slot: `push_back` built the
/// event aside and then copied it into the queue with loads wider than the stores that had
/// just built it, which stalled on store forwarding (perf: 4.6 of the 35 ns a 16-byte message
/// took).
#[inline(always)]
fn write_binaries(
    queue: &mut VecDeque<Event>,
    mut payloads: BytesMut,
    bounds: impl ExactSizeIterator<Item = Bounds>,
) {
    let mut start = 0;
    // Inlined, the closure writes each event in its slot; called, it returned the event
    // through memory and stalled as above (perf: 80% of the run's time).
    queue.extend(bounds.map(
        #[inline(always)]
        |(_, end)| {
            let end = usize::from(end);
            let len = end.saturating_sub(start).min(payloads.len());
            start = end;
            Event::Binary(payloads.split_to(len).freeze())
        },
    ));
}

/// Appends text messages of `text` at `bounds` to `queue`.
#[inline(always)]
fn write_texts(
    queue: &mut VecDeque<Event>,
    text: &Arc<str>,
    bounds: impl ExactSizeIterator<Item = Bounds>,
) {
    queue.extend(bounds.map(
        #[inline(always)]
        |(start, end)| {
            let range = usize::from(start)..usize::from(end);
            Event::Text(Utf8Bytes::slice_of(text.clone(), range))
        },
    ));
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// The events left, as `Connection::poll_event` takes them (see [`poll`]).
    fn texts(queue: &mut EventQueue) -> Vec<String> {
        std::iter::from_fn(|| poll(queue))
            .map(|event| match event {
                Event::Text(text) => text.as_str().to_owned(),
                Event::Binary(data) => format!("bin:{data:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Runs of `n` binary messages of 64 bytes each, message `k` of the whole sequence
    /// filled with `k as u8`.
    fn binary_runs(queue: &mut EventQueue, runs: usize, first: usize) -> usize {
        let mut k = first;
        for _ in 0..runs {
            let mut payloads = BytesMut::new();
            for i in 0..RUN_MAX {
                payloads.extend_from_slice(&[(k + i) as u8; 64]);
            }
            let bounds: Vec<Bounds> = (0..RUN_MAX as u16).map(|i| (i * 64, i * 64 + 64)).collect();
            queue.push_binaries(payloads, &bounds);
            k += RUN_MAX;
        }
        k
    }

    // SEC-03 (bounded memory): the ready queue is sized once for a read's small messages:
    // room for the estimate, at most up to the mark, and none while runs wait (their events
    // are made at refill).
    #[test]
    fn reserve_ready_sizes_the_ready_queue_once_up_to_the_mark() {
        let mut queue = EventQueue::default();
        queue.reserve_ready(300);
        let room = queue.ready.capacity();
        assert!((300..600).contains(&room), "{room}");
        binary_runs(&mut queue, 4, 0);
        assert_eq!(queue.ready.capacity(), room, "256 events grew the queue");
        assert_eq!(queue.ready.len(), 4 * RUN_MAX);

        let mut queue = EventQueue::default();
        queue.reserve_ready(100_000);
        assert!(queue.ready.capacity() < 2 * READY_MAX);
        assert!(queue.ready.capacity() >= READY_MAX);

        let mut queue = EventQueue::default();
        binary_runs(&mut queue, READY_MAX / RUN_MAX + 2, 0);
        assert!(queue.pending.is_some());
        let before = queue.ready.capacity();
        queue.reserve_ready(5000);
        assert_eq!(queue.ready.capacity(), before);
    }

    #[test]
    fn runs_and_single_events_come_out_in_order_and_counted() {
        // FR-02 rests on this: events leave in the order their messages arrived, runs or
        // not. With the ready queue empty (everything made at once) and full (everything
        // waits in runs).
        for ahead in [0, READY_MAX] {
            let mut queue = EventQueue::default();
            let first = binary_runs(&mut queue, ahead / RUN_MAX, 0);
            queue.push(Event::Ping(Bytes::from_static(b"p")));
            queue.push_binaries(BytesMut::from(&b"abcdef"[..]), &[(0, 2), (2, 2), (2, 6)]);
            queue.push_texts(Arc::from("héllo wörld"), &[(0, 6), (7, 13)]);
            queue.push(Event::Pong(Bytes::from_static(b"q")));
            queue.push_binaries(BytesMut::from(&b"z"[..]), &[(0, 1)]);
            assert_eq!(queue.len(), first + 8);
            assert_eq!(queue.pending.is_some(), ahead > 0);
            for k in 0..first {
                let Some(Event::Binary(data)) = queue.pop() else {
                    panic!("message {k} missing");
                };
                assert_eq!(&data[..], &[k as u8; 64][..], "message {k}");
            }
            assert_eq!(
                texts(&mut queue),
                [
                    "Ping(b\"p\")",
                    "bin:b\"ab\"",
                    "bin:b\"\"",
                    "bin:b\"cdef\"",
                    "héllo",
                    "wörld",
                    "Pong(b\"q\")",
                    "bin:b\"z\"",
                ]
            );
            assert!(queue.len() == 0 && queue.at_most_one() && queue.pop().is_none());
            queue.release_if_empty();
            assert_eq!(queue.heap_capacity(), 0, "an empty queue holds no heap");
        }
    }

    /// The next event as `Connection::poll_event` takes it: the held message when at most
    /// one event is queued, else the next ready or waiting one.
    fn poll(queue: &mut EventQueue) -> Option<Event> {
        if queue.at_most_one()
            && let Some(payload) = queue.take_lone()
        {
            return Some(Event::Binary(payload));
        }
        queue.pop()
    }

    // FR-02: a binary message is held in place only while nothing else is queued. Pushed
    // while runs still wait (the ready events all taken, the next refill not made yet) or
    // behind ready events, it queues after them; held, it counts as one event.
    #[test]
    fn a_last_binary_is_held_only_in_an_empty_queue() {
        let mut queue = EventQueue::default();
        assert!(queue.is_released());
        queue.push_last_binary(Bytes::from_static(b"held"));
        assert!(queue.lone.is_some() && queue.ready.capacity() == 0);
        assert!(!queue.is_released() && queue.at_most_one());
        assert_eq!(queue.len(), 1);
        assert!(matches!(poll(&mut queue), Some(Event::Binary(b)) if b == "held"));
        assert_eq!(queue.len(), 0);
        assert!(queue.is_released());

        queue.push(Event::Ping(Bytes::from_static(b"p")));
        queue.push_last_binary(Bytes::from_static(b"last"));
        assert!(queue.lone.is_none());
        assert!(!queue.at_most_one(), "two events queued");
        assert_eq!(texts(&mut queue), ["Ping(b\"p\")", "bin:b\"last\""]);

        let total = binary_runs(&mut queue, READY_MAX / RUN_MAX + 2, 0);
        while !queue.ready.is_empty() {
            queue.pop();
        }
        assert!(queue.pending.is_some(), "no run waits");
        assert!(!queue.at_most_one(), "runs wait");
        queue.push_last_binary(Bytes::from_static(b"last"));
        assert!(queue.lone.is_none());
        let got = texts(&mut queue);
        assert_eq!(got.len(), total - READY_MAX + 1);
        assert_eq!(got.last().map(String::as_str), Some("bin:b\"last\""));
    }

    #[test]
    fn waiting_runs_take_their_bounds_not_an_event_each() {
        // SEC-03: past the ready events, a queued small message costs its 4 bytes of bounds
        // (and a share of its run's entry), not a 56-byte event: a 64 KiB read of 3000 tiny
        // messages no longer needs a 170 KB queue. The ready queue stays under 1024 events.
        let mut queue = EventQueue::default();
        let total = binary_runs(&mut queue, 200, 0);
        assert_eq!(queue.len(), total);
        let runs_left = (total - READY_MAX) / RUN_MAX;
        let bound = 1024 * std::mem::size_of::<Event>()
            + (total - READY_MAX) * std::mem::size_of::<Bounds>() * 2
            + runs_left * std::mem::size_of::<Item>() * 2
            + std::mem::size_of::<Pending>();
        assert!(
            queue.heap_capacity() <= bound,
            "{} bytes for {total} messages (bound {bound})",
            queue.heap_capacity()
        );
        // And it reports at least what it must hold: the ready events, the bounds of the
        // waiting ones, an entry per waiting run and the box they wait in.
        let held = READY_MAX * std::mem::size_of::<Event>()
            + (total - READY_MAX) * std::mem::size_of::<Bounds>()
            + runs_left * std::mem::size_of::<Item>()
            + std::mem::size_of::<Pending>();
        assert!(
            queue.heap_capacity() >= held,
            "{} bytes reported, {held} held",
            queue.heap_capacity()
        );
        let mut k = 0;
        while let Some(event) = queue.pop() {
            assert!(
                queue.ready.capacity() <= 1024,
                "the ready queue grew past 1024"
            );
            let Event::Binary(data) = event else {
                panic!("{event:?}")
            };
            assert_eq!(&data[..], &[k as u8; 64][..], "message {k}");
            k += 1;
        }
        assert_eq!(k, total);
    }
}
