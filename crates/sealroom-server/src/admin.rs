//! The administration API (`/api/admin/…`): accounts and their roles, their sessions, API
//! tokens. A request is signed in with a session (the browser's cookie, or `Authorization:
//! Bearer` with a session token) and may do what its account's role may, or carries an API
//! token (`Authorization: Bearer sra_…`) and may do what the token was made for and its maker's
//! role still allows. Every request passes `authorise`, which checks one permission against
//! `OrgRole::may` — the one table — and records a refusal in the audit log. Every change is
//! recorded before it is answered.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, put},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use crate::{
    AppState,
    accounts::{self, api_error, presented_token, token_hash, unix_now},
    mfa::{self, MfaPolicy},
    org_roles::{OrgRole, Permission},
    storage::{AuditAction, NewApiToken},
};

mod audit;
mod invites;
mod providers;
mod rooms;
mod settings;

pub(crate) use providers::ProviderSummary;

/// What API tokens start with, which tells them from session tokens.
const API_TOKEN_PREFIX: &str = "sra_";
/// How long an API token lasts unless its maker says less.
const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The longest an API token may last.
const MAX_TOKEN_DAYS: u32 = 365;

/// The administration routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/admin/accounts", get(list_accounts))
        .route("/api/admin/accounts/{username}/role", put(set_role))
        .route("/api/admin/accounts/{username}/disabled", put(set_disabled))
        .route(
            "/api/admin/accounts/{username}/sessions",
            delete(end_sessions),
        )
        .route("/api/admin/tokens", get(list_tokens).post(create_token))
        .route("/api/admin/tokens/{id}", delete(revoke_token))
        .route("/api/admin/mfa-policy", get(mfa_policy).put(set_mfa_policy))
        .route("/api/admin/accounts/{username}/mfa", delete(reset_mfa))
        .merge(audit::router())
        .merge(invites::router())
        .merge(providers::router())
        .merge(rooms::router())
        .merge(settings::router())
}

/// Who asks, and what they may do.
struct Caller {
    account: String,
    /// The API token it presented, if it did not sign in.
    token: Option<i64>,
    permissions: Vec<Permission>,
}

impl Caller {
    fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The caller's account id, for what it makes (a token, an invitation); `403` if the
    /// account went meanwhile.
    async fn account_id(&self, state: &AppState) -> Result<i64, Response> {
        match state.storage.account_role(&self.account).await {
            Ok(Some((id, _))) => Ok(id),
            Ok(None) => Err(api_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "no such account",
                None,
            )),
            Err(error) => Err(failed(&error)),
        }
    }

    /// Records what the caller did (`detail`, and the API token if it used one), on disk
    /// before the request is answered.
    async fn record(&self, state: &AppState, action: AuditAction, detail: &str) {
        let token = self
            .token
            .map(|id| format!(" token={id}"))
            .unwrap_or_default();
        let detail = format!("{detail}{token}");
        state
            .audit_outside_rooms(action, Some(&self.account), &detail)
            .await;
    }
}

/// The caller, if it may do `needed`: else 401 (no credentials, or unknown ones) or 403
/// (recorded).
async fn authorise(
    state: &AppState,
    headers: &HeaderMap,
    needed: Permission,
) -> Result<Caller, Response> {
    let caller = match presented_token(headers) {
        Some(token) if token.starts_with(API_TOKEN_PREFIX) => token_caller(state, &token).await?,
        Some(_) => session_caller(state, headers).await?,
        None => None,
    };
    let Some(caller) = caller else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "sign in, or present an API token",
            None,
        ));
    };
    if caller.may(needed) {
        return Ok(caller);
    }
    let detail = format!("needed={needed:?}");
    caller
        .record(state, AuditAction::AdminRefused, &detail)
        .await;
    Err(api_error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "your role may not do that",
        None,
    ))
}

async fn session_caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, Response> {
    let Some(account) = accounts::signed_in(state, headers).await? else {
        return Ok(None);
    };
    let role = state.storage.account_role(&account.username).await;
    let (_, role) = role
        .map_err(|e| failed(&e))?
        .unwrap_or((account.id, OrgRole::Member));
    let permissions = Permission::ALL
        .into_iter()
        .filter(|p| role.may(*p))
        .collect();
    Ok(Some(Caller {
        account: account.username,
        token: None,
        permissions,
    }))
}

async fn token_caller(state: &AppState, token: &str) -> Result<Option<Caller>, Response> {
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    let grant = state.storage.api_token(&token_hash(token), now).await;
    let Some(grant) = grant.map_err(|e| failed(&e))? else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "token_unknown",
            "the API token is unknown or has expired",
            None,
        ));
    };
    let permissions = grant
        .permissions
        .into_iter()
        .filter(|p| grant.maker_role.may(*p))
        .collect();
    Ok(Some(Caller {
        account: grant.maker,
        token: Some(grant.id),
        permissions,
    }))
}

/// `404 unknown_account`.
fn unknown_account() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "unknown_account",
        "no account has that name",
        None,
    )
}

/// The server failed: logged, answered 500.
fn failed(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "administration request failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed; see its log",
        None,
    )
}

/// `GET /api/admin/accounts`: every account with its role.
async fn list_accounts(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ReadAccounts).await {
        return refused;
    }
    match state.storage.accounts().await {
        Ok(accounts) => Json(
            accounts
                .into_iter()
                .map(|a| serde_json::json!({ "username": a.username, "role": a.org_role, "totp": a.totp, "disabled": a.disabled }))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: OrgRole,
}

/// `PUT /api/admin/accounts/{username}/role`: naming or unnaming an owner takes an owner, and
/// the last owner stays one.
async fn set_role(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Json(change): Json<RoleChange>,
) -> Response {
    let (caller, current) = match manage_account(&state, &headers, &username).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let owner = OwnerChange {
        touches: current == OrgRole::Owner || change.role == OrgRole::Owner,
        removes: current == OrgRole::Owner && change.role != OrgRole::Owner,
    };
    if let Some(refused) = guard_owners(&state, &caller, owner).await {
        return refused;
    }
    match accounts::set_role(&state.storage, &username, change.role).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disabling {
    disabled: bool,
}

/// `PUT /api/admin/accounts/{username}/disabled` `{"disabled"}`: a disabled account signs in no
/// way and its sessions end at once; its API tokens do nothing. Disabling an owner takes an
/// owner, the last enabled owner stays one, and nobody disables their own account.
async fn set_disabled(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Json(change): Json<Disabling>,
) -> Response {
    let (caller, role) = match manage_account(&state, &headers, &username).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if change.disabled && username.eq_ignore_ascii_case(&caller.account) {
        let why = "you cannot disable your own account";
        return api_error(StatusCode::CONFLICT, "own_account", why, None);
    }
    let disables_owner = change.disabled && role == OrgRole::Owner;
    let owner = OwnerChange {
        touches: disables_owner,
        removes: disables_owner,
    };
    if let Some(refused) = guard_owners(&state, &caller, owner).await {
        return refused;
    }
    match state
        .storage
        .set_account_disabled(&username, change.disabled)
        .await
    {
        Ok(true) => {
            let action = match change.disabled {
                true => AuditAction::AccountDisabled,
                false => AuditAction::AccountEnabled,
            };
            caller
                .record(&state, action, &format!("account={username}"))
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => unknown_account(),
        Err(error) => failed(&error),
    }
}

/// The caller, if it may manage accounts, and the role of the account `username` it names.
async fn manage_account(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
) -> Result<(Caller, OrgRole), Response> {
    let caller = authorise(state, headers, Permission::ManageAccounts).await?;
    match state.storage.account_role(username).await {
        Ok(Some((_, role))) => Ok((caller, role)),
        Ok(None) => Err(unknown_account()),
        Err(error) => Err(failed(&error)),
    }
}

/// How a change to an account bears on the owners: it names, unnames or disables one
/// (`touches`), and leaves one fewer acting owner (`removes`).
#[derive(Clone, Copy)]
struct OwnerChange {
    touches: bool,
    removes: bool,
}

/// Why `caller` may not make `change`: only an owner changes owners, and the organisation keeps
/// at least one acting owner.
async fn guard_owners(state: &AppState, caller: &Caller, change: OwnerChange) -> Option<Response> {
    if change.touches && !caller.may(Permission::ManageOwners) {
        let why = "only an owner names, unnames or disables owners";
        return Some(api_error(StatusCode::FORBIDDEN, "forbidden", why, None));
    }
    let last = change.removes && state.storage.owner_count().await.unwrap_or(0) <= 1;
    last.then(|| {
        let why = "the organisation keeps at least one owner";
        api_error(StatusCode::CONFLICT, "last_owner", why, None)
    })
}

/// `DELETE /api/admin/accounts/{username}/sessions`: the account is signed out everywhere.
async fn end_sessions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageAccounts).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match state.storage.end_sessions(&username).await {
        Ok(Some(ended)) => {
            let detail = format!("account={username} sessions={ended}");
            caller
                .record(&state, AuditAction::SessionsEnded, &detail)
                .await;
            Json(serde_json::json!({ "ended": ended })).into_response()
        }
        Ok(None) => unknown_account(),
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    name: String,
    permissions: Vec<Permission>,
    days: Option<u32>,
}

/// `POST /api/admin/tokens`: a token with some of the caller's own permissions; shown once.
async fn create_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<TokenRequest>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageTokens).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let days = request.days.unwrap_or(DEFAULT_TOKEN_DAYS);
    let name_ok = (1..=64).contains(&request.name.chars().count())
        && !request.name.chars().any(char::is_control);
    if !name_ok || !(1..=MAX_TOKEN_DAYS).contains(&days) || request.permissions.is_empty() {
        return api_error(
            StatusCode::BAD_REQUEST,
            "malformed",
            "a token has a name of 1 to 64 characters, 1 to 365 days and at least one permission",
            None,
        );
    }
    if !request.permissions.iter().all(|p| caller.may(*p)) || caller.token.is_some() {
        return api_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a token gets only permissions its maker's account has, and is made by a signed-in account",
            None,
        );
    }
    let maker = match caller.account_id(&state).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let token = format!(
        "{API_TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let expires_at = i64::try_from(unix_now() + u64::from(days) * 86_400).unwrap_or(i64::MAX);
    let hash = token_hash(&token);
    let new = NewApiToken {
        name: &request.name,
        token_hash: &hash,
        maker,
        permissions: &request.permissions,
        expires_at,
    };
    let id = match state.storage.create_api_token(&new).await {
        Ok(id) => id,
        Err(error) => return failed(&error),
    };
    let detail = format!(
        "token={id} name={:?} permissions={:?} days={days}",
        request.name, request.permissions
    );
    caller
        .record(&state, AuditAction::ApiTokenCreated, &detail)
        .await;
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "token": token, "expires_at": expires_at })),
    )
        .into_response()
}

/// `GET /api/admin/tokens`: every token, never the token itself.
async fn list_tokens(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageTokens).await {
        return refused;
    }
    match state.storage.api_tokens().await {
        Ok(tokens) => Json(tokens).into_response(),
        Err(error) => failed(&error),
    }
}

/// `DELETE /api/admin/tokens/{id}`.
async fn revoke_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageTokens).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match state.storage.revoke_api_token(id).await {
        Ok(true) => {
            caller
                .record(&state, AuditAction::ApiTokenRevoked, &format!("token={id}"))
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => api_error(
            StatusCode::NOT_FOUND,
            "unknown_token",
            "no token has that id",
            None,
        ),
        Err(error) => failed(&error),
    }
}

/// `GET /api/admin/mfa-policy` → `{"policy"}`.
async fn mfa_policy(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageSettings).await {
        return refused;
    }
    match mfa::policy(&state.storage).await {
        Ok(policy) => Json(serde_json::json!({ "policy": policy.to_string() })).into_response(),
        Err(error) => failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyChange {
    policy: String,
}

/// `PUT /api/admin/mfa-policy` `{"policy"}`: `off`, `everyone`, `local_accounts`, `admins` or
/// role names (`owner,admin`). Sessions already open keep what they are; the next sign-in
/// follows the new policy.
async fn set_mfa_policy(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(change): Json<PolicyChange>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageSettings).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let policy: MfaPolicy = match change.policy.parse() {
        Ok(policy) => policy,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, "malformed", &message, None),
    };
    match mfa::set_policy(&state.storage, &policy, Some(&caller.account)).await {
        Ok(()) => Json(serde_json::json!({ "policy": policy.to_string() })).into_response(),
        Err(error) => failed(&error),
    }
}

/// `DELETE /api/admin/accounts/{username}/mfa`: removes every second factor of the account
/// (for someone who lost them) and ends its sessions; its next sign-in follows the policy.
async fn reset_mfa(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    let caller = match authorise(&state, &headers, Permission::ManageAccounts).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match state.storage.reset_mfa(&username).await {
        Ok(true) => {
            caller
                .record(
                    &state,
                    AuditAction::MfaReset,
                    &format!("account={username}"),
                )
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => unknown_account(),
        Err(error) => failed(&error),
    }
}
