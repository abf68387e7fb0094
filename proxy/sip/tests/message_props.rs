//! The message invariants (`tests/common/message_invariants.rs`) over deterministic mutations
//! of the RFC 4475 torture messages: byte flips, truncations, splices of two messages, and
//! insertions of the characters SIP's grammar turns on. What cargo-fuzz explores at random,
//! this runs the same way every time, in CI.
#![allow(clippy::unwrap_used)]

#[path = "common/message_invariants.rs"]
mod message_invariants;

use std::path::PathBuf;

use message_invariants::check;

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// SplitMix64: small, deterministic, good enough to pick positions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments the grammar cares about: separators, quotes, escapes, folding, odd bytes.
const PIECES: &[&[u8]] = &[
    b";",
    b",",
    b":",
    b"=",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"@",
    b"?",
    b"%",
    b"%0",
    b"[",
    b"]",
    b"/",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"\r\n ",
    b"\r\n\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"z9hG4bK",
    b"SIP/2.0",
    b"sip:",
    b"tel:",
    b";tag=",
    b";branch=",
    b"Via: ",
    b"l: 5\r\n",
    b"Content-Length: 0\r\n",
    b"CSeq: 1 INVITE\r\n",
    b"*",
    b"0",
    b"99999999999",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(2) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.truncate(at),
            2 => {
                let from = rng.below(other.len() + 1);
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            3 => {
                let piece = PIECES[rng.below(PIECES.len())];
                b.splice(at..at, piece.iter().copied());
            }
            4 if !b.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            _ => {
                // Duplicate a line somewhere else (repeated headers, folded copies).
                let start = b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
                let end = b[at..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i + 1);
                let line = b[start..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, line);
            }
        }
    }
    b
}

#[test]
fn invariants_hold_on_the_torture_messages() {
    for m in corpus() {
        check(&m);
    }
}

#[test]
fn invariants_hold_on_mutated_torture_messages() {
    let corpus = corpus();
    assert_eq!(corpus.len(), 49);
    let mut rng = Rng(0x5eed_4475);
    let (mut parsed, mut total) = (0, 0);
    for round in 0..200 {
        for (i, seed) in corpus.iter().enumerate() {
            let other = &corpus[(i + 1 + round) % corpus.len()];
            let bytes = mutate(&mut rng, seed, other);
            if let Err(e) = std::panic::catch_unwind(|| check(&bytes)) {
                eprintln!("failing input (round {round}, seed {i}): {:?}", String::from_utf8_lossy(&bytes));
                std::panic::resume_unwind(e);
            }
            total += 1;
            parsed += usize::from(tonewall_sip::message::parse(&bytes).is_ok());
        }
    }
    // The mutations must keep a good share parsing, or the round-trip half tests nothing.
    assert!(parsed * 10 > total, "only {parsed} of {total} mutants parse");
}
