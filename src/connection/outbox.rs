//! The bounded output buffer. A lone unmasked frame is held as its header plus the caller's
//! payload (a tiny one inline), with nothing allocated; when several frames queue up, small
//! frames coalesce into one chunk and large server payloads are queued as their own chunks,
//! without a copy.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::frame::{FrameEncoder, FrameHeader, MAX_HEADER_LEN, OpCode};

/// Server payloads at least this long are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;
/// The first allocation of the coalescing buffer.
const INITIAL_TAIL: usize = 1024;
/// The bytes a lone frame keeps inline: its header, and its payload too when both fit (the
/// frame then leaves as one chunk). As many as fit in the room `Buffered` takes anyway.
const INLINE: usize = 22;

/// Bytes owed to the transport. Empty means nothing is allocated.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: Queue,
    /// Bytes owed; zero exactly when `queue` is `Empty`.
    len: usize,
}

#[derive(Debug, Default)]
enum Queue {
    #[default]
    Empty,
    /// One unmasked frame, the common case of a server that writes after every send.
    Single(Single),
    /// Several frames, or a masked one.
    Buffered(Buffered),
}

/// One unmasked frame, queued without allocating: `head[start..end]` is what is still owed
/// of its header, followed by its payload when that fit inline; otherwise `payload` holds the
/// caller's bytes (advanced as they are written), not copied.
#[derive(Debug)]
struct Single {
    head: [u8; INLINE],
    start: u8,
    end: u8,
    payload: Bytes,
}

/// Frames in order: `chunks` first, then `tail`, the buffer small frames coalesce in (client
/// payloads are masked there, never in the caller's buffer, SEC-02).
#[derive(Debug, Default)]
struct Buffered {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
}

impl Outbox {
    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a frame. Client payloads are masked into our own buffer (SEC-02); a server
    /// frame queued alone, or with a large payload, keeps the payload without a copy.
    pub(crate) fn push_frame(
        &mut self,
        encoder: &mut FrameEncoder,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: Bytes,
    ) {
        let header = encoder.header(fin, rsv, opcode, payload.len() as u64);
        if header.mask.is_some() {
            self.len += header.encoded_len() + payload.len();
            self.buffered().push_copied(&header, &payload);
            return;
        }
        self.push_unmasked(Some(&header), payload);
    }

    /// Queues a frame that is already encoded (a prepared server message), without a copy
    /// when it is queued alone or is large.
    pub(crate) fn push_encoded(&mut self, frame: Bytes) {
        self.push_unmasked(None, frame);
    }

    /// Queues a frame whose payload is copied from the caller's slice: inline when it is
    /// alone and tiny, otherwise into the coalescing buffer (client payloads masked there,
    /// SEC-02). Never keeps a reference to `payload`.
    pub(crate) fn push_frame_copied(
        &mut self,
        encoder: &mut FrameEncoder,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: &[u8],
    ) {
        let header = encoder.header(fin, rsv, opcode, payload.len() as u64);
        let frame_len = header.encoded_len() + payload.len();
        self.len += frame_len;
        if header.mask.is_none() && frame_len <= INLINE && matches!(self.queue, Queue::Empty) {
            self.set_single(Some(&header), payload, Bytes::new());
        } else {
            self.buffered().push_copied(&header, payload);
        }
    }

    /// Queues bytes already encoded, copied: the unwritten end of a frame that was offered
    /// to the transport straight from the caller's buffer. Nothing is queued for two empty
    /// slices.
    pub(crate) fn push_encoded_copied(&mut self, head: &[u8], rest: &[u8]) {
        let n = head.len() + rest.len();
        if n == 0 {
            return;
        }
        self.len += n;
        let buffered = self.buffered();
        buffered.reserve(n);
        buffered.tail.extend_from_slice(head);
        buffered.tail.extend_from_slice(rest);
    }

    /// Queues `header` (if any) followed by `payload`.
    fn push_unmasked(&mut self, header: Option<&FrameHeader>, payload: Bytes) {
        let head_len = header.map_or(0, FrameHeader::encoded_len);
        self.len += head_len + payload.len();
        if !matches!(self.queue, Queue::Empty) {
            let mut head = [0; MAX_HEADER_LEN];
            let n = header.map_or(0, |h| h.encode(&mut head));
            self.buffered().push(&head[..n], payload);
        } else if head_len + payload.len() <= INLINE {
            self.set_single(header, &payload, Bytes::new());
        } else {
            self.set_single(header, &[], payload);
        }
    }

    /// Makes the empty queue a lone frame: `header` and `tiny` inline (at most [`INLINE`]
    /// bytes together), then `payload` by reference.
    #[inline(always)]
    fn set_single(&mut self, header: Option<&FrameHeader>, tiny: &[u8], payload: Bytes) {
        debug_assert!(matches!(self.queue, Queue::Empty));
        // Built in place: a header encoded on the stack and copied in cost a
        // store-forwarding stall per frame (perf).
        self.queue = Queue::Single(Single {
            head: [0; INLINE],
            start: 0,
            end: 0,
            payload,
        });
        let Queue::Single(single) = &mut self.queue else {
            unreachable!("set above")
        };
        let head = single
            .head
            .first_chunk_mut::<MAX_HEADER_LEN>()
            .expect("INLINE >= MAX_HEADER_LEN");
        let mut end = header.map_or(0, |h| h.encode(head));
        single.head[end..end + tiny.len()].copy_from_slice(tiny);
        end += tiny.len();
        single.end = end as u8;
    }

    /// The queue as `Buffered`, converting a lone frame.
    fn buffered(&mut self) -> &mut Buffered {
        if !matches!(self.queue, Queue::Buffered(_)) {
            let mut buffered = Buffered::default();
            if let Queue::Single(Single {
                head,
                start,
                end,
                payload,
            }) = std::mem::take(&mut self.queue)
            {
                buffered.push(&head[start.into()..end.into()], payload);
            }
            self.queue = Queue::Buffered(buffered);
        }
        match &mut self.queue {
            Queue::Buffered(buffered) => buffered,
            Queue::Empty | Queue::Single(_) => unreachable!("converted above"),
        }
    }

    /// Takes the next chunk. Leaves no allocation behind once empty.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match &mut self.queue {
            Queue::Empty => return None,
            Queue::Single(single) => single.pop(),
            Queue::Buffered(buffered) => buffered.pop()?,
        };
        self.len -= chunk.len();
        if self.len == 0 {
            self.queue = Queue::Empty;
        }
        Some(chunk)
    }

    /// The buffered chunks in order, for a vectored write.
    pub(crate) fn chunks(&self) -> Chunks<'_> {
        match &self.queue {
            Queue::Empty => Chunks::default(),
            Queue::Single(single) => Chunks {
                first: single.head(),
                last: &single.payload,
                ..Chunks::default()
            },
            Queue::Buffered(buffered) => {
                let (a, b) = buffered.chunks.as_slices();
                Chunks {
                    first: &[],
                    middle: [a.iter(), b.iter()],
                    last: &buffered.tail,
                }
            }
        }
    }

    /// Appends as much of the buffered output to `out` as it has room for and drops it from
    /// the front; returns the number of bytes appended.
    pub(crate) fn write_into<B: BufMut>(&mut self, out: &mut B) -> usize {
        let room = out.remaining_mut();
        if room < self.len {
            let mut left = room;
            for chunk in self.chunks() {
                let n = chunk.len().min(left);
                out.put_slice(&chunk[..n]);
                left -= n;
                if left == 0 {
                    break;
                }
            }
            self.advance(room);
            return room;
        }
        match &self.queue {
            Queue::Empty => return 0,
            Queue::Single(single) => {
                out.put_slice(single.head());
                out.put_slice(&single.payload);
            }
            Queue::Buffered(buffered) => {
                for chunk in &buffered.chunks {
                    out.put_slice(chunk);
                }
                out.put_slice(&buffered.tail);
            }
        }
        self.queue = Queue::Empty;
        std::mem::take(&mut self.len)
    }

    /// Drops `n` bytes from the front, after they were written.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        assert!(n <= self.len, "advanced past the buffered output");
        if n == self.len {
            // All written (the common case): release everything at once.
            self.len = 0;
            self.queue = Queue::Empty;
            return;
        }
        self.advance_part(n);
    }

    /// [`advance`](Self::advance) by fewer bytes than are owed. Out of line, so that the
    /// common case stays small enough to inline in every caller (with a second caller the
    /// whole of `advance` was no longer inlined into `advance_transmit`: criterion
    /// `send_binary_bytes/16B` 20.7 -> 22.3 ns).
    #[inline(never)]
    fn advance_part(&mut self, n: usize) {
        self.len -= n;
        match &mut self.queue {
            Queue::Empty => {}
            Queue::Single(single) => single.advance(n),
            Queue::Buffered(buffered) => buffered.advance(n),
        }
    }

    /// Heap bytes held by the outbox (capacity, not content): the coalescing buffer and the
    /// chunk queue. A payload queued by reference is the caller's; the copies already split
    /// off into the queue ahead of one (its header, the frames coalesced before it) are not
    /// counted, since a `Bytes` does not tell its allocation.
    pub(crate) fn heap_capacity(&self) -> usize {
        match &self.queue {
            Queue::Empty | Queue::Single(_) => 0,
            Queue::Buffered(buffered) => {
                buffered.tail.capacity() + buffered.chunks.capacity() * std::mem::size_of::<Bytes>()
            }
        }
    }
}

/// The iterator of [`Outbox::chunks`]: `first`, the chunks of `middle`, then `last`, skipping
/// empty slices.
#[derive(Default)]
pub(crate) struct Chunks<'a> {
    first: &'a [u8],
    middle: [std::slice::Iter<'a, Bytes>; 2],
    last: &'a [u8],
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if !self.first.is_empty() {
            return Some(std::mem::take(&mut self.first));
        }
        for part in &mut self.middle {
            if let Some(chunk) = part.next() {
                return Some(chunk);
            }
        }
        if !self.last.is_empty() {
            return Some(std::mem::take(&mut self.last));
        }
        None
    }
}

impl Single {
    /// The part of the header still owed.
    fn head(&self) -> &[u8] {
        &self.head[usize::from(self.start)..usize::from(self.end)]
    }

    /// The next chunk: a small frame as one coalesced copy, a large payload as its own chunk.
    /// Never called once everything was taken.
    fn pop(&mut self) -> Bytes {
        let head = self.head();
        let chunk = if head.is_empty() {
            std::mem::take(&mut self.payload)
        } else if self.payload.len() >= ZERO_COPY_MIN {
            Bytes::copy_from_slice(head)
        } else {
            let mut frame = BytesMut::with_capacity(head.len() + self.payload.len());
            frame.extend_from_slice(head);
            frame.extend_from_slice(&std::mem::take(&mut self.payload));
            frame.freeze()
        };
        self.start = self.end;
        chunk
    }

    /// Drops `n` written bytes, fewer than are owed.
    fn advance(&mut self, n: usize) {
        let from_head = n.min(self.head().len());
        self.start += from_head as u8;
        self.payload.advance(n - from_head);
    }
}

impl Buffered {
    /// Queues `head` followed by the unmasked `payload`: a large payload by reference, a
    /// small one copied into the tail.
    fn push(&mut self, head: &[u8], payload: Bytes) {
        if payload.len() >= ZERO_COPY_MIN {
            if !self.tail.is_empty() {
                self.reserve(head.len());
                self.tail.extend_from_slice(head);
                let front = self.tail.split().freeze();
                self.chunks.push_back(front);
            } else if !head.is_empty() {
                // Just the header: a small copy, rather than a tail buffer split in two.
                self.chunks.push_back(Bytes::copy_from_slice(head));
            }
            self.chunks.push_back(payload);
        } else {
            self.reserve(head.len() + payload.len());
            self.tail.extend_from_slice(head);
            self.tail.extend_from_slice(&payload);
        }
    }

    /// Queues a frame copied into the tail, its payload masked on the way when the header
    /// has a key.
    fn push_copied(&mut self, header: &FrameHeader, payload: &[u8]) {
        self.reserve(header.encoded_len() + payload.len());
        crate::frame::encode_frame(&mut self.tail, header, payload);
    }

    fn reserve(&mut self, additional: usize) {
        if self.tail.capacity() == 0 {
            // The common case after every flush: a fresh buffer, without the general
            // (copying, reclaiming) path of `BytesMut::reserve`.
            self.tail = BytesMut::with_capacity(additional.max(INITIAL_TAIL));
        } else if self.tail.capacity() - self.tail.len() < additional {
            let want = (self.tail.len() + additional).max(INITIAL_TAIL);
            self.tail.reserve(want - self.tail.len());
        }
    }

    /// The next chunk, if any.
    fn pop(&mut self) -> Option<Bytes> {
        match self.chunks.pop_front() {
            Some(chunk) => Some(chunk),
            None if !self.tail.is_empty() => Some(std::mem::take(&mut self.tail).freeze()),
            None => None,
        }
    }

    /// Drops `n` written bytes, fewer than are owed.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            if let Some(front) = self.chunks.front_mut() {
                if n >= front.len() {
                    n -= front.len();
                    self.chunks.pop_front();
                } else {
                    front.advance(n);
                    n = 0;
                }
            } else {
                self.tail.advance(n);
                n = 0;
            }
        }
    }
}
