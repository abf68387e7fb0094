//! Fuzz-style tests on stable Rust: seeded random bytes into the RTP header parser and into a
//! media session. The cargo-fuzz targets `rtp_header` and `relay_session` check the same
//! invariants (`tonewall_media::fuzzing`) with coverage guidance.

use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn rtp_header_parse_is_total() {
    let mut rng = Rng::new(3550);
    for i in 0..50_000 {
        let mut b = bytes(&mut rng, 64);
        if i % 2 == 0 && !b.is_empty() {
            b[0] = (b[0] & 0x3f) | 0x80; // version 2 half the time
        }
        fuzzing::rtp_header(&b);
    }
}

#[test]
fn relay_session_holds_its_invariants_on_random_streams() {
    let mut rng = Rng::new(0x5e55);
    for _ in 0..300 {
        let mut b = bytes(&mut rng, 4000);
        // Mostly small payloads so records are many; keep spoofing rarer than genuine traffic.
        for rec in b.chunks_mut(24) {
            if let Some(len) = rec.get_mut(1) {
                *len %= 24;
            }
        }
        fuzzing::relay_stream(&b);
    }
}
