//! The MLS session against a malicious server or non-member: each test plays the attacker and
//! shows what it fails to get.

use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupError, GroupSession, Incoming, ProposalSender,
    ProposedChange, group::MAX_MLS_MESSAGE_BYTES,
};

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

/// Alice, Bob and Carol in a group that lists `server` as external sender.
fn room(server: &ExternalSender) -> Vec<GroupSession> {
    let alice = device("alice");
    let bob = device("bob");
    let carol = device("carol");
    let mut alice_session = alice.create_group(&[server.key().unwrap()]).unwrap();
    let add = alice_session
        .commit(
            &[&bob.key_package().unwrap(), &carol.key_package().unwrap()],
            &[],
        )
        .unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    vec![
        alice_session,
        bob.join_group(&welcome).unwrap(),
        carol.join_group(&welcome).unwrap(),
    ]
}

fn server() -> ExternalSender {
    ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap())
}

#[test]
fn ghost_added_by_the_external_sender_never_appears() {
    let server = server();
    let mut sessions = room(&server);
    let mut observed = server.observe(&sessions[0].group_info().unwrap()).unwrap();

    // The server tries to slip in a member of its own.
    let ghost = device("ghost");
    let proposal = observed.propose_add(&ghost.key_package().unwrap()).unwrap();
    let seen = sessions[1].process(&proposal).unwrap();
    assert_eq!(
        seen,
        Incoming::Proposal {
            sender: ProposalSender::ExternalSender(0),
            change: ProposedChange::Add {
                credential_name: "ghost".into()
            }
        },
        "the client sees the attempt and can flag it"
    );
    sessions[0].process(&proposal).unwrap();
    sessions[2].process(&proposal).unwrap();

    // Bob's next commit leaves the proposal out: no Welcome, no ghost in anyone's roster.
    let commit = sessions[1].commit(&[], &[]).unwrap();
    assert!(commit.welcome.is_none(), "nobody welcomes the ghost");
    sessions[1].merge_pending_commit().unwrap();
    sessions[0].process(&commit.commit).unwrap();
    sessions[2].process(&commit.commit).unwrap();
    for s in &sessions {
        assert!(s.roster().iter().all(|m| m.credential_name != "ghost"));
        assert_eq!(s.roster().len(), 3);
    }
}

#[test]
fn external_sender_not_listed_in_the_group_cannot_propose() {
    let listed = server();
    let impostor = server();
    let sessions = room(&listed);
    let mut observed = impostor
        .observe(&sessions[0].group_info().unwrap())
        .unwrap();
    // The impostor is not in the group's external-senders list, so mls-rs won't even sign for it.
    assert!(observed.propose_remove(1).is_err());
}

#[test]
fn forged_commit_from_a_non_member_is_rejected() {
    let server = server();
    let mut sessions = room(&server);
    let epoch = sessions[0].epoch();

    // Mallory is not in the group. Her commits belong to a group of her own...
    let mallory = device("mallory");
    let mut mallory_group = mallory.create_group(&[]).unwrap();
    let forged = mallory_group.commit(&[], &[]).unwrap();
    assert!(matches!(
        sessions[0].process(&forged.commit),
        Err(GroupError::WrongGroup)
    ));

    // ...and a member's real commit with one bit of its signature flipped fails verification.
    let mut tampered = sessions[1].commit(&[], &[]).unwrap().commit;
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(sessions[0].process(&tampered).is_err());
    assert_eq!(sessions[0].epoch(), epoch, "nothing changed");
}

#[test]
fn commit_from_a_removed_member_is_rejected() {
    let server = server();
    let mut sessions = room(&server);
    // Alice removes Carol; Carol has not processed it and commits on the old epoch.
    let removal = sessions[0].commit(&[], &[2]).unwrap();
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].process(&removal.commit).unwrap();
    let stale = sessions[2].commit(&[], &[]).unwrap();
    for s in &mut sessions[..2] {
        assert!(matches!(
            s.process(&stale.commit),
            Err(GroupError::Rejected(_))
        ));
        assert_eq!(s.roster().len(), 2);
    }
}

#[test]
fn replayed_commit_is_rejected() {
    let server = server();
    let mut sessions = room(&server);
    let commit = sessions[0].commit(&[], &[]).unwrap();
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].process(&commit.commit).unwrap();
    let epoch = sessions[1].epoch();
    assert!(sessions[1].process(&commit.commit).is_err());
    assert_eq!(sessions[1].epoch(), epoch);
}

#[test]
fn commit_for_a_future_epoch_is_refused() {
    let server = server();
    let mut sessions = room(&server);
    let first = sessions[0].commit(&[], &[]).unwrap();
    sessions[0].merge_pending_commit().unwrap();
    let second = sessions[0].commit(&[], &[]).unwrap();
    // Bob missed the first commit: the second is for an epoch he is not at.
    assert!(matches!(
        sessions[1].process(&second.commit),
        Err(GroupError::WrongEpoch {
            message_epoch: 2,
            group_epoch: 1
        })
    ));
    sessions[1].process(&first.commit).unwrap();
}

#[test]
fn tampered_application_message_is_rejected() {
    let server = server();
    let mut sessions = room(&server);
    let mut message = sessions[0]
        .encrypt_application(b"", b"secret plans")
        .unwrap();
    let middle = message.len() / 2;
    message[middle] ^= 0x80;
    assert!(sessions[1].process(&message).is_err());
}

#[test]
fn removed_member_cannot_read_later_application_messages() {
    let server = server();
    let mut sessions = room(&server);
    let removal = sessions[0].commit(&[], &[2]).unwrap();
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].process(&removal.commit).unwrap();
    let after = sessions[1]
        .encrypt_application(b"", b"after carol left")
        .unwrap();
    // Carol, still at the old epoch, cannot decrypt it; after processing her removal she has no
    // session at all.
    assert!(sessions[2].process(&after).is_err());
    sessions[2].process(&removal.commit).unwrap();
    assert!(matches!(
        sessions[2].process(&after),
        Err(GroupError::Removed)
    ));
}

#[test]
fn garbage_and_oversized_input_are_errors_not_panics() {
    let server = server();
    let mut sessions = room(&server);
    for garbage in [&b""[..], b"\x00", b"\x00\x01\x00\x01garbage", &[0xff; 64]] {
        assert!(matches!(
            sessions[0].process(garbage),
            Err(GroupError::Malformed(_))
        ));
        assert!(device("x").join_group(garbage).is_err());
        assert!(server.observe(garbage).is_err());
    }
    let huge = vec![0u8; MAX_MLS_MESSAGE_BYTES + 1];
    assert!(matches!(
        sessions[0].process(&huge),
        Err(GroupError::TooLarge(_))
    ));
    assert!(matches!(
        sessions[0].commit(&[b"not a key package"], &[]),
        Err(GroupError::Malformed(_))
    ));
    assert!(matches!(
        sessions[0].commit(&[], &[42]),
        Err(GroupError::NoSuchMember(42)) | Err(GroupError::Rejected(_))
    ));
}

/// A member whose client ignores Sealroom's rules (plain mls-rs with default rules) commits the
/// server's ghost Add. Every honest client refuses that commit, so the ghost never gets keys.
#[test]
fn ghost_committed_by_a_colluding_member_is_refused_by_honest_clients() {
    use mls_rs::{
        CipherSuiteProvider, Client, CryptoProvider, ExtensionList, MlsMessage,
        identity::{
            SigningIdentity,
            basic::{BasicCredential, BasicIdentityProvider},
        },
    };
    use mls_rs_crypto_rustcrypto::RustCryptoProvider;

    let server = server();
    let alice = device("alice");
    let bob = device("bob");
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(sealroom_e2ee::group::CIPHER_SUITE)
        .unwrap();
    let (secret, public) = suite.signature_key_generate().unwrap();
    let colluder = Client::builder()
        .crypto_provider(RustCryptoProvider::default())
        .identity_provider(BasicIdentityProvider)
        .signing_identity(
            SigningIdentity::new(
                BasicCredential::new(b"colluder".to_vec()).into_credential(),
                public,
            ),
            secret,
            sealroom_e2ee::group::CIPHER_SUITE,
        )
        .build();
    let colluder_kp = colluder
        .generate_key_package_message(ExtensionList::new(), ExtensionList::new(), None)
        .unwrap()
        .to_bytes()
        .unwrap();

    let mut alice_session = alice.create_group(&[server.key().unwrap()]).unwrap();
    let add = alice_session
        .commit(&[&bob.key_package().unwrap(), &colluder_kp], &[])
        .unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    let mut bob_session = bob.join_group(&welcome).unwrap();
    let (mut colluder_group, _) = colluder
        .join_group(None, &MlsMessage::from_bytes(&welcome).unwrap(), None)
        .unwrap();

    let mut observed = server
        .observe(&alice_session.group_info().unwrap())
        .unwrap();
    let ghost = device("ghost");
    let proposal = observed.propose_add(&ghost.key_package().unwrap()).unwrap();
    alice_session.process(&proposal).unwrap();
    bob_session.process(&proposal).unwrap();
    colluder_group
        .process_incoming_message(MlsMessage::from_bytes(&proposal).unwrap())
        .unwrap();
    let output = colluder_group.commit(Vec::new()).unwrap();
    assert_eq!(
        output.welcome_messages.len(),
        1,
        "the colluder did commit the ghost"
    );
    let commit = output.commit_message.to_bytes().unwrap();

    // The delivery service applies the same rules and refuses to sequence it...
    assert!(matches!(
        observed.process(&commit),
        Err(GroupError::Rejected(_))
    ));
    // ...and were it relayed anyway, every honest client refuses it too.
    for session in [&mut alice_session, &mut bob_session] {
        let epoch = session.epoch();
        assert!(
            matches!(session.process(&commit), Err(GroupError::Rejected(reason)) if reason.contains("external sender")),
            "honest clients refuse the commit"
        );
        assert_eq!(session.epoch(), epoch);
        assert!(
            session
                .roster()
                .iter()
                .all(|m| m.credential_name != "ghost")
        );
    }
}

#[test]
fn delivery_service_validates_key_packages_and_learns_their_owner() {
    let server = server();
    let alice = DeviceIdentity::generate("alice").unwrap();
    let owner = server
        .validate_key_package(&Device::new(alice.clone()).key_package().unwrap())
        .unwrap();
    assert_eq!(owner.credential_name, "alice");
    assert_eq!(owner.fingerprint, alice.fingerprint());

    let mut tampered = Device::new(alice).key_package().unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(server.validate_key_package(&tampered).is_err());
    assert!(server.validate_key_package(b"garbage").is_err());
}
