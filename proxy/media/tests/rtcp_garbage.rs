//! Fuzz-style tests on stable Rust: seeded random and mutated RTCP into the parser, editors and
//! writer. The cargo-fuzz target `rtcp_parse` checks the same invariants
//! (`tonewall_media::fuzzing::rtcp`) with coverage guidance.

mod common;

use common::rtcp_fixtures;
use tonewall_dsp::synth::Rng;
use tonewall_media::fuzzing;
use tonewall_media::rtcp::{self, Rules};

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn random_bytes() {
    let mut rng = Rng::new(3550);
    for _ in 0..20_000 {
        fuzzing::rtcp(&bytes(&mut rng, 80));
    }
}

/// One packet with a plausible header; its body sized for what the header says, or not.
fn packet(rng: &mut Rng, last: bool) -> Vec<u8> {
    const TYPES: [u8; 11] = [200, 201, 202, 203, 204, 205, 206, 207, 195, 209, 72];
    let pt = TYPES[rng.below(TYPES.len())];
    let count = if rng.below(2) == 0 { rng.below(3) as u8 } else { rng.below(32) as u8 };
    let mut body = match pt {
        200 | 201 if rng.below(3) > 0 => {
            let fixed = if pt == 200 { 24 } else { 4 };
            (0..fixed + 24 * usize::from(count)).map(|_| rng.next_u64() as u8).collect()
        }
        202 if rng.below(3) > 0 => {
            let mut b = Vec::new();
            for _ in 0..count {
                b.extend_from_slice(&(rng.next_u64() as u32).to_be_bytes());
                for _ in 0..rng.below(3) {
                    let len = rng.below(12);
                    b.push(1 + rng.below(8) as u8);
                    b.push(len as u8);
                    b.extend((0..len).map(|_| b'a' + rng.below(26) as u8));
                }
                b.push(0);
                while b.len() % 4 != 0 {
                    b.push(0);
                }
            }
            b
        }
        207 if rng.below(3) > 0 => {
            let mut b = (rng.next_u64() as u32).to_be_bytes().to_vec();
            for _ in 0..rng.below(4) {
                let words = rng.below(4);
                b.extend_from_slice(&[1 + rng.below(9) as u8, 0, 0, words as u8]);
                b.extend((0..4 * words).map(|_| rng.next_u64() as u8));
            }
            b
        }
        _ => (0..4 * rng.below(8)).map(|_| rng.next_u64() as u8).collect(),
    };
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let padding = last && rng.below(4) == 0 || rng.below(40) == 0;
    if padding {
        let pad = 4 * (1 + rng.below(2));
        body.extend(std::iter::repeat_n(0, pad - 1));
        body.push(if rng.below(10) == 0 { rng.next_u64() as u8 } else { pad as u8 });
    }
    let words = body.len() / 4;
    let mut p = vec![0x80 | (u8::from(padding) << 5) | count, pt];
    p.extend_from_slice(&(words as u16).to_be_bytes());
    p.extend_from_slice(&body);
    p
}

#[test]
fn plausible_compounds() {
    let mut rng = Rng::new(5506);
    let (mut strict, mut loose) = (0, 0);
    for _ in 0..20_000 {
        let n = 1 + rng.below(4);
        let buf: Vec<u8> = (0..n).flat_map(|i| packet(&mut rng, i == n - 1)).collect();
        strict += usize::from(rtcp::parse(&buf, Rules::Compound).is_ok());
        loose += usize::from(rtcp::parse(&buf, Rules::ReducedSize).is_ok());
        fuzzing::rtcp(&buf);
    }
    // Enough of them valid that the view, edit and rewrite checks ran on many shapes.
    assert!(strict > 1000 && loose > 7000, "{strict} full, {loose} reduced-size");
}

#[test]
fn mutated_fixtures() {
    let fixtures = rtcp_fixtures();
    let mut rng = Rng::new(4585);
    let mut valid = 0;
    for _ in 0..20_000 {
        let (_, base) = &fixtures[rng.below(fixtures.len())];
        let mut buf = base.clone();
        for _ in 0..1 + rng.below(3) {
            match rng.below(4) {
                0 => buf.truncate(rng.below(buf.len() + 1)),
                1 => buf.extend((0..rng.below(9)).map(|_| rng.next_u64() as u8)),
                _ if !buf.is_empty() => {
                    let i = rng.below(buf.len());
                    buf[i] ^= 1 << rng.below(8);
                }
                _ => {}
            }
        }
        valid += usize::from(rtcp::parse(&buf, Rules::ReducedSize).is_ok());
        fuzzing::rtcp(&buf);
    }
    assert!(valid > 4000, "{valid}");
}
