//! Raised hands, reactions and polls through the client core, with the test playing a server
//! that relays whatever members send: each rule must hold on the receiving screens.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_e2ee::{GroupSession, Incoming, Relayed};
use sealroom_participant::{CommandError, PollView};
use sealroom_protocol::{
    ApplicationKind, Ballot, Bytes, Interaction, PollMessage, PollRef, PollResults,
    PublishedResults, ResultsFor, decode, encode,
};
use support::{Member, deliver, leaf_of, meeting_of_three, relay, sent};

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;

fn raise(members: &mut [Member], who: usize, raised: bool) {
    members[who].core.raise_hand(raised).unwrap();
    members[who].drain();
    deliver(members);
}

/// `creator` opens a yes/no poll, delivered to all; its reference.
fn open(members: &mut [Member], creator: usize, anonymous: bool, to: ResultsFor) -> PollRef {
    let options = vec!["yes".to_owned(), "no".to_owned()];
    let core = &mut members[creator].core;
    let id = core
        .open_poll("Lunch?", options, false, anonymous, to)
        .unwrap();
    members[creator].drain();
    deliver(members);
    PollRef {
        creator: leaf_of(members, creator),
        id,
    }
}

fn vote(members: &mut [Member], who: usize, poll: PollRef, choices: &[u8]) {
    members[who].core.vote(poll, choices.to_vec()).unwrap();
    members[who].drain();
    deliver(members);
}

fn view(member: &Member, poll: PollRef) -> &PollView {
    &member.screen.polls[&poll]
}

fn counts(member: &Member, poll: PollRef) -> Vec<u32> {
    let results = view(member, poll).results.as_ref().expect("results");
    results.counts.clone()
}

/// `sender` sends `data` as it is, as no honest core would.
fn send_raw(members: &mut [Member], sender: usize, kind: ApplicationKind, data: &str) {
    members[sender]
        .core
        .send_application(kind, data.as_bytes())
        .unwrap();
    members[sender].drain();
    deliver(members);
}

fn assert_no_errors(members: &[Member]) {
    for member in members {
        assert!(
            member.screen.errors.is_empty(),
            "{:?}",
            member.screen.errors
        );
    }
}

/// The application message a raw member decrypts from `bytes`, as its sender encoded it.
fn read_raw<T: for<'de> serde::Deserialize<'de>>(group: &mut GroupSession, bytes: &Bytes) -> T {
    match group.process_relayed(Relayed::Application, bytes.as_ref()) {
        Ok(Incoming::Application { data, .. }) => {
            decode(std::str::from_utf8(&data).unwrap()).unwrap()
        }
        other => panic!("not an application message: {other:?}"),
    }
}

#[test]
fn hands_are_shown_in_the_order_they_were_raised() {
    let (_, mut members) = meeting_of_three();
    for who in [CAROL, BOB, ALICE] {
        raise(&mut members, who, true);
    }
    // Carol says it again: she keeps her place.
    raise(&mut members, CAROL, true);
    for member in &members {
        assert_eq!(member.screen.hand_names(), ["carol", "bob", "alice"]);
    }
    raise(&mut members, BOB, false);
    for member in &members {
        assert_eq!(member.screen.hand_names(), ["carol", "alice"]);
    }
    let carol = leaf_of(&members, CAROL);
    assert_eq!(members[BOB].screen.hands[0].leaf, carol);
    assert_no_errors(&members);
}

/// Bob, no moderator, cannot lower Carol's hand, even by sending the message himself; Alice,
/// who founded the room, can: Carol's hand is down for good, and a newcomer does not see it.
#[test]
fn only_a_moderator_lowers_someone_elses_hand() {
    let (mut ds, mut members) = meeting_of_three();
    let carol = leaf_of(&members, CAROL);
    raise(&mut members, CAROL, true);
    let refused = members[BOB].core.lower_hand(carol);
    assert!(matches!(refused, Err(CommandError::NotModerator)));
    let forged = encode(&Interaction::LowerHand { leaf: carol });
    send_raw(&mut members, BOB, ApplicationKind::Interaction, &forged);
    for member in [&members[ALICE], &members[CAROL]] {
        assert_eq!(member.screen.hand_names(), ["carol"]);
        assert!(member.screen.errors[0].contains("not a moderator"));
    }

    members[ALICE].core.lower_hand(carol).unwrap();
    members[ALICE].drain();
    deliver(&mut members);
    assert!(members.iter().all(|m| m.screen.hands.is_empty()));
    ds.join_with_link(&mut members, "p4", "dave");
    deliver(&mut members);
    assert!(members[3].screen.hands.is_empty());
}

/// Dave joins after Bob raised his hand and Alice opened a poll Carol voted in: he sees both,
/// results included, and the others, who hear it all again, show nothing twice.
#[test]
fn a_newcomer_learns_of_raised_hands_and_open_polls() {
    let (mut ds, mut members) = meeting_of_three();
    raise(&mut members, BOB, true);
    let poll = open(&mut members, ALICE, false, ResultsFor::Everyone);
    vote(&mut members, CAROL, poll, &[1]);
    let before: Vec<PollView> = members.iter().map(|m| view(m, poll).clone()).collect();

    ds.join_with_link(&mut members, "p4", "dave");
    deliver(&mut members);
    let dave = &members[3];
    assert_eq!(dave.screen.hand_names(), ["bob"]);
    let seen = view(dave, poll);
    assert_eq!(
        (seen.question.as_str(), seen.creator_name.as_str()),
        ("Lunch?", "alice")
    );
    assert_eq!(
        seen.results.as_ref().unwrap().named,
        [vec![], vec!["carol"]]
    );
    assert!(!seen.mine && !seen.closed);
    for (member, before) in members.iter().zip(&before) {
        assert_eq!(view(member, poll), before);
        assert_eq!(member.screen.hand_names(), ["bob"]);
    }
    assert_no_errors(&members);
}

#[test]
fn a_reaction_outside_the_set_is_refused_and_dropped() {
    let (_, mut members) = meeting_of_three();
    let refused = members[ALICE].core.react("🤡");
    assert!(matches!(refused, Err(CommandError::Reaction)));
    members[ALICE].core.react("👍").unwrap();
    members[ALICE].drain();
    deliver(&mut members);
    for member in &members {
        let reaction = &member.screen.reactions[..];
        assert_eq!(reaction.len(), 1);
        assert_eq!(
            (reaction[0].sender_name.as_str(), reaction[0].emoji.as_str()),
            ("alice", "👍")
        );
    }

    let forged = encode(&Interaction::Reaction {
        emoji: "🤡".into()
    });
    send_raw(&mut members, BOB, ApplicationKind::Interaction, &forged);
    for member in [&members[ALICE], &members[CAROL]] {
        assert_eq!(member.screen.reactions.len(), 1);
        assert!(member.screen.errors[0].starts_with("reaction:"));
    }
}

/// Bob's vote in Alice's poll travels in a group message every member decrypts, but its ballot
/// is sealed to Alice: Carol's core counts it as not hers without trying it, and a member's
/// own key (Dave's, whose group session the test holds) does not open it.
#[test]
fn a_vote_is_opened_by_the_poll_creator_alone() {
    let (mut ds, mut members) = meeting_of_three();
    let mut dave = ds.join_raw(&mut members, "dave");
    deliver(&mut members);
    let poll = open(&mut members, ALICE, true, ResultsFor::Everyone);
    members[BOB].core.vote(poll, vec![0]).unwrap();
    members[BOB].drain();
    let message = sent(&mut members[BOB]);

    let Interaction::Vote {
        sealed,
        poll: voted,
    } = read_raw(&mut dave, &message)
    else {
        panic!("not a vote");
    };
    assert_eq!(voted, poll);
    let bob = leaf_of(&members, BOB);
    assert!(dave.open_private(bob, sealed.as_ref()).is_err());

    let [alice, _, carol] = &mut members[..] else {
        unreachable!()
    };
    relay(&message, 0, &mut [alice, carol]);
    assert_eq!(members[CAROL].core.votes_not_for_us(), 1);
    assert_eq!(members[ALICE].core.votes_not_for_us(), 0);
    assert_eq!(counts(&members[ALICE], poll), [1, 0]);
    assert_no_errors(&members);
}

/// Bob's poll shows its results to moderators alone: Alice (who moderates) reads them, named;
/// Carol votes but sees none, and Bob counts them.
#[test]
fn results_for_moderators_are_read_by_moderators_alone() {
    let (_, mut members) = meeting_of_three();
    let poll = open(&mut members, BOB, false, ResultsFor::Moderators);
    vote(&mut members, CAROL, poll, &[1]);
    for who in [ALICE, BOB] {
        let results = view(&members[who], poll).results.clone().expect("results");
        assert_eq!((results.counts, results.voters), (vec![0, 1], 1));
        assert_eq!(results.named, [vec![], vec!["carol"]]);
    }
    let carols = view(&members[CAROL], poll);
    assert_eq!(
        (carols.results.as_ref(), &carols.own_choices[..]),
        (None, &[1][..])
    );
    assert_no_errors(&members);
}

/// Carol sends results and a close for Alice's poll: they name Carol's own poll of that number,
/// which does not exist, and nobody's screen changes. Bob cannot close it either.
#[test]
fn only_the_creator_publishes_results_or_closes_a_poll() {
    let (_, mut members) = meeting_of_three();
    let poll = open(&mut members, ALICE, true, ResultsFor::Everyone);
    vote(&mut members, BOB, poll, &[0]);
    let before: Vec<PollView> = members.iter().map(|m| view(m, poll).clone()).collect();

    let results = PublishedResults::Everyone {
        results: PollResults {
            counts: vec![0, 9],
            voters: 9,
            named: Vec::new(),
            closed: true,
        },
    };
    let forged = encode(&PollMessage::Results {
        id: poll.id,
        results,
    });
    send_raw(&mut members, CAROL, ApplicationKind::Poll, &forged);
    let forged = encode(&PollMessage::Close { id: poll.id });
    send_raw(&mut members, CAROL, ApplicationKind::Poll, &forged);
    assert!(matches!(
        members[BOB].core.close_poll(poll.id),
        Err(CommandError::Poll(_))
    ));

    for (member, before) in members.iter().zip(&before) {
        assert_eq!(view(member, poll), before);
    }
    for member in [&members[ALICE], &members[BOB]] {
        assert_eq!(member.screen.errors.len(), 2, "{:?}", member.screen.errors);
    }
    vote(&mut members, CAROL, poll, &[1]);
    assert_eq!(counts(&members[BOB], poll), [1, 1]);
}

/// Bob's core refuses two answers in a single-choice poll; Dave, playing a member with a core
/// of his own making, seals them to Alice anyway, and her core does not count them.
#[test]
fn a_ballot_the_poll_does_not_accept_is_refused_on_both_sides() {
    let (mut ds, mut members) = meeting_of_three();
    let mut dave = ds.join_raw(&mut members, "dave");
    deliver(&mut members);
    let poll = open(&mut members, ALICE, true, ResultsFor::Everyone);
    for choices in [vec![0, 1], vec![2], vec![]] {
        let refused = members[BOB].core.vote(poll, choices);
        assert!(matches!(refused, Err(CommandError::Poll(_))));
    }

    let ballot = Ballot {
        choices: vec![0, 1],
    };
    let sealed = dave
        .seal_private(poll.creator, encode(&ballot).as_bytes())
        .unwrap();
    let vote = Interaction::Vote {
        poll,
        sealed: Bytes(sealed),
    };
    let label = ApplicationKind::Interaction.label();
    let message = dave
        .encrypt_application(label, encode(&vote).as_bytes())
        .unwrap();
    relay(&Bytes(message), 0, &mut [&mut members[ALICE]]);
    assert_eq!(counts(&members[ALICE], poll), [0, 0]);
    assert!(members[ALICE].screen.errors[0].contains("does not take"));
    assert!(members[ALICE].outbox.is_empty(), "no results published");
}

#[test]
fn a_later_ballot_replaces_an_earlier_one() {
    let (_, mut members) = meeting_of_three();
    let poll = open(&mut members, ALICE, false, ResultsFor::Everyone);
    vote(&mut members, BOB, poll, &[0]);
    vote(&mut members, BOB, poll, &[1]);
    for member in &members {
        let results = view(member, poll).results.clone().expect("results");
        assert_eq!((results.counts, results.voters), (vec![0, 1], 1));
        assert_eq!(results.named, [vec![], vec!["bob"]]);
    }
    assert_eq!(view(&members[BOB], poll).own_choices, [1]);
    assert_no_errors(&members);
}

/// Carol's vote crosses Alice's close on its way and is not counted; after the close, every
/// core refuses to vote.
#[test]
fn a_closed_poll_takes_no_more_votes() {
    let (_, mut members) = meeting_of_three();
    let poll = open(&mut members, ALICE, true, ResultsFor::Everyone);
    vote(&mut members, BOB, poll, &[0]);
    members[CAROL].core.vote(poll, vec![1]).unwrap();
    members[CAROL].drain();
    let late = sent(&mut members[CAROL]);

    members[ALICE].core.close_poll(poll.id).unwrap();
    members[ALICE].drain();
    deliver(&mut members);
    relay(&late, 0, &mut [&mut members[ALICE]]);
    deliver(&mut members);
    for member in &members {
        assert!(view(member, poll).closed);
        assert_eq!(counts(member, poll), [1, 0]);
    }
    for who in [ALICE, BOB] {
        let refused = members[who].core.vote(poll, vec![1]);
        assert!(matches!(
            refused,
            Err(CommandError::Poll("the poll is closed"))
        ));
    }
    assert!(members[ALICE].core.close_poll(poll.id).is_err());
    assert_no_errors(&members);
}

/// Carol leaves with her hand up and a poll open: her hand goes down and her poll closes on
/// every screen; her vote in Alice's poll still counts.
#[test]
fn hands_and_polls_of_a_member_who_left_go_with_them() {
    let (mut ds, mut members) = meeting_of_three();
    raise(&mut members, CAROL, true);
    raise(&mut members, BOB, true);
    let carols = open(&mut members, CAROL, true, ResultsFor::Everyone);
    let alices = open(&mut members, ALICE, true, ResultsFor::Everyone);
    vote(&mut members, CAROL, alices, &[1]);

    ds.leave(&mut members, CAROL);
    deliver(&mut members);
    vote(&mut members, BOB, alices, &[0]);
    for member in &members {
        assert_eq!(member.screen.hand_names(), ["bob"]);
        assert!(view(member, carols).closed);
        assert_eq!(counts(member, alices), [1, 1]);
    }
    assert_no_errors(&members);
}
