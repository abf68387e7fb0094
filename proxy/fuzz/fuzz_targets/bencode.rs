//! The ng bencode decoder on arbitrary bytes: never panics; whatever decodes encodes back to
//! the same octets and decodes again to the same value; errors name an offset inside the
//! input; request parsing of any decoded value is total (checks in
//! `tonewall_media::fuzzing::bencode`, which `cargo test` also runs on random bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::bencode(data));
