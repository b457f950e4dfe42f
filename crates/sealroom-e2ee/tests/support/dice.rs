//! A small deterministic generator (xorshift64) for the streaming tests: reproducible contents,
//! and a stream cut into pieces of random sizes, as a network or a disk hands them over.

// Each test file that includes this module uses a part of it.
#![allow(dead_code)]

pub struct Dice(pub u64);

impl Dice {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A length in `0..=max`.
    pub fn up_to(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// `data` cut into pieces of random sizes up to `max`, after an empty one.
pub fn pieces<'a>(data: &'a [u8], dice: &mut Dice, max: usize) -> Vec<&'a [u8]> {
    let mut rest = data;
    let mut pieces = vec![&data[..0]];
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(dice.up_to(max).min(rest.len()));
        pieces.push(piece);
        rest = after;
    }
    pieces
}
