//! A minimal client of rtpengine's "ng" control protocol: `<cookie> <bencoded dict>` over UDP,
//! the reply echoes the cookie. Enough to set up, mask and tear down calls for the load
//! generator; see rtpengine's `docs/ng_control_protocol.md` for the protocol itself.
//!
//! The exact requests are built by [`offer`], [`answer`], [`block_dtmf`] and [`delete`], so the
//! bench README can list them for whoever implements the relay side.

use super::bencode::{self, Value};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

/// Why an ng request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NgError {
    /// The socket failed, or no reply came after every retry.
    #[error("ng: {0}")]
    Io(#[from] io::Error),
    /// The reply was not bencode.
    #[error("ng: bad reply: {0}")]
    Bencode(#[from] bencode::Error),
    /// The reply had no cookie, or not ours.
    #[error("ng: reply without our cookie")]
    Cookie,
    /// The relay answered `result` other than `ok`.
    #[error("ng: {command} failed: {reason}")]
    Refused {
        /// The command sent.
        command: String,
        /// `error-reason` (or the `result`) from the reply.
        reason: String,
    },
    /// The reply lacked an SDP, or its SDP named no audio address.
    #[error("ng: reply has no usable SDP")]
    NoSdp,
}

/// An ng client on its own UDP socket.
pub struct NgClient {
    sock: UdpSocket,
    cookie: u64,
    buf: Vec<u8>,
    retries: u32,
}

impl NgClient {
    /// A client talking to `server`, waiting `timeout` for each reply and trying 3 times.
    pub fn new(server: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let bind: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(bind)?;
        sock.connect(server)?;
        sock.set_read_timeout(Some(timeout))?;
        Ok(NgClient { sock, cookie: u64::from(std::process::id()) << 32, buf: vec![0; 65536], retries: 3 })
    }

    /// Sends `msg` (a dictionary with `command`) and returns the reply dictionary if its
    /// `result` is `ok` (or `pong` for `ping`).
    pub fn request(&mut self, msg: &Value) -> Result<Value, NgError> {
        self.cookie += 1;
        let cookie = format!("tw{:x}", self.cookie);
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(cookie.as_bytes());
        out.push(b' ');
        msg.encode(&mut out);
        let command = msg.get("command").and_then(|c| c.as_str().map(|s| s.into_owned())).unwrap_or_default();
        let mut last_err = None;
        for _ in 0..self.retries {
            // Retransmissions reuse the cookie, so the relay answers from its cache.
            self.sock.send(&out)?;
            loop {
                match self.sock.recv(&mut self.buf) {
                    Ok(n) => {
                        let reply = &self.buf[..n];
                        let Some(sp) = reply.iter().position(|&b| b == b' ') else {
                            return Err(NgError::Cookie);
                        };
                        if &reply[..sp] != cookie.as_bytes() {
                            continue; // a late reply to an earlier request
                        }
                        let (v, _) = Value::decode(&reply[sp + 1..])?;
                        let result = v.get("result").and_then(|r| r.as_str().map(|s| s.into_owned()));
                        return match result.as_deref() {
                            Some("ok") | Some("pong") => Ok(v),
                            other => Err(NgError::Refused {
                                command,
                                reason: v
                                    .get("error-reason")
                                    .and_then(|r| r.as_str().map(|s| s.into_owned()))
                                    .or(other.map(str::to_owned))
                                    .unwrap_or_else(|| "no result".to_owned()),
                            }),
                        };
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                        last_err = Some(e);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(NgError::Io(last_err.unwrap_or_else(|| io::Error::other("no reply"))))
    }
}

/// The SDP an endpoint of the generator offers or answers: one audio stream, PCMU and
/// telephone-event, 20 ms, at `addr`.
pub fn sdp(session: u64, addr: SocketAddrV4) -> String {
    let ip = addr.ip();
    format!(
        "v=0\r\no=- {session} 1 IN IP4 {ip}\r\ns=tonewall-bench\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        port = addr.port()
    )
}

/// The address of the first audio stream of `sdp`: the media-level `c=` if present, else the
/// session-level one, and the `m=audio` port.
pub fn sdp_audio_addr(sdp: &str) -> Option<SocketAddrV4> {
    let mut session_ip = None;
    let mut media_ip = None;
    let mut port = None;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break; // only the first audio stream
            }
            if let Some(p) = rest.strip_prefix("audio ") {
                port = p.split_whitespace().next().and_then(|p| p.split('/').next()?.parse::<u16>().ok());
            }
        } else if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
            let ip = rest.split('/').next().and_then(|ip| ip.trim().parse::<Ipv4Addr>().ok());
            if port.is_some() {
                media_ip = ip;
            } else {
                session_ip = ip;
            }
        }
    }
    Some(SocketAddrV4::new(media_ip.or(session_ip)?, port?))
}

/// Who is who in one call.
#[derive(Clone, Debug)]
pub struct CallIds {
    /// `call-id`
    pub call_id: String,
    /// `from-tag` (the caller)
    pub from_tag: String,
    /// `to-tag` (the callee)
    pub to_tag: String,
}

/// `offer`: the caller's SDP. `flags` is sent only when not empty.
pub fn offer(ids: &CallIds, sdp: &str, flags: &[&str]) -> Value {
    let mut m = vec![
        ("command", Value::str("offer")),
        ("call-id", Value::str(&ids.call_id)),
        ("from-tag", Value::str(&ids.from_tag)),
        ("sdp", Value::str(sdp)),
    ];
    if !flags.is_empty() {
        m.push(("flags", Value::str_list(flags)));
    }
    Value::dict(m)
}

/// `answer`: the callee's SDP.
pub fn answer(ids: &CallIds, sdp: &str, flags: &[&str]) -> Value {
    let mut m = vec![
        ("command", Value::str("answer")),
        ("call-id", Value::str(&ids.call_id)),
        ("from-tag", Value::str(&ids.from_tag)),
        ("to-tag", Value::str(&ids.to_tag)),
        ("sdp", Value::str(sdp)),
    ];
    if !flags.is_empty() {
        m.push(("flags", Value::str_list(flags)));
    }
    Value::dict(m)
}

/// `block DTMF` for the whole call: `DTMF-security` mode, `delay-buffer` in ms, and the
/// `detect DTMF` flag so in-band tones are looked for too.
pub fn block_dtmf(ids: &CallIds, security: &str, delay_buffer_ms: i64) -> Value {
    Value::dict([
        ("command", Value::str("block DTMF")),
        ("call-id", Value::str(&ids.call_id)),
        ("DTMF-security", Value::str(security)),
        ("delay-buffer", Value::Int(delay_buffer_ms)),
        ("flags", Value::str_list(&["detect DTMF"])),
    ])
}

/// `delete` of the whole call.
pub fn delete(ids: &CallIds) -> Value {
    Value::dict([
        ("command", Value::str("delete")),
        ("call-id", Value::str(&ids.call_id)),
        ("from-tag", Value::str(&ids.from_tag)),
    ])
}

/// `ping`.
pub fn ping() -> Value {
    Value::dict([("command", Value::str("ping"))])
}

/// The SDP of a reply, as text.
pub fn reply_sdp(reply: &Value) -> Result<SocketAddrV4, NgError> {
    let sdp = reply.get("sdp").and_then(|s| s.as_str()).ok_or(NgError::NoSdp)?;
    sdp_audio_addr(&sdp).ok_or(NgError::NoSdp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_round_trip_and_media_level_c() {
        let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 31000);
        assert_eq!(sdp_audio_addr(&sdp(1, a)), Some(a));
        let s = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 40002 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.1\r\n\
                 m=video 9 RTP/AVP 96\r\nc=IN IP4 1.2.3.4\r\n";
        assert_eq!(sdp_audio_addr(s), Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40002)));
        assert_eq!(sdp_audio_addr("v=0\r\n"), None);
    }

    #[test]
    fn block_dtmf_shape() {
        let ids = CallIds { call_id: "c1".into(), from_tag: "f".into(), to_tag: "t".into() };
        let b = block_dtmf(&ids, "silence", 20).to_bytes();
        assert_eq!(
            String::from_utf8_lossy(&b),
            "d13:DTMF-security7:silence7:call-id2:c17:command10:block DTMF12:delay-bufferi20e\
             5:flagsl11:detect DTMFee"
        );
    }
}
