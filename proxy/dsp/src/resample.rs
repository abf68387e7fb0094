//! Sample-rate conversion to and from the detector's 8 kHz, with rubato's FFT resampler.
//!
//! Used offline (`tonewall scan` and `mask` on recordings of any rate). The output is aligned with
//! the input: the resampler's own delay is trimmed, so sample `i` at 8 kHz is the input at time
//! `i / 8000` s.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Resampling failed (a rate of zero, or one rubato cannot handle).
#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    reason: String,
}

/// Converts mono 16-bit audio from `from` Hz to `to` Hz.
pub fn resample(samples: &[i16], from: u32, to: u32) -> Result<Vec<i16>, ResampleError> {
    if from == to {
        return Ok(samples.to_vec());
    }
    let err = |reason: String| ResampleError { from, to, reason };
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| err(e.to_string()))?;
    let input: Vec<f32> = samples.iter().map(|&s| s as f32).collect();
    let out_len = r.process_all_needed_output_len(input.len());
    let mut output = vec![0f32; out_len];
    let adapter_in = SequentialSlice::new(&input[..], 1, input.len()).map_err(|e| err(e.to_string()))?;
    let mut adapter_out =
        SequentialSlice::new_mut(&mut output[..], 1, out_len).map_err(|e| err(e.to_string()))?;
    let (_, produced) = r
        .process_all_into_buffer(&adapter_in, &mut adapter_out, input.len(), None)
        .map_err(|e| err(e.to_string()))?;
    let want = (samples.len() as u64 * to as u64 / from as u64) as usize;
    output.truncate(produced.min(want.max(1)));
    Ok(output.iter().map(|&v| v.round().clamp(-32768.0, 32767.0) as i16).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn keeps_a_tone_in_place_and_at_level() {
        for rate in [11025u32, 16000, 44100, 48000] {
            let n = rate as usize; // one second
            let mut buf = vec![0.0; n];
            // A 941 Hz burst from 0.25 s to 0.5 s, generated at the source rate.
            let w = core::f64::consts::TAU * 941.0 / rate as f64;
            let a = crate::level::sine_amplitude(-10.0);
            for i in n / 4..n / 2 {
                buf[i] = a * (w * i as f64).sin();
            }
            let src = synth::to_i16(&buf);
            let out = resample(&src, rate, 8000).expect("resamples");
            assert!((out.len() as i64 - 8000).abs() <= 2, "{rate}: {} samples", out.len());
            // Energy sits where the burst was: 2000..4000 at 8 kHz.
            let e = |r: core::ops::Range<usize>| out[r].iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
            let inside = e(2010..3990) / 1980.0;
            let outside = (e(0..1900) + e(4100..out.len())) / (out.len() - 2200) as f64;
            let level = crate::level::power_to_dbm0(inside);
            assert!((level + 10.0).abs() < 0.3, "{rate}: level {level}");
            assert!(outside < inside * 1e-3, "{rate}: leaked outside the burst");
        }
    }
}
