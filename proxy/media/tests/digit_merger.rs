//! The dual-path merger: one digit per key press whether it arrives as a telephone-event,
//! as in-band tones, as SIP INFO, or as several of them.

mod common;

use common::*;
use std::time::Duration;
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Detector, Digit, DtmfEvent};
use tonewall_media::merge::{DigitMerger, MergedDigit, MergerConfig, RtpTimeline, Transport};
use tonewall_media::rfc4733::{EndReason, EventReceiver, ReceiverEvent, SenderConfig};

fn digits(m: &mut DigitMerger) -> Vec<MergedDigit> {
    std::iter::from_fn(|| m.poll_digit()).collect()
}

fn keys(d: &[MergedDigit]) -> String {
    d.iter().map(|d| d.digit.as_char()).collect()
}

fn start(digit: char, start: u64) -> DtmfEvent {
    DtmfEvent::DigitStart { digit: key(digit), start }
}

fn end(digit: char, start: u64, end: u64) -> DtmfEvent {
    DtmfEvent::DigitEnd { digit: key(digit), start, end }
}

fn press(id: u64, digit: char, start_ts: u32) -> ReceiverEvent {
    let mut rx = EventReceiver::default();
    // Build the event through the receiver so the test uses real values.
    let w = pkt(0, start_ts, key(digit).event(), false, 160);
    rx.handle_packet(w.at, w.meta, &w.payload).expect("valid");
    match rx.poll_event() {
        Some(ReceiverEvent::Press { digit, ssrc, volume, .. }) => {
            ReceiverEvent::Press { id, digit, ssrc, start_ts, volume }
        }
        other => panic!("expected a press, got {other:?}"),
    }
}

fn press_end(id: u64, digit: char, start_ts: u32, duration: u32) -> ReceiverEvent {
    let mut rx = EventReceiver::default();
    let w = pkt(0, start_ts, key(digit).event(), true, duration as u16);
    rx.handle_packet(w.at, w.meta, &w.payload).expect("valid");
    let _ = rx.poll_event();
    match rx.poll_event() {
        Some(ReceiverEvent::PressEnd { digit, ssrc, reason, .. }) => {
            assert_eq!(reason, EndReason::EndBit);
            ReceiverEvent::PressEnd { id, digit, ssrc, start_ts, duration, reason }
        }
        other => panic!("expected an end, got {other:?}"),
    }
}

/// The RTP clock of the stream: timestamp 1_000_000 is sample 0.
fn timeline() -> RtpTimeline {
    RtpTimeline::new(8000, 1_000_000, 0)
}

fn ts(sample: u64) -> u32 {
    1_000_000 + sample as u32
}

// Pitfall 9: the same key press both in-band and as a telephone-event is one digit, whichever
// comes first, with the event up to 100 ms behind the tone (a converting gateway).
#[test]
fn same_press_on_two_paths_is_one_digit() {
    let tl = timeline();
    let mut m = DigitMerger::default();
    m.handle_inband(start('5', 8000));
    m.handle_rfc4733(&press(0, '5', ts(8000 + 400)), &tl);
    m.handle_inband(end('5', 8000, 8800));
    m.handle_rfc4733(&press_end(0, '5', ts(8400), 480), &tl);
    let out = digits(&mut m);
    assert_eq!(keys(&out), "5");
    assert_eq!((out[0].start, out[0].transport), (8000, Transport::InBand));
    assert_eq!(m.stats().merged, [1, 0, 0]);

    // The event first; the tone's report arrives later and starts earlier.
    let mut m = DigitMerger::default();
    m.handle_rfc4733(&press(0, '7', ts(16_800)), &tl);
    m.handle_inband(start('7', 16_000));
    m.handle_inband(end('7', 16_000, 17_000));
    m.handle_rfc4733(&press_end(0, '7', ts(16_800), 200), &tl);
    let out = digits(&mut m);
    assert_eq!(keys(&out), "7");
    assert_eq!(out[0].transport, Transport::Rfc4733);
    assert_eq!(m.stats().merged, [0, 1, 0]);
}

// Two presses of one key stay two, even with a pause shorter than the window, because each
// transport has already told them apart.
#[test]
fn two_presses_of_one_key_stay_two() {
    let tl = timeline();
    let mut m = DigitMerger::default();
    // 50 ms tones, 50 ms pause: starts 100 ms apart, spans disjoint.
    m.handle_inband(start('1', 0));
    m.handle_rfc4733(&press(0, '1', ts(80)), &tl);
    m.handle_inband(end('1', 0, 400));
    m.handle_rfc4733(&press_end(0, '1', ts(80), 320), &tl);
    m.handle_rfc4733(&press(1, '1', ts(880)), &tl);
    m.handle_inband(start('1', 800));
    m.handle_inband(end('1', 800, 1200));
    m.handle_rfc4733(&press_end(1, '1', ts(880), 320), &tl);
    assert_eq!(keys(&digits(&mut m)), "11");
    assert_eq!(m.stats().merged, [1, 1, 0]);

    // Only one transport, any pause: never merged with itself.
    let mut m = DigitMerger::default();
    for i in 0..4 {
        m.handle_inband(start('9', i * 500));
        m.handle_inband(end('9', i * 500, i * 500 + 320));
    }
    assert_eq!(keys(&digits(&mut m)), "9999");
}

// A report far from any press of its key is its own digit; an open press swallows a lagging
// report of the same key that overlaps it.
#[test]
fn window_and_overlap() {
    let tl = timeline();
    let mut m = DigitMerger::new(MergerConfig { window: 800, ..MergerConfig::default() });
    // Tone ended at 800; an event of the same key starting 1 s later is another press.
    m.handle_inband(start('3', 0));
    m.handle_inband(end('3', 0, 800));
    m.handle_rfc4733(&press(0, '3', ts(8800)), &tl);
    assert_eq!(keys(&digits(&mut m)), "33");

    // A long tone: an event starting 300 ms into it is the same press, once the spans are
    // known to overlap.
    let mut m = DigitMerger::default();
    m.handle_inband(start('4', 0));
    m.handle_inband(end('4', 0, 8000));
    m.handle_rfc4733(&press(0, '4', ts(2400)), &tl);
    assert_eq!(keys(&digits(&mut m)), "4");

    // An open press counts as its start alone: an event press whose end packets were lost
    // (open until its timeout) does not swallow the next press of its key, heard in-band.
    let mut m = DigitMerger::default();
    m.handle_rfc4733(&press(0, '3', ts(0)), &tl);
    m.handle_inband(start('3', 3000));
    assert_eq!(keys(&digits(&mut m)), "33");

    // Different keys never merge.
    let mut m = DigitMerger::default();
    m.handle_inband(start('4', 0));
    m.handle_rfc4733(&press(0, '6', ts(0)), &tl);
    assert_eq!(keys(&digits(&mut m)), "46");
}

// The documented limit: the same key twice in quick succession, the first press heard only as
// an event and the second only as tones, starts within the window: one digit. If this starts
// failing because the merger got smarter, update the module docs.
#[test]
fn known_limit_single_paths_alternating() {
    let tl = timeline();
    let mut m = DigitMerger::default();
    m.handle_rfc4733(&press(0, '2', ts(0)), &tl);
    m.handle_rfc4733(&press_end(0, '2', ts(0), 400), &tl);
    m.handle_inband(start('2', 780));
    m.handle_inband(end('2', 780, 1300));
    assert_eq!(keys(&digits(&mut m)), "2");
}

// SIP INFO carries no media time: it is placed where the stream was when it arrived and
// matched with a wider window.
#[test]
fn sip_info_joins_the_media_report_of_its_press() {
    let tl = timeline();
    let mut m = DigitMerger::default();
    m.handle_rfc4733(&press(0, '8', ts(8000)), &tl);
    m.handle_rfc4733(&press_end(0, '8', ts(8000), 800), &tl);
    m.handle_sip_info(key('8'), 8000 + 2000, Some(800)); // 250 ms after the start
    m.handle_sip_info(key('8'), 8000 + 16_000, None); // 2 s later: another press
    let out = digits(&mut m);
    assert_eq!(keys(&out), "88");
    assert_eq!(out[1].transport, Transport::SipInfo);
    assert_eq!(m.stats().reports, [1, 0, 2]);
    assert_eq!(m.stats().merged, [0, 0, 1]);
}

// Ends whose start was never seen (the merger joined mid-press) are reports too.
#[test]
fn an_end_without_its_start_is_a_report() {
    let tl = timeline();
    let mut m = DigitMerger::default();
    m.handle_inband(end('2', 100, 900));
    m.handle_rfc4733(&press_end(3, '2', ts(150), 700), &tl);
    assert_eq!(keys(&digits(&mut m)), "2");
}

/// One random call: tones in the audio and/or telephone-events for each press, the events
/// lagging the tones like a converting gateway's, sent through a jittery link.
fn call(seed: u64) -> (String, String) {
    let mut rng = Rng::new(seed);
    let ts0 = rng.next_u64() as u32;
    let mut audio = vec![0.0f64; 8000];
    let mut packets: Vec<(u64, Wire)> = Vec::new();
    let mut sent = String::new();
    let mut pos = 4000u64;
    let mut seq = 0u16;
    let mut prev: Option<(Digit, usize)> = None;
    for _ in 0..3 + rng.below(10) {
        // Repeated keys are common in card numbers.
        let digit = match prev {
            Some((p, _)) if rng.below(3) == 0 => p,
            _ => Digit::ALL[rng.below(16)],
        };
        let mut paths = rng.below(5); // 0..=2 both, 3 tones only, 4 events only
        // The merger's documented limit: a press heard only as tones right after a press of
        // the same key heard only as events (or the reverse) may merge. Keep it out of here;
        // `known_limit_single_paths_alternating` pins that behaviour down.
        if let Some((p, prev_paths)) = prev
            && p == digit
            && prev_paths >= 3
            && paths >= 3
            && paths != prev_paths
        {
            paths = 0;
        }

        let tone = synth::ms(60.0 + rng.range(0.0, 140.0)) as u64;
        let end = pos + tone;
        if audio.len() < end as usize + 8000 {
            audio.resize(end as usize + 8000, 0.0);
        }
        if paths != 4 {
            synth::add_dtmf(&mut audio[pos as usize..end as usize], digit, -12.0, 0.0, (0.0, 0.0), &mut rng);
        }
        let mut delivered = 0;
        if paths != 3 {
            let lag = rng.below(401) as u64; // up to 50 ms
            let sent_pkts = press_packets(
                SenderConfig::default(),
                digit,
                ts0.wrapping_add((pos + lag) as u32),
                tone.saturating_sub(lag).max(160),
                0,
            );
            for (send, p) in sent_pkts {
                seq = seq.wrapping_add(1);
                if rng.unit() < 0.2 {
                    continue;
                }
                delivered += 1;
                let arrive = pos + lag + send + rng.below(240) as u64;
                packets.push((
                    arrive,
                    Wire {
                        at: Duration::from_micros(arrive * 125),
                        meta: meta(SSRC, seq, p.timestamp, p.marker),
                        payload: p.payload().to_vec(),
                        red: None,
                    },
                ));
            }
        }
        // What actually reached the proxy: every event packet of a press may be lost.
        let paths = match (paths, delivered) {
            (4, 0) => 5, // nothing at all: not a press we can know of
            (0..=2, 0) => 3,
            (p, _) => p,
        };
        prev = Some((digit, paths));
        if paths != 5 {
            sent.push(digit.as_char());
        }
        pos = end + synth::ms(70.0 + rng.range(0.0, 300.0)) as u64;
    }
    audio.truncate(pos as usize + 8000);
    synth::add_noise(&mut audio, -60.0, &mut rng);
    let samples = synth::to_i16(&audio);
    packets.sort_by_key(|(t, _)| *t);

    let tl = RtpTimeline::new(8000, ts0, 0);
    let mut det = Detector::default();
    let mut rx = EventReceiver::default();
    let mut merger = DigitMerger::default();
    let mut out = Vec::new();
    let mut next = 0;
    for (k, frame) in samples.chunks(160).enumerate() {
        let frame_end = (k as u64 + 1) * 160;
        det.push(frame);
        while let Some(ev) = det.poll_event() {
            merger.handle_inband(ev);
            out.extend(digits(&mut merger));
        }
        let now = Duration::from_micros(frame_end * 125);
        while next < packets.len() && packets[next].0 <= frame_end {
            let w = &packets[next].1;
            rx.handle_packet(w.at, w.meta, &w.payload).expect("valid");
            next += 1;
            while let Some(ev) = rx.poll_event() {
                merger.handle_rfc4733(&ev, &tl);
                out.extend(digits(&mut merger));
            }
        }
        rx.handle_timeout(now);
        while let Some(ev) = rx.poll_event() {
            merger.handle_rfc4733(&ev, &tl);
            out.extend(digits(&mut merger));
        }
    }
    det.finish();
    while let Some(ev) = det.poll_event() {
        merger.handle_inband(ev);
        out.extend(digits(&mut merger));
    }
    rx.finish();
    while let Some(ev) = rx.poll_event() {
        merger.handle_rfc4733(&ev, &tl);
        out.extend(digits(&mut merger));
    }
    assert_eq!(merger.stats().overflowed, 0);
    (sent, keys(&out))
}

#[test]
fn random_calls_on_both_paths_give_each_key_once() {
    for seed in 0..200 {
        let (sent, got) = call(seed);
        assert_eq!(got, sent, "seed {seed}");
    }
}
