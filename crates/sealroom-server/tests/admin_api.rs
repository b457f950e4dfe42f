//! The administration API from the side of those it must refuse: every route, for a guest (no
//! credentials), a member and an auditor (but where an auditor reads the audit log) — refused,
//! and the refusal recorded — while admins and owners pass; only owners name owners and the
//! last owner stays; an API token does what it was made for and what its maker may still do,
//! no more, and stops when revoked; ending an account's sessions signs it out; a disabled
//! account signs in no way and its token stops.

mod support;

use std::collections::BTreeMap;

use sealroom_server::{
    ldap::LdapDirectorySettings, oidc::OidcProviderSettings, org_roles::OrgRole,
};
use support::TestServer;

/// The organisation: one account per role, and `target`, whom the writes touch.
const PEOPLE: [(&str, OrgRole); 5] = [
    ("olivia", OrgRole::Owner),
    ("adam", OrgRole::Admin),
    ("audrey", OrgRole::Auditor),
    ("mel", OrgRole::Member),
    ("target", OrgRole::Member),
];

/// Whom a route lets in besides owners and admins.
#[derive(Clone, Copy, PartialEq)]
enum AlsoFor {
    Nobody,
    /// Reading the audit log: auditors too.
    Auditors,
}

/// Every administration route, with a body that would pass.
const ROUTES: [(&str, &str, &str, AlsoFor); 22] = [
    ("GET", "/api/admin/accounts", "", AlsoFor::Nobody),
    (
        "PUT",
        "/api/admin/accounts/target/role",
        r#"{"role":"member"}"#,
        AlsoFor::Nobody,
    ),
    (
        "PUT",
        "/api/admin/accounts/target/disabled",
        r#"{"disabled":false}"#,
        AlsoFor::Nobody,
    ),
    (
        "DELETE",
        "/api/admin/accounts/target/sessions",
        "",
        AlsoFor::Nobody,
    ),
    ("GET", "/api/admin/tokens", "", AlsoFor::Nobody),
    (
        "POST",
        "/api/admin/tokens",
        r#"{"name":"ci","permissions":["read_accounts"]}"#,
        AlsoFor::Nobody,
    ),
    ("DELETE", "/api/admin/tokens/999999", "", AlsoFor::Nobody),
    ("GET", "/api/admin/mfa-policy", "", AlsoFor::Nobody),
    (
        "PUT",
        "/api/admin/mfa-policy",
        r#"{"policy":"off"}"#,
        AlsoFor::Nobody,
    ),
    (
        "DELETE",
        "/api/admin/accounts/target/mfa",
        "",
        AlsoFor::Nobody,
    ),
    ("GET", "/api/admin/identity-providers", "", AlsoFor::Nobody),
    ("GET", "/api/admin/invites", "", AlsoFor::Nobody),
    (
        "POST",
        "/api/admin/invites",
        r#"{"username":"newcomer","role":"member"}"#,
        AlsoFor::Nobody,
    ),
    ("DELETE", "/api/admin/invites/999999", "", AlsoFor::Nobody),
    ("GET", "/api/admin/settings", "", AlsoFor::Nobody),
    (
        "PUT",
        "/api/admin/settings",
        r#"{"guests_may_join":true}"#,
        AlsoFor::Nobody,
    ),
    ("GET", "/api/admin/rooms", "", AlsoFor::Nobody),
    (
        "POST",
        "/api/admin/rooms",
        r#"{"name":"all-hands"}"#,
        AlsoFor::Nobody,
    ),
    (
        "DELETE",
        "/api/admin/rooms/no-such-room",
        "",
        AlsoFor::Nobody,
    ),
    ("GET", "/api/admin/audit", "", AlsoFor::Auditors),
    ("GET", "/api/admin/audit/verify", "", AlsoFor::Auditors),
    (
        "GET",
        "/api/admin/audit/export?format=csv",
        "",
        AlsoFor::Auditors,
    ),
];

async fn organisation() -> TestServer {
    let server = TestServer::start().await;
    server.add_accounts(&PEOPLE).await;
    server
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
        tokens.insert(name, server.session_token(name).await);
    }
    for (method, path, body, also_for) in ROUTES {
        let guest = server.api(None, method, path, body).await;
        assert_eq!(guest.status, 401, "a guest at {method} {path}");
        let auditor_may = also_for == AlsoFor::Auditors;
        let refused = if auditor_may {
            &["mel"][..]
        } else {
            &["mel", "audrey"]
        };
        for name in refused {
            let before = refusals(&server).await;
            let reply = server.api(Some(&tokens[name]), method, path, body).await;
            assert_eq!(reply.status, 403, "{name} at {method} {path}: {reply:?}");
            assert_eq!(
                refusals(&server).await,
                before + 1,
                "the refusal is recorded"
            );
        }
        let allowed = if auditor_may {
            &["adam", "olivia", "audrey"][..]
        } else {
            &["adam", "olivia"]
        };
        for name in allowed {
            let reply = server.api(Some(&tokens[name]), method, path, body).await;
            assert!(
                ![401, 403].contains(&reply.status),
                "{name} at {method} {path}: {reply:?}"
            );
        }
    }
    let listed = server
        .api(Some(&tokens["adam"]), "GET", "/api/admin/accounts", "")
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
        server.session_token("adam").await,
        server.session_token("olivia").await,
    );
    let owner = r#"{"role":"owner"}"#;
    let by_adam = server
        .api(Some(&adam), "PUT", "/api/admin/accounts/mel/role", owner)
        .await;
    assert_eq!(by_adam.status, 403, "an admin may not make an owner");
    let demote = r#"{"role":"member"}"#;
    let last = server
        .api(
            Some(&olivia),
            "PUT",
            "/api/admin/accounts/olivia/role",
            demote,
        )
        .await;
    assert_eq!((last.status, last.error().as_str()), (409, "last_owner"));
    let by_olivia = server
        .api(Some(&olivia), "PUT", "/api/admin/accounts/mel/role", owner)
        .await;
    assert_eq!(by_olivia.status, 204);
    let now = server
        .api(
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
    let adam = server.session_token("adam").await;
    let request = r#"{"name":"exporter","permissions":["read_accounts"],"days":7}"#;
    let made = server
        .api(Some(&adam), "POST", "/api/admin/tokens", request)
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let (id, token) = (
        made.json()["id"].as_i64().unwrap(),
        made.json()["token"].as_str().unwrap().to_owned(),
    );
    assert!(token.starts_with("sra_"));

    let read = server
        .api(Some(&token), "GET", "/api/admin/accounts", "")
        .await;
    assert_eq!(read.status, 200, "what it was made for");
    let write = server
        .api(
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
    let more = server
        .api(Some(&token), "POST", "/api/admin/tokens", request)
        .await;
    assert_eq!(more.status, 403, "a token makes no tokens");
    let listed = server
        .api(Some(&adam), "GET", "/api/admin/tokens", "")
        .await;
    assert!(
        !String::from_utf8_lossy(&listed.body).contains(&token),
        "never listed again"
    );
    let too_much = r#"{"name":"owner-maker","permissions":["manage_owners"]}"#;
    let refused = server
        .api(Some(&adam), "POST", "/api/admin/tokens", too_much)
        .await;
    assert_eq!(refused.status, 403, "no permission its maker lacks");

    // Its maker demoted, the token can do nothing its maker no longer may.
    let olivia = server.session_token("olivia").await;
    let demote = server
        .api(
            Some(&olivia),
            "PUT",
            "/api/admin/accounts/adam/role",
            r#"{"role":"member"}"#,
        )
        .await;
    assert_eq!(demote.status, 204);
    assert_eq!(
        server
            .api(Some(&token), "GET", "/api/admin/accounts", "")
            .await
            .status,
        403
    );
    let revoked = server
        .api(
            Some(&olivia),
            "DELETE",
            &format!("/api/admin/tokens/{id}"),
            "",
        )
        .await;
    assert_eq!(revoked.status, 204);
    let gone = server
        .api(Some(&token), "GET", "/api/admin/accounts", "")
        .await;
    assert_eq!((gone.status, gone.error().as_str()), (401, "token_unknown"));
}

#[tokio::test]
async fn ending_an_accounts_sessions_signs_it_out() {
    let server = organisation().await;
    let mel = server.session_token("mel").await;
    assert_eq!(
        server
            .api(Some(&mel), "GET", "/api/session", "")
            .await
            .status,
        200
    );
    let adam = server.session_token("adam").await;
    let ended = server
        .api(
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
        server
            .api(Some(&mel), "GET", "/api/session", "")
            .await
            .status,
        401
    );
    let nobody = server
        .api(
            Some(&adam),
            "DELETE",
            "/api/admin/accounts/nobody/sessions",
            "",
        )
        .await;
    assert_eq!(nobody.status, 404);
}

/// Disabling an admin: its session, its password and its API token all stop working at once,
/// the refusal is recorded with the true reason, and enabling it lets it sign in again. An
/// admin does not disable an owner, and nobody disables their own account.
#[tokio::test]
async fn a_disabled_account_signs_in_no_way_and_its_token_stops() {
    let server = organisation().await;
    let (adam, olivia) = (
        server.session_token("adam").await,
        server.session_token("olivia").await,
    );
    let request = r#"{"name":"ci","permissions":["read_accounts"]}"#;
    let made = server
        .api(Some(&adam), "POST", "/api/admin/tokens", request)
        .await;
    let token = made.json()["token"].as_str().unwrap().to_owned();
    let disable = r#"{"disabled":true}"#;
    let path = |name: &str| format!("/api/admin/accounts/{name}/disabled");
    let by_adam = server
        .api(Some(&adam), "PUT", &path("olivia"), disable)
        .await;
    assert_eq!(by_adam.status, 403, "an admin does not disable an owner");
    let herself = server
        .api(Some(&olivia), "PUT", &path("olivia"), disable)
        .await;
    assert_eq!(herself.status, 409);

    let disabled = server
        .api(Some(&olivia), "PUT", &path("adam"), disable)
        .await;
    assert_eq!(disabled.status, 204, "{disabled:?}");
    let session = server.api(Some(&adam), "GET", "/api/session", "").await;
    assert_eq!(session.status, 401, "the session ended");
    let with_token = server
        .api(Some(&token), "GET", "/api/admin/accounts", "")
        .await;
    assert_eq!(with_token.status, 401, "the token does nothing");
    let password = serde_json::json!({ "username": "adam", "password": support::ACCOUNT_PASSWORD });
    let signing_in = server
        .api(None, "POST", "/api/session", &password.to_string())
        .await;
    assert_eq!(signing_in.status, 401);
    let log = server.server.storage.account_audit_log().await.unwrap();
    let reasons = log
        .iter()
        .filter_map(|r| r.detail.as_deref())
        .filter(|d| d.contains("reason=account_disabled"));
    assert_eq!(reasons.count(), 1, "{log:?}");
    assert!(log.iter().any(|r| r.action == "account_disabled"));

    let enable = r#"{"disabled":false}"#;
    let enabled = server
        .api(Some(&olivia), "PUT", &path("adam"), enable)
        .await;
    assert_eq!(enabled.status, 204);
    server.session_token("adam").await;
}

#[tokio::test]
async fn the_console_lists_identity_providers_and_never_their_secrets() {
    const CLIENT_SECRET: &str = "the provider's client secret";
    const BIND_PASSWORD: &str = "the directory's service password";
    let server = TestServer::start_configured(|config| {
        config.oidc = vec![OidcProviderSettings {
            name: "corp".into(),
            label: "Corp SSO".into(),
            issuer: "https://id.corp.example/realms/staff".into(),
            client_id: "sealroom".into(),
            client_secret: Some(CLIENT_SECRET.into()),
            scopes: vec![],
            username_claim: "preferred_username".into(),
            role_claim: Some("groups".into()),
            roles: BTreeMap::from([("sealroom-admins".into(), OrgRole::Admin)]),
            allow_http_on_loopback: false,
        }];
        config.ldap = vec![LdapDirectorySettings {
            name: "staff".into(),
            label: "Staff directory".into(),
            url: "ldaps://ldap.corp.example".into(),
            starttls: false,
            allow_plain_on_loopback: false,
            ca_file: None,
            bind_dn: "cn=sealroom,dc=corp".into(),
            bind_password: Some(BIND_PASSWORD.into()),
            bind_password_file: None,
            user_base: "dc=corp".into(),
            user_filter: "(uid={username})".into(),
            username_attribute: "uid".into(),
            group_attribute: "memberOf".into(),
            roles: BTreeMap::from([("cn=auditors,dc=corp".into(), OrgRole::Auditor)]),
            timeout_secs: 5,
        }];
    })
    .await;
    server.add_accounts(&[("adam", OrgRole::Admin)]).await;
    let adam = server.session_token("adam").await;
    let reply = server
        .api(Some(&adam), "GET", "/api/admin/identity-providers", "")
        .await;
    assert_eq!(reply.status, 200);
    let listed = reply.json();
    let summary: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].clone(),
                p["name"].clone(),
                p["location"].clone(),
                p["roles"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "oidc".into(),
                "corp".into(),
                "https://id.corp.example/realms/staff".into(),
                serde_json::json!({ "sealroom-admins": "admin" })
            ),
            (
                "ldap".into(),
                "staff".into(),
                "ldaps://ldap.corp.example".into(),
                serde_json::json!({ "cn=auditors,dc=corp": "auditor" })
            ),
        ]
    );
    let body = String::from_utf8(reply.body).unwrap();
    assert!(
        !body.contains(CLIENT_SECRET) && !body.contains(BIND_PASSWORD),
        "{body}"
    );
}
