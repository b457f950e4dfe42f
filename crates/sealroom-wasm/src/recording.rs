//! End-to-end encrypted recordings for the page ([`sealroom_e2ee::recording`]):
//! `RecordingOwnerKey`, the key a recording is sealed to (kept by the page, sealed, in
//! IndexedDB); `RecordingEncryptor`, fed the recorder's WebM as it comes; `RecordingDecryptor`,
//! fed a downloaded recording as it arrives, whose plaintext counts only if `finish` succeeds.

use sealroom_e2ee::recording::{self, RecordingError, RecordingOwnerPublic};
use wasm_bindgen::prelude::*;

use crate::{
    error::{INVALID_ARGUMENT, js_error},
    js_object::bytes,
};

fn recording_error(error: RecordingError) -> JsValue {
    js_error(error.code(), error)
}

fn finished() -> JsValue {
    js_error(INVALID_ARGUMENT, "the recording is finished")
}

/// An owner's key pair: recordings sealed to its public key open with it alone.
#[wasm_bindgen]
pub struct RecordingOwnerKey(recording::RecordingOwnerKey);

#[wasm_bindgen]
impl RecordingOwnerKey {
    /// A new key (from `crypto.getRandomValues`).
    pub fn generate() -> Result<RecordingOwnerKey, JsValue> {
        recording::RecordingOwnerKey::generate()
            .map(Self)
            .map_err(recording_error)
    }

    /// The key from its kept bytes (`toBytes`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(secret: &[u8]) -> Result<RecordingOwnerKey, JsValue> {
        recording::RecordingOwnerKey::from_bytes(secret)
            .map(Self)
            .map_err(recording_error)
    }

    /// The secret, to keep sealed; zero it once kept.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> js_sys::Uint8Array {
        bytes(&self.0.to_bytes())
    }

    /// The public key as text (base64url), for a recorder to seal to.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.0.public_key().to_base64url()
    }

    /// Opens the recording store's challenge to this key: the nonce that proves we hold it.
    #[wasm_bindgen(js_name = openOwnerChallenge)]
    pub fn open_owner_challenge(&self, sealed: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let nonce = self
            .0
            .open_owner_challenge(sealed)
            .map_err(recording_error)?;
        Ok(bytes(&nonce))
    }

    /// The public key's fingerprint (32 hex digits), as recording notices name owners.
    pub fn fingerprint(&self) -> String {
        self.0.public_key().fingerprint()
    }
}

/// Encrypts one recording to its owners: upload `header()`, then what every `update` returns,
/// then what `finish` returns, in order.
#[wasm_bindgen]
pub struct RecordingEncryptor {
    /// `None` once finished.
    encryptor: Option<recording::RecordingEncryptor>,
    header: Vec<u8>,
}

#[wasm_bindgen]
impl RecordingEncryptor {
    /// An encryptor under a fresh recording key sealed to each owner (public keys as text).
    #[wasm_bindgen(constructor)]
    pub fn new(owners: Vec<String>) -> Result<RecordingEncryptor, JsValue> {
        let owners = owners
            .iter()
            .map(|text| RecordingOwnerPublic::parse(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(recording_error)?;
        let (encryptor, header) =
            recording::RecordingEncryptor::new(&owners).map_err(recording_error)?;
        Ok(Self {
            encryptor: Some(encryptor),
            header,
        })
    }

    /// The recording's first bytes: the owners' sealed keys.
    pub fn header(&self) -> js_sys::Uint8Array {
        bytes(&self.header)
    }

    /// The recording's id, 32 hex digits: its notice's and its store's name for it.
    pub fn id(&self) -> Result<String, JsValue> {
        let encryptor = self.encryptor.as_ref().ok_or_else(finished)?;
        Ok(hex::encode(encryptor.recording_id()))
    }

    /// Takes the next bytes of the recording; returns the ciphertext ready to upload.
    pub fn update(&mut self, plaintext: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let encryptor = self.encryptor.as_mut().ok_or_else(finished)?;
        let ciphertext = encryptor.update(plaintext).map_err(recording_error)?;
        Ok(bytes(&ciphertext))
    }

    /// The recording's last bytes.
    pub fn finish(&mut self) -> Result<js_sys::Uint8Array, JsValue> {
        let encryptor = self.encryptor.take().ok_or_else(finished)?;
        let ciphertext = encryptor.finish().map_err(recording_error)?;
        Ok(bytes(&ciphertext))
    }
}

/// Decrypts one recording with an owner's key. Errors have a `code` (`not_an_owner`,
/// `truncated`, `tampered`, ...); what `update` returned is to be thrown away unless `finish`
/// succeeds.
#[wasm_bindgen]
pub struct RecordingDecryptor {
    /// `None` once finished.
    decryptor: Option<recording::RecordingDecryptor>,
}

#[wasm_bindgen]
impl RecordingDecryptor {
    /// A decryptor with `owner`'s key.
    #[wasm_bindgen(constructor)]
    pub fn new(owner: &RecordingOwnerKey) -> RecordingDecryptor {
        Self {
            decryptor: Some(recording::RecordingDecryptor::new(&owner.0)),
        }
    }

    /// Takes the next bytes of the download; returns the plaintext they completed.
    pub fn update(&mut self, ciphertext: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let decryptor = self.decryptor.as_mut().ok_or_else(finished)?;
        let plaintext = decryptor.update(ciphertext).map_err(recording_error)?;
        Ok(bytes(&plaintext))
    }

    /// The end of the plaintext, once the whole recording is in and checks out.
    pub fn finish(&mut self) -> Result<js_sys::Uint8Array, JsValue> {
        let decryptor = self.decryptor.take().ok_or_else(finished)?;
        let plaintext = decryptor.finish().map_err(recording_error)?;
        Ok(bytes(&plaintext))
    }
}
