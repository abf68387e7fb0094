//! The telephone-event and RFC 2198 parsers on arbitrary bytes: never panic, refuse exactly
//! what is malformed, and whatever parses writes back to the same octets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tonewall_media::rfc4733::red::{self, RedundantBlock};
use tonewall_media::rfc4733::{Error, EventReport, payload};

fuzz_target!(|data: &[u8]| {
    // telephone-event: any non-empty multiple of 4 octets is valid and round-trips.
    match payload::parse(data) {
        Ok(reports) => {
            assert!(!data.is_empty() && data.len().is_multiple_of(4));
            let reports: Vec<EventReport> = reports.collect();
            assert_eq!(reports.len(), data.len() / 4);
            let mut out = vec![0u8; data.len()];
            assert_eq!(payload::write(&reports, &mut out), Ok(data.len()));
            assert_eq!(out, data);
            for r in &reports {
                assert!(r.volume <= 63);
                assert_eq!(r.digit().is_some(), r.event < 16);
            }
        }
        Err(Error::Empty) => assert!(data.is_empty()),
        Err(Error::Truncated { len }) => {
            assert!(len == data.len() && !len.is_multiple_of(4))
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }

    // RFC 2198: blocks tile the payload, timestamps follow the offsets, and the writer
    // reproduces the octets.
    let ts = data
        .get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if let Ok(parsed) = red::parse(data, ts) {
        let blocks: Vec<_> = parsed.blocks().collect();
        assert_eq!(blocks.len(), parsed.len());
        let Some((primary, redundant)) = blocks.split_last() else {
            panic!("a parsed RED payload has a primary block");
        };
        assert!(primary.primary && primary.timestamp == ts && primary.offset == 0);
        let total: usize = blocks.iter().map(|b| b.payload.len()).sum();
        assert_eq!(total + 4 * redundant.len() + 1, data.len());
        let redundant: Vec<RedundantBlock<'_>> = redundant
            .iter()
            .map(|b| {
                assert!(!b.primary);
                assert_eq!(b.timestamp, ts.wrapping_sub(u32::from(b.offset)));
                RedundantBlock {
                    pt: b.pt,
                    offset: u32::from(b.offset),
                    payload: b.payload,
                }
            })
            .collect();
        let mut out = vec![0u8; data.len()];
        assert_eq!(
            red::write(&redundant, primary.pt, primary.payload, &mut out),
            Ok(data.len())
        );
        assert_eq!(out, data);
    }
});
