//! A media session driven by arbitrary datagrams; stream format and invariants in
//! `tonewall_media::fuzzing::relay_stream`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::relay_stream(data));
