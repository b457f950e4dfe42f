//! The security code people compare aloud: derived from the MLS epoch authenticator, so it is the
//! same on every member's screen exactly when they share the same group state, and differs when a
//! server forks the group or slips in a member.
//!
//! A server that splits the group controls members on both sides and can grind commits in each
//! fork until two codes collide: a birthday search of 2^(bits/2) candidates per fork. Both forms
//! carry at least 132 bits, so that search costs at least 2^66 commits per fork.

use std::fmt;

use sha2::{Digest, Sha256};

/// Number of five-digit groups in the digit form: 40 digits, each group uniform below 10^5, so
/// 40 × log2(10) ≈ 132.9 bits.
pub const DIGIT_GROUPS: usize = 8;
/// Number of words in the spoken form: 12 BIP-39 words of 11 bits, so 132 bits.
pub const WORD_COUNT: usize = 12;

/// Hashing under a label keeps the displayed bits apart from any other use of the authenticator.
const LABEL: &[u8] = b"sealroom security code v2";
/// Each digit group is one value below this.
const DIGIT_GROUP_RANGE: u32 = 100_000;
/// Bits drawn per candidate digit group: the fewest that reach `DIGIT_GROUP_RANGE`.
const DIGIT_CANDIDATE_BITS: u32 = 17;
/// Bits per word (the BIP-39 list has 2^11 words).
const WORD_BITS: u32 = 11;

/// The code for one epoch, as digits and as words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityCode {
    digit_groups: [u32; DIGIT_GROUPS],
    words: [&'static str; WORD_COUNT],
}

impl SecurityCode {
    /// Derives the code from an MLS epoch authenticator (RFC 9420 §8.7).
    pub fn from_epoch_authenticator(authenticator: &[u8]) -> Self {
        let mut bits = BitReader::new(derived_bytes(authenticator));
        // The words come first, so they always take the first 132 bits; the digit groups take
        // however many bits their rejection sampling needs after that.
        let word_list = bip39::Language::English.word_list();
        let words = std::array::from_fn(|_| word_list[bits.read(WORD_BITS) as usize]);
        let digit_groups = std::array::from_fn(|_| unbiased_digit_group(&mut bits));
        Self {
            digit_groups,
            words,
        }
    }

    /// The digit form: eight groups of five digits separated by single spaces, e.g.
    /// `"04512 99310 12873 55021 70946 00318 42871 93305"`.
    pub fn digits(&self) -> String {
        self.digit_groups
            .iter()
            .map(|group| format!("{group:05}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The spoken form: twelve words from the BIP-39 English list, chosen so that each is
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

/// An endless byte stream: SHA-256(label ‖ counter ‖ authenticator) for counter 0, 1, 2, …
///
/// Rejection sampling needs a number of bits not known in advance, which a fixed-length output
/// (SHA-512, or HKDF-Expand asked for a set length) cannot promise. A hash in counter mode gives
/// as many as it takes, from the same SHA-256 and label, without another dependency. Nothing
/// here is secret (the code is shown on screen), so all it must be is a function no one can
/// steer: each block is a separate hash of the whole authenticator.
fn derived_bytes(authenticator: &[u8]) -> impl Iterator<Item = u8> + '_ {
    (0u32..).flat_map(move |counter| {
        let block: [u8; 32] = Sha256::new()
            .chain_update(LABEL)
            .chain_update(counter.to_be_bytes())
            .chain_update(authenticator)
            .finalize()
            .into();
        block
    })
}

/// A value uniform below `DIGIT_GROUP_RANGE`: 17-bit candidates until one is in range (about
/// 1.3 draws on average). Taking a wider value modulo the range would favour the low values.
fn unbiased_digit_group(bits: &mut BitReader<impl Iterator<Item = u8>>) -> u32 {
    loop {
        let candidate = bits.read(DIGIT_CANDIDATE_BITS);
        if candidate < DIGIT_GROUP_RANGE {
            return candidate;
        }
    }
}

/// Reads a byte stream as bits, most significant first.
struct BitReader<I> {
    bytes: I,
    buffer: u64,
    buffered: u32,
}

impl<I: Iterator<Item = u8>> BitReader<I> {
    fn new(bytes: I) -> Self {
        Self {
            bytes,
            buffer: 0,
            buffered: 0,
        }
    }

    /// The next `width` bits (at most 32) as a number.
    fn read(&mut self, width: u32) -> u32 {
        debug_assert!(width <= 32);
        while self.buffered < width {
            let byte = self
                .bytes
                .next()
                .expect("the derived byte stream is endless");
            self.buffer = (self.buffer << 8) | u64::from(byte);
            self.buffered += 8;
        }
        self.buffered -= width;
        let value = self.buffer >> self.buffered;
        self.buffer &= (1 << self.buffered) - 1;
        value as u32
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    /// Unrelated authenticators: the hashes of a counter.
    fn authenticators(count: u32) -> impl Iterator<Item = [u8; 32]> {
        (0..count).map(|i| Sha256::digest(i.to_be_bytes()).into())
    }

    fn digit_groups(code: &SecurityCode) -> Vec<String> {
        code.digits().split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn digits_are_eight_groups_of_five_and_words_are_twelve_bip39_words() {
        let code = SecurityCode::from_epoch_authenticator(&[7; 32]);
        let groups = digit_groups(&code);
        assert_eq!(groups.len(), DIGIT_GROUPS);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        let word_list = bip39::Language::English.word_list();
        assert!(code.words().iter().all(|w| word_list.contains(w)));
    }

    #[test]
    fn bits_are_read_most_significant_first_across_bytes() {
        let mut bits = BitReader::new([0b1010_1100, 0b0101_0011, 0xff].into_iter());
        assert_eq!(bits.read(3), 0b101);
        assert_eq!(bits.read(11), 0b011_0001_0100);
        assert_eq!(bits.read(10), 0b11_1111_1111);
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

    /// The code's parts in order, each with the number of values it can take: the eight digit
    /// groups, then the twelve words.
    fn parts(code: &SecurityCode) -> Vec<(String, usize)> {
        let groups = digit_groups(code).into_iter().map(|g| (g, 100_000));
        let words = code.words().map(|w| (w.to_owned(), 2_048));
        groups.chain(words).collect()
    }

    /// Every part takes fresh values of its own: were one fixed, narrowed, or a copy of another,
    /// the code would carry fewer bits than it claims.
    #[test]
    fn every_group_and_word_varies_on_its_own() {
        const DRAWS: usize = 2_000;
        let codes: Vec<Vec<(String, usize)>> = authenticators(DRAWS as u32)
            .map(|a| parts(&SecurityCode::from_epoch_authenticator(&a)))
            .collect();
        let count = DIGIT_GROUPS + WORD_COUNT;
        for p in 0..count {
            let range = codes[0][p].1;
            let distinct: HashSet<&String> = codes.iter().map(|c| &c[p].0).collect();
            // Distinct values among DRAWS uniform draws from `range`.
            let expected = range as f64 * (1.0 - (1.0 - 1.0 / range as f64).powi(DRAWS as i32));
            let seen = distinct.len() as f64;
            assert!(
                (seen - expected).abs() < 0.03 * expected,
                "part {p}: {seen} of {expected:.0}"
            );
            for q in p + 1..count {
                let same = codes.iter().filter(|c| c[p].0 == c[q].0).count();
                // Independent parts agree about DRAWS / range times (1 for words, 0 for digits).
                assert!(
                    same <= DRAWS / range + 8,
                    "parts {p} and {q} agree {same} times"
                );
            }
        }
    }

    /// No bias toward low values: each digit group's leading digit is uniform, where reducing a
    /// 17-bit value modulo 100,000 would favour 0 to 3.
    #[test]
    fn leading_digits_of_the_groups_are_uniform() {
        let mut counts: HashMap<u8, usize> = HashMap::new();
        let codes = authenticators(5_000).map(|a| SecurityCode::from_epoch_authenticator(&a));
        for code in codes {
            for group in digit_groups(&code) {
                *counts.entry(group.as_bytes()[0]).or_default() += 1;
            }
        }
        // 40,000 groups, 4,000 expected per leading digit, standard deviation 60.
        for digit in b'0'..=b'9' {
            let count = counts.get(&digit).copied().unwrap_or(0);
            assert!(
                (3_700..=4_300).contains(&count),
                "{}: {count}",
                digit as char
            );
        }
    }

    /// A derivation that narrowed the code to 30 bits or fewer would almost surely repeat within
    /// 100,000 draws (about n^2 / 2^31 repeats expected).
    #[test]
    fn different_authenticators_never_share_a_code() {
        let mut digits = HashSet::new();
        let mut words = HashSet::new();
        for authenticator in authenticators(100_000) {
            let code = SecurityCode::from_epoch_authenticator(&authenticator);
            assert!(digits.insert(code.digits()));
            assert!(words.insert(code.words()));
        }
    }
}
