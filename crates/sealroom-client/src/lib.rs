//! # sealroom-client
//!
//! The native Sealroom client: joins a room over the WebSocket signalling and WebRTC (str0m as a
//! client), takes part in the room's MLS group (creating it when first), and sends and receives
//! media protected with SFrame under keys from the MLS epoch. It serves tests, bots and load
//! generation; `sealroom join` is its command line.
//!
//! Media never leaves this client unprotected: until a group epoch is installed, frames are
//! dropped, not sent in the clear.

#![forbid(unsafe_code)]

pub mod account;
pub mod cli;
mod device_key;
pub mod files;
mod http;
pub mod load;
pub mod media;
mod org_identity;
pub mod record;
pub mod session;
