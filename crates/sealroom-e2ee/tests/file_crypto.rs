//! Attacks on encrypted files, through the `file_crypto` API. The attacker is the server that
//! stores the blob, or anyone on the path of a download: it can cut, reorder, alter and extend
//! the ciphertext, but holds no file key, except where a test says it is the sender.

use sealroom_e2ee::file_crypto::{
    CHUNK_SIZE, FileCryptoError, FileDecryptor, FileEncryptor, FileKey, HEADER_BYTES,
    MAX_FILE_BYTES, ciphertext_len,
};

#[path = "support/dice.rs"]
mod dice;
use dice::{Dice, pieces};

/// Pieces up to a little over 2 chunks.
const PIECE_MAX: usize = 2 * CHUNK_SIZE + 100;

const TAG: usize = 16;
const SEALED_CHUNK: usize = CHUNK_SIZE + TAG;

/// A file encrypted as its sender's client does it.
struct Sealed {
    plaintext: Vec<u8>,
    ciphertext: Vec<u8>,
    key: FileKey,
    sha256: [u8; 32],
}

fn seal_in_pieces(plaintext: Vec<u8>, dice: &mut Dice) -> Sealed {
    let (mut encryptor, key) = FileEncryptor::new().unwrap();
    let mut ciphertext = Vec::new();
    for piece in pieces(&plaintext, dice, PIECE_MAX) {
        ciphertext.extend(encryptor.update(piece).unwrap());
    }
    let (last, sha256) = encryptor.finish().unwrap();
    ciphertext.extend(last);
    Sealed {
        plaintext,
        ciphertext,
        key,
        sha256,
    }
}

fn seal(plaintext: Vec<u8>) -> Sealed {
    seal_in_pieces(plaintext, &mut Dice(7))
}

/// A file of `size` bytes of random content.
fn file(size: usize) -> Sealed {
    seal(Dice(size as u64 + 1).bytes(size))
}

/// Decrypts `ciphertext` fed in the given pieces; the file only if every step succeeds.
fn open_pieces(
    key: &FileKey,
    size: usize,
    pieces: &[&[u8]],
    sha256: &[u8; 32],
) -> Result<Vec<u8>, FileCryptoError> {
    let mut decryptor = FileDecryptor::new(key, size as u64)?;
    let mut plaintext = Vec::new();
    for piece in pieces {
        plaintext.extend(decryptor.update(piece)?);
    }
    plaintext.extend(decryptor.finish(sha256)?);
    Ok(plaintext)
}

/// Why `ciphertext`, downloaded for the sealed file's offer, opens no file (`None`: it opens).
fn failure(sealed: &Sealed, ciphertext: &[u8]) -> Option<FileCryptoError> {
    let size = sealed.plaintext.len();
    open_pieces(&sealed.key, size, &[ciphertext], &sealed.sha256).err()
}

/// Where chunk `index` starts in the ciphertext.
fn chunk_start(index: usize) -> usize {
    HEADER_BYTES + index * SEALED_CHUNK
}

#[test]
fn a_file_round_trips_whatever_the_pieces_it_arrives_in() {
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        5 * CHUNK_SIZE + 7,
    ];
    for size in sizes {
        for seed in 1..=3 {
            let mut dice = Dice(seed * 1_000 + size as u64);
            let sealed = seal_in_pieces(dice.bytes(size), &mut dice);
            let arrived = pieces(&sealed.ciphertext, &mut dice, PIECE_MAX);
            let opened = open_pieces(&sealed.key, size, &arrived, &sealed.sha256);
            // Not `assert_eq!`: a failure would print megabytes.
            assert!(
                opened.unwrap() == sealed.plaintext,
                "size {size}, seed {seed}"
            );
        }
    }
}

#[test]
fn a_truncated_file_fails_and_yields_nothing() {
    let sealed = file(3 * CHUNK_SIZE + 100);
    let length = sealed.ciphertext.len();
    let cuts = [
        0,
        HEADER_BYTES - 1,
        HEADER_BYTES,
        chunk_start(1),
        chunk_start(3),
        chunk_start(1) + CHUNK_SIZE / 2,
        length - TAG,
        length - 1,
    ];
    for cut in cuts {
        let failed = failure(&sealed, &sealed.ciphertext[..cut]);
        assert_eq!(failed, Some(FileCryptoError::Truncated), "cut at {cut}");
    }
}

#[test]
fn a_reordered_or_dropped_chunk_fails() {
    let sealed = file(3 * CHUNK_SIZE + 100);
    let chunk = |i: usize| &sealed.ciphertext[chunk_start(i)..chunk_start(i + 1)];
    let header = &sealed.ciphertext[..HEADER_BYTES];
    let last = &sealed.ciphertext[chunk_start(3)..];
    let swapped = [header, chunk(1), chunk(0), chunk(2), last].concat();
    let replayed = [header, chunk(0), chunk(0), chunk(2), last].concat();
    let dropped = [header, chunk(0), chunk(2), last].concat();
    // The last chunk moved up, the file filled out to its length with a whole chunk.
    let cut_short = [header, chunk(0), chunk(1), last, chunk(2)].concat();
    for altered in [swapped, replayed, dropped, cut_short] {
        assert!(failure(&sealed, &altered).is_some());
    }

    let mut decryptor = FileDecryptor::new(&sealed.key, sealed.plaintext.len() as u64).unwrap();
    let swapped = [header, chunk(1)].concat();
    assert_eq!(
        decryptor.update(&swapped).err(),
        Some(FileCryptoError::Tampered)
    );
    // Failed for good: the right chunk now opens nothing either.
    assert_eq!(
        decryptor.update(chunk(0)).err(),
        Some(FileCryptoError::Tampered)
    );
    assert_eq!(
        decryptor.finish(&sealed.sha256).err(),
        Some(FileCryptoError::Tampered)
    );
}

#[test]
fn a_flipped_byte_anywhere_fails() {
    let sealed = file(2 * CHUNK_SIZE + 10);
    let length = sealed.ciphertext.len();
    let mut positions: Vec<usize> = (0..HEADER_BYTES).collect();
    for start in [chunk_start(0), chunk_start(1), chunk_start(2)] {
        let end = (start + SEALED_CHUNK).min(length);
        positions.extend([start, start + 5]);
        positions.extend(end - TAG..end);
    }
    for position in positions {
        let mut altered = sealed.ciphertext.clone();
        altered[position] ^= 0x01;
        let expected = match position {
            // The magic and the chunk size: not this version's header.
            0..8 => FileCryptoError::BadHeader,
            _ => FileCryptoError::Tampered,
        };
        assert_eq!(
            failure(&sealed, &altered),
            Some(expected),
            "byte {position}"
        );
    }
}

#[test]
fn bytes_after_the_last_chunk_fail() {
    let sealed = file(CHUNK_SIZE + 10);
    let last = &sealed.ciphertext[chunk_start(1)..];
    for extra in [&[0u8][..], last] {
        let extended = [&sealed.ciphertext[..], extra].concat();
        assert_eq!(failure(&sealed, &extended), Some(FileCryptoError::TooLong));
    }

    let mut decryptor = FileDecryptor::new(&sealed.key, sealed.plaintext.len() as u64).unwrap();
    decryptor.update(&sealed.ciphertext).unwrap();
    assert_eq!(decryptor.update(&[0]).err(), Some(FileCryptoError::TooLong));
    assert_eq!(
        decryptor.finish(&sealed.sha256).err(),
        Some(FileCryptoError::TooLong)
    );
}

#[test]
fn another_key_opens_nothing() {
    for size in [0, 10, CHUNK_SIZE + 10] {
        let sealed = file(size);
        let other = FileKey::generate().unwrap();
        let mut decryptor = FileDecryptor::new(&other, size as u64).unwrap();
        // A whole chunk fails as it arrives; a file of one short chunk fails at the end.
        let opened = decryptor
            .update(&sealed.ciphertext)
            .and_then(|_| decryptor.finish(&sealed.sha256));
        assert_eq!(opened.err(), Some(FileCryptoError::Tampered), "size {size}");
    }
}

/// The sender, who holds the key, offers one file and uploads another: the hash in the offer
/// gives it away.
#[test]
fn the_hash_of_another_file_fails() {
    let sealed = file(CHUNK_SIZE + 10);
    let other = seal(vec![0; CHUNK_SIZE + 10]);
    let size = sealed.plaintext.len();
    let opened = open_pieces(&sealed.key, size, &[&sealed.ciphertext], &other.sha256);
    assert_eq!(opened.err(), Some(FileCryptoError::HashMismatch));
}

/// The offer says the file is larger or smaller than the one uploaded: no file either way.
#[test]
fn a_size_other_than_the_files_fails() {
    let sealed = file(2 * CHUNK_SIZE + 10);
    let size = sealed.plaintext.len();
    let sizes = [
        (size + 1, FileCryptoError::Truncated),
        (size - 1, FileCryptoError::TooLong),
        (size + CHUNK_SIZE, FileCryptoError::Truncated),
        (size - CHUNK_SIZE, FileCryptoError::TooLong),
    ];
    for (wrong, error) in sizes {
        let opened = open_pieces(&sealed.key, wrong, &[&sealed.ciphertext], &sealed.sha256);
        assert_eq!(opened.err(), Some(error), "size {wrong}");
    }
}

#[test]
fn the_ciphertext_length_is_known_before_encrypting() {
    for size in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
    ] {
        let sealed = file(size);
        assert_eq!(
            ciphertext_len(size as u64),
            Some(sealed.ciphertext.len() as u64),
            "size {size}"
        );
    }
    assert_eq!(ciphertext_len(0), Some((HEADER_BYTES + TAG) as u64));
    assert!(ciphertext_len(MAX_FILE_BYTES).is_some());
    assert_eq!(ciphertext_len(MAX_FILE_BYTES + 1), None);
    let too_large = FileDecryptor::new(&FileKey::generate().unwrap(), MAX_FILE_BYTES + 1);
    assert!(matches!(too_large, Err(FileCryptoError::TooLarge)));
}

#[test]
fn the_ciphertext_holds_no_plaintext() {
    const MARKER: &[u8] = b"SEALROOM-PLAINTEXT-MARKER";
    let sealed = seal(MARKER.repeat(3 * CHUNK_SIZE / MARKER.len()));
    // Not the marker, nor any 8 bytes of it.
    let fragments: Vec<&[u8]> = MARKER.windows(8).collect();
    let mut windows = sealed.ciphertext.windows(8);
    assert!(!windows.any(|window| fragments.contains(&window)));
}
