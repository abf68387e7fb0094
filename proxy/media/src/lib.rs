//! Tonewall's media layer, sans-IO: packets in, packets and events out; time is passed in.
//!
//! - `rfc4733`: telephone-event payloads (RFC 4733), a receiver that turns packets into exactly
//!   one digit per key press, and a sender.
