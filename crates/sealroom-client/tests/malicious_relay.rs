//! The media side of "malicious server": the in-test relay (`support::relay`) misbehaves
//! between real clients, and each test says whether the receiving client *refuses* the frames
//! (drops them, counted under a decrypt-failure reason, never counted as anyone's media) or
//! *flags* them. The MLS side (a server-proposed Add nobody committed) is tested with the group.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use sealroom_client::media::{Media, MediaStats};
use sealroom_e2ee::sframe::{Header, mls_kid};
use str0m::media::MediaKind;

use support::relay::{Forward, Outgoing, Relay, Written};
use support::{AUDIO_AND_VIDEO, BASE_KEY, EPOCH, connect, eventually, forward_tracks, keyring};

/// Refused. After every 5th video frame and every 5th audio frame from Alice, the relay slips
/// an unencrypted VP8 key frame or Opus frame into Alice's own track towards Bob, and after
/// every 5th audio frame also an Opus frame dressed up as SFrame under Alice's KID (header
/// and trailer right, no encryption). Bob refuses every one: the plaintext as `unknown_kid`
/// (its first bytes parse as an SFrame header naming no epoch the group holds), the dressed-up
/// frame as `authentication_failed`. None is counted in `per_sender`, and every genuine frame
/// is decrypted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_frames_injected_by_the_server_are_never_shown() {
    let origin = Instant::now();
    let mut forwarded = BTreeMap::<bool, u64>::new();
    let relay = Relay::misbehaving(move |frame: &Forward| {
        let mut out = vec![Outgoing::honest(frame)];
        let video = frame.kind == MediaKind::Video;
        let n = forwarded.entry(video).or_default();
        *n += 1;
        if n.is_multiple_of(5) {
            out.push(Outgoing {
                track_of: frame.from,
                data: plaintext(frame.kind).into(),
                label: "plaintext",
            });
            if !video {
                let mut forged = Header::new(mls_kid(1, EPOCH), 1_000_000 + *n).encode();
                forged.extend_from_slice(&plaintext(frame.kind));
                forged.push(0);
                out.push(Outgoing {
                    track_of: frame.from,
                    data: forged.into(),
                    label: "sframe_shaped",
                });
            }
        }
        out
    })
    .await;
    let (alice, _) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, None, keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, bob_id, &bob, 2).await;

    eventually("plaintext of both kinds reaches Bob", async || {
        let written = relay.written().await;
        labelled(&written, bob_id, "plaintext", MediaKind::Audio) >= 10
            && labelled(&written, bob_id, "plaintext", MediaKind::Video) >= 6
    })
    .await;
    let (stats, written) = settled(alice, &bob, bob_id, &relay).await;

    let injected = labelled(&written, bob_id, "plaintext", MediaKind::Audio)
        + labelled(&written, bob_id, "plaintext", MediaKind::Video);
    let shaped = labelled(&written, bob_id, "sframe_shaped", MediaKind::Audio);
    assert_genuine_counted_once(&stats, &written, bob_id, 1);
    assert_eq!(
        stats.decrypt_failures,
        BTreeMap::from([
            ("authentication_failed".to_owned(), shaped as u64),
            ("unknown_kid".to_owned(), injected as u64),
        ]),
    );

    bob.stop().await;
}

/// Refused. The relay sends Bob every frame of Alice twice, and once each kind is well under
/// way, a burst of the first 10 frames of that kind it forwarded. Bob decrypts each genuine
/// frame once and counts every copy, immediate or old, as `replayed` (the old ones are still
/// within the 1,024-counter replay window; frames older than that are `too_old`, tested in
/// sealroom-e2ee's `frame_older_than_replay_window_is_rejected`), and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_replayed_by_the_server_are_refused() {
    const OLD: usize = 10;
    // Well under way: Alice's counter (shared by audio and video, ~80 frames/s) has moved on
    // by about 200 from the first frames forwarded.
    let burst_at = |kind| match kind {
        MediaKind::Audio => 120,
        MediaKind::Video => 75,
    };
    let origin = Instant::now();
    let mut history = BTreeMap::<bool, Vec<_>>::new();
    let relay = Relay::misbehaving(move |frame: &Forward| {
        let earlier = history.entry(frame.kind == MediaKind::Video).or_default();
        earlier.push(frame.data.clone());
        let copy = Outgoing {
            label: "copy",
            ..Outgoing::honest(frame)
        };
        let mut out = vec![Outgoing::honest(frame), copy];
        if earlier.len() == burst_at(frame.kind) {
            out.extend(earlier[..OLD].iter().map(|data| Outgoing {
                track_of: frame.from,
                data: data.clone(),
                label: "old",
            }));
        }
        out
    })
    .await;
    let (alice, _) = connect(&relay, Some(AUDIO_AND_VIDEO), keyring(1, BASE_KEY), origin).await;
    let (bob, bob_id) = connect(&relay, None, keyring(2, BASE_KEY), origin).await;
    forward_tracks(&relay, bob_id, &bob, 2).await;

    eventually("both bursts of old frames are sent", async || {
        labelled(&relay.written().await, bob_id, "old", MediaKind::Audio) == OLD
            && labelled(&relay.written().await, bob_id, "old", MediaKind::Video) == OLD
    })
    .await;
    let (stats, written) = settled(alice, &bob, bob_id, &relay).await;

    assert_genuine_counted_once(&stats, &written, bob_id, 1);
    let copies = labelled(&written, bob_id, "copy", MediaKind::Audio)
        + labelled(&written, bob_id, "copy", MediaKind::Video);
    let genuine = labelled(&written, bob_id, "genuine", MediaKind::Audio)
        + labelled(&written, bob_id, "genuine", MediaKind::Video);
    assert_eq!(copies, genuine, "every frame was sent twice");
    assert_eq!(
        stats.decrypt_failures,
        BTreeMap::from([("replayed".to_owned(), (copies + 2 * OLD) as u64)])
    );

    bob.stop().await;
}

/// Refused, for the server's purpose: it cannot make Alice pass for Bob. Towards Carol the
/// relay drops Bob's frames and sends Alice's on Bob's tracks (Bob's mids and SSRCs), plus,
/// after every 10th audio frame, a copy of Alice's frame whose SFrame KID it rewrote to Bob's.
/// Carol counts everything under Alice's leaf index and nothing under Bob's: the sender comes
/// from the SFrame KID, which the sender's key authenticates, never from the SSRC or mid (the
/// engine does not even know which track is whose). The rewritten KID selects Bob's key, under
/// which the frame does not authenticate: `authentication_failed`.
///
/// Not flagged: the native engine has no mapping from track to announced sender to compare
/// the KID against, so a relabelled track is noticed only by where its frames are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_relabelled_with_another_senders_track_keep_their_true_sender() {
    const ALICE: u32 = 1;
    const BOB: u32 = 2;
    let origin = Instant::now();
    // Client ids at the relay, in join order.
    let (alice_id, bob_id, carol_id) = (0, 1, 2);
    let mut audio_forwarded = 0_u64;
    let relay = Relay::misbehaving(move |frame: &Forward| {
        if frame.to != carol_id {
            return vec![Outgoing::honest(frame)];
        }
        if frame.from == bob_id {
            return Vec::new();
        }
        let mut out = vec![Outgoing {
            track_of: bob_id,
            data: frame.data.clone(),
            label: "relabelled",
        }];
        if frame.kind == MediaKind::Audio {
            audio_forwarded += 1;
            if audio_forwarded.is_multiple_of(10) {
                out.push(Outgoing {
                    track_of: bob_id,
                    data: with_kid(frame.data, mls_kid(BOB, EPOCH)).into(),
                    label: "kid_rewritten",
                });
            }
        }
        out
    })
    .await;
    let (alice, id) = connect(
        &relay,
        Some(AUDIO_AND_VIDEO),
        keyring(ALICE, BASE_KEY),
        origin,
    )
    .await;
    assert_eq!(id, alice_id);
    let (bob, id) = connect(
        &relay,
        Some(AUDIO_AND_VIDEO),
        keyring(BOB, BASE_KEY),
        origin,
    )
    .await;
    assert_eq!(id, bob_id);
    let (carol, id) = connect(&relay, None, keyring(3, BASE_KEY), origin).await;
    assert_eq!(id, carol_id);
    forward_tracks(&relay, carol_id, &carol, 4).await;

    eventually("Carol gets Alice's media on Bob's tracks", async || {
        carol
            .stats()
            .per_sender
            .get(&ALICE)
            .is_some_and(|s| s.audio_frames >= 50 && s.video_frames >= 30)
    })
    .await;
    bob.stop().await;
    let (stats, written) = settled(alice, &carol, carol_id, &relay).await;

    let to_carol: Vec<&Written> = written.iter().filter(|w| w.to == carol_id).collect();
    assert!(
        to_carol.iter().all(|w| w.track_of == bob_id),
        "nothing went out on Alice's own tracks"
    );
    assert!(to_carol.iter().all(|w| w.label != "genuine"));
    let relabelled = |kind| labelled(&written, carol_id, "relabelled", kind) as u64;
    let sender = &stats.per_sender[&ALICE];
    assert_eq!(sender.audio_frames, relabelled(MediaKind::Audio));
    assert_eq!(sender.video_frames, relabelled(MediaKind::Video));
    assert!(sender.payload_intact, "{stats:?}");
    assert_eq!(
        stats.per_sender.keys().copied().collect::<Vec<_>>(),
        [ALICE],
        "nothing is attributed to Bob"
    );
    let rewritten = labelled(&written, carol_id, "kid_rewritten", MediaKind::Audio);
    assert!(rewritten >= 5, "{rewritten}");
    assert_eq!(
        stats.decrypt_failures,
        BTreeMap::from([("authentication_failed".to_owned(), rewritten as u64)])
    );

    carol.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A plausible unencrypted frame: a VP8 key frame (frame tag, start code, 640x480) or an Opus
/// CELT frame, as a server would inject them.
fn plaintext(kind: MediaKind) -> Vec<u8> {
    let (header, len): (&[u8], usize) = match kind {
        MediaKind::Video => (
            &[0x10, 0x08, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01],
            2_000,
        ),
        MediaKind::Audio => (&[0xf8], 100),
    };
    let mut frame = header.to_vec();
    frame.extend((header.len()..len).map(|i| (i * 37 + 11) as u8));
    frame
}

/// `wire`, a protected frame, with its SFrame KID replaced by `kid` and all else unchanged.
fn with_kid(wire: &[u8], kid: u64) -> Vec<u8> {
    let clear_prefix_len = usize::from(*wire.last().expect("a trailer"));
    let (header, header_len) = Header::decode(&wire[clear_prefix_len..]).expect("SFrame header");
    let mut forged = wire[..clear_prefix_len].to_vec();
    Header::new(kid, header.ctr).encode_into(&mut forged);
    forged.extend_from_slice(&wire[clear_prefix_len + header_len..]);
    forged
}

fn labelled(written: &[Written], to: usize, label: &str, kind: MediaKind) -> usize {
    written
        .iter()
        .filter(|w| w.to == to && w.label == label && w.kind == kind)
        .count()
}

/// Stops `sender` and waits until `receiver` has handled every frame the relay wrote to it
/// (each one decrypted or refused); returns what it counted and what the relay wrote.
async fn settled(
    sender: Media,
    receiver: &Media,
    receiver_id: usize,
    relay: &Relay,
) -> (MediaStats, Vec<Written>) {
    sender.stop().await;
    let mut last = None;
    eventually(
        "the receiver handled every frame written to it",
        async || {
            let written = relay.written().await;
            let stats = receiver.stats();
            let handled: u64 = stats
                .per_sender
                .values()
                .map(|s| s.audio_frames + s.video_frames)
                .chain(stats.decrypt_failures.values().copied())
                .sum();
            let to_receiver = written.iter().filter(|w| w.to == receiver_id).count() as u64;
            let done = handled == to_receiver;
            last = Some((stats, written));
            done
        },
    )
    .await;
    last.expect("checked at least once")
}

/// Every frame written to `to` labelled "genuine" was decrypted once as `leaf`'s, nothing else
/// was, and its payloads are intact.
fn assert_genuine_counted_once(stats: &MediaStats, written: &[Written], to: usize, leaf: u32) {
    assert_eq!(
        stats.per_sender.keys().copied().collect::<Vec<_>>(),
        [leaf],
        "{stats:?}"
    );
    let sender = &stats.per_sender[&leaf];
    assert_eq!(
        (sender.audio_frames, sender.video_frames),
        (
            labelled(written, to, "genuine", MediaKind::Audio) as u64,
            labelled(written, to, "genuine", MediaKind::Video) as u64,
        )
    );
    assert!(
        sender.audio_frames >= 50 && sender.video_frames >= 30,
        "{stats:?}"
    );
    assert!(sender.payload_intact, "{stats:?}");
}
