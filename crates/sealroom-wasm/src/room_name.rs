//! Room names people can read aloud and nobody can guess: eight BIP-39 English words, 88 bits
//! from the browser's `crypto.getRandomValues` (at least 80 bits keeps a room's name out of
//! reach of guessing at any join rate the server allows).

use sealroom_protocol::MAX_ROOM_NAME_BYTES;
use wasm_bindgen::prelude::*;

use crate::error::js_error;

/// Words in a generated room name.
pub const ROOM_NAME_WORDS: usize = 8;

/// Bits each word carries (the BIP-39 list has 2^11 words).
const BITS_PER_WORD: usize = 11;

/// Random bytes one name consumes: 8 × 11 = 88 bits.
const ENTROPY_BYTES: usize = ROOM_NAME_WORDS * BITS_PER_WORD / 8;

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues`, in windows, workers and Node alike.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buffer: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// A fresh room name such as `"abandon-ability-able-about-above-absent-absorb-abstract"`:
/// eight lowercase BIP-39 English words joined by `-`, at most 64 bytes (a valid room name).
#[wasm_bindgen(js_name = generateRoomName)]
pub fn generate_room_name() -> Result<String, JsValue> {
    loop {
        let mut entropy = [0u8; ENTROPY_BYTES];
        get_random_values(&mut entropy)
            .map_err(|_| js_error("no_randomness", "crypto.getRandomValues is unavailable"))?;
        // About one draw in 70,000 is too long for a room name; drawing again costs under
        // 0.0001 bits of the 88.
        if let Some(name) = room_name_from_entropy(&entropy) {
            return Ok(name);
        }
    }
}

/// The room name the 88 bits of `entropy` spell (11 bits per word, most significant first), or
/// `None` if it would be longer than a room name may be.
pub fn room_name_from_entropy(entropy: &[u8; ENTROPY_BYTES]) -> Option<String> {
    let bits = entropy
        .iter()
        .fold(0u128, |acc, &byte| (acc << 8) | u128::from(byte));
    let word_list = bip39::Language::English.word_list();
    let words: Vec<&str> = (0..ROOM_NAME_WORDS)
        .map(|i| {
            let shift = BITS_PER_WORD * (ROOM_NAME_WORDS - 1 - i);
            word_list[((bits >> shift) & 0x7ff) as usize]
        })
        .collect();
    let name = words.join("-");
    (name.len() <= MAX_ROOM_NAME_BYTES).then_some(name)
}

#[cfg(test)]
mod tests {
    use sealroom_protocol::RoomName;

    use super::*;

    #[test]
    fn every_word_index_is_reachable_and_names_are_valid_room_names() {
        assert_eq!(
            room_name_from_entropy(&[0; ENTROPY_BYTES]).as_deref(),
            Some("abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon")
        );
        let all_ones = room_name_from_entropy(&[0xff; ENTROPY_BYTES]).unwrap();
        assert_eq!(all_ones, ["zoo"; ROOM_NAME_WORDS].join("-"));
        // 11 bits per word, most significant first: the first word is index 1 here.
        let mut entropy = [0; ENTROPY_BYTES];
        entropy[1] = 0b0010_0000;
        let name = room_name_from_entropy(&entropy).unwrap();
        assert!(name.starts_with("ability-abandon-"), "{name}");
        for name in [&all_ones, &name] {
            assert!(RoomName::parse(name).is_some());
        }
    }

    #[test]
    fn names_longer_than_a_room_name_are_refused() {
        // "abstract" is index 7 and 8 letters long: eight of them make 71 bytes.
        let index: u128 = 7;
        let bits = (0..ROOM_NAME_WORDS).fold(0u128, |acc, _| (acc << BITS_PER_WORD) | index);
        let entropy: [u8; ENTROPY_BYTES] =
            bits.to_be_bytes()[16 - ENTROPY_BYTES..].try_into().unwrap();
        assert_eq!(room_name_from_entropy(&entropy), None);
    }
}
