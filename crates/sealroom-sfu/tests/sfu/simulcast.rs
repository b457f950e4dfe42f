//! One simulcast layer per receiver: the highest by default, lower when its bandwidth
//! estimate says so, switching only at keyframes.

use std::time::Duration;

use str0m::media::Rid;

use crate::harness::{Publish, World};

/// The layers of the video frames `receiver` got from `publisher`, with whether each was a
/// keyframe; every frame must be one the publisher sent.
fn received_layers(world: &World, receiver: &str, publisher: &str) -> Vec<(Option<Rid>, bool)> {
    let sender = world.client(publisher);
    world
        .client(receiver)
        .frames_from(publisher)
        .filter(|f| f.kind.is_video())
        .map(|f| {
            let sent = sender.sent_frame(&f.data).expect("byte-identical frame");
            (sent.layer, sent.keyframe)
        })
        .collect()
}

/// A receiver only moves to another layer at a keyframe of it.
fn assert_switches_at_keyframes(layers: &[(Option<Rid>, bool)]) {
    assert_eq!(
        layers.first().map(|(_, key)| *key),
        Some(true),
        "starts at a keyframe"
    );
    for pair in layers.windows(2) {
        if pair[0].0 != pair[1].0 {
            assert!(pair[1].1, "switch to {:?} without a keyframe", pair[1].0);
        }
    }
}

#[test]
fn receiver_gets_one_layer_the_highest() {
    let mut world = World::new();
    world.join("alice", "room", Publish::SIMULCAST);
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(4));

    let layers = received_layers(&world, "bob", "alice");
    assert!(layers.len() > 80, "bob got {} frames", layers.len());
    let h = Some(Rid::from("h"));
    assert!(
        layers.iter().all(|(layer, _)| *layer == h),
        "only h: {layers:?}"
    );
    assert_switches_at_keyframes(&layers);
    // Alice sent three layers; one reached bob.
    let sent = world.client("alice").sent.len();
    assert!(sent > 3 * layers.len() - 10);
}

#[test]
fn receiver_with_less_bandwidth_gets_a_lower_layer() {
    let mut world = World::new();
    world.join("alice", "room", Publish::SIMULCAST);
    world.join("bob", "room", Publish::NOTHING);
    world.join("carol", "room", Publish::NOTHING);
    // "h" needs about 600 kbit/s, "m" 120 kbit/s.
    world.limit_downlink("bob", 300_000);
    world.run_for(Duration::from_secs(15));

    let h = Some(Rid::from("h"));
    let bob = received_layers(&world, "bob", "alice");
    let carol = received_layers(&world, "carol", "alice");
    assert_switches_at_keyframes(&bob);
    assert_switches_at_keyframes(&carol);
    let tail = |layers: &[(Option<Rid>, bool)]| layers[layers.len().saturating_sub(60)..].to_vec();
    assert!(
        tail(&bob).iter().all(|(layer, _)| *layer != h),
        "bob's link cannot carry h: {:?}",
        tail(&bob)
    );
    assert!(tail(&bob).len() == 60, "bob still gets video");
    assert!(
        tail(&carol).iter().all(|(layer, _)| *layer == h),
        "carol keeps h"
    );
}
