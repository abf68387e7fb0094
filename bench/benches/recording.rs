//! Recording at rest: the writer's cost per forwarded packet beside the masker's (the relay's
//! main per-packet work) in the same run, and the reader's decryption speed.
//!
//! - `recording/frame`: one 20 ms µ-law frame of each direction per iteration, as the relay
//!   worker feeds them: `tonewall-writer` is `Writer::push` on both channels and `poll_chunk`,
//!   with the sealing of one 8000-byte AES-256-GCM chunk per channel every 50 frames amortized in;
//!   `tonewall-masker-ulaw` masks the caller's frame (the peer, for scale).
//! - `recording/read`: verify and decrypt a 60 s recording to per-channel PCM (throughput in
//!   bytes of file).
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tonewall_dsp::{G711, Law, Masker, MaskerConfig};
use tonewall_media::recording::{self, Channel, KeyRing, ReadOptions, RecordingKey, RecordingParams, Writer};

const FRAME: usize = 160;

fn key() -> RecordingKey {
    RecordingKey::from_bytes([0x42; 32])
}

fn params() -> RecordingParams {
    RecordingParams { call_start: Duration::ZERO, salt: [7; 32], nonce_prefix: [9; 8] }
}

fn audio(seconds: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..seconds * 8000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn per_frame(c: &mut Criterion) {
    let a = audio(10);
    let frames = a.len() / FRAME;
    let mut g = c.benchmark_group("recording/frame");
    g.throughput(Throughput::Elements(FRAME as u64));
    let k = key();
    let mut w = Writer::new(&k, &params(), Duration::ZERO);
    let mut out = Vec::with_capacity(1 << 20);
    let mut i: u64 = 0;
    g.bench_function("tonewall-writer", |b| {
        b.iter(|| {
            let at = (i as usize % frames) * FRAME;
            let frame = &a[at..at + FRAME];
            let (ts, now) = ((i as u32).wrapping_mul(FRAME as u32), Duration::from_millis(i * 20));
            w.push(Channel::CallerToAgent, Law::Ulaw, 1, ts, now, black_box(frame));
            w.push(Channel::AgentToCaller, Law::Ulaw, 2, ts, now, black_box(frame));
            if w.poll_chunk(&mut out) {
                out.clear();
            }
            i += 1;
        })
    });
    let mut m = Masker::new(G711(Law::Ulaw), &MaskerConfig::default());
    let mut dst = [0u8; FRAME];
    let mut j = 0;
    g.bench_function("tonewall-masker-ulaw", |b| {
        b.iter(|| {
            let at = (j % frames) * FRAME;
            j += 1;
            black_box(m.process(black_box(&a[at..at + FRAME]), &mut dst))
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let a = audio(60);
    let k = key();
    let mut w = Writer::new(&k, &params(), Duration::ZERO);
    let mut file = Vec::new();
    for (i, frame) in a.chunks(FRAME).enumerate() {
        let (ts, now) = (i as u32 * FRAME as u32, Duration::from_millis(i as u64 * 20));
        w.push(Channel::CallerToAgent, Law::Ulaw, 1, ts, now, frame);
        w.push(Channel::AgentToCaller, Law::Alaw, 2, ts, now, frame);
        w.poll_chunk(&mut file);
    }
    w.finish(&mut file);
    let ring = KeyRing::from(key());
    let mut g = c.benchmark_group("recording/read");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.sample_size(20);
    g.bench_function("60s", |b| {
        b.iter(|| {
            black_box(recording::read(black_box(&file), &ring, &ReadOptions::default()).map(|r| r.frames()))
        })
    });
    g.finish();
}

criterion_group!(benches, per_frame, read);
criterion_main!(benches);
