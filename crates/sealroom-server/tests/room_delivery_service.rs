//! The room's delivery-service rules without sockets: who creates the group, who is asked to
//! commit, one commit per epoch, removals proposed as external sender, and a group that starts
//! over when nobody holding its keys is left.

#[path = "../../sealroom-e2ee/tests/support/rogue_member.rs"]
mod rogue_member;

use std::sync::Arc;

use mls_rs::{ExtensionList, Group, MlsMessage, client_builder::MlsConfig};
use rogue_member::{Handshakes, commit_extensions, rogue_client, rogue_key_package};
use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, GroupError, GroupSession, Incoming};
use sealroom_protocol::{
    Allowed, ApplicationKind, DisplayName, ErrorCode, GroupAction, Permissions, RemovalReason,
    RoomName, ServerMessage,
};
use sealroom_server::room::{Newcomer, Outgoing, Room, RoomError};

fn room() -> Room {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    Room::new(
        RoomName::parse("test-room").unwrap(),
        Arc::new(server),
        true,
    )
}

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).unwrap())
}

fn name(name: &str) -> DisplayName {
    DisplayName::parse(name).unwrap()
}

fn to<'a>(out: &'a [Outgoing], id: &str) -> Vec<&'a ServerMessage> {
    out.iter()
        .filter(|(to, _)| to == id)
        .map(|(_, m)| m)
        .collect()
}

fn joined_action(out: &[Outgoing], id: &str) -> Option<GroupAction> {
    to(out, id).into_iter().find_map(|m| match m {
        ServerMessage::Joined { group, .. } => Some(*group),
        _ => None,
    })
}

fn external_sender(out: &[Outgoing], id: &str) -> sealroom_e2ee::ExternalSenderKey {
    to(out, id)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Joined {
                external_sender, ..
            } => Some(sealroom_e2ee::ExternalSenderKey(external_sender.0.clone())),
            _ => None,
        })
        .unwrap()
}

fn welcome_for(out: &[Outgoing], id: &str) -> Vec<u8> {
    to(out, id)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Welcome { welcome } => Some(welcome.0.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{id} gets the Welcome"))
}

fn commit_request(out: &[Outgoing], id: &str) -> Option<Vec<Vec<u8>>> {
    to(out, id).into_iter().find_map(|m| match m {
        ServerMessage::CommitRequested { key_packages } => {
            Some(key_packages.iter().map(|k| k.0.clone()).collect())
        }
        _ => None,
    })
}

/// The fingerprint `to` was told `of` has, in the last participant list sent to `to`.
fn fingerprint_of(out: &[Outgoing], to_id: &str, of: &str) -> Option<String> {
    to(out, to_id).into_iter().rev().find_map(|m| match m {
        ServerMessage::Participants { participants } => participants
            .iter()
            .find(|p| p.id == of)
            .and_then(|p| p.fingerprint.clone()),
        _ => None,
    })
}

/// Alice creates the group; Bob joins through the delivery service.
fn alice_and_bob(room: &mut Room) -> (GroupSession, GroupSession) {
    let out = room.join(&"alice".into(), name("Alice"));
    assert_eq!(joined_action(&out, "alice"), Some(GroupAction::CreateGroup));
    let alice = device("Alice");
    let mut alice_group = alice
        .create_group(&[external_sender(&out, "alice")])
        .unwrap();
    let out = room
        .group_created(&"alice".into(), &alice_group.group_info().unwrap())
        .unwrap();
    // Nothing to commit yet; everyone (just Alice) learns her key's fingerprint.
    assert_eq!(
        fingerprint_of(&out, "alice", "alice"),
        Some(alice.identity().fingerprint().to_string())
    );
    assert!(commit_request(&out, "alice").is_none());

    let out = room.join(&"bob".into(), name("Bob"));
    assert_eq!(joined_action(&out, "bob"), Some(GroupAction::AwaitWelcome));
    let bob = device("Bob");
    let out = room
        .key_package(&"bob".into(), bob.key_package().unwrap())
        .unwrap();
    let requested = commit_request(&out, "alice").expect("the member is asked to add Bob");
    assert_eq!(
        fingerprint_of(&out, "alice", "bob"),
        Some(bob.identity().fingerprint().to_string()),
        "members can pair Bob's roster entry with his server id by key, not by name"
    );
    let refs: Vec<&[u8]> = requested.iter().map(Vec::as_slice).collect();
    let commit = alice_group.commit(&refs, &[]).unwrap();
    let out = room
        .commit(&"alice".into(), &commit.commit, commit.welcome.as_deref())
        .unwrap();
    assert!(matches!(
        to(&out, "alice")[..],
        [ServerMessage::CommitAccepted { epoch: 1 }]
    ));
    let welcome = welcome_for(&out, "bob");
    alice_group.merge_pending_commit().unwrap();
    (alice_group, bob.join_group(&welcome).unwrap())
}

#[test]
fn first_creates_the_group_and_the_next_is_added_by_a_member() {
    let mut room = room();
    let (alice, bob) = alice_and_bob(&mut room);
    assert_eq!(room.epoch(), Some(1));
    assert_eq!(alice.security_code().unwrap(), bob.security_code().unwrap());
}

#[test]
fn only_the_designated_creator_may_create_the_group() {
    let mut room = room();
    room.join(&"alice".into(), name("Alice"));
    room.join(&"mallory".into(), name("Mallory"));
    let forged = device("Mallory").create_group(&[]).unwrap();
    assert!(matches!(
        room.group_created(&"mallory".into(), &forged.group_info().unwrap()),
        Err(RoomError::OutOfOrder(_))
    ));
}

#[test]
fn second_commit_of_an_epoch_is_rejected_with_the_current_epoch() {
    let mut room = room();
    let (mut alice, mut bob) = alice_and_bob(&mut room);
    let first = alice.commit(&[], &[]).unwrap();
    let second = bob.commit(&[], &[]).unwrap();
    let out = room.commit(&"alice".into(), &first.commit, None).unwrap();
    assert!(matches!(
        to(&out, "alice")[..],
        [ServerMessage::CommitAccepted { epoch: 2 }]
    ));
    assert!(
        to(&out, "bob")
            .iter()
            .any(|m| matches!(m, ServerMessage::Commit { epoch: 2, .. }))
    );
    let out = room.commit(&"bob".into(), &second.commit, None).unwrap();
    assert_eq!(
        to(&out, "bob"),
        [&ServerMessage::CommitRejected {
            epoch: 2,
            code: ErrorCode::WrongEpoch
        }]
    );
}

#[test]
fn leaving_member_is_proposed_for_removal_and_a_member_asked_to_commit() {
    let mut room = room();
    let (mut alice, mut bob) = alice_and_bob(&mut room);
    let out = room.leave(&"alice".into());
    let proposal = to(&out, "bob")
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Proposal { proposal } => Some(proposal.0.clone()),
            _ => None,
        })
        .expect("Bob gets the removal proposal");
    assert!(
        commit_request(&out, "bob").is_some(),
        "Bob is asked to commit"
    );
    assert!(matches!(
        bob.process(&proposal).unwrap(),
        Incoming::Proposal { .. }
    ));
    let commit = bob.commit(&[], &[]).unwrap();
    let out = room.commit(&"bob".into(), &commit.commit, None).unwrap();
    assert!(matches!(
        to(&out, "bob")[..],
        [ServerMessage::CommitAccepted { epoch: 2 }]
    ));
    bob.merge_pending_commit().unwrap();
    assert_eq!(bob.roster().len(), 1);
    // Alice is gone: nothing more is sent to her, and without the proposal she never saw she
    // cannot even follow the commit that removed her.
    assert!(to(&out, "alice").is_empty());
    assert!(alice.process(&commit.commit).is_err());
}

#[test]
fn commits_and_application_messages_from_non_members_are_refused() {
    let mut room = room();
    let (_alice, mut bob) = alice_and_bob(&mut room);
    room.join(&"carol".into(), name("Carol"));
    let commit = bob.commit(&[], &[]).unwrap();
    assert!(matches!(
        room.commit(&"carol".into(), &commit.commit, None),
        Err(RoomError::OutOfOrder(_))
    ));
    let message = bob
        .encrypt_application(ApplicationKind::Chat.label(), b"hi")
        .unwrap();
    assert!(matches!(
        room.application(&"carol".into(), &message),
        Err(RoomError::OutOfOrder(_))
    ));
    let relayed = room.application(&"bob".into(), &message).unwrap();
    assert_eq!(relayed.len(), 1, "relayed to Alice only");
}

#[test]
fn garbage_mls_input_is_an_error_not_a_panic() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.join(&"carol".into(), name("Carol"));
    assert!(matches!(
        room.key_package(&"carol".into(), b"garbage".to_vec()),
        Err(RoomError::InvalidMls(_))
    ));
    let out = room.commit(&"alice".into(), b"garbage", None).unwrap();
    assert!(matches!(
        to(&out, "alice")[..],
        [ServerMessage::CommitRejected {
            code: ErrorCode::InvalidMlsMessage,
            ..
        }]
    ));
}

#[test]
fn group_starts_over_when_nobody_holding_its_keys_is_left() {
    let mut room = room();
    let out = room.join(&"alice".into(), name("Alice"));
    let alice = device("Alice");
    let group = alice
        .create_group(&[external_sender(&out, "alice")])
        .unwrap();
    room.group_created(&"alice".into(), &group.group_info().unwrap())
        .unwrap();
    room.join(&"bob".into(), name("Bob"));
    let out = room.leave(&"alice".into());
    assert_eq!(joined_action(&out, "bob"), Some(GroupAction::CreateGroup));
    assert!(!room.is_empty());
    room.leave(&"bob".into());
    assert!(room.is_empty());
}

#[test]
fn member_sitting_on_a_commit_request_is_passed_over() {
    use std::time::{Duration, Instant};

    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.join(&"carol".into(), name("Carol"));
    let out = room
        .key_package(&"carol".into(), device("Carol").key_package().unwrap())
        .unwrap();
    assert!(
        commit_request(&out, "alice").is_some(),
        "Alice (lowest leaf) is asked first"
    );

    let timeout = Duration::from_secs(5);
    let start = Instant::now();
    assert!(room.tick(start, timeout).is_empty());
    assert!(
        room.tick(start + Duration::from_secs(4), timeout)
            .is_empty()
    );
    let out = room.tick(start + timeout, timeout);
    let passed_on = commit_request(&out, "bob").expect("Bob is asked once Alice sat on it");
    assert_eq!(passed_on.len(), 1, "with Carol's key package");
}

fn removed_notice(out: &[Outgoing], id: &str) -> Option<sealroom_protocol::RemovalReason> {
    to(out, id).into_iter().find_map(|m| match m {
        ServerMessage::Removed { reason } => Some(*reason),
        _ => None,
    })
}

#[test]
fn creator_is_moderator_and_a_participant_cannot_moderate() {
    use sealroom_server::room::Gate;

    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    assert!(room.is_moderator(&"alice".into()));
    assert!(!room.is_moderator(&"bob".into()));
    let bob = "bob".to_owned();
    let alice = "alice".to_owned();
    assert!(matches!(
        room.set_locked(&bob, true),
        Err(RoomError::Forbidden)
    ));
    assert!(matches!(
        room.set_password(&bob, None),
        Err(RoomError::Forbidden)
    ));
    assert!(matches!(room.kick(&bob, &alice), Err(RoomError::Forbidden)));
    assert!(matches!(room.ban(&bob, &alice), Err(RoomError::Forbidden)));
    assert!(matches!(
        room.grant_moderator(&bob, &bob),
        Err(RoomError::Forbidden)
    ));
    assert_eq!(room.gate(), Gate::Open);

    assert!(room.grant_moderator(&alice, &bob).is_ok());
    let out = room.set_locked(&bob, true).unwrap();
    assert_eq!(room.gate(), Gate::Locked);
    assert!(to(&out, "alice").contains(&&ServerMessage::RoomSettings {
        locked: true,
        password_required: false,
        lobby: false,
        permissions: Permissions::default(),
        wait_for_moderator: false,
    }));
    assert!(matches!(
        room.kick(&alice, &"nobody".into()),
        Err(RoomError::UnknownParticipant)
    ));
}

#[test]
fn the_longest_present_participant_becomes_moderator_when_the_last_one_leaves() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.join(&"carol".into(), name("Carol"));
    room.leave(&"alice".into());
    assert!(room.is_moderator(&"bob".into()));
    assert!(!room.is_moderator(&"carol".into()));
}

#[test]
fn kick_tells_the_participant_and_proposes_its_removal_at_once() {
    let mut room = room();
    let (mut alice, bob) = alice_and_bob(&mut room);
    let removal = room.kick(&"alice".into(), &"bob".into()).unwrap();
    assert_eq!(
        removed_notice(&removal.out, "bob"),
        Some(sealroom_protocol::RemovalReason::Kicked)
    );
    assert!(removal.banned_device.is_none());
    let proposal = to(&removal.out, "alice")
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Proposal { proposal } => Some(proposal.0.clone()),
            _ => None,
        })
        .expect("Alice gets the removal proposal");
    assert!(commit_request(&removal.out, "alice").is_some());
    alice.process(&proposal).unwrap();
    let commit = alice.commit(&[], &[]).unwrap();
    room.commit(&"alice".into(), &commit.commit, None).unwrap();
    alice.merge_pending_commit().unwrap();
    assert_eq!(alice.roster().len(), 1);
    assert!(alice.security_code().unwrap() != bob.security_code().unwrap());
    assert_eq!(room.len(), 1);
}

#[test]
fn banned_device_is_refused_at_key_package_and_at_group_creation() {
    let mut room = room();
    let out = room.join(&"alice".into(), name("Alice"));
    let alice = device("Alice");
    let mut alice_group = alice
        .create_group(&[external_sender(&out, "alice")])
        .unwrap();
    room.group_created(&"alice".into(), &alice_group.group_info().unwrap())
        .unwrap();
    let mallory = device("Mallory");
    room.join(&"m1".into(), name("Mallory"));
    let out = room
        .key_package(&"m1".into(), mallory.key_package().unwrap())
        .unwrap();
    let requested = commit_request(&out, "alice").unwrap();
    let refs: Vec<&[u8]> = requested.iter().map(Vec::as_slice).collect();
    let commit = alice_group.commit(&refs, &[]).unwrap();
    room.commit(&"alice".into(), &commit.commit, commit.welcome.as_deref())
        .unwrap();

    let removal = room.ban(&"alice".into(), &"m1".into()).unwrap();
    assert!(removal.banned_device.is_some());
    assert_eq!(
        removed_notice(&removal.out, "m1"),
        Some(sealroom_protocol::RemovalReason::Banned)
    );

    // Back under another participant id, with the same device: refused.
    room.join(&"m2".into(), name("Mallory"));
    assert!(matches!(
        room.key_package(&"m2".into(), mallory.key_package().unwrap()),
        Err(RoomError::Banned)
    ));
    // A new device is a new key (guests have nothing else to ban until accounts exist).
    assert!(
        room.key_package(&"m2".into(), device("Mallory").key_package().unwrap())
            .is_ok()
    );
    // Nor may the banned device found the group when it starts over.
    let mut fresh = room_with_banned_founder(&mallory);
    assert!(matches!(fresh.1, Err(RoomError::Banned)));
    fresh.0.leave(&"m".into());
}

/// A room whose only member leaves, leaving a banned device asked to create the new group.
fn room_with_banned_founder(banned: &Device) -> (Room, Result<Vec<Outgoing>, RoomError>) {
    let mut room = room();
    let out = room.join(&"alice".into(), name("Alice"));
    let alice = device("Alice");
    let mut group = alice
        .create_group(&[external_sender(&out, "alice")])
        .unwrap();
    room.group_created(&"alice".into(), &group.group_info().unwrap())
        .unwrap();
    room.join(&"m".into(), name("Mallory"));
    let out = room
        .key_package(&"m".into(), banned.key_package().unwrap())
        .unwrap();
    let requested = commit_request(&out, "alice").unwrap();
    let refs: Vec<&[u8]> = requested.iter().map(Vec::as_slice).collect();
    let commit = group.commit(&refs, &[]).unwrap();
    room.commit(&"alice".into(), &commit.commit, commit.welcome.as_deref())
        .unwrap();
    room.ban(&"alice".into(), &"m".into()).unwrap();
    room.join(&"m".into(), name("Mallory"));
    let out = room.leave(&"alice".into());
    assert_eq!(joined_action(&out, "m"), Some(GroupAction::CreateGroup));
    let forged = banned.create_group(&[external_sender(&out, "m")]).unwrap();
    let result = room.group_created(&"m".into(), &forged.group_info().unwrap());
    (room, result)
}

fn lobby(out: &[Outgoing], moderator: &str) -> Option<Vec<(String, Option<String>)>> {
    to(out, moderator).into_iter().rev().find_map(|m| match m {
        ServerMessage::Lobby { waiting } => Some(
            waiting
                .iter()
                .map(|p| (p.id.clone(), p.fingerprint.clone()))
                .collect(),
        ),
        _ => None,
    })
}

/// Alice and Bob in a room whose lobby Alice (the moderator) turned on; Carol knocks with her
/// key package.
fn lobby_room_with_carol_waiting() -> (Room, GroupSession, GroupSession, Device) {
    let mut room = room();
    let (alice, bob) = alice_and_bob(&mut room);
    let out = room.set_lobby(&"alice".into(), true).unwrap();
    assert!(
        to(&out, "bob")
            .iter()
            .any(|m| matches!(m, ServerMessage::RoomSettings { lobby: true, .. }))
    );
    let out = room.join(&"carol".into(), name("Carol"));
    assert_eq!(joined_action(&out, "carol"), Some(GroupAction::WaitInLobby));
    assert_eq!(
        to(&out, "carol").len(),
        1,
        "a knocking joiner learns nothing of the room: {out:?}"
    );
    assert!(to(&out, "bob").is_empty(), "only moderators see knocks");
    assert_eq!(lobby(&out, "alice"), Some(vec![("carol".into(), None)]));
    let carol = device("Carol");
    let out = room
        .key_package(&"carol".into(), carol.key_package().unwrap())
        .unwrap();
    assert!(commit_request(&out, "alice").is_none() && commit_request(&out, "bob").is_none());
    assert_eq!(
        lobby(&out, "alice"),
        Some(vec![(
            "carol".into(),
            Some(carol.identity().fingerprint().to_string())
        )]),
        "the moderator sees the knocking device's key"
    );
    (room, alice, bob, carol)
}

#[test]
fn lobby_admission_goes_to_the_admitting_moderator_alone() {
    let (mut room, mut alice, mut bob, carol) = lobby_room_with_carol_waiting();
    assert!(matches!(
        room.admit(&"bob".into(), &"carol".into()),
        Err(RoomError::Forbidden)
    ));
    let out = room.admit(&"alice".into(), &"carol".into()).unwrap();
    let requested = commit_request(&out, "alice").expect("the admitting moderator commits");
    assert!(commit_request(&out, "bob").is_none());
    assert_eq!(lobby(&out, "alice"), Some(vec![]));
    assert!(
        to(&out, "carol")
            .iter()
            .any(|m| matches!(m, ServerMessage::Participants { .. })),
        "admitted, Carol sees who is in the room"
    );

    // Bob is not the admitting moderator: the delivery service refuses his Add of Carol.
    let refs: Vec<&[u8]> = requested.iter().map(Vec::as_slice).collect();
    let by_bob = bob.commit(&refs, &[]).unwrap();
    let out = room
        .commit(&"bob".into(), &by_bob.commit, by_bob.welcome.as_deref())
        .unwrap();
    assert!(matches!(
        to(&out, "bob")[..],
        [ServerMessage::CommitRejected {
            epoch: 1,
            code: ErrorCode::Forbidden
        }]
    ));
    assert_eq!(room.epoch(), Some(1), "the refused commit left no trace");
    bob.discard_pending_commit().unwrap();

    let by_alice = alice.commit(&refs, &[]).unwrap();
    let out = room
        .commit(
            &"alice".into(),
            &by_alice.commit,
            by_alice.welcome.as_deref(),
        )
        .unwrap();
    assert!(matches!(
        to(&out, "alice")[..],
        [ServerMessage::CommitAccepted { epoch: 2 }]
    ));
    carol.join_group(&welcome_for(&out, "carol")).unwrap();
}

#[test]
fn a_participant_still_in_the_lobby_cannot_be_added_by_anyone() {
    let (mut room, mut alice, _bob, carol) = lobby_room_with_carol_waiting();
    // Alice's client is talked into adding Carol before anyone admitted her.
    let commit = alice.commit(&[&carol.key_package().unwrap()], &[]).unwrap();
    let out = room
        .commit(&"alice".into(), &commit.commit, commit.welcome.as_deref())
        .unwrap();
    assert!(matches!(
        to(&out, "alice")[..],
        [ServerMessage::CommitRejected {
            code: ErrorCode::Forbidden,
            ..
        }]
    ));
    assert!(to(&out, "carol").is_empty(), "no Welcome for Carol");
}

#[test]
fn admission_returns_to_the_lobby_when_the_admitting_moderator_leaves() {
    let (mut room, _alice, _bob, _carol) = lobby_room_with_carol_waiting();
    room.admit(&"alice".into(), &"carol".into()).unwrap();
    let out = room.leave(&"alice".into());
    assert!(room.is_moderator(&"bob".into()), "Bob inherits moderation");
    assert_eq!(
        lobby(&out, "bob").map(|w| w.into_iter().map(|(id, _)| id).collect::<Vec<_>>()),
        Some(vec!["carol".to_owned()]),
        "nobody else may add whom Alice admitted: Carol waits for Bob"
    );
    assert!(commit_request(&out, "bob").is_some_and(|kps| kps.is_empty()));
}

#[test]
fn second_denial_of_the_same_device_bans_it() {
    let (mut room, _alice, _bob, carol) = lobby_room_with_carol_waiting();
    let removal = room.deny(&"alice".into(), &"carol".into()).unwrap();
    assert_eq!(removal.reason, RemovalReason::Denied);
    assert_eq!(
        removed_notice(&removal.out, "carol"),
        Some(RemovalReason::Denied)
    );

    room.join(&"carol2".into(), name("Carol"));
    room.key_package(&"carol2".into(), carol.key_package().unwrap())
        .unwrap();
    let removal = room.deny(&"alice".into(), &"carol2".into()).unwrap();
    assert_eq!(removal.reason, RemovalReason::Banned);
    assert_eq!(removal.banned_device, Some(carol.identity().fingerprint()));
    room.join(&"carol3".into(), name("Carol"));
    assert!(matches!(
        room.key_package(&"carol3".into(), carol.key_package().unwrap()),
        Err(RoomError::Banned)
    ));
}

#[test]
fn waiting_participants_are_told_when_nobody_is_left_to_admit_them() {
    let (mut room, _alice, _bob, _carol) = lobby_room_with_carol_waiting();
    room.leave(&"bob".into());
    let out = room.leave(&"alice".into());
    assert_eq!(
        removed_notice(&out, "carol"),
        Some(RemovalReason::MeetingEnded)
    );
    assert!(room.is_empty());
}

#[test]
fn turning_the_lobby_off_lets_everyone_waiting_in() {
    let (mut room, _alice, _bob, _carol) = lobby_room_with_carol_waiting();
    let out = room.set_lobby(&"alice".into(), false).unwrap();
    let requested = commit_request(&out, "alice").expect("a member adds Carol");
    assert_eq!(requested.len(), 1);
}

#[test]
fn application_kinds_follow_the_room_permissions() {
    let mut room = room();
    let (mut alice, mut bob) = alice_and_bob(&mut room);
    let only_moderators_send_files = Permissions {
        files: Allowed::Moderators,
        ..Permissions::default()
    };
    assert!(matches!(
        room.set_permissions(&"bob".into(), only_moderators_send_files),
        Err(RoomError::Forbidden)
    ));
    room.set_permissions(&"alice".into(), only_moderators_send_files)
        .unwrap();
    let file_from_bob = bob
        .encrypt_application(ApplicationKind::File.label(), b"file key")
        .unwrap();
    let refused = room.application(&"bob".into(), &file_from_bob).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden);
    let chat_from_bob = bob
        .encrypt_application(ApplicationKind::Chat.label(), b"hello")
        .unwrap();
    assert_eq!(
        room.application(&"bob".into(), &chat_from_bob)
            .unwrap()
            .len(),
        1
    );
    let file_from_alice = alice
        .encrypt_application(ApplicationKind::File.label(), b"file key")
        .unwrap();
    assert_eq!(
        room.application(&"alice".into(), &file_from_alice)
            .unwrap()
            .len(),
        1
    );
    let unlabelled = bob.encrypt_application(b"", b"what am I").unwrap();
    assert!(room.application(&"bob".into(), &unlabelled).is_err());

    assert!(matches!(
        alice.process(&chat_from_bob).unwrap(),
        Incoming::Application { ref authenticated_data, .. }
            if authenticated_data == ApplicationKind::Chat.label()
    ));
    // The kind is authenticated: a chat message relabelled as a file does not open.
    let mut relabelled = bob
        .encrypt_application(ApplicationKind::Chat.label(), b"hello again")
        .unwrap();
    let at = relabelled
        .windows(ApplicationKind::Chat.label().len())
        .position(|w| w == ApplicationKind::Chat.label())
        .unwrap();
    relabelled[at + b"sealroom/".len()..at + b"sealroom/chat".len()].copy_from_slice(b"file");
    assert!(alice.process(&relabelled).is_err());
}

/// The room numbers every application message and keeps the chat, as ciphertext, for a member
/// who comes back; control messages are numbered, not kept; a non-member reads none of it.
#[test]
fn chat_is_numbered_and_kept_for_members_to_catch_up() {
    let mut room = room();
    let (mut alice, _bob) = alice_and_bob(&mut room);
    let mut relay = |kind: ApplicationKind, text: &[u8]| {
        let message = alice.encrypt_application(kind.label(), text).unwrap();
        let out = room.application(&"alice".into(), &message).unwrap();
        let [(_, ServerMessage::Application { number, .. })] = &out[..] else {
            panic!("relayed to Bob alone: {out:?}");
        };
        (*number, message)
    };
    let (first, first_message) = relay(ApplicationKind::Chat, b"one");
    let (control, _) = relay(ApplicationKind::Control, b"{}");
    let (second, _) = relay(ApplicationKind::Chat, b"two");
    assert_eq!((first, control, second), (1, 2, 3));

    let out = room.history(&"bob".into(), 0).unwrap();
    let [(to, ServerMessage::History { messages, more })] = &out[..] else {
        panic!("one page for Bob: {out:?}");
    };
    assert_eq!((to.as_str(), *more), ("bob", false));
    let kept: Vec<_> = messages
        .iter()
        .map(|m| (m.number, m.from.as_str()))
        .collect();
    assert_eq!(kept, [(1, "alice"), (3, "alice")]);
    assert_eq!(
        messages[0].message.0, first_message,
        "kept exactly as relayed"
    );
    let out = room.history(&"bob".into(), 1).unwrap();
    assert!(
        matches!(&out[..], [(_, ServerMessage::History { messages, .. })] if messages.len() == 1)
    );
    assert!(room.history(&"mallory".into(), 0).is_err());
}

#[test]
fn muting_and_end_meeting() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    assert!(matches!(
        room.mute(&"bob".into(), &"alice".into()),
        Err(RoomError::Forbidden)
    ));
    let out = room.mute(&"alice".into(), &"bob".into()).unwrap();
    assert!(room.is_muted(&"bob".into()));
    assert!(to(&out, "bob").iter().any(|m| matches!(
        m,
        ServerMessage::Participants { participants }
            if participants.iter().any(|p| p.id == "bob" && p.muted)
    )));
    room.unmute(&"bob".into()).unwrap();
    assert!(!room.is_muted(&"bob".into()));

    assert!(matches!(
        room.end_meeting(&"bob".into()),
        Err(RoomError::Forbidden)
    ));
    let out = room.end_meeting(&"alice".into()).unwrap();
    assert_eq!(
        removed_notice(&out, "bob"),
        Some(RemovalReason::MeetingEnded)
    );
    assert_eq!(
        removed_notice(&out, "alice"),
        Some(RemovalReason::MeetingEnded)
    );
    assert!(room.is_empty());
}

#[test]
fn nobody_joins_before_a_moderator_comes_back_with_the_key() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.set_wait_for_moderator(&"alice".into(), true).unwrap();
    room.leave(&"alice".into());
    assert!(
        !room.is_moderator(&"bob".into()),
        "moderation is not handed to a participant"
    );
    let out = room.join(&"carol".into(), name("Carol"));
    assert_eq!(
        joined_action(&out, "carol"),
        Some(GroupAction::WaitForModerator)
    );
    assert_eq!(
        to(&out, "carol").len(),
        1,
        "Carol learns nothing of the room"
    );
    room.key_package(&"carol".into(), device("Carol").key_package().unwrap())
        .unwrap();

    assert!(!room.is_moderator_key("00112233445566778899aabbccddeeff"));
    let host = Newcomer {
        display_name: name("Alice"),
        account: None,
        holds_link: true,
        moderates_by_role: false,
    };
    let out = room.join_as_moderator(&"alice2".into(), host);
    let key = to(&out, "alice2")
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::ModeratorKey { key } => Some(key.clone()),
            _ => None,
        })
        .expect("a moderator gets the key");
    assert!(room.is_moderator_key(&key));
    assert!(room.is_moderator(&"alice2".into()));
    assert_eq!(
        joined_action(&out, "alice2"),
        Some(GroupAction::AwaitWelcome)
    );
    assert!(
        commit_request(&out, "bob").is_some_and(|kps| kps.len() == 1),
        "Carol was waiting only for a moderator: she is let in with her"
    );
}

#[test]
fn a_member_whose_connection_dropped_is_not_asked_to_commit() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.set_away(&"alice".into(), true);
    room.join(&"carol".into(), name("Carol"));
    let out = room
        .key_package(&"carol".into(), device("Carol").key_package().unwrap())
        .unwrap();
    assert!(commit_request(&out, "alice").is_none(), "alice is away");
    assert!(
        commit_request(&out, "bob").is_some(),
        "bob commits, though alice has the lower leaf"
    );
}

/// Alice and Bob in the room, and Mallory, a rogue member (plain mls-rs) Alice added on the
/// room's request.
fn room_with_rogue(handshakes: Handshakes) -> (Room, Group<impl MlsConfig>) {
    let mut room = room();
    let (mut alice, _bob) = alice_and_bob(&mut room);
    room.join(&"mallory".into(), name("Mallory"));
    let rogue = rogue_client("Mallory", handshakes);
    let out = room
        .key_package(&"mallory".into(), rogue_key_package(&rogue))
        .unwrap();
    let requested = commit_request(&out, "alice").expect("Alice is asked to add Mallory");
    let refs: Vec<&[u8]> = requested.iter().map(Vec::as_slice).collect();
    let add = alice.commit(&refs, &[]).unwrap();
    let out = room
        .commit(&"alice".into(), &add.commit, add.welcome.as_deref())
        .unwrap();
    let welcome = MlsMessage::from_bytes(&welcome_for(&out, "mallory")).unwrap();
    let (rogue_group, _) = rogue.join_group(None, &welcome, None).unwrap();
    (room, rogue_group)
}

/// Mallory encrypts a commit, labels it as chat and sends it as an application message: the
/// room refuses it unopened and relays it to nobody.
#[test]
fn encrypted_commit_sent_as_an_application_message_is_relayed_to_nobody() {
    let (mut room, mut mallory) = room_with_rogue(Handshakes::Encrypted);
    let commit = mallory
        .commit_builder()
        .authenticated_data(ApplicationKind::Chat.label().to_vec())
        .build()
        .unwrap()
        .commit_message
        .to_bytes()
        .unwrap();
    assert!(matches!(
        room.application(&"mallory".into(), &commit),
        Err(RoomError::InvalidMls(GroupError::EncryptedHandshake))
    ));
    assert_eq!(room.epoch(), Some(2));
}

/// Mallory commits dropping the server from the group's external senders: the room refuses to
/// sequence the commit, and can still propose removing whoever leaves.
#[test]
fn commit_dropping_the_external_sender_is_refused() {
    let (mut room, mut mallory) = room_with_rogue(Handshakes::InTheClear);
    let commit = commit_extensions(&mut mallory, ExtensionList::new());
    let out = room.commit(&"mallory".into(), &commit, None).unwrap();
    assert_eq!(
        to(&out, "mallory"),
        [&ServerMessage::CommitRejected {
            epoch: 2,
            code: ErrorCode::InvalidMlsMessage
        }]
    );
    assert_eq!(out.len(), 1, "relayed to nobody");
    let out = room.leave(&"mallory".into());
    assert!(
        to(&out, "alice")
            .iter()
            .any(|m| matches!(m, ServerMessage::Proposal { .. })),
        "the server proposes Mallory's removal"
    );
}

/// A founder uploads a group that does not list exactly the server as its external sender
/// (none, another key, or a second one), so that the server could never propose removing a
/// departed member: the room refuses it and waits for a proper one from the same founder.
#[test]
fn group_not_listing_exactly_the_server_is_refused() {
    let mut room = room();
    let out = room.join(&"alice".into(), name("Alice"));
    let own = external_sender(&out, "alice");
    let other = ExternalSender::new(DeviceIdentity::generate("other").unwrap())
        .key()
        .unwrap();
    let alice = device("Alice");
    for senders in [vec![], vec![other.clone()], vec![own.clone(), other]] {
        let group = alice.create_group(&senders).unwrap();
        assert!(matches!(
            room.group_created(&"alice".into(), &group.group_info().unwrap()),
            Err(RoomError::InvalidMls(GroupError::ExternalSenderMismatch))
        ));
        assert_eq!(room.epoch(), None);
    }
    let group = alice.create_group(&[own]).unwrap();
    room.group_created(&"alice".into(), &group.group_info().unwrap())
        .unwrap();
    assert_eq!(room.epoch(), Some(0));
}

fn moderator_key_for(out: &[Outgoing], id: &str) -> Option<String> {
    to(out, id).into_iter().find_map(|m| match m {
        ServerMessage::ModeratorKey { key } => Some(key.clone()),
        _ => None,
    })
}

type Exit = fn(&mut Room, &String) -> Vec<Outgoing>;

/// Alice makes Bob, Carol and Dave moderators; Bob is kicked, Carol banned, Dave leaves. Each
/// time the moderators who stay get a new moderator key, the one who went does not, and the
/// key it held opens nothing.
#[test]
fn a_moderator_who_goes_leaves_the_moderator_key_behind() {
    let mut room = room();
    let (_alice, _bob) = alice_and_bob(&mut room);
    room.join(&"carol".into(), name("Carol"));
    room.join(&"dave".into(), name("Dave"));
    let mut key = String::new();
    for id in ["bob", "carol", "dave"] {
        let out = room.grant_moderator(&"alice".into(), &id.into()).unwrap();
        key = moderator_key_for(&out, id).expect("a new moderator gets the key");
    }
    let exits: [(&str, Exit); 3] = [
        ("bob", |room, id| {
            room.kick(&"alice".into(), id).unwrap().out
        }),
        ("carol", |room, id| {
            room.ban(&"alice".into(), id).unwrap().out
        }),
        ("dave", |room, id| room.leave(id)),
    ];
    let mut moderators = vec!["alice", "bob", "carol", "dave"];
    for (gone, exit) in exits {
        let out = exit(&mut room, &gone.into());
        moderators.retain(|m| *m != gone);
        assert!(!room.is_moderator_key(&key), "{gone}'s key still works");
        assert_eq!(moderator_key_for(&out, gone), None);
        let new_keys: Vec<Option<String>> = moderators
            .iter()
            .map(|m| moderator_key_for(&out, m))
            .collect();
        key = new_keys[0].clone().expect("the moderators left get a key");
        assert!(new_keys.iter().all(|k| k.as_ref() == Some(&key)));
        assert!(room.is_moderator_key(&key));
    }
}
