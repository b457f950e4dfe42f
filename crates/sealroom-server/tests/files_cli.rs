//! Files shared by native clients through a real server: `sealroom join --send-file` and
//! `--receive-files` move a file end to end encrypted (the server's disk never holds a byte of
//! it in the clear), and a download that is not the file offered leaves no file.

mod support;

use std::path::Path;

use rand::RngCore;
use sealroom_client::{
    files::{receive_file, send_file},
    session::{ChatEvent, FileEntry},
};
use sha2::{Digest, Sha256};
use support::{JoinProcess, SETTLE, TestServer, converge, room_link};

/// Repeated through the test file: the server's disk must never show it.
const MARKER: &[u8] = b"sealroom-plaintext-marker-0b5e";

/// `size` random bytes with [`MARKER`] every 64 KiB.
fn write_marked_file(path: &Path, size: usize) {
    let mut bytes = vec![0; size];
    rand::rng().fill_bytes(&mut bytes);
    for start in (0..size - MARKER.len()).step_by(64 * 1024) {
        bytes[start..start + MARKER.len()].copy_from_slice(MARKER);
    }
    std::fs::write(path, bytes).unwrap();
}

fn sha256_of(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The names of the files in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_unstable();
    names
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// Bob (JSON lines) and Carol (lines for people) wait in the encrypted group, saving files;
/// Alice joins without --chat and sends 20 MB. Both save a byte-identical copy, nothing else is
/// left in their directories, and the blob on the server's disk never shows the marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_from_one_native_client_to_another_end_to_end_encrypted() {
    let server = TestServer::start().await;
    let link = format!("{}/file-room#k={}", server.url(), room_link("file-room"));
    let source = tempfile::tempdir().unwrap();
    let original = source.path().join("payload.bin");
    write_marked_file(&original, 20 * 1000 * 1000);
    let (bob_dir, carol_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dir_arg = |dir: &tempfile::TempDir| dir.path().to_str().unwrap().to_owned();
    let (bob_files, carol_files) = (dir_arg(&bob_dir), dir_arg(&carol_dir));
    let mut bob = JoinProcess::start(
        &link,
        "bob",
        &["--chat", "--receive-files", &bob_files, "--report", "json"],
    );
    let mut carol =
        JoinProcess::start(&link, "carol", &["--chat", "--receive-files", &carol_files]);
    bob.expect("bob and carol in the group", |line| {
        line.contains(r#""name":"carol""#) && line.contains(r#""type":"members""#)
    })
    .await;
    carol
        .expect("bob and carol in the group", |line| {
            line == "* in the encrypted meeting: bob, carol"
                || line == "* in the encrypted meeting: carol, bob"
        })
        .await;

    let mut alice = JoinProcess::start(
        &link,
        "alice",
        &[
            "--send-file",
            original.to_str().unwrap(),
            "--report",
            "json",
        ],
    );
    let sent = json(
        &alice
            .expect("the file sent", |l| l.contains("file_sent"))
            .await,
    );
    assert_eq!(sent["name"], "payload.bin", "{sent}");
    assert_eq!(sent["size"], 20_000_000, "{sent}");
    assert!(sent["mb_per_s"].as_f64().unwrap() > 0.0, "{sent}");

    let received = json(
        &bob.expect("the file", |l| l.contains(r#""type":"file""#))
            .await,
    );
    let bob_copy = bob_dir.path().join("payload.bin");
    assert_eq!(received["from"], "alice", "{received}");
    assert_eq!(received["size"], 20_000_000, "{received}");
    assert_eq!(
        received["saved_to"],
        bob_copy.to_str().unwrap(),
        "{received}"
    );
    assert!(received["mb_per_s"].as_f64().unwrap() > 0.0, "{received}");
    let carol_copy = carol_dir.path().join("payload.bin");
    let saved = format!(
        "alice sent payload.bin (20.0 MB): saved to {}, SHA-256 checked (",
        carol_copy.display()
    );
    carol.expect(&saved, |line| line.contains(&saved)).await;

    for copy in [&bob_copy, &carol_copy] {
        assert_eq!(sha256_of(copy), sha256_of(&original), "{}", copy.display());
    }
    assert_eq!(names_in(bob_dir.path()), ["payload.bin"]);
    assert_eq!(names_in(carol_dir.path()), ["payload.bin"]);
    let blobs = server.data.path().join("blobs");
    let stored = names_in(&blobs);
    assert_eq!(stored.len(), 1, "one blob: {stored:?}");
    let ciphertext = std::fs::read(blobs.join(&stored[0])).unwrap();
    assert!(ciphertext.len() > 20_000_000, "{}", ciphertext.len());
    assert!(
        !contains(&ciphertext, MARKER),
        "the server's disk holds the file in the clear"
    );
}

/// The next file a client's chat brings.
async fn next_file(chat: &mut tokio::sync::mpsc::UnboundedReceiver<ChatEvent>) -> FileEntry {
    loop {
        match tokio::time::timeout(SETTLE, chat.recv()).await {
            Ok(Some(ChatEvent::File(entry))) => return entry,
            Ok(Some(_)) => {}
            waited => panic!("a file offer expected, got {waited:?}"),
        }
    }
}

/// Alice shares a file; Bob saves it. Then one byte of the blob changes on the server's disk:
/// Bob's download of it fails with the decryptor's words and leaves nothing in the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_yields_no_file() {
    let server = TestServer::start().await;
    let alice = server.join("tamper-room", "alice").await;
    let mut bob = server.join("tamper-room", "bob").await;
    let mut bob_chat = bob.take_chat().unwrap();
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let source = tempfile::tempdir().unwrap();
    let original = source.path().join("notes.txt");
    write_marked_file(&original, 300_000);

    let sent = send_file(&alice, &original).await.expect("alice sends");
    let entry = next_file(&mut bob_chat).await;
    assert_eq!(entry.offer.blob, sent.blob);
    let good = tempfile::tempdir().unwrap();
    let saved = receive_file(&bob.blob_access(), &entry, good.path())
        .await
        .expect("the untouched file is saved");
    assert_eq!(sha256_of(&saved.path), sha256_of(&original));

    let blob = server.data.path().join("blobs").join(&sent.blob);
    let mut ciphertext = std::fs::read(&blob).unwrap();
    let middle = ciphertext.len() / 2;
    ciphertext[middle] ^= 1;
    std::fs::write(&blob, ciphertext).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let error = receive_file(&bob.blob_access(), &entry, dir.path())
        .await
        .expect_err("an altered file is refused");
    assert_eq!(
        error.to_string(),
        "the file was altered, or the key does not match"
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}
