//! Breakout rooms through the client core: a moderator's plan reaches every member with its
//! room and every room's own link, broadcasts and the call back follow, help requests reach
//! the moderators; a plan from someone who does not moderate is refused by every core.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use sealroom_e2ee::sframe::{MediaKeyring, SframeError};
use sealroom_participant::{BreakoutNotice, CommandError, MEDIA_SUITE};
use sealroom_protocol::{
    ApplicationKind, Assignment, BreakoutMessage, BreakoutPlan, BreakoutRoom, ClientMessage,
    GroupAction, encode,
};
use support::{DeliveryService, Member, deliver, leaf_of, meeting_of_three, relay, sent};

fn rooms() -> Vec<(String, String)> {
    vec![
        ("Room 1".into(), "main-b1".into()),
        ("Room 2".into(), "main-b2".into()),
    ]
}

/// Alice (the founder, who moderates) sends Bob to room 1 and Carol to room 2.
fn open_two_rooms(members: &mut [Member]) {
    let assignments = vec![
        Assignment {
            leaf: leaf_of(members, 1),
            room: 0,
        },
        Assignment {
            leaf: leaf_of(members, 2),
            room: 1,
        },
    ];
    members[0]
        .core
        .open_breakouts(rooms(), assignments, false, Some(1_765_000_600_000))
        .unwrap();
    members[0].drain();
    deliver(members);
}

#[test]
fn every_member_learns_its_room_and_each_room_has_its_own_link() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    let bob = members[1]
        .screen
        .breakouts
        .clone()
        .expect("Bob sees the rooms");
    let carol = members[2]
        .screen
        .breakouts
        .clone()
        .expect("Carol sees the rooms");
    assert_eq!((bob.own_room, carol.own_room), (Some(0), Some(1)));
    assert_eq!(bob.opened_by, "alice");
    assert_eq!(bob.ends_at, Some(1_765_000_600_000));
    assert_eq!(
        bob.assigned,
        [("bob".to_owned(), 0), ("carol".to_owned(), 1)]
    );
    assert_eq!(bob.rooms, carol.rooms, "everyone has every room's link");
    assert_ne!(
        bob.rooms[0].link, bob.rooms[1].link,
        "a fresh link per room"
    );
    assert_eq!(members[0].screen.breakouts.as_ref().unwrap().own_room, None);
}

#[test]
fn broadcasts_reach_everyone_and_closing_calls_everyone_back() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    members[0]
        .core
        .broadcast_to_breakouts("Five minutes left")
        .unwrap();
    members[0].drain();
    deliver(&mut members);
    let said = BreakoutNotice::Broadcast {
        from: "alice".into(),
        text: "Five minutes left".into(),
    };
    for member in &members[1..] {
        assert_eq!(member.screen.breakout_notices, std::slice::from_ref(&said));
    }
    members[0].core.close_breakouts().unwrap();
    members[0].drain();
    deliver(&mut members);
    assert!(members.iter().all(|m| m.screen.breakouts.is_none()));
}

#[test]
fn a_request_for_help_reaches_the_moderators() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    members[2].core.ask_for_help(1).unwrap();
    members[2].drain();
    deliver(&mut members);
    let wanted = BreakoutNotice::HelpWanted {
        from: "carol".into(),
        room: "Room 2".into(),
    };
    assert_eq!(members[0].screen.breakout_notices, [wanted]);
    assert!(
        members[1].screen.breakout_notices.is_empty(),
        "Bob does not moderate"
    );
    assert!(matches!(
        members[2].core.ask_for_help(7),
        Err(CommandError::Breakout(_))
    ));
}

#[test]
fn a_newcomer_is_told_of_the_open_rooms() {
    let (mut ds, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    let mut dave = Member::with_link("p4", "dave", members[0].screen.room_link.as_deref());
    let key_package = ds.key_package(&mut dave, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(1, vec![key_package], &mut members, &mut [&mut dave]));
    members.push(dave);
    deliver(&mut members);
    let view = members[3]
        .screen
        .breakouts
        .clone()
        .expect("Dave sees the rooms");
    assert_eq!((view.rooms.len(), view.own_room), (2, None));
}

/// Bob, who does not moderate, cannot open rooms through his core, and a plan he forces onto
/// the wire (with rooms whose links he chose) is refused by every other core.
#[test]
fn a_member_who_does_not_moderate_cannot_send_people_to_rooms() {
    let (_, mut members) = meeting_of_three();
    let refused = members[1]
        .core
        .open_breakouts(rooms(), Vec::new(), true, None);
    assert!(matches!(refused, Err(CommandError::NotModerator)));
    let forged = BreakoutMessage::Open(BreakoutPlan {
        id: 9,
        rooms: vec![BreakoutRoom {
            label: "Mine".into(),
            room: "bobs-room".into(),
            link: "A".repeat(22),
        }],
        assignments: vec![Assignment {
            leaf: leaf_of(&members, 2),
            room: 0,
        }],
        choose: false,
        ends_at: None,
    });
    members[1]
        .core
        .send_application(ApplicationKind::Breakout, encode(&forged).as_bytes())
        .unwrap();
    members[1].drain();
    deliver(&mut members);
    for index in [0, 2] {
        assert!(members[index].screen.breakouts.is_none());
        assert!(
            members[index]
                .screen
                .warnings
                .iter()
                .any(|w| w.contains("may not run breakout rooms"))
        );
    }
}

#[test]
fn the_server_learns_the_rooms_names_and_their_end_not_their_links() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    let names = members[0].take(|m| match m {
        ClientMessage::OpenBreakouts { rooms } => Some(rooms.clone()),
        _ => None,
    });
    assert_eq!(
        names,
        Some(vec!["main-b1".to_owned(), "main-b2".to_owned()])
    );
    members[0].core.close_breakouts().unwrap();
    members[0].drain();
    let closed = members[0].take(|m| matches!(m, ClientMessage::CloseBreakouts).then_some(()));
    assert!(closed.is_some(), "the server stops letting people in");
    let update = members[0].take(|m| matches!(m, ClientMessage::Commit { .. }).then_some(()));
    assert!(update.is_some(), "everyone comes back to a new epoch");
}

/// Member `index` of the main room, as it enters breakout room `room`.
fn entering(members: &[Member], index: usize, room: u8) -> Member {
    let main = &members[index];
    Member {
        id: format!("{}-b{room}", main.id),
        name: main.name.clone(),
        core: main.core.breakout_participant(room).unwrap(),
        screen: Default::default(),
        outbox: Vec::new(),
    }
}

/// Breakout room `room` as member `founder` of the main room founds its group and member
/// `joiner` joins it with the room's link: the two of them, founder first.
fn two_in_room(members: &[Member], room: u8, founder: usize, joiner: usize) -> Vec<Member> {
    let mut service = DeliveryService::new();
    let mut inside = vec![entering(members, founder, room)];
    service.found(&mut inside[0]);
    let mut second = entering(members, joiner, room);
    let key_package = service.key_package(&mut second, GroupAction::AwaitWelcome);
    assert!(service.request_commit(0, vec![key_package], &mut inside, &mut [&mut second]));
    inside.push(second);
    inside
}

/// Bob arrives first in room 1 and founds its group: the main room's moderator (Alice), not
/// Bob, moderates it, so Bob cannot take it over (replace its link); Alice joins with the
/// room's link and her own key, and the room has a security code of its own.
#[test]
fn the_first_to_arrive_in_a_breakout_room_does_not_take_it_over() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    let mut inside = two_in_room(&members, 0, 1, 0);
    let policy = &inside[0].screen.epoch().policy;
    assert_eq!(policy.moderators, [members[0].core.fingerprint()]);
    assert!(!policy.lobby);
    assert!(matches!(
        inside[0].core.rotate_link(),
        Err(CommandError::NotModerator)
    ));
    let (bob, alice) = (&inside[0], &inside[1]);
    assert_eq!(alice.screen.code(), bob.screen.code());
    assert_ne!(alice.screen.code(), members[0].screen.code());
    assert_eq!(
        alice.core.fingerprint(),
        members[0].core.fingerprint(),
        "her own key"
    );
    assert!(matches!(
        members[1].core.breakout_participant(5),
        Err(CommandError::Breakout(_))
    ));
}

/// A frame layer keyed with `member`'s current epoch, as its page's worker is.
fn media_keys(member: &Member) -> MediaKeyring {
    let epoch = member.screen.epoch();
    let mut keys = MediaKeyring::new(MEDIA_SUITE);
    keys.install_epoch(
        Duration::ZERO,
        epoch.epoch,
        &epoch.media_secret,
        epoch.own_leaf,
    )
    .unwrap();
    keys
}

/// Room 1 holds Bob and Alice, room 2 Carol and Alice (who visits both): each room's chat and
/// media are sealed to its own group, so a message or a frame of room 2 relayed into room 1 (or
/// into the main room) opens for nobody there, while it opens in room 2.
#[test]
fn members_of_two_breakout_rooms_cannot_read_each_other() {
    let (_, mut members) = meeting_of_three();
    open_two_rooms(&mut members);
    let mut one = two_in_room(&members, 0, 1, 0);
    let mut two = two_in_room(&members, 1, 2, 0);
    assert_ne!(one[0].screen.code(), two[0].screen.code());
    two[0].core.send_chat("room 2 only", None, 1).unwrap();
    two[0].drain();
    let message = sent(&mut two[0]);
    let errors = |m: &Member| m.screen.errors.len();
    let before = (errors(&one[0]), errors(&members[0]));
    relay(&message, 1, &mut [&mut one[0], &mut members[0]]);
    assert!(one[0].screen.chat.is_empty() && members[0].screen.chat.is_empty());
    let after = (errors(&one[0]), errors(&members[0]));
    assert_eq!(
        after,
        (before.0 + 1, before.1 + 1),
        "each core fails to open it"
    );
    relay(&message, 1, &mut [&mut two[1]]);
    assert_eq!(
        two[1].screen.chat[0].text, "room 2 only",
        "it opens in room 2"
    );

    // Carol's frame has key id (leaf 0, epoch 1): Bob's in room 1, under another key there.
    let frame = media_keys(&two[0]).protect(0, b"room 2 audio").unwrap();
    let in_room_one = media_keys(&one[1]).unprotect(Duration::ZERO, &frame);
    assert!(matches!(
        in_room_one,
        Err(SframeError::AuthenticationFailed)
    ));
    assert!(
        media_keys(&members[1])
            .unprotect(Duration::ZERO, &frame)
            .is_err()
    );
    let in_room_two = media_keys(&two[1])
        .unprotect(Duration::ZERO, &frame)
        .unwrap();
    assert_eq!(in_room_two.payload, b"room 2 audio");
}
