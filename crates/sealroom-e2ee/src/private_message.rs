//! Private (one-to-one) messages inside a group: HPKE (RFC 9180, base mode) seals to the
//! recipient's *private-message key*, which each member publishes in its MLS leaf node.
//!
//! The key is a leaf node extension, so the member's leaf signature authenticates it, every
//! member sees the same one from the moment it joins, and it stays through its path updates. It
//! is not the MLS leaf encryption key, which RFC 9420 reserves for TreeKEM. The sealed bytes
//! travel inside an ordinary MLS application message, so MLS authenticates the sender and hides
//! everything from the server; the HPKE layer hides the text from the other members too. The
//! seal names the group and both leaves, so a member cannot pass someone else's private message
//! off as its own, nor replay it to another member or into another group.
//!
//! What it does not protect: one key serves a device's whole session, so there is no forward
//! secrecy between the private messages of one session, and whoever compromises a device during
//! a meeting reads every private message that session received. The server sees only that an
//! application message of its kind (chat) passed; other members see that a private message
//! passed and its length, but not to whom (this layer names no recipient in the clear).
//! A member may publish a weak key of its own (mls-rs-crypto-rustcrypto does not refuse
//! low-order X25519 keys, as RFC 9180 §7.1.4 asks), which exposes only the messages sealed to
//! that member: no more than it could do by handing them on.

use mls_rs::{
    CipherSuiteProvider, Extension, ExtensionList,
    crypto::{HpkeCiphertext, HpkePublicKey, HpkeSecretKey},
    extension::ExtensionType,
    mls_rs_codec::{MlsDecode, MlsEncode},
};

use crate::{group::GroupError, identity::cipher_suite_provider};

/// Leaf node extension (private-use range): the member's private-message key.
pub const PRIVATE_KEY_EXTENSION: ExtensionType = ExtensionType::new(0xF5A2);

/// The key extension's encoding version, its first byte.
const KEY_VERSION: u8 = 1;
/// An X25519 public key: private messages are sealed under the default suite (0x0001) in every
/// group, whatever the group's own suite.
const PUBLIC_KEY_BYTES: usize = 32;
const INFO_LABEL: &[u8] = b"sealroom private message v1";

/// A device's private-message key pair. The secret half zeroizes itself on drop.
pub(crate) struct PrivateMessageKey {
    secret: HpkeSecretKey,
    public: HpkePublicKey,
}

impl PrivateMessageKey {
    pub(crate) fn generate() -> Result<Self, GroupError> {
        let (secret, public) = cipher_suite_provider()?
            .kem_generate()
            .map_err(|e| GroupError::Crypto(format!("{e:?}")))?;
        Ok(Self { secret, public })
    }

    /// The leaf node extensions that publish the public half.
    pub(crate) fn leaf_extensions(&self) -> ExtensionList {
        let mut extensions = ExtensionList::new();
        extensions.set(Extension::new(
            PRIVATE_KEY_EXTENSION,
            [&[KEY_VERSION][..], &self.public].concat(),
        ));
        extensions
    }

    /// Opens what [`seal`] sealed to this key under `info`.
    pub(crate) fn open(&self, info: &[u8], sealed: &[u8]) -> Result<Vec<u8>, GroupError> {
        let suite = cipher_suite_provider()?;
        let mut reader = sealed;
        HpkeCiphertext::mls_decode(&mut reader)
            .ok()
            .filter(|_| reader.is_empty())
            .and_then(|c| {
                suite
                    .hpke_open(&c, &self.secret, &self.public, info, None)
                    .ok()
            })
            .map(|plaintext| plaintext.to_vec())
            .ok_or(GroupError::PrivateMessage("does not open"))
    }
}

/// The private-message key a member's leaf node `extensions` publish, if well-formed.
pub(crate) fn published_key(extensions: &ExtensionList) -> Option<HpkePublicKey> {
    let data = &extensions.get(PRIVATE_KEY_EXTENSION)?.extension_data;
    let (&version, key) = data.split_first()?;
    let key = HpkePublicKey::from(key.to_vec());
    let well_formed = version == KEY_VERSION
        && key.len() == PUBLIC_KEY_BYTES
        && cipher_suite_provider()
            .ok()?
            .kem_public_key_validate(&key)
            .is_ok();
    well_formed.then_some(key)
}

/// Seals `plaintext` to `recipient` under `info`.
pub(crate) fn seal(
    recipient: &HpkePublicKey,
    info: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, GroupError> {
    cipher_suite_provider()?
        .hpke_seal(recipient, info, None, plaintext)
        .map_err(|e| GroupError::Crypto(format!("{e:?}")))?
        .mls_encode_to_vec()
        .map_err(|e| GroupError::Crypto(e.to_string()))
}

/// The HPKE info binding a private message to its group, sender and recipient.
pub(crate) fn info(group_id: &[u8], sender_leaf: u32, recipient_leaf: u32) -> Vec<u8> {
    // usize is at most 64 bits on every target, so the length is exact.
    let group_id_len = (group_id.len() as u64).to_be_bytes();
    [
        INFO_LABEL,
        &group_id_len,
        group_id,
        &sender_leaf.to_be_bytes(),
        &recipient_leaf.to_be_bytes(),
    ]
    .concat()
}
