//! Sans-IO B2BUA: a call joins a carrier leg and an agent leg.
//!
//! ```text
//!  carrier ──INVITE──► B2bua ──INVITE (new Call-ID, tags, Via)──► agent
//!                        │ SDP offer/answer through the media Anchor (relay ports, masking)
//!                        │ routing: trunk ACL → route pattern → agent / group / URI
//!                        ▼
//!                   CallEvent (answered, ended with its record) · SipCounters
//! ```
//!
//! The core takes bytes and the time, and gives back bytes to send, events, and its next
//! deadline; the I/O shell (tonewall-io) and the binary own sockets, clocks and the relay.
//! What it does not do: DNS (route targets are IP addresses), flows and plugins (later crates
//! plug in through hooks), or media itself (the relay does, driven through [`MediaPlane`]).
//!
//! [`MediaPlane`]: tonewall_media::anchor::MediaPlane

pub mod b2bua;
pub mod dialog;
pub mod routing;

#[doc(hidden)]
pub mod fuzzing;

pub use b2bua::{
    B2bua, CallEvent, CallRecord, CoreConfig, Listener, Listeners, Outcome, RouteSource, Side, SipCounters,
};
