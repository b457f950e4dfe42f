//! OpenID Connect sign-in against providers on 127.0.0.1. The whole authorization code flow
//! against a real, OpenID Certified provider (npm `oidc-provider`, `tests/oidc-provider/op.mjs`)
//! driven over HTTP as a browser would (cookies, its login and consent forms) ends signed in,
//! with the role the user's `groups` map to, and RP-initiated logout ends it at both ends. Then
//! the attacks a provider, the network or another site can try, each refused by the server
//! and audited with its reason: an ID token whose signature was tampered with, with a wrong
//! nonce, expired, signed `alg: none` or HS256 (a malicious provider in this file crafts
//! them), a callback with a wrong `iss` (mix-up) or `state` (login CSRF), and a stolen code
//! injected into another sign-in, which fails for want of its PKCE verifier.

mod support;

use std::{
    collections::{BTreeMap, HashMap},
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use reqwest::{StatusCode, Url, redirect::Policy};
use sealroom_server::{
    accounts::create_account,
    config::{AccountSettings, Config},
    oidc::OidcProviderSettings,
    org_roles::OrgRole,
};
use serde_json::{Value, json};
use support::TestServer;

const CLIENT_ID: &str = "sealroom";
const CLIENT_SECRET: &str = "sealroom-secret";

/// The `[[oidc]]` entry for a provider at `issuer` named `name`.
fn provider_settings(name: &str, issuer: &str) -> OidcProviderSettings {
    OidcProviderSettings {
        name: name.into(),
        label: format!("{name} SSO"),
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: vec!["email".into(), "profile".into(), "groups".into()],
        username_claim: "preferred_username".into(),
        role_claim: Some("groups".into()),
        roles: BTreeMap::from([("sealroom-admins".into(), OrgRole::Admin)]),
        allow_http_on_loopback: true,
    }
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The real provider (`node op.mjs`), stopped when dropped.
struct RealProvider {
    child: Child,
    issuer: String,
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealProvider {
    /// Starts it on `port`, sending browsers back to `server`; returns once it serves.
    async fn start(port: u16, server: &str) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc-provider");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "{dir}/node_modules is missing: run scripts/setup (npm ci there)"
        );
        let child = Command::new("node")
            .arg("op.mjs")
            .current_dir(dir)
            .env("OP_PORT", port.to_string())
            .env("REDIRECT_URI", format!("{server}/auth/oidc/callback"))
            .env("POST_LOGOUT_URI", format!("{server}/"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let provider = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        let started = Instant::now();
        let probe = Browser::new();
        while probe.http.get(&discovery).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "op.mjs did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("op.mjs ready after {:?}", started.elapsed());
        provider
    }
}

/// A browser: a cookie jar, redirects followed by hand so each hop can be seen.
struct Browser {
    http: reqwest::Client,
}

impl Browser {
    fn new() -> Self {
        // rustls with the tree's crypto provider (aws-lc-rs), which reqwest would not pick.
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self { http }
    }

    /// Follows redirects from `response` (got from `url`) until `stop` says so or a page
    /// that is not a redirect: (its URL, the response).
    async fn follow(
        &self,
        mut url: Url,
        mut response: reqwest::Response,
        stop: impl Fn(&Url) -> bool,
    ) -> (Url, reqwest::Response) {
        for _ in 0..20 {
            if !response.status().is_redirection() {
                break;
            }
            let location = response.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap();
            url = url.join(location).unwrap();
            if stop(&url) {
                break;
            }
            response = self.http.get(url.clone()).send().await.unwrap();
        }
        (url, response)
    }

    async fn visit(&self, url: &str, stop: impl Fn(&Url) -> bool) -> (Url, reqwest::Response) {
        let url = Url::parse(url).unwrap();
        let response = self.http.get(url.clone()).send().await.unwrap();
        self.follow(url, response, stop).await
    }

    /// Fills the page's form (its hidden fields and `fields`), submits it, follows redirects.
    async fn submit(
        &self,
        page: &Url,
        html: &str,
        fields: &[(&str, &str)],
        stop: impl Fn(&Url) -> bool,
    ) -> (Url, reqwest::Response) {
        let (action, mut form) = parse_form(html);
        form.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let url = page.join(&action).unwrap();
        let response = self
            .http
            .post(url.clone())
            .form(&form)
            .send()
            .await
            .unwrap();
        self.follow(url, response, stop).await
    }

    async fn session(&self, server: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{server}/api/session"))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

/// The first form's action and hidden fields (oidc-provider's pages are plain HTML).
fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|at| {
            let rest = &tag[at + key.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
    };
    let form = &html[html.find("<form").expect("a form")..];
    let action = attr(&form[..form.find('>').unwrap()], "action").unwrap_or_default();
    let hidden = form
        .split("<input")
        .skip(1)
        .map(|tag| &tag[..tag.find('>').unwrap()])
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    (action, hidden)
}

/// Signs `login` in at the real provider from `/auth/oidc/corp/start`, stopping where `stop`
/// says: (the last URL, its response).
async fn sign_in_at_real_provider(
    browser: &Browser,
    server: &str,
    login: &str,
    stop: impl Fn(&Url) -> bool + Copy,
) -> (Url, reqwest::Response) {
    let start = format!("{server}/auth/oidc/corp/start");
    let (page, response) = browser.visit(&start, stop).await;
    let html = response.text().await.unwrap();
    assert!(html.contains("name=\"login\""), "a login form: {html}");
    let credentials = [("login", login), ("password", "any")];
    let (page, response) = browser.submit(&page, &html, &credentials, stop).await;
    if stop(&page) {
        return (page, response);
    }
    let html = response.text().await.unwrap();
    assert!(html.contains("consent"), "a consent form: {html}");
    browser.submit(&page, &html, &[], stop).await
}

/// The audit records outside rooms, as (action, detail).
async fn audit(server: &TestServer) -> Vec<(String, String)> {
    let records = server.server.storage.account_audit_log().await.unwrap();
    records
        .into_iter()
        .map(|r| (r.action, r.detail.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn signing_in_at_a_real_provider_makes_accounts_with_mapped_roles_and_logs_out_there() {
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let server = TestServer::start_configured(|config| {
        config.oidc = vec![provider_settings("corp", &issuer)];
    })
    .await;
    let url = server.url();
    // A local account already named "bob": the provider's bob must not take it over.
    let settings = AccountSettings::default();
    let storage = &server.server.storage;
    let passphrase = "bob keeps a long passphrase";
    let local = create_account(storage, &settings, "bob", passphrase, false, OrgRole::Owner);
    local.await.unwrap();
    let _op = RealProvider::start(op_port, &url).await;

    let providers: Value = Browser::new()
        .http
        .get(format!("{url}/api/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers, json!([{ "name": "corp", "label": "corp SSO" }]));

    let alice = Browser::new();
    let (landed, _) = sign_in_at_real_provider(&alice, &url, "alice", |_| false).await;
    assert_eq!(landed.as_str(), format!("{url}/"), "back home, signed in");
    let (status, body) = alice.session(&url).await;
    assert_eq!(
        (status, body["username"].as_str()),
        (StatusCode::OK, Some("alice"))
    );

    let bob = Browser::new();
    sign_in_at_real_provider(&bob, &url, "bob", |_| false).await;
    assert_eq!(bob.session(&url).await.1["username"], "bob-2");

    let roles = roles_by_name(&server).await;
    assert_eq!(roles["alice"], OrgRole::Admin, "groups has sealroom-admins");
    assert_eq!(roles["bob-2"], OrgRole::Member);
    assert_eq!(roles["bob"], OrgRole::Owner, "the local bob is untouched");

    // An account a provider made has no password to sign in with.
    let password = alice
        .http
        .post(format!("{url}/api/session"))
        .json(&json!({ "username": "alice", "password": "!external" }))
        .send()
        .await
        .unwrap();
    assert_eq!(password.status(), StatusCode::UNAUTHORIZED);

    let log = audit(&server).await;
    let signed_in = log
        .iter()
        .filter(|(a, d)| a == "signed_in" && d.contains("provider=corp"));
    assert_eq!(signed_in.count(), 2, "{log:?}");

    logout_through_provider(&alice, &url, &issuer).await;
}

/// Every account's role, by name.
async fn roles_by_name(server: &TestServer) -> HashMap<String, OrgRole> {
    let accounts = server.server.storage.accounts().await.unwrap();
    accounts
        .into_iter()
        .map(|a| (a.username, a.org_role))
        .collect()
}

/// RP-initiated logout: the local session ends, the answer names the provider's logout, and
/// its page sends the browser home.
async fn logout_through_provider(browser: &Browser, url: &str, issuer: &str) {
    let logout: Value = browser
        .http
        .post(format!("{url}/api/auth/logout"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let end_session = logout["end_session"]
        .as_str()
        .expect("a provider logout URL");
    assert!(end_session.starts_with(&format!("{issuer}/session/end?")));
    assert!(end_session.contains("id_token_hint="));
    assert_eq!(browser.session(url).await.0, StatusCode::UNAUTHORIZED);
    let (page, response) = browser.visit(end_session, |_| false).await;
    let html = response.text().await.unwrap();
    let (landed, _) = browser
        .submit(&page, &html, &[("logout", "yes")], |_| false)
        .await;
    assert_eq!(
        landed.as_str(),
        format!("{url}/"),
        "back from the provider's logout"
    );
}

#[tokio::test]
async fn a_stolen_code_injected_into_another_sign_in_fails_for_want_of_its_pkce_verifier() {
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let server = TestServer::start_configured(|config| {
        config.oidc = vec![provider_settings("corp", &issuer)];
    })
    .await;
    let url = server.url();
    let _op = RealProvider::start(op_port, &url).await;
    let at_callback = |u: &Url| u.path() == "/auth/oidc/callback";

    // The victim's code, caught on its way back (a leaked log, a malicious extension).
    let victim = Browser::new();
    let (callback, _) = sign_in_at_real_provider(&victim, &url, "alice", at_callback).await;
    let stolen: HashMap<String, String> = callback.query_pairs().into_owned().collect();

    // The attacker starts a sign-in of its own and hands its callback the victim's code: the
    // server redeems it with the attacker's PKCE verifier, which the provider refuses.
    let attacker = Browser::new();
    let start = format!("{url}/auth/oidc/corp/start");
    let (authorize, _) = attacker
        .visit(&start, |u| u.as_str().starts_with(&issuer))
        .await;
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1;
    let mut injected = Url::parse(&format!("{url}/auth/oidc/callback")).unwrap();
    injected
        .query_pairs_mut()
        .append_pair("code", &stolen["code"])
        .append_pair("state", &state)
        .append_pair("iss", &issuer);
    let (landed, _) = attacker.visit(injected.as_str(), |_| false).await;
    assert_eq!(landed.as_str(), format!("{url}/?sign_in=failed"));
    assert_eq!(attacker.session(&url).await.0, StatusCode::UNAUTHORIZED);
    let log = audit(&server).await;
    assert!(
        log.iter().any(|(a, d)| a == "sign_in_refused"
            && d.contains("reason=token_exchange_failed")
            && d.contains("invalid_grant")),
        "{log:?}"
    );
    assert!(!log.iter().any(|(a, _)| a == "signed_in"), "{log:?}");
}

/// What the malicious provider does wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Attack {
    /// Nothing: the control, which must sign in.
    Fair,
    /// Its ID token's claims are changed after signing (another user, the admin group).
    TamperedClaims,
    /// Its ID token carries another nonce (a token replayed from another sign-in).
    WrongNonce,
    /// Its ID token expired.
    Expired,
    /// Its ID token is unsigned: `alg: none`.
    AlgNone,
    /// Its ID token is signed HS256 with the client secret.
    Hs256,
    /// The callback's `iss` names another issuer (a mix-up).
    WrongIss,
    /// The callback's `state` is not the one sent (a login CSRF).
    WrongState,
}

/// A provider that answers every authorization at once and crafts its ID tokens.
struct Rogue {
    issuer: String,
    key: SigningKey,
    attack: Attack,
    nonce: Mutex<String>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

impl Rogue {
    /// The ID token this attack sends.
    fn id_token(&self) -> String {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer, "sub": "mallory-1", "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "nonce": *self.nonce.lock().unwrap(),
            "preferred_username": "mallory", "groups": ["staff"],
        });
        match self.attack {
            Attack::WrongNonce => claims["nonce"] = json!("a-nonce-from-another-sign-in"),
            Attack::Expired => {
                claims["iat"] = json!(now - 400);
                claims["exp"] = json!(now - 100);
            }
            _ => {}
        }
        let alg = match self.attack {
            Attack::AlgNone => "none",
            Attack::Hs256 => "HS256",
            _ => "EdDSA",
        };
        let header = json!({ "alg": alg, "kid": "rogue-1", "typ": "JWT" });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match self.attack {
            Attack::AlgNone => Vec::new(),
            Attack::Hs256 => {
                let mut mac =
                    Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
                mac.update(input.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            _ => self.key.sign(input.as_bytes()).to_bytes().to_vec(),
        };
        if self.attack == Attack::TamperedClaims {
            claims["sub"] = json!("alice");
            claims["groups"] = json!(["sealroom-admins"]);
            let forged = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            return format!("{forged}.{}", b64(&signature));
        }
        format!("{input}.{}", b64(&signature))
    }
}

async fn rogue_discovery(State(rogue): State<Arc<Rogue>>) -> Json<Value> {
    let issuer = &rogue.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA", "RS256", "HS256", "none"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn rogue_jwks(State(rogue): State<Arc<Rogue>>) -> Json<Value> {
    let x = b64(rogue.key.verifying_key().as_bytes());
    Json(
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "rogue-1", "use": "sig", "alg": "EdDSA" }] }),
    )
}

async fn rogue_authorize(
    State(rogue): State<Arc<Rogue>>,
    Query(query): Query<HashMap<String, String>>,
) -> Redirect {
    *rogue.nonce.lock().unwrap() = query["nonce"].clone();
    let state = match rogue.attack {
        Attack::WrongState => "a-state-from-another-browser".to_owned(),
        _ => query["state"].clone(),
    };
    let iss = match rogue.attack {
        Attack::WrongIss => "https://honest-provider.example".to_owned(),
        _ => rogue.issuer.clone(),
    };
    let params = [("code", "rogue-code"), ("state", &state), ("iss", &iss)];
    let back = Url::parse_with_params(&query["redirect_uri"], params).unwrap();
    Redirect::to(back.as_str())
}

async fn rogue_token(
    State(rogue): State<Arc<Rogue>>,
    Form(_form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    Json(json!({
        "access_token": "rogue-access-token", "token_type": "Bearer", "expires_in": 300,
        "id_token": rogue.id_token(),
    }))
}

/// Starts a rogue provider playing `attack`, a server that trusts it, and a browser's sign-in
/// there: (the server, where the browser landed, the browser).
async fn sign_in_at_rogue(attack: Attack) -> (TestServer, Url, Browser) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let rogue = Arc::new(Rogue {
        issuer: issuer.clone(),
        key: SigningKey::from_bytes(&[7; 32]),
        attack,
        nonce: Mutex::default(),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(rogue_discovery))
        .route("/jwks", get(rogue_jwks))
        .route("/authorize", get(rogue_authorize))
        .route("/token", post(rogue_token))
        .with_state(rogue);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start_configured(|config: &mut Config| {
        config.oidc = vec![provider_settings("rogue", &issuer)];
    })
    .await;
    let browser = Browser::new();
    let start = format!("{}/auth/oidc/rogue/start", server.url());
    let (landed, _) = browser.visit(&start, |_| false).await;
    (server, landed, browser)
}

/// The attack is refused: back home with `sign_in=failed`, no session, no `signed_in`, and a
/// `sign_in_refused` record whose detail has `reason` and no token.
async fn assert_refused(attack: Attack, reason: &str) {
    let (server, landed, browser) = sign_in_at_rogue(attack).await;
    let url = server.url();
    assert_eq!(
        landed.as_str(),
        format!("{url}/?sign_in=failed"),
        "{attack:?}"
    );
    assert_eq!(browser.session(&url).await.0, StatusCode::UNAUTHORIZED);
    let log = audit(&server).await;
    assert!(!log.iter().any(|(a, _)| a == "signed_in"), "{log:?}");
    let refusal = log
        .iter()
        .find(|(a, _)| a == "sign_in_refused")
        .unwrap_or_else(|| panic!("{attack:?}: no refusal in {log:?}"));
    assert!(
        refusal.1.contains(&format!("reason={reason} ")),
        "{attack:?}: {}",
        refusal.1
    );
    assert!(refusal.1.contains("provider=rogue"), "{}", refusal.1);
    assert!(
        !refusal.1.contains("eyJ"),
        "a token in the audit log: {}",
        refusal.1
    );
    eprintln!("{attack:?}: {}", refusal.1);
}

#[tokio::test]
async fn the_malicious_provider_signs_in_when_it_plays_fair() {
    let (server, landed, browser) = sign_in_at_rogue(Attack::Fair).await;
    let url = server.url();
    assert_eq!(landed.as_str(), format!("{url}/"));
    assert_eq!(browser.session(&url).await.1["username"], "mallory");
}

#[tokio::test]
async fn an_id_token_with_tampered_claims_is_refused() {
    assert_refused(Attack::TamperedClaims, "id_token_signature").await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    assert_refused(Attack::WrongNonce, "id_token_nonce").await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    assert_refused(Attack::Expired, "id_token_expired").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_id_token_is_refused() {
    assert_refused(Attack::AlgNone, "id_token_algorithm").await;
}

#[tokio::test]
async fn an_hs256_id_token_signed_with_the_client_secret_is_refused() {
    assert_refused(Attack::Hs256, "id_token_algorithm").await;
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused() {
    assert_refused(Attack::WrongIss, "issuer_mismatch").await;
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused() {
    assert_refused(Attack::WrongState, "state_mismatch").await;
}

#[test]
fn an_http_issuer_off_loopback_is_refused_at_start() {
    let mut config = Config {
        oidc: vec![provider_settings("corp", "http://id.corp.example")],
        ..Config::default()
    };
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("plain HTTP off loopback"), "{error}");
    config.oidc[0].allow_http_on_loopback = false;
    config.oidc[0].issuer = "http://127.0.0.1:9000".into();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("allow_http_on_loopback = true"), "{error}");
}
