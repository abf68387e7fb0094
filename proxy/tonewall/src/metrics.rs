//! Prometheus metrics: the relay's counters read at scrape time, and a tiny `/metrics` endpoint.
//!
//! The workers count into relaxed atomics of their own (no lock, no shared cache line per
//! packet); a collector sums them when Prometheus scrapes. Labels are bounded: drop reasons,
//! transports, nothing per call.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tonewall_io::Relay;
use tonewall_media::relay::DropReason;

/// Reads the relay's worker counters on each scrape.
pub struct RelayCollector {
    relay: Arc<Relay>,
    received: IntCounterVec,
    forwarded: IntCounterVec,
    dropped: IntCounterVec,
    errors: IntCounterVec,
    sessions: IntGauge,
    headroom: IntGauge,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

impl RelayCollector {
    /// A collector over `relay`'s workers.
    pub fn new(relay: Arc<Relay>) -> Self {
        RelayCollector {
            relay,
            received: counter(
                "tonewall_relay_packets_received_total",
                "Datagrams received on relay ports.",
                &[],
            ),
            forwarded: counter(
                "tonewall_relay_packets_forwarded_total",
                "Datagrams forwarded to the other leg.",
                &[],
            ),
            dropped: counter(
                "tonewall_relay_packets_dropped_total",
                "Datagrams not forwarded, by reason (dtmf_event: telephone-events removed by masking).",
                &["reason"],
            ),
            errors: counter(
                "tonewall_relay_errors_total",
                "Datagrams lost to I/O: send failures, oversized, or for no session.",
                &["kind"],
            ),
            sessions: IntGauge::new("tonewall_relay_sessions", "Media sessions being relayed.")
                .unwrap_or_else(|e| panic!("metric: {e}")),
            headroom: IntGauge::new(
                "tonewall_relay_session_headroom",
                "Sessions the fullest relay worker's descriptor table can still take (at 0, calls get 503).",
            )
            .unwrap_or_else(|e| panic!("metric: {e}")),
        }
    }
}

impl Collector for RelayCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.received, &self.forwarded, &self.dropped, &self.errors]
            .into_iter()
            .flat_map(|c| c.desc())
            .chain(self.sessions.desc())
            .chain(self.headroom.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (mut rx, mut fwd, mut sessions) = (0, 0, 0);
        let mut dropped = [0u64; DropReason::ALL.len()];
        let mut errors = [0u64; 3];
        for w in self.relay.stats() {
            rx += w.received.load(Ordering::Relaxed);
            fwd += w.forwarded.load(Ordering::Relaxed);
            sessions += w.sessions.load(Ordering::Relaxed);
            for (d, a) in dropped.iter_mut().zip(&w.dropped) {
                *d += a.load(Ordering::Relaxed);
            }
            errors[0] += w.send_errors.load(Ordering::Relaxed);
            errors[1] += w.oversized.load(Ordering::Relaxed);
            errors[2] += w.stray.load(Ordering::Relaxed);
        }
        // Counters are monotonic in the workers; reset and set mirrors them exactly.
        self.received.reset();
        self.received.with_label_values::<&str>(&[]).inc_by(rx);
        self.forwarded.reset();
        self.forwarded.with_label_values::<&str>(&[]).inc_by(fwd);
        for r in DropReason::ALL {
            let c = self.dropped.with_label_values(&[r.label()]);
            c.reset();
            c.inc_by(dropped[r.index()]);
        }
        for (kind, n) in ["send", "oversized", "stray"].into_iter().zip(errors) {
            let c = self.errors.with_label_values(&[kind]);
            c.reset();
            c.inc_by(n);
        }
        self.sessions.set(sessions as i64);
        self.headroom.set(i64::try_from(self.relay.session_headroom()).unwrap_or(i64::MAX));
        [&self.received, &self.forwarded, &self.dropped, &self.errors]
            .into_iter()
            .flat_map(|c| c.collect())
            .chain(self.sessions.collect())
            .chain(self.headroom.collect())
            .collect()
    }
}

/// Serves `GET /metrics` from `registry` on `addr`, on a thread of its own.
pub fn serve(addr: SocketAddr, registry: Registry) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            // One client at a time: a slow or silent one must not hold the endpoint.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(2)));
            let mut reader = BufReader::new(std::io::Read::take(&stream, 8192));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut out = &stream;
            let response = if request.starts_with("GET /metrics ") || request.starts_with("GET /metrics?") {
                let body = TextEncoder::new().encode_to_string(&registry.gather()).unwrap_or_default();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = out.write_all(response.as_bytes());
        }
    })?;
    Ok(bound)
}
