//! The organisation's binding of a device to an account, in the MLS leaf, against a member who
//! claims an account it does not hold and an organisation key the member did not pin: each test
//! plays the attacker and shows that the roster names no account it cannot prove.

use mls_rs::{
    CipherSuiteProvider, Client, CryptoProvider, Extension, ExtensionList,
    client_builder::MlsConfig,
    identity::{
        SigningIdentity,
        basic::{BasicCredential, BasicIdentityProvider},
    },
};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use sealroom_e2ee::{
    BindingRefusal, Device, DeviceIdentity, GroupError, GroupSession, OrgBinding, OrgIdentity,
    OrgSigner, OrgTrust, Relayed, group::CIPHER_SUITE, org_binding::ORG_BINDING_EXTENSION,
    private_message::PRIVATE_KEY_EXTENSION,
};

const NOW: u64 = 1_800_000_000;
const HOURS_12: u64 = 12 * 3600;

/// A Sealroom device whose leaf carries the organisation's binding to `account`.
fn signed_in_device(signer: &OrgSigner, account: &str) -> Device {
    let mut device = Device::new(DeviceIdentity::generate(account).unwrap());
    let binding = signer
        .bind(account, device.identity().public_key(), NOW, NOW + HOURS_12)
        .unwrap();
    device.set_org_binding(binding).unwrap();
    device
}

/// `founder` creates a group and adds the devices behind `key_packages`; every session trusts
/// `trust`. Returns the founder's session and the Welcome, if it added anyone.
fn group_of(
    founder: &Device,
    key_packages: &[Vec<u8>],
    trust: OrgTrust,
) -> (GroupSession, Option<Vec<u8>>) {
    let mut session = founder.create_group(&[]).unwrap();
    session.set_org_trust(trust);
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let welcome = session.commit(&refs, &[]).unwrap().welcome;
    session.merge_pending_commit().unwrap();
    (session, welcome)
}

fn identities(session: &GroupSession) -> Vec<OrgIdentity> {
    session
        .roster()
        .into_iter()
        .map(|m| m.org_identity)
        .collect()
}

/// A plain mls-rs client (not Sealroom's) whose leaf may carry a binding of its choosing.
fn plain_client(name: &str) -> Client<impl MlsConfig> {
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(CIPHER_SUITE)
        .unwrap();
    let (secret, public) = suite.signature_key_generate().unwrap();
    let credential = BasicCredential::new(name.as_bytes().to_vec()).into_credential();
    Client::builder()
        .crypto_provider(RustCryptoProvider::default())
        .identity_provider(BasicIdentityProvider)
        .extension_type(PRIVATE_KEY_EXTENSION)
        .extension_type(ORG_BINDING_EXTENSION)
        .signing_identity(
            SigningIdentity::new(credential, public),
            secret,
            CIPHER_SUITE,
        )
        .build()
}

fn leaf_with_binding(binding: &OrgBinding) -> ExtensionList {
    let mut extensions = ExtensionList::new();
    extensions.set(Extension::new(ORG_BINDING_EXTENSION, binding.encode()));
    extensions
}

fn key_package_with_leaf(client: &Client<impl MlsConfig>, leaf: ExtensionList) -> Vec<u8> {
    client
        .generate_key_package_message(ExtensionList::new(), leaf, None)
        .and_then(|message| message.to_bytes())
        .unwrap()
}

#[test]
fn two_signed_in_members_see_each_others_verified_account() {
    let signer = OrgSigner::generate().unwrap();
    let trust = OrgTrust {
        key: Some(signer.public_key()),
        now: NOW + 60,
    };
    let alice = signed_in_device(&signer, "alice");
    let bob = signed_in_device(&signer, "bob");
    let (mut alice_session, welcome) = group_of(&alice, &[bob.key_package().unwrap()], trust);
    let mut bob_session = bob.join_group(&welcome.unwrap()).unwrap();
    bob_session.set_org_trust(trust);
    let verified = vec![
        OrgIdentity::Verified("alice".into()),
        OrgIdentity::Verified("bob".into()),
    ];
    assert_eq!(identities(&alice_session), verified);
    assert_eq!(identities(&bob_session), verified);
    // The binding stays in the leaf through a self-update's new leaf node.
    let update = bob_session.commit(&[], &[]).unwrap();
    bob_session.merge_pending_commit().unwrap();
    alice_session
        .process_relayed(Relayed::Commit, &update.commit)
        .unwrap();
    assert_eq!(identities(&alice_session), verified);
}

#[test]
fn a_member_who_copies_another_members_binding_into_its_leaf_is_refused() {
    let signer = OrgSigner::generate().unwrap();
    let trust = OrgTrust {
        key: Some(signer.public_key()),
        now: NOW,
    };
    let alice = signed_in_device(&signer, "alice");
    let (mut session, _) = group_of(&alice, &[], trust);
    let alice_binding = signer
        .bind("alice", alice.identity().public_key(), NOW, NOW + HOURS_12)
        .unwrap();
    let mallory = plain_client("alice");
    let key_package = key_package_with_leaf(&mallory, leaf_with_binding(&alice_binding));
    session.commit(&[&key_package], &[]).unwrap();
    session.merge_pending_commit().unwrap();
    assert_eq!(
        identities(&session),
        vec![
            OrgIdentity::Verified("alice".into()),
            OrgIdentity::Refused(BindingRefusal::OtherDevice),
        ]
    );
    // Sealroom's own device will not carry a binding for another device's key.
    let mut device = Device::new(DeviceIdentity::generate("mallory").unwrap());
    assert!(matches!(
        device.set_org_binding(alice_binding),
        Err(GroupError::OrgBindingMismatch)
    ));
}

#[test]
fn a_binding_signed_by_a_key_other_than_the_pinned_one_is_refused() {
    let organisation = OrgSigner::generate().unwrap();
    let impostor = OrgSigner::generate().unwrap();
    let alice = signed_in_device(&organisation, "alice");
    let mallory = signed_in_device(&impostor, "bob");
    let pinned = OrgTrust {
        key: Some(organisation.public_key()),
        now: NOW,
    };
    let (session, _) = group_of(&alice, &[mallory.key_package().unwrap()], pinned);
    assert_eq!(
        identities(&session),
        vec![
            OrgIdentity::Verified("alice".into()),
            OrgIdentity::Refused(BindingRefusal::BadSignature),
        ]
    );
}

#[test]
fn an_expired_or_unpinned_binding_names_no_account_and_a_guest_has_none() {
    let signer = OrgSigner::generate().unwrap();
    let alice = signed_in_device(&signer, "alice");
    let guest = Device::new(DeviceIdentity::generate("guest").unwrap());
    let later = OrgTrust {
        key: Some(signer.public_key()),
        now: NOW + HOURS_12,
    };
    let (mut session, _) = group_of(&alice, &[guest.key_package().unwrap()], later);
    assert_eq!(
        identities(&session),
        vec![
            OrgIdentity::Refused(BindingRefusal::Expired),
            OrgIdentity::None,
        ]
    );
    session.set_org_trust(OrgTrust {
        key: None,
        now: NOW,
    });
    assert_eq!(
        identities(&session)[0],
        OrgIdentity::Refused(BindingRefusal::NoOrganisationKey)
    );
    let malformed = ExtensionList::from(vec![Extension::new(ORG_BINDING_EXTENSION, vec![1, 0])]);
    let key_package = key_package_with_leaf(&plain_client("carol"), malformed);
    session.commit(&[&key_package], &[]).unwrap();
    session.merge_pending_commit().unwrap();
    assert_eq!(
        identities(&session)[2],
        OrgIdentity::Refused(BindingRefusal::Malformed)
    );
}
