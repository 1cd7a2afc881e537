//! Masking (FR-09): every path (naive, portable fallback, each vector build the CPU can run,
//! dispatched) gives the same bytes for every length, start alignment, key phase and key;
//! masking twice is the identity; a payload masked in chunks with the phase carried over
//! equals the payload masked whole.

use proptest::prelude::*;
use rfc6455::frame::{MaskFn, apply_mask, apply_mask_fallback, apply_mask_naive, mask_paths};

/// Every build this CPU runs (portable, AVX2, AVX-512), and the dispatched entry point.
fn paths() -> Vec<(&'static str, MaskFn)> {
    let mut paths = mask_paths();
    paths.push(("dispatched", apply_mask));
    paths
}

#[test]
fn every_build_the_cpu_supports_is_listed() {
    let names: Vec<&str> = mask_paths().iter().map(|(name, _)| *name).collect();
    assert_eq!(names[0], "portable");
    assert_eq!(
        mask_paths()[0].1 as usize,
        apply_mask_fallback as MaskFn as usize
    );
    #[cfg(target_arch = "x86_64")]
    {
        let expect_avx2 = std::arch::is_x86_feature_detected!("avx2");
        let expect_avx512 = std::arch::is_x86_feature_detected!("avx512f");
        assert_eq!(names.contains(&"avx2"), expect_avx2, "{names:?}");
        assert_eq!(names.contains(&"avx512"), expect_avx512, "{names:?}");
    }
}

/// Masks `data[start..]` with every path and checks each against the naive loop. Bytes
/// before `start` must not change.
fn check_all_paths(data: &[u8], start: usize, key: [u8; 4], phase: usize) {
    let mut expect = data.to_vec();
    apply_mask_naive(&mut expect[start..], key, phase);
    for (name, path) in paths() {
        let mut got = data.to_vec();
        path(&mut got[start..], key, phase);
        assert_eq!(
            got,
            expect,
            "{name}: len {} start {start} phase {phase} key {key:02x?}",
            data.len() - start
        );
    }
}

#[test]
fn naive_loop_follows_the_rfc_formula() {
    // RFC 6455 section 5.3: octet i of the transformed data is octet i of the original data
    // XOR octet (i MOD 4) of the masking key. The section 5.7 example.
    let mut data = *b"Hello";
    apply_mask_naive(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
    assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    // Phase 3 starts at key[3].
    let mut data = [0u8; 5];
    apply_mask_naive(&mut data, [1, 2, 3, 4], 3);
    assert_eq!(data, [4, 1, 2, 3, 4]);
}

#[test]
fn every_length_up_to_300_and_every_phase() {
    let key = [0x9a, 0x05, 0xe3, 0x71];
    for len in 0..=300usize {
        // A start offset of 0..4 on top of the allocation's alignment varies the head.
        for start in 0..4 {
            let data: Vec<u8> = (0..start + len).map(|i| (i * 31 + 7) as u8).collect();
            for phase in 0..4 {
                check_all_paths(&data, start, key, phase);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn paths_equal_naive_small(
        data in proptest::collection::vec(any::<u8>(), 0..=300),
        start in 0usize..64,
        key in any::<[u8; 4]>(),
        phase in 0usize..4,
    ) {
        let start = start.min(data.len());
        check_all_paths(&data, start, key, phase);
    }

    #[test]
    fn paths_equal_naive_large(
        len in 300usize..70_000,
        seed in any::<u8>(),
        start in 0usize..64,
        key in any::<[u8; 4]>(),
        phase in 0usize..4,
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        check_all_paths(&data, start, key, phase);
    }

    #[test]
    fn mask_twice_is_identity(
        data in proptest::collection::vec(any::<u8>(), 0..=2000),
        key in any::<[u8; 4]>(),
        phase in 0usize..4,
    ) {
        for (name, path) in paths().into_iter().chain([("naive", apply_mask_naive as MaskFn)]) {
            let mut buf = data.clone();
            path(&mut buf, key, phase);
            path(&mut buf, key, phase);
            prop_assert_eq!(&buf, &data, "{}", name);
        }
    }

    // FR-09: the phase carries across chunk boundaries.
    #[test]
    fn chunked_with_carried_phase_equals_whole(
        data in proptest::collection::vec(any::<u8>(), 0..=1000),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        key in any::<[u8; 4]>(),
    ) {
        let mut whole = data.clone();
        apply_mask_naive(&mut whole, key, 0);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        for (name, path) in paths() {
            let mut chunked = data.clone();
            for pair in cuts.windows(2) {
                path(&mut chunked[pair[0]..pair[1]], key, pair[0]);
            }
            prop_assert_eq!(&chunked, &whole, "{}", name);
        }
    }
}
