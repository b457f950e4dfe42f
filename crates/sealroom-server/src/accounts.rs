//! Organisation accounts: made by an administrator (`sealroom account add`), signed in at
//! `POST /api/session` with a password (argon2id, NIST SP 800-63B policy) and, where the account
//! has one, a second factor (a TOTP code, a recovery code or a passkey: [`crate::mfa`]). A
//! session of an account the MFA policy covers that has no factor may only enrol one. A sign-in
//! gives a random session token, kept by the server only as its SHA-256, that a browser holds
//! as an `HttpOnly` cookie and a native client sends as `Authorization: Bearer`. The signalling WebSocket reads it before the upgrade: a join on
//! a signed-in connection is the account's, any other is a guest's.
//!
//! Every refused sign-in gets one answer (`invalid_credentials`), whether the account exists,
//! the password is wrong or the code is; a missing account costs an argon2id check like a wrong
//! password. Attempts are limited per address and per account name.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{
    AppState,
    client_address::client_address,
    config::AccountSettings,
    http_security::bearer_token,
    mfa::{self, FactorHolder, FactorProof},
    org_roles::OrgRole,
    password::{PasswordPolicy, PolicyError, StoredPassword},
    rate_limit::{Limited, TokenBuckets},
    storage::{AuditAction, NewAuditRecord, Storage, StorageError, StoredAccount},
};

/// The cookie that carries a browser's session token.
pub const SESSION_COOKIE: &str = "sealroom_session";

/// Longest account name, in bytes.
const MAX_USERNAME_BYTES: usize = 64;

/// TOTP as authenticator apps default to: SHA-1, 6 digits, 30 s steps, one step of clock skew
/// either way.
const TOTP_DIGITS: usize = 6;
const TOTP_STEP_SECS: u64 = 30;

/// A signed-in account, as a connection carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its id in the database.
    pub id: i64,
    /// Its name.
    pub username: String,
}

/// Sign-in attempts, limited per client address and per account name.
pub(crate) struct SignInLimits {
    per_address: TokenBuckets<IpAddr>,
    per_account: TokenBuckets<String>,
}

impl SignInLimits {
    pub(crate) fn new(settings: &AccountSettings) -> Mutex<Self> {
        Mutex::new(Self {
            per_address: TokenBuckets::new(settings.sign_in_per_address),
            per_account: TokenBuckets::new(settings.sign_in_per_account),
        })
    }

    fn take(&mut self, address: IpAddr, username: &str, now: Instant) -> Result<(), Limited> {
        self.take_address(address, now)?;
        self.take_account(username, now)
    }

    /// One address's attempt alone: a passkey sign-in names no account until it is checked.
    pub(crate) fn take_address(&mut self, address: IpAddr, now: Instant) -> Result<(), Limited> {
        self.per_address
            .take(&address, now)
            .map_err(|limited| limited.named("per_address"))
    }

    /// One account name's attempt alone: a factor a signed-in session presents, so that a
    /// stolen session cannot guess codes.
    pub(crate) fn take_account(&mut self, username: &str, now: Instant) -> Result<(), Limited> {
        self.per_account
            .take(&username.to_lowercase(), now)
            .map_err(|limited| limited.named("per_account"))
    }

    pub(crate) fn prune(&mut self, now: Instant) {
        self.per_address.prune(now);
        self.per_account.prune(now);
    }
}

/// Why an account could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name is not 1–64 of letters, digits, `.`, `_`, `-`, `@`.
    #[error("account names are 1-{MAX_USERNAME_BYTES} letters, digits, '.', '_', '-' or '@'")]
    InvalidUsername,
    /// The name is taken (names compare without case).
    #[error("an account named {0:?} exists")]
    Exists(String),
    /// No account has the name.
    #[error("no account is named {0:?}")]
    Missing(String),
    /// The password does not meet the policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] crate::password::HashError),
}

/// A made account: with a second factor, the URI an authenticator app scans.
#[derive(Debug)]
pub struct CreatedAccount {
    /// `otpauth://totp/...` with the TOTP secret, if the account has one.
    pub totp_uri: Option<String>,
}

pub(crate) fn valid_username(username: &str) -> bool {
    !username.is_empty()
        && username.len() <= MAX_USERNAME_BYTES
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Makes an account in `org_role` under the policy; with `totp`, a new TOTP secret too.
pub async fn create_account(
    storage: &Storage,
    settings: &AccountSettings,
    username: &str,
    password: &str,
    totp: bool,
    org_role: OrgRole,
) -> Result<CreatedAccount, AccountError> {
    if !valid_username(username) {
        return Err(AccountError::InvalidUsername);
    }
    PasswordPolicy {
        min_chars: settings.password_min_chars,
    }
    .check(password)?;
    let password = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || StoredPassword::hash(&password))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    // 160 bits, RFC 4226's recommended length; base32 as authenticator apps take it.
    let secret = totp.then(|| {
        Secret::Raw(rand::random::<[u8; 20]>().to_vec())
            .to_encoded()
            .to_string()
    });
    storage
        .create_account(username, hashed.phc(), secret.as_deref(), org_role)
        .await?
        .ok_or_else(|| AccountError::Exists(username.to_owned()))?;
    let detail = format!(
        "account={username} totp={} role={org_role}",
        secret.is_some()
    );
    storage
        .append_audit(&[&NewAuditRecord {
            action: AuditAction::AccountCreated,
            room: None,
            participant: None,
            detail: Some(detail),
        }])
        .await?;
    Ok(CreatedAccount {
        totp_uri: secret.map(|secret| totp_uri(username, &secret)),
    })
}

/// The `otpauth://` URI an authenticator app scans for `secret` (base32).
pub(crate) fn totp_uri(username: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/Sealroom:{username}?secret={secret}&issuer=Sealroom&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}"
    )
}

/// Removes an account: its sessions end at once (a meeting it is in carries on until it
/// leaves; its next join is a guest's or refused).
pub async fn remove_account(storage: &Storage, username: &str) -> Result<(), AccountError> {
    if !storage.remove_account(username).await? {
        return Err(AccountError::Missing(username.to_owned()));
    }
    storage
        .append_audit(&[&NewAuditRecord {
            action: AuditAction::AccountRemoved,
            room: None,
            participant: None,
            detail: Some(format!("account={username}")),
        }])
        .await?;
    Ok(())
}

/// Gives an account another role in the organisation, recorded in the audit log.
pub async fn set_role(
    storage: &Storage,
    username: &str,
    org_role: OrgRole,
) -> Result<(), AccountError> {
    if !storage.set_account_role(username, org_role).await? {
        return Err(AccountError::Missing(username.to_owned()));
    }
    storage
        .append_audit(&[&NewAuditRecord {
            action: AuditAction::AccountRoleChanged,
            room: None,
            participant: None,
            detail: Some(format!("account={username} role={org_role}")),
        }])
        .await?;
    Ok(())
}

fn totp_for(secret_base32: &str) -> Option<TOTP> {
    let secret = Secret::Encoded(secret_base32.to_owned()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, TOTP_DIGITS, 1, TOTP_STEP_SECS, secret).ok()
}

/// The time step a code is good for (now, or one step either side), if any.
pub(crate) fn totp_step(secret_base32: &str, code: &str, now_secs: u64) -> Option<i64> {
    let totp = totp_for(secret_base32)?;
    let current = now_secs / TOTP_STEP_SECS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * TOTP_STEP_SECS);
            expected.as_bytes().ct_eq(code.as_bytes()).into()
        })
        .and_then(|step| i64::try_from(step).ok())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The SHA-256 of a bearer token: what the server keeps of one.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `POST /api/session` body.
#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
    /// For an account with a second factor: `totp_code` (a TOTP or recovery code), or
    /// `passkey` (the answer to `POST /api/session/passkey/options`'s ceremony).
    #[serde(flatten)]
    factor: FactorProof,
}

/// `POST /api/session` answer, and `GET /api/session`'s.
#[derive(Serialize)]
struct SessionInfo {
    username: String,
    /// The bearer token, for the native client; a browser gets it only as the `HttpOnly`
    /// cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// `enrolment_required`: the session may only enrol a second factor (`/account`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa: Option<&'static str>,
}

/// What `mfa` says of an enrolment-only session.
const ENROLMENT_REQUIRED: &str = "enrolment_required";

/// An API error: `{"error": code, "message": ...}`, with `Retry-After` when rate limited.
pub(crate) fn api_error(
    status: StatusCode,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> Response {
    let body = Json(serde_json::json!({ "error": code, "message": message }));
    let mut response = (status, body).into_response();
    if let Some(wait) = retry_after
        && let Ok(value) = HeaderValue::from_str(&wait.as_secs_f64().ceil().to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Why a sign-in was refused (for the log; the client hears only `invalid_credentials`).
enum Refused {
    NoSuchAccount,
    PasswordWrong,
    /// The second factor was missing or wrong: why (see [`mfa::check_factor`]).
    Factor(&'static str),
}

impl Refused {
    fn as_str(&self) -> &'static str {
        match self {
            Refused::NoSuchAccount => "no_such_account",
            Refused::PasswordWrong => "password_wrong",
            Refused::Factor(reason) => reason,
        }
    }
}

/// How a refused sign-in's name is logged: an account's name as it is, any other only as a
/// short SHA-256 prefix, so a password typed into the name field never reaches the log.
fn refused_username(refused: &Refused, username: &str) -> String {
    match refused {
        Refused::NoSuchAccount => {
            let digest = Sha256::digest(username.as_bytes());
            format!("username_sha256={}", hex::encode(&digest[..4]))
        }
        _ => format!("username={username:?}"),
    }
}

/// `POST /api/session`: sign in.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<SignIn>,
) -> Response {
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    if let Err(limited) = spend_sign_in_attempt(&state, address, &request.username).await {
        return limited;
    }
    let account = match check_credentials(&state, &request).await {
        Ok(account) => account,
        Err(Ok(refused)) => {
            let detail = format!(
                "reason={} {} address={address}",
                refused.as_str(),
                refused_username(&refused, &request.username)
            );
            state
                .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
                .await;
            return refused_sign_in();
        }
        Err(Err(error)) => return internal_error(&error),
    };
    signed_in_answer(&state, &headers, account, &format!("address={address}")).await
}

/// Takes one sign-in attempt from the limits per address and per name (one budget for every
/// way of signing in with a password), or answers `429` when they are spent.
pub(crate) async fn spend_sign_in_attempt(
    state: &AppState,
    address: IpAddr,
    username: &str,
) -> Result<(), Response> {
    let limited = state
        .sign_in_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(address, username, Instant::now());
    match limited {
        Ok(()) => Ok(()),
        Err(limited) => Err(rate_limited(state, &limited, &format!("address={address}")).await),
    }
}

/// `429 rate_limited` for too many attempts (recorded once per flood, counted always).
pub(crate) async fn rate_limited(state: &AppState, limited: &Limited, detail: &str) -> Response {
    let detail = format!("limit={} {detail}", limited.key);
    if limited.first {
        state
            .audit_outside_rooms(AuditAction::SignInRateLimited, None, &detail)
            .await;
    } else {
        state.count(AuditAction::SignInRateLimited);
    }
    api_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!(
            "too many sign-in attempts: retry after {:.0} s",
            limited.wait.as_secs_f64().ceil()
        ),
        Some(limited.wait),
    )
}

/// The one answer to a refused sign-in.
pub(crate) fn refused_sign_in() -> Response {
    api_error(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the account name, the password or the code is wrong",
        None,
    )
}

/// Opens a session for `account` (audited with `detail`) and answers the sign-in with it.
pub(crate) async fn signed_in_answer(
    state: &AppState,
    headers: &HeaderMap,
    account: Account,
    detail: &str,
) -> Response {
    let session = match open_session(state, &account, detail).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    // A browser sends `Origin` with every POST: its answer's body, which page scripts read,
    // holds no token, so an injected script cannot carry the session off.
    let browser = headers.contains_key(header::ORIGIN);
    let mut response = Json(SessionInfo {
        username: account.username,
        token: (!browser).then_some(session.token),
        expires_at: Some(session.expires_at),
        mfa: session.enrolment_only.then_some(ENROLMENT_REQUIRED),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session.cookie);
    response
}

/// A session just opened: its token, expiry (Unix seconds) and the cookie that carries it.
pub(crate) struct OpenedSession {
    pub(crate) token: String,
    pub(crate) expires_at: u64,
    pub(crate) cookie: HeaderValue,
    /// The MFA policy covers the account and it has no second factor: the session may only
    /// enrol one.
    pub(crate) enrolment_only: bool,
}

/// Opens a session for `account` and audits the sign-in (`detail`): shared by every way of
/// signing in (password here, OpenID Connect in `oidc`). An account the MFA policy covers
/// that has no second factor gets an enrolment-only session.
pub(crate) async fn open_session(
    state: &AppState,
    account: &Account,
    detail: &str,
) -> Result<OpenedSession, Response> {
    refuse_if_disabled(state, account, detail).await?;
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let expires_at = unix_now() + state.session_hours * 3600;
    let enrolment_only = mfa::needs_enrolment(&state.storage, account.id)
        .await
        .map_err(|error| internal_error(&error))?;
    state
        .storage
        .create_session(
            &token_hash(&token),
            account.id,
            i64::try_from(expires_at).unwrap_or(i64::MAX),
            enrolment_only,
        )
        .await
        .map_err(|error| internal_error(&error))?;
    let detail = match enrolment_only {
        true => format!("{detail} mfa={ENROLMENT_REQUIRED}"),
        false => detail.to_owned(),
    };
    state
        .audit_outside_rooms(AuditAction::SignedIn, Some(&account.username), &detail)
        .await;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.session_hours * 3600,
        if state.https { "; Secure" } else { "" }
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|error| internal_error(&error))?;
    Ok(OpenedSession {
        token,
        expires_at,
        cookie,
        enrolment_only,
    })
}

/// A disabled account signs in no way: refused like any wrong credentials, the true reason in
/// the audit log.
async fn refuse_if_disabled(
    state: &AppState,
    account: &Account,
    detail: &str,
) -> Result<(), Response> {
    let disabled = state.storage.account_disabled(account.id).await;
    if !disabled.map_err(|error| internal_error(&error))? {
        return Ok(());
    }
    let detail = format!(
        "reason=account_disabled username={:?} {detail}",
        account.username
    );
    state
        .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
        .await;
    Err(refused_sign_in())
}

pub(crate) fn internal_error(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "sign-in failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server could not sign you in",
        None,
    )
}

/// The account, or why not (`Err(Ok)`), or a failure (`Err(Err)`).
async fn check_credentials(
    state: &AppState,
    request: &SignIn,
) -> Result<Account, Result<Refused, StorageError>> {
    let stored = if valid_username(&request.username) {
        state
            .storage
            .account_by_name(&request.username)
            .await
            .map_err(Err)?
    } else {
        None
    };
    let password = request.password.clone();
    let phc = stored.as_ref().map(|a| a.password_phc.clone());
    // Held until the check is done (the semaphore is never closed).
    let _permit = state.password_work.acquire().await;
    let verified = tokio::task::spawn_blocking(move || match phc {
        Some(phc) => StoredPassword::from_phc(phc).verify(&password),
        None => StoredPassword::verify_against_nothing(&password),
    })
    .await
    .unwrap_or(false);
    let Some(stored) = stored else {
        return Err(Ok(Refused::NoSuchAccount));
    };
    if !verified {
        return Err(Ok(Refused::PasswordWrong));
    }
    check_enrolled_factor(state, &stored, &request.factor)
        .await
        .map_err(Err)?
        .map_err(|reason| Ok(Refused::Factor(reason)))?;
    Ok(Account {
        id: stored.id,
        username: stored.username,
    })
}

/// The second factor an account has enrolled, checked against `proof` (`Ok(Err(reason))` when
/// missing or wrong); an account without one passes. Every way of signing in with a password
/// (here, and a directory's) asks for it.
pub(crate) async fn check_enrolled_factor(
    state: &AppState,
    stored: &StoredAccount,
    proof: &FactorProof,
) -> Result<Result<(), &'static str>, StorageError> {
    let standing = state.storage.mfa_standing(stored.id).await?;
    if !standing.is_some_and(|standing| standing.has_factor) {
        return Ok(Ok(()));
    }
    let holder = FactorHolder {
        id: stored.id,
        username: &stored.username,
        totp_secret: stored.totp_secret.as_deref(),
    };
    Ok(mfa::check_factor(state, &holder, proof).await?.map(|_| ()))
}

/// The session token a request carries: `Authorization: Bearer`, else the cookie.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = bearer_token(headers) {
        return Some(bearer.to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A signed-in session: whose, and whether it may only enrol a second factor.
pub(crate) struct Session {
    pub(crate) account: Account,
    pub(crate) enrolment_only: bool,
}

/// A request's signed-in account, for everything but enrolling a second factor: `Ok(None)`
/// when it carries no token, `Err` when it carries one that is unknown or expired (401: a
/// client that believes it is signed in should hear that it is not, not be taken for a
/// guest), or an enrolment-only session (`403 mfa_enrolment_required`).
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Account>, Response> {
    match session_of(state, headers).await? {
        Some(session) if session.enrolment_only => Err(api_error(
            StatusCode::FORBIDDEN,
            "mfa_enrolment_required",
            "enrol a second factor first (your account page)",
            None,
        )),
        session => Ok(session.map(|session| session.account)),
    }
}

/// A request's session, enrolment-only or not (see [`signed_in`]).
pub(crate) async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, Response> {
    let Some(token) = presented_token(headers) else {
        return Ok(None);
    };
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    match state.storage.session(&token_hash(&token), now).await {
        Ok(Some(row)) => Ok(Some(Session {
            account: Account {
                id: row.account_id,
                username: row.username,
            },
            enrolment_only: row.enrolment_only,
        })),
        Ok(None) => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "the session is unknown or has expired: sign in again",
            None,
        )),
        Err(error) => Err(internal_error(&error)),
    }
}

/// `GET /api/session`: who is signed in.
pub async fn current_session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers).await {
        Ok(Some(session)) => Json(SessionInfo {
            username: session.account.username,
            token: None,
            expires_at: None,
            mfa: session.enrolment_only.then_some(ENROLMENT_REQUIRED),
        })
        .into_response(),
        Ok(None) => api_error(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "not signed in",
            None,
        ),
        Err(response) => response,
    }
}

/// `DELETE /api/session`: sign out; the token no longer works anywhere.
pub async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = presented_token(&headers) {
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        if let Ok(Some(session)) = state.storage.session(&token_hash(&token), now).await {
            state
                .audit_outside_rooms(AuditAction::SignedOut, Some(&session.username), "")
                .await;
        }
        if let Err(error) = state.storage.delete_session(&token_hash(&token), now).await {
            return internal_error(&error);
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sealroom_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

impl AppState {
    /// Writes a record of something outside rooms (a sign-in), counts it, and returns once it
    /// is on disk.
    pub(crate) async fn audit_outside_rooms(
        &self,
        action: AuditAction,
        account: Option<&str>,
        detail: &str,
    ) {
        self.count(action);
        let detail = (!detail.is_empty()).then_some(detail);
        let ticket = self.audit_log.record(action, None, account, detail);
        self.audit_log.written(ticket).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_code_names_its_step_and_codes_from_far_steps_fail() {
        let secret = Secret::Raw(vec![7; 20]).to_encoded().to_string();
        let totp = totp_for(&secret).unwrap();
        let now = 1_800_000_000;
        let step = i64::try_from(now / TOTP_STEP_SECS).unwrap();
        assert_eq!(totp_step(&secret, &totp.generate(now), now), Some(step));
        assert_eq!(
            totp_step(&secret, &totp.generate(now - 30), now),
            Some(step - 1)
        );
        assert_eq!(totp_step(&secret, &totp.generate(now - 90), now), None);
        assert_eq!(totp_step(&secret, "12345", now), None);
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("alice.smith@example.org"));
        assert!(!valid_username(""));
        assert!(!valid_username("alice smith"));
        assert!(!valid_username(&"a".repeat(65)));
    }
}
