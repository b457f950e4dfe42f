//! Accounts through a real server: signing in over the HTTP API (password, TOTP, one answer for
//! every refusal, rate limits), sessions on the signalling WebSocket, and what an account
//! changes in a room: the first signed-in participant moderates, guests are guests, a ban
//! follows the account to a new device, and a members-only permission refuses guests.

mod support;

use std::time::{Duration, Instant};

use sealroom_client::{
    account::{Credentials, SignInError, sign_in},
    session::{JoinOptions, RoomClient, SessionError},
};
use sealroom_protocol::{Allowed, ApplicationKind, ErrorCode, Permissions, RemovalReason, Role};
use sealroom_server::{
    accounts::create_account,
    config::{AccountSettings, Config},
    org_roles::OrgRole,
    rate_limit::RateLimit,
};
use support::{SETTLE, TestServer, converge, next_chat_messages};

const ALICE_PASSWORD: &str = "correct horse battery staple";
const BOB_PASSWORD: &str = "bob keeps a long passphrase";

/// A server whose accounts are made with `adjust`ed settings, with `alice` (and `bob`)
/// accounts; returns alice's TOTP secret if `alice_totp`.
async fn server_with_accounts(
    alice_totp: bool,
    adjust: impl FnOnce(&mut Config),
) -> (TestServer, Option<String>) {
    let server = TestServer::start_configured(adjust).await;
    let settings = AccountSettings::default();
    let storage = &server.server.storage;
    let alice = create_account(
        storage,
        &settings,
        "alice",
        ALICE_PASSWORD,
        alice_totp,
        OrgRole::Member,
    )
    .await
    .unwrap();
    create_account(
        storage,
        &settings,
        "bob",
        BOB_PASSWORD,
        false,
        OrgRole::Member,
    )
    .await
    .unwrap();
    let secret = alice.totp_uri.map(|uri| {
        let query = uri.split_once('?').unwrap().1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("secret="))
            .unwrap()
            .to_owned()
    });
    (server, secret)
}

/// `POST /api/session` with a JSON body, as the native client does it (no `Origin`): (status
/// line and headers, body).
async fn post_sign_in(server: &TestServer, username: &str, password: &str) -> (String, String) {
    post_sign_in_with(server, &[], username, password).await
}

/// [`post_sign_in`] with extra header lines.
async fn post_sign_in_with(
    server: &TestServer,
    headers: &[&str],
    username: &str,
    password: &str,
) -> (String, String) {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let headers: Vec<&str> = ["Content-Type: application/json"]
        .into_iter()
        .chain(headers.iter().copied())
        .collect();
    server
        .request("POST", "/api/session", &headers, &body)
        .await
}

/// The `Set-Cookie` value of a response head.
fn set_cookie(head: &str) -> &str {
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("a session cookie in {head}"))
}

/// `GET /api/session` with one header line: (status line and headers, body).
async fn session_with(server: &TestServer, header: &str) -> (String, String) {
    server.request("GET", "/api/session", &[header], "").await
}

fn credentials(username: &str, password: &str) -> Credentials {
    Credentials {
        username: username.into(),
        password: password.into(),
        totp_code: None,
    }
}

fn refusal(result: Result<String, SignInError>) -> (u16, String, Option<u64>) {
    match result {
        Err(SignInError::Refused {
            status,
            code,
            retry_after_secs,
            ..
        }) => (status.as_u16(), code, retry_after_secs),
        other => panic!("a refusal, not {other:?}"),
    }
}

async fn signed_in_options(
    server: &TestServer,
    room: &str,
    name: &str,
    password: &str,
) -> JoinOptions {
    let token = sign_in(&server.url(), None, &credentials(name, password))
        .await
        .unwrap();
    JoinOptions {
        session_token: Some(token),
        ..server.join_options(room, name)
    }
}

/// Waits until the audit records outside rooms have `action`.
async fn account_records(server: &TestServer, action: &str) -> Vec<(String, Option<String>)> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let records = server.server.storage.account_audit_log().await.unwrap();
        if records.iter().any(|r| r.action == action) {
            return records.into_iter().map(|r| (r.action, r.detail)).collect();
        }
        assert!(Instant::now() < deadline, "no {action} in {records:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An unknown account and a wrong password get the same status and body (and take about as
/// long: printed); the audit log keeps the true reason. The right password gives a token the
/// WebSocket takes, as a bearer header and as the `HttpOnly` cookie a browser holds; signing
/// out ends it everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_answer_for_every_wrong_sign_in_and_a_session_until_sign_out() {
    let (server, _) = server_with_accounts(false, |_| {}).await;
    let mut answers = Vec::new();
    for (username, password) in [
        ("alice", "not alice's password at all"),
        ("nobody", ALICE_PASSWORD),
    ] {
        let started = Instant::now();
        let (head, body) = post_sign_in(&server, username, password).await;
        println!(
            "refused sign-in for {username:?} took {:?}",
            started.elapsed()
        );
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        assert!(!head.to_lowercase().contains("set-cookie"), "{head}");
        answers.push(body);
    }
    assert_eq!(
        answers[0], answers[1],
        "the same answer whether the account exists or not"
    );
    assert!(answers[0].contains("invalid_credentials"), "{}", answers[0]);
    let records = account_records(&server, "sign_in_refused").await;
    for reason in ["reason=password_wrong", "reason=no_such_account"] {
        assert!(
            records
                .iter()
                .any(|(a, d)| a == "sign_in_refused"
                    && d.as_deref().is_some_and(|d| d.contains(reason))),
            "{reason} in {records:#?}"
        );
    }

    let (head, body) = post_sign_in(&server, "Alice", ALICE_PASSWORD).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = set_cookie(&head);
    assert!(cookie.starts_with("sealroom_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = answer["token"].as_str().unwrap().to_owned();
    assert_eq!(answer["username"], "alice", "the account's own spelling");
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(cookie_pair, format!("sealroom_session={token}"));

    // The cookie says who is signed in, and the WebSocket takes it as the account's.
    let (head, body) = session_with(&server, &format!("Cookie: {cookie_pair}")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains(r#""username":"alice""#), "{body}");
    let alice = RoomClient::join(JoinOptions {
        session_token: Some(token.clone()),
        ..server.join_options("signed-in", "Alice A.")
    })
    .await
    .unwrap();
    let status = alice
        .wait_until(SETTLE, |s| {
            s.participants
                .iter()
                .any(|p| p.account.as_deref() == Some("alice"))
        })
        .await
        .unwrap();
    assert_eq!(status.role, Role::Moderator);
    alice.leave().await;

    let (head, _) = server
        .request(
            "DELETE",
            "/api/session",
            &[&format!("Authorization: Bearer {token}")],
            "",
        )
        .await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    let (head, _) = session_with(&server, &format!("Cookie: {cookie_pair}")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // A client that believes it is signed in hears that it is not, before the upgrade.
    let refused = RoomClient::join(JoinOptions {
        session_token: Some(token),
        ..server.join_options("signed-in", "Alice A.")
    })
    .await;
    match refused {
        Err(SessionError::Connection(error)) => {
            assert!(error.to_string().contains("401"), "{error}");
        }
        Err(other) => panic!("refused at the upgrade, not {other}"),
        Ok(_) => panic!("a signed-out token must not join"),
    }
    let records = account_records(&server, "signed_out").await;
    assert!(
        records.iter().any(|(a, _)| a == "signed_in"),
        "{records:#?}"
    );
}

/// A browser's sign-in (it sends `Origin`) gets the session only as the `HttpOnly` cookie:
/// the answer's body, which the page's scripts read, holds no token, so a script injected into
/// the page cannot take the session away. The native client (no `Origin`) gets it in the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_gets_its_session_only_as_an_http_only_cookie() {
    let (server, _) = server_with_accounts(false, |_| {}).await;
    let origin = format!("Origin: {}", server.url());
    let (head, body) = post_sign_in_with(&server, &[&origin], "alice", ALICE_PASSWORD).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["username"], "alice");
    assert!(
        answer.get("token").is_none(),
        "no token for page scripts: {body}"
    );
    let cookie_pair = set_cookie(&head).split(';').next().unwrap().to_owned();
    let (head, _) = session_with(&server, &format!("Cookie: {cookie_pair}")).await;
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the cookie signs the browser in: {head}"
    );

    let token = sign_in(&server.url(), None, &credentials("alice", ALICE_PASSWORD)).await;
    assert!(
        token.is_ok_and(|t| !t.is_empty()),
        "the native client's token"
    );
}

/// With a second factor the password alone is refused (with the same answer as a wrong
/// password), a right code lets in once, and the same code again is refused: a code seen over
/// a shoulder or replayed from a log is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_code_is_needed_and_good_once() {
    let (server, secret) = server_with_accounts(true, |_| {}).await;
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(secret.unwrap())
            .to_bytes()
            .unwrap(),
    )
    .unwrap();
    let url = server.url();
    let without = sign_in(&url, None, &credentials("alice", ALICE_PASSWORD)).await;
    assert_eq!(refusal(without).1, "invalid_credentials");
    let wrong_code = Credentials {
        totp_code: Some("000000".into()),
        ..credentials("alice", ALICE_PASSWORD)
    };
    // One chance in a million that 000000 is the current code: then this assertion is wrong.
    assert_eq!(
        refusal(sign_in(&url, None, &wrong_code).await).1,
        "invalid_credentials"
    );

    let code = totp.generate_current().unwrap();
    let with_code = Credentials {
        totp_code: Some(code),
        ..credentials("alice", ALICE_PASSWORD)
    };
    sign_in(&url, None, &with_code).await.unwrap();
    let replayed = sign_in(&url, None, &with_code).await;
    assert_eq!(refusal(replayed).1, "invalid_credentials");
    let records = account_records(&server, "sign_in_refused").await;
    for reason in ["totp_code_missing", "totp_code_reused"] {
        assert!(
            records
                .iter()
                .any(|(_, d)| d.as_deref().is_some_and(|d| d.contains(reason))),
            "{reason} in {records:#?}"
        );
    }
}

/// Guessing one account's password: after the burst, attempts are refused with 429 and a
/// `Retry-After` before any password is checked, even with the right password; the limit is
/// per account, so guessing from many addresses gains nothing, and is recorded once per run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_password_hits_the_sign_in_limit() {
    let (server, _) = server_with_accounts(false, |config| {
        config.accounts.sign_in_per_account = RateLimit {
            burst: 3,
            per_minute: 1,
        };
    })
    .await;
    let url = server.url();
    for guess in 0..3 {
        let wrong = credentials("alice", &format!("guess number {guess} is wrong"));
        assert_eq!(refusal(sign_in(&url, None, &wrong).await).0, 401);
    }
    let (status, code, retry_after) =
        refusal(sign_in(&url, None, &credentials("alice", ALICE_PASSWORD)).await);
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another account is not held up by alice's limit.
    sign_in(&url, None, &credentials("bob", BOB_PASSWORD))
        .await
        .unwrap();
    let records = account_records(&server, "sign_in_rate_limited").await;
    assert!(records.iter().any(|(a, d)| {
        a == "sign_in_rate_limited"
            && d.as_deref()
                .is_some_and(|d| d.contains("limit=per_account"))
    }));
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"action="sign_in_rate_limited""#),
        "counted in metrics"
    );
}

/// Where guests may not create rooms, a guest who comes first waits; the first signed-in
/// participant moderates and lets it in as a guest; the roster shows who is signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_signed_in_participant_moderates_and_guests_wait_for_one() {
    let (server, _) = server_with_accounts(false, |config| {
        config.accounts.guests_create_rooms = false;
    })
    .await;
    let guest = server.join("staff-meeting", "visitor").await;
    guest
        .wait_until(SETTLE, |s| s.in_lobby && s.waiting_for_moderator)
        .await
        .unwrap_or_else(|s| panic!("the guest should wait for someone signed in: {s:#?}"));

    let alice = RoomClient::join(
        signed_in_options(&server, "staff-meeting", "alice", ALICE_PASSWORD).await,
    )
    .await
    .unwrap();
    let bob =
        RoomClient::join(signed_in_options(&server, "staff-meeting", "bob", BOB_PASSWORD).await)
            .await
            .unwrap();
    let statuses = converge(&[&alice, &bob, &guest], &["alice", "bob", "visitor"]).await;
    assert_eq!(statuses[0].role, Role::Moderator);
    assert_eq!(statuses[1].role, Role::Participant);
    assert_eq!(statuses[2].role, Role::Guest);
    let accounts: Vec<(String, Option<String>)> = statuses[2]
        .participants
        .iter()
        .map(|p| (p.display_name.clone(), p.account.clone()))
        .collect();
    assert!(
        accounts.contains(&("alice".into(), Some("alice".into()))),
        "{accounts:?}"
    );
    assert!(accounts.contains(&("visitor".into(), None)), "{accounts:?}");

    // Moderation passes to the signed-in participant, never to the guest.
    alice.leave().await;
    bob.wait_until(SETTLE, |s| s.role == Role::Moderator)
        .await
        .unwrap_or_else(|s| panic!("bob should moderate now: {s:#?}"));
    assert_eq!(guest.status().role, Role::Guest);
}

/// A ban of a signed-in participant follows the account: joining again from a new device
/// (a new MLS key) with the same account is refused, while a guest may still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_follows_the_account_to_a_new_device() {
    let (server, _) = server_with_accounts(false, |_| {}).await;
    let alice =
        RoomClient::join(signed_in_options(&server, "no-bob", "alice", ALICE_PASSWORD).await)
            .await
            .unwrap();
    let bob = RoomClient::join(signed_in_options(&server, "no-bob", "bob", BOB_PASSWORD).await)
        .await
        .unwrap();
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    let bob_id = statuses[0]
        .participants
        .iter()
        .find(|p| p.account.as_deref() == Some("bob"))
        .unwrap()
        .id
        .clone();
    alice.ban(&bob_id);
    bob.wait_until(SETTLE, |s| {
        s.removed_by_moderator == Some(RemovalReason::Banned)
    })
    .await
    .unwrap();

    // A new native client is a new device with a new signature key; the account is the same.
    let again =
        RoomClient::join(signed_in_options(&server, "no-bob", "bob", BOB_PASSWORD).await).await;
    match again {
        Err(SessionError::Refused { code, .. }) => assert_eq!(code, ErrorCode::AccessDenied),
        Err(other) => panic!("refused with access_denied, not {other}"),
        Ok(_) => panic!("the banned account got back in"),
    }
    let guest = server.join("no-bob", "carol").await;
    converge(&[&alice, &guest], &["alice", "carol"]).await;

    let records = server.server.storage.audit_log("no-bob").await.unwrap();
    assert!(
        records.iter().any(|r| r.action == "participant_banned"
            && r.detail
                .as_deref()
                .is_some_and(|d| d.contains("account=bob"))),
        "{records:#?}"
    );
    assert!(
        records.iter().any(|r| r.action == "banned_account_refused"),
        "{records:#?}"
    );
}

/// Chat for members only: a guest's chat message is refused with `forbidden` and never
/// reaches anyone, a signed-in participant's goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_only_permission_refuses_guests() {
    let (server, _) = server_with_accounts(false, |_| {}).await;
    let mut alice =
        RoomClient::join(signed_in_options(&server, "members-chat", "alice", ALICE_PASSWORD).await)
            .await
            .unwrap();
    let bob =
        RoomClient::join(signed_in_options(&server, "members-chat", "bob", BOB_PASSWORD).await)
            .await
            .unwrap();
    let guest = server.join("members-chat", "visitor").await;
    converge(&[&alice, &bob, &guest], &["alice", "bob", "visitor"]).await;
    let members_chat = Permissions {
        chat: Allowed::Members,
        ..Permissions::default()
    };
    alice.set_permissions(members_chat);
    guest
        .wait_until(SETTLE, |s| s.permissions == members_chat)
        .await
        .unwrap();

    guest.send_application(ApplicationKind::Chat, b"let me in on this");
    guest
        .wait_until(SETTLE, |s| {
            s.server_error_codes.contains(&ErrorCode::Forbidden)
        })
        .await
        .unwrap_or_else(|s| panic!("the guest's chat was not refused: {s:#?}"));
    bob.send_chat("members only", None);
    let mut chat = alice.take_chat().unwrap();
    let first_message = &next_chat_messages(&mut chat, 1).await[0];
    assert_eq!(
        (
            first_message.sender_name.as_str(),
            first_message.text.as_str()
        ),
        ("bob", "members only"),
        "only bob's message arrived"
    );
}

/// Removing an account ends its sessions at once: its token no longer says who it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_account_ends_its_sessions() {
    let (server, _) = server_with_accounts(false, |_| {}).await;
    let token = sign_in(&server.url(), None, &credentials("bob", BOB_PASSWORD))
        .await
        .unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    let (head, _) = session_with(&server, &bearer).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    sealroom_server::accounts::remove_account(&server.server.storage, "bob")
        .await
        .unwrap();
    let (head, body) = session_with(&server, &bearer).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(body.contains("session_expired"), "{body}");
    let records = account_records(&server, "account_removed").await;
    assert!(records.iter().any(|(a, _)| a == "account_created"));
}
