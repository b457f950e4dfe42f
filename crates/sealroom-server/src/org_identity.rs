//! The organisation's identity key and the bindings it signs (`docs/SECURITY-MODEL.md`,
//! "Organisational identity in the roster"): `GET /api/org/identity-key` publishes the key
//! clients pin on first use, and `POST /api/account/identity-binding` signs, for a fully
//! signed-in session, that a device's MLS signature key is the session's account's for
//! [`BINDING_HOURS`]. The device carries the binding in its MLS leaf, where every member checks
//! it; the server never vouches for a participant any other way.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sealroom_e2ee::Fingerprint;
use serde::Deserialize;

use crate::{
    AppState,
    accounts::{self, api_error, unix_now},
    mfa::failed,
    storage::AuditAction,
};

/// How long a binding holds: a working day's meetings, not a stolen session's lifetime.
pub const BINDING_HOURS: u64 = 12;
/// An Ed25519 public key: Sealroom's one MLS signature scheme.
const DEVICE_KEY_BYTES: usize = 32;

/// The organisation's routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/org/identity-key", get(identity_key))
        .route("/api/account/identity-binding", post(identity_binding))
}

/// The public organisation key and its fingerprint, for anyone: clients pin it.
async fn identity_key(State(state): State<Arc<AppState>>) -> Response {
    let key = state.org_signer.public_key();
    Json(serde_json::json!({
        "key": URL_SAFE_NO_PAD.encode(key.to_bytes()),
        "fingerprint": key.fingerprint().to_string(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingRequest {
    /// The device's MLS signature public key, base64url.
    device_key: String,
}

/// Signs the session's account to the device key it names; recorded.
async fn identity_binding(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<BindingRequest>,
) -> Response {
    let account = match accounts::signed_in(&state, &headers).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return api_error(
                StatusCode::UNAUTHORIZED,
                "signed_out",
                "not signed in",
                None,
            );
        }
        Err(refused) => return refused,
    };
    let Some(device_key) = URL_SAFE_NO_PAD
        .decode(&request.device_key)
        .ok()
        .filter(|key| key.len() == DEVICE_KEY_BYTES)
    else {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_device_key",
            "device_key is an Ed25519 public key in base64url",
            None,
        );
    };
    let issued_at = unix_now();
    let expires_at = issued_at + BINDING_HOURS * 3600;
    let binding = match state
        .org_signer
        .bind(&account.username, &device_key, issued_at, expires_at)
    {
        Ok(binding) => binding,
        Err(error) => return failed(&error),
    };
    let detail = format!(
        "device={} expires_at={expires_at}",
        Fingerprint::of_public_key(&device_key)
    );
    state
        .audit_outside_rooms(
            AuditAction::IdentityBindingIssued,
            Some(&account.username),
            &detail,
        )
        .await;
    Json(serde_json::json!({
        "binding": URL_SAFE_NO_PAD.encode(binding.encode()),
        "account": account.username,
        "issued_at": issued_at,
        "expires_at": expires_at,
    }))
    .into_response()
}
