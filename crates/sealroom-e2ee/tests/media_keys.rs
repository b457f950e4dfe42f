//! SFrame keys from real MLS epochs: members decrypt each other, and a removed member is cut off
//! from the next epoch at once and from her own old frames once the grace period ends.

use std::time::Duration;

use sealroom_e2ee::{
    Device, DeviceIdentity, GroupSession,
    sframe::{CipherSuite, DEFAULT_GRACE, MediaKeyring, SframeError},
};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

struct Member {
    session: GroupSession,
    keyring: MediaKeyring,
}

impl Member {
    fn rekey(&mut self, now: Duration) {
        let secret = self.session.sframe_epoch_secret(SUITE).unwrap();
        let own = self.session.own_leaf_index();
        self.keyring
            .install_epoch(now, self.session.epoch(), &secret, own)
            .unwrap();
    }
}

fn meeting(names: &[&str]) -> Vec<Member> {
    let devices: Vec<Device> = names
        .iter()
        .map(|n| Device::new(DeviceIdentity::generate(n).unwrap()))
        .collect();
    let mut creator = devices[0].create_group(&[]).unwrap();
    let kps: Vec<Vec<u8>> = devices[1..]
        .iter()
        .map(|d| d.key_package().unwrap())
        .collect();
    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
    let welcome = creator.commit(&refs, &[]).unwrap().welcome.unwrap();
    creator.merge_pending_commit().unwrap();
    let mut sessions = vec![creator];
    sessions.extend(devices[1..].iter().map(|d| d.join_group(&welcome).unwrap()));
    sessions
        .into_iter()
        .map(|session| {
            let mut m = Member {
                keyring: MediaKeyring::new(SUITE),
                session,
            };
            m.rekey(Duration::ZERO);
            m
        })
        .collect()
}

/// Alice (leaf 0) removes Carol (leaf 2); Alice and Bob rekey at `now`. Carol does not.
fn remove_carol(members: &mut [Member], now: Duration) {
    let commit = members[0].session.commit(&[], &[2]).unwrap();
    members[0].session.merge_pending_commit().unwrap();
    members[1].session.process(&commit.commit).unwrap();
    members[0].rekey(now);
    members[1].rekey(now);
}

#[test]
fn members_decrypt_each_others_frames_with_keys_from_the_epoch() {
    let mut members = meeting(&["alice", "bob", "carol"]);
    let opus = vec![0x5a; 100];
    for sender in 0..3 {
        let wire = members[sender].keyring.protect(0, &opus).unwrap();
        assert!(
            !wire.windows(16).any(|w| w == &opus[..16]),
            "no plaintext on the wire"
        );
        for receiver in (0..3).filter(|&r| r != sender) {
            let frame = members[receiver]
                .keyring
                .unprotect(Duration::ZERO, &wire)
                .unwrap();
            assert_eq!(frame.sender_index, sender as u32);
            assert_eq!(frame.epoch, 1);
            assert_eq!(frame.payload, opus);
        }
    }
}

#[test]
fn removed_member_cannot_decrypt_frames_of_the_next_epoch() {
    let mut members = meeting(&["alice", "bob", "carol"]);
    let now = Duration::from_millis(10);
    remove_carol(&mut members, now);
    let wire = members[0].keyring.protect(0, b"after carol left").unwrap();
    assert_eq!(
        members[1].keyring.unprotect(now, &wire).unwrap().payload,
        b"after carol left"
    );
    assert!(matches!(
        members[2].keyring.unprotect(now, &wire),
        Err(SframeError::UnknownKid { .. })
    ));
    // Nor can she get the new epoch's secret from her session once she learns of the removal.
    let commit = members[0].session.commit(&[], &[]).unwrap();
    members[0].session.discard_pending_commit().unwrap();
    assert!(members[2].session.process(&commit.commit).is_err());
}

#[test]
fn removed_members_old_frames_are_refused_after_the_grace_period() {
    let mut members = meeting(&["alice", "bob", "carol"]);
    // Carol protects frames in epoch 1, then is removed; the server holds them back.
    let early = members[2].keyring.protect(0, b"in flight").unwrap();
    let late = members[2].keyring.protect(0, b"held back").unwrap();
    let rekeyed_at = Duration::from_secs(10);
    remove_carol(&mut members, rekeyed_at);

    // Within the grace period a frame in flight across the commit still plays...
    let within = rekeyed_at + DEFAULT_GRACE / 2;
    assert_eq!(
        members[1]
            .keyring
            .unprotect(within, &early)
            .unwrap()
            .payload,
        b"in flight"
    );
    // ...after it, the old epoch's keys are gone and her frames are refused.
    let after = rekeyed_at + DEFAULT_GRACE;
    assert!(matches!(
        members[1].keyring.unprotect(after, &late),
        Err(SframeError::EpochExpired { epoch: 1 })
    ));
}

#[test]
fn frame_from_a_newer_epoch_than_the_receiver_knows_is_refused() {
    let mut members = meeting(&["alice", "bob", "carol"]);
    // Alice self-updates and sends; Bob has not processed the commit yet.
    members[0].session.commit(&[], &[]).unwrap();
    members[0].session.merge_pending_commit().unwrap();
    members[0].rekey(Duration::ZERO);
    let wire = members[0].keyring.protect(0, b"epoch 2").unwrap();
    assert!(matches!(
        members[1].keyring.unprotect(Duration::ZERO, &wire),
        Err(SframeError::UnknownKid { .. })
    ));
}
