//! SRTP interoperability with libsrtp 2, the reference implementation: every suite, RTP and
//! RTCP, both directions (we protect → libsrtp unprotects, libsrtp protects → we unprotect),
//! byte-for-byte equality of protected SRTP, sequence-number wrap with reordering, replays,
//! tampering, and MKI.
//!
//! libsrtp runs in a helper process, `tests/interop/srtp_peer.c`, compiled here with the
//! system C compiler, so tonewall-media itself keeps `unsafe` out. Needs a C compiler and
//! libsrtp 2 headers (Debian: `apt-get install gcc pkg-config libsrtp2-dev`). Missing them is a
//! test failure, not a skip: a silent skip would let the two implementations drift apart.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use tonewall_media::srtp::{Direction, MasterKey, Mki, SrtpContext, SrtpError, Suite};

/// libsrtp's `srtp_err_status_t` values the tests expect.
const AUTH_FAIL: i32 = 7;
const REPLAY_FAIL: i32 = 9;

/// Builds the helper once per test binary.
fn peer_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/srtp_peer.c");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("srtp_peer");
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "libsrtp2"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["-lsrtp2".to_owned()]);
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
        let result = Command::new(&cc).arg("-O1").arg(&src).arg("-o").arg(&out).args(&flags).output();
        match result {
            Ok(o) if o.status.success() => out,
            Ok(o) => panic!(
                "compiling the libsrtp peer failed; install a C compiler and libsrtp 2 \
                 (Debian: apt-get install gcc pkg-config libsrtp2-dev):\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("cannot run the C compiler `{cc}` ({e}); Debian: apt-get install gcc"),
        }
    })
}

/// One libsrtp session in a child process.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(protect: bool, key: &MasterKey, mki: Option<&[u8]>) -> Peer {
        let mut cmd = Command::new(peer_binary());
        cmd.arg(if protect { "protect" } else { "unprotect" })
            .arg(key.suite().sdes_name())
            .arg(hex(key.expose_key_salt()));
        if let Some(m) = mki {
            cmd.arg(hex(m));
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn the libsrtp peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Peer { child, stdin, stdout }
    }

    fn request(&mut self, kind: &str, pkt: &[u8]) -> Result<Vec<u8>, i32> {
        writeln!(self.stdin, "{kind} {}", hex(pkt)).expect("write to peer");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from peer");
        let line = line.trim_end();
        if let Some(h) = line.strip_prefix("ok ") {
            Ok(unhex(h))
        } else if let Some(code) = line.strip_prefix("err ") {
            Err(code.parse().expect("status code"))
        } else {
            panic!("libsrtp peer said {line:?} (did it fail to start? see stderr)")
        }
    }

    fn rtp(&mut self, pkt: &[u8]) -> Result<Vec<u8>, i32> {
        self.request("rtp", pkt)
    }

    fn rtcp(&mut self, pkt: &[u8]) -> Result<Vec<u8>, i32> {
        self.request("rtcp", pkt)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A fixed, distinct key per suite and seed (xorshift; test keys only).
fn key(suite: Suite, seed: u64) -> MasterKey {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = suite.master_key_len() + suite.master_salt_len();
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    MasterKey::from_key_salt(suite, &bytes).expect("key length")
}

/// RTP packets from `seq0` on, payloads of varying length (0 to 172 octets, the 20 ms G.711
/// packet among them), every fourth with a CSRC and a header extension.
fn rtp_stream(seq0: u16, count: usize, ssrc: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let seq = seq0.wrapping_add(i as u16);
            let fancy = i % 4 == 3;
            let mut p = vec![if fancy { 0x91 } else { 0x80 }, if i == 0 { 0x80 } else { 0x00 }];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&(i as u32 * 160).to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            if fancy {
                p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
                p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00]);
            }
            let len = [160, 0, 1, 15, 16, 17, 172, 33][i % 8];
            p.extend((0..len).map(|k| (k as u8).wrapping_mul(31).wrapping_add(i as u8)));
            p
        })
        .collect()
}

/// Compound-looking RTCP: an SR with one report block, then an SDES CNAME chunk.
fn rtcp_packet(ssrc: u32, i: u32) -> Vec<u8> {
    let mut p = vec![0x81, 200, 0x00, 0x0C];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x11; 20]);
    p.extend_from_slice(&(i * 7).to_be_bytes());
    p.extend_from_slice(&[0x22; 20]);
    p.extend_from_slice(&[0x81, 202, 0x00, 0x03]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[1, 3, b'a', b'b', b'c', 0, 0, 0]);
    p
}

fn protect_rtp(ctx: &mut SrtpContext, plain: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.rtp_overhead(), 0);
    let n = ctx.protect_rtp(&mut buf, plain.len())?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect_rtp(ctx: &mut SrtpContext, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtp.to_vec();
    let n = ctx.unprotect_rtp(&mut buf, srtp.len())?;
    buf.truncate(n);
    Ok(buf)
}

fn protect_rtcp(ctx: &mut SrtpContext, plain: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.rtcp_overhead(), 0);
    let n = ctx.protect_rtcp(&mut buf, plain.len())?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect_rtcp(ctx: &mut SrtpContext, srtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = srtcp.to_vec();
    let n = ctx.unprotect_rtcp(&mut buf, srtcp.len())?;
    buf.truncate(n);
    Ok(buf)
}

/// We protect, libsrtp unprotects; and our SRTP equals libsrtp's for the same input, octet for
/// octet (the packets cross the sequence wrap, so the ROC enters the IV and the tag).
#[test]
fn we_protect_libsrtp_unprotects() {
    for (i, suite) in Suite::ALL.into_iter().enumerate() {
        let k = key(suite, 1 + i as u64);
        let mut ours = SrtpContext::new(Direction::Outbound, &k);
        let mut their_tx = Peer::spawn(true, &k, None);
        let mut their_rx = Peer::spawn(false, &k, None);
        for plain in rtp_stream(65_440, 200, 0x5EED_0000 + i as u32) {
            let srtp = protect_rtp(&mut ours, &plain).expect("we protect");
            assert_eq!(their_tx.rtp(&plain), Ok(srtp.clone()), "{suite:?}: libsrtp's SRTP differs from ours");
            assert_eq!(their_rx.rtp(&srtp), Ok(plain), "{suite:?}: libsrtp does not read our SRTP");
        }
        assert_eq!(ours.roc(0x5EED_0000 + i as u32), Some(1));
        for j in 0..20 {
            let plain = rtcp_packet(0x5EED_0000 + i as u32, j);
            let srtcp = protect_rtcp(&mut ours, &plain).expect("we protect RTCP");
            assert_eq!(their_rx.rtcp(&srtcp), Ok(plain), "{suite:?}: libsrtp does not read our SRTCP");
        }
    }
}

/// libsrtp protects, we unprotect, RTP and RTCP.
#[test]
fn libsrtp_protects_we_unprotect() {
    for (i, suite) in Suite::ALL.into_iter().enumerate() {
        let k = key(suite, 100 + i as u64);
        let mut ours = SrtpContext::new(Direction::Inbound, &k);
        let mut theirs = Peer::spawn(true, &k, None);
        for plain in rtp_stream(65_500, 150, 0xABCD_0000 + i as u32) {
            let srtp = theirs.rtp(&plain).expect("libsrtp protects");
            assert_eq!(unprotect_rtp(&mut ours, &srtp), Ok(plain), "{suite:?}");
        }
        assert_eq!(ours.roc(0xABCD_0000 + i as u32), Some(1));
        for j in 0..20 {
            let plain = rtcp_packet(0xABCD_0000 + i as u32, j);
            let srtcp = theirs.rtcp(&plain).expect("libsrtp protects RTCP");
            assert_eq!(unprotect_rtcp(&mut ours, &srtcp), Ok(plain), "{suite:?} RTCP");
        }
    }
}

/// Packets around the sequence wrap arrive out of order: 65 534 and 65 535 after 0 and 1.
/// Both receivers must pick the right ROC for the late ones, and refuse them when replayed.
#[test]
fn reordering_across_the_wrap() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::AeadAes128Gcm] {
        let k = key(suite, 7);
        let packets = rtp_stream(65_530, 12, 77);
        let order = [0, 1, 2, 3, 6, 7, 4, 5, 8, 9, 10, 11];

        // libsrtp → us.
        let mut theirs = Peer::spawn(true, &k, None);
        let srtp: Vec<Vec<u8>> = packets.iter().map(|p| theirs.rtp(p).expect("protect")).collect();
        let mut ours = SrtpContext::new(Direction::Inbound, &k);
        for &i in &order {
            assert_eq!(unprotect_rtp(&mut ours, &srtp[i]), Ok(packets[i].clone()), "{suite:?} #{i}");
        }
        assert_eq!(
            unprotect_rtp(&mut ours, &srtp[5]),
            Err(SrtpError::Replayed { ssrc: 77, index: 65_535 }),
            "{suite:?}"
        );

        // Us → libsrtp.
        let mut tx = SrtpContext::new(Direction::Outbound, &k);
        let srtp: Vec<Vec<u8>> = packets.iter().map(|p| protect_rtp(&mut tx, p).expect("protect")).collect();
        let mut their_rx = Peer::spawn(false, &k, None);
        for &i in &order {
            assert_eq!(their_rx.rtp(&srtp[i]), Ok(packets[i].clone()), "{suite:?} #{i}");
        }
        assert_eq!(their_rx.rtp(&srtp[5]), Err(REPLAY_FAIL));
    }
}

/// Replays and single-bit tampering, RTP and RTCP, caught on both sides; a tampered or
/// replayed packet leaves the genuine stream working.
#[test]
fn replay_and_tampering_detected_both_ways() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::AeadAes256Gcm] {
        let k = key(suite, 21);
        let packets = rtp_stream(1000, 4, 9);
        let rtcp = [rtcp_packet(9, 0), rtcp_packet(9, 1)];

        // libsrtp protects; we catch replays and forgeries.
        let mut theirs = Peer::spawn(true, &k, None);
        let mut ours = SrtpContext::new(Direction::Inbound, &k);
        let s0 = theirs.rtp(&packets[0]).expect("protect");
        assert_eq!(unprotect_rtp(&mut ours, &s0), Ok(packets[0].clone()));
        assert_eq!(unprotect_rtp(&mut ours, &s0), Err(SrtpError::Replayed { ssrc: 9, index: 1000 }));
        // packets[3]: CSRC, extension and 15 octets of payload; flip a bit in the fixed
        // header, the CSRC, the extension, the payload and the tag.
        let s1 = theirs.rtp(&packets[3]).expect("protect");
        for at in [1, 6, 14, 22, 30, s1.len() - 1] {
            let mut bad = s1.clone();
            bad[at] ^= 0x04;
            assert_eq!(
                unprotect_rtp(&mut ours, &bad),
                Err(SrtpError::AuthenticationFailed { ssrc: 9 }),
                "{at}"
            );
        }
        assert_eq!(unprotect_rtp(&mut ours, &s1), Ok(packets[3].clone()));
        let c0 = theirs.rtcp(&rtcp[0]).expect("protect RTCP");
        let mut bad = c0.clone();
        bad[9] ^= 0x01;
        assert_eq!(unprotect_rtcp(&mut ours, &bad), Err(SrtpError::AuthenticationFailed { ssrc: 9 }));
        assert_eq!(unprotect_rtcp(&mut ours, &c0), Ok(rtcp[0].clone()));
        assert!(matches!(unprotect_rtcp(&mut ours, &c0), Err(SrtpError::Replayed { ssrc: 9, .. })));

        // We protect; libsrtp catches replays and forgeries.
        let mut tx = SrtpContext::new(Direction::Outbound, &k);
        let mut their_rx = Peer::spawn(false, &k, None);
        let s0 = protect_rtp(&mut tx, &packets[0]).expect("protect");
        assert_eq!(their_rx.rtp(&s0), Ok(packets[0].clone()));
        assert_eq!(their_rx.rtp(&s0), Err(REPLAY_FAIL));
        let s1 = protect_rtp(&mut tx, &packets[1]).expect("protect");
        let mut bad = s1.clone();
        bad[s1.len() - 1] ^= 0x80;
        assert_eq!(their_rx.rtp(&bad), Err(AUTH_FAIL));
        assert_eq!(their_rx.rtp(&s1), Ok(packets[1].clone()));
        let c0 = protect_rtcp(&mut tx, &rtcp[0]).expect("protect RTCP");
        let mut bad = c0.clone();
        bad[9] ^= 0x01;
        assert_eq!(their_rx.rtcp(&bad), Err(AUTH_FAIL));
        assert_eq!(their_rx.rtcp(&c0), Ok(rtcp[0].clone()));
        assert_eq!(their_rx.rtcp(&c0), Err(REPLAY_FAIL));
    }
}

/// A 4-octet MKI in both directions, counter mode and GCM (whose MKI follows the tag).
#[test]
fn mki_interop() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
        let k = key(suite, 33);
        let mki = Mki::new(0x0A0B_0C0D, 4).expect("mki");
        let mki_octets = [0x0A, 0x0B, 0x0C, 0x0D];
        let mut tx = SrtpContext::new(Direction::Outbound, &k).with_mki(mki);
        let mut rx = SrtpContext::new(Direction::Inbound, &k).with_mki(mki);
        let mut their_tx = Peer::spawn(true, &k, Some(&mki_octets));
        let mut their_rx = Peer::spawn(false, &k, Some(&mki_octets));
        for plain in rtp_stream(10, 10, 5) {
            let srtp = protect_rtp(&mut tx, &plain).expect("protect");
            assert_eq!(their_tx.rtp(&plain), Ok(srtp.clone()), "{suite:?}");
            assert_eq!(their_rx.rtp(&srtp), Ok(plain.clone()), "{suite:?}");
        }
        for plain in rtp_stream(100, 10, 6) {
            let srtp = their_tx.rtp(&plain).expect("protect");
            assert_eq!(unprotect_rtp(&mut rx, &srtp), Ok(plain), "{suite:?}");
        }
        for j in 0..3 {
            let plain = rtcp_packet(5, j);
            let ours = protect_rtcp(&mut tx, &plain).expect("protect");
            assert_eq!(their_rx.rtcp(&ours), Ok(plain.clone()), "{suite:?} RTCP");
            let theirs = their_tx.rtcp(&plain).expect("protect");
            assert_eq!(unprotect_rtcp(&mut rx, &theirs), Ok(plain), "{suite:?} RTCP");
        }
    }
}
