//! SIP message parser, writer, typed views and the B2BUA's validation step on arbitrary bytes:
//! no panic; whatever parses writes back to itself (`parse(write(m)) == m`); every header
//! value's Via/NameAddr/URI view prints back to itself; answers to requests parse. Seed with
//! `proxy/sip/tests/data/rfc4475`. The invariants are shared with the property test
//! `proxy/sip/tests/message_props.rs`, which runs them in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../sip/tests/common/message_invariants.rs"]
mod message_invariants;

fuzz_target!(|data: &[u8]| message_invariants::check(data));
