//! # sealroom-e2ee
//!
//! All of Sealroom's end-to-end cryptography, and nothing else:
//! - [`group`]: the MLS (RFC 9420) group session of a participant, on mls-rs;
//! - [`external_sender`]: what the delivery service may do with a group (observe its public
//!   state, propose removals) — never commit, never hold a group secret;
//! - [`sframe`]: SFrame (RFC 9605) media frame protection with keys from the MLS epoch;
//! - [`suite`]: the MLS cipher suites a group can run under (the default 0x0001, the 256-bit
//!   0x0007, and a post-quantum hybrid with X-Wing) and the crypto provider serving them;
//! - [`security_code`] and [`identity`]: what people compare to verify each other;
//! - [`room_link`]: the secret a room link carries, and the proof of it a joiner brings;
//! - [`room_policy`]: the link's key, the lobby and the moderators, in the group context;
//! - [`org_binding`]: the organisation's word that a member's device is one of its accounts;
//! - [`private_message`]: one-to-one messages inside a group, sealed to the recipient's key;
//! - [`file_crypto`]: files encrypted in chunks under a fresh key, for the server to store;
//! - [`recording`]: meeting recordings encrypted as they are made, their key sealed to their
//!   owners.
//!
//! This crate does no I/O, spawns nothing, reads no clock (time comes in as arguments) and builds
//! for `wasm32-unknown-unknown`, so the browser, the native client and the server share one
//! implementation. It must never log or expose a key, and every decryption fails closed.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod external_sender;
pub mod file_crypto;
pub mod group;
pub mod identity;
pub mod org_binding;
pub mod private_message;
mod random;
pub mod recording;
pub mod room_link;
pub mod room_policy;
pub mod security_code;
pub mod sframe;
pub mod suite;

pub use external_sender::{ExternalSender, KeyPackageOwner, ObservedGroup, ObservedMessage};
pub use file_crypto::{FileCryptoError, FileDecryptor, FileEncryptor, FileKey};
pub use group::{
    Device, EpochChange, ExternalSenderKey, GroupError, GroupSession, Incoming, OutgoingCommit,
    ProposalSender, ProposedChange, Relayed, RosterMember, key_package_fingerprint,
    key_package_proves_link,
};
pub use identity::{DeviceIdentity, Fingerprint};
pub use org_binding::{BindingRefusal, OrgBinding, OrgIdentity, OrgKey, OrgSigner, OrgTrust};
pub use recording::{
    RecordingDecryptor, RecordingEncryptor, RecordingError, RecordingOwnerKey, RecordingOwnerPublic,
};
pub use room_link::{LinkKey, LinkSecret};
pub use room_policy::RoomPolicy;
pub use security_code::SecurityCode;
pub use suite::{MlsSuite, SealroomCryptoProvider};
