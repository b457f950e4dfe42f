use aes::Aes128;
use aes_gcm::aead::{self, AeadInPlace};
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use ctr::cipher::{InnerIvInit, StreamCipher, StreamCipherCoreWrapper};
use ctr::{CtrCore, flavors::Ctr32BE};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::cipher_suite::NONCE_LEN;
use super::{CipherSuite, SframeError};

/// The keyed AEAD of a cipher suite (RFC 9605 §4.5): AES-GCM, or the AES-CTR + HMAC-SHA256
/// compound of §4.5.1 for the suites with short tags. The tag is appended to the ciphertext.
///
/// Keeping it keyed (AES key schedule, HMAC inner/outer state) is what makes per-frame work
/// only the cipher itself.
#[derive(Clone)]
pub struct Aead {
    suite: CipherSuite,
    cipher: Cipher,
}

#[derive(Clone)]
enum Cipher {
    Gcm128(Aes128Gcm),
    Gcm256(Aes256Gcm),
    CtrHmac { enc: Aes128, auth: Hmac<Sha256> },
}

impl Aead {
    /// The AEAD of `suite` keyed with `key` (`Nk` bytes).
    pub fn new(suite: CipherSuite, key: &[u8]) -> Result<Self, SframeError> {
        if key.len() != suite.nk() {
            return Err(SframeError::KeyLength {
                expected: suite.nk(),
                actual: key.len(),
            });
        }
        let fits = "key length checked above; HMAC takes any length";
        let cipher = match suite {
            CipherSuite::AesGcm128Sha256 => {
                Cipher::Gcm128(Aes128Gcm::new_from_slice(key).expect(fits))
            }
            CipherSuite::AesGcm256Sha512 => {
                Cipher::Gcm256(Aes256Gcm::new_from_slice(key).expect(fits))
            }
            CipherSuite::AesCtr128HmacSha256_80
            | CipherSuite::AesCtr128HmacSha256_64
            | CipherSuite::AesCtr128HmacSha256_32 => {
                // derive_subkeys: the first Nka bytes encrypt, the remaining Nh authenticate.
                let (enc_key, auth_key) = key.split_at(key.len() - suite.nh());
                Cipher::CtrHmac {
                    enc: Aes128::new_from_slice(enc_key).expect(fits),
                    auth: <Hmac<Sha256> as Mac>::new_from_slice(auth_key).expect(fits),
                }
            }
        };
        Ok(Self { suite, cipher })
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// `AEAD.Encrypt(key, nonce, aad, pt)`: ciphertext followed by the `Nt`-byte tag.
    pub fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SframeError> {
        let mut buf = Vec::with_capacity(plaintext.len() + self.suite.nt());
        buf.extend_from_slice(plaintext);
        self.seal_in_place(nonce, aad, &mut buf, 0)?;
        Ok(buf)
    }

    /// `AEAD.Decrypt(key, nonce, aad, ct)`: the plaintext, if the tag verifies.
    pub fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SframeError> {
        let mut buf = ciphertext.to_vec();
        self.open_in_place(nonce, aad, &mut buf, 0)?;
        Ok(buf)
    }

    /// Encrypts `buf[start..]` in place and appends the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), SframeError> {
        let plaintext = &mut buf[start..];
        match &self.cipher {
            Cipher::Gcm128(gcm) => {
                let tag = gcm_seal(gcm, nonce, aad, plaintext)?;
                buf.extend_from_slice(&tag);
            }
            Cipher::Gcm256(gcm) => {
                let tag = gcm_seal(gcm, nonce, aad, plaintext)?;
                buf.extend_from_slice(&tag);
            }
            Cipher::CtrHmac { enc, auth } => {
                apply_ctr(enc, nonce, plaintext)?;
                let tag = compute_tag(auth, self.suite.nt(), nonce, aad, plaintext);
                buf.extend_from_slice(&tag[..self.suite.nt()]);
            }
        }
        Ok(())
    }

    /// Verifies and decrypts `buf[start..]` (ciphertext and tag) in place, leaving the plaintext
    /// there. On failure the buffer content is unspecified and must be dropped.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), SframeError> {
        let nt = self.suite.nt();
        let sealed_len = buf.len() - start;
        let Some(tag_at) = sealed_len.checked_sub(nt) else {
            return Err(SframeError::TruncatedCiphertext {
                actual: sealed_len,
                tag_len: nt,
            });
        };
        let (ciphertext, tag) = buf[start..].split_at_mut(tag_at);
        match &self.cipher {
            Cipher::Gcm128(gcm) => gcm_open(gcm, nonce, aad, ciphertext, tag)?,
            Cipher::Gcm256(gcm) => gcm_open(gcm, nonce, aad, ciphertext, tag)?,
            Cipher::CtrHmac { enc, auth } => {
                let expected = compute_tag(auth, nt, nonce, aad, ciphertext);
                if !bool::from(expected[..nt].ct_eq(tag)) {
                    return Err(SframeError::AuthenticationFailed);
                }
                apply_ctr(enc, nonce, ciphertext)?;
            }
        }
        buf.truncate(start + tag_at);
        Ok(())
    }
}

impl std::fmt::Debug for Aead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Aead").field("suite", &self.suite).finish()
    }
}

fn gcm_seal<C: AeadInPlace>(
    gcm: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &mut [u8],
) -> Result<aead::Tag<C>, SframeError> {
    gcm.encrypt_in_place_detached(aead::Nonce::<C>::from_slice(nonce), aad, plaintext)
        .map_err(|_| SframeError::FrameTooLong)
}

fn gcm_open<C: AeadInPlace>(
    gcm: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &mut [u8],
    tag: &[u8],
) -> Result<(), SframeError> {
    gcm.decrypt_in_place_detached(
        aead::Nonce::<C>::from_slice(nonce),
        aad,
        ciphertext,
        aead::Tag::<C>::from_slice(tag),
    )
    .map_err(|_| SframeError::AuthenticationFailed)
}

/// AES-CTR with `initial_counter = nonce || 0x00000000` (RFC 9605 §4.5.1).
fn apply_ctr(enc: &Aes128, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> Result<(), SframeError> {
    let mut initial_counter = [0u8; 16];
    initial_counter[..NONCE_LEN].copy_from_slice(nonce);
    // From the expanded key, so a frame costs no key schedule.
    let core = CtrCore::<Aes128, Ctr32BE>::inner_iv_init(enc.clone(), &initial_counter.into());
    StreamCipherCoreWrapper::from_core(core)
        .try_apply_keystream(buf)
        // Only past 2^32 blocks (64 GiB) of one frame.
        .map_err(|_| SframeError::FrameTooLong)
}

/// `compute_tag` of RFC 9605 §4.5.1, before truncation to `Nt`.
fn compute_tag(
    auth: &Hmac<Sha256>,
    nt: usize,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> hmac::digest::Output<Hmac<Sha256>> {
    let mut mac = auth.clone();
    for len in [aad.len(), ciphertext.len(), nt] {
        mac.update(&(len as u64).to_be_bytes());
    }
    mac.update(nonce);
    mac.update(aad);
    mac.update(ciphertext);
    mac.finalize().into_bytes()
}
