//! The MLS group session driven through its public API the way a client uses it: create, add,
//! remove, self-update, concurrent commits sequenced by the delivery service, and removals the
//! delivery service proposes as external sender.

use sealroom_e2ee::{
    Device, DeviceIdentity, EpochChange, ExternalSender, ExternalSenderKey, GroupError,
    GroupSession, Incoming, ObservedMessage, ProposalSender, ProposedChange, sframe::CipherSuite,
};

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

/// Creates a group of `names` (the first creates it and adds the rest in one commit).
fn group_of(names: &[&str]) -> (Vec<Device>, Vec<GroupSession>) {
    group_listing(&[], names)
}

/// The same, for a group that lists `external_senders` (the delivery service).
fn group_listing(
    external_senders: &[ExternalSenderKey],
    names: &[&str],
) -> (Vec<Device>, Vec<GroupSession>) {
    let devices: Vec<Device> = names.iter().map(|n| device(n)).collect();
    let mut creator = devices[0].create_group(external_senders).expect("create");
    let key_packages: Vec<Vec<u8>> = devices[1..]
        .iter()
        .map(|d| d.key_package().expect("key package"))
        .collect();
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let outgoing = creator.commit(&refs, &[]).expect("commit");
    creator.merge_pending_commit().expect("merge");
    let mut sessions = vec![creator];
    for d in &devices[1..] {
        sessions.push(
            d.join_group(outgoing.welcome.as_ref().expect("welcome"))
                .expect("join"),
        );
    }
    (devices, sessions)
}

/// Delivers `commit` to every session but the committer's, which merges its pending commit.
fn deliver_commit(
    sessions: &mut [GroupSession],
    committer: usize,
    commit: &[u8],
) -> Vec<EpochChange> {
    sessions
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            if i == committer {
                s.merge_pending_commit().expect("merge")
            } else {
                match s.process(commit).expect("process commit") {
                    Incoming::Commit(change) => change,
                    other => panic!("expected a commit, got {other:?}"),
                }
            }
        })
        .collect()
}

fn sframe_secret(session: &GroupSession) -> Vec<u8> {
    session
        .sframe_epoch_secret(CipherSuite::AesGcm128Sha256)
        .expect("export")
        .to_vec()
}

#[test]
fn members_agree_on_epoch_roster_code_and_media_secret() {
    let (_devices, sessions) = group_of(&["alice", "bob", "carol"]);
    let first = &sessions[0];
    assert_eq!(first.epoch(), 1);
    let names: Vec<String> = first
        .roster()
        .into_iter()
        .map(|m| m.credential_name)
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    for s in &sessions[1..] {
        assert_eq!(s.epoch(), first.epoch());
        assert_eq!(s.roster(), first.roster());
        assert_eq!(s.security_code().unwrap(), first.security_code().unwrap());
        assert_eq!(sframe_secret(s), sframe_secret(first));
    }
    let leaf_indices: Vec<u32> = sessions.iter().map(GroupSession::own_leaf_index).collect();
    assert_eq!(leaf_indices, [0, 1, 2]);
}

#[test]
fn roster_fingerprints_match_each_device() {
    let (devices, sessions) = group_of(&["alice", "bob"]);
    let roster = sessions[1].roster();
    for (device, member) in devices.iter().zip(&roster) {
        assert_eq!(device.identity().fingerprint(), member.fingerprint);
    }
    assert_ne!(roster[0].fingerprint, roster[1].fingerprint);
}

#[test]
fn leaving_member_changes_code_and_secret_and_loses_the_session() {
    let (_devices, mut sessions) = group_of(&["alice", "bob", "carol"]);
    let code_before = sessions[0].security_code().unwrap();
    let secret_before = sframe_secret(&sessions[0]);

    let outgoing = sessions[0].commit(&[], &[2]).expect("remove carol");
    let changes = deliver_commit(&mut sessions, 0, &outgoing.commit);

    assert!(changes[2].removed_us, "carol learns she was removed");
    assert!(sessions[2].is_removed());
    assert!(matches!(
        sessions[2].security_code(),
        Err(GroupError::Removed)
    ));
    assert!(matches!(
        sessions[2].sframe_epoch_secret(CipherSuite::AesGcm128Sha256),
        Err(GroupError::Removed)
    ));
    assert_eq!(changes[1].removed.len(), 1);
    assert_eq!(changes[1].removed[0].credential_name, "carol");

    let code_after = sessions[0].security_code().unwrap();
    assert_ne!(code_after, code_before);
    assert_eq!(sessions[1].security_code().unwrap(), code_after);
    assert_ne!(sframe_secret(&sessions[0]), secret_before);
    assert_eq!(sframe_secret(&sessions[1]), sframe_secret(&sessions[0]));
}

#[test]
fn self_update_moves_everyone_to_a_new_epoch() {
    let (_devices, mut sessions) = group_of(&["alice", "bob"]);
    let secret_before = sframe_secret(&sessions[1]);
    let outgoing = sessions[1].commit(&[], &[]).expect("self-update");
    let changes = deliver_commit(&mut sessions, 1, &outgoing.commit);
    assert_eq!(changes[0].epoch, 2);
    assert_eq!(changes[0].committer, 1);
    assert!(changes[0].added.is_empty() && changes[0].removed.is_empty());
    assert_ne!(sframe_secret(&sessions[0]), secret_before);
    assert_eq!(sframe_secret(&sessions[0]), sframe_secret(&sessions[1]));
}

#[test]
fn application_messages_reach_every_other_member() {
    let (_devices, mut sessions) = group_of(&["alice", "bob", "carol"]);
    let message = sessions[1]
        .encrypt_application(b"", b"hello room")
        .expect("encrypt");
    for i in [0, 2] {
        assert_eq!(
            sessions[i].process(&message).expect("decrypt"),
            Incoming::Application {
                sender: 1,
                data: b"hello room".to_vec(),
                authenticated_data: Vec::new(),
            }
        );
    }
}

#[test]
fn concurrent_commits_one_wins_the_other_rebases_and_the_group_converges() {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let (devices, mut sessions) =
        group_listing(&[server.key().unwrap()], &["alice", "bob", "carol"]);
    let mut observed = server
        .observe(&sessions[0].group_info().unwrap())
        .expect("observe");

    // Alice and Bob both commit on epoch 1.
    let dave = device("dave");
    let alice_commit = sessions[0]
        .commit(&[&dave.key_package().unwrap()], &[])
        .unwrap();
    let bob_commit = sessions[1].commit(&[], &[]).unwrap();
    assert_eq!(alice_commit.epoch, bob_commit.epoch);

    // The delivery service sequences the first one it receives and refuses the second.
    assert_eq!(
        observed.process(&alice_commit.commit).unwrap(),
        ObservedMessage::Commit { epoch: 2 }
    );
    assert!(matches!(
        observed.process(&bob_commit.commit),
        Err(GroupError::WrongEpoch {
            message_epoch: 1,
            group_epoch: 2
        })
    ));

    // Bob rebases: drops his commit, applies Alice's, commits again on the new epoch.
    sessions[0].merge_pending_commit().unwrap();
    sessions[1].discard_pending_commit().unwrap();
    sessions[1].process(&alice_commit.commit).unwrap();
    sessions[2].process(&alice_commit.commit).unwrap();
    sessions.push(
        dave.join_group(alice_commit.welcome.as_ref().unwrap())
            .unwrap(),
    );

    let bob_again = sessions[1].commit(&[], &[]).unwrap();
    assert_eq!(
        observed.process(&bob_again.commit).unwrap(),
        ObservedMessage::Commit { epoch: 3 }
    );
    deliver_commit(&mut sessions, 1, &bob_again.commit);

    let code = sessions[0].security_code().unwrap();
    for s in &sessions {
        assert_eq!(s.epoch(), 3);
        assert_eq!(s.security_code().unwrap(), code);
    }
    assert_eq!(observed.epoch(), 3);
    assert_eq!(observed.roster(), sessions[0].roster());
    drop(devices);
}

#[test]
fn removal_proposed_by_the_delivery_service_is_committed_by_a_member() {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let alice = device("alice");
    let bob = device("bob");
    let carol = device("carol");
    let mut alice_session = alice.create_group(&[server.key().unwrap()]).unwrap();
    let add = alice_session
        .commit(
            &[&bob.key_package().unwrap(), &carol.key_package().unwrap()],
            &[],
        )
        .unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    let mut sessions = vec![
        alice_session,
        bob.join_group(&welcome).unwrap(),
        carol.join_group(&welcome).unwrap(),
    ];
    let mut observed = server.observe(&sessions[0].group_info().unwrap()).unwrap();

    // Carol's connection died: the server proposes her removal.
    let proposal = observed.propose_remove(2).unwrap();
    for s in &mut sessions[..2] {
        assert_eq!(
            s.process(&proposal).unwrap(),
            Incoming::Proposal {
                sender: ProposalSender::ExternalSender(0),
                change: ProposedChange::Remove { leaf_index: 2 }
            }
        );
    }
    assert_eq!(
        sessions[0].roster().len(),
        3,
        "a proposal alone changes nothing"
    );

    // Bob's next commit (with no changes of his own) carries it out.
    let commit = sessions[1].commit(&[], &[]).unwrap();
    assert_eq!(
        observed.process(&commit.commit).unwrap(),
        ObservedMessage::Commit { epoch: 2 }
    );
    sessions[2].process(&proposal).unwrap();
    let changes = deliver_commit(&mut sessions, 1, &commit.commit);
    assert_eq!(changes[0].removed.len(), 1);
    assert_eq!(changes[0].removed[0].credential_name, "carol");
    assert!(changes[2].removed_us);
    assert_eq!(sessions[0].roster().len(), 2);
    assert_eq!(observed.roster(), sessions[0].roster());
}

#[test]
fn commit_while_one_is_pending_is_refused() {
    let (_devices, mut sessions) = group_of(&["alice", "bob"]);
    sessions[0].commit(&[], &[]).unwrap();
    assert!(matches!(
        sessions[0].commit(&[], &[]),
        Err(GroupError::CommitPending)
    ));
    sessions[0].discard_pending_commit().unwrap();
    assert!(matches!(
        sessions[0].merge_pending_commit(),
        Err(GroupError::NoPendingCommit)
    ));
}

#[test]
fn two_devices_may_share_a_display_name() {
    // A member is its device key; the name is a label. Two guests called "alice" (or one who
    // rejoins while her old member is still in the tree) are two members.
    let (_devices, sessions) = group_of(&["alice", "bob", "alice"]);
    let roster = sessions[1].roster();
    assert_eq!(roster.len(), 3);
    assert_eq!(
        roster
            .iter()
            .filter(|m| m.credential_name == "alice")
            .count(),
        2
    );
    assert_ne!(roster[0].fingerprint, roster[2].fingerprint);
}
