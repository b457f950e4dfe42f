//! Attacks on media frames, through the `MediaKeyring` API. The attacker is the SFU or anyone
//! on the path: it can drop, replay, reorder, alter and inject frames, but holds no epoch
//! secret, except where a test says it is a (former) member.

use std::time::Duration;

use sealroom_e2ee::sframe::{
    CipherSuite, Header, MediaKeyring, REPLAY_WINDOW, SframeError, UnprotectedFrame, mls_kid,
};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
const T0: Duration = Duration::from_secs(1_000);
const GRACE: Duration = Duration::from_secs(2);
const ALICE: u32 = 0;
const BOB: u32 = 1;
const CAROL: u32 = 2;

/// The MLS exporter output for an epoch (what every member of that epoch derives).
fn epoch_secret(epoch: u64) -> [u8; 16] {
    [epoch as u8 ^ 0xa5; 16]
}

fn member(index: u32, epoch: u64) -> MediaKeyring {
    let mut keyring = MediaKeyring::with_grace(SUITE, GRACE);
    keyring
        .install_epoch(T0, epoch, &epoch_secret(epoch), index)
        .unwrap();
    keyring
}

/// A VP8 key frame start: 3-byte frame tag, start code, dimensions, then data.
const VP8_FRAME: &[u8] = b"\x10\x02\x00\x9d\x01\x2a\x80\x02\xe0\x01 compressed picture";
const VP8_CLEAR: usize = 3;

fn assert_decrypts(result: Result<UnprotectedFrame, SframeError>, sender_index: u32, frame: &[u8]) {
    let unprotected = result.expect("frame decrypts");
    assert_eq!(unprotected.sender_index, sender_index);
    assert_eq!(unprotected.payload, frame);
}

#[test]
fn replayed_frame_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let wire = alice.protect(0, b"opus frame").unwrap();
    assert_decrypts(bob.unprotect(T0, &wire), ALICE, b"opus frame");

    assert_eq!(
        bob.unprotect(T0, &wire),
        Err(SframeError::Replayed {
            sender_index: ALICE,
            ctr: 0
        })
    );
}

#[test]
fn frame_older_than_replay_window_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let frames: Vec<Vec<u8>> = (0..=REPLAY_WINDOW)
        .map(|_| alice.protect(0, b"frame").unwrap())
        .collect();
    let newest = frames.last().unwrap();
    assert_decrypts(bob.unprotect(T0, newest), ALICE, b"frame");

    // CTR 0 is REPLAY_WINDOW behind the newest: it cannot be told apart from a replay.
    assert_eq!(
        bob.unprotect(T0, &frames[0]),
        Err(SframeError::TooOld {
            sender_index: ALICE,
            ctr: 0
        })
    );
    // A late frame inside the window still plays, once.
    assert_decrypts(bob.unprotect(T0, &frames[1]), ALICE, b"frame");
    assert!(matches!(
        bob.unprotect(T0, &frames[1]),
        Err(SframeError::Replayed { ctr: 1, .. })
    ));
}

#[test]
fn forged_counter_does_not_move_replay_window() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let genuine = alice.protect(0, b"frame").unwrap();

    // Same ciphertext under a header claiming a far-ahead CTR.
    let mut forged = Header::new(mls_kid(ALICE, 1), 10_000).encode();
    forged.extend_from_slice(&genuine[1..]);
    assert_eq!(
        bob.unprotect(T0, &forged),
        Err(SframeError::AuthenticationFailed)
    );
    // Had the forgery moved the window, CTR 0 would now be too old.
    assert_decrypts(bob.unprotect(T0, &genuine), ALICE, b"frame");
}

#[test]
fn tampered_header_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let wire = alice.protect(0, b"opus frame").unwrap();
    let (header, header_len) = Header::decode(&wire).unwrap();
    assert_eq!(header, Header::new(mls_kid(ALICE, 1), 0));

    // Another counter: the header is authenticated data.
    let mut other_ctr = wire.clone();
    other_ctr[0] ^= 0x01;
    assert_eq!(
        bob.unprotect(T0, &other_ctr),
        Err(SframeError::AuthenticationFailed)
    );

    // Another sender's KID (impersonation): each KID has its own key.
    let mut other_sender = Header::new(mls_kid(CAROL, 1), 0).encode();
    other_sender.extend_from_slice(&wire[header_len..]);
    assert_eq!(
        bob.unprotect(T0, &other_sender),
        Err(SframeError::AuthenticationFailed)
    );

    assert_decrypts(bob.unprotect(T0, &wire), ALICE, b"opus frame");
}

#[test]
fn tampered_ciphertext_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let mut wire = alice.protect(0, b"opus frame").unwrap();
    wire[3] ^= 0x80;
    assert_eq!(
        bob.unprotect(T0, &wire),
        Err(SframeError::AuthenticationFailed)
    );
}

#[test]
fn tampered_tag_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let mut wire = alice.protect(0, b"opus frame").unwrap();
    let last_tag_byte = wire.len() - 2;
    wire[last_tag_byte] ^= 0x01;
    assert_eq!(
        bob.unprotect(T0, &wire),
        Err(SframeError::AuthenticationFailed)
    );

    // A tag cut short is no better.
    let wire = alice.protect(0, b"opus frame").unwrap();
    let mut truncated = wire[..wire.len() - 6].to_vec();
    truncated.push(0);
    assert_eq!(
        bob.unprotect(T0, &truncated),
        Err(SframeError::AuthenticationFailed)
    );
}

#[test]
fn tampered_clear_prefix_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let wire = alice.protect(VP8_CLEAR, VP8_FRAME).unwrap();
    assert_eq!(
        wire[..VP8_CLEAR],
        VP8_FRAME[..VP8_CLEAR],
        "prefix stays readable"
    );
    assert!(
        !wire
            .windows(8)
            .any(|w| w == &VP8_FRAME[VP8_CLEAR..VP8_CLEAR + 8]),
        "the rest is encrypted"
    );

    // An SFU turning a delta frame into a "key frame" (VP8 frame tag bit 0).
    let mut tampered = wire.clone();
    tampered[0] ^= 0x01;
    assert_eq!(
        bob.unprotect(T0, &tampered),
        Err(SframeError::AuthenticationFailed)
    );

    let unprotected = bob.unprotect(T0, &wire).unwrap();
    assert_eq!(unprotected.clear_prefix_len, VP8_CLEAR);
    assert_eq!(unprotected.payload, VP8_FRAME);
}

#[test]
fn tampered_trailer_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    // A one-byte clear prefix that itself looks like Alice's SFrame header (KID 1, CTR 0).
    let frame = b"\x10 frame";
    let wire = alice.protect(1, frame).unwrap();
    let trailer = wire.len() - 1;

    // Claiming no clear prefix: the prefix byte parses as a valid header, so only the
    // authentication of the prefix length stops it.
    let mut shorter = wire.clone();
    shorter[trailer] = 0;
    assert_eq!(
        bob.unprotect(T0, &shorter),
        Err(SframeError::AuthenticationFailed)
    );

    // Claiming a longer prefix moves the header into the ciphertext.
    let mut longer = wire.clone();
    longer[trailer] = 2;
    assert!(bob.unprotect(T0, &longer).is_err());

    // Claiming more prefix than there are bytes.
    let mut beyond = wire.clone();
    beyond[trailer] = 0xff;
    assert_eq!(
        bob.unprotect(T0, &beyond),
        Err(SframeError::ClearPrefixTooLong {
            prefix_len: 255,
            frame_len: wire.len() - 1
        })
    );

    assert_decrypts(bob.unprotect(T0, &wire), ALICE, frame);
}

#[test]
fn frame_without_sframe_header_is_rejected() {
    let mut bob = member(BOB, 1);

    assert_eq!(bob.unprotect(T0, b""), Err(SframeError::MissingTrailer));
    // Trailer 0 and nothing else: no header at all.
    assert_eq!(
        bob.unprotect(T0, b"\x00"),
        Err(SframeError::TruncatedHeader {
            needed: 1,
            available: 0
        })
    );
    // Plain VP8 (trailer byte "e" = 101 > frame length).
    assert!(matches!(
        bob.unprotect(T0, VP8_FRAME),
        Err(SframeError::ClearPrefixTooLong {
            prefix_len: 101,
            ..
        })
    ));
    // Plain Opus (TOC 0xfc, trailer 0): 0xfc announces a 8-byte KID and a 5-byte CTR.
    assert!(matches!(
        bob.unprotect(T0, b"\xfc\xff\xfe\x00"),
        Err(SframeError::TruncatedHeader { needed: 14, .. })
    ));
    // Plain bytes that happen to start like Alice's header: only authentication stops them.
    assert_eq!(
        bob.unprotect(T0, b"\x10 not encrypted at all, long enough for a tag\x00"),
        Err(SframeError::AuthenticationFailed)
    );
}

#[test]
fn unknown_kid_is_rejected() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let wire = alice.protect(0, b"frame").unwrap();
    let (_, header_len) = Header::decode(&wire).unwrap();

    // An epoch Bob does not hold (epoch bits 7).
    let mut other_epoch = Header::new(mls_kid(ALICE, 7), 0).encode();
    other_epoch.extend_from_slice(&wire[header_len..]);
    assert_eq!(
        bob.unprotect(T0, &other_epoch),
        Err(SframeError::UnknownKid {
            kid: mls_kid(ALICE, 7)
        })
    );

    // A non-zero context: never handed out by this key schedule.
    let foreign_kid = u64::MAX;
    let mut foreign = Header::new(foreign_kid, 0).encode();
    foreign.extend_from_slice(&wire[header_len..]);
    assert_eq!(
        bob.unprotect(T0, &foreign),
        Err(SframeError::UnknownKid { kid: foreign_kid })
    );
}

#[test]
fn reflected_own_frame_is_rejected() {
    let mut alice = member(ALICE, 1);
    let wire = alice.protect(0, b"frame").unwrap();
    assert_eq!(
        alice.unprotect(T0, &wire),
        Err(SframeError::ReflectedFrame {
            kid: mls_kid(ALICE, 1)
        })
    );
}

#[test]
fn wrong_epoch_secret_cannot_decrypt() {
    let mut alice = member(ALICE, 1);
    // Mallory knows the epoch number but not its secret.
    let mut mallory = MediaKeyring::new(SUITE);
    mallory.install_epoch(T0, 1, &[0x42; 16], CAROL).unwrap();

    let wire = alice.protect(0, b"frame").unwrap();
    assert_eq!(
        mallory.unprotect(T0, &wire),
        Err(SframeError::AuthenticationFailed)
    );

    // Nor can she inject frames that members accept.
    let injected = mallory.protect(0, b"injected").unwrap();
    assert_eq!(
        alice.unprotect(T0, &injected),
        Err(SframeError::AuthenticationFailed)
    );
}

#[test]
fn previous_epoch_frames_decrypt_within_grace_period() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let in_flight = alice.protect(0, b"sent in epoch 1").unwrap();

    alice.install_epoch(T0, 2, &epoch_secret(2), ALICE).unwrap();
    bob.install_epoch(T0, 2, &epoch_secret(2), BOB).unwrap();
    let current = alice.protect(0, b"sent in epoch 2").unwrap();

    let just_in_time = T0 + GRACE - Duration::from_millis(1);
    let late = bob.unprotect(just_in_time, &in_flight).unwrap();
    assert_eq!(
        (late.epoch, late.payload.as_slice()),
        (1, &b"sent in epoch 1"[..])
    );
    let fresh = bob.unprotect(just_in_time, &current).unwrap();
    assert_eq!(
        (fresh.epoch, fresh.payload.as_slice()),
        (2, &b"sent in epoch 2"[..])
    );
}

#[test]
fn previous_epoch_frames_are_rejected_after_grace_period() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let in_flight = alice.protect(0, b"sent in epoch 1").unwrap();
    bob.install_epoch(T0, 2, &epoch_secret(2), BOB).unwrap();

    assert_eq!(
        bob.unprotect(T0 + GRACE, &in_flight),
        Err(SframeError::EpochExpired { epoch: 1 })
    );
}

#[test]
fn epoch_before_the_previous_is_dropped_at_once() {
    let (mut alice, mut bob) = (member(ALICE, 1), member(BOB, 1));
    let in_flight = alice.protect(0, b"sent in epoch 1").unwrap();
    bob.install_epoch(T0, 2, &epoch_secret(2), BOB).unwrap();
    bob.install_epoch(T0, 3, &epoch_secret(3), BOB).unwrap();

    // Still within epoch 1's grace period, but two epochs have passed.
    assert_eq!(
        bob.unprotect(T0, &in_flight),
        Err(SframeError::EpochExpired { epoch: 1 })
    );
}

#[test]
fn removed_member_cannot_decrypt_next_epoch() {
    let (mut alice, mut carol) = (member(ALICE, 1), member(CAROL, 1));
    // Carol is removed: Alice moves to epoch 2, Carol never learns its secret.
    alice.install_epoch(T0, 2, &epoch_secret(2), ALICE).unwrap();
    let after_removal = alice.protect(0, b"secret after removal").unwrap();

    assert_eq!(
        carol.unprotect(T0, &after_removal),
        Err(SframeError::UnknownKid {
            kid: mls_kid(ALICE, 2)
        })
    );

    // Guessing that epoch 2 reuses the old secret does not help either.
    carol.install_epoch(T0, 2, &epoch_secret(1), CAROL).unwrap();
    assert_eq!(
        carol.unprotect(T0, &after_removal),
        Err(SframeError::AuthenticationFailed)
    );
}
