//! Organisation roles: what an account is in the organisation, as opposed to what a participant
//! is in one meeting (`sealroom_protocol::Role`). A guest has no account and so no role here.
//! Stored with the account (`accounts.org_role`); set by `sealroom account add --role` and
//! `sealroom account set-role`, and by an identity provider's mapping at sign-in.

use std::{fmt, str::FromStr};

/// An account's role in the organisation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Holds the organisation: everything an admin may, and naming other owners.
    Owner,
    /// Runs the organisation's accounts, rooms and settings.
    Admin,
    /// Reads the audit log; changes nothing.
    Auditor,
    /// Signs in to meet.
    #[default]
    Member,
}

impl OrgRole {
    /// Every role, from the most powerful.
    pub const ALL: [OrgRole; 4] = [Self::Owner, Self::Admin, Self::Auditor, Self::Member];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
            Self::Member => "member",
        }
    }
}

/// What the administration lets a role do: the one table (docs/ARCHITECTURE.md repeats it),
/// checked in one place, `admin::authorise`, for every administrative request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// List the accounts and their roles.
    ReadAccounts,
    /// Give an account the admin, auditor or member role; end its sessions.
    ManageAccounts,
    /// Make an account an owner, or take that role from one.
    ManageOwners,
    /// Read and export the audit log.
    ReadAudit,
    /// Make, list and revoke API tokens (each with at most its maker's permissions).
    ManageTokens,
    /// Read and change the organisation's settings (the MFA policy).
    ManageSettings,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 6] = [
        Self::ReadAccounts,
        Self::ManageAccounts,
        Self::ManageOwners,
        Self::ReadAudit,
        Self::ManageTokens,
        Self::ManageSettings,
    ];
}

impl OrgRole {
    /// Whether this role has `permission`: owners everything; admins all but naming owners;
    /// auditors only reading the audit log; members nothing of the administration.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Owner => true,
            Self::Admin => !matches!(permission, ManageOwners),
            Self::Auditor => matches!(permission, ReadAudit),
            Self::Member => false,
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgRole {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("unknown role {text:?}: one of owner, admin, auditor, member"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Permission::*;
        let allowed = |role: OrgRole| -> Vec<Permission> {
            Permission::ALL
                .into_iter()
                .filter(|p| role.may(*p))
                .collect()
        };
        assert_eq!(allowed(OrgRole::Owner), Permission::ALL);
        assert_eq!(
            allowed(OrgRole::Admin),
            [
                ReadAccounts,
                ManageAccounts,
                ReadAudit,
                ManageTokens,
                ManageSettings
            ]
        );
        assert_eq!(allowed(OrgRole::Auditor), [ReadAudit]);
        assert!(allowed(OrgRole::Member).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for role in OrgRole::ALL {
            assert_eq!(role.as_str().parse::<OrgRole>(), Ok(role));
        }
        assert!("root".parse::<OrgRole>().is_err());
    }
}
