//! Masking throughput: the dispatched path, every build the CPU can run (portable, AVX2,
//! AVX-512) and the naive byte loop, against a `memcpy` of the same size as the reference line; and
//! the time per call for the short buffers of small messages.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::frame::{apply_mask, apply_mask_fallback, apply_mask_naive, mask_paths};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const SIZES: [(usize, &str); 3] = [(4 << 10, "4KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn mask(c: &mut Criterion) {
    for (size, name) in SIZES {
        let mut group = c.benchmark_group(format!("mask/{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        if size >= 1 << 20 {
            group.sample_size(20);
        }
        let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut buf = src.clone();

        group.bench_function(BenchmarkId::from_parameter("memcpy"), |b| {
            b.iter(|| buf.copy_from_slice(black_box(&src)));
        });
        group.bench_function(BenchmarkId::from_parameter("naive"), |b| {
            b.iter(|| apply_mask_naive(black_box(&mut buf), KEY, 0));
        });
        for (path, mask) in mask_paths() {
            group.bench_function(BenchmarkId::from_parameter(path), |b| {
                b.iter(|| mask(black_box(&mut buf), KEY, 0));
            });
        }
        group.bench_function(BenchmarkId::from_parameter("dispatched"), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0));
        });
        // An unaligned start and phase, as when a payload follows a 6-byte header.
        group.bench_function(BenchmarkId::from_parameter("dispatched_offset"), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[6..]), KEY, 1));
        });
        group.finish();
    }
}

/// Small messages are unmasked one call at a time: what matters is the cost of a call.
fn mask_short(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask_short");
    group.measurement_time(Duration::from_secs(1));
    group.warm_up_time(Duration::from_millis(300));
    let mut buf = [0x5a_u8; 128];
    for len in [2, 7, 16, 31, 64, 125] {
        group.bench_function(BenchmarkId::new("dispatched", len), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[..len]), KEY, black_box(1)));
        });
        group.bench_function(BenchmarkId::new("fallback", len), |b| {
            b.iter(|| apply_mask_fallback(black_box(&mut buf[..len]), KEY, black_box(1)));
        });
    }
    group.finish();
}

criterion_group!(benches, mask, mask_short);
criterion_main!(benches);
