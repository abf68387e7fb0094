//! Call recording, encrypted at rest: the post-mask audio of both directions of a call, written
//! as AES-256-GCM chunks that an auditor decrypts to a 2-channel WAV.
//!
//! Recordings tap the audio *after* masking, as forwarded: a recording can hold no more of a card
//! number than the agent heard, which is nothing. Encryption keeps the rest of the call (names,
//! addresses, voices) unreadable on disk without the key.
//!
//! ```text
//!  relay worker, per forwarded G.711 packet (post-mask):
//!    Writer::push(channel, law, ssrc, rtp_ts, arrival, payload)
//!       │  per-channel 8 kHz timeline: RTP timestamps within a stream, arrival time to anchor
//!       │  a stream and to align the two channels; small gaps → the law's silence code
//!       ▼
//!    per-channel buffer (1 s) ──full / law change / jump──► seal: AES-256-GCM in place
//!       ▼
//!    Writer::poll_chunk(&mut out) → header, then chunks ──► I/O layer appends them to a file
//!    Writer::finish(out) → last partial chunks + the end chunk
//!
//!  auditor: tonewall recording decrypt ─► reader::read(file, &KeyRing) ─► per-channel i16 ─► WAV
//! ```
//!
//! # Driving the writer
//!
//! Make one [`Writer`] per recorded call with the key, an arrival-time origin (`start`, on the
//! same clock as the `now` the relay gets) and [`RecordingParams`] (the call's wall-clock start
//! and 40 bytes from the OS's CSPRNG, fresh per file). Then, for every audio packet the relay
//! forwards, after masking:
//!
//! ```text
//! writer.push(Channel::CallerToAgent, law, ssrc, rtp_ts, now, payload);   // cheap: a memcpy
//! if writer.poll_chunk(&mut out) { file_thread.send(out) }                // ~once a second
//! ...
//! let stats = writer.finish(&mut out);                                    // BYE / teardown
//! ```
//!
//! Drain rule: call [`Writer::poll_chunk`] after each [`Writer::push`] (or at least every few
//! seconds); it appends everything ready — the header first, then every sealed chunk — to the
//! caller's buffer, in file order. Nothing is allocated per packet: the channel buffers and the
//! output queue are allocated once in [`Writer::new`]; a writer left undrained for about
//! 30 s drops audio (counted in [`WriterStats::dropped_samples`]) rather than grow.
//!
//! Cost (`cargo bench -p tonewall-bench --bench recording`, on the 2-core CI-class machine):
//! one 20 ms frame of each direction pushed and drained, with the sealing of one chunk per
//! channel per second amortized in, takes ≈ 0.26 µs — AES-256-GCM at ≈ 1.3 GB/s is nearly all of
//! it — against ≈ 0.17 µs to mask the caller's frame in the same run. A file is 16 kB per second
//! of call (58 MB an hour, 0.6 % of it chunk overhead); the reader verifies and decrypts
//! ≈ 290 MiB/s.
//!
//! # The timeline
//!
//! Each channel is 8 kHz with sample 0 at `start`. Within one RTP stream (an SSRC) a packet's
//! place is its RTP timestamp relative to the previous packet's (so wrap-around is seamless and
//! jitter does not move audio); a new SSRC, or a timestamp more than [`RESYNC_SAMPLES`] from
//! where its arrival time puts it (a timestamp reset, a sender paused on hold), re-anchors the
//! stream at its arrival time. Both channels being anchored on the same arrival clock is what
//! aligns them. Gaps (loss, DTX) up to [`MAX_FILL_SAMPLES`] are filled with the law's silence
//! code inside the chunk (so chunk sizes do not reveal when packets were lost); longer ones end
//! the chunk, and the reader leaves them as digital silence. Audio arriving for a place already
//! written (duplicates, late reordering) is dropped, as a jitter buffer would. Between anchors
//! the sender's clock rules, so two channels can drift apart by the difference of the two
//! senders' clock errors (0.2 s an hour at 50 ppm).
//!
//! # File format (version 1; all integers big-endian)
//!
//! ```text
//! header, 68 bytes:
//!   0  magic "\x89TWREC\r\n"   8  version = 1   9  codec = 1 (G.711, 8 kHz, law per chunk)
//!  10  channels = 2           11  reserved = 0 12  key id (8)   20  call start, Unix ms (8)
//!  28  salt (32, random per file)              60  nonce prefix (8, random per file)
//! then chunks, each self-delimiting:
//!   0  kind (1 audio, 2 end)   1  channel (0 caller→agent, 1 agent→caller)
//!   2  law as its RTP payload type (0 PCMU, 8 PCMA)   3  reserved = 0
//!   4  chunk counter (u32, 0, 1, 2, … in file order)  8  start sample on the channel (u64)
//!  16  length (u32; audio: 1..=8000 codes; end: 16)   20  nonce (12) = prefix ‖ counter
//!  32  ciphertext (length bytes) ‖ GCM tag (16)
//! the end chunk's plaintext: samples recorded on channel 0 and on channel 1 (u64 each)
//! ```
//!
//! Each file has its own AES-256-GCM key, HKDF-SHA-256(recording key, salt); every chunk's
//! associated data is the whole header and its own 32 metadata bytes. Nonces never repeat under
//! a key: the counter makes them unique within a file, and a per-file key makes a collision
//! across files a 256-bit salt collision (with one key for every file, 64 random bits of nonce
//! prefix alone would risk a repeat after a few billion recordings; Tink's streaming AEAD makes
//! the same choice).
//!
//! What a reader detects, each reported with the chunk's number and byte offset:
//! - any change to a header or chunk byte (the header is in every chunk's associated data, the
//!   metadata too, and the key is derived from the salt), including a wrong key for the id;
//! - chunks removed, reordered or duplicated (the counter is in the nonce and authenticated, and
//!   must run 0, 1, 2, …);
//! - a chunk spliced in from another recording, even under the same key (another nonce prefix
//!   and another per-file key);
//! - a file cut anywhere, including between chunks (no end chunk; the end chunk also repeats the
//!   per-channel sample counts), and anything appended after the end chunk.
//!
//! It cannot tell *who* changed a file, nor detect a whole recording deleted or replaced by
//! another complete one made with the same key (the call's identity is the I/O layer's to
//! record, e.g. in the CDR next to the file name). Metadata is not secret: the chunk layout
//! shows each channel's active periods and the call start time.
//!
//! # What this module does not do
//!
//! No files, clocks, threads or randomness (the caller passes the arrival time, the wall-clock
//! start and the random bytes, and writes the chunks); no codecs other than G.711 (other payloads
//! are the caller's to skip); no mixing, playback or resampling; no key management beyond
//! parsing a key file's contents and picking a key by id.

mod key;
mod reader;
mod writer;

pub use key::{KEY_LEN, KeyError, KeyId, KeyRing, RecordingKey};
pub use reader::{DEFAULT_MAX_SAMPLES, Decrypted, MAX_WAV_FRAMES, ReadError, ReadOptions, header, read};
pub use writer::{RecordingParams, Writer, WriterStats};

use aes_gcm::aead::KeyInit;
use aes_gcm::{Aes256Gcm, Key};
use hkdf::Hkdf;
use sha2::Sha256;
use std::time::Duration;
use tonewall_dsp::Law;
use zeroize::Zeroize;

/// The file's first bytes: not text (0x89), a name, and CR LF to catch text-mode transfers.
pub const MAGIC: [u8; 8] = *b"\x89TWREC\r\n";
/// The format version this module writes and reads.
pub const VERSION: u8 = 1;
/// Header length, bytes.
pub const HEADER_LEN: usize = 68;
/// Chunk metadata length (before the ciphertext), bytes.
pub const CHUNK_META_LEN: usize = 32;
/// GCM tag length, bytes.
pub const TAG_LEN: usize = 16;
/// Most samples in one audio chunk: one second.
pub const CHUNK_SAMPLES: usize = 8000;
/// A packet more than this far (samples, 1 s) from where its arrival time puts it re-anchors its
/// stream: a timestamp reset, or a sender that kept its timestamps still while on hold.
pub const RESYNC_SAMPLES: u64 = 8000;
/// Gaps up to this long (samples, 0.5 s) are filled with silence inside a chunk; longer ones end it.
pub const MAX_FILL_SAMPLES: u64 = 4000;
/// Sample rate of the timeline, Hz.
pub const RATE: u32 = 8000;

/// Codec byte of version 1: G.711 codes at 8 kHz, the law given per chunk.
const CODEC_G711: u8 = 1;
/// Plaintext of the end chunk: samples recorded per channel.
const END_LEN: usize = 16;
/// HKDF info for the per-file key.
const FILE_KEY_INFO: &[u8] = b"tonewall recording v1 file key";

/// Which direction of the call a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Caller to agent (leg A to leg B for an inbound call): the masked direction. Channel 0.
    CallerToAgent,
    /// Agent to caller. Channel 1.
    AgentToCaller,
}

impl Channel {
    /// Both, in channel order.
    pub const ALL: [Channel; 2] = [Channel::CallerToAgent, Channel::AgentToCaller];

    /// 0 or 1: the channel in the file and in the WAV.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A recording's header, as far as a reader needs it before decrypting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The key the recording was encrypted with.
    pub key_id: KeyId,
    /// When the call started (wall clock, since the Unix epoch, ms precision).
    pub call_start: Duration,
    salt: [u8; 32],
    nonce_prefix: [u8; 8],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8] = VERSION;
        h[9] = CODEC_G711;
        h[10] = 2;
        h[12..20].copy_from_slice(&self.key_id.0);
        let ms = u64::try_from(self.call_start.as_millis()).unwrap_or(u64::MAX);
        h[20..28].copy_from_slice(&ms.to_be_bytes());
        h[28..60].copy_from_slice(&self.salt);
        h[60..68].copy_from_slice(&self.nonce_prefix);
        h
    }
}

/// Kind byte of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Audio = 1,
    End = 2,
}

/// A chunk's metadata (the bytes before its ciphertext).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkMeta {
    kind: u8,
    channel: u8,
    law: u8,
    reserved: u8,
    counter: u32,
    start: u64,
    len: u32,
    nonce: [u8; 12],
}

impl ChunkMeta {
    fn encode(&self) -> [u8; CHUNK_META_LEN] {
        let mut m = [0u8; CHUNK_META_LEN];
        m[0] = self.kind;
        m[1] = self.channel;
        m[2] = self.law;
        m[3] = self.reserved;
        m[4..8].copy_from_slice(&self.counter.to_be_bytes());
        m[8..16].copy_from_slice(&self.start.to_be_bytes());
        m[16..20].copy_from_slice(&self.len.to_be_bytes());
        m[20..32].copy_from_slice(&self.nonce);
        m
    }

    fn decode(m: &[u8; CHUNK_META_LEN]) -> Self {
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&m[20..32]);
        ChunkMeta {
            kind: m[0],
            channel: m[1],
            law: m[2],
            reserved: m[3],
            counter: u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
            start: u64::from_be_bytes([m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]]),
            len: u32::from_be_bytes([m[16], m[17], m[18], m[19]]),
            nonce,
        }
    }
}

/// The nonce of chunk `counter`: the file's prefix, then the counter.
fn nonce(prefix: &[u8; 8], counter: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// Associated data of a chunk: the whole header, then the chunk's metadata.
fn aad(header: &[u8; HEADER_LEN], meta: &[u8; CHUNK_META_LEN]) -> [u8; HEADER_LEN + CHUNK_META_LEN] {
    let mut a = [0u8; HEADER_LEN + CHUNK_META_LEN];
    a[..HEADER_LEN].copy_from_slice(header);
    a[HEADER_LEN..].copy_from_slice(meta);
    a
}

/// The file's own AES-256-GCM key: HKDF-SHA-256 of the recording key with the file's salt.
fn file_cipher(key: &RecordingKey, salt: &[u8; 32]) -> Aes256Gcm {
    let hk = Hkdf::<Sha256>::new(Some(salt), key.bytes());
    let mut okm = Key::<Aes256Gcm>::default();
    // 32 bytes is far below HKDF-SHA-256's limit of 255 × 32 bytes, so this cannot fail; were it
    // to, a zero key must not be used silently.
    hk.expand(FILE_KEY_INFO, &mut okm[..]).expect("HKDF-SHA-256 yields 32 bytes");
    let cipher = Aes256Gcm::new(&okm);
    okm.as_mut_slice().zeroize();
    cipher
}

/// A law as its static RTP payload type.
fn law_byte(law: Law) -> u8 {
    match law {
        Law::Ulaw => 0,
        Law::Alaw => 8,
    }
}

fn byte_law(b: u8) -> Option<Law> {
    match b {
        0 => Some(Law::Ulaw),
        8 => Some(Law::Alaw),
        _ => None,
    }
}
