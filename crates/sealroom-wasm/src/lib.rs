//! # sealroom-wasm
//!
//! The browser's face of [`sealroom_e2ee`], through wasm-bindgen, and nothing else:
//! - [`Participant`]: the meeting's MLS side, the same sans-IO core as the native client's
//!   (`sealroom-participant`): server messages in, messages to send, epochs, notices and
//!   warnings out;
//! - [`Device`] and [`Group`]: the MLS session's parts, for tests of the core through wasm;
//! - [`Keyring`]: the SFrame [`MediaKeyring`](sealroom_e2ee::sframe::MediaKeyring) the
//!   frame-transform worker protects and unprotects encoded frames with;
//! - [`FileEncryptor`] and [`FileDecryptor`]: end-to-end encrypted files, streaming;
//! - [`RecordingOwnerKey`], [`RecordingEncryptor`] and [`RecordingDecryptor`]: end-to-end
//!   encrypted recordings, sealed to their owners' keys;
//! - [`generate_room_name`]: readable room names with 88 bits from `crypto.getRandomValues`.
//!
//! It owns only the translation between JavaScript values and the core's types: every decision
//! about keys, rules and frames stays in `sealroom-e2ee`, so the browser and the native client
//! behave the same. It does no I/O and reads no clock (the caller passes `performance.now()`).
//! Errors are thrown as JS `Error`s whose message starts with a stable code (`malformed: …`,
//! `authentication_failed: …`) that is also on the error's `code` property; a file's errors
//! carry only the code there, their message being for the person who sent or downloads it. A
//! failed decryption never yields bytes (a file's, none the page may keep). Key material
//! crosses into JavaScript only where the page must hand it on: to the worker
//! (`Group.sframeBaseKey`), or in a file offer (`FileEncryptor.key`); it is never logged.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod device;
mod error;
mod file_crypto;
mod group;
mod js_object;
mod keyring;
mod participant;
mod recording;
mod room_name;

pub use device::Device;
pub use file_crypto::{FileDecryptor, FileEncryptor};
pub use group::Group;
pub use keyring::Keyring;
pub use participant::Participant;
pub use recording::{RecordingDecryptor, RecordingEncryptor, RecordingOwnerKey};
pub use room_name::{ROOM_NAME_WORDS, generate_room_name, room_name_from_entropy};
