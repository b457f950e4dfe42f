//! Accepting an invitation (`docs/ARCHITECTURE.md`, "Administration"): an owner or admin
//! invites an account by name and role (`admin::invites`); whoever holds the link's token reads
//! what it offers (`POST /api/invite`) and accepts it with a password of their choosing (`POST
//! /api/invite/accept`), which makes the account under the account password policy and signs it
//! in. A token works once, until it expires; the link carries it in its fragment, which browsers
//! never send, so it stays out of request lines and logs. Attempts spend the sign-in limits.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    AppState,
    accounts::{
        self, Account, AccountError, api_error, internal_error, signed_in_answer,
        spend_sign_in_attempt, token_hash, unix_now,
    },
    client_address::client_address,
    password::PasswordPolicy,
    storage::{AuditAction, Invite},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteToken {
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    token: String,
    password: String,
}

/// `POST /api/invite`: the account an invitation makes, its role and expiry.
pub async fn read(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<InviteToken>,
) -> Response {
    match redeemable(&state, peer, &headers, &request.token).await {
        Ok(invite) => Json(invite).into_response(),
        Err(refused) => refused,
    }
}

/// `POST /api/invite/accept`: makes the invited account with the chosen password, spends the
/// invitation, and signs the account in.
pub async fn accept(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<Acceptance>,
) -> Response {
    let invite = match redeemable(&state, peer, &headers, &request.token).await {
        Ok(invite) => invite,
        Err(refused) => return refused,
    };
    // Checked before the invitation is spent: a weak password costs the invitee nothing.
    let policy = PasswordPolicy {
        min_chars: state.account_settings.password_min_chars,
    };
    if let Err(weak) = policy.check(&request.password) {
        let message = weak.to_string();
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            &message,
            None,
        );
    }
    match state.storage.remove_invite(invite.id).await {
        Ok(true) => {}
        Ok(false) => return unknown_invite(),
        Err(error) => return internal_error(&error),
    }
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    let detail = format!(
        "invite={} role={} invited_by={} address={address}",
        invite.id, invite.role, invite.invited_by
    );
    match make_account(&state, &invite, &request.password).await {
        Ok(account) => {
            state
                .audit_outside_rooms(
                    AuditAction::InviteAccepted,
                    Some(&account.username),
                    &detail,
                )
                .await;
            signed_in_answer(&state, &headers, account, &detail).await
        }
        Err(refused) => refused,
    }
}

/// The invited account, made with `password` (which the policy has passed).
async fn make_account(
    state: &AppState,
    invite: &Invite,
    password: &str,
) -> Result<Account, Response> {
    let made = accounts::create_account(
        &state.storage,
        &state.account_settings,
        &invite.username,
        password,
        false,
        invite.role,
    )
    .await;
    match made {
        Ok(_) => {}
        Err(AccountError::Exists(_)) => return Err(name_taken()),
        Err(error) => return Err(internal_error(&error)),
    }
    match state.storage.account_role(&invite.username).await {
        Ok(Some((id, _))) => Ok(Account {
            id,
            username: invite.username.clone(),
        }),
        Ok(None) => Err(internal_error(&"the account just made is missing")),
        Err(error) => Err(internal_error(&error)),
    }
}

/// The unexpired invitation `token` names, after spending an attempt from the sign-in limits
/// (per address, and per token); a token that names none is recorded.
async fn redeemable(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    token: &str,
) -> Result<Invite, Response> {
    let address = client_address(peer.ip(), headers, &state.trusted_proxies);
    let hash = token_hash(token);
    let bucket = format!("invite:{}", hex::encode(&hash[..8]));
    spend_sign_in_attempt(state, address, &bucket).await?;
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    match state.storage.invite(&hash, now).await {
        Ok(Some(invite)) => Ok(invite),
        Ok(None) => {
            let detail = format!("address={address}");
            state
                .audit_outside_rooms(AuditAction::InviteRefused, None, &detail)
                .await;
            Err(unknown_invite())
        }
        Err(error) => Err(internal_error(&error)),
    }
}

/// `404 unknown_invite`: one answer for a wrong, spent, revoked or expired link.
fn unknown_invite() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "unknown_invite",
        "this invitation is not valid: it was used, withdrawn or has expired; ask for a new one",
        None,
    )
}

fn name_taken() -> Response {
    api_error(
        StatusCode::CONFLICT,
        "account_exists",
        "an account with this name was made meanwhile; ask for a new invitation",
        None,
    )
}
