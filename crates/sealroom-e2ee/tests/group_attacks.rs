//! The MLS session against a malicious server or non-member: each test plays the attacker and
//! shows what it fails to get.

#[path = "support/rogue_member.rs"]
mod rogue_member;

use mls_rs::{
    ExtensionList, Group, MlsMessage, client_builder::MlsConfig,
    extension::built_in::ExternalSendersExt, identity::SigningIdentity, mls_rs_codec::MlsDecode,
};
use rogue_member::{Handshakes, commit_extensions, rogue_client, rogue_key_package};
use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, ExternalSenderKey, GroupError, GroupSession, Incoming,
    ObservedGroup, ObservedMessage, ProposalSender, ProposedChange, RosterMember, SecurityCode,
    group::MAX_MLS_MESSAGE_BYTES,
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

/// Alice and Bob (Sealroom's clients) and a rogue member at leaf 2 in a group that lists
/// `server`, which observes the group from there.
fn room_with_rogue(
    server: &ExternalSender,
    handshakes: Handshakes,
) -> (Vec<GroupSession>, Group<impl MlsConfig>, ObservedGroup) {
    let rogue = rogue_client("rogue", handshakes);
    let alice = device("alice");
    let bob = device("bob");
    let mut alice_session = alice.create_group(&[server.key().unwrap()]).unwrap();
    let add = alice_session
        .commit(
            &[&bob.key_package().unwrap(), &rogue_key_package(&rogue)],
            &[],
        )
        .unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    let (rogue_group, _) = rogue
        .join_group(None, &MlsMessage::from_bytes(&welcome).unwrap(), None)
        .unwrap();
    let observed = server
        .observe(&alice_session.group_info().unwrap())
        .unwrap();
    let bob_session = bob.join_group(&welcome).unwrap();
    (vec![alice_session, bob_session], rogue_group, observed)
}

/// What an honest member shows: it must not change when the member refuses a message.
#[derive(Debug, PartialEq)]
struct View {
    epoch: u64,
    roster: Vec<RosterMember>,
    security_code: SecurityCode,
}

fn view(session: &GroupSession) -> View {
    View {
        epoch: session.epoch(),
        roster: session.roster(),
        security_code: session.security_code().unwrap(),
    }
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
    // The impostor is not in the group's external-senders list: it may not even follow the group.
    assert!(matches!(
        impostor.observe(&sessions[0].group_info().unwrap()),
        Err(GroupError::ExternalSenderMismatch)
    ));
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
    let server = server();
    let (mut sessions, mut colluder, mut observed) =
        room_with_rogue(&server, Handshakes::InTheClear);
    let ghost = device("ghost");
    let proposal = observed.propose_add(&ghost.key_package().unwrap()).unwrap();
    for session in &mut sessions {
        session.process(&proposal).unwrap();
    }
    colluder
        .process_incoming_message(MlsMessage::from_bytes(&proposal).unwrap())
        .unwrap();
    let output = colluder.commit(Vec::new()).unwrap();
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
    for session in &mut sessions {
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

/// The delivery service refuses `message` both as an application message to relay and as a
/// handshake to check, and so does every honest member; nobody's state moves.
fn assert_refused_as_encrypted_handshake(
    message: &[u8],
    observed: &mut ObservedGroup,
    sessions: &mut [GroupSession],
) {
    let epoch = observed.epoch();
    assert!(matches!(
        observed.application_data(message),
        Err(GroupError::EncryptedHandshake)
    ));
    assert!(matches!(
        observed.process(message),
        Err(GroupError::EncryptedHandshake)
    ));
    assert_eq!(observed.epoch(), epoch);
    for session in sessions {
        let before = view(session);
        assert!(matches!(
            session.process(message),
            Err(GroupError::EncryptedHandshake)
        ));
        assert_eq!(view(session), before);
    }
}

/// Alice removes the rogue with an ordinary commit: the delivery service sequences it, Bob
/// follows and stays, both show the same code, and the rogue cannot read what is sent next.
fn assert_the_rogue_is_removed_for_good(
    rogue: &mut Group<impl MlsConfig>,
    observed: &mut ObservedGroup,
    sessions: &mut [GroupSession],
) {
    let removal = sessions[0].commit(&[], &[2]).unwrap();
    assert_eq!(
        observed.process(&removal.commit).unwrap(),
        ObservedMessage::Commit { epoch: 2 }
    );
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].process(&removal.commit).unwrap();
    assert_eq!(view(&sessions[0]), view(&sessions[1]));
    assert_eq!(observed.roster(), sessions[1].roster());
    let names: Vec<String> = observed
        .roster()
        .into_iter()
        .map(|m| m.credential_name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let after = sessions[1]
        .encrypt_application(b"", b"after the rogue left")
        .unwrap();
    assert!(
        rogue
            .process_incoming_message(MlsMessage::from_bytes(&after).unwrap())
            .is_err()
    );
}

/// A rogue member encrypts its commit (an MLS PrivateMessage) so that the delivery service can
/// neither check nor order it, and sends it as an application message. The service and every
/// honest member refuse it unopened, and the group carries on.
#[test]
fn encrypted_commit_is_refused_by_the_delivery_service_and_by_members() {
    let server = server();
    let (mut sessions, mut rogue, mut observed) = room_with_rogue(&server, Handshakes::Encrypted);
    let commit = rogue.commit(Vec::new()).unwrap().commit_message;
    assert_eq!(commit.wire_format(), mls_rs::WireFormat::PrivateMessage);
    assert_refused_as_encrypted_handshake(
        &commit.to_bytes().unwrap(),
        &mut observed,
        &mut sessions,
    );
    assert_the_rogue_is_removed_for_good(&mut rogue, &mut observed, &mut sessions);
}

/// The same with an encrypted proposal (to remove Bob): refused, so no later commit carries it
/// out.
#[test]
fn encrypted_proposal_is_refused_by_the_delivery_service_and_by_members() {
    let server = server();
    let (mut sessions, mut rogue, mut observed) = room_with_rogue(&server, Handshakes::Encrypted);
    let proposal = rogue.propose_remove(1, Vec::new()).unwrap();
    assert_eq!(proposal.wire_format(), mls_rs::WireFormat::PrivateMessage);
    assert_refused_as_encrypted_handshake(
        &proposal.to_bytes().unwrap(),
        &mut observed,
        &mut sessions,
    );
    assert_the_rogue_is_removed_for_good(&mut rogue, &mut observed, &mut sessions);
}

/// A group context extension list naming `key` as the only external sender.
fn listing(key: &ExternalSenderKey) -> ExtensionList {
    let sender = SigningIdentity::mls_decode(&mut key.0.as_slice()).unwrap();
    let mut extensions = ExtensionList::new();
    extensions
        .set_from(ExternalSendersExt::new(vec![sender]))
        .unwrap();
    extensions
}

/// A founder leaves the server out of its group's external senders, or lists another key, or
/// a second one: the server could not propose removing a departed member (or another key
/// could), so it refuses to follow such a group.
#[test]
fn group_not_listing_exactly_the_server_is_not_observed() {
    let server = server();
    let own = server.key().unwrap();
    let other = self::server().key().unwrap();
    for senders in [
        vec![],
        vec![other.clone()],
        vec![own.clone(), other.clone()],
        vec![other, own],
    ] {
        let group = device("mallory").create_group(&senders).unwrap();
        assert!(matches!(
            server.observe(&group.group_info().unwrap()),
            Err(GroupError::ExternalSenderMismatch)
        ));
    }
}

/// A rogue member commits a GroupContextExtensions proposal that drops the server from the
/// external senders, or swaps in another key. The delivery service and every honest member
/// refuse the commit; the server can still propose removals.
#[test]
fn commit_dropping_or_replacing_the_external_sender_is_refused() {
    let server = server();
    let (mut sessions, mut rogue, mut observed) = room_with_rogue(&server, Handshakes::InTheClear);
    let impostor = self::server().key().unwrap();
    for extensions in [ExtensionList::new(), listing(&impostor)] {
        let commit = commit_extensions(&mut rogue, extensions);
        assert!(matches!(
            observed.process(&commit),
            Err(GroupError::Rejected(reason)) if reason.contains("external senders")
        ));
        for session in &mut sessions {
            let before = view(session);
            assert!(matches!(
                session.process(&commit),
                Err(GroupError::Rejected(reason)) if reason.contains("external senders")
            ));
            assert_eq!(view(session), before);
            session
                .check_external_sender(&server.key().unwrap())
                .unwrap();
        }
    }
    observed.propose_remove(2).unwrap();
}

/// The rogue only proposes dropping the server; an honest member's next commit leaves the
/// proposal out, so the group keeps listing the server.
#[test]
fn proposal_dropping_the_external_sender_is_left_out_of_honest_commits() {
    let server = server();
    let (mut sessions, mut rogue, mut observed) = room_with_rogue(&server, Handshakes::InTheClear);
    let proposal = rogue
        .propose_group_context_extensions(ExtensionList::new(), Vec::new())
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(
        observed.process(&proposal).unwrap(),
        ObservedMessage::Proposal
    );
    for session in &mut sessions {
        assert_eq!(
            session.process(&proposal).unwrap(),
            Incoming::Proposal {
                sender: ProposalSender::Member(2),
                change: ProposedChange::Other,
            }
        );
    }
    let commit = sessions[1].commit(&[], &[]).unwrap();
    sessions[1].merge_pending_commit().unwrap();
    sessions[0].process(&commit.commit).unwrap();
    assert_eq!(
        observed.process(&commit.commit).unwrap(),
        ObservedMessage::Commit { epoch: 2 }
    );
    for session in &sessions {
        session
            .check_external_sender(&server.key().unwrap())
            .unwrap();
    }
    observed.propose_remove(2).unwrap();
}

/// A joiner's client knows the server's key (from joining the room) and finds out from the
/// Welcome alone whether the group lists exactly that key as its external sender.
#[test]
fn joiner_finds_out_that_the_group_does_not_list_the_server() {
    let server = server();
    let own = server.key().unwrap();
    let other = self::server().key().unwrap();
    for (senders, lists_the_server) in [
        (vec![], false),
        (vec![other.clone()], false),
        (vec![own.clone(), other], false),
        (vec![own.clone()], true),
    ] {
        let mut founder = device("mallory").create_group(&senders).unwrap();
        let bob = device("bob");
        let add = founder.commit(&[&bob.key_package().unwrap()], &[]).unwrap();
        let bob_session = bob.join_group(&add.welcome.unwrap()).unwrap();
        let checked = bob_session.check_external_sender(&own);
        if lists_the_server {
            checked.unwrap();
        } else {
            assert!(matches!(checked, Err(GroupError::ExternalSenderMismatch)));
        }
    }
}

/// A colluding member proposes adding the server's ghost (a proposal the server relays to
/// everyone) and waits for an honest member's next commit to carry it in under the honest
/// member's name. Honest commits leave the proposal out; the colluder's own commit of it by
/// reference is refused by the delivery service and by every honest member.
#[test]
fn add_proposed_by_a_colluding_member_is_never_committed() {
    let server = server();
    let (mut sessions, mut colluder, mut observed) =
        room_with_rogue(&server, Handshakes::InTheClear);
    let ghost = MlsMessage::from_bytes(&device("ghost").key_package().unwrap()).unwrap();
    let proposal = colluder
        .propose_add(ghost, Vec::new())
        .unwrap()
        .to_bytes()
        .unwrap();
    assert_eq!(
        observed.process(&proposal).unwrap(),
        ObservedMessage::Proposal
    );
    for session in &mut sessions {
        session.process(&proposal).unwrap();
    }
    let honest = sessions[0].commit(&[], &[]).unwrap();
    assert!(honest.welcome.is_none(), "the honest commit adds nobody");

    let by_reference = colluder.commit(Vec::new()).unwrap();
    assert_eq!(
        by_reference.welcome_messages.len(),
        1,
        "the colluder did commit it"
    );
    let commit = by_reference.commit_message.to_bytes().unwrap();
    assert!(matches!(
        observed.process(&commit),
        Err(GroupError::Rejected(reason)) if reason.contains("by reference")
    ));
    let before = view(&sessions[1]);
    assert!(matches!(
        sessions[1].process(&commit),
        Err(GroupError::Rejected(reason)) if reason.contains("by reference")
    ));
    assert_eq!(view(&sessions[1]), before);
}
