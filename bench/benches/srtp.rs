//! SRTP per packet: `tonewall_media::srtp::SrtpContext` against libsrtp 2 (the reference C
//! implementation, `tonewall_bench::libsrtp`), protecting and unprotecting one 172-byte RTP
//! packet (12-octet header + 160 octets of G.711, a 20 ms frame), per suite, in the same run.
//!
//! - `srtp/protect/<impl>/<suite>`: copy the plain packet into a stack buffer, set the next
//!   sequence number, protect in place.
//! - `srtp/unprotect/<impl>/<suite>`: unprotect in place a packet freshly protected in
//!   criterion's untimed setup, so every iteration is a new index and passes the replay check.
//!
//! Before timing, each suite checks that both implementations produce the same SRTP octets
//! for the same packet, so the two are measured doing the same work. Throughput is in bytes of
//! RTP (criterion prints MiB/s beside the time per packet).
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tonewall_bench::libsrtp::Session;
use tonewall_media::srtp::{Direction, SrtpContext, Suite};

use tonewall_bench::srtp_fixture::{PACKET, key, plain};

/// Both implementations give the same SRTP for the same packet, and read each other's.
fn check_same_output(suite: Suite) {
    let k = key(suite);
    let mut ours = SrtpContext::new(Direction::Outbound, &k);
    let mut theirs = Session::new(&k, true);
    let (mut a, mut b) = (plain(7), plain(7));
    let n = ours.protect_rtp(&mut a, PACKET).expect("protect");
    assert_eq!(theirs.protect(&mut b, PACKET), Ok(n), "{suite:?}");
    assert_eq!(a[..n], b[..n], "{suite:?}: libsrtp and tonewall disagree");
    let mut rx = Session::new(&k, false);
    assert_eq!(rx.unprotect(&mut a, n), Ok(PACKET));
    assert_eq!(a[..PACKET], plain(7)[..PACKET]);
}

fn protect(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp/protect");
    g.throughput(Throughput::Bytes(PACKET as u64));
    for suite in Suite::ALL {
        check_same_output(suite);
        let k = key(suite);
        let mut tx = SrtpContext::new(Direction::Outbound, &k);
        let template = plain(0);
        let mut seq = 0u16;
        g.bench_function(format!("tonewall/{}", suite.sdes_name()), |b| {
            b.iter(|| {
                let mut buf = template;
                seq = seq.wrapping_add(1);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(tx.protect_rtp(black_box(&mut buf), PACKET).expect("protect"));
                buf
            })
        });
        let mut tx = Session::new(&k, true);
        let mut seq = 0u16;
        g.bench_function(format!("libsrtp/{}", suite.sdes_name()), |b| {
            b.iter(|| {
                let mut buf = template;
                seq = seq.wrapping_add(1);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(tx.protect(black_box(&mut buf), PACKET).expect("protect"));
                buf
            })
        });
    }
    g.finish();
}

fn unprotect(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp/unprotect");
    g.throughput(Throughput::Bytes(PACKET as u64));
    for suite in Suite::ALL {
        let k = key(suite);
        let mut tx = SrtpContext::new(Direction::Outbound, &k);
        let mut rx = SrtpContext::new(Direction::Inbound, &k);
        let mut seq = 0u16;
        g.bench_function(format!("tonewall/{}", suite.sdes_name()), |b| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    let mut buf = plain(seq);
                    let n = tx.protect_rtp(&mut buf, PACKET).expect("protect");
                    (buf, n)
                },
                |(mut buf, n)| {
                    black_box(rx.unprotect_rtp(black_box(&mut buf), n).expect("unprotect"));
                    buf
                },
                BatchSize::SmallInput,
            )
        });
        let mut tx = SrtpContext::new(Direction::Outbound, &k);
        let mut rx = Session::new(&k, false);
        let mut seq = 0u16;
        g.bench_function(format!("libsrtp/{}", suite.sdes_name()), |b| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    let mut buf = plain(seq);
                    let n = tx.protect_rtp(&mut buf, PACKET).expect("protect");
                    (buf, n)
                },
                |(mut buf, n)| {
                    black_box(rx.unprotect(black_box(&mut buf), n).expect("unprotect"));
                    buf
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, protect, unprotect);
criterion_main!(benches);
