//! What the fuzz targets (`fuzz/`, see docs/FUZZING.md) found wrong in the room's delivery
//! service, kept as tests on the public API. A test stays `#[ignore]`d while its bug is open.

use std::sync::Arc;

use sealroom_e2ee::{Device, DeviceIdentity, ExternalSender, ExternalSenderKey, GroupSession};
use sealroom_protocol::{DisplayName, RoomName, ServerMessage};
use sealroom_server::room::Room;

fn device(name: &str) -> Device {
    Device::new(DeviceIdentity::generate(name).unwrap())
}

/// Alice creates the group, Bob is added: both members at epoch 1.
fn room_with_alice_and_bob() -> (Room, GroupSession) {
    let server = Arc::new(ExternalSender::new(
        DeviceIdentity::generate("sealroom-ds").unwrap(),
    ));
    let external_sender: ExternalSenderKey = server.key().unwrap();
    let mut room = Room::new(RoomName::parse("fuzz-regressions").unwrap(), server, true);
    let (alice, bob) = ("alice".to_owned(), "bob".to_owned());
    room.join(&alice, DisplayName::parse("Alice").unwrap());
    let mut group = device("Alice").create_group(&[external_sender]).unwrap();
    room.group_created(&alice, &group.group_info().unwrap())
        .unwrap();
    room.join(&bob, DisplayName::parse("Bob").unwrap());
    let key_package = device("Bob").key_package().unwrap();
    room.key_package(&bob, key_package.clone()).unwrap();
    let add = group.commit(&[&key_package], &[]).unwrap();
    room.commit(&alice, &add.commit, add.welcome.as_deref())
        .unwrap();
    group.merge_pending_commit().unwrap();
    assert_eq!(room.epoch(), Some(1));
    (room, group)
}

/// Found by `delivery_service` (input in docs/FUZZING.md): `Room::application` hands the bytes
/// to the observed group before it knows they are an application message, so a member's
/// commit sent as one is applied, and refused only afterwards. The delivery service is then at
/// an epoch no member was told of (nobody got a `Commit`), and refuses every member's next
/// commit as `wrong_epoch`: any member can stall the group.
#[test]
fn commit_sent_as_an_application_message_does_not_move_the_epoch() {
    let (mut room, mut alice) = room_with_alice_and_bob();
    let smuggled = alice.commit(&[], &[]).unwrap();
    assert!(
        room.application(&"alice".to_owned(), &smuggled.commit)
            .is_err()
    );
    assert_eq!(room.epoch(), Some(1), "the delivery service stays in step");

    // The same commit sent as a commit is sequenced as usual.
    let out = room
        .commit(&"alice".to_owned(), &smuggled.commit, None)
        .unwrap();
    assert!(
        out.iter()
            .any(|(to, m)| to == "alice" && *m == ServerMessage::CommitAccepted { epoch: 2 })
    );
}
