//! In-memory transports for the peers (their APIs need a stream), the payload checks and a
//! counting allocator for the idle-memory row.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::task::{Context, Poll};

/// Every transport read hands out at most this much by default, as a socket read into a
/// 64 KiB buffer.
pub const READ_SIZE: usize = 64 * 1024;

/// The most a read hands out in this run: [`READ_SIZE`], or `--read-size N` (at most
/// [`READ_SIZE`]), e.g. 1500 for reads of one Ethernet frame's worth.
pub static READ_MAX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(READ_SIZE);

/// [`READ_MAX`]'s value.
pub fn read_max() -> usize {
    READ_MAX.load(std::sync::atomic::Ordering::Relaxed)
}

thread_local! {
    /// Where writes are copied to, allocated once per thread.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// Allocates this thread's write scratch buffer now, so that it is not counted as memory
/// held by the library whose first write would otherwise allocate it.
pub fn init_scratch() {
    SCRATCH.with_borrow(|scratch| std::hint::black_box(scratch.len()));
}

/// A transport over fixed input: reads copy from `input` (at most [`READ_SIZE`] at a time),
/// writes copy into a scratch buffer (as a socket write copies into the kernel) and are
/// counted; `keep` records them for the verification run.
pub struct MemStream<'a> {
    input: &'a [u8],
    pub written: u64,
    pub keep: Option<Vec<u8>>,
}

impl<'a> MemStream<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            written: 0,
            keep: None,
        }
    }

    pub fn keeping(mut self) -> Self {
        self.keep = Some(Vec::new());
        self
    }

    /// Copies the next read into `dst`.
    pub fn read_into(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(read_max()).min(self.input.len());
        dst[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        n
    }

    /// The next read, borrowed (for our driver, which appends it to its `BytesMut`).
    pub fn next_read(&mut self) -> &'a [u8] {
        self.next_read_max(read_max())
    }

    /// The next read, of at most `max` bytes.
    pub fn next_read_max(&mut self, max: usize) -> &'a [u8] {
        let n = read_max().min(max).min(self.input.len());
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        head
    }

    pub fn write_bytes(&mut self, mut data: &[u8]) -> usize {
        let n = data.len();
        self.written += n as u64;
        if let Some(keep) = &mut self.keep {
            keep.extend_from_slice(data);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            while !data.is_empty() {
                let m = data.len().min(scratch.len());
                scratch[..m].copy_from_slice(&data[..m]);
                data = &data[m..];
            }
            std::hint::black_box(scratch);
        });
        n
    }
}

impl io::Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

impl io::Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_bytes(buf))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.write_bytes(b)).sum())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for MemStream<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(read_max()).min(this.input.len());
        buf.put_slice(&this.input[..n]);
        this.input = &this.input[n..];
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for MemStream<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().write_bytes(buf)))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Poll::Ready(Ok(bufs.iter().map(|b| this.write_bytes(b)).sum()))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What a run delivered. Timed runs use the cheap form (count, bytes, first and last byte of
/// each message); the verification run of each library folds every payload byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub messages: u64,
    pub bytes: u64,
    pub sum: u64,
}

impl Check {
    #[inline]
    pub fn quick(&mut self, payload: &[u8]) {
        self.messages += 1;
        self.bytes += payload.len() as u64;
        if let (Some(a), Some(b)) = (payload.first(), payload.last()) {
            self.sum = self.sum.wrapping_add(u64::from(*a) * 3 + u64::from(*b));
        }
    }

    pub fn full(&mut self, payload: &[u8]) {
        self.messages += 1;
        self.bytes += payload.len() as u64;
        for (i, b) in payload.iter().enumerate() {
            self.sum = self
                .sum
                .wrapping_mul(0x100_0000_01b3)
                .wrapping_add(u64::from(*b) ^ (i as u64 & 0xff));
        }
    }
}

/// Counts live heap bytes while [`COUNTING`] is on.
pub struct CountingAlloc;

pub static COUNTING: AtomicBool = AtomicBool::new(false);
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Live heap bytes allocated by `f` and still held when it returns its result's measure.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}
