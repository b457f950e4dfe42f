//! Second factors through a real server, from the side of whom they must stop: the MFA policy
//! gives an account without a factor an enrolment-only session that neither the WebSocket nor
//! the administration takes; only owners and admins set the policy; a TOTP enrolled through the
//! API (its pending seed sealed in the database) is then asked for at every sign-in; a
//! recovery code works once; removing a factor takes a current one; an enrolment-only session
//! enrols only its own account; a passkey ceremony is one use and its session's; a server
//! whose origin is an IP address offers no passkeys.

mod support;

use std::time::{Duration, Instant};

use sealroom_client::session::{JoinOptions, RoomClient, SessionError};
use sealroom_server::{
    accounts::create_account,
    config::AccountSettings,
    mfa::{MfaPolicy, set_policy},
    org_roles::OrgRole,
    rate_limit::RateLimit,
};
use support::{ACCOUNT_PASSWORD, Reply, SETTLE, TestServer};

/// A server with these accounts (no factor), all with [`ACCOUNT_PASSWORD`], and room for the
/// tests' sign-ins under the per-account limit.
async fn organisation(people: &[(&str, OrgRole)]) -> TestServer {
    let server = TestServer::start_configured(|config| {
        config.accounts.sign_in_per_account = RateLimit {
            burst: 20,
            per_minute: 20,
        };
    })
    .await;
    server.add_accounts(people).await;
    server
}

/// `POST /api/session` with `extra` fields, as a native client.
async fn sign_in_with(server: &TestServer, name: &str, extra: serde_json::Value) -> Reply {
    let mut body = serde_json::json!({ "username": name, "password": ACCOUNT_PASSWORD });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server
        .api(None, "POST", "/api/session", &body.to_string())
        .await
}

/// The code of a base32 TOTP seed at `secs`.
fn totp_code(seed: &str, secs: u64) -> String {
    let secret = totp_rs::Secret::Encoded(seed.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
        .unwrap()
        .generate(secs)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Enrols TOTP for `token`'s account through the API: its seed and recovery codes.
async fn enrol_totp(server: &TestServer, token: &str) -> (String, Vec<String>) {
    let started = server
        .api(Some(token), "POST", "/api/account/totp", "{}")
        .await;
    assert_eq!(started.status, 200, "{started:?}");
    let seed = started.json()["secret"].as_str().unwrap().to_owned();
    assert!(
        started.json()["uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    // A code from the step before: the sign-in right after uses the current one.
    let code = totp_code(&seed, now_secs() - 30);
    let body = serde_json::json!({ "code": code }).to_string();
    let confirmed = server
        .api(Some(token), "POST", "/api/account/totp/confirm", &body)
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let codes = confirmed.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (seed, codes)
}

/// Joins a room over the WebSocket with the session `token`.
async fn join_with(
    server: &TestServer,
    token: &str,
    name: &str,
) -> Result<RoomClient, SessionError> {
    RoomClient::join(JoinOptions {
        session_token: Some(token.to_owned()),
        ..server.join_options("weekly", name)
    })
    .await
}

/// A WebSocket handshake to `/ws` with the session `token` that must be refused: the status
/// and the `error` of the refusal.
async fn refused_upgrade(server: &TestServer, token: &str) -> (u16, String) {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    let mut request = format!("ws://{}/ws", server.server.http_addr)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert("Authorization", bearer);
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(body).unwrap();
            (
                response.status().as_u16(),
                body["error"].as_str().unwrap().to_owned(),
            )
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the upgrade must be refused"),
    }
}

/// Waits until the audit log outside rooms has a record of `action` whose detail has `part`.
async fn recorded(server: &TestServer, action: &str, part: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let records = server.server.storage.account_audit_log().await.unwrap();
        let found = records
            .iter()
            .any(|r| r.action == action && r.detail.as_deref().unwrap_or_default().contains(part));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {action} {part} in {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Under `everyone`, an account without a factor signs in to an enrolment-only session: the
/// session says so, the WebSocket upgrade is refused (403 `mfa_enrolment_required`), so is the
/// administration even for an admin; once it enrols TOTP the same session joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_only_session_opens_no_websocket_and_administers_nothing() {
    let server = organisation(&[("mel", OrgRole::Member), ("adam", OrgRole::Admin)]).await;
    set_policy(&server.server.storage, &MfaPolicy::Everyone, None)
        .await
        .unwrap();
    let signed_in = sign_in_with(&server, "mel", serde_json::json!({})).await;
    assert_eq!(
        signed_in.json()["mfa"],
        "enrolment_required",
        "{signed_in:?}"
    );
    let token = signed_in.json()["token"].as_str().unwrap().to_owned();
    let session = server.api(Some(&token), "GET", "/api/session", "").await;
    assert_eq!(session.json()["mfa"], "enrolment_required");

    let (status, body) = refused_upgrade(&server, &token).await;
    assert_eq!((status, body.as_str()), (403, "mfa_enrolment_required"));
    assert!(join_with(&server, &token, "Mel").await.is_err());

    let admin = server.session_token("adam").await;
    let listing = server
        .api(Some(&admin), "GET", "/api/admin/accounts", "")
        .await;
    assert_eq!(listing.status, 403, "{listing:?}");
    assert_eq!(listing.error(), "mfa_enrolment_required");

    enrol_totp(&server, &token).await;
    let session = server.api(Some(&token), "GET", "/api/session", "").await;
    assert!(session.json().get("mfa").is_none(), "{session:?}");
    let mel = join_with(&server, &token, "Mel").await.unwrap();
    mel.leave().await;
    recorded(&server, "signed_in", "mfa=enrolment_required").await;
    recorded(&server, "mfa_enrolled", "factor=totp").await;
}

/// Members and auditors may not read or set the policy (recorded); an admin may, and the
/// change is recorded; a policy the server does not know is refused.
#[tokio::test]
async fn only_owners_and_admins_set_the_policy() {
    let server = organisation(&[
        ("mel", OrgRole::Member),
        ("audrey", OrgRole::Auditor),
        ("adam", OrgRole::Admin),
    ])
    .await;
    let body = r#"{"policy":"off"}"#;
    for name in ["mel", "audrey"] {
        let token = server.session_token(name).await;
        let put = server
            .api(Some(&token), "PUT", "/api/admin/mfa-policy", body)
            .await;
        assert_eq!(put.status, 403, "{name}: {put:?}");
        let get = server
            .api(Some(&token), "GET", "/api/admin/mfa-policy", "")
            .await;
        assert_eq!(get.status, 403, "{name}: {get:?}");
    }
    recorded(&server, "admin_refused", "needed=ManageSettings").await;
    let admin = server.session_token("adam").await;
    let body = r#"{"policy":"admins"}"#;
    let put = server
        .api(Some(&admin), "PUT", "/api/admin/mfa-policy", body)
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let get = server
        .api(Some(&admin), "GET", "/api/admin/mfa-policy", "")
        .await;
    assert_eq!(get.json()["policy"], "owner,admin");
    recorded(&server, "mfa_policy_changed", "policy=owner,admin").await;
    let bad = r#"{"policy":"root"}"#;
    let put = server
        .api(Some(&admin), "PUT", "/api/admin/mfa-policy", bad)
        .await;
    assert_eq!(put.status, 400, "{put:?}");
    // Under `admins` the admin's next sign-in may only enrol; the member's is a full one.
    let next = sign_in_with(&server, "adam", serde_json::json!({})).await;
    assert_eq!(next.json()["mfa"], "enrolment_required");
    let member = sign_in_with(&server, "mel", serde_json::json!({})).await;
    assert!(member.json().get("mfa").is_none(), "{member:?}");
}

/// A TOTP enrolled through the API is asked for at every password sign-in, whatever the
/// policy: no code, a wrong code and a used code are refused alike; a right one passes.
#[tokio::test]
async fn a_totp_enrolled_through_the_api_is_then_required_at_sign_in() {
    let server = organisation(&[("mel", OrgRole::Member)]).await;
    let token = server.session_token("mel").await;
    let (seed, _) = enrol_totp(&server, &token).await;
    let no_code = sign_in_with(&server, "mel", serde_json::json!({})).await;
    assert_eq!(no_code.status, 401);
    assert_eq!(no_code.error(), "invalid_credentials");
    let wrong = sign_in_with(&server, "mel", serde_json::json!({ "totp_code": "000000" })).await;
    assert_eq!(wrong.status, 401);
    let code = totp_code(&seed, now_secs());
    let right = sign_in_with(&server, "mel", serde_json::json!({ "totp_code": code })).await;
    assert_eq!(right.status, 200, "{right:?}");
    // Its step is used now: the same code does not sign in again (still within the step of
    // skew, so it is refused as reused, not as too old, whenever the test runs).
    let replayed = sign_in_with(&server, "mel", serde_json::json!({ "totp_code": code })).await;
    assert_eq!(replayed.status, 401);
    recorded(&server, "sign_in_refused", "reason=totp_code_missing").await;
    recorded(&server, "sign_in_refused", "reason=totp_code_reused").await;
}

/// Each of the ten recovery codes signs in once in place of a TOTP code (recorded); used, or
/// made up, it is refused; new codes void the old ones.
#[tokio::test]
async fn a_recovery_code_works_once() {
    let server = organisation(&[("mel", OrgRole::Member)]).await;
    let token = server.session_token("mel").await;
    let (seed, codes) = enrol_totp(&server, &token).await;
    assert_eq!(codes.len(), 10);
    let first = serde_json::json!({ "totp_code": codes[0].to_uppercase() });
    let used = sign_in_with(&server, "mel", first.clone()).await;
    assert_eq!(used.status, 200, "{used:?}");
    recorded(&server, "recovery_code_used", "left=9").await;
    assert_eq!(sign_in_with(&server, "mel", first).await.status, 401);
    let made_up = serde_json::json!({ "totp_code": "0000-0000-0000-0000" });
    assert_eq!(sign_in_with(&server, "mel", made_up).await.status, 401);
    recorded(&server, "sign_in_refused", "reason=recovery_code_wrong").await;

    let proof = serde_json::json!({ "code": totp_code(&seed, now_secs()) }).to_string();
    let renewed = server
        .api(Some(&token), "POST", "/api/account/recovery-codes", &proof)
        .await;
    assert_eq!(renewed.status, 200, "{renewed:?}");
    let old = serde_json::json!({ "totp_code": codes[1] });
    assert_eq!(sign_in_with(&server, "mel", old).await.status, 401);
    let new = serde_json::json!({ "totp_code": renewed.json()["recovery_codes"][0] });
    assert_eq!(sign_in_with(&server, "mel", new).await.status, 200);
}

/// Removing TOTP takes a current factor: without one, or with a wrong one, it is refused
/// (recorded) and TOTP stays; under a policy that covers the account its last factor stays;
/// with a right code and no policy it goes, and sign-in takes the password alone.
#[tokio::test]
async fn removing_totp_takes_a_current_factor() {
    let server = organisation(&[("mel", OrgRole::Member)]).await;
    let token = server.session_token("mel").await;
    let (seed, _) = enrol_totp(&server, &token).await;
    for proof in ["{}", r#"{"code":"000000"}"#] {
        let refused = server
            .api(Some(&token), "DELETE", "/api/account/totp", proof)
            .await;
        assert_eq!(refused.status, 403, "{refused:?}");
        assert_eq!(refused.error(), "factor_required");
    }
    recorded(&server, "sign_in_refused", "purpose=account_change").await;
    set_policy(&server.server.storage, &MfaPolicy::Everyone, None)
        .await
        .unwrap();
    let code = serde_json::json!({ "code": totp_code(&seed, now_secs()) }).to_string();
    let kept = server
        .api(Some(&token), "DELETE", "/api/account/totp", &code)
        .await;
    assert_eq!(kept.status, 409, "{kept:?}");
    set_policy(&server.server.storage, &MfaPolicy::Off, None)
        .await
        .unwrap();
    let code = serde_json::json!({ "code": totp_code(&seed, now_secs() + 30) }).to_string();
    let removed = server
        .api(Some(&token), "DELETE", "/api/account/totp", &code)
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    server.session_token("mel").await;
}

/// An enrolment-only session acts on its own account only: the routes take no account name
/// (one given is refused), and what it enrols is its own — the other account still signs in
/// with its password alone.
#[tokio::test]
async fn an_enrolment_only_session_enrols_only_its_own_account() {
    let server = organisation(&[("mel", OrgRole::Member), ("bob", OrgRole::Member)]).await;
    set_policy(&server.server.storage, &MfaPolicy::Everyone, None)
        .await
        .unwrap();
    let token = server.session_token("mel").await;
    let named = server
        .api(
            Some(&token),
            "POST",
            "/api/account/totp",
            r#"{"username":"bob"}"#,
        )
        .await;
    assert_eq!(named.status, 422, "{named:?}");
    let started = server
        .api(Some(&token), "POST", "/api/account/totp", "{}")
        .await;
    assert!(
        started.json()["uri"]
            .as_str()
            .unwrap()
            .contains("Sealroom:mel?")
    );
    enrol_totp(&server, &token).await;
    // bob has no factor: his sign-in is an enrolment-only one, with no code asked.
    let bob = sign_in_with(&server, "bob", serde_json::json!({})).await;
    assert_eq!(bob.status, 200, "{bob:?}");
    assert_eq!(bob.json()["mfa"], "enrolment_required");
    // Without a session, nothing.
    let nobody = server.api(None, "POST", "/api/account/totp", "{}").await;
    assert_eq!(nobody.status, 401);
    // A body that is not JSON is refused before anything (what keeps forms from other sites out).
    let bearer = format!("Authorization: Bearer {token}");
    let form = server
        .http(
            "POST",
            "/api/account/totp",
            &[
                "Content-Type: application/x-www-form-urlencoded",
                bearer.as_str(),
            ],
            b"a=b",
        )
        .await;
    assert_eq!(form.status, 415, "{form:?}");
}

/// A seed being enrolled is in the database only sealed: its base32 text is nowhere in the
/// database.
#[tokio::test]
async fn a_pending_seed_is_sealed_in_the_database() {
    let server = organisation(&[("mel", OrgRole::Member)]).await;
    let token = server.session_token("mel").await;
    let started = server
        .api(Some(&token), "POST", "/api/account/totp", "{}")
        .await;
    let seed = started.json()["secret"].as_str().unwrap().to_owned();
    assert!(
        !server.data.holds(seed.as_bytes()).await,
        "the seed in the clear"
    );
}

/// A passkey ceremony is one use and its session's: another account's session cannot finish
/// it (and so spends it), a sign-in answer for a ceremony the server never began is refused
/// like any sign-in (the reason audited), and no sign-in at all follows either.
#[tokio::test]
async fn a_passkey_ceremony_is_one_use_and_bound_to_its_session() {
    let server = organisation(&[("mel", OrgRole::Member), ("bob", OrgRole::Member)]).await;
    let (mel, bob) = (
        server.session_token("mel").await,
        server.session_token("bob").await,
    );
    let options = server
        .api(Some(&mel), "POST", "/api/account/passkeys/options", "{}")
        .await;
    assert_eq!(options.status, 200, "{options:?}");
    assert_eq!(options.json()["publicKey"]["rp"]["id"], "localhost");
    let ceremony = options.json()["ceremony"].as_str().unwrap().to_owned();
    let registration = serde_json::json!({
        "ceremony": ceremony,
        "name": "Bob's key on Mel's account",
        "credential": {
            "id": "AA", "rawId": "AA", "type": "public-key",
            "response": { "attestationObject": "AA", "clientDataJSON": "AA" },
        },
    })
    .to_string();
    let stolen = server
        .api(Some(&bob), "POST", "/api/account/passkeys", &registration)
        .await;
    assert_eq!(stolen.status, 403, "{stolen:?}");
    let spent = server
        .api(Some(&mel), "POST", "/api/account/passkeys", &registration)
        .await;
    assert_eq!(spent.error(), "ceremony_unknown", "{spent:?}");

    let answer = serde_json::json!({
        "ceremony": "never-begun",
        "credential": {
            "id": "AA", "rawId": "AA", "type": "public-key",
            "response": {
                "authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA",
                "userHandle": "AA",
            },
        },
    })
    .to_string();
    let refused = server
        .api(None, "POST", "/api/session/passkey", &answer)
        .await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.error(), "invalid_credentials");
    assert!(refused.header("set-cookie").is_none());
    recorded(
        &server,
        "sign_in_refused",
        "reason=passkey_ceremony_unknown",
    )
    .await;
}

/// A server whose origin is an IP address offers no passkeys (a browser refuses an IP as the
/// relying party): every passkey route answers `404 passkeys_unavailable`, and the account
/// page is told.
#[tokio::test]
async fn passkeys_are_off_when_the_origin_is_an_ip_address() {
    let server = TestServer::start_configured(|config| {
        config.public_origin = Some("https://192.0.2.7".into());
    })
    .await;
    create_account(
        &server.server.storage,
        &AccountSettings::default(),
        "mel",
        ACCOUNT_PASSWORD,
        false,
        OrgRole::Member,
    )
    .await
    .unwrap();
    let token = server.session_token("mel").await;
    for path in [
        "/api/session/passkey/options",
        "/api/account/passkeys/options",
    ] {
        let reply = server.api(Some(&token), "POST", path, "{}").await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.error(), "passkeys_unavailable");
    }
    let status = server
        .api(Some(&token), "GET", "/api/account/mfa", "")
        .await;
    assert_eq!(status.json()["passkeys_available"], false);
}

/// A stolen session guessing TOTP codes to remove the factor or make itself recovery codes
/// draws from the account's sign-in limit: past it, `429 rate_limited` before any code is
/// checked (recorded once).
#[tokio::test]
async fn guessing_codes_with_a_stolen_session_hits_the_sign_in_limit() {
    let server = TestServer::start_configured(|config| {
        config.accounts.sign_in_per_account = RateLimit {
            burst: 4,
            per_minute: 1,
        };
    })
    .await;
    create_account(
        &server.server.storage,
        &AccountSettings::default(),
        "mel",
        ACCOUNT_PASSWORD,
        false,
        OrgRole::Member,
    )
    .await
    .unwrap();
    let token = server.session_token("mel").await;
    enrol_totp(&server, &token).await;
    let guess = r#"{"code":"000000"}"#;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = server
            .api(Some(&token), "POST", "/api/account/recovery-codes", guess)
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [403, 403, 403, 429]);
    recorded(&server, "sign_in_rate_limited", "purpose=account_change").await;
}
