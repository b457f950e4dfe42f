use thiserror::Error;

/// Why an SFrame operation failed.
///
/// Every variant a peer can cause (everything `unprotect` and `decrypt` return) means the frame
/// was dropped: nothing is ever passed through undecrypted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SframeError {
    /// The cipher suite identifier is not one of RFC 9605 §8.1.
    #[error("unknown SFrame cipher suite 0x{0:04x}")]
    UnknownCipherSuite(u16),
    /// A key had the wrong length for the cipher suite.
    #[error("key is {actual} bytes, the cipher suite needs {expected}")]
    KeyLength {
        /// Length the cipher suite needs.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// The input ends inside the SFrame header.
    #[error("SFrame header truncated: needs {needed} bytes, {available} available")]
    TruncatedHeader {
        /// Bytes the config byte announces.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// A KID or CTR was not encoded with the minimum number of bytes (RFC 9605 §4.3 MUST).
    #[error("SFrame header is not minimally encoded")]
    NonMinimalHeader,
    /// The ciphertext after the header is shorter than the authentication tag.
    #[error("SFrame ciphertext is {actual} bytes, shorter than the {tag_len}-byte tag")]
    TruncatedCiphertext {
        /// Bytes of ciphertext after the header.
        actual: usize,
        /// Tag length of the cipher suite.
        tag_len: usize,
    },
    /// The tag did not verify: the header, metadata, ciphertext or tag was altered, or the key
    /// is not the sender's.
    #[error("SFrame authentication failed")]
    AuthenticationFailed,
    /// The plaintext is too long for the AEAD.
    #[error("frame too long for the AEAD")]
    FrameTooLong,
    /// The SFrame header names another KID than the key given for decryption.
    #[error("SFrame KID {found} does not match the key's KID {expected}")]
    KidMismatch {
        /// KID of the key.
        expected: u64,
        /// KID in the header.
        found: u64,
    },
    /// The wire frame is empty: not even the clear-prefix length trailer is there.
    #[error("empty frame: no SFrame trailer")]
    MissingTrailer,
    /// The clear prefix asked for is longer than the frame or than 255 bytes.
    #[error(
        "clear prefix of {prefix_len} bytes does not fit (frame of {frame_len} bytes, at most 255)"
    )]
    ClearPrefixTooLong {
        /// Requested clear prefix length.
        prefix_len: usize,
        /// Length of the frame it was taken from.
        frame_len: usize,
    },
    /// No epoch has been installed, so there is no key to send with.
    #[error("no MLS epoch installed")]
    NoEpoch,
    /// An epoch was installed that is not newer than the current one.
    #[error("epoch {epoch} is not newer than the current epoch {current}")]
    StaleEpoch {
        /// Epoch that was offered.
        epoch: u64,
        /// Current epoch.
        current: u64,
    },
    /// The KID belongs to no epoch this keyring holds keys for (not one of ours, or a future
    /// epoch not installed yet).
    #[error("unknown SFrame KID {kid}")]
    UnknownKid {
        /// KID from the header.
        kid: u64,
    },
    /// The KID belongs to the previous epoch, whose grace period is over.
    #[error("epoch {epoch} has expired")]
    EpochExpired {
        /// The expired epoch.
        epoch: u64,
    },
    /// The KID is this participant's own sending KID: a key is used to send or to receive,
    /// never both (RFC 9605 §4.4.1), so a reflected frame is refused.
    #[error("frame carries our own sending KID {kid}")]
    ReflectedFrame {
        /// KID from the header.
        kid: u64,
    },
    /// The (epoch, sender, CTR) was already accepted once.
    #[error("replayed frame: sender {sender_index} CTR {ctr} already seen")]
    Replayed {
        /// Sender's MLS leaf index.
        sender_index: u32,
        /// Counter from the header.
        ctr: u64,
    },
    /// The CTR is older than the replay window, so it cannot be told apart from a replay.
    #[error("frame too old: sender {sender_index} CTR {ctr} is behind the replay window")]
    TooOld {
        /// Sender's MLS leaf index.
        sender_index: u32,
        /// Counter from the header.
        ctr: u64,
    },
    /// The sending counter would wrap under the current key; install a new epoch to send again.
    #[error("SFrame counter exhausted for this epoch; a new epoch is needed")]
    CounterExhausted,
}

impl SframeError {
    /// A stable snake_case code per kind, for reports, dashboards and the browser. Exhaustive
    /// on purpose: a new variant must get a code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownCipherSuite(_) => "unknown_cipher_suite",
            Self::KeyLength { .. } => "key_length",
            Self::TruncatedHeader { .. } => "truncated_header",
            Self::NonMinimalHeader => "non_minimal_header",
            Self::TruncatedCiphertext { .. } => "truncated_ciphertext",
            Self::AuthenticationFailed => "authentication_failed",
            Self::FrameTooLong => "frame_too_long",
            Self::KidMismatch { .. } => "kid_mismatch",
            Self::MissingTrailer => "missing_trailer",
            Self::ClearPrefixTooLong { .. } => "clear_prefix_too_long",
            Self::NoEpoch => "no_epoch",
            Self::StaleEpoch { .. } => "stale_epoch",
            Self::UnknownKid { .. } => "unknown_kid",
            Self::EpochExpired { .. } => "epoch_expired",
            Self::ReflectedFrame { .. } => "reflected_frame",
            Self::Replayed { .. } => "replayed",
            Self::TooOld { .. } => "too_old",
            Self::CounterExhausted => "counter_exhausted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupError;

    #[test]
    fn codes_are_snake_case_identifiers() {
        let codes = [
            SframeError::AuthenticationFailed.code(),
            SframeError::UnknownKid { kid: 1 }.code(),
            SframeError::NoEpoch.code(),
            GroupError::Malformed(String::new()).code(),
            GroupError::Removed.code(),
        ];
        assert_eq!(
            codes,
            [
                "authentication_failed",
                "unknown_kid",
                "no_epoch",
                "malformed",
                "removed"
            ]
        );
    }
}
