//! The client core driven without sockets: honest meetings, and a server that tries to get a
//! member in or to desync the group, played by the test.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_e2ee::{Device, DeviceIdentity, LinkSecret, RoomPolicy};
use sealroom_participant::Notice;
use sealroom_protocol::{Bytes, ClientMessage, GroupAction, Role, ServerMessage};
use support::{DeliveryService, Member, list, meeting_of_three, settings};

fn joined_names(member: &Member) -> Vec<String> {
    member
        .screen
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Joined(m) => Some(m.credential_name.clone()),
            Notice::Left(_) => None,
        })
        .collect()
}

#[test]
fn members_who_join_are_announced_on_every_screen_with_their_keys() {
    let (_, members) = meeting_of_three();
    let code = members[0].screen.code();
    for member in &members {
        assert_eq!(
            member.screen.code(),
            code,
            "{} shares the code",
            member.name
        );
        assert_eq!(member.screen.roster_names(), ["alice", "bob", "carol"]);
        assert!(
            member.screen.warnings.is_empty(),
            "{:?}",
            member.screen.warnings
        );
        assert!(
            member.screen.errors.is_empty(),
            "{:?}",
            member.screen.errors
        );
    }
    assert_eq!(joined_names(&members[0]), ["bob", "carol"]);
    assert_eq!(joined_names(&members[1]), ["carol"]);
    assert!(
        joined_names(&members[2]).is_empty(),
        "Carol saw no one join after her"
    );
    let Notice::Joined(carol) = &members[1].screen.notices[0] else {
        panic!("a join");
    };
    assert_eq!(carol.fingerprint, members[2].core.fingerprint());
}

/// Review finding C1 where it was still open: a room opened by typing a free name. The founder's
/// client made a link, so the server's device, which cannot prove it, is added by nobody (it
/// used to be added, and only flagged).
#[test]
fn in_a_room_opened_by_typing_its_name_no_member_adds_a_device_the_server_brings() {
    let (mut ds, mut members) = meeting_of_three();
    list(&mut members, &[Role::Moderator, Role::Guest, Role::Guest]);
    let mut ghost = Member::new("ghost", "ghost");
    let key_package = ds.key_package(&mut ghost, GroupAction::AwaitWelcome);
    for committer in 0..3 {
        let asked = vec![key_package.clone()];
        let committed = ds.request_commit(committer, asked, &mut members, &mut [&mut ghost]);
        assert!(!committed, "member {committer} added the server's device");
    }
    assert!(!ghost.core.is_member());
    for member in &members {
        assert_eq!(member.screen.roster_names(), ["alice", "bob", "carol"]);
        assert!(member.screen.warnings[0].contains("does not hold the room link"));
    }
}

/// The server leaves a member out of its participant list: every other screen flags her.
#[test]
fn a_member_the_server_does_not_list_is_flagged_on_every_screen() {
    let (_, mut members) = meeting_of_three();
    list(&mut members, &[Role::Moderator, Role::Guest, Role::Guest]);
    let listed: Vec<_> = members[..2].iter().map(|m| m.info(Role::Guest)).collect();
    for member in &mut members {
        member.hear(&ServerMessage::Participants {
            participants: listed.clone(),
        });
    }
    for member in &members[..2] {
        let unlisted = member.core.unlisted_members();
        assert_eq!(unlisted.len(), 1, "{} flags Carol", member.name);
        assert_eq!(unlisted[0].fingerprint, members[2].core.fingerprint());
    }
}

#[test]
fn in_a_lobby_room_a_device_nobody_admitted_is_refused_and_said_once() {
    let (mut ds, mut members) = meeting_of_three();
    list(&mut members, &[Role::Moderator, Role::Guest, Role::Guest]);
    settings(&mut members, true);
    assert!(
        ds.sequence(0, &mut members, &mut []),
        "Alice puts the lobby in the policy"
    );
    let mut knocker = Member::new("p4", "dana");
    let key_package = ds.key_package(&mut knocker, GroupAction::WaitInLobby);
    for _ in 0..2 {
        let committed = ds.request_commit(
            0,
            vec![key_package.clone()],
            &mut members,
            &mut [&mut knocker],
        );
        assert!(!committed, "nobody admitted Dana: no commit");
    }
    assert_eq!(members[0].screen.warnings.len(), 1, "said once per device");
    assert!(members[0].screen.warnings[0].contains("did not admit"));

    // Alice admits Dana from the lobby: her client adds exactly that device.
    let mut waiting = knocker.info(Role::Guest);
    waiting.id = "p4".into();
    members[0].hear(&ServerMessage::Lobby {
        waiting: vec![waiting],
    });
    members[0].core.admit(&"p4".to_owned()).unwrap();
    members[0].drain();
    assert_eq!(
        members[0].take(|m| match m {
            ClientMessage::Admit { participant_id } => Some(participant_id.clone()),
            _ => None,
        }),
        Some("p4".to_owned())
    );
    assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut knocker]));
    assert_eq!(
        knocker.screen.roster_names(),
        ["alice", "bob", "carol", "dana"]
    );
    assert!(members.iter().all(|m| m.screen.warnings.len() <= 1));
}

#[test]
fn a_commit_relayed_as_an_application_message_is_refused_and_changes_nothing() {
    let (mut ds, mut members) = meeting_of_three();
    // Bob commits a self-update; the server hands it to Alice as an application message.
    members[1].core.self_update();
    members[1].drain();
    let commit = members[1]
        .take(|m| match m {
            ClientMessage::Commit { commit, .. } => Some(commit.clone()),
            _ => None,
        })
        .expect("Bob's commit");
    let before = (members[0].screen.epochs.len(), members[0].screen.code());
    members[0].hear(&ServerMessage::Application {
        message: commit.clone(),
        number: 1,
    });
    assert_eq!(
        (members[0].screen.epochs.len(), members[0].screen.code()),
        before
    );
    assert_eq!(
        members[0].screen.errors.len(),
        1,
        "{:?}",
        members[0].screen.errors
    );

    // The group did not move under Alice: the same commit, sequenced as a commit, still
    // applies, and Alice and Bob agree on the new epoch.
    let epoch = match ds.group.as_mut().unwrap().process(commit.as_ref()).unwrap() {
        sealroom_e2ee::ObservedMessage::Commit { epoch } => epoch,
        other => panic!("not a commit: {other:?}"),
    };
    members[1].hear(&ServerMessage::CommitAccepted { epoch });
    members[0].hear(&ServerMessage::Commit { commit, epoch });
    assert_eq!(
        members[0].screen.errors.len(),
        1,
        "{:?}",
        members[0].screen.errors
    );
    assert_eq!(members[0].screen.epoch().epoch, epoch);
    assert_eq!(members[0].screen.code(), members[1].screen.code());
}

#[test]
fn a_welcome_into_a_group_the_server_cannot_remove_members_from_is_refused() {
    let ds = DeliveryService::new();
    let mut joiner = Member::new("p2", "bob");
    let key_package = ds.key_package(&mut joiner, GroupAction::AwaitWelcome);
    // A rogue founder's group lists no external sender: departed members would stay in it.
    let rogue = Device::new(DeviceIdentity::generate("mallory").unwrap());
    let mut group = rogue.create_group(&[]).unwrap();
    let outgoing = group.commit(&[key_package.as_ref()], &[]).unwrap();
    joiner.hear(&ServerMessage::Welcome {
        welcome: Bytes(outgoing.welcome.unwrap()),
    });
    assert!(!joiner.core.is_member());
    assert!(joiner.screen.epochs.is_empty(), "no keys from that group");
    assert_eq!(
        joiner.screen.warnings.len(),
        1,
        "{:?}",
        joiner.screen.errors
    );
}

/// A founder whose client follows none of Sealroom's rules makes a group with no room policy
/// (so no Add rule): a joiner, with or without a link, does not join it.
#[test]
fn a_welcome_into_a_group_without_a_room_policy_is_refused() {
    let ds = DeliveryService::new();
    let link = LinkSecret::generate().unwrap().to_text();
    for link in [None, Some(link.as_str())] {
        let mut joiner = Member::with_link("p2", "bob", link);
        let key_package = ds.key_package(&mut joiner, GroupAction::AwaitWelcome);
        let rogue = Device::new(DeviceIdentity::generate("mallory").unwrap());
        let mut group = rogue.create_group(&[ds.server.key().unwrap()]).unwrap();
        let outgoing = group.commit(&[key_package.as_ref()], &[]).unwrap();
        joiner.hear(&ServerMessage::Welcome {
            welcome: Bytes(outgoing.welcome.unwrap()),
        });
        assert!(!joiner.core.is_member());
        assert!(joiner.screen.epochs.is_empty(), "no keys from that group");
        assert!(joiner.screen.warnings[0].contains("no room policy"));
    }
}

/// Alice founds the group of a room link; Bob joins with the link.
fn link_meeting() -> (DeliveryService, Vec<Member>) {
    link_meeting_of(&LinkSecret::generate().unwrap().to_text())
}

fn link_meeting_of(link: &str) -> (DeliveryService, Vec<Member>) {
    let mut ds = DeliveryService::new();
    let mut members = vec![Member::with_link("p1", "alice", Some(link))];
    ds.found(&mut members[0]);
    let mut bob = Member::with_link("p2", "bob", Some(link));
    let key_package = ds.key_package(&mut bob, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut bob]));
    members.push(bob);
    (ds, members)
}

#[test]
fn in_a_room_links_group_no_member_adds_a_device_the_server_brings() {
    let (mut ds, mut members) = link_meeting();
    list(&mut members, &[Role::Moderator, Role::Guest]);
    for member in &members {
        assert_eq!(member.screen.roster_names(), ["alice", "bob"]);
        assert!(
            member.screen.warnings.is_empty(),
            "Bob held the link: {:?}",
            member.screen.warnings
        );
    }
    // Review finding C1, in a room without a lobby: the server asks each member in turn to add
    // a key package of its own. Nobody does, and each says so once.
    let mut ghost = Member::new("ghost", "ghost");
    let key_package = ds.key_package(&mut ghost, GroupAction::AwaitWelcome);
    for committer in [0, 1, 0] {
        let committed = ds.request_commit(
            committer,
            vec![key_package.clone()],
            &mut members,
            &mut [&mut ghost],
        );
        assert!(!committed, "member {committer} added the server's device");
    }
    assert!(!ghost.core.is_member());
    for member in &members {
        assert_eq!(
            member.screen.warnings.len(),
            1,
            "{:?}",
            member.screen.warnings
        );
        assert!(member.screen.warnings[0].contains("does not hold the room link"));
        assert_eq!(member.screen.roster_names(), ["alice", "bob"]);
    }
}

/// The residual of review finding M2 before the policy moved into the group context: the
/// server lists a device of its own as a moderator (moderators enter past the lobby), and
/// members added it. Now only the group's policy names moderators.
#[test]
fn a_device_the_server_lists_as_a_moderator_is_not_added_to_a_room_links_group() {
    let (mut ds, mut members) = link_meeting();
    let mut ghost = Member::new("ghost", "ghost");
    let key_package = ds.key_package(&mut ghost, GroupAction::AwaitWelcome);
    let mut listed = vec![
        members[0].info(Role::Moderator),
        members[1].info(Role::Guest),
    ];
    listed.push(ghost.info(Role::Moderator));
    for member in &mut members {
        member.hear(&ServerMessage::Participants {
            participants: listed.clone(),
        });
    }
    for committer in [0, 1] {
        let committed = ds.request_commit(
            committer,
            vec![key_package.clone()],
            &mut members,
            &mut [&mut ghost],
        );
        assert!(
            !committed,
            "member {committer} added the server's moderator"
        );
    }
    assert!(!ghost.core.is_member());
    for member in &members {
        assert_eq!(member.screen.roster_names(), ["alice", "bob"]);
        let policy = &member.screen.epoch().policy;
        assert_eq!(policy.moderators, [members[0].core.fingerprint()]);
    }
}

/// Alice, who moderates, turns the lobby on: her commit puts it in the group's policy, which
/// every member then follows whatever the server tells it. A link holder then waits for
/// Alice's admission; so does someone who typed the room's name.
#[test]
fn a_moderator_turns_the_lobby_on_and_every_member_follows_the_group_not_the_server() {
    let link = LinkSecret::generate().unwrap().to_text();
    let (mut ds, mut members) = link_meeting_of(&link);
    list(&mut members, &[Role::Moderator, Role::Guest]);
    members[0].core.set_lobby(true);
    members[0].drain();
    assert!(ds.sequence(0, &mut members, &mut []));
    assert!(members.iter().all(|m| m.screen.epoch().policy.lobby));
    settings(&mut members[1..], false);

    let mut carol = Member::with_link("p3", "carol", Some(&link));
    let mut dana = Member::new("p4", "dana");
    let carols = ds.key_package(&mut carol, GroupAction::WaitInLobby);
    let danas = ds.key_package(&mut dana, GroupAction::WaitInLobby);
    let both = vec![carols.clone(), danas.clone()];
    assert!(!ds.request_commit(1, both.clone(), &mut members, &mut []));
    assert!(!ds.request_commit(0, both, &mut members, &mut []));
    assert!(members[1].screen.warnings[0].contains("did not admit"));

    members[0].hear(&ServerMessage::Lobby {
        waiting: vec![carol.info(Role::Guest), dana.info(Role::Guest)],
    });
    for joiner in [&carol, &dana] {
        members[0].core.admit(&joiner.id).unwrap();
    }
    members[0].drain();
    assert!(ds.request_commit(
        0,
        vec![carols, danas],
        &mut members,
        &mut [&mut carol, &mut dana]
    ));
    assert_eq!(
        dana.screen.roster_names(),
        ["alice", "bob", "carol", "dana"]
    );
}

/// The server lists Bob, already a member, as a moderator (a host link, a sign-in): Alice's
/// client names him in the group's policy, so his admissions count for every member.
#[test]
fn a_member_the_server_lists_as_a_moderator_is_named_in_the_policy_by_a_moderator() {
    let (mut ds, mut members) = link_meeting();
    list(&mut members, &[Role::Moderator, Role::Moderator]);
    assert!(ds.sequence(0, &mut members, &mut []));
    let bob = members[1].core.fingerprint();
    for member in &members {
        let policy = &member.screen.epoch().policy;
        assert!(
            policy.is_moderator(&bob),
            "{} sees Bob moderate",
            member.name
        );
    }
    assert!(
        !ds.sequence(1, &mut members, &mut []),
        "Bob has nothing to commit"
    );
}

#[test]
fn a_joiner_with_a_room_link_joins_only_that_links_group() {
    let ds = DeliveryService::new();
    let link = LinkSecret::generate().unwrap();
    let mut bob = Member::with_link("p2", "bob", Some(&link.to_text()));
    let key_package = ds.key_package(&mut bob, GroupAction::AwaitWelcome);
    // The server invites Bob into a group of another link (one it made up).
    let other = LinkSecret::generate().unwrap();
    let mallory = Device::new(DeviceIdentity::generate("mallory").unwrap());
    let policy = RoomPolicy::founded(other.link_key(), mallory.identity().fingerprint());
    let mut group = mallory
        .create_group_with_policy(&[ds.server.key().unwrap()], &policy)
        .unwrap();
    let add = group.commit(&[key_package.as_ref()], &[]).unwrap();
    bob.hear(&ServerMessage::Welcome {
        welcome: Bytes(add.welcome.unwrap()),
    });
    assert!(!bob.core.is_member());
    assert!(bob.screen.epochs.is_empty(), "no keys from that group");
    assert!(bob.screen.warnings[0].contains("not the one of our room link"));
}

#[test]
fn a_server_that_tells_members_different_lobby_settings_gets_no_silent_add() {
    let (mut ds, mut members) = link_meeting();
    list(&mut members, &[Role::Moderator, Role::Guest]);
    // Alice is told the room has a lobby, Bob that it has none. Alice, who moderates, puts the
    // lobby in the group's policy; both then follow the group, not what they were told.
    settings(&mut members[..1], true);
    settings(&mut members[1..], false);
    assert!(ds.sequence(0, &mut members, &mut []));
    assert!(members.iter().all(|m| m.screen.epoch().policy.lobby));
    // The server asks Bob, who was told anyone may be added, to add a device of its own.
    let mut ghost = Member::new("ghost", "ghost");
    let key_package = ds.key_package(&mut ghost, GroupAction::AwaitWelcome);
    assert!(!ds.request_commit(
        1,
        vec![key_package.clone()],
        &mut members,
        &mut [&mut ghost]
    ));
    assert!(members[1].screen.warnings[0].contains("did not admit"));
    // And Alice adds nobody she did not admit either.
    assert!(!ds.request_commit(0, vec![key_package], &mut members, &mut [&mut ghost]));
    assert!(members[0].screen.warnings[0].contains("did not admit"));
    assert!(!ghost.core.is_member());
}

/// Alice, who moderates, replaces the room link: the policy names the new key by her commit,
/// and the new secret reaches Bob inside the group. Someone with the old link is then added
/// by nobody; someone with the new one is. Bob, who does not moderate, cannot replace it.
#[test]
fn a_moderator_replaces_the_room_link_and_the_old_one_lets_nobody_in() {
    let old_link = LinkSecret::generate().unwrap().to_text();
    let (mut ds, mut members) = link_meeting_of(&old_link);
    list(&mut members, &[Role::Moderator, Role::Guest]);
    assert!(matches!(
        members[1].core.rotate_link(),
        Err(sealroom_participant::CommandError::NotModerator)
    ));
    members[0].core.rotate_link().unwrap();
    members[0].drain();
    assert!(ds.sequence(0, &mut members, &mut []));
    let message = members[0]
        .take(|m| match m {
            ClientMessage::Application { message } => Some(message.clone()),
            _ => None,
        })
        .expect("the new link, for the members");
    members[1].hear(&ServerMessage::Application { message, number: 1 });
    let new_link = members[0].screen.room_link.clone().expect("a new link");
    assert_ne!(new_link, old_link);
    assert_eq!(members[1].screen.room_link.as_ref(), Some(&new_link));

    let mut carol = Member::with_link("p3", "carol", Some(&old_link));
    let carols = ds.key_package(&mut carol, GroupAction::AwaitWelcome);
    assert!(!ds.request_commit(1, vec![carols], &mut members, &mut [&mut carol]));
    assert!(members[1].screen.warnings[0].contains("does not hold the room link"));
    let mut dana = Member::with_link("p4", "dana", Some(&new_link));
    let danas = ds.key_package(&mut dana, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(1, vec![danas], &mut members, &mut [&mut dana]));
    assert_eq!(dana.screen.roster_names(), ["alice", "bob", "dana"]);
}
