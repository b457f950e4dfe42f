//! `sealroom recording` as an owner runs it: two owner keys made (the owner's and a stranger's),
//! a multi-megabyte file encrypted to the owner as a recorder does it; the owner gets the same
//! bytes back, the stranger and a cut recording get a clear message, a failing exit code and no
//! output file.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use rand::RngCore;
use sha2::{Digest, Sha256};

const SEALROOM: &str = env!("CARGO_BIN_EXE_sealroom");

/// Repeated through the input: the encrypted recording must never show it.
const MARKER: &[u8] = b"sealroom-recording-marker-5c1f";

fn sealroom(args: &[&str], dir: &Path) -> Output {
    Command::new(SEALROOM)
        .arg("recording")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sealroom runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `sealroom recording keygen --out NAME`; the public key it printed.
fn keygen(dir: &Path, name: &str) -> String {
    let made = sealroom(&["keygen", "--out", name], dir);
    assert!(made.status.success(), "{}", stderr(&made));
    let printed = stdout(&made);
    let public = printed
        .lines()
        .find_map(|line| line.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {printed:?}"))
        .to_owned();
    assert!(printed.contains("fingerprint: "), "{printed}");
    let shown = sealroom(&["public-key", "--key", name], dir);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(
        stdout(&shown).trim(),
        public,
        "public-key shows keygen's key"
    );
    public
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sha256_of(path: PathBuf) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

/// The owner's and a stranger's keys, and a 6 MB file marked with [`MARKER`] encrypted to the
/// owner as `meeting.srr`, which is returned.
fn record_for_owner(path: &Path) -> Vec<u8> {
    let owner = keygen(path, "owner.key");
    keygen(path, "stranger.key");
    let again = sealroom(&["keygen", "--out", "owner.key"], path);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let mut plaintext = vec![0; 6_000_000 + 17];
    rand::rng().fill_bytes(&mut plaintext);
    for start in (0..plaintext.len() - MARKER.len()).step_by(10_000) {
        plaintext[start..start + MARKER.len()].copy_from_slice(MARKER);
    }
    std::fs::write(path.join("meeting.webm"), &plaintext).unwrap();
    let sealed = sealroom(
        &[
            "encrypt",
            "--owner",
            &owner,
            "--out",
            "meeting.srr",
            "meeting.webm",
        ],
        path,
    );
    assert!(sealed.status.success(), "{}", stderr(&sealed));
    let ciphertext = std::fs::read(path.join("meeting.srr")).unwrap();
    assert!(!ciphertext.windows(MARKER.len()).any(|w| w == MARKER));
    ciphertext
}

/// `decrypt --key KEY --out OUT INPUT` fails, says `why`, and leaves no file behind.
fn assert_refused(path: &Path, [key, out, input]: [&str; 3], why: &str) {
    let before = files_in(path);
    let refused = sealroom(&["decrypt", "--key", key, "--out", out, input], path);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains(why), "{}", stderr(&refused));
    assert_eq!(files_in(path), before, "no output, no temporary file");
}

#[test]
fn an_owner_decrypts_a_recording_and_a_stranger_or_a_cut_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let ciphertext = record_for_owner(path);

    let opened = sealroom(
        &[
            "decrypt",
            "--key",
            "owner.key",
            "--out",
            "decrypted.webm",
            "meeting.srr",
        ],
        path,
    );
    assert!(opened.status.success(), "{}", stderr(&opened));
    assert_eq!(
        sha256_of(path.join("decrypted.webm")),
        sha256_of(path.join("meeting.webm"))
    );

    let stranger = ["stranger.key", "stolen.webm", "meeting.srr"];
    assert_refused(path, stranger, "not an owner");
    std::fs::write(path.join("cut.srr"), &ciphertext[..ciphertext.len() / 2]).unwrap();
    assert_refused(path, ["owner.key", "cut.webm", "cut.srr"], "incomplete");
}

#[test]
fn a_decrypted_recording_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let owner = keygen(path, "owner.key");
    std::fs::write(path.join("talk.webm"), b"a short recording").unwrap();
    let sealed = sealroom(
        &[
            "encrypt",
            "--owner",
            &owner,
            "--out",
            "talk.srr",
            "talk.webm",
        ],
        path,
    );
    assert!(sealed.status.success(), "{}", stderr(&sealed));
    std::fs::write(path.join("mine.webm"), b"mine").unwrap();
    let refused = sealroom(
        &[
            "decrypt",
            "--key",
            "owner.key",
            "--out",
            "mine.webm",
            "talk.srr",
        ],
        path,
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(path.join("mine.webm")).unwrap(), b"mine");

    let bad_owner = sealroom(
        &[
            "encrypt",
            "--owner",
            "not-a-key",
            "--out",
            "x.srr",
            "talk.webm",
        ],
        path,
    );
    assert!(!bad_owner.status.success());
    assert!(
        stderr(&bad_owner).contains("not a valid recording owner public key"),
        "{}",
        stderr(&bad_owner)
    );
}
