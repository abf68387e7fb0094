//! Recording at rest: writer → reader round trips on a virtual clock, and every kind of damage
//! to a file detected, named by chunk, with no key material or audio in any message.

use std::time::Duration;
use tonewall_dsp::Law;
use tonewall_dsp::synth::Rng;
use tonewall_dsp::wav;
use tonewall_media::recording::{
    CHUNK_META_LEN, Channel, HEADER_LEN, KeyRing, ReadError, ReadOptions, RecordingKey, RecordingParams,
    TAG_LEN, Writer, WriterStats, read,
};

const START: Duration = Duration::from_secs(10);

fn key(seed: u8) -> RecordingKey {
    RecordingKey::from_bytes(core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8)))
}

fn params(prefix: u8) -> RecordingParams {
    RecordingParams {
        call_start: Duration::from_millis(1_750_000_000_123),
        salt: [prefix ^ 0x5C; 32],
        nonce_prefix: [prefix; 8],
    }
}

fn ms(n: u64) -> Duration {
    START + Duration::from_millis(n)
}

/// A packet to record and, independently, where the test says its audio must land.
struct Expect {
    channels: [Vec<i16>; 2],
}

impl Expect {
    fn new() -> Self {
        Expect { channels: [Vec::new(), Vec::new()] }
    }

    fn put(&mut self, ch: usize, at: usize, values: impl IntoIterator<Item = i16>) {
        let v = &mut self.channels[ch];
        for (i, x) in values.into_iter().enumerate() {
            if v.len() <= at + i {
                v.resize(at + i + 1, 0);
            }
            v[at + i] = x;
        }
    }

    fn finish(mut self) -> [Vec<i16>; 2] {
        let n = self.channels[0].len().max(self.channels[1].len());
        for c in &mut self.channels {
            c.resize(n, 0);
        }
        self.channels
    }
}

fn codes(rng: &mut Rng, n: usize) -> Vec<u8> {
    // Never a silence code, so filled gaps and audio cannot be confused.
    (0..n)
        .map(|_| (rng.next_u64() as u8) | 0x40)
        .map(|c| if c == 0xFF || c == 0xD5 { 0x41 } else { c })
        .collect()
}

fn finish(w: Writer, file: &mut Vec<u8>) -> WriterStats {
    w.finish(file)
}

#[test]
fn round_trip_is_exact_through_loss_wrap_jitter_and_an_ssrc_change() {
    let k = key(1);
    let mut w = Writer::new(&k, &params(1), START);
    let mut file = Vec::new();
    let mut rng = Rng::new(4711);
    let mut want = Expect::new();

    // Channel 0, µ-law: timestamps wrap after three packets; packets 20–22 lost (60 ms, filled
    // with µ-law silence, which decodes to 0); 100–149 lost (1 s: the chunk ends there); arrival
    // jitter of up to ±7 ms moves nothing.
    let ts0 = u32::MAX - 3 * 160 + 1;
    for i in 0..200u32 {
        let payload = codes(&mut rng, 160);
        if (20..23).contains(&i) || (100..150).contains(&i) {
            continue;
        }
        let jitter = (i * 7919 % 15) as u64;
        w.push(
            Channel::CallerToAgent,
            Law::Ulaw,
            0xAAAA,
            ts0.wrapping_add(i * 160),
            ms(u64::from(i) * 20 + jitter),
            &payload,
        );
        want.put(0, i as usize * 160, payload.iter().map(|&c| Law::Ulaw.decode(c)));
        w.poll_chunk(&mut file);
    }
    // A new SSRC after 200 ms of nothing, with unrelated timestamps: placed by its arrival.
    for i in 0..40u32 {
        let payload = codes(&mut rng, 160);
        w.push(
            Channel::CallerToAgent,
            Law::Ulaw,
            0xBBBB,
            12_345 + i * 160,
            ms(4200 + u64::from(i) * 20),
            &payload,
        );
        want.put(0, 4200 * 8 + i as usize * 160, payload.iter().map(|&c| Law::Ulaw.decode(c)));
        w.poll_chunk(&mut file);
    }
    // Channel 1, A-law, from 500 ms on (aligned by arrival), 30 ms packets; one lost packet
    // filled with A-law silence (0xD5, which decodes to 8).
    for i in 0..150u32 {
        let payload = codes(&mut rng, 240);
        let at = 4000 + i as usize * 240;
        if i == 77 {
            want.put(1, at, std::iter::repeat_n(Law::Alaw.decode(0xD5), 240));
            continue;
        }
        w.push(
            Channel::AgentToCaller,
            Law::Alaw,
            0xCCCC,
            777 + i * 240,
            ms(500 + u64::from(i) * 30),
            &payload,
        );
        want.put(1, at, payload.iter().map(|&c| Law::Alaw.decode(c)));
        w.poll_chunk(&mut file);
    }
    let stats = finish(w, &mut file);
    let want = want.finish();
    assert_eq!(stats.resyncs, [1, 0]);
    assert_eq!(stats.late_packets, [0, 0]);

    let rec = read(&file, &KeyRing::from(key(1)), &ReadOptions::default()).expect("reads");
    assert!(rec.complete);
    assert_eq!(rec.header.call_start, Duration::from_millis(1_750_000_000_123));
    assert_eq!(rec.header.key_id, k.id());
    assert_eq!(rec.channels[0].len(), want[0].len());
    for c in 0..2 {
        let first = rec.channels[c].iter().zip(&want[c]).position(|(a, b)| a != b);
        assert_eq!(first, None, "channel {c} differs from sample {first:?}");
    }
    assert_eq!(rec.recorded, stats.samples);

    // The WAV carries the same samples, caller left, agent right.
    let wav_bytes = rec.to_wav();
    let parsed = wav::parse(&wav_bytes).expect("a WAV");
    assert_eq!((parsed.channels, parsed.rate), (2, 8000));
    assert!(parsed.channel(&wav_bytes, 0) == want[0] && parsed.channel(&wav_bytes, 1) == want[1]);
}

#[test]
fn timestamp_resets_late_packets_and_law_changes() {
    let mut w = Writer::new(&key(2), &params(2), START);
    let mut file = Vec::new();
    let mut rng = Rng::new(9);
    let mut want = Expect::new();
    let p: Vec<Vec<u8>> = (0..60).map(|_| codes(&mut rng, 160)).collect();
    let push = |w: &mut Writer, i: usize, ts: u32, law: Law| {
        w.push(Channel::CallerToAgent, law, 5, ts, ms(i as u64 * 20), &p[i]);
    };
    for i in 0..20 {
        push(&mut w, i, 1000 + i as u32 * 160, Law::Ulaw);
        want.put(0, i * 160, p[i].iter().map(|&c| Law::Ulaw.decode(c)));
    }
    // The same packet again, and an old one late: both dropped.
    push(&mut w, 19, 1000 + 19 * 160, Law::Ulaw);
    w.push(Channel::CallerToAgent, Law::Ulaw, 5, 1000 + 3 * 160, ms(400), &p[40]);
    // The timestamp jumps back by a minute without an SSRC change (a reset): re-anchored at
    // its arrival, which is contiguous here.
    for i in 20..30 {
        push(&mut w, i, 7 + (i as u32 - 20) * 160, Law::Ulaw);
        want.put(0, i * 160, p[i].iter().map(|&c| Law::Ulaw.decode(c)));
    }
    // The law changes mid-stream (a re-INVITE): a new chunk, each decoded with its own law.
    for i in 30..40 {
        push(&mut w, i, 7 + (i as u32 - 20) * 160, Law::Alaw);
        want.put(0, i * 160, p[i].iter().map(|&c| Law::Alaw.decode(c)));
    }
    // A packet overlapping the last one by half: only its new half is kept.
    w.push(Channel::CallerToAgent, Law::Alaw, 5, 7 + 19 * 160 + 80, ms(40 * 20), &p[41]);
    want.put(0, 40 * 160, p[41][80..].iter().map(|&c| Law::Alaw.decode(c)));
    w.poll_chunk(&mut file);
    let stats = finish(w, &mut file);
    assert_eq!(stats.late_packets, [2, 0]);
    assert_eq!(stats.resyncs, [1, 0]);
    let rec = read(&file, &KeyRing::from(key(2)), &ReadOptions::default()).expect("reads");
    assert_eq!(rec.channels, want.finish());
}

/// A small recording of several chunks: a 1.5 s gap on channel 0 splits its audio in two, and
/// channel 1 has its own chunk.
fn small_recording(k: &RecordingKey, prefix: u8) -> Vec<u8> {
    let mut w = Writer::new(k, &params(prefix), START);
    let mut file = Vec::new();
    let mut rng = Rng::new(u64::from(prefix));
    for i in 0..6u32 {
        let t = if i < 3 { i * 20 } else { 1500 + i * 20 };
        w.push(
            Channel::CallerToAgent,
            Law::Ulaw,
            1,
            i * 160 + if i < 3 { 0 } else { 12_000 },
            ms(t.into()),
            &codes(&mut rng, 160),
        );
        w.poll_chunk(&mut file);
    }
    w.push(Channel::AgentToCaller, Law::Alaw, 2, 0, ms(100), &codes(&mut rng, 160));
    finish(w, &mut file);
    file
}

fn spans(file: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at < file.len() {
        let len = u32::from_be_bytes(file[at + 16..at + 20].try_into().expect("4 bytes")) as usize;
        out.push(at..at + CHUNK_META_LEN + len + TAG_LEN);
        at += CHUNK_META_LEN + len + TAG_LEN;
    }
    out
}

fn chunk_of(e: &ReadError) -> Option<u32> {
    match *e {
        ReadError::Truncated { chunks, .. } => Some(chunks),
        ReadError::Malformed { chunk, .. }
        | ReadError::Foreign { chunk, .. }
        | ReadError::Authentication { chunk, .. }
        | ReadError::OutOfOrder { chunk, .. }
        | ReadError::Summary { chunk } => Some(chunk),
        _ => None,
    }
}

fn strict(file: &[u8], ring: &KeyRing) -> ReadError {
    match read(file, ring, &ReadOptions::default()) {
        Ok(_) => panic!("damage went unnoticed"),
        Err(e) => e,
    }
}

#[test]
fn a_flipped_bit_anywhere_is_caught_and_named_by_chunk() {
    let k = key(3);
    let ring = KeyRing::from(key(3));
    let file = small_recording(&k, 3);
    let spans = spans(&file);
    assert_eq!(spans.len(), 4, "three audio chunks and the end chunk");
    for i in 0..file.len() {
        for bit in [0, 7] {
            let mut bad = file.clone();
            bad[i] ^= 1 << bit;
            let e = strict(&bad, &ring);
            if i < HEADER_LEN {
                let ok = match i {
                    0..8 => e == ReadError::NotRecording,
                    8 => matches!(e, ReadError::Version(_)),
                    9..12 => matches!(e, ReadError::Header(_)),
                    12..20 => matches!(e, ReadError::UnknownKey { .. }),
                    // The call start and salt are authenticated; the nonce prefix must match every chunk's.
                    20..60 => e == ReadError::Authentication { chunk: 0, offset: HEADER_LEN as u64 },
                    _ => e == ReadError::Foreign { chunk: 0, offset: HEADER_LEN as u64 },
                };
                assert!(ok, "header byte {i}: {e:?}");
            } else {
                let k = spans.iter().position(|s| s.contains(&i)).expect("in a chunk") as u32;
                assert_eq!(chunk_of(&e), Some(k), "byte {i} (chunk {k}): {e}");
                assert!(
                    e.to_string().contains(&format!("chunk {k}")) || matches!(e, ReadError::Truncated { .. })
                );
            }
        }
    }
}

#[test]
fn removed_reordered_duplicated_and_spliced_chunks_are_caught() {
    let k = key(4);
    let ring = KeyRing::from(key(4));
    let file = small_recording(&k, 4);
    let s = spans(&file);
    let cut = |r: std::ops::Range<usize>| {
        let mut f = file.clone();
        f.drain(r);
        f
    };

    // Removed: chunk 1's place is taken by chunk 2.
    let e = strict(&cut(s[1].clone()), &ring);
    assert_eq!(e, ReadError::OutOfOrder { chunk: 1, found: 2, offset: s[1].start as u64 });
    assert!(e.to_string().contains("chunk 1 is missing"), "{e}");
    // Reordered.
    let mut f = file.clone();
    let (a, b) = (file[s[1].clone()].to_vec(), file[s[2].clone()].to_vec());
    f.splice(s[1].start..s[2].end, b.iter().chain(&a).copied());
    assert!(matches!(strict(&f, &ring), ReadError::OutOfOrder { chunk: 1, found: 2, .. }));
    // Duplicated.
    let mut f = file.clone();
    f.splice(s[1].end..s[1].end, a.iter().copied());
    let e = strict(&f, &ring);
    assert_eq!(e, ReadError::OutOfOrder { chunk: 2, found: 1, offset: s[2].start as u64 });
    assert!(e.to_string().contains("appears again"), "{e}");
    // The end chunk removed: a cut file, between chunks.
    let e = strict(&cut(s[3].clone()), &ring);
    assert_eq!(e, ReadError::Truncated { chunks: 3, offset: s[3].start as u64, inside: false });
    assert!(e.to_string().contains("without its end chunk"), "{e}");
    // The last audio chunk removed: the end chunk lands in its place.
    assert!(matches!(strict(&cut(s[2].clone()), &ring), ReadError::OutOfOrder { chunk: 2, found: 3, .. }));
    // Data appended after the end.
    let mut f = file.clone();
    f.extend_from_slice(b"more");
    assert!(matches!(strict(&f, &ring), ReadError::TrailingData { len: 4, .. }));

    // Spliced from another recording under the same key: its nonce prefix gives it away...
    let other = small_recording(&k, 40);
    let o = spans(&other);
    let mut f = file.clone();
    f.splice(s[1].clone(), other[o[1].clone()].iter().copied());
    let e = strict(&f, &ring);
    assert_eq!(e, ReadError::Foreign { chunk: 1, offset: s[1].start as u64 });
    assert!(e.to_string().contains("another recording"), "{e}");
    // ...and rewriting the prefix does not help: the other file's key is not this file's.
    let at = s[1].start;
    f[at + 20..at + 28].copy_from_slice(&file[at + 20..at + 28]);
    assert_eq!(strict(&f, &ring), ReadError::Authentication { chunk: 1, offset: at as u64 });
    // Another recording's header on this one's chunks.
    let mut f = file.clone();
    f[..HEADER_LEN].copy_from_slice(&other[..HEADER_LEN]);
    assert!(matches!(strict(&f, &ring), ReadError::Foreign { chunk: 0, .. }));
}

#[test]
fn a_cut_file_is_an_error_unless_asked_for_what_is_left() {
    let k = key(5);
    let ring = KeyRing::from(key(5));
    let file = small_recording(&k, 5);
    let whole = read(&file, &ring, &ReadOptions::default()).expect("reads");
    let lenient = ReadOptions { allow_incomplete: true, ..ReadOptions::default() };
    for n in 0..file.len() {
        let e = strict(&file[..n], &ring);
        if n < HEADER_LEN {
            assert_eq!(e, ReadError::TruncatedHeader { len: n });
            continue;
        }
        assert!(matches!(e, ReadError::Truncated { .. }), "cut at {n}: {e:?}");
        let part = read(&file[..n], &ring, &lenient).expect("what is left reads");
        assert!(!part.complete && part.verified_len <= n);
        // What it returns is the genuine audio, as far as it goes.
        for c in 0..2 {
            let len = part.channels[c].len();
            let got = &part.channels[c][..len];
            let genuine = &whole.channels[c][..len.min(whole.channels[c].len())];
            assert!(got.iter().zip(genuine).all(|(a, b)| a == b || *a == 0), "cut at {n}, channel {c}");
        }
    }
}

#[test]
fn wrong_and_rotated_keys() {
    let file = small_recording(&key(6), 6);
    let e = strict(&file, &KeyRing::from(key(7)));
    assert_eq!(e, ReadError::UnknownKey { id: key(6).id() });
    assert!(e.to_string().contains(&key(6).id().to_string()), "{e}");
    // A forged header naming a key the reader has: the tag fails.
    let mut f = file.clone();
    f[12..20].copy_from_slice(&key(7).id().0);
    assert_eq!(
        strict(&f, &KeyRing::from(key(7))),
        ReadError::Authentication { chunk: 0, offset: HEADER_LEN as u64 }
    );
    // Rotation: the ring holds the new key and the old one; the header picks.
    let mut ring = KeyRing::new();
    ring.insert(key(7));
    ring.insert(key(6));
    assert!(read(&file, &ring, &ReadOptions::default()).expect("old key found").complete);
}

#[test]
fn key_material_and_audio_never_show() {
    let k = key(8);
    let key_hex = k.to_key_file().trim().to_string();
    let canary_audio = [0x80u8; 160]; // µ-law +32124
    let mut w = Writer::new(&k, &params(8), START);
    let mut file = Vec::new();
    for i in 0..120u32 {
        w.push(Channel::CallerToAgent, Law::Ulaw, 1, i * 160, ms(u64::from(i) * 20), &canary_audio);
    }
    let writer_debug = format!("{w:?}");
    w.finish(&mut file);
    // At rest, neither the audio nor the key is in the file.
    assert!(!file.windows(16).any(|x| x == [0x80; 16]), "plaintext audio in the file");
    assert!(!file.windows(8).any(|x| x == &k_bytes(&key_hex)[..8]), "key bytes in the file");

    let ring = KeyRing::from(key(8));
    let rec = read(&file, &ring, &ReadOptions::default()).expect("reads");
    assert!(rec.channels[0].contains(&32124));
    let mut texts = vec![writer_debug, format!("{k:?}"), format!("{ring:?}"), format!("{rec:?}")];
    let s = spans(&file);
    let mut damaged = Vec::new();
    for (i, f) in [(0usize, 5usize), (s[0].start + 40, 1), (s[0].start + 3, 1), (13, 1)] {
        let mut bad = file.clone();
        bad[i] ^= f as u8;
        damaged.push(bad);
    }
    damaged.push(file[..file.len() - 3].to_vec());
    for bad in &damaged {
        let e = strict(bad, &ring);
        texts.push(format!("{e} {e:?}"));
    }
    texts.push(format!("{:?}", RecordingKey::parse(format!("{key_hex}x").as_bytes()).map(|k| k.id())));
    for t in &texts {
        assert!(!t.contains(&key_hex[..12]), "key material shown: {t}");
        assert!(!t.contains("32124") && !t.contains("128, 128"), "audio shown: {t}");
    }
}

fn k_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
}
