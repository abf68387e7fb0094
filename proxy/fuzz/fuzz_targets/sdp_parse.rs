//! The SDP parser and rewriter on arbitrary bytes: errors name a real line, an untouched body
//! writes back byte for byte (modulo CRLF and blank lines) and parses to the same structure,
//! rewrites parse again, leave rejected streams alone and are a fixed point, `Debug` shows no
//! secret, and a leg's `o=` version moves only with the body (the checks live in
//! `tonewall_media::fuzzing`, which `cargo test` also runs on random bodies).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::sdp(data));
