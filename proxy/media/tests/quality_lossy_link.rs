//! Sender → lossy, bursty, duplicating, reordering link → `StreamStats`: the figures match the
//! ground truth the test keeps about what the link did.

use std::time::Duration;
use tonewall_dsp::synth::Rng;
use tonewall_media::quality::{Arrival, MosConfig, PacketInfo, StreamStats};

const SSRC: u32 = 0xA6E7;
const START_SEQ: u16 = 60_000;

/// A G.711 packet `i` of the stream: 20 ms apart, 160 timestamp units each, sequence numbers
/// from `START_SEQ` (so the stream wraps past 65535).
fn packet(i: u32) -> PacketInfo {
    PacketInfo { ssrc: SSRC, seq: START_SEQ.wrapping_add(i as u16), timestamp: 7 + i * 160, payload_len: 160 }
}

struct Link {
    /// Gilbert model: chance to start losing after a delivered packet, and to stop after a
    /// lost one.
    p: f64,
    q: f64,
    duplicate: f64,
    /// Chance that a packet is held back and delivered after the next few.
    reorder: f64,
}

struct Truth {
    sent: u32,
    lost: u64,
    duplicates: u64,
    late: u64,
}

/// Sends `n` packets through `link`; the first three and the last always arrive (the first
/// because a new source is on probation, the last because loss at the very end is invisible
/// to any receiver). Returns the arrival order and what happened.
fn run(link: &Link, n: u32, seed: u64) -> (Vec<(Duration, PacketInfo)>, Truth) {
    let mut rng = Rng::new(seed);
    let mut truth = Truth { sent: n, lost: 0, duplicates: 0, late: 0 };
    let mut losing = false;
    let mut order: Vec<u32> = Vec::new();
    let mut held: Option<(u32, usize)> = None;
    for i in 0..n {
        let protected = i < 3 || i == n - 1;
        losing = if losing { rng.unit() >= link.q } else { rng.unit() < link.p };
        if losing && !protected {
            truth.lost += 1;
            continue;
        }
        if !protected && held.is_none() && rng.unit() < link.reorder {
            held = Some((i, 1 + rng.below(5)));
            continue;
        }
        order.push(i);
        if rng.unit() < link.duplicate && !protected {
            order.push(i);
            truth.duplicates += 1;
        }
        if let Some((h, left)) = held {
            if left == 1 {
                order.push(h);
                held = None;
            } else {
                held = Some((h, left - 1));
            }
        }
    }
    if let Some((h, _)) = held {
        order.push(h);
    }
    // Late arrivals: packets older than the newest already delivered, seen for the first time.
    let mut newest = 0;
    let mut seen = std::collections::HashSet::new();
    for &i in &order {
        if seen.insert(i) && i < newest {
            truth.late += 1;
        }
        newest = newest.max(i);
    }
    let arrivals =
        order.iter().enumerate().map(|(k, &i)| (Duration::from_millis(20 * k as u64), packet(i))).collect();
    (arrivals, truth)
}

#[test]
fn counts_match_the_link() {
    let link = Link { p: 0.02, q: 0.4, duplicate: 0.01, reorder: 0.02 };
    for seed in 1..=5 {
        let (arrivals, truth) = run(&link, 20_000, seed);
        let mut s = StreamStats::new(8000);
        let mut late = 0;
        for &(at, p) in &arrivals {
            late += u64::from(s.on_packet(at, p) == Arrival::Late);
        }
        let snap = s.snapshot(&MosConfig::default());
        // The first packet is probation: expected counts from the second.
        assert_eq!(snap.expected, u64::from(truth.sent) - 1, "seed {seed}");
        assert_eq!(snap.lost, truth.lost, "seed {seed}");
        assert_eq!(snap.duplicates, truth.duplicates, "seed {seed}");
        assert_eq!((snap.reordered, late), (truth.late, truth.late), "seed {seed}");
        assert_eq!(snap.packets, arrivals.len() as u64);
        assert_eq!(snap.bytes, 160 * arrivals.len() as u64);
        assert_eq!(s.extended_max().map(|m| m.get()), Some(u64::from(START_SEQ) + u64::from(truth.sent) - 1));
        let rate = truth.lost as f64 / snap.expected as f64;
        assert!((snap.loss_fraction - rate).abs() < 1e-12);
        // The RR agrees: cumulative loss and the wrapped extended sequence number.
        let block = s.report_block(Duration::from_secs(500)).expect("a block");
        assert_eq!(block.cumulative_lost as u64, truth.lost);
        assert_eq!(block.extended_highest_seq, (u32::from(START_SEQ) + truth.sent - 1) & 0xFFFF | 1 << 16);
    }
}

#[test]
fn burst_ratio_follows_the_gilbert_model() {
    // No reordering, so every gap the receiver sees is a loss burst. BurstR = 1/(p + q).
    for (p, q) in [(0.01, 0.99), (0.02, 0.5), (0.01, 0.25)] {
        let link = Link { p, q, duplicate: 0.0, reorder: 0.0 };
        let (arrivals, truth) = run(&link, 200_000, 7);
        let mut s = StreamStats::new(8000);
        for &(at, pkt) in &arrivals {
            s.on_packet(at, pkt);
        }
        let snap = s.snapshot(&MosConfig::default());
        assert_eq!(snap.lost, truth.lost);
        let model = (1.0 / (p + q)).max(1.0);
        assert!(
            (snap.burst_ratio - model).abs() / model < 0.1,
            "p {p} q {q}: {} vs {model}",
            snap.burst_ratio
        );
        // Bursty loss rates lower than random loss of the same rate.
        if model > 1.5 {
            let random = tonewall_media::quality::EModel::default()
                .with_loss(tonewall_media::quality::Codec::G711_PLC, snap.loss_fraction * 100.0, 1.0)
                .with_one_way_delay(snap.delay_ms);
            assert!(snap.r_factor < random.r() - 0.5, "{} vs {}", snap.r_factor, random.r());
        }
    }
}

#[test]
fn jitter_of_uniform_random_delay() {
    // Independent delays uniform in [0, D): E|d_i − d_j| = D/3, the mean A.8's estimator
    // settles around. D = 12 ms < 20 ms spacing, so nothing reorders.
    let mut rng = Rng::new(8);
    let d_ms = 12.0;
    let mut s = StreamStats::new(8000);
    let (mut sum, mut samples) = (0.0, 0);
    for i in 0..40_000u32 {
        let delay = Duration::from_secs_f64(rng.unit() * d_ms / 1000.0);
        let at = Duration::from_millis(20 * u64::from(i)) + delay;
        assert_eq!(s.on_packet(at, packet(i)), if i == 0 { Arrival::Probation } else { Arrival::InOrder });
        if i >= 1000 {
            sum += s.jitter_ms();
            samples += 1;
        }
    }
    let mean = sum / f64::from(samples);
    assert!((mean - d_ms / 3.0).abs() < 0.1, "mean jitter {mean} ms, expected {}", d_ms / 3.0);
}
