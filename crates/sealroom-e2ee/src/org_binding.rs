//! An organisation's word that a device key belongs to one of its accounts, carried in the
//! member's MLS leaf so that the roster, not the server's participant list, names the account.
//!
//! The server signs, with the organisation's Ed25519 key, the account name, the device's MLS
//! signature public key and a validity window, after a full sign-in. The member puts the
//! binding in its leaf node ([`ORG_BINDING_EXTENSION`]), where its leaf signature covers it and
//! every member sees the same bytes. A member shows an account only for a leaf whose binding
//! verifies under the organisation key it pinned, names that leaf's own signature key and is
//! within its window: a binding copied from another member's leaf names the other device's key
//! and is refused. What it does not protect: the organisation key lives on the server, so
//! whoever runs or takes the server can sign a binding for any account and any device.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use mls_rs::{Extension, ExtensionList, extension::ExtensionType};
use zeroize::Zeroizing;

use crate::{group::GroupError, identity::Fingerprint};

/// Leaf node extension (private-use range): the member's organisation binding.
pub const ORG_BINDING_EXTENSION: ExtensionType = ExtensionType::new(0xF5A3);

/// What the organisation key signs first: no other Sealroom signature starts with it.
const SIGNING_LABEL: &[u8] = b"sealroom org binding v1\0";
/// The encoding's version, its first byte.
const BINDING_VERSION: u8 = 1;
/// Longest account name a binding carries, in bytes.
const MAX_ACCOUNT_BYTES: usize = 256;
/// Longest device key a binding carries, in bytes (Ed25519's is 32).
const MAX_DEVICE_KEY_BYTES: usize = 256;
/// How far a member's clock may be behind the server's: a binding issued a moment ago by a
/// server whose clock runs ahead is not refused as not yet valid.
const CLOCK_SKEW_SECS: u64 = 300;

/// The organisation's public key, pinned by clients on first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgKey(VerifyingKey);

impl OrgKey {
    /// The key from its 32 bytes; `None` if they are not an Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 32] = bytes.try_into().ok()?;
        VerifyingKey::from_bytes(bytes).ok().map(Self)
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// What people compare when the key changes.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_public_key(self.0.as_bytes())
    }
}

/// The organisation's signing key, which only the server holds.
pub struct OrgSigner(SigningKey);

impl OrgSigner {
    /// A fresh key, for a server's first start.
    pub fn generate() -> Result<Self, GroupError> {
        let mut seed = Zeroizing::new([0; 32]);
        crate::random::fill(seed.as_mut()).map_err(GroupError::Crypto)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key from the 32-byte seed [`OrgSigner::seed`] gave.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The secret seed, to keep (sealed).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half clients pin.
    pub fn public_key(&self) -> OrgKey {
        OrgKey(self.0.verifying_key())
    }

    /// Signs that `device_key` is `account`'s from `issued_at` to `expires_at` (Unix seconds).
    pub fn bind(
        &self,
        account: &str,
        device_key: &[u8],
        issued_at: u64,
        expires_at: u64,
    ) -> Result<OrgBinding, GroupError> {
        if !(1..=MAX_ACCOUNT_BYTES).contains(&account.len())
            || !(1..=MAX_DEVICE_KEY_BYTES).contains(&device_key.len())
        {
            return Err(GroupError::InvalidCredentialName);
        }
        let mut binding = OrgBinding {
            account: account.to_owned(),
            device_key: device_key.to_vec(),
            issued_at,
            expires_at,
            signature: [0; 64],
        };
        binding.signature = self.0.sign(&binding.signed_bytes()).to_bytes();
        Ok(binding)
    }
}

/// The organisation's signed statement that a device key is an account's, for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgBinding {
    /// The account the organisation vouches for.
    pub account: String,
    /// The MLS signature public key of the device it vouches for.
    pub device_key: Vec<u8>,
    /// From when, in Unix seconds.
    pub issued_at: u64,
    /// Until when, in Unix seconds.
    pub expires_at: u64,
    signature: [u8; 64],
}

/// Why a binding in a member's leaf was not taken: the UI warns, and shows no account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingRefusal {
    /// The extension's bytes are not a binding.
    Malformed,
    /// We have no organisation key to check it with.
    NoOrganisationKey,
    /// The organisation key we pinned did not sign it (forged, altered, or another key's).
    BadSignature,
    /// It names another device's key: copied from someone else's leaf.
    OtherDevice,
    /// Outside its validity window (issued more than five minutes ahead of our clock, or
    /// expired).
    Expired,
}

/// What the roster says of a member's organisational identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgIdentity {
    /// The leaf carries no binding (a guest, or a client that did not sign in).
    None,
    /// The pinned organisation key vouches that this leaf's device is this account's.
    Verified(String),
    /// The leaf carries a binding that was refused: show no account, and warn.
    Refused(BindingRefusal),
}

impl OrgIdentity {
    /// The verified account, if any: the only account a UI may show for the member.
    pub fn account(&self) -> Option<&str> {
        match self {
            Self::Verified(account) => Some(account),
            _ => None,
        }
    }

    /// A stable snake_case code for reports and the browser: `none`, `verified`, or why the
    /// binding was refused.
    pub fn code(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Verified(_) => "verified",
            Self::Refused(BindingRefusal::Malformed) => "malformed",
            Self::Refused(BindingRefusal::NoOrganisationKey) => "no_organisation_key",
            Self::Refused(BindingRefusal::BadSignature) => "bad_signature",
            Self::Refused(BindingRefusal::OtherDevice) => "other_device",
            Self::Refused(BindingRefusal::Expired) => "expired",
        }
    }
}

/// What a member checks bindings against: the pinned key, and the time now (Unix seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrgTrust {
    /// The organisation key pinned on first use; `None` refuses every binding.
    pub key: Option<OrgKey>,
    /// Now, by the caller's clock.
    pub now: u64,
}

impl OrgTrust {
    /// The identity a leaf's `extensions` prove for the leaf signing with `leaf_key`.
    pub(crate) fn identity_of(&self, leaf_key: &[u8], extensions: &ExtensionList) -> OrgIdentity {
        let Some(extension) = extensions.get(ORG_BINDING_EXTENSION) else {
            return OrgIdentity::None;
        };
        let Some(binding) = OrgBinding::decode(&extension.extension_data) else {
            return OrgIdentity::Refused(BindingRefusal::Malformed);
        };
        let Some(key) = self.key else {
            return OrgIdentity::Refused(BindingRefusal::NoOrganisationKey);
        };
        match binding.verify(&key, leaf_key, self.now) {
            Ok(()) => OrgIdentity::Verified(binding.account),
            Err(refusal) => OrgIdentity::Refused(refusal),
        }
    }
}

impl OrgBinding {
    /// Whether `key` signed this binding for `device_key`, valid at `now` (Unix seconds).
    pub fn verify(&self, key: &OrgKey, device_key: &[u8], now: u64) -> Result<(), BindingRefusal> {
        let signature = Signature::from_bytes(&self.signature);
        key.0
            .verify(&self.signed_bytes(), &signature)
            .map_err(|_| BindingRefusal::BadSignature)?;
        if self.device_key != device_key {
            return Err(BindingRefusal::OtherDevice);
        }
        if now.saturating_add(CLOCK_SKEW_SECS) < self.issued_at || now >= self.expires_at {
            return Err(BindingRefusal::Expired);
        }
        Ok(())
    }

    /// The binding as the server hands it out and leaves carry it.
    pub fn encode(&self) -> Vec<u8> {
        [&[BINDING_VERSION][..], &self.fields(), &self.signature].concat()
    }

    /// Reads what [`OrgBinding::encode`] wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != BINDING_VERSION {
            return None;
        }
        let account = String::from_utf8(take_prefixed(&mut rest, MAX_ACCOUNT_BYTES)?).ok()?;
        let device_key = take_prefixed(&mut rest, MAX_DEVICE_KEY_BYTES)?;
        let issued_at = u64::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
        let expires_at = u64::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
        let signature = take(&mut rest, 64)?.try_into().ok()?;
        rest.is_empty().then_some(Self {
            account,
            device_key,
            issued_at,
            expires_at,
            signature,
        })
    }

    /// The leaf node extension that carries the binding.
    pub(crate) fn extension(&self) -> Extension {
        Extension::new(ORG_BINDING_EXTENSION, self.encode())
    }

    /// Account, device key and window, each field length-prefixed: no two bindings share them.
    fn fields(&self) -> Vec<u8> {
        // Both lengths are at most 256 (checked when signed and when decoded).
        let account_len = (self.account.len() as u16).to_be_bytes();
        let key_len = (self.device_key.len() as u16).to_be_bytes();
        [
            &account_len[..],
            self.account.as_bytes(),
            &key_len,
            &self.device_key,
            &self.issued_at.to_be_bytes(),
            &self.expires_at.to_be_bytes(),
        ]
        .concat()
    }

    fn signed_bytes(&self) -> Vec<u8> {
        [SIGNING_LABEL, &self.fields()].concat()
    }
}

fn take<'a>(bytes: &mut &'a [u8], count: usize) -> Option<&'a [u8]> {
    let (head, tail) = bytes.split_at_checked(count)?;
    *bytes = tail;
    Some(head)
}

fn take_prefixed(bytes: &mut &[u8], max: usize) -> Option<Vec<u8>> {
    let len = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?) as usize;
    (1..=max)
        .contains(&len)
        .then(|| take(bytes, len).map(<[u8]>::to_vec))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn alice_binding(signer: &OrgSigner) -> OrgBinding {
        signer
            .bind("alice", b"alice's device key", NOW, NOW + 3600)
            .unwrap()
    }

    #[test]
    fn a_binding_verifies_and_reads_back_from_its_encoding() {
        let signer = OrgSigner::generate().unwrap();
        let binding = alice_binding(&signer);
        let again = OrgBinding::decode(&binding.encode()).unwrap();
        assert_eq!(again, binding);
        assert_eq!(
            again.verify(&signer.public_key(), b"alice's device key", NOW + 1),
            Ok(())
        );
        let restored = OrgSigner::from_seed(&signer.seed());
        assert_eq!(restored.public_key(), signer.public_key());
        assert_eq!(
            OrgKey::from_bytes(&signer.public_key().to_bytes()),
            Some(signer.public_key())
        );
    }

    #[test]
    fn a_binding_under_another_key_or_for_another_device_is_refused() {
        let signer = OrgSigner::generate().unwrap();
        let binding = alice_binding(&signer);
        let other = OrgSigner::generate().unwrap().public_key();
        assert_eq!(
            binding.verify(&other, b"alice's device key", NOW),
            Err(BindingRefusal::BadSignature)
        );
        assert_eq!(
            binding.verify(&signer.public_key(), b"mallory's device key", NOW),
            Err(BindingRefusal::OtherDevice)
        );
    }

    #[test]
    fn a_binding_outside_its_window_is_refused() {
        let signer = OrgSigner::generate().unwrap();
        let binding = alice_binding(&signer);
        let key = signer.public_key();
        assert_eq!(
            binding.verify(&key, b"alice's device key", NOW - CLOCK_SKEW_SECS),
            Ok(()),
            "a clock a little behind the server's"
        );
        for when in [NOW - CLOCK_SKEW_SECS - 1, NOW + 3600, NOW + 86_400] {
            assert_eq!(
                binding.verify(&signer.public_key(), b"alice's device key", when),
                Err(BindingRefusal::Expired),
                "at {when}"
            );
        }
    }

    #[test]
    fn a_tampered_binding_is_refused() {
        let signer = OrgSigner::generate().unwrap();
        let key = signer.public_key();
        let mut renamed = alice_binding(&signer);
        renamed.account = "admin".into();
        assert_eq!(
            renamed.verify(&key, b"alice's device key", NOW),
            Err(BindingRefusal::BadSignature)
        );
        let mut extended = alice_binding(&signer);
        extended.expires_at = u64::MAX;
        assert_eq!(
            extended.verify(&key, b"alice's device key", NOW),
            Err(BindingRefusal::BadSignature)
        );
        let encoded = alice_binding(&signer).encode();
        for bad in [
            &encoded[..encoded.len() - 1],
            &[encoded.as_slice(), &[0]].concat(),
            &[2],
        ] {
            assert_eq!(OrgBinding::decode(bad), None);
        }
        assert!(signer.bind("", b"key", NOW, NOW + 1).is_err());
    }
}
