//! The `recording_read` fuzz target's invariants on seeded random input, in every `cargo test`
//! (the cargo-fuzz target in `proxy/fuzz` runs the same function with coverage guidance).

use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;
use tonewall_media::recording::{HEADER_LEN, MAGIC};

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn random_bytes_and_programs() {
    let mut rng = Rng::new(0x7EC0);
    for _ in 0..600 {
        fuzzing::recording_read(&bytes(&mut rng, 900));
    }
}

#[test]
fn random_bytes_behind_a_plausible_header() {
    // A real header (the fuzz key's id) in front of garbage: the chunk parser, not the magic
    // check, has to refuse it.
    let mut rng = Rng::new(0x4EAD);
    let key = fuzzing::recording_fuzz_key();
    for i in 0..3000 {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&[1, 1, 2, 0]);
        data.extend_from_slice(&key.id().0);
        data.resize(HEADER_LEN, 0);
        let mut tail = bytes(&mut rng, 200);
        if i % 2 == 0 && tail.len() > 32 {
            // Mostly-valid chunk metadata: audio, channel 0, PCMU, short length, this file's
            // (zero) nonce prefix and counter 0.
            tail[..4].copy_from_slice(&[1, 0, 0, 0]);
            tail[4..8].fill(0);
            tail[16..20].copy_from_slice(&(rng.below(180) as u32).to_be_bytes());
            tail[20..32].fill(0);
        }
        data.extend_from_slice(&tail);
        fuzzing::recording_read(&data);
    }
}
