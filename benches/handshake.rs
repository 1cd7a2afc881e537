//! Parse + validate + accept of a typical browser upgrade request (Chromium fixture).

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::handshake::{AcceptOptions, RequestParser, ServerStatus};
use std::hint::black_box;

const CHROMIUM: &[u8] = include_bytes!("../tests/fixtures/chromium.http");

fn server_accept(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Bytes(CHROMIUM.len() as u64));
    group.bench_function("server_parse_validate_accept/chromium", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(CHROMIUM));
            let Ok(ServerStatus::Upgrade(request)) = RequestParser::default().feed(&mut buf) else {
                panic!("fixture must be an upgrade");
            };
            let (response, negotiated) = request.accept(&AcceptOptions::new()).unwrap();
            black_box((response, negotiated))
        });
    });
    group.finish();
}

criterion_group!(benches, server_accept);
criterion_main!(benches);
