//! OpenID Connect sign-in, the authorization code flow (`docs/sign-in.md`):
//! `GET /auth/oidc/{name}/start` sends the browser to provider `name` with PKCE (S256), a
//! random `state` and `nonce` kept here and bound to the browser by a short-lived cookie;
//! `GET /auth/oidc/callback` (one redirect URI for every provider) checks `state`, the RFC 9207
//! `iss`, redeems the code with the verifier, verifies the ID token (JWKS signature under an
//! algorithm allow-list, `aud`, `exp`, `iat`, `nonce`), makes the account on first sign-in,
//! maps its role, and opens a session as a password sign-in does. `POST /api/auth/logout`
//! ends a session and, for one a provider opened, names the provider's `end_session_endpoint`.
//! Every refusal is audited with its reason, never a token.

mod rules;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken,
    IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
    core::{
        CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
        CoreClientAuthMethod, CoreGenderClaim, CoreGrantType, CoreIdToken, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

pub use rules::{OidcProviderSettings, validate_providers};

use crate::{
    AppState,
    accounts::{self, api_error, token_hash, unix_now},
    client_address::client_address,
    external_accounts::{self, ExternalIdentity},
    storage::AuditAction,
};

/// The cookie that binds a sign-in under way to the browser that started it.
const BINDING_COOKIE: &str = "sealroom_oidc";
/// The callback every provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// How long provider metadata and keys are kept before they are read again.
const METADATA_LIFETIME: Duration = Duration::from_secs(300);
/// Signature algorithms an ID token may use: asymmetric only. `none` and HS* (a key the
/// client shares, or the classic public-key-as-HMAC-secret confusion) are refused.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 7] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// An ID token issued further in the future than this (clock skew) or longer ago than
/// [`MAX_ID_TOKEN_AGE`] is refused: it was minted for this code exchange, just now.
const IAT_SKEW_SECS: i64 = 60;
const MAX_ID_TOKEN_AGE_SECS: i64 = 600;

/// Discovery metadata: the core fields, the logout endpoint and RFC 9207's flag.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraMetadata {
    end_session_endpoint: Option<EndSessionUrl>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim, whatever its name: the role claim is configured, not known here.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct AnyClaims {
    #[serde(flatten)]
    other: Map<String, Value>,
}
impl AdditionalClaims for AnyClaims {}

type IdTokenAny =
    IdToken<AnyClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The providers, their metadata, and the sign-ins under way.
pub(crate) struct Oidc {
    providers: Vec<OidcProviderSettings>,
    /// Follows no redirect (a provider could point it anywhere: SSRF), with timeouts.
    http: reqwest::Client,
    redirect_uri: RedirectUrl,
    post_logout_uri: PostLogoutRedirectUrl,
    pending: Mutex<rules::PendingSignIns>,
    metadata: Mutex<HashMap<usize, (Instant, Arc<Metadata>)>>,
}

impl Oidc {
    /// The providers as the console lists them, without their client secrets.
    pub(crate) fn summaries(&self) -> Vec<crate::admin::ProviderSummary> {
        let summary = |p: &OidcProviderSettings| crate::admin::ProviderSummary {
            kind: "oidc",
            name: p.name.clone(),
            label: p.label.clone(),
            location: p.issuer.clone(),
            role_source: p.role_claim.clone(),
            roles: p.roles.clone(),
        };
        self.providers.iter().map(summary).collect()
    }

    /// The providers of `settings`, coming back to `origin` (this server's, as browsers see it).
    pub(crate) fn new(settings: &[OidcProviderSettings], origin: &str) -> anyhow::Result<Self> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // rustls with the tree's crypto provider (aws-lc-rs), which reqwest would not pick.
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            providers: settings.to_vec(),
            http,
            redirect_uri: RedirectUrl::new(format!("{origin}{CALLBACK_PATH}"))?,
            post_logout_uri: PostLogoutRedirectUrl::new(format!("{origin}/"))?,
            pending: Mutex::default(),
            metadata: Mutex::default(),
        })
    }

    /// The provider's discovery document and keys, read at most every few minutes.
    async fn metadata(&self, index: usize) -> Result<Arc<Metadata>, String> {
        let now = Instant::now();
        let cached = self.lock_metadata().get(&index).cloned();
        if let Some((read, metadata)) = cached
            && now.duration_since(read) < METADATA_LIFETIME
        {
            return Ok(metadata);
        }
        let issuer =
            IssuerUrl::new(self.providers[index].issuer.clone()).map_err(|e| e.to_string())?;
        // Checks that the document names this issuer; fetches the JWKS.
        let metadata = Arc::new(
            Metadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| e.to_string())?,
        );
        self.lock_metadata().insert(index, (now, metadata.clone()));
        Ok(metadata)
    }

    fn lock_metadata(&self) -> std::sync::MutexGuard<'_, HashMap<usize, (Instant, Arc<Metadata>)>> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The provider's authorization URL (PKCE S256, random `state` and `nonce`), and the
    /// sign-in to keep until the browser comes back.
    fn authorization(
        &self,
        index: usize,
        metadata: &Metadata,
        return_to: String,
    ) -> (openidconnect::url::Url, rules::Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self.providers[index].scopes.iter();
        let (url, csrf, nonce) = self
            .client(index, metadata)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(
                scopes
                    .filter(|s| *s != "openid")
                    .map(|s| Scope::new(s.clone())),
            )
            .set_pkce_challenge(challenge)
            .url();
        let pending = rules::Pending::new(
            index,
            csrf.into_secret(),
            nonce.secret().clone(),
            verifier.into_secret(),
            return_to,
            Instant::now(),
        );
        (url, pending)
    }

    fn client(&self, index: usize, metadata: &Metadata) -> Client {
        let settings = &self.providers[index];
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(settings.client_id.clone()),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }
}

/// `GET /api/auth/providers`: the providers the home page offers.
pub async fn providers(State(state): State<Arc<AppState>>) -> Response {
    let list: Vec<Value> = state
        .oidc
        .providers
        .iter()
        .map(|p| serde_json::json!({ "name": p.name, "label": p.label }))
        .collect();
    Json(list).into_response()
}

/// `GET /auth/oidc/{name}/start` query.
#[derive(Deserialize)]
pub struct StartQuery {
    /// A local path to come back to.
    return_to: Option<String>,
}

/// `GET /auth/oidc/{name}/start`: to the provider, with PKCE, `state` and `nonce`.
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    let oidc = &state.oidc;
    let Some(index) = oidc.providers.iter().position(|p| p.name == name) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "no such provider",
            None,
        );
    };
    let metadata = match oidc.metadata(index).await {
        Ok(metadata) => metadata,
        Err(error) => {
            tracing::warn!(provider = %name, %error, "provider discovery failed");
            let detail = format!("reason=discovery_failed provider={name}");
            state
                .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
                .await;
            return failed_redirect(&state);
        }
    };
    let return_to = rules::safe_return_path(query.return_to.as_deref());
    let (url, pending) = oidc.authorization(index, &metadata, return_to);
    let binding = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let kept = oidc
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token_hash(&binding), pending, Instant::now());
    if !kept {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many sign-ins under way: try again shortly",
            Some(Duration::from_secs(10)),
        );
    }
    let max_age = rules::PENDING_LIFETIME.as_secs();
    redirect(url.as_str(), &[binding_cookie(&state, &binding, max_age)])
}

/// The binding cookie: `SameSite=Lax`, as the provider sends the browser back with a
/// cross-site navigation; only for `/auth/oidc`.
fn binding_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.https { "; Secure" } else { "" };
    format!(
        "{BINDING_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// A 302 to `location` setting `cookies`.
fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        if let Ok(cookie) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Back to the home page, which says the sign-in failed; the binding cookie is dropped.
fn failed_redirect(state: &AppState) -> Response {
    redirect("/?sign_in=failed", &[binding_cookie(state, "", 0)])
}

/// `GET /auth/oidc/callback` query: the provider's answer.
#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// Why a callback was refused: `reason` for the audit log, never a token.
struct Refusal {
    reason: &'static str,
    provider: Option<String>,
    detail: Option<String>,
}

impl Refusal {
    fn new(reason: &'static str) -> Self {
        Self {
            reason,
            provider: None,
            detail: None,
        }
    }

    /// With an error and its sources (openidconnect's outer errors say little on their own).
    fn with_error(self, error: &dyn std::error::Error) -> Self {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        self.with(text)
    }

    fn with(mut self, detail: impl std::fmt::Display) -> Self {
        // Provider error texts are not ours: short, and one line.
        let text: String = detail.to_string().chars().take(200).collect();
        self.detail = Some(text.replace(|c: char| c.is_control(), " "));
        self
    }
}

/// A provider's sign-in, checked: who, with which ID token.
struct Verified {
    provider: usize,
    subject: String,
    claims: Map<String, Value>,
    id_token: String,
    return_to: String,
}

/// `GET /auth/oidc/callback`: check everything, then sign in.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    let outcome = match verify_callback(&state, &headers, query).await {
        Ok(verified) => sign_in(&state, verified, &address.to_string()).await,
        Err(refusal) => Err(refusal),
    };
    match outcome {
        Ok(response) => response,
        Err(refusal) => {
            let mut detail = format!("reason={}", refusal.reason);
            if let Some(provider) = &refusal.provider {
                detail.push_str(&format!(" provider={provider}"));
            }
            detail.push_str(&format!(" address={address}"));
            if let Some(error) = &refusal.detail {
                detail.push_str(&format!(" error={error:?}"));
            }
            state
                .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
                .await;
            failed_redirect(&state)
        }
    }
}

/// The binding cookie's value, if the request carries one.
fn binding_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == BINDING_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// `state` and `iss`, then the code exchange and the ID token.
async fn verify_callback(
    state: &AppState,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<Verified, Refusal> {
    let binding = binding_from(headers).ok_or(Refusal::new("no_sign_in_under_way"))?;
    let pending = state
        .oidc
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(&token_hash(&binding), Instant::now())
        .ok_or(Refusal::new("no_sign_in_under_way"))?;
    let provider = state.oidc.providers[pending.provider].name.clone();
    let named = |refusal: Refusal| Refusal {
        provider: Some(provider.clone()),
        ..refusal
    };
    let given_state = query.state.unwrap_or_default();
    if !bool::from(given_state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(named(Refusal::new("state_mismatch")));
    }
    if let Some(error) = query.error {
        return Err(named(Refusal::new("provider_error").with(error)));
    }
    let metadata = state
        .oidc
        .metadata(pending.provider)
        .await
        .map_err(|e| named(Refusal::new("discovery_failed").with(e)))?;
    let sends_iss = metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported;
    let issuer = metadata.issuer().as_str();
    rules::check_iss_parameter(query.iss.as_deref(), issuer, sends_iss)
        .map_err(|reason| named(Refusal::new(reason)))?;
    let code = query
        .code
        .ok_or_else(|| named(Refusal::new("code_missing")))?;
    redeem(state, &metadata, pending, code).await.map_err(named)
}

/// Redeems the code with the PKCE verifier, verifies the ID token, and reads userinfo when
/// the ID token lacks a claim the account needs.
async fn redeem(
    state: &AppState,
    metadata: &Metadata,
    pending: rules::Pending,
    code: String,
) -> Result<Verified, Refusal> {
    let oidc = &state.oidc;
    let client = oidc.client(pending.provider, metadata);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Refusal::new("token_exchange_failed").with(e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&oidc.http)
        .await
        .map_err(|e| Refusal::new("token_exchange_failed").with(token_error(&e)))?;
    let raw = tokens
        .id_token()
        .ok_or(Refusal::new("id_token_missing"))?
        .to_string();
    let id_token: IdTokenAny = raw
        .parse()
        .map_err(|e| Refusal::new("id_token_malformed").with_error(&e))?;
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(ALLOWED_ALGS)
        .set_issue_time_verifier_fn(|iat| check_issued_at(iat.timestamp()));
    let nonce = Nonce::new(pending.nonce);
    let verified = id_token
        .claims(&verifier, &nonce)
        .map_err(|e| Refusal::new(claims_reason(&e)).with_error(&e))?;
    check_access_token_hash(&id_token, &verifier, verified, tokens.access_token())?;
    let subject = verified.subject().as_str().to_owned();
    let mut claims = as_map(verified);
    if needs_userinfo(&oidc.providers[pending.provider], &claims) {
        let more = userinfo(&client, &oidc.http, tokens.access_token(), &subject).await?;
        for (key, value) in more {
            claims.entry(key).or_insert(value);
        }
    }
    Ok(Verified {
        provider: pending.provider,
        subject,
        claims,
        id_token: raw,
        return_to: pending.return_to,
    })
}

/// The token endpoint's refusal, by its OAuth error code when it gave one.
fn token_error<E: std::error::Error>(
    error: &openidconnect::RequestTokenError<
        E,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match error {
        openidconnect::RequestTokenError::ServerResponse(response) => {
            format!("{}", response.error())
        }
        other => other.to_string(),
    }
}

/// The ID token was minted for this exchange (`iat`, Unix seconds): not in the future, not
/// long ago.
fn check_issued_at(iat: i64) -> Result<(), String> {
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    if iat > now + IAT_SKEW_SECS {
        return Err(format!("issued in the future ({}s ahead)", iat - now));
    }
    if iat < now - MAX_ID_TOKEN_AGE_SECS {
        return Err(format!("issued {}s ago", now - iat));
    }
    Ok(())
}

/// A short, stable reason for the audit log.
fn claims_reason(error: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::{ClaimsVerificationError as E, SignatureVerificationError as S};
    match error {
        E::Expired(_) => "id_token_expired",
        E::InvalidNonce(_) => "id_token_nonce",
        E::InvalidAudience(_) => "id_token_audience",
        E::InvalidIssuer(_) => "id_token_issuer",
        E::SignatureVerification(S::DisallowedAlg(_) | S::UnsupportedAlg(_) | S::NoSignature) => {
            "id_token_algorithm"
        }
        E::SignatureVerification(_) => "id_token_signature",
        _ => "id_token_invalid",
    }
}

/// OIDC Core 3.1.3.8: an `at_hash` the ID token carries must match the access token.
fn check_access_token_hash(
    id_token: &IdTokenAny,
    verifier: &openidconnect::IdTokenVerifier<'_, CoreJsonWebKey>,
    claims: &openidconnect::IdTokenClaims<AnyClaims, CoreGenderClaim>,
    access_token: &openidconnect::AccessToken,
) -> Result<(), Refusal> {
    let Some(expected) = claims.access_token_hash() else {
        return Ok(());
    };
    let refused = |e: &dyn std::fmt::Display| Refusal::new("id_token_at_hash").with(e);
    let alg = id_token.signing_alg().map_err(|e| refused(&e))?;
    let key = id_token.signing_key(verifier).map_err(|e| refused(&e))?;
    let actual = AccessTokenHash::from_token(access_token, alg, key).map_err(|e| refused(&e))?;
    if actual != *expected {
        return Err(refused(&"does not match the access token"));
    }
    Ok(())
}

fn as_map<T: Serialize>(claims: &T) -> Map<String, Value> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Whether the account needs a claim the ID token does not carry (providers may keep scope
/// claims for userinfo).
fn needs_userinfo(settings: &OidcProviderSettings, claims: &Map<String, Value>) -> bool {
    let role_missing = settings
        .role_claim
        .as_ref()
        .is_some_and(|claim| !claims.contains_key(claim));
    role_missing || !claims.contains_key(&settings.username_claim)
}

/// The userinfo endpoint's claims, which must be about the ID token's subject.
async fn userinfo(
    client: &Client,
    http: &reqwest::Client,
    access_token: &openidconnect::AccessToken,
    subject: &str,
) -> Result<Map<String, Value>, Refusal> {
    let Ok(request) = client.user_info(
        access_token.clone(),
        Some(openidconnect::SubjectIdentifier::new(subject.to_owned())),
    ) else {
        // No userinfo endpoint: the ID token's claims are all there is.
        return Ok(Map::new());
    };
    let claims: UserInfoClaims<AnyClaims, CoreGenderClaim> = request
        .request_async(http)
        .await
        .map_err(|e| Refusal::new("userinfo_failed").with_error(&e))?;
    Ok(as_map(&claims))
}

/// Makes or finds the account, maps its role, opens the session, back to the return path.
async fn sign_in(state: &AppState, verified: Verified, address: &str) -> Result<Response, Refusal> {
    let settings = &state.oidc.providers[verified.provider];
    let provider = settings.name.clone();
    let store_failed = |e: &dyn std::fmt::Display| Refusal {
        provider: Some(provider.clone()),
        ..Refusal::new("account_store_failed").with(e)
    };
    let role = rules::mapped_role(
        &verified.claims,
        settings.role_claim.as_deref(),
        &settings.roles,
    );
    let name_hint = rules::username_hint(&verified.claims, &settings.username_claim);
    let identity = ExternalIdentity {
        provider: &provider,
        subject: &verified.subject,
        name_hint: &name_hint,
        role,
    };
    let account = external_accounts::provision(state, &identity)
        .await
        .map_err(|e| store_failed(&e))?;
    let detail = format!("provider={provider} address={address}");
    let session = accounts::open_session(state, &account, &detail)
        .await
        .map_err(|_| store_failed(&"the session could not be opened"))?;
    state
        .storage
        .record_oidc_session(&token_hash(&session.token), &provider, &verified.id_token)
        .await
        .map_err(|e| store_failed(&e))?;
    let mut response = redirect(&verified.return_to, &[binding_cookie(state, "", 0)]);
    response
        .headers_mut()
        .append(header::SET_COOKIE, session.cookie);
    Ok(response)
}

/// `POST /api/auth/logout`: ends the session as `DELETE /api/session` does; for a session a
/// provider opened, answers `{"end_session": URL}`, the provider's logout for the browser to
/// follow (RP-initiated logout, with `id_token_hint`), else `{"end_session": null}`.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let end_session = match accounts::presented_token(&headers) {
        Some(token) => end_session_url(&state, &token_hash(&token)).await,
        None => None,
    };
    let ended = accounts::sign_out(State(state.clone()), headers).await;
    if !ended.status().is_success() {
        return ended;
    }
    let mut response = Json(serde_json::json!({ "end_session": end_session })).into_response();
    for cookie in ended.headers().get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// The provider's logout URL for a session it opened, if it has one.
async fn end_session_url(state: &AppState, token_hash: &[u8]) -> Option<String> {
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    let (provider, id_token) = state.storage.oidc_session(token_hash, now).await.ok()??;
    let oidc = &state.oidc;
    let index = oidc.providers.iter().position(|p| p.name == provider)?;
    let metadata = oidc.metadata(index).await.ok()?;
    let endpoint = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let id_token: CoreIdToken = id_token.parse().ok()?;
    let url = LogoutRequest::from(endpoint)
        .set_id_token_hint(&id_token)
        .set_client_id(ClientId::new(oidc.providers[index].client_id.clone()))
        .set_post_logout_redirect_uri(oidc.post_logout_uri.clone())
        .http_get_url();
    Some(url.to_string())
}
