//! A registrar's binding table (RFC 3261 §10.3), sans-IO: REGISTER contents and the current time
//! come in, the bindings for the 200 (or the error to answer with) go out.
//!
//! ```text
//!  REGISTER (authenticated) ─► register(now, request, origin) ─► Ok(bindings) ─► 200 + Contacts
//!                                                             └► Err ─► 400/423/500/403
//!  call routing ─► lookup(now, aor) ─► Binding::origin (where to send the INVITE)
//!  timer        ─► poll_timeout() / expire(now)
//! ```
//!
//! A binding remembers where its REGISTER came from: agents sit behind NAT, so requests go to
//! that source address (and over that connection for TCP/TLS, RFC 5626's idea without its
//! flow tokens), not to the private address in their Contact.
//!
//! What it does not do: authentication (see [`crate::digest`]), parsing (the caller passes the
//! address-of-record, Call-ID, CSeq, Expires and Contacts as values), URI normalisation beyond
//! the AOR's host case (the caller strips parameters and compares Contact URIs as it wrote
//! them), persistence, or NAT keep-alives (the B2BUA sends those, to [`Registrar::bindings`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Limits on requested expiry and on bindings, in seconds and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero requests are refused with 423 and this `Min-Expires` (default 60):
    /// short intervals multiply REGISTER load.
    pub min_expires: u32,
    /// Longer requests are clamped to this (default 3600), so dead agents age out within the hour.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request names an expiry (default 3600, RFC 3261 §10.2.1.1).
    pub default_expires: u32,
    /// At most this many contacts per address-of-record (default 10); more is refused with 403.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: 10,
        }
    }
}

/// The transport a REGISTER arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP: replies and requests go to the source address.
    Udp,
    /// TCP: requests reuse the agent's connection while it is open.
    Tcp,
    /// TLS over TCP, likewise.
    Tls,
}

/// Where a REGISTER came from: the reachable side of the agent's NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The packet's source address.
    pub source: SocketAddr,
    /// The transport it arrived over.
    pub transport: TransportKind,
    /// The I/O layer's connection id for TCP/TLS, `None` for UDP.
    pub connection: Option<u64>,
    /// Our address the REGISTER came in at: requests to the binding leave from there.
    pub local: Option<SocketAddr>,
}

/// One Contact header entry of a REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedContact<'a> {
    /// The Contact URI as the caller normalised it; bindings are matched on it exactly.
    pub uri: &'a str,
    /// The Contact's `expires` parameter, if present.
    pub expires: Option<u32>,
}

/// The Contact headers of a REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactsRequest<'a> {
    /// `Contact: *`: remove every binding; only valid alone and with `Expires: 0`.
    Wildcard,
    /// Zero or more contacts; none at all is a query for the current bindings.
    List(&'a [RequestedContact<'a>]),
}

/// The registration-relevant parts of a REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRequest<'a> {
    /// The address-of-record from the To header, e.g. `sip:alice@example.com` (no parameters).
    /// The scheme and host are compared case-insensitively, the user part exactly.
    pub aor: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// The Expires header, if present.
    pub expires: Option<u32>,
    /// The Contact headers.
    pub contacts: ContactsRequest<'a>,
}

/// Why a REGISTER was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A non-zero expiry below the minimum: answer 423 with `Min-Expires: min` (§10.3 step 7).
    #[error("registration interval too brief, minimum {min} s")]
    IntervalTooBrief {
        /// The value for the Min-Expires header.
        min: u32,
    },
    /// A CSeq not above the stored one for the same Call-ID: a reordered or replayed REGISTER;
    /// answer 500 (§10.3 steps 6 and 7).
    #[error("REGISTER out of order for this Call-ID")]
    OutOfOrder,
    /// `Contact: *` with other contacts or with an expiry other than 0: answer 400 (§10.3 step 6).
    #[error("wildcard Contact needs Expires: 0")]
    InvalidWildcard,
    /// The address-of-record would exceed its binding limit: answer 403.
    #[error("too many bindings, at most {max}")]
    TooManyBindings {
        /// The configured limit.
        max: usize,
    },
}

/// A contact registered for an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI, for the 200's Contact list and the INVITE's Request-URI.
    pub uri: String,
    /// Where to send requests for this contact (not the Contact's host, which may be private).
    pub origin: Origin,
    /// When the binding lapses.
    pub expires_at: Duration,
    call_id: String,
    cseq: u32,
}

impl Binding {
    /// Seconds left at `now`, rounded up so a live binding never reads as `expires=0`.
    pub fn expires_in(&self, now: Duration) -> u32 {
        let left = self.expires_at.saturating_sub(now);
        u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0)).unwrap_or(u32::MAX)
    }
}

/// The binding table.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    /// Keyed by the normalised AOR; each list is kept most recently updated first.
    bindings: HashMap<String, Vec<Binding>>,
}

/// The table key: scheme and host lowercased, user part as given.
fn aor_key(aor: &str) -> String {
    let (scheme, rest) = aor.split_once(':').unwrap_or(("", aor));
    let (user, host) = match rest.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, rest),
    };
    let mut key = String::with_capacity(aor.len());
    key.push_str(&scheme.to_ascii_lowercase());
    key.push(':');
    if let Some(user) = user {
        key.push_str(user);
        key.push('@');
    }
    key.push_str(&host.to_ascii_lowercase());
    key
}

impl Registrar {
    /// An empty table with these limits.
    pub fn new(config: RegistrarConfig) -> Registrar {
        Registrar { config, bindings: HashMap::new() }
    }

    /// Applies a REGISTER (§10.3 steps 6–8) and returns the AOR's bindings afterwards, most
    /// recent first. Either every contact is applied or, on error, none is.
    pub fn register(
        &mut self,
        now: Duration,
        request: &RegisterRequest<'_>,
        origin: Origin,
    ) -> Result<Vec<Binding>, RegisterError> {
        let key = aor_key(request.aor);
        let mut current: Vec<Binding> = self.bindings.get(&key).cloned().unwrap_or_default();
        current.retain(|b| b.expires_at > now);
        let same_call_is_older = |b: &Binding| b.call_id == request.call_id && request.cseq <= b.cseq;

        match request.contacts {
            ContactsRequest::Wildcard => {
                if request.expires != Some(0) {
                    return Err(RegisterError::InvalidWildcard);
                }
                if current.iter().any(same_call_is_older) {
                    return Err(RegisterError::OutOfOrder);
                }
                current.clear();
            }
            ContactsRequest::List(contacts) => {
                // Check every contact against the stored bindings first, so a refusal changes nothing.
                let mut lifetimes = Vec::with_capacity(contacts.len());
                for contact in contacts {
                    let requested =
                        contact.expires.or(request.expires).unwrap_or(self.config.default_expires);
                    if requested != 0 && requested < self.config.min_expires {
                        return Err(RegisterError::IntervalTooBrief { min: self.config.min_expires });
                    }
                    if current.iter().any(|b| b.uri == contact.uri && same_call_is_older(b)) {
                        return Err(RegisterError::OutOfOrder);
                    }
                    lifetimes.push(requested.min(self.config.max_expires));
                }
                for (contact, expires) in contacts.iter().zip(lifetimes) {
                    current.retain(|b| b.uri != contact.uri);
                    if expires != 0 {
                        let binding = Binding {
                            uri: contact.uri.to_owned(),
                            origin,
                            expires_at: now + Duration::from_secs(u64::from(expires)),
                            call_id: request.call_id.to_owned(),
                            cseq: request.cseq,
                        };
                        current.insert(0, binding);
                    }
                }
                if current.len() > self.config.max_bindings_per_aor {
                    return Err(RegisterError::TooManyBindings { max: self.config.max_bindings_per_aor });
                }
            }
        }
        if current.is_empty() {
            self.bindings.remove(&key);
        } else {
            self.bindings.insert(key, current.clone());
        }
        Ok(current)
    }

    /// The unexpired bindings of an address-of-record, most recently registered first.
    pub fn lookup(&self, now: Duration, aor: &str) -> impl Iterator<Item = &Binding> {
        self.bindings.get(&aor_key(aor)).into_iter().flatten().filter(move |b| b.expires_at > now)
    }

    /// Every live binding, of every address-of-record.
    pub fn bindings(&self, now: Duration) -> impl Iterator<Item = &Binding> {
        self.bindings.values().flatten().filter(move |b| b.expires_at > now)
    }

    /// Drops every binding that has expired by `now`; safe to call early or twice.
    pub fn expire(&mut self, now: Duration) {
        self.bindings.retain(|_, list| {
            list.retain(|b| b.expires_at > now);
            !list.is_empty()
        });
    }

    /// When [`Registrar::expire`] next has something to drop.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// How many addresses-of-record have bindings (expired ones included until [`Registrar::expire`]).
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether no address-of-record has bindings.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

#[cfg(test)]
mod tests;
