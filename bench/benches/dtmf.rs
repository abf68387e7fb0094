//! DTMF: spandsp's `dtmf_rx` against Tonewall's detector and masker, on the same audio in the
//! same run.
//!
//! Audio: 10 s of the mix from [`tonewall_bench::audio::mixed`] (speech-like talk spurts at
//! −20 dBm0, quiet pauses, key presses ≈ 10 % of the time), as 16-bit linear and as µ-law.
//!
//! Groups (throughput in samples, so criterion prints samples/s):
//! - `dtmf/frame`: one stream, one 20 ms frame (160 samples) per iteration, cycling through the
//!   audio: the per-packet cost.
//! - `dtmf/bulk`: one stream, the whole 10 s buffer in one call: the cost without per-call
//!   overhead.
//! - `dtmf/streams1000`: 1000 independent streams, each fed its next 20 ms frame in turn (one
//!   iteration = one frame to every stream): what a relay core serving 1000 calls sees,
//!   including cache misses on 1000 states.
//!
//! Implementations: `spandsp` (`dtmf_rx`, linear), `tonewall-detector/<kernel>`
//! (`Detector::push`, linear, each correlation kernel this CPU has), `tonewall-masker-ulaw`
//! (`Masker<G711>::process`: decode + detect + mask, what the relay does), `ulaw-decode` (decode
//! alone).
#![allow(missing_docs)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tonewall_bench::audio::{self, Audio};
use tonewall_bench::{FRAME, Feed, Spandsp, Streams, TwDetector, TwMasker, UlawDecode};
use tonewall_dsp::simd::Kernel;

const SECONDS: f64 = 10.0;
const SEED: u64 = 0x7013_3A11;
const STREAMS: usize = 1000;

/// Every implementation, built fresh for a chunk size of `max_chunk`.
fn implementations(max_chunk: usize) -> Vec<(String, Box<dyn Feed>)> {
    let mut v: Vec<(String, Box<dyn Feed>)> = vec![("spandsp".into(), Box::new(Spandsp::default()))];
    for k in Kernel::all() {
        v.push((format!("tonewall-detector/{}", k.name()), Box::new(TwDetector::new(k))));
    }
    v.push(("tonewall-masker-ulaw".into(), Box::new(TwMasker::new(max_chunk))));
    v.push(("ulaw-decode".into(), Box::new(UlawDecode::new(max_chunk))));
    v
}

fn per_frame(c: &mut Criterion, a: &Audio) {
    let mut g = c.benchmark_group("dtmf/frame");
    g.throughput(Throughput::Elements(FRAME as u64));
    let frames = a.frames();
    for (name, mut imp) in implementations(FRAME) {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let at = i * FRAME;
                i = if i + 1 == frames { 0 } else { i + 1 };
                black_box(imp.feed(black_box(&a.linear[at..at + FRAME]), black_box(&a.ulaw[at..at + FRAME])))
            })
        });
    }
    g.finish();
}

fn bulk(c: &mut Criterion, a: &Audio) {
    let mut g = c.benchmark_group("dtmf/bulk");
    g.throughput(Throughput::Elements(a.linear.len() as u64));
    for (name, mut imp) in implementations(a.linear.len()) {
        g.bench_function(name, |b| b.iter(|| black_box(imp.feed(black_box(&a.linear), black_box(&a.ulaw)))));
    }
    g.finish();
}

fn streams_bench<T: Feed>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    a: &Audio,
    make: impl FnMut() -> T,
) {
    let mut s = Streams::new(STREAMS, a.frames(), make);
    g.bench_function(name, |b| b.iter(|| black_box(s.round(black_box(&a.linear), black_box(&a.ulaw)))));
}

fn many_streams(c: &mut Criterion, a: &Audio) {
    let mut g = c.benchmark_group(format!("dtmf/streams{STREAMS}"));
    g.throughput(Throughput::Elements((STREAMS * FRAME) as u64));
    streams_bench(&mut g, "spandsp", a, Spandsp::default);
    for k in Kernel::all() {
        streams_bench(&mut g, &format!("tonewall-detector/{}", k.name()), a, || TwDetector::new(k));
    }
    streams_bench(&mut g, "tonewall-masker-ulaw", a, || TwMasker::new(FRAME));
    g.finish();
}

fn dtmf(c: &mut Criterion) {
    let a = audio::mixed(SECONDS, SEED);
    per_frame(c, &a);
    bulk(c, &a);
    many_streams(c, &a);
}

criterion_group! {
    name = benches;
    // Short runs: the machine is shared and the numbers are stable well within this.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = dtmf
}
criterion_main!(benches);
