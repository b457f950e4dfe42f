//! Organisational identity in the client core: the roster names an account only where the
//! organisation key pinned on first use vouches for the member's own leaf; a server that later
//! presents another key is reported and not trusted; a guest has no account.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_e2ee::{BindingRefusal, OrgIdentity, OrgKey, OrgSigner};
use sealroom_protocol::GroupAction;
use support::{DeliveryService, Member};

const NOW: u64 = 1_800_000_000;

/// Who joins: the account, who signed its binding (none: a guest), the key its client pinned
/// and the key the server presents to it.
struct Joiner<'a> {
    account: &'a str,
    binding_signer: Option<&'a OrgSigner>,
    pinned: Option<OrgKey>,
    presented: OrgKey,
}

/// The joiner's member, with the room link `link`.
fn member(id: &str, joiner: &Joiner, link: Option<&str>) -> Member {
    let account = joiner.account;
    let mut member = Member::with_link(id, account, link);
    if let Some(signer) = joiner.binding_signer {
        let key = member.core.device_public_key().to_vec();
        let binding = signer.bind(account, &key, NOW, NOW + 12 * 3600).unwrap();
        member.core.set_org_binding(binding).unwrap();
    }
    member.core.handle_time(NOW + 60);
    member
        .core
        .handle_organisation_key(joiner.pinned, joiner.presented);
    member.drain();
    member
}

/// Alice (signed in under `organisation`, first contact) founds the room; each joiner comes
/// with the link and is added by Alice's commit.
fn meeting(organisation: &OrgSigner, joiners: &[Joiner]) -> Vec<Member> {
    let alice = Joiner {
        account: "alice",
        binding_signer: Some(organisation),
        pinned: None,
        presented: organisation.public_key(),
    };
    let mut ds = DeliveryService::new();
    let mut members = vec![member("p1", &alice, None)];
    ds.found(&mut members[0]);
    let link = members[0].screen.room_link.clone().expect("a link");
    for (index, spec) in joiners.iter().enumerate() {
        let mut joiner = member(&format!("p{}", index + 2), spec, Some(&link));
        let key_package = ds.key_package(&mut joiner, GroupAction::AwaitWelcome);
        assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut joiner]));
        members.push(joiner);
    }
    members
}

/// A joiner signed in under `signer`, whose client pinned `key`, which the server presents.
fn signed_in<'a>(account: &'a str, signer: &'a OrgSigner, key: OrgKey) -> Joiner<'a> {
    Joiner {
        account,
        binding_signer: Some(signer),
        pinned: Some(key),
        presented: key,
    }
}

fn identities(member: &Member) -> Vec<OrgIdentity> {
    let roster = &member.screen.epoch().roster;
    roster.iter().map(|m| m.org_identity.clone()).collect()
}

#[test]
fn signed_in_members_see_each_others_verified_account_and_a_guest_has_none() {
    let organisation = OrgSigner::generate().unwrap();
    let key = organisation.public_key();
    let bob = signed_in("bob", &organisation, key);
    let guest = Joiner {
        binding_signer: None,
        ..signed_in("guest", &organisation, key)
    };
    let members = meeting(&organisation, &[bob, guest]);
    let expected = vec![
        OrgIdentity::Verified("alice".into()),
        OrgIdentity::Verified("bob".into()),
        OrgIdentity::None,
    ];
    for member in &members {
        assert_eq!(identities(member), expected, "{}'s screen", member.name);
        assert!(member.screen.org_key_changes.is_empty());
    }
    assert_eq!(members[0].screen.org_pins, [key], "first contact: pin it");
    assert!(members[1].screen.org_pins.is_empty(), "already pinned");
}

#[test]
fn a_binding_signed_by_a_key_other_than_the_pinned_one_is_refused() {
    let organisation = OrgSigner::generate().unwrap();
    let key = organisation.public_key();
    let impostor = OrgSigner::generate().unwrap();
    let mallory = signed_in("bob", &impostor, key);
    let members = meeting(&organisation, &[mallory]);
    assert_eq!(
        identities(&members[0]),
        vec![
            OrgIdentity::Verified("alice".into()),
            OrgIdentity::Refused(BindingRefusal::BadSignature),
        ]
    );
}

#[test]
fn a_server_that_later_presents_another_key_is_reported_and_not_pinned() {
    let organisation = OrgSigner::generate().unwrap();
    let pinned = organisation.public_key();
    let replaced = OrgSigner::generate().unwrap();
    // Bob pinned the organisation's key; the server now presents its own, and signs with it
    // a binding that names Carol's device as "alice".
    let bob = Joiner {
        presented: replaced.public_key(),
        ..signed_in("bob", &organisation, pinned)
    };
    let carol = signed_in("alice", &replaced, pinned);
    let members = meeting(&organisation, &[bob, carol]);
    assert_eq!(
        members[1].screen.org_key_changes,
        [(pinned, replaced.public_key())]
    );
    assert!(
        members[1].screen.org_pins.is_empty(),
        "never re-pinned silently"
    );
    assert_eq!(
        identities(&members[1]),
        vec![
            OrgIdentity::Verified("alice".into()),
            OrgIdentity::Verified("bob".into()),
            OrgIdentity::Refused(BindingRefusal::BadSignature),
        ],
        "checked against the pinned key still"
    );
}

#[test]
fn a_core_refuses_a_binding_for_another_device() {
    let organisation = OrgSigner::generate().unwrap();
    let alice = Member::new("p1", "alice");
    let binding = organisation
        .bind("alice", alice.core.device_public_key(), NOW, NOW + 60)
        .unwrap();
    let mut mallory = Member::new("p2", "mallory");
    assert!(mallory.core.set_org_binding(binding).is_err());
}
