//! Randomness for the crate's own secrets, from the MLS crypto provider: the operating system's
//! generator on native targets, the browser's `crypto.getRandomValues` on wasm32 (the provider's
//! `browser` feature), so every secret comes from one audited source on both.

use mls_rs::CryptoProvider;
use mls_rs_crypto_rustcrypto::RustCryptoProvider;

use crate::group::CIPHER_SUITE;

/// Fills `bytes` with random bytes; the text says why it could not.
pub(crate) fn fill(bytes: &mut [u8]) -> Result<(), String> {
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(CIPHER_SUITE)
        .ok_or("cipher suite unavailable")?;
    suite.random_bytes(bytes).map_err(|e| format!("{e:?}"))
}
