//! Conformance of the in-band detector with ITU-T Q.24 (AT&T column) and Bellcore practice.
//! Every signal has random phases and a random onset inside a 20 ms packet, is carried through
//! µ-law, and is fed in random chunk sizes; seeds are fixed so a failure replays exactly.

mod common;
use common::*;
use tonewall_dsp::Digit;
use tonewall_dsp::synth::{self, Component, Rng};

const ALL: &str = "123A456B789C*0#D";

/// Presses all sixteen keys `rounds` times with `tone`, asserting each round decodes exactly.
fn accepts(name: &str, tone: Tone, rounds: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        let (buf, _) = presses(&keys(ALL), tone, 60.0, &mut rng);
        let got = chars(&detect(&through_ulaw(&buf), &mut rng));
        assert_eq!(got, ALL, "{name}: round {round} with {tone:?}");
    }
}

/// Presses all sixteen keys with `tone`, asserting nothing is detected.
fn rejects(name: &str, tone: Tone, rounds: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        let (buf, _) = presses(&keys(ALL), tone, 60.0, &mut rng);
        let got = detect(&through_ulaw(&buf), &mut rng);
        assert!(got.is_empty(), "{name}: round {round} with {tone:?} found {}", chars(&got));
    }
}

#[test]
fn decodes_every_key() {
    accepts("50/50 at −4 dBm0", Tone { low_dbm0: -4.0, ..Tone::default() }, 10, 1);
}

#[test]
fn accepts_frequency_offsets_within_1_5_percent_plus_2_hz() {
    for (i, &(lo, hi)) in
        [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)].iter().enumerate()
    {
        for d in Digit::ALL {
            let (fl, fh) = d.freqs();
            let dev = (lo * (0.015 + 2.0 / fl), hi * (0.015 + 2.0 / fh));
            let mut rng = Rng::new(100 + i as u64 * 16 + d.index() as u64);
            for _ in 0..3 {
                let (buf, _) = presses(&[d], Tone { dev, ..Tone::default() }, 60.0, &mut rng);
                let got = chars(&detect(&through_ulaw(&buf), &mut rng));
                assert_eq!(got, d.as_char().to_string(), "offsets {dev:?}");
            }
        }
    }
}

#[test]
fn rejects_frequency_offsets_of_3_5_percent_and_more() {
    // Past 6 % a row tone approaches the next row's frequency (rows are ~10 % apart).
    for dev in [0.035, 0.04, 0.05, 0.06] {
        for (i, (lo, hi)) in [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (-1.0, 0.0), (0.0, -1.0), (-1.0, -1.0)]
            .into_iter()
            .enumerate()
        {
            let tone = Tone { dev: (lo * dev, hi * dev), ..Tone::default() };
            rejects("frequency offset", tone, 2, 200 + i as u64);
        }
    }
}

#[test]
fn accepts_levels_from_0_down_to_minus_36_dbm0() {
    for (i, level) in [3.0, 0.0, -5.0, -10.0, -15.0, -20.0, -25.0, -30.0, -36.0].into_iter().enumerate() {
        accepts("level", Tone { low_dbm0: level, ..Tone::default() }, 2, 300 + i as u64);
    }
}

#[test]
fn rejects_tones_at_minus_55_dbm0() {
    rejects("−55 dBm0", Tone { low_dbm0: -55.0, ..Tone::default() }, 3, 400);
    rejects("−48 dBm0", Tone { low_dbm0: -48.0, ..Tone::default() }, 3, 401);
}

#[test]
fn accepts_twist_from_plus_4_to_minus_8_db() {
    for (i, twist) in [4.0, 3.0, 2.0, 0.0, -2.0, -4.0, -6.0, -8.0].into_iter().enumerate() {
        // At the weakest accepted level too: the weaker tone sits at −25 dBm0.
        accepts("twist", Tone { twist_db: twist, ..Tone::default() }, 2, 500 + i as u64);
        let low = if twist > 0.0 { -25.0 } else { -25.0 - twist };
        accepts(
            "twist at −25",
            Tone { twist_db: twist, low_dbm0: low, ..Tone::default() },
            1,
            520 + i as u64,
        );
    }
}

#[test]
fn rejects_gross_twist() {
    rejects("reverse twist 10 dB", Tone { twist_db: 10.0, low_dbm0: -20.0, ..Tone::default() }, 2, 540);
    rejects("normal twist 16 dB", Tone { twist_db: -16.0, ..Tone::default() }, 2, 541);
}

#[test]
fn accepts_40_ms_and_rejects_23_ms() {
    accepts("40 ms", Tone { on_ms: 40.0, ..Tone::default() }, 10, 600);
    accepts("40 ms at −25 dBm0", Tone { on_ms: 40.0, low_dbm0: -25.0, ..Tone::default() }, 4, 601);
    for (i, ms) in [23.0, 20.0, 15.0, 10.0, 5.0].into_iter().enumerate() {
        rejects("short", Tone { on_ms: ms, ..Tone::default() }, 10, 610 + i as u64);
        rejects("short and loud", Tone { on_ms: ms, low_dbm0: 0.0, ..Tone::default() }, 3, 620 + i as u64);
    }
}

#[test]
fn a_three_second_press_is_one_digit() {
    let mut rng = Rng::new(700);
    for d in keys("5#0") {
        let (buf, spans) = presses(&[d], Tone { on_ms: 3000.0, ..Tone::default() }, 60.0, &mut rng);
        let got = detect(&through_ulaw(&buf), &mut rng);
        assert_eq!(chars(&got), d.as_char().to_string());
        // The reported span is the tone's, within a block.
        let (s, e) = spans[0];
        assert!(got[0].start.abs_diff(s) <= 48 && got[0].end.abs_diff(e) <= 48, "{got:?} vs {spans:?}");
    }
}

/// A press of `on` ms, a gap of `gap` ms, another press of the same key.
fn with_gap(d: Digit, gap_ms: f64, rng: &mut Rng) -> Vec<i16> {
    let mut buf = vec![0.0; synth::ms(100.0) + rng.below(160)];
    for part in 0..2 {
        let mut tone = vec![0.0; synth::ms(60.0)];
        synth::add_dtmf(&mut tone, d, -10.0, 0.0, (0.0, 0.0), rng);
        buf.extend(tone);
        if part == 0 {
            buf.extend(vec![0.0; synth::ms(gap_ms)]);
        }
    }
    buf.extend(vec![0.0; synth::ms(200.0)]);
    through_ulaw(&buf)
}

#[test]
fn bridges_gaps_of_10_ms_and_splits_pauses_of_40_ms() {
    let mut rng = Rng::new(800);
    for d in Digit::ALL {
        for gap in [2.0, 5.0, 10.0] {
            let got = detect(&with_gap(d, gap, &mut rng), &mut rng);
            assert_eq!(got.len(), 1, "gap {gap} ms must be bridged");
        }
        for pause in [40.0, 50.0, 80.0] {
            let got = detect(&with_gap(d, pause, &mut rng), &mut rng);
            assert_eq!(got.len(), 2, "pause {pause} ms must split");
        }
    }
}

#[test]
fn keeps_up_with_93_ms_per_digit() {
    let mut rng = Rng::new(850);
    for _ in 0..5 {
        let (buf, _) = presses(&keys(ALL), Tone { on_ms: 45.0, ..Tone::default() }, 48.0, &mut rng);
        assert_eq!(chars(&detect(&through_ulaw(&buf), &mut rng)), ALL);
    }
}

/// Builds presses of all keys at −10 dBm0 plus `extra` added over the whole signal.
fn with_interference(seed: u64, extra: impl Fn(&mut [f64], &mut Rng)) -> Vec<i16> {
    let mut rng = Rng::new(seed);
    let (mut buf, _) = presses(&keys(ALL), Tone { low_dbm0: -10.0, ..Tone::default() }, 60.0, &mut rng);
    extra(&mut buf, &mut rng);
    through_ulaw(&buf)
}

#[test]
fn detects_in_white_noise_at_15_db_snr() {
    for seed in 0..8 {
        // SNR per tone, as spandsp and Q.24 count it: noise 15 dB below each tone.
        let s = with_interference(900 + seed, |b, r| synth::add_noise(b, -25.0, r));
        let mut rng = Rng::new(seed);
        assert_eq!(chars(&detect(&s, &mut rng)), ALL, "seed {seed}");
    }
}

#[test]
fn detects_with_dial_tone_10_db_below() {
    for seed in 0..4 {
        let s = with_interference(950 + seed, |b, r| {
            let mut c = |hz| Component { hz, dbm0: -20.0, phase: r.phase() };
            synth::add_tones(b, &[c(350.0), c(440.0)]);
        });
        assert_eq!(chars(&detect(&s, &mut Rng::new(seed))), ALL, "seed {seed}");
    }
}

#[test]
fn detects_with_a_third_tone_16_db_below() {
    for (i, hz) in [500.0, 1000.0, 1100.0, 2000.0, 3000.0, 697.0, 1633.0].into_iter().enumerate() {
        let s = with_interference(980 + i as u64, |b, r| {
            synth::add_tones(b, &[Component { hz, dbm0: -26.0, phase: r.phase() }]);
        });
        assert_eq!(chars(&detect(&s, &mut Rng::new(i as u64))), ALL, "third tone {hz} Hz");
    }
}

/// Call-progress and fax tones, single tones and same-group pairs, each 2 s long, must never be
/// taken for digits.
#[test]
fn never_reports_other_signals() {
    let mut cases: Vec<(String, Vec<f64>)> = vec![
        ("dial".into(), vec![350.0, 440.0]),
        ("busy".into(), vec![480.0, 620.0]),
        ("ringback".into(), vec![440.0, 480.0]),
        ("CNG".into(), vec![1100.0]),
        ("CED".into(), vec![2100.0]),
        ("UK dial".into(), vec![350.0, 450.0]),
        ("EU dial".into(), vec![425.0]),
    ];
    for hz in synth_freqs() {
        cases.push((format!("single {hz}"), vec![hz]));
    }
    for group in [&tonewall_dsp::digit::ROW_HZ, &tonewall_dsp::digit::COL_HZ] {
        for i in 0..4 {
            for j in i + 1..4 {
                cases.push((format!("same group {} {}", group[i], group[j]), vec![group[i], group[j]]));
            }
        }
    }
    let mut rng = Rng::new(1000);
    for (name, freqs) in cases {
        for level in [0.0, -10.0, -25.0] {
            let mut buf = vec![0.0; synth::ms(2000.0)];
            let comps: Vec<Component> =
                freqs.iter().map(|&hz| Component { hz, dbm0: level, phase: rng.phase() }).collect();
            synth::add_tones(&mut buf, &comps);
            // Cadence: on/off at 100 ms, like busy tone, to exercise onsets too.
            if name.starts_with("busy") {
                for (n, s) in buf.iter_mut().enumerate() {
                    if (n / 800) % 2 == 1 {
                        *s = 0.0;
                    }
                }
            }
            let got = detect(&through_ulaw(&buf), &mut rng);
            assert!(got.is_empty(), "{name} at {level} dBm0 was taken for {}", chars(&got));
        }
    }
}

fn synth_freqs() -> Vec<f64> {
    tonewall_dsp::digit::ROW_HZ.iter().chain(tonewall_dsp::digit::COL_HZ.iter()).copied().collect()
}

#[test]
fn reports_start_and_end_within_6_ms() {
    let mut rng = Rng::new(1100);
    for _ in 0..10 {
        let (buf, spans) = presses(&keys(ALL), Tone::default(), 60.0, &mut rng);
        let got = detect(&through_ulaw(&buf), &mut rng);
        assert_eq!(got.len(), 16);
        for (p, (s, e)) in got.iter().zip(spans) {
            assert!(p.start.abs_diff(s) <= 48 && p.end.abs_diff(e) <= 48, "{p:?} vs {s}..{e}");
        }
    }
}

/// Keys pressed back to back with no pause: a second key long enough is a second digit whose
/// span starts where the first ends; one too short (23 ms) is not a digit at all.
#[test]
fn back_to_back_keys_follow_the_same_duration_rules() {
    let mut rng = Rng::new(1200);
    let run = |first: Digit, second: Digit, second_ms: f64, rng: &mut Rng| {
        let lead = synth::ms(100.0) + rng.below(160);
        let (a, b) = (synth::ms(80.0), synth::ms(second_ms));
        let mut buf = vec![0.0; lead + a + b + synth::ms(200.0)];
        synth::add_dtmf(&mut buf[lead..lead + a], first, -10.0, 0.0, (0.0, 0.0), rng);
        synth::add_dtmf(&mut buf[lead + a..lead + a + b], second, -10.0, 0.0, (0.0, 0.0), rng);
        detect(&through_ulaw(&buf), rng)
    };
    for i in 0..40 {
        let (x, y) = (Digit::ALL[i % 16], Digit::ALL[(i * 7 + 3) % 16]);
        if x == y {
            continue;
        }
        let got = run(x, y, 23.0, &mut rng);
        assert_eq!(chars(&got), x.as_char().to_string(), "23 ms after another key is not a digit");
        let got = run(x, y, 60.0, &mut rng);
        assert_eq!(chars(&got), format!("{}{}", x.as_char(), y.as_char()));
        assert!(got[0].end <= got[1].start, "spans overlap: {got:?}");
    }
}
