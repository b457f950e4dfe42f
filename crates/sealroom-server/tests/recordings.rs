//! The store of end-to-end encrypted recordings over real HTTP: a participant uploads an
//! `SRR1` recording in parts, its owner proves its key without an account and lists, downloads
//! and decrypts it, before and after a restart, and deletes it; and from the attacker's side,
//! a role without the permission, no token, another key, forged, borrowed and stale proofs,
//! a replayed id and parts over the limits get nothing, while the disk holds only ciphertext.

mod support;

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sealroom_e2ee::{RecordingDecryptor, RecordingEncryptor, RecordingOwnerKey};
use sealroom_protocol::{Allowed, ClientMessage, Permissions, ServerMessage};
use sealroom_server::config::RecordingSettings;
use support::{Member, Reply, TestServer, next_message, send};

/// What the tests' recordings hold, here and there, in the clear: never on the server's disk.
const MARKER: &[u8] = b"PLAINTEXT-MARKER-the-meeting-said-this";

impl Member {
    /// `POST /api/recordings` with the first part.
    async fn start(&self, server: &TestServer, first: &[u8]) -> Reply {
        server
            .http("POST", "/api/recordings", &[&self.bearer()], first)
            .await
    }

    async fn put(&self, server: &TestServer, id: &str, offset: usize, part: &[u8]) -> Reply {
        let path = format!("/api/recordings/{id}?offset={offset}");
        server.http("PUT", &path, &[&self.bearer()], part).await
    }

    async fn complete(&self, server: &TestServer, id: &str) -> Reply {
        let path = format!("/api/recordings/{id}/complete");
        server.http("POST", &path, &[&self.bearer()], b"").await
    }

    /// Uploads `bytes` in parts of `part` bytes and completes the recording.
    async fn upload(&self, server: &TestServer, bytes: &[u8], part: usize) -> String {
        let id = self
            .start(server, &bytes[..part.min(bytes.len())])
            .await
            .id();
        for (i, chunk) in bytes.chunks(part).enumerate().skip(1) {
            let reply = self.put(server, &id, i * part, chunk).await;
            assert_eq!(reply.status, 204, "{reply:?}");
        }
        let reply = self.complete(server, &id).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        id
    }
}

/// A recording's plaintext: random bytes with [`MARKER`] here and there.
fn plaintext(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rng().fill_bytes(&mut bytes);
    for at in (0..len - MARKER.len()).step_by(50_000) {
        bytes[at..at + MARKER.len()].copy_from_slice(MARKER);
    }
    bytes
}

/// `plaintext` encrypted as a recorder does, for `owners`.
fn encrypt(owners: &[&RecordingOwnerKey], plaintext: &[u8]) -> Vec<u8> {
    let owners: Vec<_> = owners.iter().map(|o| o.public_key()).collect();
    let (mut recorder, mut bytes) = RecordingEncryptor::new(&owners).unwrap();
    for piece in plaintext.chunks(10_000) {
        bytes.extend(recorder.update(piece).unwrap());
    }
    bytes.extend(recorder.finish().unwrap());
    bytes
}

fn decrypt(owner: &RecordingOwnerKey, bytes: &[u8]) -> Vec<u8> {
    let mut reader = RecordingDecryptor::new(owner);
    let mut plaintext = reader.update(bytes).unwrap();
    plaintext.extend(reader.finish().unwrap());
    plaintext
}

/// Proves `key` as its owner does: the `Authorization` line to present.
async fn prove(server: &TestServer, key: &RecordingOwnerKey) -> String {
    let public = key.public_key().to_base64url();
    let nonce = key
        .open_owner_challenge(&challenge(server, &public).await)
        .unwrap();
    format!(
        "Authorization: SealroomOwner {public}.{}",
        URL_SAFE_NO_PAD.encode(nonce)
    )
}

/// A challenge for the owner key `public`.
async fn challenge(server: &TestServer, public: &str) -> Vec<u8> {
    let body = serde_json::json!({ "owner": public }).to_string();
    let reply = server
        .http(
            "POST",
            "/api/recordings/challenge",
            &["Content-Type: application/json"],
            body.as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let sealed = reply.json()["challenge"].as_str().unwrap().to_owned();
    URL_SAFE_NO_PAD.decode(sealed).unwrap()
}

async fn list(server: &TestServer, proof: &str) -> Reply {
    server.http("GET", "/api/recordings", &[proof], b"").await
}

async fn download(server: &TestServer, proof: &str, id: &str) -> Reply {
    let path = format!("/api/recordings/{id}");
    server.http("GET", &path, &[proof], b"").await
}

fn recording_dir(data: &Path) -> PathBuf {
    data.join("recordings")
}

/// The names of the files in the recordings directory, sorted.
fn recording_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(recording_dir(data))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether any file under `data` holds `needle`.
fn disk_holds(data: &Path, needle: &[u8]) -> bool {
    walk(data).iter().any(|path| {
        std::fs::read(path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    })
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Small parts, so that a recording of a few hundred KiB takes several.
fn small_parts(config: &mut sealroom_server::config::Config) {
    config.recording = RecordingSettings {
        max_part_bytes: 100_000,
        ..RecordingSettings::default()
    };
}

async fn actions(server: &TestServer, room: &str) -> Vec<(String, Option<String>)> {
    let records = server.server.storage.audit_log(room).await.unwrap();
    records.into_iter().map(|r| (r.action, r.detail)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_proves_its_key_lists_downloads_and_decrypts_even_after_a_restart() {
    let server = TestServer::start_configured(small_parts).await;
    let data = server.data.path().to_owned();
    let alice = Member::join(&server, "board", "alice").await;
    let owner = RecordingOwnerKey::generate().unwrap();
    let meeting = plaintext(350_000);
    let recording = encrypt(&[&owner], &meeting);
    let id = alice.upload(&server, &recording, 100_000).await;
    let header_id = sealroom_e2ee::recording::read_header(&recording)
        .unwrap()
        .recording_id;
    assert_eq!(
        id,
        hex::encode(header_id),
        "the header's id, as notices name it"
    );

    let proof = prove(&server, &owner).await;
    let listed = list(&server, &proof).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let entry = &listed.json()[0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["room"], "board");
    assert_eq!(entry["completed"], true);
    assert_eq!(entry["size"], recording.len() as u64);
    assert!(entry["created_at"].as_u64().unwrap() > 0);
    let kept = server.gauge("sealroom_recording_bytes").await;
    assert_eq!(kept, recording.len() as u64, "the operator's gauge");
    let downloaded = download(&server, &proof, &id).await;
    assert_eq!(downloaded.status, 200, "{downloaded:?}");
    assert!(downloaded.body == recording, "the bytes uploaded");
    assert!(decrypt(&owner, &downloaded.body) == meeting);

    // Only ciphertext on disk, in a directory only the server reads.
    assert!(!disk_holds(&data, MARKER), "plaintext on the server's disk");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(recording_dir(&data))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
    let records = actions(&server, "board").await;
    let created = format!("recording={id} owners={}", owner.public_key().fingerprint());
    let completed = format!("recording={id} bytes={}", recording.len());
    for (action, detail) in [
        ("recording_created", created),
        ("recording_completed", completed),
    ] {
        assert!(
            records.contains(&(action.into(), Some(detail.clone()))),
            "{action} {detail}: {records:#?}"
        );
    }

    // The meeting ends, the server restarts: the recording stays, proofs do not.
    drop(alice);
    server.server.stop();
    let restarted = TestServer::start_configured(|config| {
        small_parts(config);
        server.data.configure(config);
    })
    .await;
    let stale = list(&restarted, &proof).await;
    assert_eq!(stale.status, 401, "nonces live in memory: {stale:?}");
    let proof = prove(&restarted, &owner).await;
    let listed = list(&restarted, &proof).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["completed"], true);
    let downloaded = download(&restarted, &proof, &id).await;
    assert!(decrypt(&owner, &downloaded.body) == meeting);
    let kept = restarted.gauge("sealroom_recording_bytes").await;
    assert_eq!(kept, recording.len() as u64, "counted again at start");

    // The owner deletes it.
    let path = format!("/api/recordings/{id}");
    let deleted = restarted.http("DELETE", &path, &[&proof], b"").await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(list(&restarted, &proof).await.json(), serde_json::json!([]));
    assert_eq!(download(&restarted, &proof, &id).await.status, 404);
    assert_eq!(restarted.gauge("sealroom_recording_bytes").await, 0);
    assert!(
        recording_files(&data).is_empty(),
        "{:?}",
        recording_files(&data)
    );
    let by = format!(
        "recording={id} by=owner:{}",
        owner.public_key().fingerprint()
    );
    assert!(
        actions(&restarted, "board")
            .await
            .contains(&("recording_deleted".into(), Some(by))),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_the_recording_permission_or_without_a_token_stores_nothing() {
    let server = TestServer::start().await;
    let data = server.data.path().to_owned();
    let mut moderator = Member::join(&server, "briefing", "alice").await;
    let mut guest = Member::join(&server, "briefing", "bob").await;
    let permissions = Permissions {
        recording: Allowed::Moderators,
        ..Permissions::default()
    };
    send(
        &mut moderator.socket,
        &ClientMessage::SetPermissions { permissions },
    )
    .await;
    loop {
        if let ServerMessage::RoomSettings { permissions, .. } =
            next_message(&mut guest.socket).await
            && permissions.recording == Allowed::Moderators
        {
            break;
        }
    }
    let owner = RecordingOwnerKey::generate().unwrap();
    let recording = encrypt(&[&owner], &plaintext(1000));

    let refused = guest.start(&server, &recording).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.error(), "forbidden");
    for headers in [
        vec![],
        vec!["Authorization: Bearer made-up-token".to_owned()],
        vec![format!("Authorization: Basic {}", guest.token)],
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let reply = server
            .http("POST", "/api/recordings", &headers, &recording)
            .await;
        assert_eq!(reply.status, 401, "{headers:?}: {reply:?}");
        assert_eq!(reply.error(), "unauthorized");
    }
    assert!(recording_files(&data).is_empty(), "nothing stored");
    let proof = prove(&server, &owner).await;
    assert_eq!(list(&server, &proof).await.json(), serde_json::json!([]));
    let records = server.server.storage.audit_log("briefing").await.unwrap();
    assert!(
        records.iter().any(|r| r.action == "permission_refused"
            && r.participant.as_deref() == Some(guest.id.as_str())
            && r.detail.as_deref() == Some("what=record")),
        "{records:#?}"
    );

    // The moderator records; the guest may not add to, nor complete, its recording.
    let id = moderator.start(&server, &recording[..500]).await.id();
    let foreign_part = guest.put(&server, &id, 500, &recording[500..]).await;
    assert_eq!(foreign_part.status, 403, "{foreign_part:?}");
    assert_eq!(guest.complete(&server, &id).await.status, 403);
    let no_token = server
        .http(
            "PUT",
            &format!("/api/recordings/{id}?offset=500"),
            &[],
            &recording[500..],
        )
        .await;
    assert_eq!(no_token.status, 401, "{no_token:?}");
    let listed = list(&server, &proof).await.json();
    assert_eq!(listed[0]["size"], 500);
    assert_eq!(listed[0]["completed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_sees_nothing_and_forged_borrowed_or_stale_proofs_are_refused() {
    let server = TestServer::start_configured(|config| {
        config.recording.owner_proof_secs = 2;
    })
    .await;
    let alice = Member::join(&server, "private", "alice").await;
    let owner = RecordingOwnerKey::generate().unwrap();
    let mallory = RecordingOwnerKey::generate().unwrap();
    let recording = encrypt(&[&owner], &plaintext(5000));
    let id = alice.upload(&server, &recording, 5000).await;
    let path = format!("/api/recordings/{id}");

    // Another key, proven: nothing of it.
    let mallorys = prove(&server, &mallory).await;
    assert_eq!(list(&server, &mallorys).await.json(), serde_json::json!([]));
    let not_found = download(&server, &mallorys, &id).await;
    assert_eq!(not_found.status, 404, "{not_found:?}");
    let not_deleted = server.http("DELETE", &path, &[&mallorys], b"").await;
    assert_eq!(not_deleted.status, 404, "{not_deleted:?}");
    let unknown = download(&server, &mallorys, "..%2F..%2Fsealroom.db").await;
    assert_eq!(unknown.status, 404, "{unknown:?}");

    // The owner's key with a nonce it was never sent, or one sealed to Mallory.
    let public = owner.public_key().to_base64url();
    let mallorys_nonce = mallorys.rsplit_once('.').unwrap().1;
    let made_up = URL_SAFE_NO_PAD.encode([7; 32]);
    let blob_token = alice.bearer();
    for forged in [
        format!("Authorization: SealroomOwner {public}.{made_up}"),
        format!("Authorization: SealroomOwner {public}.{mallorys_nonce}"),
        format!("Authorization: SealroomOwner {public}"),
        format!("Authorization: SealroomOwner {public}.{}", "x".repeat(43)),
        blob_token,
        String::new(),
    ] {
        let headers: Vec<&str> = [forged.as_str()]
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect();
        for reply in [
            server.http("GET", "/api/recordings", &headers, b"").await,
            server.http("GET", &path, &headers, b"").await,
            server.http("DELETE", &path, &headers, b"").await,
        ] {
            assert_eq!(reply.status, 401, "{forged}: {reply:?}");
            assert_eq!(reply.error(), "owner_unauthorized");
            assert!(reply.head.contains("SealroomOwner"), "{reply:?}");
        }
    }
    // A challenge is sealed to the key it names: Mallory cannot open Alice's.
    let sealed = challenge(&server, &public).await;
    assert!(mallory.open_owner_challenge(&sealed).is_err());
    let bad_key = server
        .http(
            "POST",
            "/api/recordings/challenge",
            &[],
            br#"{"owner": "AAAA"}"#,
        )
        .await;
    assert_eq!(bad_key.status, 400, "{bad_key:?}");

    // A proof that was good, once its time is up.
    let proof = prove(&server, &owner).await;
    assert_eq!(list(&server, &proof).await.json()[0]["id"], id.as_str());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let stale = list(&server, &proof).await;
    assert_eq!(stale.status, 401, "{stale:?}");
    let proof = prove(&server, &owner).await;
    assert_eq!(download(&server, &proof, &id).await.body, recording);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_upload_with_the_same_id_is_refused() {
    let server = TestServer::start().await;
    let alice = Member::join(&server, "first", "alice").await;
    let mallory = Member::join(&server, "elsewhere", "mallory").await;
    let owner = RecordingOwnerKey::generate().unwrap();
    let recording = encrypt(&[&owner], &plaintext(3000));
    let id = alice.start(&server, &recording).await.id();
    for (who, bytes) in [(&alice, &recording[..]), (&mallory, &recording[..200])] {
        let again = who.start(&server, bytes).await;
        assert_eq!(again.status, 409, "{again:?}");
        assert_eq!(again.error(), "exists");
    }
    let proof = prove(&server, &owner).await;
    let listed = list(&server, &proof).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["room"], "first");
    assert!(
        download(&server, &proof, &id).await.body == recording,
        "untouched"
    );

    // Not a recording at all.
    let garbage = alice
        .start(&server, b"SRF1 this is no recording header")
        .await;
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert_eq!(garbage.error(), "bad_header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_over_the_limits_are_refused_and_the_recording_stays_incomplete() {
    let server = TestServer::start_configured(|config| {
        config.recording = RecordingSettings {
            max_bytes: 90_000,
            max_part_bytes: 8192,
            ..RecordingSettings::default()
        };
    })
    .await;
    let data = server.data.path().to_owned();
    let mut alice = Member::join(&server, "limits", "alice").await;
    let owner = RecordingOwnerKey::generate().unwrap();
    let meeting = plaintext(200_000);
    let recording = encrypt(&[&owner], &meeting);

    let whole = alice.start(&server, &recording[..20_000]).await;
    assert_eq!(whole.status, 413, "{whole:?}");
    assert_eq!(whole.error(), "part_too_long");
    assert!(
        recording_files(&data).is_empty(),
        "a refused first part leaves nothing"
    );

    let id = alice.start(&server, &recording[..8192]).await.id();
    let long = alice
        .put(&server, &id, 8192, &recording[8192..8192 + 8193])
        .await;
    assert_eq!(long.status, 413, "{long:?}");
    assert_eq!(long.error(), "part_too_long");
    let mut offset = 8192;
    while offset + 8192 <= 90_000 {
        let part = &recording[offset..offset + 8192];
        assert_eq!(alice.put(&server, &id, offset, part).await.status, 204);
        offset += 8192;
    }
    let over = alice
        .put(&server, &id, offset, &recording[offset..offset + 8192])
        .await;
    assert_eq!(over.status, 413, "{over:?}");
    assert_eq!(over.error(), "too_large");
    assert!(over.json()["message"].as_str().unwrap().contains("90000"));

    // The uploader leaves without completing: the recording stays, incomplete.
    send(&mut alice.socket, &ClientMessage::Leave).await;
    let proof = prove(&server, &owner).await;
    let listed = list(&server, &proof).await.json();
    assert_eq!(listed[0]["completed"], false);
    assert_eq!(listed[0]["size"], offset as u64);
    let kept = download(&server, &proof, &id).await.body;
    assert!(kept == recording[..offset], "only what was accepted");
    // Its whole chunks still open, and are the meeting's.
    let mut reader = RecordingDecryptor::new(&owner);
    let opened = reader.update(&kept).unwrap();
    assert!(!opened.is_empty() && meeting.starts_with(&opened));
    assert!(reader.finish().is_err(), "but it is known to be cut short");
    assert!(!disk_holds(&data, MARKER));
}
