//! Who receives what: forwarding, keyframe requests, renegotiation, removal, ICE-TCP.

use std::time::Duration;

use sealroom_sfu::Protocol;
use str0m::media::KeyframeRequestKind;

use crate::harness::{Publish, World};

/// Every frame `receiver` got from `publisher` is byte for byte one that `publisher` wrote,
/// of the same kind. Returns (audio, video) counts.
fn assert_identical_frames(world: &World, receiver: &str, publisher: &str) -> (usize, usize) {
    let counts = world.identical_frames(receiver, publisher);
    (counts.audio, counts.camera + counts.screen)
}

#[test]
fn audio_and_video_arrive_byte_identical_within_the_room() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.join("carol", "room", Publish::NOTHING);
    world.join("dave", "elsewhere", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(3));

    for (receiver, publisher) in [
        ("bob", "alice"),
        ("carol", "alice"),
        ("alice", "bob"),
        ("carol", "bob"),
    ] {
        let (audio, video) = assert_identical_frames(&world, receiver, publisher);
        // 3 s of 50 audio and 30 video frames a second, less connection setup.
        assert!(
            audio > 100,
            "{receiver} got {audio} audio frames from {publisher}"
        );
        assert!(
            video > 60,
            "{receiver} got {video} video frames from {publisher}"
        );
    }
    for name in ["alice", "bob", "carol"] {
        assert_eq!(world.client(name).frames_from(name).count(), 0, "no echo");
        assert_eq!(
            world.client(name).frames_from("dave").count(),
            0,
            "rooms are apart"
        );
    }
    assert_eq!(
        world.client("dave").received.len(),
        0,
        "dave is alone in his room"
    );

    let stats = world.sfu.stats();
    assert_eq!((stats.participants, stats.rooms), (4, 2));
    assert_eq!(stats.published_tracks, 6);
    assert_eq!(
        stats.subscriptions, 8,
        "bob and carol get alice's 2, alice and carol bob's 2"
    );
    let received: usize = ["alice", "bob", "carol"]
        .iter()
        .map(|n| world.client(n).received.len())
        .sum();
    assert!(stats.forwarded_packets >= received as u64);
    assert!(stats.forwarded_bytes > stats.forwarded_packets * 50);
}

#[test]
fn receivers_keyframe_request_reaches_the_publisher() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));

    let requests_before = world.client("alice").keyframe_requests.len();
    let keyframes_before = world
        .client("bob")
        .frames_from("alice")
        .filter(|f| f.keyframe)
        .count();
    let bob = world.client_mut("bob");
    let (video_mid, _) = *bob
        .receiving
        .iter()
        .find(|(_, kind)| kind.is_video())
        .expect("bob receives alice's video");
    bob.rtc
        .writer(video_mid)
        .expect("receiving m-line")
        .request_keyframe(None, KeyframeRequestKind::Pli)
        .expect("PLI negotiated");
    world.run_for(Duration::from_millis(500));

    let alice = world.client("alice");
    assert!(
        alice.keyframe_requests.len() > requests_before,
        "the PLI reached alice"
    );
    assert_eq!(
        alice.keyframe_requests.last().map(|r| r.kind),
        Some(KeyframeRequestKind::Pli)
    );
    let keyframes_after = world
        .client("bob")
        .frames_from("alice")
        .filter(|f| f.keyframe)
        .count();
    assert!(
        keyframes_after > keyframes_before,
        "and her keyframe reached bob"
    );
}

#[test]
fn late_joiner_receives_existing_tracks() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(1));
    assert_eq!(
        world.client("alice").offers_answered,
        0,
        "nobody to receive from yet"
    );

    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(3));

    let (audio, video) = assert_identical_frames(&world, "bob", "alice");
    assert!(
        audio > 50 && video > 30,
        "bob got {audio} audio, {video} video from alice"
    );
    let (audio, video) = assert_identical_frames(&world, "alice", "bob");
    assert!(
        audio > 50 && video > 30,
        "alice got {audio} audio, {video} video from bob"
    );
    assert_eq!(world.client("bob").receiving.len(), 2);
    assert!(world.client("bob").offers_answered >= 1);
    // The first video frame a receiver gets is a keyframe: it can start decoding at once.
    let first_video = world
        .client("bob")
        .frames_from("alice")
        .find(|f| f.kind.is_video())
        .map(|f| f.keyframe);
    assert_eq!(first_video, Some(true));
}

#[test]
fn removed_participant_stops_media_and_frees_state() {
    let mut world = World::new();
    for name in ["alice", "bob", "carol"] {
        world.join(name, "room", Publish::AUDIO_VIDEO);
    }
    world.run_for(Duration::from_secs(2));
    let stats = world.sfu.stats();
    assert_eq!(
        (
            stats.participants,
            stats.published_tracks,
            stats.subscriptions
        ),
        (3, 6, 12)
    );
    let bob_offers = world.client("bob").offers_answered;

    // Alice's client will not hear that she was removed, and keeps sending.
    world.deafen("alice");
    world.sfu.remove_participant("alice");
    world.run_for(Duration::from_millis(500));
    let stats = world.sfu.stats();
    assert_eq!(
        (
            stats.participants,
            stats.published_tracks,
            stats.subscriptions
        ),
        (2, 4, 4)
    );
    assert_eq!(stats.rooms, 1);
    assert!(
        world.client("bob").offers_answered > bob_offers,
        "bob was offered the stop of alice's m-lines"
    );

    // None of what alice's client still sends gets through.
    let from_alice = |w: &World| {
        (
            w.client("bob").frames_from("alice").count(),
            w.client("carol").frames_from("alice").count(),
        )
    };
    let before = from_alice(&world);
    let dropped_before = world.sfu.stats().dropped_packets;
    world.run_for(Duration::from_secs(2));
    assert_eq!(from_alice(&world), before);
    assert!(
        world.sfu.stats().dropped_packets > dropped_before,
        "her packets are dropped"
    );
    // Bob and carol still talk.
    let (audio, _) = assert_identical_frames(&world, "bob", "carol");
    assert!(audio > 100);

    // A removed client that can hear the SFU is told its connection is closed.
    world.sfu.remove_participant("bob");
    world.run_for(Duration::from_millis(100));
    assert!(!world.client("bob").rtc.is_alive());

    world.sfu.remove_participant("carol");
    let stats = world.sfu.stats();
    assert_eq!(
        (
            stats.participants,
            stats.rooms,
            stats.published_tracks,
            stats.subscriptions
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn changes_wait_for_the_outstanding_answer() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("carol", "room", Publish::NOTHING);
    world.client_mut("carol").hold_offers = true;
    assert!(world.run_until(Duration::from_secs(2), |w| {
        !w.client("carol").held_offers.is_empty()
    }));

    // Bob publishes while carol's first offer is unanswered: no second offer yet.
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(2));
    assert_eq!(world.client("carol").held_offers.len(), 1);
    assert_eq!(world.client("carol").received.len(), 0);

    // Answering it releases bob's tracks in the next offer.
    world.release_offers("carol");
    world.run_for(Duration::from_secs(2));
    let carol = world.client("carol");
    assert_eq!(carol.offers_answered, 2);
    assert_eq!(carol.receiving.len(), 4);
    assert!(carol.frames_from("alice").count() > 50);
    assert!(carol.frames_from("bob").count() > 50);
}

#[test]
fn ice_tcp_carries_media_when_udp_is_not_used() {
    let mut world = World::new();
    let tcp_only = Publish {
        transport: Protocol::Tcp,
        ..Publish::AUDIO_VIDEO
    };
    world.join("alice", "room", tcp_only);
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(3));

    assert!(world.tcp_datagrams > 100, "alice's media went over ICE-TCP");
    let (audio, video) = assert_identical_frames(&world, "bob", "alice");
    assert!(
        audio > 100 && video > 60,
        "bob got {audio} audio, {video} video from alice"
    );
    let (audio, video) = assert_identical_frames(&world, "alice", "bob");
    assert!(
        audio > 100 && video > 60,
        "alice got {audio} audio, {video} video over TCP"
    );
}

#[test]
fn silent_connection_is_reported_and_removed() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(1));

    world.vanish("bob");
    // Kept for the reconnect window (30 s after ICE gives up), for an ICE restart.
    let reported = world.run_until(Duration::from_secs(60), |w| !w.disconnected.is_empty());
    assert!(reported);
    assert_eq!(world.disconnected, vec!["bob".to_owned()]);
    let stats = world.sfu.stats();
    assert_eq!(
        (
            stats.participants,
            stats.published_tracks,
            stats.subscriptions
        ),
        (1, 2, 0)
    );
}

/// A client whose own address changes (its old one is gone) restarts ICE with a second offer:
/// same participant, same DTLS and subscriptions, media both ways again. The simulated gap is
/// printed.
#[test]
fn ice_restart_from_a_new_address_brings_media_back() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(2));
    let before = world.sfu.stats();

    let moved_at = world.now;
    world.vanish_address("bob");
    world.run_for(Duration::from_secs(3));
    let received = |w: &World, receiver: &str, publisher: &str| {
        w.client(receiver).frames_from(publisher).count()
    };
    let (to_alice, to_bob) = (
        received(&world, "alice", "bob"),
        received(&world, "bob", "alice"),
    );
    world.restart_ice_from("bob", "room", "192.0.2.99:41000".parse().unwrap());
    let back = world.run_until(Duration::from_secs(10), |w| {
        received(w, "alice", "bob") > to_alice + 10 && received(w, "bob", "alice") > to_bob + 10
    });
    assert!(back, "media did not come back after the ICE restart");
    println!(
        "media both ways again {:?} after the address changed (3 s of it before the restart)",
        world.now - moved_at
    );
    assert_identical_frames(&world, "alice", "bob");
    assert_identical_frames(&world, "bob", "alice");
    let after = world.sfu.stats();
    assert_eq!(
        (after.participants, after.subscriptions),
        (before.participants, before.subscriptions),
        "the same participants, nothing subscribed twice"
    );
    assert!(world.disconnected.is_empty());
}

/// An offer of the SFU's that crosses the client's ICE-restart offer is withdrawn; its change
/// (a new track to receive) comes in the next offer, after the answer.
#[test]
fn an_sfu_offer_crossing_an_ice_restart_comes_again() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(1));
    world.client_mut("alice").hold_offers = true;
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.run_for(Duration::from_secs(1));
    assert_eq!(
        world.client("alice").held_offers.len(),
        1,
        "bob's tracks offered"
    );

    world.restart_ice_from("alice", "room", "192.0.2.98:41000".parse().unwrap());
    assert_eq!(
        world.client("alice").held_offers.len(),
        1,
        "offered again after the restart's answer"
    );
    world.release_offers("alice");
    let got_bob = world.run_until(Duration::from_secs(5), |w| {
        w.client("alice").frames_from("bob").count() > 10
    });
    assert!(got_bob);
    assert_identical_frames(&world, "alice", "bob");
}

#[test]
fn lost_packets_are_repaired_both_ways() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    world.join("carol", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(1));
    // Alice's uplink (the SFU NACKs her) and bob's downlink (bob NACKs the SFU, which
    // resends from its RTX cache) lose 5 %; carol's link is clean.
    world.set_loss("alice", 5);
    world.set_loss("bob", 5);
    let video = |w: &World, name: &str| {
        w.client(name)
            .frames_from("alice")
            .filter(|f| f.kind.is_video())
            .count()
    };
    let (bob_before, carol_before) = (video(&world, "bob"), video(&world, "carol"));
    let sent_before = world
        .client("alice")
        .sent
        .iter()
        .filter(|f| f.kind.is_video())
        .count();
    world.run_for(Duration::from_secs(5));
    let sent = world
        .client("alice")
        .sent
        .iter()
        .filter(|f| f.kind.is_video())
        .count()
        - sent_before;

    // Without retransmission about one video frame in ten would be lost on each link.
    for (name, before) in [("bob", bob_before), ("carol", carol_before)] {
        let got = video(&world, name) - before;
        assert!(
            got * 100 >= sent * 97,
            "{name} got {got} of {sent} video frames"
        );
        assert_identical_frames(&world, name, "alice");
    }
}
