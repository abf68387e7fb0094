//! The masker on arbitrary µ-law audio in arbitrary chunks: never panics, keeps its exact delay,
//! and every output sample is either the input from `delay` samples before or the substitute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonewall_dsp::{G711, Law, Masker, MaskerConfig, SampleFormat, Substitute};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, audio)) = data.split_first() else { return };
    let fmt = G711(Law::Ulaw);
    let mut m = Masker::new(fmt, &MaskerConfig::default());
    let d = m.delay();
    let mut out = vec![0u8; audio.len()];
    let step = 1 + chunk as usize;
    let mut at = 0;
    while at < audio.len() {
        let n = step.min(audio.len() - at);
        assert_eq!(m.process(&audio[at..at + n], &mut out[at..at + n]), n);
        while m.poll_event().is_some() {}
        at += n;
    }
    for (p, &o) in out.iter().enumerate() {
        let passed = if p < d { o == Law::Ulaw.silence() } else { o == audio[p - d] };
        let masked = p >= d && o == fmt.substitute(Substitute::FlatTone, (p - d) as u64);
        assert!(passed || masked, "sample {p} is neither the input nor the substitute");
    }
});
