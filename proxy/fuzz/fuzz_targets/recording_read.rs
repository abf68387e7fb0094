//! The recording reader with a fixed key, on arbitrary bytes (errors only: a chunk cannot be
//! forged without the key) and on genuine recordings built from the input and then damaged
//! (every damage refused with the error it calls for, only a verified prefix accepted when a cut
//! file is allowed, no key material in any message). The checks live in
//! `tonewall_media::fuzzing::recording_read`, which `cargo test` also runs on random bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::recording_read(data));
