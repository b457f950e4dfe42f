//! The organisation's settings through the administration API (`manage_settings`): read them,
//! or change some; a change is checked, saved, takes effect for the next join (and the file and
//! recording stores' next uploads), and is recorded.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{authorise, failed};
use crate::{
    AppState,
    accounts::api_error,
    org_roles::Permission,
    org_settings::{OrgSettings, SettingsError},
    password::PasswordPolicy,
    storage::AuditAction,
};

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

/// `PUT /api/admin/settings` with the settings to change (those left out keep their values).
async fn change(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(changes): Json<serde_json::Value>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageSettings).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let settings = match state.org_settings().overlaid(changes) {
        Ok(settings) => settings,
        Err(error) => return invalid(&error),
    };
    if let Err(error) = settings.check(state.configured_stores) {
        return invalid(&error);
    }
    if let Err(error) = state.storage.set_org_settings(&settings).await {
        return failed(&error);
    }
    state.hold_to(settings);
    let detail = serde_json::to_string(&settings).unwrap_or_default();
    caller
        .record(&state, AuditAction::OrgSettingsChanged, &detail)
        .await;
    Json(settings).into_response()
}

fn invalid(error: &SettingsError) -> Response {
    api_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_settings",
        &error.to_string(),
        None,
    )
}

impl AppState {
    /// The organisation's settings now.
    pub(crate) fn org_settings(&self) -> OrgSettings {
        *self
            .org_settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `settings`: the next join reads them, the stores hold to their limits.
    fn hold_to(&self, settings: OrgSettings) {
        *self
            .org_settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
        self.blobs
            .set_limits(settings.files(self.configured_stores.files));
        self.recordings
            .set_limits(settings.recording(self.configured_stores.recording));
    }

    /// What a room password must be, by the organisation's settings.
    pub(crate) fn room_password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: self.org_settings().room_password_min_chars,
        }
    }
}
