//! Invitations to make an account (`crate::invites`): the account's name and role, who
//! invited, until when; only the SHA-256 of the link's token.

use super::{Storage, StorageError, database::on_backend, org_role};
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

type InviteRow = (i64, String, String, String, i64);

fn invite((id, username, role, invited_by, expires_at): InviteRow) -> Result<Invite, StorageError> {
    Ok(Invite {
        id,
        username,
        role: org_role(role)?,
        invited_by,
        expires_at,
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
        let expired = "DELETE FROM invites WHERE username = $1 AND expires_at <= $2";
        let insert = "INSERT INTO invites (token_hash, username, org_role, created_by, expires_at) \
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING RETURNING id";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query(expired)
                .bind(new.username)
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query_scalar(insert)
                .bind(new.token_hash)
                .bind(new.username)
                .bind(new.role.as_str())
                .bind(new.inviter)
                .bind(new.expires_at)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every invitation not yet accepted or withdrawn (expired ones too: they say so), by name.
    pub async fn invites(&self) -> Result<Vec<Invite>, StorageError> {
        let sql = format!("{INVITE_COLUMNS} ORDER BY invites.username");
        let rows: Vec<InviteRow> = on_backend!(&self.database, |pool| {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(invite).collect()
    }

    /// The unexpired invitation whose token has this hash.
    pub async fn invite(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<Invite>, StorageError> {
        let sql =
            format!("{INVITE_COLUMNS} WHERE invites.token_hash = $1 AND invites.expires_at > $2");
        let row: Option<InviteRow> = on_backend!(&self.database, |pool| {
            sqlx::query_as(&sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        row.map(invite).transpose()
    }

    /// Takes the invitation away; `false` if it was already gone (accepted or withdrawn).
    pub async fn remove_invite(&self, id: i64) -> Result<bool, StorageError> {
        let sql = "DELETE FROM invites WHERE id = $1";
        let removed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed == 1)
    }
}
