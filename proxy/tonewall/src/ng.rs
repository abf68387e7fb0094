//! The ng control listener: rtpengine's protocol in front of the anchor and the relay, so a
//! Kamailio or OpenSIPS that drives rtpengine drives Tonewall media nodes unchanged.

use crate::config::Config;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tonewall_dsp::Digit;
use tonewall_io::{Relay, SessionId};
use tonewall_media::anchor::{Anchor, AnchorError, CallReport, Cidr, LegAddrs, MediaPlane, OfferOptions};
use tonewall_media::ng::TransportProtocol;
use tonewall_media::ng::{
    CallStats, ControlError, Counters, DeleteRequest, DtmfRequest, MediaControl, MediaStats, NgConfig,
    NgServer, OfferRequest, QueryRequest, SdpOut, StreamKind, StreamQuality, StreamStats, TagStats,
};
use tonewall_media::recording::{RecordingKey, RecordingParams, Writer};
use tonewall_media::relay::{DropReason, LegId, Remote, SessionReport};
use tonewall_media::srtp::SrtpContext;

/// The relay as the anchor's media plane.
pub struct RelayPlane<'a>(pub &'a Relay);

impl MediaPlane for RelayPlane<'_> {
    fn create(&mut self, _now: Duration, sides: [usize; 2]) -> std::io::Result<(u64, [LegAddrs; 2])> {
        let (id, ports) = self.0.create_facing(self.0.session_config().clone(), sides)?;
        let legs = ports.map(|p| LegAddrs { rtp: p.rtp, rtcp: p.rtcp });
        Ok((id.0, legs))
    }
    fn signal(&mut self, id: u64, leg: LegId, remote: Remote) {
        self.0.signal(SessionId(id), leg, remote);
    }
    fn set_masking(&mut self, id: u64, from: LegId, on: bool) {
        self.0.set_masking(SessionId(id), from, on);
    }
    fn remove(&mut self, id: u64) -> Option<SessionReport> {
        self.0.remove(SessionId(id))
    }
    fn report(&mut self, id: u64) -> Option<SessionReport> {
        self.0.report(SessionId(id))
    }
    fn update_srtp(
        &mut self,
        id: u64,
        leg: LegId,
        inbound: Option<Option<SrtpContext>>,
        outbound: Option<Option<SrtpContext>>,
    ) {
        self.0.update_srtp(SessionId(id), leg, inbound, outbound);
    }
    fn sip_info(&mut self, id: u64, from: LegId, digit: Digit, duration_ms: Option<u32>) {
        self.0.sip_info(SessionId(id), from, digit, duration_ms);
    }
}

/// ng commands carried out on the anchor.
pub struct NgControl<'a> {
    anchor: Anchor,
    plane: RelayPlane<'a>,
    /// The recording key, when recording is configured; and whether every call is recorded.
    recording: Option<(RecordingKey, bool)>,
    /// Sessions being recorded.
    recorded: std::collections::HashSet<u64>,
    /// Quality of each stream at call end, for the NOC.
    call_end: Option<CallEndMetrics>,
    config: Config,
}

/// Per-stream quality observed when a call ends (labels: the leg's side, nothing per call).
#[derive(Clone)]
pub struct CallEndMetrics {
    /// Estimated MOS of each stream.
    pub mos: prometheus::HistogramVec,
    /// Fraction of packets lost.
    pub loss: prometheus::HistogramVec,
    /// Interarrival jitter, seconds.
    pub jitter: prometheus::HistogramVec,
}

impl CallEndMetrics {
    /// The histograms, registered in `registry`.
    pub fn register(registry: &prometheus::Registry) -> prometheus::Result<Self> {
        use prometheus::{HistogramOpts, HistogramVec};
        let h = |name: &str, help: &str, buckets: Vec<f64>| -> prometheus::Result<HistogramVec> {
            let v = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["side"])?;
            registry.register(Box::new(v.clone()))?;
            Ok(v)
        };
        Ok(CallEndMetrics {
            mos: h(
                "tonewall_stream_mos",
                "Estimated MOS (ITU-T G.107) of each stream received, at call end, by side it came from.",
                vec![1.0, 2.0, 2.6, 3.1, 3.6, 4.0, 4.2, 4.3, 4.4, 4.5],
            )?,
            loss: h(
                "tonewall_stream_loss_ratio",
                "Fraction of packets lost on each stream received, at call end.",
                vec![0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
            )?,
            jitter: h(
                "tonewall_stream_jitter_seconds",
                "Interarrival jitter (RFC 3550) of each stream received, at call end.",
                vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16],
            )?,
        })
    }

    pub(crate) fn observe(&self, report: &CallReport) {
        for (_, r) in &report.streams {
            for (side, q) in ["carrier", "agent"].into_iter().zip(&r.quality) {
                if q.packets == 0 {
                    continue;
                }
                self.mos.with_label_values(&[side]).observe(q.mos);
                self.loss.with_label_values(&[side]).observe(q.loss_fraction);
                self.jitter.with_label_values(&[side]).observe(q.jitter_ms / 1000.0);
            }
        }
    }
}

impl<'a> NgControl<'a> {
    /// Control over `relay`, advertising the configured addresses, recording with `key`.
    pub fn new(
        relay: &'a Relay,
        config: &Config,
        key: Option<RecordingKey>,
        call_end: Option<CallEndMetrics>,
    ) -> Self {
        let anchor = Anchor::new(config.anchor());
        let recording = key.map(|k| (k, config.recording.all_calls));
        NgControl {
            anchor,
            plane: RelayPlane(relay),
            recording,
            recorded: Default::default(),
            call_end,
            config: config.clone(),
        }
    }

    /// Starts recording the call's sessions if the config or the request asks for it.
    fn maybe_record(&mut self, req: &OfferRequest<'_>) {
        let Some((key, all)) = &self.recording else { return };
        if !(*all || req.record_call == Some(true)) {
            return;
        }
        for id in self.anchor.sessions(req.call_id.0) {
            if !self.recorded.insert(id) {
                continue;
            }
            let mut rng = rand::rng();
            let mut params = RecordingParams {
                call_start: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default(),
                salt: [0; 32],
                nonce_prefix: [0; 8],
            };
            rand::RngCore::fill_bytes(&mut rng, &mut params.salt);
            rand::RngCore::fill_bytes(&mut rng, &mut params.nonce_prefix);
            let relay = self.plane.0;
            relay.record(SessionId(id), Writer::new(key, &params, relay.now()));
        }
    }
}

fn options(req: &OfferRequest<'_>, config: &Config) -> OfferOptions {
    let sip_source = req.unknown.flags.iter().any(|f| f.eq_ignore_ascii_case(b"SIP-source-address"));
    let srtp_out = match req.transport_protocol {
        Some(TransportProtocol::RtpSavp | TransportProtocol::RtpSavpf) => Some(true),
        Some(TransportProtocol::RtpAvp | TransportProtocol::RtpAvpf) => Some(false),
        _ => None,
    };
    // `direction=<from> direction=<to>`: the interface the offer came in by names its side.
    let offerer_side = req.direction.first().and_then(|d| {
        if d.eq_ignore_ascii_case(&config.media.agent_interface) {
            Some(1)
        } else if d.eq_ignore_ascii_case(&config.media.carrier_interface) {
            Some(0)
        } else {
            None
        }
    });
    OfferOptions { source_address: if sip_source { req.received_from } else { None }, srtp_out, offerer_side }
}

fn control_error(e: AnchorError) -> ControlError {
    match e {
        AnchorError::UnknownCall => ControlError::UnknownCall,
        AnchorError::UnknownParty => ControlError::UnknownParty,
        AnchorError::BadSdp(_) => ControlError::BadSdp,
        AnchorError::Unacceptable(reason) => ControlError::Rejected { reason },
        AnchorError::OutOfPorts => ControlError::OutOfPorts,
        _ => ControlError::Internal,
    }
}

impl MediaControl for NgControl<'_> {
    fn offer(&mut self, now: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError> {
        let sdp = self
            .anchor
            .offer(
                now,
                &mut self.plane,
                &mut rand::rng(),
                req.call_id.0,
                req.from_tag.0,
                req.sdp.0,
                options(req, &self.config),
            )
            .map_err(control_error)?;
        self.maybe_record(req);
        Ok(SdpOut { sdp, warning: None })
    }

    fn answer(&mut self, now: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError> {
        let to_tag = req.to_tag.ok_or(ControlError::UnknownParty)?;
        let sdp = self
            .anchor
            .answer(now, &mut self.plane, req.call_id.0, to_tag.0, req.sdp.0, options(req, &self.config))
            .map_err(control_error)?;
        self.maybe_record(req);
        Ok(SdpOut { sdp, warning: None })
    }

    fn delete(&mut self, _now: Duration, req: &DeleteRequest<'_>) -> Result<CallStats, ControlError> {
        for id in self.anchor.sessions(req.call_id.0) {
            self.recorded.remove(&id);
        }
        let report = self.anchor.delete(&mut self.plane, req.call_id.0).map_err(control_error)?;
        if let Some(m) = &self.call_end {
            m.observe(&report);
        }
        log_call_end(&report);
        Ok(call_stats(&report))
    }

    fn query(&mut self, _now: Duration, req: &QueryRequest<'_>) -> Result<CallStats, ControlError> {
        let report = self.anchor.query(&mut self.plane, req.call_id.0).map_err(control_error)?;
        Ok(call_stats(&report))
    }

    fn block_dtmf(&mut self, _now: Duration, req: &DtmfRequest<'_>, block: bool) -> Result<(), ControlError> {
        let tag = req.from_tag.map(|t| t.0);
        self.anchor.block_dtmf(&mut self.plane, req.call_id.0, tag, block).map_err(control_error)
    }
}

/// One line per call end: figures only, no Call-ID, tags, addresses or digits.
pub(crate) fn log_call_end(report: &CallReport) {
    eprintln!("call end: {}", media_summary(report));
}

/// A call's media figures for its end-of-call line.
pub(crate) fn media_summary(report: &CallReport) -> String {
    let mut line = format!("{} stream(s)", report.streams.len());
    for (i, (_, r)) in report.streams.iter().enumerate() {
        for (side, (q, c)) in ["carrier", "agent"].into_iter().zip(r.quality.iter().zip(&r.counters)) {
            let masked_ms = r.masked_samples[if side == "carrier" { 0 } else { 1 }] / 8;
            // No packets, no figures: an estimate of nothing would read as a perfect call.
            let mos = if q.packets > 0 { format!("MOS {:.2}", q.mos) } else { "MOS -".to_string() };
            line.push_str(&format!(
                "; m{i} {side}: {} packets, {:.2}% lost, jitter {:.1} ms, {mos}, {} ms masked, {} spoofed",
                c.rtp_packets,
                q.loss_fraction * 100.0,
                q.jitter_ms,
                masked_ms,
                c.dropped[DropReason::Spoofed.index()],
            ));
        }
    }
    line
}

/// rtpengine's shape: per tag, per media, an RTP and an RTCP stream.
fn call_stats(report: &CallReport) -> CallStats {
    let mut stats =
        CallStats { created: report.created, last_signal: report.last_signal, ..CallStats::default() };
    for leg in [LegId::A, LegId::B] {
        let Some(tag) = report.tags[leg.index()].clone() else { continue };
        let mut t = TagStats { tag, created: report.created, ..TagStats::default() };
        t.in_dialogue_with = report.tags[leg.other().index()].clone();
        for (i, (ports, r)) in report.streams.iter().enumerate() {
            let c = &r.counters[leg.index()];
            let errors: u64 =
                [DropReason::Spoofed, DropReason::Malformed].iter().map(|d| c.dropped[d.index()]).sum();
            let local = ports.map(|p| p[leg.index()]);
            let q = &r.quality[leg.index()];
            let rtp = StreamStats {
                kind: StreamKind::Rtp,
                local_port: local.map(|l| l.rtp.port()),
                endpoint: r.learned[leg.index()],
                stats: Counters { packets: c.rtp_packets, bytes: c.rtp_bytes, errors },
                quality: (q.packets > 0).then(|| StreamQuality {
                    mos_tenths: (q.mos * 10.0).round().clamp(10.0, 45.0) as u8,
                    jitter_ms: q.jitter_ms.round() as u32,
                    lost: q.lost,
                    rtt_us: q.rtt_ms.map(|ms| (ms * 1000.0) as u64),
                }),
                ..StreamStats::default()
            };
            let rtcp = StreamStats {
                kind: StreamKind::Rtcp,
                local_port: local.map(|l| l.rtcp.port()),
                stats: Counters { packets: c.rtcp_packets, bytes: c.rtcp_bytes, errors: 0 },
                ..StreamStats::default()
            };
            t.medias.push(MediaStats {
                index: i as u32 + 1,
                media_type: "audio".into(),
                streams: vec![rtp, rtcp],
                ..MediaStats::default()
            });
        }
        stats.tags.push(t);
    }
    stats.totals = stats.sum_streams();
    stats
}

impl NgControl<'_> {
    /// Ends the call a session whose media timed out belongs to, as rtpengine does: its ports
    /// are closed and its figures logged, so a call whose BYE never came does not hold them.
    pub fn media_timeout(&mut self, session: u64) {
        let Some(call_id) = self.anchor.call_of_session(session) else { return };
        for id in self.anchor.sessions(&call_id) {
            self.recorded.remove(&id);
        }
        if let Ok(report) = self.anchor.delete(&mut self.plane, &call_id) {
            if let Some(m) = &self.call_end {
                m.observe(&report);
            }
            eprint!("media timeout: ");
            log_call_end(&report);
        }
    }
}

/// Serves ng on `addr` until the process stops.
pub fn serve(
    addr: SocketAddr,
    relay: &Relay,
    config: &Config,
    key: Option<RecordingKey>,
    call_end: Option<CallEndMetrics>,
    timeouts: std::sync::mpsc::Receiver<SessionId>,
) -> Result<(), String> {
    let socket = UdpSocket::bind(addr).map_err(|e| format!("ng listener {addr}: {e}"))?;
    // Wake at least once a second to end calls whose media timed out.
    socket.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| format!("ng listener {addr}: {e}"))?;
    eprintln!("tonewall serve: ng control on udp:{addr}");
    let allow: Vec<Cidr> = config.ng.allow.iter().filter_map(|n| Cidr::parse(n)).collect();
    let allowed = |ip: std::net::IpAddr| {
        if allow.is_empty() { ip.to_canonical().is_loopback() } else { allow.iter().any(|n| n.contains(ip)) }
    };
    let mut refused = 0u64;
    let mut server = NgServer::new(NgConfig::default());
    let mut control = NgControl::new(relay, config, key, call_end);
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::with_capacity(65536);
    loop {
        while let Ok(session) = timeouts.try_recv() {
            control.media_timeout(session.0);
        }
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("ng listener {addr}: {e}")),
        };
        if !allowed(peer.ip()) {
            // Not answered: a scanner learns nothing, not even that ng listens here.
            refused += 1;
            if refused.is_power_of_two() {
                eprintln!("ng: {refused} datagram(s) refused from sources outside ng.allow");
            }
            continue;
        }
        if server.handle_datagram(relay.now(), peer, &buf[..n], &mut control, &mut out) {
            let _ = socket.send_to(&out, peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonewall_media::ng::{Request, bencode};

    fn offer_options(dict: &[u8]) -> OfferOptions {
        let value = bencode::decode(dict).expect("bencode");
        let Ok(Request::Offer(req)) = Request::parse(value) else { panic!("an offer") };
        options(&req, &Config::default())
    }

    #[test]
    fn ng_flags_become_offer_options() {
        let base = b"d7:call-id1:c7:command5:offer8:from-tag1:f3:sdp3:v=0";
        let with = |extra: &str| {
            let mut d = base.to_vec();
            d.extend_from_slice(extra.as_bytes());
            d.push(b'e');
            offer_options(&d)
        };
        // direction: the interface the offer came in by names the offerer's side.
        assert_eq!(with("9:directionl8:internal8:externale").offerer_side, Some(1));
        assert_eq!(with("9:directionl8:external8:internale").offerer_side, Some(0));
        assert_eq!(with("9:directionl5:other8:internale").offerer_side, None);
        assert_eq!(with("").offerer_side, None);
        // transport-protocol: SRTP or not toward the receiver.
        assert_eq!(with("18:transport-protocol8:RTP/SAVP").srtp_out, Some(true));
        assert_eq!(with("18:transport-protocol7:RTP/AVP").srtp_out, Some(false));
        // SIP-source-address: the received-from address replaces the SDP's.
        let o = with("5:flagsl18:SIP-source-addresse13:received froml3:IP412:203.0.113.50e");
        assert_eq!(o.source_address, Some("203.0.113.50".parse().expect("ip")));
        assert_eq!(with("13:received froml3:IP412:203.0.113.50e").source_address, None);
    }
}
