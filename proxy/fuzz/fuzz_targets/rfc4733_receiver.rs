//! The telephone-event receiver driven by a packet stream decoded from arbitrary bytes; the
//! stream format and the invariants are documented on `tonewall_media::fuzzing::receiver_stream`,
//! which `cargo test` also runs on random bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::receiver_stream(data));
