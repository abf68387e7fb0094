//! `tonewall scan` and `tonewall mask` driven as a user would: the real binary, on recordings
//! made with sox (installed by `.ci/run`), in every supported format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tonewall(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tonewall")).args(args).current_dir(dir).output().expect("tonewall runs")
}

fn sox(args: &[&str], dir: &Path) {
    let st = Command::new("sox")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("sox must be installed (apt-get install sox)");
    assert!(st.success(), "sox {args:?} failed");
}

/// Makes a new 8 kHz 16-bit file `out` from sox's null input and `effects`.
fn sox_new(out: &str, effects: &[&str], dir: &Path) {
    let mut args = vec!["-n", "-r", "8000", "-b", "16", "-e", "signed-integer", out];
    args.extend_from_slice(effects);
    sox(&args, dir);
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tonewall-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Makes `seq.wav` (8 kHz PCM16): 300 ms silence, keys 4 1 1 5 (80 ms on, 70 ms off), 300 ms
/// silence, with quiet noise under everything so masked samples are visible.
fn make_sequence(dir: &Path) {
    let keys = [("4", 770, 1209), ("1a", 697, 1209), ("1b", 697, 1209), ("5", 770, 1336)];
    for (name, lo, hi) in keys {
        sox_new(
            &format!("k{name}.wav"),
            &[
                "synth",
                "0.08",
                "sine",
                &lo.to_string(),
                "sine",
                &hi.to_string(),
                "channels",
                "1",
                "vol",
                "0.4",
                "pad",
                "0",
                "0.07",
            ],
            dir,
        );
    }
    sox_new("sil.wav", &["trim", "0", "0.3"], dir);
    sox(&["sil.wav", "k4.wav", "k1a.wav", "k1b.wav", "k5.wav", "sil.wav", "tones.wav"], dir);
    sox_new("noise.wav", &["synth", "1.2", "whitenoise", "vol", "0.01"], dir);
    sox(&["-m", "tones.wav", "noise.wav", "seq.wav", "trim", "0", "1.2"], dir);
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn scan_finds_the_digits_in_every_format_and_mask_removes_them() {
    let dir = workdir("formats");
    make_sequence(&dir);
    sox(&["seq.wav", "-e", "u-law", "seq-ulaw.wav"], &dir);
    sox(&["seq.wav", "-e", "a-law", "seq-alaw.wav"], &dir);
    sox(&["seq.wav", "-r", "44100", "seq-44k.wav"], &dir);
    sox(&["seq.wav", "-r", "16000", "-e", "u-law", "seq-16k-ulaw.wav"], &dir);
    sox(&["seq.wav", "-t", "raw", "-e", "u-law", "seq.ulaw"], &dir);
    sox(&["seq.wav", "-t", "raw", "-e", "a-law", "seq.alaw"], &dir);
    for file in
        ["seq.wav", "seq-ulaw.wav", "seq-alaw.wav", "seq-44k.wav", "seq-16k-ulaw.wav", "seq.ulaw", "seq.alaw"]
    {
        let out = tonewall(&["scan", file], &dir);
        assert_eq!(out.status.code(), Some(1), "{file}: exit 1 when digits are found");
        let found = lines(&out);
        let digits: String = found.iter().map(|v| v["digit"].as_str().unwrap_or("?")).collect();
        assert_eq!(digits, "4115", "{file}");
        // The first key is at 300–380 ms; the report is within 8 ms.
        assert_eq!(found[0]["file"], file);
        let (s, e) = (found[0]["start_ms"].as_u64().unwrap_or(0), found[0]["end_ms"].as_u64().unwrap_or(0));
        assert!(s.abs_diff(300) <= 8 && e.abs_diff(380) <= 8, "{file}: {s}..{e}");
        // Field order as documented.
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("{\"file\":") && first.find("\"digit\"") < first.find("\"start_ms\""),
            "{first}"
        );

        let masked = format!("masked-{file}");
        let out = tonewall(&["mask", file, &masked], &dir);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        for args in [vec!["scan", masked.as_str()], vec!["scan", "--sensitive", masked.as_str()]] {
            let out = tonewall(&args, &dir);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn mask_changes_only_the_tones() {
    let dir = workdir("identity");
    make_sequence(&dir);
    sox(&["seq.wav", "-e", "u-law", "seq-ulaw.wav"], &dir);
    let out = tonewall(&["mask", "seq-ulaw.wav", "out.wav"], &dir);
    assert!(out.status.success());
    let a = std::fs::read(dir.join("seq-ulaw.wav")).expect("input");
    let b = std::fs::read(dir.join("out.wav")).expect("output");
    assert_eq!(a.len(), b.len());
    // Every changed byte lies in the tones, widened by the masking margins: 12 ms before (the
    // look-behind's lead), 24 ms after (a press stays masked through three missed windows).
    let header = a.len() - 9600;
    let tones = [(300, 380), (450, 530), (600, 680), (750, 830)];
    let mut changed = 0;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x != y {
            changed += 1;
            assert!(i >= header, "header byte {i} changed");
            let ms = ((i - header) / 8) as i64;
            assert!(
                tones.iter().any(|&(s, e)| ms >= s - 12 && ms < e + 24),
                "byte at {ms} ms changed outside a tone"
            );
        }
    }
    // And the tones are (all but coincidental equal codes) replaced.
    assert!(changed > 4 * 80 * 8 * 9 / 10, "only {changed} bytes changed");
}

#[test]
fn scan_reports_channels_of_a_stereo_recording() {
    let dir = workdir("stereo");
    make_sequence(&dir);
    sox_new("quiet.wav", &["trim", "0", "1.2"], &dir);
    // Caller on the right channel, agent (silence) on the left.
    sox(&["-M", "quiet.wav", "seq.wav", "stereo.wav"], &dir);
    let out = tonewall(&["scan", "stereo.wav"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let found = lines(&out);
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|v| v["channel"] == 1));
    let out = tonewall(&["mask", "stereo.wav", "stereo-masked.wav"], &dir);
    assert!(out.status.success());
    assert_eq!(tonewall(&["scan", "stereo-masked.wav"], &dir).status.code(), Some(0));
}

#[test]
fn clean_recordings_exit_0_and_bad_ones_exit_2_naming_the_file() {
    let dir = workdir("errors");
    sox(
        &[
            "-n",
            "-r",
            "16000",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "speechless.wav",
            "synth",
            "1",
            "sine",
            "440",
            "vol",
            "0.3",
        ],
        &dir,
    );
    let out = tonewall(&["scan", "speechless.wav"], &dir);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\0\0\0WAVEjunk").expect("write");
    std::fs::write(dir.join("notes.txt"), b"hello").expect("write");
    sox(
        &["-n", "-r", "8000", "-b", "24", "-e", "signed-integer", "deep.wav", "synth", "0.1", "sine", "440"],
        &dir,
    );
    for (file, says) in [
        ("broken.wav", "no fmt chunk"),
        ("notes.txt", "unknown format"),
        ("missing.wav", "No such file"),
        ("deep.wav", "24 bits"),
    ] {
        let out = tonewall(&["scan", "speechless.wav", file], &dir);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(file) && err.contains(says), "{file}: {err}");
        let out = tonewall(&["mask", file, "x.wav"], &dir);
        assert_eq!(out.status.code(), Some(2), "mask {file}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(file));
    }
    // Usage errors are clap's (exit 2 as well).
    assert_eq!(tonewall(&["scan"], &dir).status.code(), Some(2));
}

#[test]
fn a_lost_report_or_a_bad_rate_is_an_error_not_a_clean_result() {
    let dir = workdir("lost");
    make_sequence(&dir);
    // stdout that cannot be written: exit 2, not 1 (or worse, 0).
    let full = std::fs::File::options().write(true).open("/dev/full").expect("/dev/full exists on Linux");
    let st = Command::new(env!("CARGO_BIN_EXE_tonewall"))
        .args(["scan", "seq.wav"])
        .current_dir(&dir)
        .stdout(full)
        .status()
        .expect("runs");
    assert_eq!(st.code(), Some(2));
    // A header claiming 1 Hz (or 4 GHz) is refused by name, not resampled into memory exhaustion.
    let mut wav = std::fs::read(dir.join("seq.wav")).expect("read");
    for rate in [1u32, u32::MAX] {
        wav[24..28].copy_from_slice(&rate.to_le_bytes());
        std::fs::write(dir.join("odd.wav"), &wav).expect("write");
        let out = tonewall(&["scan", "odd.wav"], &dir);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("sample rate"));
    }
    // Digits in one file and an error in another: the error wins.
    let out = tonewall(&["scan", "seq.wav", "odd.wav"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lines(&out).len(), 4, "the digits found are still reported");
}

#[test]
fn mask_leaves_a_clean_channel_untouched() {
    let dir = workdir("stereo-identity");
    make_sequence(&dir);
    sox_new("agent.wav", &["synth", "1.2", "brownnoise", "vol", "0.05"], &dir);
    sox(&["-M", "agent.wav", "seq.wav", "-e", "u-law", "call.wav"], &dir);
    assert!(tonewall(&["mask", "call.wav", "masked.wav"], &dir).status.success());
    let a = std::fs::read(dir.join("call.wav")).expect("input");
    let b = std::fs::read(dir.join("masked.wav")).expect("output");
    let rec = tonewall_dsp::wav::parse(&a).expect("sox wrote a WAV");
    let frames = rec.frames();
    let left_a: Vec<u8> = (0..frames).map(|f| rec.raw(&a, 0, f)[0]).collect();
    let left_b: Vec<u8> = (0..frames).map(|f| rec.raw(&b, 0, f)[0]).collect();
    assert_eq!(left_a, left_b, "the agent channel changed");
    let right_changed = (0..frames).filter(|&f| rec.raw(&a, 1, f) != rec.raw(&b, 1, f)).count();
    assert!(right_changed > 2000, "the caller channel was not masked ({right_changed})");
}

/// `TONEWALL_<SECTION>__<KEY>` variables configure; others that share the prefix (a script's
/// `TONEWALL_BIN`) do not, and do not stop the start either.
#[test]
fn only_section_variables_of_the_environment_configure() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonewall"))
        .arg("serve")
        .env("TONEWALL_BIN", "/usr/local/bin/tonewall")
        .env("TONEWALL_MEDIA__PORT_MIN", "60000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tonewall runs");
    // A configuration that is read refuses to start; one that is not would serve for good.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("tonewall serve started: TONEWALL_MEDIA__PORT_MIN was not read");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("read");
    assert!(!status.success());
    assert!(err.contains("media.port_max: port range 60000–59999"), "the section variable was read: {err}");
    assert!(!err.contains("BIN"), "TONEWALL_BIN is not configuration: {err}");
}
