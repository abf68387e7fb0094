//! Talk-off: speech must not be taken for digits. Q.24 allows about 1 false digit in 3000 calls;
//! the bar here is at most 1 false digit per 10 minutes of speech, on a corpus generated with
//! espeak-ng (many voices, pitches and rates; prose in several languages, spoken digit strings,
//! sustained vowels and humming), each utterance normalised to −15 dBm0 active level and carried
//! through µ-law.
//!
//! Needs `espeak-ng` and `sox` on PATH (`.ci/run` installs both).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use tonewall_dsp::level::{dbm0_to_power, power_to_dbm0};
use tonewall_dsp::synth::Rng;
use tonewall_dsp::{Detector, DetectorConfig};

const PROSE_EN: &str = "Thank you for calling. Your call may be recorded for quality and training purposes. \
Please have your account number ready. The weather this weekend looks mild, with a chance of light rain \
on Sunday afternoon. Our opening hours are from eight in the morning until eight in the evening, Monday \
to Saturday. If you would like to speak to an agent, stay on the line. I was wondering whether you could \
help me with a payment that went through twice last month. Certainly, let me just pull up your details. \
Could you confirm the first line of your address and your date of birth, please? Brilliant, thank you.";
const PROSE_FR: &str = "Bonjour et merci de votre appel. Votre conseiller va vous répondre dans quelques instants. \
Pouvez-vous me donner votre numéro de client, s'il vous plaît? Nous allons vérifier votre dossier.";
const PROSE_DE: &str = "Guten Tag, vielen Dank für Ihren Anruf. Bitte halten Sie Ihre Kundennummer bereit. \
Wir sind gleich für Sie da. Können Sie mir bitte Ihr Geburtsdatum nennen?";
const PROSE_ES: &str = "Buenos días, gracias por llamar. Por favor, tenga a mano su número de cuenta. \
Un agente le atenderá en breve. ¿Me puede confirmar su dirección, por favor?";
const DIGITS: &str = "four one one one, one one one one, one one one one, one one one one. \
My number is oh seven nine four six, double two three, eight five zero. Extension nine nine three one. \
Sort code twenty, forty, sixty; account eight seven six five four three two one.";
const VOWELS: &str = "aaaaaaaaaaah. ooooooooooh. eeeeeeeeeee. Mmmmmmmmmmmm. Hmmmmmmmmm. Ummmmmmm. \
Ahhhhhhhhhhhh. Ohhhhhhhhh. Uhhhhhhhhhh. Nnnnnnnnnnn. Aaaaaaaaaaaa-ha. La la la la la la la la.";

/// Voice, text, and the pitch and rate values to sweep.
fn corpus() -> Vec<(String, &'static str)> {
    let mut v = Vec::new();
    let variants = [
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3", "croak",
        "whisper",
    ];
    for (i, var) in variants.iter().enumerate() {
        v.push((format!("en+{var}"), PROSE_EN));
        v.push((format!("en-us+{var}"), DIGITS));
        v.push((format!("en+{var}"), VOWELS));
        let (lang, text) = [("fr", PROSE_FR), ("de", PROSE_DE), ("es", PROSE_ES)][i % 3];
        v.push((format!("{lang}+{var}"), text));
    }
    v
}

/// Speaks `text` and returns 8 kHz samples normalised to −15 dBm0 active level.
fn speak(dir: &Path, n: usize, voice: &str, pitch: u32, rate: u32, text: &str) -> Vec<f64> {
    let wav = dir.join(format!("u{n}.wav"));
    let raw = dir.join(format!("u{n}.raw"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-p", &pitch.to_string(), "-s", &rate.to_string(), "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (apt-get install espeak-ng)");
    assert!(ok.success(), "espeak-ng failed for {voice}");
    let ok = Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"])
        .arg(&raw)
        .status()
        .expect("sox must be installed (apt-get install sox)");
    assert!(ok.success(), "sox failed");
    let bytes = std::fs::read(&raw).expect("sox output");
    let s: Vec<f64> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f64).collect();
    // Active level: mean power of the 20 ms frames within 30 dB of the loudest frame.
    let frames: Vec<f64> =
        s.chunks(160).map(|f| f.iter().map(|v| v * v).sum::<f64>() / f.len() as f64).collect();
    let peak = frames.iter().cloned().fold(0.0, f64::max);
    let active: Vec<f64> = frames.iter().cloned().filter(|&p| p > peak / 1000.0).collect();
    let level = active.iter().sum::<f64>() / active.len().max(1) as f64;
    let gain = (dbm0_to_power(-15.0) / level.max(1.0)).sqrt();
    s.iter().map(|v| v * gain).collect()
}

#[test]
fn at_most_one_false_digit_per_ten_minutes_of_speech() {
    let dir = std::env::temp_dir().join(format!("tonewall-talkoff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = Rng::new(4242);
    let mut speech = Vec::new();
    let mut n = 0;
    for (voice, text) in corpus() {
        for (pitch, rate) in [(20, 120), (50, 170), (85, 240)] {
            let pitch = pitch + rng.below(15) as u32;
            let mut s = speak(&dir, n, &voice, pitch, rate, text);
            if std::env::var_os("TALKOFF_DEBUG").is_some() {
                println!("{} {voice} p{pitch} s{rate} {}", speech.len(), &text[..20]);
            }
            speech.append(&mut s);
            speech.extend(std::iter::repeat_n(0.0, 800 + rng.below(800)));
            n += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let minutes = speech.len() as f64 / 8000.0 / 60.0;
    let level = power_to_dbm0(speech.iter().map(|v| v * v).sum::<f64>() / speech.len() as f64);
    let samples = through_ulaw(&speech);
    let got = detect(&samples, &mut rng);
    for p in &got {
        println!("false digit at sample {} lasting {} ms", p.start, (p.end - p.start) / 8);
    }

    // How much speech the masker would replace (a quality figure, not a security one).
    let mut hot = 0u64;
    let mut runs = 0u64;
    let mut prev = false;
    let mut d2 = Detector::new(&DetectorConfig::default());
    for chunk in samples.chunks_exact(32) {
        let h = d2.push_block(chunk.try_into().expect("32 samples"));
        hot += h as u64;
        runs += (h && !prev) as u64;
        prev = h;
    }
    println!("{:.1} tone-like runs per minute", runs as f64 / minutes);
    let hot_ms_per_min = hot as f64 * 4.0 / minutes;
    println!(
        "talk-off: {minutes:.1} min of speech at {level:.1} dBm0 overall, {} false digits, {hot_ms_per_min:.0} ms/min of blocks flagged tone-like",
        got.len()
    );
    assert!(minutes >= 10.0, "corpus too short: {minutes:.1} min");
    let allowed = (minutes / 10.0).floor() as usize;
    assert!(got.len() <= allowed, "{} false digits in {minutes:.1} min (allowed {allowed})", got.len());
}
