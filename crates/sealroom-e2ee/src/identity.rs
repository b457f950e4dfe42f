//! Device identities: the MLS signature key pair a client signs with, its credential, and the
//! fingerprint people compare to verify one another.

use std::fmt;

use mls_rs::{
    CipherSuiteProvider, ExtensionList, IdentityProvider,
    crypto::{SignaturePublicKey, SignatureSecretKey},
    identity::{
        CredentialType, SigningIdentity,
        basic::{BasicCredential, BasicIdentityProvider, BasicIdentityProviderError},
    },
    time::MlsTime,
};
use mls_rs_core::identity::MemberValidationContext;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{
    group::GroupError,
    suite::{self, MlsSuite, SuiteProvider},
};

// The table of Unicode format characters the server's display-name check uses.
#[path = "../../sealroom-protocol/src/names/format_characters.rs"]
mod format_characters;

/// Longest credential name accepted, in bytes. Names travel in every key package and roster.
pub const MAX_CREDENTIAL_NAME_BYTES: usize = 256;

/// The long-term signing identity of one device: a key pair of its MLS suite's signature scheme
/// (Ed25519, or ECDSA P-384 under 0x0007) bound to a credential name (the participant's account
/// or guest name). Its public half is what a fingerprint verifies and what a ban by device key
/// names. Key packages and groups the device makes are of the identity's suite.
#[derive(Clone)]
pub struct DeviceIdentity {
    pub(crate) secret: SignatureSecretKey,
    pub(crate) signing_identity: SigningIdentity,
    suite: MlsSuite,
}

impl DeviceIdentity {
    /// Generates a fresh key pair for `credential_name`, for the default suite.
    pub fn generate(credential_name: &str) -> Result<Self, GroupError> {
        Self::generate_for(MlsSuite::default(), credential_name)
    }

    /// Generates a fresh key pair of `suite`'s signature scheme for `credential_name`.
    pub fn generate_for(suite: MlsSuite, credential_name: &str) -> Result<Self, GroupError> {
        check_credential_name(credential_name)?;
        let (secret, public) = suite::provider(suite)?
            .signature_key_generate()
            .map_err(|e| GroupError::Crypto(format!("{e:?}")))?;
        Ok(Self::with_key(suite, credential_name, secret, public))
    }

    /// Restores an identity of the default suite saved with [`DeviceIdentity::to_secret_bytes`].
    pub fn from_secret_bytes(credential_name: &str, secret: &[u8]) -> Result<Self, GroupError> {
        Self::from_secret_bytes_for(MlsSuite::default(), credential_name, secret)
    }

    /// Restores an identity of `suite` saved with [`DeviceIdentity::to_secret_bytes`].
    pub fn from_secret_bytes_for(
        suite: MlsSuite,
        credential_name: &str,
        secret: &[u8],
    ) -> Result<Self, GroupError> {
        check_credential_name(credential_name)?;
        let secret = SignatureSecretKey::from(secret.to_vec());
        let public = suite::provider(suite)?
            .signature_key_derive_public(&secret)
            .map_err(|_| GroupError::InvalidSecretKey)?;
        Ok(Self::with_key(suite, credential_name, secret, public))
    }

    fn with_key(
        suite: MlsSuite,
        credential_name: &str,
        secret: SignatureSecretKey,
        public: SignaturePublicKey,
    ) -> Self {
        let credential =
            BasicCredential::new(credential_name.as_bytes().to_vec()).into_credential();
        Self {
            secret,
            signing_identity: SigningIdentity::new(credential, public),
            suite,
        }
    }

    /// The MLS suite this identity signs for.
    pub fn suite(&self) -> MlsSuite {
        self.suite
    }

    /// The secret key, for the device's own key store. Never send it anywhere.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.as_bytes().to_vec())
    }

    /// The credential name this identity was made for.
    pub fn credential_name(&self) -> String {
        credential_name(&self.signing_identity)
    }

    /// The fingerprint of this device's signature key.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_signing_identity(&self.signing_identity)
    }

    /// The public signature key, as the bytes a device-key ban stores.
    pub fn public_key(&self) -> &[u8] {
        self.signing_identity.signature_key.as_bytes()
    }
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("credential", &self.credential_name())
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a member's signature public key: stable across epochs, changes when the device key
/// changes, which is what one-to-one verification must notice.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub(crate) fn of_signing_identity(identity: &SigningIdentity) -> Self {
        Self::of_public_key(identity.signature_key.as_bytes())
    }

    /// The fingerprint of a raw signature public key.
    pub fn of_public_key(public_key: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"sealroom fingerprint v1");
        hasher.update(public_key);
        Self(hasher.finalize().into())
    }
}

/// Groups of four hex digits, the first 128 bits: short enough to read, long enough that no one
/// can grind a second key to match it.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0[..16].chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A credential name is 1 to [`MAX_CREDENTIAL_NAME_BYTES`] bytes with no control or format
/// characters: a right-to-left override or a zero-width character would make it read as
/// another name.
fn check_credential_name(name: &str) -> Result<(), GroupError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_CREDENTIAL_NAME_BYTES
        && !name.chars().any(hidden_in_a_name);
    valid.then_some(()).ok_or(GroupError::InvalidCredentialName)
}

fn hidden_in_a_name(c: char) -> bool {
    c.is_control() || format_characters::is_format_character(c)
}

/// The credential name of a signing identity. Another client's name is shown with what would
/// make it read as another name escaped (`\u{202e}`, and `\xff` for bytes that are not UTF-8),
/// never cleaned up silently. A non-basic credential (which Sealroom never issues) shows as
/// empty so that it stands out in the roster.
pub(crate) fn credential_name(identity: &SigningIdentity) -> String {
    let Some(basic) = identity.credential.as_basic() else {
        return String::new();
    };
    let Ok(name) = std::str::from_utf8(basic.identifier()) else {
        return basic.identifier().escape_ascii().to_string();
    };
    let mut shown = String::with_capacity(name.len());
    for c in name.chars() {
        if hidden_in_a_name(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The default suite's primitives, which private messages and recordings use in every group.
pub(crate) fn cipher_suite_provider() -> Result<SuiteProvider, GroupError> {
    suite::provider(MlsSuite::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_restore_the_same_identity() {
        let identity = DeviceIdentity::generate("alice").unwrap();
        let restored =
            DeviceIdentity::from_secret_bytes("alice", &identity.to_secret_bytes()).unwrap();
        assert_eq!(restored.fingerprint(), identity.fingerprint());
        assert_eq!(restored.public_key(), identity.public_key());
        assert_eq!(restored.credential_name(), "alice");
    }

    #[test]
    fn bad_secret_bytes_and_names_are_errors() {
        for secret in [&[][..], &[1u8; 7], &[0xff; 200]] {
            assert!(matches!(
                DeviceIdentity::from_secret_bytes("alice", secret),
                Err(GroupError::InvalidSecretKey)
            ));
        }
        assert!(matches!(
            DeviceIdentity::generate(""),
            Err(GroupError::InvalidCredentialName)
        ));
        let long = "x".repeat(MAX_CREDENTIAL_NAME_BYTES + 1);
        assert!(matches!(
            DeviceIdentity::generate(&long),
            Err(GroupError::InvalidCredentialName)
        ));
    }

    #[test]
    fn names_that_would_read_as_other_names_are_refused() {
        let alice = DeviceIdentity::generate("alice").unwrap();
        for bad in [
            "Mallory\u{202E}gnp.exe",
            "Al\u{200B}ice",
            "\u{FEFF}Bob",
            "bell\u{7}",
        ] {
            assert!(
                matches!(
                    DeviceIdentity::generate(bad),
                    Err(GroupError::InvalidCredentialName)
                ),
                "{bad:?}"
            );
            assert!(matches!(
                DeviceIdentity::from_secret_bytes(bad, &alice.to_secret_bytes()),
                Err(GroupError::InvalidCredentialName)
            ));
        }
        assert!(DeviceIdentity::generate("Zoë Ōsaka 🙂").is_ok());
    }

    #[test]
    fn a_received_name_that_would_read_as_another_is_shown_escaped() {
        let key = DeviceIdentity::generate("alice")
            .unwrap()
            .signing_identity
            .signature_key;
        let received = |name: &[u8]| {
            let credential = BasicCredential::new(name.to_vec()).into_credential();
            credential_name(&SigningIdentity::new(credential, key.clone()))
        };
        assert_eq!(
            received("Mallory\u{202E}gnp.exe".as_bytes()),
            "Mallory\\u{202e}gnp.exe"
        );
        assert_eq!(
            received(b"Zo\xc3\xab\xff"),
            "Zo\\xc3\\xab\\xff",
            "not UTF-8"
        );
        assert_eq!(received("Zoë".as_bytes()), "Zoë");
    }

    #[test]
    fn fingerprints_differ_per_device_and_never_show_the_secret() {
        let a = DeviceIdentity::generate("alice").unwrap();
        let b = DeviceIdentity::generate("alice").unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        let shown = a.fingerprint().to_string();
        assert_eq!(shown.split(' ').count(), 8);
        let debug = format!("{a:?}");
        assert!(!debug.contains(&hex(&a.to_secret_bytes())));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Sealroom's MLS identity rules: a member *is* its device's signature key; the credential's
/// name is only the label people see. So two guests may both be "Alice" (with the name as
/// identity, MLS refuses the second), and a participant who rejoins under the same name is a
/// new member beside its old one until that one is removed. Credentials are basic ones,
/// checked as mls-rs's `BasicIdentityProvider` checks them.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceIdentityProvider;

impl IdentityProvider for DeviceIdentityProvider {
    type Error = BasicIdentityProviderError;

    fn validate_member(
        &self,
        signing_identity: &SigningIdentity,
        timestamp: Option<MlsTime>,
        context: MemberValidationContext<'_>,
    ) -> Result<(), Self::Error> {
        BasicIdentityProvider.validate_member(signing_identity, timestamp, context)
    }

    fn validate_external_sender(
        &self,
        signing_identity: &SigningIdentity,
        timestamp: Option<MlsTime>,
        extensions: Option<&ExtensionList>,
    ) -> Result<(), Self::Error> {
        BasicIdentityProvider.validate_external_sender(signing_identity, timestamp, extensions)
    }

    fn identity(
        &self,
        signing_identity: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<Vec<u8>, Self::Error> {
        Ok(signing_identity.signature_key.to_vec())
    }

    fn valid_successor(
        &self,
        predecessor: &SigningIdentity,
        successor: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<bool, Self::Error> {
        Ok(predecessor.signature_key == successor.signature_key)
    }

    fn supported_types(&self) -> Vec<CredentialType> {
        BasicIdentityProvider.supported_types()
    }
}
