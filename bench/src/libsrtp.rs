//! A thin binding to libsrtp 2 (the reference SRTP implementation), the peer the `srtp` bench
//! compares `tonewall_media::srtp` with. The second `unsafe` module of tonewall-bench, kept as
//! small as spandsp's.
//!
//! libsrtp 2.x, `<srtp2/srtp.h>`: `srtp_init()` once, `srtp_create(&session, &policy)` with a
//! policy filled by the `srtp_crypto_policy_set_*` helpers, `srtp_protect` /
//! `srtp_unprotect(session, buf, &len)` in place (the buffer needs `SRTP_MAX_TRAILER_LEN`
//! octets of room), `srtp_dealloc(session)`. `build.rs` measures `sizeof(srtp_policy_t)` so a
//! layout mismatch with the binding's `Policy` struct stops the bench instead of corrupting memory.
#![allow(unsafe_code)]

use core::ffi::{c_int, c_uint, c_ulong, c_void};
use core::ptr::{self, NonNull};
use std::sync::Once;
use tonewall_media::srtp::{MasterKey, Suite};

/// Opaque `srtp_ctx_t`.
#[repr(C)]
struct SrtpCtx {
    _private: [u8; 0],
}

/// `srtp_crypto_policy_t`.
#[repr(C)]
#[derive(Default)]
struct CryptoPolicy {
    cipher_type: u32,
    cipher_key_len: c_int,
    auth_type: u32,
    auth_key_len: c_int,
    auth_tag_len: c_int,
    sec_serv: c_int,
}

/// `srtp_ssrc_t`.
#[repr(C)]
#[derive(Default)]
struct Ssrc {
    kind: c_int,
    value: c_uint,
}

/// `srtp_policy_t` (libsrtp 2.x).
#[repr(C)]
struct Policy {
    ssrc: Ssrc,
    rtp: CryptoPolicy,
    rtcp: CryptoPolicy,
    key: *const u8,
    keys: *mut c_void,
    num_master_keys: c_ulong,
    deprecated_ekt: *mut c_void,
    window_size: c_ulong,
    allow_repeat_tx: c_int,
    enc_xtn_hdr: *mut c_int,
    enc_xtn_hdr_count: c_int,
    next: *mut Policy,
}

const SSRC_ANY_INBOUND: c_int = 2;
const SSRC_ANY_OUTBOUND: c_int = 3;

/// `SRTP_MAX_TRAILER_LEN`: tag (16) + MKI (128).
pub const MAX_TRAILER: usize = 16 + 128;

unsafe extern "C" {
    fn srtp_init() -> c_int;
    fn srtp_create(session: *mut *mut SrtpCtx, policy: *const Policy) -> c_int;
    fn srtp_protect(ctx: *mut SrtpCtx, rtp_hdr: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_unprotect(ctx: *mut SrtpCtx, srtp_hdr: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_dealloc(ctx: *mut SrtpCtx) -> c_int;
    /// `srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80` is a macro for this.
    fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_gcm_128_16_auth(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_gcm_256_16_auth(p: *mut CryptoPolicy);
}

/// `sizeof(srtp_policy_t)` as `build.rs` measured it with the installed headers, if it could.
fn policy_size() -> Option<usize> {
    env!("LIBSRTP_POLICY_SIZE").parse().ok()
}

/// A libsrtp error status (`srtp_err_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub i32);

/// One libsrtp session with one wildcard-SSRC stream policy.
pub struct Session {
    ctx: NonNull<SrtpCtx>,
}

impl Session {
    /// A session that protects (`outbound`) or unprotects, replay window 128.
    ///
    /// # Panics
    /// If libsrtp refuses the policy, or if the binding's `srtp_policy_t` does not match the
    /// installed headers: both mean the comparison cannot run.
    pub fn new(key: &MasterKey, outbound: bool) -> Session {
        if let Some(size) = policy_size() {
            assert_eq!(size, size_of::<Policy>(), "srtp_policy_t layout differs from the binding");
        }
        static INIT: Once = Once::new();
        // SAFETY: `srtp_init` takes no arguments and is safe to call once before any session.
        INIT.call_once(|| assert_eq!(unsafe { srtp_init() }, 0, "srtp_init"));
        let mut policy = Policy {
            ssrc: Ssrc { kind: if outbound { SSRC_ANY_OUTBOUND } else { SSRC_ANY_INBOUND }, value: 0 },
            rtp: CryptoPolicy::default(),
            rtcp: CryptoPolicy::default(),
            key: key.expose_key_salt().as_ptr(),
            keys: ptr::null_mut(),
            num_master_keys: 0,
            deprecated_ekt: ptr::null_mut(),
            window_size: 128,
            allow_repeat_tx: 0,
            enc_xtn_hdr: ptr::null_mut(),
            enc_xtn_hdr_count: 0,
            next: ptr::null_mut(),
        };
        let (rtp, rtcp): (unsafe extern "C" fn(*mut CryptoPolicy), unsafe extern "C" fn(*mut CryptoPolicy)) =
            match key.suite() {
                Suite::AesCm128HmacSha1_80 => {
                    (srtp_crypto_policy_set_rtp_default, srtp_crypto_policy_set_rtp_default)
                }
                Suite::AesCm128HmacSha1_32 => {
                    (srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32, srtp_crypto_policy_set_rtp_default)
                }
                Suite::AesCm256HmacSha1_80 => (
                    srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
                    srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
                ),
                Suite::AesCm256HmacSha1_32 => (
                    srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32,
                    srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
                ),
                Suite::AeadAes128Gcm => {
                    (srtp_crypto_policy_set_aes_gcm_128_16_auth, srtp_crypto_policy_set_aes_gcm_128_16_auth)
                }
                Suite::AeadAes256Gcm => {
                    (srtp_crypto_policy_set_aes_gcm_256_16_auth, srtp_crypto_policy_set_aes_gcm_256_16_auth)
                }
                other => panic!("no libsrtp policy for {other:?}"),
            };
        let mut ctx: *mut SrtpCtx = ptr::null_mut();
        // SAFETY: the setters only write the crypto policy they are given. `policy` matches
        // `srtp_policy_t` (checked against the headers' size above); its `key` points to the
        // key and salt, which libsrtp copies during `srtp_create` and does not keep; `next`
        // is null. `ctx` receives a session libsrtp allocated.
        let status = unsafe {
            rtp(&mut policy.rtp);
            rtcp(&mut policy.rtcp);
            srtp_create(&mut ctx, &policy)
        };
        assert_eq!(status, 0, "srtp_create");
        Session { ctx: NonNull::new(ctx).expect("srtp_create returned a session") }
    }

    /// `srtp_protect` on `buf[..len]`, in place; `buf` must have [`MAX_TRAILER`] octets of
    /// room after `len`.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Status> {
        self.call(buf, len, true)
    }

    /// `srtp_unprotect` on `buf[..len]`, in place.
    pub fn unprotect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Status> {
        self.call(buf, len, false)
    }

    fn call(&mut self, buf: &mut [u8], len: usize, protect: bool) -> Result<usize, Status> {
        // Protecting may write up to SRTP_MAX_TRAILER_LEN past `len`; unprotecting only shrinks.
        let room = if protect { len + MAX_TRAILER } else { len };
        assert!(room <= buf.len(), "buffer of {} octets, libsrtp may touch {room}", buf.len());
        let mut n = c_int::try_from(len).map_err(|_| Status(-1))?;
        // SAFETY: `self.ctx` is a live session (freed only in Drop); `buf` is valid for reads
        // and writes of `room` octets, which bounds what libsrtp touches: `len` to unprotect,
        // `len + SRTP_MAX_TRAILER_LEN` to protect.
        let status = unsafe {
            if protect {
                srtp_protect(self.ctx.as_ptr(), buf.as_mut_ptr().cast(), &mut n)
            } else {
                srtp_unprotect(self.ctx.as_ptr(), buf.as_mut_ptr().cast(), &mut n)
            }
        };
        if status == 0 { Ok(n as usize) } else { Err(Status(status)) }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the session was created by `srtp_create` and is freed exactly once, here.
        unsafe {
            srtp_dealloc(self.ctx.as_ptr());
        }
    }
}
