//! Chat through the client core: to everyone, privately to one member, and back after a
//! reload, with the test playing the server (which numbers and keeps what members send).

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_participant::CommandError;
use sealroom_protocol::{
    Bytes, ClientMessage, GroupAction, KeptMessage, MAX_CHAT_TEXT_CHARS, ServerMessage,
};
use support::{DeliveryService, Member, leaf_of, meeting_of_three, relay, sent};

const SENT_AT: u64 = 1_765_000_000_000;

fn say(member: &mut Member, text: &str, to: Option<u32>) -> Bytes {
    member.core.send_chat(text, to, SENT_AT).unwrap();
    member.drain();
    sent(member)
}

#[test]
fn a_message_to_everyone_reaches_every_member_named_from_its_credential() {
    let (_, mut members) = meeting_of_three();
    let message = say(&mut members[0], "<b>hi</b> & welcome", None);
    let [_, bob, carol] = &mut members[..] else {
        unreachable!()
    };
    relay(&message, 1, &mut [bob, carol]);
    for member in &members[1..] {
        let entry = &member.screen.chat[0];
        assert_eq!(entry.text, "<b>hi</b> & welcome");
        assert_eq!(
            (entry.sender_name.as_str(), entry.private),
            ("alice", false)
        );
        assert_eq!((entry.seq, entry.sent_at), (1, SENT_AT));
    }
}

/// Carol decrypts the group's message that carries Alice's private message to Bob, but her
/// key does not open what is inside: she gets no text, only the count of messages not hers.
#[test]
fn a_private_message_is_read_by_its_recipient_alone() {
    let (_, mut members) = meeting_of_three();
    let bob_leaf = leaf_of(&members, 1);
    let message = say(&mut members[0], "for bob only", Some(bob_leaf));
    let [_, bob, carol] = &mut members[..] else {
        unreachable!()
    };
    relay(&message, 1, &mut [bob, carol]);
    let entry = &members[1].screen.chat[0];
    assert_eq!((entry.text.as_str(), entry.private), ("for bob only", true));
    assert!(members[2].screen.chat.is_empty());
    assert_eq!(members[2].core.private_messages_not_for_us(), 1);
    assert!(members[2].screen.errors.is_empty());
}

/// The server delivers a message twice under its number (a replay, or a resume that overlaps):
/// it is shown once and raises no error.
#[test]
fn a_message_delivered_twice_is_shown_once() {
    let (_, mut members) = meeting_of_three();
    let message = say(&mut members[0], "once", None);
    relay(&message, 1, &mut [&mut members[1]]);
    relay(&message, 1, &mut [&mut members[1]]);
    assert_eq!(members[1].screen.chat.len(), 1);
    assert!(members[1].screen.errors.is_empty());
}

/// Bob reloads: his new device joins the group again holding the chat up to number 1, and asks
/// for the rest. What was sent before he rejoined is counted as unreadable (his new keys never
/// covered it), his own earlier message is skipped, and what followed his return is shown.
#[test]
fn after_a_reload_the_history_shows_what_can_be_read_and_counts_the_rest() {
    let (mut ds, mut members) = meeting_of_three();
    let group = members[1].screen.epoch().group_id.clone();
    let missed = say(&mut members[0], "while bob was away", None);
    let bobs = say(&mut members[1], "bob's last words", None);
    let mut bob = Member::with_link("p4", "bob", members[0].screen.room_link.as_deref());
    bob.core.catch_up_chat(&group, 1, &["p2".into()]);
    let key_package = ds.key_package(&mut bob, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut bob]));
    let after = bob
        .take(|m| match m {
            ClientMessage::History { after } => Some(*after),
            _ => None,
        })
        .expect("a catch-up once a member");
    assert_eq!(after, 1);
    let later = say(&mut members[0], "welcome back", None);
    let kept = |number, from: &str, message: &Bytes| KeptMessage {
        number,
        from: from.into(),
        message: message.clone(),
    };
    bob.hear(&ServerMessage::History {
        messages: vec![
            kept(2, "p1", &missed),
            kept(3, "p2", &bobs),
            kept(4, "p1", &later),
        ],
        more: false,
    });
    let texts: Vec<_> = bob.screen.chat.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["welcome back"]);
    assert_eq!(bob.screen.unreadable, 1);
    assert!(bob.screen.errors.is_empty(), "{:?}", bob.screen.errors);
}

#[test]
fn the_history_is_asked_for_page_by_page() {
    let (_, mut members) = meeting_of_three();
    let group = members[1].screen.epoch().group_id.clone();
    let message = say(&mut members[0], "page one", None);
    members[1].core.catch_up_chat(&group, 0, &[]);
    members[1].drain();
    assert!(matches!(
        members[1].outbox.pop(),
        Some(ClientMessage::History { after: 0 })
    ));
    members[1].hear(&ServerMessage::History {
        messages: vec![KeptMessage {
            number: 7,
            from: "p1".into(),
            message,
        }],
        more: true,
    });
    assert_eq!(members[1].screen.chat[0].text, "page one");
    assert!(matches!(
        members[1].outbox.pop(),
        Some(ClientMessage::History { after: 7 })
    ));
}

/// A room that emptied and filled again has a new group, numbered afresh: the numbers a
/// client held for the old one must not hide the new one's messages, and it asks for nothing.
#[test]
fn numbers_held_for_another_group_are_forgotten() {
    let (_, mut members) = meeting_of_three();
    let mut ds = DeliveryService::new();
    let mut dana = Member::new("p9", "dana");
    dana.core.catch_up_chat(b"an earlier group", 50, &[]);
    ds.found(&mut dana);
    assert!(
        !dana
            .outbox
            .iter()
            .any(|m| matches!(m, ClientMessage::History { .. }))
    );
    let message = say(&mut members[0], "numbered 3 in a new group", None);
    members[1].core.catch_up_chat(b"an earlier group", 50, &[]);
    relay(&message, 3, &mut [&mut members[1]]);
    assert_eq!(members[1].screen.chat.len(), 1);
}

#[test]
fn empty_and_overlong_messages_are_refused_before_they_leave() {
    let (_, mut members) = meeting_of_three();
    let overlong = "x".repeat(MAX_CHAT_TEXT_CHARS + 1);
    for text in ["", overlong.as_str()] {
        let refused = members[0].core.send_chat(text, None, SENT_AT);
        assert!(matches!(refused, Err(CommandError::ChatLength)));
    }
    let longest = "é".repeat(MAX_CHAT_TEXT_CHARS);
    members[0].core.send_chat(&longest, None, SENT_AT).unwrap();
}

/// A private message to a leaf nobody holds, or to ourselves, is refused.
#[test]
fn a_private_message_needs_another_member_to_seal_to() {
    let (_, mut members) = meeting_of_three();
    let own = leaf_of(&members, 0);
    for leaf in [own, 99] {
        let refused = members[0].core.send_chat("hello?", Some(leaf), SENT_AT);
        assert!(
            matches!(refused, Err(CommandError::Group(_))),
            "leaf {leaf}"
        );
    }
}

/// Alice writes as Dave is being added; her message reaches the server after Dave's welcome,
/// so it comes to him live, from an epoch before his. He cannot read it: it is counted as
/// such (as the history would count it), not reported as an error.
#[test]
fn a_message_in_flight_as_we_joined_is_counted_as_unreadable() {
    let (mut ds, mut members) = meeting_of_three();
    let in_flight = say(&mut members[0], "sent as dave joins", None);
    let mut dave = Member::with_link("p4", "dave", members[0].screen.room_link.as_deref());
    let key_package = ds.key_package(&mut dave, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut dave]));
    relay(&in_flight, 9, &mut [&mut dave]);
    assert_eq!(dave.screen.unreadable, 1);
    assert!(dave.screen.chat.is_empty());
    assert!(dave.screen.errors.is_empty(), "{:?}", dave.screen.errors);
}

/// Carol leaves: the server proposes her removal, and until someone commits it MLS forbids
/// application messages. Alice writes twice in that moment (once privately to Bob); nothing
/// is lost or refused: her core holds both and sends them, in order, once the commit lands.
#[test]
fn a_message_written_while_a_removal_is_pending_is_sent_after_its_commit() {
    let (mut ds, mut members) = meeting_of_three();
    let bob_leaf = leaf_of(&members, 1);
    let carol_leaf = leaf_of(&members, 2);
    let group = ds.group.as_mut().expect("a group");
    let proposal = Bytes(group.propose_remove(carol_leaf).unwrap());
    for member in &mut members[..2] {
        member.hear(&ServerMessage::Proposal {
            proposal: proposal.clone(),
        });
    }
    members[0].core.send_chat("first", None, SENT_AT).unwrap();
    members[0]
        .core
        .send_chat("second, for bob", Some(bob_leaf), SENT_AT)
        .unwrap();
    members[0].drain();
    assert!(members[0].outbox.is_empty(), "held until the commit");
    members.truncate(2);
    members[1].hear(&ServerMessage::CommitRequested {
        key_packages: Vec::new(),
    });
    assert!(ds.sequence(1, &mut members, &mut []));
    let first = sent(&mut members[0]);
    let second = sent(&mut members[0]);
    relay(&first, 1, &mut [&mut members[1]]);
    relay(&second, 2, &mut [&mut members[1]]);
    let texts: Vec<&str> = members[1]
        .screen
        .chat
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(texts, ["first", "second, for bob"]);
    assert!(
        members[0].screen.errors.is_empty(),
        "{:?}",
        members[0].screen.errors
    );
}

/// The pending proposal removes Alice herself: what she wrote in that moment never leaves,
/// and her core says so.
#[test]
fn messages_held_by_a_member_removed_before_the_commit_are_reported_unsent() {
    let (mut ds, mut members) = meeting_of_three();
    let alice_leaf = leaf_of(&members, 0);
    let group = ds.group.as_mut().expect("a group");
    let proposal = Bytes(group.propose_remove(alice_leaf).unwrap());
    for member in &mut members {
        member.hear(&ServerMessage::Proposal {
            proposal: proposal.clone(),
        });
    }
    members[0]
        .core
        .send_chat("too late", None, SENT_AT)
        .unwrap();
    members[1].hear(&ServerMessage::CommitRequested {
        key_packages: Vec::new(),
    });
    assert!(ds.sequence(1, &mut members, &mut []));
    assert!(members[0].screen.removed);
    assert!(members[0].outbox.is_empty());
    let warnings = &members[0].screen.warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("1 messages were not sent")),
        "{warnings:?}"
    );
}
