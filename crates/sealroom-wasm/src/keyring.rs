//! `Keyring`: the SFrame keys the frame-transform worker protects and unprotects with.

use std::time::Duration;

use sealroom_e2ee::sframe::MediaKeyring;
use wasm_bindgen::prelude::*;

use crate::{
    error::{INVALID_ARGUMENT, js_error, sframe_error},
    group::MEDIA_SUITE,
    js_object::{JsObject, bytes},
};

/// One participant's SFrame keys (suite AES_128_GCM_SHA256_128, 0x0004): protects this
/// participant's frames under the current epoch and unprotects everyone else's, keeping the
/// previous epoch for a short grace period. Use one `Keyring` for all of a participant's
/// streams: they share one sending counter, which must never repeat under a key.
#[wasm_bindgen]
pub struct Keyring {
    keyring: MediaKeyring,
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Keyring {
    /// An empty keyring: nothing is sent or received until `installEpoch`.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Keyring {
        Self {
            keyring: MediaKeyring::new(MEDIA_SUITE),
        }
    }

    /// Makes `epoch` current with its `baseKey` (from `Group.sframeBaseKey`), sending as
    /// `ownLeaf`. The previous epoch keeps decrypting for the grace period after `nowMs`
    /// (`performance.now()`). Throws `stale_epoch:` for an epoch not newer than the current one.
    #[wasm_bindgen(js_name = installEpoch)]
    pub fn install_epoch(
        &mut self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        epoch: u64,
        #[wasm_bindgen(js_name = baseKey)] base_key: &[u8],
        #[wasm_bindgen(js_name = ownLeaf)] own_leaf: u32,
    ) -> Result<(), JsValue> {
        let now = time(now_ms)?;
        self.keyring
            .install_epoch(now, epoch, base_key, own_leaf)
            .map_err(sframe_error)
    }

    /// Drops the previous epoch's keys once its grace period is over at `nowMs`; `unprotect`
    /// does this too, a timer makes sure keys leave memory when no frames arrive.
    pub fn expire(&mut self, #[wasm_bindgen(js_name = nowMs)] now_ms: f64) -> Result<(), JsValue> {
        self.keyring.expire(time(now_ms)?);
        Ok(())
    }

    /// The epoch frames are sent under, if one is installed.
    #[wasm_bindgen(js_name = currentEpoch)]
    pub fn current_epoch(&self) -> Option<u64> {
        self.keyring.current_epoch()
    }

    /// Encrypts `frame` under the current epoch, leaving its first `clearPrefixLen` bytes readable
    /// but authenticated (0 for Opus). Throws `no_epoch:` before any epoch is installed.
    pub fn protect(
        &mut self,
        #[wasm_bindgen(js_name = clearPrefixLen)] clear_prefix_len: u32,
        frame: &[u8],
    ) -> Result<js_sys::Uint8Array, JsValue> {
        let clear_prefix_len = usize::try_from(clear_prefix_len)
            .map_err(|_| js_error(INVALID_ARGUMENT, "clear prefix length out of range"))?;
        let wire = self
            .keyring
            .protect(clear_prefix_len, frame)
            .map_err(sframe_error)?;
        Ok(bytes(&wire))
    }

    /// Authenticates and decrypts another member's frame. Throws `<reason>: …` (e.g.
    /// `authentication_failed`, `unknown_kid`, `replayed`) and yields no bytes if the frame is
    /// not authentic under a held key: drop it.
    #[wasm_bindgen(unchecked_return_type = "UnprotectedFrame")]
    pub fn unprotect(
        &mut self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        wire: &[u8],
    ) -> Result<JsValue, JsValue> {
        let frame = self
            .keyring
            .unprotect(time(now_ms)?, wire)
            .map_err(sframe_error)?;
        Ok(JsObject::new()
            .with("senderIndex", frame.sender_index)
            .with("epoch", frame.epoch)
            .with("payload", bytes(&frame.payload))
            .with(
                "clearPrefixLen",
                u32::try_from(frame.clear_prefix_len).unwrap_or(u32::MAX),
            )
            .build())
    }
}

/// A `performance.now()` reading as the core's time.
fn time(now_ms: f64) -> Result<Duration, JsValue> {
    duration_from_ms(now_ms).ok_or_else(|| {
        js_error(
            INVALID_ARGUMENT,
            "nowMs must be a finite, non-negative number",
        )
    })
}

fn duration_from_ms(now_ms: f64) -> Option<Duration> {
    if now_ms.is_finite() && now_ms >= 0.0 {
        Duration::try_from_secs_f64(now_ms / 1000.0).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finite_non_negative_times_are_accepted() {
        assert_eq!(duration_from_ms(1500.0), Some(Duration::from_millis(1500)));
        assert_eq!(duration_from_ms(0.0), Some(Duration::ZERO));
        for bad in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(duration_from_ms(bad), None);
        }
    }
}
