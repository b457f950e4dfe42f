//! LDAP and Active Directory sign-in (`docs/sign-in.md`): `POST /api/auth/ldap/{name}` takes
//! what `POST /api/session` takes and answers as it does. Search-then-bind: the server binds as
//! the directory's service account, searches `user_base` with `user_filter` (the typed name
//! escaped), needs exactly one entry, and binds as that entry's DN with the typed password;
//! the entry's groups map to an organisation role. Only over LDAPS or StartTLS (plain LDAP to
//! loopback when the operator opts in). Every refusal is `invalid_credentials` to the client
//! and its true reason in the audit log, never the password; the name only as a hash prefix.

mod rules;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, SearchResult,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use rules::{LdapDirectorySettings, validate_directories};

use crate::{
    AppState,
    accounts::{self, api_error},
    client_address::client_address,
    external_accounts::{self, ExternalIdentity},
    mfa::FactorProof,
    storage::{AuditAction, StorageError},
};

/// LDAP's "invalid credentials" result code (RFC 4511): a wrong password, or (Active
/// Directory) a locked, disabled or expired account.
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP's "size limit exceeded": the filter matched more than one entry.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// One configured directory, ready to be asked.
struct Directory {
    settings: LdapDirectorySettings,
    bind_password: String,
    tls: Arc<rustls::ClientConfig>,
}

/// The configured directories.
pub(crate) struct Directories {
    directories: Vec<Directory>,
}

impl Directories {
    /// Reads each directory's service password file and CA file now, so a mistake stops the
    /// start with the directory named rather than failing sign-ins later.
    pub(crate) fn new(settings: &[LdapDirectorySettings]) -> anyhow::Result<Self> {
        let directories = settings
            .iter()
            .map(|s| Directory::new(s).map_err(|e| anyhow::anyhow!("ldap {}: {e:#}", s.name)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { directories })
    }

    /// The directories as the console lists them, without their bind passwords.
    pub(crate) fn summaries(&self) -> Vec<crate::admin::ProviderSummary> {
        let summary = |d: &Directory| crate::admin::ProviderSummary {
            kind: "ldap",
            name: d.settings.name.clone(),
            label: d.settings.label.clone(),
            location: d.settings.url.clone(),
            role_source: Some(d.settings.group_attribute.clone()),
            roles: d.settings.roles.clone(),
        };
        self.directories.iter().map(summary).collect()
    }

    fn named(&self, name: &str) -> Option<&Directory> {
        self.directories.iter().find(|d| d.settings.name == name)
    }
}

impl Directory {
    fn new(settings: &LdapDirectorySettings) -> anyhow::Result<Self> {
        let bind_password = match (&settings.bind_password, &settings.bind_password_file) {
            (Some(password), _) => password.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("bind_password_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => anyhow::bail!("no bind password"),
        };
        Ok(Self {
            settings: settings.clone(),
            bind_password,
            tls: Arc::new(crate::tls::client_config(settings.ca_file.as_deref())?),
        })
    }
}

/// `GET /api/auth/directories`: `[{"name","label"}]`, for the sign-in form.
pub async fn directories(State(state): State<Arc<AppState>>) -> Response {
    let list: Vec<_> = state
        .ldap
        .directories
        .iter()
        .map(|d| serde_json::json!({ "name": d.settings.name, "label": d.settings.label }))
        .collect();
    Json(list).into_response()
}

/// `POST /api/auth/ldap/{name}` body: what `POST /api/session` takes.
#[derive(Deserialize)]
pub struct DirectorySignIn {
    username: String,
    password: String,
    /// The second factor, for an account that has enrolled one here.
    #[serde(flatten)]
    factor: FactorProof,
}

/// Why a directory sign-in did not happen.
enum Failure {
    /// The directory said no (or the request was refused before asking it): 401.
    Refused {
        reason: &'static str,
        dn: Option<String>,
        error: Option<String>,
    },
    /// The directory could not be asked (down, its TLS not trusted, the service account
    /// refused): 503.
    Unavailable { reason: &'static str, error: String },
}

fn refused(reason: &'static str) -> Failure {
    Failure::Refused {
        reason,
        dn: None,
        error: None,
    }
}

fn unavailable(reason: &'static str) -> impl FnOnce(ldap3::LdapError) -> Failure {
    move |error| Failure::Unavailable {
        reason,
        error: one_line(&error),
    }
}

/// An error's text, short and on one line, for the audit log.
fn one_line(error: &dyn std::fmt::Display) -> String {
    let text: String = error.to_string().chars().take(200).collect();
    text.replace(|c: char| c.is_control(), " ")
}

/// A user the directory vouched for.
struct DirectoryUser {
    dn: String,
    subject: String,
    name_hint: String,
    groups: Vec<String>,
}

/// `POST /api/auth/ldap/{name}`: sign in with a directory's name and password.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(request): Json<DirectorySignIn>,
) -> Response {
    let Some(directory) = state.ldap.named(&name) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "unknown_directory",
            "no directory has this name",
            None,
        );
    };
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    if let Err(limited) = accounts::spend_sign_in_attempt(&state, address, &request.username).await
    {
        return limited;
    }
    let user = match check_with_directory(directory, &request).await {
        Ok(user) => user,
        Err(failure) => return refuse(&state, directory, &request, address, failure).await,
    };
    let settings = &directory.settings;
    let provider = format!("ldap/{}", settings.name);
    let identity = ExternalIdentity {
        provider: &provider,
        subject: &user.subject,
        name_hint: &user.name_hint,
        role: rules::mapped_role(&user.groups, &settings.roles),
    };
    let account = match external_accounts::provision(&state, &identity).await {
        Ok(account) => account,
        Err(error) => return accounts::internal_error(&error),
    };
    if let Err(failure) = second_factor(&state, &account.username, &request, &user.dn).await {
        return match failure {
            Ok(failure) => refuse(&state, directory, &request, address, failure).await,
            Err(error) => accounts::internal_error(&error),
        };
    }
    let detail = format!(
        "directory={} dn={:?} address={address}",
        settings.name, user.dn
    );
    accounts::signed_in_answer(&state, &headers, account, &detail).await
}

/// The second factor the account enrolled here, if it did: the directory vouches for the
/// password only.
async fn second_factor(
    state: &AppState,
    username: &str,
    request: &DirectorySignIn,
    dn: &str,
) -> Result<(), Result<Failure, StorageError>> {
    let stored = state.storage.account_by_name(username).await.map_err(Err)?;
    let stored = stored.ok_or_else(|| Err(StorageError::Corrupt(format!("account {username}"))))?;
    let checked = accounts::check_enrolled_factor(state, &stored, &request.factor).await;
    checked.map_err(Err)?.map_err(|reason| {
        Ok(Failure::Refused {
            reason,
            dn: Some(dn.to_owned()),
            error: None,
        })
    })
}

/// Audits why, and answers `invalid_credentials` (401) or `directory_unavailable` (503).
async fn refuse(
    state: &AppState,
    directory: &Directory,
    request: &DirectorySignIn,
    address: std::net::IpAddr,
    failure: Failure,
) -> Response {
    // The typed name only as a hash prefix: a password typed into the name field stays out.
    let digest = Sha256::digest(request.username.as_bytes());
    let mut detail = String::new();
    let (reason, dn, error) = match &failure {
        Failure::Refused { reason, dn, error } => (*reason, dn.as_deref(), error.as_deref()),
        Failure::Unavailable { reason, error } => (*reason, None, Some(error.as_str())),
    };
    detail.push_str(&format!(
        "reason={reason} directory={} username_sha256={} address={address}",
        directory.settings.name,
        hex::encode(&digest[..4])
    ));
    if let Some(dn) = dn {
        detail.push_str(&format!(" dn={dn:?}"));
    }
    if let Some(error) = error {
        detail.push_str(&format!(" error={error:?}"));
    }
    state
        .audit_outside_rooms(AuditAction::SignInRefused, None, &detail)
        .await;
    match failure {
        Failure::Refused { .. } => api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the account name or the password is wrong",
            None,
        ),
        Failure::Unavailable { .. } => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "directory_unavailable",
            "the directory cannot be reached: try again later",
            None,
        ),
    }
}

/// Checks the request, then asks the directory, all within a bound on time.
async fn check_with_directory(
    directory: &Directory,
    request: &DirectorySignIn,
) -> Result<DirectoryUser, Failure> {
    // An empty password makes a simple bind "unauthenticated" (RFC 4513 5.1.2), which many
    // servers answer with success: it must never reach the directory.
    if request.password.is_empty() {
        return Err(refused("password_empty"));
    }
    rules::check_username(&request.username).map_err(refused)?;
    // Connect, bind, search, bind, unbind: each has the timeout; this bounds them all.
    let limit = directory.settings.timeout() * 5;
    let asked = authenticate(directory, &request.username, &request.password);
    tokio::time::timeout(limit, asked)
        .await
        .unwrap_or_else(|_| {
            Err(Failure::Unavailable {
                reason: "directory_unavailable",
                error: format!("no answer within {} s", limit.as_secs()),
            })
        })
}

/// Search-then-bind on a fresh connection, closed afterwards whatever happened.
async fn authenticate(
    directory: &Directory,
    username: &str,
    password: &str,
) -> Result<DirectoryUser, Failure> {
    let settings = &directory.settings;
    let connection = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout())
        .set_starttls(settings.starttls)
        .set_config(directory.tls.clone());
    let (driver, mut ldap) = LdapConnAsync::with_settings(connection, &settings.url)
        .await
        .map_err(unavailable("directory_unavailable"))?;
    ldap3::drive!(driver);
    let outcome = search_then_bind(directory, &mut ldap, username, password).await;
    let _ = ldap.unbind().await;
    outcome
}

async fn search_then_bind(
    directory: &Directory,
    ldap: &mut Ldap,
    username: &str,
    password: &str,
) -> Result<DirectoryUser, Failure> {
    let settings = &directory.settings;
    let service = ldap
        .with_timeout(settings.timeout())
        .simple_bind(&settings.bind_dn, &directory.bind_password)
        .await
        .map_err(unavailable("directory_unavailable"))?;
    if service.rc != 0 {
        return Err(Failure::Unavailable {
            reason: "service_bind_refused",
            error: one_line(&service),
        });
    }
    let entry = find_user(directory, ldap, username).await?;
    let user = directory_user(settings, &entry, username);
    let bound = ldap
        .with_timeout(settings.timeout())
        .simple_bind(&entry.dn, password)
        .await
        .map_err(unavailable("directory_unavailable"))?;
    match bound.rc {
        0 => Ok(user),
        rc => Err(Failure::Refused {
            reason: if rc == INVALID_CREDENTIALS {
                "password_wrong"
            } else {
                "bind_refused"
            },
            dn: Some(entry.dn),
            error: Some(one_line(&bound)),
        }),
    }
}

/// The one entry the filter finds for `username`: none or several is a refusal.
async fn find_user(
    directory: &Directory,
    ldap: &mut Ldap,
    username: &str,
) -> Result<SearchEntry, Failure> {
    let settings = &directory.settings;
    let filter = rules::user_filter(&settings.user_filter, username);
    let attributes = vec![
        settings.username_attribute.as_str(),
        settings.group_attribute.as_str(),
        "entryUUID",
        "objectGUID",
    ];
    // Two are enough to know the name is ambiguous.
    let SearchResult(entries, result) = ldap
        .with_timeout(settings.timeout())
        .with_search_options(SearchOptions::new().sizelimit(2))
        .search(&settings.user_base, Scope::Subtree, &filter, attributes)
        .await
        .map_err(unavailable("directory_unavailable"))?;
    // Active Directory answers searches with referrals besides entries: not users.
    let mut entries: Vec<SearchEntry> = entries
        .into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
        .map(SearchEntry::construct)
        .collect();
    match (result.rc, entries.len()) {
        (SIZE_LIMIT_EXCEEDED, _) | (0, 2..) => Err(refused("ambiguous_user")),
        (0, 0) => Err(refused("no_such_user")),
        // An empty DN would make the user's bind anonymous.
        (0, 1) if entries[0].dn.trim().is_empty() => Err(refused("entry_without_dn")),
        (0, 1) => Ok(entries.remove(0)),
        _ => Err(Failure::Unavailable {
            reason: "search_failed",
            error: one_line(&result),
        }),
    }
}

/// The entry's subject, name hint and groups. Attribute names compare without case, as LDAP
/// compares them.
fn directory_user(
    settings: &LdapDirectorySettings,
    entry: &SearchEntry,
    username: &str,
) -> DirectoryUser {
    let values = |name: &str| {
        entry
            .attrs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, values)| values.clone())
            .unwrap_or_default()
    };
    let binary = |name: &str| {
        let text = values(name).into_iter().next().map(String::into_bytes);
        entry
            .bin_attrs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first().cloned())
            .or(text)
    };
    let entry_uuid = values("entryUUID").into_iter().next();
    let object_guid = binary("objectGUID");
    let name_hint = values(&settings.username_attribute)
        .into_iter()
        .next()
        .unwrap_or_else(|| username.to_owned());
    DirectoryUser {
        dn: entry.dn.clone(),
        subject: rules::subject(entry_uuid.as_deref(), object_guid.as_deref(), &entry.dn),
        name_hint,
        groups: values(&settings.group_attribute),
    }
}
