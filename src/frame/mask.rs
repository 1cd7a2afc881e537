//! Masking (RFC 6455 section 5.3): byte `i` of the payload is XORed with `key[i % 4]`.
//!
//! This is the one hot loop of the crate, and the one file where `unsafe` is allowed: a single
//! call into the AVX2 build of the loop, made only after the CPU was seen to support AVX2.
//!
//! There is one loop, [`mask_blocks`], written in plain safe Rust. It is compiled twice:
//!
//! - as the portable fallback, with the target's baseline features (SSE2 on x86_64, NEON on
//!   aarch64), where the compiler turns each 128-byte block into 16-byte vector XORs;
//! - inside a `#[target_feature(enable = "avx2")]` function on x86_64, where the same code
//!   becomes 32-byte vector XORs. [`apply_mask`] picks it at run time when the CPU has AVX2.

/// The number of bytes the main loop handles per iteration: four AVX2 registers, eight SSE2
/// or NEON registers. A multiple of 4, so every block starts at key phase 0.
const BLOCK: usize = 128;

/// Buffers at least this long first mask a short head so that the main loop runs on
/// cache-line-aligned addresses: no vector load or store then straddles two cache lines.
const ALIGN: usize = 64;
/// Shorter buffers are not worth aligning.
const ALIGN_MIN_LEN: usize = 2 * BLOCK;

/// XORs `buf` with the masking key, starting at key phase `phase` (the index of the first
/// byte of `buf` within the frame's payload, modulo 4). Applying the same call twice
/// restores the input. The phase lets a payload be (un)masked in chunks (FR-09).
///
/// On x86_64 CPUs with AVX2 (detected at run time) this uses 32-byte vector operations;
/// everywhere else, the portable loop of [`apply_mask_fallback`].
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = rotate_key(key, phase);
    #[cfg(target_arch = "x86_64")]
    if avx2::try_mask(buf, key) {
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

/// The reference implementation: one byte at a time. Tests and benches compare against it.
#[doc(hidden)]
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + phase) % 4];
    }
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
/// `#[inline(always)]` so that it is compiled with the features of each caller: the baseline
/// target for the fallback, AVX2 inside [`avx2`].
#[inline(always)]
fn mask_blocks(buf: &mut [u8], key: [u8; 4]) {
    // A short unaligned head, so that the blocks below start on a cache line.
    let head = if buf.len() >= ALIGN_MIN_LEN {
        buf.as_ptr().align_offset(ALIGN).min(buf.len())
    } else {
        0
    };
    let (head_bytes, body) = buf.split_at_mut(head);
    mask_short(head_bytes, key);
    let key = rotate_key(key, head);

    let wide = wide_key(key);
    let mut blocks = body.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        // A fixed trip count of BLOCK / 8: fully unrolled, then merged into vector XORs.
        for lane in block.chunks_exact_mut(8) {
            xor_word(lane, wide);
        }
    }
    // Fewer than BLOCK bytes remain, starting at phase 0 of `key`.
    mask_short(blocks.into_remainder(), key);
}

/// The key repeated over a word. Kept in a register (broadcast to a vector register by the
/// compiler) rather than loaded from a pattern in memory on every block.
#[inline(always)]
fn wide_key(key: [u8; 4]) -> u64 {
    u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ])
}

/// Masks a short slice (a head or a tail, under `BLOCK` bytes) in a few steps of decreasing
/// width: 32-byte groups (one vector operation each under AVX2), 8-byte words, then at most
/// seven bytes. Every step covers a multiple of 4 bytes, so the key phase stays at 0.
#[inline(always)]
fn mask_short(buf: &mut [u8], key: [u8; 4]) {
    let wide = wide_key(key);
    let mut groups = buf.chunks_exact_mut(32);
    for group in &mut groups {
        for lane in group.chunks_exact_mut(8) {
            xor_word(lane, wide);
        }
    }
    let mut words = groups.into_remainder().chunks_exact_mut(8);
    for lane in &mut words {
        xor_word(lane, wide);
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// XORs an 8-byte `lane` with `wide`.
#[inline(always)]
fn xor_word(lane: &mut [u8], wide: u64) {
    let mut word = [0; 8];
    word.copy_from_slice(lane);
    lane.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
}

/// The AVX2 build of [`mask_blocks`] and its run-time dispatch: the only `unsafe` in the crate.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    /// Masks `buf` with the AVX2 build of the loop and returns `true` when the CPU supports
    /// AVX2; returns `false` without touching `buf` otherwise.
    #[inline(always)]
    pub(super) fn try_mask(buf: &mut [u8], key: [u8; 4]) -> bool {
        // `is_x86_feature_detected!` caches the CPUID result in a static after the first
        // call: what remains is one relaxed atomic load and a bit test.
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `mask` only requires the `avx2` target feature, and the CPU we are running
            // on was just checked to support it. Its body is safe code: no other precondition.
            unsafe { mask(buf, key) };
            true
        } else {
            false
        }
    }

    /// [`super::mask_blocks`] compiled with AVX2 enabled.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2. (An `unsafe fn` because the crate's minimum Rust version
    /// predates safe `#[target_feature]` functions; the body is safe code.)
    #[target_feature(enable = "avx2")]
    unsafe fn mask(buf: &mut [u8], key: [u8; 4]) {
        super::mask_blocks(buf, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    let mut fast = data.clone();
                    let mut portable = data.clone();
                    let mut slow = data.clone();
                    apply_mask(&mut fast[range.clone()], key, phase);
                    apply_mask_fallback(&mut portable[range.clone()], key, phase);
                    apply_mask_naive(&mut slow[range.clone()], key, phase);
                    assert_eq!(fast, slow, "start {start} len {len} phase {phase}");
                    assert_eq!(portable, slow, "start {start} len {len} phase {phase}");
                }
            }
        }
    }
}
