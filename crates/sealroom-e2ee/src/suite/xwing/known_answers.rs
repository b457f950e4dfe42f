//! The X-Wing draft's test vectors (`tests/data/xwing-draft-06-test-vectors.json`), through the
//! same key generation, encapsulation and decapsulation the MLS suite runs.

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(deserialize_with = "from_hex")]
    seed: Vec<u8>,
    #[serde(deserialize_with = "from_hex")]
    eseed: Vec<u8>,
    #[serde(deserialize_with = "from_hex")]
    sk: Vec<u8>,
    #[serde(deserialize_with = "from_hex")]
    pk: Vec<u8>,
    #[serde(deserialize_with = "from_hex")]
    ct: Vec<u8>,
    #[serde(deserialize_with = "from_hex")]
    ss: Vec<u8>,
}

fn from_hex<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    hex::decode(text).map_err(serde::de::Error::custom)
}

fn vectors() -> Vec<Vector> {
    let json = include_str!("../../../tests/data/xwing-draft-06-test-vectors.json");
    serde_json::from_str::<Vectors>(json).unwrap().vectors
}

#[test]
fn every_vector_of_the_draft_is_reproduced() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        let seed: [u8; DECAPSULATION_KEY_SIZE] = vector.seed.as_slice().try_into().unwrap();
        let (secret, public) = key_pair_of_seed(&seed);
        assert_eq!(secret.as_ref(), vector.sk);
        assert_eq!(public.as_ref(), vector.pk);

        let eseed: [u8; ENCAPSULATION_RANDOMNESS_SIZE] =
            vector.eseed.as_slice().try_into().unwrap();
        let sent = encapsulate_with(&public, &eseed).unwrap();
        assert_eq!(sent.enc(), vector.ct);
        assert_eq!(sent.shared_secret(), vector.ss);

        let received = XWingHpkeKem.decap(&vector.ct, &secret, &public).unwrap();
        assert_eq!(received, vector.ss);
    }
}
