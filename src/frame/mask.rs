//! Masking (RFC 6455 section 5.3): byte `i` of the payload is XORed with `key[i % 4]`.
//!
//! This is the one hot loop of the crate, and the one file where `unsafe` is allowed: calls
//! into the AVX2 and AVX-512 builds of the loop, made only after the CPU was seen to support
//! them, the AVX-512 loads and stores, and the prefetch hints (the destination's lines ahead
//! of the fused loop's stores; a read's lines ahead of the loops that consume it, see
//! [`prefetch_read`]).
//!
//! There is one loop, [`mask_blocks`], written in plain safe Rust. It is compiled twice:
//!
//! - as the portable fallback, with the target's baseline features (SSE2 on x86_64, NEON on
//!   aarch64), where the compiler turns each 128-byte block into 16-byte vector XORs;
//! - inside a `#[target_feature(enable = "avx2")]` function on x86_64, where the same code
//!   becomes 32-byte vector XORs.
//!
//! On x86_64 CPUs with AVX-512F the same steps run on 64-byte registers, written with
//! intrinsics (see [`x86`]). [`apply_mask`] picks a build at run time, by CPU and length.
//!
//! Buffers under [`SHORT`] bytes (most messages, and the head and tail of long buffers) skip
//! the loop: [`mask_short`] covers them in one or two straight-line steps with overlapping
//! reads and writes, in any build and with no run-time dispatch.

use bytes::BytesMut;

/// The number of bytes the main loop handles per iteration: two AVX-512 registers, four
/// AVX2, eight SSE2 or NEON. A multiple of 4, so every block starts at key phase 0.
const BLOCK: usize = 128;

/// Buffers shorter than this take [`mask_short`]: a few straight-line steps, with no block
/// loop, no alignment and no run-time dispatch. Most WebSocket messages are this short.
const SHORT: usize = 128;
// The head before the aligned blocks and the tail after them go through `mask_short` too.
const _: () = assert!(ALIGN <= SHORT && BLOCK <= SHORT);

/// Buffers at least [`ALIGN_MIN_LEN`] long mask a short head on its own so that the main
/// loop runs on cache-line-aligned addresses (see [`head_len`]).
const ALIGN: usize = 64;
/// Shorter buffers are not worth aligning.
const ALIGN_MIN_LEN: usize = 2 * BLOCK;

/// XORs `buf` with the masking key, starting at key phase `phase` (the index of the first
/// byte of `buf` within the frame's payload, modulo 4). Applying the same call twice
/// restores the input. The phase lets a payload be (un)masked in chunks (FR-09).
///
/// Buffers under 128 bytes are masked inline in a few straight-line steps. Longer ones use,
/// on x86_64 CPUs that have them (detected at run time), 64-byte AVX-512 vector operations,
/// else 32-byte AVX2 ones; and the portable loop of [`apply_mask_fallback`] everywhere else.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = rotate_key(key, phase);
    if buf.len() < SHORT {
        mask_short(buf, key);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if x86::try_mask(buf, key) {
        return;
    }
    mask_blocks(buf, key);
}

/// The portable path of [`apply_mask`], whatever the CPU supports. Exposed for tests and
/// benches, which compare it with the dispatched path and with [`apply_mask_naive`].
#[doc(hidden)]
pub fn apply_mask_fallback(buf: &mut [u8], key: [u8; 4], phase: usize) {
    mask_blocks(buf, rotate_key(key, phase));
}

/// A masking function with the signature of [`apply_mask`].
#[doc(hidden)]
pub type MaskFn = fn(&mut [u8], [u8; 4], usize);

/// Every build of the masking loop that this CPU can run, by name: `"portable"` (the
/// [`apply_mask_fallback`] loop), then `"avx2"` and `"avx512"` on x86_64 CPUs that support
/// them. Each masks buffers of any length, short ones included. For the tests, which compare
/// every path with [`apply_mask_naive`], and the benches, which time each.
#[doc(hidden)]
pub fn mask_paths() -> Vec<(&'static str, MaskFn)> {
    let portable: (&'static str, MaskFn) = ("portable", apply_mask_fallback);
    #[cfg(target_arch = "x86_64")]
    return std::iter::once(portable).chain(x86::paths()).collect();
    #[cfg(not(target_arch = "x86_64"))]
    return vec![portable];
}

/// The reference implementation: one byte at a time. Tests and benches compare against it.
#[doc(hidden)]
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + phase) % 4];
    }
}

/// Appends `src` to `dst` unmasked (or masked: the operation is its own inverse) with `key`,
/// starting at key phase `phase`: the copy a decoder makes of a masked payload, or an
/// encoder of a payload it masks.
///
/// Short inputs are copied, then masked in a few straight-line steps. Long ones, on x86_64
/// CPUs with AVX-512F, are loaded, unmasked and stored in one pass (see
/// [`x86::try_extend`]); elsewhere they are copied and masked a piece at a time, so that each
/// piece is masked while it is still in the L1 cache rather than in a second pass over the
/// whole of `dst`.
///
/// For a `dst` that grows into memory not touched lately (a message being reassembled, a
/// fresh copy): the fused loop asks for the cache lines it is about to write. For a buffer
/// reused from one read to the next, [`extend_unmasked_reused`].
#[inline]
pub(crate) fn extend_unmasked(dst: &mut BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    extend::<true>(dst, src, key, phase);
}

/// [`extend_unmasked`] for a `dst` reused from one read to the next (the caller's input
/// buffer), whose lines are likely in the cache already: the fused loop does not ask for
/// them. Asking cost the comparison's decode 64 KiB and 1 MiB rows 5-12% when they were
/// copied this way on an AMD Zen 4 (0.87-0.95x of tokio-websockets against 1.00-1.12x, four
/// alternated runs each).
#[inline]
pub(crate) fn extend_unmasked_reused(dst: &mut BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    extend::<false>(dst, src, key, phase);
}

/// [`extend_unmasked`], with the fused loop asking for `dst`'s lines ahead when `PREFETCH`.
#[inline(always)]
fn extend<const PREFETCH: bool>(dst: &mut BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    if src.len() < SHORT {
        let start = dst.len();
        if src.len() < 32 {
            dst.extend_from_slice(src);
            mask_short(&mut dst[start..], rotate_key(key, phase));
        } else {
            // Zeroed, then written once by `copy_masked`: a copy then masked in place read
            // the copy's stores back, with loads that span several of them, before they
            // reached the cache (a store-forwarding stall; criterion, a client's 125-byte
            // send: 57.7 -> 52.5 ns). Under 32 bytes the copy is one or two stores that the
            // mask's loads match, and the old way is faster (16 bytes: 47.5 against 48.9 ns).
            dst.resize(start + src.len(), 0);
            copy_masked(&mut dst[start..], src, rotate_key(key, phase));
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if x86::try_extend::<PREFETCH>(dst, src, rotate_key(key, phase)) {
        return;
    }
    extend_in_pieces(dst, src, key, phase);
}

/// The portable path of [`extend_unmasked`] for inputs of any length: copy a piece, then mask
/// it in place while it is in L1.
fn extend_in_pieces(dst: &mut BytesMut, src: &[u8], key: [u8; 4], phase: usize) {
    /// Small enough that a piece stays in L1 between the copy and the mask.
    const PIECE: usize = 8 << 10;
    dst.reserve(src.len());
    for (i, piece) in src.chunks(PIECE).enumerate() {
        let start = dst.len();
        dst.extend_from_slice(piece);
        apply_mask(&mut dst[start..], key, phase + i * PIECE);
    }
}

/// Writes `src`, masked (or unmasked) with `key` from key phase 0, into `dst`, which must be
/// as long: the copy and the mask in one pass.
///
/// Short payloads (under 128 bytes) are read from `src` and written to `dst` once each, in
/// the straight-line steps of [`mask_short`]. A copy followed by masking in place is slower
/// there: the mask's loads read back the copy's stores before they reach the cache, which
/// stalls (perf: 8 of the 53 ns a 125-byte message took to decode). Longer payloads are
/// copied, then masked in place.
///
/// # Panics
/// If the lengths differ.
pub(crate) fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "copy_masked: lengths differ");
    let len = src.len();
    if len >= SHORT {
        dst.copy_from_slice(src);
        apply_mask(dst, key, 0);
        return;
    }
    let front_key = wide_key(key);
    let back_key = wide_key(rotate_key(key, len));
    // The same steps as `mask_short`, reading `src` and writing `dst`.
    if len >= 32 {
        let back = len - 32;
        copy_words::<32>(dst, src, 0, front_key);
        if len > 64 {
            copy_words::<32>(dst, src, 32, front_key);
        }
        if len > 96 {
            copy_words::<32>(dst, src, 64, front_key);
        }
        copy_words::<32>(dst, src, back, back_key);
    } else if len >= 16 {
        copy_words::<16>(dst, src, 0, front_key);
        copy_words::<16>(dst, src, len - 16, back_key);
    } else if len >= 8 {
        copy_words::<8>(dst, src, 0, front_key);
        copy_words::<8>(dst, src, len - 8, back_key);
    } else if len >= 4 {
        let front = u32::from_ne_bytes(read(src, 0)) ^ front_key as u32;
        let back = u32::from_ne_bytes(read(src, len - 4)) ^ back_key as u32;
        write(dst, 0, front.to_ne_bytes());
        write(dst, len - 4, back.to_ne_bytes());
    } else {
        for ((d, s), k) in dst.iter_mut().zip(src).zip(key) {
            *d = s ^ k;
        }
    }
}

/// Writes the `N` bytes of `src` at `at`, XORed word by word with `wide`, to `dst` at `at`.
#[inline(always)]
fn copy_words<const N: usize>(dst: &mut [u8], src: &[u8], at: usize, wide: u64) {
    let mut words = read::<N>(src, at);
    xor_words(&mut words, wide);
    write(dst, at, words);
}

/// How far ahead of the bytes being consumed a read is asked for, into L2, by
/// [`prefetch_read`] and by the fused copy-and-unmask loop.
///
/// A read handed to `Connection::handle_read` is usually in memory, not in the cache (the
/// caller's buffer was filled by the kernel or by a TLS decryption a while ago, or it is
/// large). Consumed frame by frame, each frame's loads wait for its lines, and the work done
/// on a frame (unmasking, UTF-8 validation, queueing) does not overlap with the wait for the
/// next. Asking for the lines 4 KiB ahead lets memory work while the CPU does.
///
/// Compare on an AMD Zen 4 (EPYC, family 25 model 17), alternated runs: decode 1 KiB text
/// (frames taken from the read) 174-178 ns a message without, 159-162 asking 2 KiB ahead into
/// L1, 152-154 at 2 KiB into L2, 133-136 at 3, 4 or 6 KiB into L2, 145-154 at 8-16 KiB into
/// L2 (the L1 hint did worse at 4 KiB: 162-166). The fused loop's source, decode 64 KiB
/// binary: 1.03-1.04x of tokio-websockets without, 1.09-1.11x at 4 KiB (1.01-1.05x at 2 KiB,
/// 1.08-1.10x at 8 KiB); decode 1 MiB: 1.11-1.15x without, 1.27-1.29x at 4 KiB.
pub(crate) const READ_AHEAD: usize = 4096;

/// Asks for the cache lines of `read` that start at offsets `from + READ_AHEAD` up to
/// `to + READ_AHEAD` (within `read`), into L2: called with the bounds of each frame as it is
/// consumed, front to back, so each line is asked for once, [`READ_AHEAD`] bytes before it is
/// needed. A hint only: nothing is read, and nothing happens off x86_64.
#[inline(always)]
pub(crate) fn prefetch_read(read: &[u8], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    for at in ahead_lines(read.as_ptr().addr(), read.len(), from, to) {
        x86::prefetch_l2(&read[at]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (read, from, to);
}

/// The offsets that [`prefetch_read`] asks for, in a buffer at address `addr` of `len`
/// bytes: those in `from + READ_AHEAD .. to + READ_AHEAD` (and under `len`) where a 64-byte
/// cache line begins.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn ahead_lines(
    addr: usize,
    len: usize,
    from: usize,
    to: usize,
) -> std::iter::StepBy<std::ops::Range<usize>> {
    const LINE: usize = 64;
    let end = len.min(to.saturating_add(READ_AHEAD));
    let start = from.saturating_add(READ_AHEAD);
    // The first offset at or after `start` where a line begins (past `end` when none is).
    let misalign = addr.wrapping_add(start) % LINE;
    let first = start.saturating_add((LINE - misalign) % LINE);
    (first..end.max(first)).step_by(LINE)
}

/// The key as seen from a buffer that starts at `phase`.
#[inline(always)]
fn rotate_key(key: [u8; 4], phase: usize) -> [u8; 4] {
    // Byte `j` of the result is `key[(j + phase) % 4]`: a rotation of the four bytes read as
    // a little-endian word.
    let word = u32::from_le_bytes(key).rotate_right(8 * (phase % 4) as u32);
    word.to_le_bytes()
}

/// The masking loop, with `key` already rotated to the phase of `buf[0]`.
///
/// It runs from the end of `buf` to the front. A payload is usually masked right after it was
/// copied in (by the read that brought it, or by [`extend_unmasked`]), front to back, so its
/// end is what the L1 cache still holds: starting there hits it before the misses at the front
/// evict it. Copying 64 KiB and then masking it went from 19.1 to 23.7 GiB/s (AVX2); masking
/// the same buffer over and over, or a buffer in L1, runs at the same speed either way.
///
/// `#[inline(always)]` so that it is compiled with the features of each caller: the baseline
/// target for the fallback, AVX2 inside [`x86`].
#[inline(always)]
fn mask_blocks(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() < SHORT {
        mask_short(buf, key);
        return;
    }
    let (head, body) = buf.split_at_mut(head_len(buf));
    let body_key = rotate_key(key, head.len());
    let (blocks, tail) = body.split_at_mut(body.len() - body.len() % BLOCK);
    // Fewer than BLOCK bytes, at a multiple of BLOCK into `body`: phase 0 of `body_key`.
    mask_short(tail, body_key);
    let wide = wide_key(body_key);
    for block in blocks.chunks_exact_mut(BLOCK).rev() {
        // A fixed trip count of BLOCK / 8 words: fully unrolled, then merged into vector XORs.
        xor_words(block, wide);
    }
    mask_short(head, key);
}

/// The length of the head that [`mask_blocks`] masks on its own, so that the blocks after it
/// start on a cache line: no vector load or store then straddles two lines. Less than
/// [`ALIGN`]; 0 for buffers too short to be worth aligning.
#[inline(always)]
fn head_len(buf: &[u8]) -> usize {
    if buf.len() >= ALIGN_MIN_LEN {
        buf.as_ptr().addr().wrapping_neg() % ALIGN
    } else {
        0
    }
}

/// Masks a buffer shorter than [`SHORT`] (a whole short message, or the head or tail of a
/// long one) with `key` at phase 0, in straight-line steps chosen by length.
///
/// Each step reads a group of bytes at the front and a group at the back before it writes
/// either, so the two may overlap: a byte in both gets the same masked value twice. The back
/// group starts at `len - n` for `n` a multiple of 4, hence at key phase `len % 4`.
#[inline(always)]
fn mask_short(buf: &mut [u8], key: [u8; 4]) {
    let len = buf.len();
    let front_key = wide_key(key);
    let back_key = wide_key(rotate_key(key, len));
    debug_assert!(len < SHORT);
    if len >= 32 {
        // Up to three 32-byte groups from the front cover all but the last 32 bytes. Written
        // out rather than looped: the compiler does not know `len < SHORT` in every caller.
        let mut back = read::<32>(buf, len - 32);
        xor_words(&mut buf[..32], front_key);
        if len > 64 {
            xor_words(&mut buf[32..64], front_key);
        }
        if len > 96 {
            xor_words(&mut buf[64..96], front_key);
        }
        xor_words(&mut back, back_key);
        write(buf, len - 32, back);
    } else if len >= 16 {
        let mut front = read::<16>(buf, 0);
        let mut back = read::<16>(buf, len - 16);
        xor_words(&mut front, front_key);
        xor_words(&mut back, back_key);
        write(buf, 0, front);
        write(buf, len - 16, back);
    } else if len >= 8 {
        let front = u64::from_ne_bytes(read(buf, 0));
        let back = u64::from_ne_bytes(read(buf, len - 8));
        write(buf, 0, (front ^ front_key).to_ne_bytes());
        write(buf, len - 8, (back ^ back_key).to_ne_bytes());
    } else if len >= 4 {
        // The low half of a wide key is the key itself, at the same phase.
        let front = u32::from_ne_bytes(read(buf, 0));
        let back = u32::from_ne_bytes(read(buf, len - 4));
        write(buf, 0, (front ^ front_key as u32).to_ne_bytes());
        write(buf, len - 4, (back ^ back_key as u32).to_ne_bytes());
    } else {
        for (b, k) in buf.iter_mut().zip(key) {
            *b ^= k;
        }
    }
}

/// The key repeated over a word. Kept in a register (broadcast to a vector register by the
/// compiler) rather than loaded from a pattern in memory.
#[inline(always)]
fn wide_key(key: [u8; 4]) -> u64 {
    // Both halves hold the four bytes in memory order, whatever the endianness.
    let word = u64::from(u32::from_ne_bytes(key));
    word << 32 | word
}

/// XORs every 8-byte word of `buf` (a multiple of 8 bytes long) with `wide`. On a slice of
/// known length the compiler merges the words into vector XORs.
#[inline(always)]
fn xor_words(buf: &mut [u8], wide: u64) {
    for lane in buf.chunks_exact_mut(8) {
        let word = u64::from_ne_bytes(read(lane, 0));
        write(lane, 0, (word ^ wide).to_ne_bytes());
    }
}

/// The `N` bytes of `buf` at `at`.
#[inline(always)]
fn read<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

/// Overwrites the `N` bytes of `buf` at `at`.
#[inline(always)]
fn write<const N: usize>(buf: &mut [u8], at: usize, bytes: [u8; N]) {
    buf[at..at + N].copy_from_slice(&bytes);
}

/// The AVX2 and AVX-512 builds of [`mask_blocks`] and their run-time dispatch: the only
/// `unsafe` in the crate.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use bytes::BytesMut;

    use super::{BLOCK, MaskFn, READ_AHEAD, SHORT, head_len, mask_blocks, mask_short, rotate_key};

    /// How far ahead of its stores [`extend_avx512`] asks for the destination's cache lines.
    ///
    /// A message being reassembled is written to memory that is not in the cache, and the
    /// stores wait for each line to arrive: on the comparison's fragments row (1 MiB as 1024
    /// 1 KiB fragments) they were a third of our time. Asking for the lines 2 KiB ahead, with
    /// write intent, took that row from 9.8-10.2 to 10.5-11.0 GiB/s (CPU time, three runs
    /// each); the copy-then-mask path gained nothing from the same prefetch, nor the fused loop
    /// without it. 512 B and 8 KiB measured about the same as 2 KiB there (AMD Zen 5). On an
    /// AMD Zen 4, with fragments taken straight from the read (`Connection::handle_read`),
    /// 512 B did best: 2.02-2.28x of tokio-websockets against 1.56-2.00x at 2 KiB, 1.64-1.85x
    /// at 8 KiB and 1.81-2.05x without (four alternated runs; 8 KiB three).
    const PREFETCH_AHEAD: usize = 512;

    /// Asks for the cache line holding `byte`, into L2.
    #[inline(always)]
    pub(super) fn prefetch_l2(byte: &u8) {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, part of every x86_64 CPU (the baseline). It only
        // hints, never accesses memory, and the address is of a live byte all the same.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(std::ptr::from_ref(byte).cast::<i8>()) };
    }

    /// Appends `src` to `dst` with every byte XORed with `key` (at phase 0) and returns `true`,
    /// when the CPU has AVX-512F; otherwise returns `false` without touching `dst`. `src` must
    /// be at least 64 bytes long.
    #[inline(always)]
    pub(super) fn try_extend<const PREFETCH: bool>(
        dst: &mut BytesMut,
        src: &[u8],
        key: [u8; 4],
    ) -> bool {
        let supported = std::arch::is_x86_feature_detected!("avx512f");
        if supported {
            // SAFETY: `extend_avx512` requires the `avx512f` target feature, which the CPU was
            // just checked to support; its other preconditions are checked inside it.
            unsafe { extend_avx512::<PREFETCH>(dst, src, key) };
        }
        supported
    }

    /// The fused copy and unmask: each 64-byte group of `src` is loaded, XORed and stored
    /// into `dst`'s spare capacity, with the stores aligned to cache lines (the first and last
    /// group are stored unaligned, overlapping their neighbours with the same values).
    /// `src`'s lines are asked for [`READ_AHEAD`] bytes ahead, into L2.
    #[target_feature(enable = "avx512f")]
    fn extend_avx512<const PREFETCH: bool>(dst: &mut BytesMut, src: &[u8], key: [u8; 4]) {
        use std::arch::x86_64::_mm512_loadu_si512;
        use std::arch::x86_64::_mm512_xor_si512;
        use std::arch::x86_64::{__m512i, _MM_HINT_ET0, _MM_HINT_T1, _mm_prefetch};
        use std::arch::x86_64::{_mm512_set1_epi32, _mm512_store_si512, _mm512_storeu_si512};

        const LANE: usize = 64;
        let len = src.len();
        assert!(len >= LANE, "fused unmasking needs at least one full group");
        dst.reserve(len);
        let spare = dst.spare_capacity_mut();
        // Cache lines may be requested anywhere in the spare capacity, and no further.
        let prefetch_end = spare.len();
        let out = spare[..len].as_mut_ptr().cast::<u8>();
        let from = src.as_ptr();
        // The first store at or after `out` that starts a cache line.
        let head = out.addr().wrapping_neg() % LANE;
        let key_at = |phase: usize| _mm512_set1_epi32(i32::from_ne_bytes(rotate_key(key, phase)));
        // SAFETY: every load reads 64 bytes at an offset `i <= len - 64` of `src` (`len >= 64`,
        // checked above), and every store writes 64 bytes at such an offset of `out`, which
        // points to `len` bytes of spare capacity: all in bounds. The loop stores start at
        // `head`, a multiple of 64 bytes from a cache-line boundary, so `_mm512_store_si512`'s
        // alignment holds. The bytes `0..len` of `out` are all written: `0..64` by the first
        // store (`head < 64`), `head..i` by the loop, which stops at the first `i` with
        // `i + 64 > len`, and `len - 64..len` (which covers `i..len`) by the last. So `set_len`
        // exposes only initialized bytes, within the capacity. The prefetches only hint at
        // addresses inside the spare capacity or inside `src` (the source's [`READ_AHEAD`]
        // bytes ahead, while that is before `len`) and never access memory.
        unsafe {
            let first = _mm512_loadu_si512(from.cast::<__m512i>());
            _mm512_storeu_si512(out.cast::<__m512i>(), _mm512_xor_si512(first, key_at(0)));
            let body_key = key_at(head);
            let mut i = head;
            while i + LANE <= len {
                if PREFETCH && i + PREFETCH_AHEAD < prefetch_end {
                    _mm_prefetch::<_MM_HINT_ET0>(out.add(i + PREFETCH_AHEAD).cast::<i8>());
                }
                if i + READ_AHEAD < len {
                    _mm_prefetch::<_MM_HINT_T1>(from.add(i + READ_AHEAD).cast::<i8>());
                }
                let group = _mm512_loadu_si512(from.add(i).cast::<__m512i>());
                let unmasked = _mm512_xor_si512(group, body_key);
                _mm512_store_si512(out.add(i).cast::<__m512i>(), unmasked);
                i += LANE;
            }
            let last = _mm512_loadu_si512(from.add(len - LANE).cast::<__m512i>());
            // `len - 64` has the key phase of `len`.
            let last = _mm512_xor_si512(last, key_at(len));
            _mm512_storeu_si512(out.add(len - LANE).cast::<__m512i>(), last);
            dst.set_len(dst.len() + len);
        }
    }

    /// Masks `buf` with the best build of the loop that the CPU supports and
    /// returns `true`, or returns `false` without touching `buf` when the CPU has neither
    /// AVX-512 nor AVX2.
    #[inline(always)]
    pub(super) fn try_mask(buf: &mut [u8], key: [u8; 4]) -> bool {
        try_avx512(buf, key) || try_avx2(buf, key)
    }

    /// The builds this CPU can run, for [`super::mask_paths`].
    pub(super) fn paths() -> impl Iterator<Item = (&'static str, MaskFn)> {
        let avx2: (&str, MaskFn) = ("avx2", |buf, key, phase| {
            assert!(
                try_avx2(buf, rotate_key(key, phase)),
                "listed only with AVX2"
            );
        });
        let avx512: (&str, MaskFn) = ("avx512", |buf, key, phase| {
            assert!(
                try_avx512(buf, rotate_key(key, phase)),
                "listed only with AVX-512F"
            );
        });
        let has_avx2 = std::arch::is_x86_feature_detected!("avx2");
        let has_avx512 = std::arch::is_x86_feature_detected!("avx512f");
        has_avx2
            .then_some(avx2)
            .into_iter()
            .chain(has_avx512.then_some(avx512))
    }

    /// Masks `buf` with the AVX2 build and returns `true` if the CPU supports AVX2.
    #[inline(always)]
    fn try_avx2(buf: &mut [u8], key: [u8; 4]) -> bool {
        // `is_x86_feature_detected!` caches the CPUID result in a static after the first
        // call: what remains is one relaxed atomic load and a bit test.
        let supported = std::arch::is_x86_feature_detected!("avx2");
        if supported {
            // SAFETY: `mask_avx2` only requires the `avx2` target feature, and the CPU we are
            // running on was just checked to support it. Its body is safe code.
            unsafe { mask_avx2(buf, key) };
        }
        supported
    }

    /// Masks `buf` with the AVX-512 build and returns `true` if the CPU supports AVX-512F.
    #[inline(always)]
    fn try_avx512(buf: &mut [u8], key: [u8; 4]) -> bool {
        let supported = std::arch::is_x86_feature_detected!("avx512f");
        if supported {
            // SAFETY: `mask_avx512` only requires the `avx512f` target feature, and the CPU we
            // are running on was just checked to support it. Its loads and stores stay inside
            // `buf` (see the SAFETY comment there): no other precondition.
            unsafe { mask_avx512(buf, key) };
        }
        supported
    }

    /// [`mask_blocks`] compiled with AVX2 enabled: 32-byte vector XORs. Calling it is
    /// `unsafe` outside code compiled with AVX2: the CPU must support it.
    #[target_feature(enable = "avx2")]
    fn mask_avx2(buf: &mut [u8], key: [u8; 4]) {
        mask_blocks(buf, key);
    }

    /// The loop of [`mask_blocks`] on 64-byte AVX-512 registers, written with intrinsics:
    /// compiled from the safe loop under `avx512f`, the block loop came out (with LTO) as
    /// gathers and scatters across blocks, three times slower than AVX2. The head and the tail
    /// are [`mask_short`], compiled here with 32-byte vectors. Calling it is `unsafe` outside
    /// code compiled with AVX-512F: the CPU must support it.
    ///
    /// Unlike [`mask_blocks`], the blocks run front to back. On the AMD EPYC (AVX-512, 48 KiB
    /// L1) this was measured on, forward took a 64 KiB buffer from 466 to 316 ns and 1 MiB
    /// from 7.7 to 7.0 us (criterion `mask/*/dispatched`, AVX-512 now at every length, against
    /// AVX2 back to front above 32 KiB as before), and the comparison's decode of 64 KiB
    /// messages (a copy, then the mask) did not lose: its masking took fewer samples than
    /// before under perf. The Intel Xeon of earlier measurements had found AVX-512 a few
    /// percent behind AVX2 above 32 KiB, within that row's noise.
    #[target_feature(enable = "avx512f")]
    fn mask_avx512(buf: &mut [u8], key: [u8; 4]) {
        use std::arch::x86_64::{__m512i, _mm512_loadu_si512, _mm512_set1_epi32};
        use std::arch::x86_64::{_mm512_storeu_si512, _mm512_xor_si512};

        if buf.len() < SHORT {
            mask_short(buf, key);
            return;
        }
        // The same steps and order as `mask_blocks`.
        let (head, body) = buf.split_at_mut(head_len(buf));
        let body_key = rotate_key(key, head.len());
        let (blocks, tail) = body.as_chunks_mut::<BLOCK>();
        mask_short(tail, body_key);
        let wide = _mm512_set1_epi32(i32::from_ne_bytes(body_key));
        for block in blocks.iter_mut() {
            for lane in block.as_chunks_mut::<64>().0.iter_mut() {
                let lane = lane.as_mut_ptr().cast::<__m512i>();
                // SAFETY: `lane` points to 64 bytes of `buf`, valid for reads and writes and not
                // otherwise borrowed here; the unaligned load and store accept any alignment.
                unsafe {
                    _mm512_storeu_si512(lane, _mm512_xor_si512(_mm512_loadu_si512(lane), wide))
                };
            }
        }
        mask_short(head, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `prefetch_read` called frame by frame asks for every line of the read past the first
    // READ_AHEAD bytes exactly once, and for nothing outside the read. (No checklist ID: a
    // performance hint, not a protocol rule.)
    #[test]
    fn read_ahead_asks_for_each_line_of_the_read_once() {
        for addr in [0usize, 1, 37, 63, 64, 4096 + 5] {
            for len in [
                0usize,
                1,
                100,
                READ_AHEAD,
                READ_AHEAD + 1,
                READ_AHEAD + 700,
                20_000,
            ] {
                for frame in [1usize, 16, 22, 64, 130, 1000, 5000] {
                    let mut asked = Vec::new();
                    let mut pos = 0;
                    while pos < len {
                        let end = (pos + frame).min(len);
                        asked.extend(ahead_lines(addr, len, pos, end));
                        pos = end;
                    }
                    let want: Vec<usize> = (READ_AHEAD..len)
                        .filter(|at| (addr + at) % 64 == 0)
                        .collect();
                    assert_eq!(asked, want, "addr {addr} len {len} frame {frame}");
                }
            }
        }
        // Bounds far past the read (a huge `to`) ask for nothing beyond it.
        assert!(
            ahead_lines(0, 10, usize::MAX - 1, usize::MAX)
                .next()
                .is_none()
        );
        assert!(ahead_lines(3, 5000, 0, usize::MAX).all(|at| at < 5000));
    }

    // FR-09: the RFC example unmasked whole and in chunks of 2 + 2 + 1.
    #[test]
    fn fr09_rfc_example_in_chunks() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let masked = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let mut whole = masked;
        apply_mask(&mut whole, key, 0);
        assert_eq!(&whole, b"Hello");
        let mut chunked = masked;
        let (a, rest) = chunked.split_at_mut(2);
        let (b, c) = rest.split_at_mut(2);
        apply_mask(a, key, 0);
        apply_mask(b, key, 2);
        apply_mask(c, key, 4);
        assert_eq!(&chunked, b"Hello");
    }

    #[test]
    fn rotate_key_matches_index_arithmetic() {
        let key = [1, 2, 3, 4];
        for phase in 0..12 {
            let expect: Vec<u8> = (0..4).map(|j| key[(j + phase) % 4]).collect();
            assert_eq!(rotate_key(key, phase).to_vec(), expect, "phase {phase}");
        }
    }

    #[test]
    fn matches_naive_for_all_small_lengths_phases_and_offsets() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..400).map(|i| (i * 7 + 3) as u8).collect();
        // Different start offsets inside one allocation exercise every alignment of the head.
        for start in 0..BLOCK {
            for len in 0..(data.len() - start) {
                for phase in 0..4 {
                    let range = start..start + len;
                    let mut slow = data.clone();
                    apply_mask_naive(&mut slow[range.clone()], key, phase);
                    for (name, path) in mask_paths()
                        .into_iter()
                        .chain([("dispatched", apply_mask as MaskFn)])
                    {
                        let mut fast = data.clone();
                        path(&mut fast[range.clone()], key, phase);
                        assert_eq!(fast, slow, "{name}: start {start} len {len} phase {phase}");
                    }
                }
            }
        }
    }

    /// What [`extend_unmasked`] must produce: `dst` followed by `src` masked byte by byte.
    fn naive_extend(dst: &[u8], src: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
        let mut tail = src.to_vec();
        apply_mask_naive(&mut tail, key, phase);
        [dst, &tail].concat()
    }

    // FR-09: a payload copied and unmasked in one pass equals the byte-at-a-time result,
    // at every length of the short steps and past them, for offsets into larger buffers.
    #[test]
    fn copy_masked_matches_naive_for_every_short_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let src: Vec<u8> = (0..400).map(|i| (i * 29 + 7) as u8).collect();
        for len in 0..300 {
            for offset in [0, 1, 3, 5] {
                let mut dst = vec![0xee; len + offset + 3];
                copy_masked(
                    &mut dst[offset..offset + len],
                    &src[offset..offset + len],
                    key,
                );
                let mut expect = src[offset..offset + len].to_vec();
                apply_mask_naive(&mut expect, key, 0);
                assert_eq!(
                    &dst[offset..offset + len],
                    &expect[..],
                    "len {len} offset {offset}"
                );
                // Nothing around the destination is touched.
                assert!(dst[..offset].iter().all(|&b| b == 0xee), "len {len}");
                assert!(dst[offset + len..].iter().all(|&b| b == 0xee), "len {len}");
            }
        }
    }

    #[test]
    fn extend_unmasked_matches_naive_for_all_small_lengths_and_phases() {
        let key = [0x5c, 0x01, 0xf7, 0x88];
        let src: Vec<u8> = (0..300).map(|i| (i * 13 + 1) as u8).collect();
        // A prefix already in `dst` (of every length mod 8) must be left alone.
        for prefix in 0..8 {
            let before: Vec<u8> = (0..prefix).map(|i| i as u8 ^ 0xaa).collect();
            for len in 0..src.len() {
                for phase in 0..8 {
                    let mut dst = BytesMut::from(&before[..]);
                    extend_unmasked(&mut dst, &src[..len], key, phase);
                    let expect = naive_extend(&before, &src[..len], key, phase);
                    assert_eq!(
                        &dst[..],
                        &expect[..],
                        "prefix {prefix} len {len} phase {phase}"
                    );
                }
            }
        }
    }

    // FR-09: the fused copy-and-unmask stores aligned to cache lines, with an unaligned first
    // and last group: every start of the destination within a line, every length from the
    // shortest it takes to a few lines and beyond, every phase; the portable path too.
    #[test]
    fn extend_unmasked_matches_naive_at_every_destination_alignment() {
        let key = [0x9d, 0x26, 0x4b, 0xe0];
        let src: Vec<u8> = (0..5000).map(|i| (i * 29 + 5) as u8).collect();
        let lens = (SHORT..SHORT + 200).chain([1000, 1024, 1031, 4096, 4999, 5000]);
        for len in lens {
            for prefix in 0..64 {
                let before: Vec<u8> = (0..prefix).map(|i| i as u8 ^ 0x3c).collect();
                for phase in 0..4 {
                    let expect = naive_extend(&before, &src[..len], key, phase);
                    type Extend = fn(&mut BytesMut, &[u8], [u8; 4], usize);
                    let paths: [(&str, Extend); 3] = [
                        ("dispatched", extend_unmasked),
                        ("reused", extend_unmasked_reused),
                        ("pieces", extend_in_pieces),
                    ];
                    // Room reserved up front, so the prefix sets the destination's alignment;
                    // exactly enough room too, so that a store past the end is caught by
                    // AddressSanitizer (`RUSTFLAGS=-Zsanitizer=address cargo +nightly test`).
                    for (name, extend) in paths {
                        for slack in [64, 0] {
                            let mut dst = BytesMut::with_capacity(prefix + len + slack);
                            dst.extend_from_slice(&before);
                            extend(&mut dst, &src[..len], key, phase);
                            assert_eq!(
                                &dst[..],
                                &expect[..],
                                "{name}: prefix {prefix} len {len} phase {phase} slack {slack}"
                            );
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        // Long inputs: on the portable path they go 8 KiB at a time, and the phase must carry
        // across the pieces; that path is checked directly as well, since on a CPU with
        // AVX-512F the dispatched call never takes it (FR-09).
        #[test]
        fn extend_unmasked_matches_naive_for_long_inputs(
            len in 0usize..40_000,
            seed in proptest::prelude::any::<u8>(),
            prefix in 0usize..70,
            key in proptest::prelude::any::<[u8; 4]>(),
            phase in 0usize..4,
        ) {
            let src: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
            let before = vec![0x42; prefix];
            let expect = naive_extend(&before, &src, key, phase);
            let mut dst = BytesMut::from(&before[..]);
            extend_unmasked(&mut dst, &src, key, phase);
            proptest::prop_assert_eq!(&dst[..], &expect[..]);
            let mut dst = BytesMut::from(&before[..]);
            extend_unmasked_reused(&mut dst, &src, key, phase);
            proptest::prop_assert_eq!(&dst[..], &expect[..], "reused");
            let mut dst = BytesMut::from(&before[..]);
            extend_in_pieces(&mut dst, &src, key, phase);
            proptest::prop_assert_eq!(&dst[..], &expect[..], "pieces");
        }
    }
}
