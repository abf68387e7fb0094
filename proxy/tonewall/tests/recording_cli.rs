//! `tonewall recording keygen` and `decrypt` driven as an auditor would: the real binary, a key it
//! made, and recordings written by the library from what the relay forwards — caller audio with
//! in-band DTMF already masked by `tonewall_dsp::Masker`. `tonewall scan` must find nothing in
//! the decrypted WAV, and must find the digits in an unmasked control recording.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tonewall_dsp::synth::{self, Rng};
use tonewall_dsp::{Digit, G711, Law, Masker, MaskerConfig, wav};
use tonewall_media::recording::{Channel, RecordingKey, RecordingParams, Writer};

fn tonewall(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tonewall")).args(args).current_dir(dir).output().expect("tonewall runs")
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tonewall-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tonewall recording keygen NAME` in `dir`; returns the key as parsed back and its id.
fn keygen(dir: &Path, name: &str) -> (RecordingKey, String) {
    let out = tonewall(&["recording", "keygen", name], dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let key = RecordingKey::parse(&std::fs::read(dir.join(name)).expect("key file")).expect("a key");
    assert_eq!(key.id().to_string(), id);
    (key, id)
}

/// 3 s of µ-law caller audio: quiet noise with the keys 4 1 1 1 (80 ms on, 70 ms off) from
/// 500 ms; and 3 s of agent audio (noise and a 440 Hz tone, no DTMF).
fn call_audio() -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(20_250_615);
    let n = synth::ms(3000.0);
    let mut caller = vec![0.0; n];
    synth::add_noise(&mut caller, -50.0, &mut rng);
    for (k, c) in "4111".chars().enumerate() {
        let digit = Digit::from_char(c).expect("a key");
        let at = synth::ms(500.0 + 150.0 * k as f64);
        synth::add_dtmf(&mut caller[at..at + synth::ms(80.0)], digit, -8.0, 2.0, (0.0, 0.0), &mut rng);
    }
    let mut agent = vec![0.0; n];
    synth::add_noise(&mut agent, -45.0, &mut rng);
    synth::add_tones(&mut agent, &[synth::Component { hz: 440.0, dbm0: -25.0, phase: 0.0 }]);
    let enc = |x: &[f64]| synth::to_i16(x).iter().map(|&s| Law::Ulaw.encode(s)).collect::<Vec<u8>>();
    (enc(&caller), enc(&agent))
}

/// Records the call as the relay would feed the writer: 20 ms packets, caller → agent through
/// the masker when `masked`; returns the file and the caller channel's forwarded codes.
fn record(key: &RecordingKey, caller: &[u8], agent: &[u8], masked: bool) -> (Vec<u8>, Vec<u8>) {
    let params = RecordingParams {
        call_start: Duration::from_millis(1_750_000_000_123),
        salt: [masked as u8; 32],
        nonce_prefix: [0x10 | masked as u8; 8],
    };
    let mut w = Writer::new(key, &params, Duration::ZERO);
    let mut masker = Masker::new(G711(Law::Ulaw), &MaskerConfig::default());
    let mut file = Vec::new();
    let mut forwarded = Vec::new();
    for (i, (c, a)) in caller.chunks(160).zip(agent.chunks(160)).enumerate() {
        let mut out = c.to_vec();
        if masked {
            masker.process(c, &mut out);
        }
        let (ts, at) = (i as u32 * 160, Duration::from_millis(i as u64 * 20));
        w.push(Channel::CallerToAgent, Law::Ulaw, 0x1111, 90_000 + ts, at, &out);
        w.push(Channel::AgentToCaller, Law::Ulaw, 0x2222, 5 + ts, at, a);
        w.poll_chunk(&mut file);
        forwarded.extend_from_slice(&out);
    }
    w.finish(&mut file);
    (file, forwarded)
}

fn scan(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    tonewall(&all, dir)
}

#[test]
fn a_decrypted_recording_of_a_masked_call_holds_no_dtmf() {
    let dir = workdir("e2e");
    let (key, id) = keygen(&dir, "rec.key");
    let (caller, agent) = call_audio();

    let (masked, forwarded) = record(&key, &caller, &agent, true);
    assert_ne!(forwarded, caller, "the masker changed nothing");
    std::fs::write(dir.join("call.twrec"), &masked).expect("write");
    let out = tonewall(&["recording", "decrypt", "call.twrec", "call.wav", "--key-file", "rec.key"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("call.wav") && said.contains(&id) && said.contains("2025-06-15T15:06:40.123Z"),
        "{said}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("call.wav")).expect("wav").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the decrypted audio is readable by others");
    }

    // The WAV is exactly the post-mask audio forwarded, caller left, agent right.
    let wav_bytes = std::fs::read(dir.join("call.wav")).expect("wav");
    let rec = wav::parse(&wav_bytes).expect("a WAV");
    assert_eq!((rec.channels, rec.rate, rec.frames()), (2, 8000, caller.len()));
    let decode = |codes: &[u8]| codes.iter().map(|&c| Law::Ulaw.decode(c)).collect::<Vec<i16>>();
    assert!(rec.channel(&wav_bytes, 0) == decode(&forwarded), "caller channel is not the forwarded audio");
    assert!(rec.channel(&wav_bytes, 1) == decode(&agent), "agent channel is not the forwarded audio");

    for args in [vec!["call.wav"], vec!["--sensitive", "call.wav"]] {
        let out = scan(&dir, &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(out.stdout.is_empty());
    }

    // The control: the same call unmasked. The scan finds the digits, on the caller's channel,
    // so the check above is not vacuous.
    let (control, _) = record(&key, &caller, &agent, false);
    std::fs::write(dir.join("control.twrec"), &control).expect("write");
    let out =
        tonewall(&["recording", "decrypt", "control.twrec", "control.wav", "--key-file", "rec.key"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = scan(&dir, &["control.wav"]);
    assert_eq!(out.status.code(), Some(1));
    let found: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let digits: String = found.iter().map(|v| v["digit"].as_str().unwrap_or("?")).collect();
    assert_eq!(digits, "4111");
    assert!(found.iter().all(|v| v["channel"] == 0));
}

#[test]
fn keygen_makes_private_keys_and_never_overwrites() {
    let dir = workdir("keygen");
    let (_, id) = keygen(&dir, "a.key");
    let before = std::fs::read(dir.join("a.key")).expect("key");
    assert_eq!(before.len(), 65, "64 hex digits and a newline");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("a.key")).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = tonewall(&["recording", "keygen", "a.key"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a.key") && stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("a.key")).expect("key"), before, "a key file was overwritten");
    let (_, other) = keygen(&dir, "b.key");
    assert_ne!(id, other, "two keys alike");
    let out = tonewall(&["recording", "keygen", "no-such-dir/c.key"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-dir/c.key"));
}

#[test]
fn decrypt_errors_name_the_file_and_never_show_the_key() {
    let dir = workdir("errors");
    let (old, old_id) = keygen(&dir, "old.key");
    let (_, new_id) = keygen(&dir, "new.key");
    let (caller, agent) = call_audio();
    let (file, _) = record(&old, &caller[..8000], &agent[..8000], true);
    std::fs::write(dir.join("r.twrec"), &file).expect("write");
    let secrets: Vec<String> = ["old.key", "new.key"]
        .iter()
        .map(|k| String::from_utf8_lossy(&std::fs::read(dir.join(k)).expect("key")).trim().to_string())
        .collect();
    let mut outputs = Vec::new();
    let mut run = |args: &[&str], code: i32, says: &[&str]| {
        let out = tonewall(args, &dir);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        for s in says {
            assert!(err.contains(s), "{args:?}: {err:?} does not say {s:?}");
        }
        outputs.push(format!("{err}{}", String::from_utf8_lossy(&out.stdout)));
    };

    // The wrong key: the recording names the key it needs and the keys given.
    run(
        &["recording", "decrypt", "r.twrec", "o.wav", "--key-file", "new.key"],
        2,
        &["r.twrec", &old_id, &new_id],
    );
    // Rotation: with both keys given, the header picks the old one.
    run(
        &["recording", "decrypt", "r.twrec", "o.wav", "--key-file", "new.key", "--key-file", "old.key"],
        0,
        &[&old_id],
    );
    // Damage in the middle of a chunk: named by chunk; no WAV written.
    let mut bad = file.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    std::fs::write(dir.join("bad.twrec"), &bad).expect("write");
    run(
        &["recording", "decrypt", "bad.twrec", "bad.wav", "--key-file", "old.key"],
        2,
        &["bad.twrec", "chunk", "failed authentication"],
    );
    assert!(!dir.join("bad.wav").exists(), "a WAV was written from a damaged recording");
    // A cut file: refused, unless asked for what is left (then a warning).
    std::fs::write(dir.join("cut.twrec"), &file[..file.len() - 40]).expect("write");
    run(
        &["recording", "decrypt", "cut.twrec", "cut.wav", "--key-file", "old.key"],
        2,
        &["cut.twrec", "incomplete"],
    );
    run(
        &["recording", "decrypt", "cut.twrec", "cut.wav", "--key-file", "old.key", "--allow-incomplete"],
        0,
        &["cut.twrec", "INCOMPLETE"],
    );
    // Key files that are missing, malformed or readable by others; a file that is no recording.
    run(&["recording", "decrypt", "r.twrec", "o.wav", "--key-file", "nope.key"], 2, &["nope.key"]);
    std::fs::write(dir.join("short.key"), &secrets[0][..40]).expect("write");
    run(
        &["recording", "decrypt", "r.twrec", "o.wav", "--key-file", "short.key"],
        2,
        &["short.key", "20 bytes"],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("old.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        run(
            &["recording", "decrypt", "r.twrec", "o.wav", "--key-file", "old.key"],
            0,
            &["old.key", "chmod 600"],
        );
    }
    std::fs::write(dir.join("x.wav"), b"RIFF").expect("write");
    run(
        &["recording", "decrypt", "x.wav", "o.wav", "--key-file", "old.key"],
        2,
        &["x.wav", "not a Tonewall recording"],
    );
    run(&["recording", "decrypt", "gone.twrec", "o.wav", "--key-file", "old.key"], 2, &["gone.twrec"]);
    // Usage errors are clap's.
    assert_eq!(tonewall(&["recording", "decrypt", "r.twrec", "o.wav"], &dir).status.code(), Some(2));

    for text in &outputs {
        for s in &secrets {
            assert!(!text.contains(&s[..16]), "key material shown: {text}");
        }
    }
}
