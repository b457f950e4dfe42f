//! `Device`: the browser's MLS device — a fresh signing identity per page load.

use sealroom_e2ee::{DeviceIdentity, ExternalSenderKey, OrgBinding};
use wasm_bindgen::prelude::*;

use crate::{
    error::{INVALID_ARGUMENT, group_error, js_error},
    group::Group,
};

/// A client device: makes key packages and creates or joins groups. The Welcome must be processed
/// by the `Device` whose key package it answers (the private keys stay inside it).
#[wasm_bindgen]
pub struct Device {
    device: sealroom_e2ee::Device,
}

#[wasm_bindgen]
impl Device {
    /// A device with a fresh Ed25519 signing key for the credential `name` (1 to 256 bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str) -> Result<Device, JsValue> {
        let identity = DeviceIdentity::generate(name).map_err(group_error)?;
        Ok(Self {
            device: sealroom_e2ee::Device::new(identity),
        })
    }

    /// The signature-key fingerprint (as the roster shows it) of a key package the server asks
    /// us to add: in a lobby room, only one whose device our user admitted.
    #[wasm_bindgen(js_name = keyPackageFingerprint)]
    pub fn key_package_fingerprint(key_package: &[u8]) -> Result<String, JsValue> {
        sealroom_e2ee::key_package_fingerprint(key_package)
            .map(|f| f.to_string())
            .map_err(group_error)
    }

    /// A fresh single-use key package (serialized MLS message) to upload to the delivery service.
    #[wasm_bindgen(js_name = keyPackage)]
    pub fn key_package(&self) -> Result<Vec<u8>, JsValue> {
        self.device.key_package().map_err(group_error)
    }

    /// Puts the organisation's binding (the bytes of `binding` from
    /// `POST /api/account/identity-binding`) in this device's key packages and groups from now
    /// on. Refused unless it is one, for this device's key.
    #[wasm_bindgen(js_name = setOrgBinding)]
    pub fn set_org_binding(&mut self, binding: &[u8]) -> Result<(), JsValue> {
        let binding = org_binding(binding)?;
        self.device.set_org_binding(binding).map_err(group_error)
    }

    /// This device's MLS signature public key, for the binding request.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.device.identity().public_key().to_vec()
    }

    /// Creates a group with this device as its only member. `externalSender` is the delivery
    /// service's serialized MLS `SigningIdentity` (from the server), which may propose removals
    /// but never commit; an empty array creates a group without an external sender.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(
        &self,
        #[wasm_bindgen(js_name = externalSender)] external_sender: &[u8],
    ) -> Result<Group, JsValue> {
        let senders = if external_sender.is_empty() {
            Vec::new()
        } else {
            vec![ExternalSenderKey(external_sender.to_vec())]
        };
        let session = self.device.create_group(&senders).map_err(group_error)?;
        Ok(Group::new(session))
    }

    /// Joins a group from a Welcome answering one of this device's key packages.
    #[wasm_bindgen(js_name = joinGroup)]
    pub fn join_group(&self, welcome: &[u8]) -> Result<Group, JsValue> {
        let session = self.device.join_group(welcome).map_err(group_error)?;
        Ok(Group::new(session))
    }

    /// The fingerprint of this device's signature key, as shown next to its name in rosters.
    pub fn fingerprint(&self) -> String {
        self.device.identity().fingerprint().to_string()
    }
}

/// A binding from its bytes, or the page's error.
pub(crate) fn org_binding(bytes: &[u8]) -> Result<OrgBinding, JsValue> {
    OrgBinding::decode(bytes)
        .ok_or_else(|| js_error(INVALID_ARGUMENT, "not an organisation binding"))
}
