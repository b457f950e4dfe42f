//! What second factors keep: the MFA policy, sessions that may only enrol a factor, pending
//! TOTP seeds (sealed like enrolled ones), recovery codes (SHA-256 only) and passkeys.

use super::{Storage, StorageError, database::on_backend, org_role, totp_purpose};
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
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// A passkey as listed, and its credential id.
#[derive(sqlx::FromRow)]
struct ListedPasskey {
    #[sqlx(flatten)]
    info: PasskeyInfo,
    credential_id: Vec<u8>,
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
        let sql = "SELECT policy FROM mfa_policy WHERE id = 1";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql).fetch_optional(pool).await?
        }))
    }

    /// Keeps the MFA policy.
    pub async fn set_mfa_policy(&self, value: &str) -> Result<(), StorageError> {
        let sql = "INSERT INTO mfa_policy (id, policy) VALUES (1, $1) \
                   ON CONFLICT (id) DO UPDATE SET policy = excluded.policy";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql).bind(value).execute(pool).await?;
        });
        Ok(())
    }

    /// An account's role, whether it is external, and whether it has a second factor.
    pub async fn mfa_standing(&self, account: i64) -> Result<Option<MfaStanding>, StorageError> {
        let sql = "SELECT org_role, \
                   EXISTS (SELECT 1 FROM external_identities WHERE account_id = accounts.id), \
                   totp_secret IS NOT NULL \
                   OR EXISTS (SELECT 1 FROM passkeys WHERE account_id = accounts.id) \
                   FROM accounts WHERE id = $1";
        let row: Option<(String, bool, bool)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(account)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(role, external, has_factor)| {
            Ok(MfaStanding {
                org_role: org_role(role)?,
                external,
                has_factor,
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
        let sql = "INSERT INTO sessions (token_hash, account_id, expires_at, enrolment_only) \
                   VALUES ($1, $2, $3, $4)";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(account)
                .bind(expires_at)
                .bind(enrolment_only)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The unexpired session with this token hash.
    pub async fn session(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<SessionRow>, StorageError> {
        let sql = "SELECT accounts.id, accounts.username, sessions.enrolment_only FROM sessions \
                   JOIN accounts ON accounts.id = sessions.account_id \
                   WHERE sessions.token_hash = $1 AND sessions.expires_at > $2";
        let row: Option<(i64, String, bool)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        Ok(
            row.map(|(account_id, username, enrolment_only)| SessionRow {
                account_id,
                username,
                enrolment_only,
            }),
        )
    }

    /// An account's name by id.
    pub async fn account_name(&self, account: i64) -> Result<Option<String>, StorageError> {
        let sql = "SELECT username FROM accounts WHERE id = $1";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(account)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The account enrolled a factor: its sessions are full ones.
    pub async fn end_enrolment(&self, account: i64) -> Result<(), StorageError> {
        let sql = "UPDATE sessions SET enrolment_only = FALSE WHERE account_id = $1";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql).bind(account).execute(pool).await?;
        });
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
        let sql = "UPDATE accounts SET totp_pending = $1 WHERE id = $2";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(&sealed)
                .bind(account)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The pending TOTP seed, opened.
    pub async fn pending_totp(
        &self,
        account: i64,
        username: &str,
    ) -> Result<Option<String>, StorageError> {
        let sql = "SELECT totp_pending FROM accounts WHERE id = $1";
        let sealed: Option<Option<String>> = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(account)
                .fetch_optional(pool)
                .await?
        });
        sealed
            .flatten()
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
        let sql = "UPDATE accounts SET totp_secret = $1, totp_pending = NULL, \
                   totp_last_step = $2 \
                   WHERE id = $3 AND totp_pending IS NOT NULL AND totp_secret IS NULL";
        let confirmed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(&sealed)
                .bind(step)
                .bind(account)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(confirmed == 1)
    }

    /// Removes the account's TOTP seed (enrolled and pending).
    pub async fn remove_totp(&self, account: i64) -> Result<(), StorageError> {
        let sql = "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, \
                   totp_last_step = NULL WHERE id = $1";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql).bind(account).execute(pool).await?;
        });
        Ok(())
    }

    /// Replaces the account's recovery codes with these hashes.
    pub async fn replace_recovery_codes(
        &self,
        account: i64,
        hashes: &[[u8; 32]],
    ) -> Result<(), StorageError> {
        let (clear, add) = (
            "DELETE FROM recovery_codes WHERE account_id = $1",
            "INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)",
        );
        let mut transaction = self.database.begin().await?;
        on_backend!(&mut transaction, |tx| {
            sqlx::query(clear).bind(account).execute(&mut **tx).await?;
            for hash in hashes {
                sqlx::query(add)
                    .bind(account)
                    .bind(&hash[..])
                    .execute(&mut **tx)
                    .await?;
            }
        });
        transaction.commit().await?;
        Ok(())
    }

    /// Uses up the recovery code with this hash: `true` if the account had it (now gone).
    pub async fn take_recovery_code(
        &self,
        account: i64,
        hash: &[u8],
    ) -> Result<bool, StorageError> {
        let sql = "DELETE FROM recovery_codes WHERE account_id = $1 AND code_hash = $2";
        let taken = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(account)
                .bind(hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(taken == 1)
    }

    /// How many unused recovery codes the account has.
    pub async fn recovery_codes_left(&self, account: i64) -> Result<i64, StorageError> {
        let sql = "SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(account)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Removes every second factor of an account (an administrator's reset): TOTP, recovery
    /// codes, passkeys. `false` if there is no such account.
    pub async fn reset_mfa(&self, username: &str) -> Result<bool, StorageError> {
        let Some((id, _)) = self.account_role(username).await? else {
            return Ok(false);
        };
        let mut transaction = self.database.begin().await?;
        for statement in [
            "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = $1",
            "DELETE FROM recovery_codes WHERE account_id = $1",
            "DELETE FROM passkeys WHERE account_id = $1",
            "DELETE FROM sessions WHERE account_id = $1",
        ] {
            on_backend!(&mut transaction, |tx| {
                sqlx::query(statement).bind(id).execute(&mut **tx).await?;
            });
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// The account's WebAuthn user handle, made (16 random bytes) if it has none.
    pub async fn webauthn_user_id(&self, account: i64) -> Result<[u8; 16], StorageError> {
        let (make, read) = (
            "UPDATE accounts SET webauthn_user_id = $1 WHERE id = $2 AND webauthn_user_id IS NULL",
            "SELECT webauthn_user_id FROM accounts WHERE id = $1",
        );
        let fresh = rand::random::<[u8; 16]>();
        let handle: Vec<u8> = on_backend!(&self.database, |pool| {
            sqlx::query(make)
                .bind(&fresh[..])
                .bind(account)
                .execute(pool)
                .await?;
            sqlx::query_scalar(read)
                .bind(account)
                .fetch_one(pool)
                .await?
        });
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
        let sql = "INSERT INTO passkeys (account_id, credential_id, name, passkey) \
                   VALUES ($1, $2, $3, $4) RETURNING id";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(account)
                .bind(credential_id)
                .bind(name)
                .bind(json)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The passkey with this credential id, with its account's WebAuthn user handle.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<(StoredPasskey, Option<Vec<u8>>)>, StorageError> {
        let sql = "SELECT passkeys.id, passkeys.account_id, passkeys.passkey, \
                   accounts.webauthn_user_id \
                   FROM passkeys JOIN accounts ON accounts.id = passkeys.account_id \
                   WHERE passkeys.credential_id = $1";
        let row: Option<(i64, i64, String, Option<Vec<u8>>)> =
            on_backend!(&self.database, |pool| {
                sqlx::query_as(sql)
                    .bind(credential_id)
                    .fetch_optional(pool)
                    .await?
            });
        Ok(row.map(|(id, account_id, json, handle)| {
            let passkey = StoredPasskey {
                id,
                account_id,
                json,
            };
            (passkey, handle)
        }))
    }

    /// Keeps a passkey's new state (its counter) after a sign-in.
    pub async fn passkey_used(&self, id: i64, json: &str) -> Result<(), StorageError> {
        let sql = format!(
            "UPDATE passkeys SET passkey = $1, last_used_at = {} WHERE id = $2",
            self.database.now()
        );
        on_backend!(&self.database, |pool| {
            sqlx::query(&sql).bind(json).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// The account's passkeys, oldest first, and their credential ids.
    pub async fn passkeys(
        &self,
        account: i64,
    ) -> Result<Vec<(PasskeyInfo, Vec<u8>)>, StorageError> {
        let sql = "SELECT id, name, created_at, last_used_at, credential_id FROM passkeys \
                   WHERE account_id = $1 ORDER BY id";
        let rows: Vec<ListedPasskey> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).bind(account).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| (row.info, row.credential_id))
            .collect())
    }

    /// Removes one of the account's passkeys; `false` if it has none with that id.
    pub async fn remove_passkey(&self, account: i64, id: i64) -> Result<bool, StorageError> {
        let sql = "DELETE FROM passkeys WHERE account_id = $1 AND id = $2";
        let removed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(account)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed == 1)
    }
}
