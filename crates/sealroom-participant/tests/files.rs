//! File offers through the client core, with the test playing the server: it relays the offers
//! members send, and stores the encrypted file they upload.

// Shared with the other tests, which use what this one does not.
#[allow(dead_code)]
mod support;

use sealroom_e2ee::{FileDecryptor, FileEncryptor, FileKey};
use sealroom_participant::CommandError;
use sealroom_protocol::{ApplicationKind, Bytes, ClientMessage, FileOffer, encode};
use support::{Member, meeting_of_three, relay, sent};

const BLOB: &str = "00112233445566778899aabbccddeeff";

fn offer(name: &str) -> FileOffer {
    FileOffer {
        blob: BLOB.into(),
        name: name.into(),
        size: 5,
        mime: "text/plain".into(),
        key: Bytes(vec![0x42; 32]),
        sha256: Bytes(vec![0x17; 32]),
    }
}

fn share(member: &mut Member, offer: FileOffer) -> Bytes {
    member.core.send_file_offer(offer).unwrap();
    member.drain();
    sent(member)
}

#[test]
fn an_offer_reaches_every_other_member_named_from_its_credential_with_its_key() {
    let (_, mut members) = meeting_of_three();
    let message = share(&mut members[0], offer("notes.txt"));
    let [_, bob, carol] = &mut members[..] else {
        unreachable!()
    };
    // Delivered twice under its number: shown once.
    relay(&message, 1, &mut [bob, carol]);
    relay(&message, 1, &mut [bob, carol]);
    for member in &members[1..] {
        let [entry] = &member.screen.files[..] else {
            panic!("one file offer, not {}", member.screen.files.len())
        };
        assert_eq!((entry.sender_name.as_str(), entry.seq), ("alice", 1));
        assert_eq!(entry.sender, members[0].screen.epoch().own_leaf);
        assert_eq!(entry.offer, offer("notes.txt"));
        assert!(
            member.screen.errors.is_empty(),
            "{:?}",
            member.screen.errors
        );
    }
}

#[test]
fn an_unacceptable_offer_is_refused_before_it_leaves_and_dropped_if_forced() {
    let (_, mut members) = meeting_of_three();
    let refused = members[0]
        .core
        .send_file_offer(offer("../../.ssh/authorized_keys"));
    assert!(matches!(refused, Err(CommandError::FileOffer(_))));
    members[0].drain();
    assert!(
        !members[0]
            .outbox
            .iter()
            .any(|m| matches!(m, ClientMessage::Application { .. }))
    );

    // Alice's client sends it anyway, and then something that is no offer at all.
    let forced = [encode(&offer("a/b")), "{\"blob\":1}".to_owned()];
    for (seq, data) in (1..).zip(forced) {
        let core = &mut members[0].core;
        core.send_application(ApplicationKind::File, data.as_bytes())
            .unwrap();
        members[0].drain();
        let message = sent(&mut members[0]);
        relay(&message, seq, &mut [&mut members[1]]);
    }
    let bob = &members[1].screen;
    assert!(bob.files.is_empty());
    assert_eq!(bob.errors.len(), 2, "{:?}", bob.errors);
    assert!(bob.errors.iter().all(|e| e.starts_with("file: ")));
}

/// Alice encrypts 1 MiB, the server stores the ciphertext, her offer crosses the group, and Bob
/// opens the download with what the offer carries.
#[test]
fn a_file_goes_from_one_member_to_another_end_to_end() {
    let (_, mut members) = meeting_of_three();
    let file: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let (mut encryptor, key) = FileEncryptor::new().unwrap();
    let mut stored = Vec::new();
    for piece in file.chunks(100_000) {
        stored.extend(encryptor.update(piece).unwrap());
    }
    let (last, sha256) = encryptor.finish().unwrap();
    stored.extend(last);

    let offer = FileOffer {
        blob: BLOB.into(),
        name: "photo.raw".into(),
        size: file.len() as u64,
        mime: String::new(),
        key: Bytes(key.as_bytes().to_vec()),
        sha256: Bytes(sha256.to_vec()),
    };
    let message = share(&mut members[0], offer);
    relay(&message, 1, &mut [&mut members[1]]);

    let entry = &members[1].screen.files[0];
    let key = FileKey::from_bytes(entry.offer.key.as_ref()).unwrap();
    let mut decryptor = FileDecryptor::new(&key, entry.offer.size).unwrap();
    let mut opened = Vec::new();
    for piece in stored.chunks(70_000) {
        opened.extend(decryptor.update(piece).unwrap());
    }
    let expected: [u8; 32] = entry.offer.sha256.as_ref().try_into().unwrap();
    opened.extend(decryptor.finish(&expected).unwrap());
    // Not `assert_eq!`: a failure would print a megabyte.
    assert!(opened == file);
}
