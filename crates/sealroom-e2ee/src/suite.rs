//! The MLS cipher suites a Sealroom group can run under, and the one crypto provider that serves
//! them all: RustCrypto's (mls-rs-crypto-rustcrypto) hash, KDF, AEAD and signatures, with
//! DHKEM or X-Wing as HPKE's KEM.
//!
//! - [`MlsSuite::Curve25519Aes128`]: RFC 9420's 0x0001, the default.
//! - [`MlsSuite::P384Aes256`]: RFC 9420's 0x0007, AES-256 with P-384 (the 256-bit suites with
//!   X448/Ed448 or P-521 have no implementation in mls-rs-crypto-rustcrypto).
//! - [`MlsSuite::XWingAes256`]: `MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519` of
//!   draft-ietf-mls-pq-ciphersuites-06, whose ML-KEM-768 + X25519 hybrid is X-Wing, on the
//!   provisional code point [`XWING_PROVISIONAL_CODE_POINT`] until IANA assigns one.

mod xwing;

use mls_rs_core::crypto::{
    CipherSuite, CipherSuiteProvider, CryptoProvider, HpkeCiphertext, HpkePsk, HpkePublicKey,
    HpkeSecretKey, SignaturePublicKey, SignatureSecretKey,
};
use mls_rs_core::error::IntoAnyError;
use mls_rs_crypto_hpke::{
    context::{ContextR, ContextS},
    dhkem::DhKem,
    hpke::HpkeError,
};
use mls_rs_crypto_rustcrypto::{
    RustCryptoCipherSuite, RustCryptoError, aead::Aead, ec_signer::EcSigner, ecdh::Ecdh, kdf::Kdf,
};
use mls_rs_crypto_traits::{Curve, KemId, KemResult, KemType};
use zeroize::Zeroizing;

pub use xwing::{XWING_KEM_ID, XWingError, XWingHpkeKem};

use crate::{group::GroupError, sframe};

/// The code point Sealroom uses for the X-Wing suite: in RFC 9420's private-use range
/// (0xF000–0xFFFF), the placeholder OpenMLS-based implementations of
/// draft-ietf-mls-pq-ciphersuites-06 give the same suite. Provisional: it changes to the
/// registered value once IANA assigns one.
pub const XWING_PROVISIONAL_CODE_POINT: u16 = 0xF002;

/// An MLS cipher suite Sealroom supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MlsSuite {
    /// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001); media under SFrame's
    /// `AES_128_GCM_SHA256_128`.
    #[default]
    Curve25519Aes128,
    /// `MLS_256_DHKEMP384_AES256GCM_SHA384_P384` (0x0007); media under SFrame's
    /// `AES_256_GCM_SHA512_128`.
    P384Aes256,
    /// `MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519` (draft-ietf-mls-pq-ciphersuites-06,
    /// provisional 0xF002): X-Wing, AES-256-GCM, SHA-384, Ed25519; media under SFrame's
    /// `AES_256_GCM_SHA512_128`.
    XWingAes256,
}

impl MlsSuite {
    /// Every suite, the default first.
    pub const ALL: [MlsSuite; 3] = [
        MlsSuite::Curve25519Aes128,
        MlsSuite::P384Aes256,
        MlsSuite::XWingAes256,
    ];

    /// The suite's MLS code point.
    pub const fn cipher_suite(self) -> CipherSuite {
        match self {
            MlsSuite::Curve25519Aes128 => CipherSuite::CURVE25519_AES128,
            MlsSuite::P384Aes256 => CipherSuite::P384_AES256,
            MlsSuite::XWingAes256 => CipherSuite::new(XWING_PROVISIONAL_CODE_POINT),
        }
    }

    /// The supported suite with that code point, if any.
    pub fn from_cipher_suite(cipher_suite: CipherSuite) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|suite| suite.cipher_suite() == cipher_suite)
    }

    /// The suite's name in its specification.
    pub const fn name(self) -> &'static str {
        match self {
            MlsSuite::Curve25519Aes128 => "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
            MlsSuite::P384Aes256 => "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
            MlsSuite::XWingAes256 => "MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519",
        }
    }

    /// The SFrame suite that protects media in a group of this suite: AES-256 wherever MLS
    /// runs AES-256, so media is no weaker than the group's keys.
    pub const fn sframe_suite(self) -> sframe::CipherSuite {
        match self {
            MlsSuite::Curve25519Aes128 => sframe::CipherSuite::AesGcm128Sha256,
            MlsSuite::P384Aes256 | MlsSuite::XWingAes256 => sframe::CipherSuite::AesGcm256Sha512,
        }
    }

    /// The RFC 9420 suite whose hash, KDF and AEAD this suite uses: 0x0007's SHA-384,
    /// HKDF-SHA384 and AES-256-GCM are the X-Wing suite's too.
    const fn symmetric_primitives(self) -> CipherSuite {
        match self {
            MlsSuite::Curve25519Aes128 => CipherSuite::CURVE25519_AES128,
            MlsSuite::P384Aes256 | MlsSuite::XWingAes256 => CipherSuite::P384_AES256,
        }
    }

    const fn signature_curve(self) -> Curve {
        match self {
            MlsSuite::Curve25519Aes128 | MlsSuite::XWingAes256 => Curve::Ed25519,
            MlsSuite::P384Aes256 => Curve::P384,
        }
    }
}

/// The crypto provider of every Sealroom client and of the delivery service's observer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SealroomCryptoProvider;

impl CryptoProvider for SealroomCryptoProvider {
    type CipherSuiteProvider = SuiteProvider;

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        MlsSuite::ALL.map(MlsSuite::cipher_suite).into()
    }

    fn cipher_suite_provider(&self, cipher_suite: CipherSuite) -> Option<SuiteProvider> {
        SuiteProvider::new(MlsSuite::from_cipher_suite(cipher_suite)?)
    }
}

/// The provider of one suite, for the crate's own use of its primitives.
pub(crate) fn provider(suite: MlsSuite) -> Result<SuiteProvider, GroupError> {
    SuiteProvider::new(suite).ok_or(GroupError::Crypto("cipher suite unavailable".into()))
}

/// HPKE's KEM in a Sealroom suite.
#[derive(Clone)]
pub(crate) enum SuiteKem {
    /// DHKEM (RFC 9180) over the suite's curve.
    Dh(DhKem<Ecdh, Kdf>),
    /// X-Wing.
    XWing(XWingHpkeKem),
}

impl SuiteKem {
    fn new(suite: MlsSuite) -> Option<Self> {
        if suite == MlsSuite::XWingAes256 {
            return Some(SuiteKem::XWing(XWingHpkeKem));
        }
        let cipher_suite = suite.cipher_suite();
        let kem_id = KemId::new(cipher_suite)?;
        let dh = DhKem::new(
            Ecdh::new(cipher_suite)?,
            Kdf::new(cipher_suite)?,
            kem_id as u16,
            kem_id.n_secret(),
        );
        Some(SuiteKem::Dh(dh))
    }
}

/// A KEM failure, whichever the KEM.
#[derive(Debug, thiserror::Error)]
#[error("KEM: {0}")]
pub(crate) struct SuiteKemError(mls_rs_core::error::AnyError);

impl IntoAnyError for SuiteKemError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(self.into())
    }
}

fn kem_error(error: impl IntoAnyError) -> SuiteKemError {
    SuiteKemError(error.into_any_error())
}

impl KemType for SuiteKem {
    type Error = SuiteKemError;

    fn kem_id(&self) -> u16 {
        match self {
            SuiteKem::Dh(kem) => kem.kem_id(),
            SuiteKem::XWing(kem) => kem.kem_id(),
        }
    }

    fn generate_deterministic(
        &self,
        seed: &[u8],
    ) -> Result<(HpkeSecretKey, HpkePublicKey), SuiteKemError> {
        match self {
            SuiteKem::Dh(kem) => kem.generate_deterministic(seed).map_err(kem_error),
            SuiteKem::XWing(kem) => kem.generate_deterministic(seed).map_err(kem_error),
        }
    }

    fn generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), SuiteKemError> {
        match self {
            SuiteKem::Dh(kem) => kem.generate().map_err(kem_error),
            SuiteKem::XWing(kem) => kem.generate().map_err(kem_error),
        }
    }

    fn public_key_validate(&self, key: &HpkePublicKey) -> Result<(), SuiteKemError> {
        match self {
            SuiteKem::Dh(kem) => kem.public_key_validate(key).map_err(kem_error),
            SuiteKem::XWing(kem) => kem.public_key_validate(key).map_err(kem_error),
        }
    }

    fn encap(&self, remote_key: &HpkePublicKey) -> Result<KemResult, SuiteKemError> {
        match self {
            SuiteKem::Dh(kem) => kem.encap(remote_key).map_err(kem_error),
            SuiteKem::XWing(kem) => kem.encap(remote_key).map_err(kem_error),
        }
    }

    fn decap(
        &self,
        enc: &[u8],
        secret_key: &HpkeSecretKey,
        local_public: &HpkePublicKey,
    ) -> Result<Vec<u8>, SuiteKemError> {
        match self {
            SuiteKem::Dh(kem) => kem.decap(enc, secret_key, local_public).map_err(kem_error),
            SuiteKem::XWing(kem) => kem.decap(enc, secret_key, local_public).map_err(kem_error),
        }
    }

    fn seed_length_for_derive(&self) -> usize {
        match self {
            SuiteKem::Dh(kem) => kem.seed_length_for_derive(),
            SuiteKem::XWing(kem) => kem.seed_length_for_derive(),
        }
    }
}

/// One suite's primitives: RustCrypto's, with the suite's own code point, signature scheme and
/// KEM (mls-rs-crypto-rustcrypto picks these from RFC 9420 code points only).
#[derive(Clone)]
pub struct SuiteProvider {
    suite: MlsSuite,
    primitives: RustCryptoCipherSuite<SuiteKem, Kdf, Aead>,
    kem: SuiteKem,
    signer: EcSigner,
}

impl SuiteProvider {
    fn new(suite: MlsSuite) -> Option<Self> {
        let symmetric = suite.symmetric_primitives();
        let kem = SuiteKem::new(suite)?;
        let primitives = RustCryptoCipherSuite::new(
            symmetric,
            kem.clone(),
            Kdf::new(symmetric)?,
            Aead::new(symmetric)?,
        )?;
        Some(Self {
            suite,
            primitives,
            kem,
            signer: EcSigner::new_from_curve(suite.signature_curve()),
        })
    }

    /// The suite this provider serves.
    pub fn suite(&self) -> MlsSuite {
        self.suite
    }
}

impl CipherSuiteProvider for SuiteProvider {
    type Error = RustCryptoError;
    type HpkeContextR = ContextR<Kdf, Aead>;
    type HpkeContextS = ContextS<Kdf, Aead>;

    fn cipher_suite(&self) -> CipherSuite {
        self.suite.cipher_suite()
    }

    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, Self::Error> {
        self.primitives.hash(data)
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Self::Error> {
        self.primitives.mac(key, data)
    }

    fn aead_seal(
        &self,
        key: &[u8],
        data: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Vec<u8>, Self::Error> {
        self.primitives.aead_seal(key, data, aad, nonce)
    }

    fn aead_open(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Self::Error> {
        self.primitives.aead_open(key, ciphertext, aad, nonce)
    }

    fn aead_key_size(&self) -> usize {
        self.primitives.aead_key_size()
    }

    fn aead_nonce_size(&self) -> usize {
        self.primitives.aead_nonce_size()
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Zeroizing<Vec<u8>>, Self::Error> {
        self.primitives.kdf_extract(salt, ikm)
    }

    fn kdf_expand(
        &self,
        prk: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, Self::Error> {
        self.primitives.kdf_expand(prk, info, len)
    }

    fn kdf_extract_size(&self) -> usize {
        self.primitives.kdf_extract_size()
    }

    fn hpke_seal(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
    ) -> Result<HpkeCiphertext, Self::Error> {
        self.primitives.hpke_seal(remote_key, info, aad, pt)
    }

    fn hpke_seal_psk(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
        psk: HpkePsk<'_>,
    ) -> Result<HpkeCiphertext, Self::Error> {
        self.primitives
            .hpke_seal_psk(remote_key, info, aad, pt, psk)
    }

    fn hpke_open(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, Self::Error> {
        self.primitives
            .hpke_open(ciphertext, local_secret, local_public, info, aad)
    }

    fn hpke_open_psk(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        psk: HpkePsk<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, Self::Error> {
        self.primitives
            .hpke_open_psk(ciphertext, local_secret, local_public, info, aad, psk)
    }

    fn hpke_setup_s(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
    ) -> Result<(Vec<u8>, Self::HpkeContextS), Self::Error> {
        self.primitives.hpke_setup_s(remote_key, info)
    }

    fn hpke_setup_r(
        &self,
        enc: &[u8],
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
    ) -> Result<Self::HpkeContextR, Self::Error> {
        self.primitives
            .hpke_setup_r(enc, local_secret, local_public, info)
    }

    /// X-Wing's DeriveKeyPair takes the input keying material as it is; mls-rs's HPKE would
    /// first run DHKEM's labeled extract on it, which the draft does not.
    fn kem_derive(&self, ikm: &[u8]) -> Result<(HpkeSecretKey, HpkePublicKey), Self::Error> {
        match &self.kem {
            SuiteKem::Dh(_) => self.primitives.kem_derive(ikm),
            SuiteKem::XWing(kem) => kem
                .derive_key_pair(ikm)
                .map_err(|e| HpkeError::KemError(e.into_any_error()).into()),
        }
    }

    fn kem_generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), Self::Error> {
        self.primitives.kem_generate()
    }

    fn kem_public_key_validate(&self, key: &HpkePublicKey) -> Result<(), Self::Error> {
        self.primitives.kem_public_key_validate(key)
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), Self::Error> {
        self.primitives.random_bytes(out)
    }

    fn signature_key_generate(
        &self,
    ) -> Result<(SignatureSecretKey, SignaturePublicKey), Self::Error> {
        Ok(self.signer.signature_key_generate()?)
    }

    fn signature_key_derive_public(
        &self,
        secret_key: &SignatureSecretKey,
    ) -> Result<SignaturePublicKey, Self::Error> {
        Ok(self.signer.signature_key_derive_public(secret_key)?)
    }

    fn sign(&self, secret_key: &SignatureSecretKey, data: &[u8]) -> Result<Vec<u8>, Self::Error> {
        Ok(self.signer.sign(secret_key, data)?)
    }

    fn verify(
        &self,
        public_key: &SignaturePublicKey,
        signature: &[u8],
        data: &[u8],
    ) -> Result<(), Self::Error> {
        Ok(self.signer.verify(public_key, signature, data)?)
    }
}

#[cfg(test)]
mod tests;
