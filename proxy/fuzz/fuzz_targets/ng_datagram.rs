//! ng control datagrams (the input split at NUL octets) through `NgServer` with a fake relay:
//! no panic, a reply exactly when there is a cookie and starting with it, a well-formed result,
//! and a retransmission answered from the cache without running the request again (checks in
//! `tonewall_media::fuzzing::ng_datagrams`). Seed it with the captured Kamailio datagrams:
//! `cargo +nightly fuzz run --fuzz-dir proxy/fuzz ng_datagram proxy/fuzz/corpus/ng_datagram
//! proxy/media/tests/data/ng/kamailio-5.6`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonewall_media::fuzzing::ng_datagrams(data));
