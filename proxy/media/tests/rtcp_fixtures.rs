//! RTCP as real stacks send it, checked against Wireshark.
//!
//! `tests/data/rtcp/*.hex` hold compound and reduced-size packets laid out from RFC 3550, 4585,
//! 3611 and 5506, annotated field by field. `rtcp.pcap` carries them one per datagram, and
//! `tshark.txt` is what tshark 4.0 decodes from it (`check-tshark.sh` regenerates both and
//! diffs). Here our parser's decode is rendered in tshark's field layout and compared line for
//! line, and the SR/RR fixtures must come back byte for byte out of our writer.

mod common;

use common::{rtcp_data_dir as data_dir, rtcp_fixtures as fixtures};
use std::collections::BTreeMap;
use tonewall_media::rtcp::{self, Error, Packet, PacketType, Report, Rules, XrBlock};

fn rules(name: &str) -> Rules {
    if name.contains("-rsize") { Rules::ReducedSize } else { Rules::Compound }
}

/// One IPv4/UDP datagram per fixture, to port 5005, in a pcap with LINKTYPE_RAW.
fn pcap(fixtures: &[(String, Vec<u8>)]) -> Vec<u8> {
    // Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen, LINKTYPE_RAW (IPv4).
    let mut out = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 101] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, (_, data)) in fixtures.iter().enumerate() {
        let udp_len = 8 + data.len();
        let ip_len = 20 + udp_len;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&(i as u16 + 1).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let sum: u32 = ip.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
        let sum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        for v in [5005u16, 5005, udp_len as u16, 0] {
            ip.extend_from_slice(&v.to_be_bytes());
        }
        ip.extend_from_slice(data);
        for v in [1_700_000_000 + i as u32, 0, ip.len() as u32, ip.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&ip);
    }
    out
}

#[test]
fn pcap_holds_the_fixtures() {
    let built = pcap(&fixtures());
    assert_eq!(fixtures().len(), 10);
    let path = data_dir().join("rtcp.pcap");
    if std::env::var_os("TONEWALL_BLESS").is_some() {
        std::fs::write(&path, &built).expect("write rtcp.pcap");
    }
    let committed = std::fs::read(&path).expect("rtcp.pcap (run check-tshark.sh)");
    assert!(committed == built, "rtcp.pcap is not built from the current fixtures: run check-tshark.sh");
}

/// Field values per tshark field name, in dissection order.
#[derive(Default)]
struct Columns(BTreeMap<&'static str, Vec<String>>);

impl Columns {
    fn push(&mut self, field: &'static str, value: impl ToString) {
        self.0.entry(field).or_default().push(value.to_string());
    }

    fn ssrc(&mut self, field: &'static str, ssrc: u32) {
        self.push(field, format!("{ssrc:#010x}"));
    }

    fn line(&self, fields: &[String]) -> String {
        let cols: Vec<String> =
            fields.iter().map(|f| self.0.get(f.as_str()).map(|v| v.join(",")).unwrap_or_default()).collect();
        cols.join("|")
    }
}

/// Our decode of one datagram, in tshark's layout: which field each value lands in, and in
/// what order, follows Wireshark's RTCP dissector (SDES chunk, BYE, APP and XR source SSRCs are
/// all `rtcp.ssrc.identifier`; a BYE reason is an SDES-style length and text; the VoIP metrics
/// loss rate is `rtcp.ssrc.fraction`).
fn render(frame: usize, c: &rtcp::Compound<'_>) -> Columns {
    let mut col = Columns::default();
    col.push("frame.number", frame);
    col.push("rtcp.length_check", 1);
    for p in c.packets() {
        let h = p.header();
        col.push("rtcp.pt", h.packet_type.0);
        col.push("rtcp.length", h.length);
        col.push("rtcp.padding", u8::from(h.padding));
        if h.padding {
            col.push("rtcp.padding.count", p.bytes().last().copied().unwrap_or(0));
        }
        match p {
            Packet::Sr(sr) => {
                col.push("rtcp.rc", h.count);
                col.ssrc("rtcp.senderssrc", sr.ssrc());
                let info = sr.sender_info();
                col.push("rtcp.timestamp.ntp.msw", info.ntp.seconds());
                col.push("rtcp.timestamp.ntp.lsw", info.ntp.fraction());
                col.push("rtcp.timestamp.rtp", info.rtp_timestamp);
                col.push("rtcp.sender.packetcount", info.packet_count);
                col.push("rtcp.sender.octetcount", info.octet_count);
                blocks(&mut col, sr.report_blocks());
            }
            Packet::Rr(rr) => {
                col.push("rtcp.rc", h.count);
                col.ssrc("rtcp.senderssrc", rr.ssrc());
                blocks(&mut col, rr.report_blocks());
            }
            Packet::Sdes(sdes) => {
                col.push("rtcp.sc", h.count);
                for chunk in sdes.chunks() {
                    col.ssrc("rtcp.ssrc.identifier", chunk.ssrc);
                    for item in chunk.items() {
                        col.push("rtcp.sdes.type", item.kind);
                        col.push("rtcp.sdes.length", item.value.len());
                        col.push("rtcp.sdes.text", String::from_utf8_lossy(item.value));
                    }
                    col.push("rtcp.sdes.type", 0);
                }
            }
            Packet::Bye(bye) => {
                col.push("rtcp.sc", h.count);
                for s in bye.sources() {
                    col.ssrc("rtcp.ssrc.identifier", s);
                }
                if let Some(reason) = bye.reason() {
                    col.push("rtcp.sdes.length", reason.len());
                    col.push("rtcp.sdes.text", String::from_utf8_lossy(reason));
                }
            }
            Packet::App(app) => {
                col.push("rtcp.app.subtype", app.subtype());
                col.ssrc("rtcp.ssrc.identifier", app.ssrc());
                col.push("rtcp.app.name", String::from_utf8_lossy(&app.name()));
            }
            Packet::RtpFb(fb) | Packet::PsFb(fb) => {
                let fmt_field =
                    if h.packet_type == PacketType::RTPFB { "rtcp.rtpfb.fmt" } else { "rtcp.psfb.fmt" };
                col.push(fmt_field, fb.fmt());
                col.ssrc("rtcp.senderssrc", fb.sender_ssrc());
                col.ssrc("rtcp.mediassrc", fb.media_ssrc());
            }
            Packet::Xr(xr) => {
                col.ssrc("rtcp.senderssrc", xr.ssrc());
                for block in xr.blocks() {
                    col.push("rtcp.xr.bt", block.block_type);
                    col.push("rtcp.xr.bl", block.body.len() / 4);
                    let be32 = |at: usize| {
                        block.body.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    };
                    match block.block_type {
                        XrBlock::VOIP_METRICS => {
                            col.ssrc("rtcp.ssrc.identifier", be32(0));
                            col.push("rtcp.ssrc.fraction", block.body.get(4).copied().unwrap_or(0));
                        }
                        XrBlock::DLRR => {
                            for sub in (0..block.body.len() / 12).map(|i| 12 * i) {
                                col.ssrc("rtcp.ssrc.identifier", be32(sub));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => panic!("frame {frame}: a packet type the fixtures do not use"),
        }
    }
    col
}

fn blocks(col: &mut Columns, blocks: rtcp::ReportBlocks<'_>) {
    for b in blocks {
        col.ssrc("rtcp.ssrc.identifier", b.ssrc);
        col.push("rtcp.ssrc.fraction", b.fraction_lost);
        col.push("rtcp.ssrc.cum_nr", b.cumulative_lost);
        col.push("rtcp.ssrc.ext_high", b.extended_highest_seq);
        col.push("rtcp.ssrc.jitter", b.jitter);
        col.push("rtcp.ssrc.lsr", b.lsr);
        col.push("rtcp.ssrc.dlsr", b.dlsr);
    }
}

fn tshark_fields() -> Vec<String> {
    let text = std::fs::read_to_string(data_dir().join("tshark-fields.txt")).expect("field list");
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(str::to_owned).collect()
}

fn our_decode() -> Vec<String> {
    let fields = tshark_fields();
    fixtures()
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let c = rtcp::parse(bytes, rules(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            render(i + 1, &c).line(&fields)
        })
        .collect()
}

#[test]
fn our_decode_agrees_with_tshark() {
    let committed = std::fs::read_to_string(data_dir().join("tshark.txt")).expect("tshark.txt");
    let theirs: Vec<&str> = committed.lines().collect();
    let ours = our_decode();
    assert_eq!(ours.len(), theirs.len(), "one line per fixture");
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(ours, theirs, "\nours:   {ours}\ntshark: {theirs}");
    }
}

/// With `TONEWALL_TSHARK=1` (and tshark installed) the comparison also runs against a live
/// tshark, not only against its committed output.
#[test]
fn our_decode_agrees_with_a_live_tshark() {
    if std::env::var_os("TONEWALL_TSHARK").is_none() {
        return;
    }
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-r").arg(data_dir().join("rtcp.pcap")).args(["-d", "udp.port==5005,rtcp", "-T", "fields"]);
    cmd.args(["-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for f in tshark_fields() {
        cmd.args(["-e", &f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let live = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(our_decode(), live.lines().collect::<Vec<_>>());
}

#[test]
fn reduced_size_fixtures_are_not_full_compounds() {
    for (name, bytes) in fixtures() {
        let strict = rtcp::parse(&bytes, Rules::Compound);
        if rules(&name) == Rules::ReducedSize {
            assert_eq!(strict, Err(Error::NotReportFirst { packet_type: PacketType::PSFB }), "{name}");
        } else {
            assert!(strict.is_ok(), "{name}");
        }
        assert!(rtcp::parse(&bytes, Rules::ReducedSize).is_ok(), "{name}");
    }
}

/// The SR/RR-plus-CNAME fixtures are exactly what our writer produces from their fields.
#[test]
fn writer_reproduces_report_fixtures() {
    let mut written = 0;
    for (name, bytes) in fixtures() {
        let c = rtcp::parse(&bytes, rules(&name)).expect("valid");
        let packets: Vec<Packet<'_>> = c.packets().collect();
        let (ssrc, sender_info, blocks) = match packets.first() {
            Some(Packet::Sr(sr)) => {
                (sr.ssrc(), Some(sr.sender_info()), sr.report_blocks().collect::<Vec<_>>())
            }
            Some(Packet::Rr(rr)) => (rr.ssrc(), None, rr.report_blocks().collect()),
            _ => continue,
        };
        let report = Report { ssrc, sender_info, blocks: &blocks, cname: c.cname() };
        let mut out = vec![0u8; report.len()];
        report.write(&mut out).expect("fits");
        // Fixtures of exactly that shape (report, SDES with one CNAME) must match in full;
        // the others must match up to where they add more.
        let shape = match packets.as_slice() {
            [_, sdes @ Packet::Sdes(s)] => {
                !sdes.header().padding
                    && s.chunks().count() == 1
                    && s.chunks().all(|ch| ch.ssrc == ssrc && ch.items().count() == 1 && ch.cname().is_some())
            }
            _ => false,
        };
        if shape {
            assert_eq!(out, bytes, "{name}");
            written += 1;
        } else {
            let report_len = packets[0].bytes().len();
            assert_eq!(out[..report_len], bytes[..report_len], "{name}");
        }
    }
    assert_eq!(written, 2, "01 and 03 are a plain report and CNAME");
}

/// The edit a relay makes when it drops telephone-events toward an agent: the SR it forwards
/// counts what the agent receives, and the RR the agent sends back speaks of the original
/// numbering again. Only the edited fields change.
#[test]
fn relay_edits_touch_only_their_fields() {
    let all = fixtures();
    let sr = &all[0].1;
    let mut edited = sr.clone();
    {
        let mut c = rtcp::parse_mut(&mut edited, Rules::Compound).expect("valid");
        let mut first = c.packets().next().expect("SR");
        let mut s = first.sender_report().expect("an SR");
        let info = s.sender_info();
        s.set_packet_count(info.packet_count - 12);
        s.set_octet_count(info.octet_count - 12 * 4);
        let mut block = s.report_blocks().next().expect("a block");
        let b = block.get();
        block.set_extended_highest_seq(b.extended_highest_seq + 12);
        block.set_cumulative_lost(b.cumulative_lost - 1);
    }
    let changed: Vec<usize> = (0..sr.len()).filter(|&i| sr[i] != edited[i]).collect();
    // Packet count at 20..24, octet count 24..28, cumulative lost 33..36, ext seq 36..40.
    assert!(changed.iter().all(|i| (20..28).contains(i) || (33..40).contains(i)), "{changed:?}");
    let c = rtcp::parse(&edited, Rules::Compound).expect("still valid");
    let Some(Packet::Sr(s)) = c.packets().next() else { panic!("SR") };
    assert_eq!((s.sender_info().packet_count, s.sender_info().octet_count), (238, 39_952));
    let b = s.report_blocks().next().expect("a block");
    assert_eq!((b.extended_highest_seq, b.cumulative_lost, b.fraction_lost), (0x1_0036, 2, 5));
}
