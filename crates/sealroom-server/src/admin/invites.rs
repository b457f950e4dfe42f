//! Invitations through the administration API (`manage_accounts`): invite an account by name
//! and role (the link's token shown once; only an owner invites an owner), list those pending,
//! withdraw one. The invitee accepts at `crate::invites`.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::{Caller, OwnerChange, authorise, failed, guard_owners};
use crate::{
    AppState,
    accounts::{api_error, token_hash, unix_now, valid_username},
    org_roles::{OrgRole, Permission},
    storage::{AuditAction, NewInvite},
};

/// Where the web client accepts an invitation; the token follows in the fragment.
pub(crate) const INVITE_PAGE: &str = "/account/invite";
/// How long an invitation holds unless its maker says less.
const DEFAULT_INVITE_DAYS: u32 = 7;
/// The longest an invitation may hold.
const MAX_INVITE_DAYS: u32 = 30;

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/invites", get(list).post(create))
        .route("/api/admin/invites/{id}", delete(withdraw))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    username: String,
    role: OrgRole,
    days: Option<u32>,
}

/// `POST /api/admin/invites`: `201` with the link (its token shown once); `400 malformed`,
/// `409 account_exists` or `invite_exists`.
async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<InviteRequest>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageAccounts).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    if let Some(refused) = check_request(&state, &caller, &request).await {
        return refused;
    }
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let days = request.days.unwrap_or(DEFAULT_INVITE_DAYS);
    let expires_at = i64::try_from(unix_now() + u64::from(days) * 86_400).unwrap_or(i64::MAX);
    let id = match store(&state, &caller, &request, &token, expires_at).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let detail = format!(
        "invite={id} account={} role={} days={days}",
        request.username, request.role
    );
    caller
        .record(&state, AuditAction::InviteCreated, &detail)
        .await;
    let link = format!("{INVITE_PAGE}#t={token}");
    let answer = serde_json::json!({ "id": id, "username": request.username, "role": request.role, "expires_at": expires_at, "link": link });
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// Why the invitation may not be made: a bad name or lifetime, an owner invited by a
/// non-owner, a name an account already has.
async fn check_request(
    state: &AppState,
    caller: &Caller,
    request: &InviteRequest,
) -> Option<Response> {
    let days = request.days.unwrap_or(DEFAULT_INVITE_DAYS);
    if !valid_username(&request.username) || !(1..=MAX_INVITE_DAYS).contains(&days) {
        let why = "an invitation names a valid account name and holds 1 to 30 days";
        return Some(api_error(StatusCode::BAD_REQUEST, "malformed", why, None));
    }
    let owner = OwnerChange {
        touches: request.role == OrgRole::Owner,
        removes: false,
    };
    if let Some(refused) = guard_owners(state, caller, owner).await {
        return Some(refused);
    }
    match state.storage.account_role(&request.username).await {
        Ok(None) => None,
        Ok(Some(_)) => Some(conflict("account_exists", "an account has that name")),
        Err(error) => Some(failed(&error)),
    }
}

/// Keeps the invitation (the token's hash only): its id, or `409 invite_exists`.
async fn store(
    state: &AppState,
    caller: &Caller,
    request: &InviteRequest,
    token: &str,
    expires_at: i64,
) -> Result<i64, Response> {
    let inviter = caller.account_id(state).await?;
    let hash = token_hash(token);
    let new = NewInvite {
        token_hash: &hash,
        username: &request.username,
        role: request.role,
        inviter,
        expires_at,
    };
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    match state.storage.create_invite(&new, now).await {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(conflict(
            "invite_exists",
            "an invitation for that name is pending",
        )),
        Err(error) => Err(failed(&error)),
    }
}

fn conflict(code: &str, message: &str) -> Response {
    api_error(StatusCode::CONFLICT, code, message, None)
}

/// `GET /api/admin/invites`: the invitations pending (or expired), never their tokens.
async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageAccounts).await {
        return refused;
    }
    match state.storage.invites().await {
        Ok(invites) => Json(invites).into_response(),
        Err(error) => failed(&error),
    }
}

/// `DELETE /api/admin/invites/{id}`: the link no longer works; `404 unknown_invite`.
async fn withdraw(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageAccounts).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match state.storage.remove_invite(id).await {
        Ok(true) => {
            let detail = format!("invite={id}");
            caller
                .record(&state, AuditAction::InviteWithdrawn, &detail)
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => api_error(
            StatusCode::NOT_FOUND,
            "unknown_invite",
            "no such invitation",
            None,
        ),
        Err(error) => failed(&error),
    }
}
