//! The RTP header parser on arbitrary bytes; invariants in `tonewall_media::fuzzing::rtp_header`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::rtp_header(data));
