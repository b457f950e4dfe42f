//! Moderation controls: muting a participant's audio, refusing its screen share.

use std::time::Duration;

use sealroom_sfu::{RefusedTrack, SfuError};

use crate::harness::{FrameCounts, Publish, World};

/// Whether the first screen frame `receiver` got from `publisher` after its first `skip`
/// frames (of anyone's) is a keyframe; `None` without one.
fn screen_starts_with_keyframe(
    world: &World,
    receiver: &str,
    publisher: &str,
    skip: usize,
) -> Option<bool> {
    let sender = world.client(publisher);
    world.client(receiver).received[skip..]
        .iter()
        .filter(|f| f.publisher == publisher)
        .find(|f| sender.sent_frame(&f.data).is_some_and(|sent| sent.screen))
        .map(|f| f.keyframe)
}

#[test]
fn muted_participants_audio_stops_while_its_video_continues() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("carol", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));
    let before = world.identical_frames("bob", "alice");
    assert!(before.audio > 50 && before.camera > 30, "{before:?}");

    world
        .sfu
        .set_audio_muted("alice", true)
        .expect("alice is in the SFU");
    // What was on the wire already still arrives.
    world.run_for(Duration::from_millis(100));
    let muted = world.identical_frames("bob", "alice");
    let carol_muted = world.identical_frames("bob", "carol");
    world.run_for(Duration::from_secs(1));
    let after = world.identical_frames("bob", "alice");
    assert_eq!(after.audio, muted.audio, "no audio from alice while muted");
    assert!(after.camera >= muted.camera + 25, "her video continues");
    let carol = world.identical_frames("bob", "carol");
    assert!(
        carol.audio >= carol_muted.audio + 45,
        "only alice is muted: {carol:?}"
    );

    world
        .sfu
        .set_audio_muted("alice", false)
        .expect("alice is in the SFU");
    world.run_for(Duration::from_secs(1));
    let unmuted = world.identical_frames("bob", "alice");
    assert!(
        unmuted.audio >= after.audio + 45,
        "her audio resumes: {after:?} then {unmuted:?}"
    );
}

#[test]
fn refused_screen_share_is_dropped_and_reported_until_allowed() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_CAMERA_SCREEN);
    world
        .sfu
        .set_screen_share_allowed("alice", false)
        .expect("alice is in the SFU");
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));

    let refused = world.identical_frames("bob", "alice");
    assert_eq!(refused.screen, 0, "no screen frame reaches bob");
    assert!(refused.camera > 30 && refused.audio > 50, "{refused:?}");
    assert!(
        world
            .client("alice")
            .sent
            .iter()
            .filter(|f| f.screen)
            .count()
            > 30,
        "alice did send her screen"
    );
    let refusal = ("alice".to_owned(), RefusedTrack::ScreenShare);
    assert_eq!(
        world.refused,
        vec![refusal.clone()],
        "one report for the whole attempt, not one per packet"
    );

    world
        .sfu
        .set_screen_share_allowed("alice", true)
        .expect("alice is in the SFU");
    let skip = world.client("bob").received.len();
    world.run_for(Duration::from_secs(1));
    let allowed = world.identical_frames("bob", "alice");
    assert!(allowed.screen > 20, "{allowed:?}");
    assert_eq!(
        screen_starts_with_keyframe(&world, "bob", "alice", skip),
        Some(true)
    );
    assert_eq!(world.refused.len(), 1, "nothing refused while allowed");

    // Refused in the middle of a share: the share stops, and alice is told at once.
    world
        .sfu
        .set_screen_share_allowed("alice", false)
        .expect("alice is in the SFU");
    world.run_for(Duration::from_millis(100));
    assert_eq!(world.refused, vec![refusal.clone(), refusal]);
    let stopped = world.identical_frames("bob", "alice");
    world.run_for(Duration::from_secs(1));
    let still = world.identical_frames("bob", "alice");
    assert_eq!(still.screen, stopped.screen, "the share stopped");
    assert!(still.camera >= stopped.camera + 25, "the camera did not");

    // Allowed again, it resumes for bob at a keyframe.
    world
        .sfu
        .set_screen_share_allowed("alice", true)
        .expect("alice is in the SFU");
    let skip = world.client("bob").received.len();
    world.run_for(Duration::from_secs(1));
    let resumed = world.identical_frames("bob", "alice");
    assert!(resumed.screen >= still.screen + 20, "{resumed:?}");
    assert_eq!(
        screen_starts_with_keyframe(&world, "bob", "alice", skip),
        Some(true)
    );
}

#[test]
fn screen_share_control_leaves_a_single_video_track_alone() {
    // A publisher with one video track has a camera and no screen.
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world
        .sfu
        .set_screen_share_allowed("alice", false)
        .expect("alice is in the SFU");
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));
    let got = world.identical_frames("bob", "alice");
    assert!(got.camera > 30 && got.audio > 50, "{got:?}");
    assert!(world.refused.is_empty());
}

#[test]
fn controls_for_a_participant_not_in_the_sfu_are_refused() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    assert!(matches!(
        world.sfu.set_audio_muted("mallory", true),
        Err(SfuError::UnknownParticipant(name)) if name == "mallory"
    ));
    assert!(matches!(
        world.sfu.set_screen_share_allowed("mallory", false),
        Err(SfuError::UnknownParticipant(_))
    ));
    // Nothing leaks onto someone else, nor onto a later participant of that name.
    world.join("mallory", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(2));
    for (receiver, publisher) in [("alice", "mallory"), ("mallory", "alice")] {
        let FrameCounts { audio, camera, .. } = world.identical_frames(receiver, publisher);
        assert!(audio > 50 && camera > 30, "{receiver} from {publisher}");
    }
}
