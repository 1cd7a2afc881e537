//! Masking (RFC 6455 section 5.3): byte `i` of the payload is XORed with `key[i % 4]`.

/// XORs `buf` with the masking key, starting at key phase `phase` (the index of the first
/// byte of `buf` within the frame's payload, modulo 4). Applying the same call twice
/// restores the input. The phase lets a payload be (un)masked in chunks (FR-09).
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = rotate_key(key, phase);
    apply_mask_words(buf, key);
}

/// The key as seen from a buffer that starts at `phase`.
fn rotate_key(key: [u8; 4], phase: usize) -> [u8; 4] {
    let mut rotated = [0; 4];
    for (i, k) in rotated.iter_mut().enumerate() {
        *k = key[(i + phase) % 4];
    }
    rotated
}

/// The portable path: whole 32-byte blocks against a repeated key, which the compiler turns
/// into vector XORs, then the tail byte by byte.
fn apply_mask_words(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// The reference implementation: one byte at a time. Tests and benches compare against it.
#[doc(hidden)]
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + phase) % 4];
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
    fn matches_naive_for_all_small_lengths_and_phases() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..200 {
            for phase in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, phase);
                apply_mask_naive(&mut slow, key, phase);
                assert_eq!(fast, slow, "len {len} phase {phase}");
            }
        }
    }
}
