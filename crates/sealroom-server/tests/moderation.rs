//! Meeting access control through a real server: roles, lock, kick, ban, room passwords, join
//! rate limits, and the audit log and metrics for each.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sealroom_client::session::{RoomClient, SessionError, Status};
use sealroom_e2ee::{Device, DeviceIdentity, LinkSecret};
use sealroom_protocol::{
    Allowed, ApplicationKind, Bytes, ClientMessage, ErrorCode, Interaction, Permissions,
    RemovalReason, Role, ServerMessage, decode, encode,
};
use sealroom_server::{config::AccessSettings, rate_limit::RateLimit};
use support::{
    SETTLE, Socket, TestServer, assert_only_members_decrypt, connect, converge, next_chat_messages,
    room_link, wait_for_media,
};
use tokio_tungstenite::tungstenite::Message;

/// The next message of interest: not a participant list, room settings, the moderator key
/// or SDP (nor a keepalive ping).
async fn next(socket: &mut Socket) -> Option<ServerMessage> {
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        };
        let message: ServerMessage = decode(&text).unwrap();
        if !matches!(
            message,
            ServerMessage::Participants { .. }
                | ServerMessage::RoomSettings { .. }
                | ServerMessage::ModeratorKey { .. }
                | ServerMessage::ResumeToken { .. }
                | ServerMessage::IceServers { .. }
                | ServerMessage::SdpOffer { .. }
        ) {
            return Some(message);
        }
    }
}

async fn send(socket: &mut Socket, message: &ClientMessage) {
    socket
        .send(Message::Text(encode(message).into()))
        .await
        .unwrap();
}

fn join(room: &str, name: &str, password: Option<&str>) -> ClientMessage {
    ClientMessage::Join {
        room: room.into(),
        display_name: name.into(),
        password: password.map(str::to_owned),
        moderator_key: None,
        holds_link: true,
        breakout_of: None,
    }
}

fn participant_id(status: &Status, name: &str) -> String {
    status
        .participants
        .iter()
        .find(|p| p.display_name == name)
        .unwrap_or_else(|| panic!("{name} in {status:#?}"))
        .id
        .clone()
}

fn refusal_code(result: Result<RoomClient, SessionError>) -> ErrorCode {
    match result {
        Err(SessionError::Refused { code, .. }) => code,
        Err(other) => panic!("refused with a code, not {other}"),
        Ok(_) => panic!("the join should have been refused"),
    }
}

/// Waits until the room's audit log has `action` and returns the records.
async fn audited(server: &TestServer, room: &str, action: &str) -> Vec<(String, Option<String>)> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let records = server.server.storage.audit_log(room).await.unwrap();
        if records.iter().any(|r| r.action == action) {
            return records.into_iter().map(|r| (r.action, r.detail)).collect();
        }
        assert!(Instant::now() < deadline, "no {action} in {records:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_room_refuses_new_joiners_until_unlocked() {
    let server = TestServer::start().await;
    let alice = server.join("fortress", "alice").await;
    let bob = server.join("fortress", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    assert_eq!(
        alice.status().role,
        Role::Moderator,
        "the creator moderates"
    );
    assert_eq!(bob.status().role, Role::Guest);

    alice.lock();
    bob.wait_until(SETTLE, |s| s.room_locked).await.unwrap();
    let refused = server.try_join("fortress", "carol", None).await;
    assert_eq!(refusal_code(refused), ErrorCode::AccessDenied);

    alice.unlock();
    bob.wait_until(SETTLE, |s| !s.room_locked).await.unwrap();
    let carol = server.join("fortress", "carol").await;
    converge(&[&alice, &bob, &carol], &["alice", "bob", "carol"]).await;

    let records = audited(&server, "fortress", "room_unlocked").await;
    assert!(records.iter().any(|(a, _)| a == "room_locked"));
    assert!(
        records.iter().any(|(a, d)| a == "join_refused"
            && d.as_deref().is_some_and(|d| d.contains("reason=locked")))
    );
    assert!(
        server
            .metrics()
            .await
            .contains(r#"sealroom_audit_events_total{action="room_locked"} 1"#)
    );
}

/// A slow disk (the test holds the lock the audit log's writes wait for) holds the answer to a
/// lock: nobody hears of it before its audit record is on disk, so a crash cannot lose the
/// record of an action the room already announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_hears_of_a_lock_before_its_record_is_on_disk() {
    let server = TestServer::start().await;
    let alice = server.join("ledger", "alice").await;
    let bob = server.join("ledger", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let mut disk = server.data.hold_audit_log_lock().await;

    alice.lock();
    let early = bob
        .wait_until(Duration::from_millis(1500), |s| s.room_locked)
        .await;
    assert!(
        early.is_err(),
        "the lock was announced before its record was written"
    );
    disk.execute("COMMIT").await;
    disk.close().await;
    bob.wait_until(SETTLE, |s| s.room_locked).await.unwrap();
    let records = server.server.storage.audit_log("ledger").await.unwrap();
    assert!(
        records.iter().any(|r| r.action == "room_locked"),
        "{records:#?}"
    );
}

/// The kicked participant's keyring opens nothing sent after the kick; the time from the kick
/// to the others' new epoch is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicked_participant_cannot_decrypt_frames_sent_after_the_kick() {
    let server = TestServer::start().await;
    let alice = server.join("kickoff", "alice").await;
    let bob = server.join("kickoff", "bob").await;
    let carol = server.join("kickoff", "carol").await;
    let before = converge(&[&alice, &bob, &carol], &["alice", "bob", "carol"]).await;
    let carol_keys = carol.media_keys();
    let carol_id = participant_id(&alice.status(), "carol");

    let kicked_at = Instant::now();
    alice.kick(&carol_id);
    let after = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let rekey = kicked_at.elapsed();
    println!("kick to the others' rekey took {rekey:?}");
    assert!(after[0].epoch > before[0].epoch);
    carol
        .wait_until(SETTLE, |s| {
            s.removed_by_moderator == Some(RemovalReason::Kicked)
        })
        .await
        .unwrap_or_else(|s| panic!("carol told: {s:#?}"));

    assert_only_members_decrypt(&alice, &bob, &carol_keys, b"after the kick");
    let records = audited(&server, "kickoff", "participant_kicked").await;
    assert!(records.iter().any(|(a, d)| a == "participant_kicked"
        && d.as_deref() == Some(format!("target={carol_id}").as_str())));
}

/// Mallory's device is banned; back under a new connection with the same signature key, her
/// key package is refused and the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_device_key_package_is_refused_on_rejoin() {
    let server = TestServer::start().await;
    let alice = server.join("no-mallory", "alice").await;
    let mallory = Device::new(DeviceIdentity::generate("mallory").unwrap());
    let link = LinkSecret::parse(&room_link("no-mallory")).unwrap();

    let mut first = connect(&server).await;
    send(&mut first, &join("no-mallory", "mallory", None)).await;
    assert!(matches!(
        next(&mut first).await,
        Some(ServerMessage::Joined { .. })
    ));
    send(
        &mut first,
        &ClientMessage::KeyPackage {
            key_package: Bytes(mallory.key_package_with_link(&link).unwrap()),
        },
    )
    .await;
    assert!(matches!(
        next(&mut first).await,
        Some(ServerMessage::Welcome { .. })
    ));
    converge(&[&alice], &["alice", "mallory"]).await;

    let mallory_id = participant_id(&alice.status(), "mallory");
    alice.ban(&mallory_id);
    assert_eq!(
        next(&mut first).await,
        Some(ServerMessage::Removed {
            reason: RemovalReason::Banned
        })
    );
    assert_eq!(next(&mut first).await, None, "the connection is closed");
    converge(&[&alice], &["alice"]).await;

    let mut again = connect(&server).await;
    send(&mut again, &join("no-mallory", "mallory again", None)).await;
    assert!(matches!(
        next(&mut again).await,
        Some(ServerMessage::Joined { .. })
    ));
    send(
        &mut again,
        &ClientMessage::KeyPackage {
            key_package: Bytes(mallory.key_package_with_link(&link).unwrap()),
        },
    )
    .await;
    assert!(matches!(
        next(&mut again).await,
        Some(ServerMessage::Error {
            code: ErrorCode::Banned,
            ..
        })
    ));
    assert_eq!(next(&mut again).await, None, "the connection is closed");

    let records = audited(&server, "no-mallory", "banned_device_refused").await;
    let fingerprint = mallory.identity().fingerprint().to_string();
    assert!(
        records.iter().any(|(a, d)| a == "participant_banned"
            && d.as_deref().is_some_and(|d| d.contains(&fingerprint))),
        "{records:#?}"
    );
}

/// A wrong password, a missing password, a locked room and a room that does not exist all get
/// the very same message; the time each took is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_missing_room_get_the_same_answer() {
    let server = TestServer::start().await;
    let alice = server.join("vault", "alice").await;
    alice.set_password(Some("password".into()));
    alice.set_password(Some("velvet harbour sings".into()));
    alice
        .wait_until(SETTLE, |s| s.room_password_required)
        .await
        .unwrap();
    let status = alice.status();
    assert_eq!(
        status.server_error_codes,
        [ErrorCode::WeakPassword],
        "a common password is refused by the policy"
    );

    let mut socket = connect(&server).await;
    let mut answers = Vec::new();
    for (room, password) in [
        ("vault", Some("wrong horse battery")),
        ("no-such-room", Some("wrong horse battery")),
        ("vault", None),
    ] {
        let started = Instant::now();
        send(&mut socket, &join(room, "eve", password)).await;
        let answer = next(&mut socket).await.unwrap();
        println!(
            "join {room} with password {:?}: {:?}",
            password.is_some(),
            started.elapsed()
        );
        answers.push(encode(&answer));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:#?}");
    assert!(answers[0].contains(r#""code":"access_denied""#));
    // The probe created nothing.
    assert!(
        server
            .server
            .storage
            .audit_log("no-such-room")
            .await
            .unwrap()
            .iter()
            .all(|r| r.action != "room_created")
    );

    let bob = server
        .try_join("vault", "bob", Some("velvet harbour sings"))
        .await
        .expect("the right password opens the room");
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let records = audited(&server, "vault", "password_set").await;
    assert!(
        records.iter().any(|(a, d)| a == "join_refused"
            && d.as_deref().is_some_and(|d| d.contains("password_wrong")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_brute_force_hits_the_rate_limit() {
    let server = TestServer::start_with_access(AccessSettings {
        join_per_address: RateLimit {
            burst: 4,
            per_minute: 2,
        },
        ..AccessSettings::default()
    })
    .await;
    let alice = server.join("guarded", "alice").await;
    alice.set_password(Some("velvet harbour sings".into()));
    alice
        .wait_until(SETTLE, |s| s.room_password_required)
        .await
        .unwrap();

    let mut socket = connect(&server).await;
    let mut codes = Vec::new();
    let mut retry_after = None;
    for guess in 0..6 {
        send(
            &mut socket,
            &join("guarded", "eve", Some(&format!("guess number {guess}"))),
        )
        .await;
        match next(&mut socket).await.unwrap() {
            ServerMessage::Error {
                code,
                retry_after_ms,
                ..
            } => {
                codes.push(code);
                retry_after = retry_after.or(retry_after_ms);
            }
            other => panic!("{other:?}"),
        }
    }
    // Alice's join took the first token of the address.
    assert_eq!(
        codes,
        [
            ErrorCode::AccessDenied,
            ErrorCode::AccessDenied,
            ErrorCode::AccessDenied,
            ErrorCode::RateLimited,
            ErrorCode::RateLimited,
            ErrorCode::RateLimited,
        ]
    );
    let retry_after = retry_after.expect("a retry-after");
    assert!(retry_after > 0 && retry_after <= 30_000, "{retry_after}");

    // The same from the native client: a typed refusal with the time to wait.
    match server
        .try_join("guarded", "eve", Some("velvet harbour sings"))
        .await
    {
        Err(SessionError::Refused {
            code: ErrorCode::RateLimited,
            retry_after: Some(_),
            ..
        }) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("rate limited even with the right password"),
    }

    // The flood is counted in full but logged once.
    let records = audited(&server, "guarded", "join_rate_limited").await;
    assert_eq!(
        records
            .iter()
            .filter(|(a, _)| a == "join_rate_limited")
            .count(),
        1
    );
    let metrics = server.metrics().await;
    let counted = metrics.lines().find(|line| {
        line.starts_with(r#"sealroom_audit_events_total{action="join_rate_limited"}"#)
    });
    assert_eq!(
        counted,
        Some(r#"sealroom_audit_events_total{action="join_rate_limited"} 4"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_room_limit_holds_across_addresses() {
    let server = TestServer::start_with_access(AccessSettings {
        join_per_room: RateLimit {
            burst: 2,
            per_minute: 1,
        },
        ..AccessSettings::default()
    })
    .await;
    let mut socket = connect(&server).await;
    send(&mut socket, &join("popular", "a", Some("one guess only"))).await;
    send(&mut socket, &join("popular", "a", Some("two guesses only"))).await;
    send(&mut socket, &join("popular", "a", Some("three guesses"))).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let Some(ServerMessage::Error { code, .. }) = next(&mut socket).await else {
            panic!("an error");
        };
        codes.push(code);
    }
    assert_eq!(
        codes,
        [
            ErrorCode::AccessDenied,
            ErrorCode::AccessDenied,
            ErrorCode::RateLimited
        ]
    );
    // Another room is not affected.
    server.join("quiet", "b").await;
}

/// Bob, a participant, crafts every moderation message, and a join that claims a role: each is
/// refused with `forbidden` and audited, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_cannot_moderate_with_crafted_messages() {
    let server = TestServer::start().await;
    let alice = server.join("hierarchy", "alice").await;
    let bob = server.join("hierarchy", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let status = bob.status();
    let alice_id = participant_id(&status, "alice");
    let bob_id = participant_id(&status, "bob");

    for message in [
        ClientMessage::Lock,
        ClientMessage::Unlock,
        ClientMessage::SetPassword {
            password: Some("velvet harbour sings".into()),
        },
        ClientMessage::Kick {
            participant_id: alice_id.clone(),
        },
        ClientMessage::Ban {
            participant_id: alice_id.clone(),
        },
        ClientMessage::GrantModerator {
            participant_id: bob_id.clone(),
        },
        ClientMessage::SetLobby { enabled: true },
        ClientMessage::Admit {
            participant_id: bob_id.clone(),
        },
        ClientMessage::Deny {
            participant_id: alice_id.clone(),
        },
        ClientMessage::Mute {
            participant_id: alice_id.clone(),
        },
        ClientMessage::SetPermissions {
            permissions: Permissions {
                chat: Allowed::Moderators,
                ..Permissions::default()
            },
        },
        ClientMessage::EndMeeting,
        ClientMessage::SetWaitForModerator { enabled: true },
    ] {
        bob.send(message);
    }
    let status = bob
        .wait_until(SETTLE, |s| s.server_error_codes.len() == 13)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    assert!(
        status
            .server_error_codes
            .iter()
            .all(|c| *c == ErrorCode::Forbidden)
    );
    assert_eq!(status.role, Role::Guest);
    assert!(!status.room_locked && !status.room_password_required && !status.room_lobby);
    assert!(!status.room_wait_for_moderator && status.moderator_key.is_none());
    assert_eq!(status.permissions, Permissions::default());
    assert!(status.participants.iter().all(|p| !p.muted));

    // A join that claims to be a moderator is just a join.
    let mut socket = connect(&server).await;
    socket
        .send(Message::Text(
            r#"{"v":1,"type":"join","room":"hierarchy","display_name":"mallory","role":"moderator"}"#
                .into(),
        ))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut socket).await,
        Some(ServerMessage::Joined { .. })
    ));
    send(&mut socket, &ClientMessage::Lock).await;
    assert!(matches!(
        next(&mut socket).await,
        Some(ServerMessage::Error {
            code: ErrorCode::Forbidden,
            ..
        })
    ));

    // Alice is still there, and can still moderate.
    alice.grant_moderator(&bob_id);
    bob.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap();
    let records = audited(&server, "hierarchy", "moderator_granted").await;
    assert_eq!(
        records
            .iter()
            .filter(|(a, _)| a == "moderation_forbidden")
            .count(),
        14,
        "thirteen from Bob, one from the crafted join"
    );
}

fn leaf_of(status: &Status, name: &str) -> u32 {
    status
        .roster
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} in the roster of {status:#?}"))
        .leaf
}

/// Bob knocks and Alice admits him: her client adds him, and nobody is warned. Carol knocks
/// and is denied: she is told, and never reaches the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_admit_and_deny_with_native_clients() {
    let server = TestServer::start().await;
    let alice = server.join("waiting-room", "alice").await;
    converge(&[&alice], &["alice"]).await;
    alice.set_lobby(true);
    alice.wait_until(SETTLE, |s| s.room_lobby).await.unwrap();

    let bob = server.join("waiting-room", "bob").await;
    let waiting = bob.wait_until(SETTLE, |s| s.in_lobby).await.unwrap();
    assert!(
        waiting.participants.is_empty() && waiting.roster.is_empty(),
        "a knocking joiner learns nothing of the room: {waiting:#?}"
    );
    let knock = alice
        .wait_until(SETTLE, |s| {
            s.lobby
                .iter()
                .any(|p| p.display_name == "bob" && p.fingerprint.is_some())
        })
        .await
        .unwrap_or_else(|s| panic!("no knock from bob: {s:#?}"));
    alice.admit(&knock.lobby[0].id);
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    assert!(!bob.status().in_lobby);
    for status in &statuses {
        assert!(status.warnings.is_empty(), "{:#?}", status.warnings);
    }
    wait_for_media(&alice, &[leaf_of(&statuses[0], "bob")]).await;

    let carol = server.join("waiting-room", "carol").await;
    let knock = alice
        .wait_until(SETTLE, |s| {
            s.lobby.iter().any(|p| p.display_name == "carol")
        })
        .await
        .unwrap();
    alice.deny(&knock.lobby[0].id);
    let denied = carol
        .wait_until(SETTLE, |s| {
            s.removed_by_moderator == Some(RemovalReason::Denied)
        })
        .await
        .unwrap_or_else(|s| panic!("carol told: {s:#?}"));
    assert!(denied.roster.is_empty() && denied.epoch.is_none());
    alice
        .wait_until(SETTLE, |s| s.lobby.is_empty())
        .await
        .unwrap();
    converge(&[&alice, &bob], &["alice", "bob"]).await;

    let records = audited(&server, "waiting-room", "lobby_denied").await;
    for action in ["lobby_enabled", "lobby_knocked", "lobby_admitted"] {
        assert!(
            records.iter().any(|(a, _)| a == action),
            "{action}: {records:#?}"
        );
    }
    assert!(
        server
            .metrics()
            .await
            .contains(r#"sealroom_audit_events_total{action="lobby_knocked"} 2"#)
    );
}

/// Alice mutes Bob: the SFU stops forwarding his audio (his video still arrives) until he
/// unmutes himself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_participant_audio_stops_until_they_unmute() {
    let server = TestServer::start().await;
    let alice = server.join("hush", "alice").await;
    let bob = server.join("hush", "bob").await;
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let bob_leaf = leaf_of(&statuses[0], "bob");
    wait_for_media(&alice, &[bob_leaf]).await;
    let frames_from_bob = async || {
        let stats = alice.media_stats().await.unwrap();
        let from_bob = &stats.per_sender[&bob_leaf];
        (from_bob.audio_frames, from_bob.video_frames)
    };

    alice.mute(&participant_id(&alice.status(), "bob"));
    bob.wait_until(SETTLE, |s| s.muted_by_moderator)
        .await
        .unwrap();
    // Let what was in flight arrive, then watch for a second.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (audio, video) = frames_from_bob().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (audio_later, video_later) = frames_from_bob().await;
    assert_eq!(audio_later, audio, "no audio from a muted participant");
    assert!(video_later > video, "his video still flows");

    bob.unmute();
    bob.wait_until(SETTLE, |s| !s.muted_by_moderator)
        .await
        .unwrap();
    let deadline = Instant::now() + SETTLE;
    while frames_from_bob().await.0 <= audio_later {
        assert!(Instant::now() < deadline, "bob's audio never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = audited(&server, "hush", "participant_unmuted").await;
    assert!(records.iter().any(|(a, _)| a == "participant_muted"));
}

/// Alice ends the meeting: everyone is told and cut off, and the room is gone (the next join
/// founds a new one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_meeting_removes_everyone_and_the_room() {
    let server = TestServer::start().await;
    let alice = server.join("last-call", "alice").await;
    let bob = server.join("last-call", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;

    alice.end_meeting();
    for client in [&alice, &bob] {
        client
            .wait_until(SETTLE, |s| {
                s.removed_by_moderator == Some(RemovalReason::MeetingEnded)
            })
            .await
            .unwrap_or_else(|s| panic!("not told: {s:#?}"));
    }
    let records = audited(&server, "last-call", "meeting_ended").await;
    assert!(records.iter().any(|(a, _)| a == "room_ended"));

    let dave = server.join("last-call", "dave").await;
    converge(&[&dave], &["dave"]).await;
    dave.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap_or_else(|s| panic!("a new room, a new creator: {s:#?}"));
}

/// Files are for moderators only: Bob's file message is refused with `forbidden` and reaches
/// nobody; his chat still does, and Alice's file message reaches him. Both are bytes no client
/// would send, which a receiving core reports as an unreadable offer ("file: …"), so the
/// receivers' errors tell which arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_off_refuses_a_file_message() {
    let files_for_moderators = Permissions {
        files: Allowed::Moderators,
        ..Permissions::default()
    };
    let (server, mut alice, bob) = meeting_with_permissions("no-files", files_for_moderators).await;
    let mut alice_chat = alice.take_chat().unwrap();
    refused(&bob, ApplicationKind::File, b"file key and blob id").await;
    bob.send_chat("fine, I will type it", None);
    let typed = &next_chat_messages(&mut alice_chat, 1).await[0];
    assert_eq!(typed.text, "fine, I will type it");
    let file_errors = |s: &Status| s.local_errors.iter().any(|e| e.starts_with("file:"));
    assert!(
        !file_errors(&alice.status()),
        "the refused file never arrived"
    );

    alice.send_application(ApplicationKind::File, b"the agenda");
    bob.wait_until(SETTLE, file_errors)
        .await
        .unwrap_or_else(|s| panic!("alice's file message never arrived: {s:#?}"));
    assert_refusal_audited(&server, "no-files", "send files").await;
}

/// Polls are for moderators only: Bob's poll message is refused with `forbidden` and reaches
/// nobody, while his interaction (a hand, a reaction, a vote: always allowed) still goes
/// through. Both carry what Alice's core reports as an error once it reads it (the native
/// client shows no hands or polls), so her errors tell which of the two arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_off_refuses_opening_a_poll_but_not_a_vote() {
    let polls_for_moderators = Permissions {
        polls: Allowed::Moderators,
        ..Permissions::default()
    };
    let (server, alice, bob) = meeting_with_permissions("no-polls", polls_for_moderators).await;
    refused(&bob, ApplicationKind::Poll, b"not a poll").await;
    let unknown_reaction = Interaction::Reaction {
        emoji: "🦆".into()
    };
    bob.send_application(
        ApplicationKind::Interaction,
        encode(&unknown_reaction).as_bytes(),
    );
    let status = alice
        .wait_until(SETTLE, |s| {
            s.local_errors.iter().any(|e| e.starts_with("reaction:"))
        })
        .await
        .unwrap_or_else(|s| panic!("the interaction never arrived: {s:#?}"));
    assert!(
        !status.local_errors.iter().any(|e| e.starts_with("poll:")),
        "the refused poll message never arrived: {:?}",
        status.local_errors
    );
    let refusals = bob.status().server_error_codes;
    assert_eq!(
        refusals,
        [ErrorCode::Forbidden],
        "only the poll was refused"
    );
    assert_refusal_audited(&server, "no-polls", "open polls").await;
}

/// Alice (who moderates) and Bob meet in `room`; Alice sets `permissions`, and Bob's client
/// has them when this returns.
async fn meeting_with_permissions(
    room: &str,
    permissions: Permissions,
) -> (TestServer, RoomClient, RoomClient) {
    let server = TestServer::start().await;
    let alice = server.join(room, "alice").await;
    let bob = server.join(room, "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    alice.set_permissions(permissions);
    bob.wait_until(SETTLE, |s| s.permissions == permissions)
        .await
        .unwrap();
    (server, alice, bob)
}

/// Bob sends an application message of `kind`, and the server refuses it.
async fn refused(bob: &RoomClient, kind: ApplicationKind, data: &[u8]) {
    bob.send_application(kind, data);
    bob.wait_until(SETTLE, |s| {
        s.server_error_codes.contains(&ErrorCode::Forbidden)
    })
    .await
    .unwrap_or_else(|s| panic!("no refusal: {s:#?}"));
}

async fn assert_refusal_audited(server: &TestServer, room: &str, what: &str) {
    let records = audited(server, room, "permission_refused").await;
    let detail = format!("what={what}");
    assert!(
        records
            .iter()
            .any(|(a, d)| a == "permission_refused" && d.as_deref() == Some(detail.as_str())),
        "{records:?}"
    );
}

/// With "nobody joins before a moderator" on, the moderator leaves: nobody inherits moderation
/// and Carol waits, until Alice comes back with the room's moderator key. A wrong key, or a key
/// for a room that does not exist, gets `access_denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_joins_before_a_moderator_arrives_with_the_key() {
    let server = TestServer::start().await;
    let alice = server.join("hosted", "alice").await;
    let bob = server.join("hosted", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    alice.set_wait_for_moderator(true);
    let key = alice
        .wait_until(SETTLE, |s| {
            s.room_wait_for_moderator && s.moderator_key.is_some()
        })
        .await
        .unwrap()
        .moderator_key
        .unwrap();
    alice.leave().await;
    converge(&[&bob], &["bob"]).await;

    let carol = server.join("hosted", "carol").await;
    carol.wait_until(SETTLE, |s| s.in_lobby).await.unwrap();
    assert_eq!(bob.status().role, Role::Guest);

    for (room, key) in [
        ("hosted", "00112233445566778899aabbccddeeff"),
        ("no-such-room", &key),
    ] {
        let refused = RoomClient::join(sealroom_client::session::JoinOptions {
            moderator_key: Some(key.to_owned()),
            ..server.join_options(room, "mallory")
        })
        .await;
        assert_eq!(refusal_code(refused), ErrorCode::AccessDenied);
    }

    let host = RoomClient::join(sealroom_client::session::JoinOptions {
        moderator_key: Some(key),
        ..server.join_options("hosted", "alice")
    })
    .await
    .unwrap();
    converge(&[&host, &bob, &carol], &["alice", "bob", "carol"]).await;
    host.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap();
    let records = audited(&server, "hosted", "wait_for_moderator_changed").await;
    assert!(records.iter().any(|(a, d)| {
        a == "join_refused"
            && d.as_deref()
                .is_some_and(|d| d.contains("moderator_key_wrong"))
    }));
}

/// Alice, the room's creator, turns the lobby and "nobody joins before a moderator" on with
/// `others` in the meeting, and leaves with the room's moderator key: the others stay, nobody
/// moderating.
async fn moderator_leaves_a_lobby_room(
    server: &TestServer,
    room: &str,
    others: &[&str],
) -> (String, Vec<RoomClient>) {
    let alice = RoomClient::join(alice_options(server, room)).await.unwrap();
    let mut stayed = Vec::new();
    for name in others {
        stayed.push(server.join(room, name).await);
    }
    let everyone: Vec<&RoomClient> = std::iter::once(&alice).chain(&stayed).collect();
    let names: Vec<&str> = std::iter::once("alice")
        .chain(others.iter().copied())
        .collect();
    converge(&everyone, &names).await;
    alice.set_wait_for_moderator(true);
    alice.set_lobby(true);
    let key = alice
        .wait_until(SETTLE, |s| {
            s.room_wait_for_moderator && s.room_lobby && s.moderator_key.is_some()
        })
        .await
        .unwrap()
        .moderator_key
        .unwrap();
    alice.leave().await;
    let stayed_refs: Vec<&RoomClient> = stayed.iter().collect();
    converge(&stayed_refs, others).await;
    (key, stayed)
}

/// Alice comes back with the room's moderator key (a host link), on the same device.
async fn join_with_key(server: &TestServer, room: &str, key: String) -> RoomClient {
    RoomClient::join(sealroom_client::session::JoinOptions {
        moderator_key: Some(key),
        ..alice_options(server, room)
    })
    .await
    .unwrap()
}

/// Alice joins with a device key she keeps, so she is the same moderator when she returns.
fn alice_options(server: &TestServer, room: &str) -> sealroom_client::session::JoinOptions {
    sealroom_client::session::JoinOptions {
        device_key: Some(server.data.path().join("alice.key")),
        ..server.join_options(room, "alice")
    }
}

/// In a room with a lobby where nobody joins before a moderator, a joiner waiting for a
/// moderator is told when one arrives that it now waits for admission, and told again when the
/// last moderator leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_is_told_what_it_waits_for_as_moderators_come_and_go() {
    let server = TestServer::start().await;
    let (key, _bob) = moderator_leaves_a_lobby_room(&server, "antechamber", &["bob"]).await;

    let carol = server.join("antechamber", "carol").await;
    carol
        .wait_until(SETTLE, |s| s.in_lobby && s.waiting_for_moderator)
        .await
        .unwrap();
    let host = join_with_key(&server, "antechamber", key).await;
    carol
        .wait_until(SETTLE, |s| s.in_lobby && !s.waiting_for_moderator)
        .await
        .unwrap_or_else(|s| panic!("not told it now waits for admission: {s:#?}"));
    host.leave().await;
    carol
        .wait_until(SETTLE, |s| s.in_lobby && s.waiting_for_moderator)
        .await
        .unwrap_or_else(|s| panic!("not told it waits for a moderator again: {s:#?}"));
}

/// A lobby room where nobody joins before a moderator: the moderator leaves, and comes back
/// with the host link, on the same device, to a meeting where nobody moderates. The members'
/// clients add it — its device key is a moderator's in the room policy — and nobody is warned;
/// a knocker still waits for admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_with_the_host_link_enters_a_lobby_rooms_group() {
    let server = TestServer::start().await;
    let (key, others) =
        moderator_leaves_a_lobby_room(&server, "hosted-lobby", &["bob", "carol"]).await;
    let [bob, carol] = &others[..] else {
        unreachable!("two stayed")
    };
    let host = join_with_key(&server, "hosted-lobby", key).await;
    let statuses = converge(&[&host, bob, carol], &["alice", "bob", "carol"]).await;
    assert_eq!(statuses[0].role, Role::Moderator);
    for status in &statuses {
        assert!(status.warnings.is_empty(), "{:?}", status.warnings);
    }
    let dave = server.join("hosted-lobby", "dave").await;
    dave.wait_until(SETTLE, |s| s.in_lobby && !s.waiting_for_moderator)
        .await
        .unwrap();
    host.wait_until(SETTLE, |s| s.lobby.iter().any(|p| p.display_name == "dave"))
        .await
        .unwrap();
    assert_eq!(
        bob.status().roster.len(),
        3,
        "the knocker is in nobody's group"
    );
}

/// A joiner behind a trusted reverse proxy: one per-address bucket per forwarded client.
/// Without trust, the header is ignored, so a client cannot spread its guesses over made-up
/// addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_behind_a_trusted_proxy_count_the_forwarded_client() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let limit = RateLimit {
        burst: 2,
        per_minute: 1,
    };
    let behind_proxy = TestServer::start_with_access(AccessSettings {
        join_per_address: limit,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..AccessSettings::default()
    })
    .await;
    let direct = TestServer::start_with_access(AccessSettings {
        join_per_address: limit,
        ..AccessSettings::default()
    })
    .await;
    let join_as = async |server: &TestServer, forwarded_for: &str| {
        let mut request = format!("ws://{}/ws", server.server.http_addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded_for.parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        send(&mut socket, &join("proxied", "someone", None)).await;
        match next(&mut socket).await.unwrap() {
            ServerMessage::Joined { .. } => None,
            ServerMessage::Error { code, .. } => Some(code),
            other => panic!("{other:?}"),
        }
    };

    let mut codes = Vec::new();
    for client in [
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.2",
    ] {
        codes.push(join_as(&behind_proxy, client).await);
    }
    assert_eq!(codes, [None, None, Some(ErrorCode::RateLimited), None]);
    let records = audited(&behind_proxy, "proxied", "join_rate_limited").await;
    assert!(records.iter().any(|(a, d)| {
        a == "join_rate_limited"
            && d.as_deref()
                .is_some_and(|d| d.contains("address=198.51.100.1"))
    }));

    let mut codes = Vec::new();
    for made_up in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        codes.push(join_as(&direct, made_up).await);
    }
    assert_eq!(codes, [None, None, Some(ErrorCode::RateLimited)]);
}

/// Reads the socket until `pick` takes a message (every message counts, keepalives aside).
async fn until<T>(socket: &mut Socket, mut pick: impl FnMut(ServerMessage) -> Option<T>) -> T {
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(picked) = pick(decode(&text).unwrap()) {
                        return picked;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the connection closed: {other:?}"),
            }
        }
    };
    tokio::time::timeout(SETTLE, read)
        .await
        .expect("the awaited message came")
}

async fn moderator_key(socket: &mut Socket) -> String {
    until(socket, |message| match message {
        ServerMessage::ModeratorKey { key } => Some(key),
        _ => None,
    })
    .await
}

fn join_with_moderator_key(room: &str, name: &str, key: &str) -> ClientMessage {
    ClientMessage::Join {
        room: room.into(),
        display_name: name.into(),
        password: None,
        moderator_key: Some(key.into()),
        holds_link: true,
        breakout_of: None,
    }
}

/// How a co-moderator goes.
#[derive(Clone, Copy, Debug)]
enum Exit {
    Kicked,
    Banned,
    Left,
}

/// Alice makes Mallory (a raw socket) a co-moderator; Mallory goes (`exit`) and comes back on a
/// new connection with the moderator key she was given: `access_denied`, as for any wrong key.
/// Alice, still moderating, got a new key, which opens the room as a moderator.
async fn old_moderator_key_after(exit: Exit) {
    let server = TestServer::start().await;
    let alice = server.join("co-hosted", "alice").await;
    let mut mallory = connect(&server).await;
    send(&mut mallory, &join("co-hosted", "mallory", None)).await;
    let listed = alice
        .wait_until(SETTLE, |s| {
            s.participants.iter().any(|p| p.display_name == "mallory")
        })
        .await
        .unwrap();
    let mallory_id = participant_id(&listed, "mallory");
    alice.grant_moderator(&mallory_id);
    let old_key = moderator_key(&mut mallory).await;
    match exit {
        Exit::Kicked => alice.kick(&mallory_id),
        Exit::Banned => alice.ban(&mallory_id),
        Exit::Left => send(&mut mallory, &ClientMessage::Leave).await,
    }
    alice
        .wait_until(SETTLE, |s| {
            s.participants.iter().all(|p| p.display_name != "mallory")
        })
        .await
        .unwrap_or_else(|s| panic!("mallory still listed: {s:#?}"));

    let mut back = connect(&server).await;
    send(
        &mut back,
        &join_with_moderator_key("co-hosted", "mallory", &old_key),
    )
    .await;
    let answer = next(&mut back).await;
    assert!(
        matches!(
            answer,
            Some(ServerMessage::Error {
                code: ErrorCode::AccessDenied,
                ..
            })
        ),
        "{exit:?}, back with the old key: {answer:?}"
    );

    let new_key = alice
        .wait_until(SETTLE, |s| {
            s.moderator_key.as_ref().is_some_and(|k| *k != old_key)
        })
        .await
        .unwrap_or_else(|s| panic!("alice got no new key: {s:#?}"))
        .moderator_key
        .unwrap();
    let mut co_host = connect(&server).await;
    send(
        &mut co_host,
        &join_with_moderator_key("co-hosted", "carol", &new_key),
    )
    .await;
    assert_eq!(
        moderator_key(&mut co_host).await,
        new_key,
        "the new key makes its holder a moderator"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_moderator_cannot_come_back_with_the_old_key() {
    old_moderator_key_after(Exit::Kicked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_moderator_cannot_come_back_with_the_old_key() {
    old_moderator_key_after(Exit::Banned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_who_left_cannot_come_back_with_the_old_key() {
    old_moderator_key_after(Exit::Left).await;
}

/// Waits until the client's media has a working ICE path to the SFU.
async fn wait_for_ice(client: &RoomClient) {
    let deadline = Instant::now() + SETTLE;
    while !client
        .media_stats()
        .await
        .is_some_and(|stats| stats.ice_connected)
    {
        assert!(Instant::now() < deadline, "no ICE path");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// In a lobby room, Eve is admitted by a moderator whose client never adds her to the group (a
/// raw socket, standing for any that sits on the Add): she is in the meeting and connected to
/// the SFU, not in the encrypted group. The SFU sends her no packet — neither the others'
/// frames nor the audio-level extension that tells who speaks. That moderator leaves, Eve is
/// back in the lobby, and Alice admits her: her client adds Eve, who then receives and
/// decrypts everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_outside_the_encrypted_group_receives_no_media() {
    let server = TestServer::start().await;
    let alice = server.join("members-only", "alice").await;
    let bob = server.join("members-only", "bob").await;
    converge(&[&alice, &bob], &["alice", "bob"]).await;
    let mut doorman = connect(&server).await;
    send(&mut doorman, &join("members-only", "doorman", None)).await;
    let listed = alice
        .wait_until(SETTLE, |s| {
            s.participants.iter().any(|p| p.display_name == "doorman")
        })
        .await
        .unwrap();
    alice.grant_moderator(&participant_id(&listed, "doorman"));
    moderator_key(&mut doorman).await;
    alice.set_lobby(true);
    alice.wait_until(SETTLE, |s| s.room_lobby).await.unwrap();

    let eve = server.join("members-only", "eve").await;
    let eve_id = until(&mut doorman, |message| match message {
        ServerMessage::Lobby { waiting } => waiting
            .into_iter()
            .find(|p| p.display_name == "eve" && p.fingerprint.is_some())
            .map(|p| p.id),
        _ => None,
    })
    .await;
    send(
        &mut doorman,
        &ClientMessage::Admit {
            participant_id: eve_id.clone(),
        },
    )
    .await;
    // Only those in the meeting are sent its participant list.
    eve.wait_until(SETTLE, |s| !s.participants.is_empty())
        .await
        .unwrap();
    wait_for_ice(&eve).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outside = eve.media_stats().await.unwrap();
    assert_eq!(
        outside.rtp_packets_received, 0,
        "a participant outside the group got packets: {outside:#?}"
    );
    assert!(eve.status().epoch.is_none(), "{:#?}", eve.status());

    send(&mut doorman, &ClientMessage::Leave).await;
    alice
        .wait_until(SETTLE, |s| s.lobby.iter().any(|p| p.id == eve_id))
        .await
        .unwrap_or_else(|s| panic!("eve not back in the lobby: {s:#?}"));
    alice.admit(&eve_id);
    let statuses = converge(&[&alice, &bob, &eve], &["alice", "bob", "eve"]).await;
    wait_for_media(
        &eve,
        &[leaf_of(&statuses[2], "alice"), leaf_of(&statuses[2], "bob")],
    )
    .await;
}
