//! Loading recordings for `scan` and `mask`: the file's bytes, its format, and each channel at
//! 8 kHz for the detector.

use std::path::{Path, PathBuf};
use tonewall_dsp::g711::Law;
use tonewall_dsp::resample::resample;
use tonewall_dsp::wav::{self, Recording};

/// Why a recording could not be used. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not a recording this tool reads.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: wav::WavError,
    },
    /// The extension names no format and the content is not WAV.
    #[error(
        "{0}: unknown format (expected a .wav file, or raw 8 kHz G.711 as .ulaw/.ul/.u/.mulaw/.pcmu or .alaw/.al/.a/.pcma)"
    )]
    Unknown(PathBuf),
    /// Resampling to 8 kHz failed.
    #[error("{path}: {source}")]
    Resample {
        /// The file.
        path: PathBuf,
        /// The resampler's reason.
        source: tonewall_dsp::resample::ResampleError,
    },
}

/// A recording in memory.
pub struct Loaded {
    /// The file's bytes, untouched.
    pub bytes: Vec<u8>,
    /// Where the samples are and how they are encoded.
    pub rec: Recording,
    /// The file, for messages.
    pub path: PathBuf,
}

fn raw_law(path: &Path) -> Option<Law> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "ulaw" | "ul" | "mulaw" | "pcmu" | "u" => Some(Law::Ulaw),
        "alaw" | "al" | "pcma" | "a" => Some(Law::Alaw),
        _ => None,
    }
}

/// Reads and parses a recording.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.into(), source })?;
    let rec = match raw_law(path) {
        Some(law) => wav::raw_g711(&bytes, law),
        None => {
            let is_wav = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if !is_wav && !bytes.starts_with(b"RIFF") {
                return Err(LoadError::Unknown(path.into()));
            }
            wav::parse(&bytes).map_err(|source| LoadError::Format { path: path.into(), source })?
        }
    };
    Ok(Loaded { bytes, rec, path: path.into() })
}

impl Loaded {
    /// One channel at 8 kHz, 16-bit linear.
    pub fn channel_8k(&self, channel: usize) -> Result<Vec<i16>, LoadError> {
        let lin = self.rec.channel(&self.bytes, channel);
        resample(&lin, self.rec.rate, 8000)
            .map_err(|source| LoadError::Resample { path: self.path.clone(), source })
    }
}
