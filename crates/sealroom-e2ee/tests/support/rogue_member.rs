//! A member whose client ignores Sealroom's rules: plain mls-rs with its default rules, which
//! commits whatever it is given and, if told to, encrypts its commits and proposals (RFC 9420
//! allows either). Shared by the attack tests of `sealroom-e2ee` and of the server's delivery
//! service.

// Each test file that includes this module uses a part of it.
#![allow(dead_code)]

use mls_rs::{
    CipherSuiteProvider, Client, CryptoProvider, ExtensionList, Group,
    client_builder::{MlsConfig, PaddingMode},
    identity::{
        SigningIdentity,
        basic::{BasicCredential, BasicIdentityProvider},
    },
    mls_rules::{DefaultMlsRules, EncryptionOptions},
};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use sealroom_e2ee::{group::CIPHER_SUITE, room_policy::ROOM_POLICY_EXTENSION};

/// How the rogue member sends its commits and proposals.
#[derive(Clone, Copy, Debug)]
pub enum Handshakes {
    /// As PublicMessages, as Sealroom's clients do: the delivery service can check them.
    InTheClear,
    /// As PrivateMessages, which only members can open: nobody can check them before they are
    /// relayed.
    Encrypted,
}

/// A client named `name` that follows plain MLS, not Sealroom's rules.
pub fn rogue_client(name: &str, handshakes: Handshakes) -> Client<impl MlsConfig> {
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(CIPHER_SUITE)
        .expect("Sealroom's cipher suite");
    let (secret, public) = suite.signature_key_generate().expect("signature key");
    let credential = BasicCredential::new(name.as_bytes().to_vec()).into_credential();
    let encryption = EncryptionOptions::new(
        matches!(handshakes, Handshakes::Encrypted),
        PaddingMode::None,
    );
    Client::builder()
        .crypto_provider(RustCryptoProvider::default())
        .identity_provider(BasicIdentityProvider)
        .mls_rules(DefaultMlsRules::new().with_encryption_options(encryption))
        // Like Sealroom's clients, so it can be in a room link's group.
        .extension_type(ROOM_POLICY_EXTENSION)
        .signing_identity(
            SigningIdentity::new(credential, public),
            secret,
            CIPHER_SUITE,
        )
        .build()
}

/// A fresh key package of the rogue client's, serialized as a joiner uploads it.
pub fn rogue_key_package(client: &Client<impl MlsConfig>) -> Vec<u8> {
    client
        .generate_key_package_message(ExtensionList::new(), ExtensionList::new(), None)
        .and_then(|message| message.to_bytes())
        .expect("key package")
}

/// The rogue's commit replacing the group context's extensions with `extensions`, serialized;
/// the commit is not kept pending, so the rogue can go on.
pub fn commit_extensions(group: &mut Group<impl MlsConfig>, extensions: ExtensionList) -> Vec<u8> {
    let commit = group
        .commit_builder()
        .set_group_context_ext(extensions)
        .and_then(|builder| builder.build())
        .and_then(|output| output.commit_message.to_bytes())
        .expect("a group-context-extensions commit");
    group.clear_pending_commit();
    commit
}
