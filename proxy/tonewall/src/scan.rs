//! `tonewall scan`: an auditor's check that recordings hold no DTMF.
//!
//! One JSON line per digit found (`file`, `digit`, `start_ms`, `end_ms`, and `channel` for
//! multi-channel files). Reporting the digit is this command's purpose, so unlike everywhere else
//! in Tonewall it prints keys; it reads files only and writes nothing but its report.

use crate::recording::{LoadError, load};
use std::io::Write;
use std::path::{Path, PathBuf};
use tonewall_dsp::{Detector, DetectorConfig, Digit, DtmfEvent};

/// One digit found in a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The key (its `Debug` is masked; the report prints it with `as_char`).
    pub digit: Digit,
    /// Channel (0-based).
    pub channel: usize,
    /// Start, ms from the beginning of the recording.
    pub start_ms: u64,
    /// End, ms.
    pub end_ms: u64,
}

/// Finds the digits in one channel of 8 kHz audio.
pub fn find(samples: &[i16], config: &DetectorConfig, channel: usize) -> Vec<Finding> {
    let mut det = Detector::new(config);
    let mut out = Vec::new();
    let mut collect = |det: &mut Detector| {
        while let Some(ev) = det.poll_event() {
            if let DtmfEvent::DigitEnd { digit, start, end } = ev {
                out.push(Finding { digit, channel, start_ms: start / 8, end_ms: end / 8 });
            }
        }
    };
    for chunk in samples.chunks(8000) {
        det.push(chunk);
        collect(&mut det);
    }
    det.finish();
    collect(&mut det);
    out
}

/// Scans every file; returns the process exit code (0 clean, 1 digits found, 2 an error,
/// including a report that could not be written: an auditor must not mistake a lost report for
/// a clean one).
pub fn run(files: &[PathBuf], sensitive: bool) -> i32 {
    let config = if sensitive { DetectorConfig::max_sensitivity() } else { DetectorConfig::default() };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut found, mut failed) = (false, false);
    for path in files {
        match scan_file(path, &config) {
            Ok((findings, channels)) => {
                for f in findings {
                    found = true;
                    if let Err(e) = report(&mut out, path, &f, channels) {
                        eprintln!("tonewall scan: writing the report: {e}");
                        return 2;
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("tonewall scan: {e}");
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("tonewall scan: writing the report: {e}");
        return 2;
    }
    if failed { 2 } else { found as i32 }
}

/// One JSON line, written by hand to keep the documented field order.
fn report(out: &mut impl Write, path: &Path, f: &Finding, channels: usize) -> std::io::Result<()> {
    let file = serde_json::Value::from(path.display().to_string());
    let channel = if channels > 1 { format!(",\"channel\":{}", f.channel) } else { String::new() };
    writeln!(
        out,
        "{{\"file\":{file},\"digit\":\"{}\",\"start_ms\":{},\"end_ms\":{}{channel}}}",
        f.digit.as_char(),
        f.start_ms,
        f.end_ms
    )
}

fn scan_file(path: &std::path::Path, config: &DetectorConfig) -> Result<(Vec<Finding>, usize), LoadError> {
    let loaded = load(path)?;
    let channels = loaded.rec.channels as usize;
    let mut all = Vec::new();
    for ch in 0..channels {
        let samples = loaded.channel_8k(ch)?;
        all.extend(find(&samples, config, ch));
    }
    all.sort_by_key(|f| (f.start_ms, f.channel));
    Ok((all, channels))
}
