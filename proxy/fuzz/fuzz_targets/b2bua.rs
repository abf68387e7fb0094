//! The B2BUA core and its transaction layer on arbitrary datagram scripts; invariants in
//! `tonewall_call::fuzzing::b2bua_script`, which `cargo test` also runs on mutated calls.
//! Input: steps separated by 0xFF; a step's first byte picks the peer, the second the delay
//! (×200 ms), the rest is the datagram (`@200`, `@ACK`, `@BYE`… script replies, see the docs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let script: Vec<(u8, u16, Vec<u8>)> = data
        .split(|&b| b == 0xFF)
        .take(64)
        .filter(|s| s.len() >= 2)
        .map(|s| (s[0], u16::from(s[1]) * 200, s[2..].to_vec()))
        .collect();
    tonewall_call::fuzzing::b2bua_script(&script);
});
