//! The administration API from the side of those it must refuse: every route, for a guest (no
//! credentials), a member, an auditor and, for writes, an auditor again — refused, and the
//! refusal recorded — while admins and owners pass; only owners name owners and the last owner
//! stays; an API token does what it was made for and what its maker may still do, no more, and
//! stops when revoked; ending an account's sessions signs it out.

mod support;

use sealroom_server::{accounts::create_account, config::AccountSettings, org_roles::OrgRole};
use support::{Reply, TestServer};

const PASSWORD: &str = "correct horse battery staple";

/// The organisation: one account per role, and `target`, whom the writes touch.
const PEOPLE: [(&str, OrgRole); 5] = [
    ("olivia", OrgRole::Owner),
    ("adam", OrgRole::Admin),
    ("audrey", OrgRole::Auditor),
    ("mel", OrgRole::Member),
    ("target", OrgRole::Member),
];

/// Every administration route, with a body that would pass.
const ROUTES: [(&str, &str, &str); 6] = [
    ("GET", "/api/admin/accounts", ""),
    (
        "PUT",
        "/api/admin/accounts/target/role",
        r#"{"role":"member"}"#,
    ),
    ("DELETE", "/api/admin/accounts/target/sessions", ""),
    ("GET", "/api/admin/tokens", ""),
    (
        "POST",
        "/api/admin/tokens",
        r#"{"name":"ci","permissions":["read_accounts"]}"#,
    ),
    ("DELETE", "/api/admin/tokens/999999", ""),
];

async fn organisation() -> TestServer {
    let server = TestServer::start().await;
    let settings = AccountSettings::default();
    for (name, role) in PEOPLE {
        create_account(
            &server.server.storage,
            &settings,
            name,
            PASSWORD,
            false,
            role,
        )
        .await
        .unwrap();
    }
    server
}

/// Signs `name` in as a native client does; its session token.
async fn sign_in(server: &TestServer, name: &str) -> String {
    let body = serde_json::json!({ "username": name, "password": PASSWORD }).to_string();
    let reply = server
        .http(
            "POST",
            "/api/session",
            &["Content-Type: application/json"],
            body.as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// `method path` with `body`, as the holder of `token` (none: a guest).
async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Reply {
    let bearer = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut headers = vec!["Content-Type: application/json"];
    headers.extend(bearer.as_deref());
    server.http(method, path, &headers, body.as_bytes()).await
}

async fn refusals(server: &TestServer) -> usize {
    let log = server.server.storage.account_audit_log().await.unwrap();
    log.iter().filter(|r| r.action == "admin_refused").count()
}

#[tokio::test]
async fn every_route_refuses_guests_members_and_auditors_and_lets_admins_and_owners_in() {
    let server = organisation().await;
    let mut tokens = std::collections::HashMap::new();
    for (name, _) in PEOPLE {
        tokens.insert(name, sign_in(&server, name).await);
    }
    for (method, path, body) in ROUTES {
        let guest = call(&server, None, method, path, body).await;
        assert_eq!(guest.status, 401, "a guest at {method} {path}");
        for name in ["mel", "audrey"] {
            let before = refusals(&server).await;
            let reply = call(&server, Some(&tokens[name]), method, path, body).await;
            assert_eq!(reply.status, 403, "{name} at {method} {path}: {reply:?}");
            assert_eq!(
                refusals(&server).await,
                before + 1,
                "the refusal is recorded"
            );
        }
        for name in ["adam", "olivia"] {
            let reply = call(&server, Some(&tokens[name]), method, path, body).await;
            assert!(
                ![401, 403].contains(&reply.status),
                "{name} at {method} {path}: {reply:?}"
            );
        }
    }
    let listed = call(
        &server,
        Some(&tokens["adam"]),
        "GET",
        "/api/admin/accounts",
        "",
    )
    .await;
    let roles: Vec<(String, String)> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["username"].as_str().unwrap().to_owned(),
                a["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&("audrey".into(), "auditor".into())),
        "{roles:?}"
    );
}

#[tokio::test]
async fn only_an_owner_names_owners_and_the_last_owner_stays() {
    let server = organisation().await;
    let (adam, olivia) = (
        sign_in(&server, "adam").await,
        sign_in(&server, "olivia").await,
    );
    let owner = r#"{"role":"owner"}"#;
    let by_adam = call(
        &server,
        Some(&adam),
        "PUT",
        "/api/admin/accounts/mel/role",
        owner,
    )
    .await;
    assert_eq!(by_adam.status, 403, "an admin may not make an owner");
    let demote = r#"{"role":"member"}"#;
    let last = call(
        &server,
        Some(&olivia),
        "PUT",
        "/api/admin/accounts/olivia/role",
        demote,
    )
    .await;
    assert_eq!((last.status, last.error().as_str()), (409, "last_owner"));
    let by_olivia = call(
        &server,
        Some(&olivia),
        "PUT",
        "/api/admin/accounts/mel/role",
        owner,
    )
    .await;
    assert_eq!(by_olivia.status, 204);
    let now = call(
        &server,
        Some(&olivia),
        "PUT",
        "/api/admin/accounts/olivia/role",
        demote,
    )
    .await;
    assert_eq!(now.status, 204, "another owner remains");
    let log = server.server.storage.account_audit_log().await.unwrap();
    assert!(log.iter().any(|r| r.action == "account_role_changed"
        && r.detail.as_deref() == Some("account=mel role=owner")));
}

#[tokio::test]
async fn an_api_token_does_what_it_was_made_for_and_its_maker_still_may() {
    let server = organisation().await;
    let adam = sign_in(&server, "adam").await;
    let request = r#"{"name":"exporter","permissions":["read_accounts"],"days":7}"#;
    let made = call(&server, Some(&adam), "POST", "/api/admin/tokens", request).await;
    assert_eq!(made.status, 201, "{made:?}");
    let (id, token) = (
        made.json()["id"].as_i64().unwrap(),
        made.json()["token"].as_str().unwrap().to_owned(),
    );
    assert!(token.starts_with("sra_"));

    let read = call(&server, Some(&token), "GET", "/api/admin/accounts", "").await;
    assert_eq!(read.status, 200, "what it was made for");
    let write = call(
        &server,
        Some(&token),
        "PUT",
        "/api/admin/accounts/target/role",
        r#"{"role":"auditor"}"#,
    )
    .await;
    assert_eq!(
        write.status, 403,
        "not what its maker may but it was not made for"
    );
    let more = call(&server, Some(&token), "POST", "/api/admin/tokens", request).await;
    assert_eq!(more.status, 403, "a token makes no tokens");
    let listed = call(&server, Some(&adam), "GET", "/api/admin/tokens", "").await;
    assert!(
        !String::from_utf8_lossy(&listed.body).contains(&token),
        "never listed again"
    );
    let too_much = r#"{"name":"owner-maker","permissions":["manage_owners"]}"#;
    let refused = call(&server, Some(&adam), "POST", "/api/admin/tokens", too_much).await;
    assert_eq!(refused.status, 403, "no permission its maker lacks");

    // Its maker demoted, the token can do nothing its maker no longer may.
    let olivia = sign_in(&server, "olivia").await;
    let demote = call(
        &server,
        Some(&olivia),
        "PUT",
        "/api/admin/accounts/adam/role",
        r#"{"role":"member"}"#,
    )
    .await;
    assert_eq!(demote.status, 204);
    assert_eq!(
        call(&server, Some(&token), "GET", "/api/admin/accounts", "")
            .await
            .status,
        403
    );
    let revoked = call(
        &server,
        Some(&olivia),
        "DELETE",
        &format!("/api/admin/tokens/{id}"),
        "",
    )
    .await;
    assert_eq!(revoked.status, 204);
    let gone = call(&server, Some(&token), "GET", "/api/admin/accounts", "").await;
    assert_eq!((gone.status, gone.error().as_str()), (401, "token_unknown"));
}

#[tokio::test]
async fn ending_an_accounts_sessions_signs_it_out() {
    let server = organisation().await;
    let mel = sign_in(&server, "mel").await;
    assert_eq!(
        call(&server, Some(&mel), "GET", "/api/session", "")
            .await
            .status,
        200
    );
    let adam = sign_in(&server, "adam").await;
    let ended = call(
        &server,
        Some(&adam),
        "DELETE",
        "/api/admin/accounts/mel/sessions",
        "",
    )
    .await;
    assert_eq!(
        (ended.status, ended.json()["ended"].as_u64()),
        (200, Some(1))
    );
    assert_eq!(
        call(&server, Some(&mel), "GET", "/api/session", "")
            .await
            .status,
        401
    );
    let nobody = call(
        &server,
        Some(&adam),
        "DELETE",
        "/api/admin/accounts/nobody/sessions",
        "",
    )
    .await;
    assert_eq!(nobody.status, 404);
}
