//! rfc6455 against tungstenite, fastwebsockets and tokio-websockets: the same in-memory
//! inputs through each library's ordinary server API, interleaved in every repetition,
//! every result checked. Prints a Markdown table of medians and ratios (ours / best peer).
//!
//! Run: `cargo run --release --manifest-path benches/compare/Cargo.toml [-- [--quick | --reps N] [row]]`
//! (61 repetitions per row by default, 5 with `--quick`; the echo row runs 5, or 3).
//! Our decode driver hands each read to `Connection::handle_read`; with `--handle-input` it
//! appends it to a `BytesMut` and calls `handle_input` instead. `--read-size N` bounds every
//! library's reads to N bytes (64 KiB by default).

mod clock;
mod echo;
mod libs;
mod mem;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libs::Lib;
use mem::Check;
use rfc6455::Role;
use rfc6455::frame::{FrameEncoder, OpCode};

#[global_allocator]
static ALLOC: mem::CountingAlloc = mem::CountingAlloc;

const CHROMIUM: &[u8] = include_bytes!("../../../tests/fixtures/chromium.http");

/// How a row reports its medians.
#[derive(Clone, Copy)]
enum Unit {
    /// Nanoseconds per operation; `ops` operations per run.
    NsPerOp(f64),
    /// GiB/s; `bytes` per run.
    GiBps(f64),
    /// Messages per second; the medians are seconds per message.
    MsgsPerSec,
}

struct Row {
    name: String,
    unit: Unit,
    /// Median seconds per run, per library (None: not measured).
    medians: Vec<(Lib, Option<f64>)>,
    /// Seconds of every run, in repetition order, per library measured (empty: the row
    /// keeps no runs).
    runs: Runs,
    target: &'static str,
    /// The ratio that meets the target.
    goal: f64,
    note: String,
}

impl Row {
    fn speed(&self, lib: Lib) -> Option<f64> {
        let secs = self.medians.iter().find(|(l, _)| *l == lib)?.1?;
        Some(match self.unit {
            Unit::NsPerOp(ops) => ops / secs,
            Unit::GiBps(bytes) => bytes / secs,
            Unit::MsgsPerSec => 1.0 / secs,
        })
    }

    fn cell(&self, lib: Lib) -> String {
        let Some(Some(secs)) = self.medians.iter().find(|(l, _)| *l == lib).map(|m| m.1) else {
            return "n/a".into();
        };
        match self.unit {
            Unit::NsPerOp(ops) => format!("{:.0} ns", secs * 1e9 / ops),
            Unit::GiBps(bytes) => format!("{:.2} GiB/s", bytes / secs / (1u64 << 30) as f64),
            Unit::MsgsPerSec => format!("{:.2} M msg/s", 1e-6 / secs),
        }
    }

    /// The middle half of the ratios of our speed to `peer`'s within each repetition (the
    /// libraries run back to back in a repetition, so these pairs saw the same machine).
    fn spread(&self, peer: Lib) -> Option<(f64, f64)> {
        let runs = |lib: Lib| self.runs.iter().find(|(l, _)| *l == lib).map(|r| &r.1);
        let (ours, theirs) = (runs(Lib::Ours)?, runs(peer)?);
        let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| t / o).collect();
        if ratios.len() < 4 {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        Some((ratios[ratios.len() / 4], ratios[ratios.len() * 3 / 4]))
    }

    /// Our speed over the best peer's, and that peer.
    fn ratio(&self) -> Option<(f64, Lib)> {
        let ours = self.speed(Lib::Ours)?;
        let (best, lib) = Lib::ALL[1..]
            .iter()
            .filter_map(|&l| Some((self.speed(l)?, l)))
            .max_by(|a, b| a.0.total_cmp(&b.0))?;
        Some((ours / best, lib))
    }
}

/// Seconds of every run, in repetition order, per library.
type Runs = Vec<(Lib, Vec<f64>)>;

/// Runs `run` for every library `reps` times, rotating the order in each repetition, after
/// one untimed verification run each. Returns the median seconds per run, and every run.
fn measure(
    reps: usize,
    libs: &[Lib],
    mut verify: impl FnMut(Lib),
    mut run: impl FnMut(Lib) -> Duration,
) -> (Vec<(Lib, Option<f64>)>, Runs) {
    for &lib in libs {
        verify(lib);
    }
    let mut times: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for r in 0..reps {
        for k in 0..libs.len() {
            let lib = libs[(r + k) % libs.len()];
            times
                .entry(lib.name())
                .or_default()
                .push(run(lib).as_secs_f64());
        }
    }
    let runs: Runs = libs.iter().map(|&lib| (lib, times[lib.name()].clone())).collect();
    let medians = Lib::ALL
        .iter()
        .map(|&lib| (lib, times.get_mut(lib.name()).map(|t| median(t))))
        .collect();
    (medians, runs)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Masked client frames for `payloads`, each split into frames of at most `frame` bytes.
fn client_frames(payloads: &[Bytes], opcode: OpCode, frame: usize) -> Vec<u8> {
    let mut key = 0x9e37_79b9u32;
    let mut enc = FrameEncoder::with_mask_keys(
        Role::Client,
        Box::new(move || {
            key = key.wrapping_mul(0x0100_0193).wrapping_add(1);
            key.to_ne_bytes()
        }),
    );
    let mut out = BytesMut::new();
    for p in payloads {
        let pieces: Vec<&[u8]> = if p.is_empty() { vec![&p[..]] } else { p.chunks(frame).collect() };
        for (i, piece) in pieces.iter().enumerate() {
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            enc.encode(&mut out, i + 1 == pieces.len(), 0, op, piece);
        }
    }
    out.to_vec()
}

fn binary_payloads(size: usize, count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|m| Bytes::from((0..size).map(|i| (i * 7 + m * 13) as u8).collect::<Vec<_>>()))
        .collect()
}

/// About 1 KiB of text mixing 1, 2, 3 and 4 byte characters.
fn text_payloads(count: usize) -> Vec<Bytes> {
    let alphabet = ['a', 'é', '€', '𝄞', 'z', 'ж', '中', '😀', ' '];
    (0..count)
        .map(|m| {
            let mut s = String::new();
            let mut i = m;
            loop {
                let c = alphabet[i % alphabet.len()];
                if s.len() + c.len_utf8() > 1024 {
                    break;
                }
                s.push(c);
                i += 1;
            }
            Bytes::from(s)
        })
        .collect()
}

fn expected(payloads: &[Bytes], repeat: usize, full: bool) -> Check {
    let mut check = Check::default();
    for p in payloads.iter().cycle().take(payloads.len() * repeat) {
        if full { check.full(p) } else { check.quick(p) }
    }
    check
}

struct Decode {
    name: String,
    payloads: Vec<Bytes>,
    /// Copies of `payloads` in one input.
    repeat: usize,
    opcode: OpCode,
    frame: usize,
    target: &'static str,
    goal: f64,
}

/// Decodes `input` with `lib`, or, for `Lib::Ours` when `null`, with the hand decoder of
/// [`libs::null_decode_64k`].
fn decode_with(lib: Lib, null: bool, rt: &tokio::runtime::Runtime, input: &[u8], messages: usize, f: impl FnMut(&[u8])) {
    if null && lib == Lib::Ours {
        libs::null_decode_64k(input, messages, f);
    } else {
        libs::decode(lib, rt, input, messages, f);
    }
}

fn decode_row(d: Decode, reps: usize, rt: &tokio::runtime::Runtime, null64k: bool) -> Row {
    let one = client_frames(&d.payloads, d.opcode, d.frame);
    let input = one.repeat(d.repeat);
    let messages = d.payloads.len() * d.repeat;
    let quick = expected(&d.payloads, d.repeat, false);
    let full = expected(&d.payloads, d.repeat, true);
    let null = null64k && d.name == "decode 64 KiB binary";
    let (medians, runs) = measure(
        reps,
        &Lib::ALL,
        |lib| {
            let mut check = Check::default();
            decode_with(lib, null, rt, &input, messages, |p| check.full(p));
            assert_eq!(check, full, "{}: {} delivered wrong payloads", lib.name(), d.name);
        },
        |lib| {
            let mut check = Check::default();
            let start = clock::Stamp::now();
            decode_with(lib, null, rt, &input, messages, |p| check.quick(p));
            let t = start.elapsed();
            assert_eq!(check, quick, "{}: {} delivered wrong payloads", lib.name(), d.name);
            t
        },
    );
    let unit = if d.payloads[0].len() >= 64 * 1024 {
        Unit::GiBps((quick.bytes) as f64)
    } else {
        Unit::NsPerOp(messages as f64)
    };
    let note = if null {
        "rfc6455 column: not the library but the hand decoder of `profile rfc6455 null64k` in our driver loop (--null64k), the floor of that loop".to_owned()
    } else {
        String::new()
    };
    Row { name: d.name, unit, medians, runs, target: d.target, goal: d.goal, note }
}

fn encode_row(name: &str, size: usize, messages: usize, reps: usize, rt: &tokio::runtime::Runtime, target: &'static str, goal: f64) -> Row {
    let payload = binary_payloads(size, 1).remove(0);
    let header = if size < 126 { 2 } else if size < 65536 { 4 } else { 10 };
    let wire = ((header + size) * messages) as u64;
    let full = expected(std::slice::from_ref(&payload), messages, true);
    let (medians, runs) = measure(
        reps,
        &Lib::ALL,
        |lib| {
            let (written, kept) = libs::encode(lib, rt, &payload, messages, true);
            assert_eq!(written, wire, "{}: {name} wrote the wrong length", lib.name());
            let mut out = BytesMut::from(&kept.unwrap()[..]);
            let mut dec = rfc6455::frame::FrameDecoder::new(rfc6455::frame::DecoderConfig::new(Role::Client));
            let mut check = Check::default();
            while let Some(frame) = dec.decode(&mut out).unwrap() {
                assert!(frame.header.fin && frame.header.opcode == OpCode::Binary);
                check.full(&frame.payload);
            }
            assert_eq!(check, full, "{}: {name} wrote wrong payloads", lib.name());
        },
        |lib| {
            let start = clock::Stamp::now();
            let (written, _) = libs::encode(lib, rt, &payload, messages, false);
            let t = start.elapsed();
            assert_eq!(written, wire, "{}: {name} wrote the wrong length", lib.name());
            t
        },
    );
    let unit = if size >= 64 * 1024 { Unit::GiBps((size * messages) as f64) } else { Unit::NsPerOp(messages as f64) };
    Row { name: name.into(), unit, medians, runs, target, goal, note: String::new() }
}

fn mask_row(reps: usize, decode64: &Row) -> Row {
    const SIZE: usize = 64 * 1024;
    const TIMES: usize = 2048;
    let key = [0x12, 0x34, 0x56, 0x78];
    let original: Vec<u8> = (0..SIZE).map(|i| (i * 31) as u8).collect();
    let mut expected_buf = original.clone();
    rfc6455::frame::apply_mask_naive(&mut expected_buf, key, 0);
    let mut buf = original.clone();
    let mask = |lib: Lib, buf: &mut [u8]| match lib {
        Lib::Ours => rfc6455::frame::apply_mask(buf, key, 0),
        Lib::Fastwebsockets => fastwebsockets::unmask(buf, key),
        _ => unreachable!(),
    };
    let (mut medians, runs) = measure(
        reps,
        &[Lib::Ours, Lib::Fastwebsockets],
        |lib| {
            let mut b = original.clone();
            mask(lib, &mut b);
            assert_eq!(b, expected_buf, "{} masks wrongly", lib.name());
        },
        |lib| {
            let start = clock::Stamp::now();
            for _ in 0..TIMES {
                mask(lib, std::hint::black_box(&mut buf));
            }
            start.elapsed()
        },
    );
    assert_eq!(buf, original, "an even number of maskings restores the input");
    // memcpy of the same size, for scale.
    let mut dst = vec![0u8; SIZE];
    let mut copies = Vec::new();
    for _ in 0..reps {
        let start = clock::Stamp::now();
        for _ in 0..TIMES {
            dst.copy_from_slice(std::hint::black_box(&buf));
            std::hint::black_box(&mut dst);
        }
        copies.push(start.elapsed().as_secs_f64());
    }
    let memcpy = (SIZE * TIMES) as f64 / median(&mut copies) / (1u64 << 30) as f64;
    // tungstenite and tokio-websockets have no public mask function: their 64 KiB decode.
    let bytes = (SIZE * TIMES) as f64;
    for (lib, m) in medians.iter_mut() {
        if matches!(lib, Lib::Tungstenite | Lib::TokioWebsockets) {
            *m = decode64.speed(*lib).map(|s| bytes / s);
        }
    }
    Row {
        name: "mask 64 KiB in cache".into(),
        unit: Unit::GiBps(bytes),
        medians,
        runs,
        target: ">= 1.0x",
        goal: 1.0,
        note: format!("tungstenite, tokio-websockets: no public mask function, their 64 KiB decode shown; memcpy {memcpy:.2} GiB/s"),
    }
}

fn handshake_row(reps: usize, rt: &tokio::runtime::Runtime) -> Row {
    const TIMES: usize = 2000;
    let libs = [Lib::Ours, Lib::Tungstenite, Lib::TokioWebsockets];
    let (medians, runs) = measure(
        reps,
        &libs,
        |lib| {
            let (_, kept) = libs::handshake(lib, rt, CHROMIUM, true).unwrap();
            let text = String::from_utf8(kept.unwrap()).unwrap();
            assert!(text.starts_with("HTTP/1.1 101"), "{}: {text}", lib.name());
            assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{}: {text}", lib.name());
        },
        |lib| {
            let start = clock::Stamp::now();
            for _ in 0..TIMES {
                let (written, _) = libs::handshake(lib, rt, CHROMIUM, false).unwrap();
                assert!(written > 100);
            }
            start.elapsed()
        },
    );
    Row {
        name: "server handshake: parse + validate + 101".into(),
        unit: Unit::NsPerOp(TIMES as f64),
        medians,
        runs,
        target: ">= 2x",
        goal: 2.0,
        note: "fastwebsockets: its server handshake is hyper's upgrade, not run in memory".into(),
    }
}

fn print_table(rows: &[Row], extra: &[String]) {
    println!(
        "| workload | rfc6455 | tungstenite | fastwebsockets | tokio-websockets | ours / best peer (middle half of repetitions) | target | met |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let (ratio, met) = match row.ratio() {
            Some((r, lib)) => {
                let spread = match row.spread(lib) {
                    Some((low, high)) => format!("; {low:.2}-{high:.2}"),
                    None => String::new(),
                };
                (format!("{r:.2}x ({}{spread})", lib.name()), if r >= row.goal { "yes" } else { "**no**" })
            }
            None => ("n/a".into(), "n/a"),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.cell(Lib::Ours),
            row.cell(Lib::Tungstenite),
            row.cell(Lib::Fastwebsockets),
            row.cell(Lib::TokioWebsockets),
            ratio,
            row.target,
            met
        );
    }
    for line in extra {
        println!("{line}");
    }
    println!();
    for row in rows.iter().filter(|r| !r.note.is_empty()) {
        println!("- {}: {}", row.name, row.note);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        echo::serve(&args[2], &args[3]);
        return;
    }
    if args.get(1).map(String::as_str) == Some("load") {
        // The echo row's load client alone, against a server started by hand.
        let rate = echo::load(args[2].parse().expect("an address"));
        println!("{rate:.0} echoes/s");
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--read-size") {
        let n: usize = args.get(at + 1).and_then(|n| n.parse().ok()).expect("--read-size N");
        assert!((1..=mem::READ_SIZE).contains(&n), "--read-size: 1 to {}", mem::READ_SIZE);
        mem::READ_MAX.store(n, std::sync::atomic::Ordering::Relaxed);
    }
    let via_input = args.iter().any(|a| a == "--handle-input");
    libs::VIA_INPUT.store(via_input, std::sync::atomic::Ordering::Relaxed);
    if args.get(1).map(String::as_str) == Some("profile") {
        let times = args.get(4).map_or(1, |t| t.parse().expect("a repeat count"));
        profile(&args[2], &args[3], times);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let null64k = args.iter().any(|a| a == "--null64k");
    let only: Option<&String> = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(i, a)| !a.starts_with("--") && args[i - 1] != "--reps" && args[i - 1] != "--read-size")
        .map(|(_, a)| a);
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(at) => args.get(at + 1).and_then(|n| n.parse().ok()).expect("--reps takes a count"),
        None if quick => 5,
        None => 61,
    };
    let rt = libs::runtime();
    let started = Instant::now();
    let wanted = |name: &str| only.is_none_or(|o| name.contains(o.as_str()));

    let mut rows = Vec::new();
    let decodes = [
        Decode { name: "decode 16 B binary".into(), payloads: binary_payloads(16, 64), repeat: 3000, opcode: OpCode::Binary, frame: usize::MAX, target: ">= 1.5x", goal: 1.5 },
        Decode { name: "decode 125 B binary".into(), payloads: binary_payloads(125, 64), repeat: 2000, opcode: OpCode::Binary, frame: usize::MAX, target: ">= 1.5x", goal: 1.5 },
        Decode { name: "decode 1 KiB text (1-4 byte UTF-8)".into(), payloads: text_payloads(64), repeat: 500, opcode: OpCode::Text, frame: usize::MAX, target: ">= 1.3x", goal: 1.3 },
        Decode { name: "decode 64 KiB binary".into(), payloads: binary_payloads(64 * 1024, 16), repeat: 32, opcode: OpCode::Binary, frame: usize::MAX, target: ">= 1.0x", goal: 1.0 },
        Decode { name: "decode 1 MiB binary".into(), payloads: binary_payloads(1 << 20, 4), repeat: 8, opcode: OpCode::Binary, frame: usize::MAX, target: ">= 1.0x", goal: 1.0 },
        Decode { name: "decode 1 MiB as 1024 x 1 KiB fragments".into(), payloads: binary_payloads(1 << 20, 4), repeat: 4, opcode: OpCode::Binary, frame: 1024, target: ">= 2.0x", goal: 2.0 },
    ];
    for d in decodes {
        if wanted(&d.name) || (d.name == "decode 64 KiB binary" && wanted("mask")) {
            rows.push(decode_row(d, reps, &rt, null64k));
        }
    }
    if wanted("mask") {
        let decode64 = rows.iter().find(|r| r.name == "decode 64 KiB binary").expect("decode 64 KiB ran");
        let row = mask_row(reps, decode64);
        rows.insert(0, row);
    }
    let encodes: [(&str, usize, usize, &str, f64); 4] = [
        ("encode 16 B binary", 16, 200_000, ">= 1.3x", 1.3),
        ("encode 125 B binary", 125, 100_000, ">= 1.3x", 1.3),
        ("encode 64 KiB binary", 64 * 1024, 512, ">= 1.0x", 1.0),
        ("encode 1 MiB binary", 1 << 20, 32, ">= 1.0x", 1.0),
    ];
    for (name, size, messages, target, goal) in encodes {
        if wanted(name) {
            rows.push(encode_row(name, size, messages, reps, &rt, target, goal));
        }
    }
    if wanted("echo") {
        rows.push(echo::echo_row(if quick { 3 } else { 5 }));
    }
    if wanted("handshake") {
        rows.push(handshake_row(reps, &rt));
    }
    let mut extra = Vec::new();
    if wanted("idle") {
        let frame = client_frames(&binary_payloads(16, 1), OpCode::Binary, usize::MAX);
        let mut cells = Vec::new();
        for lib in Lib::ALL {
            let (size, heap) = libs::idle(lib, &rt, &frame);
            cells.push(format!("{size} B + {heap} B heap"));
        }
        let (size, heap) = libs::idle(Lib::Ours, &rt, &frame);
        let met = if size <= 512 && heap == 0 { "yes" } else { "**no**" };
        extra.push(format!(
            "| idle connection (size_of + heap after one echo) | {} | {} | {} | {} | - | 0 B heap, size_of <= 512 B | {met} |",
            cells[0], cells[1], cells[2], cells[3]
        ));
    }
    print_table(&rows, &extra);
    println!(
        "- rfc6455's decode rows: {}",
        if via_input {
            "each read appended to the driver's BytesMut, then `handle_input` (--handle-input)"
        } else {
            "each read, borrowed from the input, given to `handle_read` (the peers copy it into their buffers through Read/AsyncRead); --handle-input for the other way"
        }
    );
    if mem::read_max() != mem::READ_SIZE {
        println!("- decode reads of at most {} bytes for every library (--read-size)", mem::read_max());
    }
    println!(
        "- {reps} repetitions per row (echo: fewer), libraries rotated within each; medians, and the middle half of the per-repetition ratios. Total {:.0} s.",
        started.elapsed().as_secs_f64()
    );
}

/// Runs one library alone on one workload, for a profiler:
/// `profile <library> decode16|decode125|text|decode64k|hot64k|decode1m|fragments|encode16|encode64k|handshake
/// [times]`: the decode workloads run `times` times over one input, so that a sampling
/// profiler sees mostly the decoding. `hot64k` is decode64k with the input in cache (four
/// messages, 256 KiB), where what a library does per message shows. `profile rfc6455
/// null64k [times]` is decode64k's floor: our driver loop with a hand decoder instead of the
/// library; `null-hot64k` the same for hot64k.
fn profile(lib: &str, what: &str, times: usize) {
    if what.contains(',') {
        // Several workloads in turn in one process (the heap as a full run leaves it), each
        // timed; `name:n` runs one `n` times instead of `times`.
        for w in what.split(',') {
            let (w, n) = w.split_once(':').map_or((w, times), |(w, n)| (w, n.parse().expect("a count")));
            let start = Instant::now();
            profile(lib, w, n);
            eprintln!("{w}: {:.1} ms in all", start.elapsed().as_secs_f64() * 1e3);
        }
        return;
    }
    let lib = *Lib::ALL.iter().find(|l| l.name() == lib).expect("a library name");
    let rt = libs::runtime();
    let decode = |payloads: Vec<Bytes>, repeat: usize, opcode: OpCode, frame: usize| {
        let input = client_frames(&payloads, opcode, frame).repeat(repeat);
        let expect = expected(&payloads, repeat, false);
        let start = Instant::now();
        for _ in 0..times {
            let mut check = Check::default();
            libs::decode(lib, &rt, &input, payloads.len() * repeat, |p| check.quick(p));
            assert_eq!(check, expect);
        }
        eprintln!("{what}: decoding {:.2} ms a time", start.elapsed().as_secs_f64() * 1e3 / times as f64);
    };
    match what {
        "decode16" => decode(binary_payloads(16, 64), 3000, OpCode::Binary, usize::MAX),
        "decode125" => decode(binary_payloads(125, 64), 2000, OpCode::Binary, usize::MAX),
        "text" => decode(text_payloads(64), 500, OpCode::Text, usize::MAX),
        "decode64k" => decode(binary_payloads(64 * 1024, 16), 32, OpCode::Binary, usize::MAX),
        "null64k" | "null-hot64k" => {
            // The floor of decode64k for our driver loop: the same reads, bounded the same way,
            // with a hand decoder that knows every frame is a masked 64 KiB binary one (header
            // skipped, payload unmasked in place and split off). Whatever `rfc6455 decode64k`
            // takes beyond this is the library's own work.
            let hot = what == "null-hot64k";
            let (n, rep) = if hot { (4, 1) } else { (16, 32) };
            let payloads = binary_payloads(64 * 1024, n);
            let input = client_frames(&payloads, OpCode::Binary, usize::MAX).repeat(rep);
            let expect = expected(&payloads, rep, false);
            for _ in 0..times {
                let mut check = Check::default();
                libs::null_decode_64k(&input, payloads.len() * rep, |p| check.quick(p));
                assert_eq!(check, expect);
            }
        }
        "decode1m" => decode(binary_payloads(1 << 20, 4), 8, OpCode::Binary, usize::MAX),
        "hot64k" => decode(binary_payloads(64 * 1024, 4), 1, OpCode::Binary, usize::MAX),
        "fragments" => decode(binary_payloads(1 << 20, 4), 4, OpCode::Binary, 1024),
        "encode16" => {
            let payload = binary_payloads(16, 1).remove(0);
            libs::encode(lib, &rt, &payload, 200_000 * times, false);
        }
        "encode64k" => {
            let payload = binary_payloads(64 * 1024, 1).remove(0);
            libs::encode(lib, &rt, &payload, 5_000 * times, false);
        }
        "handshake" => {
            for _ in 0..20_000 {
                libs::handshake(lib, &rt, CHROMIUM, false);
            }
        }
        other => panic!("no workload {other}"),
    }
}
