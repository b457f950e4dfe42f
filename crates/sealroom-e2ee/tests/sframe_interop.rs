//! Interoperability with the independent `sframe` crate (sframe-rs): frames either side
//! protects, the other decrypts, for the same base key, KID, CTR and metadata.

use std::convert::Infallible;
use std::time::Duration;

use sealroom_e2ee::sframe::{
    self as ours, EPOCH_BITS, MLS_EXPORTER_CONTEXT, MLS_EXPORTER_LABEL, MediaKeyring, SframeKey,
    mls_exporter_length, mls_kid,
};
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::mls::{MlsExporter, MlsKeyId, MlsKeyIdBitRange};

/// GCM suites and CTR-HMAC suites with the longest and the shortest tag.
const SUITES: [(ours::CipherSuite, sframe::CipherSuite); 4] = [
    (
        ours::CipherSuite::AesGcm128Sha256,
        sframe::CipherSuite::AesGcm128Sha256,
    ),
    (
        ours::CipherSuite::AesGcm256Sha512,
        sframe::CipherSuite::AesGcm256Sha512,
    ),
    (
        ours::CipherSuite::AesCtr128HmacSha256_80,
        sframe::CipherSuite::AesCtr128HmacSha256_80,
    ),
    (
        ours::CipherSuite::AesCtr128HmacSha256_32,
        sframe::CipherSuite::AesCtr128HmacSha256_32,
    ),
];

const BASE_KEY: &[u8] = b"sealroom interop base key bytes";
const CTRS: [u64; 4] = [0, 7, 0x4567, u64::MAX];
const KID: u64 = mls_kid(3, 0x1_07);
const METADATA: &[u8] = b"\x90\x01\x02 clear prefix\x05";

fn payloads() -> [Vec<u8>; 3] {
    [
        Vec::new(),
        b"opus".to_vec(),
        (0..1200u32).map(|i| i as u8).collect(),
    ]
}

/// Encrypts `payload` with the `sframe` crate; returns the SFrame ciphertext (header, ct, tag).
fn their_encrypt(suite: sframe::CipherSuite, ctr: u64, metadata: &[u8], payload: &[u8]) -> Vec<u8> {
    let key = EncryptionKey::derive_from(suite, KID, BASE_KEY).unwrap();
    let mut counter = MonotonicCounter::with_start_value(ctr, u64::MAX);
    let frame = MediaFrame::try_with_meta_data(&mut counter, payload, metadata).unwrap();
    frame.encrypt(&key).unwrap().sframe_cipher_text().to_vec()
}

/// Decrypts an SFrame ciphertext with the `sframe` crate.
fn their_decrypt(suite: sframe::CipherSuite, metadata: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let key = DecryptionKey::derive_from(suite, KID, BASE_KEY).unwrap();
    let frame = EncryptedFrame::try_with_meta_data(ciphertext, metadata).unwrap();
    frame.decrypt(&key).unwrap().payload().to_vec()
}

#[test]
fn sframe_crate_decrypts_our_frames() {
    for (our_suite, their_suite) in SUITES {
        let key = SframeKey::derive(our_suite, KID, BASE_KEY);
        for ctr in CTRS {
            for payload in payloads() {
                let ciphertext = key.encrypt(ctr, METADATA, &payload).unwrap();
                assert_eq!(
                    their_decrypt(their_suite, METADATA, &ciphertext),
                    payload,
                    "{our_suite:?} ctr {ctr} len {}",
                    payload.len()
                );
            }
        }
    }
}

#[test]
fn we_decrypt_sframe_crate_frames() {
    for (our_suite, their_suite) in SUITES {
        let key = SframeKey::derive(our_suite, KID, BASE_KEY);
        for ctr in CTRS {
            for payload in payloads() {
                let ciphertext = their_encrypt(their_suite, ctr, METADATA, &payload);
                assert_eq!(
                    key.decrypt(METADATA, &ciphertext).unwrap(),
                    payload,
                    "{our_suite:?} ctr {ctr} len {}",
                    payload.len()
                );
                // Both AEADs are deterministic, so the bytes must be equal too.
                assert_eq!(key.encrypt(ctr, METADATA, &payload).unwrap(), ciphertext);
            }
        }
    }
}

/// Hands the `sframe` crate the base key our keyring was given, and checks it asks for it
/// with the exporter label, context and length we publish.
struct Exporter(Vec<u8>);

impl MlsExporter for Exporter {
    type BaseKey = Vec<u8>;
    type Error = Infallible;

    fn export_secret(
        &self,
        label: &str,
        context: &[u8],
        key_length: usize,
    ) -> Result<Vec<u8>, Infallible> {
        assert_eq!(label, MLS_EXPORTER_LABEL);
        assert_eq!(context, MLS_EXPORTER_CONTEXT);
        assert_eq!(key_length, self.0.len());
        Ok(self.0.clone())
    }
}

#[test]
fn keyring_frames_match_the_sframe_crate_mls_key_schedule() {
    let (epoch, sender_index) = (0x2_05u64, 9u32);
    for (our_suite, their_suite) in SUITES {
        let exporter = Exporter(vec![0x5a; mls_exporter_length(our_suite)]);
        let mut keyring = MediaKeyring::new(our_suite);
        keyring
            .install_epoch(Duration::ZERO, epoch, &exporter.0, sender_index)
            .unwrap();
        let clear_prefix_len = 3;
        let frame = b"\x10\x02\x00 vp8 frame with a 3-byte clear prefix";
        let wire = keyring.protect(clear_prefix_len, frame).unwrap();

        // RFC 9605 §5.2 KID with E = 8 and context 0, as the sframe crate builds it.
        let bit_range = MlsKeyIdBitRange::new(EPOCH_BITS as u8, 16);
        let kid = MlsKeyId::try_new(0u64, epoch, sender_index, bit_range).unwrap();
        let key = DecryptionKey::derive_from_mls(their_suite, &exporter, kid).unwrap();

        let (&trailer, body) = wire.split_last().unwrap();
        assert_eq!(usize::from(trailer), clear_prefix_len);
        let (clear_prefix, ciphertext) = body.split_at(clear_prefix_len);
        let metadata = [clear_prefix, &[trailer]].concat();
        let decrypted = EncryptedFrame::try_with_meta_data(ciphertext, &metadata)
            .unwrap()
            .decrypt(&key)
            .unwrap();
        assert_eq!(
            decrypted.payload(),
            &frame[clear_prefix_len..],
            "{our_suite:?}"
        );
        assert_eq!(clear_prefix, &frame[..clear_prefix_len]);
    }
}
