//! What second factors keep: the MFA policy, sessions that may only enrol a factor, pending
//! TOTP seeds (sealed like enrolled ones), recovery codes (SHA-256 only) and passkeys.

use sqlx::Row;

use super::{Storage, StorageError, org_role, totp_purpose};
use crate::org_roles::OrgRole;

/// What the MFA policy needs to know of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStanding {
    /// Its role in the organisation.
    pub org_role: OrgRole,
    /// It signs in through an identity provider (it has an external identity).
    pub external: bool,
    /// It has a TOTP seed or a passkey.
    pub has_factor: bool,
}

/// A signed-in session as the server reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub account_id: i64,
    pub username: String,
    /// It may only enrol a second factor.
    pub enrolment_only: bool,
}

/// A passkey as listed (never its key).
#[derive(Clone, Debug, serde::Serialize)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// A stored passkey: its row id, its account, and webauthn-rs's JSON of it.
#[derive(Clone, Debug)]
pub struct StoredPasskey {
    pub id: i64,
    pub account_id: i64,
    pub json: String,
}

/// What a pending TOTP seed is sealed for: not an enrolled seed's purpose, so one cannot be
/// swapped for the other in the database.
fn pending_totp_purpose(username: &str) -> String {
    format!(
        "sealroom pending totp seed of account {}",
        username.to_lowercase()
    )
}

impl Storage {
    /// The MFA policy as stored (`None`: never set).
    pub async fn mfa_policy(&self) -> Result<Option<String>, StorageError> {
        let row = sqlx::query("SELECT policy FROM mfa_policy WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    /// Keeps the MFA policy.
    pub async fn set_mfa_policy(&self, value: &str) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO mfa_policy (id, policy) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET policy = excluded.policy",
        )
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An account's role, whether it is external, and whether it has a second factor.
    pub async fn mfa_standing(&self, account: i64) -> Result<Option<MfaStanding>, StorageError> {
        let row = sqlx::query(
            "SELECT org_role, \
             EXISTS (SELECT 1 FROM external_identities WHERE account_id = accounts.id), \
             totp_secret IS NOT NULL \
             OR EXISTS (SELECT 1 FROM passkeys WHERE account_id = accounts.id) \
             FROM accounts WHERE id = ?",
        )
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(MfaStanding {
                org_role: org_role(row.try_get(0)?)?,
                external: row.try_get(1)?,
                has_factor: row.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Keeps a new session (by its token's hash) until `expires_at` (Unix seconds).
    pub async fn create_session(
        &self,
        token_hash: &[u8],
        account: i64,
        expires_at: i64,
        enrolment_only: bool,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, expires_at, enrolment_only) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(account)
        .bind(expires_at)
        .bind(enrolment_only)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired session with this token hash.
    pub async fn session(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<SessionRow>, StorageError> {
        let row = sqlx::query(
            "SELECT accounts.id, accounts.username, sessions.enrolment_only FROM sessions \
             JOIN accounts ON accounts.id = sessions.account_id \
             WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRow {
                account_id: row.try_get(0)?,
                username: row.try_get(1)?,
                enrolment_only: row.try_get(2)?,
            })
        })
        .transpose()
    }

    /// An account's name by id.
    pub async fn account_name(&self, account: i64) -> Result<Option<String>, StorageError> {
        let row = sqlx::query("SELECT username FROM accounts WHERE id = ?")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    /// The account enrolled a factor: its sessions are full ones.
    pub async fn end_enrolment(&self, account: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE sessions SET enrolment_only = 0 WHERE account_id = ?")
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps a TOTP seed (base32) to be confirmed, sealed, in place of any earlier one.
    pub async fn set_pending_totp(
        &self,
        account: i64,
        username: &str,
        seed: &str,
    ) -> Result<(), StorageError> {
        let sealed = self
            .secrets
            .seal_text(&pending_totp_purpose(username), seed);
        sqlx::query("UPDATE accounts SET totp_pending = ? WHERE id = ?")
            .bind(sealed)
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The pending TOTP seed, opened.
    pub async fn pending_totp(
        &self,
        account: i64,
        username: &str,
    ) -> Result<Option<String>, StorageError> {
        let row = sqlx::query("SELECT totp_pending FROM accounts WHERE id = ?")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        let sealed: Option<String> = row.map(|row| row.try_get(0)).transpose()?.flatten();
        sealed
            .map(|sealed| {
                let opened = self
                    .secrets
                    .open_text(&pending_totp_purpose(username), &sealed)?;
                Ok(opened.to_string())
            })
            .transpose()
    }

    /// Makes the pending seed the account's TOTP seed, with `step` taken (the confirming code
    /// is used); `false` if the account had no pending seed or has TOTP already.
    pub async fn confirm_totp(
        &self,
        account: i64,
        username: &str,
        seed: &str,
        step: i64,
    ) -> Result<bool, StorageError> {
        let sealed = self.secrets.seal_text(&totp_purpose(username), seed);
        let result = sqlx::query(
            "UPDATE accounts SET totp_secret = ?, totp_pending = NULL, totp_last_step = ? \
             WHERE id = ? AND totp_pending IS NOT NULL AND totp_secret IS NULL",
        )
        .bind(sealed)
        .bind(step)
        .bind(account)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Removes the account's TOTP seed (enrolled and pending).
    pub async fn remove_totp(&self, account: i64) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = ?",
        )
        .bind(account)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the account's recovery codes with these hashes.
    pub async fn replace_recovery_codes(
        &self,
        account: i64,
        hashes: &[[u8; 32]],
    ) -> Result<(), StorageError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?")
            .bind(account)
            .execute(&mut *transaction)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)")
                .bind(account)
                .bind(&hash[..])
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Uses up the recovery code with this hash: `true` if the account had it (now gone).
    pub async fn take_recovery_code(
        &self,
        account: i64,
        hash: &[u8],
    ) -> Result<bool, StorageError> {
        let result =
            sqlx::query("DELETE FROM recovery_codes WHERE account_id = ? AND code_hash = ?")
                .bind(account)
                .bind(hash)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// How many unused recovery codes the account has.
    pub async fn recovery_codes_left(&self, account: i64) -> Result<i64, StorageError> {
        let row = sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Removes every second factor of an account (an administrator's reset): TOTP, recovery
    /// codes, passkeys. `false` if there is no such account.
    pub async fn reset_mfa(&self, username: &str) -> Result<bool, StorageError> {
        let Some((id, _)) = self.account_role(username).await? else {
            return Ok(false);
        };
        let mut transaction = self.pool.begin().await?;
        for statement in [
            "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = ?",
            "DELETE FROM recovery_codes WHERE account_id = ?",
            "DELETE FROM passkeys WHERE account_id = ?",
            "DELETE FROM sessions WHERE account_id = ?",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// The account's WebAuthn user handle, made (16 random bytes) if it has none.
    pub async fn webauthn_user_id(&self, account: i64) -> Result<[u8; 16], StorageError> {
        sqlx::query(
            "UPDATE accounts SET webauthn_user_id = ? WHERE id = ? AND webauthn_user_id IS NULL",
        )
        .bind(&rand::random::<[u8; 16]>()[..])
        .bind(account)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT webauthn_user_id FROM accounts WHERE id = ?")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        let handle: Vec<u8> = row.try_get(0)?;
        handle
            .try_into()
            .map_err(|_| StorageError::Corrupt("webauthn user id".into()))
    }

    /// Keeps a passkey; its id.
    pub async fn add_passkey(
        &self,
        account: i64,
        credential_id: &[u8],
        name: &str,
        json: &str,
    ) -> Result<i64, StorageError> {
        let result = sqlx::query(
            "INSERT INTO passkeys (account_id, credential_id, name, passkey) VALUES (?, ?, ?, ?)",
        )
        .bind(account)
        .bind(credential_id)
        .bind(name)
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(result.last_insert_rowid())
    }

    /// The passkey with this credential id, with its account's WebAuthn user handle.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<(StoredPasskey, Option<Vec<u8>>)>, StorageError> {
        let row = sqlx::query(
            "SELECT passkeys.id, passkeys.account_id, passkeys.passkey, accounts.webauthn_user_id \
             FROM passkeys JOIN accounts ON accounts.id = passkeys.account_id \
             WHERE passkeys.credential_id = ?",
        )
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let passkey = StoredPasskey {
                id: row.try_get(0)?,
                account_id: row.try_get(1)?,
                json: row.try_get(2)?,
            };
            Ok((passkey, row.try_get(3)?))
        })
        .transpose()
    }

    /// Keeps a passkey's new state (its counter) after a sign-in.
    pub async fn passkey_used(&self, id: i64, json: &str) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE passkeys SET passkey = ?, \
             last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
        )
        .bind(json)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's passkeys, oldest first, and their credential ids.
    pub async fn passkeys(
        &self,
        account: i64,
    ) -> Result<Vec<(PasskeyInfo, Vec<u8>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, credential_id FROM passkeys \
             WHERE account_id = ? ORDER BY id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let info = PasskeyInfo {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    created_at: row.try_get(2)?,
                    last_used_at: row.try_get(3)?,
                };
                Ok((info, row.try_get(4)?))
            })
            .collect()
    }

    /// Removes one of the account's passkeys; `false` if it has none with that id.
    pub async fn remove_passkey(&self, account: i64, id: i64) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM passkeys WHERE account_id = ? AND id = ?")
            .bind(account)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
