//! The bounded output buffer: small frames coalesce into one chunk, large server payloads
//! are queued as their own chunks without a copy.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameEncoder, FrameHeader, OpCode};

/// Server payloads at least this long are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 16 * 1024;
/// The first allocation of the coalescing buffer.
const INITIAL_TAIL: usize = 1024;

/// Bytes owed to the transport, in order: `chunks` first, then `tail`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl Outbox {
    /// Bytes buffered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a frame. Client payloads are masked into our own buffer (SEC-02); large server
    /// payloads given as `Bytes` are queued without a copy.
    pub(crate) fn push_frame(
        &mut self,
        encoder: &mut FrameEncoder,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: &Bytes,
    ) {
        let header = encoder.header(fin, rsv, opcode, payload.len() as u64);
        self.len += header.encoded_len() + payload.len();
        if header.mask.is_none() && payload.len() >= ZERO_COPY_MIN {
            let head = if self.tail.is_empty() {
                // Just the header: a small copy, rather than a tail buffer split in two.
                let mut out = [0; crate::frame::MAX_HEADER_LEN];
                let n = header.encode(&mut out);
                Bytes::copy_from_slice(&out[..n])
            } else {
                self.push_header(&header);
                self.tail.split().freeze()
            };
            self.chunks.push_back(head);
            self.chunks.push_back(payload.clone());
        } else {
            self.reserve(header.encoded_len() + payload.len());
            crate::frame::encode_frame(&mut self.tail, &header, payload);
        }
    }

    /// Queues a frame that is already encoded (a prepared server message).
    pub(crate) fn push_encoded(&mut self, frame: &Bytes) {
        self.len += frame.len();
        if frame.len() >= ZERO_COPY_MIN {
            if !self.tail.is_empty() {
                let head = self.tail.split().freeze();
                self.chunks.push_back(head);
            }
            self.chunks.push_back(frame.clone());
        } else {
            self.reserve(frame.len());
            self.tail.extend_from_slice(frame);
        }
    }

    fn push_header(&mut self, header: &FrameHeader) {
        let mut out = [0; crate::frame::MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        self.reserve(n);
        self.tail.extend_from_slice(&out[..n]);
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

    /// Takes the next chunk. Leaves no allocation behind once empty.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.tail.is_empty() => std::mem::take(&mut self.tail).freeze(),
            None => return None,
        };
        self.len -= chunk.len();
        if self.chunks.is_empty() && self.chunks.capacity() > 0 && self.tail.is_empty() {
            self.chunks = VecDeque::new();
        }
        Some(chunk)
    }

    /// The buffered chunks in order, for a vectored write.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .map(|c| &c[..])
            .chain((!self.tail.is_empty()).then_some(&self.tail[..]))
    }

    /// Drops `n` bytes from the front, after they were written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the buffered output");
        self.len -= n;
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
        if self.len == 0 {
            self.chunks = VecDeque::new();
            self.tail = BytesMut::new();
        }
    }

    /// Heap bytes held by the outbox (capacity, not content).
    pub(crate) fn heap_capacity(&self) -> usize {
        self.tail.capacity() + self.chunks.capacity() * std::mem::size_of::<Bytes>()
    }
}
