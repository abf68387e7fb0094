//! Shared scaffolding for the scenario tests: packets on a virtual clock, a driver that fires
//! timers the way an I/O layer would, and key helpers. `as_char` is used here on purpose:
//! tests compare keys; production code never prints them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;
use tonewall_dsp::Digit;
use tonewall_media::rfc4733::{
    EndReason, EventPacket, EventReceiver, EventSender, ReceiverEvent, RtpMeta, SenderConfig,
};

/// 8 kHz: timestamp units per millisecond.
pub const UNITS_PER_MS: u64 = 8;

pub fn key(c: char) -> Digit {
    Digit::from_char(c).expect("a key")
}

/// A packet as it arrives: when, its header fields, its payload.
#[derive(Clone, Debug)]
pub struct Wire {
    pub at: Duration,
    pub meta: RtpMeta,
    pub payload: Vec<u8>,
    /// `Some(pt)`: the payload is RFC 2198 with telephone-events in blocks of this PT.
    pub red: Option<u8>,
}

pub fn meta(ssrc: u32, seq: u16, timestamp: u32, marker: bool) -> RtpMeta {
    RtpMeta { ssrc, seq, timestamp, marker }
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Default SSRC of hand-made packets.
pub const SSRC: u32 = 0x1234_5678;

/// A hand-made packet with one report: SSRC [`SSRC`], no marker, volume 10. Chain
/// [`Wire::marker`], [`Wire::ssrc`], [`Wire::volume`] to change those.
pub fn pkt(at_ms: u64, ts: u32, event: u8, end: bool, duration: u16) -> Wire {
    let d = duration.to_be_bytes();
    Wire {
        at: ms(at_ms),
        meta: meta(SSRC, 0, ts, false),
        payload: vec![event, (u8::from(end) << 7) | 10, d[0], d[1]],
        red: None,
    }
}

impl Wire {
    pub fn marker(mut self) -> Self {
        self.meta.marker = true;
        self
    }

    pub fn ssrc(mut self, ssrc: u32) -> Self {
        self.meta.ssrc = ssrc;
        self
    }

    pub fn volume(mut self, volume: u8) -> Self {
        self.payload[1] = (self.payload[1] & 0xC0) | (volume & 0x3F);
        self
    }
}

/// Every packet a correct sender emits for one press that starts `start_ms` into the call,
/// with send times in timestamp units since the call began.
pub fn press_packets(
    config: SenderConfig,
    digit: Digit,
    start_ts: u32,
    duration: u64,
    start_ms: u64,
) -> Vec<(u64, EventPacket)> {
    let mut tx = EventSender::new(config);
    tx.press(digit, start_ts, duration).expect("idle sender");
    std::iter::from_fn(|| tx.poll_packet(u64::MAX))
        .map(|p| (start_ms * UNITS_PER_MS + p.send_at, p))
        .collect()
}

/// Turns sender packets (send time in units) into wire packets with sequence numbers.
pub fn to_wire(ssrc: u32, packets: &[(u64, EventPacket)], seq0: u16) -> Vec<Wire> {
    packets
        .iter()
        .enumerate()
        .map(|(i, (t, p))| Wire {
            at: Duration::from_micros(t * 125),
            meta: meta(ssrc, seq0.wrapping_add(i as u16), p.timestamp, p.marker),
            payload: p.payload().to_vec(),
            red: None,
        })
        .collect()
}

/// Drives `rx` as an I/O layer would: timers due before a packet fire first, then the packet,
/// then the output is drained; at the end, time runs out so open presses time out.
pub fn drive(rx: &mut EventReceiver, wire: &[Wire]) -> Vec<ReceiverEvent> {
    let mut out = Vec::new();
    for w in wire {
        while let Some(t) = rx.poll_timeout() {
            if t > w.at {
                break;
            }
            rx.handle_timeout(t);
            out.extend(std::iter::from_fn(|| rx.poll_event()));
        }
        let r = match w.red {
            Some(pt) => rx.handle_red(w.at, w.meta, &w.payload, pt),
            None => rx.handle_packet(w.at, w.meta, &w.payload),
        };
        r.expect("well-formed packet");
        out.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    if let Some(t) = rx.poll_timeout() {
        rx.handle_timeout(t);
        out.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    assert!(!rx.press_active(), "a press stayed open after its timeout");
    out
}

/// The keys of the `Press` events, in order.
pub fn presses(events: &[ReceiverEvent]) -> String {
    events.iter().filter(|e| matches!(e, ReceiverEvent::Press { .. })).map(|e| e.digit().as_char()).collect()
}

/// `(key, start_ts, duration, reason)` of the `PressEnd` events, in order.
pub fn ends(events: &[ReceiverEvent]) -> Vec<(char, u32, u32, EndReason)> {
    events
        .iter()
        .filter_map(|e| match *e {
            ReceiverEvent::PressEnd { digit, start_ts, duration, reason, .. } => {
                Some((digit.as_char(), start_ts, duration, reason))
            }
            _ => None,
        })
        .collect()
}

/// Every `Press` is followed by exactly one `PressEnd` with the same id, and no `PressEnd`
/// comes without its `Press`.
pub fn assert_paired(events: &[ReceiverEvent]) {
    let mut open: Vec<u64> = Vec::new();
    let mut seen: Vec<u64> = Vec::new();
    for e in events {
        match *e {
            ReceiverEvent::Press { id, .. } => {
                assert!(!seen.contains(&id), "press id reused");
                seen.push(id);
                open.push(id);
            }
            ReceiverEvent::PressEnd { id, .. } => {
                let Some(i) = open.iter().position(|&o| o == id) else {
                    panic!("PressEnd without an open Press");
                };
                open.remove(i);
            }
            _ => panic!("unexpected event"),
        }
    }
    assert!(open.is_empty(), "presses left open");
}

/// Where the RTCP fixtures live.
pub fn rtcp_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rtcp")
}

/// The RTCP fixtures (`tests/data/rtcp/*.hex`: hex octets, `#` comments) in file-name order,
/// as (file name, octets).
pub fn rtcp_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(rtcp_data_dir())
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let bytes = text
                .lines()
                .flat_map(|l| l.split('#').next())
                .flat_map(str::split_whitespace)
                .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("{}: bad hex {h}", p.display())))
                .collect();
            (p.file_name().expect("name").to_string_lossy().into_owned(), bytes)
        })
        .collect()
}
