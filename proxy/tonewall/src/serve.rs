//! `tonewall serve`: the relay, the SIP B2BUA, the ng control listener and the metrics, wired
//! from the config.

use crate::config::Config;
use crate::metrics::{self, RelayCollector};
use prometheus::{IntCounterVec, Opts, Registry};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use tonewall_io::{Relay, SessionId};
use tonewall_media::recording::RecordingKey;
use tonewall_media::relay::RelayEvent;

/// Runs until the process is stopped. Returns an error only if start-up fails.
pub fn run(config_path: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let key = match (&config.recording.dir, &config.recording.key_file) {
        (Some(_), Some(path)) => {
            let text = std::fs::read(path)
                .map_err(|e| format!("{}: cannot read the recording key: {e}", path.display()))?;
            Some(RecordingKey::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        _ => None,
    };
    let relay_config = config.relay();
    // Every call holds four sockets: take all the descriptors the hard limit allows.
    let fd_limit = tonewall_io::sys::set_fd_soft_limit(u64::MAX).unwrap_or(1024);
    let (relay, events) = Relay::start(relay_config.clone()).map_err(|e| format!("media relay: {e}"))?;
    let relay = Arc::new(relay);

    let registry = Registry::new();
    registry.register(Box::new(RelayCollector::new(Arc::clone(&relay)))).map_err(|e| e.to_string())?;
    let digits = IntCounterVec::new(
        Opts::new("tonewall_dtmf_digits_total", "Key presses found on masked streams, by first transport."),
        &["transport"],
    )
    .map_err(|e| e.to_string())?;
    let timeouts = IntCounterVec::new(
        Opts::new("tonewall_media_events_total", "Media session events: timeouts and resumptions."),
        &["event"],
    )
    .map_err(|e| e.to_string())?;
    registry.register(Box::new(digits.clone())).map_err(|e| e.to_string())?;
    registry.register(Box::new(timeouts.clone())).map_err(|e| e.to_string())?;
    let call_end = crate::ng::CallEndMetrics::register(&registry).map_err(|e| e.to_string())?;
    let sip_metrics = crate::sip::SipMetrics::register(&registry).map_err(|e| e.to_string())?;
    let metrics_addr = match config.metrics.listen {
        Some(addr) => {
            Some(metrics::serve(addr, registry).map_err(|e| format!("metrics listener {addr}: {e}"))?)
        }
        None => None,
    };

    // Media timeouts go to both control sides; each ends the call if it is one of its own.
    let (ng_timeouts_tx, ng_timeouts_rx) = std::sync::mpsc::channel();
    let (sip_timeouts_tx, sip_timeouts_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || handle_events(events, digits, timeouts, vec![ng_timeouts_tx, sip_timeouts_tx]))
        .map_err(|e| e.to_string())?;
    let sip = if crate::sip::enabled(&config) {
        let bound =
            crate::sip::start(&config, Arc::clone(&relay), sip_metrics, call_end.clone(), sip_timeouts_rx)?;
        bound
            .iter()
            .map(|(t, a)| format!("{}:{a}", t.to_string().to_lowercase()))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        "off (media node: ng only)".to_string()
    };

    eprintln!("tonewall serve: SIP {sip}");
    eprintln!(
        "tonewall serve: media on {} (carrier) / {} (agent), ports {}–{}, {} worker(s) {} (descriptor \
         limit {fd_limit}); metrics {}",
        relay_config.addresses[0],
        relay_config.addresses[1],
        relay_config.ports.0,
        relay_config.ports.1,
        relay_config.workers,
        if relay.private_fd_tables() {
            "with a descriptor table each"
        } else {
            "sharing one descriptor table"
        },
        metrics_addr.map_or("off".to_string(), |a| format!("http://{a}/metrics")),
    );
    if crate::sip::enabled(&config) {
        // With one shared table (a sandbox refused private ones) the whole relay has one limit.
        let tables = if relay.private_fd_tables() { relay_config.workers.max(1) } else { 1 };
        for warning in capacity_warnings(&config, &relay_config, tables, fd_limit) {
            eprintln!("tonewall serve: warning: {warning}");
        }
    }
    match config.ng.listen {
        Some(addr) => crate::ng::serve(addr, &relay, &config, key, Some(call_end), ng_timeouts_rx),
        None => loop {
            std::thread::park();
        },
    }
}

/// Counts session events and logs them: never a digit, only that one was found.
fn handle_events(
    events: Receiver<(SessionId, RelayEvent)>,
    digits: IntCounterVec,
    timeouts: IntCounterVec,
    timed_out: Vec<std::sync::mpsc::Sender<SessionId>>,
) {
    // Taken in batches every few milliseconds rather than one wake per event: the relay's
    // workers then never pay for waking this thread (nothing here is urgent to the millisecond).
    loop {
        let batch: Vec<_> = match events.recv() {
            Ok(first) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
                std::iter::once(first).chain(events.try_iter()).collect()
            }
            Err(_) => return,
        };
        for (id, event) in batch {
            handle_event(id, event, &digits, &timeouts, &timed_out);
        }
    }
}

fn handle_event(
    id: SessionId,
    event: RelayEvent,
    digits: &IntCounterVec,
    timeouts: &IntCounterVec,
    timed_out: &[std::sync::mpsc::Sender<SessionId>],
) {
    {
        match event {
            RelayEvent::Digit { transport, .. } => digits.with_label_values(&[transport.label()]).inc(),
            RelayEvent::MediaTimeout => {
                timeouts.with_label_values(&["timeout"]).inc();
                // The control side ends the call (no receiver without ng: nothing to end).
                for tx in timed_out {
                    let _ = tx.send(id);
                }
            }
            RelayEvent::MediaResumed => timeouts.with_label_values(&["resumed"]).inc(),
            _ => {}
        }
    }
}

/// What would stop the relay short of `[sip] max_calls`: descriptors (four sockets a call, in
/// each worker's own table, up to the descriptor limit) and the port range (two RTP/RTCP pairs
/// a call). Said once at start, so a full relay is not the first sign.
fn capacity_warnings(
    config: &Config,
    relay: &tonewall_io::RelayConfig,
    tables: usize,
    fd_limit: u64,
) -> Vec<String> {
    let want = config.sip.max_calls as u64;
    let mut out = vec![];
    // A few descriptors of each table are not sockets (poller, descriptor socket, stdio).
    let by_fds = tables as u64 * fd_limit.saturating_sub(16) / 4;
    if by_fds < want {
        out.push(format!(
            "the descriptor limit ({fd_limit} per table) holds about {by_fds} calls in {tables} \
             descriptor table(s), fewer than [sip] max_calls = {want}: raise the hard limit \
             (ulimit -Hn, systemd LimitNOFILE) or set [media] workers"
        ));
    }
    let pairs = (u64::from(relay.ports.1) + 1).saturating_sub(u64::from(relay.ports.0)) / 2;
    let by_ports = if relay.addresses[0] == relay.addresses[1] { pairs / 2 } else { pairs };
    if by_ports < want {
        out.push(format!(
            "the media port range {}–{} holds {by_ports} calls, fewer than [sip] max_calls = {want}",
            relay.ports.0, relay.ports.1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_warnings_name_the_limit_that_binds() {
        let mut config = Config::default();
        config.sip.max_calls = 10_000;
        let mut relay = config.relay();
        relay.workers = 2;
        relay.ports = (20000, 59999);
        relay.addresses = [[127, 0, 0, 1].into(), [127, 0, 0, 1].into()];
        // 2 × (20 000 − 16) / 4 = 9 992 calls: short by a few.
        let w = capacity_warnings(&config, &relay, 2, 20_000);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("about 9992 calls in 2 descriptor table(s)"), "{w:?}");
        relay.workers = 3;
        assert!(capacity_warnings(&config, &relay, 3, 20_000).is_empty());
        // Workers sharing the process's table: one limit for all.
        assert!(capacity_warnings(&config, &relay, 1, 20_000)[0].contains("about 4996 calls"));
        // One address for both legs: its 20 000 pairs make 10 000 calls; a narrower range not.
        relay.ports = (20000, 49999);
        let w = capacity_warnings(&config, &relay, 3, 20_000);
        assert!(w.len() == 1 && w[0].contains("holds 7500 calls"), "{w:?}");
        relay.addresses[1] = [127, 0, 0, 2].into();
        assert!(capacity_warnings(&config, &relay, 3, 20_000).is_empty());
    }
}
