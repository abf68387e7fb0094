//! Sans-IO SIP: everything Tonewall's signaling understands, with no sockets, no clocks and no
//! threads. Bytes and the current time come in as arguments; messages to send, events and the
//! next deadline go out as data. The I/O shell (`tonewall-io`) owns the sockets and the clock.
//!
//! ```text
//!  bytes ─► framing (streams) ─► message::parse ─► transaction layer ─► the call layer (B2BUA)
//!                                                   ▲ timers A–K                 │
//!  bytes ◄──────────────────── Message::write ◄─────┴────────────────────────────┘
//! ```
//!
//! What it does not do: routing, B2BUA logic and media (the `tonewall-call` crate and
//! `tonewall-media`), DNS (targets are socket addresses), or any I/O.

pub mod digest;
pub mod framing;
pub mod guard;
pub mod message;
pub mod registrar;
pub mod transaction;
pub mod validate;
