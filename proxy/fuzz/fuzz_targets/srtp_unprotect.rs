//! SRTP/SRTCP unprotect on arbitrary bytes with a fixed key (no panic, any Ok length ≤ input
//! length, refused packets left untouched), and protect → unprotect round trips, single-bit
//! tampering and replays on the same bytes taken as plain packets (the checks live in
//! `tonewall_media::fuzzing`, which `cargo test` also runs on random bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tonewall_media::fuzzing::srtp_unprotect(data);
});
