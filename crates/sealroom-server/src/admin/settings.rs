//! The organisation's settings through the administration API (`manage_settings`): read them,
//! or replace them whole; a change is saved, takes effect for the next join, and is recorded.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::get,
};

use super::{authorise, failed};
use crate::{AppState, org_roles::Permission, org_settings::OrgSettings, storage::AuditAction};

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/admin/settings", get(read).put(change))
}

/// `GET /api/admin/settings`.
async fn read(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageSettings).await {
        return refused;
    }
    Json(state.org_settings()).into_response()
}

/// `PUT /api/admin/settings` with every setting.
async fn change(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(settings): Json<OrgSettings>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageSettings).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    if let Err(error) = state.storage.set_org_settings(&settings).await {
        return failed(&error);
    }
    *state
        .org_settings
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    let detail = serde_json::to_string(&settings).unwrap_or_default();
    caller
        .record(&state, AuditAction::OrgSettingsChanged, &detail)
        .await;
    Json(settings).into_response()
}

impl AppState {
    /// The organisation's settings now.
    pub(crate) fn org_settings(&self) -> OrgSettings {
        *self
            .org_settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
