//! `FileEncryptor` and `FileDecryptor`: end-to-end encrypted files for the page, streaming
//! ([`sealroom_e2ee::file_crypto`]). The page feeds a file's bytes in as it reads them and
//! uploads what comes out; a receiver feeds the download in as it arrives and keeps the
//! plaintext only if `finish` succeeds.

use sealroom_e2ee::file_crypto::{self, FileCryptoError, FileKey};
use wasm_bindgen::prelude::*;

use crate::{
    error::{INVALID_ARGUMENT, file_error, js_error},
    js_object::bytes,
};

/// Encrypts one file under a fresh key: `update` with each piece of the file as it is read,
/// then `finish`; upload everything they return, in order. The offer carries `key()` and
/// `sha256()`.
#[wasm_bindgen]
pub struct FileEncryptor {
    /// `None` once finished.
    encryptor: Option<file_crypto::FileEncryptor>,
    key: FileKey,
    sha256: Option<[u8; 32]>,
}

#[wasm_bindgen]
impl FileEncryptor {
    /// An encryptor under a fresh key (from `crypto.getRandomValues`).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<FileEncryptor, JsValue> {
        let (encryptor, key) = file_crypto::FileEncryptor::new().map_err(file_error)?;
        Ok(Self {
            encryptor: Some(encryptor),
            key,
            sha256: None,
        })
    }

    /// The file's key, for the offer (and for nothing else).
    pub fn key(&self) -> js_sys::Uint8Array {
        bytes(self.key.as_bytes())
    }

    /// Takes the next bytes of the file; returns the ciphertext ready so far (the header first).
    pub fn update(&mut self, plaintext: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let encryptor = self.encryptor.as_mut().ok_or_else(finished)?;
        let ciphertext = encryptor.update(plaintext).map_err(file_error)?;
        Ok(bytes(&ciphertext))
    }

    /// The end of the ciphertext; `sha256()` is then the file's hash.
    pub fn finish(&mut self) -> Result<js_sys::Uint8Array, JsValue> {
        let encryptor = self.encryptor.take().ok_or_else(finished)?;
        let (ciphertext, sha256) = encryptor.finish().map_err(file_error)?;
        self.sha256 = Some(sha256);
        Ok(bytes(&ciphertext))
    }

    /// The SHA-256 of the whole file, for the offer; throws before `finish`.
    pub fn sha256(&self) -> Result<js_sys::Uint8Array, JsValue> {
        let sha256 = self.sha256.as_ref().ok_or_else(|| {
            js_error(
                INVALID_ARGUMENT,
                "the file's hash is known once it is finished",
            )
        })?;
        Ok(bytes(sha256))
    }

    /// The exact size of the encrypted file for a file of `size` bytes: the upload's size,
    /// declared before encrypting. Throws `too_large` past the format's limit (256 TiB).
    #[wasm_bindgen(js_name = ciphertextLength)]
    pub fn ciphertext_length(size: f64) -> Result<f64, JsValue> {
        let length = file_crypto::ciphertext_len(file_size(size)?)
            .ok_or_else(|| file_error(FileCryptoError::TooLarge))?;
        // At most 2^48 and a little: exact in a JS number.
        Ok(length as f64)
    }
}

/// Decrypts one downloaded file with its offer's key and size: `update` with each piece as it
/// arrives, then `finish` with the offer's SHA-256. What `update` returns must be thrown away
/// unless `finish` succeeds. Errors have a `code` (`truncated`, `tampered`, `too_long`,
/// `hash_mismatch`, `bad_header`) and a message to show as it is.
#[wasm_bindgen]
pub struct FileDecryptor {
    /// `None` once finished.
    decryptor: Option<file_crypto::FileDecryptor>,
}

#[wasm_bindgen]
impl FileDecryptor {
    /// A decryptor for the file an offer describes: its `key` and its `size` in bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(key: &[u8], size: f64) -> Result<FileDecryptor, JsValue> {
        let key = FileKey::from_bytes(key).map_err(file_error)?;
        let decryptor = file_crypto::FileDecryptor::new(&key, file_size(size)?);
        Ok(Self {
            decryptor: Some(decryptor.map_err(file_error)?),
        })
    }

    /// Takes the next bytes of the download; returns the plaintext they completed.
    pub fn update(&mut self, ciphertext: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let decryptor = self.decryptor.as_mut().ok_or_else(finished)?;
        let plaintext = decryptor.update(ciphertext).map_err(file_error)?;
        Ok(bytes(&plaintext))
    }

    /// The end of the plaintext, once the whole file is in and its hash is `expectedSha256`.
    pub fn finish(
        &mut self,
        #[wasm_bindgen(js_name = expectedSha256)] expected_sha256: &[u8],
    ) -> Result<js_sys::Uint8Array, JsValue> {
        let decryptor = self.decryptor.take().ok_or_else(finished)?;
        let expected: &[u8; 32] = expected_sha256
            .try_into()
            .map_err(|_| js_error(INVALID_ARGUMENT, "a SHA-256 is 32 bytes"))?;
        let plaintext = decryptor.finish(expected).map_err(file_error)?;
        Ok(bytes(&plaintext))
    }
}

/// JavaScript's largest exact integer, `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A file size from JavaScript: a whole number of bytes (the format's limit is the core's to
/// check).
pub(crate) fn file_size(size: f64) -> Result<u64, JsValue> {
    // NaN and the infinities have no whole part: refused here too.
    if size.fract() != 0.0 || !(0.0..=MAX_SAFE_INTEGER).contains(&size) {
        return Err(js_error(
            INVALID_ARGUMENT,
            "a file size is a whole number of bytes",
        ));
    }
    Ok(size as u64)
}

fn finished() -> JsValue {
    js_error(INVALID_ARGUMENT, "this file is already finished")
}
