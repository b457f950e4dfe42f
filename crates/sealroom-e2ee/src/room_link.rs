//! The room link's secret, and the evidence of it that lets a member add a joiner the server
//! cannot forge.
//!
//! A room link carries 128 random bits in its fragment (`#k=…`), which browsers never send to
//! a server. From them comes an Ed25519 *link key*: its public half is written into the group
//! context when the group is founded (in the room policy, which only a moderator may change),
//! and a joiner who holds the link signs its own MLS signature key with the private half and
//! carries that *link proof* in its key package. Every member can check the proof of a key
//! package it is asked to add, and of every member a commit adds, against the group's link key;
//! the server, which never sees the secret, cannot make one for a device of its own.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use mls_rs::{Extension, ExtensionList, extension::ExtensionType};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{group::GroupError, random};

/// Group context extension (private-use range): the room's policy (`room_policy`).
pub const ROOM_POLICY_EXTENSION: ExtensionType = ExtensionType::new(0xF5A0);
/// Key package extension (private-use range): a joiner's link proof.
pub const LINK_PROOF_EXTENSION: ExtensionType = ExtensionType::new(0xF5A1);

/// Bytes of a link secret: 128 bits.
const SECRET_BYTES: usize = 16;
const KEY_LABEL: &[u8] = b"sealroom link key v1";
const PROOF_LABEL: &[u8] = b"sealroom link proof v1";

/// The secret in a room link.
pub struct LinkSecret(Zeroizing<[u8; SECRET_BYTES]>);

impl LinkSecret {
    /// A fresh secret for a new room link.
    pub fn generate() -> Result<Self, GroupError> {
        let mut secret = Zeroizing::new([0; SECRET_BYTES]);
        random::fill(secret.as_mut()).map_err(GroupError::Crypto)?;
        Ok(Self(secret))
    }

    /// The secret as the link's fragment carries it (`k=` and this): base64url, no padding.
    pub fn parse(text: &str) -> Result<Self, GroupError> {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| GroupError::InvalidLinkSecret)?,
        );
        let secret: [u8; SECRET_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| GroupError::InvalidLinkSecret)?;
        Ok(Self(Zeroizing::new(secret)))
    }

    /// The text form [`LinkSecret::parse`] reads.
    pub fn to_text(&self) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        URL_SAFE_NO_PAD.encode(self.0.as_ref())
    }

    /// The public half of the link key, for the group context.
    pub fn link_key(&self) -> LinkKey {
        LinkKey(self.signing_key().verifying_key())
    }

    /// The key package extensions of a device that holds the link: its proof, a signature of
    /// its own signature key under the link key.
    pub(crate) fn proof_extensions(&self, member_signature_key: &[u8]) -> ExtensionList {
        let proof = self
            .signing_key()
            .sign(&proof_message(member_signature_key));
        let mut extensions = ExtensionList::new();
        extensions.set(Extension::new(
            LINK_PROOF_EXTENSION,
            proof.to_bytes().to_vec(),
        ));
        extensions
    }

    fn signing_key(&self) -> SigningKey {
        let mut seed = Zeroizing::new([0; 32]);
        Hkdf::<Sha256>::new(None, self.0.as_ref())
            .expand(KEY_LABEL, seed.as_mut())
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        SigningKey::from_bytes(&seed)
    }
}

/// The public link key a group's policy names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkKey(VerifyingKey);

impl LinkKey {
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(Self)
    }

    /// Whether a key package's extensions prove that its owner (signing with
    /// `member_signature_key`) held the link.
    pub(crate) fn proven_by(
        &self,
        member_signature_key: &[u8],
        key_package_extensions: &ExtensionList,
    ) -> bool {
        let Some(proof) = key_package_extensions.get(LINK_PROOF_EXTENSION) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(&proof.extension_data) else {
            return false;
        };
        self.0
            .verify(&proof_message(member_signature_key), &signature)
            .is_ok()
    }
}

fn proof_message(member_signature_key: &[u8]) -> Vec<u8> {
    [PROOF_LABEL, member_signature_key].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_secret_reads_back_from_its_text_and_keeps_its_key() {
        let secret = LinkSecret::generate().unwrap();
        let text = secret.to_text();
        assert_eq!(text.len(), 22, "128 bits in base64url");
        let again = LinkSecret::parse(&text).unwrap();
        assert_eq!(again.link_key(), secret.link_key());
        assert_ne!(
            LinkSecret::generate().unwrap().link_key(),
            secret.link_key()
        );
        for bad in ["", "short", &format!("{text}AA"), "!!!!!!!!!!!!!!!!!!!!!!"] {
            assert!(matches!(
                LinkSecret::parse(bad),
                Err(GroupError::InvalidLinkSecret)
            ));
        }
    }

    #[test]
    fn a_proof_holds_only_for_its_key_and_its_link() {
        let secret = LinkSecret::generate().unwrap();
        let proof = secret.proof_extensions(b"alice's key");
        assert!(secret.link_key().proven_by(b"alice's key", &proof));
        assert!(!secret.link_key().proven_by(b"mallory's key", &proof));
        let other = LinkSecret::generate().unwrap();
        assert!(!other.link_key().proven_by(b"alice's key", &proof));
        assert!(
            !secret
                .link_key()
                .proven_by(b"alice's key", &ExtensionList::new())
        );
    }
}
