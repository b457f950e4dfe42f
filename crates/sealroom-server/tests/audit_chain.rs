//! The audit log is a hash chain that `sealroom audit verify` (the real binary) walks: a clean
//! log verifies, and a record edited, deleted, reordered, inserted or replayed in the database
//! is named with its number and what is wrong. Retention removes old records by a chained
//! `audit_pruned` record and truncates client addresses, and the chain still verifies; old
//! records are chained once when the database is opened; concurrent writers do not fork the
//! chain; `sealroom audit export` writes JSON lines and quoted CSV; and a refused sign-in
//! with a made-up name does not keep the name.

mod support;

use std::{
    process::{Command, Output},
    time::Instant,
};

use sealroom_server::{
    accounts::create_account,
    config::AccountSettings,
    org_roles::OrgRole,
    storage::{AuditAction, ExportedAuditRecord, NewAuditRecord},
};
use support::{Member, SETTLE, TestData, TestServer};

const ALICE_PASSWORD: &str = "correct horse battery staple";
/// A record's columns but its number: what moving or copying a record takes along.
const CONTENT_COLUMNS: &str =
    "at, room, participant, action, detail, prev_hash, hash, address_salt, address_commitment";
/// What someone types into the name field by mistake: it must not reach the log.
const PASSWORD_AS_NAME: &str = "Tr0ub4dor&3-typed-in-the-name-field";

/// A server with an account and a few records: an account made, a sign-in, two refused (a
/// wrong password; a name that is no account's), a room made and joined.
async fn server_with_records() -> (TestServer, Member) {
    let server = TestServer::start().await;
    create_account(
        &server.server.storage,
        &AccountSettings::default(),
        "alice",
        ALICE_PASSWORD,
        false,
        OrgRole::Member,
    )
    .await
    .unwrap();
    sign_in(&server, "alice", ALICE_PASSWORD).await;
    sign_in(&server, "alice", "not alice's password").await;
    sign_in(&server, PASSWORD_AS_NAME, "whatever").await;
    let member = Member::join(&server, "ledger", "ann").await;
    let deadline = Instant::now() + SETTLE;
    while server
        .server
        .storage
        .audit_log("ledger")
        .await
        .unwrap()
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "the join's records are written");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (server, member)
}

/// `POST /api/session`; the audit record is written before the answer.
async fn sign_in(server: &TestServer, username: &str, password: &str) {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    server
        .request(
            "POST",
            "/api/session",
            &["Content-Type: application/json"],
            &body,
        )
        .await;
}

/// Runs the real `sealroom` binary.
fn sealroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealroom"))
        .args(args)
        .env_remove("SEALROOM_CONFIG")
        .env_remove("SEALROOM_DATA")
        .output()
        .expect("sealroom runs")
}

/// `sealroom audit verify`: whether it succeeded, and what it printed (both streams).
fn verify(data: &TestData) -> (bool, String) {
    let config = data.config_file();
    let output = sealroom(&["audit", "verify", "--config", config.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// Asserts that verification fails naming `record` and `problem`.
fn assert_detected(data: &TestData, record: i64, problem: &str) {
    let (verified, said) = verify(data);
    assert!(!verified, "tampering is detected: {said}");
    let named = format!("record {record}: {problem}");
    assert!(said.contains(&named), "{named:?} in {said}");
}

/// The database, as someone with access to it edits it: the triggers that stop mistakes are
/// dropped first, as they would be.
async fn tamper(data: &TestData, statements: &[&str]) {
    data.tamper_with_audit_log(statements).await;
}

async fn record_count(data: &TestData) -> i64 {
    data.integer("SELECT COUNT(*) FROM audit_log").await
}

/// Every record's detail, oldest first.
async fn details(data: &TestData) -> Vec<String> {
    data.texts("SELECT COALESCE(detail, '') FROM audit_log ORDER BY id")
        .await
}

/// `sealroom audit export` with `args`: its standard output (it must succeed).
fn export(data: &TestData, args: &[&str]) -> String {
    let config = data.config_file();
    let mut all = vec!["audit", "export", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = sealroom(&all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn jsonl(text: &str) -> Vec<ExportedAuditRecord> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn a_clean_log_verifies() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let (verified, said) = verify(data);
    assert!(verified, "{said}");
    let count = record_count(data).await;
    assert!(count >= 6, "records were written: {count}");
    assert!(
        said.contains(&format!("{count} audit records verified")),
        "{said}"
    );
    assert!(
        said.contains(&format!("head: record {count} hash ")),
        "{said}"
    );
}

#[tokio::test]
async fn an_edited_record_is_detected() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    tamper(
        data,
        &["UPDATE audit_log SET detail = 'reason=password_wrong username=\"bob\"' WHERE id = 3"],
    )
    .await;
    assert_detected(data, 3, "edited");
}

#[tokio::test]
async fn an_address_moved_within_its_prefix_is_detected() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    // The hash covers the address's /24; the salted commitment covers the rest.
    tamper(
        data,
        &[
            "UPDATE audit_log SET detail = replace(detail, 'address=127.0.0.1', \
           'address=127.0.0.9') WHERE id = 2",
        ],
    )
    .await;
    assert_detected(data, 2, "edited (its client address");
}

#[tokio::test]
async fn a_deleted_record_is_detected_in_the_middle_and_at_the_end() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let last = record_count(data).await;
    tamper(data, &[&format!("DELETE FROM audit_log WHERE id = {last}")]).await;
    assert_detected(data, last, "missing");
    tamper(data, &["DELETE FROM audit_log WHERE id = 3"]).await;
    assert_detected(data, 3, "missing");
    tamper(data, &["DELETE FROM audit_log WHERE id = 1"]).await;
    assert_detected(data, 1, "missing");
}

#[tokio::test]
async fn a_reordered_pair_is_detected() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    // Records 2 and 3 swap places: each keeps its contents and chain columns, not its number.
    let columns = CONTENT_COLUMNS;
    tamper(
        data,
        &[
            &format!("CREATE TABLE swap AS SELECT id, {columns} FROM audit_log WHERE id IN (2, 3)"),
            &format!(
                "UPDATE audit_log SET ({columns}) = (SELECT {columns} FROM swap \
                 WHERE swap.id = 5 - audit_log.id) WHERE id IN (2, 3)"
            ),
        ],
    )
    .await;
    // Record 2 now holds what was chained after the old record 2, which is now record 3.
    assert_detected(
        data,
        2,
        "out of order (chained after record 3, not after record 1)",
    );
}

#[tokio::test]
async fn an_inserted_record_is_detected() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    // A forged refusal slipped in as record 3 (with a hash its contents do not give: record
    // 1's), the later ones renumbered after it.
    tamper(
        data,
        &[
            "UPDATE audit_log SET id = id + 1000 WHERE id >= 3",
            "UPDATE audit_log SET id = id - 999 WHERE id >= 1000",
            "INSERT INTO audit_log (id, at, action, detail, prev_hash, hash) \
             SELECT 3, at, 'sign_in_refused', 'reason=password_wrong username=\"bob\"', hash, \
             (SELECT hash FROM audit_log WHERE id = 1) FROM audit_log WHERE id = 2",
        ],
    )
    .await;
    assert_detected(data, 3, "inserted");
}

#[tokio::test]
async fn a_replayed_record_is_detected() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let columns = CONTENT_COLUMNS;
    let next = record_count(data).await + 1;
    tamper(
        data,
        &[&format!(
            "INSERT INTO audit_log (id, {columns}) SELECT {next}, {columns} FROM audit_log \
             WHERE id = 2"
        )],
    )
    .await;
    assert_detected(data, next, "inserted (a copy of record 2)");
}

#[tokio::test]
async fn retention_removes_old_records_records_it_and_the_chain_still_verifies() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let storage = &server.server.storage;
    let written = record_count(data).await;
    let removed = storage
        .prune_audit_before("9999-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(removed, written as u64, "every record was old");
    let pruned = details(data).await;
    assert_eq!(pruned.len(), 1, "only the prune's own record is left");
    assert!(
        pruned[0].starts_with(&format!("removed={written} up_to={written} last_hash=")),
        "{pruned:?}"
    );
    let (verified, said) = verify(data);
    assert!(verified, "{said}");
    assert!(said.contains("1 audit records verified"), "{said}");

    // The chain goes on after the prune, and a second prune anchors it again.
    sign_in(&server, "alice", ALICE_PASSWORD).await;
    storage
        .prune_audit_before("9999-01-01T00:00:00Z")
        .await
        .unwrap();
    let (verified, said) = verify(data);
    assert!(verified, "{said}");

    // A record removed behind retention's back is still found, after the prune's anchor
    // and when it is the anchor.
    sign_in(&server, "alice", ALICE_PASSWORD).await;
    sign_in(&server, "alice", ALICE_PASSWORD).await;
    let first = data.integer("SELECT MIN(id) FROM audit_log").await;
    let after_prune = first + 1;
    tamper(
        data,
        &[&format!("DELETE FROM audit_log WHERE id = {after_prune}")],
    )
    .await;
    assert_detected(data, after_prune, "missing");
    tamper(
        data,
        &[&format!("DELETE FROM audit_log WHERE id = {first}")],
    )
    .await;
    assert_detected(data, 1, "missing");
}

#[tokio::test]
async fn retention_at_start_prunes_and_truncates_and_the_chain_still_verifies() {
    let (old, _member) = server_with_records().await;
    let data = &old.data;
    old.server.stop();
    let written = record_count(data).await;
    // Zero days: everything written before this start is old.
    let server = TestServer::start_configured(|config| {
        data.configure(config);
        config.audit.retention_days = Some(0);
        config.audit.truncate_addresses_after_days = Some(0);
    })
    .await;
    let deadline = Instant::now() + SETTLE;
    let pruned = loop {
        let records = server.server.storage.account_audit_log().await.unwrap();
        if let Some(pruned) = records
            .iter()
            .find(|record| record.action == "audit_pruned")
        {
            break pruned.clone();
        }
        assert!(Instant::now() < deadline, "retention ran at start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let detail = pruned.detail.unwrap();
    // The truncation's own record, written just before, may be pruned with the rest.
    let removed: i64 = detail
        .strip_prefix("removed=")
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(removed == written || removed == written + 1, "{detail}");
    assert!(
        details(data)
            .await
            .iter()
            .all(|detail| !detail.contains("127.0.0.1")),
        "no full address is left"
    );
    let (verified, said) = verify(data);
    assert!(verified, "{said}");
}

#[tokio::test]
async fn address_truncation_keeps_the_chain_verifying() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let before = details(data).await;
    assert!(
        before
            .iter()
            .any(|detail| detail.contains("address=127.0.0.1"))
    );
    let truncated = server
        .server
        .storage
        .truncate_audit_addresses_before("9999-01-01T00:00:00Z")
        .await
        .unwrap();
    let with_address = before.iter().filter(|d| d.contains("address=")).count();
    assert_eq!(truncated, with_address as u64);
    let after = details(data).await;
    assert!(
        after.iter().all(|detail| !detail.contains("127.0.0.1")),
        "{after:?}"
    );
    assert!(after.iter().any(|d| d.contains("address=127.0.0.0/24")));
    assert!(
        after
            .last()
            .unwrap()
            .starts_with(&format!("truncated={with_address} ")),
        "the truncation is recorded: {after:?}"
    );
    let salts = data
        .integer("SELECT COUNT(*) FROM audit_log WHERE address_salt IS NOT NULL")
        .await;
    assert_eq!(
        salts, 0,
        "no salt is kept to test guesses of the full address"
    );
    let (verified, said) = verify(data);
    assert!(verified, "{said}");

    // A truncated address moved to another prefix is still detected.
    tamper(
        data,
        &[
            "UPDATE audit_log SET detail = replace(detail, '127.0.0.0/24', '10.0.0.0/24') \
           WHERE id = 2",
        ],
    )
    .await;
    assert_detected(data, 2, "edited");
}

#[tokio::test]
async fn records_written_before_the_chain_are_chained_once_when_opened() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let count = record_count(data).await;
    let unchain = "UPDATE audit_log SET prev_hash = NULL, hash = NULL, address_salt = NULL, \
                   address_commitment = NULL";
    // As migration 0004 leaves a database whose records came before it.
    tamper(
        data,
        &[
            unchain,
            "INSERT INTO audit_chain_backfill (up_to) SELECT MAX(id) FROM audit_log",
        ],
    )
    .await;
    let (verified, said) = verify(data);
    assert!(verified, "{said}");
    assert!(said.contains(&format!("{count} audit records verified")));
    // Once only: records stripped of their hashes later are not chained again.
    tamper(data, &[unchain]).await;
    assert_detected(data, 1, "inserted or edited (it has no hash)");
}

#[tokio::test]
async fn concurrent_writers_do_not_fork_the_chain() {
    let data = TestData::new();
    // Two handles on one database, each with its pool and its lock within the process: as the
    // server and `sealroom account add` at once, or two servers sharing PostgreSQL.
    let (first, second) = (data.storage().await, data.storage().await);
    let mut writers = Vec::new();
    for writer in 0..16 {
        let storage = if writer % 2 == 0 { &first } else { &second }.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..10 {
                let record = NewAuditRecord {
                    action: AuditAction::SignedIn,
                    room: None,
                    participant: Some(format!("writer-{writer}")),
                    detail: Some(format!("n={n} address=192.0.2.{writer}")),
                };
                storage.append_audit(&[&record, &record]).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(record_count(&data).await, 16 * 10 * 2);
    let report = first.verify_audit_chain().await.unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.verified, 320);
}

#[tokio::test]
async fn export_writes_json_lines_and_quoted_csv_with_filters() {
    let (server, _member) = server_with_records().await;
    let data = &server.data;
    let all = jsonl(&export(data, &["--format", "jsonl"]));
    assert_eq!(all.len() as i64, record_count(data).await);
    assert!(
        all.iter()
            .all(|record| record.hash.as_ref().unwrap().len() == 64)
    );

    let csv_text = export(data, &["--format", "csv"]);
    assert!(csv_text.starts_with("seq,at,action,room,participant,detail,hash\n"));
    // Details hold quotes (the account name) that CSV must quote.
    assert!(csv_text.contains(r#"username=""alice"""#), "{csv_text}");
    let from_csv: Vec<ExportedAuditRecord> = csv::Reader::from_reader(csv_text.as_bytes())
        .deserialize()
        .map(Result::unwrap)
        .collect();
    assert_eq!(from_csv, all, "CSV carries the same records");

    let refused = jsonl(&export(
        data,
        &["--format", "jsonl", "--action", "sign_in_refused"],
    ));
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .all(|record| record.action == "sign_in_refused")
    );
    let room = jsonl(&export(data, &["--format", "jsonl", "--room", "ledger"]));
    assert!(!room.is_empty());
    assert!(room.iter().all(|r| r.room.as_deref() == Some("ledger")));
    let since = &all[2].at;
    let later = jsonl(&export(data, &["--format", "jsonl", "--since", since]));
    assert!(later.iter().all(|record| record.at >= *since));
    assert!(later.len() >= all.len() - 2);
    let none = export(
        data,
        &["--format", "jsonl", "--until", "2000-01-01T00:00:00+02:00"],
    );
    assert_eq!(none, "");
    let config = data.config_file();
    let bad = sealroom(&[
        "audit",
        "export",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "csv",
        "--since",
        "now",
    ]);
    assert!(
        !bad.status.success(),
        "a time that is not RFC 3339 is refused"
    );
}

#[tokio::test]
async fn a_refused_made_up_username_is_not_stored_verbatim() {
    let (server, _member) = server_with_records().await;
    let refused: Vec<String> = server
        .server
        .storage
        .account_audit_log()
        .await
        .unwrap()
        .into_iter()
        .filter(|record| record.action == "sign_in_refused")
        .filter_map(|record| record.detail)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains("username=\"alice\""), "{refused:?}");
    assert!(
        refused[1].starts_with("reason=no_such_account username_sha256="),
        "{refused:?}"
    );
    let everything = export(&server.data, &["--format", "jsonl"]);
    assert!(
        !everything.contains(PASSWORD_AS_NAME) && !everything.contains("Tr0ub4dor"),
        "the made-up name is nowhere in the log"
    );
}
