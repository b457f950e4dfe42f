//! Second factors: the organisation's MFA policy (who must have one), enrolment-only sessions
//! for accounts it covers that have none yet, self-service TOTP with one-time recovery codes
//! (`/api/account/…`), and the check of a presented factor shared by password sign-in and the
//! account routes. Passkeys, the other factor, are in [`crate::passkeys`].
//!
//! Every route here acts on the account of the session that calls it, never on one it names,
//! and takes a JSON body (with the `SameSite=Strict` cookie, what keeps other sites from
//! calling it).

use std::{fmt, str::FromStr, sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use totp_rs::Secret;

use crate::{
    AppState,
    accounts::{self, Account, api_error, unix_now},
    org_roles::OrgRole,
    passkeys::PasskeyAnswer,
    storage::{AuditAction, MfaStanding, NewAuditRecord, Storage, StorageError},
};

/// Who must have a second factor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MfaPolicy {
    /// Nobody (a factor enrolled is still asked for).
    #[default]
    Off,
    /// Every account.
    Everyone,
    /// Accounts without an external identity (an identity provider answers for the others).
    LocalAccounts,
    /// Accounts in these roles.
    Roles(Vec<OrgRole>),
}

impl MfaPolicy {
    /// Whether the policy asks this account for a second factor.
    pub fn covers(&self, role: OrgRole, external: bool) -> bool {
        match self {
            Self::Off => false,
            Self::Everyone => true,
            Self::LocalAccounts => !external,
            Self::Roles(roles) => roles.contains(&role),
        }
    }

    /// Whether an account so placed may only enrol a factor until it has one.
    pub fn needs_enrolment(&self, standing: &MfaStanding) -> bool {
        !standing.has_factor && self.covers(standing.org_role, standing.external)
    }
}

impl fmt::Display for MfaPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Everyone => f.write_str("everyone"),
            Self::LocalAccounts => f.write_str("local_accounts"),
            Self::Roles(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

impl FromStr for MfaPolicy {
    type Err = String;

    /// `off`, `everyone`, `local_accounts`, `admins` (owners and admins), or role names
    /// separated by commas (`owner,admin,auditor`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text.trim() {
            "off" => Self::Off,
            "everyone" => Self::Everyone,
            "local_accounts" => Self::LocalAccounts,
            "admins" => Self::Roles(vec![OrgRole::Owner, OrgRole::Admin]),
            list => {
                let mut roles = Vec::new();
                for name in list.split(',') {
                    let role: OrgRole = name.trim().parse().map_err(|_| {
                        format!(
                            "unknown MFA policy {text:?}: off, everyone, local_accounts, admins, \
                             or roles such as owner,admin"
                        )
                    })?;
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                roles.sort_by_key(|r| OrgRole::ALL.iter().position(|a| a == r));
                Self::Roles(roles)
            }
        })
    }
}

/// The policy in force.
pub async fn policy(storage: &Storage) -> Result<MfaPolicy, StorageError> {
    let Some(text) = storage.mfa_policy().await? else {
        return Ok(MfaPolicy::Off);
    };
    text.parse()
        .map_err(|_| StorageError::Corrupt(format!("mfa policy {text:?}")))
}

/// Sets the policy; recorded in the audit log as `by`'s.
pub async fn set_policy(
    storage: &Storage,
    policy: &MfaPolicy,
    by: Option<&str>,
) -> Result<(), StorageError> {
    storage.set_mfa_policy(&policy.to_string()).await?;
    storage
        .append_audit(&[&NewAuditRecord {
            action: AuditAction::MfaPolicyChanged,
            room: None,
            participant: by.map(str::to_owned),
            detail: Some(format!("policy={policy}")),
        }])
        .await
}

/// Whether a session opened now for `account` may only enrol a second factor.
pub(crate) async fn needs_enrolment(storage: &Storage, account: i64) -> Result<bool, StorageError> {
    let policy = policy(storage).await?;
    let standing = storage.mfa_standing(account).await?;
    Ok(standing.is_some_and(|standing| policy.needs_enrolment(&standing)))
}

/// How many recovery codes an account gets.
const RECOVERY_CODES: usize = 10;
/// Crockford's base32: no I, L, O or U to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new recovery code: 80 random bits as `xxxx-xxxx-xxxx-xxxx`.
fn new_recovery_code() -> String {
    let bytes: [u8; 16] = rand::random();
    let chars: String = bytes
        .iter()
        .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b % 32)]))
        .collect();
    let groups: Vec<&str> = (0..4).map(|i| &chars[i * 4..i * 4 + 4]).collect();
    groups.join("-")
}

/// What is kept of a recovery code: the SHA-256 of it as typed, without case, dashes or
/// spaces (80 random bits need no slow hash).
fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normal: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes()).into()
}

/// Six digits: a TOTP code; anything else typed is taken for a recovery code.
fn is_totp_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// A second factor as presented: a TOTP or recovery code (`totp_code` at sign-in), or a
/// passkey's answer.
#[derive(Debug, Default, Deserialize)]
pub struct FactorProof {
    #[serde(default, alias = "totp_code")]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) passkey: Option<PasskeyAnswer>,
}

/// Which factor a proof was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Factor {
    Totp,
    RecoveryCode,
    Passkey,
}

/// An account whose factor is checked: its id, name and TOTP seed.
pub(crate) struct FactorHolder<'a> {
    pub(crate) id: i64,
    pub(crate) username: &'a str,
    pub(crate) totp_secret: Option<&'a str>,
}

/// Checks a presented factor: which it was, or why it was refused (for the audit log), or a
/// failure. A code or passkey works once.
pub(crate) async fn check_factor(
    state: &AppState,
    holder: &FactorHolder<'_>,
    proof: &FactorProof,
) -> Result<Result<Factor, &'static str>, StorageError> {
    if let Some(answer) = &proof.passkey {
        let verified = state.passkeys.verify(&state.storage, answer).await?;
        return Ok(match verified {
            Ok(account) if account == holder.id => Ok(Factor::Passkey),
            Ok(_) => Err("passkey_of_another_account"),
            Err(reason) => Err(reason),
        });
    }
    let code = proof.code.as_deref().map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return Ok(Err(match holder.totp_secret {
            Some(_) => "totp_code_missing",
            None => "second_factor_missing",
        }));
    }
    if !is_totp_code(code) {
        return check_recovery_code(state, holder, code).await;
    }
    let step = holder
        .totp_secret
        .and_then(|secret| accounts::totp_step(secret, code, unix_now()));
    let Some(step) = step else {
        return Ok(Err("totp_code_wrong"));
    };
    if !state.storage.take_totp_step(holder.id, step).await? {
        return Ok(Err("totp_code_reused"));
    }
    Ok(Ok(Factor::Totp))
}

/// Uses up a recovery code (recorded as used), or refuses it.
async fn check_recovery_code(
    state: &AppState,
    holder: &FactorHolder<'_>,
    code: &str,
) -> Result<Result<Factor, &'static str>, StorageError> {
    let hash = recovery_code_hash(code);
    if !state.storage.take_recovery_code(holder.id, &hash).await? {
        return Ok(Err("recovery_code_wrong"));
    }
    let left = state.storage.recovery_codes_left(holder.id).await?;
    state
        .audit_outside_rooms(
            AuditAction::RecoveryCodeUsed,
            Some(holder.username),
            &format!("left={left}"),
        )
        .await;
    Ok(Ok(Factor::RecoveryCode))
}

/// The account routes of second factors (passkeys' are in [`crate::passkeys`]).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/account/mfa", get(status))
        .route("/api/account/totp", post(start_totp).delete(remove_totp))
        .route("/api/account/totp/confirm", post(confirm_totp))
        .route("/api/account/recovery-codes", post(new_recovery_codes))
        .merge(crate::passkeys::router())
}

/// A body with nothing in it: state-changing routes all take JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Empty {}

/// The session's account, enrolment-only or not; else the refusal.
pub(crate) async fn session_account(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Account, Response> {
    match accounts::session_of(state, headers).await? {
        Some(session) => Ok(session.account),
        None => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "not signed in",
            None,
        )),
    }
}

/// The server failed: logged, answered 500.
pub(crate) fn failed(error: &dyn fmt::Display) -> Response {
    tracing::error!(%error, "second-factor request failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed; see its log",
        None,
    )
}

/// A refused request: `status`, `{"error": code}`.
pub(crate) fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    api_error(status, code, message, None)
}

/// `GET /api/account/mfa`: the account's factors and what the policy asks of it.
async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let account = match session_account(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    match account_status(&state, &account).await {
        Ok(body) => Json(body).into_response(),
        Err(error) => failed(&error),
    }
}

async fn account_status(
    state: &AppState,
    account: &Account,
) -> Result<serde_json::Value, StorageError> {
    let policy = policy(&state.storage).await?;
    let standing = state.storage.mfa_standing(account.id).await?;
    let required = standing
        .as_ref()
        .is_some_and(|s| policy.covers(s.org_role, s.external));
    let stored = state.storage.account_by_name(&account.username).await?;
    let passkeys: Vec<_> = state.storage.passkeys(account.id).await?;
    Ok(serde_json::json!({
        "username": account.username,
        "required": required,
        "enrolment_required": standing.is_some_and(|s| policy.needs_enrolment(&s)),
        "totp": stored.is_some_and(|s| s.totp_secret.is_some()),
        "recovery_codes_left": state.storage.recovery_codes_left(account.id).await?,
        "passkeys_available": state.passkeys.available(),
        "passkeys": passkeys.into_iter().map(|(info, _)| info).collect::<Vec<_>>(),
    }))
}

/// `POST /api/account/totp` `{}`: a new seed, kept sealed until a code confirms it; the
/// `otpauth://` URI, the seed and a QR code of the URI.
async fn start_totp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(Empty {}): Json<Empty>,
) -> Response {
    let account = match session_account(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    match state.storage.account_by_name(&account.username).await {
        Ok(Some(stored)) if stored.totp_secret.is_none() => {}
        Ok(_) => return refuse(StatusCode::CONFLICT, "totp_enrolled", "TOTP is enrolled"),
        Err(error) => return failed(&error),
    }
    // 160 bits, RFC 4226's recommended length; base32 as authenticator apps take it.
    let seed = Secret::Raw(rand::random::<[u8; 20]>().to_vec())
        .to_encoded()
        .to_string();
    let stored = state
        .storage
        .set_pending_totp(account.id, &account.username, &seed)
        .await;
    if let Err(error) = stored {
        return failed(&error);
    }
    let uri = accounts::totp_uri(&account.username, &seed);
    Json(serde_json::json!({ "uri": uri, "secret": seed, "qr": qr_data_url(&uri) })).into_response()
}

/// A QR code of `text`: an SVG image as a `data:` URL (the page's CSP admits `data:` images).
fn qr_data_url(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let svg = base64::engine::general_purpose::STANDARD.encode(svg);
    Some(format!("data:image/svg+xml;base64,{svg}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    code: String,
}

/// `POST /api/account/totp/confirm` `{"code"}`: the pending seed becomes the account's factor
/// once a code from it is right (that code is then used); the first factor comes with
/// recovery codes.
async fn confirm_totp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(confirm): Json<Confirm>,
) -> Response {
    let account = match session_account(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let pending = state
        .storage
        .pending_totp(account.id, &account.username)
        .await;
    let seed = match pending {
        Ok(Some(seed)) => seed,
        Ok(None) => return refuse(StatusCode::CONFLICT, "no_pending_totp", "start again"),
        Err(error) => return failed(&error),
    };
    let Some(step) = accounts::totp_step(&seed, confirm.code.trim(), unix_now()) else {
        return refuse(StatusCode::BAD_REQUEST, "code_wrong", "the code is wrong");
    };
    let confirmed = state
        .storage
        .confirm_totp(account.id, &account.username, &seed, step)
        .await;
    match confirmed {
        Ok(true) => {}
        Ok(false) => return refuse(StatusCode::CONFLICT, "totp_enrolled", "TOTP is enrolled"),
        Err(error) => return failed(&error),
    }
    match factor_enrolled(&state, &account, Factor::Totp).await {
        Ok(codes) => Json(serde_json::json!({ "recovery_codes": codes })).into_response(),
        Err(error) => failed(&error),
    }
}

/// An account enrolled `factor`: recorded; its sessions become full ones; if it had no
/// recovery codes, it gets them (shown once, the answer's to show).
pub(crate) async fn factor_enrolled(
    state: &AppState,
    account: &Account,
    factor: Factor,
) -> Result<Option<Vec<String>>, StorageError> {
    state
        .audit_outside_rooms(
            AuditAction::MfaEnrolled,
            Some(&account.username),
            &format!("factor={}", factor_name(factor)),
        )
        .await;
    state.storage.end_enrolment(account.id).await?;
    if state.storage.recovery_codes_left(account.id).await? > 0 {
        return Ok(None);
    }
    make_recovery_codes(state, account).await.map(Some)
}

fn factor_name(factor: Factor) -> &'static str {
    match factor {
        Factor::Totp => "totp",
        Factor::RecoveryCode => "recovery_code",
        Factor::Passkey => "passkey",
    }
}

/// New recovery codes for the account, in place of any it had; recorded.
async fn make_recovery_codes(
    state: &AppState,
    account: &Account,
) -> Result<Vec<String>, StorageError> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    state
        .storage
        .replace_recovery_codes(account.id, &hashes)
        .await?;
    state
        .audit_outside_rooms(AuditAction::RecoveryCodesMade, Some(&account.username), "")
        .await;
    Ok(codes)
}

/// The session's account with a factor of it checked: else the refusal (`403
/// factor_required`, the reason recorded).
pub(crate) async fn account_with_factor(
    state: &AppState,
    headers: &HeaderMap,
    proof: &FactorProof,
) -> Result<(Account, Factor), Response> {
    let account = session_account(state, headers).await?;
    let limited = state
        .sign_in_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_account(&account.username, Instant::now());
    if let Err(limited) = limited {
        let detail = format!("account={} purpose=account_change", account.username);
        return Err(accounts::rate_limited(state, &limited, &detail).await);
    }
    let stored = match state.storage.account_by_name(&account.username).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(refuse(StatusCode::UNAUTHORIZED, "signed_out", "no account")),
        Err(error) => return Err(failed(&error)),
    };
    let holder = FactorHolder {
        id: account.id,
        username: &account.username,
        totp_secret: stored.totp_secret.as_deref(),
    };
    match check_factor(state, &holder, proof).await {
        Ok(Ok(factor)) => Ok((account, factor)),
        Ok(Err(reason)) => {
            state
                .audit_outside_rooms(
                    AuditAction::SignInRefused,
                    Some(&account.username),
                    &format!("reason={reason} purpose=account_change"),
                )
                .await;
            Err(refuse(
                StatusCode::FORBIDDEN,
                "factor_required",
                "present a current second factor",
            ))
        }
        Err(error) => Err(failed(&error)),
    }
}

/// Whether removing one factor would leave an account the policy covers with none: `(totp,
/// passkeys)` are what it would keep.
pub(crate) async fn removal_allowed(
    state: &AppState,
    account: &Account,
    keeps_factor: bool,
) -> Result<bool, StorageError> {
    if keeps_factor {
        return Ok(true);
    }
    let policy = policy(&state.storage).await?;
    let standing = state.storage.mfa_standing(account.id).await?;
    Ok(!standing.is_some_and(|s| policy.covers(s.org_role, s.external)))
}

/// A factor was removed: recorded; with none left, its recovery codes go too.
pub(crate) async fn factor_removed(
    state: &AppState,
    account: &Account,
    what: &str,
) -> Result<(), StorageError> {
    let has_factor = state
        .storage
        .mfa_standing(account.id)
        .await?
        .is_some_and(|s| s.has_factor);
    if !has_factor {
        state
            .storage
            .replace_recovery_codes(account.id, &[])
            .await?;
    }
    state
        .audit_outside_rooms(AuditAction::MfaRemoved, Some(&account.username), what)
        .await;
    Ok(())
}

/// `DELETE /api/account/totp` `{"code"|"passkey"}`: takes a current factor; refused (409) if it
/// would leave an account the policy covers without one.
async fn remove_totp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(proof): Json<FactorProof>,
) -> Response {
    let (account, _) = match account_with_factor(&state, &headers, &proof).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let keeps_passkey = match state.storage.passkeys(account.id).await {
        Ok(passkeys) => !passkeys.is_empty(),
        Err(error) => return failed(&error),
    };
    match removal_allowed(&state, &account, keeps_passkey).await {
        Ok(true) => {}
        Ok(false) => return required_by_policy(),
        Err(error) => return failed(&error),
    }
    let removed = state.storage.remove_totp(account.id).await;
    let recorded = match removed {
        Ok(()) => factor_removed(&state, &account, "factor=totp").await,
        Err(error) => Err(error),
    };
    match recorded {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => failed(&error),
    }
}

/// `409 mfa_required`: the policy keeps the account's last factor.
pub(crate) fn required_by_policy() -> Response {
    refuse(
        StatusCode::CONFLICT,
        "mfa_required",
        "the organisation requires a second factor: enrol another before removing this one",
    )
}

/// `POST /api/account/recovery-codes` `{"code"|"passkey"}`: new codes (shown once), the old
/// ones void; takes a current factor.
async fn new_recovery_codes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(proof): Json<FactorProof>,
) -> Response {
    let (account, _) = match account_with_factor(&state, &headers, &proof).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    match make_recovery_codes(&state, &account).await {
        Ok(codes) => Json(serde_json::json!({ "recovery_codes": codes })).into_response(),
        Err(error) => failed(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(org_role: OrgRole, external: bool, has_factor: bool) -> MfaStanding {
        MfaStanding {
            org_role,
            external,
            has_factor,
        }
    }

    #[test]
    fn the_policy_covers_whom_it_names() {
        let admins: MfaPolicy = "admins".parse().unwrap();
        assert!(admins.covers(OrgRole::Owner, false));
        assert!(admins.covers(OrgRole::Admin, true));
        assert!(!admins.covers(OrgRole::Auditor, false));
        assert!(!admins.covers(OrgRole::Member, false));
        let local = MfaPolicy::LocalAccounts;
        assert!(local.covers(OrgRole::Member, false));
        assert!(!local.covers(OrgRole::Owner, true));
        assert!(MfaPolicy::Everyone.covers(OrgRole::Member, true));
        assert!(!MfaPolicy::Off.covers(OrgRole::Owner, false));
    }

    #[test]
    fn only_a_covered_account_without_a_factor_is_sent_to_enrolment() {
        let policy = MfaPolicy::Everyone;
        assert!(policy.needs_enrolment(&standing(OrgRole::Member, false, false)));
        assert!(!policy.needs_enrolment(&standing(OrgRole::Member, false, true)));
        assert!(!MfaPolicy::Off.needs_enrolment(&standing(OrgRole::Owner, false, false)));
    }

    #[test]
    fn policies_round_trip_and_role_lists_are_ordered() {
        for text in [
            "off",
            "everyone",
            "local_accounts",
            "owner,admin",
            "auditor",
        ] {
            assert_eq!(text.parse::<MfaPolicy>().unwrap().to_string(), text);
        }
        assert_eq!(
            "member, owner".parse::<MfaPolicy>().unwrap().to_string(),
            "owner,member"
        );
        assert_eq!(
            "admins".parse::<MfaPolicy>().unwrap().to_string(),
            "owner,admin"
        );
        assert!("root".parse::<MfaPolicy>().is_err());
        assert!("".parse::<MfaPolicy>().is_err());
    }

    #[test]
    fn recovery_codes_are_long_and_read_without_case_or_dashes() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 19);
        assert_ne!(code, new_recovery_code());
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery_code_hash(&typed), recovery_code_hash(&code));
        assert!(!is_totp_code(&code));
        assert!(is_totp_code("012345"));
    }
}
