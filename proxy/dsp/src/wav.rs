//! Recordings: RIFF/WAVE (PCM16, µ-law, A-law; any rate; any channel count) and raw G.711.
//!
//! Parsing is sans-IO (bytes in) and never copies the audio: [`Recording`] records where the
//! samples sit in the file, so `tonewall mask` can patch masked samples in place and leave every
//! other byte — headers, metadata chunks, untouched audio — exactly as it was.
//!
//! Not handled (rejected with a clear error): compressed formats other than G.711, 8/24/32-bit
//! PCM, float, RF64.

use crate::g711::Law;
use core::ops::Range;

/// Lowest sample rate accepted (Hz).
pub const MIN_RATE: u32 = 4000;
/// Highest sample rate accepted (Hz).
pub const MAX_RATE: u32 = 384_000;

/// How samples are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 16-bit little-endian two's complement.
    Pcm16,
    /// One G.711 code per sample.
    G711(Law),
}

impl Encoding {
    /// Bytes per sample.
    pub fn width(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::G711(_) => 1,
        }
    }
}

/// What is wrong with a recording.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WavError {
    /// Too short to hold a RIFF/WAVE header.
    #[error("not a WAV file: shorter than a RIFF header")]
    Truncated,
    /// The first twelve bytes are not `RIFF....WAVE`.
    #[error("not a WAV file: no RIFF/WAVE signature")]
    NotWav,
    /// The `fmt ` chunk is missing or comes after `data`.
    #[error("WAV file has no fmt chunk before its data")]
    NoFormat,
    /// The `data` chunk is missing.
    #[error("WAV file has no data chunk")]
    NoData,
    /// The `fmt ` chunk (as present in the file) is shorter than 16 bytes.
    #[error("WAV fmt chunk has {0} bytes, expected at least 16")]
    BadFormatChunk(u32),
    /// A format this reader does not decode.
    #[error(
        "unsupported WAV encoding: format tag {tag:#06x} with {bits} bits per sample (supported: 16-bit PCM, G.711 µ-law, G.711 A-law)"
    )]
    Unsupported {
        /// The format tag (1 = PCM, 6 = A-law, 7 = µ-law, 0xFFFE = extensible).
        tag: u16,
        /// Bits per sample.
        bits: u16,
    },
    /// Zero channels, or a block alignment that does not match.
    #[error("inconsistent WAV format: {0}")]
    Inconsistent(&'static str),
    /// A sample rate outside what telephone and studio audio use.
    #[error("unsupported sample rate {0} Hz (supported: {MIN_RATE} to {MAX_RATE} Hz)")]
    Rate(u32),
}

/// A parsed recording: its format and where its samples are in the bytes it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// Sample encoding.
    pub encoding: Encoding,
    /// Samples per second.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Byte range of the sample data (whole frames only).
    pub data: Range<usize>,
}

impl Recording {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.data.len() / (self.encoding.width() * self.channels as usize)
    }

    /// Byte offset of sample `frame` of `channel`.
    pub fn offset(&self, channel: usize, frame: usize) -> usize {
        self.data.start + (frame * self.channels as usize + channel) * self.encoding.width()
    }

    /// One channel decoded to 16-bit linear.
    pub fn channel(&self, bytes: &[u8], channel: usize) -> Vec<i16> {
        (0..self.frames()).map(|f| self.read(bytes, channel, f)).collect()
    }

    /// One sample, decoded.
    pub fn read(&self, bytes: &[u8], channel: usize, frame: usize) -> i16 {
        let at = self.offset(channel, frame);
        match self.encoding {
            Encoding::Pcm16 => i16::from_le_bytes([bytes[at], bytes[at + 1]]),
            Encoding::G711(law) => law.decode(bytes[at]),
        }
    }

    /// The raw bytes of one sample (1 or 2).
    pub fn raw<'a>(&self, bytes: &'a [u8], channel: usize, frame: usize) -> &'a [u8] {
        let at = self.offset(channel, frame);
        &bytes[at..at + self.encoding.width()]
    }

    /// Overwrites one sample with a linear value, encoded as the file encodes.
    pub fn write(&self, bytes: &mut [u8], channel: usize, frame: usize, value: i16) {
        let at = self.offset(channel, frame);
        match self.encoding {
            Encoding::Pcm16 => bytes[at..at + 2].copy_from_slice(&value.to_le_bytes()),
            Encoding::G711(law) => bytes[at] = law.encode(value),
        }
    }

    /// Overwrites one sample with raw bytes in the file's encoding.
    pub fn write_raw(&self, bytes: &mut [u8], channel: usize, frame: usize, raw: &[u8]) {
        let at = self.offset(channel, frame);
        bytes[at..at + raw.len()].copy_from_slice(raw);
    }
}

/// A headerless G.711 file at 8 kHz, mono: the whole file is samples.
pub fn raw_g711(bytes: &[u8], law: Law) -> Recording {
    Recording { encoding: Encoding::G711(law), rate: 8000, channels: 1, data: 0..bytes.len() }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a RIFF/WAVE file. A truncated last chunk, or a `data` size of 0 or 0xFFFFFFFF (left by
/// recorders that stream and never patch the header), is taken to run to the end of the file.
pub fn parse(bytes: &[u8]) -> Result<Recording, WavError> {
    if bytes.len() < 12 {
        return Err(WavError::Truncated);
    }
    if &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut at = 12;
    let mut format: Option<(Encoding, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4);
        let body = at + 8;
        let end = if size == 0xFFFF_FFFF {
            bytes.len()
        } else {
            body.saturating_add(size as usize).min(bytes.len())
        };
        match id {
            b"fmt " => format = Some(parse_fmt(&bytes[body..end])?),
            b"data" => {
                let (encoding, rate, channels) = format.ok_or(WavError::NoFormat)?;
                let end = if size == 0 { bytes.len() } else { end };
                let frame = encoding.width() * channels as usize;
                let whole = (end - body) / frame * frame;
                return Ok(Recording { encoding, rate, channels, data: body..body + whole });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = end + (size as usize & 1);
        if end >= bytes.len() {
            break;
        }
    }
    Err(if format.is_some() { WavError::NoData } else { WavError::NoFormat })
}

fn parse_fmt(b: &[u8]) -> Result<(Encoding, u32, u16), WavError> {
    if b.len() < 16 {
        return Err(WavError::BadFormatChunk(b.len() as u32));
    }
    let mut tag = u16_at(b, 0);
    let channels = u16_at(b, 2);
    let rate = u32_at(b, 4);
    let align = u16_at(b, 12);
    let bits = u16_at(b, 14);
    // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
    if tag == 0xFFFE && b.len() >= 26 {
        tag = u16_at(b, 24);
    }
    let encoding = match (tag, bits) {
        (1, 16) => Encoding::Pcm16,
        (7, 8) => Encoding::G711(Law::Ulaw),
        (6, 8) => Encoding::G711(Law::Alaw),
        (tag, bits) => return Err(WavError::Unsupported { tag, bits }),
    };
    if channels == 0 {
        return Err(WavError::Inconsistent("zero channels"));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(WavError::Rate(rate));
    }
    if align as usize != encoding.width() * channels as usize {
        return Err(WavError::Inconsistent("block alignment does not match channels × sample width"));
    }
    Ok((encoding, rate, channels))
}

/// Builds a WAV file (for tests, examples and `tonewall` output of new files).
pub fn build(encoding: Encoding, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
    let (tag, bits): (u16, u16) = match encoding {
        Encoding::Pcm16 => (1, 16),
        Encoding::G711(Law::Ulaw) => (7, 8),
        Encoding::G711(Law::Alaw) => (6, 8),
    };
    let align = (encoding.width() as u32 * channels as u32).min(u16::MAX as u32) as u16;
    let fmt_len: u32 = if tag == 1 { 16 } else { 18 };
    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(b"RIFF");
    let data_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let riff_len = (4 + 8 + fmt_len + 8).saturating_add(data_len).saturating_add(data_len & 1);
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.saturating_mul(align as u32).to_le_bytes());
    out.extend_from_slice(&align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if fmt_len == 18 {
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() & 1 == 1 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_encoding() {
        for enc in [Encoding::Pcm16, Encoding::G711(Law::Ulaw), Encoding::G711(Law::Alaw)] {
            for channels in [1u16, 2] {
                let data: Vec<u8> = (0..(enc.width() * channels as usize * 101)).map(|i| i as u8).collect();
                let file = build(enc, 11025, channels, &data);
                let r = parse(&file).expect("own output parses");
                assert_eq!((r.encoding, r.rate, r.channels), (enc, 11025, channels));
                assert_eq!(&file[r.data.clone()], &data[..]);
                assert_eq!(r.frames(), 101);
            }
        }
    }

    #[test]
    fn skips_other_chunks_and_reads_streamed_headers() {
        let mut file = build(Encoding::Pcm16, 8000, 1, &[1, 0, 2, 0]);
        // Insert an odd-sized LIST chunk (padded) before fmt.
        let list = b"LIST\x03\x00\x00\x00abc\x00";
        file.splice(12..12, list.iter().copied());
        let r = parse(&file).expect("parses");
        assert_eq!(r.channel(&file, 0), vec![1, 2]);
        // A streaming recorder's data size of 0xFFFFFFFF runs to the end of the file.
        let at = file.len() - 4 - 4;
        file[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&file).expect("parses").frames(), 2);
    }

    #[test]
    fn rejects_what_it_cannot_read_with_a_reason() {
        assert_eq!(parse(b"RIFF"), Err(WavError::Truncated));
        assert_eq!(parse(b"RIFX\0\0\0\0WAVEfmt "), Err(WavError::NotWav));
        let mut f = build(Encoding::Pcm16, 8000, 1, &[0; 4]);
        f[34] = 24; // bits per sample
        assert_eq!(parse(&f), Err(WavError::Unsupported { tag: 1, bits: 24 }));
        let f = build(Encoding::Pcm16, 8000, 1, &[0; 4]);
        assert_eq!(parse(&f[..36]), Err(WavError::NoData));
        // A truncated fmt chunk reports the bytes actually there.
        assert_eq!(parse(&f[..30]), Err(WavError::BadFormatChunk(10)));
        for rate in [0, 1, 3999, 384_001, u32::MAX] {
            let f = build(Encoding::Pcm16, rate, 1, &[0; 4]);
            assert_eq!(parse(&f), Err(WavError::Rate(rate)), "{rate}");
        }
        let msg = WavError::Unsupported { tag: 0x55, bits: 0 }.to_string();
        assert!(msg.contains("0x0055") && msg.contains("µ-law"), "{msg}");
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut rng = crate::synth::Rng::new(99);
        let base = build(Encoding::G711(Law::Alaw), 8000, 2, &[0x55; 64]);
        for _ in 0..20_000 {
            let mut f = base.clone();
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(f.len());
                f[i] = rng.next_u64() as u8;
            }
            f.truncate(rng.below(f.len() + 1));
            if let Ok(r) = parse(&f) {
                assert!(r.data.end <= f.len());
                for c in 0..r.channels as usize {
                    let _ = r.channel(&f, c);
                }
            }
        }
    }
}
