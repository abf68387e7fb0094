//! The RTCP parser, editors and writer on arbitrary bytes: never panic, refuse with a fault that
//! is in the bytes, every packet and view inside the input, edits that read back and undo, and
//! write(parse(x)) == x for the SR/RR compounds the writer makes (the checks live in
//! `tonewall_media::fuzzing::rtcp`, which `cargo test` also runs on random bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::rtcp(data));
