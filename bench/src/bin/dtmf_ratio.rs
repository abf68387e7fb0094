//! Tonewall's DTMF detector and masker against spandsp's `dtmf_rx`, timed without criterion.
//!
//! Generates `--seconds` of the benchmark mix (default 60 s) and checks that every implementation
//! finds the same key presses in it. Then, on one pinned thread, each implementation is fed the
//! audio in 20 ms frames, `--passes` times per timed run (default 20, i.e. 20 minutes of audio),
//! for `--repeats` runs (default 7) after one warm-up run: one stream, then `--streams`
//! (default 1000) streams round-robin. Prints throughput (best and median run), live 8 kHz
//! streams per core and the ratio to spandsp, and the bytes of state per stream.
//!
//! `cargo run --release -p tonewall-bench --bin dtmf_ratio -- [--seconds S] [--passes P]
//! [--repeats R] [--streams N]`
//!
//! `--only NAME [--content mixed|speech|quiet|tones]` times one implementation alone (one
//! stream) on the mix or one part of it, for a profiler.

use std::hint::black_box;
use std::time::{Duration, Instant};
use tonewall_bench::audio::{self, Audio, Content, Score};
use tonewall_bench::spandsp::{self, DtmfRx};
use tonewall_bench::{
    CorrelateOnly, FRAME, Feed, Spandsp, Streams, TwDetector, TwDetectorBlocks, TwDetectorUlawBlocks,
    TwMasker, UlawDecode,
};
use tonewall_dsp::simd::Kernel;
use tonewall_dsp::{Detector, DtmfEvent, G711, Law, Masker, MaskerConfig};

const SEED: u64 = 0x7013_3A11;

struct Args {
    seconds: f64,
    repeats: usize,
    passes: usize,
    streams: usize,
    /// Time only this implementation, one stream (for a profiler).
    only: Option<String>,
    /// What the audio holds.
    content: Content,
}

fn args() -> Result<Args, String> {
    let mut a =
        Args { seconds: 60.0, repeats: 7, passes: 20, streams: 1000, only: None, content: Content::Mixed };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--repeats" => a.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?,
            "--passes" => a.passes = value()?.parse().map_err(|e| format!("--passes: {e}"))?,
            "--streams" => a.streams = value()?.parse().map_err(|e| format!("--streams: {e}"))?,
            "--only" => a.only = Some(value()?),
            "--content" => {
                a.content = match value()?.as_str() {
                    "mixed" => Content::Mixed,
                    "speech" => Content::Speech,
                    "quiet" => Content::Quiet,
                    "tones" => Content::Tones,
                    other => {
                        return Err(format!("--content {other}: mixed, speech, quiet or tones"));
                    }
                }
            }
            "-h" | "--help" => {
                println!(
                    "dtmf_ratio [--seconds S (60)] [--passes P (20)] [--repeats R (7)] [--streams N (1000)] \\
                     [--only spandsp|detector|detector-scalar|masker|decode|detector-blocks|detector-ulaw-blocks \\
                     [--content mixed|speech|quiet|tones]]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.seconds < 1.0 || a.repeats == 0 || a.passes == 0 {
        return Err("--seconds must be ≥ 1, --repeats and --passes ≥ 1".into());
    }
    Ok(a)
}

/// Best and median wall time of `repeats` runs of `run`, after one warm-up run.
fn time(repeats: usize, mut run: impl FnMut() -> usize) -> (Duration, Duration, usize) {
    let mut digits = black_box(run());
    let mut t: Vec<Duration> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            digits = black_box(run());
            start.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2], digits)
}

struct Row {
    name: String,
    best: f64,
    median: f64,
}

/// How much to time: each run feeds `passes` × the audio, best and median of `repeats` runs.
#[derive(Clone, Copy)]
struct Plan {
    repeats: usize,
    passes: usize,
}

/// One stream, 20 ms frames, the whole audio `passes` times per run.
fn one_stream<T: Feed>(name: &str, a: &Audio, plan: Plan, mut imp: T) -> Row {
    let len = a.frames() * FRAME;
    let n = len * plan.passes;
    let (best, median, _) = time(plan.repeats, || {
        let mut d = 0;
        for _ in 0..plan.passes {
            for (lin, ul) in a.linear[..len].chunks_exact(FRAME).zip(a.ulaw[..len].chunks_exact(FRAME)) {
                d += imp.feed(lin, ul);
            }
        }
        d
    });
    Row {
        name: name.to_owned(),
        best: n as f64 / best.as_secs_f64(),
        median: n as f64 / median.as_secs_f64(),
    }
}

/// `streams` streams round-robin; one run feeds as many samples as `passes` × the audio holds.
fn many<T: Feed>(name: &str, a: &Audio, plan: Plan, streams: usize, make: impl FnMut() -> T) -> Row {
    let mut s = Streams::new(streams, a.frames(), make);
    let rounds = (a.frames() * plan.passes / streams.max(1)).max(1);
    let n = rounds * streams * FRAME;
    let (best, median, _) = time(plan.repeats, || {
        let mut d = 0;
        for _ in 0..rounds {
            d += s.round(&a.linear, &a.ulaw);
        }
        d
    });
    Row {
        name: name.to_owned(),
        best: n as f64 / best.as_secs_f64(),
        median: n as f64 / median.as_secs_f64(),
    }
}

fn print_rows(title: &str, rows: &[Row]) {
    let base = rows.iter().find(|r| r.name.starts_with("spandsp")).map_or(f64::NAN, |r| r.best);
    println!("\n{title}");
    println!(
        "| {:<42} | {:>14} | {:>14} | {:>17} | {:>10} |",
        "implementation", "M samples/s", "(median)", "8 kHz streams/core", "vs spandsp"
    );
    println!("|{:-<44}|{:->16}|{:->16}|{:->20}|{:->12}|", "", "", "", "", "");
    for r in rows {
        println!(
            "| {:<42} | {:>14.1} | {:>14.1} | {:>18.0} | {:>9.2}× |",
            r.name,
            r.best / 1e6,
            r.median / 1e6,
            r.best / 8000.0,
            r.best / base
        );
    }
}

/// Runs a detector over the audio frame by frame and returns (key, sample of the report).
fn reports(a: &Audio, mut step: impl FnMut(&[i16], &[u8], &mut Vec<char>)) -> Vec<(char, usize)> {
    let mut out = Vec::new();
    let mut keys = Vec::new();
    for (f, (lin, ul)) in a.linear.chunks_exact(FRAME).zip(a.ulaw.chunks_exact(FRAME)).enumerate() {
        step(lin, ul, &mut keys);
        out.extend(keys.drain(..).map(|k| (k, (f + 1) * FRAME)));
    }
    out
}

fn tonewall_keys(ev: DtmfEvent, keys: &mut Vec<char>) {
    if let DtmfEvent::DigitStart { digit, .. } = ev {
        keys.push(digit.as_char());
    }
}

fn check(a: &Audio) -> bool {
    let mut rx = DtmfRx::new();
    let sp = audio::score(
        a,
        &reports(a, |lin, _, k| {
            rx.rx(lin);
            k.extend(rx.digits().drain(..).map(char::from));
        }),
    );
    let mut det = Detector::new(&Default::default());
    let tw = audio::score(
        a,
        &reports(a, |lin, _, k| {
            det.push(lin);
            while let Some(ev) = det.poll_event() {
                tonewall_keys(ev, k);
            }
        }),
    );
    let mut m: Masker<G711> = Masker::new(G711(Law::Ulaw), &MaskerConfig::default());
    let mut out = [0u8; FRAME];
    let tm = audio::score(
        a,
        &reports(a, |_, ul, k| {
            m.process(ul, &mut out);
            while let Some(ev) = m.poll_event() {
                tonewall_keys(ev, k);
            }
        }),
    );
    println!(
        "\nsame work: {} presses in {:.0} s ({:.1} % tone, {:.0} % speech-like)",
        a.presses.len(),
        a.seconds(),
        100.0 * a.tone_samples as f64 / a.linear.len() as f64,
        100.0 * a.speech_samples as f64 / a.linear.len() as f64
    );
    println!("| {:<42} | {:>6} | {:>6} | {:>6} |", "detector", "found", "missed", "extra");
    println!("|{:-<44}|{:->8}|{:->8}|{:->8}|", "", "", "", "");
    let row = |name: &str, s: &Score| {
        println!("| {:<42} | {:>6} | {:>6} | {:>6} |", name, s.found, s.missed, s.extra)
    };
    row("spandsp dtmf_rx (linear)", &sp);
    row("tonewall Detector (linear)", &tw);
    row("tonewall Masker<G711> (µ-law)", &tm);
    let same = sp.keys == tw.keys && tw.keys == tm.keys && sp.keys == a.keys();
    println!(
        "identical key sequences (spandsp = tonewall = masker = pressed): {}",
        if same { "yes" } else { "NO" }
    );
    same
}

fn sizes() {
    let det = std::mem::size_of::<Detector>();
    let events = 4 * std::mem::size_of::<DtmfEvent>();
    let m: Masker<G711> = Masker::new(G711(Law::Ulaw), &MaskerConfig::default());
    let masker = std::mem::size_of::<Masker<G711>>();
    let ring = m.delay() + tonewall_dsp::simd::BLOCK;
    println!("\nstate per stream (bytes)");
    println!("| {:<48} | {:>8} |", "what", "bytes");
    println!("|{:-<50}|{:->10}|", "", "");
    println!("| {:<48} | {:>8} |", "tonewall Detector (size_of)", det);
    println!("| {:<48} | {:>8} |", "  + its event queue (heap, capacity 4)", events);
    println!("| {:<48} | {:>8} |", "tonewall Masker<G711> (size_of, incl. Detector)", masker);
    println!("| {:<48} | {:>8} |", format!("  + look-behind ring (delay {} + 32)", m.delay()), ring);
    println!("| {:<48} | {:>8} |", "  = masker total (+ event queue)", masker + ring + events);
    println!(
        "| {:<48} | {:>8} |",
        "spandsp dtmf_rx_state_t (sizeof, malloc'd)",
        spandsp::state_size().map_or("unknown".to_owned(), |s| s.to_string())
    );
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dtmf_ratio: {e}");
            std::process::exit(2);
        }
    };
    let plan = Plan { repeats: a.repeats, passes: a.passes };
    let cpu = spandsp::pin_to_current_cpu();
    let audio = audio::generate(a.content, a.seconds, SEED);
    println!(
        "dtmf_ratio: {:.0} s of 8 kHz audio, {} passes per timed run, best and median of {} runs, pinned to CPU {}",
        audio.seconds(),
        a.passes,
        a.repeats,
        cpu.map_or("(not pinned)".to_owned(), |c| c.to_string())
    );
    if let Some(only) = &a.only {
        // One implementation, one stream, nothing else: for `perf record` or callgrind.
        let row = match only.as_str() {
            "spandsp" => one_stream(only, &audio, plan, Spandsp::default()),
            "detector" => one_stream(only, &audio, plan, TwDetector::new(Kernel::best())),
            "detector-scalar" => one_stream(only, &audio, plan, TwDetector::new(Kernel::scalar())),
            "masker" => one_stream(only, &audio, plan, TwMasker::new(FRAME)),
            "decode" => one_stream(only, &audio, plan, UlawDecode::new(FRAME)),
            "detector-blocks" => {
                one_stream(only, &audio, plan, TwDetectorBlocks(Detector::new(&Default::default())))
            }
            "detector-ulaw-blocks" => {
                one_stream(only, &audio, plan, TwDetectorUlawBlocks(Detector::new(&Default::default())))
            }
            other => {
                eprintln!("dtmf_ratio: --only {other}: unknown implementation");
                std::process::exit(2);
            }
        };
        println!("{}: {:.1} M samples/s", row.name, row.best / 1e6);
        return;
    }
    let same = check(&audio);
    sizes();

    let mut rows = vec![one_stream("spandsp dtmf_rx (linear)", &audio, plan, Spandsp::default())];
    for k in Kernel::all() {
        rows.push(one_stream(
            &format!("tonewall Detector::push ({})", k.name()),
            &audio,
            plan,
            TwDetector::new(k),
        ));
    }
    rows.push(one_stream(
        "tonewall Detector::push_block, no copy",
        &audio,
        plan,
        TwDetectorBlocks(Detector::new(&Default::default())),
    ));
    rows.push(one_stream(
        &format!("tonewall Masker<G711> µ-law ({})", Kernel::best().name()),
        &audio,
        plan,
        TwMasker::new(FRAME),
    ));
    rows.push(one_stream(
        &format!("correlation kernel alone ({})", Kernel::best().name()),
        &audio,
        plan,
        CorrelateOnly(Kernel::best()),
    ));
    rows.push(one_stream("µ-law decode alone", &audio, plan, UlawDecode::new(FRAME)));
    print_rows("one stream, 20 ms frames", &rows);

    let n = a.streams;
    let mut rows = vec![many("spandsp dtmf_rx (linear)", &audio, plan, n, Spandsp::default)];
    for k in Kernel::all() {
        rows.push(many(&format!("tonewall Detector::push ({})", k.name()), &audio, plan, n, || {
            TwDetector::new(k)
        }));
    }
    rows.push(many(
        &format!("tonewall Masker<G711> µ-law ({})", Kernel::best().name()),
        &audio,
        plan,
        n,
        || TwMasker::new(FRAME),
    ));
    print_rows(&format!("{n} streams round-robin, 20 ms frames"), &rows);

    // Which part of the audio costs what: the same implementations on each part alone.
    println!("\nby content, one stream, 20 ms frames: M samples/s (best run)");
    println!(
        "| {:<10} | {:>9} | {:>12} | {:>12} | {:>12} | {:>12} |",
        "content", "spandsp", "tw Detector", "(no copy)", "tw Masker", "masker/sp"
    );
    println!("|{:-<12}|{:->11}|{:->14}|{:->14}|{:->14}|{:->14}|", "", "", "", "", "", "");
    for content in [Content::Quiet, Content::Speech, Content::Tones] {
        let part = audio::generate(content, a.seconds.min(20.0), SEED);
        let sp = one_stream("", &part, plan, Spandsp::default()).best;
        let det = one_stream("", &part, plan, TwDetector::new(Kernel::best())).best;
        let blocks = one_stream("", &part, plan, TwDetectorBlocks(Detector::new(&Default::default()))).best;
        let m = one_stream("", &part, plan, TwMasker::new(FRAME)).best;
        println!(
            "| {:<10} | {:>9.1} | {:>12.1} | {:>12.1} | {:>12.1} | {:>11.2}× |",
            format!("{content:?}"),
            sp / 1e6,
            det / 1e6,
            blocks / 1e6,
            m / 1e6,
            m / sp
        );
    }
    if !same {
        std::process::exit(1);
    }
}
