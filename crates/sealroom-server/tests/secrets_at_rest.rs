//! Secrets at rest, from the side of someone holding a copy of the database (SQLite's files,
//! or every value in PostgreSQL's tables) without the key: it holds neither a TOTP seed nor the
//! server's external-sender key; a database from before sealing is sealed when opened, and
//! still works; with another key, the server's key does not open and the server says so
//! instead of running as someone else.

mod support;

use sealroom_server::{
    accounts::create_account, config::AccountSettings, org_roles::OrgRole, secret_box::KEY_FILE,
};
use support::TestData;

/// The seed in an `otpauth://` URI.
fn seed_of(uri: &str) -> String {
    let query = uri.split_once('?').unwrap().1;
    let seed = query.split('&').find_map(|p| p.strip_prefix("secret="));
    seed.unwrap().to_owned()
}

#[tokio::test]
async fn the_database_alone_holds_no_totp_seed_and_no_server_key() {
    let data = TestData::new();
    let storage = data.storage().await;
    let settings = AccountSettings::default();
    let password = "correct horse battery staple";
    let made = create_account(
        &storage,
        &settings,
        "alice",
        password,
        true,
        OrgRole::Member,
    );
    let seed = seed_of(&made.await.unwrap().totp_uri.unwrap());
    let server_key = storage
        .external_sender_identity()
        .await
        .unwrap()
        .to_secret_bytes();
    let org_key = storage.org_signing_key().await.unwrap();
    let reopened = storage.org_signing_key().await.unwrap();
    assert_eq!(reopened.public_key(), org_key.public_key(), "it opens too");
    let stored = storage.account_by_name("alice").await.unwrap().unwrap();
    assert_eq!(
        stored.totp_secret.as_deref(),
        Some(seed.as_str()),
        "it opens for the server"
    );
    drop(storage);

    assert!(data.holds(b"alice").await, "the search finds what is there");
    assert!(
        !data.holds(seed.as_bytes()).await,
        "no TOTP seed in the clear"
    );
    assert!(!data.holds(&server_key).await, "no server key in the clear");
    assert!(
        !data.holds(org_key.seed().as_slice()).await,
        "no organisation key in the clear"
    );
}

#[tokio::test]
async fn a_database_from_before_sealing_is_sealed_and_still_works() {
    let data = TestData::new();
    let storage = data.storage().await;
    let server_key = storage.external_sender_identity().await.unwrap();
    drop(storage);
    // As an older server left it: the key and a seed in the clear.
    let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let clear_key = data.bytes_literal(&server_key.to_secret_bytes());
    data.execute(&[
        &format!("UPDATE server_keys SET secret = {clear_key} WHERE name = 'external_sender'"),
        &format!(
            "INSERT INTO accounts (username, password_hash, totp_secret) \
             VALUES ('bob', 'x', '{seed}')"
        ),
    ])
    .await;
    assert!(
        data.holds(&server_key.to_secret_bytes()).await,
        "the search finds the key in the clear"
    );

    let storage = data.storage().await;
    let again = storage.external_sender_identity().await.unwrap();
    assert_eq!(
        again.fingerprint(),
        server_key.fingerprint(),
        "the same server key"
    );
    let bob = storage.account_by_name("bob").await.unwrap().unwrap();
    assert_eq!(bob.totp_secret.as_deref(), Some(seed));
    drop(storage);
    assert!(!data.holds(seed.as_bytes()).await);
    assert!(!data.holds(&server_key.to_secret_bytes()).await);
}

#[tokio::test]
async fn with_another_key_the_server_key_does_not_open() {
    let data = TestData::new();
    let storage = data.storage().await;
    storage.external_sender_identity().await.unwrap();
    drop(storage);
    std::fs::write(data.path().join(KEY_FILE), [7u8; 32]).unwrap();
    let storage = data.storage().await;
    let refused = storage.external_sender_identity().await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("does not open with this server's key"),
        "{refused}"
    );
}
