//! A malicious peer sends garbage; a curious server looks at what it forwards.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealroom_e2ee::sframe::{CipherSuite, MediaKeyring, mls_exporter_length};
use sealroom_sfu::SfuError;
use str0m::Rtc;
use str0m::media::{Direction, MediaKind};

use crate::harness::{PLAINTEXT_MARKER, Publish, World};

#[test]
fn garbage_packets_are_dropped_and_counted() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));
    let dropped_before = world.sfu.stats().dropped_packets;

    let stranger: SocketAddr = "198.51.100.7:9999".parse().expect("address");
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42], // truncated STUN
        vec![0x16, 0xfe, 0xfd, 0x00, 0x00, 0xff],             // truncated DTLS
        vec![0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2], // bare RTP header
        vec![0x81, 0xc8, 0x00, 0x01],                         // truncated RTCP
        vec![0xff; 1500],
    ];
    for contents in &garbage {
        world.inject(stranger, contents);
    }
    // Pseudo-random datagrams of every first byte.
    let mut x: u32 = 0x1234_5678;
    for n in 0..2000u32 {
        let len = (n % 300) as usize;
        let contents: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let from: SocketAddr = SocketAddr::from(([203, 0, 113, (n % 200) as u8], 1000 + n as u16));
        world.inject(from, &contents);
    }
    let dropped = world.sfu.stats().dropped_packets - dropped_before;
    assert_eq!(
        dropped,
        garbage.len() as u64 + 2000,
        "every stray datagram is counted"
    );

    // Garbage from a participant's own address is refused by its connection, which stays up.
    let alice = world.client("alice").addr;
    for contents in &garbage {
        world.inject(alice, contents);
    }
    let frames = world.client("bob").frames_from("alice").count();
    world.run_for(Duration::from_secs(1));
    assert!(world.client("bob").frames_from("alice").count() > frames + 40);
    assert_eq!(world.sfu.stats().participants, 2);
}

#[test]
fn malformed_or_misplaced_sdp_is_an_error() {
    let mut world = World::new();
    let now = world.now;
    let sfu = &mut world.sfu;
    assert!(matches!(
        sfu.add_participant(now, "room", "mallory", "v=0\r\nthis is not sdp"),
        Err(SfuError::InvalidSdp(_))
    ));

    let mut rtc = Rtc::new(now);
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _pending) = change.apply().expect("offer");
    let offer = offer.to_sdp_string();
    let without_fingerprint: String = offer
        .split("\r\n")
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert!(matches!(
        sfu.add_participant(now, "room", "mallory", without_fingerprint.trim_end()),
        Err(SfuError::OfferRejected(_) | SfuError::InvalidSdp(_))
    ));
    assert_eq!(sfu.stats().participants, 0, "nothing left behind");

    sfu.add_participant(now, "room", "mallory", &offer)
        .expect("valid offer");
    assert!(matches!(
        sfu.add_participant(now, "elsewhere", "mallory", &offer),
        Err(SfuError::ParticipantExists(_))
    ));
    // A second offer in its own room renegotiates; it makes no second participant.
    sfu.add_participant(now, "room", "mallory", &offer)
        .expect("renegotiated");
    assert_eq!(sfu.stats().participants, 1);
    assert!(matches!(
        sfu.accept_answer("nobody", &offer),
        Err(SfuError::UnknownParticipant(_))
    ));
    assert!(matches!(
        sfu.accept_answer("mallory", "garbage"),
        Err(SfuError::InvalidSdp(_))
    ));
    assert!(matches!(
        sfu.accept_answer("mallory", &offer),
        Err(SfuError::NoPendingOffer(_))
    ));
    assert_eq!(sfu.stats().participants, 1);
}

#[test]
fn bad_answer_is_rejected_and_offered_again() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    world.client_mut("bob").hold_offers = true;
    assert!(world.run_until(Duration::from_secs(2), |w| {
        !w.client("bob").held_offers.is_empty()
    }));

    // An answer to a different offer (alice's initial one, say) does not fit.
    let offer = world.client_mut("bob").held_offers.remove(0);
    let mut stranger = Rtc::new(world.now);
    let mut change = stranger.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (unrelated, _pending) = change.apply().expect("offer");
    let unrelated_answer = Rtc::new(world.now)
        .sdp_api()
        .accept_offer(unrelated)
        .expect("answer")
        .to_sdp_string();
    let result = world.sfu.accept_answer("bob", &unrelated_answer);
    assert!(
        matches!(result, Err(SfuError::AnswerRejected(_))),
        "{result:?}"
    );

    // The SFU offers the same tracks again; answering that one works.
    world.run_for(Duration::from_millis(50));
    let fresh = &world.client("bob").held_offers;
    assert_eq!(fresh.len(), 1, "a fresh offer");
    assert_ne!(fresh[0], offer);
    world.release_offers("bob");
    world.run_for(Duration::from_secs(2));
    assert!(world.client("bob").frames_from("alice").count() > 50);
}

#[test]
fn curious_server_sees_only_ciphertext() {
    let suite = CipherSuite::AesGcm128Sha256;
    let epoch_secret = vec![7u8; mls_exporter_length(suite)];
    let keyring = |sender_index: u32| {
        let mut k = MediaKeyring::new(suite);
        k.install_epoch(Duration::ZERO, 1, &epoch_secret, sender_index)
            .expect("epoch");
        k
    };

    let mut world = World::new();
    let forwarded: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = forwarded.clone();
    world
        .sfu
        .set_payload_tap(Some(Box::new(move |payload: &[u8]| {
            seen.lock().expect("tap lock").push(payload.to_vec());
        })));

    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::NOTHING);
    let mut alice_keys = keyring(0);
    world.client_mut("alice").protect = Some(Box::new(move |kind, keyframe, frame| {
        // What the real client leaves clear: the VP8 frame tag (10 bytes on keyframes, 3
        // otherwise); nothing of Opus.
        let clear = match (kind, keyframe) {
            (MediaKind::Audio, _) => 0,
            (MediaKind::Video, true) => 10,
            (MediaKind::Video, false) => 3,
        };
        alice_keys.protect(clear, &frame).expect("protect")
    }));
    world.run_for(Duration::from_secs(3));

    let forwarded = forwarded.lock().expect("tap lock");
    assert!(
        forwarded.len() > 200,
        "the tap saw {} payloads",
        forwarded.len()
    );
    let leaks = forwarded
        .iter()
        .filter(|p| {
            p.windows(PLAINTEXT_MARKER.len())
                .any(|w| w == PLAINTEXT_MARKER)
        })
        .count();
    assert_eq!(leaks, 0, "no forwarded payload carries plaintext");
    assert_eq!(world.sfu.stats().forwarded_packets, forwarded.len() as u64);

    // Bob, holding the key, recovers alice's media from the very bytes the SFU forwarded.
    let mut bob_keys = keyring(1);
    let mut decrypted = 0;
    for frame in world.client("bob").frames_from("alice") {
        let sent = world
            .client("alice")
            .sent_frame(&frame.data)
            .expect("byte-identical");
        let plain = bob_keys
            .unprotect(Duration::ZERO, &sent.data)
            .expect("bob decrypts alice's frame");
        assert!(
            plain
                .payload
                .windows(PLAINTEXT_MARKER.len())
                .any(|w| w == PLAINTEXT_MARKER)
        );
        decrypted += 1;
    }
    assert!(decrypted > 150, "bob decrypted {decrypted} frames");
}

/// Alice publishes far above her share (the budget here is set below what her camera sends):
/// the SFU drops her excess before copying it to anyone, counts it, and Carol's audio still
/// reaches Bob in full.
#[test]
fn a_publisher_over_its_budget_is_cut_down_and_the_others_flow() {
    let mut world = World::with_config(|config| config.max_publish_bps = 60_000);
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join(
        "carol",
        "room",
        Publish {
            video: false,
            ..Publish::AUDIO_VIDEO
        },
    );
    world.join("bob", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(1));
    let (alice_before, carol_before) = (
        world.identical_frames("bob", "alice"),
        world.identical_frames("bob", "carol"),
    );
    let over_before = world.sfu.stats().over_budget_packets;
    world.run_for(Duration::from_secs(3));
    let alice = world.identical_frames("bob", "alice");
    let carol = world.identical_frames("bob", "carol");
    let over = world.sfu.stats().over_budget_packets - over_before;
    println!(
        "in 3 s: {over} of alice's packets over budget; bob got {} of her camera frames, {} of carol's audio frames",
        alice.camera - alice_before.camera,
        carol.audio - carol_before.audio
    );
    assert!(over > 50, "alice's excess is dropped");
    assert!(
        carol.audio - carol_before.audio >= 145,
        "carol's audio flows in full: {carol:?}"
    );
}

/// Eve is in the room's SFU and connected, but the server has not let her receive (she is not
/// in the encrypted group): the SFU offers her no track and sends her no packet, so not even
/// the audio level of whoever speaks reaches her. Let in, she gets everyone's frames; shut out
/// again, no more.
#[test]
fn a_participant_not_let_receive_gets_nothing() {
    let mut world = World::new();
    world.join("alice", "room", Publish::AUDIO_VIDEO);
    world.join("bob", "room", Publish::AUDIO_VIDEO);
    world.join_without_receiving("eve", "room", Publish::NOTHING);
    world.run_for(Duration::from_secs(2));
    assert!(world.client("eve").connected);
    assert!(world.client("bob").frames_from("alice").count() > 40);
    let eve = world.client("eve");
    assert!(
        eve.receiving.is_empty() && eve.received.is_empty() && eve.offers_answered == 0,
        "eve was offered {:?} and got {} frames",
        eve.receiving,
        eve.received.len()
    );
    world.set_receives_media("eve", true);
    let received_both = world.run_until(Duration::from_secs(5), |w| {
        ["alice", "bob"].iter().all(|publisher| {
            let counts = w.identical_frames("eve", publisher);
            counts.audio > 10 && counts.camera > 10
        })
    });
    assert!(
        received_both,
        "eve got {} frames",
        world.client("eve").received.len()
    );

    world.set_receives_media("eve", false);
    world.run_for(Duration::from_millis(100));
    let shut_out_at = world.client("eve").received.len();
    world.run_for(Duration::from_secs(1));
    assert_eq!(world.client("eve").received.len(), shut_out_at);
}
