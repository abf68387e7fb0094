//! The SIP INFO DTMF body parser on arbitrary bytes (the first byte picks the Content-Type);
//! invariants in `tonewall_media::fuzzing::sip_info`, which `cargo test` also runs on random
//! bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::sip_info(data));
