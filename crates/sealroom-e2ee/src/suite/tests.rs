use mls_rs_core::crypto::{CipherSuiteProvider, CryptoProvider};

use super::*;

#[test]
fn code_points_names_and_media_suites() {
    let provider = SealroomCryptoProvider;
    assert_eq!(
        provider.supported_cipher_suites(),
        [0x0001, 0x0007, XWING_PROVISIONAL_CODE_POINT].map(CipherSuite::new)
    );
    for suite in MlsSuite::ALL {
        assert_eq!(
            MlsSuite::from_cipher_suite(suite.cipher_suite()),
            Some(suite)
        );
        let serving = provider
            .cipher_suite_provider(suite.cipher_suite())
            .unwrap();
        assert_eq!(serving.cipher_suite(), suite.cipher_suite());
        assert_eq!(serving.suite(), suite);
    }
    assert_eq!(MlsSuite::default(), MlsSuite::Curve25519Aes128);
    assert_eq!(MlsSuite::from_cipher_suite(CipherSuite::P256_AES128), None);
    assert!(
        provider
            .cipher_suite_provider(CipherSuite::CURVE448_AES256)
            .is_none()
    );
    assert_eq!(
        MlsSuite::XWingAes256.sframe_suite(),
        sframe::CipherSuite::AesGcm256Sha512
    );
}

/// What each suite is made of: key, hash and ciphertext sizes tell the primitives apart.
#[test]
fn each_suite_runs_its_own_primitives() {
    // (suite, hash length, AEAD key length, HPKE public key length, signature public key length)
    let expected = [
        (MlsSuite::Curve25519Aes128, 32, 16, 32, 32),
        (MlsSuite::P384Aes256, 48, 32, 97, 97),
        (MlsSuite::XWingAes256, 48, 32, 1216, 32),
    ];
    for (suite, hash, aead_key, kem_public, signature_public) in expected {
        let provider = provider(suite).unwrap();
        assert_eq!(provider.hash(b"x").unwrap().len(), hash, "{suite:?}");
        assert_eq!(provider.kdf_extract_size(), hash, "{suite:?}");
        assert_eq!(provider.aead_key_size(), aead_key, "{suite:?}");
        let (_, public) = provider.kem_generate().unwrap();
        assert_eq!(public.as_ref().len(), kem_public, "{suite:?}");
        let (_, public) = provider.signature_key_generate().unwrap();
        assert_eq!(public.as_ref().len(), signature_public, "{suite:?}");
    }
}

#[test]
fn hpke_and_signatures_round_trip_in_every_suite() {
    for suite in MlsSuite::ALL {
        let provider = provider(suite).unwrap();
        let (secret, public) = provider.kem_derive(b"path secret").unwrap();
        assert_eq!(provider.kem_derive(b"path secret").unwrap().1, public);
        let sealed = provider
            .hpke_seal(&public, b"info", Some(b"aad"), b"welcome")
            .unwrap();
        let opened = provider
            .hpke_open(&sealed, &secret, &public, b"info", Some(b"aad"))
            .unwrap();
        assert_eq!(opened.as_slice(), b"welcome", "{suite:?}");
        assert!(
            provider
                .hpke_open(&sealed, &secret, &public, b"other", Some(b"aad"))
                .is_err()
        );

        let (signing, verifying) = provider.signature_key_generate().unwrap();
        let signature = provider.sign(&signing, b"commit").unwrap();
        assert!(provider.verify(&verifying, &signature, b"commit").is_ok());
        assert!(provider.verify(&verifying, &signature, b"commit!").is_err());
    }
}

/// X-Wing's DeriveKeyPair is SHAKE256 of the IKM itself (the draft's "Use in HPKE"), not
/// DHKEM's extract-then-expand.
#[test]
fn xwing_derives_node_keys_as_the_draft_says() {
    let provider = provider(MlsSuite::XWingAes256).unwrap();
    let (secret, public) = provider.kem_derive(b"path secret").unwrap();
    let (draft_secret, draft_public) = XWingHpkeKem.derive_key_pair(b"path secret").unwrap();
    assert_eq!(secret.as_ref(), draft_secret.as_ref());
    assert_eq!(public, draft_public);
    let sealed = provider.hpke_seal(&public, b"info", None, b"x").unwrap();
    assert_eq!(sealed.kem_output.len(), 1120);
}
