//! LDAP sign-in against a real OpenLDAP `slapd` (`tests/ldap_directory`), one per test, on
//! loopback: search-then-bind over StartTLS and over LDAPS ends signed in with the role the
//! person's groups map to, and a second sign-in finds the same account. Then what an attacker
//! can try, each refused with `invalid_credentials` (or `directory_unavailable`) and audited
//! with its reason, never the password: a wrong password, an unknown name, LDAP filter
//! injection in the name, an empty password (never sent: it would be an unauthenticated
//! bind), a name two entries share, a directory whose certificate the configured CA did not
//! sign, too many attempts, a directory named like a local account's owner. Plain `ldap://`
//! off loopback is refused at start.
//!
//! Skipped, saying so, when slapd is not installed and `CI` is not set; with `CI` set a missing
//! slapd fails. The Active Directory test (a Samba AD DC) runs only with `SEALROOM_TEST_AD=1`.

mod ldap_directory;
mod support;

use std::{collections::HashMap, path::PathBuf};

use ldap_directory::{SERVICE_DN, SERVICE_PASSWORD, SUFFIX, Slapd, password_of};
use sealroom_server::{
    accounts::create_account,
    config::{AccountSettings, Config},
    ldap::LdapDirectorySettings,
    org_roles::OrgRole,
    rate_limit::RateLimit,
};
use serde_json::{Value, json};
use support::{Reply, TestServer};

/// A slapd, or `None` when the tests are skipped here (see `slapd_available`).
async fn directory() -> Option<Slapd> {
    if !ldap_directory::slapd_available() {
        return None;
    }
    Some(Slapd::start().await)
}

fn admins() -> String {
    format!("cn=admins,ou=groups,{SUFFIX}")
}

/// The `[[ldap]]` entry `corp` for `url`, trusting `ca_file`; admins → admin, staff → auditor.
fn settings(url: &str, starttls: bool, ca_file: PathBuf) -> LdapDirectorySettings {
    LdapDirectorySettings {
        name: "corp".into(),
        label: "Corp directory".into(),
        url: url.into(),
        starttls,
        allow_plain_on_loopback: false,
        ca_file: Some(ca_file),
        bind_dn: SERVICE_DN.into(),
        bind_password: Some(SERVICE_PASSWORD.into()),
        bind_password_file: None,
        user_base: SUFFIX.into(),
        user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))".into(),
        username_attribute: "uid".into(),
        group_attribute: "memberOf".into(),
        roles: [
            // Spelled otherwise than the directory does: DNs compare without case or spaces.
            (admins().to_uppercase().replace(',', ", "), OrgRole::Admin),
            (format!("cn=staff,ou=groups,{SUFFIX}"), OrgRole::Auditor),
        ]
        .into(),
        timeout_secs: 5,
    }
}

/// The StartTLS directory of `slapd`, trusting its CA.
fn starttls(slapd: &Slapd) -> LdapDirectorySettings {
    settings(&slapd.ldap_url, true, slapd.ca.cert_file.clone())
}

/// A server with `directory`, and sign-in limits high enough not to be what a test meets.
async fn server_with(directory: LdapDirectorySettings) -> TestServer {
    TestServer::start_configured(|config| {
        config.ldap = vec![directory];
        config.accounts.sign_in_per_address = RateLimit {
            burst: 100,
            per_minute: 100,
        };
        config.accounts.sign_in_per_account = RateLimit {
            burst: 100,
            per_minute: 100,
        };
    })
    .await
}

/// `POST /api/auth/ldap/{directory}` with `username` and `password`, as a browser when
/// `origin`.
async fn sign_in(
    server: &TestServer,
    directory: &str,
    username: &str,
    password: &str,
    origin: bool,
) -> Reply {
    let body = json!({ "username": username, "password": password }).to_string();
    let origin_header = format!("Origin: {}", server.url());
    let mut headers = vec!["Content-Type: application/json"];
    if origin {
        headers.push(&origin_header);
    }
    let path = format!("/api/auth/ldap/{directory}");
    server.http("POST", &path, &headers, body.as_bytes()).await
}

/// Asserts the one refusal every failed sign-in gets.
fn assert_invalid_credentials(reply: &Reply) {
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.error(), "invalid_credentials");
    assert!(
        reply.header("set-cookie").is_none(),
        "no session: {reply:?}"
    );
}

/// The audit records outside rooms, as (action, detail).
async fn audit(server: &TestServer) -> Vec<(String, String)> {
    let records = server.server.storage.account_audit_log().await.unwrap();
    records
        .into_iter()
        .map(|r| (r.action, r.detail.unwrap_or_default()))
        .collect()
}

/// The `sign_in_refused` details.
async fn refusals(server: &TestServer) -> Vec<String> {
    let log = audit(server).await;
    log.into_iter()
        .filter(|(action, _)| action == "sign_in_refused")
        .map(|(_, detail)| detail)
        .collect()
}

/// Every account's role, by name.
async fn roles_by_name(server: &TestServer) -> HashMap<String, OrgRole> {
    let accounts = server.server.storage.accounts().await.unwrap();
    accounts
        .into_iter()
        .map(|a| (a.username, a.org_role))
        .collect()
}

/// Who the session `token` is.
async fn session_user(server: &TestServer, token: &str) -> Value {
    let bearer = format!("Authorization: Bearer {token}");
    server
        .http("GET", "/api/session", &[&bearer], b"")
        .await
        .json()
}

#[tokio::test]
async fn signing_in_over_starttls_maps_groups_to_roles_and_finds_the_same_account_again() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let listed = server.http("GET", "/api/auth/directories", &[], b"").await;
    assert_eq!(
        listed.json(),
        json!([{ "name": "corp", "label": "Corp directory" }])
    );

    let alice = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
    assert_eq!(alice.status, 200, "{alice:?}");
    let cookie = alice.header("set-cookie").unwrap();
    assert!(cookie.starts_with("sealroom_session=") && cookie.contains("HttpOnly"));
    let token = alice.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(session_user(&server, &token).await["username"], "alice");

    // A browser (it sends Origin) gets the cookie only, never the token in the body.
    let bob = sign_in(&server, "corp", "bob", &password_of("bob"), true).await;
    assert_eq!(bob.status, 200, "{bob:?}");
    assert!(bob.json().get("token").is_none(), "{bob:?}");
    assert!(bob.header("set-cookie").is_some());

    let roles = roles_by_name(&server).await;
    assert_eq!(roles["alice"], OrgRole::Admin, "in admins (and staff)");
    assert_eq!(roles["bob"], OrgRole::Auditor, "in staff");

    // The second sign-in finds alice's account by her entry, no second account.
    let again = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
    assert_eq!(again.json()["username"], "alice");
    assert_eq!(roles_by_name(&server).await.len(), 2);

    let log = audit(&server).await;
    let created = log
        .iter()
        .filter(|(a, d)| a == "account_created" && d.contains("provider=ldap/corp"));
    assert_eq!(created.count(), 2, "{log:?}");
    // Who an account is: the entry's entryUUID, which a rename or a move keeps.
    let alice_created = log
        .iter()
        .find(|(a, d)| a == "account_created" && d.contains("alice"));
    let subject = alice_created.unwrap().1.split("subject=").nth(1).unwrap();
    assert!(subject.starts_with("\"entryUUID="), "{subject}");
    let signed_in = log
        .iter()
        .filter(|(a, d)| a == "signed_in" && d.contains("directory=corp"));
    assert_eq!(signed_in.count(), 3, "{log:?}");
    assert!(
        !format!("{log:?}").contains(&password_of("alice")),
        "no password in the log"
    );
}

#[tokio::test]
async fn signing_in_over_ldaps_maps_groups_to_roles() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(settings(
        &slapd.ldaps_url,
        false,
        slapd.ca.cert_file.clone(),
    ))
    .await;
    for uid in ["alice", "mallory"] {
        let reply = sign_in(&server, "corp", uid, &password_of(uid), false).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let roles = roles_by_name(&server).await;
    assert_eq!(roles["alice"], OrgRole::Admin);
    assert_eq!(roles["mallory"], OrgRole::Member, "in no mapped group");
}

#[tokio::test]
async fn a_directory_account_does_not_take_over_a_local_account_of_the_same_name() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let storage = &server.server.storage;
    let local_password = "bob keeps a long passphrase";
    let settings = AccountSettings::default();
    create_account(
        storage,
        &settings,
        "bob",
        local_password,
        false,
        OrgRole::Owner,
    )
    .await
    .unwrap();

    let directory_bob = sign_in(&server, "corp", "bob", &password_of("bob"), false).await;
    assert_eq!(directory_bob.json()["username"], "bob-2", "a free name");
    let roles = roles_by_name(&server).await;
    assert_eq!(roles["bob"], OrgRole::Owner, "the local bob is untouched");
    assert_eq!(roles["bob-2"], OrgRole::Auditor);

    // The local bob still signs in with his own password, and the directory's bob with his.
    let local = json!({ "username": "bob", "password": local_password }).to_string();
    let headers = ["Content-Type: application/json"];
    let reply = server
        .http("POST", "/api/session", &headers, local.as_bytes())
        .await;
    assert_eq!(reply.json()["username"], "bob");
    let again = sign_in(&server, "corp", "bob", &password_of("bob"), false).await;
    assert_eq!(again.json()["username"], "bob-2");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_audited_without_it() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let guess = "not-alices-password";
    assert_invalid_credentials(&sign_in(&server, "corp", "alice", guess, false).await);
    let refusals = refusals(&server).await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    let detail = &refusals[0];
    assert!(
        detail.contains("reason=password_wrong directory=corp"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("uid=alice,ou=people,{SUFFIX}")),
        "{detail}"
    );
    assert!(!detail.contains(guess), "{detail}");
    assert!(roles_by_name(&server).await.is_empty(), "no account made");
}

#[tokio::test]
async fn an_unknown_name_is_refused_the_same_way_and_logged_only_as_a_hash() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let typed = "hunter2-typed-into-the-name-field";
    assert_invalid_credentials(&sign_in(&server, "corp", typed, "whatever", false).await);
    let refusals = refusals(&server).await;
    let detail = &refusals[0];
    assert!(detail.contains("reason=no_such_user"), "{detail}");
    assert!(detail.contains("username_sha256="), "{detail}");
    assert!(!detail.contains(typed), "{detail}");
}

#[tokio::test]
async fn ldap_injection_in_the_name_signs_in_as_nobody() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let attacks = [
        "*",
        "a*",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice)(|(objectClass=*)",
        "*)(uid=*))(|(uid=*",
        "alice\0",
        "alice\0)(uid=*",
        "\\2a",
        "alice)(userPassword=*",
    ];
    // With alice's real password, which a filter that matched her would let through.
    for attack in attacks {
        let reply = sign_in(&server, "corp", attack, &password_of("alice"), false).await;
        assert_invalid_credentials(&reply);
    }
    assert!(
        roles_by_name(&server).await.is_empty(),
        "signed in as nobody"
    );
    let refusals = refusals(&server).await;
    assert_eq!(refusals.len(), attacks.len());
    for detail in &refusals {
        assert!(
            detail.contains("reason=no_such_user") || detail.contains("reason=username_invalid"),
            "{detail}"
        );
    }
    let log = audit(&server).await;
    assert!(!log.iter().any(|(a, _)| a == "signed_in"), "{log:?}");
}

/// A directory account that enrolled TOTP here: the directory's password alone no longer
/// signs it in; with the code it does, and a code works once.
#[tokio::test]
async fn a_second_factor_enrolled_here_is_asked_after_the_directorys_password() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let first = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
    let token = first.json()["token"].as_str().unwrap().to_owned();
    let bearer = format!("Authorization: Bearer {token}");
    let headers = ["Content-Type: application/json", bearer.as_str()];
    let started = server
        .http("POST", "/api/account/totp", &headers, b"{}")
        .await;
    let seed = started.json()["secret"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code_at = |secs: u64| {
        let secret = totp_rs::Secret::Encoded(seed.clone()).to_bytes().unwrap();
        let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).unwrap();
        totp.generate(secs)
    };
    let confirm = json!({ "code": code_at(now - 30) }).to_string();
    let confirmed = server
        .http(
            "POST",
            "/api/account/totp/confirm",
            &headers,
            confirm.as_bytes(),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");

    let password_only = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
    assert_invalid_credentials(&password_only);
    assert!(
        refusals(&server)
            .await
            .iter()
            .any(|r| r.contains("reason=totp_code_missing"))
    );
    let with_code = json!({
        "username": "alice", "password": password_of("alice"), "totp_code": code_at(now)
    })
    .to_string();
    let path = "/api/auth/ldap/corp";
    let plain = ["Content-Type: application/json"];
    let signed_in = server
        .http("POST", path, &plain, with_code.as_bytes())
        .await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let replayed = server
        .http("POST", path, &plain, with_code.as_bytes())
        .await;
    assert_invalid_credentials(&replayed);
}

#[tokio::test]
async fn a_name_two_entries_share_is_refused() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = server_with(starttls(&slapd)).await;
    let reply = sign_in(&server, "corp", "twin", &password_of("twin"), false).await;
    assert_invalid_credentials(&reply);
    assert!(refusals(&server).await[0].contains("reason=ambiguous_user"));
}

#[tokio::test]
async fn an_empty_password_is_refused_before_the_directory_is_asked() {
    // A listener that counts connections stands in for the directory.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    let mut directory = settings(&url, false, PathBuf::from("unused"));
    directory.ca_file = None;
    directory.allow_plain_on_loopback = true;
    directory.timeout_secs = 1;
    let server = server_with(directory).await;

    let reply = sign_in(&server, "corp", "alice", "", false).await;
    assert_invalid_credentials(&reply);
    assert!(refusals(&server).await[0].contains("reason=password_empty"));
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(300), listener.accept());
    assert!(accepted.await.is_err(), "nothing was sent to the directory");

    // A password is sent there: the listener sees the connection (and the test, that it
    // could have seen one).
    let asked = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream);
    });
    let reply = sign_in(&server, "corp", "alice", "a password", false).await;
    asked.await.unwrap();
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.error(), "directory_unavailable");
}

#[tokio::test]
async fn an_unreachable_directory_is_503_and_audited() {
    let port = ldap_directory::free_port();
    let url = format!("ldaps://127.0.0.1:{port}");
    let mut directory = settings(&url, false, PathBuf::new());
    directory.ca_file = None;
    let server = server_with(directory).await;
    let reply = sign_in(&server, "corp", "alice", "a password", false).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.error(), "directory_unavailable");
    let detail = &refusals(&server).await[0];
    assert!(
        detail.contains("reason=directory_unavailable directory=corp"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_directory_certificate_the_ca_file_did_not_sign_is_refused() {
    let Some(slapd) = directory().await else {
        return;
    };
    for (url, starttls) in [(&slapd.ldaps_url, false), (&slapd.ldap_url, true)] {
        let other = slapd.other_ca.cert_file.clone();
        let server = server_with(settings(url, starttls, other)).await;
        let reply = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
        assert_eq!(reply.status, 503, "{url}: {reply:?}");
        assert_eq!(reply.error(), "directory_unavailable");
        let detail = &refusals(&server).await[0];
        assert!(
            detail.contains("reason=directory_unavailable") && detail.contains("certificate"),
            "{detail}"
        );
        assert!(
            roles_by_name(&server).await.is_empty(),
            "{url}: nobody signed in"
        );
    }
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_name() {
    let Some(slapd) = directory().await else {
        return;
    };
    let server = TestServer::start_configured(|config| {
        config.ldap = vec![starttls(&slapd)];
        config.accounts.sign_in_per_account = RateLimit {
            burst: 3,
            per_minute: 1,
        };
    })
    .await;
    for _ in 0..3 {
        assert_invalid_credentials(&sign_in(&server, "corp", "alice", "guess", false).await);
    }
    // Spent: even the right password waits, and the directory is not asked.
    let reply = sign_in(&server, "corp", "alice", &password_of("alice"), false).await;
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.error(), "rate_limited");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(
        refusals(&server).await.len(),
        3,
        "the fourth never reached slapd"
    );
    let log = audit(&server).await;
    assert!(
        log.iter().any(|(a, _)| a == "sign_in_rate_limited"),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_unknown_directory_is_not_found() {
    let server = TestServer::start().await;
    let reply = sign_in(&server, "nowhere", "alice", "a password", false).await;
    assert_eq!(reply.status, 404, "{reply:?}");
    let listed = server.http("GET", "/api/auth/directories", &[], b"").await;
    assert_eq!(listed.json(), json!([]));
}

#[test]
fn plain_ldap_off_loopback_is_refused_at_start() {
    let mut directory = settings("ldap://ldap.corp.example", false, PathBuf::new());
    let mut config = Config {
        ldap: vec![directory.clone()],
        ..Config::default()
    };
    let error = config.validate().unwrap_err().to_string();
    assert!(
        error.contains("ldap corp") && error.contains("plain LDAP"),
        "{error}"
    );
    directory.allow_plain_on_loopback = true;
    config.ldap = vec![directory.clone()];
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("plain LDAP off loopback"), "{error}");
    directory.url = "ldap://127.0.0.1:3890".into();
    config.ldap = vec![directory];
    assert!(config.validate().is_ok());
}

#[tokio::test]
async fn active_directory_sign_in_against_samba() {
    use ldap_directory::samba_ad::{self, SambaAd};
    if !samba_ad::wanted() {
        return;
    }
    let ad = SambaAd::start().await;
    let mut directory = settings(samba_ad::LDAPS_URL, false, ad.ca.cert_file.clone());
    directory.bind_dn = samba_ad::ADMIN_DN.into();
    directory.bind_password = Some(samba_ad::ADMIN_PASSWORD.into());
    directory.user_base = samba_ad::USERS.into();
    directory.user_filter = "(&(objectCategory=person)(sAMAccountName={username})\
        (!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
        .into();
    directory.username_attribute = "sAMAccountName".into();
    let staff = format!("cn=staff,{}", samba_ad::USERS.to_lowercase());
    directory.roles = [(staff, OrgRole::Admin)].into();
    let over_starttls = LdapDirectorySettings {
        url: samba_ad::LDAP_URL.into(),
        starttls: true,
        ..directory.clone()
    };
    let server = server_with(directory).await;

    let alice = sign_in(
        &server,
        "corp",
        "alice",
        &samba_ad::password_of("alice"),
        false,
    )
    .await;
    assert_eq!(alice.status, 200, "{alice:?}");
    assert_eq!(
        roles_by_name(&server).await["alice"],
        OrgRole::Admin,
        "in staff"
    );
    let log = audit(&server).await;
    let created = log.iter().find(|(a, _)| a == "account_created").unwrap();
    assert!(created.1.contains("subject=\"objectGUID="), "{created:?}");

    let wrong = sign_in(&server, "corp", "alice", "Not-her-passw0rd", false).await;
    assert_invalid_credentials(&wrong);
    let carol = sign_in(
        &server,
        "corp",
        "carol",
        &samba_ad::password_of("carol"),
        false,
    )
    .await;
    assert_invalid_credentials(&carol);
    assert_invalid_credentials(
        &sign_in(&server, "corp", "*", "Wonderland-AD-Passw0rd!", false).await,
    );
    let refusals = refusals(&server).await;
    assert!(
        refusals[0].contains("reason=password_wrong"),
        "{refusals:?}"
    );
    assert!(
        refusals[1].contains("reason=no_such_user"),
        "disabled: {refusals:?}"
    );
    assert!(refusals[2].contains("reason=no_such_user"), "{refusals:?}");

    // And over StartTLS on 389.
    drop(server);
    let server = server_with(over_starttls).await;
    let again = sign_in(
        &server,
        "corp",
        "alice",
        &samba_ad::password_of("alice"),
        false,
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
}
