//! The security code people compare aloud: derived from the MLS epoch authenticator, so it is the
//! same on every member's screen exactly when they share the same group state, and differs when a
//! server forks the group or slips in a member.

use std::fmt;

use sha2::{Digest, Sha256};

/// Number of five-digit groups in the digit form (20 digits, about 66 bits).
pub const DIGIT_GROUPS: usize = 4;
/// Number of words in the spoken form (6 BIP-39 words, 66 bits).
pub const WORD_COUNT: usize = 6;

/// The code for one epoch, as digits and as words. Both carry about 66 bits: a server that
/// forks a group would have to grind ~2^66 commits to make two forks show the same code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityCode {
    digit_groups: [u32; DIGIT_GROUPS],
    words: [&'static str; WORD_COUNT],
}

impl SecurityCode {
    /// Derives the code from an MLS epoch authenticator (RFC 9420 §8.7).
    pub fn from_epoch_authenticator(authenticator: &[u8]) -> Self {
        // Hashing under a label keeps the displayed bits apart from any other use of the
        // authenticator.
        let digest: [u8; 32] = Sha256::new()
            .chain_update(b"sealroom security code v1")
            .chain_update(authenticator)
            .finalize()
            .into();

        let digit_groups = std::array::from_fn(|i| {
            let chunk = &digest[i * 5..i * 5 + 5];
            let value = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            (value % 100_000) as u32
        });

        // The words take 66 of the 72 bits after the 20 bytes the digits used, 11 bits each.
        let word_bits = digest[20..29]
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let word_list = bip39::Language::English.word_list();
        let words = std::array::from_fn(|i| {
            let shift = 72 - 11 * (i + 1);
            word_list[((word_bits >> shift) & 0x7ff) as usize]
        });

        Self {
            digit_groups,
            words,
        }
    }

    /// The digit form, e.g. `"04512 99310 12873 55021"`.
    pub fn digits(&self) -> String {
        self.digit_groups
            .iter()
            .map(|group| format!("{group:05}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The spoken form: six words from the BIP-39 English list, chosen so that each is
    /// recognisable from its first four letters.
    pub fn words(&self) -> [&'static str; WORD_COUNT] {
        self.words
    }
}

impl fmt::Display for SecurityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_four_groups_of_five() {
        let code = SecurityCode::from_epoch_authenticator(&[7; 32]);
        let digits = code.digits();
        assert_eq!(digits.len(), 4 * 5 + 3);
        assert!(
            digits
                .split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_eq!(code.words().len(), WORD_COUNT);
    }

    #[test]
    fn any_bit_of_the_authenticator_changes_the_code() {
        let base = SecurityCode::from_epoch_authenticator(&[0; 32]);
        for bit in 0..256 {
            let mut authenticator = [0u8; 32];
            authenticator[bit / 8] ^= 1 << (bit % 8);
            let other = SecurityCode::from_epoch_authenticator(&authenticator);
            assert_ne!(base.digits(), other.digits());
            assert_ne!(base.words(), other.words());
        }
    }
}
