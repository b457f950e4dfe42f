//! What the administration API keeps: accounts' roles as it checks them, sessions it ends, and
//! API tokens (only their SHA-256).

use sqlx::Row;

use super::{Storage, StorageError, org_role};
use crate::org_roles::{OrgRole, Permission};

/// An API token as a request presents it: whose, and what it may do.
#[derive(Clone, Debug)]
pub struct ApiTokenGrant {
    /// Its id.
    pub id: i64,
    /// The account that made it.
    pub maker: String,
    /// The maker's role now: the token never does more than it may.
    pub maker_role: OrgRole,
    /// What the token was made for.
    pub permissions: Vec<Permission>,
}

/// An API token as a listing shows it (never the token).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    pub maker: String,
    pub permissions: Vec<Permission>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A new API token, as stored.
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub maker: i64,
    pub permissions: &'a [Permission],
    pub expires_at: i64,
}

impl Storage {
    /// An account's id and role by name (without case).
    pub async fn account_role(
        &self,
        username: &str,
    ) -> Result<Option<(i64, OrgRole)>, StorageError> {
        let row = sqlx::query("SELECT id, org_role FROM accounts WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((row.try_get(0)?, org_role(row.try_get(1)?)?)))
            .transpose()
    }

    /// How many accounts are owners (and not disabled: one who is cannot act).
    pub async fn owner_count(&self) -> Result<i64, StorageError> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM accounts WHERE org_role = 'owner' AND disabled = 0")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get(0)?)
    }

    /// Ends every session of an account; `None` if there is no such account.
    pub async fn end_sessions(&self, username: &str) -> Result<Option<u64>, StorageError> {
        let Some((id, _)) = self.account_role(username).await? else {
            return Ok(None);
        };
        let result = sqlx::query("DELETE FROM sessions WHERE account_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(Some(result.rows_affected()))
    }

    /// Disables an account (ending its sessions, in one transaction) or enables it again;
    /// `false` if there is no such account.
    pub async fn set_account_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<bool, StorageError> {
        let mut transaction = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE accounts SET disabled = ? WHERE username = ?")
            .bind(disabled)
            .bind(username)
            .execute(&mut *transaction)
            .await?;
        if disabled {
            sqlx::query(
                "DELETE FROM sessions WHERE account_id = \
                 (SELECT id FROM accounts WHERE username = ?)",
            )
            .bind(username)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(changed.rows_affected() == 1)
    }

    /// Whether the account was disabled.
    pub async fn account_disabled(&self, account: i64) -> Result<bool, StorageError> {
        let row = sqlx::query("SELECT disabled FROM accounts WHERE id = ?")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?.unwrap_or(false))
    }

    /// Keeps a new API token; its id.
    pub async fn create_api_token(&self, token: &NewApiToken<'_>) -> Result<i64, StorageError> {
        let result = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, created_by, permissions, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token.name)
        .bind(token.token_hash)
        .bind(token.maker)
        .bind(serde_json::to_string(token.permissions)?)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(result.last_insert_rowid())
    }

    /// The unexpired API token with this hash, if any.
    pub async fn api_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<ApiTokenGrant>, StorageError> {
        let row = sqlx::query(
            "SELECT api_tokens.id, accounts.username, accounts.org_role, api_tokens.permissions \
             FROM api_tokens \
             JOIN accounts ON accounts.id = api_tokens.created_by \
             WHERE api_tokens.token_hash = ? AND api_tokens.expires_at > ? \
             AND accounts.disabled = 0",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ApiTokenGrant {
                id: row.try_get(0)?,
                maker: row.try_get(1)?,
                maker_role: org_role(row.try_get(2)?)?,
                permissions: serde_json::from_str(row.try_get(3)?)?,
            })
        })
        .transpose()
    }

    /// Every API token, newest first.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StorageError> {
        let rows = sqlx::query(
            "SELECT api_tokens.id, api_tokens.name, accounts.username, api_tokens.permissions, \
             api_tokens.expires_at FROM api_tokens \
             JOIN accounts ON accounts.id = api_tokens.created_by ORDER BY api_tokens.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiTokenInfo {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    maker: row.try_get(2)?,
                    permissions: serde_json::from_str(row.try_get(3)?)?,
                    expires_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// Revokes an API token; `false` if there was none with that id.
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM api_tokens WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
