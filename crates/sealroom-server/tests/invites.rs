//! Invitations through a real server, from the side of those they must stop: an admin invites
//! an account by name and role, and whoever holds the link chooses its password and is signed
//! in — once; a weak password spends nothing; a second use, a withdrawn or expired invitation
//! and a guessed token make no account (and are recorded), and guessing runs into the sign-in
//! limits; only an owner invites an owner, and a name is never invited or made twice.

mod support;

use sealroom_server::{accounts::token_hash, org_roles::OrgRole, storage::NewInvite};
use support::{Reply, TestServer};

const PASSWORD: &str = "a long passphrase of my own";

async fn organisation() -> (TestServer, String, String) {
    let server = TestServer::start().await;
    server
        .add_accounts(&[
            ("olivia", OrgRole::Owner),
            ("adam", OrgRole::Admin),
            ("mel", OrgRole::Member),
        ])
        .await;
    let adam = server.session_token("adam").await;
    let olivia = server.session_token("olivia").await;
    (server, adam, olivia)
}

async fn invite(server: &TestServer, by: &str, username: &str, role: &str) -> Reply {
    let body = serde_json::json!({ "username": username, "role": role }).to_string();
    server
        .api(Some(by), "POST", "/api/admin/invites", &body)
        .await
}

/// The token in an invitation's link (`/account/invite#t=…`).
fn token_of(created: &Reply) -> String {
    let link = created.json()["link"].as_str().unwrap().to_owned();
    link.strip_prefix("/account/invite#t=").unwrap().to_owned()
}

async fn accept(server: &TestServer, token: &str, password: &str) -> Reply {
    let body = serde_json::json!({ "token": token, "password": password }).to_string();
    server.api(None, "POST", "/api/invite/accept", &body).await
}

async fn audited(server: &TestServer, action: &str) -> Vec<(Option<String>, String)> {
    let log = server.server.storage.account_audit_log().await.unwrap();
    log.into_iter()
        .filter(|r| r.action == action)
        .map(|r| (r.participant, r.detail.unwrap_or_default()))
        .collect()
}

fn refused_as_unknown(reply: &Reply) -> bool {
    reply.status == 404 && reply.error() == "unknown_invite"
}

#[tokio::test]
async fn an_invited_person_chooses_a_password_and_is_signed_in_once() {
    let (server, adam, _) = organisation().await;
    let created = invite(&server, &adam, "nina", "auditor").await;
    assert_eq!(created.status, 201, "{created:?}");
    let token = token_of(&created);

    let offered = server
        .api(
            None,
            "POST",
            "/api/invite",
            &serde_json::json!({ "token": token }).to_string(),
        )
        .await
        .json();
    assert_eq!(
        (offered["username"].as_str(), offered["role"].as_str()),
        (Some("nina"), Some("auditor"))
    );
    assert_eq!(offered["invited_by"], "adam");

    let weak = accept(&server, &token, "short").await;
    assert_eq!(
        (weak.status, weak.error()),
        (422, "weak_password".to_owned())
    );
    let signed_in = accept(&server, &token, PASSWORD).await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let session = signed_in.json()["token"].as_str().unwrap().to_owned();
    let me = server
        .api(Some(&session), "GET", "/api/session", "")
        .await
        .json();
    assert_eq!(me["username"], "nina");
    let role = server
        .server
        .storage
        .account_role("nina")
        .await
        .unwrap()
        .unwrap()
        .1;
    assert_eq!(role, OrgRole::Auditor);

    // Once only.
    assert!(refused_as_unknown(&accept(&server, &token, PASSWORD).await));
    assert_eq!(
        audited(&server, "invite_created").await[0].0.as_deref(),
        Some("adam")
    );
    let accepted = audited(&server, "invite_accepted").await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0.as_deref(), Some("nina"));
    assert!(accepted[0].1.contains("invited_by=adam"), "{accepted:?}");
    assert_eq!(audited(&server, "invite_refused").await.len(), 1);
    let listed = server
        .api(Some(&adam), "GET", "/api/admin/invites", "")
        .await
        .json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        0,
        "spent invitations are gone"
    );
}

#[tokio::test]
async fn a_withdrawn_or_expired_invitation_or_a_guessed_token_makes_no_account() {
    let (server, adam, _) = organisation().await;
    let created = invite(&server, &adam, "oscar", "member").await;
    let id = created.json()["id"].as_i64().unwrap();
    let path = format!("/api/admin/invites/{id}");
    assert_eq!(
        server.api(Some(&adam), "DELETE", &path, "").await.status,
        204
    );
    assert!(refused_as_unknown(
        &accept(&server, &token_of(&created), PASSWORD).await
    ));
    assert_eq!(audited(&server, "invite_withdrawn").await.len(), 1);

    let expired_token = "an expired invitation's token";
    let (adam_id, _) = server
        .server
        .storage
        .account_role("adam")
        .await
        .unwrap()
        .unwrap();
    let hash = token_hash(expired_token);
    let expired = NewInvite {
        token_hash: &hash,
        username: "paula",
        role: OrgRole::Member,
        inviter: adam_id,
        expires_at: 1,
    };
    server
        .server
        .storage
        .create_invite(&expired, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(refused_as_unknown(
        &accept(&server, expired_token, PASSWORD).await
    ));
    for name in ["oscar", "paula"] {
        assert!(
            server
                .server
                .storage
                .account_role(name)
                .await
                .unwrap()
                .is_none()
        );
    }

    // Guessing: refused, recorded, and soon told to wait.
    let mut statuses = Vec::new();
    for guess in 0..12 {
        statuses.push(
            accept(&server, &format!("guess {guess}"), PASSWORD)
                .await
                .status,
        );
    }
    // The address's sign-in budget (10 at once) is partly spent by the attempts above.
    let refused = statuses.iter().take_while(|s| **s == 404).count();
    assert!(refused >= 1, "{statuses:?}");
    assert!(
        statuses[refused..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    assert_eq!(audited(&server, "invite_refused").await.len(), refused + 2);
}

#[tokio::test]
async fn only_an_owner_invites_an_owner_and_a_name_is_not_invited_twice() {
    let (server, adam, olivia) = organisation().await;
    assert_eq!(invite(&server, &adam, "otto", "owner").await.status, 403);
    assert_eq!(invite(&server, &olivia, "otto", "owner").await.status, 201);
    let again = invite(&server, &adam, "otto", "member").await;
    assert_eq!(
        (again.status, again.error()),
        (409, "invite_exists".to_owned())
    );
    let taken = invite(&server, &adam, "Mel", "member").await;
    assert_eq!(
        (taken.status, taken.error()),
        (409, "account_exists".to_owned())
    );
    assert_eq!(
        invite(&server, &adam, "not a name!", "member").await.status,
        400
    );
    let listed = server
        .api(Some(&adam), "GET", "/api/admin/invites", "")
        .await
        .json();
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["username"].clone(), i["role"].clone()))
        .collect();
    assert_eq!(
        names,
        [(serde_json::json!("otto"), serde_json::json!("owner"))]
    );
    assert!(!listed.to_string().contains("#t="), "no token is listed");
}
