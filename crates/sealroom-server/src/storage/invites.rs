//! Invitations to make an account (`crate::invites`): the account's name and role, who
//! invited, until when; only the SHA-256 of the link's token.

use sqlx::Row;

use super::{Storage, StorageError, org_role};
use crate::org_roles::OrgRole;

/// An invitation as a listing shows it, and as its link redeems it (never the token).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Invite {
    pub id: i64,
    /// The account it makes.
    pub username: String,
    /// That account's role.
    pub role: OrgRole,
    /// Who invited.
    pub invited_by: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A new invitation, as stored.
pub struct NewInvite<'a> {
    pub token_hash: &'a [u8],
    pub username: &'a str,
    pub role: OrgRole,
    pub inviter: i64,
    pub expires_at: i64,
}

const INVITE_COLUMNS: &str = "SELECT invites.id, invites.username, invites.org_role, \
     accounts.username, invites.expires_at \
     FROM invites JOIN accounts ON accounts.id = invites.created_by";

fn invite(row: &sqlx::sqlite::SqliteRow) -> Result<Invite, StorageError> {
    Ok(Invite {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        role: org_role(row.try_get(2)?)?,
        invited_by: row.try_get(3)?,
        expires_at: row.try_get(4)?,
    })
}

impl Storage {
    /// Keeps an invitation in place of an expired one for that name; `None` if one for that
    /// name is pending.
    pub async fn create_invite(
        &self,
        new: &NewInvite<'_>,
        now: i64,
    ) -> Result<Option<i64>, StorageError> {
        sqlx::query("DELETE FROM invites WHERE username = ? AND expires_at <= ?")
            .bind(new.username)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let id = sqlx::query_scalar(
            "INSERT INTO invites (token_hash, username, org_role, created_by, expires_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(new.token_hash)
        .bind(new.username)
        .bind(new.role.as_str())
        .bind(new.inviter)
        .bind(new.expires_at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    /// Every invitation not yet accepted or revoked (expired ones too: they say so), by name.
    pub async fn invites(&self) -> Result<Vec<Invite>, StorageError> {
        let query = format!("{INVITE_COLUMNS} ORDER BY invites.username");
        let rows = sqlx::query(&query).fetch_all(&self.pool).await?;
        rows.iter().map(invite).collect()
    }

    /// The unexpired invitation whose token has this hash.
    pub async fn invite(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<Invite>, StorageError> {
        let query =
            format!("{INVITE_COLUMNS} WHERE invites.token_hash = ? AND invites.expires_at > ?");
        let row = sqlx::query(&query)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invite).transpose()
    }

    /// Takes the invitation away; `false` if it was already gone (accepted or revoked).
    pub async fn remove_invite(&self, id: i64) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM invites WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
