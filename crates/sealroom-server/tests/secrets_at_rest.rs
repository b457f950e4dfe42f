//! Secrets at rest, from the side of someone holding a copy of the database: the files of the
//! data directory but the key hold neither a TOTP seed nor the server's external-sender key; a
//! database from before sealing is sealed when opened, and still works; with another key, the
//! server's key does not open and the server says so instead of running as someone else.

use sealroom_server::{
    accounts::create_account, config::AccountSettings, org_roles::OrgRole, secret_box::KEY_FILE,
    storage::Storage,
};

/// Every byte of the data directory's files other than the key.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| name != KEY_FILE))
        .flat_map(|path| std::fs::read(path).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The seed in an `otpauth://` URI.
fn seed_of(uri: &str) -> String {
    let query = uri.split_once('?').unwrap().1;
    let seed = query.split('&').find_map(|p| p.strip_prefix("secret="));
    seed.unwrap().to_owned()
}

#[tokio::test]
async fn the_database_alone_holds_no_totp_seed_and_no_server_key() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
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

    let bytes = database_bytes(dir.path());
    assert!(
        !contains(&bytes, seed.as_bytes()),
        "no TOTP seed in the clear"
    );
    assert!(!contains(&bytes, &server_key), "no server key in the clear");
    assert!(
        !contains(&bytes, org_key.seed().as_slice()),
        "no organisation key in the clear"
    );
}

#[tokio::test]
async fn a_database_from_before_sealing_is_sealed_and_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let server_key = storage.external_sender_identity().await.unwrap();
    drop(storage);
    // As an older server left it: the key and a seed in the clear.
    let url = format!("sqlite://{}", dir.path().join("sealroom.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    sqlx::query("UPDATE server_keys SET secret = ? WHERE name = 'external_sender'")
        .bind(server_key.to_secret_bytes().as_slice())
        .execute(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO accounts (username, password_hash, totp_secret) VALUES ('bob', 'x', ?)",
    )
    .bind(seed)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;

    let storage = Storage::open(dir.path()).await.unwrap();
    let again = storage.external_sender_identity().await.unwrap();
    assert_eq!(
        again.fingerprint(),
        server_key.fingerprint(),
        "the same server key"
    );
    let bob = storage.account_by_name("bob").await.unwrap().unwrap();
    assert_eq!(bob.totp_secret.as_deref(), Some(seed));
    drop(storage);
    let bytes = database_bytes(dir.path());
    assert!(!contains(&bytes, seed.as_bytes()));
    assert!(!contains(&bytes, &server_key.to_secret_bytes()));
}

#[tokio::test]
async fn with_another_key_the_server_key_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    storage.external_sender_identity().await.unwrap();
    drop(storage);
    std::fs::write(dir.path().join(KEY_FILE), [7u8; 32]).unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let refused = storage.external_sender_identity().await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("does not open with this server's key"),
        "{refused}"
    );
}
