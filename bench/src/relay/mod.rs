//! Pieces of the media relay benchmark: the load generator (`rtp_load`) and the bare forwarding
//! floor (`rtp_floor`) share them.
//!
//! ```text
//!   rtp_load ──ng (bencode/UDP): offer, answer, [block DTMF], delete──► relay (rtpengine, tonewall)
//!   caller sockets ──RTP──► relay port ──► callee sockets      (and back; one leg per direction)
//!        │ sendmmsg, 20 ms pacing,                 │ recvmmsg + SO_TIMESTAMPNS, demux by SSRC
//!        │ phases spread over the 20 ms            ▼
//!        └──────── send time per packet ──► loss, dup, reorder, one-way latency, jitter,
//!                                           audio latency (noise position), DTMF leak
//! ```
//!
//! What it does not do: RTCP, SRTP, codecs other than PCMU, IPv6.

pub mod bencode;
pub mod net;
pub mod ng;

use std::io;

/// Bytes of an RTP header without CSRCs or extension.
pub const RTP_HEADER: usize = 12;

/// The fields of an RTP header the bench uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtp {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Where the payload starts (after CSRCs and any header extension).
    pub payload_at: usize,
    /// Where the payload ends (before any padding).
    pub payload_end: usize,
}

impl Rtp {
    /// Writes a 12-byte header into `buf[..12]`.
    pub fn write(buf: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
        buf[0] = 0x80;
        buf[1] = (u8::from(marker) << 7) | (pt & 0x7f);
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        buf[4..8].copy_from_slice(&ts.to_be_bytes());
        buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// Parses a version-2 RTP header; `None` for anything else (RTCP, STUN, garbage).
    pub fn parse(b: &[u8]) -> Option<Rtp> {
        if b.len() < RTP_HEADER || b[0] >> 6 != 2 {
            return None;
        }
        let pt = b[1] & 0x7f;
        if (72..=76).contains(&pt) {
            return None; // RTCP sharing the port
        }
        let cc = usize::from(b[0] & 0x0f);
        let mut at = RTP_HEADER + 4 * cc;
        if b[0] & 0x10 != 0 {
            let ext = b.get(at + 2..at + 4)?;
            at += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*b.last()?))?;
        }
        if at > end {
            return None;
        }
        Some(Rtp {
            marker: b[1] & 0x80 != 0,
            pt,
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload_at: at,
            payload_end: end,
        })
    }
}

/// A latency histogram with 1 µs buckets up to [`Histogram::SPAN_US`], plus an overflow count
/// and the exact maximum. About 1 MiB; exact percentiles at bench resolution.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    max_ns: u64,
    sum_ns: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: vec![0; Self::SPAN_US], overflow: 0, count: 0, max_ns: 0, sum_ns: 0 }
    }
}

impl Histogram {
    /// Microseconds covered by the buckets.
    pub const SPAN_US: usize = 1 << 18;

    /// Records one value in nanoseconds.
    pub fn record(&mut self, ns: u64) {
        let us = (ns / 1000) as usize;
        match self.buckets.get_mut(us) {
            Some(b) => *b += 1,
            None => self.overflow += 1,
        }
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q`-quantile (0..=1) in µs; `None` when empty. Values past the span report the max.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(us as f64 + 0.5);
            }
        }
        Some(self.max_ns as f64 / 1000.0)
    }

    /// The largest value in µs.
    pub fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }

    /// The mean in µs.
    pub fn mean_us(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ns as f64 / self.count as f64 / 1000.0)
    }
}

/// CPU time a process has used: `utime + stime` from `/proc/PID/stat` (all threads, in clock
/// ticks of 1/100 s on Linux), and the sum of each thread's run time from
/// `/proc/PID/task/*/schedstat` (ns; threads that exit in between are lost).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// utime + stime, ticks (`USER_HZ` = 100).
    pub ticks: u64,
    /// Sum of the threads' on-CPU time, ns.
    pub sched_ns: u64,
}

/// Ticks per second of `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
pub const USER_HZ: u64 = 100;

/// Reads a process's CPU time; `pid` may be `"self"`.
pub fn cpu_time(pid: &str) -> io::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let ticks = num(11) + num(12);
    let mut sched_ns = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                sched_ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    Ok(CpuTime { ticks, sched_ns })
}

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    [it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_round_trip() {
        let mut b = [0u8; 172];
        Rtp::write(&mut b, true, 101, 65535, 0xdead_beef, 42);
        let r = Rtp::parse(&b).expect("parses");
        assert_eq!(
            (r.marker, r.pt, r.seq, r.ts, r.ssrc, r.payload_at),
            (true, 101, 65535, 0xdead_beef, 42, 12)
        );
        assert!(Rtp::parse(&b[..11]).is_none());
        b[0] = 0x90; // extension bit, but no room for it
        assert!(Rtp::parse(&b[..13]).is_none());
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.quantile_us(0.5), Some(50.5));
        assert_eq!(h.quantile_us(0.99), Some(99.5));
        assert_eq!(h.max_us(), 100.0);
    }

    #[test]
    fn own_cpu_time_reads() {
        let t = cpu_time("self").expect("/proc");
        assert!(t.sched_ns > 0);
    }
}
