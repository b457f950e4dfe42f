//! Attacks on encrypted recordings, through the `recording` API. The attacker is the server that
//! stores the recording (or anyone on the path of its upload or download): it holds every owner's
//! public key and a key pair of its own, and can cut, reorder, alter, extend and splice the bytes
//! of this and other recordings. Where a test says so, the attacker is the recorder itself.
//!
//! The tests build headers by hand from the documented format (`docs/recording-format.md`), so
//! they also pin that format.

use hmac::{Hmac, Mac};
use mls_rs::{CipherSuiteProvider, CryptoProvider, crypto::HpkePublicKey};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use sealroom_e2ee::{
    RecordingDecryptor, RecordingEncryptor, RecordingError, RecordingOwnerKey,
    RecordingOwnerPublic,
    file_crypto::{self, CHUNK_SIZE, FileEncryptor, FileKey},
    group::CIPHER_SUITE,
    recording::MAX_OWNERS,
};
use sha2::{Digest, Sha256};

#[path = "support/dice.rs"]
mod dice;
use dice::{Dice, pieces};

/// The header's fixed part: magic, recording id, number of owners.
const FIXED: usize = 4 + 16 + 1;
/// One owner's entry: public key, HPKE `enc`, sealed recording key.
const ENTRY: usize = 32 + 32 + 48;
const HEADER_TAG: usize = 32;
const CHUNK_TAG: usize = 16;
const SEALED_CHUNK: usize = CHUNK_SIZE + CHUNK_TAG;

fn header_len(owners: usize) -> usize {
    FIXED + owners * ENTRY + HEADER_TAG
}

/// A recording made as the recorder's client makes it, fed in `pieces`.
fn record_pieces(owners: &[RecordingOwnerPublic], pieces: &[&[u8]]) -> Vec<u8> {
    let (mut encryptor, mut recording) = RecordingEncryptor::new(owners).unwrap();
    for piece in pieces {
        recording.extend(encryptor.update(piece).unwrap());
    }
    recording.extend(encryptor.finish().unwrap());
    recording
}

fn record(owners: &[RecordingOwnerPublic], plaintext: &[u8]) -> Vec<u8> {
    let mut dice = Dice(plaintext.len() as u64 + 11);
    record_pieces(owners, &pieces(plaintext, &mut dice, 2 * CHUNK_SIZE + 100))
}

/// Decrypts `pieces` with `owner`'s key; the recording only if every step succeeds.
fn open_pieces(owner: &RecordingOwnerKey, pieces: &[&[u8]]) -> Result<Vec<u8>, RecordingError> {
    let mut decryptor = RecordingDecryptor::new(owner);
    let mut plaintext = Vec::new();
    for piece in pieces {
        plaintext.extend(decryptor.update(piece)?);
    }
    plaintext.extend(decryptor.finish()?);
    Ok(plaintext)
}

fn open(owner: &RecordingOwnerKey, recording: &[u8]) -> Result<Vec<u8>, RecordingError> {
    open_pieces(owner, &[recording])
}

/// Why `recording` opens nothing for `owner` (`None`: it opens).
fn failure(owner: &RecordingOwnerKey, recording: &[u8]) -> Option<RecordingError> {
    open(owner, recording).err()
}

fn keys(count: usize) -> Vec<RecordingOwnerKey> {
    (0..count)
        .map(|_| RecordingOwnerKey::generate().unwrap())
        .collect()
}

fn publics(owners: &[RecordingOwnerKey]) -> Vec<RecordingOwnerPublic> {
    owners.iter().map(RecordingOwnerKey::public_key).collect()
}

/// A recording taken apart along the documented format.
struct Parts {
    id: Vec<u8>,
    entries: Vec<Vec<u8>>,
    tag: Vec<u8>,
    body: Vec<u8>,
}

impl Parts {
    fn of(recording: &[u8]) -> Self {
        assert_eq!(&recording[..4], b"SRR1");
        let owners = usize::from(recording[FIXED - 1]);
        let tag_start = FIXED + owners * ENTRY;
        Self {
            id: recording[4..20].to_vec(),
            entries: recording[FIXED..tag_start]
                .chunks(ENTRY)
                .map(<[u8]>::to_vec)
                .collect(),
            tag: recording[tag_start..tag_start + HEADER_TAG].to_vec(),
            body: recording[tag_start + HEADER_TAG..].to_vec(),
        }
    }

    fn untagged_header(&self) -> Vec<u8> {
        let count = [self.entries.len() as u8];
        [&b"SRR1"[..], &self.id, &count, &self.entries.concat()].concat()
    }

    fn bytes(&self) -> Vec<u8> {
        [self.untagged_header(), self.tag.clone(), self.body.clone()].concat()
    }

    /// Tags the header under `key`, as only a holder of the key can.
    fn retag(&mut self, key: &[u8; 32]) {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(b"sealroom recording header v1");
        mac.update(&self.untagged_header());
        self.tag = mac.finalize().into_bytes().to_vec();
    }

    /// Replaces the body with `plaintext` encrypted under `key`, bound to the header.
    fn rebody(&mut self, key: &[u8; 32], plaintext: &[u8]) {
        let header = [self.untagged_header(), self.tag.clone()].concat();
        let file_key = FileKey::from_bytes(key).unwrap();
        let context = Sha256::digest(&header);
        let mut encryptor = FileEncryptor::with_key(&file_key, &context).unwrap();
        self.body = encryptor.update(plaintext).unwrap();
        self.body.extend(encryptor.finish().unwrap().0);
    }
}

/// An owner entry sealing `key` to `owner` for the recording `id`, as anyone may make one: HPKE
/// base mode needs only the public key.
fn entry(owner: &RecordingOwnerPublic, id: &[u8], key: &[u8; 32]) -> Vec<u8> {
    let suite = RustCryptoProvider::default()
        .cipher_suite_provider(CIPHER_SUITE)
        .unwrap();
    let info = [&b"sealroom recording key v1"[..], id, owner.as_bytes()].concat();
    let public = HpkePublicKey::from(owner.as_bytes().to_vec());
    let sealed = suite.hpke_seal(&public, &info, None, key).unwrap();
    [
        &owner.as_bytes()[..],
        &sealed.kem_output,
        &sealed.ciphertext,
    ]
    .concat()
}

/// A key the attacker chose.
fn attacker_key() -> [u8; 32] {
    Dice(99).bytes(32).try_into().unwrap()
}

#[test]
fn every_owner_decrypts_the_same_recording_whatever_the_pieces() {
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 7,
    ];
    for owner_count in [1, 2] {
        let owners = keys(owner_count);
        for size in sizes {
            let mut dice = Dice(size as u64 * 7 + owner_count as u64);
            let plaintext = dice.bytes(size);
            let written = pieces(&plaintext, &mut dice, 2 * CHUNK_SIZE + 100);
            let recording = record_pieces(&publics(&owners), &written);
            assert_eq!(
                recording.len(),
                header_len(owner_count) + 15 + {
                    let chunks = size / CHUNK_SIZE;
                    chunks * SEALED_CHUNK + size % CHUNK_SIZE + CHUNK_TAG
                }
            );
            for owner in &owners {
                let arrived = pieces(&recording, &mut dice, 2 * CHUNK_SIZE + 100);
                let opened = open_pieces(owner, &arrived).unwrap();
                // Not `assert_eq!`: a failure would print megabytes.
                assert!(opened == plaintext, "{owner_count} owners, size {size}");
            }
        }
    }
}

#[test]
fn ten_megabytes_written_and_read_in_odd_pieces_open_alike_for_two_owners() {
    const SIZE: usize = 10_000_000;
    let plaintext = Dice(10).bytes(SIZE);
    let owners = keys(2);
    let odd = [1, 7, 4_093, 65_537, 131_071, 1_000_003, 3];
    let mut written = Vec::new();
    let mut rest = &plaintext[..];
    for size in odd.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at((*size).min(rest.len()));
        written.push(piece);
        rest = after;
    }
    let recording = record_pieces(&publics(&owners), &written);
    let expected = Sha256::digest(&plaintext);
    for (owner, max) in owners.iter().zip([65_519, 2_000_001]) {
        let arrived = pieces(&recording, &mut Dice(max as u64), max);
        let opened = open_pieces(owner, &arrived).unwrap();
        assert_eq!(opened.len(), SIZE);
        assert_eq!(Sha256::digest(&opened), expected);
    }
}

#[test]
fn a_key_that_is_not_an_owner_gets_not_an_owner_and_nothing_else() {
    let owners = keys(2);
    let stranger = RecordingOwnerKey::generate().unwrap();
    let recording = record(&publics(&owners), &Dice(1).bytes(3 * CHUNK_SIZE));
    assert_eq!(
        failure(&stranger, &recording),
        Some(RecordingError::NotAnOwner)
    );
    // It is told as soon as the header is in, before any chunk.
    let mut decryptor = RecordingDecryptor::new(&stranger);
    let header = &recording[..header_len(2)];
    assert_eq!(decryptor.update(&header[..header.len() - 1]).unwrap(), b"");
    assert_eq!(
        decryptor.update(&header[header.len() - 1..]).err(),
        Some(RecordingError::NotAnOwner)
    );
    assert_eq!(RecordingError::NotAnOwner.code(), "not_an_owner");
}

/// The server puts its own key, with a wrap it sealed itself for this recording, in place of
/// Bob's: with the header as it was, and re-tagged under the key it sealed.
#[test]
fn the_server_cannot_put_its_key_in_place_of_an_owners() {
    let [alice, bob, server]: [RecordingOwnerKey; 3] = keys(3).try_into().ok().unwrap();
    let recording = record(
        &[alice.public_key(), bob.public_key()],
        &[7; 3 * CHUNK_SIZE],
    );
    let mut parts = Parts::of(&recording);
    parts.entries[1] = entry(&server.public_key(), &parts.id, &attacker_key());
    let swapped = parts.bytes();
    assert_eq!(failure(&alice, &swapped), Some(RecordingError::Tampered));
    assert_eq!(failure(&bob, &swapped), Some(RecordingError::NotAnOwner));
    assert_eq!(failure(&server, &swapped), Some(RecordingError::Tampered));

    parts.retag(&attacker_key());
    let retagged = parts.bytes();
    assert_eq!(failure(&alice, &retagged), Some(RecordingError::Tampered));
    // The header is now the server's own, but the body is under the real key: no chunk opens.
    let mut decryptor = RecordingDecryptor::new(&server);
    assert_eq!(
        decryptor.update(&retagged).err(),
        Some(RecordingError::Tampered)
    );
}

#[test]
fn dropping_reordering_or_repeating_a_wrap_is_detected() {
    let [alice, bob]: [RecordingOwnerKey; 2] = keys(2).try_into().ok().unwrap();
    let recording = record(&[alice.public_key(), bob.public_key()], &[1; 100]);
    let parts = Parts::of(&recording);

    let mut dropped = Parts::of(&recording);
    dropped.entries.remove(1);
    assert_eq!(
        failure(&alice, &dropped.bytes()),
        Some(RecordingError::Tampered)
    );
    assert_eq!(
        failure(&bob, &dropped.bytes()),
        Some(RecordingError::NotAnOwner)
    );

    let mut reordered = Parts::of(&recording);
    reordered.entries.reverse();
    for owner in [&alice, &bob] {
        assert_eq!(
            failure(owner, &reordered.bytes()),
            Some(RecordingError::Tampered)
        );
    }

    let mut repeated = Parts::of(&recording);
    repeated.entries = vec![parts.entries[0].clone(), parts.entries[0].clone()];
    assert_eq!(
        failure(&alice, &repeated.bytes()),
        Some(RecordingError::MalformedHeader)
    );
}

/// The server adds a wrap for itself after the fact. It cannot seal the real key, which it does
/// not have: it seals one of its own.
#[test]
fn an_owner_added_after_the_fact_reads_nothing() {
    let [alice, bob, server]: [RecordingOwnerKey; 3] = keys(3).try_into().ok().unwrap();
    let recording = record(
        &[alice.public_key(), bob.public_key()],
        &[3; 2 * CHUNK_SIZE],
    );
    let mut parts = Parts::of(&recording);
    parts
        .entries
        .push(entry(&server.public_key(), &parts.id, &attacker_key()));
    for tagged_by_server in [false, true] {
        if tagged_by_server {
            parts.retag(&attacker_key());
        }
        let added = parts.bytes();
        for owner in [&alice, &bob] {
            assert_eq!(failure(owner, &added), Some(RecordingError::Tampered));
        }
        let mut decryptor = RecordingDecryptor::new(&server);
        assert_eq!(
            decryptor.update(&added).err(),
            Some(RecordingError::Tampered),
            "tagged by the server: {tagged_by_server}"
        );
    }
}

#[test]
fn a_wrap_copied_from_another_recording_does_not_open() {
    let [alice, bob]: [RecordingOwnerKey; 2] = keys(2).try_into().ok().unwrap();
    let owners = [alice.public_key(), bob.public_key()];
    let first = record(&owners, &[1; CHUNK_SIZE + 5]);
    let second = record(&owners, &[2; CHUNK_SIZE + 5]);
    let (mut spliced, other) = (Parts::of(&first), Parts::of(&second));
    assert_ne!(spliced.id, other.id, "each recording has its own id");
    let (encryptor, header) = RecordingEncryptor::new(&owners).unwrap();
    assert_eq!(encryptor.recording_id(), header[4..20]);
    spliced.entries[0] = other.entries[0].clone();
    assert_eq!(
        failure(&alice, &spliced.bytes()),
        Some(RecordingError::WrapDoesNotOpen)
    );
    // The whole header of the second in front of the body of the first: another key.
    let moved = [&second[..header_len(2)], &first[header_len(2)..]].concat();
    assert_eq!(failure(&alice, &moved), Some(RecordingError::Tampered));
}

/// The attacker is the recorder: it seals one key to Alice and another to Bob, hoping to show
/// each a different recording from one upload. The header tag commits it to one key.
#[test]
fn a_recorder_cannot_give_two_owners_two_keys() {
    let [alice, bob]: [RecordingOwnerKey; 2] = keys(2).try_into().ok().unwrap();
    let (for_alice, for_bob) = (attacker_key(), [5; 32]);
    let mut parts = Parts::of(&record(&[alice.public_key()], b""));
    parts.entries = vec![
        entry(&alice.public_key(), &parts.id, &for_alice),
        entry(&bob.public_key(), &parts.id, &for_bob),
    ];
    parts.retag(&for_alice);
    parts.rebody(&for_alice, b"what alice sees");
    let forged = parts.bytes();
    assert_eq!(open(&alice, &forged).unwrap(), b"what alice sees");
    assert_eq!(failure(&bob, &forged), Some(RecordingError::Tampered));
}

#[test]
fn a_cut_anywhere_is_truncated() {
    let owners = keys(2);
    let recording = record(&publics(&owners), &Dice(3).bytes(3 * CHUNK_SIZE + 100));
    let header = header_len(2);
    let chunk_start = |i: usize| header + 15 + i * SEALED_CHUNK;
    let mut cuts = vec![0, 1, 3, FIXED - 1, FIXED, FIXED + ENTRY, header - 1, header];
    cuts.extend([header + 1, header + 14, header + 15]);
    for i in 0..3 {
        cuts.extend([
            chunk_start(i),
            chunk_start(i) + 1,
            chunk_start(i) + CHUNK_SIZE / 2,
        ]);
    }
    // The last chunk: 100 bytes and the tag.
    cuts.extend([chunk_start(3), chunk_start(3) + 50]);
    cuts.extend([recording.len() - CHUNK_TAG, recording.len() - 1]);
    for cut in cuts {
        let cut_short = &recording[..cut];
        for owner in &owners {
            assert_eq!(
                failure(owner, cut_short),
                Some(RecordingError::Truncated),
                "cut at {cut}"
            );
        }
        let arrived = pieces(cut_short, &mut Dice(cut as u64 + 1), 70_000);
        let opened = open_pieces(&owners[0], &arrived);
        assert_eq!(
            opened.err(),
            Some(RecordingError::Truncated),
            "cut at {cut}"
        );
    }
}

/// Every byte of the header, and bytes of every chunk: each failure says where it was found.
#[test]
fn a_flipped_byte_anywhere_fails() {
    let [alice, bob]: [RecordingOwnerKey; 2] = keys(2).try_into().ok().unwrap();
    let recording = record(
        &[alice.public_key(), bob.public_key()],
        &[9; 2 * CHUNK_SIZE + 10],
    );
    let header = header_len(2);
    let last_chunk = header + 15 + 2 * SEALED_CHUNK;
    let alice_entry = FIXED..FIXED + ENTRY;
    let mut positions: Vec<usize> = (0..header + 15).collect();
    for start in [header + 15, header + 15 + SEALED_CHUNK, last_chunk] {
        let end = (start + SEALED_CHUNK).min(recording.len());
        positions.extend([start, start + 5]);
        positions.extend(end - CHUNK_TAG..end);
    }
    for position in positions {
        let mut altered = recording.clone();
        altered[position] ^= 0x01;
        let expected = match position {
            0..4 => RecordingError::MalformedHeader,
            // The recording id: in every wrap's HPKE info.
            4..20 => RecordingError::WrapDoesNotOpen,
            // The owner count, 2 becomes 3: the header reads on into the body; Alice's wrap
            // opens, the tag does not check.
            20 => RecordingError::Tampered,
            // Alice's public key: her wrap is gone.
            21..53 => RecordingError::NotAnOwner,
            53..133 => RecordingError::WrapDoesNotOpen,
            // A cut inside the last chunk looks the same (the reader has no length).
            p if p >= last_chunk => RecordingError::Truncated,
            // Bob's entry, the tag, the body.
            _ => RecordingError::Tampered,
        };
        assert_eq!(failure(&alice, &altered), Some(expected), "byte {position}");
        if alice_entry.contains(&position) {
            assert_eq!(failure(&bob, &altered), Some(RecordingError::Tampered));
        }
    }
}

#[test]
fn reordered_dropped_or_replayed_chunks_fail() {
    let owner = RecordingOwnerKey::generate().unwrap();
    let recording = record(&[owner.public_key()], &Dice(5).bytes(3 * CHUNK_SIZE + 100));
    let start = header_len(1) + 15;
    let front = &recording[..start];
    let chunk = |i: usize| &recording[start + i * SEALED_CHUNK..start + (i + 1) * SEALED_CHUNK];
    let last = &recording[start + 3 * SEALED_CHUNK..];
    let swapped = [front, chunk(1), chunk(0), chunk(2), last].concat();
    let replayed = [front, chunk(0), chunk(0), chunk(2), last].concat();
    let dropped = [front, chunk(0), chunk(2), last].concat();
    let last_moved_up = [front, chunk(0), chunk(1), last, chunk(2)].concat();
    for altered in [swapped, replayed, dropped, last_moved_up] {
        assert_eq!(failure(&owner, &altered), Some(RecordingError::Tampered));
    }
    // The last chunk dropped: a cut at a chunk boundary, which no whole chunk can end.
    let no_last = [front, chunk(0), chunk(1), chunk(2)].concat();
    assert_eq!(failure(&owner, &no_last), Some(RecordingError::Truncated));
}

#[test]
fn bytes_after_the_end_fail() {
    let owner = RecordingOwnerKey::generate().unwrap();
    let recording = record(&[owner.public_key()], &[4; CHUNK_SIZE + 10]);
    let last = &recording[header_len(1) + 15 + SEALED_CHUNK..];
    for extra in [&[0u8][..], last, &recording[..]] {
        let extended = [&recording[..], extra].concat();
        assert!(failure(&owner, &extended).is_some());
    }
}

#[test]
fn after_a_failure_every_call_fails() {
    let owner = RecordingOwnerKey::generate().unwrap();
    let recording = record(&[owner.public_key()], &[6; 2 * CHUNK_SIZE]);
    let mut altered = recording.clone();
    altered[header_len(1) + 20] ^= 1;
    let mut decryptor = RecordingDecryptor::new(&owner);
    let first = header_len(1) + 15 + SEALED_CHUNK;
    assert_eq!(
        decryptor.update(&altered[..first]).err(),
        Some(RecordingError::Tampered)
    );
    assert_eq!(
        decryptor.update(&recording[first..]).err(),
        Some(RecordingError::Tampered)
    );
    assert_eq!(decryptor.finish().err(), Some(RecordingError::Tampered));
}

#[test]
fn the_recording_holds_no_plaintext() {
    const MARKER: &[u8; 32] = b"SEALROOM-RECORDING-PLAIN-MARKER!";
    let owners = keys(2);
    let recording = record(&publics(&owners), &MARKER.repeat(3 * CHUNK_SIZE / 32));
    // Not the marker, nor any 8 bytes of it.
    let fragments: Vec<&[u8]> = MARKER.windows(8).collect();
    assert!(!recording.windows(8).any(|w| fragments.contains(&w)));
}

#[test]
fn an_owner_key_keeps_its_public_key_through_its_file_and_text() {
    let key = RecordingOwnerKey::generate().unwrap();
    let file = key.to_bytes();
    assert_eq!(file.len(), 37);
    assert_eq!(&file[..5], b"SRRK\x01");
    let again = RecordingOwnerKey::from_bytes(&file).unwrap();
    assert_eq!(again.public_key(), key.public_key());

    let text = key.public_key().to_base64url();
    assert_eq!(text.len(), 44);
    assert!(text.starts_with('A'), "version 1: {text}");
    let parsed = RecordingOwnerPublic::parse(&format!("  {text}\n")).unwrap();
    assert_eq!(parsed, key.public_key());
    let fingerprint = key.public_key().fingerprint();
    assert_eq!(fingerprint.len(), 32);
    assert!(
        fingerprint
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );
    assert_eq!(fingerprint, parsed.fingerprint());
    assert_ne!(
        fingerprint,
        RecordingOwnerKey::generate()
            .unwrap()
            .public_key()
            .fingerprint()
    );

    // A recording sealed to the key decrypts with the key read back from its file.
    let recording = record(&[parsed], b"kept");
    assert_eq!(open(&again, &recording).unwrap(), b"kept");
}

#[test]
fn malformed_keys_are_refused() {
    let file = RecordingOwnerKey::generate().unwrap().to_bytes().to_vec();
    let mut wrong_magic = file.clone();
    wrong_magic[0] = b'X';
    let mut wrong_version = file.clone();
    wrong_version[4] = 2;
    for bad in [
        &b""[..],
        &file[..36],
        &[&file[..], &[0]].concat(),
        &wrong_magic,
        &wrong_version,
    ] {
        assert!(matches!(
            RecordingOwnerKey::from_bytes(bad),
            Err(RecordingError::InvalidSecretKey)
        ));
    }

    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let public = RecordingOwnerKey::generate().unwrap().public_key();
    let raw = public.as_bytes();
    let texts = [
        String::new(),
        "not a key".into(),
        URL_SAFE_NO_PAD.encode(raw),
        URL_SAFE_NO_PAD.encode([&[2][..], raw].concat()),
        URL_SAFE_NO_PAD.encode([&[1][..], raw, &[0]].concat()),
        URL_SAFE_NO_PAD.encode([&[1][..], &[0; 32]].concat()),
        format!("{}=", public.to_base64url()),
    ];
    for text in texts {
        assert_eq!(
            RecordingOwnerPublic::parse(&text),
            Err(RecordingError::InvalidPublicKey),
            "{text:?}"
        );
    }
}

#[test]
fn the_recorder_needs_one_to_sixteen_distinct_owners() {
    let owners = publics(&keys(MAX_OWNERS + 1));
    let refused = |owners: &[RecordingOwnerPublic]| RecordingEncryptor::new(owners).err();
    assert_eq!(refused(&[]), Some(RecordingError::NoOwners));
    assert_eq!(
        refused(&[owners[0], owners[1], owners[0]]),
        Some(RecordingError::DuplicateOwner)
    );
    assert_eq!(refused(&owners), Some(RecordingError::TooManyOwners));
    assert_eq!(refused(&owners[..MAX_OWNERS]), None);
}

#[test]
fn the_last_of_sixteen_owners_decrypts() {
    let owners = keys(MAX_OWNERS);
    let recording = record(&publics(&owners), b"sixteen");
    assert_eq!(recording[FIXED - 1], 16);
    assert_eq!(open(&owners[15], &recording).unwrap(), b"sixteen");
}

#[test]
fn a_header_that_is_not_a_recordings_fails_as_soon_as_it_shows() {
    let owner = RecordingOwnerKey::generate().unwrap();
    // An encrypted file (`SRF1`), not a recording: refused at its third byte.
    let (mut file, _) = file_crypto::FileEncryptor::new().unwrap();
    let file = file.update(b"x").unwrap();
    let mut decryptor = RecordingDecryptor::new(&owner);
    for byte in &file[..2] {
        assert_eq!(decryptor.update(&[*byte]).unwrap(), b"");
    }
    assert_eq!(
        decryptor.update(&file[2..3]).err(),
        Some(RecordingError::MalformedHeader)
    );

    let recording = record(&[owner.public_key()], b"x");
    for (count, error) in [
        (0, RecordingError::MalformedHeader),
        (17, RecordingError::TooManyOwners),
        (255, RecordingError::TooManyOwners),
    ] {
        let mut altered = recording[..FIXED].to_vec();
        altered[FIXED - 1] = count;
        assert_eq!(
            RecordingDecryptor::new(&owner).update(&altered).err(),
            Some(error),
            "{count} owners"
        );
    }
}

#[test]
fn error_codes_are_stable() {
    let codes = [
        (RecordingError::NotAnOwner, "not_an_owner"),
        (RecordingError::WrapDoesNotOpen, "wrap_does_not_open"),
        (RecordingError::Truncated, "truncated"),
        (RecordingError::Tampered, "tampered"),
        (RecordingError::MalformedHeader, "malformed_header"),
        (RecordingError::TooManyOwners, "too_many_owners"),
        (RecordingError::NoOwners, "no_owners"),
        (RecordingError::DuplicateOwner, "duplicate_owner"),
        (RecordingError::InvalidPublicKey, "invalid_public_key"),
        (RecordingError::InvalidSecretKey, "invalid_secret_key"),
        (RecordingError::TooLarge, "too_large"),
        (RecordingError::Crypto, "crypto"),
    ];
    for (error, code) in codes {
        assert_eq!(error.code(), code);
    }
}
