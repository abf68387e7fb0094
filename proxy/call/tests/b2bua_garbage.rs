//! The B2BUA and its transaction layer on mutated calls: real call scripts (answered and hung
//! up, cancelled, re-INVITEd) with steps dropped, repeated, swapped, moved to another peer and
//! bytes flipped. The invariants are `tonewall_call::fuzzing::b2bua_script`'s (also the fuzz
//! target's): no panic, no call or media without its INVITE, and every transaction ends once
//! the peers fall silent.

use tonewall_call::fuzzing::b2bua_script;

const OFFER: &str = "v=0\r\no=c 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn invite(call: &str, body: &str) -> Vec<u8> {
    let ct = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
    format!(
        "INVITE sip:4000@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{call}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550100@192.0.2.10>;tag=c1\r\nTo: <sip:4000@203.0.113.1>\r\n\
         Call-ID: {call}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@192.0.2.10>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn cancel(call: &str) -> Vec<u8> {
    String::from_utf8(invite(call, ""))
        .unwrap_or_default()
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("1 INVITE", "1 CANCEL")
        .into_bytes()
}

/// (peer: 0 carrier, 1 agent, 2 stranger; ms before; bytes or an `@` step)
fn scripts() -> Vec<Vec<(u8, u16, Vec<u8>)>> {
    let at = |s: &str| s.as_bytes().to_vec();
    vec![
        // Answered, ACKed, hung up by the carrier.
        vec![
            (0, 0, invite("a1", OFFER)),
            (1, 5, at("@180")),
            (1, 5, at("@200")),
            (0, 5, at("@ACK")),
            (0, 900, at("@BYE")),
            (1, 5, at("@200")),
        ],
        // Cancelled after ringing.
        vec![
            (0, 0, invite("b1", OFFER)),
            (1, 5, at("@180")),
            (0, 50, cancel("b1")),
            (1, 5, at("@200")),
            (1, 5, at("@487")),
        ],
        // Late offer, the agent busy, then a second call answered and never hung up.
        vec![
            (0, 0, invite("c1", "")),
            (1, 5, at("@486")),
            (0, 20, invite("c2", OFFER)),
            (1, 5, at("@200")),
            (0, 5, at("@ACK")),
        ],
        // A stranger, an OPTIONS, and a carrier INVITE timing out.
        vec![
            (2, 0, invite("d1", OFFER)),
            (
                0,
                1,
                at(
                    "OPTIONS sip:203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo\r\nFrom: <sip:c@192.0.2.10>;tag=o\r\nTo: <sip:203.0.113.1>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                ),
            ),
            (0, 1, invite("d2", OFFER)),
        ],
    ]
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn the_scripts_themselves_hold() {
    for s in scripts() {
        b2bua_script(&s);
    }
}

#[test]
fn mutated_calls_keep_every_invariant() {
    let mut rng = Lcg(4475);
    let base = scripts();
    for round in 0..5000 {
        let mut s = base[round % base.len()].clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % s.len();
            match rng.next() % 7 {
                0 if s.len() > 1 => {
                    s.remove(i);
                }
                1 => {
                    let step = s[i].clone();
                    s.insert(i, step);
                }
                2 if i + 1 < s.len() => s.swap(i, i + 1),
                3 => s[i].0 = (rng.next() % 3) as u8,
                4 => s[i].1 = (rng.next() % 40_000) as u16,
                5 if !s[i].2.is_empty() => {
                    let b = (rng.next() as usize) % s[i].2.len();
                    s[i].2[b] ^= 1 << (rng.next() % 8);
                }
                _ if !s[i].2.is_empty() => {
                    let cut = (rng.next() as usize) % s[i].2.len();
                    s[i].2.truncate(cut);
                }
                _ => {}
            }
        }
        b2bua_script(&s);
    }
}
