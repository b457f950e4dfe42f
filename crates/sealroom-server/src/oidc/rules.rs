//! The sans-IO parts of OpenID Connect sign-in: the `[[oidc]]` settings and their checks, the
//! sign-ins under way (state, nonce and PKCE verifier, bound to the browser), the RFC 9207
//! `iss` check, and what an account's name and role are made of from the claims.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    time::{Duration, Instant},
};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{config::ConfigError, org_roles::OrgRole};

/// One identity provider, a `[[oidc]]` table of the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// Slug used in URLs (`/auth/oidc/{name}/start`) and in the audit log.
    pub name: String,
    /// The sign-in button's text ("Sign in with {label}").
    pub label: String,
    /// The issuer URL; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret; none: a public client (PKCE is sent either way).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim an account's name is made from (then `email`, then `sub`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim (a string or a list of strings) that `roles` maps; none: everyone a member.
    #[serde(default)]
    pub role_claim: Option<String>,
    /// Values of `role_claim` to organisation roles; the most powerful match wins, no match
    /// is `member`.
    #[serde(default)]
    pub roles: BTreeMap<String, OrgRole>,
    /// Accept an `http://` issuer on a loopback address (a provider on the same machine, or
    /// tests); any other `http://` issuer is refused.
    #[serde(default)]
    pub allow_http_on_loopback: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

/// Checks the providers: slugs, labels, issuers (HTTPS, or HTTP on loopback when allowed).
pub fn validate_providers(providers: &[OidcProviderSettings]) -> Result<(), ConfigError> {
    let invalid = |message: String| Err(ConfigError::Invalid(message));
    for (i, provider) in providers.iter().enumerate() {
        let name = &provider.name;
        let slug = name.len() <= 32
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug {
            return invalid(format!("oidc name {name:?}: 1-32 of a-z, 0-9 and '-'"));
        }
        if providers[..i].iter().any(|other| other.name == *name) {
            return invalid(format!("oidc name {name:?} is used twice"));
        }
        if provider.label.trim().is_empty() || provider.client_id.is_empty() {
            return invalid(format!(
                "oidc {name}: label and client_id must not be empty"
            ));
        }
        if let Err(reason) = check_issuer(&provider.issuer, provider.allow_http_on_loopback) {
            return invalid(format!(
                "oidc {name}: issuer {:?} {reason}",
                provider.issuer
            ));
        }
    }
    Ok(())
}

/// An issuer must be HTTPS: tokens and the provider's keys cross the network. HTTP is allowed
/// only to a loopback address, and only when the operator says so.
fn check_issuer(issuer: &str, allow_http_on_loopback: bool) -> Result<(), &'static str> {
    let url = openidconnect::url::Url::parse(issuer).map_err(|_| "is not a URL")?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must have no query or fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if !allow_http_on_loopback => Err(
            "is plain HTTP: use https://, or for a provider on this machine's loopback set \
             allow_http_on_loopback = true",
        ),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err("is plain HTTP off loopback: allow_http_on_loopback covers loopback only"),
        _ => Err("must be https://"),
    }
}

fn is_loopback_host(url: &openidconnect::url::Url) -> bool {
    match url.host() {
        Some(openidconnect::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(openidconnect::url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// RFC 9207 mix-up defence: the `iss` the callback carries must be the issuer the browser was
/// sent to. A provider that says it sends `iss` must send it; one that does not say so may
/// leave it out (its ID token's `iss` is still checked).
pub fn check_iss_parameter(
    received: Option<&str>,
    issuer: &str,
    provider_sends_iss: bool,
) -> Result<(), &'static str> {
    match received {
        Some(iss) if iss == issuer => Ok(()),
        Some(_) => Err("issuer_mismatch"),
        None if provider_sends_iss => Err("issuer_missing"),
        None => Ok(()),
    }
}

/// A local path to come back to after signing in: `/…`, never `//host` or `/\host` (which
/// browsers take for another site), no control characters; anything else is `/`.
pub fn safe_return_path(candidate: Option<&str>) -> String {
    candidate
        .filter(|path| {
            path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 512
                && !path.chars().any(|c| c.is_control() || c == '\\')
        })
        .unwrap_or("/")
        .to_owned()
}

/// What a new account's name is made from: `username_claim`, else the e-mail's local part,
/// else the subject (`external_accounts::account_name_base` keeps what names allow).
pub fn username_hint(claims: &Map<String, Value>, username_claim: &str) -> String {
    let from = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_owned);
    from(username_claim)
        .or_else(|| from("email").map(|email| email.split('@').next().unwrap_or("").into()))
        .or_else(|| from("sub"))
        .unwrap_or_default()
}

/// The role `roles` gives the values of `role_claim` (a string or a list of strings): the
/// most powerful match, or `member`.
pub fn mapped_role(
    claims: &Map<String, Value>,
    role_claim: Option<&str>,
    roles: &BTreeMap<String, OrgRole>,
) -> OrgRole {
    let values: Vec<&str> = match role_claim.and_then(|claim| claims.get(claim)) {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let granted: Vec<OrgRole> = values
        .iter()
        .filter_map(|v| roles.get(*v))
        .copied()
        .collect();
    OrgRole::ALL
        .into_iter()
        .find(|role| granted.contains(role))
        .unwrap_or_default()
}

/// A sign-in sent to a provider, waiting for the browser to come back.
#[derive(Debug)]
pub struct Pending {
    /// The provider's index in the configuration.
    pub provider: usize,
    /// The `state` sent; the callback's must equal it.
    pub state: String,
    /// The `nonce` sent; the ID token's must equal it.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
    /// Where the browser goes once signed in.
    pub return_to: String,
    made: Instant,
}

/// How long a browser may take at the provider.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// At most this many sign-ins under way: a flood of starts cannot fill memory.
pub const MAX_PENDING: usize = 10_000;

/// The sign-ins under way, by the SHA-256 of the browser's binding cookie (kept hashed, like
/// session tokens). Each is taken once.
#[derive(Default)]
pub struct PendingSignIns {
    by_binding: HashMap<[u8; 32], Pending>,
}

impl Pending {
    /// A sign-in started now.
    pub fn new(
        provider: usize,
        state: String,
        nonce: String,
        pkce_verifier: String,
        return_to: String,
        now: Instant,
    ) -> Self {
        Self {
            provider,
            state,
            nonce,
            pkce_verifier,
            return_to,
            made: now,
        }
    }
}

impl PendingSignIns {
    /// Keeps `pending`; `false` if too many are under way.
    pub fn insert(&mut self, binding: [u8; 32], pending: Pending, now: Instant) -> bool {
        self.by_binding
            .retain(|_, p| now.duration_since(p.made) < PENDING_LIFETIME);
        if self.by_binding.len() >= MAX_PENDING {
            return false;
        }
        self.by_binding.insert(binding, pending);
        true
    }

    /// Takes the sign-in bound to `binding`, if it has not expired.
    pub fn take(&mut self, binding: &[u8; 32], now: Instant) -> Option<Pending> {
        self.by_binding
            .remove(binding)
            .filter(|p| now.duration_since(p.made) < PENDING_LIFETIME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: Value) -> Map<String, Value> {
        json.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn issuers_are_https_or_opted_in_loopback_http() {
        assert!(check_issuer("https://id.example", false).is_ok());
        assert!(check_issuer("http://127.0.0.1:9000", false).is_err());
        assert!(check_issuer("http://127.0.0.1:9000", true).is_ok());
        assert!(check_issuer("http://[::1]:9000", true).is_ok());
        assert!(check_issuer("http://id.example", true).is_err());
        assert!(check_issuer("ftp://id.example", true).is_err());
    }

    #[test]
    fn return_paths_stay_on_this_site() {
        assert_eq!(safe_return_path(Some("/quiet-otter")), "/quiet-otter");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "x",
        ] {
            assert_eq!(safe_return_path(Some(bad)), "/");
        }
        assert_eq!(safe_return_path(None), "/");
    }

    #[test]
    fn the_iss_parameter_must_name_the_issuer() {
        let issuer = "https://id.example";
        assert!(check_iss_parameter(Some(issuer), issuer, true).is_ok());
        assert!(check_iss_parameter(Some("https://evil.example"), issuer, false).is_err());
        assert!(check_iss_parameter(None, issuer, true).is_err());
        assert!(check_iss_parameter(None, issuer, false).is_ok());
    }

    #[test]
    fn names_and_roles_come_from_claims() {
        let c = claims(serde_json::json!({
            "sub": "x1", "email": "Ann.Lee@corp.example", "groups": ["staff", "sealroom-admins"]
        }));
        assert_eq!(username_hint(&c, "preferred_username"), "Ann.Lee");
        assert_eq!(
            username_hint(&claims(serde_json::json!({"sub": "a b"})), "x"),
            "a b"
        );
        let roles = BTreeMap::from([
            ("sealroom-admins".to_owned(), OrgRole::Admin),
            ("staff".to_owned(), OrgRole::Auditor),
        ]);
        assert_eq!(mapped_role(&c, Some("groups"), &roles), OrgRole::Admin);
        assert_eq!(mapped_role(&c, None, &roles), OrgRole::Member);
        let one = claims(serde_json::json!({"groups": "staff"}));
        assert_eq!(mapped_role(&one, Some("groups"), &roles), OrgRole::Auditor);
    }

    #[test]
    fn pending_sign_ins_are_taken_once_and_expire() {
        let now = Instant::now();
        let mut pending = PendingSignIns::default();
        let p = || Pending::new(0, "s".into(), "n".into(), "v".into(), "/".into(), now);
        assert!(pending.insert([1; 32], p(), now));
        assert!(pending.take(&[1; 32], now).is_some());
        assert!(pending.take(&[1; 32], now).is_none());
        assert!(pending.insert([2; 32], p(), now));
        assert!(pending.take(&[2; 32], now + PENDING_LIFETIME).is_none());
    }
}
