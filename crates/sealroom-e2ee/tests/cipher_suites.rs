//! A meeting under each MLS suite Sealroom supports: four members join, exchange messages and
//! media, update their keys, lose one member and gain another, and agree on the security code
//! and the exporter at every epoch; and a key package of another suite cannot get in.

use std::time::Duration;

use mls_rs::{CipherSuite, MlsMessage};
use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupError, GroupSession, Incoming, MlsSuite,
    sframe::MediaKeyring,
};

fn device(suite: MlsSuite, name: &str) -> Device {
    Device::new(DeviceIdentity::generate_for(suite, name).unwrap())
}

fn key_package_suite(key_package: &[u8]) -> CipherSuite {
    MlsMessage::from_bytes(key_package)
        .unwrap()
        .into_key_package()
        .unwrap()
        .cipher_suite
}

/// Applies `commit` everywhere but at `committer`, which merges its own.
fn apply(sessions: &mut [GroupSession], committer: usize, commit: &[u8]) {
    for (i, session) in sessions.iter_mut().enumerate() {
        if i == committer {
            session.merge_pending_commit().unwrap();
        } else {
            assert!(matches!(
                session.process(commit).unwrap(),
                Incoming::Commit(_)
            ));
        }
    }
}

/// Every member is at the same epoch with the same security code and exporter secret.
fn assert_agree(sessions: &[GroupSession]) {
    let first = &sessions[0];
    let code = first.security_code().unwrap();
    let exported = first.export_secret(b"agreement", 32).unwrap();
    for session in &sessions[1..] {
        assert_eq!(session.epoch(), first.epoch());
        assert_eq!(session.security_code().unwrap(), code);
        assert_eq!(session.export_secret(b"agreement", 32).unwrap(), exported);
    }
}

/// Each member sends a message that every other one reads.
fn assert_messages_flow(sessions: &mut [GroupSession]) {
    for sender in 0..sessions.len() {
        let text = format!("hello from {sender}");
        let sealed = sessions[sender]
            .encrypt_application(b"chat", text.as_bytes())
            .unwrap();
        for (i, receiver) in sessions
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != sender)
        {
            let Incoming::Application { data, .. } = receiver.process(&sealed).unwrap() else {
                panic!("member {i} did not get an application message");
            };
            assert_eq!(data, text.as_bytes());
        }
    }
}

/// Media keys of this epoch, in the group's SFrame suite: a frame from the first member opens
/// for every other one.
fn assert_media_flows(sessions: &[GroupSession]) {
    let suite = sessions[0].suite().sframe_suite();
    let mut keyrings: Vec<MediaKeyring> = sessions
        .iter()
        .map(|session| {
            let mut keyring = MediaKeyring::new(suite);
            let secret = session.sframe_epoch_secret(suite).unwrap();
            let own = session.own_leaf_index();
            keyring
                .install_epoch(Duration::ZERO, session.epoch(), &secret, own)
                .unwrap();
            keyring
        })
        .collect();
    let wire = keyrings[0].protect(1, b"\x90video frame").unwrap();
    for keyring in &mut keyrings[1..] {
        let frame = keyring.unprotect(Duration::ZERO, &wire).unwrap();
        assert_eq!(frame.payload, b"\x90video frame");
        assert_eq!(frame.sender_index, sessions[0].own_leaf_index());
    }
}

fn meeting(suite: MlsSuite) {
    let server = ExternalSender::new(DeviceIdentity::generate_for(suite, "sealroom-ds").unwrap());
    let devices: Vec<Device> = ["alice", "bob", "carol"]
        .map(|name| device(suite, name))
        .into();
    let key_packages: Vec<Vec<u8>> = devices[1..]
        .iter()
        .map(|d| d.key_package().unwrap())
        .collect();
    for key_package in &key_packages {
        assert_eq!(key_package_suite(key_package), suite.cipher_suite());
    }
    let mut alice = devices[0].create_group(&[server.key().unwrap()]).unwrap();
    assert_eq!(alice.suite(), suite);
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let welcome = alice.commit(&refs, &[]).unwrap().welcome.unwrap();
    alice.merge_pending_commit().unwrap();
    let mut sessions = vec![alice];
    sessions.extend(devices[1..].iter().map(|d| d.join_group(&welcome).unwrap()));
    assert_agree(&sessions);
    assert_messages_flow(&mut sessions);
    assert_media_flows(&sessions);

    // Bob updates his keys.
    let update = sessions[1].commit(&[], &[]).unwrap();
    apply(&mut sessions, 1, &update.commit);
    assert_agree(&sessions);

    // Alice removes Carol and adds Dave.
    let dave = device(suite, "dave");
    let change = sessions[0]
        .commit(&[&dave.key_package().unwrap()], &[2])
        .unwrap();
    apply(&mut sessions, 0, &change.commit);
    let carol = sessions.remove(2);
    assert!(carol.is_removed());
    sessions.push(dave.join_group(change.welcome.as_ref().unwrap()).unwrap());
    assert_agree(&sessions);
    assert_messages_flow(&mut sessions);
    assert_media_flows(&sessions);
    assert_ne!(
        carol.security_code().ok(),
        Some(sessions[0].security_code().unwrap())
    );
}

#[test]
fn a_meeting_under_the_default_suite() {
    meeting(MlsSuite::Curve25519Aes128);
}

#[test]
fn a_meeting_under_the_256_bit_suite() {
    meeting(MlsSuite::P384Aes256);
}

#[test]
fn a_meeting_under_the_post_quantum_hybrid_suite() {
    meeting(MlsSuite::XWingAes256);
}

#[test]
fn a_key_package_of_another_suite_cannot_join() {
    for (group_suite, other_suite) in [
        (MlsSuite::XWingAes256, MlsSuite::Curve25519Aes128),
        (MlsSuite::Curve25519Aes128, MlsSuite::XWingAes256),
        (MlsSuite::P384Aes256, MlsSuite::XWingAes256),
    ] {
        let mut group = device(group_suite, "alice").create_group(&[]).unwrap();
        let stranger = device(other_suite, "mallory").key_package().unwrap();
        assert!(
            matches!(
                group.commit(&[&stranger], &[]),
                Err(GroupError::Rejected(_) | GroupError::Malformed(_))
            ),
            "{other_suite:?} key package into a {group_suite:?} group"
        );
    }
}

/// An identity restored from its secret bytes is the same key, in its own suite.
#[test]
fn identities_are_restored_in_their_suite() {
    for suite in MlsSuite::ALL {
        let identity = DeviceIdentity::generate_for(suite, "alice").unwrap();
        let restored =
            DeviceIdentity::from_secret_bytes_for(suite, "alice", &identity.to_secret_bytes())
                .unwrap();
        assert_eq!(restored.public_key(), identity.public_key());
        assert_eq!(restored.suite(), suite);
    }
}
