//! X-Wing (draft-connolly-cfrg-xwing-kem-06; unchanged in substance and test vectors through
//! -10) as an HPKE KEM (the draft's "Use in HPKE"), on RustCrypto's `x-wing` crate.

use mls_rs_core::{
    crypto::{HpkePublicKey, HpkeSecretKey},
    error::IntoAnyError,
};
use mls_rs_crypto_traits::{KemResult, KemType};
use shake::{ExtendableOutput, Shake256, Update, XofReader};
use x_wing::{
    Ciphertext, DECAPSULATION_KEY_SIZE, Decapsulate, DecapsulationKey, Decapsulator,
    ENCAPSULATION_RANDOMNESS_SIZE, EncapsulationKey, KeyExport,
};
use zeroize::Zeroizing;

use crate::random;

/// X-Wing's HPKE KEM identifier (the draft's IANA section asks for 0x647a).
pub const XWING_KEM_ID: u16 = 0x647a;

/// Why an X-Wing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum XWingError {
    /// An encapsulation key is not 1,216 bytes or fails ML-KEM's modulus check.
    #[error("invalid X-Wing encapsulation key")]
    InvalidPublicKey,
    /// A decapsulation key is not the 32-byte seed.
    #[error("invalid X-Wing decapsulation key")]
    InvalidSecretKey,
    /// A ciphertext is not 1,120 bytes.
    #[error("invalid X-Wing ciphertext")]
    InvalidCiphertext,
    /// The random generator failed.
    #[error("randomness: {0}")]
    Random(String),
}

impl IntoAnyError for XWingError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(self.into())
    }
}

/// X-Wing with HPKE's KEM interface. Keys are what the draft defines: the 32-byte seed as the
/// private key, ML-KEM-768's encapsulation key followed by X25519's public key as the public.
#[derive(Clone, Copy, Debug, Default)]
pub struct XWingHpkeKem;

impl XWingHpkeKem {
    /// `DeriveKeyPair(ikm)`: the key pair of the seed `SHAKE256(ikm, 32)`.
    pub fn derive_key_pair(
        &self,
        ikm: &[u8],
    ) -> Result<(HpkeSecretKey, HpkePublicKey), XWingError> {
        let mut seed = Zeroizing::new([0u8; DECAPSULATION_KEY_SIZE]);
        let mut shake = Shake256::default();
        shake.update(ikm);
        shake.finalize_xof().read(seed.as_mut());
        Ok(key_pair_of_seed(&seed))
    }
}

fn key_pair_of_seed(seed: &[u8; DECAPSULATION_KEY_SIZE]) -> (HpkeSecretKey, HpkePublicKey) {
    let decapsulation_key = DecapsulationKey::from(*seed);
    let public = decapsulation_key.encapsulation_key().to_bytes();
    (seed.to_vec().into(), public.to_vec().into())
}

fn encapsulation_key(key: &HpkePublicKey) -> Result<EncapsulationKey, XWingError> {
    EncapsulationKey::try_from(key.as_ref()).map_err(|_| XWingError::InvalidPublicKey)
}

/// Encapsulate() with its 64 random bytes given (ML-KEM's 32, then X25519's 32).
fn encapsulate_with(
    remote_key: &HpkePublicKey,
    randomness: &[u8; ENCAPSULATION_RANDOMNESS_SIZE],
) -> Result<KemResult, XWingError> {
    let (ciphertext, shared) =
        encapsulation_key(remote_key)?.encapsulate_deterministic(&(*randomness).into());
    Ok(KemResult::new(shared.to_vec(), ciphertext.to_vec()))
}

fn fill_random(bytes: &mut [u8]) -> Result<(), XWingError> {
    random::fill(bytes).map_err(XWingError::Random)
}

impl KemType for XWingHpkeKem {
    type Error = XWingError;

    fn kem_id(&self) -> u16 {
        XWING_KEM_ID
    }

    /// HPKE's DeriveKeyPair; mls-rs calls it on DHKEM's extracted secret only through
    /// `Hpke::derive`, which [`super::SuiteProvider`] bypasses for X-Wing.
    fn generate_deterministic(
        &self,
        seed: &[u8],
    ) -> Result<(HpkeSecretKey, HpkePublicKey), XWingError> {
        self.derive_key_pair(seed)
    }

    fn generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), XWingError> {
        let mut seed = Zeroizing::new([0u8; DECAPSULATION_KEY_SIZE]);
        fill_random(seed.as_mut())?;
        Ok(key_pair_of_seed(&seed))
    }

    fn public_key_validate(&self, key: &HpkePublicKey) -> Result<(), XWingError> {
        encapsulation_key(key).map(drop)
    }

    fn encap(&self, remote_key: &HpkePublicKey) -> Result<KemResult, XWingError> {
        let mut randomness = Zeroizing::new([0u8; ENCAPSULATION_RANDOMNESS_SIZE]);
        fill_random(randomness.as_mut())?;
        encapsulate_with(remote_key, &randomness)
    }

    fn decap(
        &self,
        enc: &[u8],
        secret_key: &HpkeSecretKey,
        _local_public: &HpkePublicKey,
    ) -> Result<Vec<u8>, XWingError> {
        let seed = Zeroizing::new(
            <[u8; DECAPSULATION_KEY_SIZE]>::try_from(secret_key.as_ref())
                .map_err(|_| XWingError::InvalidSecretKey)?,
        );
        let ciphertext = Ciphertext::try_from(enc).map_err(|_| XWingError::InvalidCiphertext)?;
        let shared = DecapsulationKey::from(*seed).decapsulate(&ciphertext);
        Ok(shared.to_vec())
    }

    fn seed_length_for_derive(&self) -> usize {
        DECAPSULATION_KEY_SIZE
    }
}

#[cfg(test)]
mod known_answers;

#[cfg(test)]
mod tests {
    use super::*;
    use x_wing::CIPHERTEXT_SIZE;

    #[test]
    fn encapsulation_round_trips_and_tampering_changes_the_secret() {
        let kem = XWingHpkeKem;
        let (secret, public) = kem.generate().unwrap();
        assert_eq!(public.as_ref().len(), x_wing::ENCAPSULATION_KEY_SIZE);
        let sent = kem.encap(&public).unwrap();
        assert_eq!(sent.enc().len(), CIPHERTEXT_SIZE);
        let received = kem.decap(sent.enc(), &secret, &public).unwrap();
        assert_eq!(received, sent.shared_secret());

        let mut tampered = sent.enc().to_vec();
        tampered[0] ^= 1;
        let other = kem.decap(&tampered, &secret, &public).unwrap();
        assert_ne!(other, sent.shared_secret());
    }

    #[test]
    fn derivation_is_deterministic_and_depends_on_the_ikm() {
        let kem = XWingHpkeKem;
        let (secret, public) = kem.derive_key_pair(b"node secret").unwrap();
        assert_eq!(kem.derive_key_pair(b"node secret").unwrap().1, public);
        assert_ne!(kem.derive_key_pair(b"node secret 2").unwrap().1, public);
        assert_eq!(secret.as_ref().len(), DECAPSULATION_KEY_SIZE);
    }

    #[test]
    fn malformed_keys_and_ciphertexts_are_errors() {
        let kem = XWingHpkeKem;
        let (secret, public) = kem.generate().unwrap();
        let short = HpkePublicKey::from(vec![0u8; 100]);
        assert!(kem.public_key_validate(&short).is_err());
        assert!(kem.encap(&short).is_err());
        // ML-KEM's modulus check: coefficients of 0xfff are not below q = 3329.
        let unreduced = HpkePublicKey::from(vec![0xff; x_wing::ENCAPSULATION_KEY_SIZE]);
        assert!(kem.public_key_validate(&unreduced).is_err());
        assert!(kem.decap(&[0; 10], &secret, &public).is_err());
        let bad_secret = HpkeSecretKey::from(vec![0u8; 31]);
        let sent = kem.encap(&public).unwrap();
        assert!(kem.decap(sent.enc(), &bad_secret, &public).is_err());
    }
}
