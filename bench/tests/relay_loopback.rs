//! End to end on loopback: `rtp_load` through `rtp_floor`, 20 calls for a second. Nothing may be
//! lost, audio must come back byte-identical (offset 0), and every DTMF press must reach the
//! callee, since the floor masks nothing.

use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn load_through_the_floor() {
    let base = 33_100u16;
    let mut floor = Command::new(env!("CARGO_BIN_EXE_rtp_floor"))
        .args(["--base", &base.to_string(), "--pairs", "20", "--seconds", "10"])
        .stderr(Stdio::null())
        .spawn()
        .expect("rtp_floor starts");
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::new(env!("CARGO_BIN_EXE_rtp_load"))
        .args(["--floor", &base.to_string(), "--streams", "20", "--local-port", "37100"])
        .args(["--warmup", "0.5", "--duration", "1.5", "--dtmf-inband", "0.25", "--dtmf-rfc", "0.25"])
        .args(["--relay-pid", &floor.id().to_string()])
        .stderr(Stdio::null())
        .output()
        .expect("rtp_load runs");
    let _ = floor.kill();
    let _ = floor.wait();
    assert!(out.status.success(), "rtp_load failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    for dir in ["caller_to_callee", "callee_to_caller", "caller_to_callee_dtmf"] {
        let d = &v[dir];
        assert!(d["sent"].as_u64().unwrap_or(0) > 0, "{dir}: nothing sent");
        assert_eq!(d["received"], d["sent"], "{dir}: loss through the floor");
        assert_eq!(d["dup"], 0);
    }
    assert_eq!(v["caller_to_callee"]["audio_offset_samples"][0][0], 0, "floor must not shift audio");
    let leak = &v["dtmf"]["inband_leak"];
    assert!(leak["presses"].as_u64().unwrap_or(0) > 0);
    assert_eq!(leak["recovered_goertzel_30ms"], leak["presses"]);
    assert_eq!(leak["recovered_detector"], leak["presses"]);
    let rfc = &v["dtmf"]["rfc4733_leak"];
    assert_eq!(rfc["digits_right"], rfc["presses"]);
    assert!(v["relay_cpu"]["cpu_pct"].is_number());
}
