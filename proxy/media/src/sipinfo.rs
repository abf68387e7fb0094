//! DTMF in SIP INFO bodies: `application/dtmf-relay` and `application/dtmf`, sans-IO.
//!
//! Phones and gateways that do not send RFC 4733 events (or send them as well) report key
//! presses in SIP INFO requests. There is no RFC for either body; what is parsed here is what
//! deployed equipment sends:
//!
//! ```text
//!  Content-Type: application/dtmf-relay      Content-Type: application/dtmf
//!
//!  Signal=5                                  5
//!  Duration=160                              (optionally: Duration=160)
//! ```
//!
//! - Keys (`Signal`, `Duration`) are case-insensitive; spaces and tabs around keys, `=` and
//!   values are ignored; lines end in CRLF or LF. Other keys are ignored.
//! - The signal is a key character (`0`–`9`, `*`, `#`, `A`–`D`, any case) or an RFC 4733
//!   event code `10`–`15` (`10` = `*`, `11` = `#`, `12`–`15` = A–D), which some phones send.
//! - `Duration` is in milliseconds; the first that parses counts. One that does not parse is
//!   ignored rather than refused: the press is what matters, and refusing it would lose a
//!   digit the B2BUA has swallowed.
//! - A body with two signals is refused: which one the caller pressed would be a guess.
//! - `application/dtmf` carries the bare key on a line of its own; a `Signal=` line is accepted
//!   there too, since some senders use the dtmf-relay format under that type.
//!
//! It does not read SIP messages (the caller passes the Content-Type value and the body), and
//! it does not decide whether a digit is a duplicate of one seen in the media: that is
//! [`crate::relay::MediaSession::sip_info_digit`]'s job. Errors never carry body octets: the
//! body is a digit.

use tonewall_dsp::Digit;

/// Why an INFO body gave no digit. No variant carries body content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipInfoError {
    /// The Content-Type is neither `application/dtmf-relay` nor `application/dtmf`.
    #[error("not a DTMF content type")]
    UnsupportedType,
    /// The body names no key.
    #[error("no signal in the DTMF body")]
    NoSignal,
    /// The signal is not one of the sixteen DTMF keys.
    #[error("the signal is not a DTMF key")]
    BadSignal,
    /// The body names more than one key.
    #[error("more than one signal in the DTMF body")]
    TwoSignals,
}

/// Which of the two bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    DtmfRelay,
    Dtmf,
}

/// The key and the duration (milliseconds, when the body gives one) of a DTMF INFO body.
///
/// `content_type` is the header's value (parameters such as `;charset=` and case are ignored).
pub fn parse_dtmf_body(content_type: &str, body: &[u8]) -> Result<(Digit, Option<u32>), SipInfoError> {
    let kind = content_kind(content_type).ok_or(SipInfoError::UnsupportedType)?;
    let mut signal: Option<Digit> = None;
    let mut duration: Option<u32> = None;
    let mut set_signal = |value: &[u8]| -> Result<(), SipInfoError> {
        let d = key(value).ok_or(SipInfoError::BadSignal)?;
        if signal.replace(d).is_some() {
            return Err(SipInfoError::TwoSignals);
        }
        Ok(())
    };
    for line in body.split(|&b| b == b'\n') {
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        match line.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (name, value) = (trim(&line[..eq]), trim(&line[eq + 1..]));
                if name.eq_ignore_ascii_case(b"signal") {
                    set_signal(value)?;
                } else if name.eq_ignore_ascii_case(b"duration") && duration.is_none() {
                    duration = number(value);
                }
            }
            // The bare key of application/dtmf; a dtmf-relay body has only key=value lines.
            None if kind == Kind::Dtmf => set_signal(line)?,
            None => {}
        }
    }
    let signal = signal.ok_or(SipInfoError::NoSignal)?;
    Ok((signal, duration))
}

/// The body kind of a Content-Type value, if it is one of the two.
fn content_kind(content_type: &str) -> Option<Kind> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/dtmf-relay") {
        Some(Kind::DtmfRelay)
    } else if media.eq_ignore_ascii_case("application/dtmf") {
        Some(Kind::Dtmf)
    } else {
        None
    }
}

/// A key character, or an RFC 4733 event code 0–15.
fn key(value: &[u8]) -> Option<Digit> {
    match value {
        [c] => Digit::from_char(char::from(*c)),
        _ => number(value).and_then(|n| u8::try_from(n).ok()).and_then(Digit::from_event),
    }
}

/// A decimal number of at most 9 digits (leading zeros allowed), else `None`.
fn number(value: &[u8]) -> Option<u32> {
    let value = match value.iter().position(|&b| b != b'0') {
        Some(i) => &value[i..],
        None if !value.is_empty() => return Some(0),
        None => return None,
    };
    if value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "application/dtmf-relay";

    fn parse(ct: &str, body: &str) -> Result<(char, Option<u32>), SipInfoError> {
        parse_dtmf_body(ct, body.as_bytes()).map(|(d, ms)| (d.as_char(), ms))
    }

    #[test]
    fn dtmf_relay_as_phones_send_it() {
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=160\r\n"), Ok(('5', Some(160))));
        assert_eq!(parse(RELAY, "Signal=#\nDuration=250"), Ok(('#', Some(250))));
        assert_eq!(parse(RELAY, "Signal=*\r\n"), Ok(('*', None)));
        // Case, spaces and tabs anywhere around the parts.
        assert_eq!(parse(RELAY, "  signal = d \r\n\tDURATION\t=\t 100 \r\n"), Ok(('D', Some(100))));
        assert_eq!(parse("Application/DTMF-Relay ; charset=utf-8", "SIGNAL=0"), Ok(('0', None)));
        // Other keys ignored, in any order.
        assert_eq!(parse(RELAY, "Duration=90\r\nVolume=10\r\nSignal=9\r\n"), Ok(('9', Some(90))));
    }

    #[test]
    fn event_codes_name_the_keys_as_in_rfc_4733() {
        assert_eq!(parse(RELAY, "Signal=10"), Ok(('*', None)));
        assert_eq!(parse(RELAY, "Signal=11"), Ok(('#', None)));
        assert_eq!(parse(RELAY, "Signal=12"), Ok(('A', None)));
        assert_eq!(parse(RELAY, "Signal=15"), Ok(('D', None)));
        assert_eq!(parse(RELAY, "Signal=07"), Ok(('7', None)));
        assert_eq!(parse(RELAY, "Signal=16"), Err(SipInfoError::BadSignal), "flash is not a key");
    }

    #[test]
    fn application_dtmf_is_the_bare_key() {
        assert_eq!(parse("application/dtmf", "5"), Ok(('5', None)));
        assert_eq!(parse("application/dtmf", " 5 \r\n"), Ok(('5', None)));
        assert_eq!(parse("application/dtmf", "#\r\nDuration=200\r\n"), Ok(('#', Some(200))));
        assert_eq!(parse("application/dtmf", "11"), Ok(('#', None)));
        assert_eq!(parse("APPLICATION/DTMF", "Signal=3\r\nDuration=100"), Ok(('3', Some(100))));
        assert_eq!(parse("application/dtmf", "5\r\n6"), Err(SipInfoError::TwoSignals));
    }

    #[test]
    fn what_is_refused() {
        assert_eq!(parse("application/sdp", "Signal=5"), Err(SipInfoError::UnsupportedType));
        assert_eq!(parse("application/dtmf-relayx", "Signal=5"), Err(SipInfoError::UnsupportedType));
        assert_eq!(parse("", "5"), Err(SipInfoError::UnsupportedType));
        assert_eq!(parse(RELAY, ""), Err(SipInfoError::NoSignal));
        assert_eq!(parse(RELAY, "Duration=160\r\n"), Err(SipInfoError::NoSignal));
        // A bare line is not a dtmf-relay signal.
        assert_eq!(parse(RELAY, "5\r\n"), Err(SipInfoError::NoSignal));
        assert_eq!(parse(RELAY, "Signal=\r\n"), Err(SipInfoError::BadSignal));
        assert_eq!(parse(RELAY, "Signal=E"), Err(SipInfoError::BadSignal));
        assert_eq!(parse(RELAY, "Signal=55"), Err(SipInfoError::BadSignal));
        assert_eq!(parse(RELAY, "Signal=-1"), Err(SipInfoError::BadSignal));
        assert_eq!(parse(RELAY, "Signal=5\r\nSignal=5"), Err(SipInfoError::TwoSignals));
        assert_eq!(parse_dtmf_body(RELAY, b"Signal=\xff"), Err(SipInfoError::BadSignal));
    }

    #[test]
    fn a_bad_duration_does_not_lose_the_press() {
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=abc"), Ok(('5', None)));
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=99999999999"), Ok(('5', None)));
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=-3"), Ok(('5', None)));
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=0"), Ok(('5', Some(0))));
        // The first duration counts.
        assert_eq!(parse(RELAY, "Signal=5\r\nDuration=100\r\nDuration=900"), Ok(('5', Some(100))));
    }

    #[test]
    fn errors_never_show_the_body() {
        for body in ["Signal=5\r\nSignal=7", "Signal=9x", "Signal=1234"] {
            let e = parse(RELAY, body).expect_err("refused");
            let shown = format!("{e} {e:?}");
            assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
        }
    }
}
