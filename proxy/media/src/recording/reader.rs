//! The recording reader: a whole file in, verified chunk by chunk, per-channel PCM out.
//!
//! Every chunk is authenticated before anything in it is used, and nothing is allocated on
//! the strength of an unauthenticated length beyond one chunk's 8000 bytes.

use super::{
    CHUNK_META_LEN, CHUNK_SAMPLES, ChunkMeta, END_LEN, HEADER_LEN, Header, KeyId, KeyRing, MAGIC, RATE,
    TAG_LEN, VERSION, aad, byte_law, file_cipher,
};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Nonce, Tag};
use std::fmt;
use std::time::Duration;
use tonewall_dsp::wav::{self, Encoding};
use zeroize::{Zeroize, Zeroizing};

/// Longest channel a 2-channel PCM16 WAV can hold (its data size is a u32): about 37 hours.
pub const MAX_WAV_FRAMES: u64 = (u32::MAX / 4) as u64;
/// Default limit on a channel's length: 12 hours at 8 kHz (1.4 GB of WAV).
pub const DEFAULT_MAX_SAMPLES: u64 = 12 * 3600 * RATE as u64;

/// How strict [`read`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Accept a file without its end chunk (the proxy stopped before finishing it), returning
    /// the chunks verified up to the cut with [`Decrypted::complete`] false. Off by default: a
    /// cut file is an error unless the auditor asks for what is left.
    pub allow_incomplete: bool,
    /// Refuse a recording whose channels would be longer than this (samples); never more than
    /// [`MAX_WAV_FRAMES`].
    pub max_samples: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { allow_incomplete: false, max_samples: DEFAULT_MAX_SAMPLES }
    }
}

/// Why a recording cannot be read. Chunks are numbered from 0 in file order, offsets are bytes
/// from the start of the file; no variant carries key material or audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file does not start with a recording's signature.
    #[error("not a Tonewall recording (no recording signature)")]
    NotRecording,
    /// The file is shorter than a header.
    #[error("recording cut short inside its header ({len} of {HEADER_LEN} bytes)")]
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// A format version this build does not read.
    #[error("recording format version {0} is not supported (this build reads version {VERSION})")]
    Version(u8),
    /// A header field with a value version 1 does not define.
    #[error("malformed recording header: {0}")]
    Header(&'static str),
    /// None of the keys given has the recording's key id.
    #[error("the recording is encrypted with key {id}, which is not among the keys given")]
    UnknownKey {
        /// The id in the header.
        id: KeyId,
    },
    /// The file ends before its end chunk: cut between chunks or inside one.
    #[error(
        "recording is incomplete: it ends at byte {offset}{}, after {chunks} whole chunk(s) and without its end chunk (the writer stopped before finishing it, or the file was truncated)",
        if *inside { " inside a chunk" } else { "" }
    )]
    Truncated {
        /// Chunks verified before the cut.
        chunks: u32,
        /// Where the incomplete part starts.
        offset: u64,
        /// Whether the file ends inside a chunk (rather than between two).
        inside: bool,
    },
    /// A chunk's metadata is impossible (before its authentication is even tried).
    #[error("chunk {chunk} (byte {offset}) is malformed: {what}")]
    Malformed {
        /// Its number.
        chunk: u32,
        /// Its offset.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A chunk carries another recording's nonce prefix: spliced in from another file.
    #[error("chunk {chunk} (byte {offset}) belongs to another recording: spliced in from another file")]
    Foreign {
        /// Its number.
        chunk: u32,
        /// Its offset.
        offset: u64,
    },
    /// A chunk's tag does not verify: its bytes, the metadata or the header were altered, or it
    /// was encrypted with another key or for another file.
    #[error(
        "chunk {chunk} (byte {offset}) failed authentication: altered, or encrypted with another key or for another recording"
    )]
    Authentication {
        /// Its number.
        chunk: u32,
        /// Its offset.
        offset: u64,
    },
    /// An authentic chunk in the wrong place: chunks were removed, reordered or duplicated.
    #[error("{}", order_message(*chunk, *found, *offset))]
    OutOfOrder {
        /// The place it is in.
        chunk: u32,
        /// The counter it carries (the place it was written in).
        found: u32,
        /// Its offset.
        offset: u64,
    },
    /// Audio placed before the end of what the same channel already holds.
    #[error("chunk {chunk} (byte {offset}) overlaps audio already read on channel {channel}")]
    Overlap {
        /// Its number.
        chunk: u32,
        /// Its offset.
        offset: u64,
        /// The channel.
        channel: u8,
    },
    /// A channel would be longer than [`ReadOptions::max_samples`].
    #[error("chunk {chunk} (byte {offset}) would make a channel longer than the limit of {limit} samples")]
    TooLong {
        /// Its number.
        chunk: u32,
        /// Its offset.
        offset: u64,
        /// The limit.
        limit: u64,
    },
    /// The end chunk's sample counts disagree with the audio read.
    #[error("the end chunk (chunk {chunk}) disagrees with the audio read: audio chunks are missing")]
    Summary {
        /// The end chunk's number.
        chunk: u32,
    },
    /// Bytes after the end chunk.
    #[error("{len} byte(s) after the end chunk, from byte {offset}: data was appended")]
    TrailingData {
        /// Where they start.
        offset: u64,
        /// How many.
        len: u64,
    },
}

fn order_message(chunk: u32, found: u32, offset: u64) -> String {
    if found > chunk {
        format!(
            "chunk {chunk} is missing: chunk {found} is in its place (byte {offset}); chunks were removed or reordered"
        )
    } else {
        format!(
            "chunk {found} appears again in place of chunk {chunk} (byte {offset}): chunks were duplicated or reordered"
        )
    }
}

/// A decrypted recording. Its audio is zeroed on drop and never printed by `Debug`.
pub struct Decrypted {
    /// The header.
    pub header: Header,
    /// Channel 0 (caller → agent) and 1 (agent → caller), 8 kHz, equally long; silence where
    /// nothing was recorded.
    pub channels: [Vec<i16>; 2],
    /// Samples carried by audio chunks per channel (silence fill included).
    pub recorded: [u64; 2],
    /// Chunks verified (the end chunk included).
    pub chunks: u32,
    /// Whether the end chunk was there (always true unless [`ReadOptions::allow_incomplete`]).
    pub complete: bool,
    /// Bytes verified from the start of the file: all of it when complete.
    pub verified_len: usize,
}

impl Decrypted {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.channels[0].len()
    }

    /// Length of the recording.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.frames() as u64 * 1_000_000 / u64::from(RATE))
    }

    /// A 2-channel 8 kHz 16-bit PCM WAV: channel 0 left, channel 1 right.
    pub fn to_wav(&self) -> Vec<u8> {
        let mut data = Zeroizing::new(Vec::with_capacity(self.frames() * 4));
        for (a, b) in self.channels[0].iter().zip(&self.channels[1]) {
            data.extend_from_slice(&a.to_le_bytes());
            data.extend_from_slice(&b.to_le_bytes());
        }
        wav::build(Encoding::Pcm16, RATE, 2, &data)
    }
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        for c in &mut self.channels {
            c.zeroize();
        }
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("header", &self.header)
            .field("frames", &self.frames())
            .field("recorded", &self.recorded)
            .field("chunks", &self.chunks)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

/// Parses the header alone: which key a recording needs, and when its call started.
pub fn header(bytes: &[u8]) -> Result<Header, ReadError> {
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(ReadError::NotRecording);
    }
    if bytes.len() < HEADER_LEN {
        return Err(ReadError::TruncatedHeader { len: bytes.len() });
    }
    let h = &bytes[..HEADER_LEN];
    if h[8] != VERSION {
        return Err(ReadError::Version(h[8]));
    }
    if h[9] != super::CODEC_G711 {
        return Err(ReadError::Header("unknown codec"));
    }
    if h[10] != 2 {
        return Err(ReadError::Header("version 1 recordings have two channels"));
    }
    if h[11] != 0 {
        return Err(ReadError::Header("reserved byte set"));
    }
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&h[12..20]);
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&h[20..28]);
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&h[28..60]);
    let mut nonce_prefix = [0u8; 8];
    nonce_prefix.copy_from_slice(&h[60..68]);
    Ok(Header {
        key_id: KeyId(key_id),
        call_start: Duration::from_millis(u64::from_be_bytes(ms)),
        salt,
        nonce_prefix,
    })
}

/// Verifies and decrypts a whole recording with the key from `keys` that its header names.
pub fn read(bytes: &[u8], keys: &KeyRing, options: &ReadOptions) -> Result<Decrypted, ReadError> {
    let header = header(bytes)?;
    let key = keys.get(header.key_id).ok_or(ReadError::UnknownKey { id: header.key_id })?;
    let mut header_bytes = [0u8; HEADER_LEN];
    header_bytes.copy_from_slice(&bytes[..HEADER_LEN]);
    let cipher = file_cipher(key, &header.salt);
    let limit = options.max_samples.min(MAX_WAV_FRAMES);
    let mut out = Decrypted {
        header,
        channels: [Vec::new(), Vec::new()],
        recorded: [0; 2],
        chunks: 0,
        complete: false,
        verified_len: HEADER_LEN,
    };
    let mut scratch = Zeroizing::new(Vec::with_capacity(CHUNK_SAMPLES));
    let mut at = HEADER_LEN;
    let mut chunk: u32 = 0;
    loop {
        let offset = at as u64;
        let rest = &bytes[at..];
        let cut = ReadError::Truncated { chunks: chunk, offset, inside: !rest.is_empty() };
        let Some(meta_bytes) = rest.first_chunk::<CHUNK_META_LEN>() else {
            if options.allow_incomplete {
                break;
            }
            return Err(cut);
        };
        let meta = ChunkMeta::decode(meta_bytes);
        let malformed = move |what| ReadError::Malformed { chunk, offset, what };
        let is_end = match meta.kind {
            1 => false,
            2 => true,
            _ => return Err(malformed("unknown chunk kind")),
        };
        if meta.reserved != 0 {
            return Err(malformed("reserved byte set"));
        }
        let len = meta.len as usize;
        if is_end {
            if meta.channel != 0 || meta.law != 0 || meta.start != 0 || len != END_LEN {
                return Err(malformed("end chunk with audio fields"));
            }
        } else {
            if meta.channel > 1 {
                return Err(malformed("channel other than 0 or 1"));
            }
            if byte_law(meta.law).is_none() {
                return Err(malformed("law other than PCMU (0) or PCMA (8)"));
            }
            if len == 0 || len > CHUNK_SAMPLES {
                return Err(malformed("audio length outside 1..=8000"));
            }
        }
        if meta.nonce[..8] != header.nonce_prefix {
            return Err(ReadError::Foreign { chunk, offset });
        }
        if meta.nonce[8..] != meta.counter.to_be_bytes() {
            return Err(malformed("nonce does not carry the chunk counter"));
        }
        let total = CHUNK_META_LEN + len + TAG_LEN;
        if rest.len() < total {
            if options.allow_incomplete {
                break;
            }
            return Err(cut);
        }
        scratch.clear();
        scratch.extend_from_slice(&rest[CHUNK_META_LEN..CHUNK_META_LEN + len]);
        let Ok(tag) = Tag::try_from(&rest[CHUNK_META_LEN + len..total]) else {
            return Err(malformed("tag"));
        };
        let nonce = Nonce::from(meta.nonce);
        cipher
            .decrypt_inout_detached(&nonce, &aad(&header_bytes, meta_bytes), (&mut scratch[..]).into(), &tag)
            .map_err(|_| ReadError::Authentication { chunk, offset })?;
        // Authentic from here on.
        if meta.counter != chunk {
            return Err(ReadError::OutOfOrder { chunk, found: meta.counter, offset });
        }
        at += total;
        if is_end {
            let mut counts = [0u8; 8];
            counts.copy_from_slice(&scratch[..8]);
            let ch0 = u64::from_be_bytes(counts);
            counts.copy_from_slice(&scratch[8..16]);
            let ch1 = u64::from_be_bytes(counts);
            if [ch0, ch1] != out.recorded {
                return Err(ReadError::Summary { chunk });
            }
            if at != bytes.len() {
                return Err(ReadError::TrailingData { offset: at as u64, len: (bytes.len() - at) as u64 });
            }
            out.complete = true;
            out.chunks = chunk + 1;
            out.verified_len = at;
            break;
        }
        let ch = usize::from(meta.channel);
        let law = byte_law(meta.law).unwrap_or(tonewall_dsp::Law::Ulaw);
        let end = meta.start.saturating_add(len as u64);
        if end > limit {
            return Err(ReadError::TooLong { chunk, offset, limit });
        }
        let samples = &mut out.channels[ch];
        if meta.start < samples.len() as u64 {
            return Err(ReadError::Overlap { chunk, offset, channel: meta.channel });
        }
        samples.resize(meta.start as usize, 0);
        samples.extend(scratch.iter().map(|&c| law.decode(c)));
        out.recorded[ch] += len as u64;
        out.verified_len = at;
        chunk = chunk.checked_add(1).ok_or(malformed("more chunks than a counter can number"))?;
        out.chunks = chunk;
    }
    let frames = out.channels[0].len().max(out.channels[1].len());
    for c in &mut out.channels {
        c.resize(frames, 0);
    }
    Ok(out)
}
