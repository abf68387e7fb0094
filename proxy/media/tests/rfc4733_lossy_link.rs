//! Sender → lossy, duplicating, reordering link → receiver: exactly the keys that were sent.

mod common;

use common::*;
use std::time::Duration;
use tonewall_dsp::Digit;
use tonewall_dsp::synth::Rng;
use tonewall_media::rfc4733::red::{self, RedundantBlock};
use tonewall_media::rfc4733::{EndReason, EventReceiver, ReceiverConfig, SenderConfig};

/// Every key, short and held for 10 s (two segments), through a perfect link.
#[test]
fn round_trip_every_key_short_and_long() {
    for digit in Digit::ALL {
        for (duration, start) in [(800u64, 12_345u32), (80_000, 1_000_000)] {
            let sent = press_packets(SenderConfig::default(), digit, start, duration, 0);
            let mut rx = EventReceiver::default();
            let events = drive(&mut rx, &to_wire(SSRC, &sent, 0));
            assert_paired(&events);
            assert_eq!(presses(&events), digit.as_char().to_string());
            assert_eq!(ends(&events), vec![(digit.as_char(), start, duration as u32, EndReason::EndBit)]);
        }
    }
    // All sixteen in one stream, one after the other.
    let mut sent = Vec::new();
    let mut t_ms = 0;
    for digit in Digit::ALL {
        sent.extend(press_packets(SenderConfig::default(), digit, t_ms as u32 * 8, 800, t_ms));
        t_ms += 300;
    }
    let mut rx = EventReceiver::default();
    let events = drive(&mut rx, &to_wire(SSRC, &sent, 0));
    let all: String = Digit::ALL.iter().map(|d| d.as_char()).collect();
    assert_eq!(presses(&events), all);
}

struct Sent {
    digit: Digit,
    start_ts: u32,
    duration: u32,
}

struct Arrival {
    /// (press index, timestamp, E bit) of each report the packet carries.
    carries: Vec<(usize, u32, bool)>,
    wire: Wire,
}

/// Telephone-event payload type inside RED in these tests.
const EVENT_PT: u8 = 101;

/// One randomised call: returns (presses sent, packets as they arrive). With `red`, every
/// packet is RFC 2198 and repeats the two previous reports (where the 14-bit offset allows).
fn scenario(seed: u64, red: bool) -> (Vec<Sent>, Vec<Arrival>) {
    let mut rng = Rng::new(seed);
    let interval_ms = [10u64, 20, 30, 50][rng.below(4)];
    let config =
        SenderConfig { interval: interval_ms as u32 * 8, volume: rng.below(40) as u8, end_repeats: 3 };
    let drop_p = rng.range(0.0, 0.5);
    let dup_p = rng.range(0.0, 0.3);
    let jitter_ms = rng.below(51) as u64;
    let near_wrap = seed.is_multiple_of(3);
    let mut ssrc = rng.next_u64() as u32;
    let mut ts0 = if near_wrap { u32::MAX - rng.below(100_000) as u32 } else { rng.next_u64() as u32 };
    let mut seq: u16 = rng.next_u64() as u16;

    let mut sent = Vec::new();
    let mut arrivals: Vec<(Duration, usize, Arrival)> = Vec::new();
    // The last two reports sent: (SSRC, press, timestamp, payload).
    let mut history: Vec<(u32, usize, u32, [u8; 4])> = Vec::new();
    let mut t_ms = 0u64;
    for i in 0..5 + rng.below(20) {
        if rng.below(10) == 0 {
            // The source changes (a transfer, a re-INVITE): new SSRC, new timestamp base.
            ssrc = rng.next_u64() as u32;
            ts0 = (rng.next_u64() as u32).wrapping_sub(t_ms as u32 * 8);
        }
        let digit = Digit::ALL[rng.below(16)];
        let dur_ms = if rng.below(15) == 0 {
            8_500 + rng.below(3_000) as u64 // segmented
        } else {
            40 + rng.below(300) as u64
        };
        // The pause is longer than the jitter plus the end repeats, so packets of different
        // presses do not swap: a receiver cannot know the order of presses it has not seen.
        t_ms += 200 + rng.below(400) as u64;
        let start_ts = ts0.wrapping_add(t_ms as u32 * 8);
        let packets = press_packets(config, digit, start_ts, dur_ms * 8, t_ms);
        t_ms += dur_ms;
        for (send_units, p) in packets {
            seq = seq.wrapping_add(1);
            let mut carries = vec![(i, p.timestamp, p.report.end)];
            let payload = if red {
                let earlier: Vec<&(u32, usize, u32, [u8; 4])> = history
                    .iter()
                    .filter(|(s, _, ts, _)| {
                        *s == ssrc && p.timestamp.wrapping_sub(*ts) <= u32::from(red::MAX_OFFSET)
                    })
                    .collect();
                let blocks: Vec<RedundantBlock<'_>> = earlier
                    .iter()
                    .map(|(_, _, ts, payload)| RedundantBlock {
                        pt: EVENT_PT,
                        offset: p.timestamp.wrapping_sub(*ts),
                        payload,
                    })
                    .collect();
                for (_, press, ts, payload) in &earlier {
                    carries.push((*press, *ts, payload[1] & 0x80 != 0));
                }
                let mut buf = [0u8; 64];
                let n = red::write(&blocks, EVENT_PT, &p.payload(), &mut buf).expect("fits");
                buf[..n].to_vec()
            } else {
                p.payload().to_vec()
            };
            history.push((ssrc, i, p.timestamp, p.payload()));
            if history.len() > 2 {
                history.remove(0);
            }
            if rng.unit() < drop_p {
                continue;
            }
            let copies = if rng.unit() < dup_p { 2 } else { 1 };
            for _ in 0..copies {
                let at = Duration::from_micros(send_units * 125)
                    + Duration::from_millis(rng.below(jitter_ms as usize + 1) as u64);
                let order = arrivals.len();
                arrivals.push((
                    at,
                    order,
                    Arrival {
                        carries: carries.clone(),
                        wire: Wire {
                            at,
                            meta: meta(ssrc, seq, p.timestamp, p.marker),
                            payload: payload.clone(),
                            red: red.then_some(EVENT_PT),
                        },
                    },
                ));
            }
        }
        sent.push(Sent { digit, start_ts, duration: dur_ms as u32 * 8 });
    }
    arrivals.sort_by_key(|(at, order, _)| (*at, *order));
    (sent, arrivals.into_iter().map(|(_, _, a)| a).collect())
}

fn check_random_calls(red: bool) {
    let timeout = ReceiverConfig::default().end_timeout;
    let mut checked_exact = 0;
    let mut total_presses = 0;
    for seed in 0..300u64 {
        let (sent, arrivals) = scenario(seed, red);
        let wire: Vec<Wire> = arrivals.iter().map(|a| a.wire.clone()).collect();
        let mut rx = EventReceiver::default();
        let events = drive(&mut rx, &wire);
        assert_paired(&events);

        let carried = |i: usize| -> Vec<&Arrival> {
            arrivals.iter().filter(|a| a.carries.iter().any(|c| c.0 == i)).collect()
        };
        let expected: String = sent
            .iter()
            .enumerate()
            .filter(|(i, _)| !carried(*i).is_empty())
            .map(|(_, s)| s.digit.as_char())
            .collect();
        assert_eq!(presses(&events), expected, "seed {seed}");
        total_presses += expected.len();

        // Where an end report arrived before anything of a later press (with RED, the next
        // press's packets carry this one's end as redundancy, and may be overtaken), and no gap
        // outlasted the timeout, the receiver knows the press exactly: its true start, its full
        // length, closed by the E bit.
        let got = ends(&events);
        let mut k = 0;
        for (i, s) in sent.iter().enumerate() {
            let mine = carried(i);
            if mine.is_empty() {
                continue;
            }
            let end = got[k];
            k += 1;
            let reports = || mine.iter().flat_map(|a| &a.carries).filter(|c| c.0 == i);
            let no_long_gap = mine.windows(2).all(|w| w[1].wire.at - w[0].wire.at < timeout);
            let first_seg_seen = reports().any(|c| c.1 == s.start_ts);
            let first_end = arrivals.iter().position(|a| a.carries.iter().any(|c| c.0 == i && c.2));
            let first_later = arrivals.iter().position(|a| a.carries[0].0 > i);
            let end_in_time = match (first_end, first_later) {
                (Some(e), Some(l)) => e < l,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if end_in_time && no_long_gap && first_seg_seen {
                assert_eq!(
                    end,
                    (s.digit.as_char(), s.start_ts, s.duration, EndReason::EndBit),
                    "seed {seed}, press {i}"
                );
                checked_exact += 1;
            }
        }
    }
    assert!(total_presses > 2000, "{total_presses}");
    assert!(checked_exact > total_presses * 3 / 4, "{checked_exact} of {total_presses}");
}

#[test]
fn random_loss_duplication_and_reordering_keep_the_key_sequence() {
    check_random_calls(false);
}

/// The same calls with RFC 2198 redundancy: reports arrive up to three times each, as
/// redundancy and as primary, and still count once.
#[test]
fn random_calls_with_red_redundancy_keep_the_key_sequence() {
    check_random_calls(true);
}
