//! The media engine against a minimal in-test SFU (`support::relay`): an ICE-lite str0m peer
//! per client on one 127.0.0.1 socket that forwards each client's frames, unchanged, to the
//! others (the "h" layer only when simulcast), and remembers every frame it saw on the wire.

mod support;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sealroom_client::media::{Media, MediaConfig, MediaError, SyntheticMedia};
use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring};
use str0m::media::{MediaKind, Rid};

use support::relay::{Relay, SeenFrame};
use support::{
    AUDIO_AND_VIDEO, BASE_KEY, EPOCH, OTHER_BASE_KEY, SUITE, connect, eventually, forward_tracks,
    keyring, start,
};

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_decrypt_each_other_through_the_relay() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, alice_id) =
        connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, alice_id, &alice, 2).await;
    forward_tracks(&relay, bob_id, &bob, 2).await;

    let received_from = |media: &Media, leaf: u32| {
        media
            .stats()
            .per_sender
            .get(&leaf)
            .is_some_and(|s| s.audio_frames >= 25 && s.video_frames >= 15)
    };
    eventually("both receive audio and video from the other", async || {
        received_from(&alice, 2) && received_from(&bob, 1)
    })
    .await;

    for (media, other) in [(&alice, 2), (&bob, 1)] {
        let stats = media.stats();
        assert_eq!(
            stats.per_sender.keys().copied().collect::<Vec<_>>(),
            [other]
        );
        let sender = &stats.per_sender[&other];
        assert!(sender.payload_intact, "{stats:?}");
        assert_eq!(sender.last_epoch, EPOCH);
        assert!(sender.bytes > 15 * 3_000, "{stats:?}");
        assert!(stats.decrypt_failures.is_empty(), "{stats:?}");
        assert!(
            stats
                .first_decrypted_at
                .is_some_and(|t| t < origin.elapsed())
        );
        assert!(stats.ice_connected);
        assert!(stats.audio_frames_sent > 0 && stats.video_frames_sent > 0);
        assert!(stats.keyframes_sent >= 1);
        assert_eq!(stats.frames_dropped_no_key, 0);
        assert_eq!(stats.frames_dropped_unsendable, 0);

        let json = serde_json::to_value(&stats).expect("stats serialize");
        assert_eq!(
            json["per_sender"][other.to_string()]["payload_intact"],
            true
        );
    }

    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_leaves_the_client_unprotected() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, alice_id) =
        connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;

    eventually("the relay sees audio and video", async || {
        let seen = relay.seen().await;
        count(&seen, alice_id, MediaKind::Audio) >= 50
            && count(&seen, alice_id, MediaKind::Video) >= 30
    })
    .await;

    // The relay holds the group key only to check what crossed the wire.
    let wire_keys = keyring(9, BASE_KEY);
    let seen = relay.seen().await;
    for frame in &seen {
        let clear = wire_keys
            .lock()
            .unwrap()
            .unprotect(Duration::ZERO, &frame.data)
            .expect("every frame on the wire is SFrame-protected under the group key");
        assert_eq!(clear.sender_index, 1);
        let expected_clear = match (frame.kind, frame.keyframe) {
            (MediaKind::Audio, _) => 0,
            (MediaKind::Video, true) => 10,
            (MediaKind::Video, false) => 3,
        };
        assert_eq!(clear.clear_prefix_len, expected_clear, "{:?}", frame.kind);
        assert_eq!(
            frame.data[..expected_clear],
            clear.payload[..expected_clear]
        );
    }
    assert!(
        seen.iter().any(|f| f.keyframe),
        "the SFU tells key frames from the clear VP8 header"
    );

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_without_an_epoch_sends_nothing() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let keys = Arc::new(Mutex::new(MediaKeyring::new(SUITE)));
    let (offer, alice) = start(Some(AUDIO_AND_VIDEO), keys.clone(), origin).await;
    let (alice_id, answer) = relay.join(offer).await;
    alice.accept_answer(&answer).await.expect("answer accepted");
    assert!(matches!(
        alice.accept_answer(&answer).await,
        Err(MediaError::NoPendingOffer)
    ));

    eventually("frames are produced and dropped", async || {
        let stats = alice.stats();
        stats.ice_connected && stats.frames_dropped_no_key >= 20
    })
    .await;
    let stats = alice.stats();
    assert_eq!((stats.audio_frames_sent, stats.video_frames_sent), (0, 0));
    assert!(relay.seen().await.is_empty(), "nothing reached the SFU");

    keys.lock()
        .unwrap()
        .install_epoch(origin.elapsed(), EPOCH, &BASE_KEY, 1)
        .unwrap();
    eventually("video flows once the epoch is installed", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 1
    })
    .await;
    let seen = relay.seen().await;
    let first_video = seen.iter().find(|f| f.kind == MediaKind::Video).unwrap();
    assert!(
        first_video.keyframe,
        "frames dropped for want of a key make the first one sent a key frame"
    );
    let wire_keys = keyring(9, BASE_KEY);
    for frame in &seen {
        assert!(
            wire_keys
                .lock()
                .unwrap()
                .unprotect(Duration::ZERO, &frame.data)
                .is_ok()
        );
    }

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_with_another_epoch_secret_decrypts_nothing() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let (alice, _) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (mallory, mallory_id) = connect(&relay, None, keyring(2, OTHER_BASE_KEY), origin).await;
    forward_tracks(&relay, mallory_id, &mallory, 2).await;

    eventually("the frames arrive", async || {
        mallory
            .stats()
            .decrypt_failures
            .get("authentication_failed")
            .is_some_and(|n| *n >= 40)
    })
    .await;
    let stats = mallory.stats();
    assert!(stats.per_sender.is_empty(), "{stats:?}");
    assert_eq!(stats.first_decrypted_at, None);
    assert_eq!(
        stats.decrypt_failures.keys().collect::<Vec<_>>(),
        ["authentication_failed"]
    );

    alice.stop().await;
    mallory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_layers_reach_the_sfu_with_visible_key_frames() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: true,
    };
    let (alice, alice_id) = connect(&relay, Some(publish), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, None, keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, bob_id, &bob, 1).await;

    let layer = |seen: &[SeenFrame], rid: &str| -> Vec<SeenFrame> {
        seen.iter()
            .filter(|f| f.from == alice_id && f.rid == Some(Rid::from(rid)))
            .cloned()
            .collect()
    };
    eventually(
        "both layers reach the relay and h reaches bob",
        async || {
            let seen = relay.seen().await;
            layer(&seen, "h").len() >= 20
                && layer(&seen, "l").len() >= 20
                && bob
                    .stats()
                    .per_sender
                    .get(&1)
                    .is_some_and(|s| s.video_frames >= 10)
        },
    )
    .await;

    let seen = relay.seen().await;
    assert!(
        seen.iter().all(|f| f.rid.is_some()),
        "every frame names its layer"
    );
    let (high, low) = (layer(&seen, "h"), layer(&seen, "l"));
    assert!(high.iter().any(|f| f.keyframe) && low.iter().any(|f| f.keyframe));
    let average_delta = |frames: &[SeenFrame]| {
        let deltas: Vec<_> = frames.iter().filter(|f| !f.keyframe).collect();
        deltas.iter().map(|f| f.data.len()).sum::<usize>() as f64 / deltas.len() as f64
    };
    let ratio = average_delta(&low) / average_delta(&high);
    assert!((0.15..0.35).contains(&ratio), "l/h size ratio {ratio}");

    let stats = bob.stats();
    assert!(stats.per_sender[&1].payload_intact, "{stats:?}");
    assert!(stats.decrypt_failures.is_empty(), "{stats:?}");
    assert!(alice.stats().video_frames_sent >= 40);

    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulcast_declined_by_the_sfu_sends_the_full_layer_alone() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: true,
    };
    let (offer, alice) = start(Some(publish), keyring(1, BASE_KEY), origin).await;
    // An SFU without simulcast support ignores the rid and simulcast lines.
    let offer: String = offer
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("a=rid:") && !line.starts_with("a=simulcast:"))
        .collect();
    let (alice_id, answer) = relay.join(offer).await;
    alice.accept_answer(&answer).await.expect("answer accepted");

    eventually("video reaches the relay", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 20
    })
    .await;
    let seen = relay.seen().await;
    assert!(seen.iter().all(|f| f.rid.is_none()));
    let first = &seen[0];
    assert!(
        first.keyframe && first.data.len() > 15_000,
        "a full-size key frame"
    );
    let stats = alice.stats();
    assert_eq!(stats.frames_dropped_unsendable, 0, "{stats:?}");

    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_request_from_the_sfu_is_honoured() {
    let origin = Instant::now();
    let relay = Relay::start().await;
    let publish = SyntheticMedia {
        audio: false,
        video: true,
        simulcast: false,
    };
    let (alice, alice_id) = connect(&relay, Some(publish), keyring(1, BASE_KEY), origin).await;

    eventually("video reaches the relay", async || {
        count(&relay.seen().await, alice_id, MediaKind::Video) >= 5
    })
    .await;
    assert!(relay.request_keyframe(alice_id).await, "PLI sent");
    eventually("a second key frame arrives", async || {
        relay.seen().await.iter().filter(|f| f.keyframe).count() >= 2
    })
    .await;

    let seen = relay.seen().await;
    let second = seen
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    assert!(
        second < 60,
        "key frame {second} came on request, not on schedule"
    );
    assert!(alice.stats().keyframes_sent >= 2);

    alice.stop().await;
}

#[tokio::test]
async fn misuse_is_refused_with_a_reason() {
    let keys = Arc::new(Mutex::new(MediaKeyring::new(CipherSuite::AesGcm256Sha512)));
    let config = MediaConfig {
        bind_ip: Ipv4Addr::LOCALHOST.into(),
        publish: None,
        suite: SUITE,
    };
    let refused = Media::start(config.clone(), keys, Instant::now()).await;
    assert!(matches!(refused, Err(MediaError::SuiteMismatch { .. })));

    let (media, offer) = Media::start(config, keyring(1, BASE_KEY), Instant::now())
        .await
        .unwrap();
    assert!(
        offer.contains("m=application"),
        "receive-only offers a data channel"
    );
    assert!(matches!(
        media.accept_answer("not sdp").await,
        Err(MediaError::InvalidSdp(_))
    ));
    assert!(matches!(
        media.accept_offer("v=0\r\n").await,
        Err(MediaError::InvalidSdp(_))
    ));
    media.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn count(seen: &[SeenFrame], from: usize, kind: MediaKind) -> usize {
    seen.iter()
        .filter(|f| f.from == from && f.kind == kind)
        .count()
}
