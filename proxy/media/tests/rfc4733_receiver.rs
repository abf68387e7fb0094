//! The receiver against each RFC 4733 pitfall (shared/reference/dtmf-standards.md §4), one test
//! per pitfall, on a virtual clock.

mod common;

use common::*;
use tonewall_media::rfc4733::red::{self, RedundantBlock};
use tonewall_media::rfc4733::{EndReason, Error, EventReceiver, ReceiverConfig, ReceiverEvent, SenderConfig};

fn run(wire: &[Wire]) -> (Vec<ReceiverEvent>, EventReceiver) {
    let mut rx = EventReceiver::default();
    let events = drive(&mut rx, wire);
    assert_paired(&events);
    (events, rx)
}

/// A textbook press: marker, growing duration, E bit three times.
fn textbook(ts: u32, event: u8, at_ms: u64) -> Vec<Wire> {
    vec![
        pkt(at_ms, ts, event, false, 160).marker(),
        pkt(at_ms + 20, ts, event, false, 320),
        pkt(at_ms + 40, ts, event, false, 480),
        pkt(at_ms + 60, ts, event, true, 640),
        pkt(at_ms + 80, ts, event, true, 640),
        pkt(at_ms + 100, ts, event, true, 640),
    ]
}

// Pitfall 1: each of the three E-bit packets counted as a key press.
#[test]
fn three_end_packets_are_one_press() {
    let (events, rx) = run(&textbook(1000, 5, 0));
    assert_eq!(presses(&events), "5");
    assert_eq!(ends(&events), vec![('5', 1000, 640, EndReason::EndBit)]);
    assert_eq!(rx.stats().repeats, 2, "the 2nd and 3rd end packets");
    // The press is reported on its first packet, before any end packet.
    assert!(matches!(events[0], ReceiverEvent::Press { start_ts: 1000, volume: 10, .. }));
}

// Pitfall 2 and 4: the start packet (marker bit) is lost; or only the end packets arrive.
#[test]
fn lost_start_packet_still_reports_the_press_with_its_true_start() {
    let wire = textbook(1000, 7, 0);
    let (events, rx) = run(&wire[2..]);
    assert_eq!(presses(&events), "7");
    assert_eq!(ends(&events), vec![('7', 1000, 640, EndReason::EndBit)]);
    assert_eq!(rx.stats().presses_without_marker, 1);

    let (events, _) = run(&wire[3..]);
    assert_eq!(presses(&events), "7", "only the three end packets arrived");
    assert_eq!(ends(&events), vec![('7', 1000, 640, EndReason::EndBit)]);
}

// Pitfall 2: all three end packets lost. The timer closes the press; calling it early or twice
// is harmless, and late end packets make no new digit.
#[test]
fn lost_end_packets_close_the_press_by_timeout() {
    let wire = textbook(1000, 3, 0);
    let mut rx = EventReceiver::new(ReceiverConfig { end_timeout: ms(500), ..ReceiverConfig::default() });
    for w in &wire[..3] {
        rx.handle_packet(w.at, w.meta, &w.payload).expect("valid");
    }
    let first: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(presses(&first), "3", "reported on the first packet");
    assert_eq!(rx.poll_timeout(), Some(ms(40 + 500)));
    rx.handle_timeout(ms(100));
    rx.handle_timeout(ms(539));
    assert_eq!(rx.poll_event(), None, "early calls do nothing");
    rx.handle_timeout(ms(540));
    let closed: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(ends(&closed), vec![('3', 1000, 480, EndReason::Timeout)]);
    rx.handle_timeout(ms(540));
    rx.handle_timeout(ms(10_000));
    assert_eq!(rx.poll_event(), None, "a second call does nothing");
    assert_eq!(rx.poll_timeout(), None);
    // The end packets turn up after all: absorbed, no new press.
    for w in &wire[3..] {
        let at = w.at + ms(600);
        rx.handle_packet(at, w.meta, &w.payload).expect("valid");
    }
    assert_eq!(rx.poll_event(), None);
    assert_eq!(rx.stats().timeouts, 1);
    assert_eq!(rx.stats().repeats, 3);
}

// Pitfall 4: duplicated and reordered packets, and a straggler long after the press ended.
#[test]
fn duplicates_and_reordering_make_no_new_digit() {
    let w = textbook(1000, 5, 0);
    let mut wire = vec![
        w[3].clone(), // an end packet overtakes everything
        w[0].clone(),
        w[0].clone(), // duplicated start packet
        w[2].clone(),
        w[1].clone(),
        w[4].clone(),
        w[4].clone(),
        w[5].clone(),
    ];
    for (i, p) in wire.iter_mut().enumerate() {
        p.at = ms(20 * i as u64);
    }
    let mut straggler = w[1].clone();
    straggler.at = ms(3000);
    wire.push(straggler);
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "5");
    assert_eq!(ends(&events), vec![('5', 1000, 640, EndReason::EndBit)]);
}

// Pitfall 3: the same event code with a new timestamp is a new press, even when the first
// press's end packets were lost; and a different key likewise.
#[test]
fn same_key_with_a_new_timestamp_is_a_new_press() {
    let a = textbook(1000, 5, 0);
    let b = textbook(1000 + 2400, 5, 300);
    let mut wire = a[..3].to_vec(); // first press: end packets lost
    wire.extend_from_slice(&b);
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "55");
    assert_eq!(
        ends(&events),
        vec![('5', 1000, 480, EndReason::NextPress), ('5', 3400, 640, EndReason::EndBit)]
    );

    let mut wire = textbook(1000, 1, 0)[..2].to_vec();
    wire.extend(textbook(1800, 2, 100));
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "12");
}

// Pitfall 6: segments of a long press (§2.5.1.3) are not new digits, however they arrive.
#[test]
fn long_press_segments_are_one_digit() {
    let start = 40_000u32;
    let total = 80_000u64; // 10 s
    let sent = press_packets(SenderConfig::default(), key('0'), start, total, 0);
    let wire = to_wire(SSRC, &sent, 0);
    let seg2 = start.wrapping_add(0xFFFF);

    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "0");
    assert_eq!(ends(&events), vec![('0', start, total as u32, EndReason::EndBit)]);

    // Loss around the boundary: nothing within 200 ms either side of it. The gap is shorter
    // than the timeout, so the end is exact.
    let boundary = std::time::Duration::from_micros(0xFFFF * 125);
    let around =
        |gap| -> Vec<Wire> { wire.iter().filter(|w| w.at.abs_diff(boundary) > ms(gap)).cloned().collect() };
    let (events, _) = run(&around(200));
    assert_eq!(presses(&events), "0", "loss across the boundary");
    assert_eq!(ends(&events), vec![('0', start, total as u32, EndReason::EndBit)]);
    // A gap longer than the timeout: the press closes, and the next segment is recognised as
    // part of it rather than a new digit.
    let (events, _) = run(&around(400));
    assert_eq!(presses(&events), "0", "long loss across the boundary");
    assert_eq!(ends(&events)[0].3, EndReason::Timeout);

    // Reordering at the boundary: the new segment's first packet overtakes the old one's end.
    let mut reordered = wire.clone();
    let first2 = reordered.iter().position(|w| w.meta.timestamp == seg2).expect("a second segment");
    let moved = reordered.remove(first2);
    reordered.insert(first2 - 3, moved);
    let (events, _) = run(&reordered);
    assert_eq!(presses(&events), "0", "reordered boundary");

    // The first segment arrives only after the second: still one press, start corrected.
    let late_first: Vec<Wire> = [wire[first2].clone(), {
        let mut w = wire[5].clone();
        w.at = wire[first2].at + ms(10);
        w
    }]
    .to_vec();
    let (events, _) = run(&late_first);
    assert_eq!(presses(&events), "0", "first segment late");
    assert!(matches!(events[0], ReceiverEvent::Press { start_ts, .. } if start_ts == seg2));
    assert_eq!(ends(&events)[0].1, start, "PressEnd carries the true start");
}

// Pitfall 6, variants seen in the field: segments cut at the last update before 0xFFFF, and
// senders that set the E bit at every segment end.
#[test]
fn field_variants_of_segmenting_are_one_digit() {
    // 65440 = 409 × 160: the sender's last update before 0xFFFF.
    let mut wire = Vec::new();
    let mut at = 0;
    for d in (160..=65_440u32).step_by(160) {
        wire.push(pkt(at, 0, 9, false, d as u16));
        at += 20;
    }
    for d in (160..=1600u32).step_by(160) {
        wire.push(pkt(at, 65_440, 9, d == 1600, d as u16));
        at += 20;
    }
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "9");
    assert_eq!(ends(&events), vec![('9', 0, 65_440 + 1600, EndReason::EndBit)]);

    // E bit at the end of each segment (not what §2.5.1.3 asks, but seen).
    let mut wire = vec![
        pkt(0, 0, 4, false, 0x9000).marker(),
        pkt(20, 0, 4, true, 0xFFFF),
        pkt(40, 0xFFFF, 4, false, 320),
        pkt(60, 0xFFFF, 4, true, 480),
    ];
    wire.push(pkt(80, 0xFFFF, 4, true, 480));
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "4");
}

// Pitfall 6, the other side: a second press of the same key ~8.19 s after a short one, with
// its start packet lost, is a new digit, not a "segment".
#[test]
fn same_key_again_after_one_segment_length_is_a_new_press() {
    let mut wire = textbook(0, 6, 0);
    wire.push(pkt(8190, 0xFFFF - 100, 6, false, 320));
    wire.push(pkt(8210, 0xFFFF - 100, 6, true, 480));
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "66");
}

// Pitfall 7a: the 32-bit RTP timestamp wraps, inside a long press and between presses.
#[test]
fn timestamp_wrap_is_transparent() {
    let cfg = SenderConfig::default();
    let t0 = u32::MAX - 1000;
    let mut sent = press_packets(cfg, key('1'), t0, 80_000, 0); // segment 2 wraps
    sent.extend(press_packets(cfg, key('2'), t0.wrapping_add(82_000), 800, 10_250));
    sent.extend(press_packets(cfg, key('2'), t0.wrapping_add(84_000), 800, 10_500));
    let wire = to_wire(SSRC, &sent, 65_000); // sequence numbers wrap too
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "122");
    let e = ends(&events);
    assert_eq!(e[0], ('1', t0, 80_000, EndReason::EndBit));
    assert_eq!(e[1].1, t0.wrapping_add(82_000));

    // A straggler from before the wrap, arriving after a press from after it, is "late".
    let wire = vec![
        pkt(0, 7000, 2, false, 320).marker(),
        pkt(20, u32::MAX - 500, 1, true, 800),
        pkt(40, 7000, 2, true, 480),
    ];
    let (events, rx) = run(&wire);
    assert_eq!(presses(&events), "21");
    assert_eq!(ends(&events)[0], ('1', u32::MAX - 500, 800, EndReason::Late));
    assert_eq!(rx.stats().late_presses, 1);
}

// Pitfall 7b: SSRC change mid-call. The press in progress is closed, not lost; the new source
// starts afresh; a late packet of the old source is not a change back.
#[test]
fn ssrc_change_closes_the_press_in_progress() {
    let a = 0xAAAA_0001;
    let b = 0xBBBB_0002;
    let wire = vec![
        pkt(0, 1000, 5, false, 160).marker().ssrc(a),
        pkt(20, 1000, 5, false, 320).ssrc(a),
        pkt(40, 500, 7, false, 160).marker().ssrc(b),
        pkt(60, 1000, 5, false, 480).ssrc(a), // straggler of the old source
        pkt(80, 500, 7, true, 480).ssrc(b),
        // The same timestamp and event as A's press, but from B: a different press.
        pkt(300, 1000, 5, true, 320).marker().ssrc(b),
    ];
    let (events, rx) = run(&wire);
    assert_eq!(presses(&events), "575");
    assert_eq!(
        ends(&events),
        vec![
            ('5', 1000, 320, EndReason::SourceChanged),
            ('7', 500, 480, EndReason::EndBit),
            ('5', 1000, 320, EndReason::EndBit),
        ]
    );
    assert_eq!(rx.stats().source_changes, 1);
    assert_eq!(rx.stats().repeats, 1);
}

// Pitfall 8: volume weaker than −55 dBm0 is not valid DTMF.
#[test]
fn too_quiet_reports_are_ignored() {
    for v in [56, 60, 63] {
        let wire: Vec<Wire> = textbook(1000, 5, 0).into_iter().map(|w| w.volume(v)).collect();
        let (events, rx) = run(&wire);
        assert!(events.is_empty(), "volume {v}");
        assert_eq!(rx.stats().too_quiet, 6);
    }
    let wire: Vec<Wire> = textbook(1000, 5, 0).into_iter().map(|w| w.volume(55)).collect();
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "5", "−55 dBm0 itself is accepted");
    let quieter = ReceiverConfig { max_volume: 36, ..ReceiverConfig::default() };
    let mut rx = EventReceiver::new(quieter);
    let wire: Vec<Wire> = textbook(1000, 5, 0).into_iter().map(|w| w.volume(40)).collect();
    assert!(drive(&mut rx, &wire).is_empty(), "configurable");
}

// Pitfall 5: zero-duration reports start nothing (and break nothing).
#[test]
fn zero_duration_reports_are_ignored() {
    let wire =
        vec![pkt(0, 1000, 5, false, 0).marker(), pkt(20, 1000, 5, false, 0), pkt(40, 1000, 5, true, 0)];
    let (events, rx) = run(&wire);
    assert!(events.is_empty());
    assert_eq!(rx.stats().zero_duration, 3);

    let wire = vec![
        pkt(0, 1000, 5, false, 0).marker(),
        pkt(20, 1000, 5, false, 160),
        pkt(40, 1000, 5, true, 0), // a zero-duration "end" does not end it
        pkt(60, 1000, 5, true, 480),
    ];
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "5");
    assert_eq!(ends(&events), vec![('5', 1000, 480, EndReason::EndBit)]);
}

// Events 16 and up (flash, and codes of other registries) are not digits.
#[test]
fn non_dtmf_events_are_ignored() {
    let mut wire = textbook(1000, 16, 0); // flash
    wire.extend(textbook(2000, 255, 200));
    wire.push(pkt(300, 3000, 4, false, 160));
    wire.push(pkt(310, 3000, 16, false, 160)); // a flash in the middle of a press
    wire.push(pkt(320, 3000, 4, true, 320));
    let (events, rx) = run(&wire);
    assert_eq!(presses(&events), "4");
    assert_eq!(ends(&events), vec![('4', 3000, 320, EndReason::EndBit)]);
    assert_eq!(rx.stats().not_digit, 13);
}

/// A RED packet: primary report plus earlier reports as redundancy.
fn red_packet(at_ms: u64, ts: u32, primary: [u8; 4], redundant: &[(u32, [u8; 4])]) -> Wire {
    let blocks: Vec<RedundantBlock<'_>> = redundant
        .iter()
        .map(|(rts, p)| RedundantBlock { pt: 101, offset: ts.wrapping_sub(*rts), payload: p })
        .collect();
    let mut buf = vec![0u8; 256];
    let n = red::write(&blocks, 101, &primary, &mut buf).expect("fits");
    buf.truncate(n);
    Wire { at: ms(at_ms), meta: meta(SSRC, 0, ts, false), payload: buf, red: Some(101) }
}

// RFC 2198: a report that arrives as redundancy and as primary counts once; redundancy alone
// recovers a press whose own packets were all lost.
#[test]
fn red_redundancy_counts_once() {
    let cfg = SenderConfig::default();
    let mut sent = press_packets(cfg, key('1'), 8000, 800, 1000);
    sent.extend(press_packets(cfg, key('2'), 16_000, 800, 2000));
    sent.extend(press_packets(cfg, key('3'), 24_000, 800, 3000));
    // Each packet carries the two previous reports as redundancy.
    let mut wire = Vec::new();
    for (i, (t, p)) in sent.iter().enumerate() {
        let redundant: Vec<(u32, [u8; 4])> =
            sent[i.saturating_sub(2)..i].iter().map(|(_, q)| (q.timestamp, q.payload())).collect();
        let mut w = red_packet(t / UNITS_PER_MS, p.timestamp, p.payload(), &redundant);
        w.meta.marker = p.marker;
        wire.push(w);
    }
    let (events, rx) = run(&wire);
    assert_eq!(presses(&events), "123");
    assert!(ends(&events).iter().all(|e| e.2 == 800 && e.3 == EndReason::EndBit));
    assert!(rx.stats().repeats > 0);

    // Every packet of press 2 lost: press 3's first packet still carries press 2's last
    // two reports as redundancy (offset 8000 units).
    let no2: Vec<Wire> = wire.iter().filter(|w| w.meta.timestamp != 16_000).cloned().collect();
    let (events, _) = run(&no2);
    assert_eq!(presses(&events), "123");
}

// RFC 4733 §2.5.1.5: several events in one packet; each starts where the previous ended.
#[test]
fn packed_events_in_one_packet() {
    let mut packed = pkt(0, 1000, 1, true, 800);
    packed.payload.extend_from_slice(&[2, 10, 0, 160]);
    let wire =
        vec![packed, pkt(20, 1800, 2, false, 320), pkt(40, 1800, 2, true, 480), pkt(60, 1800, 2, true, 480)];
    let (events, _) = run(&wire);
    assert_eq!(presses(&events), "12");
    assert_eq!(ends(&events), vec![('1', 1000, 800, EndReason::EndBit), ('2', 1800, 480, EndReason::EndBit)]);
}

// Garbage is refused with a typed error, counted, and changes nothing.
#[test]
fn malformed_payloads_are_refused() {
    let mut rx = EventReceiver::default();
    let m = meta(SSRC, 1, 1000, true);
    assert_eq!(rx.handle_packet(ms(0), m, &[]), Err(Error::Empty));
    assert_eq!(rx.handle_packet(ms(0), m, &[5, 10, 0]), Err(Error::Truncated { len: 3 }));
    let many = [5u8, 10, 0, 160].repeat(17);
    assert_eq!(rx.handle_packet(ms(0), m, &many), Err(Error::TooManyReports { count: 17, max: 16 }));
    assert_eq!(
        rx.handle_red(ms(0), m, &[0x80, 0, 0, 8, 101, 5, 10, 0], 101),
        Err(Error::RedBlockTruncated { needed: 8, available: 3 })
    );
    // A RED block of the event PT with a cut report refuses the whole packet.
    assert_eq!(
        rx.handle_red(ms(0), m, &[0x80 | 101, 0, 0, 3, 101, 5, 10, 0, 5, 10, 0, 160], 101),
        Err(Error::Truncated { len: 3 })
    );
    assert_eq!(rx.poll_event(), None);
    assert!(!rx.press_active());
    assert_eq!(rx.stats().malformed, 5);
    assert_eq!(rx.stats().packets, 0);
}

// Digits are secrets: the events' Debug shows a mask.
#[test]
fn events_print_masked_digits() {
    let (events, _) = run(&textbook(1000, 8, 0));
    let text = format!("{events:?}");
    assert!(text.contains("Digit(*)"), "{text}");
}
