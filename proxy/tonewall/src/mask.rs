//! `tonewall mask IN OUT`: a copy of a recording with every DTMF tone replaced.
//!
//! The output is the input file byte for byte except the masked samples: headers, metadata
//! chunks and all other audio are untouched. Detection runs at 8 kHz (resampled if needed) with
//! the same detector and masking rule as the live relay, so a recording masked here and a stream
//! masked in a call are masked over the same spans; at 8 kHz the replaced samples are the same too.

use crate::recording::{LoadError, load};
use std::path::Path;
use tonewall_dsp::detector::Detector;
use tonewall_dsp::masker::substitute_sample;
use tonewall_dsp::simd::BLOCK;
use tonewall_dsp::{MaskRule, MaskerConfig};

/// What `mask` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Separate masked spans, over all channels.
    pub spans: usize,
    /// Masked time, ms, over all channels.
    pub masked_ms: u64,
}

/// Masked spans, in 8 kHz samples, of one channel.
pub fn spans(samples: &[i16], config: &MaskerConfig) -> Vec<(u64, u64)> {
    let mut det = Detector::new(&config.detector);
    let mut hot = Vec::with_capacity(samples.len() / BLOCK + 1);
    for chunk in samples.chunks(BLOCK) {
        let mut block = [0i16; BLOCK];
        block[..chunk.len()].copy_from_slice(chunk);
        hot.push(det.push_block(&block));
    }
    let masked = MaskRule::new(config).apply(&hot);
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (j, &m) in masked.iter().enumerate() {
        if !m {
            continue;
        }
        let (s, e) = ((j * BLOCK) as u64, ((j + 1) * BLOCK) as u64);
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

/// Masks `input` into `output`.
pub fn run(input: &Path, output: &Path, config: &MaskerConfig) -> Result<Summary, LoadError> {
    let loaded = load(input)?;
    let rec = loaded.rec.clone();
    let mut bytes = loaded.bytes.clone();
    let frames = rec.frames() as u64;
    let rate = rec.rate as u64;
    let mut summary = Summary::default();
    for ch in 0..rec.channels as usize {
        let samples = loaded.channel_8k(ch)?;
        for (s, e) in spans(&samples, config) {
            // To the file's rate, rounding outward.
            let first = (s * rate / 8000).min(frames);
            let last = (e * rate).div_ceil(8000).min(frames);
            for f in first..last {
                rec.write(&mut bytes, ch, f as usize, substitute_sample(config.substitute, f, rec.rate));
            }
            summary.spans += 1;
            summary.masked_ms += (e - s) / 8;
        }
    }
    std::fs::write(output, &bytes).map_err(|source| LoadError::Io { path: output.into(), source })?;
    Ok(summary)
}
