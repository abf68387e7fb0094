//! The recording writer: forwarded G.711 packets in, header and sealed chunks out.

use super::{
    CHUNK_META_LEN, CHUNK_SAMPLES, Channel, ChunkMeta, END_LEN, HEADER_LEN, Header, Kind, MAX_FILL_SAMPLES,
    RESYNC_SAMPLES, RecordingKey, TAG_LEN, aad, file_cipher, law_byte, nonce,
};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce};
use std::fmt;
use std::time::Duration;
use tonewall_dsp::Law;
use zeroize::Zeroize;

/// Bytes of one full sealed audio chunk.
const FULL_CHUNK: usize = CHUNK_META_LEN + CHUNK_SAMPLES + TAG_LEN;
/// Output queued before a drain is expected: the header and a few chunks (one push may seal a
/// chunk on each channel).
const PENDING_CAPACITY: usize = HEADER_LEN + 4 * FULL_CHUNK + CHUNK_META_LEN + END_LEN + TAG_LEN;
/// Output queued without a drain beyond which audio is dropped instead (about 30 s of a call).
const MAX_PENDING: usize = 64 * FULL_CHUNK;
/// The last counter an audio chunk may take: the end chunk needs one more.
const LAST_AUDIO_COUNTER: u32 = u32::MAX - 1;
/// Timeline positions are clamped here (about 4 years at 8 kHz) so sums never overflow.
const MAX_POSITION: u64 = 1 << 40;

/// What a recording file needs from outside this sans-IO module.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecordingParams {
    /// When the call started, wall clock since the Unix epoch (kept at ms precision): for the
    /// auditor, never used for placing audio.
    pub call_start: Duration,
    /// 32 bytes from the OS's CSPRNG, fresh for every file: the salt of the file's own key.
    pub salt: [u8; 32],
    /// 8 more random bytes, fresh for every file: the nonces' prefix.
    pub nonce_prefix: [u8; 8],
}

impl fmt::Debug for RecordingParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The salt and prefix are public (they are in the header) but noise in logs.
        f.debug_struct("RecordingParams").field("call_start", &self.call_start).finish_non_exhaustive()
    }
}

/// What a writer did, per channel where it matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Samples sealed into audio chunks, silence fill included (index: [`Channel::index`]).
    pub samples: [u64; 2],
    /// Packets dropped whole because their place on the timeline was already written.
    pub late_packets: [u64; 2],
    /// Streams (re-)anchored at their arrival time after the first: new SSRCs, timestamp resets.
    pub resyncs: [u64; 2],
    /// Samples dropped because the writer was not drained (or the chunk counter ran out).
    pub dropped_samples: [u64; 2],
    /// Chunks sealed, the end chunk included once finished.
    pub chunks: u32,
    /// Bytes handed out so far (header and chunks).
    pub bytes: u64,
}

/// The RTP stream a channel last placed.
#[derive(Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// RTP timestamp of the sample after the last one placed.
    next_ts: u32,
}

/// One channel: the chunk being filled and where the timeline stands.
struct ChannelState {
    /// Plaintext G.711 codes of the open chunk (zeroed when sealed and on drop).
    buf: Box<[u8]>,
    len: usize,
    /// Timeline position of `buf[0]`.
    buf_start: u64,
    law: Law,
    /// Position after the last sample placed (0 before any).
    write_pos: u64,
    stream: Option<Stream>,
}

impl Drop for ChannelState {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Writes one call's recording. See the [module docs](super) for the driving rule.
pub struct Writer {
    cipher: Aes256Gcm,
    header: [u8; HEADER_LEN],
    nonce_prefix: [u8; 8],
    /// Arrival time of timeline sample 0.
    start: Duration,
    /// Counter of the next chunk.
    counter: u32,
    channels: [ChannelState; 2],
    /// Sealed bytes not yet handed out.
    pending: Vec<u8>,
    stats: WriterStats,
}

impl Writer {
    /// A writer whose timeline starts at arrival time `start`. The header is ready at once
    /// (the first [`Writer::poll_chunk`] hands it out).
    pub fn new(key: &RecordingKey, params: &RecordingParams, start: Duration) -> Self {
        let header = Header {
            key_id: key.id(),
            call_start: params.call_start,
            salt: params.salt,
            nonce_prefix: params.nonce_prefix,
        }
        .encode();
        let mut pending = Vec::with_capacity(PENDING_CAPACITY);
        pending.extend_from_slice(&header);
        let channel = || ChannelState {
            buf: vec![0u8; CHUNK_SAMPLES].into_boxed_slice(),
            len: 0,
            buf_start: 0,
            law: Law::Ulaw,
            write_pos: 0,
            stream: None,
        };
        Writer {
            cipher: file_cipher(key, &params.salt),
            header,
            nonce_prefix: params.nonce_prefix,
            start,
            counter: 0,
            channels: [channel(), channel()],
            pending,
            stats: WriterStats::default(),
        }
    }

    /// Records one forwarded packet: its G.711 `payload` (after masking), in `law`, from RTP
    /// stream `ssrc` with timestamp `rtp_ts`, that arrived at `arrival` (the relay's `now`).
    /// Costs a few comparisons and a copy; once a second per channel it also seals a chunk
    /// (AES-GCM over 8000 bytes).
    pub fn push(
        &mut self,
        channel: Channel,
        law: Law,
        ssrc: u32,
        rtp_ts: u32,
        arrival: Duration,
        payload: &[u8],
    ) {
        if payload.is_empty() {
            return;
        }
        let c = channel.index();
        let arrived = self.position(arrival);
        let st = &mut self.channels[c];
        // Where the RTP timestamp puts it, relative to the last packet of the same stream.
        let by_timestamp = st.stream.filter(|s| s.ssrc == ssrc).and_then(|s| {
            let delta = i64::from(rtp_ts.wrapping_sub(s.next_ts) as i32);
            let pos = u64::try_from(st.write_pos as i64 + delta).ok()?;
            (pos.abs_diff(arrived) <= RESYNC_SAMPLES).then_some(pos)
        });
        let pos = match by_timestamp {
            Some(pos) => pos,
            None => {
                if st.stream.is_some() {
                    self.stats.resyncs[c] += 1;
                }
                // Anchored where it arrived, never over what is already written.
                arrived.max(st.write_pos)
            }
        };
        let skip = st.write_pos.saturating_sub(pos);
        if skip >= payload.len() as u64 {
            self.stats.late_packets[c] += 1;
            return;
        }
        st.stream = Some(Stream { ssrc, next_ts: rtp_ts.wrapping_add(payload.len() as u32) });
        self.place(c, pos + skip, law, &payload[skip as usize..]);
    }

    /// Appends everything ready (the header first, then sealed chunks, in file order) to `out`;
    /// returns whether anything was appended.
    pub fn poll_chunk(&mut self, out: &mut Vec<u8>) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        out.extend_from_slice(&self.pending);
        self.stats.bytes += self.pending.len() as u64;
        self.pending.clear();
        true
    }

    /// Seals what is left on both channels, adds the end chunk (without it a reader knows the
    /// file was cut) and appends everything still pending to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> WriterStats {
        for c in 0..2 {
            self.seal(c);
        }
        let mut summary = [0u8; END_LEN];
        summary[..8].copy_from_slice(&self.stats.samples[0].to_be_bytes());
        summary[8..].copy_from_slice(&self.stats.samples[1].to_be_bytes());
        let meta = ChunkMeta {
            kind: Kind::End as u8,
            channel: 0,
            law: 0,
            reserved: 0,
            counter: self.counter,
            start: 0,
            len: END_LEN as u32,
            nonce: nonce(&self.nonce_prefix, self.counter),
        };
        if emit(&self.cipher, &self.header, &mut self.pending, &meta, &summary) {
            self.stats.chunks += 1;
        }
        self.poll_chunk(out);
        self.stats
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Timeline position of an arrival time.
    fn position(&self, arrival: Duration) -> u64 {
        let d = arrival.saturating_sub(self.start);
        let whole = d.as_secs().saturating_mul(u64::from(super::RATE));
        let part = u64::from(d.subsec_nanos()) * u64::from(super::RATE) / 1_000_000_000;
        whole.saturating_add(part).min(MAX_POSITION)
    }

    /// Puts `data` at `pos` (not before the channel's write position).
    fn place(&mut self, c: usize, pos: u64, law: Law, data: &[u8]) {
        let st = &self.channels[c];
        if st.len > 0 && st.law != law {
            self.seal(c);
        }
        let st = &self.channels[c];
        let gap = pos - st.write_pos;
        if gap > 0 && st.len > 0 {
            if gap <= MAX_FILL_SAMPLES {
                let silence = st.law.silence();
                self.append(c, Source::Fill(silence, gap as usize));
            } else {
                self.seal(c);
            }
        }
        let st = &mut self.channels[c];
        if st.len == 0 {
            st.buf_start = pos;
            st.law = law;
        }
        self.append(c, Source::Codes(data));
        self.channels[c].write_pos = pos + data.len() as u64;
    }

    /// Appends to channel `c`'s open chunk, sealing each time it fills.
    fn append(&mut self, c: usize, source: Source<'_>) {
        let total = match source {
            Source::Codes(d) => d.len(),
            Source::Fill(_, n) => n,
        };
        let mut done = 0;
        while done < total {
            let st = &mut self.channels[c];
            let n = (CHUNK_SAMPLES - st.len).min(total - done);
            let dst = &mut st.buf[st.len..st.len + n];
            match source {
                Source::Codes(d) => dst.copy_from_slice(&d[done..done + n]),
                Source::Fill(code, _) => dst.fill(code),
            }
            st.len += n;
            done += n;
            if st.len == CHUNK_SAMPLES {
                self.seal(c);
            }
        }
    }

    /// Encrypts channel `c`'s open chunk into the pending output and starts the next one right
    /// after it.
    fn seal(&mut self, c: usize) {
        let st = &mut self.channels[c];
        let n = st.len;
        if n == 0 {
            return;
        }
        let room = self.pending.len() + CHUNK_META_LEN + n + TAG_LEN <= MAX_PENDING;
        let sealed = room && self.counter <= LAST_AUDIO_COUNTER && {
            let meta = ChunkMeta {
                kind: Kind::Audio as u8,
                channel: c as u8,
                law: law_byte(st.law),
                reserved: 0,
                counter: self.counter,
                start: st.buf_start,
                len: n as u32,
                nonce: nonce(&self.nonce_prefix, self.counter),
            };
            emit(&self.cipher, &self.header, &mut self.pending, &meta, &st.buf[..n])
        };
        if sealed {
            self.counter += 1;
            self.stats.chunks += 1;
            self.stats.samples[c] += n as u64;
        } else {
            self.stats.dropped_samples[c] += n as u64;
        }
        st.buf[..n].zeroize();
        st.buf_start += n as u64;
        st.len = 0;
    }
}

/// What [`Writer::append`] copies: codes, or `n` copies of one code.
#[derive(Clone, Copy)]
enum Source<'a> {
    Codes(&'a [u8]),
    Fill(u8, usize),
}

/// Appends one sealed chunk (metadata, ciphertext, tag) to `out`, encrypting in place there.
/// Returns false, leaving `out` as it was, if the cipher refuses (it cannot for these sizes).
fn emit(
    cipher: &Aes256Gcm,
    header: &[u8; HEADER_LEN],
    out: &mut Vec<u8>,
    meta: &ChunkMeta,
    plaintext: &[u8],
) -> bool {
    let before = out.len();
    let meta_bytes = meta.encode();
    out.extend_from_slice(&meta_bytes);
    let at = out.len();
    out.extend_from_slice(plaintext);
    let nonce = Nonce::from(meta.nonce);
    match cipher.encrypt_inout_detached(&nonce, &aad(header, &meta_bytes), (&mut out[at..]).into()) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            true
        }
        Err(_) => {
            out[at..].zeroize();
            out.truncate(before);
            false
        }
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither key nor audio: only where the writer stands.
        let key_id = super::KeyId(self.header[12..20].try_into().unwrap_or([0; 8]));
        f.debug_struct("Writer")
            .field("key_id", &key_id)
            .field("next_chunk", &self.counter)
            .field("pending_bytes", &self.pending.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{KeyRing, ReadOptions, read};

    fn writer() -> Writer {
        let key = RecordingKey::from_bytes([7; 32]);
        let params =
            RecordingParams { call_start: Duration::from_secs(1), salt: [1; 32], nonce_prefix: [2; 8] };
        Writer::new(&key, &params, Duration::ZERO)
    }

    #[test]
    fn pushing_and_draining_never_grows_the_buffers() {
        let mut w = writer();
        let mut out = Vec::with_capacity(1 << 16);
        let caps = |w: &Writer| (w.pending.capacity(), w.channels.each_ref().map(|c| c.buf.len()));
        let before = caps(&w);
        let payload = [0x55u8; 160];
        for i in 0..3000u32 {
            let at = Duration::from_millis(u64::from(i) * 20);
            // Some loss and a timestamp wrap on the way.
            if i % 17 != 3 {
                w.push(
                    Channel::CallerToAgent,
                    Law::Ulaw,
                    9,
                    i.wrapping_mul(160).wrapping_sub(80_000),
                    at,
                    &payload,
                );
            }
            w.push(Channel::AgentToCaller, Law::Alaw, 10, i * 160, at, &payload);
            if w.poll_chunk(&mut out) {
                out.clear();
            }
        }
        assert_eq!(caps(&w), before);
        assert!(w.stats().chunks >= 118, "{:?}", w.stats());
    }

    #[test]
    fn an_undrained_writer_drops_audio_instead_of_growing() {
        let mut w = writer();
        let payload = [0x11u8; 160];
        for i in 0..(120 * 50u32) {
            w.push(
                Channel::CallerToAgent,
                Law::Ulaw,
                1,
                i * 160,
                Duration::from_millis(u64::from(i) * 20),
                &payload,
            );
        }
        assert!(w.pending.len() <= MAX_PENDING);
        let s = w.stats();
        assert!(s.dropped_samples[0] > 0 && s.samples[0] + s.dropped_samples[0] >= 119 * 8000, "{s:?}");
        // What was kept still reads, the dropped part as silence.
        let mut out = Vec::new();
        w.finish(&mut out);
        let ring = KeyRing::from(RecordingKey::from_bytes([7; 32]));
        let rec = read(&out, &ring, &ReadOptions::default()).expect("reads");
        assert_eq!(rec.recorded, [s.samples[0], 0]);
    }

    #[test]
    fn nonces_never_repeat_within_a_file() {
        let mut w = writer();
        let mut out = Vec::new();
        for i in 0..200u32 {
            w.push(
                Channel::AgentToCaller,
                Law::Alaw,
                1,
                i * 800,
                Duration::from_millis(u64::from(i) * 100),
                &[1; 800],
            );
            w.poll_chunk(&mut out);
        }
        w.finish(&mut out);
        let mut at = HEADER_LEN;
        let mut seen = std::collections::HashSet::new();
        while at < out.len() {
            let meta = ChunkMeta::decode(out[at..at + CHUNK_META_LEN].try_into().expect("32 bytes"));
            assert!(seen.insert(meta.nonce), "nonce repeated");
            assert_eq!(meta.nonce[..8], [2; 8]);
            at += CHUNK_META_LEN + meta.len as usize + TAG_LEN;
        }
        assert_eq!(seen.len(), 21);
    }

    #[test]
    fn debug_shows_no_key_and_no_audio() {
        let mut w = writer();
        w.push(Channel::CallerToAgent, Law::Ulaw, 1, 0, Duration::ZERO, &[0xC3; 160]);
        let dbg = format!("{w:?}");
        assert!(
            !dbg.contains("195") && !dbg.to_lowercase().contains("c3, ") && !dbg.contains("0707"),
            "{dbg}"
        );
    }
}
