//! The room's policy in the group context (link key, lobby, moderators) against a member whose
//! client ignores Sealroom's rules, colluding with the server: what it commits against the
//! policy, the delivery service and every honest member refuse.

#[path = "support/rogue_member.rs"]
mod rogue_member;

use mls_rs::{Group, MlsMessage, client_builder::MlsConfig};
use rogue_member::{Handshakes, commit_extensions, rogue_client, rogue_key_package};
use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupError, GroupSession, LinkSecret, ObservedGroup,
    ObservedMessage, RoomPolicy,
};

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

/// A room link's group with no lobby: Alice founded it (she moderates), Bob came with the
/// link, and a rogue member (plain mls-rs) sits at leaf 2, whom Alice admitted. The delivery
/// service observes it.
fn room() -> (
    LinkSecret,
    Device,
    Vec<GroupSession>,
    Group<impl MlsConfig>,
    ObservedGroup,
) {
    let server = ExternalSender::new(DeviceIdentity::generate("sealroom-ds").unwrap());
    let link = LinkSecret::generate().unwrap();
    let alice = device("alice");
    let bob = device("bob");
    let rogue = rogue_client("rogue", Handshakes::InTheClear);
    let policy = RoomPolicy::founded(link.link_key(), alice.identity().fingerprint());
    let mut alice_session = alice
        .create_group_with_policy(&[server.key().unwrap()], &policy)
        .unwrap();
    let bob_key_package = bob.key_package_with_link(&link).unwrap();
    let add = alice_session
        .commit(&[&bob_key_package, &rogue_key_package(&rogue)], &[])
        .unwrap();
    alice_session.merge_pending_commit().unwrap();
    let welcome = add.welcome.unwrap();
    let (rogue_group, _) = rogue
        .join_group(None, &MlsMessage::from_bytes(&welcome).unwrap(), None)
        .unwrap();
    let observed = server
        .observe(&alice_session.group_info().unwrap())
        .unwrap();
    let bob_session = bob.join_group(&welcome).unwrap();
    (
        link,
        alice,
        vec![alice_session, bob_session],
        rogue_group,
        observed,
    )
}

/// The rogue's commit adding the device behind `key_package`, serialized and not kept pending.
fn rogue_add(rogue: &mut Group<impl MlsConfig>, key_package: &[u8]) -> Vec<u8> {
    let commit = rogue
        .commit_builder()
        .add_member(MlsMessage::from_bytes(key_package).unwrap())
        .and_then(|builder| builder.build())
        .and_then(|output| output.commit_message.to_bytes())
        .expect("the rogue's add");
    rogue.clear_pending_commit();
    commit
}

/// The delivery service and every honest session refuse `commit` for `reason`, and nobody's
/// epoch moves.
fn assert_refused_by_all(
    commit: &[u8],
    observed: &mut ObservedGroup,
    sessions: &mut [GroupSession],
    reason: &str,
) {
    let refused = |result: Result<_, GroupError>| matches!(result, Err(GroupError::Rejected(text)) if text.contains(reason));
    assert!(
        refused(observed.process(commit).map(|_| ())),
        "the delivery service sequenced it"
    );
    for session in sessions {
        let epoch = session.epoch();
        assert!(
            refused(session.process(commit).map(|_| ())),
            "a member applied it"
        );
        assert_eq!(session.epoch(), epoch);
    }
}

/// The commit `sessions[committer]` made is sequenced and applied by the others.
fn sequence(
    commit: &[u8],
    committer: usize,
    observed: &mut ObservedGroup,
    sessions: &mut [GroupSession],
) {
    assert!(matches!(
        observed.process(commit).unwrap(),
        ObservedMessage::Commit { .. }
    ));
    for (index, session) in sessions.iter_mut().enumerate() {
        if index == committer {
            session.merge_pending_commit().unwrap();
        } else {
            session.process(commit).unwrap();
        }
    }
}

const UNADMITTED: &str = "without a moderator's admission or the room link";
const NOT_A_MODERATORS: &str = "only a moderator's own commit";

/// Review finding C1 with a colluding member: one who does not moderate commits the server's
/// device, which does not hold the link. Before the policy named moderators and the Add rule,
/// honest clients applied such a commit and only flagged the ghost.
#[test]
fn a_member_who_does_not_moderate_cannot_add_a_device_without_the_link() {
    let (link, _, mut sessions, mut rogue, mut observed) = room();
    let ghost = device("ghost").key_package().unwrap();
    let commit = rogue_add(&mut rogue, &ghost);
    assert_refused_by_all(&commit, &mut observed, &mut sessions, UNADMITTED);
    // With no lobby, a device that proves the link may be added by any member.
    let carol = device("carol").key_package_with_link(&link).unwrap();
    let commit = rogue_add(&mut rogue, &carol);
    assert!(matches!(
        observed.process(&commit).unwrap(),
        ObservedMessage::Commit { .. }
    ));
    for session in &mut sessions {
        session.process(&commit).unwrap();
        assert_eq!(session.roster().len(), 4);
    }
}

/// The colluder tries to make itself a moderator, to open a lobby, to swap in a link key whose
/// secret the server knows, or to drop the policy: refused each time.
#[test]
fn a_member_who_does_not_moderate_cannot_change_the_room_policy() {
    let (_, _, mut sessions, mut rogue, mut observed) = room();
    let policy = sessions[0].policy().unwrap();
    let rogue_key = &rogue
        .current_member_signing_identity()
        .unwrap()
        .signature_key;
    let rogue_fingerprint = sealroom_e2ee::Fingerprint::of_public_key(rogue_key.as_bytes());
    let mut as_moderator = policy.clone();
    as_moderator.moderators.push(rogue_fingerprint);
    let mut other_link = policy.clone();
    other_link.link_key = LinkSecret::generate().unwrap().link_key();
    let mut lobby = policy.clone();
    lobby.lobby = true;
    for changed in [Some(as_moderator), Some(other_link), Some(lobby), None] {
        let mut extensions = rogue.context().extensions.clone();
        match changed {
            Some(policy) => extensions.set(policy.extension()),
            None => {
                extensions.remove(sealroom_e2ee::room_policy::ROOM_POLICY_EXTENSION);
            }
        }
        let commit = commit_extensions(&mut rogue, extensions);
        assert_refused_by_all(&commit, &mut observed, &mut sessions, NOT_A_MODERATORS);
    }
    for session in &sessions {
        assert_eq!(session.policy().unwrap(), policy);
    }
}

/// Alice turns the lobby on by a commit every member checks. From then on the link alone is
/// not enough: the colluder's Add of a link holder is refused, and Bob's honest client leaves
/// it out of his commit, until Alice, who moderates, adds the device her user admitted.
#[test]
fn in_a_lobby_the_link_is_not_enough_without_a_moderator() {
    let (link, _, mut sessions, mut rogue, mut observed) = room();
    let mut lobby = sessions[0].policy().unwrap();
    lobby.lobby = true;
    let commit = sessions[0].commit_policy(&lobby).unwrap().commit;
    rogue
        .process_incoming_message(MlsMessage::from_bytes(&commit).unwrap())
        .unwrap();
    sequence(&commit, 0, &mut observed, &mut sessions);
    assert!(sessions.iter().all(|s| s.policy().unwrap().lobby));

    let carol = device("carol").key_package_with_link(&link).unwrap();
    let commit = rogue_add(&mut rogue, &carol);
    assert_refused_by_all(&commit, &mut observed, &mut sessions, UNADMITTED);
    let bobs = sessions[1].commit(&[&carol], &[]).unwrap();
    assert!(
        bobs.welcome.is_none(),
        "Bob's client left the link holder out"
    );
    sessions[1].discard_pending_commit().unwrap();

    let alices = sessions[0].commit(&[&carol], &[]).unwrap();
    assert!(alices.welcome.is_some());
    sequence(&alices.commit, 0, &mut observed, &mut sessions);
    assert!(sessions.iter().all(|s| s.roster().len() == 4));
}

/// A moderator who left comes back with the same device key (it persists): with the lobby on
/// and no moderator left inside, Bob may still add her, and she moderates again.
#[test]
fn a_moderator_who_returns_with_her_device_key_is_added_by_any_member() {
    let (_, alice, mut sessions, _, mut observed) = room();
    let mut lobby = sessions[0].policy().unwrap();
    lobby.lobby = true;
    let commit = sessions[0].commit_policy(&lobby).unwrap().commit;
    sequence(&commit, 0, &mut observed, &mut sessions);
    let removal = sessions[1].commit(&[], &[0]).unwrap().commit;
    sequence(&removal, 1, &mut observed, &mut sessions[1..]);

    let back = alice.key_package().unwrap();
    let add = sessions[1].commit(&[&back], &[]).unwrap();
    assert!(add.welcome.is_some(), "Bob adds the returning moderator");
    sequence(&add.commit, 0, &mut observed, &mut sessions[1..]);
    let alice_again = alice.join_group(&add.welcome.unwrap()).unwrap();
    assert!(
        alice_again
            .policy()
            .unwrap()
            .is_moderator(&alice.identity().fingerprint())
    );
}
