//! RTP relay load generator: N bidirectional G.711 µ-law calls through a relay, measured.
//!
//! Sets the calls up over rtpengine's ng protocol (`--ng ADDR`: `offer`, `answer`, with `--mask`
//! also `block DTMF`, and `delete` at the end), or uses the static port pairs of `rtp_floor`
//! (`--floor BASEPORT`). Then every call sends 20 ms PCMU packets both ways from a few sockets
//! (`--sockets` per side; the relay sends many legs to the same port and the generator tells
//! them apart by SSRC), batched with `sendmmsg`/`recvmmsg`, the legs' send phases spread over
//! the 20 ms. A fraction of the calls carry DTMF caller→callee: in-band tones
//! (`--dtmf-inband`) or RFC 4733 events (`--dtmf-rfc`).
//!
//! Audio is a deterministic low-level noise (−30 dBm0, one 8.2 s table, each leg starting at its
//! own offset), so the position of any 8 received bytes in the sent audio can be looked up: audio
//! latency is the receive time minus the send time of the samples found, which is what a
//! look-behind masker adds on top of packet latency.
//!
//! Measured per direction over `--duration` s after `--warmup` s: packets sent and received,
//! loss, duplicates, reordering, one-way packet latency (kernel receive timestamps), RFC 3550
//! jitter, audio latency and its offset in samples; the relay's CPU time per forwarded packet
//! (`--relay-pid`); and, for DTMF calls, how many digits an eavesdropper recovers from what the
//! relay forwarded (Tonewall's detector, and a Goertzel on the first 30 ms of each tone).
//!
//! Prints one JSON line on stdout (and appends it to `--json FILE`), a summary on stderr.

use clap::Parser;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonewall_bench::relay::net::{BATCH, RecvBatch, SendBatch, realtime_ns, udp_socket};
use tonewall_bench::relay::ng::{self, CallIds, NgClient};
use tonewall_bench::relay::{CpuTime, Histogram, RTP_HEADER, Rtp, USER_HZ, cpu_time, loadavg};
use tonewall_dsp::level::{dbm0_to_power, power_to_dbm0};
use tonewall_dsp::synth::{self, Component, Rng};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent, Law};
use tonewall_media::EventSender;
use tonewall_media::rfc4733::SenderConfig;

/// Samples per packet (20 ms at 8 kHz).
const PTIME: usize = 160;
/// Nanoseconds between packets.
const PACKET_NS: u64 = 20_000_000;
/// Send times kept per leg (1.28 s of packets): later arrivals count as "too late".
const RING: usize = 64;
/// Noise table length (8.192 s); a power of two.
const NOISE_LEN: usize = 1 << 16;
/// Payload types.
const PT_PCMU: u8 = 0;
const PT_EVENT: u8 = 101;
/// Keys a caller presses.
const KEYS: &[u8] = b"0123456789*#";
/// SSRC = leg × MUL ^ XOR, invertible, so the receiver finds the leg without a table.
const SSRC_MUL: u32 = 0x9E37_79B1;
const SSRC_XOR: u32 = 0x7A11_5EED;

#[derive(Parser)]
#[command(about = "RTP relay load generator (ng or floor), latency/loss/jitter/CPU/DTMF-leak report")]
struct Args {
    /// ng control address of the relay (rtpengine, tonewall), e.g. 127.0.0.1:22322.
    #[arg(long, conflicts_with = "floor")]
    ng: Option<SocketAddr>,
    /// Use rtp_floor's static port pairs from this base port instead of ng.
    #[arg(long)]
    floor: Option<u16>,
    /// Address of the floor's ports.
    #[arg(long, default_value = "127.0.0.1")]
    floor_ip: Ipv4Addr,
    /// Calls (bidirectional streams).
    #[arg(long, default_value_t = 100)]
    streams: usize,
    /// Generator address (named in the SDP).
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: Ipv4Addr,
    /// First generator port: caller sockets from here, callee sockets after them.
    #[arg(long, default_value_t = 36000)]
    local_port: u16,
    /// Generator sockets per side.
    #[arg(long, default_value_t = 2)]
    sockets: usize,
    /// Seconds of traffic before the measurement window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds of the measurement window.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Milliseconds to keep receiving after the last send.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
    /// Fraction of calls whose caller sends in-band DTMF tones.
    #[arg(long, default_value_t = 0.1)]
    dtmf_inband: f64,
    /// Fraction of calls whose caller sends RFC 4733 events.
    #[arg(long, default_value_t = 0.1)]
    dtmf_rfc: f64,
    /// Ask the relay to mask DTMF (ng `block DTMF` after `answer`).
    #[arg(long)]
    mask: bool,
    /// `DTMF-security` mode for `--mask`.
    #[arg(long, default_value = "silence")]
    dtmf_security: String,
    /// `delay-buffer` (ms) for `--mask`.
    #[arg(long, default_value_t = 20)]
    delay_buffer: i64,
    /// Relay process to charge CPU time to.
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Name of this run in the JSON.
    #[arg(long, default_value = "")]
    label: String,
    /// Noise level, dBm0.
    #[arg(long, default_value_t = -30.0, allow_hyphen_values = true)]
    noise_dbm0: f64,
    /// Level of each DTMF tone, dBm0.
    #[arg(long, default_value_t = -10.0, allow_hyphen_values = true)]
    tone_dbm0: f64,
    /// Tone length, ms (a multiple of 20).
    #[arg(long, default_value_t = 100)]
    tone_ms: u64,
    /// One key press per this many ms on a DTMF call.
    #[arg(long, default_value_t = 1000)]
    press_every_ms: u64,
    /// In-band DTMF calls whose received audio is kept for the leak analysis.
    #[arg(long, default_value_t = 100)]
    leak_streams: usize,
    /// Shortest time between two wake-ups of the send loop, µs: packets due within one tick go
    /// out in one batch (their real send times are recorded).
    #[arg(long, default_value_t = 500)]
    tick_us: u64,
    /// Seed of the digits and tone phases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Append the JSON line to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    Inband,
    Rfc,
}

/// One direction of one call, as its sender and as its receiver see it.
struct Leg {
    /// Which [`Gen::dirs`] entry counts this leg: 0 caller→callee of calls without DTMF,
    /// 1 callee→caller, 2 caller→callee of DTMF calls (kept apart: a masking relay may drop or
    /// renumber their packets).
    stat: usize,
    kind: Kind,
    sock: usize,
    dst: SocketAddrV4,
    ssrc: u32,
    seq0: u16,
    ts0: u32,
    noise_off: usize,
    press_off: u64,
    ring_k: [u32; RING],
    ring_ns: [u64; RING],
    ev: EventSender,
    // receiver state
    highest: Option<i64>,
    bitmap: u64,
    jitter: f64,
    prev_transit: Option<f64>,
    jitter_n: u64,
    audio: Option<Vec<u8>>,
}

/// Counters of one direction.
#[derive(Default)]
struct Dir {
    sent: u64,
    send_fail: u64,
    received: u64,
    dup: u64,
    reordered: u64,
    too_late: u64,
    lat: Histogram,
    audio_lat: Histogram,
    audio_unmatched: u64,
    offsets: HashMap<i64, u64>,
    pt_event: u64,
    pt_other: u64,
    ts_seq_mismatch: u64,
}

struct Noise {
    lin: Vec<i16>,
    ulaw: Vec<u8>,
    /// First 8 codes of a window → its position (u32::MAX when not unique).
    index: HashMap<u64, u32>,
}

fn key8(b: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&b[..8]);
    u64::from_le_bytes(k)
}

impl Noise {
    fn new(dbm0: f64) -> Noise {
        let mut f = vec![0.0; NOISE_LEN];
        synth::add_noise(&mut f, dbm0, &mut Rng::new(0x0A15E));
        let lin = synth::to_i16(&f);
        let mut ulaw = vec![0u8; NOISE_LEN];
        Law::Ulaw.encode_slice(&lin, &mut ulaw);
        let mut index = HashMap::with_capacity(NOISE_LEN);
        let mut w = [0u8; 8];
        for p in 0..NOISE_LEN {
            for (i, b) in w.iter_mut().enumerate() {
                *b = ulaw[(p + i) % NOISE_LEN];
            }
            index.entry(key8(&w)).and_modify(|v| *v = u32::MAX).or_insert(p as u32);
        }
        Noise { lin, ulaw, index }
    }
}

/// The multiplicative inverse of an odd number modulo 2³² (Newton's iteration).
fn inverse(odd: u32) -> u32 {
    let mut x = odd;
    for _ in 0..5 {
        x = x.wrapping_mul(2u32.wrapping_sub(odd.wrapping_mul(x)));
    }
    x
}

fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng::new(a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b);
    r.next_u64()
}

/// The key of press `j` of leg `leg`.
fn press_digit(seed: u64, leg: usize, j: u64) -> Digit {
    let c = KEYS[(mix(seed ^ leg as u64, j) % KEYS.len() as u64) as usize];
    Digit::from_char(c as char).unwrap_or(Digit::ALL[0])
}

/// A moment of the measurement window: when, the relay's and the generator's CPU time, packets
/// received so far.
type Mark = (Instant, Option<CpuTime>, CpuTime, u64);

struct Gen {
    args: Args,
    noise: Noise,
    legs: Vec<Leg>,
    dirs: [Dir; 3],
    tone_pk: u64,
    period_pk: u64,
    k_lo: u64,
    k_hi: u64,
    event_presses: HashSet<(usize, u32)>,
    event_right: u64,
    ssrc_inv: u32,
    by_port: HashMap<(usize, u16), usize>,
    unknown: u64,
    ssrc_fallback: u64,
}

impl Gen {
    /// Writes packet `k` of leg `l` into `buf`; returns its length and whether it is audio.
    fn build(&mut self, l: usize, k: u64, buf: &mut [u8]) -> usize {
        let leg = &mut self.legs[l];
        let seq = leg.seq0.wrapping_add(k as u16);
        let ts = leg.ts0.wrapping_add((k as u32).wrapping_mul(PTIME as u32));
        let press = k.checked_sub(leg.press_off).map(|d| (d / self.period_pk, d % self.period_pk));
        if leg.kind == Kind::Rfc {
            if let Some((j, 0)) = press {
                let start = leg.ts0.wrapping_add(((k) as u32).wrapping_mul(PTIME as u32));
                let _ = leg.ev.press(press_digit(self.args.seed, l, j), start, self.tone_pk * PTIME as u64);
            }
            if let Some((_, into)) = press
                && let Some(p) = leg.ev.poll_packet((into + 1) * PTIME as u64)
            {
                Rtp::write(buf, p.marker, PT_EVENT, seq, p.timestamp, leg.ssrc);
                buf[RTP_HEADER..RTP_HEADER + 4].copy_from_slice(&p.payload());
                return RTP_HEADER + 4;
            }
        }
        Rtp::write(buf, false, PT_PCMU, seq, ts, leg.ssrc);
        let at = (leg.noise_off + k as usize * PTIME) % NOISE_LEN;
        let out = &mut buf[RTP_HEADER..RTP_HEADER + PTIME];
        match press {
            Some((j, into)) if leg.kind == Kind::Inband && into < self.tone_pk => {
                let mut f = [0.0f64; PTIME];
                for (i, s) in f.iter_mut().enumerate() {
                    *s = f64::from(self.noise.lin[(at + i) % NOISE_LEN]);
                }
                let digit = press_digit(self.args.seed, l, j);
                let (lo, hi) = digit.freqs();
                let mut r = Rng::new(mix(self.args.seed ^ 0x70E, (l as u64) << 32 | j));
                let n0 = (into * PTIME as u64) as f64;
                let comps = [lo, hi].map(|hz| {
                    let w = std::f64::consts::TAU * hz / synth::RATE;
                    Component { hz, dbm0: self.args.tone_dbm0, phase: r.phase() + w * n0 }
                });
                synth::add_tones(&mut f, &comps);
                let lin = synth::to_i16(&f);
                Law::Ulaw.encode_slice(&lin, out);
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = self.noise.ulaw[(at + i) % NOISE_LEN];
                }
            }
        }
        RTP_HEADER + PTIME
    }

    fn leg_of(&mut self, side: usize, rtp: &Rtp, from: SocketAddrV4) -> Option<usize> {
        let l = (rtp.ssrc ^ SSRC_XOR).wrapping_mul(self.ssrc_inv) as usize;
        if l < self.legs.len() && self.legs[l].ssrc == rtp.ssrc {
            return Some(l);
        }
        let l = self.by_port.get(&(side, from.port())).copied();
        if l.is_some() {
            self.ssrc_fallback += 1;
        } else {
            self.unknown += 1;
        }
        l
    }

    /// Takes one received datagram on a socket of `side` (0 caller, 1 callee).
    fn receive(&mut self, side: usize, data: &[u8], from: SocketAddrV4, rx_ns: u64) {
        let Some(rtp) = Rtp::parse(data) else {
            self.unknown += 1;
            return;
        };
        let Some(l) = self.leg_of(side, &rtp, from) else { return };
        let (k_lo, k_hi) = (self.k_lo, self.k_hi);
        let leg = &mut self.legs[l];
        let dir = &mut self.dirs[leg.stat];
        let rel = rtp.seq.wrapping_sub(leg.seq0);
        let k = match leg.highest {
            None => i64::from(rel),
            Some(h) => h + i64::from(rel.wrapping_sub(h as u16) as i16),
        };
        if k < 0 {
            self.unknown += 1;
            return;
        }
        // Duplicates and reordering, against the highest sequence number seen.
        let mut duplicate = false;
        match leg.highest {
            Some(h) if k <= h => {
                let d = (h - k) as u64;
                if d < 64 && leg.bitmap & (1 << d) != 0 {
                    duplicate = true;
                } else {
                    if d < 64 {
                        leg.bitmap |= 1 << d;
                    }
                    if (k as u64) >= k_lo && (k as u64) < k_hi {
                        dir.reordered += 1;
                    }
                }
            }
            _ => {
                let shift = leg.highest.map_or(64, |h| (k - h) as u64);
                leg.bitmap = if shift >= 64 { 0 } else { leg.bitmap << shift };
                leg.bitmap |= 1;
                leg.highest = Some(k);
            }
        }
        let k = k as u64;
        let in_window = k >= k_lo && k < k_hi;
        if duplicate {
            if in_window {
                dir.dup += 1;
            }
            return;
        }
        let slot = (k % RING as u64) as usize;
        let send_ns = (leg.ring_k[slot] == k as u32).then_some(leg.ring_ns[slot]);
        if in_window {
            match send_ns {
                Some(s) => {
                    dir.received += 1;
                    dir.lat.record(rx_ns.saturating_sub(s));
                }
                None => dir.too_late += 1,
            }
        }
        let payload = &data[rtp.payload_at..rtp.payload_end];
        let n_pkt = i64::from(rtp.ts.wrapping_sub(leg.ts0) as i32);
        match rtp.pt {
            PT_PCMU => {
                if n_pkt != k as i64 * PTIME as i64 {
                    dir.ts_seq_mismatch += u64::from(in_window);
                }
                // RFC 3550 jitter, in timestamp units.
                let arrival = rx_ns as f64 * 8e-6;
                let transit = arrival - n_pkt as f64;
                if let Some(p) = leg.prev_transit {
                    leg.jitter += ((transit - p).abs() - leg.jitter) / 16.0;
                    leg.jitter_n += 1;
                }
                leg.prev_transit = Some(transit);
                if let Some(buf) = leg.audio.as_mut()
                    && n_pkt >= 0
                {
                    let at = n_pkt as usize;
                    if let Some(dst) = buf.get_mut(at..at + payload.len()) {
                        dst.copy_from_slice(payload);
                    }
                }
                if !in_window || payload.len() < 8 {
                    return;
                }
                // Audio latency: where in this leg's sent audio do these 8 bytes come from?
                let Some(&p) = self.noise.index.get(&key8(payload)) else {
                    dir.audio_unmatched += 1;
                    return;
                };
                if p == u32::MAX {
                    dir.audio_unmatched += 1;
                    return;
                }
                let len = NOISE_LEN as i64;
                let cand = (i64::from(p) - leg.noise_off as i64).rem_euclid(len);
                let mut d = (n_pkt - cand).rem_euclid(len);
                if d > len / 2 {
                    d -= len;
                }
                let n_found = n_pkt - d;
                if n_found < 0 {
                    dir.audio_unmatched += 1;
                    return;
                }
                let kf = n_found as u64 / PTIME as u64;
                let slot = (kf % RING as u64) as usize;
                if leg.ring_k[slot] != kf as u32 {
                    dir.audio_unmatched += 1;
                    return;
                }
                let sample_ns = leg.ring_ns[slot] + (n_found as u64 % PTIME as u64) * 125_000;
                dir.audio_lat.record(rx_ns.saturating_sub(sample_ns));
                *dir.offsets.entry(d).or_default() += 1;
            }
            PT_EVENT => {
                if in_window {
                    dir.pt_event += 1;
                    // Which press was it? The event's timestamp is the press's start.
                    let kp = u64::from(rtp.ts.wrapping_sub(leg.ts0)) / PTIME as u64;
                    let counted = kp >= k_lo && kp + self.tone_pk + 10 <= k_hi;
                    if leg.kind == Kind::Rfc
                        && counted
                        && payload.len() >= 4
                        && self.event_presses.insert((l, rtp.ts))
                    {
                        let j = kp.saturating_sub(leg.press_off) / self.period_pk;
                        if press_digit(self.args.seed, l, j).event() == payload[0] {
                            self.event_right += 1;
                        }
                    }
                }
            }
            _ => dir.pt_other += u64::from(in_window),
        }
    }
}

/// What an eavesdropper gets from the received audio of in-band DTMF calls.
#[derive(Default, Debug)]
struct Leak {
    streams: usize,
    presses: u64,
    detector: u64,
    detector_sensitive: u64,
    goertzel30: u64,
    goertzel30_wrong: u64,
    presses_with_leak: u64,
    leaked_ms_total: f64,
    leaked_ms_max: f64,
}

fn goertzel_power(x: &[f64], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / synth::RATE;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let re = s1 - s2 * w.cos();
    let im = s2 * w.sin();
    let n = x.len() as f64;
    2.0 * (re * re + im * im) / (n * n)
}

/// The digit a plain Goertzel eavesdropper reads from `x`, if any.
fn goertzel_digit(x: &[f64]) -> Option<Digit> {
    use tonewall_dsp::digit::{COL_HZ, ROW_HZ};
    let power = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let rows = ROW_HZ.map(|f| goertzel_power(x, f));
    let cols = COL_HZ.map(|f| goertzel_power(x, f));
    let best = |v: &[f64; 4]| {
        let mut i = 0;
        for j in 1..4 {
            if v[j] > v[i] {
                i = j;
            }
        }
        let second = (0..4).filter(|&j| j != i).map(|j| v[j]).fold(0.0, f64::max);
        (i, v[i], second)
    };
    let (r, rp, r2) = best(&rows);
    let (c, cp, c2) = best(&cols);
    let ok = rp > 4.0 * r2
        && cp > 4.0 * c2
        && (rp + cp) > 0.5 * power
        && power_to_dbm0(rp) > -35.0
        && power_to_dbm0(cp) > -35.0;
    ok.then(|| Digit::from_row_col(r, c)).flatten()
}

fn leak_analysis(g: &Gen, offset: i64) -> Leak {
    let mut leak = Leak::default();
    let tone = g.tone_pk as usize * PTIME;
    let win30 = synth::ms(30.0);
    let blk = synth::ms(5.0);
    let floor = dbm0_to_power(-30.0);
    for (l, leg) in g.legs.iter().enumerate() {
        let Some(audio) = leg.audio.as_ref() else { continue };
        leak.streams += 1;
        let mut lin = vec![0i16; audio.len()];
        Law::Ulaw.decode_slice(audio, &mut lin);
        let mut found = [Vec::new(), Vec::new()];
        for (i, cfg) in [DetectorConfig::default(), DetectorConfig::max_sensitivity()].iter().enumerate() {
            let mut d = Detector::new(cfg);
            d.push(&lin);
            d.finish();
            while let Some(ev) = d.poll_event() {
                if let DtmfEvent::DigitStart { digit, start } = ev {
                    found[i].push((digit, start as i64));
                }
            }
        }
        let mut j = 0;
        loop {
            let kp = leg.press_off + j * g.period_pk;
            if kp + g.tone_pk + 10 > g.k_hi {
                break;
            }
            let digit = press_digit(g.args.seed, l, j);
            j += 1;
            if kp < g.k_lo {
                continue;
            }
            leak.presses += 1;
            let s = (kp as usize * PTIME) as i64 + offset;
            let e = s + tone as i64;
            let hit =
                |v: &Vec<(Digit, i64)>| v.iter().any(|&(d, st)| d == digit && st >= s - 400 && st <= e + 400);
            leak.detector += u64::from(hit(&found[0]));
            leak.detector_sensitive += u64::from(hit(&found[1]));
            let span = |a: i64, n: usize| -> Option<Vec<f64>> {
                let a = usize::try_from(a).ok()?;
                Some(lin.get(a..a + n)?.iter().map(|&v| f64::from(v)).collect())
            };
            if let Some(x) = span(s, win30) {
                match goertzel_digit(&x) {
                    Some(d) if d == digit => leak.goertzel30 += 1,
                    Some(_) => leak.goertzel30_wrong += 1,
                    None => {}
                }
            }
            // How much of the key's own pair is audible, 5 ms at a time, around the press.
            let (lo, hi) = digit.freqs();
            let mut ms = 0.0;
            let mut b = s - 160;
            while b < e + 160 {
                if let Some(x) = span(b, blk) {
                    let p = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
                    let (pl, ph) = (goertzel_power(&x, lo), goertzel_power(&x, hi));
                    if pl > floor && ph > floor && pl + ph > 0.5 * p {
                        ms += 5.0;
                    }
                }
                b += blk as i64;
            }
            if ms > 0.0 {
                leak.presses_with_leak += 1;
            }
            leak.leaked_ms_total += ms;
            leak.leaked_ms_max = leak.leaked_ms_max.max(ms);
        }
    }
    leak
}

fn dir_json(d: &Dir, legs: &[Leg], stat: usize) -> serde_json::Value {
    let q = |h: &Histogram, p: f64| h.quantile_us(p).map(|v| (v * 10.0).round() / 10.0);
    // Packets that came more than RING packets (1.28 s) late are counted apart from the lost.
    let lost = d.sent.saturating_sub(d.received + d.too_late);
    let jit: Vec<f64> =
        legs.iter().filter(|l| l.stat == stat && l.jitter_n > 0).map(|l| l.jitter / 8.0).collect();
    let jmean = if jit.is_empty() { 0.0 } else { jit.iter().sum::<f64>() / jit.len() as f64 };
    let jmax = jit.iter().copied().fold(0.0, f64::max);
    let mut offs: Vec<(i64, u64)> = d.offsets.iter().map(|(&k, &v)| (k, v)).collect();
    offs.sort_by_key(|&(_, v)| std::cmp::Reverse(v));
    offs.truncate(3);
    json!({
        "sent": d.sent, "send_fail": d.send_fail, "received": d.received, "lost": lost,
        "loss_pct": if d.sent > 0 { 100.0 * lost as f64 / d.sent as f64 } else { 0.0 },
        "too_late_pct": if d.sent > 0 { 100.0 * d.too_late as f64 / d.sent as f64 } else { 0.0 },
        "dup": d.dup, "reordered": d.reordered, "too_late": d.too_late,
        "latency_us": {"p50": q(&d.lat, 0.5), "p99": q(&d.lat, 0.99), "p999": q(&d.lat, 0.999),
            "max": (d.lat.max_us() * 10.0).round() / 10.0, "mean": d.lat.mean_us().map(|v| (v * 10.0).round() / 10.0)},
        "jitter_ms": {"mean": (jmean * 1000.0).round() / 1000.0, "max": (jmax * 1000.0).round() / 1000.0},
        "audio_latency_us": {"n": d.audio_lat.count(), "p50": q(&d.audio_lat, 0.5), "p99": q(&d.audio_lat, 0.99),
            "max": (d.audio_lat.max_us() * 10.0).round() / 10.0},
        "audio_offset_samples": offs.iter().map(|&(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "audio_unmatched": d.audio_unmatched,
        "pt101_received": d.pt_event, "other_pt_received": d.pt_other, "ts_seq_mismatch": d.ts_seq_mismatch,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.ng.is_none() && args.floor.is_none() {
        return Err("give --ng ADDR or --floor BASEPORT".into());
    }
    if args.tone_ms % 20 != 0 || args.tone_ms == 0 || args.press_every_ms < args.tone_ms + 200 {
        return Err("--tone-ms must be a multiple of 20, and --press-every-ms ≥ tone + 200".into());
    }
    let n = args.streams;
    let k_sock = args.sockets.max(1);
    let load_start = loadavg();

    // Sockets: caller side [0, K), callee side [K, 2K).
    let socks: Vec<UdpSocket> = (0..2 * k_sock)
        .map(|i| udp_socket(SocketAddrV4::new(args.local_ip, args.local_port + i as u16), 8 << 20, true))
        .collect::<Result<_, _>>()?;
    let local = |i: usize| SocketAddrV4::new(args.local_ip, args.local_port + i as u16);

    // Call setup: where each leg sends to.
    let mut dsts: Vec<(SocketAddrV4, SocketAddrV4)> = Vec::with_capacity(n);
    let mut ids: Vec<CallIds> = Vec::new();
    let mut ng_client = None;
    let setup_start = Instant::now();
    let mut ng_errors = 0u64;
    let pid = std::process::id();
    if let Some(ng_addr) = args.ng {
        let mut c = NgClient::new(ng_addr, Duration::from_millis(1000))?;
        c.request(&ng::ping())?;
        let flags: &[&str] = if args.mask { &["detect DTMF"] } else { &[] };
        for i in 0..n {
            let id = CallIds {
                call_id: format!("twb-{pid}-{i}"),
                from_tag: format!("caller-{i}"),
                to_tag: format!("callee-{i}"),
            };
            let a = local(i % k_sock);
            let b = local(k_sock + i % k_sock);
            let r1 = ng::reply_sdp(&c.request(&ng::offer(&id, &ng::sdp(i as u64 + 1, a), flags))?)?;
            let r2 = ng::reply_sdp(&c.request(&ng::answer(&id, &ng::sdp(i as u64 + 1, b), flags))?)?;
            if args.mask {
                c.request(&ng::block_dtmf(&id, &args.dtmf_security, args.delay_buffer))?;
            }
            // Caller sends to the port in the answer's reply, callee to the offer's.
            dsts.push((r2, r1));
            ids.push(id);
        }
        ng_client = Some(c);
    } else if let Some(base) = args.floor {
        for i in 0..n {
            let p = base as usize + 2 * i;
            dsts.push((
                SocketAddrV4::new(args.floor_ip, p as u16),
                SocketAddrV4::new(args.floor_ip, p as u16 + 1),
            ));
        }
    }
    let setup_s = setup_start.elapsed().as_secs_f64();

    let tone_pk = args.tone_ms / 20;
    let period_pk = args.press_every_ms / 20;
    let k_lo = (args.warmup * 50.0).round() as u64;
    let k_hi = k_lo + (args.duration * 50.0).round() as u64;
    let ssrc_inv = inverse(SSRC_MUL);
    let mut legs = Vec::with_capacity(2 * n);
    let mut by_port = HashMap::new();
    let mut inband_kept = 0;
    let total_samples = (k_hi as usize + 64) * PTIME;
    for i in 0..n {
        let x = ((i as f64 + 0.5) * 0.618_033_988_75).fract();
        let kind = if x < args.dtmf_inband {
            Kind::Inband
        } else if x < args.dtmf_inband + args.dtmf_rfc {
            Kind::Rfc
        } else {
            Kind::Plain
        };
        for dir in 0..2 {
            let l = 2 * i + dir;
            let h = mix(args.seed, l as u64);
            let kind = if dir == 0 { kind } else { Kind::Plain };
            let keep = kind == Kind::Inband && inband_kept < args.leak_streams;
            inband_kept += usize::from(keep);
            legs.push(Leg {
                stat: if dir == 1 {
                    1
                } else if kind == Kind::Plain {
                    0
                } else {
                    2
                },
                kind,
                sock: if dir == 0 { i % k_sock } else { k_sock + i % k_sock },
                dst: if dir == 0 { dsts[i].0 } else { dsts[i].1 },
                ssrc: (l as u32).wrapping_mul(SSRC_MUL) ^ SSRC_XOR,
                seq0: h as u16,
                ts0: (h >> 16) as u32,
                noise_off: ((h >> 48) as usize) % NOISE_LEN,
                press_off: 10 + (h >> 40) % period_pk,
                ring_k: [u32::MAX; RING],
                ring_ns: [0; RING],
                ev: EventSender::new(SenderConfig::default()),
                highest: None,
                bitmap: 0,
                jitter: 0.0,
                prev_transit: None,
                jitter_n: 0,
                audio: keep.then(|| vec![0xFF; total_samples]),
            });
            // Fallback demultiplexing if a relay rewrites SSRCs: the relay port a leg comes from.
            let (rx_side, from_port) = if dir == 0 { (1, dsts[i].1.port()) } else { (0, dsts[i].0.port()) };
            by_port.insert((rx_side, from_port), l);
        }
    }
    let noise = Noise::new(args.noise_dbm0);
    let noise_dups = noise.index.values().filter(|&&v| v == u32::MAX).count();

    let mut g = Gen {
        args,
        noise,
        legs,
        dirs: [Dir::default(), Dir::default(), Dir::default()],
        tone_pk,
        period_pk,
        k_lo,
        k_hi,
        event_presses: HashSet::new(),
        event_right: 0,
        ssrc_inv,
        by_port,
        unknown: 0,
        ssrc_fallback: 0,
    };

    // Send schedule: legs sorted by phase, spread over the 20 ms (the callee 10 ms after).
    let nl = g.legs.len();
    let mut sched: Vec<(u64, usize)> = (0..nl)
        .map(|l| {
            let call = (l / 2) as u64;
            let phase = call * PACKET_NS / n.max(1) as u64 + (l as u64 % 2) * PACKET_NS / 2;
            (phase % PACKET_NS, l)
        })
        .collect();
    sched.sort_unstable();

    let mut batches: Vec<SendBatch> = (0..socks.len()).map(|_| SendBatch::default()).collect();
    let mut pending: Vec<Vec<(usize, u64)>> = (0..socks.len()).map(|_| Vec::with_capacity(BATCH)).collect();
    let mut rb = RecvBatch::new(true);
    let t0 = Instant::now() + Duration::from_millis(100);
    let (mut cursor, mut cycle) = (0usize, 0u64);
    let mut sending = true;
    let mut stop_at: Option<Instant> = None;
    let mut rx_total = 0u64;
    let mut win: [Option<Mark>; 2] = [None, None];
    let mut lag = Histogram::default();
    let relay_pid = g.args.relay_pid.map(|p| p.to_string());
    let mut truncated;

    let flush = |s: usize, b: &mut SendBatch, p: &mut Vec<(usize, u64)>, g: &mut Gen| {
        let n = b.len();
        if n == 0 {
            return;
        }
        let t1 = realtime_ns();
        let sent = b.flush(&socks[s]);
        let t2 = realtime_ns();
        for (i, &(l, k)) in p.iter().enumerate() {
            let leg = &mut g.legs[l];
            let slot = (k % RING as u64) as usize;
            let in_window = k >= g.k_lo && k < g.k_hi;
            if i < sent {
                leg.ring_k[slot] = k as u32;
                leg.ring_ns[slot] = t1 + (t2 - t1) * (2 * i as u64 + 1) / (2 * n as u64);
                g.dirs[leg.stat].sent += u64::from(in_window);
            } else {
                leg.ring_k[slot] = u32::MAX;
                g.dirs[leg.stat].send_fail += u64::from(in_window);
            }
        }
        p.clear();
    };

    let tick = Duration::from_micros(g.args.tick_us);
    loop {
        let now = Instant::now();
        if sending {
            let mut first = true;
            // At most one round of every leg per wake-up: a starved generator catches up
            // between receives, so its socket buffers and send-time rings do not overflow.
            let mut budget = sched.len();
            loop {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                let (phase, l) = sched[cursor];
                let due = t0 + Duration::from_nanos(cycle * PACKET_NS + phase);
                if due > now {
                    break;
                }
                if first && cycle >= k_lo {
                    // How late the generator is: above a few ms, it is the bottleneck.
                    lag.record(now.saturating_duration_since(due).as_nanos() as u64);
                    first = false;
                }
                let s = g.legs[l].sock;
                if batches[s].is_full() {
                    flush(s, &mut batches[s], &mut pending[s], &mut g);
                }
                let len = g.build(l, cycle, batches[s].next_buf());
                let dst = g.legs[l].dst;
                batches[s].commit(len, dst);
                pending[s].push((l, cycle));
                cursor += 1;
                if cursor == sched.len() {
                    cursor = 0;
                    cycle += 1;
                    for (w, at) in [(0, k_lo), (1, k_hi)] {
                        if cycle == at && win[w].is_none() {
                            let relay = relay_pid.as_deref().and_then(|p| cpu_time(p).ok());
                            win[w] = Some((Instant::now(), relay, cpu_time("self")?, rx_total));
                        }
                    }
                    if cycle == k_hi {
                        sending = false;
                        stop_at = Some(Instant::now() + Duration::from_millis(g.args.drain_ms));
                        break;
                    }
                }
            }
            for s in 0..socks.len() {
                flush(s, &mut batches[s], &mut pending[s], &mut g);
            }
        }
        for (s, sock) in socks.iter().enumerate() {
            let side = usize::from(s >= k_sock);
            loop {
                let got = rb.recv(sock)?;
                for i in 0..got {
                    let (data, from, ts) = rb.get(i);
                    g.receive(side, data, from, ts);
                }
                rx_total += got as u64;
                if got < BATCH {
                    break;
                }
            }
        }
        truncated = rb.truncated;
        if let Some(stop) = stop_at
            && Instant::now() >= stop
        {
            break;
        }
        // Sleep until the next send is due (received packets carry kernel timestamps).
        let next = if sending {
            let (phase, _) = sched[cursor];
            t0 + Duration::from_nanos(cycle * PACKET_NS + phase)
        } else {
            Instant::now() + Duration::from_millis(1)
        };
        let wait =
            next.max(now + tick).saturating_duration_since(Instant::now()).min(Duration::from_millis(2));
        if wait > Duration::from_micros(20) {
            std::thread::sleep(wait);
        }
    }

    // Tear down.
    if let Some(c) = ng_client.as_mut() {
        for id in &ids {
            if c.request(&ng::delete(id)).is_err() {
                ng_errors += 1;
            }
        }
    }

    // Results.
    let (Some(w0), Some(w1)) = (win[0], win[1]) else {
        return Err("measurement window never opened".into());
    };
    let window_s = (w1.0 - w0.0).as_secs_f64();
    let forwarded = w1.3 - w0.3;
    let relay_cpu = match (w0.1, w1.1) {
        (Some(a), Some(b)) => {
            let ticks = b.ticks.saturating_sub(a.ticks);
            let sched_ns = b.sched_ns.saturating_sub(a.sched_ns);
            let cpu_s = ticks as f64 / USER_HZ as f64;
            json!({
                "pid": g.args.relay_pid, "cpu_s": cpu_s, "sched_cpu_s": sched_ns as f64 * 1e-9,
                "cpu_pct": 100.0 * cpu_s / window_s,
                "us_per_packet": if forwarded > 0 { cpu_s * 1e6 / forwarded as f64 } else { 0.0 },
                "us_per_packet_sched": if forwarded > 0 { sched_ns as f64 * 1e-3 / forwarded as f64 } else { 0.0 },
            })
        }
        _ => serde_json::Value::Null,
    };
    let gen_cpu_s = w1.2.sched_ns.saturating_sub(w0.2.sched_ns) as f64 * 1e-9;
    // The content offset of the caller→callee audio (0 for relays that do not shift audio).
    let offset = g.dirs[0].offsets.iter().max_by_key(|(_, v)| **v).map_or(0, |(k, _)| *k);
    let leak = leak_analysis(&g, offset);
    let rfc_calls = g.legs.iter().filter(|l| l.kind == Kind::Rfc).count();
    let rfc_presses: u64 = g
        .legs
        .iter()
        .filter(|l| l.kind == Kind::Rfc)
        .map(|l| {
            (0..)
                .map(|j| l.press_off + j * period_pk)
                .take_while(|&kp| kp + tone_pk + 10 <= k_hi)
                .filter(|&kp| kp >= k_lo)
                .count() as u64
        })
        .sum();
    let mode = if g.args.floor.is_some() {
        "floor".to_owned()
    } else if g.args.mask {
        format!("ng+block DTMF {} delay-buffer {}", g.args.dtmf_security, g.args.delay_buffer)
    } else {
        "ng".to_owned()
    };
    let load_end = loadavg();
    let out = json!({
        "label": g.args.label, "mode": mode, "calls": n, "legs": nl, "sockets_per_side": k_sock,
        "window_s": (window_s * 1000.0).round() / 1000.0, "setup_s": (setup_s * 1000.0).round() / 1000.0,
        "pps_each_way": (nl as f64 * 25.0),
        "forwarded_in_window": forwarded,
        "relay_cpu": relay_cpu,
        "generator_cpu_pct": 100.0 * gen_cpu_s / window_s,
        "generator_send_lag_us": {"p99": lag.quantile_us(0.99), "max": lag.max_us()},
        // Sends more than 5 ms late at the 99th percentile: the generator, not the relay, was
        // short of CPU, and the figures of this run do not describe the relay.
        "generator_overloaded": lag.quantile_us(0.99).unwrap_or(0.0) > 5000.0,
        "caller_to_callee": dir_json(&g.dirs[0], &g.legs, 0),
        "callee_to_caller": dir_json(&g.dirs[1], &g.legs, 1),
        "caller_to_callee_dtmf": dir_json(&g.dirs[2], &g.legs, 2),
        "dtmf": {
            "inband_calls": g.legs.iter().filter(|l| l.kind == Kind::Inband).count(),
            "rfc4733_calls": rfc_calls,
            "tone_ms": g.args.tone_ms, "tone_dbm0": g.args.tone_dbm0,
            "inband_leak": {
                "streams_analyzed": leak.streams, "presses": leak.presses,
                "recovered_detector": leak.detector, "recovered_detector_sensitive": leak.detector_sensitive,
                "recovered_goertzel_30ms": leak.goertzel30, "goertzel_30ms_wrong": leak.goertzel30_wrong,
                "presses_with_tone_leak": leak.presses_with_leak,
                "leaked_ms_mean": if leak.presses > 0 { leak.leaked_ms_total / leak.presses as f64 } else { 0.0 },
                "leaked_ms_max": leak.leaked_ms_max, "content_offset_samples": offset,
            },
            "rfc4733_leak": {"presses": rfc_presses, "presses_with_events_received": g.event_presses.len(),
                "digits_right": g.event_right},
        },
        "unknown_packets": g.unknown, "ssrc_fallback": g.ssrc_fallback, "truncated": truncated,
        "noise_index_collisions": noise_dups, "ng_errors": ng_errors,
        "loadavg_start": load_start, "loadavg_end": load_end,
        "unix_time": realtime_ns() / 1_000_000_000,
    });
    let line = out.to_string();
    println!("{line}");
    if let Some(path) = &g.args.json {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{line}")?;
    }
    summary(&out);
    Ok(())
}

fn summary(o: &serde_json::Value) {
    let f = |v: &serde_json::Value| match v.as_f64() {
        Some(x) => format!("{x:.1}"),
        None => "-".to_owned(),
    };
    eprintln!(
        "{} [{}] {} calls, {} pps each way, window {} s, load {} → {}",
        o["label"].as_str().unwrap_or(""),
        o["mode"].as_str().unwrap_or(""),
        o["calls"],
        o["pps_each_way"],
        o["window_s"],
        o["loadavg_start"][0],
        o["loadavg_end"][0]
    );
    for d in ["caller_to_callee", "callee_to_caller", "caller_to_callee_dtmf"] {
        let x = &o[d];
        eprintln!(
            "  {d:21} sent {} recv {} loss {}% dup {} reord {} | latency p50 {} p99 {} max {} µs | jitter {} ms | audio p50 {} p99 {} µs, offset {}",
            x["sent"],
            x["received"],
            f(&x["loss_pct"]),
            x["dup"],
            x["reordered"],
            f(&x["latency_us"]["p50"]),
            f(&x["latency_us"]["p99"]),
            f(&x["latency_us"]["max"]),
            x["jitter_ms"]["mean"],
            f(&x["audio_latency_us"]["p50"]),
            f(&x["audio_latency_us"]["p99"]),
            x["audio_offset_samples"]
        );
    }
    if o["generator_overloaded"].as_bool() == Some(true) {
        eprintln!(
            "  WARNING: the generator fell behind (send lag p99 > 5 ms): this run measures the generator's host, not the relay"
        );
    }
    let r = &o["relay_cpu"];
    if !r.is_null() {
        eprintln!(
            "  relay CPU {}% = {} µs per forwarded packet (schedstat {}); generator CPU {}%, send lag p99 {} µs",
            f(&r["cpu_pct"]),
            format_args!("{:.2}", r["us_per_packet"].as_f64().unwrap_or(0.0)),
            format_args!("{:.2}", r["us_per_packet_sched"].as_f64().unwrap_or(0.0)),
            f(&o["generator_cpu_pct"]),
            f(&o["generator_send_lag_us"]["p99"])
        );
    } else {
        eprintln!("  generator CPU {}%", f(&o["generator_cpu_pct"]));
    }
    let l = &o["dtmf"]["inband_leak"];
    eprintln!(
        "  in-band DTMF: {} presses on {} calls; recovered: detector {}, sensitive {}, Goertzel-30ms {}; {} presses leak tone (mean {} ms)",
        l["presses"],
        l["streams_analyzed"],
        l["recovered_detector"],
        l["recovered_detector_sensitive"],
        l["recovered_goertzel_30ms"],
        l["presses_with_tone_leak"],
        f(&l["leaked_ms_mean"])
    );
    let r = &o["dtmf"]["rfc4733_leak"];
    eprintln!(
        "  RFC 4733: {} presses, {} reached the callee as events ({} right digit)",
        r["presses"], r["presses_with_events_received"], r["digits_right"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrc_maps_back_to_its_leg() {
        let inv = inverse(SSRC_MUL);
        for leg in [0u32, 1, 2, 1999, 123_456] {
            let ssrc = leg.wrapping_mul(SSRC_MUL) ^ SSRC_XOR;
            assert_eq!((ssrc ^ SSRC_XOR).wrapping_mul(inv), leg);
        }
    }

    #[test]
    fn noise_positions_are_found() {
        let noise = Noise::new(-30.0);
        let dups = noise.index.values().filter(|&&v| v == u32::MAX).count();
        assert!(dups < NOISE_LEN / 1000, "{dups} ambiguous windows");
        for p in [0usize, 1, 160, 4321, NOISE_LEN - 3] {
            let w: Vec<u8> = (0..8).map(|i| noise.ulaw[(p + i) % NOISE_LEN]).collect();
            assert_eq!(noise.index.get(&key8(&w)).copied(), Some(p as u32));
        }
    }

    #[test]
    fn goertzel_eavesdropper_reads_30_ms_and_not_noise() {
        let mut rng = Rng::new(3);
        for c in ['1', '5', '9', '#', '0'] {
            let digit = Digit::from_char(c).expect("key");
            let mut x = vec![0.0; synth::ms(30.0)];
            synth::add_noise(&mut x, -30.0, &mut rng);
            synth::add_dtmf(&mut x, digit, -10.0, 0.0, (0.0, 0.0), &mut rng);
            assert_eq!(goertzel_digit(&x), Some(digit));
        }
        let mut x = vec![0.0; synth::ms(30.0)];
        synth::add_noise(&mut x, -30.0, &mut rng);
        assert_eq!(goertzel_digit(&x), None);
        assert_eq!(goertzel_digit(&vec![0.0; 240]), None);
    }
}
