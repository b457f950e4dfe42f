//! Who records the meeting, through the client core: a recorder's notice reaches every member
//! named from its MLS credential, newcomers hear of it, it ends when the recorder stops or
//! leaves, and nobody else can end it.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_participant::CommandError;
use sealroom_protocol::{ApplicationKind, GroupAction, RecordingNotice, encode};
use support::{Member, deliver, meeting_of_three};

const ID: &str = "00112233445566778899aabbccddeeff";
const OWNER: &str = "8f3ac0de12345678";

/// The member at `index` starts recording, and everyone hears it.
fn start_recording(members: &mut [Member], index: usize) {
    members[index]
        .core
        .start_recording(ID, vec![OWNER.into()])
        .unwrap();
    members[index].drain();
    deliver(members);
}

fn recorders(member: &Member) -> Vec<(&str, &str, bool)> {
    let recordings = &member.screen.recordings;
    recordings
        .iter()
        .map(|r| (r.recorder_name.as_str(), r.id.as_str(), r.mine))
        .collect()
}

#[test]
fn every_member_sees_who_records_until_it_stops() {
    let (_, mut members) = meeting_of_three();
    start_recording(&mut members, 0);
    assert_eq!(recorders(&members[0]), [("alice", ID, true)]);
    for member in &members[1..] {
        assert_eq!(recorders(member), [("alice", ID, false)]);
        assert_eq!(member.screen.recordings[0].owners, [OWNER]);
    }
    members[0].core.stop_recording().unwrap();
    members[0].drain();
    deliver(&mut members);
    assert!(members.iter().all(|m| m.screen.recordings.is_empty()));
}

/// Dave joins during the recording: he could not read the notice sent before him, so Alice's
/// core says it again once he is in.
#[test]
fn a_newcomer_is_told_of_the_recording_under_way() {
    let (mut ds, mut members) = meeting_of_three();
    start_recording(&mut members, 0);
    let mut dave = Member::with_link("p4", "dave", members[0].screen.room_link.as_deref());
    let key_package = ds.key_package(&mut dave, GroupAction::AwaitWelcome);
    assert!(ds.request_commit(1, vec![key_package], &mut members, &mut [&mut dave]));
    members.push(dave);
    deliver(&mut members);
    assert_eq!(recorders(&members[3]), [("alice", ID, false)]);
}

#[test]
fn a_recorder_who_leaves_records_no_more() {
    let (mut ds, mut members) = meeting_of_three();
    start_recording(&mut members, 2);
    assert_eq!(recorders(&members[0]), [("carol", ID, false)]);
    ds.leave(&mut members, 2);
    assert!(members.iter().all(|m| m.screen.recordings.is_empty()));
}

/// Bob sends a "stopped" for Alice's recording: her recording is hers to end, and everyone
/// still sees it; a notice no client would send is refused and shown nowhere.
#[test]
fn another_member_cannot_end_a_recording_nor_announce_a_malformed_one() {
    let (_, mut members) = meeting_of_three();
    start_recording(&mut members, 0);
    let forged = RecordingNotice::Stopped { id: ID.into() };
    members[1]
        .core
        .send_application(ApplicationKind::Recording, encode(&forged).as_bytes())
        .unwrap();
    let bad = r#"{"type":"started","id":"nothex","owners":[]}"#;
    members[1]
        .core
        .send_application(ApplicationKind::Recording, bad.as_bytes())
        .unwrap();
    members[1].drain();
    deliver(&mut members);
    assert_eq!(recorders(&members[2]), [("alice", ID, false)]);
    assert!(
        members[2]
            .screen
            .errors
            .iter()
            .any(|e| e.starts_with("recording:"))
    );
    assert!(matches!(
        members[1].core.stop_recording(),
        Err(CommandError::NotRecording)
    ));
    let refused = members[1]
        .core
        .start_recording("nothex", vec![OWNER.into()]);
    assert!(matches!(refused, Err(CommandError::Recording(_))));
}
