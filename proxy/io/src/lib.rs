//! Tonewall's I/O layer: the media relay's worker threads, sockets and clock, and the SIP
//! transports ([`signal`]: TCP and TLS on one tokio thread, UDP there or on the core thread).
//!
//! ```text
//!  control (ng, SIP) ── Relay::create / signal / set_masking / sip_info / remove ──► commands + waker
//!                                                                                    │
//!  UDP ports ──recvmmsg──► worker thread: MediaSession::handle_packet ──send_to──► UDP ports
//!                            (one per core; owns its sessions and their sockets; no locks)
//!                            timer wheel ─► handle_timeout;  events ─► channel to control
//! ```
//!
//! Everything that decides anything lives in `tonewall-media` and is sans-IO; this crate only
//! pumps it. The only `unsafe` is in [`sys`] (batched receive).
//!
//! What it does not do: no SIP or ng parsing (signal moves whole messages as bytes), no SDP, no metrics registry (it exposes atomic
//! counters that the binary publishes).

pub mod ports;
mod recorder;
pub mod relay;
pub mod signal;
pub mod sys;
pub mod wheel;
mod worker;

pub use recorder::RecorderStats;
pub use relay::{LegPorts, Recycle, Relay, RelayConfig};
pub use tonewall_media::relay::SessionReport;
pub use worker::{SessionId, WorkerStats};
