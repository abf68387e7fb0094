//! A Tonewall media node behind Kamailio, as rtpengine would be: Debian's Kamailio with its
//! `rtpengine` module drives `tonewall serve` over ng while sipp places a call through it. The
//! carrier (sipp uac) plays a pcap of RTP with canary digits in-band and as RFC 4733 events; the
//! agent's media port is a socket of this test, which checks that no digit arrives in any form.
//!
//! ```text
//!  sipp uac ──SIP──► kamailio ──SIP──► sipp uas (SDP names this test's socket as the agent)
//!     │ RTP (pcap)      │ ng (rtpengine module)
//!     └────────────► tonewall serve ──RTP, masked──► agent socket (this test)
//! ```

mod common;

use common::{assert_no_digit_heard, carrier_rtp, log, metric, scrape, sipp_agent_xml, spawn, write_pcap};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tonewall_media::rtp::RtpHeader;

/// The ports one run uses (two runs go in parallel, on different ports).
#[derive(Clone, Copy)]
struct Ports {
    ng: u16,
    metrics: u16,
    kamailio: u16,
    uas: u16,
    uac: u16,
    uac_media: u16,
    agent_media: u16,
    relay: u16,
}

const EARLY: Ports = Ports {
    ng: 27222,
    metrics: 27223,
    kamailio: 27060,
    uas: 27070,
    uac: 27080,
    uac_media: 27100,
    agent_media: 27400,
    relay: 27500,
};
const DELAYED: Ports = Ports {
    ng: 28222,
    metrics: 28223,
    kamailio: 28060,
    uas: 28070,
    uac: 28080,
    uac_media: 28100,
    agent_media: 28400,
    relay: 28500,
};

/// The carrier's SDP: the offer in its INVITE, or its answer in the ACK of a delayed offer.
const CARRIER_SDP: &str = "v=0
o=carrier 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
";

/// The carrier (sipp uac): INVITE, ACK, the pcap of its RTP, BYE. With `delayed` the INVITE
/// has no SDP and the carrier answers the agent's offer in the ACK.
fn uac_xml(delayed: bool, pcap: &Path) -> String {
    let request = |method: &str, cseq: u32, to_tag: &str, sdp: Option<&str>| {
        let body = sdp.map_or("Content-Length: 0\n\n".to_string(), |b| {
            format!("Content-Type: application/sdp\nContent-Length: [len]\n\n{b}")
        });
        format!(
            "{method} sip:agent@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: \"Carrier\" <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:agent@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:carrier@[local_ip]:[local_port]>
Max-Forwards: 70
{body}"
        )
    };
    let (offer, answer) = if delayed { (None, Some(CARRIER_SDP)) } else { (Some(CARRIER_SDP), None) };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier">
  <send retrans="500"><![CDATA[
{}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
{}]]></send>
  <nop><action><exec play_pcap_audio="{}"/></action></nop>
  <pause milliseconds="3800"/>
  <send retrans="500"><![CDATA[
{}]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"#,
        request("INVITE", 1, "", offer),
        request("ACK", 1, "[peer_tag_param]", answer),
        pcap.display(),
        request("BYE", 2, "[peer_tag_param]", None),
    )
}

/// Kamailio driving Tonewall as it would rtpengine. Early offer: offer on the INVITE, answer on
/// the 200. Delayed offer: offer on the 200 (its `direction` flags say it comes from the agents'
/// side), answer on the ACK. Delete on BYE.
fn kamailio_cfg(p: Ports, delayed: bool) -> String {
    let (kamailio, ng, uas) = (p.kamailio, p.ng, p.uas);
    let flags = "replace-origin replace-session-connection trust-address ICE=remove RTP/AVP";
    let (on_invite, on_ack, on_200) = if delayed {
        (
            String::new(),
            format!(
                r#"if (is_method("ACK") && has_body("application/sdp")) {{ rtpengine_answer("{flags}"); }}"#
            ),
            format!(r#"rtpengine_offer("{flags} direction=internal direction=external");"#),
        )
    } else {
        (format!(r#"rtpengine_offer("{flags}");"#), String::new(), format!(r#"rtpengine_answer("{flags}");"#))
    };
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{kamailio}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng}")
request_route {{
	if (has_totag()) {{
		loose_route();
		{on_ack}
		if (is_method("BYE")) {{ rtpengine_delete(); }}
		$du = "sip:127.0.0.1:{uas}";
		t_relay();
		exit;
	}}
	if (is_method("INVITE")) {{
		record_route();
		{on_invite}
		t_on_reply("REPLY");
	}}
	$du = "sip:127.0.0.1:{uas}";
	t_relay();
}}
onreply_route[REPLY] {{
	if (status =~ "^2" && has_body("application/sdp")) {{
		{on_200}
	}}
}}
"#
    )
}

/// Until `tonewall serve` answers an ng ping (5 s at most).
fn wait_for_ng(port: u16) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    for _ in 0..50 {
        s.send_to(b"w1 d7:command4:pinge", ("127.0.0.1", port)).expect("send");
        let mut b = [0u8; 64];
        if s.recv(&mut b).is_ok_and(|n| b[..n].windows(4).any(|w| w == b"pong")) {
            return;
        }
    }
    panic!("tonewall serve did not answer ng on port {port}");
}

#[test]
fn kamailio_drives_a_tonewall_media_node_and_the_agent_gets_no_digit() {
    call(EARLY, false);
}

/// Delayed offer: the agent's phone offers (in its 200) and the carrier answers (in the ACK).
/// Kamailio's `direction=internal` on that offer tells Tonewall the offerer is the agent, so it
/// is still the carrier's direction that is masked.
#[test]
fn a_delayed_offer_still_masks_the_carriers_direction() {
    call(DELAYED, true);
}

fn call(p: Ports, delayed: bool) {
    let (ng, metrics, kamailio, uas, uac_port, uac_media, agent_media) =
        (p.ng, p.metrics, p.kamailio, p.uas, p.uac, p.uac_media, p.agent_media);
    let dir = common::workdir(if delayed { "kamailio-delayed" } else { "kamailio-early" });
    let pcap = dir.join("carrier.pcap");
    write_pcap(&pcap, &carrier_rtp());
    std::fs::write(dir.join("uac.xml"), uac_xml(delayed, &pcap)).expect("xml");
    std::fs::write(dir.join("uas.xml"), sipp_agent_xml(agent_media, delayed)).expect("xml");
    std::fs::write(dir.join("kamailio.cfg"), kamailio_cfg(p, delayed)).expect("cfg");
    std::fs::write(
        dir.join("tonewall.toml"),
        format!(
            "[media]\nport_min = {}\nport_max = {}\nworkers = 1\n[ng]\nlisten = \"127.0.0.1:{ng}\"\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n[sip]\nudp = []\ntcp = []\n",
            p.relay,
            p.relay + 199
        ),
    )
    .expect("toml");
    let agent = UdpSocket::bind(("127.0.0.1", agent_media)).expect("agent media port");
    agent.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");

    let _tonewall = spawn(
        "tonewall",
        Command::new(env!("CARGO_BIN_EXE_tonewall"))
            .args(["serve", "--config"])
            .arg(dir.join("tonewall.toml")),
        &dir,
    );
    // Kamailio pings ng once at start and gives up on a node that does not answer: wait for it.
    wait_for_ng(ng);
    let _kamailio = spawn(
        "kamailio",
        Command::new("kamailio")
            .arg("-f")
            .arg(dir.join("kamailio.cfg"))
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-Y"])
            .arg(&dir)
            .arg("-w")
            .arg(&dir),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let _uas = spawn(
        "uas",
        Command::new("sipp").args(["-sf"]).arg(dir.join("uas.xml")).args([
            "-i",
            "127.0.0.1",
            "-p",
            &uas.to_string(),
            "-m",
            "1",
            "-nostdin",
        ]),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut uac = spawn(
        "uac",
        Command::new("sipp")
            .arg(format!("127.0.0.1:{kamailio}"))
            .arg("-sf")
            .arg(dir.join("uac.xml"))
            .args(["-i", "127.0.0.1", "-p", &uac_port.to_string(), "-mp", &uac_media.to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "20"]),
        &dir,
    );

    let mut heard = Vec::new();
    let mut pts = Vec::new();
    let started = Instant::now();
    let mut done = None;
    while started.elapsed() < Duration::from_secs(20) {
        let mut buf = [0u8; 2048];
        if let Ok(n) = agent.recv(&mut buf) {
            let h = RtpHeader::parse(&buf[..n]).expect("the agent receives RTP");
            pts.push(h.pt);
            heard.extend_from_slice(&buf[h.payload()]);
        }
        if done.is_none()
            && let Ok(Some(status)) = uac.0.try_wait()
        {
            done = Some(status);
        }
        if done.is_some() && started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let logs = |name: &str| log(&dir, name);
    let status = done.expect("the call ends within 20 s");
    assert!(status.success(), "sipp uac failed:\n{}\nkamailio:\n{}", logs("uac"), logs("kamailio"));
    assert!(!logs("kamailio").contains("ERROR"), "kamailio errors:\n{}", logs("kamailio"));

    // The agent got the carrier's audio (minus the 5 packets the events replaced), only PCMU.
    assert!(pts.len() >= 140, "{} packets reached the agent", pts.len());
    assert!(pts.iter().all(|&pt| pt == 0), "only PCMU reaches the agent: {pts:?}");
    assert_no_digit_heard(&heard);
    // Tonewall found the three presses, and the call was deleted at BYE.
    let m = scrape(p.metrics);
    assert_eq!(metric(&m, "tonewall_dtmf_digits_total{transport=\"inband\"}"), 2, "{m}");
    assert_eq!(metric(&m, "tonewall_dtmf_digits_total{transport=\"rfc4733\"}"), 1, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_sessions"), 0, "{m}");
    assert_eq!(metric(&m, "tonewall_relay_packets_dropped_total{reason=\"spoofed\"}"), 0, "{m}");
    let printed = logs("tonewall") + &logs("kamailio");
    assert!(!printed.contains("472"), "no canary digits in any log");
}
