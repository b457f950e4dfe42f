//! What the administration API keeps: accounts' roles as it checks them, sessions it ends, and
//! API tokens (only their SHA-256).

use super::{Storage, StorageError, database::on_backend, org_role};
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
        let sql = "SELECT id, org_role FROM accounts WHERE username = $1";
        let row: Option<(i64, String)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, role)| Ok((id, org_role(role)?))).transpose()
    }

    /// How many accounts are owners (and not disabled: one who is cannot act).
    pub async fn owner_count(&self) -> Result<i64, StorageError> {
        let sql = "SELECT COUNT(*) FROM accounts WHERE org_role = 'owner' AND NOT disabled";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql).fetch_one(pool).await?
        }))
    }

    /// Ends every session of an account; `None` if there is no such account.
    pub async fn end_sessions(&self, username: &str) -> Result<Option<u64>, StorageError> {
        let Some((id, _)) = self.account_role(username).await? else {
            return Ok(None);
        };
        let sql = "DELETE FROM sessions WHERE account_id = $1";
        let ended = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(Some(ended))
    }

    /// Disables an account (ending its sessions, in one transaction) or enables it again;
    /// `false` if there is no such account.
    pub async fn set_account_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<bool, StorageError> {
        let (set, end_sessions) = (
            "UPDATE accounts SET disabled = $1 WHERE username = $2",
            "DELETE FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE username = $1)",
        );
        let mut transaction = self.database.begin().await?;
        let changed = on_backend!(&mut transaction, |tx| {
            let changed = sqlx::query(set)
                .bind(disabled)
                .bind(username)
                .execute(&mut **tx)
                .await?;
            if disabled {
                sqlx::query(end_sessions)
                    .bind(username)
                    .execute(&mut **tx)
                    .await?;
            }
            changed.rows_affected()
        });
        transaction.commit().await?;
        Ok(changed == 1)
    }

    /// Whether the account was disabled.
    pub async fn account_disabled(&self, account: i64) -> Result<bool, StorageError> {
        let sql = "SELECT disabled FROM accounts WHERE id = $1";
        let disabled: Option<bool> = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(account)
                .fetch_optional(pool)
                .await?
        });
        Ok(disabled.unwrap_or(false))
    }

    /// Keeps a new API token; its id.
    pub async fn create_api_token(&self, token: &NewApiToken<'_>) -> Result<i64, StorageError> {
        let sql = "INSERT INTO api_tokens (name, token_hash, created_by, permissions, expires_at) \
                   VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let permissions = serde_json::to_string(token.permissions)?;
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(token.name)
                .bind(token.token_hash)
                .bind(token.maker)
                .bind(&permissions)
                .bind(token.expires_at)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The unexpired API token with this hash, if any.
    pub async fn api_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<ApiTokenGrant>, StorageError> {
        let sql = "SELECT api_tokens.id, accounts.username, accounts.org_role, \
                   api_tokens.permissions FROM api_tokens \
                   JOIN accounts ON accounts.id = api_tokens.created_by \
                   WHERE api_tokens.token_hash = $1 AND api_tokens.expires_at > $2 \
                   AND NOT accounts.disabled";
        let row: Option<(i64, String, String, String)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, maker, role, permissions)| {
            Ok(ApiTokenGrant {
                id,
                maker,
                maker_role: org_role(role)?,
                permissions: serde_json::from_str(&permissions)?,
            })
        })
        .transpose()
    }

    /// Every API token, newest first.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StorageError> {
        let sql = "SELECT api_tokens.id, api_tokens.name, accounts.username, \
                   api_tokens.permissions, api_tokens.expires_at FROM api_tokens \
                   JOIN accounts ON accounts.id = api_tokens.created_by \
                   ORDER BY api_tokens.id DESC";
        let rows: Vec<(i64, String, String, String, i64)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(id, name, maker, permissions, expires_at)| {
                Ok(ApiTokenInfo {
                    id,
                    name,
                    maker,
                    permissions: serde_json::from_str(&permissions)?,
                    expires_at,
                })
            })
            .collect()
    }

    /// Revokes an API token; `false` if there was none with that id.
    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, StorageError> {
        let sql = "DELETE FROM api_tokens WHERE id = $1";
        let revoked = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(revoked == 1)
    }
}
