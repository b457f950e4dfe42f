//! An organisation's persistent rooms through a real server: a meeting opens with the kept
//! settings and password, what its moderators change is kept for the next meeting, and a
//! removed room is an ordinary one again; an admin makes and removes them through the
//! administration API as `sealroom room` does, and the record names the admin.

mod support;

use sealroom_client::session::SessionError;
use sealroom_protocol::{Allowed, ErrorCode, Permissions};
use sealroom_server::{
    org_roles::OrgRole,
    password::PasswordPolicy,
    persistent_rooms::{self, PersistentRoomError},
    room::KeptSettings,
};
use support::{SETTLE, TestServer, converge};

const ROOM_PASSWORD: &str = "standup before coffee";

fn access_denied(result: Result<sealroom_client::session::RoomClient, SessionError>) -> bool {
    matches!(
        result,
        Err(SessionError::Refused {
            code: ErrorCode::AccessDenied,
            ..
        })
    )
}

/// Waits until no room is open (the last participant's leave has been processed).
async fn no_room_open(server: &TestServer) {
    let deadline = std::time::Instant::now() + SETTLE;
    while !server.metrics().await.contains("sealroom_rooms 0") {
        assert!(std::time::Instant::now() < deadline, "a room stayed open");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_room_keeps_its_settings_and_password_between_meetings() {
    let server = TestServer::start().await;
    let storage = &server.server.storage;
    let policy = PasswordPolicy { min_chars: 8 };
    let kept = KeptSettings {
        permissions: Permissions {
            screen_share: Allowed::Moderators,
            ..Permissions::default()
        },
        ..KeptSettings::default()
    };
    persistent_rooms::create(
        storage,
        policy,
        "weekly-standup",
        kept,
        Some(ROOM_PASSWORD),
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        persistent_rooms::create(storage, policy, "weekly-standup", kept, None, None).await,
        Err(PersistentRoomError::Exists(_))
    ));
    assert!(matches!(
        persistent_rooms::create(storage, policy, "other-room", kept, Some("password"), None).await,
        Err(PersistentRoomError::Policy(_))
    ));

    // The first meeting opens behind the kept password, with the kept permissions.
    assert!(access_denied(
        server.try_join("weekly-standup", "mallory", None).await
    ));
    assert!(access_denied(
        server
            .try_join("weekly-standup", "mallory", Some("standup after coffee"))
            .await
    ));
    let alice = server
        .try_join("weekly-standup", "alice", Some(ROOM_PASSWORD))
        .await
        .unwrap();
    let status = alice
        .wait_until(SETTLE, |s| s.room_password_required)
        .await
        .unwrap();
    assert_eq!(status.permissions, kept.permissions);

    // Its moderator opens it up and changes who may chat; the meeting ends.
    let chat_for_moderators = Permissions {
        chat: Allowed::Moderators,
        ..kept.permissions
    };
    alice.set_permissions(chat_for_moderators);
    alice.set_password(None);
    alice
        .wait_until(SETTLE, |s| {
            s.permissions == chat_for_moderators && !s.room_password_required
        })
        .await
        .unwrap();
    alice.leave().await;
    no_room_open(&server).await;

    // The next meeting opens with what was changed: no password, moderators-only chat.
    let bob = server.join("weekly-standup", "bob").await;
    let carol = server.join("weekly-standup", "carol").await;
    let statuses = converge(&[&bob, &carol], &["bob", "carol"]).await;
    assert_eq!(statuses[1].permissions, chat_for_moderators);
    bob.leave().await;
    carol.leave().await;
    no_room_open(&server).await;

    // Removed, the name is an ordinary room's again: default settings.
    persistent_rooms::remove(storage, "weekly-standup", None)
        .await
        .unwrap();
    let dave = server.join("weekly-standup", "dave").await;
    let status = dave
        .wait_until(SETTLE, |s| s.epoch.is_some())
        .await
        .unwrap();
    assert_eq!(status.permissions, Permissions::default());
    let actions: Vec<String> = storage
        .audit_log("weekly-standup")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    for action in ["persistent_room_created", "persistent_room_removed"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_makes_and_removes_a_persistent_room_through_the_api() {
    let server = TestServer::start().await;
    server.add_accounts(&[("adam", OrgRole::Admin)]).await;
    let adam = server.session_token("adam").await;
    let post = |body: serde_json::Value| {
        let adam = adam.clone();
        let server = &server;
        async move {
            let body = body.to_string();
            let reply = server
                .api(Some(&adam), "POST", "/api/admin/rooms", &body)
                .await;
            reply.status
        }
    };
    let settings = KeptSettings {
        lobby: true,
        ..KeptSettings::default()
    };
    let weak = serde_json::json!({ "name": "all-hands", "password": "password" });
    assert_eq!(post(weak).await, 400, "a common password");
    let room =
        serde_json::json!({ "name": "all-hands", "settings": settings, "password": ROOM_PASSWORD });
    assert_eq!(post(room.clone()).await, 201);
    assert_eq!(post(room).await, 409, "the name is taken");
    assert_eq!(post(serde_json::json!({ "name": "Not A Name" })).await, 400);

    let listed = server
        .api(Some(&adam), "GET", "/api/admin/rooms", "")
        .await
        .json();
    assert_eq!(listed[0]["name"], "all-hands");
    assert_eq!(listed[0]["settings"]["lobby"], true);
    assert_eq!(listed[0]["password"], true, "{listed}");
    assert!(access_denied(
        server.try_join("all-hands", "mallory", None).await
    ));
    let alice = server
        .try_join("all-hands", "alice", Some(ROOM_PASSWORD))
        .await
        .unwrap();
    alice.wait_until(SETTLE, |s| s.room_lobby).await.unwrap();
    alice.leave().await;
    no_room_open(&server).await;

    let removed = server
        .api(Some(&adam), "DELETE", "/api/admin/rooms/all-hands", "")
        .await;
    assert_eq!(removed.status, 204);
    let again = server
        .api(Some(&adam), "DELETE", "/api/admin/rooms/all-hands", "")
        .await;
    assert_eq!(again.status, 404);
    let records = server.server.storage.audit_log("all-hands").await.unwrap();
    for action in ["persistent_room_created", "persistent_room_removed"] {
        let by = records.iter().find(|r| r.action == action).unwrap();
        assert_eq!(by.participant.as_deref(), Some("adam"), "{action}");
    }
}
