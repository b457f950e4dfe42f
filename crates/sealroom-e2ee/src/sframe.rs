//! SFrame media protection (RFC 9605) with the MLS-based key management of RFC 9605 §5.2.
//!
//! Layers, bottom up: [`CipherSuite`] and its [`Aead`] (§4.5), the [`Header`] (§4.3),
//! [`SframeKey`] with `derive_key_salt`, `encrypt` and `decrypt` (§4.4), and the
//! [`MediaKeyring`] the clients use: per-epoch keys from the MLS exporter, a grace period for
//! the previous epoch, a clear prefix for packetisers, and replay protection.
//!
//! No I/O and no clock: time comes in as arguments. Keys never appear in `Debug` output.

mod aead;
mod cipher_suite;
mod error;
mod header;
mod key;
mod keyring;
mod replay_window;

pub use aead::Aead;
pub use cipher_suite::CipherSuite;
pub use error::SframeError;
pub use header::Header;
pub use key::SframeKey;
pub use keyring::{
    DEFAULT_GRACE, EPOCH_BITS, MAX_CLEAR_PREFIX, MLS_EXPORTER_CONTEXT, MLS_EXPORTER_LABEL,
    MediaKeyring, UnprotectedFrame, mls_exporter_length, mls_kid,
};
pub use replay_window::REPLAY_WINDOW;
