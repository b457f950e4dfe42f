//! The identity providers as the console shows them (`manage_settings`): each OpenID Connect
//! provider and LDAP or Active Directory directory the configuration names, where it is, and
//! how its claims or groups map to organisation roles — never a client secret or a bind
//! password. They are set in the configuration file and read at start (`docs/sign-in.md`).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;

use super::authorise;
use crate::{AppState, org_roles::OrgRole, org_roles::Permission};

pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/admin/identity-providers", get(list))
}

/// One identity provider, without its secrets.
#[derive(Serialize)]
pub(crate) struct ProviderSummary {
    /// `oidc` or `ldap`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) label: String,
    /// The issuer, or the directory's URL.
    pub(crate) location: String,
    /// The claim, or the attribute listing groups, that the roles map.
    pub(crate) role_source: Option<String>,
    /// Claim values or group DNs to roles; no match is `member`.
    pub(crate) roles: BTreeMap<String, OrgRole>,
}

/// `GET /api/admin/identity-providers`.
async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorise(&state, &headers, Permission::ManageSettings).await {
        return refused;
    }
    let mut providers = state.oidc.summaries();
    providers.extend(state.ldap.summaries());
    Json(providers).into_response()
}
