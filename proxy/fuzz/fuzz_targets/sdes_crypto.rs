//! The SDES `a=crypto` parser on arbitrary text: whatever parses formats and parses back equal
//! (the checks live in `tonewall_media::fuzzing`, which `cargo test` also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::sdes_crypto(data));
