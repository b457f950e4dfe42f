//! The store of rooms' encrypted files over real HTTP: members of a room upload ciphertext (in
//! one request, or in parts) and download it byte for byte; nobody else gets anything; roles,
//! sizes, quotas, declared lengths and part order are enforced; and the blobs go with their
//! room, their time, or a restart, leaving on disk nothing but what was sent.

mod support;

use std::path::{Path, PathBuf};

use rand::RngCore;
use sealroom_protocol::{Allowed, ClientMessage, Permissions, ServerMessage};
use sealroom_server::config::FilesSettings;
use support::{Member, Reply, SETTLE, TestServer, head, send, wait_for};

const MIB: usize = 1024 * 1024;

/// A request with a whole body and these header lines, answered: with `token`, as its
/// `Authorization: Bearer`.
async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[&str],
    body: &[u8],
) -> Reply {
    let bearer = token.map(|token| format!("Authorization: Bearer {token}"));
    let mut lines = headers.to_vec();
    lines.extend(bearer.as_deref());
    server.http(method, path, &lines, body).await
}

impl Member {
    /// `POST /api/blobs` with the whole body (its length declared).
    async fn upload(&self, server: &TestServer, bytes: &[u8]) -> Reply {
        request(server, "POST", "/api/blobs", Some(&self.token), &[], bytes).await
    }

    /// `POST /api/blobs` that reserves `size` bytes, the parts to follow.
    async fn reserve(&self, server: &TestServer, size: usize) -> Reply {
        let declared = format!("Sealroom-Blob-Size: {size}");
        request(
            server,
            "POST",
            "/api/blobs",
            Some(&self.token),
            &[&declared],
            b"",
        )
        .await
    }

    async fn put(&self, server: &TestServer, id: &str, offset: usize, part: &[u8]) -> Reply {
        let path = format!("/api/blobs/{id}?offset={offset}");
        request(server, "PUT", &path, Some(&self.token), &[], part).await
    }

    /// Reserves `bytes.len()` and sends them in parts of `part` bytes.
    async fn upload_in_parts(&self, server: &TestServer, bytes: &[u8], part: usize) -> String {
        let id = self.reserve(server, bytes.len()).await.id();
        for (i, chunk) in bytes.chunks(part).enumerate() {
            let reply = self.put(server, &id, i * part, chunk).await;
            assert_eq!(reply.status, 204, "{reply:?}");
        }
        id
    }

    async fn get(&self, server: &TestServer, id: &str) -> Reply {
        let path = format!("/api/blobs/{id}");
        request(server, "GET", &path, Some(&self.token), &[], b"").await
    }

    async fn delete(&self, server: &TestServer, id: &str) -> Reply {
        let path = format!("/api/blobs/{id}");
        request(server, "DELETE", &path, Some(&self.token), &[], b"").await
    }

    /// Leaves the room, and returns once `witness`, still in it, sees it gone.
    async fn leave(mut self, witness: &mut Member) {
        send(&mut self.socket, &ClientMessage::Leave).await;
        let gone = self.id;
        wait_for(&mut witness.socket, |m| match m {
            ServerMessage::Participants { participants } => {
                participants.iter().all(|p| p.id != gone).then_some(())
            }
            _ => None,
        })
        .await;
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn blob_dir(data: &Path) -> PathBuf {
    data.join("blobs")
}

/// The files in the server's blob directory, with their sizes.
fn blob_files(server: &TestServer) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(blob_dir(server.data.path()))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

/// Waits until `done` holds (the server deletes files in the background).
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn until_no_blob_files(server: &TestServer) {
    eventually("the blob directory empties", async || {
        blob_files(server).is_empty()
    })
    .await;
}

/// The server's gauge of blob bytes.
async fn blob_bytes(server: &TestServer) -> u64 {
    server.gauge("sealroom_blob_bytes").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_uploads_and_another_downloads_the_same_bytes() {
    let server = TestServer::start().await;
    let alice = Member::join(&server, "files", "alice").await;
    let bob = Member::join(&server, "files", "bob").await;
    let bytes = random_bytes(3 * MIB + 123);

    let created = alice.upload(&server, &bytes).await;
    let expires_at = created.json()["expires_at"].as_u64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(expires_at > now_ms, "{created:?}");
    let in_one = created.id();
    let in_parts = alice.upload_in_parts(&server, &bytes, MIB).await;
    assert_ne!(in_one, in_parts);

    for id in [in_one, in_parts] {
        let download = bob.get(&server, &id).await;
        assert_eq!(download.status, 200, "{}", download.head);
        assert_eq!(
            download.header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(
            download.header("content-length"),
            Some(bytes.len().to_string().as_str())
        );
        assert_eq!(download.header("cache-control"), Some("no-store"));
        assert!(download.body == bytes, "the bytes differ");
    }
    assert_eq!(blob_bytes(&server).await, 2 * bytes.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_another_rooms_token_or_a_departed_members_token_gets_nothing() {
    let server = TestServer::start().await;
    let mut alice = Member::join(&server, "ours", "alice").await;
    let bob = Member::join(&server, "ours", "bob").await;
    let mallory = Member::join(&server, "theirs", "mallory").await;
    let id = alice.upload(&server, b"ciphertext").await.id();
    let path = format!("/api/blobs/{id}");
    let part_path = format!("{path}?offset=0");

    for token in [None, Some("made-up")] {
        for (method, path) in [
            ("POST", "/api/blobs"),
            ("GET", &path),
            ("PUT", &part_path),
            ("DELETE", &path),
        ] {
            let reply = request(&server, method, path, token, &[], b"x").await;
            assert_eq!(reply.status, 401, "{method} {path}: {reply:?}");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
            assert_eq!(reply.error(), "unauthorized");
        }
    }
    // Another room's member learns nothing, not even that the blob exists.
    let unknown = "0".repeat(32);
    for id in [id.as_str(), &unknown] {
        assert_eq!(mallory.get(&server, id).await.status, 404);
        assert_eq!(mallory.delete(&server, id).await.status, 404);
        assert_eq!(mallory.put(&server, id, 0, b"x").await.status, 404);
    }
    assert_eq!(bob.get(&server, &id).await.body, b"ciphertext");

    let departed = bob.token.clone();
    bob.leave(&mut alice).await;
    let reply = request(&server, "GET", &path, Some(&departed), &[], b"").await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        alice.get(&server, &id).await.status,
        200,
        "still the room's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_left_to_moderators_refuse_a_participants_upload() {
    let server = TestServer::start().await;
    let mut moderator = Member::join(&server, "briefing", "alice").await;
    let mut guest = Member::join(&server, "briefing", "bob").await;
    let permissions = Permissions {
        files: Allowed::Moderators,
        ..Permissions::default()
    };
    send(
        &mut moderator.socket,
        &ClientMessage::SetPermissions { permissions },
    )
    .await;
    wait_for(&mut guest.socket, |m| match m {
        ServerMessage::RoomSettings { permissions, .. } => {
            (permissions.files == Allowed::Moderators).then_some(())
        }
        _ => None,
    })
    .await;

    for refused in [
        guest.upload(&server, b"not allowed").await,
        guest.reserve(&server, 10).await,
    ] {
        assert_eq!(refused.status, 403, "{refused:?}");
        assert_eq!(refused.error(), "forbidden");
    }
    assert!(blob_files(&server).is_empty());
    let records = server.server.storage.audit_log("briefing").await.unwrap();
    assert!(
        records.iter().any(|r| r.action == "permission_refused"
            && r.participant.as_deref() == Some(guest.id.as_str())
            && r.detail.as_deref() == Some("what=send files")),
        "{records:#?}"
    );

    // Receiving is everyone's.
    let id = moderator.upload(&server, b"agenda").await.id();
    assert_eq!(guest.get(&server, &id).await.body, b"agenda");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_uploader_or_a_moderator_deletes_a_blob() {
    let server = TestServer::start().await;
    let moderator = Member::join(&server, "cleanup", "alice").await;
    let bob = Member::join(&server, "cleanup", "bob").await;
    let carol = Member::join(&server, "cleanup", "carol").await;
    let bobs = bob.upload(&server, b"bob's").await.id();
    let carols = carol.upload(&server, b"carol's").await.id();

    let refused = carol.delete(&server, &bobs).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(bob.delete(&server, &bobs).await.status, 204);
    assert_eq!(moderator.delete(&server, &carols).await.status, 204);
    for id in [&bobs, &carols] {
        assert_eq!(carol.get(&server, id).await.status, 404);
    }
    until_no_blob_files(&server).await;
    let records = server.server.storage.audit_log("cleanup").await.unwrap();
    let deleted = records
        .iter()
        .find(|r| r.action == "blob_deleted" && r.participant.as_deref() == Some(&moderator.id))
        .unwrap_or_else(|| panic!("{records:#?}"));
    let detail = format!("blob={carols} uploader={}", carol.id);
    assert_eq!(deleted.detail.as_deref(), Some(detail.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_over_the_size_limit_or_the_room_quota_is_refused_and_nothing_stays_on_disk() {
    let server = TestServer::start_configured(|config| {
        config.files = FilesSettings {
            max_blob_bytes: MIB as u64,
            room_quota_bytes: 2 * MIB as u64,
            server_quota_bytes: 3 * MIB as u64,
            ..FilesSettings::default()
        }
    })
    .await;
    let alice = Member::join(&server, "big", "alice").await;
    let carol = Member::join(&server, "other", "carol").await;

    let too_large = alice.reserve(&server, MIB + 1).await;
    assert_eq!(too_large.status, 413, "{too_large:?}");
    assert_eq!(too_large.error(), "too_large");
    // Declared in Content-Length: refused before a byte of the body is sent.
    let announced = head(
        "POST",
        "/api/blobs",
        &[
            alice.bearer(),
            format!("Content-Length: {}", MIB + 1),
            "Expect: 100-continue".into(),
        ],
    );
    let refused = Reply::parse(&server.exchange(&announced, false).await);
    assert_eq!(refused.status, 413, "{refused:?}");
    assert!(blob_files(&server).is_empty());

    let stored = alice.upload(&server, &random_bytes(MIB)).await.id();
    let reserved = alice.reserve(&server, MIB).await.id();
    let over_quota = alice.reserve(&server, 1).await;
    assert_eq!(over_quota.status, 413, "{over_quota:?}");
    assert_eq!(over_quota.error(), "room_quota");
    // Another room has its own quota, within the server's.
    let elsewhere = carol.reserve(&server, MIB).await.id();
    let full = carol.reserve(&server, 1).await;
    assert_eq!(full.status, 507, "{full:?}");
    assert_eq!(full.error(), "server_full");

    let mut expected = vec![(stored, MIB as u64), (reserved.clone(), 0), (elsewhere, 0)];
    expected.sort();
    assert_eq!(blob_files(&server), expected, "the refused left nothing");
    // Deleting frees the quota.
    assert_eq!(alice.delete(&server, &reserved).await.status, 204);
    assert_eq!(alice.reserve(&server, MIB).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_longer_or_shorter_than_declared_is_refused_and_deleted() {
    let server = TestServer::start().await;
    let alice = Member::join(&server, "exact", "alice").await;

    // One request declaring 1000 bytes, its body streamed (chunked) past them.
    let mut longer = head(
        "POST",
        "/api/blobs",
        &[
            alice.bearer(),
            "Sealroom-Blob-Size: 1000".into(),
            "Transfer-Encoding: chunked".into(),
        ],
    );
    for _ in 0..2 {
        longer.extend_from_slice(format!("{:x}\r\n", 600).as_bytes());
        longer.extend_from_slice(&[7; 600]);
        longer.extend_from_slice(b"\r\n");
    }
    longer.extend_from_slice(b"0\r\n\r\n");
    let refused = Reply::parse(&server.exchange(&longer, false).await);
    assert_eq!(refused.status, 413, "{refused:?}");
    assert_eq!(refused.error(), "too_long");

    // A part longer than what is left of its blob.
    let id = alice.reserve(&server, 1000).await.id();
    let refused = alice.put(&server, &id, 0, &[7; 1200]).await;
    assert_eq!(refused.status, 413, "{refused:?}");
    assert_eq!(alice.get(&server, &id).await.status, 404, "deleted");

    // One request whose body stops short of its Content-Length.
    let mut shorter = head(
        "POST",
        "/api/blobs",
        &[alice.bearer(), "Content-Length: 1000".into()],
    );
    shorter.extend_from_slice(&[7; 400]);
    server.exchange(&shorter, true).await;

    // A part that stops short.
    let id = alice.reserve(&server, 1000).await.id();
    assert_eq!(alice.put(&server, &id, 0, &[7; 600]).await.status, 204);
    let mut part = head(
        "PUT",
        &format!("/api/blobs/{id}?offset=600"),
        &[alice.bearer(), "Content-Length: 400".into()],
    );
    part.extend_from_slice(&[7; 100]);
    server.exchange(&part, true).await;
    eventually("the cut-short part's blob is gone", async || {
        alice.get(&server, &id).await.status == 404
    })
    .await;

    until_no_blob_files(&server).await;
    eventually("no bytes are held", async || blob_bytes(&server).await == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_out_of_order_are_refused() {
    let server = TestServer::start().await;
    let alice = Member::join(&server, "ordered", "alice").await;
    let bob = Member::join(&server, "ordered", "bob").await;
    let bytes = random_bytes(3000);
    let part = |n: usize| &bytes[n * 1000..(n + 1) * 1000];
    let id = alice.reserve(&server, bytes.len()).await.id();

    let early = alice.put(&server, &id, 1000, part(1)).await;
    assert_eq!(early.status, 409, "{early:?}");
    assert_eq!(early.error(), "wrong_offset");
    assert_eq!(alice.put(&server, &id, 0, part(0)).await.status, 204);
    for offset in [0, 2000] {
        let wrong = alice.put(&server, &id, offset, part(offset / 1000)).await;
        assert_eq!(wrong.status, 409, "offset {offset}: {wrong:?}");
    }
    let no_offset = request(
        &server,
        "PUT",
        &format!("/api/blobs/{id}"),
        Some(&alice.token),
        &[],
        part(1),
    )
    .await;
    assert_eq!(no_offset.status, 400, "{no_offset:?}");
    let not_the_uploader = bob.put(&server, &id, 1000, part(1)).await;
    assert_eq!(not_the_uploader.status, 403, "{not_the_uploader:?}");
    assert_eq!(alice.put(&server, &id, 1000, part(1)).await.status, 204);

    let incomplete = bob.get(&server, &id).await;
    assert_eq!(incomplete.status, 409, "{incomplete:?}");
    assert_eq!(incomplete.error(), "incomplete");
    assert_eq!(alice.put(&server, &id, 2000, part(2)).await.status, 204);
    assert_eq!(
        alice.put(&server, &id, 3000, b"more").await.error(),
        "complete"
    );
    assert!(bob.get(&server, &id).await.body == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_go_when_the_room_ends_or_their_time_is_up() {
    let server = TestServer::start().await;

    // The last one leaves.
    let mut alice = Member::join(&server, "emptied", "alice").await;
    let bob = Member::join(&server, "emptied", "bob").await;
    alice.upload(&server, b"one").await.id();
    bob.upload(&server, b"two").await.id();
    bob.leave(&mut alice).await;
    assert_eq!(blob_files(&server).len(), 2, "the room goes on");
    send(&mut alice.socket, &ClientMessage::Leave).await;
    until_no_blob_files(&server).await;

    // A moderator ends the meeting.
    let mut host = Member::join(&server, "ended", "carol").await;
    let mut dave = Member::join(&server, "ended", "dave").await;
    host.upload(&server, b"three").await.id();
    send(&mut host.socket, &ClientMessage::EndMeeting).await;
    wait_for(&mut dave.socket, |m| {
        matches!(m, ServerMessage::Removed { .. }).then_some(())
    })
    .await;
    until_no_blob_files(&server).await;
    let reply = request(&server, "POST", "/api/blobs", Some(&dave.token), &[], b"x").await;
    assert_eq!(reply.status, 401, "{reply:?}");

    // The server restarts over the same data directory.
    let erin = Member::join(&server, "restarted", "erin").await;
    erin.upload(&server, b"four").await.id();
    assert_eq!(blob_files(&server).len(), 1);
    server.server.stop();
    let data = server.data.path().to_owned();
    let restarted = TestServer::start_configured(|config| server.data.configure(config)).await;
    assert!(
        std::fs::read_dir(blob_dir(&data)).unwrap().next().is_none(),
        "no room outlives the server, nor its files"
    );
    drop(restarted);

    // The time is up.
    let short = TestServer::start_configured(|config| config.files.lifetime_secs = 2).await;
    let frank = Member::join(&short, "brief", "frank").await;
    let id = frank.upload(&short, b"five").await.id();
    eventually("the blob expires", async || {
        frank.get(&short, &id).await.status == 404
    })
    .await;
    until_no_blob_files(&short).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_only_what_it_was_sent() {
    let server = TestServer::start().await;
    let alice = Member::join(&server, "exact-copy", "alice").await;
    let bytes = random_bytes(300 * 1024);
    let id = alice.upload_in_parts(&server, &bytes, 128 * 1024).await;

    // 64 bytes from the middle: no other file holds them by chance.
    let marker = &bytes[150_000..150_064];
    let holding: Vec<PathBuf> = walkdir::WalkDir::new(server.data.path())
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| {
            let contents = std::fs::read(entry.path()).unwrap();
            assert!(
                !contents
                    .windows(alice.token.len())
                    .any(|w| w == alice.token.as_bytes()),
                "the blob token is kept in {}",
                entry.path().display()
            );
            contents.windows(marker.len()).any(|w| w == marker)
        })
        .map(|entry| entry.into_path())
        .collect();
    let blob = blob_dir(server.data.path()).join(&id);
    assert_eq!(
        holding,
        std::slice::from_ref(&blob),
        "one copy, named by its id alone"
    );
    assert!(
        std::fs::read(&blob).unwrap() == bytes,
        "exactly what was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisations_file_limit_refuses_a_larger_file_from_the_next_upload() {
    let server = TestServer::start().await;
    server
        .add_accounts(&[("adam", sealroom_server::org_roles::OrgRole::Admin)])
        .await;
    let adam = server.session_token("adam").await;
    let alice = Member::join(&server, "files", "alice").await;
    assert_eq!(alice.reserve(&server, MIB + 1).await.status, 201);

    let limit = format!(r#"{{"max_file_bytes":{MIB}}}"#);
    let changed = server
        .api(Some(&adam), "PUT", "/api/admin/settings", &limit)
        .await;
    assert_eq!(changed.status, 200);
    let too_large = alice.reserve(&server, MIB + 1).await;
    assert_eq!(
        (too_large.status, too_large.error()),
        (413, "too_large".to_owned())
    );
    assert_eq!(alice.reserve(&server, MIB).await.status, 201);
}
