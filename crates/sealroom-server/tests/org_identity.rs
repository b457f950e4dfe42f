//! The organisation key and the bindings it signs, from the HTTP side: the key is public and
//! kept; a binding goes only to a fully signed-in session (never to a guest, an enrolment-only
//! session or a disabled account's), names the session's own account, verifies under the
//! published key for the device it was asked for, and is recorded. Native clients show the
//! accounts the pinned key vouches for, and flag a server whose key is not the pinned one.

mod support;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sealroom_client::session::{JoinOptions, RoomClient, Status};
use sealroom_e2ee::{DeviceIdentity, OrgBinding, OrgKey, OrgSigner};
use sealroom_server::{
    mfa::{MfaPolicy, set_policy},
    org_roles::OrgRole,
};
use support::{TestServer, converge};

async fn organisation() -> TestServer {
    let server = TestServer::start().await;
    server
        .add_accounts(&[("olivia", OrgRole::Owner), ("alice", OrgRole::Member)])
        .await;
    server
}

async fn published_key(server: &TestServer) -> OrgKey {
    let reply = server.api(None, "GET", "/api/org/identity-key", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let key = URL_SAFE_NO_PAD
        .decode(reply.json()["key"].as_str().unwrap())
        .unwrap();
    let key = OrgKey::from_bytes(&key).unwrap();
    assert_eq!(reply.json()["fingerprint"], key.fingerprint().to_string());
    key
}

fn binding_request(device: &DeviceIdentity) -> String {
    serde_json::json!({ "device_key": URL_SAFE_NO_PAD.encode(device.public_key()) }).to_string()
}

async fn ask_binding(server: &TestServer, token: Option<&str>, body: &str) -> support::Reply {
    server
        .api(token, "POST", "/api/account/identity-binding", body)
        .await
}

#[tokio::test]
async fn the_organisation_key_is_public_and_kept() {
    let server = organisation().await;
    let key = published_key(&server).await;
    assert_eq!(published_key(&server).await, key);
    let stored = server.server.storage.org_signing_key().await.unwrap();
    assert_eq!(stored.public_key(), key, "made once, then read back");
}

#[tokio::test]
async fn a_binding_names_the_sessions_account_and_device_and_is_recorded() {
    let server = organisation().await;
    let key = published_key(&server).await;
    let device = DeviceIdentity::generate("Alice").unwrap();
    let alice = server.session_token("alice").await;
    let reply = ask_binding(&server, Some(&alice), &binding_request(&device)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = reply.json();
    let bytes = URL_SAFE_NO_PAD
        .decode(answer["binding"].as_str().unwrap())
        .unwrap();
    let binding = OrgBinding::decode(&bytes).unwrap();
    assert_eq!(binding.account, "alice");
    assert_eq!(answer["account"], "alice");
    assert_eq!(binding.expires_at - binding.issued_at, 12 * 3600);
    assert_eq!(answer["expires_at"], binding.expires_at);
    assert_eq!(
        binding.verify(&key, device.public_key(), binding.issued_at),
        Ok(())
    );
    let log = server.server.storage.account_audit_log().await.unwrap();
    let issued = log
        .iter()
        .find(|r| r.action == "identity_binding_issued")
        .expect("recorded");
    assert_eq!(issued.participant.as_deref(), Some("alice"));
    let detail = issued.detail.as_deref().unwrap();
    assert!(
        detail.contains(&device.fingerprint().to_string()),
        "{detail}"
    );

    for bad in [r#"{"device_key":"AAAA"}"#, r#"{"device_key":"!"}"#] {
        let reply = ask_binding(&server, Some(&alice), bad).await;
        assert_eq!(reply.status, 422, "{bad}: {reply:?}");
    }
    let with_account = r#"{"device_key":"AAAA","account":"olivia"}"#;
    assert_eq!(
        ask_binding(&server, Some(&alice), with_account)
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn a_guest_an_enrolment_only_session_and_a_disabled_account_get_no_binding() {
    let server = organisation().await;
    let request = binding_request(&DeviceIdentity::generate("Mallory").unwrap());
    let guest = ask_binding(&server, None, &request).await;
    assert_eq!((guest.status, guest.error()), (401, "signed_out".into()));
    let forged = ask_binding(&server, Some("not-a-session"), &request).await;
    assert_eq!(forged.status, 401);

    let alice = server.session_token("alice").await;
    set_policy(&server.server.storage, &MfaPolicy::Everyone, None)
        .await
        .unwrap();
    let enrolment_only = server.session_token("alice").await;
    let refused = ask_binding(&server, Some(&enrolment_only), &request).await;
    assert_eq!(
        (refused.status, refused.error()),
        (403, "mfa_enrolment_required".into())
    );
    set_policy(&server.server.storage, &MfaPolicy::Off, None)
        .await
        .unwrap();

    let olivia = server.session_token("olivia").await;
    let disabled = server
        .api(
            Some(&olivia),
            "PUT",
            "/api/admin/accounts/alice/disabled",
            r#"{"disabled":true}"#,
        )
        .await;
    assert_eq!(disabled.status, 204, "{disabled:?}");
    let after = ask_binding(&server, Some(&alice), &request).await;
    assert_eq!(after.status, 401, "the disabled account's session is gone");
    let log = server.server.storage.account_audit_log().await.unwrap();
    assert!(!log.iter().any(|r| r.action == "identity_binding_issued"));
}

fn accounts_in(status: &Status) -> Vec<(String, Option<String>, &'static str)> {
    let mut roster: Vec<_> = status
        .roster
        .iter()
        .map(|m| (m.name.clone(), m.account.clone(), m.org_binding))
        .collect();
    roster.sort();
    roster
}

/// Native clients as `sealroom join --account … --device-key …` runs them: two signed in and a
/// guest each see the verified accounts from the MLS roster, and the first contact pins the
/// key beside the device key; a client whose pin is another key reports the change, keeps the
/// pin and shows no account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_clients_show_verified_accounts_and_flag_a_changed_key() {
    let server = organisation().await;
    let keys = tempfile::tempdir().unwrap();
    let options = |name: &str, token: Option<String>, dir: &str| {
        let dir = keys.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        JoinOptions {
            session_token: token,
            device_key: Some(dir.join("device-key")),
            ..server.join_options("vouched", name)
        }
    };
    let (olivia, alice) = (
        server.session_token("olivia").await,
        server.session_token("alice").await,
    );
    let stale_pin = OrgSigner::generate().unwrap().public_key();
    let pins = serde_json::json!({ server.url(): URL_SAFE_NO_PAD.encode(stale_pin.to_bytes()) });
    std::fs::create_dir_all(keys.path().join("guest")).unwrap();
    let guest_pins = keys.path().join("guest/org-keys.json");
    std::fs::write(&guest_pins, pins.to_string()).unwrap();

    let first = RoomClient::join(options("Olivia", Some(olivia), "olivia"))
        .await
        .unwrap();
    let second = RoomClient::join(options("Alice", Some(alice), "alice"))
        .await
        .unwrap();
    let guest = RoomClient::join(options("Guest", None, "guest"))
        .await
        .unwrap();
    let statuses = converge(&[&first, &second, &guest], &["Olivia", "Alice", "Guest"]).await;
    let verified = vec![
        ("Alice".to_owned(), Some("alice".to_owned()), "verified"),
        ("Guest".to_owned(), None, "none"),
        ("Olivia".to_owned(), Some("olivia".to_owned()), "verified"),
    ];
    assert_eq!(accounts_in(&statuses[0]), verified);
    assert_eq!(accounts_in(&statuses[1]), verified);
    let pinned = std::fs::read_to_string(keys.path().join("olivia/org-keys.json")).unwrap();
    let key = published_key(&server).await;
    assert!(
        pinned.contains(&URL_SAFE_NO_PAD.encode(key.to_bytes())),
        "{pinned}"
    );

    let change = statuses[2]
        .org_key_changed
        .clone()
        .expect("the change reported");
    assert_eq!(change.pinned, stale_pin.fingerprint().to_string());
    assert_eq!(change.presented, key.fingerprint().to_string());
    assert_eq!(
        std::fs::read_to_string(&guest_pins).unwrap(),
        pins.to_string()
    );
    let bad_signature = vec![
        ("Alice".to_owned(), None, "bad_signature"),
        ("Guest".to_owned(), None, "none"),
        ("Olivia".to_owned(), None, "bad_signature"),
    ];
    assert_eq!(accounts_in(&statuses[2]), bad_signature);
    for client in [first, second, guest] {
        client.leave().await;
    }
}
