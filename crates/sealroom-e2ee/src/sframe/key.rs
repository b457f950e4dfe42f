use hkdf::hmac::digest::OutputSizeUser;
use hkdf::{Hkdf, HmacImpl};
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use super::cipher_suite::{Hash, NONCE_LEN};
use super::{Aead, CipherSuite, Header, SframeError};

/// The key of one KID: `sframe_key` and `sframe_salt` derived from a base key (RFC 9605
/// §4.4.2), with the raw SFrame `encrypt` and `decrypt` of §4.4.3 and §4.4.4.
///
/// The caller owns the counter: each (key, CTR) pair must be used for one encryption only.
pub struct SframeKey {
    kid: u64,
    key: Zeroizing<Vec<u8>>,
    salt: Zeroizing<[u8; NONCE_LEN]>,
    aead: Aead,
}

impl SframeKey {
    /// `derive_key_salt(KID, base_key)` of RFC 9605 §4.4.2, with HKDF over the suite's hash.
    pub fn derive(suite: CipherSuite, kid: u64, base_key: &[u8]) -> Self {
        let mut key = Zeroizing::new(vec![0; suite.nk()]);
        let mut salt = Zeroizing::new([0; NONCE_LEN]);
        let (kid_bytes, suite_bytes) = (kid.to_be_bytes(), suite.id().to_be_bytes());
        let key_label: [&[u8]; 3] = [b"SFrame 1.0 Secret key ", &kid_bytes, &suite_bytes];
        let salt_label: [&[u8]; 3] = [b"SFrame 1.0 Secret salt ", &kid_bytes, &suite_bytes];
        let outputs = [(&key_label, &mut key[..]), (&salt_label, &mut salt[..])];
        // HKDF-Extract("", base_key): an empty salt is what RFC 5869 calls "not provided".
        match suite.hash() {
            Hash::Sha256 => expand(&Hkdf::<Sha256>::new(None, base_key), outputs),
            Hash::Sha512 => expand(&Hkdf::<Sha512>::new(None, base_key), outputs),
        }
        let aead = Aead::new(suite, &key).expect("derived key has the suite's Nk bytes");
        Self {
            kid,
            key,
            salt,
            aead,
        }
    }

    /// The Key ID this key belongs to.
    pub fn kid(&self) -> u64 {
        self.kid
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.aead.suite()
    }

    /// `sframe_key` (`Nk` bytes), for handing to another AEAD implementation such as WebCrypto.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// `sframe_salt` (`Nn` bytes).
    pub fn salt(&self) -> &[u8; NONCE_LEN] {
        &self.salt
    }

    /// The AEAD nonce for `ctr`: `sframe_salt` XOR the big-endian CTR.
    pub fn nonce(&self, ctr: u64) -> [u8; NONCE_LEN] {
        let mut nonce = *self.salt;
        for (n, c) in nonce[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    /// `encrypt(CTR, KID, metadata, plaintext)` of RFC 9605 §4.4.3: SFrame header followed by
    /// ciphertext and tag. `metadata` is authenticated, not carried.
    pub fn encrypt(
        &self,
        ctr: u64,
        metadata: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SframeError> {
        let mut out = Vec::new();
        self.encrypt_into(ctr, &[metadata], plaintext, &mut out)?;
        Ok(out)
    }

    /// `decrypt(metadata, sframe_ciphertext)` of RFC 9605 §4.4.4, for a ciphertext whose header
    /// names this key's KID.
    pub fn decrypt(
        &self,
        metadata: &[u8],
        sframe_ciphertext: &[u8],
    ) -> Result<Vec<u8>, SframeError> {
        let (header, header_len) = Header::decode(sframe_ciphertext)?;
        let (header_bytes, sealed) = sframe_ciphertext.split_at(header_len);
        let mut out = Vec::new();
        self.decrypt_into(header, header_bytes, &[metadata], sealed, &mut out)?;
        Ok(out)
    }

    /// Appends the SFrame ciphertext to `out`, so a caller can put bytes before it without
    /// copying the frame again. The metadata is the concatenation of `metadata`'s parts.
    pub(crate) fn encrypt_into(
        &self,
        ctr: u64,
        metadata: &[&[u8]],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SframeError> {
        let header = Header::new(self.kid, ctr);
        out.reserve(header.encoded_len() + plaintext.len() + self.suite().nt());
        let header_at = out.len();
        header.encode_into(out);
        let aad = aad(&out[header_at..], metadata);
        let plaintext_at = out.len();
        out.extend_from_slice(plaintext);
        self.aead
            .seal_in_place(&self.nonce(ctr), &aad, out, plaintext_at)
            .inspect_err(|_| out.truncate(header_at))
    }

    /// Appends the plaintext of `sealed` (ciphertext and tag after an already parsed header)
    /// to `out`; on failure `out` is left as it was.
    pub(crate) fn decrypt_into(
        &self,
        header: Header,
        header_bytes: &[u8],
        metadata: &[&[u8]],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SframeError> {
        if header.kid != self.kid {
            return Err(SframeError::KidMismatch {
                expected: self.kid,
                found: header.kid,
            });
        }
        let aad = aad(header_bytes, metadata);
        let sealed_at = out.len();
        out.extend_from_slice(sealed);
        self.aead
            .open_in_place(&self.nonce(header.ctr), &aad, out, sealed_at)
            .inspect_err(|_| out.truncate(sealed_at))
    }
}

impl std::fmt::Debug for SframeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SframeKey")
            .field("kid", &self.kid)
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

/// `aad = header + metadata` (RFC 9605 §4.4.3).
fn aad(header: &[u8], metadata: &[&[u8]]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(header.len() + metadata.iter().map(|part| part.len()).sum::<usize>());
    aad.extend_from_slice(header);
    for part in metadata {
        aad.extend_from_slice(part);
    }
    aad
}

/// `HKDF-Expand(sframe_secret, label, len)` for each (label, output) pair.
fn expand<H: OutputSizeUser, I: HmacImpl<H>>(
    sframe_secret: &Hkdf<H, I>,
    outputs: [(&[&[u8]; 3], &mut [u8]); 2],
) {
    for (label, okm) in outputs {
        sframe_secret
            .expand_multi_info(label, okm)
            .expect("Nk and Nn are far below HKDF's 255 * Nh limit");
    }
}
