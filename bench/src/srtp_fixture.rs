//! The packet and key both SRTP benchmarks (`benches/srtp.rs`, `bin/srtp_ratio.rs`) feed to
//! Tonewall and to libsrtp, so that the two measure exactly the same work.

use crate::libsrtp::MAX_TRAILER;
use tonewall_media::srtp::{MasterKey, Suite};

/// A G.711 packet: 12 octets of header and 160 of payload.
pub const PACKET: usize = 172;
/// Room for the packet and the largest SRTP trailer.
pub const BUF: usize = PACKET + MAX_TRAILER;

/// Packet `seq` of one stream, with a fixed, non-trivial payload.
pub fn plain(seq: u16) -> [u8; BUF] {
    let mut p = [0u8; BUF];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    for (i, b) in p[12..PACKET].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(29) ^ 0x55;
    }
    p
}

/// A fixed master key and salt of `suite`'s lengths.
pub fn key(suite: Suite) -> MasterKey {
    let n = suite.master_key_len() + suite.master_salt_len();
    let bytes: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(73).wrapping_add(5)).collect();
    MasterKey::from_key_salt(suite, &bytes).expect("key length")
}
