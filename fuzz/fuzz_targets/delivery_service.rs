//! The MLS delivery service of a room (`sealroom_server::room::Room`): commits, key packages,
//! application messages and group infos from members, from a participant who is not a member,
//! and from someone who never joined, as arbitrary bytes or as real messages of the group
//! (replayed in any order, or mutated), mixed with joins, leaves, kicks and time passing.
//!
//! It must never panic; the epoch only moves one step at a time and only by a commit (or goes
//! when the group starts over); nothing is ever addressed to someone who never joined.

#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sealroom_fuzz::delivery::{
    DeliveryFixture, MESSAGES, PARTICIPANTS, display_name, id, message_index,
};
use sealroom_fuzz::ops::{OpReader, OpWriter, mutate};
use sealroom_fuzz::seeds::{self, Seed};
use sealroom_protocol::ParticipantId;
use sealroom_server::room::{Outgoing, RoomError};

/// Each operation costs real signature checks; inputs stay short.
const MAX_OPS: usize = 24;
/// The commit-request timeout `sealroom serve` uses.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);
const OUTSIDER: &str = "outsider";

const OP_COMMIT: u8 = 0;
const OP_COMMIT_WITH_WELCOME: u8 = 1;
const OP_KEY_PACKAGE: u8 = 2;
const OP_APPLICATION: u8 = 3;
const OP_GROUP_CREATED: u8 = 4;
const OP_LEAVE: u8 = 5;
const OP_JOIN: u8 = 6;
const OP_TICK: u8 = 7;
const OP_KICK: u8 = 8;
const OPS: u8 = 9;

fuzz_target!(
    init: {
        DeliveryFixture::get();
        seeds::write_if_asked(seed_inputs);
    },
    |data: &[u8]| run(data)
);

/// Each record: an operation byte; an argument byte whose low 3 bits pick who acts
/// ([`PARTICIPANTS`]) and whose high 5 bits pick the message (0: the record's bytes as they
/// are; n: real message n-1, mutated by the record's bytes); then the bytes.
fn run(data: &[u8]) {
    let fixture = DeliveryFixture::get();
    let mut room = fixture.room();
    let mut present: Vec<ParticipantId> = ["alice", "bob", "carol"].map(id).to_vec();
    let mut ever_joined: BTreeSet<ParticipantId> = present.iter().cloned().collect();
    let mut now = Instant::now();

    let mut input = OpReader::new(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % OPS;
        let arg = input.u8();
        let who = id(PARTICIPANTS[usize::from(arg & 0b111) % PARTICIPANTS.len()]);
        let choice = usize::from(arg >> 3);
        let payload = input.bytes();
        let (bytes, real_welcome) = match choice {
            0 => (payload.to_vec(), None),
            n => {
                let real = &fixture.messages[(n - 1) % fixture.messages.len()];
                (mutate(&real.bytes, payload), real.welcome.as_deref())
            }
        };

        let before = room.epoch();
        let out: Vec<Outgoing> = match op {
            OP_COMMIT => answered(room.commit(&who, &bytes, None)),
            OP_COMMIT_WITH_WELCOME => {
                let welcome = real_welcome.unwrap_or_else(|| input.bytes());
                answered(room.commit(&who, &bytes, Some(welcome)))
            }
            OP_KEY_PACKAGE => answered(room.key_package(&who, bytes)),
            OP_APPLICATION => answered(room.application(&who, &bytes)),
            OP_GROUP_CREATED => answered(room.group_created(&who, &bytes)),
            OP_LEAVE => {
                present.retain(|p| *p != who);
                room.leave(&who)
            }
            OP_JOIN if who != OUTSIDER && !present.contains(&who) => {
                present.push(who.clone());
                ever_joined.insert(who.clone());
                room.join(&who, display_name(&who))
            }
            OP_JOIN => Vec::new(),
            OP_TICK => {
                now += Duration::from_millis(u64::from(arg) * 100);
                room.tick(now, COMMIT_TIMEOUT)
            }
            _ => {
                let target = id(PARTICIPANTS[choice % PARTICIPANTS.len()]);
                match room.kick(&who, &target) {
                    Ok(removal) => {
                        present.retain(|p| *p != target);
                        removal.out
                    }
                    Err(_) => Vec::new(),
                }
            }
        };

        let after = room.epoch();
        match op {
            OP_COMMIT | OP_COMMIT_WITH_WELCOME => assert!(
                after == before || (before.is_some() && after == before.map(|e| e + 1)),
                "a commit moved the epoch from {before:?} to {after:?}"
            ),
            OP_GROUP_CREATED => assert!(
                before.is_none() || after == before,
                "a group info replaced the group at epoch {before:?}"
            ),
            _ => assert!(
                after == before || after.is_none(),
                "operation {op} moved the epoch from {before:?} to {after:?}"
            ),
        }
        for (to, message) in &out {
            assert!(
                ever_joined.contains(to),
                "{message:?} addressed to {to}, who never joined"
            );
        }
    }
}

/// The messages a refused operation sends: none (the caller answers with the error code).
fn answered(result: Result<Vec<Outgoing>, RoomError>) -> Vec<Outgoing> {
    result.unwrap_or_default()
}

fn participant_index(name: &str) -> u8 {
    PARTICIPANTS
        .iter()
        .position(|p| *p == name)
        .expect("known participant") as u8
}

/// An operation record.
fn record(input: OpWriter, op: u8, who: &str, message: Option<&str>, bytes: &[u8]) -> OpWriter {
    let choice = message.map_or(0, |name| message_index(name) as u8 + 1);
    input
        .u8(op)
        .u8(participant_index(who) | (choice << 3))
        .bytes(bytes)
}

/// A moderator's kick.
fn kick(input: OpWriter, by: &str, target: &str) -> OpWriter {
    input
        .u8(OP_KICK)
        .u8(participant_index(by) | (participant_index(target) << 3))
        .bytes(&[])
}

fn seed_inputs() -> Vec<Seed> {
    assert!(
        MESSAGES.len() < 31,
        "a message index fits the argument's 5 bits"
    );
    let real = |input, op, who, name| record(input, op, who, Some(name), &[]);
    let raw = |input, op, who, bytes: &[u8]| record(input, op, who, None, bytes);
    let chain = [
        (OP_COMMIT, "alice", "alice-update-at-1"),
        (OP_APPLICATION, "bob", "bob-chat-at-2"),
        (OP_KEY_PACKAGE, "carol", "carol-key-package"),
        (OP_COMMIT_WITH_WELCOME, "alice", "alice-adds-carol-at-2"),
        (OP_APPLICATION, "carol", "carol-control-at-3"),
        (OP_COMMIT, "alice", "alice-removes-bob-at-3"),
        (OP_COMMIT, "carol", "carol-update-at-4"),
    ]
    .into_iter()
    .fold(OpWriter::new(), |input, (op, who, name)| {
        real(input, op, who, name)
    });

    let mut lost_race = real(OpWriter::new(), OP_COMMIT, "bob", "bob-update-at-1");
    lost_race = real(lost_race, OP_COMMIT, "alice", "alice-update-at-1");
    lost_race = real(lost_race, OP_APPLICATION, "alice", "alice-control-at-1");

    let mut non_members = real(OpWriter::new(), OP_COMMIT, "carol", "alice-update-at-1");
    non_members = real(non_members, OP_APPLICATION, "carol", "alice-control-at-1");
    non_members = real(
        non_members,
        OP_APPLICATION,
        "outsider",
        "alice-control-at-1",
    );
    non_members = real(non_members, OP_KEY_PACKAGE, "outsider", "dave-key-package");
    non_members = real(non_members, OP_GROUP_CREATED, "carol", "mallory-group-info");
    non_members = real(non_members, OP_COMMIT, "outsider", "bob-update-at-1");

    // Everyone holding the group's keys leaves; Carol is asked to found a new group and
    // uploads someone else's, then an old member's group info.
    let mut start_over = raw(OpWriter::new(), OP_LEAVE, "alice", &[]);
    start_over = raw(start_over, OP_LEAVE, "bob", &[]);
    start_over = real(start_over, OP_GROUP_CREATED, "carol", "mallory-group-info");
    start_over = real(start_over, OP_GROUP_CREATED, "carol", "bob-group-info-at-1");

    // Dave joins, uploads a key package, and the asked member never answers.
    let mut timeout = raw(OpWriter::new(), OP_JOIN, "dave", &[]);
    timeout = real(timeout, OP_KEY_PACKAGE, "dave", "dave-key-package");
    timeout = timeout.u8(OP_TICK).u8(60).bytes(&[]);
    timeout = timeout.u8(OP_TICK).u8(60).bytes(&[]);
    timeout = kick(timeout, "alice", "bob");
    timeout = kick(timeout, "bob", "alice");

    // A real commit with a byte flipped in its signature-covered content, and plain garbage.
    let mut tampered = record(
        OpWriter::new(),
        OP_COMMIT,
        "alice",
        Some("alice-update-at-1"),
        &[0, 40, 0x01],
    );
    tampered = raw(tampered, OP_COMMIT, "alice", b"garbage");
    tampered = raw(tampered, OP_KEY_PACKAGE, "carol", &[0, 1, 0, 5, 0, 1]);
    tampered = raw(tampered, OP_APPLICATION, "bob", &[0, 1, 0, 2, 0, 0, 0, 0]);

    vec![
        ("real-chain", chain.finish()),
        ("lost-race", lost_race.finish()),
        ("non-members", non_members.finish()),
        ("start-over", start_over.finish()),
        ("commit-timeout", timeout.finish()),
        ("tampered", tampered.finish()),
    ]
}
