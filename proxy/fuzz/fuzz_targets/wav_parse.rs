//! The WAV reader on arbitrary bytes: never panics, never points outside the file, and every
//! sample it says is there can be read and written back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonewall_dsp::wav;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = wav::parse(data) {
        assert!(rec.data.start <= rec.data.end && rec.data.end <= data.len());
        assert!(rec.channels > 0 && rec.rate > 0);
        let mut copy = data.to_vec();
        for ch in 0..rec.channels as usize {
            for f in 0..rec.frames().min(64) {
                let raw = rec.raw(data, ch, f).to_vec();
                rec.write_raw(&mut copy, ch, f, &raw);
            }
        }
        assert_eq!(copy, data);
        // What we build, we parse back to the same format and samples.
        let rebuilt = wav::build(rec.encoding, rec.rate, rec.channels, &data[rec.data.clone()]);
        let again = wav::parse(&rebuilt).expect("own output parses");
        assert_eq!((again.encoding, again.rate, again.channels), (rec.encoding, rec.rate, rec.channels));
        assert_eq!(&rebuilt[again.data.clone()], &data[rec.data.clone()]);
    }
});
