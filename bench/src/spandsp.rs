//! One of the two `unsafe` modules of tonewall-bench (the other is `libsrtp`): a thin binding
//! to spandsp's DTMF receiver (the peer the benches compare with), and pinning the calling
//! thread to one CPU.
//!
//! spandsp 0.0.6, `<spandsp/dtmf.h>`: `dtmf_rx_init(NULL, callback, user_data)` allocates a
//! receiver, `dtmf_rx(s, amp, n)` feeds 16-bit linear samples at 8 kHz and calls the digits
//! callback with the keys it confirmed, `dtmf_rx_free(s)` releases it.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, c_void};
use core::ptr::NonNull;

/// Opaque `dtmf_rx_state_t`; only ever used behind a pointer spandsp allocated.
#[repr(C)]
struct DtmfRxState {
    _private: [u8; 0],
}

/// `digits_rx_callback_t`: `void (*)(void *user_data, const char *digits, int len)`.
type DigitsRxCallback = extern "C" fn(user_data: *mut c_void, digits: *const c_char, len: c_int);

unsafe extern "C" {
    fn dtmf_rx_init(
        s: *mut DtmfRxState,
        callback: Option<DigitsRxCallback>,
        user_data: *mut c_void,
    ) -> *mut DtmfRxState;
    fn dtmf_rx(s: *mut DtmfRxState, amp: *const i16, samples: c_int) -> c_int;
    fn dtmf_rx_free(s: *mut DtmfRxState) -> c_int;
}

/// `sizeof(dtmf_rx_state_t)` in bytes as measured by `build.rs` with the installed headers, or
/// `None` if it could not be measured (no C compiler).
pub fn state_size() -> Option<usize> {
    env!("SPANDSP_DTMF_RX_STATE_SIZE").parse().ok()
}

/// Where the callback writes: owned by [`DtmfRx`], reached by spandsp through `user_data`.
struct Sink {
    digits: Vec<u8>,
}

extern "C" fn on_digits(user_data: *mut c_void, digits: *const c_char, len: c_int) {
    if user_data.is_null() || digits.is_null() || len <= 0 {
        return;
    }
    // SAFETY: `user_data` is the `Sink` that `DtmfRx::new` leaked with `Box::into_raw` and only
    // frees in `Drop`, after `dtmf_rx_free`. spandsp calls this only from inside `dtmf_rx`, which
    // `DtmfRx::rx` calls while holding `&mut self` and without any other reference to the sink,
    // so this is the only live reference. `digits` points to `len` bytes (spandsp's contract).
    let (sink, keys) = unsafe {
        (&mut *(user_data as *mut Sink), core::slice::from_raw_parts(digits as *const u8, len as usize))
    };
    sink.digits.extend_from_slice(keys);
}

/// One spandsp DTMF receiver with its default parameters (−42 dBm0, 8 dB normal / 4 dB reverse
/// twist, no dial-tone filter).
pub struct DtmfRx {
    state: NonNull<DtmfRxState>,
    sink: NonNull<Sink>,
}

impl DtmfRx {
    /// A new receiver.
    ///
    /// # Panics
    /// If spandsp cannot allocate its state.
    pub fn new() -> Self {
        let sink = NonNull::from(Box::leak(Box::new(Sink { digits: Vec::with_capacity(256) })));
        // SAFETY: a null state asks spandsp to allocate one; the callback has the declared C
        // signature, and `sink` stays valid until `Drop` frees it after the receiver.
        let state = unsafe { dtmf_rx_init(core::ptr::null_mut(), Some(on_digits), sink.as_ptr().cast()) };
        let Some(state) = NonNull::new(state) else {
            // SAFETY: `sink` came from `Box::leak` above and nothing else refers to it.
            drop(unsafe { Box::from_raw(sink.as_ptr()) });
            panic!("dtmf_rx_init failed (out of memory)");
        };
        DtmfRx { state, sink }
    }

    /// Feeds 16-bit linear samples at 8 kHz.
    pub fn rx(&mut self, samples: &[i16]) {
        for chunk in samples.chunks(i32::MAX as usize) {
            // SAFETY: `state` is a live receiver from `dtmf_rx_init`; `chunk` is valid for
            // `chunk.len()` reads and spandsp only reads it. `&mut self` guarantees no other
            // access to the state or the sink while spandsp runs (and may call `on_digits`).
            unsafe {
                dtmf_rx(self.state.as_ptr(), chunk.as_ptr(), chunk.len() as c_int);
            }
        }
    }

    /// The keys confirmed since the last call to [`DtmfRx::digits`] was cleared, as ASCII.
    pub fn digits(&mut self) -> &mut Vec<u8> {
        // SAFETY: the sink lives as long as `self`; `&mut self` means spandsp is not running.
        unsafe { &mut (*self.sink.as_ptr()).digits }
    }
}

impl Default for DtmfRx {
    fn default() -> Self {
        DtmfRx::new()
    }
}

impl Drop for DtmfRx {
    fn drop(&mut self) {
        // SAFETY: `state` came from `dtmf_rx_init(NULL, …)`, so `dtmf_rx_free` releases it; it is
        // not used afterwards. Then the sink, which spandsp can no longer reach, is freed once.
        unsafe {
            dtmf_rx_free(self.state.as_ptr());
            drop(Box::from_raw(self.sink.as_ptr()));
        }
    }
}

/// Pins the calling thread to the CPU it is running on, so a timing run is not migrated between
/// cores. Returns that CPU, or `None` where this is not supported or was refused.
#[cfg(target_os = "linux")]
pub fn pin_to_current_cpu() -> Option<usize> {
    /// glibc's `cpu_set_t`: 1024 bits.
    #[repr(C)]
    struct CpuSet([u64; 16]);
    unsafe extern "C" {
        fn sched_getcpu() -> c_int;
        fn sched_setaffinity(pid: c_int, cpusetsize: usize, mask: *const CpuSet) -> c_int;
    }
    // SAFETY: `sched_getcpu` takes no arguments and only returns a number.
    let cpu = unsafe { sched_getcpu() };
    if !(0..1024).contains(&cpu) {
        return None;
    }
    let mut set = CpuSet([0; 16]);
    set.0[cpu as usize / 64] |= 1 << (cpu % 64);
    // SAFETY: pid 0 is the calling thread; `set` is a valid, initialised `cpu_set_t` of the size
    // passed, and the kernel only reads it.
    let rc = unsafe { sched_setaffinity(0, core::mem::size_of::<CpuSet>(), &set) };
    (rc == 0).then_some(cpu as usize)
}

/// Pins the calling thread to the CPU it is running on (not supported on this platform).
#[cfg(not(target_os = "linux"))]
pub fn pin_to_current_cpu() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_tone_pair() {
        // Digit 5 (770 + 1336 Hz) at about −10 dBm0 per tone for 100 ms, then 100 ms of silence.
        let a = 7200.0; // 0 dBm0 is a 22 800 peak
        let mut x = vec![0i16; 1600];
        for (n, s) in x.iter_mut().take(800).enumerate() {
            let t = n as f64 / 8000.0;
            let v = a
                * ((core::f64::consts::TAU * 770.0 * t).sin() + (core::f64::consts::TAU * 1336.0 * t).sin());
            *s = v as i16;
        }
        let mut rx = DtmfRx::new();
        for f in x.chunks(160) {
            rx.rx(f);
        }
        assert_eq!(rx.digits().as_slice(), b"5");
    }
}
