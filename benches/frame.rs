//! Frame codec throughput: header parse, decode of streams of masked client frames (the
//! server's receive path) and encode of the same sizes for both roles.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::Role;
use rfc6455::frame::{
    DecoderConfig, FrameDecoder, FrameEncoder, FrameHeader, HeaderStatus, OpCode,
};

/// Payload sizes, with the number of frames per stream (about 1 MiB of payload per stream).
const SIZES: [(usize, &str); 5] = [
    (16, "16B"),
    (125, "125B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];
const STREAM_BYTES: usize = 1 << 20;

fn frames_per_stream(size: usize) -> usize {
    (STREAM_BYTES / size).max(2)
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(20);
}

fn header_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("header_parse");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let server = DecoderConfig::new(Role::Server);
    let client = DecoderConfig::new(Role::Client);
    let cases: [(&str, &[u8], DecoderConfig); 4] = [
        ("unmasked_7bit", &[0x82, 0x10], client),
        ("masked_7bit", &[0x82, 0x90, 1, 2, 3, 4], server),
        (
            "masked_16bit",
            &[0x82, 0xfe, 0x04, 0x00, 1, 2, 3, 4],
            server,
        ),
        (
            "masked_64bit",
            &[0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4],
            server,
        ),
    ];
    for (name, bytes, cfg) in cases {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            // Use the fields as a decoder would, rather than copying the whole result out
            // (which measures a store-forwarding stall of the benchmark's own making).
            b.iter(
                || match FrameHeader::parse(black_box(bytes), black_box(&cfg)) {
                    Ok(HeaderStatus::Complete { header, len }) => (header.payload_len, len),
                    _ => unreachable!("complete valid headers"),
                },
            );
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_masked");
    configure(&mut group);
    for (size, name) in SIZES {
        let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut enc = FrameEncoder::new(Role::Client);
        let mut wire = BytesMut::new();
        for _ in 0..frames_per_stream(size) {
            enc.encode(&mut wire, true, 0, OpCode::Binary, &payload);
        }
        let frames = frames_per_stream(size);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched_ref(
                || {
                    (
                        FrameDecoder::new(DecoderConfig::new(Role::Server)),
                        wire.clone(),
                    )
                },
                |(dec, buf)| {
                    let mut n = 0;
                    while let Some(frame) = dec.decode(buf).expect("valid stream") {
                        black_box(&frame);
                        n += 1;
                    }
                    assert_eq!(n, frames);
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    for role in [Role::Server, Role::Client] {
        let mut group = c.benchmark_group(format!("encode_{role:?}").to_lowercase());
        configure(&mut group);
        for (size, name) in SIZES {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let frames = frames_per_stream(size);
            let mut enc = FrameEncoder::new(role);
            let mut out = BytesMut::new();
            for _ in 0..frames {
                enc.encode(&mut out, true, 0, OpCode::Binary, &payload);
            }
            group.throughput(Throughput::Bytes(out.len() as u64));
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    out.clear();
                    for _ in 0..frames {
                        enc.encode(&mut out, true, 0, OpCode::Binary, black_box(&payload));
                    }
                    black_box(&out);
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, header_parse, decode, encode);
criterion_main!(benches);
