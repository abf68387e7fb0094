//! A toy ng control endpoint on a UDP socket: `NgServer` with a relay that hands the SDP back
//! (its `s=` line renamed) and reports fixed statistics. It exists so that a real Kamailio can
//! be pointed at Tonewall's ng code (`tests/data/ng/capture.sh --tonewall`); it relays no
//! media. The real driver lives in the I/O layer.
//!
//! ```sh
//! cargo run -p tonewall-media --example ng_udp -- 127.0.0.1:22222
//! ```

// This is an I/O driver, the one place a clock is read: the sans-IO rule is for the library.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonewall_media::ng::{
    CallStats, ControlError, Counters, DeleteRequest, DtmfRequest, MediaControl, MediaStats, NgServer,
    OfferRequest, QueryRequest, SdpOut, StreamKind, StreamStats, TagStats,
};

/// Remembers call-ids; answers offers and answers with the SDP it got.
#[derive(Default)]
struct EchoRelay {
    calls: Vec<(Vec<u8>, Duration)>,
}

impl EchoRelay {
    fn sdp(req: &OfferRequest<'_>) -> SdpOut {
        let mut sdp = Vec::with_capacity(req.sdp.0.len() + 8);
        for line in req.sdp.0.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"s=") {
                sdp.extend_from_slice(b"s=tonewall\r\n");
            } else {
                sdp.extend_from_slice(line);
            }
        }
        let warning = (!req.unknown.is_empty()).then_some("some flags or keys were ignored");
        SdpOut { sdp, warning }
    }

    fn stats(&self, call_id: &[u8], tag: &[u8]) -> Result<CallStats, ControlError> {
        let created = self.calls.iter().find(|(c, _)| c == call_id).ok_or(ControlError::UnknownCall)?.1;
        let stream = StreamStats {
            kind: StreamKind::Rtp,
            local_port: Some(30_000),
            stats: Counters { packets: 50, bytes: 8_600, errors: 0 },
            ..StreamStats::default()
        };
        let mut stats = CallStats {
            created,
            last_signal: created,
            tags: vec![TagStats {
                tag: tag.to_vec(),
                created,
                medias: vec![MediaStats {
                    index: 1,
                    media_type: "audio".into(),
                    streams: vec![stream],
                    ..MediaStats::default()
                }],
                ..TagStats::default()
            }],
            ..CallStats::default()
        };
        stats.totals = stats.sum_streams();
        Ok(stats)
    }
}

fn wall_clock() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl MediaControl for EchoRelay {
    fn offer(&mut self, _: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError> {
        if !self.calls.iter().any(|(c, _)| c == req.call_id.0) {
            self.calls.push((req.call_id.0.to_vec(), wall_clock()));
        }
        Ok(Self::sdp(req))
    }

    fn answer(&mut self, _: Duration, req: &OfferRequest<'_>) -> Result<SdpOut, ControlError> {
        self.stats(req.call_id.0, b"")?;
        Ok(Self::sdp(req))
    }

    fn delete(&mut self, _: Duration, req: &DeleteRequest<'_>) -> Result<CallStats, ControlError> {
        let stats = self.stats(req.call_id.0, req.from_tag.map_or(&b""[..], |t| t.0))?;
        self.calls.retain(|(c, _)| c != req.call_id.0);
        Ok(stats)
    }

    fn query(&mut self, _: Duration, req: &QueryRequest<'_>) -> Result<CallStats, ControlError> {
        self.stats(req.call_id.0, req.from_tag.map_or(&b""[..], |t| t.0))
    }

    fn block_dtmf(&mut self, _: Duration, req: &DtmfRequest<'_>, _block: bool) -> Result<(), ControlError> {
        self.stats(req.call_id.0, b"").map(|_| ())
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:22222".into());
    let socket = UdpSocket::bind(&addr)?;
    eprintln!("ng_udp: listening on {addr}");
    let start = Instant::now();
    let mut server = NgServer::default();
    let mut relay = EchoRelay::default();
    let (mut buf, mut out) = (vec![0u8; 65_535], Vec::new());
    loop {
        let (n, peer) = socket.recv_from(&mut buf)?;
        if server.handle_datagram(start.elapsed(), peer, &buf[..n], &mut relay, &mut out) {
            socket.send_to(&out, peer)?;
        }
        let cookie_len = out.iter().position(|&b| b == b' ').unwrap_or(0);
        eprintln!(
            "ng_udp: {n} octets from {peer}; reply {} octets, cookie {}",
            out.len(),
            out[..cookie_len].escape_ascii()
        );
    }
}
