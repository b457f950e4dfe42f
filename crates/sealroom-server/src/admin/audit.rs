//! The audit log through the administration API (`read_audit`): search it newest first, check
//! its hash chain, download it as JSON lines or CSV. A download is itself recorded.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;

use super::{authorise, failed};
use crate::{
    AppState,
    accounts::api_error,
    audit_export::{AuditExport, AuditFormat},
    org_roles::Permission,
    storage::{AuditAction, AuditExportFilter, AuditPageStart},
};

/// Records a search answers at once unless it asks for fewer.
const DEFAULT_SEARCH_LIMIT: i64 = 100;

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/audit", get(search))
        .route("/api/admin/audit/verify", get(verify))
        .route("/api/admin/audit/export", get(export))
}

/// Where a search page starts, beside the filter in the same query string.
#[derive(Deserialize)]
struct SearchPage {
    /// Records before this number (the previous page's `next_before`); none: the newest.
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/admin/audit?since&until&room&action&participant&contains&before&limit`:
/// matching records, newest first, and where the next (older) page starts.
async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditExportFilter>,
    Query(page): Query<SearchPage>,
) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ReadAudit).await {
        return refused;
    }
    let filter = match filter.checked() {
        Ok(filter) => filter,
        Err(why) => return malformed(&why),
    };
    let limit = page.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if !(1..=500).contains(&limit) {
        return malformed("limit is 1 to 500");
    }
    let start = AuditPageStart::Before(page.before.unwrap_or(i64::MAX), limit);
    match state.storage.audit_page(&filter, start).await {
        Ok(records) => {
            let full = i64::try_from(records.len()).is_ok_and(|n| n == limit);
            let next_before = records.last().filter(|_| full).map(|r| r.seq);
            Json(serde_json::json!({ "records": records, "next_before": next_before }))
                .into_response()
        }
        Err(error) => failed(&error),
    }
}

/// `GET /api/admin/audit/verify`: walks the hash chain, as `sealroom audit verify` does.
async fn verify(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ReadAudit).await {
        return refused;
    }
    match state.storage.verify_audit_chain().await {
        Ok(report) => Json(serde_json::json!({
            "verified": report.verified,
            "head": report.head.map(|(seq, hash)| serde_json::json!({ "seq": seq, "hash": hash })),
            "fault": report.fault.map(|fault| fault.to_string()),
        }))
        .into_response(),
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
struct ExportFormat {
    format: AuditFormat,
}

/// `GET /api/admin/audit/export?format=jsonl|csv&since&until&room&action&participant&contains`:
/// the matching records as a file, oldest first, streamed a page at a time.
async fn export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditExportFilter>,
    Query(ExportFormat { format }): Query<ExportFormat>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ReadAudit).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let filter = match filter.checked() {
        Ok(filter) => filter,
        Err(why) => return malformed(&why),
    };
    let detail = format!("format={}{}", format.extension(), filter.describe());
    caller
        .record(&state, AuditAction::AuditExported, &detail)
        .await;
    let export = AuditExport::new(state.storage.clone(), filter, format);
    download(format, export)
}

/// The export as a streamed attachment; a failure part-way ends the body early (logged).
fn download(format: AuditFormat, export: AuditExport) -> Response {
    let chunks = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(export))),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "audit export failed");
                Some((Err(std::io::Error::other(error)), None))
            }
        }
    });
    let disposition = format!(
        "attachment; filename=\"sealroom-audit.{}\"",
        format.extension()
    );
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

fn malformed(why: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "malformed", why, None)
}
