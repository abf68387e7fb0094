//! Fuzz-style test on stable Rust: seeded random and near-valid bodies into the SIP INFO DTMF
//! parser. The cargo-fuzz target `sip_info` checks the same invariants
//! (`tonewall_media::fuzzing::sip_info`) with coverage guidance.

use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;

/// Pieces real bodies are made of, so random ones reach past the first line.
const PIECES: [&[u8]; 14] = [
    b"Signal=",
    b"Duration=",
    b"signal = ",
    b"\r\n",
    b"\n",
    b" ",
    b"\t",
    b"=",
    b"5",
    b"10",
    b"#",
    b"*",
    b"160",
    b"\xff",
];

#[test]
fn sip_info_parse_is_total_and_consistent() {
    let mut rng = Rng::new(4733);
    for i in 0..50_000 {
        let mut b = vec![rng.next_u64() as u8];
        let n = rng.below(12);
        for _ in 0..n {
            if i % 2 == 0 {
                b.extend_from_slice(PIECES[rng.below(PIECES.len())]);
            } else {
                b.push(rng.next_u64() as u8);
            }
        }
        fuzzing::sip_info(&b);
    }
}
