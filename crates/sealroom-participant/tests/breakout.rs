//! Breakout rooms through the client core: a moderator's plan reaches every member with its
//! room and every room's own link, broadcasts and the call back follow, help requests reach
//! the moderators; a plan from someone who does not moderate is refused by every core.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_participant::{BreakoutNotice, CommandError};
use sealroom_protocol::{
    ApplicationKind, Assignment, BreakoutMessage, BreakoutPlan, BreakoutRoom, GroupAction, encode,
};
use support::{Member, deliver, leaf_of, meeting_of_three};

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
