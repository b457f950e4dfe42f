//! Passkeys (WebAuthn, through `webauthn-rs`): registered from the account page, presented as
//! a second factor after the password or alone, as a passwordless sign-in (a discoverable
//! credential names its account). User verification is always required.
//!
//! The relying party is this server's origin: its id is the origin's host name, so passkeys
//! need one — a browser refuses an IP address as an RP id. A loopback server without
//! `public_origin` offers them at `http://localhost:<port>`; a server whose origin is an IP
//! address offers none (logged at start; the routes answer `404 passkeys_unavailable`).
//!
//! A ceremony's state stays in the server, under a random id the page sends back: one use, two
//! minutes, and a registration only for the session's account that began it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::{
    AppState,
    accounts::{self, Account, api_error},
    mfa::{self, Empty, Factor, FactorProof},
    storage::{AuditAction, Storage, StorageError},
};

/// How long a ceremony may take.
const CEREMONY_LIFETIME: Duration = Duration::from_secs(120);
/// Ceremonies under way at most (each costs a little memory until it expires).
const MAX_CEREMONIES: usize = 10_000;
/// Longest passkey name, in characters.
const MAX_NAME_CHARS: usize = 64;

/// A ceremony's state.
enum Ceremony {
    /// A registration begun by this account's session.
    Register {
        account: i64,
        state: PasskeyRegistration,
    },
    /// A sign-in by a discoverable credential.
    SignIn(DiscoverableAuthentication),
}

/// The relying party, if this server's origin allows one, and the ceremonies under way.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    ceremonies: Mutex<HashMap<String, (Instant, Ceremony)>>,
}

/// A passkey's answer to a sign-in ceremony: the ceremony's id and the browser's
/// `PublicKeyCredential` (its `toJSON()`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswer {
    ceremony: String,
    credential: PublicKeyCredential,
}

/// The RP id and origin for `origin`: its host, unless that is an IP address; a loopback IP
/// stands for `localhost` (the browser's page is then at `http://localhost:<port>`).
fn relying_party(origin: &str) -> Option<(String, Url)> {
    let mut url = Url::parse(origin).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => "localhost".to_owned(),
        Ok(_) => return None,
        Err(_) => host.to_owned(),
    };
    url.set_host(Some(&host)).ok()?;
    Some((host, url))
}

impl Passkeys {
    /// The relying party for this server's `origin` (logged either way).
    pub fn new(origin: &str) -> anyhow::Result<Self> {
        let webauthn = match relying_party(origin) {
            Some((rp_id, rp_origin)) => {
                tracing::info!(%rp_id, %rp_origin, "passkeys offered");
                Some(
                    WebauthnBuilder::new(&rp_id, &rp_origin)?
                        .rp_name("Sealroom")
                        .build()?,
                )
            }
            None => {
                tracing::warn!(
                    %origin,
                    "passkeys are off: their relying party needs a host name, and the origin \
                     is an IP address; set public_origin to a name"
                );
                None
            }
        };
        Ok(Self {
            webauthn,
            ceremonies: Mutex::default(),
        })
    }

    /// Whether passkeys are offered.
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Keeps a ceremony; its id. Expired ones are dropped, and the oldest past the cap.
    fn keep(&self, ceremony: Ceremony) -> String {
        let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let mut ceremonies = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        ceremonies.retain(|_, (made, _)| now.duration_since(*made) < CEREMONY_LIFETIME);
        if ceremonies.len() >= MAX_CEREMONIES
            && let Some(oldest) = ceremonies
                .iter()
                .min_by_key(|(_, (made, _))| *made)
                .map(|(id, _)| id.clone())
        {
            ceremonies.remove(&oldest);
        }
        ceremonies.insert(id.clone(), (now, ceremony));
        id
    }

    /// Takes a ceremony (once), if it has not expired.
    fn take(&self, id: &str) -> Option<Ceremony> {
        let mut ceremonies = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let (made, ceremony) = ceremonies.remove(id)?;
        (made.elapsed() < CEREMONY_LIFETIME).then_some(ceremony)
    }

    /// Checks a sign-in answer: the account whose passkey it is (its counter kept), or why not.
    pub(crate) async fn verify(
        &self,
        storage: &Storage,
        answer: &PasskeyAnswer,
    ) -> Result<Result<i64, &'static str>, StorageError> {
        let (Some(webauthn), Some(Ceremony::SignIn(ceremony))) =
            (&self.webauthn, self.take(&answer.ceremony))
        else {
            return Ok(Err("passkey_ceremony_unknown"));
        };
        let Ok((handle, credential_id)) =
            webauthn.identify_discoverable_authentication(&answer.credential)
        else {
            return Ok(Err("passkey_without_user_handle"));
        };
        let Some((stored, account_handle)) = storage.passkey_by_credential(credential_id).await?
        else {
            return Ok(Err("passkey_unknown"));
        };
        if account_handle.as_deref() != Some(handle.as_bytes().as_slice()) {
            return Ok(Err("passkey_user_handle_mismatch"));
        }
        let mut passkey: Passkey = serde_json::from_str(&stored.json)?;
        let Ok(result) =
            webauthn.finish_discoverable_authentication_v2(&answer.credential, ceremony, &passkey)
        else {
            return Ok(Err("passkey_refused"));
        };
        passkey.update_credential(&result);
        storage
            .passkey_used(stored.id, &serde_json::to_string(&passkey)?)
            .await?;
        Ok(Ok(stored.account_id))
    }
}

/// `404 passkeys_unavailable`: the server's origin is not a host name.
fn unavailable() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "passkeys_unavailable",
        "this server offers no passkeys: its origin is not a host name",
        None,
    )
}

/// The passkey routes: registration and removal on the account, and the passwordless sign-in.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/account/passkeys/options", post(registration_options))
        .route("/api/account/passkeys", post(register))
        .route("/api/account/passkeys/{id}", delete(remove))
        .route("/api/session/passkey/options", post(sign_in_options))
        .route("/api/session/passkey", post(sign_in))
}

/// `POST /api/session/passkey/options` `{}`: a sign-in ceremony for any discoverable passkey
/// (passwordless, or as the second factor of a password sign-in) → `{"ceremony","publicKey"}`.
async fn sign_in_options(
    State(state): State<Arc<AppState>>,
    Json(Empty {}): Json<Empty>,
) -> Response {
    let Some(webauthn) = &state.passkeys.webauthn else {
        return unavailable();
    };
    match webauthn.start_discoverable_authentication() {
        Ok((options, ceremony)) => {
            let id = state.passkeys.keep(Ceremony::SignIn(ceremony));
            Json(serde_json::json!({ "ceremony": id, "publicKey": options.public_key }))
                .into_response()
        }
        Err(error) => mfa::failed(&error),
    }
}

/// `POST /api/session/passkey` `{"ceremony","credential"}`: a passwordless sign-in. A passkey
/// with user verification is two factors in itself, so the session is a full one.
async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Json(answer): Json<PasskeyAnswer>,
) -> Response {
    let address =
        crate::client_address::client_address(peer.ip(), &headers, &state.trusted_proxies);
    if !state.passkeys.available() {
        return unavailable();
    }
    let limited = state
        .sign_in_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_address(address, Instant::now());
    if let Err(limited) = limited {
        return accounts::rate_limited(&state, &limited, &format!("address={address}")).await;
    }
    let id = match state.passkeys.verify(&state.storage, &answer).await {
        Ok(Ok(id)) => id,
        Ok(Err(reason)) => {
            let detail = format!("reason={reason} address={address}");
            state
                .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
                .await;
            return accounts::refused_sign_in();
        }
        Err(error) => return mfa::failed(&error),
    };
    match state.storage.account_name(id).await {
        Ok(Some(username)) => {
            let detail = format!("factor=passkey address={address}");
            accounts::signed_in_answer(&state, &headers, Account { id, username }, &detail).await
        }
        Ok(None) => accounts::refused_sign_in(),
        Err(error) => mfa::failed(&error),
    }
}

/// `POST /api/account/passkeys/options` `{}`: a registration ceremony for the session's
/// account (its existing passkeys excluded) → `{"ceremony","publicKey"}`.
async fn registration_options(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(Empty {}): Json<Empty>,
) -> Response {
    let Some(webauthn) = &state.passkeys.webauthn else {
        return unavailable();
    };
    let account = match mfa::session_account(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let known = state.storage.passkeys(account.id).await;
    let handle = state.storage.webauthn_user_id(account.id).await;
    let (known, handle) = match (known, handle) {
        (Ok(known), Ok(handle)) => (known, handle),
        (Err(error), _) | (_, Err(error)) => return mfa::failed(&error),
    };
    let exclude = known.into_iter().map(|(_, id)| id).collect();
    let started = webauthn.start_passkey_registration(
        Uuid::from_bytes(handle),
        &account.username,
        &account.username,
        Some(exclude),
    );
    match started {
        Ok((options, ceremony)) => {
            let id = state.passkeys.keep(Ceremony::Register {
                account: account.id,
                state: ceremony,
            });
            Json(serde_json::json!({ "ceremony": id, "publicKey": options.public_key }))
                .into_response()
        }
        Err(error) => mfa::failed(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    ceremony: String,
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /api/account/passkeys` `{"ceremony","name","credential"}`: keeps the new passkey; the
/// first factor comes with recovery codes (`{"id","recovery_codes"}`).
async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(registration): Json<Registration>,
) -> Response {
    let Some(webauthn) = &state.passkeys.webauthn else {
        return unavailable();
    };
    let account = match mfa::session_account(&state, &headers).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let name = registration.name.trim();
    if !(1..=MAX_NAME_CHARS).contains(&name.chars().count()) || name.chars().any(char::is_control) {
        return mfa::refuse(
            StatusCode::BAD_REQUEST,
            "malformed",
            "name it in 1 to 64 characters",
        );
    }
    let ceremony = state.passkeys.take(&registration.ceremony);
    let Some(Ceremony::Register {
        account: owner,
        state: ceremony,
    }) = ceremony
    else {
        return mfa::refuse(StatusCode::BAD_REQUEST, "ceremony_unknown", "start again");
    };
    if owner != account.id {
        return mfa::refuse(StatusCode::FORBIDDEN, "ceremony_unknown", "start again");
    }
    let Ok(passkey) = webauthn.finish_passkey_registration(&registration.credential, &ceremony)
    else {
        return mfa::refuse(
            StatusCode::BAD_REQUEST,
            "passkey_refused",
            "the passkey was refused",
        );
    };
    match keep_passkey(&state, &account, name, &passkey).await {
        Ok((id, codes)) => {
            Json(serde_json::json!({ "id": id, "recovery_codes": codes })).into_response()
        }
        Err(error) => mfa::failed(&error),
    }
}

async fn keep_passkey(
    state: &AppState,
    account: &Account,
    name: &str,
    passkey: &Passkey,
) -> Result<(i64, Option<Vec<String>>), StorageError> {
    let json = serde_json::to_string(passkey)?;
    let id = state
        .storage
        .add_passkey(account.id, passkey.cred_id().as_slice(), name, &json)
        .await?;
    let codes = mfa::factor_enrolled(state, account, Factor::Passkey).await?;
    Ok((id, codes))
}

/// `DELETE /api/account/passkeys/{id}` `{"code"|"passkey"}`: takes a current factor; refused
/// (409) if it would leave an account the policy covers without one.
async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(proof): Json<FactorProof>,
) -> Response {
    let (account, _) = match mfa::account_with_factor(&state, &headers, &proof).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let keeps_factor = match remaining_factors(&state, &account).await {
        Ok(count) => count > 1,
        Err(error) => return mfa::failed(&error),
    };
    match mfa::removal_allowed(&state, &account, keeps_factor).await {
        Ok(true) => {}
        Ok(false) => return mfa::required_by_policy(),
        Err(error) => return mfa::failed(&error),
    }
    match state.storage.remove_passkey(account.id, id).await {
        Ok(true) => {}
        Ok(false) => {
            return mfa::refuse(StatusCode::NOT_FOUND, "unknown_passkey", "no such passkey");
        }
        Err(error) => return mfa::failed(&error),
    }
    let what = format!("factor=passkey passkey={id}");
    match mfa::factor_removed(&state, &account, &what).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => mfa::failed(&error),
    }
}

/// How many factors the account has: its passkeys, and TOTP as one.
async fn remaining_factors(state: &AppState, account: &Account) -> Result<usize, StorageError> {
    let passkeys = state.storage.passkeys(account.id).await?.len();
    let totp = state
        .storage
        .account_by_name(&account.username)
        .await?
        .is_some_and(|a| a.totp_secret.is_some());
    Ok(passkeys + usize::from(totp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_a_host_name_never_an_ip() {
        let (id, origin) = relying_party("https://meet.example").unwrap();
        assert_eq!(
            (id.as_str(), origin.as_str()),
            ("meet.example", "https://meet.example/")
        );
        let (id, origin) = relying_party("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (id.as_str(), origin.as_str()),
            ("localhost", "http://localhost:8080/")
        );
        assert!(relying_party("https://192.0.2.7").is_none());
        assert!(relying_party("https://[2001:db8::1]:8443").is_none());
    }
}
