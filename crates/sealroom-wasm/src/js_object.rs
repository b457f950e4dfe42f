//! Plain JavaScript objects the API returns (`{ epoch, committer, … }`), built field by field so
//! their shape is exactly the TypeScript declared in [`crate::group`].

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

/// A plain object under construction.
pub(crate) struct JsObject(Object);

impl JsObject {
    pub(crate) fn new() -> Self {
        Self(Object::new())
    }

    /// Sets `key` to `value`. Defining a property on a fresh plain object cannot fail.
    pub(crate) fn with(self, key: &str, value: impl Into<JsValue>) -> Self {
        let _ = Reflect::set(&self.0, &key.into(), &value.into());
        self
    }

    /// Sets `key` only when there is a value, so an absent field is absent, not `undefined`.
    pub(crate) fn with_some(self, key: &str, value: Option<impl Into<JsValue>>) -> Self {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    pub(crate) fn build(self) -> JsValue {
        self.0.into()
    }
}

/// A fresh `Uint8Array` holding a copy of `bytes`.
pub(crate) fn bytes(bytes: &[u8]) -> js_sys::Uint8Array {
    js_sys::Uint8Array::from(bytes)
}

/// A JS array of the values.
pub(crate) fn array(values: impl IntoIterator<Item = JsValue>) -> js_sys::Array {
    values.into_iter().collect()
}
