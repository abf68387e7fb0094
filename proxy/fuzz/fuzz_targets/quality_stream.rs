//! The per-stream RTP statistics driven by a packet stream decoded from arbitrary bytes: exact
//! counts, figures in range, MOS between 1 and 4.5 (the checks live in
//! `tonewall_media::fuzzing::stream_stats`, which `cargo test` also runs on random bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::stream_stats(data));
