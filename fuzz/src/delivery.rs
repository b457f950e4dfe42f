//! The delivery-service fixture: real MLS messages of one group, made once per process with
//! `sealroom_e2ee` exactly as clients make them, and a [`Room`] brought to the state where two
//! members (Alice, who created the group, and Bob, whom she added) are at epoch 1 and Carol
//! has joined the room but not the group.
//!
//! The room cannot be cloned, so each input gets a fresh one, set up by replaying the
//! recorded messages: the delivery service only checks public state, which is cheap next to
//! making the messages.

use std::sync::{Arc, OnceLock};

use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, GroupSession, OutgoingCommit};
use sealroom_protocol::{ApplicationKind, DisplayName, ParticipantId, RoomName};
use sealroom_server::room::Room;

/// Participants the inputs act as: the first three join during setup, Dave only when an
/// input says so, and the outsider never.
pub const PARTICIPANTS: [&str; 5] = ["alice", "bob", "carol", "dave", "outsider"];

/// The real messages, in the order of [`DeliveryFixture::messages`]; inputs name them by index.
pub const MESSAGES: [&str; 12] = [
    "bob-update-at-1",
    "bob-group-info-at-1",
    "alice-control-at-1",
    "alice-update-at-1",
    "bob-chat-at-2",
    "carol-key-package",
    "alice-adds-carol-at-2",
    "carol-control-at-3",
    "alice-removes-bob-at-3",
    "carol-update-at-4",
    "dave-key-package",
    "mallory-group-info",
];

/// The index of a message in [`MESSAGES`].
///
/// # Panics
/// If there is no message of that name.
pub fn message_index(name: &str) -> usize {
    MESSAGES
        .iter()
        .position(|m| *m == name)
        .unwrap_or_else(|| panic!("no real message {name}"))
}

/// A real message an input can replay (or mutate) at any time, in any order.
#[derive(Debug)]
pub struct RealMessage {
    /// What it is, for reading seeds and crash reports.
    pub name: &'static str,
    /// The MLS message.
    pub bytes: Vec<u8>,
    /// The Welcome that goes with a commit adding someone.
    pub welcome: Option<Vec<u8>>,
}

/// Everything made once per process.
pub struct DeliveryFixture {
    server: Arc<ExternalSender>,
    group_info: Vec<u8>,
    bob_key_package: Vec<u8>,
    add_bob: OutgoingCommit,
    /// The messages inputs replay; see [`DeliveryFixture::get`] for what they are.
    pub messages: Vec<RealMessage>,
}

impl DeliveryFixture {
    /// The fixture, made on first use.
    pub fn get() -> &'static DeliveryFixture {
        static FIXTURE: OnceLock<DeliveryFixture> = OnceLock::new();
        FIXTURE.get_or_init(make)
    }

    /// A room in the state described in the module documentation.
    ///
    /// # Panics
    /// If the room refuses the real setup messages: the fixture no longer matches `Room`.
    pub fn room(&self) -> Room {
        let mut room = Room::new(
            RoomName::parse("fuzz-room").expect("valid room name"),
            self.server.clone(),
            true,
        );
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        room.join(&alice, display_name("alice"));
        room.group_created(&alice, &self.group_info)
            .expect("the room takes the creator's group info");
        room.join(&bob, display_name("bob"));
        room.key_package(&bob, self.bob_key_package.clone())
            .expect("the room takes Bob's key package");
        room.commit(
            &alice,
            &self.add_bob.commit,
            self.add_bob.welcome.as_deref(),
        )
        .expect("the room takes the commit adding Bob");
        assert_eq!(room.epoch(), Some(1), "setup ends at epoch 1");
        room.join(&carol, display_name("carol"));
        room
    }
}

/// A participant id.
pub fn id(name: &str) -> ParticipantId {
    name.to_owned()
}

/// A valid display name.
pub fn display_name(name: &str) -> DisplayName {
    DisplayName::parse(name).expect("valid display name")
}

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).expect("identity"))
}

fn message(name: &'static str, bytes: Vec<u8>) -> RealMessage {
    RealMessage {
        name,
        bytes,
        welcome: None,
    }
}

fn commit_message(name: &'static str, commit: OutgoingCommit) -> RealMessage {
    RealMessage {
        name,
        bytes: commit.commit,
        welcome: commit.welcome,
    }
}

/// Applies a commit another member made and the delivery service accepted.
fn follow(member: &mut GroupSession, commit: &[u8]) {
    member.process(commit).expect("member follows the commit");
}

/// Makes the group and its messages. Members stay in step, so every message is valid at the
/// epoch it names; the room at an input's start is at epoch 1.
fn make() -> DeliveryFixture {
    let server = Arc::new(ExternalSender::new(
        DeviceIdentity::generate("sealroom-ds").expect("identity"),
    ));
    let external_sender = server.key().expect("server key");
    let (alice, bob, carol) = (device("alice"), device("bob"), device("carol"));

    let mut alice_group = alice
        .create_group(std::slice::from_ref(&external_sender))
        .expect("group");
    let group_info = alice_group.group_info().expect("group info");
    let bob_key_package = bob.key_package().expect("key package");
    let add_bob = alice_group
        .commit(&[&bob_key_package], &[])
        .expect("commit adding Bob");
    alice_group.merge_pending_commit().expect("merge");
    let welcome = add_bob.welcome.as_deref().expect("welcome for Bob");
    let mut bob_group = bob.join_group(welcome).expect("Bob joins");

    let chat = ApplicationKind::Chat.label();
    let control = ApplicationKind::Control.label();
    let mut messages = Vec::new();

    // Epoch 1: messages that compete with the chain below.
    let bob_update = bob_group.commit(&[], &[]).expect("Bob's commit");
    bob_group.discard_pending_commit().expect("discard");
    messages.push(commit_message("bob-update-at-1", bob_update));
    messages.push(message(
        "bob-group-info-at-1",
        bob_group.group_info().expect("group info"),
    ));
    messages.push(message(
        "alice-control-at-1",
        alice_group
            .encrypt_application(control, b"{\"muted\":false}")
            .expect("application"),
    ));

    // Epoch 1 -> 2: Alice updates her keys; Bob chats.
    let alice_update = alice_group.commit(&[], &[]).expect("Alice's update");
    alice_group.merge_pending_commit().expect("merge");
    follow(&mut bob_group, &alice_update.commit);
    messages.push(commit_message("alice-update-at-1", alice_update));
    messages.push(message(
        "bob-chat-at-2",
        bob_group
            .encrypt_application(chat, b"hello")
            .expect("application"),
    ));

    // Epoch 2 -> 3: Alice adds Carol, who then sends a control message.
    let carol_key_package = carol.key_package().expect("key package");
    messages.push(message("carol-key-package", carol_key_package.clone()));
    let add_carol = alice_group
        .commit(&[&carol_key_package], &[])
        .expect("commit adding Carol");
    alice_group.merge_pending_commit().expect("merge");
    follow(&mut bob_group, &add_carol.commit);
    let mut carol_group = carol
        .join_group(add_carol.welcome.as_deref().expect("welcome for Carol"))
        .expect("Carol joins");
    messages.push(commit_message("alice-adds-carol-at-2", add_carol));
    messages.push(message(
        "carol-control-at-3",
        carol_group
            .encrypt_application(control, b"{}")
            .expect("application"),
    ));

    // Epoch 3 -> 4: Alice removes Bob; then Carol updates.
    let remove_bob = alice_group
        .commit(&[], &[bob_group.own_leaf_index()])
        .expect("commit removing Bob");
    alice_group.merge_pending_commit().expect("merge");
    follow(&mut carol_group, &remove_bob.commit);
    messages.push(commit_message("alice-removes-bob-at-3", remove_bob));
    let carol_update = carol_group.commit(&[], &[]).expect("Carol's update");
    carol_group.merge_pending_commit().expect("merge");
    messages.push(commit_message("carol-update-at-4", carol_update));

    // Strangers: a device nobody added, and a group founded by another device.
    messages.push(message(
        "dave-key-package",
        device("dave").key_package().expect("key package"),
    ));
    let mallory_group = device("mallory")
        .create_group(std::slice::from_ref(&external_sender))
        .expect("group");
    messages.push(message(
        "mallory-group-info",
        mallory_group.group_info().expect("group info"),
    ));

    let names: Vec<&str> = messages.iter().map(|m| m.name).collect();
    assert_eq!(names, MESSAGES, "MESSAGES lists the messages in order");
    DeliveryFixture {
        server,
        group_info,
        bob_key_package,
        add_bob,
        messages,
    }
}
