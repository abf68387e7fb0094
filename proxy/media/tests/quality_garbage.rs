//! Fuzz-style test on stable Rust: seeded random packet streams into the stream statistics.
//! The cargo-fuzz target `quality_stream` checks the same invariants
//! (`tonewall_media::fuzzing::stream_stats`) with coverage guidance.

use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;

#[test]
fn random_streams_keep_the_figures_in_range() {
    let mut rng = Rng::new(0x0A_08);
    for _ in 0..2_000 {
        let n = rng.below(8 * 200);
        let data: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        fuzzing::stream_stats(&data);
    }
}
