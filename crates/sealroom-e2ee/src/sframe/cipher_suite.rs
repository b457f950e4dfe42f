use super::SframeError;

/// An SFrame cipher suite from the IANA registry of RFC 9605 §8.1, with the constants of §4.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CipherSuite {
    /// `AES_128_CTR_HMAC_SHA256_80`: AES-128-CTR with an 80-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_80 = 0x0001,
    /// `AES_128_CTR_HMAC_SHA256_64`: AES-128-CTR with a 64-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_64 = 0x0002,
    /// `AES_128_CTR_HMAC_SHA256_32`: AES-128-CTR with a 32-bit HMAC-SHA256 tag.
    AesCtr128HmacSha256_32 = 0x0003,
    /// `AES_128_GCM_SHA256_128`: AES-128-GCM, HKDF-SHA256.
    AesGcm128Sha256 = 0x0004,
    /// `AES_256_GCM_SHA512_128`: AES-256-GCM, HKDF-SHA512.
    AesGcm256Sha512 = 0x0005,
}

/// Hash function of a cipher suite (for HKDF and, in the CTR suites, HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

impl CipherSuite {
    /// All suites of RFC 9605 §8.1, in registry order.
    pub const ALL: [CipherSuite; 5] = [
        Self::AesCtr128HmacSha256_80,
        Self::AesCtr128HmacSha256_64,
        Self::AesCtr128HmacSha256_32,
        Self::AesGcm128Sha256,
        Self::AesGcm256Sha512,
    ];

    /// The suite's 2-byte registry value.
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The suite with registry value `id`.
    pub fn from_id(id: u16) -> Result<Self, SframeError> {
        Self::ALL
            .into_iter()
            .find(|suite| suite.id() == id)
            .ok_or(SframeError::UnknownCipherSuite(id))
    }

    /// `Nh`: output size of the hash function in bytes.
    pub const fn nh(self) -> usize {
        match self.hash() {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    /// `Nk`: AEAD key size in bytes (for the CTR suites, `Nka + Nh`, see RFC 9605 §4.5.1).
    pub const fn nk(self) -> usize {
        match self {
            Self::AesCtr128HmacSha256_80
            | Self::AesCtr128HmacSha256_64
            | Self::AesCtr128HmacSha256_32 => 16 + 32,
            Self::AesGcm128Sha256 => 16,
            Self::AesGcm256Sha512 => 32,
        }
    }

    /// `Nka`: AES key size inside the CTR-HMAC compound key, `None` for the GCM suites.
    pub const fn nka(self) -> Option<usize> {
        match self {
            Self::AesCtr128HmacSha256_80
            | Self::AesCtr128HmacSha256_64
            | Self::AesCtr128HmacSha256_32 => Some(16),
            Self::AesGcm128Sha256 | Self::AesGcm256Sha512 => None,
        }
    }

    /// `Nn`: nonce size in bytes (12 for every suite).
    pub const fn nn(self) -> usize {
        NONCE_LEN
    }

    /// `Nt`: authentication tag size in bytes.
    pub const fn nt(self) -> usize {
        match self {
            Self::AesCtr128HmacSha256_80 => 10,
            Self::AesCtr128HmacSha256_64 => 8,
            Self::AesCtr128HmacSha256_32 => 4,
            Self::AesGcm128Sha256 | Self::AesGcm256Sha512 => 16,
        }
    }

    pub(crate) const fn hash(self) -> Hash {
        match self {
            Self::AesGcm256Sha512 => Hash::Sha512,
            _ => Hash::Sha256,
        }
    }
}

/// `Nn` is the same for every suite, which lets nonces live on the stack.
pub(crate) const NONCE_LEN: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_refused() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(suite.id()), Ok(suite));
        }
        assert_eq!(
            CipherSuite::from_id(0x0000),
            Err(SframeError::UnknownCipherSuite(0))
        );
        assert_eq!(
            CipherSuite::from_id(0xF000),
            Err(SframeError::UnknownCipherSuite(0xF000))
        );
    }

    #[test]
    fn constants_match_rfc_9605_table_1() {
        // (Nh, Nka, Nk, Nn, Nt) per suite.
        let table = [
            (32, Some(16), 48, 12, 10),
            (32, Some(16), 48, 12, 8),
            (32, Some(16), 48, 12, 4),
            (32, None, 16, 12, 16),
            (64, None, 32, 12, 16),
        ];
        for (suite, row) in CipherSuite::ALL.into_iter().zip(table) {
            assert_eq!(
                (suite.nh(), suite.nka(), suite.nk(), suite.nn(), suite.nt()),
                row
            );
        }
    }
}
