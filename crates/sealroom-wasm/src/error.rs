//! Errors as JavaScript sees them: an `Error` whose message is `"<code>: <what happened>"` and
//! whose `code` property is the same stable code, so pages and the worker branch on the code and
//! show the text. A file's errors are said to the person who downloads it: their message is the
//! text alone, and the code is on `code`.

use std::fmt::Display;

use sealroom_e2ee::{GroupError, file_crypto::FileCryptoError, sframe::SframeError};
use wasm_bindgen::JsValue;

/// Code for a JavaScript argument of the wrong type or range (not a peer's doing).
pub(crate) const INVALID_ARGUMENT: &str = "invalid_argument";

/// A JS `Error` with `code` in front of its message and as its `code` property.
pub(crate) fn js_error(code: &'static str, message: impl Display) -> JsValue {
    error_with_code(code, &format!("{code}: {message}"))
}

/// A JS `Error` whose message is the file error's text, as a person is to read it.
pub(crate) fn file_error(error: FileCryptoError) -> JsValue {
    error_with_code(error.code(), &error.to_string())
}

fn error_with_code(code: &'static str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

pub(crate) fn group_error(error: GroupError) -> JsValue {
    js_error(error.code(), error)
}

pub(crate) fn sframe_error(error: SframeError) -> JsValue {
    js_error(error.code(), error)
}
