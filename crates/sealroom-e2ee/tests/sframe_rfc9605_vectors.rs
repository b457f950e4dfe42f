//! Every test vector of RFC 9605 Appendix C, read from `tests/data/rfc9605-appendix-c.json`.

use sealroom_e2ee::sframe::{Aead, CipherSuite, Header, SframeError, SframeKey};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    source: String,
    header: Vec<HeaderVector>,
    aes_ctr_hmac: Vec<AeadVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Deserialize)]
struct HeaderVector {
    kid: String,
    ctr: String,
    header: String,
}

#[derive(Deserialize)]
struct AeadVector {
    cipher_suite: String,
    key: String,
    enc_key: String,
    auth_key: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

#[derive(Deserialize)]
struct SframeVector {
    cipher_suite: String,
    kid: String,
    ctr: String,
    base_key: String,
    sframe_key: String,
    sframe_salt: String,
    metadata: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

fn vectors() -> Vectors {
    let json = include_str!("data/rfc9605-appendix-c.json");
    let vectors: Vectors = serde_json::from_str(json).expect("vector file parses");
    assert!(vectors.source.contains("RFC 9605 Appendix C"));
    vectors
}

/// A number as the RFC prints it: hex with a `0x` prefix.
fn number(text: &str) -> u64 {
    let digits = text.strip_prefix("0x").expect("0x prefix");
    u64::from_str_radix(digits, 16).expect("hex number")
}

fn suite(text: &str) -> CipherSuite {
    CipherSuite::from_id(u16::try_from(number(text)).expect("2-byte suite")).expect("known suite")
}

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex bytes")
}

fn nonce(text: &str) -> [u8; 12] {
    bytes(text).try_into().expect("12-byte nonce")
}

#[test]
fn c1_header_encoding_and_decoding() {
    let vectors = vectors().header;
    assert_eq!(vectors.len(), 289);
    for vector in vectors {
        let header = Header::new(number(&vector.kid), number(&vector.ctr));
        let encoded = bytes(&vector.header);
        assert_eq!(header.encode(), encoded, "encode {header:?}");
        assert_eq!(
            Header::decode(&encoded),
            Ok((header, encoded.len())),
            "decode {}",
            vector.header
        );
    }
}

#[test]
fn c2_aes_ctr_hmac_aead() {
    let vectors = vectors().aes_ctr_hmac;
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        let suite = suite(&vector.cipher_suite);
        let key = bytes(&vector.key);
        let nka = suite.nka().expect("a CTR-HMAC suite");
        assert_eq!(key[..nka], bytes(&vector.enc_key)[..], "{suite:?} enc_key");
        assert_eq!(
            key[nka..],
            bytes(&vector.auth_key)[..],
            "{suite:?} auth_key"
        );

        let aead = Aead::new(suite, &key).unwrap();
        let (nonce, aad) = (nonce(&vector.nonce), bytes(&vector.aad));
        let (pt, ct) = (bytes(&vector.pt), bytes(&vector.ct));
        assert_eq!(
            aead.encrypt(&nonce, &aad, &pt).unwrap(),
            ct,
            "{suite:?} encrypt"
        );
        assert_eq!(
            aead.decrypt(&nonce, &aad, &ct).unwrap(),
            pt,
            "{suite:?} decrypt"
        );

        let mut forged = ct.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(
            aead.decrypt(&nonce, &aad, &forged),
            Err(SframeError::AuthenticationFailed)
        );
    }
}

#[test]
fn c3_sframe_encryption_and_decryption() {
    let vectors = vectors().sframe;
    assert_eq!(vectors.len(), 5);
    for vector in vectors {
        let suite = suite(&vector.cipher_suite);
        let (kid, ctr) = (number(&vector.kid), number(&vector.ctr));
        let key = SframeKey::derive(suite, kid, &bytes(&vector.base_key));
        assert_eq!(key.key(), bytes(&vector.sframe_key), "{suite:?} sframe_key");
        assert_eq!(
            key.salt()[..],
            bytes(&vector.sframe_salt),
            "{suite:?} sframe_salt"
        );
        assert_eq!(key.nonce(ctr), nonce(&vector.nonce), "{suite:?} nonce");

        let metadata = bytes(&vector.metadata);
        let aad = [Header::new(kid, ctr).encode(), metadata.clone()].concat();
        assert_eq!(aad, bytes(&vector.aad), "{suite:?} aad");

        let (pt, ct) = (bytes(&vector.pt), bytes(&vector.ct));
        assert_eq!(
            key.encrypt(ctr, &metadata, &pt).unwrap(),
            ct,
            "{suite:?} encrypt"
        );
        assert_eq!(
            key.decrypt(&metadata, &ct).unwrap(),
            pt,
            "{suite:?} decrypt"
        );
    }
}
