//! The telephone-event and RFC 2198 parsers on arbitrary bytes: never panic, refuse exactly
//! what is malformed, and whatever parses writes back to the same octets (the checks live in
//! `tonewall_media::fuzzing`, which `cargo test` also runs on random bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::payloads(data));
