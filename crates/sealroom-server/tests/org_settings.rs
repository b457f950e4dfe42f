//! The organisation's settings through a real server: only an owner or admin reads or changes
//! them (a member, an auditor and a guest are refused), a change is recorded and kept in the
//! database; once guests may not join, a guest is refused at every room while a signed-in
//! member joins; and a new room opens with the organisation's lobby and permissions, which the
//! native client sees, while a persistent room keeps its own; an admin moderates every
//! meeting it joins unless the organisation says otherwise.

mod support;

use sealroom_client::session::{JoinOptions, RoomClient, SessionError};
use sealroom_protocol::{Allowed, ErrorCode, Permissions, Role};
use sealroom_server::{
    org_roles::OrgRole, org_settings::OrgSettings, password::PasswordPolicy, persistent_rooms,
    room::KeptSettings,
};
use support::{SETTLE, TestServer};

async fn organisation() -> TestServer {
    let server = TestServer::start().await;
    let people = [
        ("adam", OrgRole::Admin),
        ("audrey", OrgRole::Auditor),
        ("mel", OrgRole::Member),
    ];
    server.add_accounts(&people).await;
    server
}

/// `method /api/admin/settings` as the holder of `token` (none: a guest): the status and body.
async fn settings_call(
    server: &TestServer,
    token: Option<&str>,
    method: &str,
    body: &str,
) -> (u16, String) {
    let reply = server.api(token, method, "/api/admin/settings", body).await;
    (reply.status, String::from_utf8(reply.body).unwrap())
}

async fn change(server: &TestServer, admin: &str, settings: &OrgSettings) {
    let body = serde_json::to_string(settings).unwrap();
    let (status, answer) = settings_call(server, Some(admin), "PUT", &body).await;
    assert_eq!(status, 200, "{answer}");
}

fn refused_for_want_of_a_sign_in<T>(result: Result<T, SessionError>) -> bool {
    matches!(
        result,
        Err(SessionError::Refused {
            code: ErrorCode::SignInRequired,
            ..
        })
    )
}

#[tokio::test]
async fn only_owners_and_admins_read_or_change_the_settings_and_a_change_is_recorded_and_kept() {
    let server = organisation().await;
    let adam = server.session_token("adam").await;
    let closed = OrgSettings {
        guests_may_join: false,
        ..OrgSettings::default()
    };
    let body = serde_json::to_string(&closed).unwrap();
    for name in ["audrey", "mel"] {
        let token = server.session_token(name).await;
        assert_eq!(settings_call(&server, Some(&token), "GET", "").await.0, 403);
        assert_eq!(
            settings_call(&server, Some(&token), "PUT", &body).await.0,
            403
        );
    }
    assert_eq!(settings_call(&server, None, "PUT", &body).await.0, 401);
    let (_, unchanged) = settings_call(&server, Some(&adam), "GET", "").await;
    assert_eq!(
        serde_json::from_str::<OrgSettings>(&unchanged).unwrap(),
        OrgSettings::default()
    );

    let unknown = r#"{"guests_may_join":false,"everyone_moderates":true}"#;
    assert_eq!(
        settings_call(&server, Some(&adam), "PUT", unknown).await.0,
        422
    );
    change(&server, &adam, &closed).await;
    let (_, now) = settings_call(&server, Some(&adam), "GET", "").await;
    assert_eq!(serde_json::from_str::<OrgSettings>(&now).unwrap(), closed);
    assert_eq!(
        server
            .server
            .storage
            .org_settings(OrgSettings::default())
            .await
            .unwrap(),
        closed,
        "in the database"
    );
    let records = server.server.storage.account_audit_log().await.unwrap();
    let changed: Vec<_> = records
        .iter()
        .filter(|r| r.action == "org_settings_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{records:?}");
    assert_eq!(changed[0].participant.as_deref(), Some("adam"));
    assert!(
        changed[0]
            .detail
            .as_deref()
            .unwrap()
            .contains(r#""guests_may_join":false"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_guests_may_not_join_a_guest_is_refused_and_a_signed_in_member_joins() {
    let server = organisation().await;
    let adam = server.session_token("adam").await;
    let open_room = server.join("before-the-change", "gus").await;
    let closed = OrgSettings {
        guests_may_join: false,
        ..OrgSettings::default()
    };
    change(&server, &adam, &closed).await;

    assert!(refused_for_want_of_a_sign_in(
        server.try_join("fresh-room", "gus", None).await
    ));
    assert!(refused_for_want_of_a_sign_in(
        server.try_join("before-the-change", "gil", None).await
    ));
    let mel = JoinOptions {
        session_token: Some(server.session_token("mel").await),
        ..server.join_options("fresh-room", "mel")
    };
    let mel = sealroom_client::session::RoomClient::join(mel)
        .await
        .unwrap();
    mel.wait_until(SETTLE, |s| s.epoch.is_some()).await.unwrap();
    let refusals = server.server.storage.audit_log("fresh-room").await.unwrap();
    assert!(
        refusals.iter().any(|r| r.action == "join_refused"
            && r.detail
                .as_deref()
                .is_some_and(|d| d.contains("reason=guests_not_allowed"))),
        "{refusals:?}"
    );
    open_room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_room_opens_with_the_organisations_lobby_and_permissions_and_a_persistent_room_keeps_its_own()
 {
    let server = organisation().await;
    let adam = server.session_token("adam").await;
    let defaults = KeptSettings {
        lobby: true,
        wait_for_moderator: false,
        permissions: Permissions {
            recording: Allowed::Moderators,
            files: Allowed::Members,
            ..Permissions::default()
        },
    };
    let storage = &server.server.storage;
    let policy = PasswordPolicy { min_chars: 8 };
    let its_own = KeptSettings {
        permissions: Permissions {
            chat: Allowed::Moderators,
            ..Permissions::default()
        },
        ..KeptSettings::default()
    };
    persistent_rooms::create(storage, policy, "kept-room", its_own, None, None)
        .await
        .unwrap();
    let organisation = OrgSettings {
        new_rooms: defaults,
        ..OrgSettings::default()
    };
    change(&server, &adam, &organisation).await;

    let host = server.join("new-room", "host").await;
    let hosting = host.wait_until(SETTLE, |s| s.room_lobby).await.unwrap();
    assert_eq!(hosting.permissions, defaults.permissions);
    let knocker = server.join("new-room", "knocker").await;
    knocker.wait_until(SETTLE, |s| s.in_lobby).await.unwrap();

    let keeper = server.join("kept-room", "keeper").await;
    let keeping = keeper
        .wait_until(SETTLE, |s| s.permissions == its_own.permissions)
        .await
        .unwrap();
    assert!(!keeping.room_lobby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_moderates_every_meeting_while_the_organisation_says_so() {
    let server = organisation().await;
    let adam = server.session_token("adam").await;
    let signed_in = |room: &str, name: &str, token: String| JoinOptions {
        session_token: Some(token),
        ..server.join_options(room, name)
    };
    let mel = RoomClient::join(signed_in(
        "standup",
        "mel",
        server.session_token("mel").await,
    ))
    .await;
    let mel = mel.unwrap();
    mel.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap();
    let admin = RoomClient::join(signed_in("standup", "adam", adam.clone())).await;
    let admin = admin.unwrap();
    admin
        .wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap();

    let member_like = OrgSettings {
        admins_moderate: false,
        ..OrgSettings::default()
    };
    change(&server, &adam, &member_like).await;
    let host = RoomClient::join(signed_in("retro", "mel", server.session_token("mel").await)).await;
    let host = host.unwrap();
    host.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap();
    let admin = RoomClient::join(signed_in("retro", "adam", adam))
        .await
        .unwrap();
    let joined = admin
        .wait_until(SETTLE, |s| s.epoch.is_some())
        .await
        .unwrap();
    assert_eq!(joined.role, Role::Participant);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisations_room_rules_hold_and_a_change_keeps_what_it_leaves_out() {
    let server = organisation().await;
    let adam = server.session_token("adam").await;
    let put = |body: &'static str| settings_call(&server, Some(&adam), "PUT", body);

    let (status, answer) =
        put(r#"{"guests_create_rooms":false,"room_password_min_chars":20}"#).await;
    assert_eq!(status, 200, "{answer}");
    let expected = OrgSettings {
        guests_create_rooms: false,
        room_password_min_chars: 20,
        ..OrgSettings::default()
    };
    assert_eq!(
        serde_json::from_str::<OrgSettings>(&answer).unwrap(),
        expected
    );

    // Out of range: refused with the reason, nothing changed.
    let quota = sealroom_server::config::FilesSettings::default().room_quota_bytes;
    let too_large = format!(r#"{{"max_file_bytes":{}}}"#, quota + 1);
    for body in [
        r#"{"room_password_min_chars":4}"#,
        too_large.as_str(),
        r#"{"recording_retention_days":0}"#,
    ] {
        let reply = server
            .api(Some(&adam), "PUT", "/api/admin/settings", body)
            .await;
        assert_eq!(
            (reply.status, reply.error()),
            (422, "invalid_settings".to_owned()),
            "{body}"
        );
    }
    let (_, now) = settings_call(&server, Some(&adam), "GET", "").await;
    assert_eq!(serde_json::from_str::<OrgSettings>(&now).unwrap(), expected);

    // A guest who comes first to a room nobody is in waits for someone signed in.
    let guest = server.join("fresh-room", "gus").await;
    guest
        .wait_until(SETTLE, |s| s.in_lobby && s.waiting_for_moderator)
        .await
        .unwrap_or_else(|s| panic!("the guest should wait for someone signed in: {s:#?}"));

    // A room password shorter than the organisation's 20 characters is refused.
    let room =
        |password: &str| serde_json::json!({ "name": "board", "password": password }).to_string();
    let short = server
        .api(
            Some(&adam),
            "POST",
            "/api/admin/rooms",
            &room("sixteen chars ok"),
        )
        .await;
    assert_eq!(
        (short.status, short.error()),
        (400, "weak_password".to_owned())
    );
    let long = server
        .api(
            Some(&adam),
            "POST",
            "/api/admin/rooms",
            &room("twenty or more characters"),
        )
        .await;
    assert_eq!(long.status, 201);
}
