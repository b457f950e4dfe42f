//! Accounts of people who sign in elsewhere (an OpenID Connect provider, an LDAP directory):
//! `external_identities (provider, subject) → account` finds a returning identity whatever its
//! account's name; the first sign-in makes the account, named from what the identity offers
//! and never taking over an existing one; the role follows the identity's groups or claims at
//! every sign-in.

use crate::{
    AppState, accounts::Account, org_roles::OrgRole, storage::AuditAction, storage::StorageError,
};

/// An identity a provider or directory vouched for.
pub(crate) struct ExternalIdentity<'a> {
    /// `name` for an `[[oidc]]` provider, `ldap/name` for an `[[ldap]]` directory: the `/`
    /// keeps the two apart, as slugs have none.
    pub(crate) provider: &'a str,
    /// Who it is for good at that provider.
    pub(crate) subject: &'a str,
    /// What a new account's name is made from.
    pub(crate) name_hint: &'a str,
    /// The organisation role its groups or claims give.
    pub(crate) role: OrgRole,
}

/// The account of this identity, made on its first sign-in; its role is set to `role` at
/// every sign-in, so leaving a group takes effect at the next one.
pub(crate) async fn provision(
    state: &AppState,
    identity: &ExternalIdentity<'_>,
) -> Result<Account, StorageError> {
    let storage = &state.storage;
    let provider = identity.provider;
    let role = identity.role;
    let existing = storage.external_account(provider, identity.subject).await?;
    let account = match existing {
        Some(account) => {
            if account.org_role != role {
                storage.set_account_role(&account.username, role).await?;
                let detail = format!(
                    "account={} role={role} provider={provider}",
                    account.username
                );
                state
                    .audit_outside_rooms(AuditAction::AccountRoleChanged, None, &detail)
                    .await;
            }
            account
        }
        None => {
            let base = account_name_base(identity.name_hint);
            let account = storage
                .create_external_account(provider, identity.subject, &base, role)
                .await?;
            let detail = format!(
                "account={} role={role} provider={provider} subject={:?}",
                account.username, identity.subject
            );
            state
                .audit_outside_rooms(AuditAction::AccountCreated, None, &detail)
                .await;
            account
        }
    };
    Ok(Account {
        id: account.id,
        username: account.username,
    })
}

/// A new account's name made of the characters account names allow (at most 48, leaving room
/// for a `-N` that makes it unique), or `user`.
pub(crate) fn account_name_base(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '@' => c,
            _ => '-',
        })
        .take(48)
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "user".into()
    } else {
        cleaned.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_what_account_names_allow() {
        assert_eq!(account_name_base("Ann.Lee"), "Ann.Lee");
        assert_eq!(account_name_base("a b"), "a-b");
        assert_eq!(account_name_base("(*)"), "user");
        assert_eq!(account_name_base(&"x".repeat(60)).len(), 48);
    }
}
