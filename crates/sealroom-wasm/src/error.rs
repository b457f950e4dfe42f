//! Errors as JavaScript sees them: an `Error` whose message is `"<code>: <what happened>"` and
//! whose `code` property is the same stable code, so pages and the worker branch on the code and
//! show the text.

use std::fmt::Display;

use sealroom_e2ee::{GroupError, sframe::SframeError};
use wasm_bindgen::JsValue;

/// The stable code of an MLS group error.
pub fn group_error_code(error: &GroupError) -> &'static str {
    // Exhaustive on purpose: a new variant in the core must get a code here.
    match error {
        GroupError::Malformed(_) => "malformed",
        GroupError::TooLarge(_) => "too_large",
        GroupError::WrongEpoch { .. } => "wrong_epoch",
        GroupError::WrongGroup => "wrong_group",
        GroupError::Rejected(_) => "rejected",
        GroupError::NoSuchMember(_) => "no_such_member",
        GroupError::CommitPending => "commit_pending",
        GroupError::NoPendingCommit => "no_pending_commit",
        GroupError::Removed => "removed",
        GroupError::InvalidCredentialName => "invalid_credential_name",
        GroupError::InvalidSecretKey => "invalid_secret_key",
        GroupError::Crypto(_) => "crypto",
    }
}

/// The stable code of an SFrame error: its kind in snake_case.
pub fn sframe_error_code(error: &SframeError) -> &'static str {
    match error {
        SframeError::UnknownCipherSuite(_) => "unknown_cipher_suite",
        SframeError::KeyLength { .. } => "key_length",
        SframeError::TruncatedHeader { .. } => "truncated_header",
        SframeError::NonMinimalHeader => "non_minimal_header",
        SframeError::TruncatedCiphertext { .. } => "truncated_ciphertext",
        SframeError::AuthenticationFailed => "authentication_failed",
        SframeError::FrameTooLong => "frame_too_long",
        SframeError::KidMismatch { .. } => "kid_mismatch",
        SframeError::MissingTrailer => "missing_trailer",
        SframeError::ClearPrefixTooLong { .. } => "clear_prefix_too_long",
        SframeError::NoEpoch => "no_epoch",
        SframeError::StaleEpoch { .. } => "stale_epoch",
        SframeError::UnknownKid { .. } => "unknown_kid",
        SframeError::EpochExpired { .. } => "epoch_expired",
        SframeError::ReflectedFrame { .. } => "reflected_frame",
        SframeError::Replayed { .. } => "replayed",
        SframeError::TooOld { .. } => "too_old",
        SframeError::CounterExhausted => "counter_exhausted",
    }
}

/// Code for a JavaScript argument of the wrong type or range (not a peer's doing).
pub(crate) const INVALID_ARGUMENT: &str = "invalid_argument";

/// A JS `Error` with `code` in front of its message and as its `code` property.
pub(crate) fn js_error(code: &'static str, message: impl Display) -> JsValue {
    let error = js_sys::Error::new(&format!("{code}: {message}"));
    // Setting a property on a fresh Error cannot fail; the code is in the message regardless.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

pub(crate) fn group_error(error: GroupError) -> JsValue {
    js_error(group_error_code(&error), error)
}

pub(crate) fn sframe_error(error: SframeError) -> JsValue {
    js_error(sframe_error_code(&error), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_identifiers() {
        let errors = [
            sframe_error_code(&SframeError::AuthenticationFailed),
            sframe_error_code(&SframeError::UnknownKid { kid: 1 }),
            sframe_error_code(&SframeError::NoEpoch),
            group_error_code(&GroupError::Malformed(String::new())),
            group_error_code(&GroupError::Removed),
        ];
        assert_eq!(
            errors,
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
