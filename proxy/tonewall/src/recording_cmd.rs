//! `tonewall recording keygen KEYFILE` and `tonewall recording decrypt IN OUT.wav --key-file K`.
//!
//! The file work around `tonewall_media::recording`: reading key files (zeroed after parsing,
//! a warning when others can read them), creating keys from the OS's random source, and writing
//! the decrypted WAV. Every error names the file it is about; none shows key material or audio.
//! It does not re-encrypt, re-key or repair recordings, and it writes nothing when a recording
//! fails verification.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonewall_media::recording::{self, KeyError, KeyId, KeyRing, ReadError, ReadOptions, RecordingKey};
use zeroize::Zeroizing;

/// Why a recording command failed. Always names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmdError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A key file does not hold a key.
    #[error("{path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never its contents).
        source: KeyError,
    },
    /// The recording failed verification or is not a recording.
    #[error("{path}: {source}")]
    Read {
        /// The recording.
        path: PathBuf,
        /// What is wrong, with the chunk.
        source: ReadError,
    },
    /// None of the key files holds the key the recording names.
    #[error("{path}: encrypted with key {id}, which none of the key files given holds ({given})")]
    UnknownKey {
        /// The recording.
        path: PathBuf,
        /// The key it needs.
        id: KeyId,
        /// The key files given and their ids.
        given: String,
    },
    /// `keygen` would overwrite a file.
    #[error("{0}: already exists; a key file is never overwritten (recordings made with it would be lost)")]
    Exists(PathBuf),
    /// The OS's random source failed.
    #[error("{path}: no key made: the operating system's random source failed ({source})")]
    Random {
        /// The key file that was to be made.
        path: PathBuf,
        /// Its reason.
        source: getrandom::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CmdError + '_ {
    move |source| CmdError::Io { path: path.into(), source }
}

/// Creates `path` for writing, readable by its owner only.
fn create_private(path: &Path, new: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Makes a new key in `path` and returns its id.
pub fn keygen(path: &Path) -> Result<KeyId, CmdError> {
    let mut bytes = Zeroizing::new([0u8; recording::KEY_LEN]);
    getrandom::fill(&mut bytes[..]).map_err(|source| CmdError::Random { path: path.into(), source })?;
    let key = RecordingKey::from_bytes(*bytes);
    let line = key.to_key_file();
    let mut file = create_private(path, true).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => CmdError::Exists(path.into()),
        _ => CmdError::Io { path: path.into(), source },
    })?;
    file.write_all(line.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(path))?;
    Ok(key.id())
}

/// Reads key files into a ring, warning about files others can read.
pub fn load_keys(paths: &[PathBuf]) -> Result<(KeyRing, Vec<(PathBuf, KeyId)>), CmdError> {
    let mut ring = KeyRing::new();
    let mut given = Vec::new();
    for path in paths {
        let text = Zeroizing::new(std::fs::read(path).map_err(io_err(path))?);
        let key =
            RecordingKey::parse(&text).map_err(|source| CmdError::Key { path: path.clone(), source })?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
            if mode & 0o077 != 0 {
                eprintln!(
                    "tonewall recording: warning: {} can be read by others (mode {mode:o}); chmod 600 it",
                    path.display()
                );
            }
        }
        given.push((path.clone(), key.id()));
        ring.insert(key);
    }
    Ok((ring, given))
}

/// What `decrypt` wrote.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The key used.
    pub key_id: KeyId,
    /// Samples per channel.
    pub frames: usize,
    /// Wall-clock start of the call, since the Unix epoch.
    pub call_start: Duration,
    /// Chunks verified.
    pub chunks: u32,
    /// Whether the recording had its end chunk.
    pub complete: bool,
    /// Bytes verified.
    pub verified_len: usize,
    /// Bytes in the file.
    pub file_len: usize,
}

impl Summary {
    /// One line for the auditor.
    pub fn describe(&self, input: &Path, output: &Path) -> String {
        format!(
            "{} -> {}: 2 channels, {:.1} s at 8 kHz, call started {}, key {}, {} chunk(s) verified",
            input.display(),
            output.display(),
            self.frames as f64 / 8000.0,
            rfc3339_utc(self.call_start),
            self.key_id,
            self.chunks
        )
    }

    /// A warning when the recording was cut.
    pub fn warning(&self, input: &Path) -> Option<String> {
        (!self.complete).then(|| {
            format!(
                "{}: INCOMPLETE: no end chunk; only the first {} of {} bytes were verified and decrypted (the proxy stopped before finishing the recording, or the file was truncated)",
                input.display(),
                self.verified_len,
                self.file_len
            )
        })
    }
}

/// Verifies and decrypts `input` into the WAV `output`.
pub fn decrypt(
    input: &Path,
    output: &Path,
    key_files: &[PathBuf],
    allow_incomplete: bool,
) -> Result<Summary, CmdError> {
    let (ring, given) = load_keys(key_files)?;
    let bytes = std::fs::read(input).map_err(io_err(input))?;
    let options = ReadOptions { allow_incomplete, ..ReadOptions::default() };
    let rec = recording::read(&bytes, &ring, &options).map_err(|source| match source {
        ReadError::UnknownKey { id } => CmdError::UnknownKey {
            path: input.into(),
            id,
            given: given
                .iter()
                .map(|(p, id)| format!("{}: {id}", p.display()))
                .collect::<Vec<_>>()
                .join(", "),
        },
        source => CmdError::Read { path: input.into(), source },
    })?;
    let wav = Zeroizing::new(rec.to_wav());
    let mut file = create_private(output, false).map_err(io_err(output))?;
    file.write_all(&wav).map_err(io_err(output))?;
    Ok(Summary {
        key_id: rec.header.key_id,
        frames: rec.frames(),
        call_start: rec.header.call_start,
        chunks: rec.chunks,
        complete: rec.complete,
        verified_len: rec.verified_len,
        file_len: bytes.len(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn rfc3339_utc(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(Duration::from_millis(951_782_400_007)), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_utc(Duration::from_millis(1_750_000_000_123)), "2025-06-15T15:06:40.123Z");
        assert_eq!(rfc3339_utc(Duration::from_secs(4_102_444_799)), "2099-12-31T23:59:59.000Z");
    }
}
