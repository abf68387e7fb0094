//! SRTP cost per packet, Tonewall against libsrtp, without criterion: on one pinned thread,
//! each implementation protects and unprotects `--packets` 172-byte RTP packets (12-octet
//! header, 160 octets of G.711) per run; the table shows the best and the median of
//! `--repeats` runs in ns per packet. Best-of is the figure to quote on a shared machine: other
//! load only ever adds time.
//!
//! Before timing it checks, per suite, that both produce the same SRTP octets and read each
//! other's packets, and exits 1 if not.
//!
//! `cargo run --release -p tonewall-bench --bin srtp_ratio [-- --packets 100000 --repeats 9]`

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;
use tonewall_bench::libsrtp::Session;
use tonewall_bench::spandsp;
use tonewall_media::srtp::{Direction, MasterKey, SrtpContext, Suite};

use tonewall_bench::srtp_fixture::{PACKET, key, plain};

/// One side's protect and unprotect, boxed so both implementations run through the same call.
trait Srtp {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize;
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize;
}

impl Srtp for SrtpContext {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.protect_rtp(buf, len).expect("tonewall protect")
    }
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.unprotect_rtp(buf, len).expect("tonewall unprotect")
    }
}

impl Srtp for Session {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        Session::protect(self, buf, len).expect("libsrtp protect")
    }
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize {
        Session::unprotect(self, buf, len).expect("libsrtp unprotect")
    }
}

fn make(which: &str, k: &MasterKey, outbound: bool) -> Box<dyn Srtp> {
    let dir = if outbound { Direction::Outbound } else { Direction::Inbound };
    match which {
        "tonewall" => Box::new(SrtpContext::new(dir, k)),
        _ => Box::new(Session::new(k, outbound)),
    }
}

/// ns per packet of one protect run and one unprotect run, with fresh contexts.
fn run(which: &str, k: &MasterKey, packets: usize) -> (f64, f64) {
    let mut tx = make(which, k, true);
    let mut sealed = Vec::with_capacity(packets);
    let start = Instant::now();
    for i in 0..packets {
        let mut buf = plain(i as u16);
        let n = tx.protect(black_box(&mut buf), PACKET);
        sealed.push((buf, n));
    }
    let protect = start.elapsed().as_nanos() as f64 / packets as f64;

    let mut rx = make(which, k, false);
    let start = Instant::now();
    for (buf, n) in &mut sealed {
        black_box(rx.unprotect(black_box(buf), *n));
    }
    let unprotect = start.elapsed().as_nanos() as f64 / packets as f64;
    (protect, unprotect)
}

fn agree(suite: Suite) -> bool {
    let k = key(suite);
    let (mut a, mut b) = (plain(9), plain(9));
    let n = make("tonewall", &k, true).protect(&mut a, PACKET);
    let m = make("libsrtp", &k, true).protect(&mut b, PACKET);
    let same = n == m && a[..n] == b[..n];
    let theirs_read =
        make("libsrtp", &k, false).unprotect(&mut a, n) == PACKET && a[..PACKET] == plain(9)[..PACKET];
    let ours_read =
        make("tonewall", &k, false).unprotect(&mut b, m) == PACKET && b[..PACKET] == plain(9)[..PACKET];
    same && theirs_read && ours_read
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let packets = arg(&args, "--packets", 65_536).clamp(1, 65_536);
    let repeats = arg(&args, "--repeats", 9).max(1);
    for suite in Suite::ALL {
        if !agree(suite) {
            eprintln!("srtp_ratio: tonewall and libsrtp disagree on {}", suite.sdes_name());
            return ExitCode::FAILURE;
        }
    }
    let cpu = spandsp::pin_to_current_cpu();
    println!(
        "srtp_ratio: {packets} packets of {PACKET} octets per run, best and median of {repeats} runs, pinned to CPU {}",
        cpu.map_or("(not pinned)".to_owned(), |c| c.to_string())
    );
    println!("| suite | impl | protect ns (best / median) | unprotect ns (best / median) |");
    println!("|---|---|---:|---:|");
    for suite in Suite::ALL {
        let k = key(suite);
        for which in ["tonewall", "libsrtp"] {
            run(which, &k, packets.min(1000)); // warm-up
            let mut p = Vec::new();
            let mut u = Vec::new();
            for _ in 0..repeats {
                let (a, b) = run(which, &k, packets);
                p.push(a);
                u.push(b);
            }
            p.sort_by(f64::total_cmp);
            u.sort_by(f64::total_cmp);
            println!(
                "| {} | {which} | {:.0} / {:.0} | {:.0} / {:.0} |",
                suite.sdes_name(),
                p[0],
                p[p.len() / 2],
                u[0],
                u[u.len() / 2]
            );
        }
    }
    ExitCode::SUCCESS
}
