use super::SframeError;

/// The SFrame header of RFC 9605 §4.3: a Key ID and a Counter.
///
/// On the wire, a config byte `X KKK Y CCC` is followed by the KID and then the CTR in
/// big-endian, each in the fewest bytes that hold it; values 0–7 live in the config byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Key ID: selects the key.
    pub kid: u64,
    /// Counter: makes the nonce unique under that key.
    pub ctr: u64,
}

/// Flag bit of a config-byte nibble: the value follows in extra bytes.
const EXTENDED: u8 = 0b1000;
/// Low three bits of a nibble: the value itself, or the extra-byte count minus one.
const VALUE_BITS: u8 = 0b0111;

impl Header {
    /// Longest possible encoding: config byte plus 8-byte KID and 8-byte CTR.
    pub const MAX_LEN: usize = 17;

    /// A header for `kid` and `ctr`.
    pub const fn new(kid: u64, ctr: u64) -> Self {
        Self { kid, ctr }
    }

    /// Length of the encoding in bytes.
    pub const fn encoded_len(&self) -> usize {
        1 + extra_len(self.kid) + extra_len(self.ctr)
    }

    /// The encoding, appended to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push((nibble(self.kid) << 4) | nibble(self.ctr));
        for value in [self.kid, self.ctr] {
            let bytes = value.to_be_bytes();
            out.extend_from_slice(&bytes[bytes.len() - extra_len(value)..]);
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Parses the header at the start of `bytes`; returns it and its length, so the caller
    /// finds the ciphertext after it.
    ///
    /// Strict: input that ends inside the header, and KID or CTR values not in their minimal
    /// encoding, are errors.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), SframeError> {
        let Some(&config) = bytes.first() else {
            return Err(SframeError::TruncatedHeader {
                needed: 1,
                available: 0,
            });
        };
        let (kid_nibble, ctr_nibble) = (config >> 4, config & 0x0f);
        let kid_end = 1 + nibble_extra_len(kid_nibble);
        let ctr_end = kid_end + nibble_extra_len(ctr_nibble);
        if bytes.len() < ctr_end {
            return Err(SframeError::TruncatedHeader {
                needed: ctr_end,
                available: bytes.len(),
            });
        }
        let kid = read_value(kid_nibble, &bytes[1..kid_end])?;
        let ctr = read_value(ctr_nibble, &bytes[kid_end..ctr_end])?;
        Ok((Self { kid, ctr }, ctr_end))
    }
}

/// Bytes a value needs after the config byte: none for 0–7, else its minimal big-endian length.
const fn extra_len(value: u64) -> usize {
    if value <= VALUE_BITS as u64 {
        0
    } else {
        8 - (value.leading_zeros() / 8) as usize
    }
}

/// The config-byte nibble announcing `value`.
const fn nibble(value: u64) -> u8 {
    match extra_len(value) {
        0 => value as u8,
        len => EXTENDED | (len - 1) as u8,
    }
}

/// Extra bytes a config-byte nibble announces.
const fn nibble_extra_len(nibble: u8) -> usize {
    if nibble & EXTENDED == 0 {
        0
    } else {
        (nibble & VALUE_BITS) as usize + 1
    }
}

fn read_value(nibble: u8, extra: &[u8]) -> Result<u64, SframeError> {
    if extra.is_empty() {
        return Ok(u64::from(nibble & VALUE_BITS));
    }
    let value = extra
        .iter()
        .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
    // A value that fits in fewer bytes (or in the config byte) has another, canonical encoding.
    if extra_len(value) != extra.len() {
        return Err(SframeError::NonMinimalHeader);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_live_in_the_config_byte() {
        assert_eq!(Header::new(7, 5).encode(), [0x75]);
        assert_eq!(Header::decode(&[0x75]), Ok((Header::new(7, 5), 1)));
    }

    #[test]
    fn extremes_round_trip() {
        for (kid, ctr) in [
            (0, 0),
            (8, 8),
            (u64::MAX, u64::MAX),
            (u64::MAX, 0),
            (0, u64::MAX),
        ] {
            let header = Header::new(kid, ctr);
            let bytes = header.encode();
            assert_eq!(bytes.len(), header.encoded_len());
            assert_eq!(Header::decode(&bytes), Ok((header, bytes.len())));
        }
        assert_eq!(
            Header::new(u64::MAX, u64::MAX).encoded_len(),
            Header::MAX_LEN
        );
    }

    #[test]
    fn decode_stops_at_the_end_of_the_header() {
        let (header, len) = Header::decode(&[0x08, 0xff, 0xaa, 0xbb]).unwrap();
        assert_eq!((header, len), (Header::new(0, 0xff), 2));
    }

    #[test]
    fn empty_input_is_truncated() {
        assert_eq!(
            Header::decode(&[]),
            Err(SframeError::TruncatedHeader {
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn missing_kid_bytes_are_truncated() {
        // X=1, KID length 2, but only one KID byte follows.
        assert_eq!(
            Header::decode(&[0x90, 0x01]),
            Err(SframeError::TruncatedHeader {
                needed: 3,
                available: 2
            })
        );
    }

    #[test]
    fn missing_ctr_bytes_are_truncated() {
        // KID 0x0100 complete, CTR announced as 8 bytes, 7 there.
        let mut bytes = vec![0x9f, 0x01, 0x00];
        bytes.extend_from_slice(&[0xff; 7]);
        assert_eq!(
            Header::decode(&bytes),
            Err(SframeError::TruncatedHeader {
                needed: 11,
                available: 10
            })
        );
    }

    #[test]
    fn small_value_in_an_extra_byte_is_not_minimal() {
        // CTR 5 must be in the config byte, not in one extra byte.
        assert_eq!(
            Header::decode(&[0x08, 0x05]),
            Err(SframeError::NonMinimalHeader)
        );
    }

    #[test]
    fn leading_zero_byte_is_not_minimal() {
        // KID 0xff in two bytes.
        assert_eq!(
            Header::decode(&[0x90, 0x00, 0xff]),
            Err(SframeError::NonMinimalHeader)
        );
    }
}
