//! The audit log through the administration API, as the organisation's auditor reads it: a
//! search by action, account and text, newest first and a page at a time; the chain checked,
//! and an edit made behind the server's back named; an export in JSON lines and CSV that holds
//! what was asked for and is itself recorded. Members and guests read nothing.

mod support;

use sealroom_server::org_roles::OrgRole;
use support::{Reply, TestServer};

/// An organisation with an auditor and a member, and `mel` refused once on record for a wrong
/// password.
async fn organisation() -> TestServer {
    let server = TestServer::start().await;
    server
        .add_accounts(&[("audrey", OrgRole::Auditor), ("mel", OrgRole::Member)])
        .await;
    let wrong = serde_json::json!({ "username": "mel", "password": "not mel's password" });
    let refused = server
        .api(None, "POST", "/api/session", &wrong.to_string())
        .await;
    assert_eq!(refused.status, 401);
    server
}

async fn get(server: &TestServer, token: Option<&str>, path: &str) -> Reply {
    server.api(token, "GET", path, "").await
}

/// A chunked body (how a streamed download comes) put back together.
fn dechunked(body: &[u8]) -> Vec<u8> {
    let mut rest = body;
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
}

fn actions(reply: &Reply) -> Vec<String> {
    reply.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_auditor_searches_the_log_newest_first_and_members_and_guests_read_nothing() {
    let server = organisation().await;
    let audrey = server.session_token("audrey").await;
    let mel = server.session_token("mel").await;

    let refused = get(
        &server,
        Some(&audrey),
        "/api/admin/audit?action=sign_in_refused",
    )
    .await;
    assert_eq!(refused.status, 200, "{refused:?}");
    let records = refused.json()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        records[0]["detail"]
            .as_str()
            .unwrap()
            .contains("password_wrong")
    );

    let by_text = get(
        &server,
        Some(&audrey),
        "/api/admin/audit?contains=password_wrong",
    )
    .await;
    assert_eq!(actions(&by_text), ["sign_in_refused"]);
    let by_account = get(&server, Some(&audrey), "/api/admin/audit?participant=mel").await;
    assert_eq!(actions(&by_account), ["signed_in"]);

    let first = get(&server, Some(&audrey), "/api/admin/audit?limit=2").await;
    let next = first.json()["next_before"].as_i64().expect("an older page");
    let older = get(
        &server,
        Some(&audrey),
        &format!("/api/admin/audit?limit=2&before={next}"),
    )
    .await;
    let newest: Vec<i64> = [&first, &older]
        .iter()
        .flat_map(|r| r.json()["records"].as_array().unwrap().clone())
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "{newest:?}");

    let bad_time = get(&server, Some(&audrey), "/api/admin/audit?since=yesterday").await;
    assert_eq!(
        (bad_time.status, bad_time.error()),
        (400, "malformed".into())
    );
    for path in [
        "/api/admin/audit",
        "/api/admin/audit/verify",
        "/api/admin/audit/export?format=csv",
    ] {
        assert_eq!(get(&server, Some(&mel), path).await.status, 403, "{path}");
        assert_eq!(get(&server, None, path).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn verification_through_the_api_names_a_record_edited_behind_the_servers_back() {
    let server = organisation().await;
    let audrey = server.session_token("audrey").await;
    let clean = get(&server, Some(&audrey), "/api/admin/audit/verify")
        .await
        .json();
    assert!(clean["fault"].is_null(), "{clean}");
    assert!(clean["verified"].as_u64().unwrap() >= 4, "{clean}");
    assert!(
        clean["head"]["hash"].as_str().unwrap().len() == 64,
        "{clean}"
    );

    server
        .data
        .tamper_with_audit_log(&[
            "UPDATE audit_log SET detail = 'reason=nothing' WHERE action = 'sign_in_refused'",
        ])
        .await;
    let tampered = get(&server, Some(&audrey), "/api/admin/audit/verify")
        .await
        .json();
    let fault = tampered["fault"].as_str().expect("a fault");
    assert!(fault.contains("edited"), "{fault}");
}

#[tokio::test]
async fn an_export_holds_the_records_asked_for_in_either_format_and_is_recorded() {
    let server = organisation().await;
    server.session_token("mel").await;
    let audrey = server.session_token("audrey").await;
    let path = "/api/admin/audit/export?format=jsonl&action=signed_in";
    let jsonl = get(&server, Some(&audrey), path).await;
    assert_eq!(jsonl.status, 200, "{jsonl:?}");
    assert_eq!(jsonl.header("content-type"), Some("application/jsonl"));
    assert!(
        jsonl
            .header("content-disposition")
            .unwrap()
            .contains("sealroom-audit.jsonl")
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(dechunked(&jsonl.body))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let who: Vec<&str> = lines
        .iter()
        .map(|r| r["participant"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["mel", "audrey"], "oldest first: {lines:?}");

    let csv = get(
        &server,
        Some(&audrey),
        "/api/admin/audit/export?format=csv&participant=nobody",
    )
    .await;
    let csv = String::from_utf8(dechunked(&csv.body)).unwrap();
    assert_eq!(
        csv, "seq,at,action,room,participant,detail,hash\n",
        "the header alone"
    );

    let exports = get(
        &server,
        Some(&audrey),
        "/api/admin/audit?action=audit_exported",
    )
    .await;
    let details: Vec<String> = exports.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["participant"], r["detail"]))
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details[1].contains("format=jsonl action=\\\"signed_in\\\""),
        "{details:?}"
    );
    assert!(details[0].starts_with("\"audrey\""), "{details:?}");
}
